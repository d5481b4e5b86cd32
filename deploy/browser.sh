#!/usr/bin/env bash
# The browser for the console's browser tests: Debian's `chromium` package, driven by
# Playwright through executable_path. Why Debian's and not Playwright's own: `playwright
# install` downloads from a CDN that development and CI machines cannot reach, while the
# distribution's package comes through the same apt mirror as PostgreSQL.
#
#   bash deploy/browser.sh      # install when missing, then prove a headless page renders
#
# CHROMIUM names another binary (default /usr/bin/chromium). Fails loudly, never skips: a
# console without its browser tests is not tested.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
LOG="$SVRR_RUN/log/browser.log"

if [[ ! -x "$CHROMIUM" ]]; then
  if [[ "$CHROMIUM" != /usr/bin/chromium ]]; then
    echo "browser: CHROMIUM=$CHROMIUM is not an executable; unset it to use Debian's package" >&2
    exit 1
  fi
  command -v apt-get >/dev/null || {
    echo "browser: $CHROMIUM is missing and there is no apt-get to install Debian's chromium" >&2
    exit 1
  }
  echo "browser: installing chromium via apt-get"
  if ! (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    chromium fonts-dejavu-core) >"$LOG" 2>&1; then
    echo "browser: apt-get install chromium failed; last lines of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit 1
  fi
  [[ -x "$CHROMIUM" ]] || { echo "browser: chromium installed but $CHROMIUM is missing" >&2; exit 1; }
fi

# The same flags the test fixtures pass (tests/integration/browser/conftest.py): no sandbox (CI runs as
# root in a container), and nothing that phones home, so a render cannot hang on the network.
MARK="svrr-browser-check"
if ! dom="$(timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
  --no-first-run --disable-background-networking --disable-component-update --disable-sync \
  --dump-dom "data:text/html,<title>check</title><p>$MARK</p>" 2>"$LOG")"; then
  echo "browser: $CHROMIUM --headless --dump-dom failed; last lines of $LOG:" >&2
  tail -n 25 "$LOG" >&2
  exit 1
fi
if [[ "$dom" != *"<p>$MARK</p>"* ]]; then
  echo "browser: $CHROMIUM rendered a data: URL without its content; got: ${dom:0:300}" >&2
  exit 1
fi
echo "browser: $("$CHROMIUM" --version 2>/dev/null) renders headless"
