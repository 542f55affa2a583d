#!/usr/bin/env python3
"""Recomputes every vision-encoder golden of tests/data/goldens with real transformers.

  python3 tools/reference/hf/regenerate_goldens.py --out DIR [--backend transformers|restatement]
      [--goldens tests/data/goldens] [--inputs tools/reference/hf_inputs] [--attn eager|sdpa]

For each case of manifest.json (image cases under "goldens", video cases under "video_goldens"):
  1. the case's checkpoint (prepare_inputs.py wrote it with the manifest's make-test-model
     command) gives the vision config and the `visual.*` weights;
  2. the backend builds the tower in the case's compute dtype (float32: weights upcast;
     bfloat16: weights and activations bf16 as transformers runs a bf16 model) on CPU;
  3. the golden's own input (pixel_values + image_grid_thw, or pixel_values_videos +
     video_grid_thw) goes through ONE forward; the result must have the committed shape;
  4. it prints ||new - committed|| / ||committed|| and writes the new golden (every tensor and
     metadata entry of the committed file kept, `embeddings` replaced, `producer`/`generator`
     set) as goldens/<file> into ONE tar, DIR/goldens_<backend>.tar (with report.json), next to
     DIR/report_<backend>.json and DIR/regenerate_<backend>.log. Nothing else goes to DIR: the GPU machine
     returns at most 8 files (import_goldens.sh unpacks the tar).

--backend transformers (default) needs transformers (the lent GPU machine); --backend
restatement uses tools/reference's own re-statements (torch 1.13 here) and must reproduce the
committed (transformers-made) goldens within each case's rel_tolerance, inputs bit for bit,
which checks everything but the model itself.
Exit status: 0 all within tolerance, 3 some case differs from its committed golden by more than
its rel_tolerance (files are still written), 1 on any error (named case and cause).
"""

import argparse
import io
import json
import os
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # tools/reference

import torch  # noqa: E402

from manifest_cases import ROOT, checkpoint_dirs, load_cases  # noqa: E402
from safetensors_io import read_safetensors, safetensors_bytes  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
GENERATOR = "tools/reference/hf/regenerate_goldens.py"


def read_checkpoint(folder):
    """(config dict, {name without 'visual.': tensor as stored}) of a checkpoint folder."""
    import qwen2_vl_vision
    return qwen2_vl_vision.read_config(folder), qwen2_vl_vision.vision_state_dict(folder)


class TransformersBackend:
    name = "transformers"

    def __init__(self, attn):
        try:
            import hf_backend
            hf_backend.versions()
        except ImportError as e:
            raise SystemExit(f"--backend transformers needs transformers installed ({e}); here use "
                             f"--backend restatement, or run tools/reference/hf/run_on_device.sh on the GPU machine")
        self.hf = hf_backend
        self.attn = attn
        v = hf_backend.versions()
        self.producer = f"transformers {v['transformers']} / torch {v['torch']}"

    def model(self, arch, folder, compute_dtype):
        config, state = read_checkpoint(folder)
        if config.get("model_type") != arch:
            raise ValueError(f"{folder}: model_type {config.get('model_type')!r}, case says {arch!r}")
        model, notes = self.hf.build(arch, config["vision_config"], state, DTYPES[compute_dtype], self.attn,
                                    folder=folder)
        return model, notes

    def run(self, model, pixel_values, grid_thw, want_shape):
        return self.hf.run(model, pixel_values, grid_thw, want_shape)


class RestatementBackend:
    """tools/reference's PyTorch re-statements (they made the goldens before transformers did)."""
    name = "restatement"

    def __init__(self, attn):
        import vision_reference
        self.ref = vision_reference
        self.producer = f"tools/reference re-statement / torch {torch.__version__}"

    def model(self, arch, folder, compute_dtype):
        model = self.ref.load_model(folder, compute_dtype)
        return model, {"attn_implementation": "eager (re-statement)", "class": type(model).__name__}

    def run(self, model, pixel_values, grid_thw, want_shape):
        out = self.ref.encode(model, pixel_values, grid_thw)
        if tuple(out.shape) != tuple(want_shape):
            raise RuntimeError(f"re-statement output {list(out.shape)}, golden {list(want_shape)}")
        return out, "tensor"


BACKENDS = {"transformers": TransformersBackend, "restatement": RestatementBackend}


def rel_error(new, ref):
    new, ref = new.double(), ref.double()
    den = ref.norm().item()
    return (new - ref).norm().item() / den if den > 0 else float("inf")


def regenerate_case(backend, case, folder, goldens_dir, models, log):
    path = os.path.join(goldens_dir, case.file)
    tensors, metadata = read_safetensors(path)
    for name in (case.pixel_name, case.grid_name, "embeddings"):
        if name not in tensors:
            raise ValueError(f"{path}: no tensor '{name}' ({case.kind} case)")
    key = (case.make_test_model, case.compute_dtype)
    if key not in models:
        models[key] = backend.model(case.arch, folder, case.compute_dtype)
        log(f"  model {case.arch} {case.compute_dtype} from {os.path.relpath(folder, ROOT)}: {models[key][1]}")
    model, notes = models[key]
    committed = tensors["embeddings"]
    pixel_values = tensors[case.pixel_name].float()
    grid_thw = tensors[case.grid_name].to(torch.int64)
    t0 = time.time()
    new, field = backend.run(model, pixel_values, grid_thw, committed.shape)
    new = new.contiguous()
    if new.dtype != committed.dtype:
        raise RuntimeError(f"{case.file}: new embeddings {new.dtype}, committed {committed.dtype}")
    err = rel_error(new, committed)
    out_tensors = dict(tensors)
    out_tensors["embeddings"] = new
    out_metadata = dict(metadata or {})
    out_metadata.update({"producer": backend.producer, "generator": GENERATOR,
                         "attn_implementation": str(notes.get("attn_implementation")),
                         "output_field": field})
    return {"file": case.file, "kind": case.kind, "compute_dtype": case.compute_dtype,
            "grids": grid_thw.tolist(), "rel_error_vs_committed": err, "rel_tolerance": case.rel_tolerance,
            "within_tolerance": err < case.rel_tolerance, "bit_identical": bool(torch.equal(new, committed)),
            "output_field": field, "seconds": round(time.time() - t0, 3)}, \
        safetensors_bytes(out_tensors, out_metadata)


def write_tar(path, members):
    """members: [(name, bytes)] -> an uncompressed tar with fixed mtimes (reproducible)."""
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder for the tar, report.json and the log")
    p.add_argument("--backend", default="transformers", choices=sorted(BACKENDS))
    p.add_argument("--goldens", default=os.path.join(ROOT, "tests", "data", "goldens"))
    p.add_argument("--inputs", default=os.path.join(ROOT, "tools", "reference", "hf_inputs"))
    p.add_argument("--attn", default="eager", choices=["eager", "sdpa"])
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: reproducible files)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()
    log_path = os.path.join(args.out, f"regenerate_{args.backend}.log")
    open(log_path, "w").close()

    def log(msg):  # appended as it goes: a failed run still leaves its log in DIR
        print(msg, flush=True)
        with open(log_path, "a") as fh:
            fh.write(msg + "\n")

    cases = load_cases(args.goldens)
    folders = checkpoint_dirs(args.inputs, cases)
    try:
        backend = BACKENDS[args.backend](args.attn)
    except SystemExit as e:
        log(f"FAILED: {e}")
        raise
    log(f"backend {backend.name}: {backend.producer}; {len(cases)} cases from {args.goldens}")
    models, results, members = {}, [], []
    for case in cases:
        try:
            result, data = regenerate_case(backend, case, folders[case.make_test_model], args.goldens, models, log)
        except Exception as e:  # noqa: BLE001 - name the case, then stop: a partial set is not importable
            log(f"FAILED {case.file}: {type(e).__name__}: {e}")
            raise SystemExit(1)
        members.append((f"goldens/{case.file}", data))
        results.append(result)
        flag = "ok" if result["within_tolerance"] else "EXCEEDS TOLERANCE"
        log(f"{case.file:72s} rel {result['rel_error_vs_committed']:.3e} (tol {case.rel_tolerance:g}) "
            f"{'bit-identical ' if result['bit_identical'] else ''}{flag} [{result['output_field']}]")

    report = {"producer": backend.producer, "backend": backend.name, "generator": GENERATOR,
              "attn_implementation": args.attn, "threads": args.threads, "cases": results,
              "seconds": round(time.time() - start, 1)}
    report_bytes = (json.dumps(report, indent=1) + "\n").encode()
    members.append(("report.json", report_bytes))
    with open(os.path.join(args.out, f"report_{backend.name}.json"), "wb") as fh:
        fh.write(report_bytes)
    tar_path = os.path.join(args.out, f"goldens_{backend.name}.tar")
    write_tar(tar_path, members)
    over = [r["file"] for r in results if not r["within_tolerance"]]
    worst = {dt: max((r["rel_error_vs_committed"] for r in results if r["compute_dtype"] == dt), default=0.0)
             for dt in DTYPES}
    log(f"{len(results)} goldens -> {tar_path} ({os.path.getsize(tar_path)} bytes) in {report['seconds']} s; "
        f"max rel vs committed: float32 {worst['float32']:.3e}, bfloat16 {worst['bfloat16']:.3e}")
    if over:
        log(f"{len(over)} case(s) differ from the committed golden by more than their tolerance: {over}")
        raise SystemExit(3)


if __name__ == "__main__":
    main()
