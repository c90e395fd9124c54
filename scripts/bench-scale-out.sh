#!/usr/bin/env bash
# Scale an app 0 -> N -> 0 through `crest scale` against real services, and
# print one JSON line with the timings and leak counts: scale_out_s until
# `crest scale` returns (every container running and registered), all_up_s
# until HAProxy's health checks pass on all of them (lb_up of N).
#
#   scripts/bench-scale-out.sh N        (as root; N defaults to 100)
#
# Starts its own containerd, HAProxy and CNI bridge (scripts/lib/real-backends.sh:
# temp root and state, socket on a temp path, HAProxy on 127.0.0.1, a private
# subnet that exists only on this machine), imports a busybox-static OCI image
# built by scripts/build-test-image.sh, and cleans everything up on exit.
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

HERE=$here
# shellcheck source=lib/real-backends.sh
source "$here/scripts/lib/real-backends.sh"
real_backends_up crest-bench web 10.214.0.0/20

now() { date +%s.%N; }
t0=$(now)
out_rc=0; "$CREST" scale web "$N" --config "$T/scale.toml" > "$T/out.json" || out_rc=$?
t1=$(now)
# Serving: every container passed HAProxy's health check (2 s interval).
for _ in $(seq 300); do [ "$(rb_lb_servers web up)" -ge "$N" ] && break; sleep 0.1; done
t_up=$(now)
lb_up=$(rb_lb_servers web up)
running=$(rb_tasks)
lb_registered=$(rb_lb_servers web)
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
leaked_containers=$(rb_containers)
leaked_ips=$(rb_ips)
leaked_lb=$(rb_lb_servers web)
awk -v n="$N" -v o="$(echo "$t1 - $t0" | bc)" -v u="$(echo "$t_up - $t0" | bc)" -v lu="$lb_up" -v i="$(echo "$t3 - $t2" | bc)" -v lb="$lb_registered" \
    -v lc="$leaked_containers" -v li="$leaked_ips" -v ll="$leaked_lb" -v r="$running" \
    -v skb="$shim_kb" -v sh="$shims" -v f="$failed" -v rf="$ROOTFS" -v sg="$SHIM_GROUP" -v ls="$leaked_shims" 'BEGIN {
  printf "{\"containers\":%d,\"rootfs\":\"%s\",\"shim_group\":%d,\"scale_out_s\":%.2f,\"all_up_s\":%.2f,\"lb_up\":%d,\"scale_in_s\":%.2f,\"lb_registered\":%d,\"leaked_containers\":%d,\"leaked_ips\":%d,\"leaked_lb_entries\":%d,\"leaked_shims\":%d,\"running_after_scale_out\":%d,\"failed\":%d,\"shims\":%d,\"shim_rss_mb_avg\":%.1f}\n",
    n, rf, sg, o, u, lu, i, lb, lc, li, ll, ls, r, f, sh, (sh > 0 ? skb / sh / 1024 : 0) }'
