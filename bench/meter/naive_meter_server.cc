// The naive baseline for POST /v1/meter: what most people write first. The handler parses the
// body and runs one store transaction per request, synchronously, on the io thread that read it;
// 8 io threads let requests wait on the database in parallel. Same store and durability as
// Tollgate (SQLite WAL + synchronous=FULL; PostgreSQL's default fsync), but no batching and no
// auth: it creates its own project at startup.
//
//   bench_naive_meter_server [--port N] [--threads N] [--data-dir D]   (or env DATABASE_URL)
#include <cstdio>
#include <optional>
#include <string>

#include "bench/meter/bench_server.h"
#include "server/http/error_response.h"
#include "server/store/store.h"

using namespace tollgate;
using namespace tollgate::server;

namespace {

constexpr int kNaiveThreads = 8;
constexpr std::string_view kProjectId = "proj_bench";
constexpr int64_t kStartingCredits = 1'000'000'000;
constexpr size_t kIdBytesMax = 256;

Error bad_body(std::string message, std::string param) {
  return fail(ErrorCode::kInvalidArgument, std::move(message), std::move(param));
}

// {userId, event, cost} → a MeterCommand for the bench project.
Result<MeterCommand> parse_meter(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return bad_body("body must be a JSON object", "");
  MeterCommand command{std::string(kProjectId), "", "", 1};
  for (const char* field : {"userId", "event"}) {
    auto it = json.find(field);
    if (it == json.end() || !it->is_string() || it->get_ref<const std::string&>().empty() ||
        it->get_ref<const std::string&>().size() > kIdBytesMax) {
      return bad_body(std::string(field) + " must be a non-empty string", field);
    }
  }
  command.user_id = json["userId"].get<std::string>();
  command.event = json["event"].get<std::string>();
  if (auto it = json.find("cost"); it != json.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0) {
      return bad_body("cost must be a non-negative integer", "cost");
    }
    command.cost = it->get<int64_t>();
  }
  return command;
}

Response meter(Store& store, const Request& request) {
  auto command = parse_meter(request.body());
  if (!command) return error_response(command.error());
  LedgerCommand commands[] = {LedgerCommand{std::move(command).value(), std::nullopt}};
  auto outcomes = store.apply(commands, unix_ms_now());
  if (!outcomes) return error_response(outcomes.error());
  const LedgerOutcome& outcome = outcomes.value().at(0);
  if (outcome.error) return error_response(*outcome.error);
  int64_t remaining = outcome.account ? outcome.account->balance : 0;
  return json_response(http::status::ok,
                       {{"allowed", true}, {"remaining", remaining}, {"cost", outcome.amount}});
}

Result<void> create_bench_project(Store& store) {
  Project project;
  project.id = std::string(kProjectId);
  project.name = "bench (naive)";
  project.settings.starting_credits = kStartingCredits;
  project.created_at_ms = unix_ms_now();
  return store.create_project(project, {});
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = bench::parse_bench_flags(argc, argv, kNaiveThreads);
  if (!flags) return bench::exit_with(flags.error());
  const bench::BenchFlags& config = flags.value();

  auto opened = open_store({config.serve.data_dir, config.database_url});
  if (!opened) return bench::exit_with(opened.error());
  Store& store = *opened.value();
  if (auto created = create_bench_project(store); !created)
    return bench::exit_with(created.error());

  Router router;
  router.add(http::verb::post, "/v1/meter",
             [&store](const Request& request) { return meter(store, request); });

  Logger log(stdout);
  return bench::serve(config.serve, std::move(router), log,
                      {{"server", "naive"}, {"store", store.kind()}});
}
