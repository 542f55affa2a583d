"""PyTorch re-statement of transformers' Qwen2.5-VL vision tower (eager attention path).

Restates, line by line, `Qwen2_5_VisionTransformerPretrainedModel` and its parts from
transformers/src/transformers/models/qwen2_5_vl/modeling_qwen2_5_vl.py (the version read for
this file: commit 00b676f8 of huggingface/transformers). The pieces that file shares verbatim
with Qwen2-VL (rotate_half, apply_rotary_pos_emb_vision, the rotary embedding, the patch embed,
eager_attention_forward and the attention module itself) are imported from qwen2_vl_vision.

What Qwen2.5-VL changes (and this file restates):
  - Qwen2RMSNorm for norm1/norm2 and the merger's ln_q (weight only, no bias);
  - a gated SiLU MLP with biases (gate_proj, up_proj, down_proj);
  - window attention: get_window_index regroups the patches window by window (windows of
    window_size pixels = window_size/patch_size/merge merged tokens a side, padded at the
    right/bottom edge, so edge windows are smaller), blocks not in fullatt_block_indexes attend
    within a window (cu_window_seqlens, with empty windows removed by unique_consecutive), the
    others within a whole frame (cu_seqlens);
  - the merger output is put back in image order with argsort(window_index).
Compute modes and dtype handling are those described in qwen2_vl_vision.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from qwen2_vl_vision import (
    COMPUTE_DTYPES,
    PatchEmbed,
    VisionAttention,
    VisionRotaryEmbedding,
    check_grid,
    load_weights,
    make_activation,
    read_config,
    rot_pos_ids,
    skip_random_init,
    vision_state_dict,
)


class Qwen2_5_VLVisionConfig:
    """configuration_qwen2_5_vl.Qwen2_5_VLVisionConfig (same field names and defaults)."""

    def __init__(self, depth=32, hidden_size=3584, hidden_act="silu", intermediate_size=3420, num_heads=16,
                 in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=4,
                 window_size=112, out_hidden_size=3584, fullatt_block_indexes=(7, 15, 23, 31),
                 initializer_range=0.02, **kwargs):
        self.depth = depth
        self.hidden_size = hidden_size
        self.hidden_act = hidden_act
        self.intermediate_size = intermediate_size
        self.num_heads = num_heads
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.spatial_merge_size = spatial_merge_size
        self.temporal_patch_size = temporal_patch_size
        self.tokens_per_second = tokens_per_second
        self.window_size = window_size
        self.fullatt_block_indexes = list(fullatt_block_indexes)
        self.out_hidden_size = out_hidden_size
        self.initializer_range = initializer_range
        self._attn_implementation = "eager"

    @classmethod
    def from_dict(cls, d):
        # See Qwen2VLVisionConfig.from_dict about "in_chans".
        d = dict(d)
        if "in_channels" not in d and "in_chans" in d:
            d["in_channels"] = d["in_chans"]
        return cls(**d)


class Qwen2RMSNorm(nn.Module):
    """modeling_qwen2_5_vl.Qwen2RMSNorm: normalised in float32, cast back to the input dtype,
    then scaled by the weight (in the weight's dtype)."""

    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


class Qwen2_5_VLMLP(nn.Module):
    """modeling_qwen2_5_vl.Qwen2_5_VLMLP (bias=True in the vision blocks):
    down(act(gate(x)) * up(x))."""

    def __init__(self, config, bias=False):
        super().__init__()
        self.hidden_size = config.hidden_size
        self.intermediate_size = config.intermediate_size
        self.gate_proj = nn.Linear(self.hidden_size, self.intermediate_size, bias=bias)
        self.up_proj = nn.Linear(self.hidden_size, self.intermediate_size, bias=bias)
        self.down_proj = nn.Linear(self.intermediate_size, self.hidden_size, bias=bias)
        self.act_fn = make_activation(config.hidden_act)

    def forward(self, hidden_state):
        return self.down_proj(self.act_fn(self.gate_proj(hidden_state)) * self.up_proj(hidden_state))


class Qwen2_5_VLPatchMerger(nn.Module):
    """modeling_qwen2_5_vl.Qwen2_5_VLPatchMerger: as Qwen2-VL's PatchMerger with RMSNorm."""

    def __init__(self, dim, context_dim, spatial_merge_size=2):
        super().__init__()
        self.hidden_size = context_dim * (spatial_merge_size**2)
        self.ln_q = Qwen2RMSNorm(context_dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(self.hidden_size, self.hidden_size),
            nn.GELU(),
            nn.Linear(self.hidden_size, dim),
        )

    def forward(self, x):
        x = self.mlp(self.ln_q(x).view(-1, self.hidden_size))
        return x


class Qwen2_5_VLVisionBlock(nn.Module):
    """modeling_qwen2_5_vl.Qwen2_5_VLVisionBlock: pre-RMSNorm attention and gated MLP."""

    def __init__(self, config):
        super().__init__()
        self.norm1 = Qwen2RMSNorm(config.hidden_size, eps=1e-6)
        self.norm2 = Qwen2RMSNorm(config.hidden_size, eps=1e-6)
        # Qwen2_5_VLVisionAttention: VisionAttention with dim = config.hidden_size.
        self.attn = VisionAttention(config.hidden_size, config.num_heads)
        self.mlp = Qwen2_5_VLMLP(config, bias=True)

    def forward(self, hidden_states, cu_seqlens, position_embeddings):
        hidden_states = hidden_states + self.attn(
            self.norm1(hidden_states),
            cu_seqlens=cu_seqlens,
            position_embeddings=position_embeddings,
        )
        hidden_states = hidden_states + self.mlp(self.norm2(hidden_states))
        return hidden_states


class Qwen2_5_VisionTransformerPretrainedModel(nn.Module):
    """modeling_qwen2_5_vl.Qwen2_5_VisionTransformerPretrainedModel."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.spatial_merge_size = config.spatial_merge_size
        self.patch_size = config.patch_size
        self.fullatt_block_indexes = config.fullatt_block_indexes
        self.window_size = config.window_size
        self.spatial_merge_unit = self.spatial_merge_size * self.spatial_merge_size

        self.patch_embed = PatchEmbed(
            patch_size=config.patch_size,
            temporal_patch_size=config.temporal_patch_size,
            in_channels=config.in_channels,
            embed_dim=config.hidden_size,
        )

        head_dim = config.hidden_size // config.num_heads
        self.rotary_pos_emb = VisionRotaryEmbedding(head_dim // 2)

        self.blocks = nn.ModuleList([Qwen2_5_VLVisionBlock(config) for _ in range(config.depth)])
        self.merger = Qwen2_5_VLPatchMerger(
            dim=config.out_hidden_size,
            context_dim=config.hidden_size,
            spatial_merge_size=config.spatial_merge_size,
        )

    def rot_pos_emb(self, grid_thw):
        """Qwen2_5_VisionTransformerPretrainedModel.rot_pos_emb (identical to Qwen2-VL's)."""
        pos_ids = rot_pos_ids(grid_thw, self.spatial_merge_size)
        max_grid_size = grid_thw[:, 1:].max()
        rotary_pos_emb_full = self.rotary_pos_emb(max_grid_size)
        rotary_pos_emb = rotary_pos_emb_full[pos_ids].flatten(1)
        return rotary_pos_emb

    def get_window_index(self, grid_thw):
        """Qwen2_5_VisionTransformerPretrainedModel.get_window_index.

        Returns (window_index, cu_window_seqlens): window_index lists the merged tokens (groups of
        spatial_merge_unit patches) of every image window by window, row-major inside a window;
        cu_window_seqlens are the patch offsets where windows end. The padding is always
        `size - n % size`, so a grid that divides evenly gets a row/column of empty windows whose
        repeated offsets the caller removes with unique_consecutive."""
        window_index = []
        cu_window_seqlens = [0]
        window_index_id = 0
        vit_merger_window_size = self.window_size // self.spatial_merge_size // self.patch_size

        for grid_t, grid_h, grid_w in grid_thw:
            llm_grid_h, llm_grid_w = (
                grid_h // self.spatial_merge_size,
                grid_w // self.spatial_merge_size,
            )
            index = torch.arange(grid_t * llm_grid_h * llm_grid_w).reshape(grid_t, llm_grid_h, llm_grid_w)
            pad_h = vit_merger_window_size - llm_grid_h % vit_merger_window_size
            pad_w = vit_merger_window_size - llm_grid_w % vit_merger_window_size
            num_windows_h = (llm_grid_h + pad_h) // vit_merger_window_size
            num_windows_w = (llm_grid_w + pad_w) // vit_merger_window_size
            index_padded = F.pad(index, (0, pad_w, 0, pad_h), "constant", -100)
            index_padded = index_padded.reshape(
                grid_t,
                num_windows_h,
                vit_merger_window_size,
                num_windows_w,
                vit_merger_window_size,
            )
            index_padded = index_padded.permute(0, 1, 3, 2, 4).reshape(
                grid_t,
                num_windows_h * num_windows_w,
                vit_merger_window_size,
                vit_merger_window_size,
            )
            seqlens = (index_padded != -100).sum([2, 3]).reshape(-1)
            index_padded = index_padded.reshape(-1)
            index_new = index_padded[index_padded != -100]
            window_index.append(index_new + window_index_id)
            cu_seqlens_tmp = seqlens.cumsum(0) * self.spatial_merge_unit + cu_window_seqlens[-1]
            cu_window_seqlens.extend(cu_seqlens_tmp.tolist())
            window_index_id += (grid_t * llm_grid_h * llm_grid_w).item()
        window_index = torch.cat(window_index, dim=0)

        return window_index, cu_window_seqlens

    def forward(self, hidden_states, grid_thw):
        check_grid(grid_thw, self.spatial_merge_size, hidden_states.shape[0])
        hidden_states = self.patch_embed(hidden_states)
        rotary_pos_emb = self.rot_pos_emb(grid_thw)
        window_index, cu_window_seqlens = self.get_window_index(grid_thw)
        cu_window_seqlens = torch.tensor(
            cu_window_seqlens,
            device=hidden_states.device,
            dtype=torch.int32,
        )
        cu_window_seqlens = torch.unique_consecutive(cu_window_seqlens)

        # Reorder patches (in merge-unit groups) and their rotary angles window by window.
        seq_len, _ = hidden_states.size()
        hidden_states = hidden_states.reshape(seq_len // self.spatial_merge_unit, self.spatial_merge_unit, -1)
        hidden_states = hidden_states[window_index, :, :]
        hidden_states = hidden_states.reshape(seq_len, -1)
        rotary_pos_emb = rotary_pos_emb.reshape(seq_len // self.spatial_merge_unit, self.spatial_merge_unit, -1)
        rotary_pos_emb = rotary_pos_emb[window_index, :, :]
        rotary_pos_emb = rotary_pos_emb.reshape(seq_len, -1)
        emb = torch.cat((rotary_pos_emb, rotary_pos_emb), dim=-1)
        position_embeddings = (emb.cos(), emb.sin())

        # Full-attention segments: one per frame. Window order keeps every frame's patches
        # inside the frame's span, so the same offsets hold after the reordering.
        cu_seqlens = torch.repeat_interleave(grid_thw[:, 1] * grid_thw[:, 2], grid_thw[:, 0]).cumsum(
            dim=0, dtype=torch.int32
        )
        cu_seqlens = F.pad(cu_seqlens, (1, 0), value=0)

        for layer_num, blk in enumerate(self.blocks):
            if layer_num in self.fullatt_block_indexes:
                cu_seqlens_now = cu_seqlens
            else:
                cu_seqlens_now = cu_window_seqlens

            hidden_states = blk(
                hidden_states,
                cu_seqlens=cu_seqlens_now,
                position_embeddings=position_embeddings,
            )

        hidden_states = self.merger(hidden_states)
        reverse_indices = torch.argsort(window_index)
        hidden_states = hidden_states[reverse_indices, :]

        return hidden_states


def load_vision_model(model_dir, compute_dtype="float32"):
    """Builds the Qwen2.5-VL vision tower of `model_dir` and loads its weights for
    `compute_dtype` ("float32" or "bfloat16"). Returns the module in eval mode."""
    config = read_config(model_dir)
    if config.get("model_type") != "qwen2_5_vl":
        raise ValueError(f"{model_dir}: model_type is {config.get('model_type')!r}, expected 'qwen2_5_vl'")
    with skip_random_init():
        model = Qwen2_5_VisionTransformerPretrainedModel(Qwen2_5_VLVisionConfig.from_dict(config["vision_config"]))
    load_weights(model, vision_state_dict(model_dir), COMPUTE_DTYPES[compute_dtype])
    return model.eval()
