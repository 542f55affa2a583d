#!/usr/bin/python3
"""Tests of tools/reference/hf without transformers (here: /usr/bin/python3, torch 1.13).

  /usr/bin/python3 tools/reference/hf/test_regenerate.py      (needs tools/reference/hf_inputs:
                                                              prepare_inputs.py; ~10 s)

The committed goldens were made by real transformers (manifest.json `producer`), so the
re-statement backend must reproduce them within each case's rel_tolerance, with every input
tensor (pixel values, grids, frames) bit for bit. The transformers backend is exercised against
a stand-in `transformers` package whose tower classes are tools/reference's re-statements (one
returning a v5-style output object with last_hidden_state + pooler_output, one a plain tensor
as in 4.x): the whole pipeline (manifest, checkpoint index, strict weight loading, dtype
handling, output selection, tar) must then give exactly the re-statement backend's embeddings.
What it cannot check is transformers itself: that is what the GPU-machine run measures.
"""

import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

import manifest_cases  # noqa: E402
import qwen2_5_vl_vision  # noqa: E402
import qwen2_vl_vision  # noqa: E402
from safetensors_io import read_safetensors, safetensors_bytes  # noqa: E402

GOLDENS = os.path.join(manifest_cases.ROOT, "tests", "data", "goldens")
INPUTS = os.path.join(manifest_cases.ROOT, "tools", "reference", "hf_inputs")


class V5Output:
    """What a transformers 5 vision tower may return: tower output and merged embeddings."""

    def __init__(self, last_hidden_state, pooler_output):
        self.last_hidden_state = last_hidden_state
        self.pooler_output = pooler_output


class FakeQwen2Tower(qwen2_vl_vision.Qwen2VisionTransformerPretrainedModel):
    def forward(self, hidden_states, grid_thw):
        pre_merger = torch.zeros(hidden_states.shape[0], self.config.embed_dim)
        return V5Output(pre_merger, super().forward(hidden_states, grid_thw))


class FakeQwen2VLConfig:
    """Stands in for Qwen2VLConfig.from_pretrained; Qwen2_5_VLConfig is left out on purpose,
    so that family takes hf_backend's fallback (vision config class on the dict)."""

    @classmethod
    def from_pretrained(cls, folder):
        c = cls()
        c.vision_config = qwen2_vl_vision.Qwen2VLVisionConfig.from_dict(qwen2_vl_vision.read_config(folder)["vision_config"])
        return c


def install_fake_transformers():
    """sys.modules entries for the module paths hf_backend imports."""
    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m
    module("transformers", __version__="0.0-fake")
    module("transformers.models")
    module("transformers.models.qwen2_vl")
    module("transformers.models.qwen2_5_vl")
    module("transformers.models.qwen2_vl.configuration_qwen2_vl", Qwen2VLVisionConfig=qwen2_vl_vision.Qwen2VLVisionConfig,
           Qwen2VLConfig=FakeQwen2VLConfig)
    module("transformers.models.qwen2_vl.modeling_qwen2_vl", Qwen2VisionTransformerPretrainedModel=FakeQwen2Tower)
    module("transformers.models.qwen2_5_vl.configuration_qwen2_5_vl",
           Qwen2_5_VLVisionConfig=qwen2_5_vl_vision.Qwen2_5_VLVisionConfig)
    module("transformers.models.qwen2_5_vl.modeling_qwen2_5_vl",
           Qwen2_5_VisionTransformerPretrainedModel=qwen2_5_vl_vision.Qwen2_5_VisionTransformerPretrainedModel)


def tar_members(path):
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def read_member(data, scratch):
    """(tensors, metadata) of safetensors bytes (read_safetensors takes a path)."""
    with open(scratch, "wb") as fh:
        fh.write(data)
    return read_safetensors(scratch)


def read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


def rel_error(new, ref):
    """||new - ref|| / ||ref|| in float64, computed here rather than trusted from report.json."""
    new, ref = new.double(), ref.double()
    return ((new - ref).norm() / ref.norm()).item()


# Metadata entries regenerate_goldens.py sets on every file; all others are the committed ones.
REGENERATED_METADATA = {"producer", "generator", "attn_implementation", "output_field"}


class RegenerateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(INPUTS, "index.json")):
            raise unittest.SkipTest(f"{INPUTS} missing: run /usr/bin/python3 tools/reference/hf/prepare_inputs.py")
        install_fake_transformers()
        import regenerate_goldens
        cls.regen = regenerate_goldens
        cls.tmp = tempfile.mkdtemp(prefix="regen_test_")
        cls.cases = manifest_cases.load_cases(GOLDENS)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_backend(self, backend):
        """DIR of one regenerate_goldens.py run per backend (shared by the tests that read it)."""
        out = os.path.join(self.tmp, backend)
        if not os.path.exists(os.path.join(out, f"goldens_{backend}.tar")):
            try:
                self.regen.main(["--backend", backend, "--out", out])
            except SystemExit as e:  # 3: beyond tolerance, 1: error; a test failure, not an exit
                self.fail(f"regenerate_goldens.py --backend {backend} exited {e.code}")
        return out

    def check_reproduces_committed(self, out, backend, producer_prefix, attn_implementation):
        """Checks the tar against the committed goldens; returns (report, {file: new embeddings})."""
        members = tar_members(os.path.join(out, f"goldens_{backend}.tar"))
        self.assertEqual(set(members), {f"goldens/{c.file}" for c in self.cases} | {"report.json"})
        self.assertLessEqual(len(os.listdir(out)), 8)  # the GPU machine returns at most 8 files
        report = json.loads(members["report.json"])
        rows = {r["file"]: r for r in report["cases"]}
        self.assertEqual(set(rows), {c.file for c in self.cases})
        embeddings = {}
        for case in self.cases:
            new, new_meta = read_member(members[f"goldens/{case.file}"], os.path.join(out, "check.safetensors"))
            old, old_meta = read_safetensors(os.path.join(GOLDENS, case.file))
            self.assertEqual(set(new), set(old), case.file)
            # Inputs (pixel values, grids, video frames) are copied from the committed file.
            for name in sorted(set(old) - {"embeddings"}):
                self.assertEqual(new[name].dtype, old[name].dtype, f"{case.file}: {name}")
                self.assertTrue(torch.equal(new[name], old[name]), f"{case.file}: input {name} changed")
            # The embeddings are recomputed: same dtype and shape, within the case's tolerance.
            self.assertEqual((new["embeddings"].dtype, new["embeddings"].shape),
                             (old["embeddings"].dtype, old["embeddings"].shape), case.file)
            err = rel_error(new["embeddings"], old["embeddings"])
            self.assertLess(err, case.rel_tolerance, f"{case.file}: rel {err:.3e} vs committed")
            self.assertAlmostEqual(rows[case.file]["rel_error_vs_committed"], err, delta=1e-9 + 1e-6 * err)
            self.assertTrue(rows[case.file]["within_tolerance"], case.file)
            self.assertEqual(rows[case.file]["rel_tolerance"], case.rel_tolerance, case.file)
            embeddings[case.file] = new["embeddings"]
            self.assertTrue(new_meta["producer"].startswith(producer_prefix), new_meta)
            self.assertEqual(new_meta["producer"], report["producer"], case.file)
            self.assertEqual(new_meta["generator"], self.regen.GENERATOR, case.file)
            self.assertEqual(new_meta["attn_implementation"], attn_implementation, case.file)
            self.assertEqual(new_meta["output_field"], rows[case.file]["output_field"], case.file)
            for key, value in old_meta.items():
                if key not in REGENERATED_METADATA:
                    self.assertEqual(new_meta.get(key), value, f"{case.file}: metadata {key}")
        return report, embeddings

    def test_restatement_backend_reproduces_committed_goldens(self):
        out = self.run_backend("restatement")
        report, _ = self.check_reproduces_committed(out, "restatement", "tools/reference re-statement",
                                                    "eager (re-statement)")
        self.assertEqual({r["output_field"] for r in report["cases"]}, {"tensor"})

    def test_tolerance_breach_is_reported_and_exits_3(self):
        # A committed golden off by 1% (> its 1e-4 tolerance) must be flagged, the rest not.
        victim = "qwen2_vl/nonsquare_56x84-wf32-cf32.safetensors"
        goldens = os.path.join(self.tmp, "perturbed_goldens")
        shutil.copytree(GOLDENS, goldens)
        tensors, meta = read_safetensors(os.path.join(goldens, victim))
        tensors["embeddings"] = tensors["embeddings"] * 1.01
        with open(os.path.join(goldens, victim), "wb") as fh:
            fh.write(safetensors_bytes(tensors, meta))
        out = os.path.join(self.tmp, "perturbed")
        with self.assertRaises(SystemExit) as cm:
            self.regen.main(["--backend", "restatement", "--out", out, "--goldens", goldens])
        self.assertEqual(cm.exception.code, 3)
        with open(os.path.join(out, "report_restatement.json")) as fh:
            report = json.load(fh)
        self.assertEqual([r["file"] for r in report["cases"] if not r["within_tolerance"]], [victim])
        row = next(r for r in report["cases"] if r["file"] == victim)
        self.assertAlmostEqual(row["rel_error_vs_committed"], 0.01 / 1.01, delta=1e-3)

    def test_transformers_backend_plumbing_with_stand_in_towers(self):
        out = self.run_backend("transformers")
        report, embeddings = self.check_reproduces_committed(out, "transformers", "transformers 0.0-fake / torch ",
                                                             "eager")
        # The stand-in towers are the re-statement classes: through hf_backend's config, weight
        # loading and dtype handling they must give exactly what the re-statement backend gives.
        _, restated = self.check_reproduces_committed(self.run_backend("restatement"), "restatement",
                                                      "tools/reference re-statement", "eager (re-statement)")
        for name, value in restated.items():
            self.assertTrue(torch.equal(embeddings[name], value), f"{name}: transformers plumbing vs re-statement")
        fields = {r["file"].split("/")[0]: r["output_field"] for r in report["cases"]}
        self.assertEqual(fields, {"qwen2_vl": "pooler_output", "qwen2_5_vl": "tensor"})
        with open(os.path.join(out, "regenerate_transformers.log")) as fh:
            log = fh.read()
        self.assertIn("Qwen2VLConfig.from_pretrained(checkpoint).vision_config", log)
        self.assertIn("Qwen2_5_VLVisionConfig(**vision_config) (Qwen2_5_VLConfig: AttributeError", log)

    def hf_state(self, folder):
        import regenerate_goldens
        return regenerate_goldens.read_checkpoint(folder)

    def test_strict_weight_loading_names_missing_unexpected_and_shapes(self):
        import hf_backend
        folder = os.path.join(INPUTS, "qwen2_vl-seed0-tiny-float32")
        config, state = self.hf_state(folder)
        broken = dict(state)
        del broken["merger.ln_q.weight"]
        broken["blocks.0.extra"] = torch.zeros(1)
        with self.assertRaisesRegex(RuntimeError, r"missing visual\.\['merger\.ln_q\.weight'\].*blocks\.0\.extra"):
            hf_backend.build("qwen2_vl", config["vision_config"], broken, torch.float32)
        broken = dict(state)
        broken["merger.ln_q.weight"] = torch.zeros(3)
        with self.assertRaisesRegex(RuntimeError, r"shape mismatch: visual\.merger\.ln_q\.weight"):
            hf_backend.build("qwen2_vl", config["vision_config"], broken, torch.float32)

    def test_bf16_build_keeps_float32_rotary_buffer(self):
        import hf_backend
        config, state = self.hf_state(os.path.join(INPUTS, "qwen2_5_vl-seed0-tiny-bfloat16"))
        model, notes = hf_backend.build("qwen2_5_vl", config["vision_config"], state, torch.bfloat16)
        self.assertEqual({str(p.dtype) for p in model.parameters()}, {"torch.bfloat16"})
        self.assertEqual(notes["buffers"], {"rotary_pos_emb.inv_freq": "torch.float32"})
        self.assertEqual(torch.get_default_dtype(), torch.float32)

    def test_bf16_build_keeps_strict_fp32_modules_in_float32(self):
        import hf_backend
        mod = sys.modules["transformers.models.qwen2_vl.modeling_qwen2_vl"]

        class KeepMerger(FakeQwen2Tower):
            _keep_in_fp32_modules_strict = ["merger"]
        saved = mod.Qwen2VisionTransformerPretrainedModel
        mod.Qwen2VisionTransformerPretrainedModel = KeepMerger
        try:
            config, state = self.hf_state(os.path.join(INPUTS, "qwen2_vl-seed0-tiny-bfloat16"))
            model, notes = hf_backend.build("qwen2_vl", config["vision_config"], state, torch.bfloat16)
        finally:
            mod.Qwen2VisionTransformerPretrainedModel = saved
        dtypes = {n: p.dtype for n, p in model.named_parameters()}
        self.assertEqual(dtypes["merger.mlp.0.weight"], torch.float32)
        self.assertEqual(dtypes["blocks.0.attn.qkv.weight"], torch.bfloat16)
        self.assertIn("merger", notes["kept_fp32"])

    def test_output_without_golden_shape_fails_naming_shapes(self):
        import hf_backend

        class Tower(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.zeros(1))

            def forward(self, x, grid_thw):
                return V5Output(torch.zeros(8, 4), torch.zeros(2, 4))

        with self.assertRaisesRegex(RuntimeError, r"no tensor of shape \[2, 5\].*pooler_output \[2, 4\]"):
            hf_backend.run(Tower(), torch.zeros(8, 3), torch.tensor([[1, 2, 4]]), (2, 5))


class ManifestTest(unittest.TestCase):
    def write_manifest(self, d, manifest):
        with open(os.path.join(d, "manifest.json"), "w") as fh:
            json.dump(manifest, fh)

    def test_committed_manifest_has_image_and_video_cases(self):
        cases = manifest_cases.load_cases(GOLDENS)
        self.assertEqual({c.kind for c in cases}, {"image", "video"})
        self.assertEqual({c.pixel_name for c in cases if c.kind == "video"}, {"pixel_values_videos"})
        self.assertEqual(manifest_cases.checkpoint_folder_name("--arch qwen2_vl --seed 0 --dims tiny --dtype bfloat16"),
                         "qwen2_vl-seed0-tiny-bfloat16")

    def test_bad_entries_are_named(self):
        entry = {"file": "a.safetensors", "arch": "qwen2_vl", "compute_dtype": "float32", "rel_tolerance": 1e-4,
                 "make_test_model": "--arch qwen2_vl --seed 0 --dims tiny --dtype float32"}
        with tempfile.TemporaryDirectory() as d:
            self.write_manifest(d, {"goldens": [{k: v for k, v in entry.items() if k != "compute_dtype"}]})
            with self.assertRaisesRegex(ValueError, r"goldens\[0\]: no field 'compute_dtype'"):
                manifest_cases.load_cases(d)
            self.write_manifest(d, {"goldens": [dict(entry, arch="llava")]})
            with self.assertRaisesRegex(ValueError, "arch 'llava'"):
                manifest_cases.load_cases(d)
            self.write_manifest(d, {"goldens": [dict(entry, arch="qwen2_5_vl")]})
            with self.assertRaisesRegex(ValueError, "make_test_model arch differs"):
                manifest_cases.load_cases(d)
            self.write_manifest(d, {"goldens": [entry]})
            with self.assertRaisesRegex(FileNotFoundError, "index.json missing"):
                manifest_cases.checkpoint_dirs(d, manifest_cases.load_cases(d))


class ImportTest(unittest.TestCase):
    """import_goldens.py on a copy of the goldens folder."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(os.path.join(INPUTS, "index.json")):
            raise unittest.SkipTest(f"{INPUTS} missing")
        import regenerate_goldens
        cls.tmp = tempfile.mkdtemp(prefix="import_test_")
        try:
            regenerate_goldens.main(["--backend", "restatement", "--out", cls.tmp])
        except SystemExit as e:  # reported as this class's error instead of ending the run
            raise RuntimeError(f"regenerate_goldens.py --backend restatement exited {e.code}") from None
        cls.tar = os.path.join(cls.tmp, "goldens_restatement.tar")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def copy_goldens(self, strip_producer=False):
        """A copy of the committed goldens folder; strip_producer=True removes the manifest's
        producer fields, as before the first import (the README block is rewritten either way)."""
        d = tempfile.mkdtemp(dir=self.tmp)
        dest = os.path.join(d, "goldens")
        shutil.copytree(GOLDENS, dest)
        if strip_producer:
            path = os.path.join(dest, "manifest.json")
            manifest = read_json(path)
            manifest.pop("producer", None)
            for section in ("goldens", "video_goldens"):
                for entry in manifest.get(section, []):
                    entry.pop("producer", None)
            with open(path, "w") as fh:
                json.dump(manifest, fh, indent=1)
        return dest

    @staticmethod
    def snapshot(folder):
        """{relative path: sha256} of every file under folder (short diffs when one changed)."""
        files = {}
        for root, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(root, name)
                files[os.path.relpath(path, folder)] = hashlib.sha256(read_bytes(path)).hexdigest()
        return files

    def rewrite_tar(self, edit):
        members = tar_members(self.tar)
        edit(members)
        path = os.path.join(self.tmp, "edited.tar")
        with tarfile.open(path, "w") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    def check_import(self, strip_producer):
        import import_goldens
        dest = self.copy_goldens(strip_producer)
        before = read_json(os.path.join(dest, "manifest.json"))
        self.assertEqual("producer" in before, not strip_producer and "producer" in
                         read_json(os.path.join(GOLDENS, "manifest.json")))
        with open(os.path.join(dest, "README.md")) as fh:
            old_readme = fh.read()
        import_goldens.main([self.tar, "--goldens", dest])
        manifest = read_json(os.path.join(dest, "manifest.json"))
        producer = manifest["producer"]
        self.assertTrue(producer.startswith("tools/reference re-statement"), producer)
        self.assertNotEqual(producer, before.get("producer"))  # set, or replaced
        for section in ("goldens", "video_goldens"):
            self.assertTrue(manifest[section])
            self.assertEqual({e["producer"] for e in manifest[section]}, {producer}, section)
            # Nothing but the producer changed in the entries.
            self.assertEqual([{k: v for k, v in e.items() if k != "producer"} for e in manifest[section]],
                             [{k: v for k, v in e.items() if k != "producer"} for e in before[section]])
        with open(os.path.join(dest, "README.md")) as fh:
            readme = fh.read()
        self.assertIn(f"Producer of the committed goldens: **{producer}**", readme)
        self.assertEqual(readme.count(import_goldens.BEGIN), 1)
        self.assertEqual(readme.split(import_goldens.BEGIN)[0], old_readme.split(import_goldens.BEGIN)[0])
        self.assertEqual(readme.split(import_goldens.END)[1], old_readme.split(import_goldens.END)[1])
        members = tar_members(self.tar)
        for case in manifest_cases.load_cases(dest):
            data = read_bytes(os.path.join(dest, case.file))
            self.assertEqual(data, members[f"goldens/{case.file}"], case.file)
        _, meta = read_safetensors(os.path.join(dest, "qwen2_5_vl/batch3-wbf16-cbf16.safetensors"))
        self.assertEqual(meta["producer"], producer)

    def test_import_replaces_a_recorded_producer(self):
        self.check_import(strip_producer=False)

    def test_import_sets_producer_where_none_is_recorded(self):
        self.check_import(strip_producer=True)

    def test_import_refuses_missing_case_and_changed_input(self):
        import import_goldens
        dest = self.copy_goldens()
        before = self.snapshot(dest)
        path = self.rewrite_tar(lambda m: m.pop("goldens/qwen2_vl/batch3-wf32-cf32.safetensors"))
        with self.assertRaisesRegex(SystemExit, "missing.*batch3-wf32-cf32"):
            import_goldens.main([path, "--goldens", dest])

        def change_input(members):
            name = "goldens/qwen2_vl/single_28x28-wf32-cf32.safetensors"
            f = os.path.join(self.tmp, "x.safetensors")
            open(f, "wb").write(members[name])
            tensors, meta = read_safetensors(f)
            tensors["pixel_values"] = tensors["pixel_values"] + 1
            members[name] = safetensors_bytes(tensors, meta)
        path = self.rewrite_tar(change_input)
        with self.assertRaisesRegex(ValueError, "input tensor pixel_values differs"):
            import_goldens.main([path, "--goldens", dest])
        # Nothing was written by the refused imports: every file is byte for byte as it was.
        self.assertEqual(self.snapshot(dest), before)


if __name__ == "__main__":
    unittest.main()
