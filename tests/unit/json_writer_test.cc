#include "spc/libspc/json_writer.h"

#include <gtest/gtest.h>

#include <limits>

namespace spc {
namespace {

TEST(JsonQuote, EscapesWhatJsonRequires) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(JsonQuote("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(JsonQuote(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(JsonQuote(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(JsonQuote("caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d"),
            "\"caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d\"");
  // Invalid UTF-8 becomes U+FFFD instead of leaking raw bytes into the output.
  EXPECT_EQ(JsonQuote("\xc0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");                  // overlong NUL
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");  // surrogate
  EXPECT_EQ(JsonQuote("\xe2\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");                  // cut sequence
  EXPECT_EQ(JsonQuote("a\xff"
                      "b"),
            "\"a\xef\xbf\xbd"
            "b\"");
}

TEST(JsonWriter, NestingAndCommas) {
  JsonWriter w;
  w.BeginObject()
      .Member("s", "x")
      .Member("n", -3)
      .Member("u", std::uint64_t{1} << 40)
      .Member("t", true)
      .Member("f", false)
      .Key("z")
      .Null()
      .Key("a")
      .BeginArray()
      .Uint(1)
      .BeginObject()
      .EndObject()
      .BeginArray()
      .EndArray()
      .String("y")
      .EndArray()
      .HexMember("h", std::vector<std::uint8_t>{0xab, 0x01})
      .Key("d")
      .Double(0.5)
      .EndObject();
  EXPECT_EQ(w.str(),
            R"({"s":"x","n":-3,"u":1099511627776,"t":true,"f":false,"z":null,"a":[1,{},[],"y"],)"
            R"("h":"ab01","d":0.5})");
  std::string taken = w.Take();
  EXPECT_TRUE(w.str().empty());
  w.BeginArray().Double(std::numeric_limits<double>::infinity()).EndArray();
  EXPECT_EQ(w.str(), "[null]");
}

}  // namespace
}  // namespace spc
