"""The lock files (requirements/*.txt) still say what pyproject.toml asks for.

Why: deploy/venv.sh installs the locks and then the project with --no-deps, so a dependency
added to pyproject.toml without re-locking would be missing from CI and from a hospital's
install alike, and a hand-edited pin would go untested against its ranges. Everything here
reads files: no network, no lock tool, so it runs with the other unit tests in seconds.
"""

from __future__ import annotations

import copy
import re

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

from deploy import lockfile
from tests.stack import ROOT

PYPROJECT = lockfile.load_pyproject(ROOT)
TEXTS = {name: lockfile.lock_path(name, ROOT).read_text() for name in lockfile.LOCKS}
# The environment the locks are resolved for, so a requirement's marker ("; python_version <
# '3.12'") is judged as it is on the target, not on whatever runs the tests.
TARGET = {
    **default_environment(),
    "python_version": lockfile.PYTHON_VERSION,
    "python_full_version": f"{lockfile.PYTHON_VERSION}.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def test_each_lock_was_compiled_from_todays_pyproject() -> None:
    problems = lockfile.stale(ROOT)
    assert not problems, f"{problems}: run `bash deploy/lock.sh` and commit requirements/"


def direct_requirements(extras: tuple[str, ...]) -> list[Requirement]:
    wanted = lockfile.inputs(PYPROJECT, extras)
    listed = wanted["build-system"] + wanted["dependencies"]
    for extra in extras:
        listed += wanted["extras"][extra]
    return [Requirement(r) for r in listed]


@pytest.mark.parametrize("name", list(lockfile.LOCKS))
def test_every_direct_requirement_is_pinned_within_its_range(name: str) -> None:
    pinned = lockfile.pins(TEXTS[name])
    wrong = []
    for req in direct_requirements(lockfile.LOCKS[name]):
        if req.marker and not req.marker.evaluate(TARGET):
            continue
        version = pinned.get(lockfile.normalise(req.name))
        if version is None:
            wrong.append(f"{req}: not in the lock")
        elif not req.specifier.contains(Version(version), prereleases=True):
            wrong.append(f"{req}: locked at {version}")
    assert not wrong, f"requirements/{name}.txt: {wrong}"


@pytest.mark.parametrize("name", list(lockfile.LOCKS))
def test_every_line_is_a_pin_with_hashes(name: str) -> None:
    # pip refuses such a file under --require-hashes anyway; this names the line in CI instead
    # of at a hospital's install.
    entries = re.split(r"\n(?=\S)", TEXTS[name])
    bad = []
    for entry in entries:
        first = entry.split("\n", 1)[0]
        if not first or first.startswith("#") or first == "--only-binary :all:":
            continue
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+ \\$", first):
            bad.append(first)
        elif "--hash=sha256:" not in entry:
            bad.append(f"{first} (no hash)")
    assert not bad, f"requirements/{name}.txt: {bad}"
    # Wheels only: no package's own setup code, and no unhashed build requirements, at install.
    assert "\n--only-binary :all:\n" in TEXTS[name]
    assert "svrr" not in lockfile.pins(TEXTS[name]), "the project installs from the tree"


def test_locks_nest_with_the_same_versions() -> None:
    # The tests must run exactly what a hospital runs: the runtime's pins reappear unchanged
    # in the test lock, and the test lock's in the bench lock.
    names = list(lockfile.LOCKS)
    for smaller, larger in zip(names, names[1:], strict=False):
        small, large = lockfile.pins(TEXTS[smaller]), lockfile.pins(TEXTS[larger])
        moved = {p: (v, large.get(p)) for p, v in small.items() if large.get(p) != v}
        assert not moved, f"{smaller}.txt -> {larger}.txt, (was, now): {moved}"


def test_the_digest_follows_dependencies_not_the_rest_of_pyproject() -> None:
    base = lockfile.digest(PYPROJECT, ("test",))
    other_tool = copy.deepcopy(PYPROJECT)
    other_tool["tool"]["ruff"]["line-length"] = 120
    assert lockfile.digest(other_tool, ("test",)) == base

    for change in (
        lambda p: p["project"]["dependencies"].append("left-pad>=1"),
        lambda p: p["project"]["optional-dependencies"]["test"].pop(),
        lambda p: p["build-system"]["requires"].append("wheel"),
        lambda p: p["project"].update({"requires-python": ">=3.12"}),
    ):
        changed = copy.deepcopy(PYPROJECT)
        change(changed)
        assert lockfile.digest(changed, ("test",)) != base

    # An extra outside this lock does not make it stale.
    bench_only = copy.deepcopy(PYPROJECT)
    bench_only["project"]["optional-dependencies"]["bench"].append("seaborn")
    assert lockfile.digest(bench_only, ("test",)) == base
    assert lockfile.digest(bench_only, ("test", "bench")) != lockfile.digest(
        PYPROJECT, ("test", "bench")
    )


def test_a_stale_lock_is_named(tmp_path) -> None:
    (tmp_path / "requirements").mkdir()
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('"pyyaml>=6",', '"pyyaml>=6.0.1",'))
    for name in lockfile.LOCKS:
        (tmp_path / "requirements" / f"{name}.txt").write_text(TEXTS[name])
    (tmp_path / "requirements" / "bench.txt").unlink()
    assert lockfile.stale(tmp_path) == [
        "requirements/runtime.txt was locked from other pyproject.toml dependencies",
        "requirements/test.txt was locked from other pyproject.toml dependencies",
        "requirements/bench.txt is missing",
    ]


@pytest.mark.parametrize(
    ("extras", "lock"),
    [("", "runtime"), ("test", "test"), ("bench", "bench"), ("bench,test", "bench")],
)
def test_venv_picks_the_smallest_lock_covering_the_extras(extras: str, lock: str) -> None:
    assert lockfile.lock_for({e for e in extras.split(",") if e}) == lock


def test_an_unlocked_extra_is_refused() -> None:
    with pytest.raises(KeyError, match="no lock covers"):
        lockfile.lock_for({"test", "docs"})
