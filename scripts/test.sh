#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs dependencies,
# builds the release preset, runs every CTest test, then builds the libFuzzer
# targets and runs each for 30 s (ERIC_FUZZ_SECONDS). Exits non-zero if
# anything fails.
#   scripts/test.sh                      (README's test command; CI runs it)
#   ERIC_FUZZ_SECONDS=60 scripts/test.sh (longer fuzzing)
#   ERIC_TEST_PRESET=asan scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${ERIC_TEST_PRESET:-release}"
scripts/build.sh "$preset"
ctest --preset "$preset"
scripts/run-fuzzers.sh "${ERIC_FUZZ_SECONDS:-30}"
