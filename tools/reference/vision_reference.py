"""Entry points shared by the reference tools: pick the vision tower by the checkpoint's
model_type, make deterministic inputs, read and write the input/golden files.

File contracts (safetensors, see tests/data/goldens/README.md):
  inputs:  pixel_values   float32 [N_patches, in_channels*temporal_patch_size*patch_size^2]
           image_grid_thw int64   [n_images, 3]   (images concatenated as the processor batches them)
  golden:  embeddings     float32 [total_tokens, out_hidden]  (all images, in order)
           + pixel_values and image_grid_thw as above
"""

import torch

import qwen2_5_vl_vision
import qwen2_vl_vision
from safetensors_io import read_safetensors

FAMILIES = {
    "qwen2_vl": qwen2_vl_vision,
    "qwen2_5_vl": qwen2_5_vl_vision,
}


def model_type_of(model_dir):
    return qwen2_vl_vision.read_config(model_dir).get("model_type")


def load_model(model_dir, compute_dtype="float32"):
    """The reference vision tower for the checkpoint in `model_dir`, weights loaded for
    `compute_dtype` ("float32": upcast; "bfloat16": weights and activations in bf16)."""
    model_type = model_type_of(model_dir)
    if model_type not in FAMILIES:
        raise ValueError(f"{model_dir}: unsupported model_type {model_type!r} (known: {sorted(FAMILIES)})")
    return FAMILIES[model_type].load_vision_model(model_dir, compute_dtype)


def patch_dim(config):
    """Row length of pixel_values: in_channels * temporal_patch_size * patch_size^2."""
    return config.in_channels * config.temporal_patch_size * config.patch_size * config.patch_size


def grid_for_image_size(config, height, width):
    """(1, H/patch, W/patch) for an image already resized to multiples of patch*merge, which is
    what Qwen2VLImageProcessor's smart_resize produces."""
    unit = config.patch_size * config.spatial_merge_size
    if height % unit or width % unit or height <= 0 or width <= 0:
        raise ValueError(f"image size {height}x{width} is not a positive multiple of {unit} (patch*merge)")
    return (1, height // config.patch_size, width // config.patch_size)


def random_inputs(config, grids, seed):
    """Deterministic pixel_values for the given grids: standard normal values, about the range
    of normalised pixels, from a torch generator seeded with `seed`."""
    grid_thw = torch.tensor(grids, dtype=torch.int64).reshape(-1, 3)
    n_patches = int((grid_thw[:, 0] * grid_thw[:, 1] * grid_thw[:, 2]).sum())
    gen = torch.Generator().manual_seed(seed)
    pixel_values = torch.randn(n_patches, patch_dim(config), generator=gen, dtype=torch.float32)
    return pixel_values, grid_thw


def read_inputs(path):
    tensors, _ = read_safetensors(path)
    for name in ("pixel_values", "image_grid_thw"):
        if name not in tensors:
            raise ValueError(f"{path}: no tensor '{name}'")
    return tensors["pixel_values"].float(), tensors["image_grid_thw"].to(torch.int64)


@torch.no_grad()
def encode(model, pixel_values, grid_thw):
    """Runs the tower as Qwen2VLModel.get_image_features does (pixel_values cast to the tower's
    dtype first) and returns float32 embeddings [total_tokens, out_hidden]."""
    dtype = model.patch_embed.proj.weight.dtype
    return model(pixel_values.to(dtype), grid_thw).float()


def tokens_per_image(config, grid_thw):
    merge = config.spatial_merge_size**2
    return [int(t * h * w) // merge for t, h, w in grid_thw.tolist()]
