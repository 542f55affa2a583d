#!/usr/bin/env bash
# Server overhead and throughput in one run:
#   bench/server_bench.sh [BUILD_DIR] [--model DIR]
# Starts `eric serve` with --max-batch-size 1, 4 and 16 on a tiny random
# Qwen2-VL (or --model), and for each runs build/.../bench/server_bench:
# in-process decode+preprocess+encode time of a 224x224 image vs the HTTP
# round trip of the same image (p50/p99 at 1 and 16 clients), and throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
model=""
if [[ "${2:-}" == "--model" ]]; then model=$3; fi
eric="$build/eric"
bench="$build/bench/server_bench"
work=$(mktemp -d /tmp/eric_bench_XXXXXX)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [[ -z "$model" ]]; then
  model="$work/model"
  "$eric" make-test-model --arch qwen2_vl --out "$model" >/dev/null
fi
image="$work/img224.png"
/usr/bin/python3 -c "
from PIL import Image
Image.open('tests/data/sample.jpg').convert('RGB').resize((224, 224), Image.BICUBIC).save('$image')"

for bs in 1 4 16; do
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$eric" --log-level warn serve --model "$model" --port "$port" --max-batch-size "$bs" \
      --allowed-local-media-path "$work" --preprocess-workers 2 2>"$work/serve-$bs.log" &
  server_pid=$!
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then break; fi
    sleep 0.1
  done
  "$bench" --model "$model" --image "$image" --port "$port" --label "$bs" --requests 200 --duration 5
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
done
