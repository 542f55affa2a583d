#!/usr/bin/python3
"""Times the PyTorch reference vision tower, fairly, for comparison with eric's encoder.

  /usr/bin/python3 tools/reference/bench_encoder.py --model DIR --image-size 448 --threads N --iters K

Fair means: weights are loaded and converted before timing, inputs are built before timing,
one untimed warm-up forward runs first, and only the forward pass is inside the timed region
(torch.no_grad, torch.set_num_threads(N)). Prints one line per run and a final summary line

  reference_ms_per_image=<median ms> ...

that bench/ scripts parse.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import vision_reference as ref  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--image-size", default="448",
                   help="square size S, or HxW, in pixels (a multiple of patch*merge)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = ref.load_model(args.model, args.dtype)
    load_s = time.perf_counter() - t0
    size = args.image_size.lower()
    h, w = (int(v) for v in size.split("x")) if "x" in size else (int(size), int(size))
    grid = ref.grid_for_image_size(model.config, h, w)
    pixel_values, grid_thw = ref.random_inputs(model.config, [grid], args.seed)
    pixel_values = pixel_values.to(model.patch_embed.proj.weight.dtype)

    with torch.no_grad():
        model(pixel_values, grid_thw)  # warm-up (allocator, thread pool, oneDNN primitives)
        times = []
        for i in range(args.iters):
            start = time.perf_counter()
            out = model(pixel_values, grid_thw)
            times.append((time.perf_counter() - start) * 1000.0)
            print(f"iter {i}: {times[-1]:.1f} ms", flush=True)
    median = statistics.median(times)
    print(f"reference_ms_per_image={median:.2f} min_ms={min(times):.2f} image={h}x{w} patches={pixel_values.shape[0]} "
          f"tokens={out.shape[0]} threads={args.threads} dtype={args.dtype} load_s={load_s:.1f} "
          f"torch={torch.__version__}")


if __name__ == "__main__":
    main()
