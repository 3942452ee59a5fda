#include "server/api/route.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <utility>

#include "server/api/schemas.h"
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

Access access_of(Who who) {
  return who == Who::kSecretKey || who == Who::kUserKeyOrSecretKey ? Access::kSecretKey
                                                                   : Access::kAnyKey;
}

bool uses_key(Who who) { return who == Who::kSecretKey || who == Who::kAnyKey; }

// A user-key route's key is a user key when it says so by its prefix.
bool sends_user_key(const Request& request, const json* body) {
  std::string key = user_key_of(request, body);
  return key.starts_with(std::string(kUserKeyPrefix) + "_") || key.empty();
}

// Who the pipeline established a request is: a key's caller or a runtime token's.
struct Identity {
  std::optional<Caller> caller;
  std::optional<RuntimeCaller> runtime;
  std::optional<UserKeyCaller> user_key;
  std::string project_id() const {
    if (caller) return caller->project.id;
    if (runtime) return runtime->project.id;
    return user_key ? user_key->project.id : std::string();
  }
};

// Everything before the handler. `who` and `body` receive what the handler's Call points to.
Result<void> admit(ApiContext& api, const RouteSpec& spec, const Request& request,
                   BrowserAccess* browser, Identity& who, json& body,
                   std::optional<Idempotency>& idempotency) {
  if (spec.who == Who::kAdmin) {
    std::string what = std::string(http::to_string(spec.method)) + " " + std::string(spec.path);
    if (auto admin = require_admin(api, request, what); !admin) return admin.error();
  }
  Result<json> parsed = json::object();
  if (spec.body != Body::kNone) parsed = json_object_body(request, spec.body == Body::kJsonOrEmpty);
  const json* sent = parsed && spec.body != Body::kNone ? &parsed.value() : nullptr;
  bool user_key = spec.who == Who::kUserKey ||
                  (spec.who == Who::kUserKeyOrSecretKey && sends_user_key(request, sent));
  if (user_key) {
    auto authenticated = api.auth.authenticate_user_key(request, sent);
    if (!authenticated) return authenticated.error();
    who.user_key = std::move(authenticated).value();
  }
  if (uses_key(spec.who) || (spec.who == Who::kUserKeyOrSecretKey && !user_key)) {
    auto authenticated = api.auth.authenticate(request, sent, access_of(spec.who));
    if (!authenticated) return authenticated.error();
    who.caller = std::move(authenticated).value();
    if (spec.key_check) {
      if (auto checked = spec.key_check(*who.caller, request); !checked) return checked.error();
    }
    if (browser != nullptr) {
      if (auto admitted = browser->admit(*who.caller); !admitted) return admitted.error();
    }
  }
  if (spec.who == Who::kRuntimeToken) {
    auto authenticated = authenticate_runtime(api, request);
    if (!authenticated) return authenticated.error();
    who.runtime = std::move(authenticated).value();
    if (browser != nullptr) {
      if (auto admitted = browser->admit_runtime(who.runtime->project); !admitted)
        return admitted.error();
    }
  }
  if (!parsed) return parsed.error();
  body = std::move(parsed).value();
  if (spec.body != Body::kNone) {
    if (auto checked = check_fields(body, spec.fields); !checked) return checked.error();
  }
  if (spec.idempotent && who.caller) {
    auto key = idempotency_of(request, *who.caller, body);
    if (!key) return key.error();
    idempotency = std::move(key).value();
  }
  return {};
}

Response finish_error(const Error& error, const std::string& project_id,
                      const ErrorRender& render) {
  Response response = render ? render(error) : error_response(error);
  if (!project_id.empty()) response.set(kProjectLogHeader, project_id);
  return response;
}

Response finish(Result<Response>&& result, const std::string& project_id,
                const ErrorRender& render) {
  if (!result) return finish_error(result.error(), project_id, render);
  Response response = std::move(result).value();
  if (!project_id.empty()) response.set(kProjectLogHeader, project_id);
  return response;
}

// Runs the pipeline for one request and hands the Call to `run`, which answers through `reply`
// or, on a streaming route, `open_stream`.
using Run = std::function<void(const Call&, Reply, const OpenStream&)>;

void serve(ApiContext& api, const RouteSpec& spec, const Run& run, const Request& request,
           const PathParams& params, const Respond& respond, const OpenStream& open_stream,
           BrowserAccess* browser) {
  Identity who;
  json body;
  std::optional<Idempotency> idempotency;
  if (auto admitted = admit(api, spec, request, browser, who, body, idempotency); !admitted)
    return respond(finish_error(admitted.error(), who.project_id(), spec.error_render));
  QueryParams query = parse_query(request.target());
  Call call{request,
            params,
            query,
            body,
            who.caller ? &*who.caller : nullptr,
            who.runtime ? &*who.runtime : nullptr,
            std::move(idempotency),
            who.user_key ? &*who.user_key : nullptr};
  std::string project_id = who.project_id();
  OpenStream stream;
  if (open_stream) {
    stream = [open_stream, project_id](Response head,
                                       std::function<void(std::shared_ptr<ResponseStream>)> ready) {
      if (!project_id.empty()) head.set(kProjectLogHeader, project_id);
      open_stream(std::move(head), std::move(ready));
    };
  }
  run(
      call,
      [respond, project_id, render = spec.error_render](Result<Response> result) {
        respond(finish(std::move(result), project_id, render));
      },
      stream);
}

void register_route(Router& router, ApiContext& api, RouteSpec spec, Run run, bool streaming) {
  auto shared = std::make_shared<const RouteSpec>(std::move(spec));
  http::verb method = shared->method;
  std::string path(shared->path);
  if (shared->browser) {
    add_browser_streaming(router, api, method, path,
                          [&api, shared, run, streaming](
                              const Request& request, const PathParams& params, Respond respond,
                              const OpenStream& open_stream, BrowserAccess& browser) {
                            serve(api, *shared, run, request, params, respond,
                                  streaming ? open_stream : OpenStream(), &browser);
                          });
  } else if (streaming) {
    router.add_streaming(method, path,
                         [&api, shared, run](const Request& request, const PathParams& params,
                                             Respond respond, const OpenStream& open_stream) {
                           serve(api, *shared, run, request, params, respond, open_stream, nullptr);
                         });
  } else {
    router.add_async(
        method, path,
        [&api, shared, run](const Request& request, const PathParams& params, Respond respond) {
          serve(api, *shared, run, request, params, respond, OpenStream(), nullptr);
        });
  }
  router.describe(method, path, route_doc(*shared, streaming));
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

const std::vector<Field> kPageFields = {
    {"limit", FieldType::kInteger, false, 1, kPageLimitMax, false, {}, "at most this many"},
    {"starting_after",
     FieldType::kString,
     false,
     0,
     64,
     false,
     {},
     "the last id of the page before"}};

Page page_of(int64_t limit, const QueryParams& query) {
  Page page;
  page.limit = limit + 1;
  if (auto after = query.find("starting_after"); after != query.end() && !after->second.empty())
    page.starting_after = after->second;
  return page;
}

Result<void> check_fields(const json& body, const std::vector<Field>& fields) {
  auto listed = [&fields](std::string_view name) {
    return std::any_of(fields.begin(), fields.end(),
                       [name](const Field& field) { return field.name == name; });
  };
  if (auto known = only_fields(body, listed); !known) return known.error();
  for (const Field& field : fields) {
    if (auto checked = check_field(body, field); !checked) return checked.error();
  }
  return {};
}

RouteDoc route_doc(const RouteSpec& spec, bool streams) {
  RouteDoc doc;
  doc.summary = std::string(spec.summary);
  doc.response_schema = std::string(spec.response);
  doc.response_media_type = std::string(response_media_type(spec.response));
  doc.streams = streams;
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
    case Who::kUserKey:
      doc.security = {"userKey"};
      break;
    case Who::kUserKeyOrSecretKey:
      doc.security = {"userKey", "secretKey"};
      break;
  }
  doc.idempotent = spec.idempotent;
  doc.browser = spec.browser;
  doc.success_status = static_cast<unsigned>(spec.success);
  doc.error_schema = std::string(spec.error_schema);
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
  register_route(
      router, api, std::move(spec),
      [handler = std::move(handler)](const Call& call, const Reply& reply, const OpenStream&) {
        reply(handler(call));
      },
      false);
}

void add_async_route(Router& router, ApiContext& api, RouteSpec spec, AsyncCallHandler handler) {
  register_route(
      router, api, std::move(spec),
      [handler = std::move(handler)](const Call& call, Reply reply, const OpenStream&) {
        handler(call, std::move(reply));
      },
      false);
}

void add_streaming_route(Router& router, ApiContext& api, RouteSpec spec,
                         StreamingCallHandler handler) {
  register_route(router, api, std::move(spec), std::move(handler), true);
}

}  // namespace tollgate::server
