# Real backends for crest's actuator, private to one run: a containerd with a
# temp root and state and its socket on a temp path (CRI disabled), the
# busybox-static test image imported, HAProxy on 127.0.0.1 with an empty
# backend, and a `crest scale` config wiring them to a CNI bridge (bridge +
# host-local, no gateway role, no route) on a private subnet that exists only
# on this machine. Everything is removed on exit.
#
# Sourced by scripts/bench-scale-out.sh and tests/cli_run.rs:
#
#   source scripts/lib/real-backends.sh
#   real_backends_up TAG BACKEND SUBNET     # sets T, NS, BR, PORT; writes $T/scale.toml
#   rb_tasks; rb_containers; rb_ips; rb_lb_servers   # counts, for leak checks
#
# Env read by real_backends_up: HERE (the repository), BENCH_DIR (where the
# temp dir goes, default /tmp), KEEP=1 (keep it), CONCURRENCY, SHIM_GROUP,
# ROOTFS (the [containerd]/[fleet] settings; defaults 64, 1, snapshot).

rb_ctr() { ctr -a "$T/containerd.sock" -n "$NS" "$@"; }

real_backends_cleanup() {
  set +e
  if [ -S "$T/containerd.sock" ]; then
    for c in $(rb_ctr tasks ls -q 2>/dev/null); do
      rb_ctr tasks kill -s SIGKILL "$c" >/dev/null 2>&1
    done
    sleep 0.5
    for c in $(rb_ctr containers ls -q 2>/dev/null); do
      rb_ctr tasks delete -f "$c" >/dev/null 2>&1
      rb_ctr containers delete "$c" >/dev/null 2>&1
    done
    rb_ctr images rm docker.io/crest/busybox:test >/dev/null 2>&1
  fi
  [ -f "$T/containerd.pid" ] && kill "$(cat "$T/containerd.pid")" 2>/dev/null
  [ -f "$T/haproxy.pid" ] && kill "$(cat "$T/haproxy.pid")" 2>/dev/null
  ip link del "$BR" 2>/dev/null
  # crest raises the neighbour-table limits for big subnets: leave the host
  # as it was found.
  [ -n "${RB_NEIGH:-}" ] && sysctl -qw $RB_NEIGH
  sleep 0.3
  grep -q " $T/root" /proc/mounts && umount -R "$T/root" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}

real_backends_up() {
  local tag=$1 backend=$2 subnet=$3
  T=$(mktemp -d "${BENCH_DIR:-/tmp}/$tag.XXXXXX")
  NS=$tag-$$
  BR=cr$(( $$ % 100000 ))${tag:0:1}
  RB_NEIGH=$(for k in gc_thresh2 gc_thresh3; do
    printf 'net.ipv4.neigh.default.%s=%s ' "$k" "$(sysctl -n net.ipv4.neigh.default.$k)"; done)
  trap real_backends_cleanup EXIT

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

  "$HERE/scripts/build-test-image.sh" "$T/image.tar" docker.io/crest/busybox:test 2>/dev/null
  rb_ctr images import "$T/image.tar" >/dev/null

  PORT=$(( 20000 + $$ % 40000 ))
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
    default_backend $backend
backend $backend
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
shim_group_size = ${SHIM_GROUP:-1}
rootfs = "${ROOTFS:-snapshot}"
[network]
subnet = "$subnet"
bridge = "$BR"
name = "$NS"
data_dir = "$T/cni"
[haproxy]
socket = "$T/haproxy.sock"
check_inter_ms = 2000
[fleet]
concurrency = ${CONCURRENCY:-64}
ramp_steps = 1
drain_ms = 0
health_wait_ms = 30000
TOML
}

rb_tasks() { rb_ctr tasks ls -q | wc -l; }
rb_containers() { rb_ctr containers ls -q | wc -l; }
# Addresses held in every host-local store of the network (one per shard).
rb_ips() { find "$T/cni" -mindepth 2 -maxdepth 2 -name '10.*' 2>/dev/null | wc -l; }
# Servers of app $1 in HAProxy's backend $1; with $2 = up, only those its
# health checks found UP (srv_op_state 2).
rb_lb_servers() {
  echo "show servers state $1" | socat stdio "UNIX-CONNECT:$T/haproxy.sock" \
    | awk -v p="^$1-" -v up="${2:-}" 'NR>2 && $4 ~ p && (up == "" || $6 == 2)' | wc -l
}
