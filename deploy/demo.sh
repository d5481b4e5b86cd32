#!/usr/bin/env bash
# The main job: the whole product on one machine, and one incident followed end to end.
#
#   bash deploy/demo.sh          # start everything, play the story, keep running until Ctrl-C
#   bash deploy/demo.sh --once   # play the story and stop (CI smoke run); also DEMO_ONCE=1
#
# Starts PostgreSQL and Kafka (deploy/up.sh), migrates and seeds the database, then runs the
# Twilio stand-in, the API, the Faust worker, the deadline engine and the HL7 feed's MLLP service
# in the background and plays deploy/demo.py, then deploy/demo_feeds.py (one night from four feeds).
# On exit (Ctrl-C, TERM, --once, or a failure) it stops exactly what it started: the
# processes, then Kafka and PostgreSQL only if they were not already running before.
# Ports and paths come from deploy/env.sh (API_PORT, STANDIN_PORT, KAFKA_PORT, PGPORT, SVRR_RUN).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SVRR_ROOT"

ONCE="${DEMO_ONCE:-0}"
for arg in "$@"; do
  case "$arg" in
    --once) ONCE=1 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--once]" >&2; exit 2 ;;
  esac
done

API_TOKEN=dev-token
VENV="$SVRR_ROOT/.venv"
PY="$VENV/bin/python"
LOG_DIR="$SVRR_RUN/log"
STANDIN_URL="http://127.0.0.1:$STANDIN_PORT"
API_URL="http://127.0.0.1:$API_PORT"

say() { printf 'demo: %s\n' "$*"; }
rel() { printf '%s' "${1#"$SVRR_ROOT"/}"; } # shorter paths in progress lines

# --------------------------------------------------------------------------- cleanup

declare -A PIDS=()
STARTED_PG=0
STARTED_KAFKA=0
SLEEP_PID=""

stop_proc() { # name: TERM its process group, wait up to 20 s, then KILL
  local name=$1 pid=${PIDS[$1]:-}
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name still running after 20 s, sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    fi
  fi
  wait "$pid" 2>/dev/null || true
  rm -f "$SVRR_RUN/pid/demo-$name.pid"
  unset "PIDS[$name]"
}

cleanup() {
  local rc=$?
  trap '' INT TERM # a second Ctrl-C must not leave half of the stack running
  trap - EXIT
  set +e
  [[ -n "$SLEEP_PID" ]] && kill "$SLEEP_PID" 2>/dev/null
  if ((${#PIDS[@]} || STARTED_KAFKA || STARTED_PG)); then
    say "shutting down what this run started"
  fi
  for name in mllp engine worker api standin; do stop_proc "$name"; done
  if ((STARTED_KAFKA && STARTED_PG)); then
    "$SVRR_ROOT/deploy/down.sh"
  elif ((STARTED_KAFKA)); then
    "$SVRR_ROOT/deploy/kafka.sh" stop
  elif ((STARTED_PG)); then
    "$SVRR_ROOT/deploy/postgres.sh" stop
  fi
  if [[ -n "${INFRA_CHECKED:-}" ]]; then
    ((STARTED_KAFKA)) || say "left Kafka running: it was running before this run"
    ((STARTED_PG)) || say "left PostgreSQL running: it was running before this run"
  fi
  say "done (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# --------------------------------------------------------------------------- helpers

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free_port() { # port var-name
  if port_open "$1"; then
    echo "demo: port $1 is already taken, so the $2 cannot listen there:" >&2
    ss -ltnp "sport = :$1" >&2 || true
    echo "demo: stop that process, or pick another port, e.g. $3=$(($1 + 10000)) make demo" >&2
    exit 1
  fi
}

http_ok() { # url [bearer-token]: true on a 2xx answer
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 2 ${2:+-H "Authorization: Bearer $2"} "$1" 2>/dev/null
  else
    "$PY" - "$1" "${2:-}" <<'EOF' 2>/dev/null
import sys, urllib.request
req = urllib.request.Request(sys.argv[1])
if sys.argv[2]:
    req.add_header("Authorization", f"Bearer {sys.argv[2]}")
urllib.request.urlopen(req, timeout=2)
EOF
  fi
}

start_proc() { # name command...: own session, so a terminal Ctrl-C reaches only this script
  local name=$1 log="$LOG_DIR/$1.log"
  shift
  : >"$log" # one run per log: readiness checks must not see an earlier "Ready"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  PIDS[$name]=$!
  echo "${PIDS[$name]}" >"$SVRR_RUN/pid/demo-$name.pid"
}

wait_ready() { # name timeout-seconds probe-command...
  local name=$1 timeout=$2 pid=${PIDS[$1]} log="$LOG_DIR/$1.log"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name exited during startup; last lines of $(rel "$log"):" >&2
      tail -n 25 "$log" >&2
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "demo: $name not ready after ${timeout}s; last lines of $(rel "$log"):" >&2
      tail -n 25 "$log" >&2
      exit 1
    fi
    sleep 0.2
  done
}

# --------------------------------------------------------------------------- 1. Python env

source "$SVRR_ROOT/deploy/venv.sh"

# --------------------------------------------------------------------------- 2. infrastructure

# Fail before starting anything if the app ports are taken (e.g. by a manual run).
require_free_port "$STANDIN_PORT" "Twilio stand-in" STANDIN_PORT
require_free_port "$API_PORT" API API_PORT
require_free_port "$DEMO_MLLP_PORT" "MLLP service" DEMO_MLLP_PORT

"$SVRR_ROOT/deploy/postgres.sh" status >/dev/null 2>&1 || STARTED_PG=1
"$SVRR_ROOT/deploy/kafka.sh" status >/dev/null 2>&1 || STARTED_KAFKA=1
INFRA_CHECKED=1
((STARTED_PG)) || say "PostgreSQL already running: using it, and leaving it running at exit"
((STARTED_KAFKA)) || say "Kafka already running: using it, and leaving it running at exit"
"$SVRR_ROOT/deploy/up.sh"

# The story runs on a database of its own, made anew each run, so every run starts from the
# same hospital: yesterday's open cases cannot put today's peers at their case limit.
DATABASE_URL="${DATABASE_URL%/*}/svrr_demo"
python - <<'PY'
import os
import psycopg
url = os.environ["DATABASE_URL"].replace("+psycopg", "")
with psycopg.connect(url.rsplit("/", 1)[0] + "/svrr", autocommit=True) as conn:
    conn.execute("DROP DATABASE IF EXISTS svrr_demo WITH (FORCE)")
    conn.execute("CREATE DATABASE svrr_demo")
PY
say "migrating $(sed -E 's#//([^:]+):[^@]*@#//\1:***@#' <<<"$DATABASE_URL") (fresh for this run)"
svrr migrate
svrr seed
# One console user per role, with fresh passwords, printed once everything is up. The peer
# user is N1101, the on-call ICU nurse the story pages for 4E's nurse, so the case the story
# makes is on the demo peer's phone.
DEMO_USERS="$(svrr demo-users --peer N1101)"

# --------------------------------------------------------------------------- 3. services

export TWILIO_API_BASE="$STANDIN_URL"
export PUBLIC_BASE_URL="$API_URL"
export API_TOKENS="$API_TOKEN" ADMIN_TOKENS=dev-admin-token FEED_TOKENS=dev-feed-token
export LOG_FORMAT=json
export PYTHONUNBUFFERED=1
# The story plays at any hour: a clinician's offer would otherwise wait for 07:00 on their
# unit's clock (quiet hours), and a demo run at night would stop at "offer sent".
export QUIET_START_HOUR=0 QUIET_END_HOUR=0
export DATABASE_URL KAFKA_BOOTSTRAP_SERVERS

say "starting Twilio stand-in on $STANDIN_URL (log $(rel "$LOG_DIR/standin.log"))"
start_proc standin "$PY" deploy/twilio_standin.py --port "$STANDIN_PORT" \
  --sms-url "$API_URL/twilio/sms"
say "starting API on $API_URL (log $(rel "$LOG_DIR/api.log"))"
start_proc api "$VENV/bin/uvicorn" services.api:app --host 127.0.0.1 --port "$API_PORT"
wait_ready standin 60 http_ok "$STANDIN_URL/_standin/health"
say "stand-in ready (pid ${PIDS[standin]})"
wait_ready api 60 http_ok "$API_URL/healthz" "$API_TOKEN"
say "API ready (pid ${PIDS[api]})"

# --datadir keeps Faust's local state under $SVRR_RUN with everything else this job makes.
say "starting worker (faust -A events.app, log $(rel "$LOG_DIR/worker.log"))"
start_proc worker "$VENV/bin/faust" -L uvloop --datadir "$SVRR_RUN/faust" -A events.app worker -l info \
  --without-web
wait_ready worker 90 grep -q Ready "$LOG_DIR/worker.log"
say "worker ready (pid ${PIDS[worker]})"
say "starting the deadline engine (svrr engine, log $(rel "$LOG_DIR/engine.log"))"
start_proc engine "$VENV/bin/svrr" engine
wait_ready engine 30 grep -q "svrr engine: ready" "$LOG_DIR/engine.log"
say "engine ready (pid ${PIDS[engine]})"
say "starting the HL7 feed's MLLP service (svrr feed mllp, port $DEMO_MLLP_PORT, log $(rel "$LOG_DIR/mllp.log"))"
start_proc mllp "$VENV/bin/svrr" feed mllp --feed adt --port "$DEMO_MLLP_PORT"
wait_ready mllp 30 grep -q "svrr feed mllp: ready" "$LOG_DIR/mllp.log"
say "MLLP service ready (pid ${PIDS[mllp]})"

echo
say "everything is up"
row() { printf '  %-16s %-24s log %s\n' "$1" "$2" "$(rel "$LOG_DIR/$3")"; }
row PostgreSQL "127.0.0.1:$PGPORT" postgres.log
row Kafka "$KAFKA_BOOTSTRAP_SERVERS" kafka.log
row "Twilio stand-in" "$STANDIN_URL" standin.log
row API "$API_URL" api.log
row worker "faust events.app" worker.log
row engine "svrr engine" engine.log
row "MLLP (HL7 v2)" "127.0.0.1:$DEMO_MLLP_PORT" mllp.log
echo "  API token: $API_TOKEN   stand-in messages: $STANDIN_URL/_standin/messages"
echo "  the demo's phones (read and answer as a peer or a clinician): $STANDIN_URL/_standin/phones"
echo
echo "  the console: $API_URL/console/  (sign in as any of these; new passwords every run)"
sed 's/^/  /' <<<"$DEMO_USERS"
echo

# --------------------------------------------------------------------------- 4. the story

export API_URL STANDIN_URL API_TOKEN
if ! "$PY" deploy/demo.py; then
  echo "demo: the story did not complete; logs are in $(rel "$LOG_DIR")/{standin,api,worker,engine}.log" >&2
  exit 1
fi
# The second act: the same kind of night reaching us from four hospital feeds.
if ! FEED_TOKEN=dev-feed-token MLLP_PORT="$DEMO_MLLP_PORT" "$PY" deploy/demo_feeds.py; then
  echo "demo: the feeds' act did not complete; logs are in $(rel "$LOG_DIR")/{api,mllp,worker}.log" >&2
  exit 1
fi

if ((ONCE)); then
  say "--once: story complete, stopping"
  exit 0
fi

cat <<EOF

demo: still running. Try another incident:
  curl -s -X POST $API_URL/incidents -H 'Authorization: Bearer $API_TOKEN' \\
    -H 'Content-Type: application/json' -d '{"occurred_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    "unit": "4E", "event_type": "unexpected_death", "harm_level": "death", "staff_ids": ["N1001"]}'
  curl -s $STANDIN_URL/_standin/messages
demo: press Ctrl-C to stop everything this run started.
EOF

while :; do
  for name in standin api worker engine mllp; do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      echo "demo: $name exited unexpectedly; last lines of $(rel "$LOG_DIR/$name.log"):" >&2
      tail -n 25 "$LOG_DIR/$name.log" >&2
      exit 1
    fi
  done
  sleep 1 &
  SLEEP_PID=$!
  wait "$SLEEP_PID" || true
  SLEEP_PID=""
done
