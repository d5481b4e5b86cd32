# Source me (after env.sh): make .venv and install the project into it, again only when
# pyproject.toml changed. Why a stamp: a fresh clone must install everything itself, and a
# second run must not wait for pip. pip's chatter goes to a log shown only on failure.
# SVRR_EXTRAS picks the optional dependency groups (default "test"; deploy/bench.sh asks for
# "test,bench"); the stamp names those installed, so asking for a missing group installs it.
# shellcheck shell=bash
SVRR_EXTRAS="${SVRR_EXTRAS:-test}"
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
_base="$(sha256sum "$SVRR_ROOT/pyproject.toml" | cut -d' ' -f1) $PY"
# Extras already installed for this pyproject.toml count: `make test` after `make bench`
# must not reinstall. The stamp is "<hash> <python> [extra,extra]".
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
if [[ $_missing == 1 || ! -x "$VENV/bin/svrr" ]]; then
  _all="$(echo "$_have,$SVRR_EXTRAS" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"
  echo "venv: installing the project with extras [$_all] into $VENV"
  if ! (cd "$SVRR_ROOT" && "$PY" -m pip install -q --disable-pip-version-check -e ".[$_all]") \
    >"$SVRR_RUN/log/pip.log" 2>&1; then
    echo "venv: pip install failed; last lines of $SVRR_RUN/log/pip.log:" >&2
    tail -n 25 "$SVRR_RUN/log/pip.log" >&2
    exit 1
  fi
  echo "$_base [$_all]" >"$_stamp"
fi
export PATH="$VENV/bin:$PATH"
