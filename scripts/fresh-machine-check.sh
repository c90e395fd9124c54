#!/usr/bin/env bash
# The README's first command on a "fresh machine": the Rust toolchain and a C
# compiler/linker, nothing else. CI runs this before scripts/install-deps.sh.
#
# 1. `cargo run -- rehearse --crests new-year-s-day-2015 --plot DIR` (the README's first command) with a PATH that holds only the
#    toolchain's binaries and the C toolchain (symlinks in a temp dir), and
#    PROTOC pointing at nothing: no build script may need protoc or any other
#    system tool.
# 2. The built binary runs the rehearsal again as an unprivileged user in a
#    network namespace of its own (no network, so no services), when this
#    script runs as root; otherwise as the current (non-root) user.
#
# Uses the normal target directory, so the test build that follows is
# incremental. Prints the rehearsal and what it checked.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

fail() { echo "fresh-machine: FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin="$tmp/bin"
mkdir -p "$bin"

# The toolchain itself, not rustup's proxies (which need rustup on PATH).
sysroot=$(rustc --print sysroot)
for tool in "$sysroot"/bin/*; do
  ln -s "$tool" "$bin/"
done
# The C toolchain Rust links with, and that build scripts of -sys crates
# (bundled SQLite, zstd) compile with.
for tool in cc c++ gcc g++ ld as ar ranlib; do
  if p=$(command -v "$tool"); then ln -s "$p" "$bin/$tool"; fi
done

fresh_env=(env -i "HOME=$HOME" "PATH=$bin" "PROTOC=$tmp/no-protoc-here"
           "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}" "RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}"
           "CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}" "TMPDIR=$tmp")

if PATH="$bin" command -v protoc >/dev/null 2>&1; then
  fail "protoc is reachable on the fresh PATH"
fi
echo "fresh-machine: PATH holds only: $(ls "$bin" | tr '\n' ' ')"
echo "fresh-machine: protoc: absent (PROTOC=$tmp/no-protoc-here)"

# The README's first command: one crest of the bundled NYC taxi backtest.
crest_name=new-year-s-day-2015
plots="$tmp/img"
mkdir -p "$plots"
# cargo itself is run by absolute path: `env -i` has no PATH lookup of its own
# beyond the one given, which is the point.
"${fresh_env[@]}" "$bin/cargo" run --quiet --locked -- rehearse --crests "$crest_name" --plot "$plots" \
  | tee "$tmp/rehearse.out" \
  || fail "cargo run -- rehearse failed on the fresh PATH"
grep -q "^$crest_name " "$tmp/rehearse.out" || fail "no $crest_name row in the rehearsal"
for png in frontier.png "$crest_name.png"; do
  [ -s "$plots/$png" ] || fail "$png not written"
done

# The same binary, unprivileged and without a network.
crest="${CARGO_TARGET_DIR:-$PWD/target}/debug/crest"
if [ "$(id -u)" -eq 0 ]; then
  chmod 1777 "$tmp"
  mkdir -p "$tmp/img-nobody" && chmod 777 "$tmp/img-nobody"
  unshare --net setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$crest" rehearse --crests "$crest_name" --plot "$tmp/img-nobody" >"$tmp/nobody.out" \
    || fail "rehearse as uid 65534 in an empty network namespace failed"
  who="uid 65534 (nobody), empty network namespace"
  out="$tmp/nobody.out"
else
  "$crest" rehearse --crests "$crest_name" --plot "$tmp/img-user" >"$tmp/user.out" \
    || fail "rehearse as uid $(id -u) failed"
  who="uid $(id -u) (not root)"
  out="$tmp/user.out"
fi
# Only the line naming the plot directory may differ.
cmp -s <(grep -v '^plots written to' "$tmp/rehearse.out") <(grep -v '^plots written to' "$out") \
  || fail "rehearsal as $who differs from the first run"
echo "fresh-machine: ok in $(( $(date +%s) - start )) s: built and ran without protoc; same rehearsal as $who"
