#include "json_mutator.h"

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace tollgate::fuzz {
namespace {

using nlohmann::json;

// Values of every JSON type, with the edges readers get wrong: negative, past int32 and int64,
// fractional, empty.
json replacement(std::minstd_rand& random) {
  switch (random() % 12) {
    case 0:
      return 0;
    case 1:
      return -1;
    case 2:
      return 4294967296LL;
    case 3:
      return json::parse("18446744073709551615");
    case 4:
      return 1.5;
    case 5:
      return "";
    case 6:
      return "x";
    case 7:
      return true;
    case 8:
      return nullptr;
    case 9:
      return json::object();
    case 10:
      return json::array();
    default:
      return json::array({json::object()});
  }
}

void collect(json& value, std::vector<json*>& nodes) {
  nodes.push_back(&value);
  if (value.is_object()) {
    for (auto& [key, member] : value.items()) collect(member, nodes);
  } else if (value.is_array()) {
    for (auto& element : value) collect(element, nodes);
  }
}

// Gives one value of `document` (JSON text) another type; false when it is not JSON.
bool mutate_document(std::string& document, std::minstd_rand& random) {
  json value = json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return false;
  std::vector<json*> nodes;
  collect(value, nodes);
  json* target = nodes[random() % nodes.size()];
  // Now and then a copy of another value instead, so shapes move between fields.
  *target = random() % 4 == 0 ? json(*nodes[random() % nodes.size()]) : replacement(random);
  document = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return true;
}

// Where each `data:` line's value sits in an event stream.
std::vector<std::pair<size_t, size_t>> data_values(std::string_view text) {
  std::vector<std::pair<size_t, size_t>> spans;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find_first_of("\r\n", at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (line.starts_with("data:")) {
      size_t value = at + 5 + (line.starts_with("data: ") ? 1 : 0);
      spans.emplace_back(value, end);
    }
    at = end + 1;
  }
  return spans;
}

}  // namespace

size_t mutate_json_documents(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::minstd_rand random(seed);
  if (random() % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string mutated = text;
  if (!mutate_document(mutated, random)) {
    auto spans = data_values(text);
    if (spans.empty()) return LLVMFuzzerMutate(data, size, max_size);
    auto [begin, end] = spans[random() % spans.size()];
    std::string document = text.substr(begin, end - begin);
    if (!mutate_document(document, random)) return LLVMFuzzerMutate(data, size, max_size);
    mutated = text.substr(0, begin) + document + text.substr(end);
  }
  if (mutated.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, mutated.data(), mutated.size());
  return mutated.size();
}

}  // namespace tollgate::fuzz
