#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, `fuzz` preset) and runs each for
# SECONDS seconds (default 10) on its seed corpus. Exits non-zero on a finding.
#   scripts/run-fuzzers.sh [SECONDS] [FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
filter="${2:-}"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzzers
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for fuzzer in build/fuzz/fuzzers/*; do
  name="$(basename "$fuzzer")"
  [[ -n "$filter" && "$name" != *"$filter"* ]] && continue
  corpus_name="${name#fuzz_}"
  mkdir -p "$work/$name"
  seeds=()
  [[ -d "fuzz/corpus/$corpus_name" ]] && seeds+=("fuzz/corpus/$corpus_name")
  echo "fuzz: $name for ${seconds}s"
  if ! "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="$work/$name/" "$work/$name" "${seeds[@]}" > "$work/$name.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -40 "$work/$name.log"
    mkdir -p build/fuzz/findings && cp -r "$work/$name" build/fuzz/findings/ || true
    status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$name.log" || true
  fi
done
exit $status
