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
