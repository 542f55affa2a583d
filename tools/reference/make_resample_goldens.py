#!/usr/bin/python3
"""Golden data for eric's Pillow-exact resampler (tests/media/resample_test.cc).

Source images are synthesised from a fixed seed (gradients, sinusoids, hard
edges that make Lanczos/bicubic overshoot and clip, and noise) and stored as
PNG; every case resizes one of them with Debian's Pillow 9.4
(Image.resize(size, filter), reducing_gap=None) and stores the exact RGB bytes.

Run: /usr/bin/python3 tools/reference/make_resample_goldens.py
Writes tests/data/media/resample/{*.png, cases.json, expected.safetensors}.
"""
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "media", "resample")

R = Image.Resampling
FILTERS = {"nearest": R.NEAREST, "bilinear": R.BILINEAR, "bicubic": R.BICUBIC,
           "lanczos": R.LANCZOS, "box": R.BOX, "hamming": R.HAMMING}


def synth(width, height, seed, noise):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.zeros((height, width, 3))
    for c in range(3):
        fx, fy = rng.uniform(0.005, 0.2, 2)
        img[..., c] = 127 + 90 * np.sin(x * fx + rng.uniform(0, 6)) * np.cos(y * fy + rng.uniform(0, 6))
        img[..., c] += (x / max(width - 1, 1) - 0.5) * rng.uniform(-60, 60)
    # Hard-edged blocks of black and white: ringing filters overshoot here.
    for _ in range(6):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(1, max(2, width // 4)), rng.integers(1, max(2, height // 4))
        img[y0:y0 + h, x0:x0 + w, :] = rng.choice([0, 255])
    img += rng.normal(0, noise, img.shape)
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")


SOURCES = {
    "px1x1": (1, 1, 1, 0.0),
    "s13x7": (13, 7, 2, 20.0),
    "s28x28": (28, 28, 3, 12.0),
    "odd97x61": (97, 61, 4, 8.0),
    "photo512x341": (512, 341, 5, 3.0),
    "wide5000x30": (5000, 30, 6, 2.0),
    "tall30x5000": (30, 5000, 7, 2.0),
}

CASES = []


def case(src, w, h, flt):
    CASES.append((src, w, h, flt))


for f in FILTERS:
    case("photo512x341", 213, 142, f)   # typical down-scale
    case("odd97x61", 150, 100, f)       # up-scale, odd sizes
    case("s28x28", 56, 56, f)           # 2x up
    case("s28x28", 14, 14, f)           # 2x down
    case("s13x7", 1, 1, f)              # everything into one pixel
for f in ("nearest", "bicubic", "lanczos"):
    case("px1x1", 5, 3, f)              # a single pixel blown up
for f in ("bicubic", "lanczos", "box", "nearest"):
    case("wide5000x30", 200, 30, f)     # horizontal only, extreme ratio
    case("tall30x5000", 30, 200, f)     # vertical only, extreme ratio
case("wide5000x30", 500, 3, "bilinear")
case("wide5000x30", 250, 7, "hamming")
case("tall30x5000", 3, 500, "bilinear")
case("tall30x5000", 7, 250, "hamming")
case("odd97x61", 61, 97, "bicubic")     # one axis up, the other down
case("odd97x61", 61, 97, "lanczos")
case("odd97x61", 97, 200, "bicubic")    # vertical only, up
case("odd97x61", 40, 61, "hamming")     # horizontal only, down
case("photo512x341", 3, 2, "lanczos")   # extreme down-scale
case("photo512x341", 3, 2, "bicubic")
case("photo512x341", 336, 224, "bicubic")  # a Qwen-style target (multiples of 28)


def main():
    os.makedirs(OUT, exist_ok=True)
    images = {}
    for name, (w, h, seed, noise) in SOURCES.items():
        im = synth(w, h, seed, noise)
        path = os.path.join(OUT, name + ".png")
        im.save(path, optimize=True)
        images[name] = Image.open(path).convert("RGB")  # what the test decodes
        assert np.array_equal(np.asarray(images[name]), np.asarray(im))
    tensors, manifest = {}, []
    for src, w, h, flt in CASES:
        name = f"{src}_to_{w}x{h}_{flt}"
        out = images[src].resize((w, h), FILTERS[flt])
        tensors[name] = np.asarray(out, dtype=np.uint8)
        manifest.append({"name": name, "source": src + ".png", "width": w, "height": h, "filter": flt,
                         "pillow_filter": int(FILTERS[flt])})
    safetensors_io.save(os.path.join(OUT, "expected.safetensors"), tensors,
                        {"pillow": PIL.__version__, "numpy": np.__version__})
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"pillow": PIL.__version__, "cases": manifest}, f, indent=1)
    print(f"{len(manifest)} cases, Pillow {PIL.__version__}")


if __name__ == "__main__":
    main()
