#include "server/config/config.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <thread>

#include "server/config/master_key.h"

namespace tollgate::server {
namespace {

Error bad(std::string param, std::string message) {
  return fail(ErrorCode::kInvalidArgument, std::move(message), std::move(param));
}

Result<int64_t> parse_range(std::string_view param, std::string_view text, int64_t min,
                            int64_t max) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return bad(std::string(param), std::string(param) + " must be an integer from " +
                                       std::to_string(min) + " to " + std::to_string(max) +
                                       ", got '" + std::string(text) + "'");
  }
  return value;
}

bool is_ipv4_literal(std::string_view host) {
  int parts = 0;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = std::min(host.find('.', start), host.size());
    std::string_view part = host.substr(start, dot - start);
    int value = 0;
    auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || part.size() > 3 || ec != std::errc() || end != part.data() + part.size() ||
        value > 255) {
      return false;
    }
    ++parts;
    start = dot + 1;
  }
  return parts == 4;
}

// One settable option: its flag, its environment variable, and how to apply a value. A switch
// takes no value after its flag (which means "1"), but may have one as --flag=VALUE.
struct Option {
  std::string_view flag;
  std::string_view env;
  std::function<Result<void>(std::string_view param, std::string_view value, ServeConfig&)> apply;
  bool is_switch = false;
};

Result<bool> parse_switch(std::string_view param, std::string_view value) {
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  return bad(std::string(param),
             std::string(param) + " must be 1 or 0, got '" + std::string(value) + "'");
}

const std::vector<Option>& options() {
  static const std::vector<Option> kOptions = {
      {"--host", "TOLLGATE_HOST",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         std::string host = value == "localhost" ? "127.0.0.1" : std::string(value);
         bool ipv6 = host.find(':') != std::string::npos &&
                     host.find_first_not_of("0123456789abcdefABCDEF:.") == std::string::npos;
         if (!is_ipv4_literal(host) && !ipv6) {
           return bad(std::string(param),
                      std::string(param) + " must be an IP address such as 127.0.0.1 or 0.0.0.0");
         }
         c.host = host;
         return {};
       }},
      {"--port", "TOLLGATE_PORT",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto port = parse_range(param, value, 0, 65535);
         if (!port) return port.error();
         c.port = static_cast<uint16_t>(port.value());
         return {};
       }},
      {"--data-dir", "TOLLGATE_DATA_DIR",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         if (value.empty())
           return bad(std::string(param), std::string(param) + " must not be empty");
         c.data_dir = std::string(value);
         return {};
       }},
      {"--body-bytes-max", "TOLLGATE_BODY_BYTES_MAX",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto bytes = parse_range(param, value, 1, static_cast<int64_t>(kBodyBytesCeiling));
         if (!bytes) return bytes.error();
         c.limits.body_bytes_max = static_cast<size_t>(bytes.value());
         return {};
       }},
      {"--idle-timeout-ms", "TOLLGATE_IDLE_TIMEOUT_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, kIdleTimeoutMsMin, kIdleTimeoutMsMax);
         if (!ms) return ms.error();
         c.limits.idle_timeout_ms = ms.value();
         return {};
       }},
      {"--threads", "TOLLGATE_THREADS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto threads = parse_range(param, value, 1, kThreadsMax);
         if (!threads) return threads.error();
         c.threads = static_cast<int>(threads.value());
         return {};
       }},
      {"--upstream-connect-timeout-ms", "TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, kUpstreamTimeoutMsMin, kUpstreamTimeoutMsMax);
         if (!ms) return ms.error();
         c.upstream_connect_timeout_ms = ms.value();
         return {};
       }},
      {"--upstream-first-byte-timeout-ms", "TOLLGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, kUpstreamTimeoutMsMin, kUpstreamTimeoutMsMax);
         if (!ms) return ms.error();
         c.upstream_first_byte_timeout_ms = ms.value();
         return {};
       }},
      {"--upstream-idle-timeout-ms", "TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, kUpstreamTimeoutMsMin, kUpstreamTimeoutMsMax);
         if (!ms) return ms.error();
         c.upstream_idle_timeout_ms = ms.value();
         return {};
       }},
      {"--connections-max", "TOLLGATE_CONNECTIONS_MAX",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto count = parse_range(param, value, 1, kConnectionsMaxCeiling);
         if (!count) return count.error();
         c.limits.connections_max = static_cast<size_t>(count.value());
         c.connections_max_set = true;
         return {};
       }},
      {"--connections-per-ip-max", "TOLLGATE_CONNECTIONS_PER_IP_MAX",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto count = parse_range(param, value, 1, kConnectionsMaxCeiling);
         if (!count) return count.error();
         c.limits.connections_per_ip_max = static_cast<size_t>(count.value());
         return {};
       }},
      {"--keepalive-timeout-ms", "TOLLGATE_KEEPALIVE_TIMEOUT_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, kIdleTimeoutMsMin, kTimeoutMsMax);
         if (!ms) return ms.error();
         c.limits.keepalive_timeout_ms = ms.value();
         return {};
       }},
      {"--header-timeout-ms", "TOLLGATE_HEADER_TIMEOUT_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, kIdleTimeoutMsMin, kTimeoutMsMax);
         if (!ms) return ms.error();
         c.limits.header_timeout_ms = ms.value();
         return {};
       }},
      {"--body-rate-min-bytes-per-s", "TOLLGATE_BODY_RATE_MIN_BYTES_PER_S",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto rate = parse_range(param, value, 0, kBodyRateCeiling);
         if (!rate) return rate.error();
         c.limits.body_rate_min_bytes_per_s = rate.value();
         return {};
       }},
      {"--body-rate-grace-ms", "TOLLGATE_BODY_RATE_GRACE_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, 0, kTimeoutMsMax);
         if (!ms) return ms.error();
         c.limits.body_rate_grace_ms = ms.value();
         return {};
       }},
      {"--linger-timeout-ms", "TOLLGATE_LINGER_TIMEOUT_MS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto ms = parse_range(param, value, 0, kLingerTimeoutMsMax);
         if (!ms) return ms.error();
         c.limits.linger_timeout_ms = ms.value();
         return {};
       }},
      {"--linger-bytes-max", "TOLLGATE_LINGER_BYTES_MAX",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto bytes = parse_range(param, value, 0, kLingerBytesCeiling);
         if (!bytes) return bytes.error();
         c.limits.linger_bytes_max = static_cast<size_t>(bytes.value());
         return {};
       }},
      {"--allow-private-upstreams", "TOLLGATE_ALLOW_PRIVATE_UPSTREAMS",
       [](std::string_view param, std::string_view value, ServeConfig& c) -> Result<void> {
         auto allow = parse_switch(param, value);
         if (!allow) return allow.error();
         c.allow_private_upstreams = allow.value();
         return {};
       },
       true},
  };
  return kOptions;
}

// Serve flags and environment; `--demo` is accepted only when `allow_demo`.
Result<ServeConfig> parse_serve(const std::vector<std::string_view>& args, const Environment& env,
                                bool allow_demo = true) {
  ServeConfig config;
  config.threads = static_cast<int>(
      std::clamp(std::thread::hardware_concurrency(), 1u, static_cast<unsigned>(kThreadsMax)));
  for (const Option& option : options()) {
    if (auto value = env(option.env)) {
      if (auto applied = option.apply(option.env, *value, config); !applied) return applied.error();
    }
  }
  if (auto url = env("DATABASE_URL")) {
    if (url->rfind("postgres://", 0) != 0 && url->rfind("postgresql://", 0) != 0) {
      return bad("DATABASE_URL", "DATABASE_URL must be a postgresql:// URL");
    }
    config.database_url = *url;
  }
  if (auto token = env("TOLLGATE_ADMIN_TOKEN")) {
    if (token->size() < kAdminTokenBytesMin) {
      return bad("TOLLGATE_ADMIN_TOKEN", "TOLLGATE_ADMIN_TOKEN must be at least " +
                                             std::to_string(kAdminTokenBytesMin) + " characters");
    }
    config.admin_token = *token;
  }
  if (auto master = env("TOLLGATE_MASTER_KEY")) {
    if (auto key = parse_master_key(*master, "TOLLGATE_MASTER_KEY"); !key) return key.error();
    config.master_key = *master;
  }
  if (auto pricing = env("TOLLGATE_PRICING_FILE")) config.pricing_file = *pricing;
  // An http(s) URL from the environment, without its trailing slashes.
  auto url_setting = [&env](std::string_view name, std::string& into) -> Result<void> {
    auto value = env(name);
    if (!value) return {};
    std::string url = *value;
    while (!url.empty() && url.back() == '/') url.pop_back();
    bool http = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
    if (!http || url.size() > 2048 || url.find_first_of(" \t\r\n") != std::string::npos)
      return fail(ErrorCode::kInvalidArgument, std::string(name) + " must be an http(s) URL",
                  std::string(name));
    into = url;
    return {};
  };
  if (auto set = url_setting("TOLLGATE_PUBLIC_URL", config.public_url); !set) return set.error();
  if (auto set = url_setting("STRIPE_API_BASE", config.stripe_api_base); !set) return set.error();
  if (auto key = env("STRIPE_SECRET_KEY"); key && !key->empty())
    config.demo_stripe_secret_key = *key;
  if (auto secret = env("STRIPE_WEBHOOK_SECRET"); secret && !secret->empty())
    config.demo_stripe_webhook_secret = *secret;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view name = arg.substr(0, arg.find('='));
    if (allow_demo && arg == "--demo") {
      config.demo = true;
      continue;
    }
    auto option = std::find_if(options().begin(), options().end(),
                               [&](const Option& o) { return o.flag == name; });
    if (option == options().end()) {
      return bad(std::string(name),
                 "unknown flag '" + std::string(name) + "'; see 'tollgate --help'");
    }
    std::string_view value;
    if (name.size() < arg.size()) {
      value = arg.substr(name.size() + 1);
    } else if (option->is_switch) {
      value = "1";
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return bad(std::string(name), std::string(name) + " needs a value");
    }
    if (auto applied = option->apply(name, value, config); !applied) return applied.error();
  }
  return config;
}

}  // namespace

Environment process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    // An empty variable counts as unset, as `VAR= tollgate serve` intends.
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

Result<Invocation> parse_invocation(const std::vector<std::string_view>& args,
                                    const Environment& env) {
  Invocation out;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    out.command = Command::kHelp;
    return out;
  }
  if (args[0] == "--version" || args[0] == "version") {
    out.command = Command::kVersion;
    return out;
  }
  if (args[0] == "projects") {
    if (args.size() < 2 || args[1] != "create") {
      return bad("projects", "usage: tollgate projects create --name NAME [--json]");
    }
    std::vector<std::string_view> rest;
    for (size_t i = 2; i < args.size(); ++i) {
      std::string_view arg = args[i];
      if (arg == "--json") {
        out.projects_create.json = true;
      } else if (arg == "--name" || arg.substr(0, 7) == "--name=") {
        std::string_view value;
        if (arg.size() > 7) {
          value = arg.substr(7);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return bad("--name", "--name needs a value");
        }
        if (value.empty() || value.size() > 200) {
          return bad("--name", "--name must be 1 to 200 characters");
        }
        out.projects_create.name = std::string(value);
      } else {
        rest.push_back(arg);
      }
    }
    if (out.projects_create.name.empty()) return bad("--name", "--name is required");
    auto config = parse_serve(rest, env, false);
    if (!config) return config.error();
    out.command = Command::kProjectsCreate;
    out.serve = std::move(config).value();
    return out;
  }
  if (args[0] != "serve") {
    std::string what(args[0]);
    return bad(what, "unknown command '" + what + "'; see 'tollgate --help'");
  }
  auto serve = parse_serve({args.begin() + 1, args.end()}, env);
  if (!serve) return serve.error();
  out.command = Command::kServe;
  out.serve = std::move(serve).value();
  return out;
}

std::string usage() {
  return R"(tollgate: meter, proxy and bill AI features for your users.

Usage:
  tollgate serve [flags]   run the HTTP server
  tollgate projects create --name NAME [--json] [--data-dir DIR]
                           create a project and print its keys (shown once)
  tollgate --version       print the version
  tollgate --help          print this help

Flags for serve (each also read from the environment variable shown):
  --host ADDR              listen address (TOLLGATE_HOST, default 127.0.0.1; 0.0.0.0 for all)
  --port N                 listen port, 0 picks a free one (TOLLGATE_PORT, default 8787)
  --data-dir DIR           where the SQLite database lives (TOLLGATE_DATA_DIR, default ./data)
  --body-bytes-max N       largest request body accepted (TOLLGATE_BODY_BYTES_MAX, default 1048576)
  --idle-timeout-ms N      silence allowed within a request (then 408) or a response being
                           written (then closed) (TOLLGATE_IDLE_TIMEOUT_MS, default 30000)
  --threads N              threads serving HTTP and provider calls, 1 to 16 (TOLLGATE_THREADS,
                           default: one per core)
  --upstream-connect-timeout-ms N     connect (and TLS) to a model provider
                           (TOLLGATE_UPSTREAM_CONNECT_TIMEOUT_MS, default 10000)
  --upstream-first-byte-timeout-ms N  wait for a provider's first byte; retried
                           (TOLLGATE_UPSTREAM_FIRST_BYTE_TIMEOUT_MS, default 60000)
  --upstream-idle-timeout-ms N        silence allowed inside a provider's answer
                           (TOLLGATE_UPSTREAM_IDLE_TIMEOUT_MS, default 60000)
  --connections-max N      open connections; at the cap idle and slow ones are shed, oldest
                           first, else new ones refused (TOLLGATE_CONNECTIONS_MAX, default
                           1024, lowered to fit the open-files limit unless set)
  --connections-per-ip-max N  connections from one client address, IPv6 per /64; raise it
                           behind a proxy (TOLLGATE_CONNECTIONS_PER_IP_MAX, default 256)
  --keepalive-timeout-ms N wait this long for a request's first byte, at most the idle timeout
                           (TOLLGATE_KEEPALIVE_TIMEOUT_MS, default 5000)
  --header-timeout-ms N    a request's headers must arrive this soon after its first byte,
                           else 408 (TOLLGATE_HEADER_TIMEOUT_MS, default 10000)
  --body-rate-min-bytes-per-s N  a body averaging less than this after the grace gets 408; 0
                           turns it off (TOLLGATE_BODY_RATE_MIN_BYTES_PER_S, default 1024)
  --body-rate-grace-ms N   how long a body may start slowly (TOLLGATE_BODY_RATE_GRACE_MS,
                           default 5000)
  --linger-timeout-ms N    after an answer to an unread body (413, 408, 400), keep reading and
                           dropping the rest this long (TOLLGATE_LINGER_TIMEOUT_MS, default 5000)
  --linger-bytes-max N     ... and at most this many bytes (TOLLGATE_LINGER_BYTES_MAX, default
                           33554432)
  --allow-private-upstreams  let providers be on this machine or a private network:
                           loopback, 10/8, 172.16/12, 192.168/16, 100.64/10, link-local,
                           fc00::/7; and plain http:// to 127.x.x.x or [::1]
                           (TOLLGATE_ALLOW_PRIVATE_UPSTREAMS=1, default off)
  --demo                   serve a demo project (made, and its keys printed, the first
                           time); calls without a key act as its publishable key

Environment only:
  DATABASE_URL             postgresql://… to store data in PostgreSQL instead of SQLite
  TOLLGATE_ADMIN_TOKEN     the admin token for POST /v1/projects (default: one is made on
                           first start, printed once, and only its hash kept)
  TOLLGATE_MASTER_KEY      64 hex characters that encrypt provider keys at rest (default: a
                           key made on first start in <data dir>/master.key, mode 0600)
  TOLLGATE_PRICING_FILE    a JSON pricing catalog replacing the shipped model prices
  TOLLGATE_PUBLIC_URL      where browsers and Stripe reach this server, for checkout pages
                           and the webhook URL (default http://<host>:<port>)
  STRIPE_API_BASE          Stripe's API base (default https://api.stripe.com), for tests
  STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET
                           with --demo: the demo project's Stripe keys

Flags take '--flag value' or '--flag=value'. Errors print one JSON line on stderr.
)";
}

}  // namespace tollgate::server
