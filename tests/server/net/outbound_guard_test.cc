// The outbound guard without a network: every refused range at its edges, the IPv6 forms that
// embed an IPv4 address, the host spellings getaddrinfo would read as addresses, and the URL
// rules, each with private upstreams allowed and not.
#include "server/net/outbound_guard.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>

namespace tollgate::server {
namespace {

namespace ip = boost::asio::ip;

const OutboundGuard kStrict(false);
const OutboundGuard kPrivate(true);

struct AddressCase {
  const char* address;
  AddressKind kind;
};

// Public addresses are allowed by both guards; private kinds only with private upstreams;
// unspecified, multicast, broadcast and reserved by neither.
bool allowed_with_private(AddressKind kind) {
  return kind != AddressKind::kUnspecified && kind != AddressKind::kMulticast &&
         kind != AddressKind::kBroadcast && kind != AddressKind::kReserved;
}

const AddressCase kIpv4Edges[] = {
    // 0.0.0.0/8
    {"0.0.0.0", AddressKind::kUnspecified},
    {"0.255.255.255", AddressKind::kUnspecified},
    {"1.0.0.0", AddressKind::kPublic},
    // 10/8
    {"9.255.255.255", AddressKind::kPublic},
    {"10.0.0.0", AddressKind::kPrivate},
    {"10.255.255.255", AddressKind::kPrivate},
    {"11.0.0.0", AddressKind::kPublic},
    // 100.64/10
    {"100.63.255.255", AddressKind::kPublic},
    {"100.64.0.0", AddressKind::kShared},
    {"100.127.255.255", AddressKind::kShared},
    {"100.128.0.0", AddressKind::kPublic},
    // 127/8
    {"126.255.255.255", AddressKind::kPublic},
    {"127.0.0.0", AddressKind::kLoopback},
    {"127.0.0.1", AddressKind::kLoopback},
    {"127.255.255.255", AddressKind::kLoopback},
    {"128.0.0.0", AddressKind::kPublic},
    // 169.254/16, the metadata service among them
    {"169.253.255.255", AddressKind::kPublic},
    {"169.254.0.0", AddressKind::kLinkLocal},
    {"169.254.169.254", AddressKind::kLinkLocal},
    {"169.254.255.255", AddressKind::kLinkLocal},
    {"169.255.0.0", AddressKind::kPublic},
    // 172.16/12
    {"172.15.255.255", AddressKind::kPublic},
    {"172.16.0.0", AddressKind::kPrivate},
    {"172.31.255.255", AddressKind::kPrivate},
    {"172.32.0.0", AddressKind::kPublic},
    // 192.168/16
    {"192.167.255.255", AddressKind::kPublic},
    {"192.168.0.0", AddressKind::kPrivate},
    {"192.168.255.255", AddressKind::kPrivate},
    {"192.169.0.0", AddressKind::kPublic},
    // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
    {"223.255.255.255", AddressKind::kPublic},
    {"224.0.0.0", AddressKind::kMulticast},
    {"239.255.255.255", AddressKind::kMulticast},
    {"240.0.0.0", AddressKind::kReserved},
    {"255.255.255.254", AddressKind::kReserved},
    {"255.255.255.255", AddressKind::kBroadcast},
    // Ordinary public addresses.
    {"8.8.8.8", AddressKind::kPublic},
    {"203.0.113.7", AddressKind::kPublic},
    {"172.217.0.1", AddressKind::kPublic},
};

const AddressCase kIpv6Cases[] = {
    {"::", AddressKind::kUnspecified},
    {"::1", AddressKind::kLoopback},
    {"::2", AddressKind::kUnspecified},  // compatible ::0.0.0.2, in 0/8
    // fe80::/10
    {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressKind::kPublic},
    {"fe80::", AddressKind::kLinkLocal},
    {"fe80::1", AddressKind::kLinkLocal},
    {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressKind::kLinkLocal},
    {"fec0::1", AddressKind::kPrivate},  // site-local, deprecated
    // fc00::/7
    {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressKind::kPublic},
    {"fc00::", AddressKind::kUniqueLocal},
    {"fd12:3456::1", AddressKind::kUniqueLocal},
    {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AddressKind::kUniqueLocal},
    {"fe00::", AddressKind::kPublic},
    // ff00::/8
    {"ff02::1", AddressKind::kMulticast},
    {"ff0e::1", AddressKind::kMulticast},
    // IPv4-mapped, in every spelling, judged by the IPv4 address.
    {"::ffff:127.0.0.1", AddressKind::kLoopback},
    {"::ffff:7f00:1", AddressKind::kLoopback},
    {"::FFFF:7F00:0001", AddressKind::kLoopback},
    {"::ffff:10.1.2.3", AddressKind::kPrivate},
    {"::ffff:169.254.169.254", AddressKind::kLinkLocal},
    {"::ffff:a9fe:a9fe", AddressKind::kLinkLocal},
    {"::ffff:100.64.0.1", AddressKind::kShared},
    {"::ffff:0.0.0.0", AddressKind::kUnspecified},
    {"::ffff:8.8.8.8", AddressKind::kPublic},
    // IPv4-compatible (deprecated).
    {"::127.0.0.1", AddressKind::kLoopback},
    {"::7f00:1", AddressKind::kLoopback},
    {"::192.168.1.1", AddressKind::kPrivate},
    {"::8.8.8.8", AddressKind::kPublic},
    // NAT64 64:ff9b::/96, and the local-use 64:ff9b:1::/48.
    {"64:ff9b::127.0.0.1", AddressKind::kLoopback},
    {"64:ff9b::a9fe:a9fe", AddressKind::kLinkLocal},
    {"64:ff9b::10.0.0.1", AddressKind::kPrivate},
    {"64:ff9b::8.8.8.8", AddressKind::kPublic},
    {"64:ff9b:1::8.8.8.8", AddressKind::kPrivate},
    // 6to4 2002::/16: the IPv4 address is bits 16-47.
    {"2002:7f00:1::", AddressKind::kLoopback},
    {"2002:a9fe:a9fe::1", AddressKind::kLinkLocal},
    {"2002:c0a8:101::", AddressKind::kPrivate},
    {"2002:808:808::", AddressKind::kPublic},
    // Ordinary public addresses.
    {"2001:4860:4860::8888", AddressKind::kPublic},
    {"2606:4700::1111", AddressKind::kPublic},
};

void expect_case(const AddressCase& c) {
  boost::system::error_code ec;
  auto address = ip::make_address(c.address, ec);
  ASSERT_FALSE(ec) << c.address;
  EXPECT_EQ(classify_address(address), c.kind)
      << c.address << " is " << address_kind_name(classify_address(address));
  bool is_public = c.kind == AddressKind::kPublic;
  EXPECT_EQ(kStrict.check_address(address).ok(), is_public) << c.address;
  EXPECT_EQ(kPrivate.check_address(address).ok(), allowed_with_private(c.kind)) << c.address;
  if (!is_public) {
    auto refused = kStrict.check_address(address);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ErrorCode::kForbidden);
    EXPECT_NE(refused.error().message.find(address_kind_name(c.kind)), std::string::npos)
        << refused.error().message;
  }
}

TEST(OutboundGuardAddress, Ipv4RangesAtTheirEdges) {
  for (const AddressCase& c : kIpv4Edges) expect_case(c);
}

TEST(OutboundGuardAddress, Ipv6RangesAndEmbeddedIpv4) {
  for (const AddressCase& c : kIpv6Cases) expect_case(c);
}

TEST(OutboundGuardAddress, AScopedLinkLocalAddressIsStillLinkLocal) {
  boost::system::error_code ec;
  auto address = ip::make_address("fe80::1%1", ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(classify_address(address), AddressKind::kLinkLocal);
  EXPECT_FALSE(kStrict.check_address(address).ok());
}

// The resolver this server uses reads "localhost" as loopback; the guard refuses each answer.
TEST(OutboundGuardAddress, LocalhostThroughTheRealResolverIsRefused) {
  boost::asio::io_context ioc;
  ip::tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve("localhost", "443", ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(results.empty());
  for (const auto& entry : results) {
    EXPECT_EQ(classify_address(entry.endpoint().address()), AddressKind::kLoopback);
    EXPECT_FALSE(kStrict.check_address(entry.endpoint().address()).ok());
    EXPECT_TRUE(kPrivate.check_address(entry.endpoint().address()).ok());
  }
}

struct UrlCase {
  const char* url;
  bool strict_ok;   // without private upstreams
  bool private_ok;  // with them
};

// Host spellings. Every numeric spelling but the canonical dotted quad is refused by both
// guards, whatever address it would have named.
const UrlCase kSpellings[] = {
    {"https://203.0.113.7/v1", true, true},
    {"https://127.0.0.1/v1", false, true},
    {"https://2130706433/v1", false, false},         // decimal 127.0.0.1
    {"https://0x7f000001/v1", false, false},         // hex
    {"https://0X7F000001/v1", false, false},         // hex, uppercase
    {"https://0x7f.0.0.1/v1", false, false},         // hex part
    {"https://0177.0.0.1/v1", false, false},         // octal part
    {"https://127.1/v1", false, false},              // short form
    {"https://127.0.1/v1", false, false},            // short form
    {"https://127.0.0.01/v1", false, false},         // leading zero
    {"https://127.0.0.1./v1", false, false},         // trailing dot on an address
    {"https://3405803777/v1", false, false},         // decimal 203.0.113.1: public, still refused
    {"https://0xcb.0.0x71.7/v1", false, false},      // hex parts of a public address
    {"https://1.2.3.4.5/v1", false, false},          // five numeric parts
    {"https://256.0.0.1/v1", false, false},          // out of range
    {"https://0x/v1", false, false},                 // inet_aton reads "0x" as 0
    {"https://[::1]/v1", false, true},               // IPv6 loopback
    {"https://[::ffff:7f00:1]/v1", false, true},     // IPv4-mapped in hex
    {"https://[::FFFF:127.0.0.1]/v1", false, true},  // uppercase
    {"https://[::ffff:a9fe:a9fe]/v1", false, true},  // the metadata service, mapped
    {"https://[::ffff:8.8.8.8]/v1", true, true},
    {"https://[2001:4860:4860::8888]:8443/v1", true, true},
    {"https://[fe80::1%25eth0]/v1", false, false},  // zone id
    {"https://[fe80::1%eth0]/v1", false, false},
    {"https://[fe80::1]/v1", false, true},
    {"https://[ff02::1]/v1", false, false},  // multicast: never
    {"https://[::]/v1", false, false},       // unspecified: never
    {"https://0.0.0.0/v1", false, false},
    {"https://255.255.255.255/v1", false, false},
    {"https://::1/v1", false, false},   // IPv6 without brackets
    {"https://[::1/v1", false, false},  // unclosed bracket
    {"https://[not-v6]/v1", false, false},
    // Names are names: checked when they resolve, not here.
    {"https://localhost/v1", true, true},
    {"https://LOCALHOST/v1", true, true},
    {"https://localhost./v1", true, true},
    {"https://127.0.0.1.nip.io/v1", true, true},
    {"https://API.OpenAI.com/v1", true, true},
    {"https://api.openai.com./v1", true, true},
    {"https://metadata.google.internal/v1", true, true},
    {"https://a_b.example.com/v1", true, true},
    {"https://-bad.example.com/v1", false, false},
    {"https://bad..example.com/v1", false, false},
    {"https://exa%6dple.com/v1", false, false},       // percent-encoded host
    {"https://ex\xc3\xa4mple.com/v1", false, false},  // not punycode
    {"https://a.0x1f/v1", false, false},  // a numeric last label makes it an address spelling
};

TEST(OutboundGuardUrl, HostSpellings) {
  for (const UrlCase& c : kSpellings) {
    auto strict = kStrict.check_url(c.url);
    auto loose = kPrivate.check_url(c.url);
    EXPECT_EQ(strict.ok(), c.strict_ok) << c.url << ": " << (strict ? "" : strict.error().message);
    EXPECT_EQ(loose.ok(), c.private_ok) << c.url << ": " << (loose ? "" : loose.error().message);
    if (!strict.ok()) {
      EXPECT_EQ(strict.error().code, ErrorCode::kInvalidArgument) << c.url;
      EXPECT_EQ(strict.error().param, "") << c.url;  // the caller names its own field
    }
  }
}

const UrlCase kUrls[] = {
    // Schemes.
    {"https://api.example.com/v1", true, true},
    {"HTTPS://api.example.com/v1", true, true},
    {"ftp://api.example.com/v1", false, false},
    {"ws://api.example.com/v1", false, false},
    {"file:///etc/passwd", false, false},
    {"gopher://127.0.0.1:6379/_", false, false},
    {"//api.example.com/v1", false, false},
    {"api.example.com/v1", false, false},
    {"https:/api.example.com/v1", false, false},
    // User info.
    {"https://user@api.example.com/v1", false, false},
    {"https://user:pass@api.example.com/v1", false, false},
    {"https://api.example.com@127.0.0.1/v1", false, false},
    {"https://:@api.example.com/v1", false, false},
    // Ports.
    {"https://api.example.com:443/v1", true, true},
    {"https://api.example.com:1/v1", true, true},
    {"https://api.example.com:65535/v1", true, true},
    {"https://api.example.com:0/v1", false, false},
    {"https://api.example.com:65536/v1", false, false},
    {"https://api.example.com:99999/v1", false, false},
    {"https://api.example.com:/v1", false, false},
    {"https://api.example.com:8a/v1", false, false},
    {"https://api.example.com:-1/v1", false, false},
    {"https://api.example.com:+80/v1", false, false},
    {"https://[2001:db8::1]:/v1", false, false},
    // Characters with no place in a URL we call.
    {"https://api.example.com/v1 x", false, false},
    {"https://api.example.com/v1\n", false, false},
    {"https://api.example.com\\@evil.example/v1", false, false},
    {"https://api.example.com/v1#frag", false, false},
    {"https:///v1", false, false},
    {"https://", false, false},
    // Plain http: only to a loopback address written out, and only with private upstreams.
    {"http://127.0.0.1:11434/v1", false, true},
    {"http://127.8.9.10/v1", false, true},
    {"http://[::1]:8080/v1", false, true},
    {"http://[0:0:0:0:0:0:0:1]:8080/v1", false, true},
    {"http://localhost:11434/v1", false, false},   // a name, even this one
    {"http://127.0.0.1.nip.io/v1", false, false},  // a name that starts with 127.
    {"http://127.1/v1", false, false},
    {"http://2130706433/v1", false, false},
    {"http://[::ffff:127.0.0.1]/v1", false, false},  // not written as loopback
    {"http://10.0.0.5/v1", false, false},
    {"http://192.168.1.10/v1", false, false},
    {"http://api.example.com/v1", false, false},
    {"http://8.8.8.8/v1", false, false},
    // Literal private addresses over https: refused at definition without private upstreams.
    {"https://10.0.0.5/v1", false, true},
    {"https://169.254.169.254/latest/meta-data", false, true},
    {"https://100.64.0.1/v1", false, true},
    {"https://[fd00::1]/v1", false, true},
};

TEST(OutboundGuardUrl, SchemesUserInfoPortsAndPlainHttp) {
  for (const UrlCase& c : kUrls) {
    auto strict = kStrict.check_url(c.url);
    auto loose = kPrivate.check_url(c.url);
    EXPECT_EQ(strict.ok(), c.strict_ok) << c.url << ": " << (strict ? "" : strict.error().message);
    EXPECT_EQ(loose.ok(), c.private_ok) << c.url << ": " << (loose ? "" : loose.error().message);
  }
}

TEST(OutboundGuardUrl, RefusalsSayWhy) {
  auto message = [](const OutboundGuard& guard, const char* url) {
    auto checked = guard.check_url(url);
    return checked.ok() ? std::string() : checked.error().message;
  };
  EXPECT_NE(message(kStrict, "http://localhost:1/v1").find("loopback address written out"),
            std::string::npos);
  EXPECT_NE(message(kStrict, "http://127.0.0.1:1/v1").find("--allow-private-upstreams"),
            std::string::npos);
  EXPECT_NE(message(kStrict, "https://127.1/v1").find("four decimal parts"), std::string::npos);
  EXPECT_NE(message(kStrict, "https://10.1.2.3/v1").find("private"), std::string::npos);
  EXPECT_NE(message(kStrict, "https://u@h.example/v1").find("user name"), std::string::npos);
  EXPECT_NE(message(kStrict, "https://[fe80::1%25eth0]/").find("zone id"), std::string::npos);
}

TEST(ParseUrl, SplitsTheParts) {
  auto plain = parse_url("http://127.0.0.1:8080/v1");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain.value().tls);
  EXPECT_EQ(plain.value().host, "127.0.0.1");
  EXPECT_EQ(plain.value().host_kind, HostKind::kIpv4);
  EXPECT_EQ(plain.value().port, "8080");
  EXPECT_EQ(plain.value().target, "/v1");
  auto tls = parse_url("https://API.OpenAI.com.");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls.value().tls);
  EXPECT_EQ(tls.value().host, "api.openai.com");
  EXPECT_EQ(tls.value().host_kind, HostKind::kName);
  EXPECT_EQ(tls.value().port, "443");
  EXPECT_EQ(tls.value().target, "/");
  auto v6 = parse_url("http://[::FFFF:7F00:1]:08080/v1/chat?x=1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6.value().host, "::ffff:127.0.0.1");
  EXPECT_EQ(v6.value().host_kind, HostKind::kIpv6);
  EXPECT_EQ(v6.value().port, "8080");
  EXPECT_EQ(v6.value().target, "/v1/chat?x=1");
  auto query = parse_url("https://h.example?x=1");
  ASSERT_TRUE(query.ok());
  EXPECT_EQ(query.value().host, "h.example");
  EXPECT_EQ(query.value().target, "/?x=1");
}

}  // namespace
}  // namespace tollgate::server
