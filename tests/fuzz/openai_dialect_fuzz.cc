// libFuzzer target for the OpenAI Chat Completions dialect (server/ai/openai_provider.cc): what a
// provider sends back, as a whole answer and as a stream (see dialect_checks.h for the properties).
// Mutations also give a field of the answer another JSON type (json_mutator.h).
// Build and run with `make fuzz`.
#include <cstdint>

#include "dialect_checks.h"
#include "fuzz_support.h"
#include "json_mutator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tollgate::server::OpenAiDialect dialect;
  tollgate::fuzz::fuzz_dialect(dialect, tollgate::fuzz::as_text(data, size));
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  return tollgate::fuzz::mutate_json_documents(data, size, max_size, seed);
}
