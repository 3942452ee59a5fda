// The one gate for every connection Tollgate opens to a URL someone else chose (model providers
// now, outbound webhooks later): what a URL may look like, and which addresses may be connected
// to. It knows nothing of who asked or why.
//
// Two checks, used together:
// - check_url, when a URL is defined (and again when it is called): http or https, no user
//   info, a valid port, a host that is a DNS name, a canonical dotted quad or a bracketed IPv6
//   address. A host that is not a canonical dotted quad but reads as an IPv4 number (2130706433,
//   0x7f000001, 0177.0.0.1, 127.1: what inet_aton and so getaddrinfo accept) is not a valid
//   host. Plain http only to a literal loopback address, and only when private upstreams are
//   allowed. A literal address is checked as check_address would.
// - check_address, at connect time on every resolved address and on the connected socket's
//   peer: that is what defeats a name resolving (or rebinding) to a private address.
//
// Refused unless private upstreams are allowed: loopback, private (RFC 1918), shared (CGNAT
// 100.64/10), link-local (169.254/16, fe80::/10), unique local (fc00::/7, and the old site-local
// fec0::/10 and local-use NAT64 64:ff9b:1::/48). Refused always, as nothing serves HTTP there:
// unspecified (0/8, ::), multicast, broadcast and reserved (240/4). IPv6 forms that embed an IPv4
// address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) are
// judged by the address they embed.
//
// Thread-safety: immutable after construction; share it freely.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "tollgate/core/result.h"

namespace tollgate::server {

// What an address is, for the guard's decision and the owner's log.
enum class AddressKind {
  kPublic,
  kLoopback,
  kPrivate,      // RFC 1918, site-local, local-use NAT64
  kShared,       // 100.64/10, carrier-grade NAT
  kLinkLocal,    // including 169.254.169.254, the cloud metadata service
  kUniqueLocal,  // fc00::/7
  kUnspecified,
  kMulticast,
  kBroadcast,
  kReserved,  // 240/4
};

AddressKind classify_address(const boost::asio::ip::address& address);
// "loopback", "private", … as the log says it.
std::string_view address_kind_name(AddressKind kind);

enum class HostKind { kName, kIpv4, kIpv6 };

// An http(s) URL split into what a connection needs.
struct ParsedUrl {
  bool tls = false;
  std::string host;  // lowercase, without a trailing dot; an IPv6 address without brackets
  HostKind host_kind = HostKind::kName;
  std::string port;    // decimal, 1-65535
  std::string target;  // the path and query, at least "/"
};

// The shape alone: kInvalidArgument (no param) for anything but http(s)://host[:port][/path],
// with a host spelled as check_url requires.
Result<ParsedUrl> parse_url(std::string_view url);

inline constexpr size_t kHostBytesMax = 253;
inline constexpr size_t kHostLabelBytesMax = 63;

class OutboundGuard {
 public:
  explicit OutboundGuard(bool allow_private) : allow_private_(allow_private) {}

  bool allows_private() const { return allow_private_; }

  // kForbidden, saying what the address is, when it may not be connected to.
  Result<void> check_address(const boost::asio::ip::address& address) const;

  // The URL parsed, or kInvalidArgument (no param: the caller names its field) saying what is
  // wrong with it. Names are not resolved here: check_address does that at connect time.
  Result<ParsedUrl> check_url(std::string_view url) const;

 private:
  bool allow_private_;
};

}  // namespace tollgate::server
