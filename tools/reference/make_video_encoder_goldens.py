#!/usr/bin/python3
"""Video-embedding goldens for eric's encoder tests: clip -> frames -> processor -> vision tower,
all on the reference side.

  /usr/bin/python3 tools/reference/make_video_encoder_goldens.py [--eric build/release/eric]
      [--out tests/data/goldens]

For each arch (qwen2_vl, qwen2_5_vl) a tiny float32 checkpoint is written with
`eric make-test-model --arch ARCH --seed 0 --dims tiny --dtype float32` (deterministic; deleted
afterwards, the C++ test regenerates it). For each case the committed clips under
tests/data/media/video/ are read as Cornserve's Eric reads them (cv2, linspace selection of
`frames` frames; make_video_goldens.cornserve_load), processed by the restatement of the Pillow
video path (make_video_goldens.process_video: smart_resize with the checkpoint's video pixel
limits, last frame repeated up to a multiple of temporal_patch_size, transformers' patch order)
and encoded by the PyTorch tower (vision_reference.encode) in ONE forward per case, float32.

Each file `<arch>/video_<case>-wf32-cf32.safetensors` holds
  frames_<i>            uint8 [n_frames, H, W, 3]   the decoded frames of video i (the test's input)
  pixel_values_videos   float32 [N_patches, 3*2*14*14]  all videos of the case, in order
  video_grid_thw        int64 [n_videos, 3]
  embeddings            float32 [total_tokens, out_hidden]
and manifest.json gets one entry per file under "video_goldens".
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import make_video_goldens as mvg  # noqa: E402
import vision_reference as ref  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CLIPS = os.path.join(ROOT, "tests", "data", "media", "video")

# case -> [(clip file, frames kept by linspace)]; all videos of a case go through one forward.
CASES = {
    # 5 frames: odd, so the processor repeats the last frame (grid_t 3).
    "h264_mp4_5f": [("h264.mp4", 5)],
    # 64x48 H.265, 4 frames (grid_t 2, no padding).
    "hevc_mp4_4f": [("hevc.mp4", 4)],
    # Two videos in one forward: VP9 WebM with 3 frames (padded) and the animated GIF with 6.
    "batch_vp9_webm_3f_gif_6f": [("vp9.webm", 3), ("anim.gif", 6)],
    # The other containers/codecs, four videos in one forward.
    "batch_vp8_webm_h264_mov_h264_mkv_vp9_mkv_3f": [("vp8.webm", 3), ("h264.mov", 3), ("h264.mkv", 3),
                                                     ("vp9.mkv", 3)],
}
MAKE_TEST_MODEL = "--arch {arch} --seed 0 --dims tiny --dtype float32"


def make_checkpoint(eric, arch, out):
    args = MAKE_TEST_MODEL.format(arch=arch).split()
    subprocess.run([eric, "make-test-model", *args, "--out", out], check=True, stdout=subprocess.DEVNULL)


def video_config(model_dir):
    """The checkpoint's video processor settings as transformers resolves them."""
    def read(name):
        path = os.path.join(model_dir, name)
        return json.load(open(path)) if os.path.exists(path) else None
    return mvg.video_processor_config(read("video_preprocessor_config.json") or read("preprocessor_config.json"))


def make_case(model, cfg, videos):
    frames_list, pixel_values, grids = [], [], []
    for clip, count in videos:
        _, _, _, frames = mvg.cornserve_load(os.path.join(CLIPS, clip), count)
        assert len(frames) == count, (clip, len(frames))
        pv, grid = mvg.process_video(frames, cfg, "pillow")
        frames_list.append(frames)
        pixel_values.append(torch.from_numpy(pv.astype(np.float32)))
        grids.append(torch.from_numpy(grid))
    pixel_values = torch.cat(pixel_values)
    grid_thw = torch.cat(grids).to(torch.int64)
    embeddings = ref.encode(model, pixel_values, grid_thw)
    return frames_list, pixel_values, grid_thw, embeddings


def update_manifest(path, entries):
    manifest = json.load(open(path)) if os.path.exists(path) else {"goldens": []}
    manifest["video_goldens"] = entries
    with open(path, "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eric", default=os.path.join(ROOT, "build", "release", "eric"))
    p.add_argument("--out", default=os.path.join(ROOT, "tests", "data", "goldens"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # byte-identical goldens on every run

    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ("qwen2_vl", "qwen2_5_vl"):
            ckpt = os.path.join(tmp, arch)
            make_checkpoint(args.eric, arch, ckpt)
            model = ref.load_model(ckpt, "float32")
            cfg = video_config(ckpt)
            os.makedirs(os.path.join(args.out, arch), exist_ok=True)
            for case, videos in CASES.items():
                frames_list, pixel_values, grid_thw, embeddings = make_case(model, cfg, videos)
                file = f"{arch}/video_{case}-wf32-cf32.safetensors"
                tensors = {f"frames_{i}": torch.from_numpy(np.ascontiguousarray(f)) for i, f in enumerate(frames_list)}
                tensors.update({"pixel_values_videos": pixel_values.contiguous(),
                                "video_grid_thw": grid_thw.contiguous(), "embeddings": embeddings.contiguous()})
                metadata = {"model_type": arch, "compute_dtype": "float32", "backend": "pillow",
                            "videos": ",".join(f"{c}:{n}" for c, n in videos),
                            "generator": "tools/reference/make_video_encoder_goldens.py"}
                write_safetensors(os.path.join(args.out, file), tensors, metadata)
                entries.append({"file": file, "arch": arch, "make_test_model": MAKE_TEST_MODEL.format(arch=arch),
                                "compute_dtype": "float32", "backend": "pillow",
                                "videos": [{"clip": c, "frames": n} for c, n in videos],
                                "grids": grid_thw.tolist(), "rel_tolerance": 1e-4})
                print(f"{file}: grids {grid_thw.tolist()}, embeddings {list(embeddings.shape)}")
    update_manifest(os.path.join(args.out, "manifest.json"), entries)


if __name__ == "__main__":
    main()
