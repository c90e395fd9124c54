#!/usr/bin/env bash
# Fuzz the loaders of user and network bytes (issue 16) on stable Rust: the
# proptest harness in tests/fuzz_loaders.rs (webhook payloads, CSV, TOML
# scenario/server config/calendar, plan documents), CASES inputs per target,
# four targets (THREADS at a time). Any panic fails with the input that
# caused it. Prints each target's cases and time, then one JSON line:
#   {"cases_per_target":..,"targets":4,"total_cases":..,"panics":0,"seconds":..}
# Environment: CASES (250000: 1,000,000 in all), THREADS (2 targets at once), PROFILE (dev; `release`
# optimises the parsers: much faster per case, a long first build).
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${CASES:-250000}"
PROFILE="${PROFILE:-dev}"
log() { echo "fuzz: $*" >&2; }
flags=()
[ "$PROFILE" = release ] && flags+=(--release)
log "building (profile $PROFILE)"
# Run the test binary itself: cargo would hold the build directory's lock for
# the whole (long) run.
exe=$(cargo test --locked "${flags[@]}" --test fuzz_loaders --no-run --message-format=json \
    | grep -o '"executable":"[^"]*fuzz_loaders[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$exe" ] || { log "no fuzz_loaders test binary"; exit 1; }
log "running $exe with CREST_FUZZ_CASES=$CASES"
start=$(date +%s)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
CREST_FUZZ_CASES="$CASES" "$exe" --test-threads "${THREADS:-2}" --nocapture 2>&1 | tee "$out" >&2 || status=$?
secs=$(( $(date +%s) - start ))
targets=$(grep -c '^fuzz .*, 0 panics' "$out" || true)
panics=$(( 4 - targets ))
echo "{\"cases_per_target\":$CASES,\"targets\":4,\"total_cases\":$(( CASES * targets )),\"panics\":$panics,\"seconds\":$secs}"
exit "$status"
