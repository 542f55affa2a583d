"""Python binding of libericsidecar (eric's tensor sidecar consumer library).

Standard library only (ctypes); numpy is used when present.

    from eric_sidecar import Sidecar
    with Sidecar("/run/eric/sidecar.sock", rank=0) as sc:
        item = sc.recv("request-1-image-0", timeout=30.0)
        emb = item.numpy()            # zero-copy, read-only ndarray (if numpy)
        raw = item.memoryview         # read-only memoryview of the bytes
        ...
        sc.mark_done(item)            # the view is invalid afterwards

The library is found through $ERIC_SIDECAR_LIB, else next to this package's
repository build (build/*/lib/libericsidecar.so), else by the loader.
"""
import ctypes
import glob
import json
import os

__all__ = ["Sidecar", "Item", "SidecarError", "SidecarTimeout"]

_ABI_VERSION = 1
_TIMEOUT = 10  # ERIC_SIDECAR_TIMEOUT

# dtype name -> (numpy dtype name, element size). bfloat16 has no numpy type:
# its raw bits come back as uint16.
_DTYPES = {
    "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("uint16", 2),
    "U8": ("uint8", 1), "I32": ("int32", 4), "I64": ("int64", 8), "BOOL": ("bool", 1),
}


class SidecarError(RuntimeError):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class SidecarTimeout(SidecarError, TimeoutError):
    pass


class _View(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("nbytes", ctypes.c_uint64), ("dtype", ctypes.c_char_p),
                ("ndim", ctypes.c_int32), ("shape", ctypes.POINTER(ctypes.c_int64))]


def _find_library():
    env = os.environ.get("ERIC_SIDECAR_LIB")
    if env:
        return env
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for pattern in ("build/release/lib/libericsidecar.so", "build/*/lib/libericsidecar.so"):
        hits = sorted(glob.glob(os.path.join(root, pattern)))
        if hits:
            return hits[0]
    return "libericsidecar.so"


_lib = None


def _load():
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(_find_library())
    lib.eric_sidecar_abi_version.restype = ctypes.c_int
    if lib.eric_sidecar_abi_version() != _ABI_VERSION:
        raise SidecarError(1, "libericsidecar ABI %d, binding expects %d" % (lib.eric_sidecar_abi_version(), _ABI_VERSION))
    handle = ctypes.c_void_p
    lib.eric_sidecar_open.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32, ctypes.POINTER(handle)]
    lib.eric_sidecar_recv.argtypes = [handle, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_int32, ctypes.POINTER(_View)]
    lib.eric_sidecar_mark_done.argtypes = [handle, ctypes.c_char_p, ctypes.c_uint32]
    lib.eric_sidecar_send.argtypes = [handle, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_int64), ctypes.c_int32, ctypes.c_void_p,
                                      ctypes.c_uint64, ctypes.POINTER(ctypes.c_int32),
                                      ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_int32]
    lib.eric_sidecar_stats.argtypes = [handle, ctypes.c_char_p, ctypes.c_size_t]
    lib.eric_sidecar_close.argtypes = [handle]
    lib.eric_sidecar_close.restype = None
    lib.eric_sidecar_last_error.restype = ctypes.c_char_p
    for f in ("eric_sidecar_open", "eric_sidecar_recv", "eric_sidecar_mark_done", "eric_sidecar_send",
              "eric_sidecar_stats"):
        getattr(lib, f).restype = ctypes.c_int
    _lib = lib
    return lib


def _check(rc):
    if rc != 0:
        msg = _lib.eric_sidecar_last_error().decode("utf-8", "replace")
        raise (SidecarTimeout if rc == _TIMEOUT else SidecarError)(rc, msg)


def _ms(timeout):
    return int(max(0.0, timeout) * 1000)


class Item:
    """A received tensor: a read-only view into the sidecar's shared memory,
    valid until Sidecar.mark_done(item) or Sidecar.close()."""

    def __init__(self, id, chunk, dtype, shape, address, nbytes):
        self.id, self.chunk, self.dtype, self.shape = id, chunk, dtype, tuple(shape)
        self.nbytes = nbytes
        buf = (ctypes.c_char * nbytes).from_address(address) if nbytes else bytearray()
        self.memoryview = memoryview(buf).cast("B").toreadonly()

    def numpy(self):
        """A zero-copy read-only numpy array (needs numpy); bfloat16 as uint16 bits."""
        import numpy as np
        name, _ = _DTYPES[self.dtype]
        arr = np.frombuffer(self.memoryview, dtype=np.dtype(name)).reshape(self.shape)
        return arr

    def tobytes(self):
        return self.memoryview.tobytes()


class Sidecar:
    """A connection to the local sidecar; rank >= 0 for a consumer of that LLM
    rank, rank < 0 for a producer (tests, tools)."""

    def __init__(self, socket_path, rank, timeout=5.0):
        lib = _load()
        self._h = ctypes.c_void_p()
        _check(lib.eric_sidecar_open(os.fsencode(socket_path), int(rank), _ms(timeout), ctypes.byref(self._h)))
        self.rank = rank

    def recv(self, id, chunk=0, timeout=30.0):
        """Blocks until (id, chunk) is complete on this node; SidecarTimeout after `timeout` seconds."""
        v = _View()
        _check(_lib.eric_sidecar_recv(self._handle(), id.encode(), chunk, _ms(timeout), ctypes.byref(v)))
        shape = [v.shape[i] for i in range(v.ndim)]
        return Item(id, chunk, v.dtype.decode(), shape, v.data or 0, v.nbytes)

    def mark_done(self, item_or_id, chunk=0):
        if isinstance(item_or_id, Item):
            item_or_id, chunk = item_or_id.id, item_or_id.chunk
        _check(_lib.eric_sidecar_mark_done(self._handle(), item_or_id.encode(), chunk))

    def send(self, id, data, dtype, shape, groups, chunk=0, timeout=30.0):
        """Producer: delivers `data` (bytes-like) to the receiver groups (lists of ranks)."""
        buf = memoryview(data).cast("B")
        raw = (ctypes.c_char * len(buf)).from_buffer_copy(buf) if len(buf) else None
        dims = (ctypes.c_int64 * len(shape))(*shape)
        flat = [r for g in groups for r in g]
        ranks = (ctypes.c_int32 * max(1, len(flat)))(*flat)
        sizes = (ctypes.c_int32 * max(1, len(groups)))(*[len(g) for g in groups])
        _check(_lib.eric_sidecar_send(self._handle(), id.encode(), chunk, dtype.encode(), dims, len(shape),
                                      ctypes.cast(raw, ctypes.c_void_p) if raw is not None else None, len(buf),
                                      ranks, sizes, len(groups), _ms(timeout)))

    def stats(self):
        buf = ctypes.create_string_buffer(1 << 16)
        _check(_lib.eric_sidecar_stats(self._handle(), buf, len(buf)))
        return json.loads(buf.value.decode())

    def close(self):
        if self._h:
            _lib.eric_sidecar_close(self._h)
            self._h = ctypes.c_void_p()

    def _handle(self):
        if not self._h:
            raise SidecarError(1, "the sidecar connection is closed")
        return self._h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
