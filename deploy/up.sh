#!/usr/bin/env bash
# Local infrastructure for dev/test: PostgreSQL, Kafka, then the topic catalogue.
# The app services themselves are started by the main-job script, not here.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

"$SVRR_ROOT/deploy/postgres.sh" start
"$SVRR_ROOT/deploy/kafka.sh" start
PY="$SVRR_ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=python3
echo "topics: ensuring catalogue on $KAFKA_BOOTSTRAP_SERVERS"
"$PY" "$SVRR_ROOT/deploy/topics.py"

# The HL7 v2 feed's MLLP service (`svrr feed mllp`), only when MLLP_PORT is set: whoever
# runs this script for PostgreSQL and Kafka alone (the tests, the benchmarks) starts nothing
# more. It serves the hl7v2 feed MLLP_FEED (default adt) on DATABASE_URL, migrated first,
# listens on MLLP_HOST (default 127.0.0.1), logs to $SVRR_RUN/log/mllp.log and is stopped by
# deploy/down.sh. Already running: left alone.
if [[ -n "${MLLP_PORT:-}" ]]; then
  MLLP_PID="$SVRR_RUN/pid/mllp.pid"
  MLLP_LOG="$SVRR_RUN/log/mllp.log"
  if [[ -f "$MLLP_PID" ]] && kill -0 "$(cat "$MLLP_PID")" 2>/dev/null; then
    echo "mllp: already running (pid $(cat "$MLLP_PID"))"
  else
    (cd "$SVRR_ROOT" && "$PY" -m services.cli migrate >/dev/null)
    : >"$MLLP_LOG"
    (cd "$SVRR_ROOT" && exec setsid "$PY" -m services.cli feed mllp --feed "${MLLP_FEED:-adt}" \
      --host "${MLLP_HOST:-127.0.0.1}" --port "$MLLP_PORT" >>"$MLLP_LOG" 2>&1 </dev/null) &
    echo $! >"$MLLP_PID"
    for _ in $(seq 150); do
      grep -q "svrr feed mllp: ready" "$MLLP_LOG" && break
      if ! kill -0 "$(cat "$MLLP_PID")" 2>/dev/null; then
        echo "mllp: exited during startup; last lines of $MLLP_LOG:" >&2
        tail -n 25 "$MLLP_LOG" >&2
        rm -f "$MLLP_PID"
        exit 1
      fi
      sleep 0.2
    done
    grep -q "svrr feed mllp: ready" "$MLLP_LOG" || { echo "mllp: not ready after 30 s" >&2; exit 1; }
    echo "mllp: feed ${MLLP_FEED:-adt} on ${MLLP_HOST:-127.0.0.1}:$MLLP_PORT (pid $(cat "$MLLP_PID"), log $MLLP_LOG)"
  fi
fi
