"""Builds the REAL transformers vision tower of a checkpoint (for regenerate_goldens.py).

Runs only where transformers is installed (the lent GPU machine: transformers 5.x, torch 2.x);
nothing here is imported by the restatement backend. The tower is built the way
Qwen2VLForConditionalGeneration.from_pretrained builds its `visual` part, without the text model:

- config: the family's vision config class from the checkpoint's `vision_config` dict (what
  Qwen2VLConfig / Qwen2_5_VLConfig do with it);
- dtype: the module is constructed under torch.set_default_dtype(compute dtype), as
  from_pretrained(dtype=...) does, so buffers created with an explicit dtype (the rotary
  inv_freq, float32) keep it while parameters get the compute dtype;
- weights: the checkpoint's `visual.*` tensors (prefix stripped) loaded with strict name and
  shape checks; each is converted to the parameter's dtype (bf16 -> f32 upcast for cf32);
- attention: eager (or sdpa) selected through the config / set_attn_implementation, on CPU.

forward() in transformers 4.x returns the merged embeddings tensor; in 5.x it may return an
output object (last_hidden_state = tower output before the merger, pooler_output = merged
embeddings). `run` takes whichever has the golden's shape [tokens, out_hidden] and says which.
"""

import contextlib

import torch

FAMILIES = {
    "qwen2_vl": ("transformers.models.qwen2_vl.configuration_qwen2_vl", "Qwen2VLVisionConfig",
                 "transformers.models.qwen2_vl.modeling_qwen2_vl", "Qwen2VisionTransformerPretrainedModel"),
    "qwen2_5_vl": ("transformers.models.qwen2_5_vl.configuration_qwen2_5_vl", "Qwen2_5_VLVisionConfig",
                   "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl", "Qwen2_5_VisionTransformerPretrainedModel"),
}


def versions():
    import transformers
    return {"transformers": transformers.__version__, "torch": torch.__version__}


def _import(module, name):
    import importlib
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def _default_dtype(dtype):
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def build(arch, vision_config, state, compute_dtype, attn="eager"):
    """The transformers tower for `arch` with `state` ({name without 'visual.': tensor}) loaded
    for `compute_dtype` (torch.float32 or torch.bfloat16). Returns (model, notes)."""
    cfg_mod, cfg_name, model_mod, model_name = FAMILIES[arch]
    config_cls = _import(cfg_mod, cfg_name)
    model_cls = _import(model_mod, model_name)
    config = config_cls(**vision_config)
    try:
        config._attn_implementation = attn
    except Exception:  # noqa: BLE001 - older/newer configs may guard the attribute; set below
        pass
    with _default_dtype(compute_dtype):
        model = model_cls(config)
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(attn)
    used_attn = getattr(model.config, "_attn_implementation", None)
    if used_attn != attn:
        raise RuntimeError(f"{model_name}: asked for attn_implementation {attn!r}, model uses {used_attn!r}")

    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise RuntimeError(f"{model_name}: checkpoint keys differ from the transformers module: "
                           f"missing visual.{missing}, unexpected visual.{unexpected}")
    bad = [f"visual.{n}: checkpoint {list(state[n].shape)} vs module {list(expected[n].shape)}"
           for n in sorted(expected) if tuple(state[n].shape) != tuple(expected[n].shape)]
    if bad:
        raise RuntimeError(f"{model_name}: shape mismatch: " + "; ".join(bad))
    # load_state_dict copies into the existing parameters, converting to their dtype.
    model.load_state_dict({n: t for n, t in state.items()}, strict=True)
    wrong = sorted(n for n, p in model.named_parameters() if p.dtype != compute_dtype)
    if wrong:
        raise RuntimeError(f"{model_name}: parameters not in {compute_dtype}: {wrong}")
    buffers = {n: str(b.dtype) for n, b in model.named_buffers()}
    notes = {"attn_implementation": used_attn, "buffers": buffers, "class": f"{model_mod}.{model_name}"}
    return model.eval(), notes


def _candidates(out):
    if isinstance(out, torch.Tensor):
        yield "tensor", out
        return
    for name in ("pooler_output", "last_hidden_state"):
        value = getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            yield name, value
    if isinstance(out, (tuple, list)):
        for i, value in enumerate(out):
            if isinstance(value, torch.Tensor):
                yield f"[{i}]", value


@torch.no_grad()
def run(model, pixel_values, grid_thw, want_shape):
    """Forward as get_image_features / get_video_features do (pixel values cast to the tower's
    dtype); returns (float32 embeddings, which output field they came from)."""
    dtype = next(model.parameters()).dtype
    out = model(pixel_values.to(dtype), grid_thw=grid_thw)
    seen = []
    for name, value in _candidates(out):
        seen.append(f"{name} {list(value.shape)}")
        if tuple(value.shape) == tuple(want_shape):
            return value.float(), name
    raise RuntimeError(f"{type(model).__name__} output {type(out).__name__} has no tensor of shape "
                       f"{list(want_shape)} (has: {', '.join(seen) or 'none'})")
