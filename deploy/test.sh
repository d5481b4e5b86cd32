#!/usr/bin/env bash
# The test command (`make test`, and what CI runs): install, start Kafka and PostgreSQL once,
# make sure the browser for the console's browser tests is there (deploy/browser.sh), lint,
# then pytest against the real broker and a test database.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$SVRR_ROOT/deploy/venv.sh"
cd "$SVRR_ROOT"

bash deploy/up.sh
bash deploy/browser.sh

echo "lint: ruff"
ruff check .
ruff format --check --quiet services events notifiers schemas tests deploy benchmarks
python deploy/check_compose.py

export DATABASE_URL="$TEST_DATABASE_URL"
echo "pytest: KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS DATABASE_URL=$DATABASE_URL"
exec pytest -p no:cacheprovider "$@"
