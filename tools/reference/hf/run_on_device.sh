#!/bin/bash
# Regenerates the vision-encoder goldens with REAL transformers on the lent GPU machine (CPU
# compute; transformers 5.x / torch 2.x are installed there, not here). Run from the repository
# root with the tiny checkpoints carried along:
#
#   run(command="tools/reference/hf/run_on_device.sh", carry=["tools/reference/hf_inputs"], timeout_s=180)
#
# (tools/reference/hf_inputs is made here by `/usr/bin/python3 tools/reference/hf/prepare_inputs.py`.)
# Writes into $OUT (at most 8 files come back): goldens_transformers.tar, report_transformers.json,
# regenerate_transformers.log, versions.txt, and the same three for the re-statement backend run
# under that machine's torch (separates torch-version effects from transformers differences).
# Then, here: tools/reference/hf/import_goldens.sh <files_at>/goldens_transformers.tar
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$root"
out="${OUT:-$root/hf_out}"
python="${PYTHON:-python3}"
mkdir -p "$out"
export CUDA_VISIBLE_DEVICES=""  # CPU on purpose: deterministic, and no CUDA start-up cost
export TRANSFORMERS_OFFLINE=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ ! -f tools/reference/hf_inputs/index.json ]; then
  echo "run_on_device: tools/reference/hf_inputs/index.json missing: carry tools/reference/hf_inputs" >&2
  exit 2
fi
"$python" -c 'import sys, torch, transformers, numpy; print("python", sys.version.split()[0]); print("torch", torch.__version__); print("transformers", transformers.__version__); print("numpy", numpy.__version__)' \
  2>&1 | tee "$out/versions.txt"

timeout 100 "$python" tools/reference/hf/regenerate_goldens.py --backend transformers --out "$out" "$@"
rc=$?
echo "transformers backend: exit $rc"
# Informative only: the committed goldens' own code under this machine's torch.
timeout 50 "$python" tools/reference/hf/regenerate_goldens.py --backend restatement --out "$out" >/dev/null 2>&1
echo "restatement backend (this torch): exit $? (see $out/regenerate_restatement.log)"
tail -n 2 "$out/regenerate_restatement.log" 2>/dev/null
exit $rc
