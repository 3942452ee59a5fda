// AI features: POST /v1/operations and GET/PATCH/DELETE /v1/operations[/{slug}].
// Writes need the secret key. Reads take either key; the publishable key sees the public view,
// without the prompts.
#include "server/api/api.h"
#include "server/api/cors.h"
#include "server/api/input.h"
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
  router.add(http::verb::post, "/v1/operations", [&api](const Request& request) {
    auto write = authenticated_write(api, request, Access::kSecretKey, kOperationFields);
    if (!write) return error_response(write.error());
    auto op = parse_operation(write.value().body);
    if (!op) return error_response(op.error());
    if (auto priced = check_catalog_prices(op.value(), *api.pricing); !priced)
      return error_response(priced.error());
    int64_t now = api.now_ms();
    OperationRecord record{new_id("op_"), write.value().caller.project.id, op.value().slug,
                           definition_of(op.value()).dump(), now, now};
    if (auto created = api.store.create_operation(record); !created) {
      return error_response(created.error());
    }
    api.runtime.forget_feature(record.project_id, record.slug);
    return render(record, OperationView::kOwner);
  });

  add_browser_route(router, api, http::verb::get, "/v1/operations",
                    [&api](const Request& request, const PathParams&, BrowserAccess& browser) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kAnyKey);
    if (!caller) return error_response(caller.error());
    if (auto admitted = browser.admit(caller.value()); !admitted)
      return error_response(admitted.error());
    QueryParams query = parse_query(request.target());
    auto limit = int_param(query, "limit", 1, kPageLimitMax, kPageLimitDefault);
    if (!limit) return error_response(limit.error());
    Page page;
    page.limit = limit.value() + 1;  // one extra row tells whether there is a next page
    if (auto after = query.find("starting_after"); after != query.end() && !after->second.empty())
      page.starting_after = after->second;
    auto records = api.store.list_operations(caller.value().project.id, page);
    if (!records) return error_response(records.error());
    bool more = static_cast<int64_t>(records.value().size()) > limit.value();
    if (more) records.value().pop_back();
    ojson data = ojson::array();
    for (const OperationRecord& record : records.value()) {
      auto op = operation_from_record(record);
      if (!op) return error_response(op.error());
      data.push_back(render_operation(op.value(), view_for(caller.value())));
    }
    return json_response(http::status::ok, {{"data", data}, {"hasMore", more}});
  });

  add_browser_route(router, api, http::verb::get, "/v1/operations/{slug}",
                    [&api](const Request& request, const PathParams& params,
                           BrowserAccess& browser) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kAnyKey);
    if (!caller) return error_response(caller.error());
    if (auto admitted = browser.admit(caller.value()); !admitted)
      return error_response(admitted.error());
    auto slug = slug_param(params);
    if (!slug) return error_response(slug.error());
    auto record = api.store.get_operation(caller.value().project.id, slug.value());
    if (!record) return error_response(record.error());
    if (!record.value()) return error_response(not_found(slug.value()));
    return render(*record.value(), view_for(caller.value()));
  });

  router.add(http::verb::patch, "/v1/operations/{slug}",
             [&api](const Request& request, const PathParams& params) {
    auto write = authenticated_write(api, request, Access::kSecretKey, kOperationFields);
    if (!write) return error_response(write.error());
    auto slug = slug_param(params);
    if (!slug) return error_response(slug.error());
    const json& body = write.value().body;
    auto patched = api.store.patch_operation(
        write.value().caller.project.id, slug.value(), api.now_ms(),
        [&body, &api](OperationRecord& record) -> Result<void> {
          json stored = json::parse(record.definition, nullptr, /*allow_exceptions=*/false);
          auto merged = patched_definition(stored, body);
          if (!merged) return merged.error();
          auto op = parse_operation(merged.value());
          if (!op) return op.error();
          if (auto priced = check_catalog_prices(op.value(), *api.pricing); !priced)
            return priced.error();
          record.definition = merged.value().dump();
          return {};
        });
    api.runtime.forget_feature(write.value().caller.project.id, slug.value());
    if (!patched) {
      if (patched.error().code == ErrorCode::kNotFound) return error_response(not_found(slug.value()));
      return error_response(patched.error());
    }
    return render(patched.value(), OperationView::kOwner);
  });

  router.add(http::verb::delete_, "/v1/operations/{slug}",
             [&api](const Request& request, const PathParams& params) {
    auto caller = api.auth.authenticate(request, nullptr, Access::kSecretKey);
    if (!caller) return error_response(caller.error());
    auto slug = slug_param(params);
    if (!slug) return error_response(slug.error());
    auto deleted = api.store.delete_operation(caller.value().project.id, slug.value());
    api.runtime.forget_feature(caller.value().project.id, slug.value());
    if (!deleted) return error_response(deleted.error());
    if (!deleted.value()) return error_response(not_found(slug.value()));
    return json_response(http::status::ok,
                         ojson{{"slug", slug.value()}, {"object", "operation"}, {"deleted", true}});
  });
}

}  // namespace tollgate::server
