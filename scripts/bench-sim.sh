#!/usr/bin/env bash
# Speed of crest's simulator vs SimPy on the same M/M/c model (10 servers,
# lambda 9/s, exp service 1 s), measured in the same run on this machine.
# Installs SimPy with pip when it is missing. Prints one JSON line.
#   scripts/bench-sim.sh [SIMPY_REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
simpy_n="${1:-1000000}"
python3 -c "import simpy" 2>/dev/null || pip install -q simpy
crest_out="$(cargo bench -q -p crest-sim --bench sim 2>/dev/null)"
echo "$crest_out" >&2
simpy_out="$(python3 sim/benches/mmc_simpy.py "$simpy_n")"
echo "$simpy_out" >&2
crest_rps="$(echo "$crest_out" | sed -n 's/^BENCH requests_per_s=\([0-9]*\).*/\1/p')"
simpy_rps="$(echo "$simpy_out" | sed -n 's/^BENCH requests_per_s=\([0-9]*\).*/\1/p')"
python3 -c "import json,sys; c,s=float(sys.argv[1]),float(sys.argv[2]); print(json.dumps({'crest_requests_per_s':round(c),'simpy_requests_per_s':round(s),'ratio':round(c/s,1)}))" "$crest_rps" "$simpy_rps"
