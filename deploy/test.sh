#!/usr/bin/env bash
# The test command (`make test`, and what CI runs): install, lint, the unit tests (tests/unit:
# no broker, no database, so a failure there shows within seconds and before anything is
# started), then start Kafka and PostgreSQL once, make sure the browser for the console's
# browser tests is there (deploy/browser.sh), and run the integration tests (tests/integration)
# against the real broker and a test database.
#
# `deploy/test.sh --unit` (`make unit`) runs the unit tests alone and starts nothing.
# Any other arguments go to pytest, for both runs (e.g. -x, or -k "not broker_outage").
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$SVRR_ROOT/deploy/venv.sh"
cd "$SVRR_ROOT"

unit_only=0
if [[ "${1:-}" == "--unit" ]]; then
  unit_only=1
  shift
fi

run_unit() {
  local start=$SECONDS
  echo "pytest: tests/unit (no Kafka, no PostgreSQL)"
  pytest -p no:cacheprovider tests/unit "$@"
  echo "unit tests took $((SECONDS - start)) s"
}

if [[ $unit_only == 1 ]]; then
  run_unit "$@"
  exit 0
fi

echo "lint: ruff"
ruff check .
ruff format --check --quiet services events notifiers schemas tests deploy benchmarks
python deploy/check_compose.py

run_unit "$@"

bash deploy/up.sh
bash deploy/browser.sh

export DATABASE_URL="$TEST_DATABASE_URL"
echo "pytest: tests/integration KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS DATABASE_URL=$DATABASE_URL"
start=$SECONDS
pytest -p no:cacheprovider tests/integration "$@"
echo "integration tests took $((SECONDS - start)) s"
