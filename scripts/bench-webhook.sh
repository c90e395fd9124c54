#!/usr/bin/env bash
# Webhook benchmark (issue 6, item 5): start crest's server on 127.0.0.1, send
# 20,000 distinct Alertmanager payloads at 2,000/s from an open-loop Rust load
# generator, kill the server with SIGKILL right after the last answer and
# start it again; then send KILL_COUNT (4000) more and SIGKILL it with requests
# in flight (after half were answered) and start it again; read /v1/decisions
# back — every acknowledged alert of both runs looked up by id — and print one
# JSON line (kill_in_flight: the second crash):
#   {"alerts_sent":..,"alerts_recorded":..,"p99_ms":..,"rate_per_s":..,"unauthorized_rejected":true, ...}
# p99_ms is alert-to-decision latency: from when each request was due to the
# 2xx that says its decision is committed (fsync) — open loop, so queueing counts.
#
# Server binary (CREST_BENCH_SERVER):
#   release (default)  crest-serve-bench: a release build of the crest-server crate alone.
#                      It calls the very crest_server::serve_until_signal/run that
#                      `crest serve` calls; only the optimisation level differs. (A release
#                      build of the whole crest binary would compile polars for ~15 min.)
#   debug              target/debug/crest serve: the debug build of the real CLI. It meets
#                      the target on a quiet machine, but at opt-level 0 (SQLite, hyper,
#                      serde at -O0) it has little CPU headroom when other jobs share the
#                      2 cores; falls back to release if the crest binary does not build.
# The output's "server" field names what was measured.
# Environment: COUNT (20000), RATE (2000), CONNECTIONS (256), APPS (50);
# CREST_BENCH_NO_BUILD=1 uses the binaries already in target/ (e.g. while another
# cargo command holds the build lock).
# Everything stays on 127.0.0.1; the temporary directory and servers are cleaned up.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-20000}"
RATE="${RATE:-2000}"
CONNECTIONS="${CONNECTIONS:-256}"
APPS="${APPS:-50}"
MODE="${CREST_BENCH_SERVER:-release}"

log() { echo "bench-webhook: $*" >&2; }

NO_BUILD="${CREST_BENCH_NO_BUILD:-0}"
# CREST_BENCH_PROFILE=debug builds and runs the generator and crest-serve-bench
# unoptimised (a quick functional run; the figures are for release).
PROFILE="${CREST_BENCH_PROFILE:-release}"
PFLAG=(--release); [[ "$PROFILE" == debug ]] && PFLAG=()
if [[ "$NO_BUILD" != 1 ]]; then
  log "building (cargo build ${PFLAG[*]} -p crest-server --bins)"
  cargo build --quiet "${PFLAG[@]}" -p crest-server --bins >&2
fi
LOAD=target/$PROFILE/crest-webhook-load
case "$MODE" in
  release) ;;
  debug)
    if [[ "$NO_BUILD" != 1 ]] && ! cargo build --quiet -p crest >&2; then
      log "the crest binary did not build; measuring the release crest-serve-bench instead"
      MODE=release
    fi ;;
  *) log "unknown CREST_BENCH_SERVER=$MODE (debug|release)"; exit 2 ;;
esac
if [[ "$MODE" == debug ]]; then
  SERVER=(target/debug/crest serve); LABEL="crest serve (debug build)"
else
  SERVER=(target/$PROFILE/crest-serve-bench); LABEL="crest-serve-bench ($PROFILE build of crest-server)"
fi

WORK="$(mktemp -d /tmp/crest-bench-webhook.XXXXXX)"
PID=""
cleanup() {
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export CREST_BENCH_TOKEN="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
cat > "$WORK/crest.toml" <<TOML
[server]
listen = "127.0.0.1:0"
db_path = "state.db"
token_env = "CREST_BENCH_TOKEN"

[[mapping.rules]]
severity = "page"
step = 1

[defaults]
min_replicas = 1
max_replicas = 100000
TOML

start_server() {
  : > "$WORK/server.log"
  "${SERVER[@]}" --config "$WORK/crest.toml" 2>"$WORK/server.log" &
  PID=$!
  for _ in $(seq 1 200); do
    ADDR="$(grep -o 'listening on http://[0-9.:]*' "$WORK/server.log" | sed 's#.*http://##' || true)"
    [[ -n "$ADDR" ]] && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/server.log" >&2; return 1; }
    sleep 0.05
  done
  log "server did not start"; cat "$WORK/server.log" >&2; return 1
}

start_server
log "server ($MODE) on $ADDR; sending $COUNT alerts at $RATE/s"
"$LOAD" send --addr "$ADDR" --token-env CREST_BENCH_TOKEN --rate "$RATE" --count "$COUNT" \
  --connections "$CONNECTIONS" --apps "$APPS" --run-id "bench-$$" > "$WORK/sent.json"
log "send: $(cat "$WORK/sent.json")"

# Crash it: everything answered 2xx must survive SIGKILL.
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=""
start_server
log "restarted on $ADDR after SIGKILL"

# Crash it again, this time with requests in flight: the load generator
# SIGKILLs the server once half of KILL_COUNT alerts were answered; every
# alert answered 2xx before that (looked up by id) must be there after a restart.
KILL_COUNT="${KILL_COUNT:-4000}"
log "sending $KILL_COUNT more at $RATE/s, SIGKILL after $((KILL_COUNT / 2)) answers"
"$LOAD" send --addr "$ADDR" --token-env CREST_BENCH_TOKEN --rate "$RATE" --count "$KILL_COUNT" \
  --connections "$CONNECTIONS" --apps "$APPS" --run-id "bench-$$-kill" \
  --kill-pid "$PID" --kill-after-acks "$((KILL_COUNT / 2))" > "$WORK/killed.json"
wait "$PID" 2>/dev/null || true; PID=""
start_server
log "restarted on $ADDR; reading /v1/decisions back (every acknowledged alert, by id)"
"$LOAD" check --addr "$ADDR" --sent "$WORK/killed.json" --server-label "$LABEL" > "$WORK/killed-check.json"
log "in-flight kill: $(cat "$WORK/killed-check.json")"
"$LOAD" check --addr "$ADDR" --sent "$WORK/sent.json" --server-label "$LABEL" > "$WORK/check.json"
python3 - "$WORK/check.json" "$WORK/killed-check.json" <<'PY'
import json, sys
main = json.load(open(sys.argv[1]))
k = json.load(open(sys.argv[2]))
main["kill_in_flight"] = {
    "alerts_acknowledged": k["alerts_acknowledged"],
    "in_flight_at_kill": k.get("in_flight_at_kill"),
    "lost_after_ack": k["lost_after_ack"],
}
print(json.dumps(main))
PY
