#!/usr/bin/python3
"""Self-tests of the reference tools (plain asserts; run: /usr/bin/python3 tools/reference/test_reference.py).

The re-statements are checked against `plain_forward`, an independent, deliberately naive
formulation of the same towers written from the architecture description rather than from
transformers' code: patches stay in processor order, positions come from decomposing each
patch's index, the rotation is written per pair, and window / per-frame attention is a boolean
mask over the whole sequence instead of a reordering plus split. Agreement checks the window
index, the reordering and its inverse, cu_seqlens and the merge-block order at once.
"""

import json
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import make_encoder_goldens  # noqa: E402
import qwen2_5_vl_vision as q25  # noqa: E402
import qwen2_vl_vision as q2  # noqa: E402
import vision_reference as ref  # noqa: E402
from safetensors_io import (  # noqa: E402
    SafetensorsError,
    load_checkpoint,
    read_safetensors,
    write_safetensors,
    write_sharded_checkpoint,
)

QWEN2_VL_TINY = {
    "depth": 2, "embed_dim": 32, "hidden_size": 48, "mlp_ratio": 2, "num_heads": 4, "in_chans": 3,
    "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2,
}
QWEN2_5_VL_TINY = {
    "depth": 3, "hidden_act": "silu", "hidden_size": 32, "intermediate_size": 40, "num_heads": 4, "in_chans": 3,
    "out_hidden_size": 48, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
    "window_size": 56, "fullatt_block_indexes": [1], "tokens_per_second": 2, "temporal_patch_size": 2,
}


def rel_err(a, b):
    return (a.double() - b.double()).norm().item() / b.double().norm().item()


# ---------------------------------------------------------------------------------------------
# Tiny checkpoints with the published tensor names (written to temporary folders only).
# ---------------------------------------------------------------------------------------------
def tiny_vision_tensors(model_type, vc, seed):
    """Random weights under the published `visual.` names and shapes."""
    gen = torch.Generator().manual_seed(seed)

    def w(*shape):
        return torch.randn(*shape, generator=gen) / math.sqrt(shape[-1] if len(shape) > 1 else 1)

    def b(n):
        return 0.1 * torch.randn(n, generator=gen)

    def g(n):
        return 1.0 + 0.1 * torch.randn(n, generator=gen)

    t = {}
    merge2 = vc["spatial_merge_size"] ** 2
    if model_type == "qwen2_vl":
        e, out, mlp = vc["embed_dim"], vc["hidden_size"], vc["embed_dim"] * vc["mlp_ratio"]
    else:
        e, out, mlp = vc["hidden_size"], vc["out_hidden_size"], vc["intermediate_size"]
    p, tp = vc["patch_size"], vc["temporal_patch_size"]
    t["visual.patch_embed.proj.weight"] = torch.randn(e, 3, tp, p, p, generator=gen) / math.sqrt(3 * tp * p * p)
    for i in range(vc["depth"]):
        pre = f"visual.blocks.{i}."
        t[pre + "norm1.weight"], t[pre + "norm2.weight"] = g(e), g(e)
        if model_type == "qwen2_vl":
            t[pre + "norm1.bias"], t[pre + "norm2.bias"] = b(e), b(e)
        t[pre + "attn.qkv.weight"], t[pre + "attn.qkv.bias"] = w(3 * e, e), b(3 * e)
        t[pre + "attn.proj.weight"], t[pre + "attn.proj.bias"] = w(e, e), b(e)
        if model_type == "qwen2_vl":
            t[pre + "mlp.fc1.weight"], t[pre + "mlp.fc1.bias"] = w(mlp, e), b(mlp)
            t[pre + "mlp.fc2.weight"], t[pre + "mlp.fc2.bias"] = w(e, mlp), b(e)
        else:
            for name in ("gate_proj", "up_proj"):
                t[pre + f"mlp.{name}.weight"], t[pre + f"mlp.{name}.bias"] = w(mlp, e), b(mlp)
            t[pre + "mlp.down_proj.weight"], t[pre + "mlp.down_proj.bias"] = w(e, mlp), b(e)
    t["visual.merger.ln_q.weight"] = g(e)
    if model_type == "qwen2_vl":
        t["visual.merger.ln_q.bias"] = b(e)
    t["visual.merger.mlp.0.weight"], t["visual.merger.mlp.0.bias"] = w(e * merge2, e * merge2), b(e * merge2)
    t["visual.merger.mlp.2.weight"], t["visual.merger.mlp.2.bias"] = w(out, e * merge2), b(out)
    return t


def write_tiny_checkpoint(folder, model_type, vc, seed=0, dtype=torch.float32, sharded=False, prefix="visual."):
    os.makedirs(folder, exist_ok=True)
    tensors = {prefix + k[len("visual."):]: v.to(dtype) for k, v in tiny_vision_tensors(model_type, vc, seed).items()}
    # A language-model tensor the vision loader must skip.
    tensors["model.embed_tokens.weight"] = torch.zeros(8, 4, dtype=dtype)
    with open(os.path.join(folder, "config.json"), "w") as fh:
        json.dump({"model_type": model_type, "vision_config": vc, "torch_dtype": str(dtype).split(".")[-1]}, fh)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as fh:
        json.dump({"patch_size": vc["patch_size"], "merge_size": vc["spatial_merge_size"],
                   "temporal_patch_size": vc["temporal_patch_size"]}, fh)
    if sharded:
        write_sharded_checkpoint(folder, tensors, max_shard_bytes=20000)
    else:
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})
    return folder


# ---------------------------------------------------------------------------------------------
# The independent formulation.
# ---------------------------------------------------------------------------------------------
def patch_layout(grids, merge, vws=None):
    """Per patch, in processor order: (segment id, window id, row, col). Patch k of a frame with
    an h x w grid is ((block_row * (w/m) + block_col) * m + in_row) * m + in_col."""
    seg, win, rows, cols = [], [], [], []
    seg_id = 0
    for t, h, w in grids:
        for _ in range(t):
            for k in range(h * w):
                in_col, k = k % merge, k // merge
                in_row, k = k % merge, k // merge
                block_col, block_row = k % (w // merge), k // (w // merge)
                r, c = block_row * merge + in_row, block_col * merge + in_col
                seg.append(seg_id)
                rows.append(r)
                cols.append(c)
                win.append((seg_id, block_row // vws, block_col // vws) if vws else (seg_id,))
            seg_id += 1
    return seg, win, torch.tensor(rows), torch.tensor(cols)


def plain_forward(model_type, vc, tensors, pixel_values, grids):
    W = {k[len("visual."):]: v.double() for k, v in tensors.items() if k.startswith("visual.")}
    x = pixel_values.double()
    merge = vc["spatial_merge_size"]
    if model_type == "qwen2_vl":
        e, heads, fullatt, vws = vc["embed_dim"], vc["num_heads"], None, None
    else:
        e, heads = vc["hidden_size"], vc["num_heads"]
        fullatt = set(vc["fullatt_block_indexes"])
        vws = vc["window_size"] // merge // vc["patch_size"]
    hd = e // heads
    seg, win, rows, cols = patch_layout(grids, merge, vws)
    seg = torch.tensor(seg)
    frame_mask = seg[:, None] == seg[None, :]
    win_ids = {w_: i for i, w_ in enumerate(sorted(set(win)))}
    win_t = torch.tensor([win_ids[w_] for w_ in win])
    window_mask = win_t[:, None] == win_t[None, :]

    x = x @ W["patch_embed.proj.weight"].reshape(e, -1).T
    # Angles: rotary dim head_dim/2 split into a row half and a column half.
    quarter = hd // 4
    inv_freq = torch.tensor([1.0 / 10000 ** (2 * j / (hd // 2)) for j in range(quarter)], dtype=torch.float64)
    angles = torch.cat([rows[:, None] * inv_freq[None], cols[:, None] * inv_freq[None]], dim=1)  # [S, hd/2]
    cos, sin = angles.cos()[:, None, :], angles.sin()[:, None, :]

    def rotate(v):  # v [S, heads, hd]: pair (j, j + hd/2) rotated by angle j
        a, b_ = v[..., : hd // 2], v[..., hd // 2:]
        return torch.cat([a * cos - b_ * sin, b_ * cos + a * sin], dim=-1)

    def norm(v, name):
        if model_type == "qwen2_vl":
            return F.layer_norm(v, (v.shape[-1],), W[name + ".weight"], W[name + ".bias"], eps=1e-6)
        return W[name + ".weight"] * v / torch.sqrt((v * v).mean(-1, keepdim=True) + 1e-6)

    def lin(v, name):
        return v @ W[name + ".weight"].T + W[name + ".bias"]

    for i in range(vc["depth"]):
        pre = f"blocks.{i}."
        hn = norm(x, pre + "norm1")
        q, k, v = lin(hn, pre + "attn.qkv").reshape(-1, 3, heads, hd).unbind(1)
        q, k = rotate(q), rotate(k)
        mask = frame_mask if (fullatt is None or i in fullatt) else window_mask
        scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(hd)
        scores = scores.masked_fill(~mask[None], float("-inf"))
        attn = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).reshape(-1, e)
        x = x + lin(attn, pre + "attn.proj")
        hn = norm(x, pre + "norm2")
        if model_type == "qwen2_vl":
            h1 = lin(hn, pre + "mlp.fc1")
            x = x + lin(h1 * torch.sigmoid(1.702 * h1), pre + "mlp.fc2")
        else:
            x = x + lin(F.silu(lin(hn, pre + "mlp.gate_proj")) * lin(hn, pre + "mlp.up_proj"), pre + "mlp.down_proj")
    x = norm(x, "merger.ln_q").reshape(-1, e * merge * merge)
    return lin(F.gelu(lin(x, "merger.mlp.0")), "merger.mlp.2")


# ---------------------------------------------------------------------------------------------
# Tests.
# ---------------------------------------------------------------------------------------------
def test_safetensors_roundtrip(tmp):
    tensors = {
        "f32": torch.randn(3, 5), "bf16": torch.randn(4, 2).bfloat16(), "f16": torch.randn(7).half(),
        "i64": torch.arange(-3, 3), "i32": torch.arange(4, dtype=torch.int32),
        "u8": torch.arange(250, 256, dtype=torch.uint8), "bool": torch.tensor([True, False, True]),
        "strided": torch.randn(3, 4).t(), "empty": torch.zeros(0, 3), "scalar": torch.tensor(2.5),
    }
    path = os.path.join(tmp, "rt.safetensors")
    write_safetensors(path, tensors, {"k": "v"})
    back, meta = read_safetensors(path)
    assert meta == {"k": "v"}, meta
    assert set(back) == set(tensors)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape, name
        assert torch.equal(back[name], t), name
    raw = open(path, "rb").read()
    header_len = int.from_bytes(raw[:8], "little")
    assert header_len % 8 == 0, header_len  # padded so every tensor is aligned
    # bf16 bits survive exactly (not a float round-trip).
    assert torch.equal(back["bf16"].view(torch.int16), tensors["bf16"].view(torch.int16))

    # Corrupt files fail with a message naming the problem.
    bad = os.path.join(tmp, "bad.safetensors")
    with open(bad, "wb") as fh:
        fh.write(raw[:-1])
    try:
        read_safetensors(bad)
        raise AssertionError("truncated file accepted")
    except SafetensorsError as e:
        assert "outside the data" in str(e), e

    # Sharded folder with index; prefix filtering.
    folder = os.path.join(tmp, "sharded")
    big = {f"visual.t{i}": torch.full((100,), float(i)) for i in range(10)}
    big["model.lm"] = torch.ones(3)
    write_sharded_checkpoint(folder, big, max_shard_bytes=1000)
    index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
    assert len(set(index["weight_map"].values())) > 1, "expected several shards"
    loaded = load_checkpoint(folder, prefix="visual.")
    assert set(loaded) == {k for k in big if k.startswith("visual.")}
    for k, v in loaded.items():
        assert torch.equal(v, big[k]), k


def test_rot_pos_ids_merge_block_order():
    # A 2x4 patch grid: the 2x2 blocks (cols 0-1, then cols 2-3), each listed row by row.
    ids = q2.rot_pos_ids(torch.tensor([[1, 2, 4]]), 2).tolist()
    assert ids == [[0, 0], [0, 1], [1, 0], [1, 1], [0, 2], [0, 3], [1, 2], [1, 3]], ids
    # Two frames repeat the positions; a second image restarts them.
    ids = q2.rot_pos_ids(torch.tensor([[2, 2, 2], [1, 2, 2]]), 2).tolist()
    assert ids == [[0, 0], [0, 1], [1, 0], [1, 1]] * 3, ids
    # The angles: first half from the row, second half from the column.
    model = q2.Qwen2VisionTransformerPretrainedModel(q2.Qwen2VLVisionConfig.from_dict(QWEN2_VL_TINY))
    emb = model.rot_pos_emb(torch.tensor([[1, 2, 4]]))
    inv = model.rotary_pos_emb.inv_freq
    assert emb.shape == (8, 4) and inv.dtype == torch.float32
    assert torch.allclose(emb[5], torch.cat([0 * inv, 3 * inv]))  # patch 5 is (row 0, col 3)
    assert torch.allclose(emb[6], torch.cat([1 * inv, 2 * inv]))


def test_window_index():
    model = q25.Qwen2_5_VisionTransformerPretrainedModel(q25.Qwen2_5_VLVisionConfig.from_dict(QWEN2_5_VL_TINY))
    # window_size 56 / merge 2 / patch 14 = windows of 2x2 merged tokens. Grid 10x6 patches =
    # 5x3 merged tokens: window rows of 2,2,1 tokens, columns of 2,1 -> 4,2,4,2,2,1 tokens.
    index, cu = model.get_window_index(torch.tensor([[1, 10, 6]]))
    assert cu == [0, 16, 24, 40, 48, 56, 60], cu
    assert index.tolist() == [0, 1, 3, 4, 2, 5, 6, 7, 9, 10, 8, 11, 12, 13, 14], index.tolist()
    # A grid that divides evenly gets empty padding windows: repeated offsets, which the forward
    # removes with unique_consecutive. Second image offsets continue from the first.
    index, cu = model.get_window_index(torch.tensor([[1, 4, 4], [1, 2, 2]]))
    assert cu == [0, 16, 16, 16, 16, 20], cu
    assert torch.unique_consecutive(torch.tensor(cu)).tolist() == [0, 16, 20]
    assert index.tolist() == [0, 1, 2, 3, 4], index.tolist()


def check_against_plain(tmp, model_type, vc, grids, seed, tol=1e-5):
    folder = write_tiny_checkpoint(os.path.join(tmp, f"{model_type}_{seed}"), model_type, vc, seed=seed)
    model = ref.load_model(folder, "float32")
    pixel_values, grid_thw = ref.random_inputs(model.config, grids, seed)
    out = ref.encode(model, pixel_values, grid_thw)
    expect = plain_forward(model_type, vc, load_checkpoint(folder), pixel_values, grids)
    err = rel_err(out, expect)
    assert out.shape == expect.shape, (out.shape, expect.shape)
    assert err < tol, f"{model_type} {grids}: rel err {err:.2e} vs plain formulation"
    return model, pixel_values, grid_thw, out


def test_qwen2_vl_matches_plain(tmp):
    # A batch with a 2-frame item: attention must stay within each frame.
    check_against_plain(tmp, "qwen2_vl", QWEN2_VL_TINY, [(1, 2, 2), (1, 4, 6), (2, 4, 4)], seed=1)


def test_qwen2_5_vl_windows_match_plain(tmp):
    # Uneven windows (10x6), an even grid (4x4: empty padding windows), a 2-frame item.
    check_against_plain(tmp, "qwen2_5_vl", QWEN2_5_VL_TINY, [(1, 10, 6), (1, 4, 4), (2, 2, 6)], seed=2)


def test_qwen2_5_vl_full_attention_case(tmp):
    # Every block full-attention and windows larger than any image: the window machinery must
    # reduce to plain per-frame attention (and window_index to the identity).
    vc = dict(QWEN2_5_VL_TINY, fullatt_block_indexes=[0, 1, 2], window_size=14 * 2 * 64)
    model, *_ = check_against_plain(tmp, "qwen2_5_vl", vc, [(1, 10, 6), (1, 6, 8)], seed=3)
    index, _ = model.get_window_index(torch.tensor([[1, 10, 6]]))
    assert index.tolist() == list(range(15))
    # And with all-window blocks and huge windows: same result as all-full.
    vc_win = dict(vc, fullatt_block_indexes=[])
    check_against_plain(tmp, "qwen2_5_vl", vc_win, [(1, 10, 6), (1, 6, 8)], seed=3)


def test_batch_equals_single_images(tmp):
    for model_type, vc in (("qwen2_vl", QWEN2_VL_TINY), ("qwen2_5_vl", QWEN2_5_VL_TINY)):
        folder = write_tiny_checkpoint(os.path.join(tmp, f"batch_{model_type}"), model_type, vc, seed=4)
        model = ref.load_model(folder, "float32")
        grids = [(1, 2, 2), (1, 10, 6), (1, 6, 4)]
        pixel_values, grid_thw = ref.random_inputs(model.config, grids, 4)
        batched = ref.encode(model, pixel_values, grid_thw)
        row, tok = 0, 0
        for t, h, w in grids:
            n = t * h * w
            alone = ref.encode(model, pixel_values[row:row + n], torch.tensor([[t, h, w]]))
            part = batched[tok:tok + n // 4]
            assert part.shape == alone.shape
            err = rel_err(part, alone)
            assert err < 1e-5, f"{model_type} image {(t, h, w)}: batched vs alone rel err {err:.2e}"
            row, tok = row + n, tok + n // 4
        assert tok == batched.shape[0]


def test_loader_checks(tmp):
    vc = QWEN2_5_VL_TINY
    # Sharded bf16 checkpoint under the `model.visual.` prefix of recent transformers.
    folder = write_tiny_checkpoint(os.path.join(tmp, "mv"), "qwen2_5_vl", vc, seed=5, dtype=torch.bfloat16,
                                   sharded=True, prefix="model.visual.")
    assert os.path.exists(os.path.join(folder, "model-00001-of-00002.safetensors")) or \
        len([f for f in os.listdir(folder) if f.startswith("model-")]) > 1
    model = ref.load_model(folder, "float32")
    assert model.blocks[0].attn.qkv.weight.dtype == torch.float32
    # The upcast is exact: the f32 weights hold the bf16 values.
    state = load_checkpoint(folder, prefix="model.visual.")
    assert torch.equal(model.blocks[0].attn.qkv.weight, state["model.visual.blocks.0.attn.qkv.weight"].float())
    model16 = ref.load_model(folder, "bfloat16")
    assert model16.blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert model16.rotary_pos_emb.inv_freq.dtype == torch.float32

    def expect_error(tensors, needle):
        broken = os.path.join(tmp, "broken")
        os.makedirs(broken, exist_ok=True)
        with open(os.path.join(broken, "config.json"), "w") as fh:
            json.dump({"model_type": "qwen2_5_vl", "vision_config": vc}, fh)
        write_safetensors(os.path.join(broken, "model.safetensors"), tensors)
        try:
            ref.load_model(broken)
        except ValueError as e:
            assert needle in str(e), (needle, str(e))
            return
        raise AssertionError(f"no error for {needle}")

    good = tiny_vision_tensors("qwen2_5_vl", vc, 5)
    missing = dict(good)
    del missing["visual.blocks.1.mlp.up_proj.bias"]
    expect_error(missing, "missing tensors: visual.blocks.1.mlp.up_proj.bias")
    wrong = dict(good, **{"visual.merger.mlp.0.weight": torch.zeros(3, 3)})
    expect_error(wrong, "tensor visual.merger.mlp.0.weight has shape [3, 3], expected [128, 128]")
    extra = dict(good, **{"visual.blocks.9.norm1.weight": torch.zeros(32)})
    expect_error(extra, "unexpected tensors: visual.blocks.9.norm1.weight")
    ints = dict(good, **{"visual.merger.ln_q.weight": torch.zeros(32, dtype=torch.int32)})
    expect_error(ints, "visual.merger.ln_q.weight has non-float dtype")


def test_bf16_compute_is_close(tmp):
    for model_type, vc in (("qwen2_vl", QWEN2_VL_TINY), ("qwen2_5_vl", QWEN2_5_VL_TINY)):
        folder = write_tiny_checkpoint(os.path.join(tmp, f"bf_{model_type}"), model_type, vc, seed=6,
                                       dtype=torch.bfloat16)
        grids = [(1, 10, 6), (1, 2, 2)]
        m32, m16 = ref.load_model(folder, "float32"), ref.load_model(folder, "bfloat16")
        pixel_values, grid_thw = ref.random_inputs(m32.config, grids, 6)
        out32, out16 = ref.encode(m32, pixel_values, grid_thw), ref.encode(m16, pixel_values, grid_thw)
        err = rel_err(out16, out32)
        # bf16 has an 8-bit mantissa: expect ~1e-2, not 1e-5 (else bf16 mode is not really bf16).
        assert 1e-4 < err < 2e-2, f"{model_type}: bf16 vs f32 rel err {err:.2e}"


def test_golden_cli(tmp):
    folder = write_tiny_checkpoint(os.path.join(tmp, "cli"), "qwen2_5_vl", QWEN2_5_VL_TINY, seed=7)
    out = os.path.join(tmp, "golden.safetensors")
    make_encoder_goldens.main(["--model", folder, "--out", out, "--images", "28x28,140x84", "--seed", "7"])
    golden, meta = read_safetensors(out)
    assert golden["image_grid_thw"].tolist() == [[1, 2, 2], [1, 10, 6]]
    assert golden["pixel_values"].shape == (4 + 60, 1176) and golden["pixel_values"].dtype == torch.float32
    assert golden["embeddings"].shape == (1 + 15, 48) and golden["embeddings"].dtype == torch.float32
    assert meta["tokens_per_image"] == "1,15" and meta["compute_dtype"] == "float32"
    # --inputs reproduces the same embeddings from the stored inputs (determinism).
    out2 = os.path.join(tmp, "golden2.safetensors")
    make_encoder_goldens.main(["--model", folder, "--out", out2, "--inputs", out])
    again, _ = read_safetensors(out2)
    assert torch.equal(again["embeddings"], golden["embeddings"])


def test_make_test_model_checkpoints(tmp):
    """The checkpoints the goldens are made from (`eric make-test-model`, when built): the
    reference loads them by the published names and agrees with the plain formulation."""
    eric = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "release", "eric")
    if not os.access(eric, os.X_OK):
        print("     (skipped: build/release/eric not built)")
        return
    import subprocess
    for arch, grids in (("qwen2_vl", [(1, 2, 2), (1, 4, 6)]), ("qwen2_5_vl", [(1, 10, 6), (1, 4, 8)])):
        folder = os.path.join(tmp, f"mtm_{arch}")
        r = subprocess.run([eric, "make-test-model", "--arch", arch, "--out", folder, "--seed", "0"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        vc = json.load(open(os.path.join(folder, "config.json")))["vision_config"]
        model = ref.load_model(folder, "float32")
        pixel_values, grid_thw = ref.random_inputs(model.config, grids, 0)
        out = ref.encode(model, pixel_values, grid_thw)
        err = rel_err(out, plain_forward(arch, vc, load_checkpoint(folder), pixel_values, grids))
        assert err < 1e-5, f"{arch}: make-test-model checkpoint, rel err {err:.2e} vs plain formulation"


def main():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in tests:
            t0 = time.time()
            if fn.__code__.co_argcount:
                fn(tmp)
            else:
                fn()
            print(f"ok   {name} ({time.time() - t0:.2f}s)")
    print(f"all {len(tests)} reference tests passed in {time.time() - start:.1f}s")


if __name__ == "__main__":
    main()
