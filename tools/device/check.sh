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
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${ERIC_DEVICE_BUILD:-/tmp/eric-device-build}
logs=${OUT:-$build}
prefix=/tmp/eric-device-deps
mkdir -p "$build" "$logs"
t0=$(date +%s)
say() { printf '[check %4ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }

export PATH=/usr/local/cuda/bin:$PATH
command -v nvcc >/dev/null || { echo "check.sh: nvcc not found (PATH, /usr/local/cuda/bin)"; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader

cmake_args=()
if ls "$root"/tools/device/deps/*.deb >/dev/null 2>&1; then
  say "unpacking staged packages into $prefix"
  mkdir -p "$prefix"
  for f in "$root"/tools/device/deps/*.deb; do dpkg -x "$f" "$prefix" || exit 2; done
  cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix/usr")
  export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$prefix/usr/lib/x86_64-linux-gnu/openblas-pthread:${LD_LIBRARY_PATH:-}"
fi

# Only this card's architecture: every extra one multiplies nvcc time.
arch=${CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')}
arch=${arch:-90}
gen=(-G Ninja)
command -v ninja >/dev/null || gen=()

say "configure (sm_$arch)"
cmake -S "$root/tools/device" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" "${cmake_args[@]}" \
  >"$logs/configure.log" 2>&1 || { tail -30 "$logs/configure.log"; exit 2; }
say "build"
cmake --build "$build" -j "$(nproc)" --target cuda_block_cache_test cuda_ops_test cuda_nccl_test cuda_gemm_attention_bench \
  >"$logs/build.log" 2>&1 || { grep -E "error|FAILED" -A3 "$logs/build.log" | head -60; exit 2; }

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
