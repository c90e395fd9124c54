#!/usr/bin/env bash
# Scale an app 0 -> N -> 0 through `crest scale` against real services, and
# print one JSON line with the timings and leak counts.
#
#   scripts/bench-scale-out.sh N        (as root; N defaults to 100)
#
# Starts its own containerd (temp root/state, socket on a temp path, CRI
# disabled), HAProxy on 127.0.0.1 with a generated config, and a CNI bridge
# (bridge + host-local, no gateway role, no default route) on a private
# subnet that exists only on this machine; imports a busybox-static OCI image
# built by scripts/build-test-image.sh; cleans everything up on exit.
# Env: CREST (binary, default target/debug/crest), CONCURRENCY (default 64),
# SHIM_GROUP (containers per runc shim, default 16; 1 = containerd's default),
# ROOTFS (readonly, the default = one shared read-only image view, no host
# mount per container; snapshot = a writable snapshot each, containerd's way),
# BENCH_DIR (where the temp dir goes, default /tmp; /dev/shm takes disk fsyncs
# of containerd's metadata out of the picture), KEEP=1 keeps the temp dir.
set -euo pipefail
N=${1:-100}
here=$(cd "$(dirname "$0")/.." && pwd)
CREST=${CREST:-$here/target/debug/crest}
CONCURRENCY=${CONCURRENCY:-64}
SHIM_GROUP=${SHIM_GROUP:-16}
ROOTFS=${ROOTFS:-readonly}
"$here/scripts/install-deps.sh"
for b in containerd ctr runc haproxy socat ip /usr/lib/cni/bridge /usr/lib/cni/host-local; do
  command -v "$b" >/dev/null || { echo "bench-scale-out: $b is missing" >&2; exit 1; }
done
[ -x "$CREST" ] || (cd "$here" && cargo build -q --bin crest)

T=$(mktemp -d "${BENCH_DIR:-/tmp}/crest-bench.XXXXXX")
NS=crest-bench-$$
BR=crb$(( $$ % 100000 ))
cleanup() {
  set +e
  if [ -S "$T/containerd.sock" ]; then
    for c in $(ctr -a "$T/containerd.sock" -n "$NS" tasks ls -q 2>/dev/null); do
      ctr -a "$T/containerd.sock" -n "$NS" tasks kill -s SIGKILL "$c" >/dev/null 2>&1
    done
    sleep 0.5
    for c in $(ctr -a "$T/containerd.sock" -n "$NS" containers ls -q 2>/dev/null); do
      ctr -a "$T/containerd.sock" -n "$NS" tasks delete -f "$c" >/dev/null 2>&1
      ctr -a "$T/containerd.sock" -n "$NS" containers delete "$c" >/dev/null 2>&1
    done
    ctr -a "$T/containerd.sock" -n "$NS" images rm docker.io/crest/busybox:test >/dev/null 2>&1
    ctr -a "$T/containerd.sock" namespaces remove "$NS" >/dev/null 2>&1
  fi
  [ -f "$T/containerd.pid" ] && kill "$(cat "$T/containerd.pid")" 2>/dev/null
  [ -f "$T/haproxy.pid" ] && kill "$(cat "$T/haproxy.pid")" 2>/dev/null
  ip link del "$BR" 2>/dev/null
  sleep 0.3
  grep -q " $T/root" /proc/mounts && umount -R "$T/root" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT

cat > "$T/containerd.toml" <<TOML
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/containerd.sock"
[ttrpc]
  address = "$T/containerd.sock.ttrpc"
TOML
containerd --config "$T/containerd.toml" >"$T/containerd.log" 2>&1 &
echo $! > "$T/containerd.pid"
for _ in $(seq 100); do [ -S "$T/containerd.sock" ] && break; sleep 0.05; done

"$here/scripts/build-test-image.sh" "$T/image.tar" docker.io/crest/busybox:test 2>/dev/null
ctr -a "$T/containerd.sock" -n "$NS" images import "$T/image.tar" >/dev/null

PORT=$(( 20000 + $$ % 20000 ))
cat > "$T/haproxy.cfg" <<CFG
global
    stats socket $T/haproxy.sock mode 600 level admin
    stats maxconn 64
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$PORT
    default_backend web
backend web
    balance roundrobin
CFG
haproxy -f "$T/haproxy.cfg" -p "$T/haproxy.pid" -D

cat > "$T/scale.toml" <<TOML
journal = "$T/journal.sqlite"
[containerd]
socket = "$T/containerd.sock"
namespace = "$NS"
image = "docker.io/crest/busybox:test"
command = ["/bin/sh", "-c", "trap 'exit 0' TERM; busybox httpd -f -p 8080 -h /www & wait"]
stop_grace_ms = 2000
shim_group_size = $SHIM_GROUP
rootfs = "$ROOTFS"
[network]
subnet = "10.214.0.0/20"
bridge = "$BR"
name = "$NS"
data_dir = "$T/cni"
[haproxy]
socket = "$T/haproxy.sock"
check_inter_ms = 2000
[fleet]
concurrency = $CONCURRENCY
ramp_steps = 1
drain_ms = 0
TOML

now() { date +%s.%N; }
t0=$(now)
out_rc=0; "$CREST" scale web "$N" --config "$T/scale.toml" > "$T/out.json" || out_rc=$?
t1=$(now)
running=$(ctr -a "$T/containerd.sock" -n "$NS" tasks ls -q | wc -l)
lb_registered=$(echo "show servers state web" | socat stdio "UNIX-CONNECT:$T/haproxy.sock" | awk 'NR>2 && $4 ~ /^web-/' | wc -l)
# This run's shims only (others may be running on the machine).
our_shims() { ps -C containerd-shim-runc-v2 -o rss=,args= | grep -F -- "-address $T/containerd.sock" || true; }
shim_kb=$(our_shims | awk '{s+=$1} END {print s+0}')
shims=$(our_shims | grep -c . || true)
t2=$(now)
in_rc=0; "$CREST" scale web 0 --config "$T/scale.toml" > "$T/in.json" || in_rc=$?
failed=$(cat "$T/out.json" "$T/in.json" | python3 -c 'import json,sys; print(sum(len(json.loads(l)["failed"]) for l in sys.stdin if l.strip()))' 2>/dev/null || echo -1)
if [ "$out_rc$in_rc" != 00 ]; then
  echo "bench-scale-out: crest scale exited $out_rc (out) / $in_rc (in); failures:" >&2
  cat "$T/out.json" "$T/in.json" | python3 -c 'import json,sys
for l in sys.stdin:
    for k,v in json.loads(l)["failed"].items(): print("  ",k,v)' >&2 || true
fi
t3=$(now)
# A shim exits once its last task is deleted; give the last ones a moment.
for _ in $(seq 20); do [ "$(our_shims | grep -c . || true)" = 0 ] && break; sleep 0.1; done
leaked_shims=$(our_shims | grep -c . || true)
leaked_containers=$(ctr -a "$T/containerd.sock" -n "$NS" containers ls -q | wc -l)
leaked_ips=$(find "$T/cni" -mindepth 2 -maxdepth 2 -name '10.*' 2>/dev/null | wc -l)
leaked_lb=$(echo "show servers state web" | socat stdio "UNIX-CONNECT:$T/haproxy.sock" | awk 'NR>2 && $4 ~ /^web-/' | wc -l)
awk -v n="$N" -v o="$(echo "$t1 - $t0" | bc)" -v i="$(echo "$t3 - $t2" | bc)" -v lb="$lb_registered" \
    -v lc="$leaked_containers" -v li="$leaked_ips" -v ll="$leaked_lb" -v r="$running" \
    -v skb="$shim_kb" -v sh="$shims" -v f="$failed" -v rf="$ROOTFS" -v sg="$SHIM_GROUP" -v ls="$leaked_shims" 'BEGIN {
  printf "{\"containers\":%d,\"rootfs\":\"%s\",\"shim_group\":%d,\"scale_out_s\":%.2f,\"scale_in_s\":%.2f,\"lb_registered\":%d,\"leaked_containers\":%d,\"leaked_ips\":%d,\"leaked_lb_entries\":%d,\"leaked_shims\":%d,\"running_after_scale_out\":%d,\"failed\":%d,\"shims\":%d,\"shim_rss_mb_avg\":%.1f}\n",
    n, rf, sg, o, i, lb, lc, li, ll, ls, r, f, sh, (sh > 0 ? skb / sh / 1024 : 0) }'
