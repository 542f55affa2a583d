// End-to-end server benchmark (driven by bench/server_bench.sh, which starts
// `eric serve` with each --max-batch-size):
//
//   server_bench --model DIR --image IMG --port P [--label L] [--requests N] [--duration S]
//
// 1. In-process cost of one item: decode + preprocess + encode of IMG with
//    the same model, in this process (no HTTP, no IPC).
// 2. HTTP round trip of a one-item /embeddings request for the same image
//    (file:// URL, answer with the embedding) at 1 and 16 concurrent clients;
//    the server's overhead is round trip minus the in-process time.
// 3. Throughput (items/s) with 16 clients for --duration seconds.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "media/image_decoder.h"
#include "models/loaded_model.h"
#include "router/http_client.h"

namespace {

using Clock = std::chrono::steady_clock;
using eric::router::HttpClient;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  return v[i];
}

struct Args {
  std::string model, image, label = "-";
  int port = 0;
  int requests = 200;
  double duration = 5;
};

[[noreturn]] void die(const std::string& message) {
  fmt::print(stderr, "server_bench: {}\n", message);
  std::exit(1);
}

// Decode + preprocess + encode, in this process, `n` times.
std::vector<double> in_process_ms(const Args& a, int n) {
  auto model = eric::models::load_model(a.model, /*load_encoder=*/true);
  if (!model.ok()) die(model.status().to_string());
  std::ifstream in(a.image, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  std::vector<double> out;
  for (int i = 0; i < n + 3; ++i) {
    auto t0 = Clock::now();
    auto image = eric::media::decode_image(bytes);
    if (!image.ok()) die(image.status().to_string());
    auto item = model->processor->process_image(*image, {});
    if (!item.ok()) die(item.status().to_string());
    auto emb = model->encoder->encode({&*item});
    if (!emb.ok()) die(emb.status().to_string());
    if (i >= 3) out.push_back(ms_since(t0));  // the first runs warm caches up
  }
  return out;
}

std::string request_body(const Args& a, const std::string& id) {
  nlohmann::json item = {{"id", id}, {"modality", "image"}, {"model_id", a.model}, {"url", "file://" + a.image}};
  return nlohmann::json({{"return_embeddings", true}, {"data", {item}}}).dump();
}

// Round-trip latencies of `per_client` requests from each of `clients` threads.
std::vector<double> round_trips_ms(const Args& a, int clients, int per_client) {
  std::vector<std::vector<double>> lat(clients);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = HttpClient::connect("127.0.0.1", static_cast<uint16_t>(a.port));
      if (!client.ok()) return void(failures++);
      for (int i = 0; i < per_client; ++i) {
        auto t0 = Clock::now();
        auto r = (*client)->post("/embeddings", request_body(a, fmt::format("c{}-{}", c, i)));
        if (!r.ok() || r->status != 200) {
          failures++;
          continue;
        }
        lat[c].push_back(ms_since(t0));
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failures > 0) die(fmt::format("{} requests failed", failures.load()));
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  return all;
}

double throughput_items_per_s(const Args& a, int clients) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> items{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = HttpClient::connect("127.0.0.1", static_cast<uint16_t>(a.port));
      if (!client.ok()) return;
      for (int i = 0; !stop; ++i) {
        auto r = (*client)->post("/embeddings", request_body(a, fmt::format("t{}-{}", c, i)));
        if (r.ok() && r->status == 200) items++;
      }
    });
  }
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.duration));
  stop = true;
  for (auto& t : threads) t.join();
  return items.load() / (ms_since(t0) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") a.model = v;
    else if (k == "--image") a.image = v;
    else if (k == "--port") a.port = std::stoi(v);
    else if (k == "--label") a.label = v;
    else if (k == "--requests") a.requests = std::stoi(v);
    else if (k == "--duration") a.duration = std::stod(v);
    else die("unknown option " + k);
  }
  if (a.model.empty() || a.image.empty() || a.port == 0) die("usage: --model DIR --image IMG --port P");

  auto local = in_process_ms(a, 50);
  const double local_p50 = percentile(local, 50), local_p99 = percentile(local, 99);
  round_trips_ms(a, 1, 20);  // warm-up
  auto rt1 = round_trips_ms(a, 1, a.requests);
  auto rt16 = round_trips_ms(a, 16, std::max(1, a.requests / 16));
  double tput = throughput_items_per_s(a, 16);

  fmt::print("max_batch_size={}  in-process decode+preprocess+encode: p50 {:.3f} ms, p99 {:.3f} ms\n", a.label,
             local_p50, local_p99);
  fmt::print("  1 client : round trip p50 {:.3f} ms p99 {:.3f} ms | overhead p50 {:.3f} ms p99 {:.3f} ms\n",
             percentile(rt1, 50), percentile(rt1, 99), percentile(rt1, 50) - local_p50,
             percentile(rt1, 99) - local_p99);
  fmt::print("  16 clients: round trip p50 {:.3f} ms p99 {:.3f} ms | overhead p50 {:.3f} ms p99 {:.3f} ms\n",
             percentile(rt16, 50), percentile(rt16, 99), percentile(rt16, 50) - local_p50,
             percentile(rt16, 99) - local_p99);
  fmt::print("  throughput, 16 clients, 1 item/request: {:.1f} items/s\n", tput);
  return 0;
}
