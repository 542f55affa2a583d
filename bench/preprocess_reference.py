#!/usr/bin/python3
"""Reference side of bench/run_preprocess_bench.sh: the Pillow + numpy pipeline
(PIL decode + convert("RGB"), then tools/reference/qwen2_vl_image_processor.py's
restatement of transformers' Qwen2VLImageProcessor) on one JPEG, single thread.

Prints: reference_ms total=... decode=... process=... pixel_values=[N, D]
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import qwen2_vl_image_processor as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--model-config", default="")
    ap.add_argument("--iters", type=int, default=10)
    args = ap.parse_args()
    cfg = ref.Config(json.load(open(args.model_config)) if args.model_config else {})
    total, decode, process = [], [], []
    shape = None
    for i in range(args.iters + 1):
        t0 = time.perf_counter()
        with Image.open(args.image) as f:
            image = f.convert("RGB")
        t1 = time.perf_counter()
        pixel_values, _ = ref.preprocess_pil(image, cfg)
        t2 = time.perf_counter()
        shape = list(pixel_values.shape)
        if i == 0:
            continue
        total.append((t2 - t0) * 1e3)
        decode.append((t1 - t0) * 1e3)
        process.append((t2 - t1) * 1e3)
    print(f"reference_ms total={np.median(total):.2f} decode={np.median(decode):.2f} "
          f"process={np.median(process):.2f} pixel_values={shape}")


if __name__ == "__main__":
    main()
