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
# shellcheck source=tools/device/lib.sh
source "$(dirname "$0")/lib.sh"
device_init encoder-check
device_build encoder_ cuda_encoder_check qwen_vision_cuda_test cuda_host_transfer_bench || exit 2

# The host side of encode()'s transfers on this machine's cores (a second).
say "run cuda_host_transfer_bench"
timeout 60 "$build/cuda_host_transfer_bench" 2>&1 | tee "$logs/host_transfer_bench.log"

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
