#include "vectors.h"

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "tollgate/money/money.h"

namespace tollgate::testing {

nlohmann::json load_vectors(const std::string& name) {
  std::ifstream in(std::string(TOLLGATE_VECTORS_DIR) + "/" + name);
  nlohmann::json doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!in.good() && !in.eof()) doc = nlohmann::json::value_t::discarded;
  if (doc.is_discarded()) {
    std::cerr << "cannot load test vectors " << name << "\n";
    std::abort();
  }
  return doc;
}

nlohmann::json vector_cases(const std::string& name, const std::string& section) {
  return load_vectors(name).at(section);
}

int64_t to_int64(const nlohmann::json& decimal) {
  auto parsed = money::parse_int64(decimal.get<std::string>());
  if (!parsed) std::abort();
  return parsed.value();
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

}  // namespace tollgate::testing
