#!/bin/bash
# Video preprocessing benchmark, one run: eric vs the reference pipeline
# (Cornserve's cv2.VideoCapture loader + the numpy/Pillow Qwen2-VL video
# processor) turning the same 30 s 1280x720 H.264 clip into
# pixel_values_videos (at most 32 frames by linspace, Cornserve's default).
#
#   bench/run_video_preprocess_bench.sh [VIDEO]
#
# Without a video, writes a synthetic 30 s 720p 30 fps H.264 MP4 (libx264
# through OpenCV's VideoWriter) into the build folder first.
# Env: BUILD (default build/release), ITERS (default 3), THREADS (default 1;
# 0 = all cores for both pipelines' decoders and eric's pool).
# The processor uses the Qwen2-VL video defaults (no config files): video
# pixels within [128*28*28, 28*28*768].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD:-$root/build/release}"
iters="${ITERS:-3}"
threads="${THREADS:-1}"
video="${1:-}"
if [ -z "$video" ]; then
  video="$build/bench_720p_30s_h264.mp4"
  if [ ! -s "$video" ]; then
    /usr/bin/python3 - "$video" <<'PY' 2>/dev/null
import sys
import cv2
import numpy as np
w, h, fps, n = 1280, 720, 30, 900
vw = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"avc1"), fps, (w, h))
assert vw.isOpened()
y, x = np.mgrid[0:h, 0:w].astype(np.float32)
rng = np.random.default_rng(0)
noise = rng.normal(0, 6, (h, w, 3)).astype(np.float32)
for i in range(n):
    img = np.stack([127 + 100 * np.sin((x + 4 * i) / (37 + 11 * c)) * np.cos((y - 2 * i) / (53 - 7 * c))
                    for c in range(3)], axis=-1) + noise
    s = 160
    x0, y0 = (i * 7) % (w - s), (i * 3) % (h - s)
    img[y0:y0 + s, x0:x0 + s] = (40, 200, 230)
    vw.write(np.clip(img, 0, 255).astype(np.uint8))
vw.release()
PY
  fi
fi

eric_out="$(OMP_NUM_THREADS=1 "$build/bench/video_preprocess_bench" --video "$video" --iters "$iters" --threads "$threads")"
ref_out="$(/usr/bin/python3 "$root/bench/video_preprocess_reference.py" --video "$video" --iters "$iters" --threads "$threads")"
echo "$eric_out"
echo "$ref_out"
field() { echo "$1" | grep "$2" | sed "s/.* $3=\([0-9.]*\).*/\1/"; }
eric_pil="$(field "$eric_out" 'backend=pillow' total)"
eric_tv="$(field "$eric_out" 'backend=torchvision' total)"
ref_ms="$(field "$ref_out" reference_ms total)"
printf 'RESULT video=%s threads=%s eric_pillow_ms=%s eric_torchvision_ms=%s reference_ms=%s speedup_pillow=%.2fx speedup_torchvision=%.2fx\n' \
  "$(basename "$video")" "$threads" "$eric_pil" "$eric_tv" "$ref_ms" \
  "$(echo "$ref_ms / $eric_pil" | bc -l)" "$(echo "$ref_ms / $eric_tv" | bc -l)"
