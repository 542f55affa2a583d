#!/usr/bin/python3
"""Writes the tiny checkpoints every golden case needs, for regenerate_goldens.py on a machine
without eric (the lent GPU machine gets the working tree, not a build).

  /usr/bin/python3 tools/reference/hf/prepare_inputs.py [--eric build/release/eric]
      [--goldens tests/data/goldens] [--out tools/reference/hf_inputs]

For each distinct `make_test_model` command in manifest.json (image and video cases) it runs
`eric make-test-model <that command> --out OUT/<arch>-<dtype>` (deterministic for a seed: the
files are bit-identical to the ones the C++ tests make) and records the mapping in
OUT/index.json: {"checkpoints": {"<make_test_model>": "<folder>"}, "eric": "<version line>"}.
OUT is git-ignored; pass it to the device with run(carry=["tools/reference/hf_inputs"]).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from manifest_cases import ROOT, checkpoint_folder_name, load_cases  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--eric", default=os.path.join(ROOT, "build", "release", "eric"))
    p.add_argument("--goldens", default=os.path.join(ROOT, "tests", "data", "goldens"))
    p.add_argument("--out", default=os.path.join(ROOT, "tools", "reference", "hf_inputs"))
    args = p.parse_args(argv)
    if not os.access(args.eric, os.X_OK):
        raise SystemExit(f"prepare_inputs: eric binary {args.eric} not found (build target 'eric' first)")

    cases = load_cases(args.goldens)
    commands = sorted({c.make_test_model for c in cases})
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    index = {}
    for command in commands:
        folder = checkpoint_folder_name(command)
        dest = os.path.join(args.out, folder)
        subprocess.run([args.eric, "make-test-model", *command.split(), "--out", dest], check=True,
                       stdout=subprocess.DEVNULL)
        index[command] = folder
        print(f"{dest}: {command}")
    with open(os.path.join(args.out, "index.json"), "w") as fh:
        json.dump({"checkpoints": index, "made_by": "eric make-test-model"}, fh, indent=1)
        fh.write("\n")
    print(f"{len(index)} checkpoints for {len(cases)} golden cases under {args.out}")


if __name__ == "__main__":
    main()
