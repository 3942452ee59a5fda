// libFuzzer target for the Anthropic Messages dialect (server/ai/anthropic_provider.cc): what a
// provider sends back, as a whole answer and as a stream (see dialect_checks.h for the properties).
// Build and run with `make fuzz`.
#include <cstdint>

#include "dialect_checks.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tollgate::server::AnthropicDialect dialect;
  tollgate::fuzz::fuzz_dialect(dialect, tollgate::fuzz::as_text(data, size));
  return 0;
}
