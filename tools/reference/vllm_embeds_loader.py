#!/usr/bin/env python3
"""Loads vLLM `*_embeds` content parts the way vLLM does, with the Python
standard library alone, and optionally cross-checks with torch.

vLLM (vllm/multimodal/image.py ImageEmbeddingMediaIO.load_base64, late 2025 to
2026) decodes the string with pybase64.b64decode(data, validate=True) and calls
torch.load(BytesIO(bytes), weights_only=True), then .to_dense(); chat parts
(vllm/entrypoints/chat_utils.py) take a string or, for the Qwen-VL families, a
dict {"image_embeds": ..., "image_grid_thw": ...}. torch.load's weights-only
unpickler (torch/_weights_only_unpickler.py) accepts a fixed opcode set and
allow-listed globals; this loader enforces the same rules, checks the zip
container (entry names, STORED, CRCs) and rebuilds the tensor with numpy.

Usage: vllm_embeds_loader.py [--require-torch] CASE.json...   (cases written by eric's tests:
{"part": <content part>, "modality": "image", "merge": 2,
 "expected": {"dtype": "float32", "shape": [...], "data_b64": "<raw LE bytes>"}})
Exits non-zero on the first violation.
"""
import base64
import binascii
import collections
import io
import json
import pickle
import pickletools
import sys
import zipfile

import numpy as np

# Opcodes torch/_weights_only_unpickler.py handles (torch 1.13 .. 2.x).
ALLOWED_OPCODES = {
    "PROTO", "GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS", "MARK",
    "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "NONE", "NEWFALSE", "NEWTRUE", "EMPTY_TUPLE", "EMPTY_LIST",
    "EMPTY_DICT", "EMPTY_SET", "BININT", "BININT1", "BININT2", "BINUNICODE", "SHORT_BINSTRING", "BINPERSID",
    "BINGET", "LONG_BINGET", "BINPUT", "LONG_BINPUT", "LONG1", "BINFLOAT", "STOP",
}
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "BFloat16Storage": "bfloat16", "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
ALLOWED_GLOBALS = {("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict")} | {
    ("torch", name) for name in STORAGE_DTYPES
}


class LoadError(Exception):
    pass


def strict_b64decode(text):
    if not isinstance(text, str) or "\n" in text or "\r" in text:
        raise LoadError("payload is not a one-line string")
    if len(text) % 4 != 0:
        raise LoadError("base64 length is not a multiple of 4 (unpadded?)")
    try:
        return base64.b64decode(text, validate=True)  # what pybase64 validate=True enforces
    except binascii.Error as e:
        raise LoadError(f"invalid base64: {e}")


class _Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data, records):
        super().__init__(io.BytesIO(data))
        self.records = records

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise LoadError(f"global {module}.{name} is not allowed by weights_only")
        if module == "collections":
            return collections.OrderedDict
        if module == "torch._utils":
            return self._rebuild_tensor_v2
        return ("storage-class", name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise LoadError(f"unexpected persistent id {pid!r}")
        _, cls, key, location, numel = pid
        if not (isinstance(cls, tuple) and cls[0] == "storage-class"):
            raise LoadError("storage type is not a torch storage class")
        if location != "cpu":
            raise LoadError(f"storage location {location!r} is not cpu")
        if key not in self.records:
            raise LoadError(f"archive has no data/{key}")
        return _Storage(cls[1], key, numel)

    def _rebuild_tensor_v2(self, storage, offset, size, stride, requires_grad, hooks, *rest):
        raw = self.records[storage.key]
        dt = STORAGE_DTYPES[storage.kind]
        if dt == "bfloat16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            flat = bits.view(np.float32)
        else:
            flat = np.frombuffer(raw, dtype=np.dtype(dt).newbyteorder("<"))
        if flat.size != storage.numel:
            raise LoadError(f"storage holds {flat.size} elements, the pickle says {storage.numel}")
        itemsize = flat.dtype.itemsize
        need = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else 0
        if need > flat.size:
            raise LoadError("tensor view runs past its storage")
        arr = np.lib.stride_tricks.as_strided(flat[offset:], shape=tuple(size),
                                              strides=tuple(st * itemsize for st in stride))
        return storage.kind, np.array(arr)


def load_torch_save(data):
    """Returns (storage kind, numpy array) from torch.save bytes."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise LoadError(f"not a zip archive: {e}")
    names = zf.namelist()
    prefixes = {n.split("/", 1)[0] for n in names}
    if len(prefixes) != 1:
        raise LoadError(f"entries under several top folders: {sorted(prefixes)}")
    prefix = prefixes.pop()
    for info in zf.infolist():
        if info.compress_type != zipfile.ZIP_STORED:
            raise LoadError(f"{info.filename} is compressed; torch writes STORED entries")
    bad = zf.testzip()
    if bad is not None:
        raise LoadError(f"CRC mismatch in {bad}")
    if zf.read(f"{prefix}/version").strip() not in (b"3",):
        raise LoadError("unexpected archive version")
    if f"{prefix}/byteorder" in names and zf.read(f"{prefix}/byteorder") != b"little":
        raise LoadError("byteorder is not little")
    pkl = zf.read(f"{prefix}/data.pkl")
    try:
        for op, _, _ in pickletools.genops(pkl):
            if op.name not in ALLOWED_OPCODES:
                raise LoadError(f"opcode {op.name} is not allowed by weights_only")
    except (ValueError, EOFError) as e:  # pickletools on a truncated or malformed pickle
        raise LoadError(f"malformed pickle: {e}")
    records = {n[len(prefix) + len("/data/"):]: zf.read(n) for n in names if n.startswith(f"{prefix}/data/")}
    result = RestrictedUnpickler(pkl, records).load()
    if not (isinstance(result, tuple) and len(result) == 2):
        raise LoadError("the pickle does not rebuild one tensor")
    return result


def expected_array(spec):
    raw = base64.b64decode(spec["data_b64"])
    if spec["dtype"] == "bfloat16":
        arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        arr = np.frombuffer(raw, dtype={"float32": "<f4", "float16": "<f2", "int64": "<i8"}[spec["dtype"]])
    return arr.reshape(spec["shape"])


def check_case(case, use_torch):
    part, modality = case["part"], case["modality"]
    key = f"{modality}_embeds"
    if part.get("type") != key:
        raise LoadError(f"part type {part.get('type')!r} is not {key!r}")
    value = part[key]
    grid = None
    if isinstance(value, dict):
        if set(value) != {key, f"{modality}_grid_thw"}:
            raise LoadError(f"dict form keys {sorted(value)}")
        _, grid = load_torch_save(strict_b64decode(value[f"{modality}_grid_thw"]))
        if grid.dtype != np.int64 or grid.shape != (3,):
            raise LoadError(f"grid must be int64 (3,), got {grid.dtype} {grid.shape}")
        value = value[key]
    kind, emb = load_torch_save(strict_b64decode(value))
    exp = expected_array(case["expected"])
    if emb.shape != exp.shape or emb.dtype != exp.dtype or emb.tobytes() != np.ascontiguousarray(exp).tobytes():
        raise LoadError(f"tensor differs from eric's embedding: {emb.dtype}{emb.shape} vs {exp.dtype}{exp.shape}")
    if grid is not None:
        merge = case.get("merge", 2)
        if int(np.prod(grid)) != emb.shape[0] * merge * merge:
            raise LoadError(f"rows {emb.shape[0]} do not match grid {grid.tolist()}")
    if use_torch:
        import torch
        if grid is not None:
            raw_grid = part[key][f"{modality}_grid_thw"]
            g = torch.load(io.BytesIO(strict_b64decode(raw_grid)), weights_only=True).to_dense()
            if g.dtype != torch.int64 or tuple(g.shape) != (3,) or g.tolist() != grid.tolist():
                raise LoadError(f"torch.load gives grid {g.dtype} {tuple(g.shape)} {g.tolist()}")
        t = torch.load(io.BytesIO(strict_b64decode(value)), weights_only=True).to_dense()
        ref = torch.from_numpy(np.ascontiguousarray(exp))
        if case["expected"]["dtype"] == "bfloat16":
            ref = ref.to(torch.bfloat16)
        if t.dtype != ref.dtype or t.shape != ref.shape or not torch.equal(t, ref):
            raise LoadError(f"torch.load gives {t.dtype} {tuple(t.shape)}, expected {ref.dtype} {tuple(ref.shape)}")
    return kind


def main(argv):
    args = argv[1:]
    # --require-torch: fail rather than skip the torch.load cross-check when
    # torch is missing (eric's tests pass it: Debian's python3-torch is a
    # declared dependency of the reference tools).
    require_torch = "--require-torch" in args
    args = [a for a in args if a != "--require-torch"]
    use_torch = True
    try:
        import torch  # noqa: F401
    except ImportError:
        if require_torch:
            print("torch is not importable but --require-torch was given")
            return 2
        use_torch = False
    for path in args:
        with open(path) as f:
            case = json.load(f)
        try:
            kind = check_case(case, use_torch)
        except LoadError as e:
            print(f"{path}: REJECTED: {e}")
            return 1
        print(f"{path}: ok ({kind}{', torch.load agrees' if use_torch else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
