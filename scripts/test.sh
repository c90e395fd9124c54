#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what the tests need (Debian
# packages for the real services they start on 127.0.0.1 or in network
# namespaces they create), then run every test of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Unit, integration and doc tests of every crate. Benchmarks are not run here:
# they live in `cargo bench -p <crate>` and scripts/bench-*.sh.
cargo test --workspace "$@"
