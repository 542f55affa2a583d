#!/usr/bin/python3
"""Reference for eric's video path: clips, decoded frames, frame indices, and
the Qwen2-VL video processor's outputs.

Decoding follows Cornserve's Eric (python/cornserve/task_executors/eric/
router/processor.py, VideoLoader.load_bytes): cv2.VideoCapture, the frame
count from CAP_PROP_FRAME_COUNT, np.linspace(0, total - 1, max_num_frames,
dtype=int) when the video has more frames than max_num_frames, then grab()
every frame and retrieve() + cvtColor(BGR2RGB) the selected ones. (Debian's
OpenCV 4.6 has no stream-buffered backend, so the bytes are read from the
committed file instead of a BytesIO.)

fps-based selection restates transformers' Qwen2VLVideoProcessor.sample_frames
(models/qwen2_vl/video_processing_qwen2_vl.py) with torch.arange.

The video processor restates Qwen2VLVideoProcessor._preprocess (torchvision:
antialiased bicubic resize, fused rescale+normalize) and, for the Pillow
backend, the original Qwen2VLImageProcessor's video path (PIL resize, float64
rescale, float32 normalize), both with the last frame repeated up to a
multiple of temporal_patch_size and the same patch permutation as images;
the helpers come from qwen2_vl_image_processor.py.

Run: /usr/bin/python3 tools/reference/make_video_goldens.py
Writes clips and goldens to tests/data/media/video/ and
tests/data/models/qwen2_vl_video_processor/.
"""
import json
import math
import os
import sys

import cv2
import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import qwen2_vl_image_processor as ip  # noqa: E402
import safetensors_io  # noqa: E402

ROOT = os.path.join(HERE, "..", "..")
CLIPS = os.path.join(ROOT, "tests", "data", "media", "video")
PROC = os.path.join(ROOT, "tests", "data", "models", "qwen2_vl_video_processor")

# name, file, fourcc (None: animated GIF through Pillow), frames, width, height, fps
CLIP_SPECS = [
    ("h264_mp4", "h264.mp4", "avc1", 40, 48, 32, 10),
    ("hevc_mp4", "hevc.mp4", "hvc1", 20, 64, 48, 25),
    ("vp8_webm", "vp8.webm", "VP80", 36, 48, 32, 12),
    ("vp9_webm", "vp9.webm", "VP90", 12, 48, 32, 30),
    ("h264_mov", "h264.mov", "avc1", 10, 48, 32, 10),
    ("h264_mkv", "h264.mkv", "avc1", 33, 64, 48, 24),
    ("vp9_mkv", "vp9.mkv", "VP90", 9, 48, 32, 8),
    ("gif", "anim.gif", None, 9, 40, 30, 10),
]


def synth_frame(i, w, h):
    """A frame with smooth colour gradients, a moving square and fine detail."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(x * 0.21 + i * 0.4) * np.cos(y * 0.13)
    g = 128 + 90 * np.cos(x * 0.07 - y * 0.19 + i * 0.3)
    b = 64 + 3 * x + 2 * y + 6 * i
    img = np.stack([r, g, b], -1)
    s = max(4, h // 4)
    x0, y0 = (i * 3) % (w - s), (i * 2) % (h - s)
    img[y0:y0 + s, x0:x0 + s] = [230, 40, 60]
    img[::7, :, 1] = 20
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_clip(path, fourcc, n, w, h, fps):
    frames = [synth_frame(i, w, h) for i in range(n)]
    if fourcc is None:
        pil = [Image.fromarray(f) for f in frames]
        pil[0].save(path, save_all=True, append_images=pil[1:], duration=int(1000 / fps), loop=0)
        return
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert vw.isOpened(), path
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()


def cornserve_load(path, max_num_frames):
    """Cornserve's VideoLoader.load_bytes on a file."""
    cap = cv2.VideoCapture(path)
    assert cap.isOpened(), path
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = cap.get(cv2.CAP_PROP_FPS)
    if max_num_frames is not None and total > max_num_frames:
        indices = np.linspace(0, total - 1, max_num_frames, dtype=int)
    else:
        indices = np.arange(total, dtype=int)
    frames = []
    for i in range(total):
        if not cap.grab():
            break
        if i in indices:
            ok, frame = cap.retrieve()
            assert ok
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    assert len(frames) == len(indices), (path, len(frames), len(indices))
    return total, fps, indices, np.stack(frames)


def sample_frames_fps(total, source_fps, fps, min_frames, max_frames, frame_factor):
    """Qwen2VLVideoProcessor.sample_frames with fps and metadata (no num_frames)."""
    max_frames = math.floor(min(max_frames, total) / frame_factor) * frame_factor
    num_frames = total / source_fps * fps
    num_frames = min(max(num_frames, min_frames), max_frames, total)
    num_frames = math.floor(num_frames / frame_factor) * frame_factor
    if num_frames > total:
        raise ValueError("too many frames")
    return torch.arange(0, total, total / num_frames).int().tolist()


def linspace_indices(total, max_num_frames):
    if max_num_frames is not None and total > max_num_frames:
        return np.linspace(0, total - 1, max_num_frames, dtype=int).tolist()
    return list(range(total))


# ---- video processor ----

def video_processor_config(pp):
    """Pixel limits as Qwen2VLVideoProcessor.__init__ + BaseVideoProcessor resolve them."""
    size = dict(pp.get("size") or {"shortest_edge": 128 * 28 * 28, "longest_edge": 28 * 28 * 768})
    if pp.get("min_pixels") is not None:
        size["shortest_edge"] = pp["min_pixels"]
    if pp.get("max_pixels") is not None:
        size["longest_edge"] = pp["max_pixels"]
    cfg = ip.Config(dict(pp, size=size))
    return cfg


def process_video(frames_thwc, cfg, backend):
    t, height, width = frames_thwc.shape[:3]
    rh, rw = ip.smart_resize(height, width, factor=cfg.patch_size * cfg.merge_size,
                             min_pixels=cfg.size["shortest_edge"], max_pixels=cfg.size["longest_edge"])
    out = []
    for f in frames_thwc:
        if backend == "pillow":
            img = np.array(Image.fromarray(f).resize((rw, rh), resample=cfg.resample))
            img = ip.normalize(ip.rescale(img, cfg.rescale_factor), cfg.image_mean, cfg.image_std)
            out.append(img.transpose(2, 0, 1))
        else:
            img = f if (rh, rw) == (height, width) else ip.resize_torchvision_f64(f, rh, rw)
            img = img.transpose(2, 0, 1).astype(np.float32)
            mean = (np.array(cfg.image_mean, np.float32) * np.float32(1.0 / cfg.rescale_factor)).astype(np.float32)
            std = (np.array(cfg.image_std, np.float32) * np.float32(1.0 / cfg.rescale_factor)).astype(np.float32)
            out.append((img - mean[:, None, None]) / std[:, None, None])
    return ip.patchify(out, rh, rw, cfg)


PROCESSOR_CONFIGS = {
    # Only preprocessor_config.json (Qwen2-VL-7B-Instruct's keys, smaller limits).
    "image_only": ({"min_pixels": 3136, "max_pixels": 12544, "patch_size": 14, "temporal_patch_size": 2,
                    "merge_size": 2, "image_mean": ip.OPENAI_CLIP_MEAN, "image_std": ip.OPENAI_CLIP_STD,
                    "rescale_factor": 0.00392156862745098, "resample": 3}, None),
    # A video_preprocessor_config.json (size form) next to a preprocessor_config.json it overrides.
    "video_config": ({"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14},
                     {"size": {"shortest_edge": 1568, "longest_edge": 4704}, "patch_size": 14,
                      "temporal_patch_size": 2, "merge_size": 2, "image_mean": ip.OPENAI_CLIP_MEAN,
                      "image_std": ip.OPENAI_CLIP_STD, "rescale_factor": 0.00392156862745098, "resample": 3,
                      "video_processor_type": "Qwen2VLVideoProcessor"}),
}

# name, clip, max_num_frames for selection, processor config, backends
PROCESSOR_CASES = [
    ("h264_mp4_5f", "h264_mp4", 5, "image_only", ["pillow", "torchvision"]),
    ("vp9_webm_4f", "vp9_webm", 4, "video_config", ["torchvision"]),
]

FPS_CASES = [  # total, source_fps, fps, min_frames, max_frames, frame_factor
    (40, 10.0, 2.0, 4, 768, 2), (900, 30.0, 2.0, 4, 768, 2), (7, 10.0, 2.0, 4, 768, 2),
    (100, 29.97, 1.0, 4, 768, 2), (1000, 25.0, 10.0, 4, 64, 2), (13, 3.0, 2.0, 4, 768, 2),
    (3, 30.0, 2.0, 4, 768, 2), (301, 23.976, 2.0, 4, 768, 2), (12345, 60.0, 0.5, 4, 768, 2),
    (77, 12.5, 3.3, 4, 768, 3), (10, 10.0, 2.0, 16, 768, 2), (999, 29.97, 2.0, 4, 100, 2),
]
LINSPACE_CASES = [(40, 32), (33, 32), (100000, 32), (1000, 7), (10, 32), (5, 1), (2, 2), (901, 32), (12345, 100)]


def main():
    os.makedirs(CLIPS, exist_ok=True)
    os.makedirs(PROC, exist_ok=True)
    manifest = {"clips": [], "fps_cases": [], "linspace_cases": []}
    tensors = {}
    decoded = {}
    for name, fname, fourcc, n, w, h, fps in CLIP_SPECS:
        path = os.path.join(CLIPS, fname)
        if not os.path.exists(path):
            make_clip(path, fourcc, n, w, h, fps)
        total, src_fps, idx32, _ = cornserve_load(path, 32)
        _, _, idx8, frames8 = cornserve_load(path, 8)
        tensors[name + ".frames8"] = frames8
        decoded[name] = frames8
        manifest["clips"].append({"name": name, "file": fname, "total_frames": total, "fps": src_fps,
                                  "width": int(frames8.shape[2]), "height": int(frames8.shape[1]),
                                  "indices32": idx32.tolist(), "indices8": idx8.tolist()})
        print(name, "frames", total, "fps", src_fps, "indices8", idx8.tolist())
    for total, src_fps, fps, mn, mx, ff in FPS_CASES:
        manifest["fps_cases"].append({"total": total, "source_fps": src_fps, "fps": fps, "min_frames": mn,
                                      "max_frames": mx, "frame_factor": ff,
                                      "indices": sample_frames_fps(total, src_fps, fps, mn, mx, ff)})
    for total, m in LINSPACE_CASES:
        manifest["linspace_cases"].append({"total": total, "max_num_frames": m,
                                           "indices": linspace_indices(total, m)})
    safetensors_io.save(os.path.join(CLIPS, "expected.safetensors"), tensors)
    with open(os.path.join(CLIPS, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)

    # Processor goldens take the reference-decoded frames as input, so they
    # test the processor alone.
    ptensors, pcases = {}, []
    for cname, (pp, vpp) in PROCESSOR_CONFIGS.items():
        d = os.path.join(PROC, cname)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
            json.dump(pp, f, indent=1)
        if vpp is not None:
            with open(os.path.join(d, "video_preprocessor_config.json"), "w") as f:
                json.dump(vpp, f, indent=1)
    for name, clip, count, cname, backends in PROCESSOR_CASES:
        pp, vpp = PROCESSOR_CONFIGS[cname]
        cfg = video_processor_config(vpp if vpp is not None else pp)
        frames = decoded[clip][np.array(linspace_indices(len(decoded[clip]), count))]
        ptensors[name + ".frames"] = frames
        for backend in backends:
            pv, grid = process_video(frames, cfg, backend)
            ptensors[f"{name}.{backend}.pixel_values_videos"] = pv.astype(np.float32)
            ptensors[f"{name}.{backend}.video_grid_thw"] = grid
            print(name, backend, "grid", grid.tolist(), pv.shape)
        pcases.append({"name": name, "config": cname, "backends": backends})
    safetensors_io.save(os.path.join(PROC, "expected.safetensors"), ptensors)
    with open(os.path.join(PROC, "cases.json"), "w") as f:
        json.dump({"cases": pcases}, f, indent=1)


if __name__ == "__main__":
    main()
