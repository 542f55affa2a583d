#!/usr/bin/env bash
# eric's main job on a fresh Debian machine: installs dependencies, builds,
# and starts `eric serve` on its built-in demo model (a small random-weight
# Qwen2-VL checkpoint written once into ~/.cache/eric; its embeddings carry
# no meaning) on http://127.0.0.1:8000, with the repository's test images
# allowed as file:// media. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release
exec build/release/eric serve --port "${ERIC_PORT:-8000}" \
  --allowed-local-media-path "$PWD/tests/data"
