#!/bin/bash
# Image preprocessing benchmark, one run: eric vs the Pillow + numpy reference
# turning the same 1920x1080 JPEG into Qwen2-VL pixel_values, single thread.
#
#   bench/run_preprocess_bench.sh [IMAGE.jpg]
#
# Without an image, writes a synthetic 1920x1080 JPEG (quality 90) first.
# Env: BUILD (default build/release), ITERS (default 10).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build/release}"
iters="${ITERS:-10}"
image="${1:-}"
if [ -z "$image" ]; then
  image="$build/bench_1920x1080.jpg"
  /usr/bin/python3 - "$image" <<'PY'
import sys
import numpy as np
from PIL import Image
h, w = 1080, 1920
y, x = np.mgrid[0:h, 0:w].astype(np.float64)
rng = np.random.default_rng(0)
img = np.stack([127 + 100 * np.sin(x / (37 + 11 * c)) * np.cos(y / (53 - 7 * c)) for c in range(3)], axis=-1)
img += rng.normal(0, 12, img.shape)
Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB").save(sys.argv[1], quality=90)
PY
fi
# Qwen2-VL-7B-Instruct's preprocessor_config.json (min/max pixels 3136 / 12845056).
config="$root/tests/data/models/qwen2_vl_processor/preprocessor_config_pixels.json"

eric_out="$(OMP_NUM_THREADS=1 "$build/bench/preprocess_bench" --image "$image" --model-config "$config" --iters "$iters")"
ref_out="$(/usr/bin/python3 "$root/bench/preprocess_reference.py" --image "$image" --model-config "$config" --iters "$iters")"
echo "$eric_out"
echo "$ref_out"
eric_ms="$(echo "$eric_out" | grep 'backend=pillow' | sed 's/.*total=\([0-9.]*\).*/\1/')"
eric_tv_ms="$(echo "$eric_out" | grep 'backend=torchvision' | sed 's/.*total=\([0-9.]*\).*/\1/')"
ref_ms="$(echo "$ref_out" | sed 's/.*total=\([0-9.]*\).*/\1/')"
printf 'RESULT image=%s threads=1 eric_pillow_ms=%s eric_torchvision_ms=%s reference_ms=%s speedup=%.2fx\n' \
  "$(basename "$image")" "$eric_ms" "$eric_tv_ms" "$ref_ms" "$(echo "$ref_ms / $eric_ms" | bc -l)"
