// Which network addresses a server-side fetch may connect to. By default
// eric must not be usable to reach its own host or private networks (SSRF),
// so loopback, private, carrier-grade NAT, link-local, multicast,
// unspecified and reserved addresses are refused, including when written as
// IPv4-mapped, IPv4-compatible or NAT64 IPv6 addresses.
#pragma once

#include <sys/socket.h>

#include <string>

namespace eric::media {

// True for addresses a fetch may not reach by default. Families other than
// AF_INET/AF_INET6 count as blocked.
bool is_blocked_address(const sockaddr* address);

// "203.0.113.7" / "2001:db8::1", for messages.
std::string address_to_string(const sockaddr* address);

}  // namespace eric::media
