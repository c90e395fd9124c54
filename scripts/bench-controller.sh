#!/usr/bin/env bash
# The closed loop on real services: a real Alertmanager posts to `crest serve`
# (controller on, [actuator] = containerd + CNI + HAProxy), and crest scales
# the app. Prints progress on stderr and, last, one JSON line:
#
#   {"instances":N,"alert_to_first_start_ms_p99":..,"alert_to_all_healthy_s":..,
#    "scale_in_after_resolve_s":..,"leaked_containers":..,"leaked_ips":..,"leaked_lb_entries":..}
#
#   scripts/bench-controller.sh N        (as root; N defaults to 10)
#
# What it runs (everything private to this run, on 127.0.0.1 and a private
# CNI subnet; removed on exit — scripts/lib/real-backends.sh):
#  1. latency: TRIALS (20) alerts, each its own Alertmanager group and +1
#     instance; per alert, crest's receipt (alerts.received_ms) to the
#     journal's first container `create` intent after it; p99 (nearest rank);
#     then all resolve and the fleet returns to its base after the cooldown.
#  2. a stored plan holds a floor of 2 (base 1);
#  3. burst: one alert asking +N; receipt to all 1+N instances UP in HAProxy.
#     With KILL9=1 (default) crest is killed with SIGKILL as soon as the
#     first container start of the burst is requested, and started again: the
#     new process waits out the lease, reconciles the journal and finishes.
#     Exactly 1+N containers, addresses and balancer entries must result.
#  4. the burst alert resolves: time from crest's receipt of the resolve until
#     the fleet is back at the plan's floor (2, not the base: the plan holds);
#     it includes the cooldown (COOLDOWN_S, default 3).
#  5. crest stops; `crest scale web 0`; leaks = what is left (containers,
#     CNI addresses, balancer entries), plus any excess over 1+N at the burst.
# Extra keys after the required ones: trials, kill9, plan_floor_kept,
# burst_containers (1+N expected), alert_to_first_start_ms (all samples).
#
# Env: CREST (binary, default target/debug/crest), TRIALS (20), KILL9 (1),
# COOLDOWN_S (3), CONCURRENCY (64), SHIM_GROUP (16) and ROOTFS (readonly) as
# in bench-scale-out.sh, BENCH_DIR, KEEP=1, SKIP_INSTALL=1.
set -euo pipefail
N=${1:-10}
TRIALS=${TRIALS:-20}
KILL9=${KILL9:-1}
COOLDOWN_S=${COOLDOWN_S:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
CREST=${CREST:-$here/target/debug/crest}
[ "${SKIP_INSTALL:-0}" = 1 ] || "$here/scripts/install-deps.sh"
for b in containerd ctr runc haproxy socat ip sqlite3 curl python3 prometheus-alertmanager \
         /usr/lib/cni/bridge /usr/lib/cni/host-local; do
  command -v "$b" >/dev/null || { echo "bench-controller: $b is missing" >&2; exit 1; }
done
[ -x "$CREST" ] || (cd "$here" && cargo build -q --bin crest)
say() { echo "bench-controller: $*" >&2; }

HERE=$here
export SHIM_GROUP=${SHIM_GROUP:-16} ROOTFS=${ROOTFS:-readonly}
# shellcheck source=lib/real-backends.sh
source "$here/scripts/lib/real-backends.sh"
real_backends_up crest-ctl web "10.216.$(( $$ % 4 * 16 )).0/20"
# Faster health checks than the scale bench's 2 s (rise 2: UP after ~1 s).
sed -i 's/^check_inter_ms = .*/check_inter_ms = 500/' "$T/scale.toml"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(free_port); APORT=$(free_port)
TOKEN=bench-controller-token-0123456
MAX=$(( N + TRIALS + 10 ))
{
  cat <<TOML
[server]
listen = "127.0.0.1:$CPORT"
db_path = "$T/crest.db"
token = "$TOKEN"
[[mapping.rules]]
alertname = "CrestProbe"
step = 1
[[mapping.rules]]
alertname = "CrestBurst"
step = $N
[apps.web]
min_replicas = 1
max_replicas = $MAX
base_replicas = 1

[[app]]
name = "web"
base = 1
min_instances = 1
max_instances = $MAX
max_step = $MAX
cooldown_s = $COOLDOWN_S
period_s = 1
lease_ttl_s = 3
stored_plans = true

[actuator]
TOML
  sed -e 's/^\[\(containerd\|network\|haproxy\|fleet\)\]/[actuator.\1]/' "$T/scale.toml"
} > "$T/serve.toml"
"$CREST" serve --config "$T/serve.toml" --check >&2

CREST_PID=
start_crest() {
  "$CREST" serve --config "$T/serve.toml" --controller-id "bench-$1" >>"$T/crest.log" 2>&1 &
  CREST_PID=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$CPORT/healthz" >/dev/null && return; sleep 0.05; done
  say "crest did not start:"; cat "$T/crest.log" >&2; exit 1
}
AM_PID=
stop_all() {
  [ -n "$CREST_PID" ] && kill "$CREST_PID" 2>/dev/null && wait "$CREST_PID" 2>/dev/null
  [ -n "$AM_PID" ] && kill "$AM_PID" 2>/dev/null
  "$CREST" scale web 0 --config "$T/scale.toml" >/dev/null 2>&1 || true
  real_backends_cleanup
}
trap stop_all EXIT

cat > "$T/am.yml" <<YML
route:
  receiver: crest
  group_by: ['alertname', 'idx']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: crest
    webhook_configs:
      - url: http://127.0.0.1:$CPORT/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: $TOKEN
YML
prometheus-alertmanager --config.file="$T/am.yml" --storage.path="$T/am" \
  --web.listen-address="127.0.0.1:$APORT" --cluster.listen-address= >"$T/am.log" 2>&1 &
AM_PID=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$APORT/-/ready" >/dev/null && break; sleep 0.1; done

start_crest 1
now_ms() { date +%s%3N; }
iso() { date -u -d "@$(echo "$1 / 1000" | bc -l)" +%Y-%m-%dT%H:%M:%S.%3NZ; }
# push NAME IDX STARTS_MS [ENDS_MS]: one alert to Alertmanager's API.
push() {
  local ends=""
  [ -n "${4:-}" ] && ends=",\"endsAt\":\"$(iso "$4")\""
  curl -sf -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$APORT/api/v2/alerts" \
    -d "[{\"labels\":{\"alertname\":\"$1\",\"app\":\"web\",\"idx\":\"$2\"},\"startsAt\":\"$(iso "$3")\"$ends}]" >/dev/null
}
db() { sqlite3 -cmd '.timeout 5000' "$T/crest.db" "$@"; }
jr() { sqlite3 -cmd '.timeout 5000' "$T/journal.sqlite" "$@"; }
# received_ms of alert NAME/IDX with STATUS (empty until crest has it).
received() {
  db "SELECT min(received_ms) FROM alerts WHERE alertname='$1' AND status='$3' AND labels LIKE '%\"idx\":\"$2\"%'"
}
wait_received() {
  local r=""
  for _ in $(seq 600); do r=$(received "$@"); [ -n "$r" ] && { echo "$r"; return; }; sleep 0.05; done
  say "alert $1/$2 $3 never reached crest"; exit 1
}
first_create_after() { jr "SELECT min(at_ms) FROM steps WHERE step='create' AND mark='intent' AND at_ms >= $1"; }
wait_first_create() {
  local c=""
  for _ in $(seq 600); do c=$(first_create_after "$1"); [ -n "$c" ] && { echo "$c"; return; }; sleep 0.02; done
  say "no container start requested after $1"; exit 1
}
wait_up() { # wait until exactly $1 servers are UP and $1 containers exist; echo the ms
  for _ in $(seq 1200); do
    if [ "$(rb_lb_servers web up)" -ge "$1" ] && [ "$(rb_containers)" -eq "$1" ]; then now_ms; return; fi
    sleep 0.05
  done
  say "fleet never reached $1 UP (up $(rb_lb_servers web up), containers $(rb_containers))"; echo -1
}
wait_containers() { # wait until exactly $1 containers; echo the ms
  for _ in $(seq 1200); do [ "$(rb_containers)" -eq "$1" ] && { now_ms; return; }; sleep 0.05; done
  say "fleet never came back to $1 containers (now $(rb_containers))"; echo -1
}

wait_up 1 >/dev/null
say "base fleet up (1 instance); $TRIALS latency trials"
lat=()
t_start=$(now_ms)
for k in $(seq "$TRIALS"); do
  push CrestProbe "$k" "$t_start"
  r=$(wait_received CrestProbe "$k" firing)
  c=$(wait_first_create "$r")
  lat+=($(( c - r )))
  wait_containers $(( 1 + k )) >/dev/null
done
say "latencies (ms): ${lat[*]}"
t_res=$(now_ms)
for k in $(seq "$TRIALS"); do push CrestProbe "$k" "$t_start" "$t_res"; done
wait_up 1 >/dev/null

# A plan holds 2 from 10 s ago for an hour.
plan=$(printf '{"app":"web","id":"bench-plan","steps":[{"at":%d,"replicas":2,"reason":{"kind":"calendar","name":"bench"}},{"at":%d,"replicas":1,"reason":{"kind":"baseline"}}]}' \
  $(( $(now_ms) - 10000 )) $(( $(now_ms) + 3600000 )))
curl -sf -XPOST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  "http://127.0.0.1:$CPORT/v1/plans" -d "$plan" >/dev/null
wait_up 2 >/dev/null
say "plan floor 2 in force; burst +$N"

t_b=$(now_ms)
push CrestBurst 0 "$t_b"
rb=$(wait_received CrestBurst 0 firing)
killed=0
if [ "$KILL9" = 1 ]; then
  wait_first_create "$rb" >/dev/null
  kill -9 "$CREST_PID"; wait "$CREST_PID" 2>/dev/null || true
  killed=1
  say "crest killed with SIGKILL mid-scale-out ($(rb_containers) containers); restarting"
  start_crest 2
fi
up=$(wait_up $(( 1 + N )))
burst_containers=$(rb_containers)
burst_ips=$(rb_ips)
burst_lb=$(rb_lb_servers web)
all_healthy_s=$(echo "($up - $rb) / 1000" | bc -l)
# Settle one more period: nothing may be added beyond 1+N.
sleep 2
[ "$(rb_containers)" -gt "$burst_containers" ] && burst_containers=$(rb_containers)

t_r=$(now_ms)
push CrestBurst 0 "$t_b" "$t_r"
rr=$(wait_received CrestBurst 0 resolved)
back=$(wait_containers 2)
sleep 2 # a plan floor keeps 2: no scale-in below it
plan_kept=false; [ "$(rb_containers)" -eq 2 ] && [ "$(rb_lb_servers web up)" -eq 2 ] && plan_kept=true
scale_in_s=$(echo "($back - $rr) / 1000" | bc -l)
ex_c=$(( burst_containers - 1 - N )); ex_i=$(( burst_ips - 1 - N )); ex_l=$(( burst_lb - 1 - N ))

kill "$CREST_PID"; wait "$CREST_PID" 2>/dev/null || true; CREST_PID=
"$CREST" scale web 0 --config "$T/scale.toml" >/dev/null
sleep 0.5
lc=$(( $(rb_containers) + (ex_c > 0 ? ex_c : 0) ))
li=$(( $(rb_ips) + (ex_i > 0 ? ex_i : 0) ))
ll=$(( $(rb_lb_servers web) + (ex_l > 0 ? ex_l : 0) ))
p99=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.99); if (i<NR*0.99) i++; if (i<1) i=1; print a[i]}')
printf '{"instances":%d,"alert_to_first_start_ms_p99":%d,"alert_to_all_healthy_s":%.2f,"scale_in_after_resolve_s":%.2f,"leaked_containers":%d,"leaked_ips":%d,"leaked_lb_entries":%d,"trials":%d,"kill9":%d,"plan_floor_kept":%s,"burst_containers":%d,"alert_to_first_start_ms":[%s]}\n' \
  "$N" "$p99" "$all_healthy_s" "$scale_in_s" "$lc" "$li" "$ll" "$TRIALS" "$killed" "$plan_kept" "$burst_containers" \
  "$(IFS=,; echo "${lat[*]}")"
