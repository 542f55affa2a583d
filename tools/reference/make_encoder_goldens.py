#!/usr/bin/python3
"""Writes a golden output file for eric's vision-encoder tests from the PyTorch reference.

  /usr/bin/python3 tools/reference/make_encoder_goldens.py --model DIR --out FILE
      [--dtype float32|bfloat16] [--images HxW,HxW,... | --grids T:H:W,... | --inputs FILE] [--seed N]

--images gives image sizes in pixels (multiples of patch*merge, e.g. 28x28), --grids patch grids
directly (e.g. 1:10:6); both make random pixel_values from --seed. --inputs reads pixel_values
and image_grid_thw from a safetensors file instead. All images go through ONE forward pass,
as the processor batches them.

The output holds `embeddings` (float32 [total_tokens, out_hidden], images in order),
`pixel_values` and `image_grid_thw`, with metadata saying how it was made.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import vision_reference as ref  # noqa: E402
from safetensors_io import write_safetensors  # noqa: E402


def parse_images(text, config):
    grids = []
    for item in text.split(","):
        try:
            h, w = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise SystemExit(f"--images: '{item}' is not HxW")
        grids.append(ref.grid_for_image_size(config, h, w))
    return grids


def parse_grids(text):
    grids = []
    for item in text.split(","):
        try:
            t, h, w = (int(v) for v in item.split(":"))
        except ValueError:
            raise SystemExit(f"--grids: '{item}' is not T:H:W")
        grids.append((t, h, w))
    return grids


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint folder (config.json + safetensors)")
    p.add_argument("--out", required=True, help="golden safetensors file to write")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                   help="compute dtype: float32 upcasts the weights; bfloat16 runs weights and activations "
                        "in bf16 as transformers does for a bf16 model")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--images", help="comma-separated HxW pixel sizes")
    src.add_argument("--grids", help="comma-separated T:H:W patch grids")
    src.add_argument("--inputs", help="safetensors file with pixel_values and image_grid_thw")
    p.add_argument("--seed", type=int, default=0, help="seed for random pixel_values")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model = ref.load_model(args.model, args.dtype)
    config = model.config
    if args.inputs:
        pixel_values, grid_thw = ref.read_inputs(args.inputs)
    else:
        grids = parse_grids(args.grids) if args.grids else parse_images(args.images or "28x28", config)
        pixel_values, grid_thw = ref.random_inputs(config, grids, args.seed)

    embeddings = ref.encode(model, pixel_values, grid_thw)
    expected_rows = sum(ref.tokens_per_image(config, grid_thw))
    assert embeddings.shape[0] == expected_rows, (embeddings.shape, expected_rows)

    metadata = {
        "model_type": ref.model_type_of(args.model),
        "compute_dtype": args.dtype,
        "seed": str(args.seed) if not args.inputs else "",
        "inputs": os.path.basename(args.inputs) if args.inputs else "random",
        "tokens_per_image": ",".join(str(n) for n in ref.tokens_per_image(config, grid_thw)),
        "generator": "tools/reference/make_encoder_goldens.py",
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_safetensors(args.out, {
        "embeddings": embeddings.contiguous(),
        "pixel_values": pixel_values.contiguous(),
        "image_grid_thw": grid_thw.contiguous(),
    }, metadata)
    print(f"{args.out}: embeddings {list(embeddings.shape)} from grids {grid_thw.tolist()} "
          f"({metadata['model_type']}, {args.dtype})")


if __name__ == "__main__":
    main()
