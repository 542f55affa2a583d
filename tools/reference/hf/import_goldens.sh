#!/bin/bash
# Imports the goldens the GPU machine returned (tools/reference/hf/run_on_device.sh) into
# tests/data/goldens, updating manifest.json and the README's producer block, then runs the
# C++ golden tests. Usage: tools/reference/hf/import_goldens.sh PATH/goldens_transformers.tar [--force]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 goldens_transformers.tar [--force]" >&2; exit 2; }
/usr/bin/python3 "$root/tools/reference/hf/import_goldens.py" "$@"
if [ -d "$root/build/release" ]; then
  ctest --test-dir "$root/build/release" -R 'EncoderGoldens' --output-on-failure
fi
