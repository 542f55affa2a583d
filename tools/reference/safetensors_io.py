"""A small pure-Python safetensors reader and writer (json + struct + numpy + torch).

Shared by all reference tools in this folder (encoder goldens, resample goldens, ...): keep
the numpy-level `save`/`load` and the torch-level functions both working when editing.

The `safetensors` Python package is not available here, and the reference tools must read
exactly the files eric reads, so this module implements the format directly
(https://github.com/huggingface/safetensors, "Format" section):

    8 bytes   little-endian u64 N = size of the JSON header
    N bytes   JSON: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets": [begin, end]}}
    rest      the tensor bytes; offsets are relative to the start of this buffer

Tensors come back as torch tensors (CPU, contiguous, owning their memory). bf16 has no
numpy dtype, so BF16 data travels as int16 and is reinterpreted with
`Tensor.view(torch.bfloat16)` (same element size, so torch 1.13 allows it).

Also reads Hugging Face checkpoint folders: a single `model.safetensors`, or shards
`model-0000X-of-0000N.safetensors` listed in `model.safetensors.index.json`.
"""

import json
import os
import struct

import numpy as np
import torch

# safetensors dtype name -> (numpy dtype used to carry the bytes, torch dtype, element size)
_DTYPES = {
    "F64": (np.float64, torch.float64, 8),
    "F32": (np.float32, torch.float32, 4),
    "F16": (np.float16, torch.float16, 2),
    "BF16": (np.int16, torch.bfloat16, 2),  # bytes carried as int16, then viewed as bf16
    "I64": (np.int64, torch.int64, 8),
    "I32": (np.int32, torch.int32, 4),
    "I16": (np.int16, torch.int16, 2),
    "I8": (np.int8, torch.int8, 1),
    "U8": (np.uint8, torch.uint8, 1),
    "BOOL": (np.bool_, torch.bool, 1),
}
_TORCH_TO_NAME = {torch_dtype: name for name, (_, torch_dtype, _) in _DTYPES.items()}

# Refuse absurd headers before allocating for them (the reference library uses 100 MB).
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A malformed or inconsistent safetensors file; the message names the file and the item."""


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _parse_header(path, file_size, fh):
    prefix = fh.read(8)
    if len(prefix) != 8:
        raise SafetensorsError(f"{path}: file too short for a safetensors header ({file_size} bytes)")
    (header_len,) = struct.unpack("<Q", prefix)
    if header_len > _MAX_HEADER_BYTES or 8 + header_len > file_size:
        raise SafetensorsError(f"{path}: header length {header_len} does not fit the file ({file_size} bytes)")
    try:
        header = json.loads(fh.read(header_len).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON: {e}") from e
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data_len = file_size - 8 - header_len
    # Validate every entry: known dtype, non-negative shape, offsets inside the data and
    # matching the element count, and no two tensors overlapping.
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) - {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{path}: tensor '{name}': malformed entry {info!r}")
        dtype = info.get("dtype")
        if dtype not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor '{name}': unsupported dtype {dtype!r}")
        shape = info.get("shape")
        if not isinstance(shape, list) or any((not isinstance(d, int)) or d < 0 for d in shape):
            raise SafetensorsError(f"{path}: tensor '{name}': bad shape {shape!r}")
        offsets = info.get("data_offsets")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or any(not isinstance(o, int) for o in offsets)):
            raise SafetensorsError(f"{path}: tensor '{name}': bad data_offsets {offsets!r}")
        begin, end = offsets
        if not (0 <= begin <= end <= data_len):
            raise SafetensorsError(
                f"{path}: tensor '{name}': data_offsets {offsets} outside the data ({data_len} bytes)")
        expected = _numel(shape) * _DTYPES[dtype][2]
        if end - begin != expected:
            raise SafetensorsError(
                f"{path}: tensor '{name}': {end - begin} bytes for {dtype} {shape} (expected {expected})")
        spans.append((begin, end, name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise SafetensorsError(f"{path}: tensors '{n0}' and '{n1}' overlap")
    return header, metadata, 8 + header_len


def read_header(path):
    """Returns ({name: {"dtype", "shape", "data_offsets"}}, metadata) without reading tensor data."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        header, metadata, _ = _parse_header(path, size, fh)
    return header, metadata


def _read_arrays(path, names=None, prefix=None):
    """{name: (numpy array carrying the bytes, safetensors dtype name)}, metadata."""
    size = os.path.getsize(path)
    out = {}
    with open(path, "rb") as fh:
        header, metadata, data_start = _parse_header(path, size, fh)
        wanted = header.keys() if names is None else names
        for name in wanted:
            if name not in header:
                raise SafetensorsError(f"{path}: no tensor named '{name}'")
            if prefix is not None and not name.startswith(prefix):
                continue
            info = header[name]
            np_dtype = _DTYPES[info["dtype"]][0]
            begin, end = info["data_offsets"]
            fh.seek(data_start + begin)
            raw = fh.read(end - begin)
            if len(raw) != end - begin:
                raise SafetensorsError(f"{path}: tensor '{name}' is truncated")
            # np.frombuffer gives a read-only view; copy so the result owns writable memory.
            arr = np.frombuffer(raw, dtype=np.dtype(np_dtype).newbyteorder("<")).astype(np_dtype, copy=True)
            out[name] = (arr.reshape(info["shape"]), info["dtype"])
    return out, metadata


def read_safetensors(path, names=None, prefix=None):
    """Reads tensors from one file as torch tensors.

    names: optional iterable of tensor names to read (others skipped); prefix: only names that
    start with it. Returns (dict name -> torch.Tensor, metadata dict)."""
    arrays, metadata = _read_arrays(path, names, prefix)
    out = {}
    for name, (arr, dtype) in arrays.items():
        t = torch.from_numpy(arr)
        out[name] = t.view(torch.bfloat16) if dtype == "BF16" else t
    return out, metadata


def _to_bytes(t):
    """Contiguous little-endian bytes of a torch tensor (bf16 through an int16 view)."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    arr = t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def safetensors_bytes(tensors, metadata=None):
    """Serialises {name: torch.Tensor or numpy array} (any strides) to safetensors bytes.

    Layout follows the reference writer (and eric's C++ one): widest dtype first, then by
    name, header padded with spaces to a multiple of 8 bytes so every tensor is aligned."""
    entries = []
    for name, t in tensors.items():
        if isinstance(t, np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(t))
        elif not isinstance(t, torch.Tensor):
            t = torch.as_tensor(t)
        if t.dtype not in _TORCH_TO_NAME:
            raise SafetensorsError(f"tensor '{name}': dtype {t.dtype} cannot be stored")
        entries.append((name, t))
    entries.sort(key=lambda e: (-_DTYPES[_TORCH_TO_NAME[e[1].dtype]][2], e[0]))
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in entries:
        blob = _to_bytes(t)
        header[name] = {"dtype": _TORCH_TO_NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)
    return struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(blobs)


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} to `path` atomically (temporary file, then rename)."""
    data = safetensors_bytes(tensors, metadata)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


# numpy-level API (used by make_resample_goldens.py): arrays in, arrays out.
def save(path, tensors, metadata=None):
    """Writes {name: numpy array} (metadata values converted with str)."""
    write_safetensors(path, tensors, metadata)


def load(path):
    """{name: numpy array} (BF16 tensors come back as float32 arrays: numpy has no bf16)."""
    tensors, _ = read_safetensors(path)
    return {name: (t.float() if t.dtype == torch.bfloat16 else t).numpy() for name, t in tensors.items()}


def write_sharded_checkpoint(folder, tensors, max_shard_bytes, metadata=None):
    """Writes a Hugging Face style sharded checkpoint: model-0000X-of-0000N.safetensors plus
    model.safetensors.index.json ({"metadata": {"total_size"}, "weight_map": {name: file}}).
    Used by the reference self-tests to build folders shaped like published checkpoints."""
    os.makedirs(folder, exist_ok=True)
    shards, current, current_bytes = [], {}, 0
    for name in sorted(tensors):
        nbytes = tensors[name].numel() * tensors[name].element_size()
        if current and current_bytes + nbytes > max_shard_bytes:
            shards.append(current)
            current, current_bytes = {}, 0
        current[name] = tensors[name]
        current_bytes += nbytes
    if current:
        shards.append(current)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file_name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(folder, file_name), shard, metadata or {"format": "pt"})
        for name, t in shard.items():
            weight_map[name] = file_name
            total += t.numel() * t.element_size()
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as fh:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, fh, indent=2, sort_keys=True)


def load_checkpoint(folder, prefix=None):
    """Loads the tensors of a checkpoint folder whose names start with `prefix` (all if None).

    Reads `model.safetensors.index.json` when present (only the shards holding wanted tensors
    are opened), otherwise `model.safetensors`. Names are returned unchanged (prefix kept)."""
    index_path = os.path.join(folder, "model.safetensors.index.json")
    single_path = os.path.join(folder, "model.safetensors")
    if os.path.exists(index_path):
        with open(index_path) as fh:
            index = json.load(fh)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict):
            raise SafetensorsError(f"{index_path}: no 'weight_map' object")
        by_file = {}
        for name, file_name in weight_map.items():
            if prefix is None or name.startswith(prefix):
                by_file.setdefault(file_name, []).append(name)
        out = {}
        for file_name, names in sorted(by_file.items()):
            shard_path = os.path.join(folder, file_name)
            if not os.path.exists(shard_path):
                raise SafetensorsError(f"{index_path}: shard '{file_name}' (holding '{names[0]}') is missing")
            tensors, _ = read_safetensors(shard_path, names=names)
            out.update(tensors)
        return out
    if os.path.exists(single_path):
        tensors, _ = read_safetensors(single_path, prefix=prefix)
        return tensors
    raise SafetensorsError(f"{folder}: neither model.safetensors nor model.safetensors.index.json found")
