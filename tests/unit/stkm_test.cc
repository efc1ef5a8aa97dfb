#include "spc/libspc/stkm.h"

#include <gtest/gtest.h>

#include "tests/unit/stkm_test_util.h"

namespace spc {
namespace {

using test::kSak;
using test::MakeStkm;

std::size_t LayoutLength(const Stkm& s) {
  auto layout = test::StkmLayout(s);
  return layout.back().offset + layout.back().length;
}

TEST(StkmRoundTrip, EveryFlagCombination) {
  for (unsigned flags = 0; flags < test::kAllFlagBits; ++flags) {
    SCOPED_TRACE("flags " + std::to_string(flags));
    Stkm in = MakeStkm(flags, static_cast<std::uint8_t>(flags));
    std::vector<std::uint8_t> wire = WriteStkm(in, kSak);
    ASSERT_EQ(wire.size(), LayoutLength(in));

    auto parsed = ParseStkm(wire);
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    std::copy(wire.end() - 12, wire.end(), in.MAC.begin());
    EXPECT_EQ(*parsed, in);
    EXPECT_TRUE(VerifyStkmMac(wire, kSak));
    EXPECT_EQ(WriteStkm(*parsed, kSak), wire);
  }
}

TEST(StkmRoundTrip, EveryProtocolAndProtectionValue) {
  for (std::uint8_t protocol = 0; protocol <= 2; ++protocol) {
    for (std::uint8_t par = 0; par <= 3; ++par) {
      Stkm in = MakeStkm(test::kMasterSalt);
      in.traffic_protection_protocol = protocol;
      in.protection_after_reception = par;
      auto wire = WriteStkm(in, kSak);
      auto parsed = ParseStkm(wire);
      ASSERT_TRUE(parsed.ok()) << parsed.error().message;
      EXPECT_EQ(parsed->traffic_protection_protocol, protocol);
      EXPECT_EQ(parsed->protection_after_reception, par);
    }
  }
}

TEST(StkmRoundTrip, ExtremeValues) {
  Stkm in = MakeStkm(test::kTimestamp | test::kAccessCriteria);
  in.key_domain_id = 0xffffff;
  in.service_CID_extension = 0xffffffff;
  in.traffic_key_id = 0xffff;
  in.traffic_key_lifetime = 0xffff;
  in.timestamp = 0xffffffffffULL;
  in.access_criteria.clear();
  for (int i = 0; i < 255; ++i) {
    in.access_criteria.push_back({static_cast<std::uint8_t>(i), std::vector<std::uint8_t>(255, 7)});
  }
  auto wire = WriteStkm(in, kSak);
  ASSERT_EQ(wire.size(), LayoutLength(in));
  auto parsed = ParseStkm(wire);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  std::copy(wire.end() - 12, wire.end(), in.MAC.begin());
  EXPECT_EQ(*parsed, in);
}

TEST(StkmRoundTrip, EmptyDescriptorLoop) {
  Stkm in = MakeStkm(test::kAccessCriteria);
  in.access_criteria.clear();
  auto wire = WriteStkm(in, kSak);
  auto parsed = ParseStkm(wire);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_TRUE(parsed->access_criteria_flag);
  EXPECT_TRUE(parsed->access_criteria.empty());
}

TEST(StkmWrite, KnownBitLayout) {
  Stkm s;
  s.protection_after_reception = 2;
  s.access_criteria_flag = false;
  s.master_salt_flag = true;
  s.traffic_protection_protocol = 2;
  s.traffic_authentication_flag = false;
  s.next_traffic_key_flag = true;
  s.timestamp_flag = true;
  s.service_flag = true;
  s.key_domain_id = 0x0a0b0c;
  s.service_CID_extension = 0x2a;
  s.traffic_key_id = 0x0102;
  s.traffic_key_lifetime = 0x0304;
  s.timestamp = 0x0506070809;
  auto wire = WriteStkm(s, kSak);
  ASSERT_GE(wire.size(), 18u);
  // version 1 | par 2 | acf 0 | msf 1  =  0001 10 0 1
  EXPECT_EQ(wire[0], 0x19);
  // protocol 2 | taf 0 | ntkf 1 | tsf 1 | pf 0 | sf 1  =  010 0 1 1 0 1
  EXPECT_EQ(wire[1], 0x4d);
  EXPECT_EQ(std::vector<std::uint8_t>(wire.begin() + 2, wire.begin() + 18),
            (std::vector<std::uint8_t>{0x0a, 0x0b, 0x0c, 0x00, 0x00, 0x00, 0x2a, 0x01, 0x02, 0x03,
                                       0x04, 0x05, 0x06, 0x07, 0x08, 0x09}));
}

TEST(StkmWrite, RefusesValuesTheLayoutCannotHold) {
  Stkm s = MakeStkm(0);
  s.key_domain_id = 0x1000000;
  EXPECT_TRUE(WriteStkm(s, kSak).empty());
  s = MakeStkm(test::kAccessCriteria);
  s.access_criteria[0].data.resize(256);
  EXPECT_TRUE(WriteStkm(s, kSak).empty());
  s = MakeStkm(test::kTimestamp);
  s.timestamp = 1ULL << 40;
  EXPECT_TRUE(WriteStkm(s, kSak).empty());
}

TEST(StkmMac, DetectsEveryFlippedByteAndWrongKey) {
  auto wire = WriteStkm(MakeStkm(test::kMasterSalt | test::kNextTrafficKey), kSak);
  ASSERT_TRUE(VerifyStkmMac(wire, kSak));
  for (std::size_t i = 0; i < wire.size(); ++i) {
    auto bad = wire;
    bad[i] ^= 0x01;
    EXPECT_FALSE(VerifyStkmMac(bad, kSak)) << "byte " << i;
  }
  Key128 other = kSak;
  other[15] ^= 0x80;
  EXPECT_FALSE(VerifyStkmMac(wire, other));
  EXPECT_FALSE(VerifyStkmMac(std::span(wire).first(11), kSak));
}

}  // namespace
}  // namespace spc
