// The tollgate binary: parses the command line and runs the chosen command.
//
// Failures print exactly one JSON error line on stderr and exit non-zero: 2 for bad usage,
// 1 for a runtime failure (port taken, data directory unwritable).
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <iostream>
#include <string_view>
#include <vector>

#include "server/api/api.h"
#include "server/api/health.h"
#include "server/api/input.h"
#include "server/api/render.h"
#include "server/api/schemas.h"
#include "server/auth/crypto.h"
#include "server/config/config.h"
#include "server/config/data_dir.h"
#include "server/features/operation.h"
#include "server/http/error_response.h"
#include "server/http/openapi.h"
#include "server/http/server.h"
#include "server/log/logger.h"
#include "server/log/one_time_secrets.h"
#include "server/store/store.h"
#include "server/version.h"

namespace {

using namespace tollgate;
using namespace tollgate::server;

// Credits each demo end user starts with, so `make run` can meter at once.
constexpr int64_t kDemoStartingCredits = 100;

int exit_with(const Error& error) {
  std::cerr << error_body(error).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
            << std::endl;
  return error.code == ErrorCode::kInvalidArgument ? 2 : 1;
}

// The demo project: found, or created with its keys shown once.
Result<std::string> demo_project(Store& store, OneTimeSecrets& secrets) {
  auto existing = store.demo_project();
  if (!existing) return existing.error();
  if (existing.value()) return existing.value()->id;
  auto created = create_project(store, "Demo project", true, system_now_ms());
  if (!created) {
    // Another process starting with --demo made it first.
    auto raced = store.demo_project();
    if (raced && raced.value()) return raced.value()->id;
    return created.error();
  }
  auto configured = store.patch_project_settings(
      created.value().project.id, [](ProjectSettings& settings) -> Result<void> {
        settings.starting_credits = kDemoStartingCredits;
        settings.plans = {{"pro", 1'000, 19'000'000, "usd", "month"}};
        settings.credit_packs = {{"starter", "Starter pack", 500, 5'000'000, "usd"}};
        return {};
      });
  if (!configured) return configured.error();
  auto shown = secrets.show("demo project " + created.value().project.id + " created",
                            "  publishable key: " + created.value().publishable_key +
                                "\n  secret key:      " + created.value().secret_key + "\n");
  if (!shown) return shown.error();
  return created.value().project.id;
}

// The demo feature `make run` shows: answered by the demo provider, so it needs no key.
constexpr std::string_view kDemoFeature = R"json({
  "slug": "summarize_ticket",
  "title": "Summarize a support ticket (demo model)",
  "model": "demo/echo",
  "systemPrompt": "You are a support lead. Summarize the ticket in one sentence and rate its priority.",
  "userTemplate": "Ticket:\n{{ticket}}",
  "maxTokens": 300,
  "responseFormat": {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "priority": {"enum": ["low", "high"]}},
    "required": ["summary", "priority"]
  },
  "perUserDailyLimit": 50,
  "price": {"type": "fixed", "credits": 2}
})json";

// Seeds the demo feature once, and lets the publishable key (or a keyless call) mint runtime
// sessions for the demo project from a browser; browser routes allow the server's own origins
// for it (api.demo_origins) without storing them.
Result<void> seed_demo(Store& store, ApiContext& api, const std::string& project_id) {
  auto patched =
      store.patch_project_settings(project_id, [](ProjectSettings& settings) -> Result<void> {
        settings.allow_browser_minting = true;
        return {};
      });
  if (!patched) return patched.error();
  api.auth.forget_project(project_id);
  auto existing = store.get_operation(project_id, "summarize_ticket");
  if (!existing) return existing.error();
  if (existing.value()) return {};
  auto op = parse_operation(nlohmann::json::parse(kDemoFeature));
  if (!op) return op.error();
  int64_t now = system_now_ms();
  auto created = store.create_operation(OperationRecord{
      new_id("op_"), project_id, op.value().slug, definition_of(op.value()).dump(), now, now});
  if (!created && created.error().code != ErrorCode::kConflict) return created.error();
  return {};
}

// Makes the data directory private, logging each permission it found too wide. Used when the
// server keeps anything there: the SQLite database, or master.key.
Result<void> secure_data(const ServeConfig& config, Logger& log) {
  if (!config.database_url.empty() && config.master_key) return {};
  auto secured = secure_data_dir(config.data_dir);
  if (!secured) return secured.error();
  for (const ModeChange& change : secured.value()) {
    nlohmann::ordered_json fields{{"path", change.path}, {"mode", mode_text(change.old_mode)}};
    if (change.tightened) {
      fields["new_mode"] = mode_text(change.new_mode);
      log.warn("data_file_mode_tightened", fields);
    } else {
      fields["reason"] = change.reason;
      log.warn("data_file_mode_too_wide", fields);
    }
  }
  return {};
}

int serve(const ServeConfig& config) {
  keep_freed_memory();
  Logger log(stdout);
  if (auto secured = secure_data(config, log); !secured) return exit_with(secured.error());
  auto store = open_store({config.data_dir, config.database_url});
  if (!store) return exit_with(store.error());
  Store& db = *store.value();

  auto master_key = load_master_key(config.master_key, config.data_dir);
  if (!master_key) return exit_with(master_key.error());
  const SecretBox secrets(master_key.value());
  auto signing = SigningKeys::load_or_create(db, secrets, system_now_ms());
  if (!signing) return exit_with(signing.error());
  auto pricing = PricingCatalog::load(config.pricing_file);
  if (!pricing) return exit_with(pricing.error());

  // Declared before everything that records into it, so it outlives them.
  Metrics metrics;
  auto ledger = std::make_unique<LedgerWriter>(db, ledger_partitions_for(db), &log);
  ledger->measure_with(&metrics);
  Authenticator auth(db, std::nullopt);
  ApiContext api{db, *ledger, auth, ""};
  api.secrets = &secrets;
  api.signing = signing.value().get();
  api.pricing = &pricing.value();
  api.log = &log;
  api.metrics = &metrics;
  Router router;
  add_health_routes(router, db);
  add_project_routes(router, api);
  add_meter_routes(router, api);
  add_account_routes(router, api);
  add_operation_routes(router, api);
  add_provider_routes(router, api);
  add_runtime_routes(router, api);
  add_invoke_routes(router, api);
  add_metrics_routes(router, api);
  add_billing_routes(router, api);
  add_user_key_routes(router, api);
  add_gateway_routes(router, api);
  add_usage_routes(router, api);
  add_openapi_route(router, kVersion, response_schemas());

  // Bind first: secrets are made (and shown once) only when the server can actually start.
  auto server = Server::create(config, std::move(router), log, &metrics);
  if (!server) return exit_with(server.error());
  metrics.connections_from([&server = *server.value()] {
    SessionCounters counters = server.session_counters();
    return ConnectionFigures{server.open_connections(), counters.shed_total,
                             counters.refused_full_total, counters.refused_client_full_total,
                             counters.refused_draining_total};
  });
  // Provider calls run on the server's threads; the client is declared after the server, so it
  // closes its pooled connections while the server's io_context still exists.
  api.upstream_timeouts =
      UpstreamTimeouts{std::chrono::milliseconds(config.upstream_connect_timeout_ms),
                       std::chrono::milliseconds(config.upstream_first_byte_timeout_ms),
                       std::chrono::milliseconds(config.upstream_idle_timeout_ms)};
  // Every provider call goes through the one outbound guard, which webhooks will share.
  const OutboundGuard outbound(config.allow_private_upstreams);
  HttpClient upstream(outbound, api.upstream_timeouts, &server.value()->io_context());
  api.upstream = &upstream;
  // Stripe is called through the same client, and so the same guard.
  StripeApi stripe(upstream, config.stripe_api_base);
  api.stripe = &stripe;
  api.public_url = config.public_url;
  if (api.public_url.empty()) {
    std::string host = config.host == "0.0.0.0" || config.host == "::" ? "127.0.0.1" : config.host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    api.public_url = "http://" + host + ":" + std::to_string(server.value()->port());
  }
  // Retries (of hold closes) wait on the server's timers. A cancelled wait still runs its step,
  // so a retry is never dropped silently.
  api.run_after = [&ioc = server.value()->io_context()](std::chrono::milliseconds delay,
                                                        std::function<void()> step) {
    auto timer = std::make_shared<boost::asio::steady_timer>(ioc, delay);
    timer->async_wait(
        [timer, step = std::move(step)](const boost::system::error_code&) { step(); });
  };
  // Big batches are answered on the server's threads, so the ledger writer moves on at once.
  ledger->answer_through([&ioc = server.value()->io_context()](std::function<void()> answers) {
    boost::asio::post(ioc, std::move(answers));
  });

  // Secrets made now are shown once: on the terminal, or in a private file of the data dir when
  // stderr is a supervisor's log.
  OneTimeSecrets one_time(config.data_dir, ::isatty(STDERR_FILENO) == 1, std::cerr, log);
  std::optional<std::string> new_admin_token;
  auto admin_hash = admin_token_hash(db, config.admin_token, new_admin_token);
  if (!admin_hash) return exit_with(admin_hash.error());
  api.admin_token_hash = admin_hash.value();
  if (new_admin_token) {
    auto shown = one_time.show("admin token created; POST /v1/projects needs it",
                               "  " + *new_admin_token + "\n");
    if (!shown) return exit_with(shown.error());
  }
  std::optional<std::string> demo_id;
  if (config.demo) {
    auto demo = demo_project(db, one_time);
    if (!demo) return exit_with(demo.error());
    demo_id = demo.value();
    auth.set_demo_project(*demo_id);
    // The demo's own pages (this server) may call its browser routes.
    uint16_t port = server.value()->port();
    api.demo_origins = {"http://localhost:" + std::to_string(port),
                        "http://127.0.0.1:" + std::to_string(port)};
    if (auto seeded = seed_demo(db, api, *demo_id); !seeded) return exit_with(seeded.error());
    if (config.demo_stripe_secret_key && config.demo_stripe_webhook_secret) {
      auto keys = set_stripe_keys(api, *demo_id, *config.demo_stripe_secret_key,
                                  *config.demo_stripe_webhook_secret);
      if (!keys) return exit_with(keys.error());
    }
  }

  log.info("listening",
           {{"host", config.host},
            {"port", server.value()->port()},
            {"url", "http://" + config.host + ":" + std::to_string(server.value()->port())},
            {"store", db.kind()},
            {"data_dir", config.database_url.empty() ? config.data_dir : ""},
            {"demo_project", demo_id ? *demo_id : ""},
            {"version", kVersion},
            {"threads", config.threads},
            {"allow_private_upstreams", outbound.allows_private()}});
  server.value()->run();
  metrics.connections_from(nullptr);  // the server's threads are done; nothing scrapes now
  // The writer answers through the server's executors, so it stops first, answering what is
  // still queued on its own thread.
  ledger->answer_through(nullptr);
  ledger.reset();
  log.info("stopped");
  return 0;
}

int projects_create(const ServeConfig& config, const ProjectsCreate& command) {
  auto store = open_store({config.data_dir, config.database_url});
  if (!store) return exit_with(store.error());
  auto created = create_project(*store.value(), command.name, false, system_now_ms());
  if (!created) return exit_with(created.error());
  if (command.json) {
    std::cout << render_created_project(created.value()).dump() << std::endl;
  } else {
    std::cout << "project " << created.value().project.id << " (" << command.name << ")\n"
              << "  publishable key: " << created.value().publishable_key << "\n"
              << "  secret key:      " << created.value().secret_key << "\n"
              << "The secret key is shown once; only its hash is stored.\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto invocation = parse_invocation(args, process_environment());
  if (!invocation) return exit_with(invocation.error());
  switch (invocation.value().command) {
    case Command::kHelp:
      std::cout << usage();
      return 0;
    case Command::kVersion:
      std::cout << "tollgate " << kVersion << "\n";
      return 0;
    case Command::kServe:
      return serve(invocation.value().serve);
    case Command::kProjectsCreate:
      return projects_create(invocation.value().serve, invocation.value().projects_create);
  }
  return 1;
}
