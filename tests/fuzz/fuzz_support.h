// What the fuzz targets share: a check that names the property it found broken, and the pieces a
// stream is fed in, drawn from the input itself so that one input always splits the same way
// (a saved crash reproduces) while mutations move the split points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace tollgate::fuzz {

// Aborts with `property` on stderr when it does not hold; libFuzzer then saves the input.
inline void check(bool holds, const char* property) {
  if (holds) return;
  std::fprintf(stderr, "fuzz: property broken: %s\n", property);
  std::abort();
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Most pieces are short, so boundaries land inside tokens, escapes and CRLF pairs; some are long,
// so a piece also holds several lines or events.
inline constexpr size_t kShortPieceBytesMax = 16;
inline constexpr size_t kLongPieceBytesMax = 512;

// `text` cut into consecutive pieces whose lengths come from a generator seeded with a hash of
// the text. Empty pieces are included now and then: a feed of nothing must change nothing.
inline std::vector<std::string_view> pieces(std::string_view text) {
  uint64_t state = 14695981039346656037ull;  // FNV-1a over the text, then splitmix64 steps
  for (char c : text) state = (state ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at < text.size()) {
    uint64_t r = next();
    size_t length = 0;
    switch (r % 8) {
      case 0:
        length = 0;
        break;
      case 1:
        length = 1 + (r >> 8) % kLongPieceBytesMax;
        break;
      default:
        length = 1 + (r >> 8) % kShortPieceBytesMax;
        break;
    }
    if (length > text.size() - at) length = text.size() - at;
    out.push_back(text.substr(at, length));
    at += length;
  }
  return out;
}

}  // namespace tollgate::fuzz
