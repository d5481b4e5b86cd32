#!/usr/bin/env bash
# Stop what deploy/up.sh started. Data stays in $SVRR_RUN; `rm -rf` it for a clean slate.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

"$SVRR_ROOT/deploy/kafka.sh" stop
"$SVRR_ROOT/deploy/postgres.sh" stop
