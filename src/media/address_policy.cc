#include "media/address_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace eric::media {
namespace {

bool in_v4_net(uint32_t addr, uint32_t net, int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (addr & mask) == (net & mask);
}

bool is_blocked_v4(uint32_t a) {  // host byte order
  return in_v4_net(a, 0x00000000, 8)       // "this network", incl. 0.0.0.0
         || in_v4_net(a, 0x0A000000, 8)    // 10/8 private
         || in_v4_net(a, 0x64400000, 10)   // 100.64/10 carrier-grade NAT
         || in_v4_net(a, 0x7F000000, 8)    // 127/8 loopback
         || in_v4_net(a, 0xA9FE0000, 16)   // 169.254/16 link-local (cloud metadata)
         || in_v4_net(a, 0xAC100000, 12)   // 172.16/12 private
         || in_v4_net(a, 0xC0000000, 24)   // 192.0.0/24 IETF protocol assignments
         || in_v4_net(a, 0xC0A80000, 16)   // 192.168/16 private
         || in_v4_net(a, 0xC6120000, 15)   // 198.18/15 benchmarking
         || in_v4_net(a, 0xE0000000, 4)    // 224/4 multicast
         || in_v4_net(a, 0xF0000000, 4);   // 240/4 reserved, incl. broadcast
}

uint32_t v4_at(const uint8_t* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

bool is_blocked_v6(const uint8_t* b) {
  static const uint8_t kZero[16] = {0};
  if (std::memcmp(b, kZero, 15) == 0 && (b[15] == 0 || b[15] == 1)) return true;  // :: and ::1
  if ((b[0] & 0xFE) == 0xFC) return true;                                        // fc00::/7 unique local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;                        // fe80::/10 link-local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) return true;                        // fec0::/10 old site-local
  if (b[0] == 0xFF) return true;                                                 // ff00::/8 multicast
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  static const uint8_t kNat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (deprecated compatible) and
  // 64:ff9b::a.b.c.d (NAT64) reach the embedded IPv4 address.
  if (std::memcmp(b, kMapped, 12) == 0 || std::memcmp(b, kZero, 12) == 0 || std::memcmp(b, kNat64, 12) == 0) {
    return is_blocked_v4(v4_at(b + 12));
  }
  return false;
}

}  // namespace

bool is_blocked_address(const sockaddr* address) {
  if (address == nullptr) return true;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return is_blocked_v4(ntohl(in->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    return is_blocked_v6(in6->sin6_addr.s6_addr);
  }
  return true;
}

Result<NetworkRange> parse_network(std::string_view cidr) {
  const size_t slash = cidr.find('/');
  const std::string host(cidr.substr(0, slash));
  NetworkRange range;
  if (inet_pton(AF_INET, host.c_str(), range.bytes) == 1) {
    range.family = AF_INET;
    range.prefix = 32;
  } else if (inet_pton(AF_INET6, host.c_str(), range.bytes) == 1) {
    range.family = AF_INET6;
    range.prefix = 128;
  } else {
    return InvalidArgument("'{}' is not an IP address or CIDR block (e.g. 10.0.0.0/8, fd00::/8)", cidr);
  }
  if (slash != std::string_view::npos) {
    const std::string_view bits = cidr.substr(slash + 1);
    int prefix = 0;
    bool digits = !bits.empty() && bits.size() <= 3;
    for (char c : bits) {
      digits = digits && c >= '0' && c <= '9';
      if (digits) prefix = prefix * 10 + (c - '0');
    }
    if (!digits || prefix > range.prefix) {
      return InvalidArgument("'{}': the prefix length must be a number from 0 to {}", cidr, range.prefix);
    }
    range.prefix = prefix;
  }
  return range;
}

namespace {

bool prefix_matches(const uint8_t* address, const uint8_t* network, int prefix) {
  for (int bit = 0; bit < prefix; ++bit) {
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (bit % 8));
    if ((address[bit / 8] & mask) != (network[bit / 8] & mask)) return false;
  }
  return true;
}

}  // namespace

bool in_networks(const sockaddr* address, const std::vector<NetworkRange>& ranges) {
  if (address == nullptr) return false;
  const uint8_t* v4 = nullptr;
  const uint8_t* v6 = nullptr;
  if (address->sa_family == AF_INET) {
    v4 = reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(address)->sin_addr);
  } else if (address->sa_family == AF_INET6) {
    v6 = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(v6, kMapped, 12) == 0) v4 = v6 + 12;
  } else {
    return false;
  }
  for (const NetworkRange& r : ranges) {
    if (r.family == AF_INET && v4 != nullptr && prefix_matches(v4, r.bytes, r.prefix)) return true;
    if (r.family == AF_INET6 && v6 != nullptr && prefix_matches(v6, r.bytes, r.prefix)) return true;
  }
  return false;
}

std::string address_to_string(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address != nullptr && address->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, text, sizeof(text));
  } else if (address != nullptr && address->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, text, sizeof(text));
  }
  return text;
}

}  // namespace eric::media
