"""The vendored htmx and axe-core are exactly the npm registry's files.

Why: an accidental edit (a formatter run over static/, a merge that touched a minified line)
would change what every console page runs, or what the accessibility check checks, with no
diff anyone reads. SHA256SUMS pins each file; the README names the versions, which must be
the versions the files say they are.
"""

from __future__ import annotations

import hashlib
import re

from tests.stack import ROOT

VENDOR = ROOT / "services" / "console" / "static" / "vendor"
NOT_VENDORED = {"README.md", "SHA256SUMS"}


def pinned() -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        sums[name.lstrip("*")] = digest
    return sums


def readme_version(package: str) -> str:
    row = next(
        line
        for line in (VENDOR / "README.md").read_text().splitlines()
        if line.startswith("|") and f"npmjs.com/package/{package})" in line
    )
    return row.split("|")[3].strip()


def test_every_vendored_file_matches_its_pinned_sha256() -> None:
    sums = pinned()
    present = {p.name for p in VENDOR.iterdir() if p.is_file()} - NOT_VENDORED
    assert present == set(sums), f"not pinned: {present - set(sums)}; gone: {set(sums) - present}"
    changed = [
        name
        for name, digest in sums.items()
        if hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() != digest
    ]
    assert not changed, f"vendored files differ from the npm tarballs: {changed}"


def test_readme_names_the_versions_the_files_carry() -> None:
    htmx = re.search(r'version:"([0-9.]+)"', (VENDOR / "htmx.min.js").read_text())
    axe = re.search(r"axe v([0-9.]+)", (VENDOR / "axe.min.js").read_text()[:200])
    assert htmx and axe
    assert htmx.group(1) == readme_version("htmx.org") and htmx.group(1).startswith("2.")
    assert axe.group(1) == readme_version("axe-core") and axe.group(1).startswith("4.")
    readme = (VENDOR / "README.md").read_text()
    assert f"htmx.org {htmx.group(1)}: `sha512-" in readme
    assert f"axe-core {axe.group(1)}: `sha512-" in readme


def test_pinned_file_format_is_what_sha256sum_checks() -> None:
    """`sha256sum -c SHA256SUMS` in the vendor folder must work for a person updating it."""
    for line in (VENDOR / "SHA256SUMS").read_text().splitlines():
        assert re.fullmatch(r"[0-9a-f]{64}  \S+", line), line
