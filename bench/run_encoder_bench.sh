#!/bin/bash
# Vision-encoder benchmark: eric vs the PyTorch reference, on randomly
# initialised checkpoints with the real 7B vision-tower shapes.
#
#   bench/run_encoder_bench.sh [ARCH...]        (default: qwen2_vl qwen2_5_vl)
#
# Env: THREADS (default: all cores), ITERS (default 3), SIZES (default "448 1024"),
#      BUILD (default build/release), WORK (checkpoint folder, default $BUILD/bench_models).
# One checkpoint at a time (each ~1.3 GB bf16 on disk, ~2.7 GB f32 in memory),
# deleted after its run. Both sides use the same checkpoint, input size,
# thread count, float32 compute; each loads weights first, runs one warm-up
# forward, and times only forward passes (median of ITERS).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build/release}"
work="${WORK:-$build/bench_models}"
threads="${THREADS:-$(nproc)}"
iters="${ITERS:-3}"
sizes="${SIZES:-448 1024}"
archs=("$@")

# Debian's torch uses the same OpenBLAS (libblas.so.3 -> openblas-openmp), which
# falls back to its slow Prescott kernels on CPUs newer than it knows. eric
# re-selects the core at start (src/backend/cpu/gemm.cc); give the reference
# the same core through OpenBLAS' own variable, or the comparison is unfair.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  flags="$(grep -m1 '^flags' /proc/cpuinfo)"
  if [[ "$flags" == *avx512f* && "$flags" == *avx512bw* && "$flags" == *avx512vl* && "$flags" == *avx512dq* ]]; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [[ "$flags" == *avx2* && "$flags" == *fma* ]]; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} (eric and the reference)"
[ ${#archs[@]} -eq 0 ] && archs=(qwen2_vl qwen2_5_vl)

for arch in "${archs[@]}"; do
  ckpt="$work/$arch-real"
  rm -rf "$ckpt"
  echo "== $arch: writing real-dims checkpoint to $ckpt"
  "$build/eric" make-test-model --arch "$arch" --out "$ckpt" --dims real --dtype bfloat16 --seed 0 >/dev/null
  size_args=()
  for s in $sizes; do size_args+=(--size "$s"); done
  eric_out="$("$build/bench/encoder_bench" --model "$ckpt" --threads "$threads" --iters "$iters" "${size_args[@]}")"
  echo "$eric_out"
  for s in $sizes; do
    # smart_resize: both sides rounded (half to even) to a multiple of 28, as eric's bench does.
    resized="$(/usr/bin/python3 -c "print(round($s / 28) * 28)")"
    ref_out="$(/usr/bin/python3 "$root/tools/reference/bench_encoder.py" --model "$ckpt" --image-size "$resized" \
      --threads "$threads" --iters "$iters" | tail -1)"
    echo "$ref_out"
    eric_ms="$(echo "$eric_out" | grep -o "eric_ms_per_image=[0-9.]* size=$s " | sed 's/eric_ms_per_image=\([0-9.]*\).*/\1/')"
    ref_ms="$(echo "$ref_out" | sed 's/.*reference_ms_per_image=\([0-9.]*\).*/\1/')"
    line="$(echo "$eric_out" | grep "size=$s ")"
    printf 'RESULT arch=%s size=%dx%d threads=%s eric_ms=%s reference_ms=%s speedup=%.2fx %s\n' "$arch" "$s" "$s" \
      "$threads" "$eric_ms" "$ref_ms" "$(echo "$ref_ms / $eric_ms" | bc -l)" \
      "$(echo "$line" | grep -o 'gflops=[0-9.]* sgemm_gflops=[0-9.]* fraction_of_sgemm=[0-9.]*')"
  done
  rm -rf "$ckpt"
done
