#!/usr/bin/env bash
# Installs dependencies (scripts/install-deps.sh) and builds a preset.
#   scripts/build.sh [release|debug|asan]   (default: release)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
