#include "server/ai/http_provider.h"

#include <mutex>

#include "server/log/logger.h"

namespace tollgate::server {
namespace {

// One call: a whole JSON answer, or server-sent events read as they arrive. The client runs
// every callback of one exchange on its strand, so they never overlap.
class HttpModelCall final : public ModelCall, public std::enable_shared_from_this<HttpModelCall> {
 public:
  HttpModelCall(const Dialect& dialect, std::string provider, std::string api_key, bool stream,
                OnDelta on_delta, OnDone done)
      : dialect_(dialect),
        provider_(std::move(provider)),
        api_key_(std::move(api_key)),
        stream_(stream),
        on_delta_(std::move(on_delta)),
        done_(std::move(done)),
        deliver_([this](const ModelDelta& delta) {
          delivered_ = true;
          if (on_delta_) on_delta_(delta);
        }) {}

  void begin(HttpClient& client, UpstreamRequest request) {
    auto self = shared_from_this();
    UpstreamHandlers handlers;
    handlers.on_body = [self](std::string_view piece) {
      self->guarded([&] { self->on_body(piece); });
    };
    handlers.on_done = [self](std::optional<UpstreamFailure> failure) {
      self->guarded([&] { self->on_done(std::move(failure)); });
    };
    auto exchange = client.post(std::move(request), std::move(handlers));
    std::lock_guard lock(mutex_);
    exchange_ = std::move(exchange);
    if (cancelled_) exchange_->cancel();
  }

  void cancel() override {
    std::shared_ptr<UpstreamExchange> exchange;
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      exchange = exchange_;
    }
    if (exchange) exchange->cancel();
  }

 private:
  // Runs one of the client's callbacks so that no exception reaches the client's strand (it
  // would end the process): the dialects return errors, but an exception that still escapes
  // one, or the caller's own callbacks, stops the call as a malformed answer, with what was
  // produced. The exception's text goes to the owner's log only.
  template <typename Step>
  void guarded(Step step) noexcept {
    std::string what;
    try {
      step();
      return;
    } catch (...) {
      what = exception_text(std::current_exception());
    }
    try {
      std::string detail = "reading the answer threw: " + what;
      if (detail.size() > kProviderDetailBytesMax) detail.resize(kProviderDetailBytesMax);
      failed_ = true;
      failure_ = malformed("Tollgate could not read it");
      // Finished first: stopping the exchange may run on_done at once, without the detail.
      finish(ModelFailure{*failure_, produced(), std::move(detail)});
      stop_exchange();
    } catch (...) {
      // Out of memory while failing: nothing more can be done safely; the hold expires.
    }
  }

  void on_body(std::string_view piece) {
    if (failed_) return;
    if (!stream_) {
      body_.append(piece);
      return;
    }
    events_.clear();
    if (auto fed = sse_.feed(piece, events_); !fed) return stop(fed.error());
    for (const stream::SseEvent& event : events_) {
      if (state_.finished) break;
      if (auto handled = dialect_.on_event(event, state_, deliver_); !handled) {
        return stop(handled.error());
      }
    }
  }

  // A stream that went wrong midway: stop reading; what arrived is still charged.
  void stop(Error error) {
    failed_ = true;
    failure_ = std::move(error);
    stop_exchange();
  }

  void stop_exchange() {
    std::shared_ptr<UpstreamExchange> exchange;
    {
      std::lock_guard lock(mutex_);
      exchange = exchange_;
    }
    if (exchange) exchange->cancel();
  }

  void on_done(std::optional<UpstreamFailure> failure) {
    if (failure_) return finish(ModelFailure{*failure_, produced(), {}});
    if (failure) {
      Error error = describe_failure(*failure, provider_);
      bool cancelled;
      {
        std::lock_guard lock(mutex_);
        cancelled = cancelled_;
      }
      if (cancelled) error = fail(ErrorCode::kUpstreamError, "the call was cancelled");
      return finish(ModelFailure{error, failure->body_started ? produced() : std::nullopt,
                                 provider_detail(*failure, api_key_)});
    }
    if (!stream_) {
      auto answer = dialect_.parse(body_);
      if (!answer) return finish(ModelFailure{answer.error(), std::nullopt, {}});
      return finish(std::move(answer.value()));
    }
    if (!state_.finished) {
      return finish(ModelFailure{fail(ErrorCode::kUpstreamError,
                                      "the provider's stream ended before its last event"),
                                 produced(), {}});
    }
    ModelAnswer answer = streamed();
    if (!answer.complete) {
      return finish(ModelFailure{malformed("its tool calls are incomplete"), answer, {}});
    }
    finish(std::move(answer));
  }

  // What a failed call produced: the streamed answer as far as it got, or nullopt when no
  // output reached the caller (then the call is not charged: nothing was delivered, and a
  // non-streamed answer is delivered only whole).
  std::optional<ModelAnswer> produced() {
    if (!stream_ || !delivered_) return std::nullopt;
    return streamed();
  }

  // The streamed answer as far as it got, with the usage the stream reported.
  ModelAnswer streamed() {
    ModelAnswer answer = state_.answer;
    if (state_.input_tokens && state_.output_tokens) {
      answer.usage = pricing::Usage{*state_.input_tokens, *state_.output_tokens};
    }
    if (!state_.tools.empty()) {
      auto calls = state_.tools.finish();
      if (calls) {
        for (const auto& call : calls.value()) {
          answer.tool_calls.push_back(
              {call.id, call.name,
               call.arguments.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
        }
      } else {
        answer.complete = false;
      }
    }
    answer.complete = answer.complete && state_.finished && !failure_;
    return answer;
  }

  void finish(ModelResult result) {
    if (finished_) return;
    finished_ = true;
    auto done = std::move(done_);
    done_ = nullptr;
    on_delta_ = nullptr;
    if (done) done(std::move(result));
  }

  const Dialect& dialect_;
  std::string provider_;
  std::string api_key_;  // only to mask it in the provider's error text
  bool stream_;
  OnDelta on_delta_;
  OnDone done_;
  OnDelta deliver_;         // on_delta_, noting that output reached the caller
  bool delivered_ = false;  // a delta was handed on
  std::mutex mutex_;
  std::shared_ptr<UpstreamExchange> exchange_;
  bool cancelled_ = false;
  std::string body_;
  stream::SseParser sse_;
  std::vector<stream::SseEvent> events_;
  StreamState state_;
  bool failed_ = false;
  std::optional<Error> failure_;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<ModelCall> HttpProvider::start(ModelRequest request, OnDelta on_delta,
                                               OnDone done) {
  struct NotStarted final : ModelCall {
    void cancel() override {}
  };
  auto built = dialect_.build(request, credentials_);
  if (!built) {
    done(ModelFailure{built.error(), std::nullopt, {}});  // nothing was sent
    return std::make_shared<NotStarted>();
  }
  auto call = std::make_shared<HttpModelCall>(dialect_, credentials_.name, credentials_.api_key,
                                              request.stream,
                                              std::move(on_delta), std::move(done));
  call->begin(client_, std::move(built.value()));
  return call;
}

std::string_view default_base_url(std::string_view provider) {
  if (provider == "openai") return "https://api.openai.com/v1";
  if (provider == "anthropic") return "https://api.anthropic.com";
  if (provider == "groq") return "https://api.groq.com/openai/v1";
  if (provider == "together") return "https://api.together.xyz/v1";
  if (provider == "openrouter") return "https://openrouter.ai/api/v1";
  if (provider == "mistral") return "https://api.mistral.ai/v1";
  if (provider == "deepseek") return "https://api.deepseek.com/v1";
  return "";
}


std::string provider_detail(const UpstreamFailure& failure, std::string_view api_key) {
  if (failure.status == 0 && failure.detail.empty()) return {};
  std::string body = failure.status == 0 ? failure.detail : failure.body;
  // Masked before the cut, so no piece of the key survives at the end.
  if (api_key.size() >= kMaskedKeyBytesMin) {
    for (size_t at = body.find(api_key); at != std::string::npos; at = body.find(api_key, at)) {
      body.replace(at, api_key.size(), "[api key]");
    }
  }
  std::string detail =
      failure.status == 0 ? body : "HTTP " + std::to_string(failure.status) + ": " + body;
  if (detail.size() > kProviderDetailBytesMax) {
    detail.resize(kProviderDetailBytesMax);
    detail += "…";
  }
  return detail;
}

Error describe_failure(const UpstreamFailure& failure, std::string_view provider) {
  std::string who = "the provider '" + std::string(provider) + "'";
  if (failure.status == 0) {
    Error error = failure.error;
    error.message = who + ": " + error.message;
    return error;
  }
  std::string status = " (HTTP " + std::to_string(failure.status) + ")";
  if (failure.status >= 300 && failure.status < 400) {
    return fail(ErrorCode::kUpstreamError, who + " answered with a redirect" + status +
                                               ", which is not followed; the project owner "
                                               "must set its final base URL");
  }
  if (failure.status == 401 || failure.status == 403) {
    return fail(ErrorCode::kUpstreamError,
                who + " refused its API key" + status + "; the project owner must check it");
  }
  if (failure.status == 429) {
    return fail(ErrorCode::kUpstreamError,
                who + " is rate limiting" + status + " after " +
                    std::to_string(kUpstreamAttemptsMax) + " attempts; try again later");
  }
  if (failure.status >= 500) {
    return fail(ErrorCode::kUpstreamError, who + " failed" + status + " after " +
                                               std::to_string(kUpstreamAttemptsMax) + " attempts");
  }
  return fail(ErrorCode::kUpstreamError, who + " refused the request" + status);
}

}  // namespace tollgate::server
