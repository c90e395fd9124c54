#!/usr/bin/env bash
# Install the Debian packages crest's tests start for real: containerd + runc and
# the CNI plugins (actuator), busybox-static (the locally built test image),
# HAProxy (probes, load-balancer registration), Prometheus + Alertmanager (alert
# webhooks), sqlite3 (inspecting state in tests and by hand), socat and bc (benchmark
# scripts), procps (ps, kill: shim checks in the actuator tests and its orphan
# reaping), util-linux (nsenter, to look inside a container's netns), openssl
# (the Mesos TLS test makes its own CA), and curl and python3
# (scripts/bench-controller.sh, which tests/e2e_controller.rs runs).
# Idempotent; needs root.
set -euo pipefail
pkgs=(containerd runc containernetworking-plugins busybox-static haproxy prometheus
      prometheus-alertmanager socat iputils-ping iproute2 sqlite3 bc
      procps util-linux openssl curl python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (or install them) to run every test" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
