# Source me (after env.sh): make .venv and install the project into it from the lock files,
# again only when pyproject.toml or a lock changed. Why a stamp: a fresh clone must install
# everything itself, and a second run must not wait for pip. pip's chatter goes to a log shown
# only on failure.
# Why locks (requirements/*.txt, written by deploy/lock.sh, described in deploy/lockfile.py):
# CI, a developer and a hospital install the same versions whatever PyPI published since, and
# pip checks every file it downloads against the lock's sha256 (--require-hashes). The project
# itself goes in after them with --no-deps, so pip never resolves anything on its own, and
# without build isolation, so its build backend is the locked one too.
# SVRR_EXTRAS picks the optional dependency groups (default "test"; deploy/bench.sh asks for
# "test,bench"; set but empty: the runtime alone); the stamp names those installed, so asking
# for a missing group installs it.
# shellcheck shell=bash
SVRR_EXTRAS="${SVRR_EXTRAS-test}"
VENV="$SVRR_ROOT/.venv"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
  command -v python3 >/dev/null || { echo "venv: python3 (3.11+) is required" >&2; exit 1; }
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "venv: python3 is $(python3 -V 2>&1); 3.11 or newer is required" >&2
    exit 1
  fi
  echo "venv: creating $VENV with $(python3 -V)"
  python3 -m venv "$VENV"
  rm -f "$SVRR_RUN/venv.stamp"
fi
_stamp="$SVRR_RUN/venv.stamp"
# A missing lock only changes the digest here; the check below names it.
_inputs="$( { cat "$SVRR_ROOT/pyproject.toml" "$SVRR_ROOT"/requirements/*.txt 2>/dev/null || true; } \
  | sha256sum | cut -d' ' -f1)"
_base="$_inputs $PY"
# Extras already installed from these locks count: `make test` after `make bench` must not
# reinstall. The stamp is "<hash> <python> [extra,extra]".
_have=""
_line="$(cat "$_stamp" 2>/dev/null || true)"
if [[ "$_line" == "$_base ["*"]" ]]; then
  _have="${_line#"$_base ["}"
  _have="${_have%"]"}"
fi
_missing=0
for _x in ${SVRR_EXTRAS//,/ }; do
  [[ ",$_have," == *",$_x,"* ]] || _missing=1
done
if [[ $_missing == 1 || ! -x "$VENV/bin/svrr" || "$_line" != "$_base ["*"]" ]]; then
  _all="$(echo "$_have,$SVRR_EXTRAS" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"
  # Installing a lock that no longer matches pyproject.toml would leave a new dependency out
  # (the project goes in with --no-deps) and fail later as an ImportError; say so now.
  (cd "$SVRR_ROOT" && "$PY" deploy/lockfile.py check) || exit 1
  _lock="$(cd "$SVRR_ROOT" && "$PY" deploy/lockfile.py lock-for "$_all")" || exit 1
  _target='import sys, deploy.lockfile as lf; sys.exit("%d.%d" % sys.version_info[:2] != lf.PYTHON_VERSION)'
  if ! (cd "$SVRR_ROOT" && "$PY" -c "$_target"); then
    echo "venv: warning: the locks are for CPython 3.11, $PY is $("$PY" -V 2>&1 | cut -d' ' -f2);" \
      "the locks are wheels only, so a pin with no wheel for it stops the install" >&2
  fi
  echo "venv: installing requirements/$_lock.txt (extras [$_all]) and the project into $VENV"
  if ! (cd "$SVRR_ROOT" \
    && "$PY" -m pip install -q --disable-pip-version-check --require-hashes \
      -r "requirements/$_lock.txt" \
    && "$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
      -e .) >"$SVRR_RUN/log/pip.log" 2>&1; then
    echo "venv: pip install failed; last lines of $SVRR_RUN/log/pip.log:" >&2
    tail -n 25 "$SVRR_RUN/log/pip.log" >&2
    exit 1
  fi
  # Left alone rather than removed: a developer's own tools (a profiler) live here too. Named,
  # because a package the lock dropped could hide a missing dependency from the tests.
  _extra="$(cd "$SVRR_ROOT" && "$PY" -m pip freeze --exclude-editable 2>/dev/null \
    | "$PY" deploy/lockfile.py unlocked "requirements/$_lock.txt" | paste -sd' ' -)"
  if [[ -n "$_extra" ]]; then
    echo "venv: installed but not in requirements/$_lock.txt (left as they are): $_extra"
  fi
  echo "$_base [$_all]" >"$_stamp"
fi
export PATH="$VENV/bin:$PATH"
