#!/usr/bin/env bash
# Downloads (never installs) the Debian packages the device build needs into
# tools/device/deps/, for machines where apt works; the GPU machine cannot
# reach a registry, so the session carries this folder there (device tool:
# carry ["tools/device/deps"]) and check.sh unpacks it with dpkg -x into /tmp.
# Keep the list in step with tools/device/CMakeLists.txt's find_package calls.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/deps"
cd "$here/deps"
pkgs=(libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 nlohmann-json3-dev libgtest-dev
      libopenblas-dev libopenblas-pthread-dev libopenblas0-pthread libgfortran5 libquadmath0)
apt-get download "${pkgs[@]}"
du -sh "$here/deps"
