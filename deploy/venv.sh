# Source me: make .venv and install the project into it, again only when pyproject.toml changed.
# Why a stamp: a fresh clone must install everything itself, a second run must not wait for pip.
# shellcheck shell=bash
VENV="$SVRR_ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "venv: creating $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum "$SVRR_ROOT/pyproject.toml" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  echo "venv: installing the project and its test tools (pip, quiet)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$SVRR_ROOT[test]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
