#include "server/config/config.h"

#include <gtest/gtest.h>

#include <map>

namespace tollgate::server {
namespace {

Environment env_of(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<Invocation> parse(std::vector<std::string_view> args,
                         std::map<std::string, std::string> env = {}) {
  return parse_invocation(args, env_of(std::move(env)));
}

TEST(Config, Defaults) {
  auto got = parse({"serve"});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().command, Command::kServe);
  EXPECT_EQ(got.value().serve.port, kDefaultPort);
  EXPECT_EQ(got.value().serve.host, "127.0.0.1");
  EXPECT_EQ(got.value().serve.data_dir, "./data");
  EXPECT_GE(got.value().serve.threads, 1);
}

TEST(Config, CommandsAndHelp) {
  EXPECT_EQ(parse({}).value().command, Command::kHelp);
  EXPECT_EQ(parse({"--help"}).value().command, Command::kHelp);
  EXPECT_EQ(parse({"-h"}).value().command, Command::kHelp);
  EXPECT_EQ(parse({"--version"}).value().command, Command::kVersion);
  EXPECT_NE(usage().find("--data-dir"), std::string::npos);
}

TEST(Config, FlagsInBothFormsOverrideEnvironment) {
  auto got = parse(
      {"serve", "--port", "9000", "--data-dir=/tmp/x", "--idle-timeout-ms=500"},
      {{"TOLLGATE_PORT", "7000"}, {"TOLLGATE_DATA_DIR", "/tmp/env"}, {"TOLLGATE_HOST", "0.0.0.0"}});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().serve.port, 9000);
  EXPECT_EQ(got.value().serve.data_dir, "/tmp/x");
  EXPECT_EQ(got.value().serve.host, "0.0.0.0");
  EXPECT_EQ(got.value().serve.limits.idle_timeout_ms, 500);
}

TEST(Config, EnvironmentAppliesWithoutFlags) {
  auto got = parse({"serve"}, {{"TOLLGATE_PORT", "0"}, {"TOLLGATE_BODY_BYTES_MAX", "2048"}});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().serve.port, 0);
  EXPECT_EQ(got.value().serve.limits.body_bytes_max, 2048u);
}

TEST(Config, SlowClientLimitsHaveDefaultsFlagsAndEnvironment) {
  auto defaulted = parse({"serve"});
  ASSERT_TRUE(defaulted.ok());
  const Limits& d = defaulted.value().serve.limits;
  EXPECT_EQ(d.connections_max, 1024u);
  EXPECT_FALSE(defaulted.value().serve.connections_max_set);
  EXPECT_EQ(d.connections_per_ip_max, 256u);
  EXPECT_EQ(d.keepalive_timeout_ms, 5'000);
  EXPECT_LT(d.keepalive_timeout_ms, d.idle_timeout_ms);
  EXPECT_EQ(d.header_timeout_ms, 10'000);
  EXPECT_EQ(d.body_rate_min_bytes_per_s, 1024);
  EXPECT_EQ(d.linger_bytes_max, size_t{32} << 20);

  auto got = parse(
      {"serve", "--connections-max", "10", "--connections-per-ip-max=3", "--keepalive-timeout-ms",
       "200", "--header-timeout-ms", "300", "--body-rate-min-bytes-per-s", "0",
       "--body-rate-grace-ms", "50", "--linger-timeout-ms", "0", "--linger-bytes-max", "4096"},
      {{"TOLLGATE_CONNECTIONS_PER_IP_MAX", "99"}, {"TOLLGATE_HEADER_TIMEOUT_MS", "999"}});
  ASSERT_TRUE(got.ok());
  const Limits& l = got.value().serve.limits;
  EXPECT_EQ(l.connections_max, 10u);
  EXPECT_TRUE(got.value().serve.connections_max_set);
  EXPECT_EQ(l.connections_per_ip_max, 3u);
  EXPECT_EQ(l.keepalive_timeout_ms, 200);
  EXPECT_EQ(l.header_timeout_ms, 300);
  EXPECT_EQ(l.body_rate_min_bytes_per_s, 0);
  EXPECT_EQ(l.body_rate_grace_ms, 50);
  EXPECT_EQ(l.linger_timeout_ms, 0);
  EXPECT_EQ(l.linger_bytes_max, 4096u);

  auto from_env = parse({"serve"}, {{"TOLLGATE_CONNECTIONS_MAX", "77"}});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env.value().serve.limits.connections_max, 77u);
  EXPECT_TRUE(from_env.value().serve.connections_max_set);
  for (std::string_view flag :
       {"--connections-max", "--connections-per-ip-max", "--keepalive-timeout-ms",
        "--header-timeout-ms", "--body-rate-min-bytes-per-s", "--linger-bytes-max"}) {
    EXPECT_NE(usage().find(flag), std::string::npos) << flag;
  }
}

TEST(Config, ThreadsDefaultToTheCoresAndTakeAFlag) {
  auto defaulted = parse({"serve"}, {});
  ASSERT_TRUE(defaulted.ok());
  EXPECT_GE(defaulted.value().serve.threads, 1);
  EXPECT_LE(defaulted.value().serve.threads, kThreadsMax);
  auto set = parse({"serve", "--threads", "3"}, {{"TOLLGATE_THREADS", "1"}});
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(set.value().serve.threads, 3);
  auto from_env = parse({"serve"}, {{"TOLLGATE_THREADS", "1"}});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env.value().serve.threads, 1);
}

struct BadInput {
  std::vector<std::string_view> args;
  std::map<std::string, std::string> env;
  std::string param;
};

TEST(Config, DemoDatabaseUrlAndProjectsCreate) {
  auto serve = parse({"serve", "--demo"}, {{"DATABASE_URL", "postgresql://u@127.0.0.1/db"},
                                           {"TOLLGATE_ADMIN_TOKEN", "0123456789abcdef"}});
  ASSERT_TRUE(serve.ok()) << serve.error().message;
  EXPECT_TRUE(serve.value().serve.demo);
  EXPECT_EQ(serve.value().serve.database_url, "postgresql://u@127.0.0.1/db");
  EXPECT_EQ(serve.value().serve.admin_token, "0123456789abcdef");
  auto create = parse({"projects", "create", "--name", "acme", "--json", "--data-dir", "d"}, {});
  ASSERT_TRUE(create.ok()) << create.error().message;
  EXPECT_EQ(create.value().command, Command::kProjectsCreate);
  EXPECT_EQ(create.value().projects_create.name, "acme");
  EXPECT_TRUE(create.value().projects_create.json);
  EXPECT_EQ(create.value().serve.data_dir, "d");
}

TEST(Config, PrivateUpstreamsAreOffUnlessTheFlagOrVariableSaysSo) {
  EXPECT_FALSE(parse({"serve"}).value().serve.allow_private_upstreams);
  EXPECT_TRUE(parse({"serve", "--allow-private-upstreams"}).value().serve.allow_private_upstreams);
  EXPECT_TRUE(parse({"serve", "--allow-private-upstreams", "--port", "0"})
                  .value()
                  .serve.allow_private_upstreams);
  EXPECT_TRUE(parse({"serve"}, {{"TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", "1"}})
                  .value()
                  .serve.allow_private_upstreams);
  // The flag wins over the environment, either way.
  EXPECT_FALSE(parse({"serve", "--allow-private-upstreams=0"},
                     {{"TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", "1"}})
                   .value()
                   .serve.allow_private_upstreams);
  EXPECT_TRUE(parse({"serve", "--allow-private-upstreams"},
                    {{"TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", "0"}})
                  .value()
                  .serve.allow_private_upstreams);
  EXPECT_NE(usage().find("--allow-private-upstreams"), std::string::npos);
  auto bad_env = parse({"serve"}, {{"TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", "yes"}});
  ASSERT_FALSE(bad_env.ok());
  EXPECT_EQ(bad_env.error().param, "TOLLGATE_ALLOW_PRIVATE_UPSTREAMS");
  auto bad_flag = parse({"serve", "--allow-private-upstreams=maybe"});
  ASSERT_FALSE(bad_flag.ok());
  EXPECT_EQ(bad_flag.error().param, "--allow-private-upstreams");
}

TEST(Config, BadInputNamesTheFlagOrVariable) {
  std::vector<BadInput> cases = {
      {{"serve", "--frob"}, {}, "--frob"},
      {{"serve", "--frob=1"}, {}, "--frob"},
      {{"serve", "--port"}, {}, "--port"},
      {{"serve", "--port", "http"}, {}, "--port"},
      {{"serve", "--port", "65536"}, {}, "--port"},
      {{"serve", "--port", "-1"}, {}, "--port"},
      {{"serve", "--port", "80x"}, {}, "--port"},
      {{"serve", "--host", "example.com"}, {}, "--host"},
      {{"serve", "--host", "300.1.1.1"}, {}, "--host"},
      {{"serve", "--data-dir="}, {}, "--data-dir"},
      {{"serve", "--body-bytes-max", "0"}, {}, "--body-bytes-max"},
      {{"serve", "--idle-timeout-ms", "5"}, {}, "--idle-timeout-ms"},
      {{"serve", "--connections-max", "0"}, {}, "--connections-max"},
      {{"serve", "--connections-per-ip-max", "many"}, {}, "--connections-per-ip-max"},
      {{"serve", "--keepalive-timeout-ms", "10"}, {}, "--keepalive-timeout-ms"},
      {{"serve", "--header-timeout-ms", "600001"}, {}, "--header-timeout-ms"},
      {{"serve", "--body-rate-min-bytes-per-s", "-1"}, {}, "--body-rate-min-bytes-per-s"},
      {{"serve", "--linger-timeout-ms", "60001"}, {}, "--linger-timeout-ms"},
      {{"serve"}, {{"TOLLGATE_LINGER_BYTES_MAX", "x"}}, "TOLLGATE_LINGER_BYTES_MAX"},
      {{"serve", "--threads", "0"}, {}, "--threads"},
      {{"serve", "--threads", "17"}, {}, "--threads"},
      {{"serve", "--threads", "two"}, {}, "--threads"},
      {{"serve"}, {{"TOLLGATE_THREADS", "-1"}}, "TOLLGATE_THREADS"},
      {{"serve"}, {{"TOLLGATE_PORT", "abc"}}, "TOLLGATE_PORT"},
      {{"serve"}, {{"DATABASE_URL", "mysql://x"}}, "DATABASE_URL"},
      {{"serve"}, {{"TOLLGATE_ADMIN_TOKEN", "short"}}, "TOLLGATE_ADMIN_TOKEN"},
      {{"serve", "--demo=1"}, {}, "--demo"},
      {{"projects"}, {}, "projects"},
      {{"projects", "create"}, {}, "--name"},
      {{"projects", "create", "--name"}, {}, "--name"},
      {{"projects", "create", "--name="}, {}, "--name"},
      {{"projects", "create", "--name", "a", "--demo"}, {}, "--demo"},
      {{"launch"}, {}, "launch"},
      {{"serve", "extra"}, {}, "extra"},
  };
  for (const auto& c : cases) {
    auto got = parse(c.args, c.env);
    ASSERT_FALSE(got.ok()) << c.param;
    EXPECT_EQ(got.error().code, ErrorCode::kInvalidArgument) << c.param;
    EXPECT_EQ(got.error().param, c.param);
    EXPECT_FALSE(got.error().message.empty());
  }
}

}  // namespace
}  // namespace tollgate::server
