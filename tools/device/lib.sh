# Shared by check.sh and encoder_check.sh (sourced, not run): the CUDA
# toolchain, the staged Debian packages (tools/device/deps, unpacked under
# /tmp, never into /) and configuring + building targets of the standalone
# project in this folder for this card's architecture only.

# device_init <tag>: root (the repository), build (ERIC_DEVICE_BUILD or
# /tmp/eric-device-build, shared by both scripts), logs ($OUT or the build
# folder) and say(), which prefixes a message with the tag and the seconds
# since this call.
device_init() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  build=${ERIC_DEVICE_BUILD:-/tmp/eric-device-build}
  logs=${OUT:-$build}
  mkdir -p "$build" "$logs"
  t0=$(date +%s)
  device_tag=$1
  say() { printf '[%s %4ds] %s\n' "$device_tag" $(( $(date +%s) - t0 )) "$*"; }
}

# device_build <log name prefix> <target>...
device_build() {
  local name=$1
  shift
  export PATH=/usr/local/cuda/bin:$PATH
  command -v nvcc >/dev/null || { echo "$(basename "$0"): nvcc not found (PATH, /usr/local/cuda/bin)"; return 2; }
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader

  local prefix=/tmp/eric-device-deps
  local cmake_args=()
  if ls "$root"/tools/device/deps/*.deb >/dev/null 2>&1; then
    if [[ ! -d $prefix/usr ]]; then
      say "unpacking staged packages into $prefix"
      mkdir -p "$prefix"
      local f
      for f in "$root"/tools/device/deps/*.deb; do dpkg -x "$f" "$prefix" || return 2; done
    fi
    cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix/usr")
    export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu:$prefix/usr/lib/x86_64-linux-gnu/openblas-pthread:${LD_LIBRARY_PATH:-}"
  fi

  # Only this card's architecture: every extra one multiplies nvcc time.
  local arch=${CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')}
  arch=${arch:-90}
  local gen=(-G Ninja)
  command -v ninja >/dev/null || gen=()
  # A build folder configured with another generator cannot be reused.
  if [[ -f $build/CMakeCache.txt ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${gen[1]:-Unix Makefiles}" "$build/CMakeCache.txt"; then
    rm -rf "$build" && mkdir -p "$build"
  fi

  say "configure (sm_$arch)"
  cmake -S "$root/tools/device" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" "${cmake_args[@]}" \
    >"$logs/${name}configure.log" 2>&1 || { tail -30 "$logs/${name}configure.log"; return 2; }
  say "build $*"
  cmake --build "$build" -j "$(nproc)" --target "$@" >"$logs/${name}build.log" 2>&1 ||
    { grep -E "error|FAILED" -A3 "$logs/${name}build.log" | head -60; return 2; }
}
