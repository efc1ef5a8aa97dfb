#include "spc/libspc/key_file.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <gtest/gtest.h>

namespace spc {
namespace {

constexpr char kExample[] = R"(# a service key; a programme key uses pek= and pak= instead
[urn:openbcast:svc:news:0000002a]
key-domain=0a0b0c
sek=000102030405060708090a0b0c0d0e0f
sak=101112131415161718191a1b1c1d1e1f

[urn:openbcast:prog:film:000000ff]
key-domain=FFFFFF
pek=  202122232425262728292A2B2C2D2E2F
pak=303132333435363738393a3b3c3d3e3f
)";

TEST(KeyFile, ParsesTheSpecExample) {
  auto r = ParseKeyFile(kExample);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const LongTermKey& news = r->at("urn:openbcast:svc:news:0000002a");
  EXPECT_EQ(news.key_domain_id, 0x0a0b0cu);
  EXPECT_FALSE(news.programme);
  EXPECT_EQ(news.encryption_key[0], 0x00);
  EXPECT_EQ(news.encryption_key[15], 0x0f);
  EXPECT_EQ(news.authentication_key[0], 0x10);
  EXPECT_EQ(news.authentication_key[15], 0x1f);
  const LongTermKey& film = r->at("urn:openbcast:prog:film:000000ff");
  EXPECT_EQ(film.key_domain_id, 0xffffffu);
  EXPECT_TRUE(film.programme);
  EXPECT_EQ(film.encryption_key[10], 0x2a);
  EXPECT_EQ(film.authentication_key[15], 0x3f);
}

TEST(KeyFile, WriteParseRoundTrip) {
  KeyTable in;
  for (int i = 0; i < 5; ++i) {
    LongTermKey k;
    k.key_domain_id = static_cast<std::uint32_t>(0x10000 * i + 7);
    k.programme = i % 2 == 1;
    for (int b = 0; b < 16; ++b) {
      k.encryption_key[b] = static_cast<std::uint8_t>(i * 31 + b);
      k.authentication_key[b] = static_cast<std::uint8_t>(255 - i * 17 - b);
    }
    in["urn:x:" + std::to_string(i)] = k;
  }
  std::string text = WriteKeyFile(in);
  EXPECT_NE(text.find("[urn:x:1]"), std::string::npos);
  EXPECT_NE(text.find("pek="), std::string::npos);
  EXPECT_NE(text.find("key-domain=000007"), std::string::npos) << text;
  auto out = ParseKeyFile(text);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), in.size());
  for (const auto& [cid, k] : in) {
    const LongTermKey& o = out->at(cid);
    EXPECT_EQ(o.key_domain_id, k.key_domain_id);
    EXPECT_EQ(o.programme, k.programme);
    EXPECT_EQ(o.encryption_key, k.encryption_key);
    EXPECT_EQ(o.authentication_key, k.authentication_key);
  }
}

TEST(KeyFile, EmptyFileIsEmptyTable) {
  auto r = ParseKeyFile("");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

struct BadCase {
  const char* name;
  const char* text;
  const char* group;  // expected ParseError::field
  const char* key;    // expected in the message
  std::size_t line;   // expected ParseError::offset
};

class KeyFileErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(KeyFileErrors, NameGroupKeyAndLine) {
  const BadCase& c = GetParam();
  auto r = ParseKeyFile(c.text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, c.group) << r.error().message;
  EXPECT_NE(r.error().message.find(c.key), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().offset, c.line) << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, KeyFileErrors,
    ::testing::Values(
        BadCase{"short_sek", "[a]\nkey-domain=01\nsek=0001\nsak=101112131415161718191a1b1c1d1e1f\n",
                "a", "sek", 3},
        BadCase{"nonhex_sak",
                "[a]\nkey-domain=01\nsek=000102030405060708090a0b0c0d0e0f\n"
                "sak=1011121314151617181g1a1b1c1d1e1f\n",
                "a", "sak", 4},
        BadCase{"missing_sak", "[a]\nkey-domain=01\nsek=000102030405060708090a0b0c0d0e0f\n", "a",
                "sak", 1},
        BadCase{"missing_domain",
                "[b]\nsek=000102030405060708090a0b0c0d0e0f\n"
                "sak=101112131415161718191a1b1c1d1e1f\n",
                "b", "key-domain", 1},
        BadCase{"domain_too_wide",
                "[b]\nkey-domain=1000000\nsek=000102030405060708090a0b0c0d0e0f\n"
                "sak=101112131415161718191a1b1c1d1e1f\n",
                "b", "key-domain", 2},
        BadCase{"domain_not_hex",
                "[b]\nkey-domain=0x01\nsek=000102030405060708090a0b0c0d0e0f\n"
                "sak=101112131415161718191a1b1c1d1e1f\n",
                "b", "key-domain", 2},
        BadCase{"mixed",
                "[c]\nkey-domain=01\nsek=000102030405060708090a0b0c0d0e0f\n"
                "pak=101112131415161718191a1b1c1d1e1f\n",
                "c", "mixes", 1},
        BadCase{"no_keys", "[d]\nkey-domain=01\n", "d", "sek", 1},
        BadCase{"unknown_key",
                "[ok]\nkey-domain=01\nsek=000102030405060708090a0b0c0d0e0f\n"
                "sak=101112131415161718191a1b1c1d1e1f\n[e]\nkey-domain=01\nsekk=00\n",
                "e", "sekk", 7},
        BadCase{"syntax", "not a key file\n", "", "syntax", 0}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(KeyFile, LoadFromDiskAndMissingFile) {
  g_autoptr(GError) error = nullptr;
  g_autofree char* dir = g_dir_make_tmp("keyfile-XXXXXX", &error);
  ASSERT_NE(dir, nullptr);
  g_autofree char* path = g_build_filename(dir, "keys.conf", nullptr);
  ASSERT_TRUE(g_file_set_contents(path, kExample, -1, &error));
  auto r = LoadKeyFile(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
  g_unlink(path);
  auto missing = LoadKeyFile(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().field, path);
  g_rmdir(dir);
}

}  // namespace
}  // namespace spc
