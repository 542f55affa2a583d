#!/usr/bin/python3
"""Reference video preprocessing pipeline, timed: Cornserve's Eric loader
(cv2.VideoCapture, CAP_PROP_FRAME_COUNT, np.linspace over at most
max_num_frames frames, grab() every frame, retrieve() + BGR2RGB the selected
ones) followed by the numpy/Pillow Qwen2-VL video processor of
tools/reference/make_video_goldens.py (PIL bicubic resize, float64 rescale,
float32 normalise, last-frame padding, patchify).

Prints: reference_ms total=... decode=... process=... frames=... pixel_values_videos=[N, D]
"""
import argparse
import json
import os
import sys
import time

import cv2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import make_video_goldens as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", required=True)
    ap.add_argument("--preprocessor-config", default="")
    ap.add_argument("--video-config", default="")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="cv2.setNumThreads / FFmpeg decoder threads")
    ap.add_argument("--max-num-frames", type=int, default=32)
    a = ap.parse_args()
    cv2.setNumThreads(a.threads)
    path = a.video_config or a.preprocessor_config
    cfg = ref.video_processor_config(json.load(open(path)) if path else {})
    totals, decodes, processes = [], [], []
    for i in range(a.iters + 1):
        t0 = time.perf_counter()
        _, _, _, frames = ref.cornserve_load(a.video, a.max_num_frames)
        t1 = time.perf_counter()
        pv, grid = ref.process_video(frames, cfg, "pillow")
        t2 = time.perf_counter()
        if i == 0:
            continue
        totals.append(t2 - t0)
        decodes.append(t1 - t0)
        processes.append(t2 - t1)
    med = lambda v: sorted(v)[len(v) // 2] * 1000  # noqa: E731
    print(f"reference_ms total={med(totals):.1f} decode={med(decodes):.1f} process={med(processes):.1f} "
          f"frames={len(frames)} pixel_values_videos=[{pv.shape[0]}, {pv.shape[1]}]")


if __name__ == "__main__":
    main()
