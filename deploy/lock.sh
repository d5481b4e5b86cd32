#!/usr/bin/env bash
# Regenerate the lock files requirements/{runtime,test,bench}.txt from pyproject.toml, with
# sha256 hashes, for CPython 3.11 on linux x86_64 (deploy/lockfile.py says what each covers).
# A maintainer's tool: it needs PyPI; installing from the locks (deploy/venv.sh) needs only pip.
#
#   bash deploy/lock.sh                            # after editing pyproject.toml's dependencies:
#                                                  # keeps every pin it can, adds what is new
#   bash deploy/lock.sh --upgrade-package fastapi  # one package to its newest allowed version
#   bash deploy/lock.sh --upgrade                  # everything to the newest allowed versions
#
# Arguments go to `uv pip compile`. Existing pins are kept unless told otherwise because uv
# reads the previous lock as its preferences, so a new dependency never moves the others.
# uv is installed (pinned) into $SVRR_RUN/lock-tools the first time, apart from the project's
# venv, so the locks never depend on whatever the project's venv holds.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SVRR_ROOT"

UV_VERSION="0.13.9"
TOOLS="$SVRR_RUN/lock-tools"
UV="$TOOLS/bin/uv"
if [[ ! -x "$UV" ]] || [[ "$("$UV" --version)" != "uv $UV_VERSION"* ]]; then
  command -v python3 >/dev/null || { echo "lock: python3 (3.11+) is required" >&2; exit 1; }
  echo "lock: installing uv $UV_VERSION into $TOOLS"
  python3 -m venv "$TOOLS"
  if ! "$TOOLS/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" \
    >"$SVRR_RUN/log/lock-tools.log" 2>&1; then
    echo "lock: installing uv failed; last lines of $SVRR_RUN/log/lock-tools.log:" >&2
    tail -n 25 "$SVRR_RUN/log/lock-tools.log" >&2
    exit 1
  fi
fi
PY="$TOOLS/bin/python"  # 3.11+ (tomllib), as the venv was made by python3 above
tool="$("$UV" --version | cut -d' ' -f1,2)"
target_python="$("$PY" -c 'import deploy.lockfile as l; print(l.PYTHON_VERSION)')"
target_platform="$("$PY" -c 'import deploy.lockfile as l; print(l.PYTHON_PLATFORM)')"
build_requires="$("$PY" deploy/lockfile.py build-requires)"

mkdir -p requirements
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
previous=""
for name in runtime test bench; do
  out="requirements/$name.txt"
  extra_args=()
  while read -r extra; do
    [[ -n "$extra" ]] && extra_args+=(--extra "$extra")
  done < <("$PY" deploy/lockfile.py extras "$name")
  # The previous lock in the output file is what makes uv keep its pins.
  if [[ -f "$out" ]]; then cp "$out" "$work/$name.txt"; fi
  echo "lock: $out"
  # The build backend comes in on stdin: deploy/venv.sh installs the project without build
  # isolation, so setuptools is pinned and hashed like everything else.
  # Wheels only, written into the lock (--emit-build-options) so every pip that reads it obeys:
  # an sdist would run its own setup code at install time and fetch its build requirements
  # unpinned and unhashed, which --require-hashes does not cover.
  "$UV" pip compile --quiet --no-header --generate-hashes \
    --only-binary :all: --emit-build-options \
    --python-version "$target_python" --python-platform "$target_platform" \
    "${extra_args[@]}" ${previous:+--constraint "$previous"} "$@" \
    --output-file "$work/$name.txt" pyproject.toml - <<<"$build_requires"
  { "$PY" deploy/lockfile.py header "$name" "$tool"; cat "$work/$name.txt"; } >"$work/$name.new"
  mv "$work/$name.new" "$out"
  previous="$out"
done
"$PY" deploy/lockfile.py check
echo "lock: done; commit pyproject.toml and requirements/ together"
