#!/usr/bin/env bash
# Stop what deploy/up.sh started. Data stays in $SVRR_RUN; `rm -rf` it for a clean slate.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

# The MLLP service, if deploy/up.sh started it (MLLP_PORT): first, so that no message it
# is storing loses its database (SIGTERM lets the transaction in flight finish).
MLLP_PID="$SVRR_RUN/pid/mllp.pid"
if [[ -f "$MLLP_PID" ]]; then
  pid="$(cat "$MLLP_PID")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "mllp: stopped (pid $pid)"
  fi
  rm -f "$MLLP_PID"
fi
"$SVRR_ROOT/deploy/kafka.sh" stop
"$SVRR_ROOT/deploy/postgres.sh" stop
