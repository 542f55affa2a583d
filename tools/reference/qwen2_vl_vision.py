"""PyTorch re-statement of transformers' Qwen2-VL vision tower (eager attention path).

Restates, line by line, `Qwen2VisionTransformerPretrainedModel` and its parts from
transformers/src/transformers/models/qwen2_vl/modeling_qwen2_vl.py (the version read for
this file: commit 00b676f8 of huggingface/transformers). Each class and function below names
the transformers one it restates; the module tree and parameter names are the same, so the
published checkpoint tensors `visual.<name>` load by name with strict checking.

Differences from transformers, all numerically neutral:
  - torch 1.13 CPU only, eager attention (transformers' "eager"/"sdpa" path that splits the
    packed sequence per `cu_seqlens` segment; flash-attn is not available here);
  - no PreTrainedModel machinery: the config is a plain object with the same field names and
    defaults as `Qwen2VLVisionConfig`, and weights come from safetensors_io.

Numerics of the two compute modes (see load_vision_model):
  - "float32": every weight upcast to float32 (bf16 checkpoints included), float32 activations;
  - "bfloat16": weights and activations in bf16, as transformers runs a model loaded with
    torch_dtype=torch.bfloat16. As there, the rotary `inv_freq` buffer stays float32 (it is
    created with an explicit dtype=torch.float) and apply_rotary_pos_emb_vision rotates q/k in
    float32, and the attention softmax runs in float32.
"""

import contextlib
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import LayerNorm

from safetensors_io import load_checkpoint

# The prefix of the vision tower in published checkpoint files. Recent transformers name the
# module `model.visual.` inside the model, but the files on the Hub keep `visual.`; both load.
CHECKPOINT_PREFIXES = ("visual.", "model.visual.")


# ---------------------------------------------------------------------------------------------
# Activations: the entries of transformers.activations.ACT2FN that these towers use.
# ---------------------------------------------------------------------------------------------
class QuickGELUActivation(nn.Module):
    """transformers.activations.QuickGELUActivation: x * sigmoid(1.702 * x)."""

    def forward(self, input):
        return input * torch.sigmoid(1.702 * input)


class GELUTanh(nn.Module):
    """transformers.activations.PytorchGELUTanh ("gelu_pytorch_tanh")."""

    def forward(self, input):
        return F.gelu(input, approximate="tanh")


ACT2FN = {
    "quick_gelu": QuickGELUActivation,
    "gelu": nn.GELU,
    "gelu_pytorch_tanh": GELUTanh,
    "silu": nn.SiLU,
    "swish": nn.SiLU,
}


def make_activation(name):
    if name not in ACT2FN:
        raise ValueError(f"unsupported hidden_act '{name}' (known: {sorted(ACT2FN)})")
    return ACT2FN[name]()


# ---------------------------------------------------------------------------------------------
# Config: configuration_qwen2_vl.Qwen2VLVisionConfig (same field names and defaults).
# ---------------------------------------------------------------------------------------------
class Qwen2VLVisionConfig:
    def __init__(self, depth=32, embed_dim=1280, hidden_size=3584, hidden_act="quick_gelu", mlp_ratio=4,
                 num_heads=16, in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                 initializer_range=0.02, **kwargs):
        self.depth = depth
        self.embed_dim = embed_dim
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.mlp_ratio = mlp_ratio
        self.num_heads = num_heads
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.spatial_merge_size = spatial_merge_size
        self.temporal_patch_size = temporal_patch_size
        self.initializer_range = initializer_range
        self._attn_implementation = "eager"

    @classmethod
    def from_dict(cls, d):
        # The published config.json has "in_chans" (and "spatial_patch_size"), which transformers
        # ignores (in_channels keeps its default 3). We take in_chans only when in_channels is
        # absent, so a checkpoint that really has another channel count is not silently misread.
        d = dict(d)
        if "in_channels" not in d and "in_chans" in d:
            d["in_channels"] = d["in_chans"]
        return cls(**d)


# ---------------------------------------------------------------------------------------------
# modeling_qwen2_vl.py
# ---------------------------------------------------------------------------------------------
def rotate_half(x):
    """modeling_qwen2_vl.rotate_half: rotates half the hidden dims of the input."""
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb_vision(q, k, cos, sin):
    """modeling_qwen2_vl.apply_rotary_pos_emb_vision: the rotation is done in float32 whatever
    the activation dtype, then cast back."""
    orig_q_dtype = q.dtype
    orig_k_dtype = k.dtype
    q, k = q.float(), k.float()
    cos, sin = cos.unsqueeze(-2).float(), sin.unsqueeze(-2).float()
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    q_embed = q_embed.to(orig_q_dtype)
    k_embed = k_embed.to(orig_k_dtype)
    return q_embed, k_embed


class VisionRotaryEmbedding(nn.Module):
    """modeling_qwen2_vl.VisionRotaryEmbedding."""

    def __init__(self, dim, theta=10000.0):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, seqlen):
        seq = torch.arange(seqlen, device=self.inv_freq.device, dtype=self.inv_freq.dtype)
        freqs = torch.outer(seq, self.inv_freq)
        return freqs


class PatchEmbed(nn.Module):
    """modeling_qwen2_vl.PatchEmbed: a Conv3d whose stride equals its kernel, i.e. one matmul per
    patch; pixel values are cast to the weight dtype first."""

    def __init__(self, patch_size=14, temporal_patch_size=2, in_channels=3, embed_dim=1152):
        super().__init__()
        self.patch_size = patch_size
        self.temporal_patch_size = temporal_patch_size
        self.in_channels = in_channels
        self.embed_dim = embed_dim

        kernel_size = [temporal_patch_size, patch_size, patch_size]
        self.proj = nn.Conv3d(in_channels, embed_dim, kernel_size=kernel_size, stride=kernel_size, bias=False)

    def forward(self, hidden_states):
        target_dtype = self.proj.weight.dtype
        hidden_states = hidden_states.view(
            -1, self.in_channels, self.temporal_patch_size, self.patch_size, self.patch_size
        )
        hidden_states = self.proj(hidden_states.to(dtype=target_dtype)).view(-1, self.embed_dim)
        return hidden_states


class PatchMerger(nn.Module):
    """modeling_qwen2_vl.PatchMerger: LayerNorm per patch, then each 2x2 group of consecutive
    patches (rot_pos_emb's merge-block order) is concatenated and sent through Linear-GELU-Linear."""

    def __init__(self, dim, context_dim, spatial_merge_size=2):
        super().__init__()
        self.hidden_size = context_dim * (spatial_merge_size**2)
        self.ln_q = LayerNorm(context_dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(self.hidden_size, self.hidden_size),
            nn.GELU(),
            nn.Linear(self.hidden_size, dim),
        )

    def forward(self, x):
        x = self.mlp(self.ln_q(x).view(-1, self.hidden_size))
        return x


class VisionMlp(nn.Module):
    """modeling_qwen2_vl.VisionMlp: fc1 -> act (quick_gelu in the published config) -> fc2."""

    def __init__(self, dim, hidden_dim, hidden_act):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = make_activation(hidden_act)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """modeling_qwen2_vl.eager_attention_forward (num_key_value_groups is 1 in the vision tower,
    so repeat_kv is the identity). Scores in the activation dtype, softmax in float32 and cast
    back, as transformers does."""
    key_states = key
    value_states = value

    attn_weights = torch.matmul(query, key_states.transpose(2, 3)) * scaling
    if attention_mask is not None:
        causal_mask = attention_mask[:, :, :, : key_states.shape[-2]]
        attn_weights = attn_weights + causal_mask

    attn_weights = nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_output = torch.matmul(attn_weights, value_states)
    attn_output = attn_output.transpose(1, 2).contiguous()

    return attn_output, attn_weights


def varlen_attention(module, query_states, key_states, value_states, cu_seqlens, scaling):
    """The non-flash branch of modeling_qwen2_vl.VisionAttention.forward: the packed sequence
    [1, heads, seq, head_dim] is split at cu_seqlens and each segment attends only to itself
    (no mask needed). Shared with the Qwen2.5-VL tower, whose attention is the same code."""
    lengths = cu_seqlens[1:] - cu_seqlens[:-1]
    splits = [
        torch.split(tensor, lengths.tolist(), dim=2) for tensor in (query_states, key_states, value_states)
    ]

    attn_outputs = [
        eager_attention_forward(
            module,
            q,
            k,
            v,
            attention_mask=None,
            scaling=scaling,
            dropout=0.0,
            is_causal=False,
        )[0]
        for q, k, v in zip(*splits)
    ]
    return torch.cat(attn_outputs, dim=1)


class VisionAttention(nn.Module):
    """modeling_qwen2_vl.VisionAttention (dim = config.embed_dim). The Qwen2.5-VL attention is
    the same module built with dim = config.hidden_size."""

    def __init__(self, dim, num_heads):
        super().__init__()
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = self.dim // self.num_heads
        self.num_key_value_groups = 1  # needed for eager attention
        self.qkv = nn.Linear(self.dim, self.dim * 3, bias=True)
        self.proj = nn.Linear(self.dim, self.dim)
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = 0.0
        self.is_causal = False

    def forward(self, hidden_states, cu_seqlens, position_embeddings):
        seq_length = hidden_states.shape[0]
        query_states, key_states, value_states = (
            self.qkv(hidden_states).reshape(seq_length, 3, self.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        )
        cos, sin = position_embeddings
        query_states, key_states = apply_rotary_pos_emb_vision(query_states, key_states, cos, sin)

        query_states = query_states.transpose(0, 1).unsqueeze(0)
        key_states = key_states.transpose(0, 1).unsqueeze(0)
        value_states = value_states.transpose(0, 1).unsqueeze(0)

        attn_output = varlen_attention(self, query_states, key_states, value_states, cu_seqlens, self.scaling)

        attn_output = attn_output.reshape(seq_length, -1).contiguous()
        attn_output = self.proj(attn_output)
        return attn_output


class Qwen2VLVisionBlock(nn.Module):
    """modeling_qwen2_vl.Qwen2VLVisionBlock: pre-LayerNorm attention and MLP with residuals."""

    def __init__(self, config):
        super().__init__()
        self.norm1 = LayerNorm(config.embed_dim, eps=1e-6)
        self.norm2 = LayerNorm(config.embed_dim, eps=1e-6)
        mlp_hidden_dim = int(config.embed_dim * config.mlp_ratio)

        self.attn = VisionAttention(config.embed_dim, config.num_heads)
        self.mlp = VisionMlp(dim=config.embed_dim, hidden_dim=mlp_hidden_dim, hidden_act=config.hidden_act)

    def forward(self, hidden_states, cu_seqlens, position_embeddings):
        hidden_states = hidden_states + self.attn(
            self.norm1(hidden_states),
            cu_seqlens=cu_seqlens,
            position_embeddings=position_embeddings,
        )
        hidden_states = hidden_states + self.mlp(self.norm2(hidden_states))
        return hidden_states


def rot_pos_ids(grid_thw, spatial_merge_size):
    """The position-id half of modeling_qwen2_vl.Qwen2VisionTransformerPretrainedModel.rot_pos_emb:
    (h, w) of every patch, listed in merge-block order (each spatial_merge_size^2 block of
    neighbouring patches is contiguous), repeated for each of the t frames. [N_patches, 2]."""
    pos_ids = []
    for t, h, w in grid_thw:
        hpos_ids = torch.arange(h).unsqueeze(1).expand(-1, w)
        hpos_ids = hpos_ids.reshape(
            h // spatial_merge_size,
            spatial_merge_size,
            w // spatial_merge_size,
            spatial_merge_size,
        )
        hpos_ids = hpos_ids.permute(0, 2, 1, 3)
        hpos_ids = hpos_ids.flatten()

        wpos_ids = torch.arange(w).unsqueeze(0).expand(h, -1)
        wpos_ids = wpos_ids.reshape(
            h // spatial_merge_size,
            spatial_merge_size,
            w // spatial_merge_size,
            spatial_merge_size,
        )
        wpos_ids = wpos_ids.permute(0, 2, 1, 3)
        wpos_ids = wpos_ids.flatten()
        pos_ids.append(torch.stack([hpos_ids, wpos_ids], dim=-1).repeat(t, 1))
    return torch.cat(pos_ids, dim=0)


def check_grid(grid_thw, spatial_merge_size, num_patches):
    """Inputs transformers would accept silently but mis-handle (reshape errors deep inside)."""
    if grid_thw.dim() != 2 or grid_thw.shape[1] != 3:
        raise ValueError(f"image_grid_thw must be [n_images, 3], got {list(grid_thw.shape)}")
    for i, (t, h, w) in enumerate(grid_thw.tolist()):
        if t < 1 or h < 1 or w < 1 or h % spatial_merge_size or w % spatial_merge_size:
            raise ValueError(f"image {i}: grid ({t}, {h}, {w}) is not a positive multiple of the merge size "
                             f"{spatial_merge_size}")
    total = int((grid_thw[:, 0] * grid_thw[:, 1] * grid_thw[:, 2]).sum())
    if total != num_patches:
        raise ValueError(f"image_grid_thw covers {total} patches but pixel_values has {num_patches} rows")


class Qwen2VisionTransformerPretrainedModel(nn.Module):
    """modeling_qwen2_vl.Qwen2VisionTransformerPretrainedModel."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.spatial_merge_size = config.spatial_merge_size

        self.patch_embed = PatchEmbed(
            patch_size=config.patch_size,
            temporal_patch_size=config.temporal_patch_size,
            in_channels=config.in_channels,
            embed_dim=config.embed_dim,
        )

        head_dim = config.embed_dim // config.num_heads
        self.rotary_pos_emb = VisionRotaryEmbedding(head_dim // 2)

        self.blocks = nn.ModuleList([Qwen2VLVisionBlock(config) for _ in range(config.depth)])
        self.merger = PatchMerger(
            dim=config.hidden_size, context_dim=config.embed_dim, spatial_merge_size=config.spatial_merge_size
        )

    def rot_pos_emb(self, grid_thw):
        """Qwen2VisionTransformerPretrainedModel.rot_pos_emb: [N_patches, head_dim/2] angles, the
        first half from the row id, the second from the column id."""
        pos_ids = rot_pos_ids(grid_thw, self.spatial_merge_size)
        max_grid_size = grid_thw[:, 1:].max()
        rotary_pos_emb_full = self.rotary_pos_emb(max_grid_size)
        rotary_pos_emb = rotary_pos_emb_full[pos_ids].flatten(1)
        return rotary_pos_emb

    def forward(self, hidden_states, grid_thw):
        check_grid(grid_thw, self.spatial_merge_size, hidden_states.shape[0])
        hidden_states = self.patch_embed(hidden_states)
        rotary_pos_emb = self.rot_pos_emb(grid_thw)
        emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
        position_embeddings = (emb.cos(), emb.sin())

        # One attention segment per frame (t copies of h*w), as transformers builds it.
        cu_seqlens = torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]).cumsum(
            dim=0, dtype=torch.int32
        )
        cu_seqlens = F.pad(cu_seqlens, (1, 0), value=0)

        for blk in self.blocks:
            hidden_states = blk(
                hidden_states,
                cu_seqlens=cu_seqlens,
                position_embeddings=position_embeddings,
            )

        return self.merger(hidden_states)


# ---------------------------------------------------------------------------------------------
# Loading (shared with qwen2_5_vl_vision).
# ---------------------------------------------------------------------------------------------
COMPUTE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as fh:
        config = json.load(fh)
    if "vision_config" not in config:
        raise ValueError(f"{model_dir}/config.json has no 'vision_config'")
    return config


def vision_state_dict(model_dir):
    """The vision tensors of a checkpoint folder, with the `visual.` (or `model.visual.`)
    prefix stripped, as stored (dtype unchanged)."""
    for prefix in CHECKPOINT_PREFIXES:
        tensors = load_checkpoint(model_dir, prefix=prefix)
        if tensors:
            return {name[len(prefix):]: t for name, t in tensors.items()}
    raise ValueError(f"{model_dir}: no tensor named {CHECKPOINT_PREFIXES[0]}* or {CHECKPOINT_PREFIXES[1]}*")


@contextlib.contextmanager
def skip_random_init():
    """Builds modules without their random initialisation (seconds for the real 7B towers):
    every parameter is overwritten by load_weights, which checks that none is missing."""
    classes = (nn.Linear, nn.Conv3d, nn.LayerNorm)
    saved = [(cls, cls.__dict__.get("reset_parameters")) for cls in classes]
    for cls in classes:
        cls.reset_parameters = lambda self: None
    try:
        yield
    finally:
        for cls, original in saved:
            if original is None:
                del cls.reset_parameters
            else:
                cls.reset_parameters = original


def load_weights(model, state, compute_dtype, prefix="visual."):
    """Loads `state` into `model` with strict name and shape checks, converting each weight to
    `compute_dtype` (the upcast of bf16 weights to float32, or the cast to bf16 that
    from_pretrained(torch_dtype=bfloat16) does). Buffers (inv_freq) are left in float32."""
    expected = dict(model.named_parameters())
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if missing:
        problems.append("missing tensors: " + ", ".join(prefix + n for n in missing))
    if unexpected:
        problems.append("unexpected tensors: " + ", ".join(prefix + n for n in unexpected))
    for name in sorted(set(expected) & set(state)):
        if tuple(state[name].shape) != tuple(expected[name].shape):
            problems.append(f"tensor {prefix}{name} has shape {list(state[name].shape)}, "
                            f"expected {list(expected[name].shape)}")
        elif not state[name].is_floating_point():
            problems.append(f"tensor {prefix}{name} has non-float dtype {state[name].dtype}")
    if problems:
        raise ValueError("; ".join(problems))
    with torch.no_grad():
        for name, param in expected.items():
            param.data = state[name].to(compute_dtype, copy=True)
    return model


def load_vision_model(model_dir, compute_dtype="float32"):
    """Builds the Qwen2-VL vision tower of `model_dir` and loads its weights for `compute_dtype`
    ("float32" or "bfloat16"). Returns the module in eval mode."""
    config = read_config(model_dir)
    if config.get("model_type") != "qwen2_vl":
        raise ValueError(f"{model_dir}: model_type is {config.get('model_type')!r}, expected 'qwen2_vl'")
    with skip_random_init():
        model = Qwen2VisionTransformerPretrainedModel(Qwen2VLVisionConfig.from_dict(config["vision_config"]))
    load_weights(model, vision_state_dict(model_dir), COMPUTE_DTYPES[compute_dtype])
    return model.eval()
