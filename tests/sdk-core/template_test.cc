#include "tollgate/prompt/template.h"

#include <gtest/gtest.h>

#include "vectors.h"

namespace tollgate::prompt {
namespace {

using testing::outcome;
using testing::vector_cases;

Variables variables_from(const nlohmann::json& j) {
  Variables out;
  for (const auto& [key, value] : j.items()) out[key] = value.get<std::string>();
  return out;
}

TEST(Template, RenderVectors) {
  for (const auto& v : vector_cases("template.json", "render")) {
    auto parsed = Template::parse(v["template"].get<std::string>());
    if (!parsed.ok()) {
      EXPECT_EQ(outcome(parsed), v.value("error", std::string("ok"))) << v["name"];
      continue;
    }
    EXPECT_EQ(parsed.value().variables(), v["variables"].get<std::vector<std::string>>())
        << v["name"];
    auto rendered = parsed.value().render(variables_from(v["vars"]));
    if (v.contains("error")) {
      ASSERT_FALSE(rendered.ok()) << v["name"];
      EXPECT_EQ(outcome(rendered), v["error"].get<std::string>()) << v["name"];
      EXPECT_EQ(rendered.error().param, v["param"].get<std::string>()) << v["name"];
    } else {
      ASSERT_TRUE(rendered.ok()) << v["name"];
      EXPECT_EQ(rendered.value(), v["output"].get<std::string>()) << v["name"];
    }
  }
}

TEST(Template, ParseErrorVectors) {
  for (const auto& v : vector_cases("template.json", "parse_invalid")) {
    EXPECT_EQ(outcome(Template::parse(v["template"].get<std::string>())),
              v["error"].get<std::string>())
        << v["name"];
  }
}

TEST(Template, EscapeVectorsRenderBackToThemselves) {
  for (const auto& v : vector_cases("template.json", "escape")) {
    std::string text = v["text"];
    EXPECT_EQ(escape(text), v["escaped"].get<std::string>());
    auto parsed = Template::parse(escape(text) + "{{tail}}");
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_EQ(parsed.value().variables(), std::vector<std::string>{"tail"});
    auto rendered = parsed.value().render({{"tail", "!"}});
    ASSERT_TRUE(rendered.ok());
    EXPECT_EQ(rendered.value(), text + "!");
  }
}

TEST(Template, LimitsAreEnforced) {
  EXPECT_EQ(outcome(Template::parse(std::string(kTemplateBytesMax + 1, 'x'))), "invalid_argument");
  std::string many;
  for (size_t i = 0; i <= kTemplateVariablesMax; ++i) many += "{{v" + std::to_string(i) + "}}";
  EXPECT_EQ(outcome(Template::parse(many)), "invalid_argument");

  auto parsed = Template::parse("{{a}}{{a}}");
  ASSERT_TRUE(parsed.ok());
  auto rendered = parsed.value().render({{"a", std::string(kRenderedBytesMax / 2 + 1, 'x')}});
  EXPECT_EQ(outcome(rendered), "invalid_argument");
}

}  // namespace
}  // namespace tollgate::prompt
