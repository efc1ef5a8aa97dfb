// KeySchedule: TEK ID sequence, STKMs that libspc opens with the service key, rotation, and the
// forged / foreign STKMs of the fault options.
#include "samples/headend/key_schedule.h"

#include <gtest/gtest.h>

#include "spc/libspc/key_file.h"

namespace {

constexpr const char* kBase = "urn:openbcast:svc:sample:";

struct Fixture {
  spc::KeyTable table;
  spc::LongTermKey key;
  Fixture() {
    auto parsed =
        spc::ParseKeyFile(headend::MakeRandomKeyFile(spc::ContentId(kBase, 0x2a), 0x0a0b0c));
    EXPECT_TRUE(parsed.ok());
    table = *parsed;
    key = table.begin()->second;
  }
  auto Open(const std::vector<std::uint8_t>& msg) {
    return spc::OpenStkm(msg, kBase, [&](const std::string& cid) -> const spc::LongTermKey* {
      auto it = table.find(cid);
      return it == table.end() ? nullptr : &it->second;
    });
  }
};

TEST(KeySchedule, TekIdsWrapSkippingZero) {
  EXPECT_EQ(headend::NextTekId(1), 2);
  EXPECT_EQ(headend::NextTekId(0xfffe), 0xffff);
  EXPECT_EQ(headend::NextTekId(0xffff), 1);
}

// Mixed services run two schedules with stride 2 from IDs of different parity: they never meet.
TEST(KeySchedule, StrideTwoKeepsParityAcrossTheWrap) {
  EXPECT_EQ(headend::NextTekId(0xffff, 1), 1);
  EXPECT_EQ(headend::NextTekId(0xfffd, 2), 0xffff);
  EXPECT_EQ(headend::NextTekId(0xffff, 2), 1);
  EXPECT_EQ(headend::NextTekId(0xfffe, 2), 2);
  EXPECT_EQ(headend::NextTekId(2, 2), 4);
  std::uint16_t odd = 0xfff1, even = 0xfff2;
  for (int i = 0; i < 70000; ++i) {
    odd = headend::NextTekId(odd, 2);
    even = headend::NextTekId(even, 2);
    ASSERT_EQ(odd % 2, 1);
    ASSERT_EQ(even % 2, 0);
    ASSERT_NE(even, 0);
  }
}

// ISMACryp TEKs: traffic_protection_protocol 2, no master salt (k_s = 0), no authentication flag.
TEST(KeySchedule, IsmacrypStkmHasNoSalt) {
  Fixture f;
  headend::KeySchedule::Config config;
  config.service_key = f.key;
  config.cid_extension = 0x2a;
  config.first_tek_id = 8;
  config.id_stride = 2;
  config.traffic_authentication = false;
  config.protocol = spc::TrafficProtectionProtocol::kIsmacryp;
  headend::KeySchedule schedule(config);
  auto opened = f.Open(schedule.MakeStkm(1700000000));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->stkm.traffic_protection_protocol, 2);
  EXPECT_FALSE(opened->stkm.master_salt_flag);
  EXPECT_FALSE(opened->stkm.traffic_authentication_flag);
  EXPECT_EQ(opened->current.id, 8);
  EXPECT_EQ(opened->current.key, schedule.current().key);
  EXPECT_EQ(opened->current.salt, spc::MasterSalt{});
  ASSERT_TRUE(opened->next);
  EXPECT_EQ(opened->next->id, 10);
  EXPECT_EQ(schedule.current().salt, spc::MasterSalt{});
  schedule.Rotate();
  EXPECT_EQ(schedule.current().id, 10);
  EXPECT_EQ(schedule.next().id, 12);
}

TEST(KeySchedule, StkmCarriesCurrentAndNextAndRotates) {
  Fixture f;
  EXPECT_EQ(f.key.key_domain_id, 0x0a0b0cu);
  headend::KeySchedule::Config config;
  config.service_key = f.key;
  config.cid_extension = 0x2a;
  config.first_tek_id = 0xffff;
  config.tek_period_s = 4;
  headend::KeySchedule schedule(config);
  EXPECT_EQ(schedule.tek_lifetime_s(), 13);

  auto opened = f.Open(schedule.MakeStkm(1700000000));
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->current.id, 0xffff);
  EXPECT_EQ(opened->current.key, schedule.current().key);
  EXPECT_EQ(opened->current.salt, schedule.current().salt);
  ASSERT_TRUE(opened->next);
  EXPECT_EQ(opened->next->id, 1);
  EXPECT_EQ(opened->next->key, schedule.next().key);
  EXPECT_EQ(opened->stkm.timestamp, 1700000000u);
  EXPECT_EQ(opened->stkm.traffic_key_lifetime, 13);
  EXPECT_EQ(opened->stkm.key_domain_id, 0x0a0b0cu);
  EXPECT_NE(schedule.current().key, schedule.next().key);

  const spc::TrafficKey announced = schedule.next();
  schedule.Rotate();
  EXPECT_EQ(schedule.current().id, 1);
  EXPECT_EQ(schedule.current().key, announced.key);
  EXPECT_EQ(schedule.current().salt, announced.salt);
  EXPECT_EQ(schedule.next().id, 2);
  auto after = f.Open(schedule.MakeStkm(1700000004));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->current.key, announced.key);
}

TEST(KeySchedule, ForgedStkmFailsMacAndForeignHasNoRights) {
  Fixture f;
  headend::KeySchedule::Config config;
  config.service_key = f.key;
  config.cid_extension = 0x2a;
  headend::KeySchedule schedule(config);
  auto forged = f.Open(schedule.MakeForgedStkm(1));
  ASSERT_FALSE(forged.ok());
  EXPECT_EQ(forged.error().code, spc::StkmError::kBadMac);
  auto foreign = f.Open(schedule.MakeForeignStkm(1));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, spc::StkmError::kNoRights);
  EXPECT_EQ(foreign.error().content_id, spc::ContentId(kBase, 0x2b));
}

}  // namespace
