#!/usr/bin/env bash
# Installs every Debian (bookworm) package that eric's build, tests, benchmarks
# and reference tools need. Idempotent and non-interactive; nothing is fetched
# from anywhere but Debian's archive.
#
#   scripts/install-deps.sh            build + tests + reference tools
#   ERIC_DEPS_NO_REFERENCE=1 scripts/install-deps.sh   skip python3-torch & co.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev            # libFuzzer + sanitizers for fuzz targets
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev                        # Beast/Asio (Debian's default 1.74)
  libcurl4-openssl-dev libssl-dev     # HTTP client; SHA-256 for Hub downloads
  cppzmq-dev libzmq3-dev libmsgpack-cxx-dev
  nlohmann-json3-dev libsimdjson-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev
  libavformat-dev libavcodec-dev libswscale-dev libswresample-dev libavutil-dev
  libopenblas-openmp-dev
  prometheus-cpp-dev
  curl                                # bench/server_bench.sh polls /health; README examples
  hey                                 # bench/load_test.sh (HTTP load generator)
  libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev
)

REFERENCE_PACKAGES=(
  python3 python3-torch python3-numpy python3-pil
  python3-opencv                      # video reference decoding (cv2.VideoCapture, as Cornserve's Eric)
)

packages=("${BUILD_PACKAGES[@]}")
if [[ "${ERIC_DEPS_NO_REFERENCE:-0}" != "1" ]]; then
  packages+=("${REFERENCE_PACKAGES[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
