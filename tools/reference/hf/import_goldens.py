#!/usr/bin/python3
"""Replaces tests/data/goldens with the goldens regenerate_goldens.py wrote into its tar.

  /usr/bin/python3 tools/reference/hf/import_goldens.py TAR [--goldens tests/data/goldens] [--force]

Checks before touching anything: the tar holds report.json and exactly one goldens/<file> per
manifest case; each new file has the committed file's tensor names, dtypes and shapes, the same
inputs (pixel values, grids, frames) bit for bit, and a `producer` metadata entry. A case whose
new embeddings differ from the committed ones by more than its rel_tolerance is refused unless
--force (then the report's numbers say why). Then it writes the files, sets "producer" on
manifest.json (top level and per case) and rewrites the block between the producer markers of
the goldens README with the producer and the measured differences.
"""

import argparse
import json
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from manifest_cases import ROOT, load_cases  # noqa: E402
from safetensors_io import read_header  # noqa: E402

BEGIN, END = "<!-- producer:begin -->", "<!-- producer:end -->"


def header_from_bytes(data):
    import tempfile
    with tempfile.NamedTemporaryFile(suffix=".safetensors") as fh:
        fh.write(data)
        fh.flush()
        return read_header(fh.name)


def tensor_bytes(data, header, name):
    import struct
    n = struct.unpack("<Q", data[:8])[0]
    begin, end = header[name]["data_offsets"]
    return data[8 + n + begin: 8 + n + end]


def check_case(case, new_data, committed_path):
    new_header, new_meta = header_from_bytes(new_data)
    old_header, _ = read_header(committed_path)
    if set(new_header) != set(old_header):
        raise ValueError(f"{case.file}: tensors {sorted(new_header)} differ from committed {sorted(old_header)}")
    for name, info in old_header.items():
        if (info["dtype"], info["shape"]) != (new_header[name]["dtype"], new_header[name]["shape"]):
            raise ValueError(f"{case.file}: tensor {name} is {new_header[name]['dtype']}{new_header[name]['shape']}, "
                             f"committed {info['dtype']}{info['shape']}")
    old_data = open(committed_path, "rb").read()
    for name in old_header:
        if name != "embeddings" and tensor_bytes(new_data, new_header, name) != tensor_bytes(old_data, old_header, name):
            raise ValueError(f"{case.file}: input tensor {name} differs from the committed one")
    if not (new_meta or {}).get("producer"):
        raise ValueError(f"{case.file}: no 'producer' metadata")
    return new_meta["producer"]


def readme_block(report):
    rows = report["cases"]
    worst = {}
    for r in rows:
        worst[r["compute_dtype"]] = max(worst.get(r["compute_dtype"], 0.0), r["rel_error_vs_committed"])
    parts = ", ".join(f"{dt} compute ≤ {v:.2g}" for dt, v in sorted(worst.items()))
    return (f"{BEGIN}\nProducer of the committed goldens: **{report['producer']}** (backend "
            f"`{report['backend']}`, attention `{report['attn_implementation']}`, CPU, {report['threads']} thread(s)), "
            f"by `tools/reference/hf/regenerate_goldens.py`; relative difference from the previous "
            f"(re-statement) goldens: {parts}.\n{END}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tar")
    p.add_argument("--goldens", default=os.path.join(ROOT, "tests", "data", "goldens"))
    p.add_argument("--force", action="store_true", help="import even cases beyond their rel_tolerance")
    args = p.parse_args(argv)

    cases = load_cases(args.goldens)
    with tarfile.open(args.tar) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    if "report.json" not in members:
        raise SystemExit(f"{args.tar}: no report.json")
    report = json.loads(members.pop("report.json"))
    want = {f"goldens/{c.file}" for c in cases}
    if set(members) != want:
        raise SystemExit(f"{args.tar}: missing {sorted(want - set(members))}, unexpected {sorted(set(members) - want)}")
    over = [r for r in report["cases"] if not r["within_tolerance"]]
    if over and not args.force:
        for r in over:
            print(f"{r['file']}: rel {r['rel_error_vs_committed']:.3e} > tolerance {r['rel_tolerance']:g}")
        raise SystemExit(f"{len(over)} case(s) beyond tolerance: not imported (--force to import anyway)")
    producers = set()
    for c in cases:
        producers.add(check_case(c, members[f"goldens/{c.file}"], os.path.join(args.goldens, c.file)))
    if producers != {report["producer"]}:
        raise SystemExit(f"{args.tar}: producers {sorted(producers)} differ from report {report['producer']!r}")

    for c in cases:
        with open(os.path.join(args.goldens, c.file), "wb") as fh:
            fh.write(members[f"goldens/{c.file}"])
    manifest_path = os.path.join(args.goldens, "manifest.json")
    manifest = json.load(open(manifest_path))
    manifest["producer"] = report["producer"]
    for section in ("goldens", "video_goldens"):
        for entry in manifest.get(section, []):
            entry["producer"] = report["producer"]
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    readme_path = os.path.join(args.goldens, "README.md")
    text = open(readme_path).read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme_path}: no {BEGIN} ... {END} block to update (files and manifest were written)")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme_path, "w") as fh:
        fh.write(head + readme_block(report) + tail)
    print(f"imported {len(cases)} goldens from {args.tar} (producer {report['producer']}); "
          f"updated manifest.json and README.md. Next: ctest --test-dir build/release -R EncoderGoldens")


if __name__ == "__main__":
    main()
