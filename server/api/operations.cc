// AI features: POST /v1/operations and GET/PATCH/DELETE /v1/operations[/{slug}].
// Writes need the secret key. Reads take either key; the publishable key sees the public view,
// without the prompts.
#include "server/api/api.h"
#include "server/api/cors.h"
#include "server/api/input.h"
#include "server/api/route.h"
#include "server/auth/crypto.h"
#include "server/features/operation.h"
#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

using ojson = nlohmann::ordered_json;

OperationView view_for(const Caller& caller) {
  return caller.kind == KeyKind::kSecret ? OperationView::kOwner : OperationView::kPublic;
}

Result<std::string> slug_param(const PathParams& params) {
  auto slug = params.find("slug");
  if (slug == params.end() || slug->second.empty() || slug->second.size() > kSlugBytesMax) {
    return fail(ErrorCode::kInvalidArgument, "the path needs a feature slug", "slug");
  }
  return slug->second;
}

Error not_found(const std::string& slug) {
  return fail(ErrorCode::kNotFound, "no feature with slug '" + slug + "'", "slug");
}

Response render(const OperationRecord& record, OperationView view) {
  auto op = operation_from_record(record);
  if (!op) return error_response(op.error());
  return json_response(http::status::ok, render_operation(op.value(), view));
}

}  // namespace

void add_operation_routes(Router& router, ApiContext& api) {
  // A definition's fields are checked together by parse_operation(), which names the first bad
  // one; the table lists them so unknown ones are refused and the spec shows them.
  std::vector<Field> definition;
  for (std::string_view name : kOperationFields) definition.push_back({name});

  add_route(router, api,
            {http::verb::post, "/v1/operations", Who::kSecretKey,
             "Defines an AI feature (its prompt stays on the server)", "Feature", Body::kJson,
             false, false, definition},
            [&api](const Call& call) -> Result<Response> {
              auto op = parse_operation(call.body);
              if (!op) return op.error();
              if (auto priced = check_catalog_prices(op.value(), *api.pricing); !priced)
                return priced.error();
              int64_t now = api.now_ms();
              OperationRecord record{new_id("op_"),
                                     call.caller->project.id,
                                     op.value().slug,
                                     definition_of(op.value()).dump(),
                                     now,
                                     now};
              if (auto created = api.store.create_operation(record); !created)
                return created.error();
              api.runtime.forget_feature(record.project_id, record.slug);
              return render(record, OperationView::kOwner);
            });

  add_route(router, api,
            {http::verb::get,
             "/v1/operations",
             Who::kAnyKey,
             "Lists features (the publishable key sees the public view, without prompts)",
             "FeatureList",
             Body::kNone,
             /*browser=*/true,
             false,
             {{"limit", FieldType::kInteger, false, 1, kPageLimitMax},
              {"starting_after", FieldType::kString, false, 0, kSlugBytesMax}}},
            [&api](const Call& call) -> Result<Response> {
              auto limit = int_param(call.query, "limit", 1, kPageLimitMax, kPageLimitDefault);
              if (!limit) return limit.error();
              Page page;
              page.limit = limit.value() + 1;  // one extra row tells whether there is a next page
              if (auto after = call.query.find("starting_after");
                  after != call.query.end() && !after->second.empty())
                page.starting_after = after->second;
              auto records = api.store.list_operations(call.caller->project.id, page);
              if (!records) return records.error();
              bool more = static_cast<int64_t>(records.value().size()) > limit.value();
              if (more) records.value().pop_back();
              ojson data = ojson::array();
              for (const OperationRecord& record : records.value()) {
                auto op = operation_from_record(record);
                if (!op) return op.error();
                data.push_back(render_operation(op.value(), view_for(*call.caller)));
              }
              return json_response(http::status::ok, {{"data", data}, {"hasMore", more}});
            });

  add_route(router, api,
            {http::verb::get, "/v1/operations/{slug}", Who::kAnyKey, "One feature", "Feature",
             Body::kNone,
             /*browser=*/true},
            [&api](const Call& call) -> Result<Response> {
              auto slug = slug_param(call.params);
              if (!slug) return slug.error();
              auto record = api.store.get_operation(call.caller->project.id, slug.value());
              if (!record) return record.error();
              if (!record.value()) return not_found(slug.value());
              return render(*record.value(), view_for(*call.caller));
            });

  add_route(router, api,
            {http::verb::patch, "/v1/operations/{slug}", Who::kSecretKey,
             "Changes a feature's definition (fields absent stay as they are)", "Feature",
             Body::kJson, false, false, definition},
            [&api](const Call& call) -> Result<Response> {
              auto slug = slug_param(call.params);
              if (!slug) return slug.error();
              const std::string& project = call.caller->project.id;
              const json& body = call.body;
              const PricingCatalog& pricing = *api.pricing;
              auto patched = api.store.patch_operation(
                  project, slug.value(), api.now_ms(),
                  [&body, &pricing](OperationRecord& record) -> Result<void> {
                    json stored =
                        json::parse(record.definition, nullptr, /*allow_exceptions=*/false);
                    auto merged = patched_definition(stored, body);
                    if (!merged) return merged.error();
                    auto op = parse_operation(merged.value());
                    if (!op) return op.error();
                    if (auto priced = check_catalog_prices(op.value(), pricing); !priced)
                      return priced.error();
                    record.definition = merged.value().dump();
                    return {};
                  });
              api.runtime.forget_feature(project, slug.value());
              if (!patched) {
                if (patched.error().code == ErrorCode::kNotFound) return not_found(slug.value());
                return patched.error();
              }
              return render(patched.value(), OperationView::kOwner);
            });

  add_route(router, api,
            {http::verb::delete_, "/v1/operations/{slug}", Who::kSecretKey, "Deletes a feature",
             "DeletedFeature"},
            [&api](const Call& call) -> Result<Response> {
              auto slug = slug_param(call.params);
              if (!slug) return slug.error();
              const std::string& project = call.caller->project.id;
              auto deleted = api.store.delete_operation(project, slug.value());
              api.runtime.forget_feature(project, slug.value());
              if (!deleted) return deleted.error();
              if (!deleted.value()) return not_found(slug.value());
              return json_response(
                  http::status::ok,
                  ojson{{"slug", slug.value()}, {"object", "operation"}, {"deleted", true}});
            });
}

}  // namespace tollgate::server
