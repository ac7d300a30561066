#!/usr/bin/env bash
# grep and glob tools against ripgrep on the same tree: median wall time of each, and the
# ratio tool / rg (target: at most 1.2).
#
# Usage: bench/search_vs_rg.sh [tree] [runs]
#   tree  defaults to the cargo registry sources (~/.cargo/registry/src/*), a large tree of
#         Rust crates; runs defaults to 7.
# Needs `rg` (Debian: apt-get install -y ripgrep). Builds the example in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

tree="${1:-$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ | head -n 1)}"
runs="${2:-7}"
command -v rg >/dev/null || { echo "rg is not installed; apt-get install -y ripgrep" >&2; exit 1; }

printf 'tree: %s (%s files, %s)\n' "$tree" "$(rg --no-require-git --files "$tree" | wc -l)" "$(du -sh "$tree" | cut -f1)"
printf 'machine: %s cores, rg %s\n\n' "$(nproc)" "$(rg --version 2>/dev/null | head -n 1 | cut -d' ' -f2)"

cargo build --release -q -p code-mesh-tools --example search_bench
tool_results="$(target/release/examples/search_bench "$tree" "$runs")"

# Median wall time of a command, in milliseconds, after one warm-up run.
median_ms() {
  "$@" >/dev/null
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int(NR / 2) + 1] / 1000 }'
}

rg_ms() {
  case "$1" in
    grep-literal) median_ms rg --no-require-git -n --no-heading EAGAIN "$tree" ;;
    grep-regex) median_ms rg --no-require-git -n --no-heading 'impl\s+Drop\s+for' "$tree" ;;
    glob-rs) median_ms rg --no-require-git --files -g '*.rs' "$tree" ;;
    glob-cargo-toml) median_ms rg --no-require-git --files -g 'Cargo.toml' "$tree" ;;
  esac
}

printf '%-16s %10s %10s %7s\n' case "tool ms" "rg ms" ratio
while read -r _ case tool_ms _lines; do
  rg_time="$(rg_ms "$case")"
  ratio="$(awk -v t="$tool_ms" -v r="$rg_time" 'BEGIN { printf "%.2f", t / r }')"
  printf '%-16s %10s %10s %7s\n' "$case" "$tool_ms" "$rg_time" "$ratio"
done <<< "$tool_results"
