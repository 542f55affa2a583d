#!/usr/bin/env bash
# eric's main job on a fresh Debian machine: installs dependencies, builds,
# writes a small random-weight Qwen2-VL checkpoint (a demo: its embeddings
# carry no meaning) and encodes a sample image with it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release
eric=build/release/eric
"$eric" version
demo_dir="${XDG_CACHE_HOME:-$HOME/.cache}/eric/demo-qwen2_vl"
if [[ ! -f "$demo_dir/config.json" ]]; then
  "$eric" make-test-model --arch qwen2_vl --out "$demo_dir" --seed 0
fi
"$eric" encode --model "$demo_dir" --image tests/data/sample.jpg --out /tmp/eric-demo-embeddings.safetensors
echo "demo: embeddings written to /tmp/eric-demo-embeddings.safetensors"
