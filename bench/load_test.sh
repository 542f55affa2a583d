#!/usr/bin/env bash
# Load test of `eric serve` on a tiny random checkpoint with `hey`
# (Debian package hey): CONNS concurrent keep-alive connections for SECONDS
# seconds, each posting one 224x224 PNG (data: URI) to /embeddings.
#
#   bench/load_test.sh [BUILD_DIR]        env: CONNS=64 SECONDS_=60 QUEUE= (--max-queued-requests)
#
# Prints ONE line: requests/s, p50/p99 latency, 200/429/error counts, and
# whether RSS and open files of the server's processes (router, engine,
# workers) came back to their warmed-up baseline after the load. Exits 1 when
# a request failed with anything but a deliberate 429, or a resource did not
# come back. Set QUEUE below CONNS to exercise the 429 path.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
conns=${CONNS:-64}
seconds=${SECONDS_:-60}
queue=${QUEUE:-}
eric="$build/eric"
command -v hey >/dev/null || { echo "load_test: 'hey' is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
work=$(mktemp -d /tmp/eric_load_XXXXXX)
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$eric" --log-level warn make-test-model --arch qwen2_vl --out "$work/model" >/dev/null
/usr/bin/python3 - "$work/body.json" <<'EOF'
import base64, io, json, sys
from PIL import Image
img = Image.open("tests/data/sample.jpg").convert("RGB").resize((224, 224), Image.BICUBIC)
buf = io.BytesIO()
img.save(buf, format="PNG")
url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
json.dump({"data": [{"id": "img", "modality": "image", "model_id": "tiny", "url": url}]}, open(sys.argv[1], "w"))
EOF

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
extra=()
[[ -n "$queue" ]] && extra+=(--max-queued-requests "$queue")
"$eric" --log-level warn serve --model "$work/model" --served-model-name tiny --port "$port" \
    ${extra[@]+"${extra[@]}"} 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "load_test: eric serve died:" >&2; cat "$work/serve.log" >&2; exit 2; }
  sleep 0.1
done
url="http://127.0.0.1:$port/embeddings"

# The server and every process below it.
tree() {
  local pids=("$server_pid") i=0
  while ((i < ${#pids[@]})); do
    for c in $(ps -o pid= --ppid "${pids[$i]}" 2>/dev/null); do pids+=("$c"); done
    i=$((i + 1))
  done
  echo "${pids[@]}"
}
rss_kib() {  # summed VmRSS
  local total=0
  for p in $(tree); do total=$((total + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done
  echo "$total"
}
fds() {
  local total=0
  for p in $(tree); do total=$((total + $(ls "/proc/$p/fd" 2>/dev/null | wc -l))); done
  echo "$total"
}

# Warm up (first batches allocate the engine's buffers, the pool's threads),
# then take the baseline once the server is idle.
hey -z 5s -c "$conns" -t 30 -m POST -T application/json -D "$work/body.json" "$url" >/dev/null
sleep 1
rss0=$(rss_kib)
fds0=$(fds)
procs0=$(tree | wc -w)

hey -z "${seconds}s" -c "$conns" -t 30 -m POST -T application/json -D "$work/body.json" "$url" >"$work/hey.txt"

# Back to baseline: open files exactly, RSS within 10% or 32 MiB (freed heap
# pages are not always returned to the system at once). Give it 10 s.
rss1=0 fds1=0 back=no
for _ in $(seq 1 50); do
  rss1=$(rss_kib)
  fds1=$(fds)
  limit=$((rss0 / 10 > 32768 ? rss0 + rss0 / 10 : rss0 + 32768))
  if ((fds1 <= fds0 && rss1 <= limit)); then back=yes; break; fi
  sleep 0.2
done
procs1=$(tree | wc -w)

rps=$(awk '/Requests\/sec:/ {print $2}' "$work/hey.txt")
p50=$(awk '/ 50% in / {printf "%.1f", $3 * 1000}' "$work/hey.txt")
p99=$(awk '/ 99% in / {printf "%.1f", $3 * 1000}' "$work/hey.txt")
ok=$(awk '/\[200\]/ {print $2}' "$work/hey.txt")
busy=$(awk '/\[429\]/ {print $2}' "$work/hey.txt")
# Errors: any other status, and transport errors (hey's "Error distribution").
errors=$(awk '/Status code distribution:/ {s=1; next} /Error distribution:/ {s=0; e=1; next}
              s && /^\s*\[[0-9]+\]/ && $1 != "[200]" && $1 != "[429]" {n += $2}
              e && /^\s*\[[0-9]+\]/ {gsub(/[\[\]]/, "", $1); n += $1}
              END {print n + 0}' "$work/hey.txt")
echo "load_test: ${conns} conns ${seconds}s: ${rps} req/s, p50 ${p50} ms, p99 ${p99} ms, 200: ${ok:-0}, 429: ${busy:-0}," \
     "errors: ${errors}; rss $((rss0 / 1024))->$((rss1 / 1024)) MiB, open files ${fds0}->${fds1}," \
     "processes ${procs0}->${procs1}: $([[ $back == yes && $procs0 == "$procs1" ]] && echo back to baseline || echo NOT back to baseline)"
if [[ "$errors" != 0 || $back != yes || $procs0 != "$procs1" ]]; then
  sed -n '/Status code distribution/,$p' "$work/hey.txt" >&2
  exit 1
fi
