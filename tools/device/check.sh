#!/usr/bin/env bash
# tools/device/check.sh — the CUDA backend's GPU check, in one run (< 8 min):
# builds the CUDA tests and benchmark with the standalone project beside this
# script (only the libraries they need), runs the tests (each kernel against
# the CPU ops / a float64 reference), then the benchmark, and prints a short
# table last. Run from anywhere on a machine with a GPU and nvcc:
#     tools/device/check.sh
# Dependencies: fmt, spdlog, nlohmann_json, GTest, OpenBLAS. Where they are
# not installed (the lent GPU machines), run tools/device/stage_deps.sh on a
# machine with apt first and bring tools/device/deps along (the device tool's
# carry: ["tools/device/deps"]); they are unpacked under /tmp, not into /.
# Logs go to $OUT (when set) or the build folder.
set -uo pipefail
# shellcheck source=tools/device/lib.sh
source "$(dirname "$0")/lib.sh"
device_init check
device_build "" cuda_block_cache_test cuda_ops_test cuda_nccl_test cuda_gemm_attention_bench || exit 2

declare -A result
run_test() {
  local name=$1
  say "run $name"
  timeout 240 "$build/$name" --gtest_color=no >"$logs/$name.log" 2>&1
  local rc=$?
  grep -E "^\[  FAILED  \]|Failure" -A4 "$logs/$name.log" | head -60
  grep -m1 "test skipped:" "$logs/$name.log"  # why, if the GPU tests skipped
  local passed skipped failed
  passed=$(grep -oP '^\[  PASSED  \] \K[0-9]+' "$logs/$name.log" || echo 0)
  skipped=$(grep -oP '^\[  SKIPPED \] \K[0-9]+(?= test)' "$logs/$name.log" || echo 0)
  failed=$(grep -oP '^ *\K[0-9]+(?= FAILED TEST)' "$logs/$name.log" || echo 0)
  result[$name]="rc=$rc passed=${passed:-0} skipped=${skipped:-0} failed=${failed:-0}"
}
run_test cuda_block_cache_test
run_test cuda_ops_test
run_test cuda_nccl_test

say "benchmark"
timeout 240 "$build/cuda_gemm_attention_bench" >"$logs/bench.log" 2>&1
bench_rc=$?

echo
echo "== eric CUDA check ($(( $(date +%s) - t0 )) s) =="
for name in cuda_block_cache_test cuda_ops_test cuda_nccl_test; do printf '%-24s %s\n' "$name" "${result[$name]}"; done
printf '%-24s rc=%d\n' cuda_gemm_attention_bench "$bench_rc"
cat "$logs/bench.log"
[[ ${result[cuda_block_cache_test]} == rc=0* && ${result[cuda_ops_test]} == rc=0* && ${result[cuda_nccl_test]} == rc=0* && $bench_rc -eq 0 ]]
