// Sidecar transfer benchmark, one process, one table:
//
//   sidecar_bench [--sizes-mib 1,16,128] [--seconds-per-case 1.5] [--wire-chunk-kib 4096]
//
// For 1, 16 and 128 MiB float32 tensors it reports median latency and
// throughput (GB/s = bytes / median latency) of
//   memcpy            one copy of the tensor (the floor for any hand-off)
//   tcp loopback      the bytes through one loopback TCP connection (sender
//                     and receiver threads, the baseline for cross-node)
//   sidecar same-node producer send (one copy into the arena + put, which
//                     returns once published) + consumer recv + done
//   sidecar cross-node the same with the consumer on a second sidecar: the
//                     put returns after the remote sidecar acknowledged the
//                     whole tensor (TCP over loopback, 4 MiB wire chunks)
// Both sidecars are real SidecarServers in this process; producer and
// consumers use the control sockets as eric workers and libericsidecar do.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../tests/common/free_port.h"  // header-only, nothing of the tests is linked
#include "common/logging.h"
#include "sidecar/client.h"
#include "sidecar/server.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace eric;
using namespace eric::sidecar;
using eric::testing::free_port;
using namespace std::chrono_literals;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Runs `once` (returning its latency in seconds) until `budget` seconds or 50
// runs have passed, at least 3 runs; returns the median latency.
template <typename F>
double measure(F once, double budget) {
  std::vector<double> lat;
  auto t0 = Clock::now();
  while (lat.size() < 3 || (seconds_since(t0) < budget && lat.size() < 50)) lat.push_back(once());
  return median(lat);
}

void row(const char* what, size_t bytes, double latency) {
  fmt::print("{:<20} {:>8} MiB {:>12.3f} ms {:>10.2f} GB/s\n", what, bytes >> 20, latency * 1e3, bytes / latency / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes_mib = {1, 16, 128};
  double budget = 1.5;
  size_t wire_chunk_kib = 4096;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--sizes-mib") {
      auto r = parse_rank_list(argv[i + 1]);  // a comma list of small integers
      if (!r.ok()) return fmt::print(stderr, "{}\n", r.status().message()), 2;
      sizes_mib.assign(r->begin(), r->end());
    } else if (k == "--wire-chunk-kib") {
      wire_chunk_kib = std::stoul(argv[i + 1]);
    } else if (k == "--seconds-per-case") {
      budget = std::stod(argv[i + 1]);
    } else {
      fmt::print(stderr, "unknown option {}\n", k);
      return 2;
    }
  }
  (void)init_logging("warn");
  const size_t max_bytes = *std::max_element(sizes_mib.begin(), sizes_mib.end()) << 20;

  // Two sidecars ("nodes") on loopback.
  const std::string dir = fmt::format("/tmp/eric-sidecar-bench-{}", getpid());
  std::filesystem::create_directories(dir);
  RankRegistry reg;
  const std::string addr_a = fmt::format("127.0.0.1:{}", free_port()), addr_b = fmt::format("127.0.0.1:{}", free_port());
  (void)reg.add({"a", addr_a, {0}});
  (void)reg.add({"b", addr_b, {1}});
  auto start = [&](const std::string& node) {
    SidecarOptions o;
    o.node = node;
    o.registry = reg;
    o.control_socket = dir + "/" + node + ".sock";
    o.arena_bytes = 2 * max_bytes + (64 << 20);
    o.wire_chunk_bytes = wire_chunk_kib << 10;
    auto s = SidecarServer::start(std::move(o));
    if (!s.ok()) {
      fmt::print(stderr, "cannot start sidecar {}: {}\n", node, s.status().to_string());
      std::exit(1);
    }
    return std::move(s).value();
  };
  auto a = start("a");
  auto b = start("b");
  auto producer = SidecarClient::connect(dir + "/a.sock", -1);
  auto local = SidecarClient::connect(dir + "/a.sock", 0);
  auto remote = SidecarClient::connect(dir + "/b.sock", 1);
  if (!producer.ok() || !local.ok() || !remote.ok()) {
    fmt::print(stderr, "cannot connect to the sidecars\n");
    return 1;
  }

  // A loopback TCP pair for the baseline.
  auto transport = make_tcp_transport();
  auto listener = transport->listen("127.0.0.1:0");
  auto tx = transport->connect((*listener)->address(), 2000ms);
  std::unique_ptr<Connection> rx;
  while (!rx) rx = std::move((*listener)->accept(1000ms)).value();

  std::vector<char> src(max_bytes), dst(max_bytes);
  for (size_t i = 0; i < max_bytes; ++i) src[i] = static_cast<char>(i * 131 + 7);

  fmt::print("{:<20} {:>12} {:>15} {:>15}\n", "path", "size", "median latency", "throughput");
  int seq = 0;
  for (size_t mib : sizes_mib) {
    const size_t bytes = mib << 20;
    const std::vector<int64_t> shape = {static_cast<int64_t>(bytes / 4)};
    row("memcpy", bytes, measure([&] {
          auto t0 = Clock::now();
          std::memcpy(dst.data(), src.data(), bytes);
          return seconds_since(t0);
        }, budget));
    row("tcp loopback", bytes, measure([&] {
          auto t0 = Clock::now();
          std::thread reader([&] { (void)rx->read_exact(dst.data(), bytes, 60000ms); });
          (void)(*tx)->write_all({{src.data(), bytes}}, 60000ms);
          reader.join();
          return seconds_since(t0);
        }, budget));
    for (auto [name, consumer, rank] : {std::tuple<const char*, SidecarClient*, int>{"sidecar same-node", local->get(), 0},
                                        {"sidecar cross-node", remote->get(), 1}}) {
      bool failed = false;
      double lat = measure([&] {
        const std::string id = fmt::format("t{}", seq++);
        auto t0 = Clock::now();
        Status st = (*producer)->send(id, 0, "F32", shape, src.data(), bytes, {{rank}}, 60000ms);
        auto v = st.ok() ? consumer->recv(id, 0, 60000ms) : Result<ItemView>(st);
        if (!v.ok() || !consumer->done(id, 0).ok()) {
          if (!failed) fmt::print(stderr, "{}: {}\n", name, v.status().to_string());
          failed = true;
        }
        return seconds_since(t0);
      }, budget);
      if (!failed) row(name, bytes, lat);
    }
  }
  b->stop();
  a->stop();
  std::filesystem::remove_all(dir);
  return 0;
}
