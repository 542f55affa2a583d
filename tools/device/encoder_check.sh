#!/usr/bin/env bash
# tools/device/encoder_check.sh — the Qwen vision towers on a lent GPU, in one
# run: builds bench/cuda_encoder_check with the standalone project beside this
# script (sharing check.sh's build folder, so running both costs one build) and
# runs it: CUDA bf16/f32 vs CPU float32 on tiny and real-dims Qwen2-VL and
# Qwen2.5-VL checkpoints (PASS/FAIL per case), then the real-dims towers at
# 1024x1024, batch 1/4/8 (images/s, TFLOP/s, fraction of the bf16 GEMM rate).
# The tool itself finishes in under 4 minutes on an H100; the build takes
# about a minute on 16 cores. Deps as check.sh (stage_deps.sh; carry
# tools/device/deps). Logs go to $OUT (when set) or the build folder; the
# summary table is printed last.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${ERIC_DEVICE_BUILD:-/tmp/eric-device-build}
logs=${OUT:-$build}
prefix=/tmp/eric-device-deps
mkdir -p "$build" "$logs"
t0=$(date +%s)
say() { printf '[encoder-check %4ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }

export PATH=/usr/local/cuda/bin:$PATH
command -v nvcc >/dev/null || { echo "encoder_check.sh: nvcc not found (PATH, /usr/local/cuda/bin)"; exit 2; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader

cmake_args=()
if ls "$root"/tools/device/deps/*.deb >/dev/null 2>&1; then
  if [[ ! -d $prefix/usr ]]; then
    say "unpacking staged packages into $prefix"
    mkdir -p "$prefix"
    for f in "$root"/tools/device/deps/*.deb; do dpkg -x "$f" "$prefix" || exit 2; done
  fi
  cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix/usr")
  export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$prefix/usr/lib/x86_64-linux-gnu/openblas-pthread:${LD_LIBRARY_PATH:-}"
fi

arch=${CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')}
arch=${arch:-90}
gen=(-G Ninja)
command -v ninja >/dev/null || gen=()
# A build folder configured with another generator cannot be reused.
if [[ -f $build/CMakeCache.txt ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${gen[1]:-Unix Makefiles}" "$build/CMakeCache.txt"; then
  rm -rf "$build" && mkdir -p "$build"
fi

say "configure (sm_$arch)"
cmake -S "$root/tools/device" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" "${cmake_args[@]}" \
  >"$logs/encoder_configure.log" 2>&1 || { tail -30 "$logs/encoder_configure.log"; exit 2; }
say "build"
cmake --build "$build" -j "$(nproc)" --target cuda_encoder_check qwen_vision_cuda_test >"$logs/encoder_build.log" 2>&1 ||
  { grep -E "error|FAILED" -A3 "$logs/encoder_build.log" | head -60; exit 2; }

say "run qwen_vision_cuda_test (tiny towers, CUDA vs CPU)"
timeout 120 "$build/qwen_vision_cuda_test" --gtest_color=no >"$logs/qwen_vision_cuda_test.log" 2>&1
test_rc=$?
grep -E "rel err|^\[  (PASSED|FAILED|SKIPPED) \]|Failure" -A3 "$logs/qwen_vision_cuda_test.log" | head -30

say "run cuda_encoder_check"
timeout 300 "$build/cuda_encoder_check" --work-dir /tmp/eric-encoder-check "$@" 2>&1 | tee "$logs/encoder_check.log"
rc=${PIPESTATUS[0]}
rm -rf /tmp/eric-encoder-check
say "done (qwen_vision_cuda_test rc=$test_rc, cuda_encoder_check rc=$rc)"
[[ $test_rc -eq 0 ]] || exit "$test_rc"
exit "$rc"
