# Shared settings for every deploy script. Source it; never execute it.
# Everything a script starts lives under $SVRR_RUN (data, logs, pids) so one `rm -rf` resets a machine.
SVRR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SVRR_ROOT
export SVRR_RUN="${SVRR_RUN:-$SVRR_ROOT/.run}"
export KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:$KAFKA_PORT}"
export PGPORT="${PGPORT:-5433}"
export PGHOST="${PGHOST:-127.0.0.1}"
export DATABASE_URL="${DATABASE_URL:-postgresql+psycopg://svrr:svrr@127.0.0.1:$PGPORT/svrr}"
export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql+psycopg://svrr:svrr@127.0.0.1:$PGPORT/svrr_test}"
export STANDIN_PORT="${STANDIN_PORT:-8765}"
export API_PORT="${API_PORT:-8000}"
# The demo's MLLP service (deploy/demo.sh); up.sh starts one only when MLLP_PORT is set.
export DEMO_MLLP_PORT="${DEMO_MLLP_PORT:-2575}"
mkdir -p "$SVRR_RUN/log" "$SVRR_RUN/pid"
# Data-at-rest keys (services/sealing.py, docs/data-at-rest.md). This machine's own, made
# once from the OS's random source into files only its user reads; a hospital sets DATA_KEYS
# / LOOKUP_KEY (or their _FILE forms) from its secret store instead, and then none is made.
if [[ -z "${DATA_KEYS:-}${DATA_KEYS_FILE:-}" ]]; then
  export DATA_KEYS_FILE="$SVRR_RUN/keys/data-keys"
  if [[ ! -s "$DATA_KEYS_FILE" ]]; then
    (umask 077 && mkdir -p "$SVRR_RUN/keys" &&
      printf 'k1:%s\n' "$(head -c 32 /dev/urandom | base64)" >"$DATA_KEYS_FILE")
  fi
fi
if [[ -z "${LOOKUP_KEY:-}${LOOKUP_KEY_FILE:-}" ]]; then
  export LOOKUP_KEY_FILE="$SVRR_RUN/keys/lookup-key"
  if [[ ! -s "$LOOKUP_KEY_FILE" ]]; then
    (umask 077 && mkdir -p "$SVRR_RUN/keys" &&
      head -c 32 /dev/urandom | base64 >"$LOOKUP_KEY_FILE")
  fi
fi
