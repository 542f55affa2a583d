// Which network addresses a server-side fetch may connect to. By default
// eric must not be usable to reach its own host or private networks (SSRF),
// so loopback, private, carrier-grade NAT, link-local, multicast,
// unspecified and reserved addresses are refused, including when written as
// IPv4-mapped, IPv4-compatible or NAT64 IPv6 addresses.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace eric::media {

// True for addresses a fetch may not reach by default. Families other than
// AF_INET/AF_INET6 count as blocked.
bool is_blocked_address(const sockaddr* address);

// An address block an operator opens on purpose (e.g. an internal image
// store): "10.1.2.0/24", "fd00::/8", or one address ("10.1.2.3").
struct NetworkRange {
  int family = AF_INET;  // AF_INET or AF_INET6
  uint8_t bytes[16] = {0};
  int prefix = 32;
};
Result<NetworkRange> parse_network(std::string_view cidr);
// True when `address` lies in one of `ranges` (IPv4-mapped IPv6 addresses
// match IPv4 ranges).
bool in_networks(const sockaddr* address, const std::vector<NetworkRange>& ranges);

// "203.0.113.7" / "2001:db8::1", for messages.
std::string address_to_string(const sockaddr* address);

}  // namespace eric::media
