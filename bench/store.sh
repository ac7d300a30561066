#!/usr/bin/env bash
# The session store against DESIGN.md's targets: event append (under 0.2 ms) and resume of a
# 10,000-message session (under 50 ms), the same at 100,000 messages, and FTS5 memory recall
# over 100,000 entries.
#
# Usage: bench/store.sh [sizes...]
#   sizes: session sizes in messages for store_bench (default: 10000 100000).
# Builds the two examples of crates/store in release mode; the databases go to a temporary
# directory that is removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

printf 'machine: %s cores, %s\n\n' "$(nproc)" "$(uname -sr)"
cargo build --release -q -p code-mesh-store --example store_bench --example memory_bench
echo '== sessions: append and resume'
target/release/examples/store_bench "$@"
echo
echo '== memory: remember and recall over 100,000 entries'
target/release/examples/memory_bench 100000
