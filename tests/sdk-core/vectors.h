// Loads the shared test vectors in tests/vectors/, which the Jest suite reads too.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "tollgate/core/result.h"

namespace tollgate::testing {

// Parses tests/vectors/<name>; aborts the test binary if the file is missing or invalid.
nlohmann::json load_vectors(const std::string& name);

// One section of a vector file, by value: safe to iterate in a range-for, unlike
// load_vectors(name)[section], whose temporary document dies before the loop body runs.
nlohmann::json vector_cases(const std::string& name, const std::string& section);

// Decimal string (as vectors store int64) to int64.
int64_t to_int64(const nlohmann::json& decimal);

std::string from_hex(const std::string& hex);

// "ok" for a successful result, otherwise the error's wire name.
template <typename T>
std::string outcome(const Result<T>& result) {
  return result.ok() ? "ok" : std::string(error_code_name(result.error().code));
}

}  // namespace tollgate::testing
