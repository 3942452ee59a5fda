#include "server/net/outbound_guard.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>

namespace tollgate::server {
namespace {

namespace ip = boost::asio::ip;

Error invalid(std::string message) { return fail(ErrorCode::kInvalidArgument, std::move(message)); }

constexpr uint32_t ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

struct Ipv4Range {
  uint32_t first;
  int prefix_bits;
  AddressKind kind;
};

// Checked in order: the broadcast address before the reserved block that holds it.
constexpr std::array<Ipv4Range, 10> kIpv4Ranges = {{
    {ipv4(0, 0, 0, 0), 8, AddressKind::kUnspecified},
    {ipv4(10, 0, 0, 0), 8, AddressKind::kPrivate},
    {ipv4(100, 64, 0, 0), 10, AddressKind::kShared},
    {ipv4(127, 0, 0, 0), 8, AddressKind::kLoopback},
    {ipv4(169, 254, 0, 0), 16, AddressKind::kLinkLocal},
    {ipv4(172, 16, 0, 0), 12, AddressKind::kPrivate},
    {ipv4(192, 168, 0, 0), 16, AddressKind::kPrivate},
    {ipv4(224, 0, 0, 0), 4, AddressKind::kMulticast},
    {ipv4(255, 255, 255, 255), 32, AddressKind::kBroadcast},
    {ipv4(240, 0, 0, 0), 4, AddressKind::kReserved},
}};

AddressKind classify_v4(uint32_t address) {
  for (const Ipv4Range& range : kIpv4Ranges) {
    uint32_t mask = range.prefix_bits == 0 ? 0 : ~uint32_t{0} << (32 - range.prefix_bits);
    if ((address & mask) == range.first) return range.kind;
  }
  return AddressKind::kPublic;
}

uint32_t v4_at(const ip::address_v6::bytes_type& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         uint32_t{b[at + 3]};
}

bool all_zero(const ip::address_v6::bytes_type& b, size_t from, size_t to) {
  return std::all_of(b.begin() + from, b.begin() + to, [](uint8_t x) { return x == 0; });
}

// The IPv4 address an IPv6 form carries, for the forms that route to it.
std::optional<uint32_t> embedded_v4(const ip::address_v6::bytes_type& b) {
  if (all_zero(b, 0, 10) && b[10] == 0xff && b[11] == 0xff) return v4_at(b, 12);  // mapped
  if (all_zero(b, 0, 12)) return v4_at(b, 12);                                    // compatible
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && all_zero(b, 4, 12)) {
    return v4_at(b, 12);  // NAT64, RFC 6052
  }
  if (b[0] == 0x20 && b[1] == 0x02) return v4_at(b, 2);  // 6to4, RFC 3056
  return std::nullopt;
}

AddressKind classify_v6(const ip::address_v6& address) {
  auto b = address.to_bytes();
  if (address.is_unspecified()) return AddressKind::kUnspecified;
  if (address.is_loopback()) return AddressKind::kLoopback;
  if (auto v4 = embedded_v4(b)) return classify_v4(*v4);
  if (b[0] == 0xff) return AddressKind::kMulticast;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressKind::kLinkLocal;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressKind::kPrivate;  // site-local
  if ((b[0] & 0xfe) == 0xfc) return AddressKind::kUniqueLocal;
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0x00 &&
      b[5] == 0x01) {
    return AddressKind::kPrivate;  // local-use NAT64, RFC 8215
  }
  return AddressKind::kPublic;
}

// Addresses no upstream serves from, refused even when private upstreams are allowed.
bool never_allowed(AddressKind kind) {
  return kind == AddressKind::kUnspecified || kind == AddressKind::kMulticast ||
         kind == AddressKind::kBroadcast || kind == AddressKind::kReserved;
}

bool is_number_label(std::string_view label) {
  if (label.starts_with("0x")) {
    return label.substr(2).find_first_not_of("0123456789abcdef") == std::string_view::npos;
  }
  return !label.empty() && label.find_first_not_of("0123456789") == std::string_view::npos;
}

// Four decimal parts 0-255 without leading zeros: the one IPv4 spelling accepted.
bool is_canonical_dotted_quad(std::string_view host) {
  int parts = 0;
  for (size_t start = 0; start <= host.size(); ++parts) {
    size_t dot = std::min(host.find('.', start), host.size());
    std::string_view part = host.substr(start, dot - start);
    int value = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0') ||
        ec != std::errc() || end != part.data() + part.size() || value > 255) {
      return false;
    }
    start = dot + 1;
  }
  return parts == 4;
}

bool is_name_label(std::string_view label) {
  return !label.empty() && label.size() <= kHostLabelBytesMax && label.front() != '-' &&
         label.back() != '-' &&
         label.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos;
}

// A host outside brackets, lowercased: a DNS name or a canonical dotted quad. A name whose last
// label is a number is an IPv4 spelling (as WHATWG URLs read it), so 127.1, 2130706433 and
// 0x7f.0.0.1 are refused here instead of reaching getaddrinfo, which would read them as
// addresses.
Result<HostKind> check_plain_host(std::string& host) {
  bool trailing_dot = host.size() > 1 && host.back() == '.';
  if (trailing_dot) host.pop_back();
  if (host.empty() || host.size() > kHostBytesMax) return invalid("the host is empty or too long");
  size_t last_dot = host.rfind('.');
  std::string_view last =
      std::string_view(host).substr(last_dot == std::string::npos ? 0 : last_dot + 1);
  if (is_number_label(last)) {
    if (trailing_dot || !is_canonical_dotted_quad(host)) {
      return invalid("the host '" + host +
                     "' is not valid: an IPv4 address must be written as four decimal parts, "
                     "such as 203.0.113.7");
    }
    return HostKind::kIpv4;
  }
  for (size_t start = 0; start <= host.size();) {
    size_t dot = std::min(host.find('.', start), host.size());
    if (!is_name_label(std::string_view(host).substr(start, dot - start))) {
      return invalid("the host '" + host + "' is not a valid host name");
    }
    start = dot + 1;
  }
  return HostKind::kName;
}

// The inside of [brackets]: an IPv6 address, without a zone id (which only a link-local
// address has, and which names an interface of this machine).
Result<HostKind> check_bracketed_host(std::string& host) {
  if (host.find('%') != std::string::npos) {
    return invalid("the host '[" + host + "]' is not valid: IPv6 zone ids are not accepted");
  }
  boost::system::error_code ec;
  auto address = ip::make_address_v6(host, ec);
  if (ec || host.find_first_not_of("0123456789abcdef:.") != std::string::npos) {
    return invalid("the host '[" + host + "]' is not a valid IPv6 address");
  }
  host = address.to_string();
  return HostKind::kIpv6;
}

// The port in its plain decimal form ("080" becomes "80").
Result<std::string> check_port(std::string_view port) {
  int value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || port.size() > 5 || ec != std::errc() || end != port.data() + port.size() ||
      value < 1 || value > 65535) {
    return invalid("the port must be a number from 1 to 65535");
  }
  return std::to_string(value);
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

constexpr std::string_view kShape = "the URL must look like https://host[:port][/path]";

// Splits the authority (between "://" and the path) into host and port.
Result<void> parse_authority(std::string_view authority, ParsedUrl& out) {
  if (authority.find('@') != std::string_view::npos) {
    return invalid("the URL must not carry a user name or password");
  }
  std::string_view host = authority;
  std::optional<std::string_view> port;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid(std::string(kShape));
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(":")) return invalid(std::string(kShape));
    if (!rest.empty()) port = rest.substr(1);
  } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    if (authority.find(':', colon + 1) != std::string_view::npos) {
      return invalid("an IPv6 host must be written in brackets, such as [2001:db8::1]");
    }
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  out.host = lowercase(host);
  auto kind =
      authority.starts_with("[") ? check_bracketed_host(out.host) : check_plain_host(out.host);
  if (!kind) return kind.error();
  out.host_kind = kind.value();
  if (!port) {
    out.port = out.tls ? "443" : "80";
    return {};
  }
  auto port_text = check_port(*port);
  if (!port_text) return port_text.error();
  out.port = std::move(port_text).value();
  return {};
}

bool is_loopback_literal(const ParsedUrl& url) {
  return (url.host_kind == HostKind::kIpv4 && url.host.starts_with("127.")) ||
         (url.host_kind == HostKind::kIpv6 && url.host == "::1");
}

}  // namespace

AddressKind classify_address(const ip::address& address) {
  if (address.is_v4()) return classify_v4(address.to_v4().to_uint());
  return classify_v6(address.to_v6());
}

std::string_view address_kind_name(AddressKind kind) {
  switch (kind) {
    case AddressKind::kPublic:
      return "public";
    case AddressKind::kLoopback:
      return "loopback";
    case AddressKind::kPrivate:
      return "private";
    case AddressKind::kShared:
      return "shared (CGNAT)";
    case AddressKind::kLinkLocal:
      return "link-local";
    case AddressKind::kUniqueLocal:
      return "unique local";
    case AddressKind::kUnspecified:
      return "unspecified";
    case AddressKind::kMulticast:
      return "multicast";
    case AddressKind::kBroadcast:
      return "broadcast";
    case AddressKind::kReserved:
      return "reserved";
  }
  return "unknown";
}

Result<ParsedUrl> parse_url(std::string_view url) {
  ParsedUrl out;
  std::string scheme = lowercase(url.substr(0, url.find("://")));
  if (url.find("://") == std::string_view::npos || (scheme != "https" && scheme != "http")) {
    return invalid("the URL must start with https:// (or http:// to this machine)");
  }
  out.tls = scheme == "https";
  url.remove_prefix(scheme.size() + 3);
  // Refused outright: what some parsers read as a separator (backslash) or that has no place
  // in a request target (spaces, controls, a fragment).
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f ||
        c == '\\' || c == '#') {
      return invalid("the URL must not contain spaces, control characters, '\\' or '#'");
    }
  }
  size_t end = url.find_first_of("/?");
  std::string_view authority = url.substr(0, end);
  if (authority.empty()) return invalid(std::string(kShape));
  if (auto parsed = parse_authority(authority, out); !parsed) return parsed.error();
  std::string_view rest = end == std::string_view::npos ? "" : url.substr(end);
  if (!rest.starts_with("/")) out.target.push_back('/');
  out.target.append(rest.data(), rest.size());
  return out;
}

Result<void> OutboundGuard::check_address(const ip::address& address) const {
  AddressKind kind = classify_address(address);
  if (kind == AddressKind::kPublic) return {};
  if (allow_private_ && !never_allowed(kind)) return {};
  std::string what = address.to_string() + " is a" +
                     (kind == AddressKind::kUnspecified ? "n " : " ") +
                     std::string(address_kind_name(kind)) + " address";
  if (never_allowed(kind)) return fail(ErrorCode::kForbidden, what + ", never called");
  return fail(
      ErrorCode::kForbidden,
      what + ", called only when private upstreams are allowed (--allow-private-upstreams)");
}

Result<ParsedUrl> OutboundGuard::check_url(std::string_view url) const {
  auto parsed = parse_url(url);
  if (!parsed) return parsed.error();
  if (!parsed.value().tls) {
    if (!is_loopback_literal(parsed.value())) {
      return invalid(
          "plain http:// is allowed only to a loopback address written out "
          "(127.0.0.1 or [::1]); use https://");
    }
    if (!allow_private_) {
      return invalid(
          "plain http:// to this machine is allowed only when private upstreams "
          "are allowed (--allow-private-upstreams); use https://");
    }
  }
  if (parsed.value().host_kind != HostKind::kName) {
    boost::system::error_code not_ip;
    auto address = ip::make_address(parsed.value().host, not_ip);
    if (not_ip) return invalid("the host '" + parsed.value().host + "' is not a valid address");
    if (auto allowed = check_address(address); !allowed) {
      return invalid("the host " + allowed.error().message);
    }
  }
  return parsed;
}

}  // namespace tollgate::server
