#!/usr/bin/env bash
# The benchmarks (`make bench`): install the project with its test and bench extras
# (matplotlib for the plots), make sure Kafka and PostgreSQL run, then every benchmark in turn.
#
#   bash deploy/bench.sh                       # full size: latency, burst, escalation, memory,
#                                              # scale-out, matching (about an hour on 2 cores)
#   bash deploy/bench.sh --quick               # small sizes, a smoke run of a few minutes
#   bash deploy/bench.sh --only burst,memory   # some of them
#   bash deploy/bench.sh --root ../before      # another checkout's processes (a before figure)
#
# Tables and JSON land in benchmarks/results/ (<name>-latest.md, <name>-<stamp>.json), plots
# as benchmarks/results/<name>-*.png, and the headline figures in summary-latest.md.
# Kafka and PostgreSQL are left running, as deploy/up.sh leaves them (`make down` stops them).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export SVRR_EXTRAS="${SVRR_EXTRAS:-test,bench}"
# shellcheck source-path=SCRIPTDIR
source "$SVRR_ROOT/deploy/venv.sh"
cd "$SVRR_ROOT"

bash deploy/up.sh
exec python -m benchmarks "$@"
