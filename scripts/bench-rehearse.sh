#!/usr/bin/env bash
# Time of the default holiday backtest (`crest rehearse --crests auto`, every
# default) on each bundled dataset, against issue 17's budget of 5 minutes
# per dataset on this machine. Builds the binary the README's main job runs
# (the dev profile, whose hot crates are optimised) first, so the build is
# not timed. Prints one JSON line per dataset; exits 1 when one is over.
#   scripts/bench-rehearse.sh [DATASET ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
budget_s=300
cargo build -q --bin crest
bin=target/debug/crest
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(china_load_area1:cn bike_sharing:us nyc_taxi:us)
over=0
for d in "${datasets[@]}"; do
    name="${d%%:*}"
    cal="${d#*:}"
    [ "$cal" != "$d" ] || cal=none
    TIMEFORMAT='%R %U %S'
    t="$( { time "$bin" rehearse --history "$name" --calendar "$cal" --crests auto > /dev/null; } 2>&1 | tail -1)"
    read -r wall user sys <<< "$t"
    python3 -c "import json,sys; w,u,s,b=map(float,sys.argv[2:6]); print(json.dumps({'dataset':sys.argv[1],'wall_s':round(w,1),'cpu_s':round(u+s,1),'budget_s':b,'share_of_budget':round(w/b,2)}))" "$name" "$wall" "$user" "$sys" "$budget_s"
    if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$wall" "$budget_s"; then
        over=1
    fi
done
exit "$over"
