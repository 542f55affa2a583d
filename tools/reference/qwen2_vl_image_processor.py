#!/usr/bin/python3
"""Reference Qwen2-VL / Qwen2.5-VL image processor, restated from transformers.

`preprocess_pil` follows transformers' original (slow, PIL + numpy)
Qwen2VLImageProcessor line by line (models/qwen2_vl/image_processing_qwen2_vl.py
and image_transforms.py: resize through PIL, rescale in float64 then cast to
float32, normalize in float32, repeat to temporal_patch_size, the 9-d
reshape/transpose), with smart_resize as in transformers 4.5x/5 (no
"height < factor" error; the floor branch never goes below one factor).

`preprocess_torchvision_f64` restates the "fast" processor
(image_processing_qwen2_vl_fast.py): torchvision's antialiased bicubic on the
uint8 image, here computed in float64 (PyTorch's separable AA weights, no
intermediate rounding, then clamp + round to uint8 as torchvision's float path
does, rounded to uint8 between the two passes like PyTorch's uint8 CPU kernel),
then the fused rescale+normalize (mean/std divided by rescale_factor).
eric's torchvision backend follows PyTorch's int16 fixed-point AVX2 kernel, so it
differs from this float64 statement by at most one uint8 step in rare pixels.

Run: /usr/bin/python3 tools/reference/qwen2_vl_image_processor.py
Writes goldens to tests/data/models/qwen2_vl_processor/.
"""
import json
import math
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def smart_resize(height, width, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 1280):
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"absolute aspect ratio must be smaller than 200, got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


class Config:
    """Qwen2VLImageProcessor.__init__ (transformers 5 key precedence: size, then min/max_pixels)."""

    def __init__(self, pp):
        size = dict(pp.get("size") or {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 1280})
        if pp.get("min_pixels") is not None:
            size["shortest_edge"] = pp["min_pixels"]
        if pp.get("max_pixels") is not None:
            size["longest_edge"] = pp["max_pixels"]
        if "shortest_edge" not in size or "longest_edge" not in size:
            raise ValueError("size must contain 'shortest_edge' and 'longest_edge' keys.")
        self.size = size
        self.do_resize = pp.get("do_resize", True)
        self.resample = pp.get("resample", Image.Resampling.BICUBIC)
        self.do_rescale = pp.get("do_rescale", True)
        self.rescale_factor = pp.get("rescale_factor", 1 / 255)
        self.do_normalize = pp.get("do_normalize", True)
        self.image_mean = pp.get("image_mean") or OPENAI_CLIP_MEAN
        self.image_std = pp.get("image_std") or OPENAI_CLIP_STD
        self.patch_size = pp.get("patch_size", 14)
        self.temporal_patch_size = pp.get("temporal_patch_size", 2)
        self.merge_size = pp.get("merge_size", 2)


def rescale(image, scale, dtype=np.float32):
    # image_transforms.rescale
    rescaled_image = image.astype(np.float64) * scale
    return rescaled_image.astype(dtype)


def normalize(image, mean, std):
    # image_transforms.normalize, channels-last input
    if not np.issubdtype(image.dtype, np.floating):
        image = image.astype(np.float32)
    mean = np.array(mean, dtype=image.dtype)
    std = np.array(std, dtype=image.dtype)
    return (image - mean) / std


def patchify(images_chw, resized_height, resized_width, cfg):
    patch_size, temporal_patch_size, merge_size = cfg.patch_size, cfg.temporal_patch_size, cfg.merge_size
    patches = np.array(images_chw)
    if patches.shape[0] % temporal_patch_size != 0:
        repeats = np.repeat(patches[-1][np.newaxis], temporal_patch_size - 1, axis=0)
        patches = np.concatenate([patches, repeats], axis=0)
    channel = patches.shape[1]
    grid_t = patches.shape[0] // temporal_patch_size
    grid_h, grid_w = resized_height // patch_size, resized_width // patch_size
    patches = patches.reshape(grid_t, temporal_patch_size, channel, grid_h // merge_size, merge_size, patch_size,
                              grid_w // merge_size, merge_size, patch_size)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    flatten_patches = patches.reshape(grid_t * grid_h * grid_w,
                                      channel * temporal_patch_size * patch_size * patch_size)
    return flatten_patches, np.array([[grid_t, grid_h, grid_w]], dtype=np.int64)


def target_size(height, width, cfg, min_pixels=None, max_pixels=None):
    size = dict(cfg.size)
    if min_pixels is not None:
        size["shortest_edge"] = min_pixels
    if max_pixels is not None:
        size["longest_edge"] = max_pixels
    if not cfg.do_resize:
        return height, width
    return smart_resize(height, width, factor=cfg.patch_size * cfg.merge_size,
                        min_pixels=size["shortest_edge"], max_pixels=size["longest_edge"])


def preprocess_pil(pil_image, cfg, min_pixels=None, max_pixels=None):
    image = np.array(pil_image.convert("RGB"))  # convert_to_rgb + to_numpy_array: (H, W, C) uint8
    height, width = image.shape[:2]
    resized_height, resized_width = target_size(height, width, cfg, min_pixels, max_pixels)
    if cfg.do_resize:
        # image_transforms.resize: uint8 -> PIL -> Image.resize((w, h), resample) -> numpy
        image = np.array(Image.fromarray(image).resize((resized_width, resized_height), resample=cfg.resample))
    if cfg.do_rescale:
        image = rescale(image, cfg.rescale_factor)
    if cfg.do_normalize:
        image = normalize(image, cfg.image_mean, cfg.image_std)
    image = image.transpose(2, 0, 1)  # to_channel_dimension_format(FIRST)
    return patchify([image], resized_height, resized_width, cfg)


# ---- the torchvision ("fast") path, in float64 ----

def _torch_aa_cubic(x):
    a = -0.5
    x = np.abs(x)
    return np.where(x < 1.0, ((a + 2) * x - (a + 3)) * x * x + 1,
                    np.where(x < 2.0, ((a * x - 5 * a) * x + 8 * a) * x - 4 * a, 0.0))


def _aa_weights(in_size, out_size):
    """PyTorch _compute_indices_min_size_weights_aa (antialias=True, bicubic) as a dense matrix."""
    scale = in_size / out_size
    support = 2.0 * scale if scale >= 1.0 else 2.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    m = np.zeros((out_size, in_size))
    for i in range(out_size):
        center = scale * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        j = np.arange(xmin, xmax)
        w = _torch_aa_cubic((j - center + 0.5) * invscale)
        total = w.sum()
        if total != 0.0:
            w = w / total
        m[i, xmin:xmax] = w
    return m


def _to_uint8(x):
    return np.rint(np.clip(x, 0, 255)).astype(np.uint8)


def resize_torchvision_f64(image_hwc, height, width, uint8_between_passes=True):
    """F.resize(uint8, (height, width), BICUBIC, antialias=True) with float64 weights.

    uint8_between_passes=True models PyTorch's uint8 CPU kernel (what torchvision uses on
    AVX2 machines): the horizontal pass is rounded and clamped to uint8 before the
    vertical pass, so bicubic overshoot at hard edges is clipped in between.
    False models the float path (GPU, or CPUs without AVX2): one rounding at the end.
    """
    src = image_hwc.astype(np.float64)
    h_in, w_in = src.shape[:2]
    out = src
    if width != w_in:
        out = np.einsum("xw,hwc->hxc", _aa_weights(w_in, width), out)
        if uint8_between_passes:
            out = _to_uint8(out).astype(np.float64)
    if height != h_in:
        out = np.einsum("yh,hxc->yxc", _aa_weights(h_in, height), out)
    return _to_uint8(out)


def preprocess_torchvision_f64(pil_image, cfg, min_pixels=None, max_pixels=None):
    image = np.array(pil_image.convert("RGB"))
    height, width = image.shape[:2]
    resized_height, resized_width = target_size(height, width, cfg, min_pixels, max_pixels)
    if cfg.do_resize and (resized_height, resized_width) != (height, width):
        assert cfg.resample == Image.Resampling.BICUBIC
        image = resize_torchvision_f64(image, resized_height, resized_width)
    image = image.transpose(2, 0, 1).astype(np.float32)  # uint8 CHW tensor -> float32
    mean = np.array(cfg.image_mean, dtype=np.float32)
    std = np.array(cfg.image_std, dtype=np.float32)
    if cfg.do_rescale and cfg.do_normalize:
        # _fuse_mean_std_and_rescale_factor: float32 tensor * (1.0 / rescale_factor)
        mean = (mean * np.float32(1.0 / cfg.rescale_factor)).astype(np.float32)
        std = (std * np.float32(1.0 / cfg.rescale_factor)).astype(np.float32)
        image = (image - mean[:, None, None]) / std[:, None, None]
    elif cfg.do_normalize:
        image = (image - mean[:, None, None]) / std[:, None, None]
    elif cfg.do_rescale:
        image = image * np.float32(cfg.rescale_factor)
    return patchify([image], resized_height, resized_width, cfg)


# ---- goldens ----

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "models",
                   "qwen2_vl_processor")

# The published Qwen2-VL-7B-Instruct form (top-level min/max_pixels) ...
CONFIG_PIXELS = {"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2,
                 "merge_size": 2, "image_mean": OPENAI_CLIP_MEAN, "image_std": OPENAI_CLIP_STD,
                 "rescale_factor": 0.00392156862745098, "resample": 3, "do_resize": True, "do_rescale": True,
                 "do_normalize": True, "do_convert_rgb": True,
                 "image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2VLProcessor"}
# ... and the newer size {shortest_edge, longest_edge} form, with smaller limits.
CONFIG_SIZE = {"size": {"shortest_edge": 6272, "longest_edge": 50176}, "patch_size": 14,
               "temporal_patch_size": 2, "merge_size": 2, "image_mean": OPENAI_CLIP_MEAN,
               "image_std": OPENAI_CLIP_STD, "rescale_factor": 0.00392156862745098, "resample": 3,
               "image_processor_type": "Qwen2VLImageProcessor"}


def synth(width, height, seed, noise):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        fx, fy = rng.uniform(0.005, 0.08, 2)
        img[..., c] = 127 + 100 * np.sin(x * fx + c) * np.cos(y * fy - c) + (y / height - 0.5) * 40
    for _ in range(4):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        img[y0:y0 + height // 5 + 1, x0:x0 + width // 5 + 1, :] = rng.choice([0, 255])
    img += rng.normal(0, noise, img.shape)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


SOURCES = {"tiny28x28": (28, 28, 11, 10.0), "odd97x61": (97, 61, 12, 6.0), "tiny13x7": (13, 7, 13, 20.0),
           "large800x600": (800, 600, 14, 0.0), "wide600x20": (600, 20, 15, 4.0)}

# name, source, config, per-request (min_pixels, max_pixels), also make the torchvision reference
CASES = [
    ("tiny28_pixels", "tiny28x28", "pixels", None, None, False),
    ("odd97x61_size", "odd97x61", "size", None, None, True),
    ("odd97x61_pixels", "odd97x61", "pixels", None, None, False),
    ("tiny13x7_pixels", "tiny13x7", "pixels", None, None, False),
    ("large_max_override", "large800x600", "pixels", None, 12544, True),
    ("large_min_max_override", "large800x600", "size", 3136, 6272, False),
    ("wide_size", "wide600x20", "size", None, None, False),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    configs = {"pixels": CONFIG_PIXELS, "size": CONFIG_SIZE}
    for name, cfg in configs.items():
        with open(os.path.join(OUT, f"preprocessor_config_{name}.json"), "w") as f:
            json.dump(cfg, f, indent=2)
    images = {}
    for name, (w, h, seed, noise) in SOURCES.items():
        path = os.path.join(OUT, name + ".png")
        synth(w, h, seed, noise).save(path, optimize=True)
        images[name] = Image.open(path)
    tensors, manifest = {}, []
    for name, src, cfg_name, min_px, max_px, with_tv in CASES:
        cfg = Config(configs[cfg_name])
        pv, grid = preprocess_pil(images[src], cfg, min_px, max_px)
        tensors[name + ".pixel_values"] = pv.astype(np.float32)
        tensors[name + ".image_grid_thw"] = grid
        entry = {"name": name, "source": src + ".png", "config": f"preprocessor_config_{cfg_name}.json",
                 "min_pixels": min_px, "max_pixels": max_px, "torchvision": with_tv}
        if with_tv:
            tv, tv_grid = preprocess_torchvision_f64(images[src], cfg, min_px, max_px)
            assert np.array_equal(tv_grid, grid)
            tensors[name + ".pixel_values_torchvision_f64"] = tv.astype(np.float32)
        manifest.append(entry)
        print(name, "grid", grid.tolist(), "pixel_values", pv.shape)
    safetensors_io.save(os.path.join(OUT, "expected.safetensors"), tensors)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"cases": manifest}, f, indent=1)


if __name__ == "__main__":
    main()
