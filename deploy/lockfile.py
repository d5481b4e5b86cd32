"""The lock files under requirements/: what each is compiled from, and whether it still matches.

Why: CI, a developer's venv and a hospital's deployment must install the same versions, so the
install scripts read pinned, hashed lock files instead of resolving pyproject.toml's ranges on
the day. A lock is only worth that if it follows pyproject.toml: each lock's header records a
digest of the pyproject lists it was compiled from, and anything that installs or tests
compares it with the digest of today's lists. That check needs neither the network nor the
lock tool, so deploy/venv.sh runs it before every install and a unit test runs it in CI.

The digest covers the parsed lists (requires-python, the build backend, the dependencies and
the lock's extras), not the file's bytes: a comment or a ruff setting changes no lock.

Locks nest (runtime within test within bench, same versions): deploy/lock.sh compiles each
with the previous one as constraints, so the tests run exactly what a hospital runs.

Used by deploy/lock.sh and deploy/venv.sh from the repository root:
  python3 deploy/lockfile.py build-requires        the build backend's requirements, one a line
  python3 deploy/lockfile.py extras NAME           the extras a lock covers, one a line
  python3 deploy/lockfile.py header NAME TOOL      the header lock.sh writes above uv's output
  python3 deploy/lockfile.py lock-for EXTRAS       the smallest lock covering "test,bench"
  python3 deploy/lockfile.py check                 exits 1, one line per lock out of date
  pip freeze | python3 deploy/lockfile.py unlocked LOCKFILE   installed, not in that lock
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK_DIR = ROOT / "requirements"
# In nesting order: each lock is compiled under the previous one's pins.
LOCKS: dict[str, tuple[str, ...]] = {
    "runtime": (),
    "test": ("test",),
    "bench": ("test", "bench"),
}
# The one target the locks are resolved for (CI, the compose file's python:3.11-slim, the
# machines this runs on). deploy/lock.sh passes these to uv.
PYTHON_VERSION = "3.11"
PYTHON_PLATFORM = "x86_64-unknown-linux-gnu"
DIGEST_PREFIX = "# pyproject-inputs-sha256: "


def load_pyproject(root: Path = ROOT) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text())


def lock_path(name: str, root: Path = ROOT) -> Path:
    return root / "requirements" / f"{name}.txt"


def inputs(pyproject: dict[str, Any], extras: tuple[str, ...]) -> dict[str, Any]:
    """Everything in pyproject.toml that decides what a lock for these extras contains."""
    project = pyproject["project"]
    optional = project.get("optional-dependencies", {})
    missing = [e for e in extras if e not in optional]
    if missing:
        raise KeyError(f"pyproject.toml has no extras {missing}")
    return {
        "requires-python": project.get("requires-python", ""),
        "build-system": list(pyproject.get("build-system", {}).get("requires", [])),
        "dependencies": list(project.get("dependencies", [])),
        "extras": {e: list(optional[e]) for e in extras},
    }


def digest(pyproject: dict[str, Any], extras: tuple[str, ...]) -> str:
    canonical = json.dumps(inputs(pyproject, extras), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_digest(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line[len(DIGEST_PREFIX) :].strip()
    return None


def header(name: str, tool: str, pyproject: dict[str, Any]) -> str:
    extras = LOCKS[name]
    covers = f"extras [{','.join(extras)}]" if extras else "no extras"
    lines = [
        f"# requirements/{name}.txt: pinned and hashed, from pyproject.toml's dependencies",
        f"# ({covers}) and its build backend, for CPython {PYTHON_VERSION} on {PYTHON_PLATFORM},",
        "# wheels only (the --only-binary line below).",
        f"# Written by `bash deploy/lock.sh` with {tool}; change pyproject.toml and re-run it,",
        "# never edit by hand. deploy/venv.sh installs it as:",
        f"#   pip install --require-hashes -r requirements/{name}.txt",
        "#   pip install --no-deps --no-build-isolation -e .",
        f"{DIGEST_PREFIX}{digest(pyproject, extras)}",
    ]
    return "\n".join(lines) + "\n"


def lock_for(extras: set[str]) -> str:
    """The smallest lock covering these extras (LOCKS is ordered smallest first)."""
    for name, covered in LOCKS.items():
        if extras <= set(covered):
            return name
    known = sorted({e for covered in LOCKS.values() for e in covered})
    raise KeyError(f"no lock covers extras {sorted(extras)}; locked extras: {known}")


def stale(root: Path = ROOT) -> list[str]:
    """One line per lock that is missing or was compiled from other pyproject lists."""
    pyproject = load_pyproject(root)
    problems = []
    for name, extras in LOCKS.items():
        path = lock_path(name, root)
        if not path.exists():
            problems.append(f"requirements/{name}.txt is missing")
            continue
        if recorded_digest(path.read_text()) != digest(pyproject, extras):
            problems.append(
                f"requirements/{name}.txt was locked from other pyproject.toml dependencies"
            )
    return problems


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(text: str) -> dict[str, str]:
    """Normalised project name -> pinned version, for every requirement line of a lock."""
    found = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def normalise(name: str) -> str:
    # PEP 503: case and runs of -_. are not significant in a project name.
    return re.sub(r"[-_.]+", "-", name).lower()


def main(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "build-requires":
        print("\n".join(inputs(load_pyproject(), ())["build-system"]))
    elif command == "extras" and len(args) == 1:
        print("\n".join(LOCKS[args[0]]))
    elif command == "header" and len(args) == 2:
        sys.stdout.write(header(args[0], args[1], load_pyproject()))
    elif command == "lock-for" and len(args) == 1:
        try:
            print(lock_for({e for e in args[0].split(",") if e}))
        except KeyError as exc:
            print(f"lockfile: {exc.args[0]}", file=sys.stderr)
            return 1
    elif command == "check" and not args:
        problems = stale()
        for line in problems:
            print(f"lockfile: {line}; run `bash deploy/lock.sh` and commit", file=sys.stderr)
        return 1 if problems else 0
    elif command == "unlocked" and len(args) == 1:
        locked = pins(Path(args[0]).read_text())
        for name in sorted(set(pins(sys.stdin.read())) - set(locked)):
            print(name)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
