#include "server/api/route.h"

#include <cstdlib>
#include <memory>
#include <utility>

#include "server/http/error_response.h"

namespace tollgate::server {
namespace {

Result<void> check_field(const json& body, const Field& field) {
  auto found = body.find(field.name);
  bool absent = found == body.end() || found->is_null();
  if (absent) {
    if (found != body.end() && field.nullable) return {};
    if (field.required) return invalid_field(quoted_field(field.name) + " is required", field.name);
    return {};
  }
  switch (field.type) {
    case FieldType::kString: {
      auto text = string_field(body, field.name, static_cast<size_t>(field.max));
      if (!text) return text.error();
      if (field.one_of.empty()) return {};
      std::string choices;
      for (std::string_view choice : field.one_of) {
        if (choice == text.value()) return {};
        choices.append(choices.empty() ? "\"" : ", \"").append(choice).append("\"");
      }
      return invalid_field(quoted_field(field.name) + " must be one of " + choices, field.name);
    }
    case FieldType::kInteger: {
      auto number = int_field(body, field.name, field.min, field.max);
      if (!number) return number.error();
      return {};
    }
    case FieldType::kBoolean: {
      auto flag = bool_field(body, field.name, false);
      if (!flag) return flag.error();
      return {};
    }
    case FieldType::kObject:
      if (!found->is_object())
        return invalid_field(quoted_field(field.name) + " must be an object", field.name);
      return {};
    case FieldType::kArray:
      if (!found->is_array())
        return invalid_field(quoted_field(field.name) + " must be an array", field.name);
      return {};
    case FieldType::kAny:
      return {};
  }
  return {};
}

Access access_of(Who who) { return who == Who::kSecretKey ? Access::kSecretKey : Access::kAnyKey; }

bool uses_key(Who who) { return who == Who::kSecretKey || who == Who::kAnyKey; }

// Everything before the handler. `caller` and `body` receive what the handler's Call points to.
Result<void> admit(ApiContext& api, const RouteSpec& spec, const Request& request,
                   BrowserAccess* browser, std::optional<Caller>& caller, json& body,
                   std::optional<Idempotency>& idempotency) {
  if (spec.who == Who::kAdmin) {
    std::string what = std::string(http::to_string(spec.method)) + " " + std::string(spec.path);
    if (auto admin = require_admin(api, request, what); !admin) return admin.error();
  }
  Result<json> parsed = json::object();
  if (spec.body != Body::kNone) parsed = json_object_body(request, spec.body == Body::kJsonOrEmpty);
  if (uses_key(spec.who)) {
    auto authenticated = api.auth.authenticate(
        request, parsed && spec.body != Body::kNone ? &parsed.value() : nullptr,
        access_of(spec.who));
    if (!authenticated) return authenticated.error();
    caller = std::move(authenticated).value();
    if (browser != nullptr) {
      if (auto admitted = browser->admit(*caller); !admitted) return admitted.error();
    }
  }
  if (!parsed) return parsed.error();
  body = std::move(parsed).value();
  if (spec.body != Body::kNone) {
    if (auto checked = check_fields(body, spec.fields); !checked) return checked.error();
  }
  if (spec.idempotent && caller) {
    auto key = idempotency_of(request, *caller, body);
    if (!key) return key.error();
    idempotency = std::move(key).value();
  }
  return {};
}

Response finish(Result<Response> result, const std::optional<Caller>& caller) {
  Response response = result ? std::move(result).value() : error_response(result.error());
  if (caller) response.set(kProjectLogHeader, caller->project.id);
  return response;
}

// Runs the pipeline for one request and hands the Call to `run`, which answers through `reply`.
using Run = std::function<void(const Call&, Reply)>;

void serve(ApiContext& api, const RouteSpec& spec, const Run& run, const Request& request,
           const PathParams& params, const Respond& respond, BrowserAccess* browser) {
  std::optional<Caller> caller;
  json body;
  std::optional<Idempotency> idempotency;
  if (auto admitted = admit(api, spec, request, browser, caller, body, idempotency); !admitted)
    return respond(finish(admitted.error(), caller));
  QueryParams query = parse_query(request.target());
  Call call{request, params, query, body, caller ? &*caller : nullptr, std::move(idempotency)};
  auto project = caller ? std::optional<Caller>(*caller) : std::nullopt;
  run(call, [respond, project = std::move(project)](Result<Response> result) {
    respond(finish(std::move(result), project));
  });
}

void register_route(Router& router, ApiContext& api, RouteSpec spec, Run run) {
  // A programming error caught at start, before anything is served.
  if (spec.who == Who::kRuntimeToken) std::abort();
  auto shared = std::make_shared<const RouteSpec>(std::move(spec));
  http::verb method = shared->method;
  std::string path(shared->path);
  if (shared->browser) {
    add_browser_streaming(
        router, api, method, path,
        [&api, shared, run](const Request& request, const PathParams& params, Respond respond,
                            const OpenStream&, BrowserAccess& browser) {
          serve(api, *shared, run, request, params, respond, &browser);
        });
  } else {
    router.add_async(
        method, path,
        [&api, shared, run](const Request& request, const PathParams& params, Respond respond) {
          serve(api, *shared, run, request, params, respond, nullptr);
        });
  }
  router.describe(method, path, route_doc(*shared));
}

nlohmann::ordered_json field_schema(const Field& field) {
  nlohmann::ordered_json schema = nlohmann::ordered_json::object();
  auto typed = [&](std::string_view type) {
    if (field.nullable) {
      schema["type"] = {std::string(type), "null"};
    } else {
      schema["type"] = std::string(type);
    }
  };
  switch (field.type) {
    case FieldType::kString:
      typed("string");
      schema["minLength"] = 1;
      schema["maxLength"] = field.max;
      if (!field.one_of.empty()) {
        schema["enum"] = nlohmann::ordered_json::array();
        for (std::string_view choice : field.one_of) schema["enum"].push_back(std::string(choice));
      }
      break;
    case FieldType::kInteger:
      typed("integer");
      schema["minimum"] = field.min;
      schema["maximum"] = field.max;
      break;
    case FieldType::kBoolean:
      typed("boolean");
      break;
    case FieldType::kObject:
      typed("object");
      break;
    case FieldType::kArray:
      typed("array");
      break;
    case FieldType::kAny:
      break;
  }
  if (!field.description.empty()) schema["description"] = std::string(field.description);
  return schema;
}

}  // namespace

Result<void> check_fields(const json& body, const std::vector<Field>& fields) {
  for (const auto& [name, value] : body.items()) {
    if (name == "key") continue;  // the API key may travel in the body
    bool listed = false;
    for (const Field& field : fields) listed = listed || field.name == name;
    if (!listed) return invalid_field("unknown field " + quoted_field(name), name);
  }
  for (const Field& field : fields) {
    if (auto checked = check_field(body, field); !checked) return checked.error();
  }
  return {};
}

RouteDoc route_doc(const RouteSpec& spec) {
  RouteDoc doc;
  doc.summary = std::string(spec.summary);
  switch (spec.who) {
    case Who::kNone:
      break;
    case Who::kAdmin:
      doc.security = {"adminToken"};
      break;
    case Who::kSecretKey:
      doc.security = {"secretKey"};
      break;
    case Who::kAnyKey:
      doc.security = {"secretKey", "publishableKey"};
      break;
    case Who::kRuntimeToken:
      doc.security = {"runtimeToken"};
      break;
  }
  doc.idempotent = spec.idempotent;
  doc.browser = spec.browser;
  if (spec.body == Body::kNone) {
    for (const Field& field : spec.fields) {
      doc.parameters.push_back({{"name", std::string(field.name)},
                                {"in", "query"},
                                {"required", field.required},
                                {"schema", field_schema(field)}});
    }
    return doc;
  }
  nlohmann::ordered_json properties = nlohmann::ordered_json::object();
  nlohmann::ordered_json required = nlohmann::ordered_json::array();
  for (const Field& field : spec.fields) {
    properties[std::string(field.name)] = field_schema(field);
    if (field.required) required.push_back(std::string(field.name));
  }
  doc.request_schema = {{"type", "object"}, {"properties", std::move(properties)}};
  if (!required.empty()) doc.request_schema["required"] = std::move(required);
  doc.body_required = spec.body == Body::kJson;
  return doc;
}

std::string Call::text(std::string_view name) const {
  auto found = body.find(name);
  return found != body.end() && found->is_string() ? found->get<std::string>() : std::string();
}

std::optional<std::string> Call::optional_text(std::string_view name) const {
  auto found = body.find(name);
  if (found == body.end() || !found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

int64_t Call::integer(std::string_view name, int64_t fallback) const {
  auto found = body.find(name);
  return found != body.end() && found->is_number_integer() ? found->get<int64_t>() : fallback;
}

bool Call::flag(std::string_view name, bool fallback) const {
  auto found = body.find(name);
  return found != body.end() && found->is_boolean() ? found->get<bool>() : fallback;
}

const std::string& Call::param(std::string_view name) const {
  static const std::string kNone;
  auto found = params.find(name);
  return found == params.end() ? kNone : found->second;
}

void describe_route(Router& router, const RouteSpec& spec) {
  router.describe(spec.method, spec.path, route_doc(spec));
}

void add_route(Router& router, ApiContext& api, RouteSpec spec, CallHandler handler) {
  register_route(router, api, std::move(spec),
                 [handler = std::move(handler)](const Call& call, const Reply& reply) {
                   reply(handler(call));
                 });
}

void add_async_route(Router& router, ApiContext& api, RouteSpec spec, AsyncCallHandler handler) {
  register_route(router, api, std::move(spec), std::move(handler));
}

}  // namespace tollgate::server
