#!/bin/bash
# Regenerates every vision-encoder golden under tests/data/goldens/ (see its README.md).
#
#   tools/reference/make_all_encoder_goldens.sh [ERIC_BINARY] [OUT_DIR]
#
# ERIC_BINARY defaults to build/release/eric; OUT_DIR to tests/data/goldens. The tiny
# checkpoints are written by `eric make-test-model` (deterministic for a seed) into a temporary
# folder and deleted afterwards: only the goldens and manifest.json are kept. The C++ tests
# regenerate the same checkpoints with the same command and seed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
eric="${1:-$root/build/release/eric}"
out="${2:-$root/tests/data/goldens}"
python=/usr/bin/python3
seed=0
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# case name -> grids (T:H:W, comma-separated; all images of a case go through one forward)
declare -A grids=(
  [single_28x28]="1:2:2"
  [nonsquare_56x84]="1:4:6"
  [batch3]="1:2:2,1:6:4,1:4:8"
  [uneven_windows_140x84]="1:10:6"
)
cases_qwen2_vl="single_28x28 nonsquare_56x84 batch3"
# Qwen2.5-VL tiny windows are 2x2 merged tokens (4x4 patches): 4x6 and 10x6 patch grids leave
# partial windows at the right and bottom edges.
cases_qwen2_5_vl="single_28x28 nonsquare_56x84 batch3 uneven_windows_140x84"

manifest="$tmp/manifest.jsonl"
: >"$manifest"
for arch in qwen2_vl qwen2_5_vl; do
  mkdir -p "$out/$arch"
  rm -f "$out/$arch"/*.safetensors
  for wdtype in float32 bfloat16; do
    ckpt="$tmp/$arch-$wdtype"
    "$eric" make-test-model --arch "$arch" --out "$ckpt" --seed "$seed" --dims tiny --dtype "$wdtype" >/dev/null
    wtag=$([ "$wdtype" = float32 ] && echo wf32 || echo wbf16)
    # f32 weights: f32 compute. bf16 weights: f32 compute (upcast) and bf16 compute.
    computes=$([ "$wdtype" = float32 ] && echo float32 || echo "float32 bfloat16")
    cases_var="cases_$arch"
    for case in ${!cases_var}; do
      for cdtype in $computes; do
        ctag=$([ "$cdtype" = float32 ] && echo cf32 || echo cbf16)
        file="$arch/$case-$wtag-$ctag.safetensors"
        "$python" "$root/tools/reference/make_encoder_goldens.py" --model "$ckpt" --out "$out/$file" \
          --dtype "$cdtype" --grids "${grids[$case]}" --seed "$seed" --threads 1
        tol=$([ "$cdtype" = float32 ] && echo 1e-4 || echo 2e-2)
        printf '{"file":"%s","arch":"%s","make_test_model":"--arch %s --seed %s --dims tiny --dtype %s","compute_dtype":"%s","grids":"%s","input_seed":%s,"rel_tolerance":%s}\n' \
          "$file" "$arch" "$arch" "$seed" "$wdtype" "$cdtype" "${grids[$case]}" "$seed" "$tol" >>"$manifest"
      done
    done
  done
done
"$python" - "$manifest" "$out/manifest.json" <<'EOF'
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1])]
with open(sys.argv[2], "w") as fh:
    json.dump({"goldens": entries}, fh, indent=1)
    fh.write("\n")
EOF
echo "wrote $(grep -c . "$manifest") goldens and manifest.json under $out"
# Video goldens (clip -> frames -> processor -> tower; the *.safetensors removed above included
# them): adds "video_goldens" to manifest.json.
"$python" "$root/tools/reference/make_video_encoder_goldens.py" --eric "$eric" --out "$out"
