"""The golden cases of tests/data/goldens/manifest.json and the checkpoint each one needs.

Independent of transformers (runs with /usr/bin/python3 here and python3 on the GPU machine).
A case names its golden file, its arch, the `eric make-test-model` arguments of its checkpoint,
its compute dtype and tolerance, and which tensors of the golden are the tower's input:
image cases use `pixel_values` + `image_grid_thw`, video cases `pixel_values_videos` +
`video_grid_thw` (both are stored in the golden, so the goldens are self-contained inputs).
"""

import json
import os
from dataclasses import dataclass

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))

INPUT_NAMES = {
    "image": ("pixel_values", "image_grid_thw"),
    "video": ("pixel_values_videos", "video_grid_thw"),
}
ARCHS = ("qwen2_vl", "qwen2_5_vl")
COMPUTE_DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class Case:
    file: str             # relative to the goldens folder, e.g. "qwen2_vl/batch3-wf32-cf32.safetensors"
    arch: str
    make_test_model: str  # "--arch A --seed S --dims tiny --dtype D"
    compute_dtype: str    # "float32" | "bfloat16"
    rel_tolerance: float
    kind: str             # "image" | "video"

    @property
    def pixel_name(self):
        return INPUT_NAMES[self.kind][0]

    @property
    def grid_name(self):
        return INPUT_NAMES[self.kind][1]


def parse_make_test_model(command):
    """{"--arch": ..., "--seed": ..., "--dims": ..., "--dtype": ...} of a manifest command."""
    words = command.split()
    if len(words) % 2:
        raise ValueError(f"make_test_model '{command}': expected '--key value' pairs")
    opts = dict(zip(words[0::2], words[1::2]))
    for key in ("--arch", "--seed", "--dims", "--dtype"):
        if key not in opts:
            raise ValueError(f"make_test_model '{command}': no {key}")
    return opts


def checkpoint_folder_name(command):
    o = parse_make_test_model(command)
    return f"{o['--arch']}-seed{o['--seed']}-{o['--dims']}-{o['--dtype']}"


def load_cases(goldens_dir):
    """Every image ("goldens") and video ("video_goldens") case of manifest.json, checked."""
    path = os.path.join(goldens_dir, "manifest.json")
    with open(path) as fh:
        manifest = json.load(fh)
    cases = []
    for section, kind in (("goldens", "image"), ("video_goldens", "video")):
        for i, entry in enumerate(manifest.get(section, [])):
            where = f"{path}: {section}[{i}]"
            try:
                case = Case(file=entry["file"], arch=entry["arch"], make_test_model=entry["make_test_model"],
                            compute_dtype=entry["compute_dtype"], rel_tolerance=float(entry["rel_tolerance"]),
                            kind=kind)
            except KeyError as e:
                raise ValueError(f"{where}: no field {e}") from None
            if case.arch not in ARCHS:
                raise ValueError(f"{where}: arch {case.arch!r} (known: {ARCHS})")
            if case.compute_dtype not in COMPUTE_DTYPES:
                raise ValueError(f"{where}: compute_dtype {case.compute_dtype!r} (known: {COMPUTE_DTYPES})")
            if parse_make_test_model(case.make_test_model)["--arch"] != case.arch:
                raise ValueError(f"{where}: make_test_model arch differs from arch {case.arch!r}")
            cases.append(case)
    if not cases:
        raise ValueError(f"{path}: no cases under 'goldens' or 'video_goldens'")
    files = [c.file for c in cases]
    if len(set(files)) != len(files):
        raise ValueError(f"{path}: a file is listed twice")
    return cases


def checkpoint_dirs(inputs_dir, cases):
    """{make_test_model: checkpoint folder} from inputs_dir/index.json (prepare_inputs.py);
    fails naming the command when a case's checkpoint is missing."""
    index_path = os.path.join(inputs_dir, "index.json")
    if not os.path.exists(index_path):
        raise FileNotFoundError(f"{index_path} missing: run tools/reference/hf/prepare_inputs.py here and carry "
                                f"tools/reference/hf_inputs to the device")
    with open(index_path) as fh:
        index = json.load(fh)["checkpoints"]
    out = {}
    for command in sorted({c.make_test_model for c in cases}):
        if command not in index:
            raise ValueError(f"{index_path}: no checkpoint for make_test_model '{command}' (re-run prepare_inputs.py)")
        folder = os.path.join(inputs_dir, index[command])
        if not os.path.exists(os.path.join(folder, "config.json")):
            raise FileNotFoundError(f"{folder}/config.json missing (checkpoint for '{command}')")
        out[command] = folder
    return out
