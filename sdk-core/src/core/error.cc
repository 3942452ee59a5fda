#include "tollgate/core/error.h"

#include <array>

namespace tollgate {
namespace {

constexpr std::array<std::string_view, kErrorCodeCount> kNames = {
#define TOLLGATE_ERROR_NAME(name, wire, doc) wire,
    TOLLGATE_ERROR_CODES(TOLLGATE_ERROR_NAME)
#undef TOLLGATE_ERROR_NAME
};

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  auto index = static_cast<int32_t>(code);
  if (index < 0 || index >= kErrorCodeCount) return "internal";
  return kNames[static_cast<size_t>(index)];
}

std::optional<ErrorCode> error_code_from_name(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorCode>(i);
  }
  return std::nullopt;
}

}  // namespace tollgate
