"""A test consumer (an LLM-server rank) over the eric_sidecar Python binding.

Receives every id given, writes each tensor's bytes to OUT/<id>.bin and its
description to OUT/<id>.json, marks it done, and checks it is not delivered a
second time. Prints one summary line; exit code 0 only if all arrived once.

usage: consumer.py SOCKET RANK OUT TIMEOUT_S ID [ID...]
"""
import json
import os
import sys

from eric_sidecar import Sidecar, SidecarTimeout


def main():
    socket_path, rank, out, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    ids = sys.argv[5:]
    os.makedirs(out, exist_ok=True)
    problems = []
    with Sidecar(socket_path, rank) as sc:
        for item_id in ids:
            try:
                item = sc.recv(item_id, 0, timeout=timeout)
            except SidecarTimeout as e:
                problems.append("timeout %s: %s" % (item_id, e))
                continue
            data = item.tobytes()
            meta = {"dtype": item.dtype, "shape": list(item.shape), "nbytes": item.nbytes}
            try:
                import numpy  # noqa: F401  (the numpy path must agree with the raw bytes)
                arr = item.numpy()
                meta["numpy_shape"] = list(arr.shape)
                meta["numpy_same_bytes"] = arr.tobytes() == data
                meta["numpy_readonly"] = not arr.flags.writeable
            except ImportError:
                pass
            with open(os.path.join(out, item_id + ".bin"), "wb") as f:
                f.write(data)
            with open(os.path.join(out, item_id + ".json"), "w") as f:
                json.dump(meta, f)
            sc.mark_done(item)
            try:
                sc.recv(item_id, 0, timeout=0.05)
                problems.append("delivered twice: " + item_id)
            except SidecarTimeout:
                pass
    print("consumer rank %d: %d/%d received%s" % (rank, len(ids) - len(problems), len(ids),
                                                 "; " + "; ".join(problems) if problems else ""))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
