// [project] MSK request to the BSM and the MIKEY bundle answer: round trips, malformed bodies
// named, and the bundle's MSK messages accepted by the card after a 6A 88.
#include <gtest/gtest.h>

#include "samples/uicc/card.h"
#include "spc/libspc/smartcard/gba.h"
#include "spc/libspc/smartcard/msk_request.h"
#include "spc/libspc/smartcard/usim.h"
#include "tests/smartcard/test_util.h"

namespace spc::smartcard {
namespace {

TEST(MskRequest, RoundTripAndMalformed) {
  MskRequest r{{0x00, 0xf1, 0x10}, {0x00010001, 0xfffe0002}};
  const std::string xml = WriteMskRequest(r);
  EXPECT_NE(xml.find("<mskId>fffe0002</mskId>"), std::string::npos) << xml;
  auto back = ParseMskRequest(xml);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->key_domain, r.key_domain);
  EXPECT_EQ(back->msk_ids, r.msk_ids);
  EXPECT_EQ(ParseMskRequest("<x/>").error().field, "mskRequest");
  EXPECT_EQ(ParseMskRequest("<mskRequest keyDomainId=\"zz\"><mskId>00000001</mskId></mskRequest>")
                .error()
                .field,
            "keyDomainId");
  EXPECT_EQ(ParseMskRequest("<mskRequest keyDomainId=\"00f110\"><mskId>1</mskId></mskRequest>")
                .error()
                .offset,
            40u);
  EXPECT_EQ(ParseMskRequest("<mskRequest keyDomainId=\"00f110\"></mskRequest>").error().field,
            "mskId");
  EXPECT_EQ(GbaNafDigestPassword(std::vector<std::uint8_t>{0, 1, 2}), "AAEC");
}

TEST(MbmsRegister, RoundTripAndMalformed) {
  const std::vector<std::string> ids = {"urn:openbcast:svc:sample:", "a&b<\"c\">"};
  const std::string xml = WriteRegisterRequest(ids);
  EXPECT_NE(xml.find("<serviceId>a&amp;b&lt;&quot;c&quot;&gt;</serviceId>"), std::string::npos)
      << xml;
  auto back = ParseRegisterRequest(xml);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, ids);

  struct Row {
    const char* xml;
    const char* field;
    std::size_t offset;
  };
  for (const Row& row : std::initializer_list<Row>{
           {"<x/>", "mbmsRegister", 0},
           {"<mbmsRegister></mbmsRegister>", "serviceId", 0},
           {"<mbmsRegister><serviceId></serviceId></mbmsRegister>", "serviceId", 25},
           {"<mbmsRegister><serviceId>a&nbsp;</serviceId></mbmsRegister>", "serviceId", 26},
           {"<mbmsRegister><serviceId>a<b/></serviceId></mbmsRegister>", "serviceId", 26},
           {"<mbmsRegister><serviceId>a", "serviceId", 25},
           {"<mbmsRegister><serviceId>a</serviceId>", "mbmsRegister", 38},
       }) {
    auto r = ParseRegisterRequest(row.xml);
    ASSERT_FALSE(r) << row.xml;
    EXPECT_EQ(r.error().field, row.field) << row.xml;
    EXPECT_EQ(r.error().offset, row.offset) << row.xml;
  }
}

TEST(MbmsRegister, ResponseRoundTripAndMalformed) {
  const std::vector<RegistrationResult> results = {
      {"urn:openbcast:svc:sample:", RegistrationStatus::kOk},
      {"urn:x:", RegistrationStatus::kUnknown},
      {"a\"b", RegistrationStatus::kRefused}};
  const std::string xml = WriteRegisterResponse(results);
  EXPECT_NE(xml.find("<service id=\"urn:x:\" status=\"unknown\"/>"), std::string::npos) << xml;
  auto back = ParseRegisterResponse(xml);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, results);
  auto empty = ParseRegisterResponse(WriteRegisterResponse({}));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());

  struct Row {
    const char* xml;
    const char* field;
    std::size_t offset;
  };
  for (const Row& row : std::initializer_list<Row>{
           {"<mbmsRegister/>", "mbmsRegisterResponse", 0},
           {"<mbmsRegisterResponse><service status=\"ok\"/></mbmsRegisterResponse>", "service.id",
            22},
           {"<mbmsRegisterResponse><service id=\"a\"/></mbmsRegisterResponse>", "service.status",
            22},
           {"<mbmsRegisterResponse><service id=\"a\" status=\"maybe\"/></mbmsRegisterResponse>",
            "service.status", 46},
           {"<mbmsRegisterResponse><service id=\"\" status=\"ok\"/></mbmsRegisterResponse>",
            "service.id", 22},
           {"<mbmsRegisterResponse><service id=\"a&x;\" status=\"ok\"/></mbmsRegisterResponse>",
            "service.id", 36},
           {"<mbmsRegisterResponse><service id=\"a\" status=\"ok\"", "service", 22},
           {"<mbmsRegisterResponse><service id=\"a\" status=\"ok\"/>", "mbmsRegisterResponse", 51},
       }) {
    auto r = ParseRegisterResponse(row.xml);
    ASSERT_FALSE(r) << row.xml;
    EXPECT_EQ(r.error().field, row.field) << row.xml;
    EXPECT_EQ(r.error().offset, row.offset) << row.xml;
  }
}

TEST(MskRequest, BundleDeliversMsksTheCardWasMissing) {
  bcast::uicc::CardState st;
  st.k.fill(1);
  st.opc.fill(2);
  std::array<std::uint8_t, 32> muk{};
  muk.fill(7);
  st.muks["bsm.example"].key.assign(muk.begin(), muk.end());
  bcast::uicc::Card card(std::move(st), "");
  Usim usim([&](std::span<const std::uint8_t> c) -> Result<std::vector<std::uint8_t>, std::string> {
    return card.Process(c);
  });
  std::array<std::uint8_t, 16> msk{}, mtk{};
  std::array<std::uint8_t, 14> salt{};
  msk.fill(3);
  mtk.fill(4);
  const KeyDomainId domain = {0, 0xf1, 0x10};
  auto stkm = MakeMikeyMtkMessage(domain, 0x00010001, 1, 1, mtk, salt, msk, {});
  auto first = usim.MtkGeneration(stkm);
  ASSERT_FALSE(first);
  ASSERT_EQ(first.error().code, UsimError::kKeyNotFound);

  auto bundle = WriteMikeyBundle(
      {MakeMikeyMskMessage(domain, 0x00010001, 1, msk, muk, "bsm.example", "btid", {}, false),
       MakeMikeyMskMessage(domain, 0x00010002, 2, msk, muk, "bsm.example", "btid", {}, false)});
  auto messages = ParseMikeyBundle(bundle);
  ASSERT_TRUE(messages);
  ASSERT_EQ(messages->size(), 2u);
  for (const auto& m : *messages) EXPECT_TRUE(usim.MskUpdate(m));
  auto second = usim.MtkGeneration(stkm);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->mtk, mtk);

  EXPECT_EQ(ParseMikeyBundle(std::vector<std::uint8_t>{0, 5, 1}).error().field, "bundle.length");
  EXPECT_EQ(ParseMikeyBundle(std::vector<std::uint8_t>{}).error().field, "bundle");
  EXPECT_EQ(ParseMikeyBundle(std::vector<std::uint8_t>{0, 1, 9, 0}).error().offset, 3u);
}

}  // namespace
}  // namespace spc::smartcard
