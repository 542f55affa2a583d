"""Builds the REAL transformers vision tower of a checkpoint (for regenerate_goldens.py).

Runs only where transformers is installed (the lent GPU machine: transformers 5.x, torch 2.x);
nothing here is imported by the restatement backend. The tower is built the way
Qwen2VLForConditionalGeneration.from_pretrained builds its `visual` part, without the text model:

- config: Qwen2VLConfig / Qwen2_5_VLConfig.from_pretrained(checkpoint).vision_config (falling
  back to the vision config class on the `vision_config` dict; the notes say which);
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

FAMILIES = {  # arch: (configuration module, top-level config, vision config, modeling module, tower)
    "qwen2_vl": ("transformers.models.qwen2_vl.configuration_qwen2_vl", "Qwen2VLConfig", "Qwen2VLVisionConfig",
                 "transformers.models.qwen2_vl.modeling_qwen2_vl", "Qwen2VisionTransformerPretrainedModel"),
    "qwen2_5_vl": ("transformers.models.qwen2_5_vl.configuration_qwen2_5_vl", "Qwen2_5_VLConfig",
                   "Qwen2_5_VLVisionConfig", "transformers.models.qwen2_5_vl.modeling_qwen2_5_vl",
                   "Qwen2_5_VisionTransformerPretrainedModel"),
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


def vision_config_of(arch, folder, vision_config):
    """The tower's config as from_pretrained resolves it: the family's top-level config read
    from the checkpoint's config.json, then its .vision_config. Falls back to the vision config
    class on the `vision_config` dict if the top-level config cannot be read (its text part is
    a truncated test model). Returns (config, how)."""
    cfg_mod, top_name, vision_name, _, _ = FAMILIES[arch]
    try:
        top = _import(cfg_mod, top_name).from_pretrained(folder)
        return top.vision_config, f"{top_name}.from_pretrained(checkpoint).vision_config"
    except Exception as e:  # noqa: BLE001 - reported in the notes, then the direct route
        first_error = f"{type(e).__name__}: {e}"
    return _import(cfg_mod, vision_name)(**vision_config), f"{vision_name}(**vision_config) ({top_name}: {first_error})"


def build(arch, vision_config, state, compute_dtype, attn="eager", folder=None):
    """The transformers tower for `arch` with `state` ({name without 'visual.': tensor}) loaded
    for `compute_dtype` (torch.float32 or torch.bfloat16). Returns (model, notes)."""
    _, _, _, model_mod, model_name = FAMILIES[arch]
    model_cls = _import(model_mod, model_name)
    if folder is not None:
        config, config_route = vision_config_of(arch, folder, vision_config)
    else:
        config, config_route = _import(FAMILIES[arch][0], FAMILIES[arch][2])(**vision_config), "vision_config dict"
    try:
        config._attn_implementation = attn
    except Exception:  # noqa: BLE001 - older/newer configs may guard the attribute; set below
        pass
    with _default_dtype(compute_dtype):
        model = model_cls(config)
    # from_pretrained keeps `_keep_in_fp32_modules_strict` in float32 for bf16 and fp16 loads
    # (the non-strict list only for fp16, not used here); mirror it so bf16 runs match.
    fp32_modules = list(getattr(model_cls, "_keep_in_fp32_modules_strict", None) or [])
    kept_fp32 = []
    if compute_dtype != torch.float32 and fp32_modules:
        for name, module in model.named_modules():
            if name and any(part in fp32_modules for part in name.split(".")):
                module.float()
                kept_fp32.append(name)
    fp32_params = {n for n, p in model.named_parameters() if any(part in fp32_modules for part in n.split("."))}
    attn_note = None
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation(attn)
        except Exception as e:  # noqa: BLE001 - the config attribute set above may still hold
            attn_note = f"set_attn_implementation({attn!r}) failed: {type(e).__name__}: {e}"
    used_attn = getattr(model.config, "_attn_implementation", None)
    # eager and sdpa both split the packed sequence per image on CPU (same maths, ~1e-7 apart);
    # anything else (flash kernels) cannot run on CPU and would not be the reference we want.
    if used_attn not in ("eager", "sdpa", None):
        raise RuntimeError(f"{model_name}: asked for attn_implementation {attn!r}, model uses {used_attn!r}")
    if used_attn != attn:
        attn_note = (attn_note + "; " if attn_note else "") + f"model reports {used_attn!r}"

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
    wrong = sorted(n for n, p in model.named_parameters()
                   if p.dtype != (torch.float32 if n in fp32_params else compute_dtype))
    if wrong:
        raise RuntimeError(f"{model_name}: parameters not in {compute_dtype}: {wrong}")
    buffers = {n: str(b.dtype) for n, b in model.named_buffers()}
    notes = {"attn_implementation": used_attn, "buffers": buffers, "class": f"{model_mod}.{model_name}",
             "config": config_route}
    if fp32_modules:
        notes["keep_in_fp32_modules_strict"] = fp32_modules
        notes["kept_fp32"] = kept_fp32
    if attn_note:
        notes["attn_warning"] = attn_note
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
