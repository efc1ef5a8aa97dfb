// The malformed-STKM table: every rejection names the stkm.md field and its byte offset.
#include <gtest/gtest.h>

#include <set>

#include "spc/libspc/stkm.h"
#include "tests/unit/stkm_test_util.h"

namespace spc {
namespace {

using test::kSak;
using test::LayoutField;
using test::MakeStkm;
using test::StkmLayout;

// The field the parser must blame when the bytes before the MAC end at `body_end` while the layout
// needs more: the first non-empty field that does not fit.
const LayoutField& FirstFieldPast(const std::vector<LayoutField>& layout, std::size_t body_end) {
  for (const auto& f : layout) {
    if (f.length > 0 && f.offset + f.length > body_end) return f;
  }
  ADD_FAILURE() << "no field past " << body_end;
  return layout.back();
}

void ExpectError(std::span<const std::uint8_t> bytes, const std::string& field,
                 std::size_t offset) {
  auto r = ParseStkm(bytes);
  ASSERT_FALSE(r.ok()) << "accepted; expected an error on " << field;
  EXPECT_EQ(r.error().field, field) << r.error().message;
  EXPECT_EQ(r.error().offset, offset) << r.error().message;
  EXPECT_EQ(r.error().message.rfind(field + ":", 0), 0u)
      << "message should start with the field name: " << r.error().message;
}

const unsigned kSampleFlags[] = {
    0,
    test::kAllFlagBits - 1,
    test::kAccessCriteria,
    test::kMasterSalt | test::kNextTrafficKey,
    test::kProgramme | test::kTimestamp,
    test::kProgramme | test::kMasterSalt | test::kAccessCriteria,
};

TEST(StkmMalformed, TruncationAtEveryLength) {
  for (unsigned flags : kSampleFlags) {
    Stkm s = MakeStkm(flags, 3);
    auto wire = WriteStkm(s, kSak);
    auto layout = StkmLayout(s);
    ASSERT_EQ(wire.size(), layout.back().offset + layout.back().length);
    for (std::size_t k = 0; k < wire.size(); ++k) {
      SCOPED_TRACE("flags " + std::to_string(flags) + ", first " + std::to_string(k) + " of " +
                   std::to_string(wire.size()) + " bytes");
      std::span<const std::uint8_t> cut(wire.data(), k);
      if (k < kStkmMacLength) {
        ExpectError(cut, "MAC", 0);
      } else {
        const LayoutField& f = FirstFieldPast(layout, k - kStkmMacLength);
        ExpectError(cut, f.name, f.offset);
      }
    }
  }
}

TEST(StkmMalformed, TruncationNamesEachFieldAtLeastOnce) {
  Stkm s = MakeStkm(test::kAllFlagBits - 1);  // programme: every optional field but service's
  auto wire = WriteStkm(s, kSak);
  std::set<std::string> seen;
  for (std::size_t k = 0; k < wire.size(); ++k) {
    auto r = ParseStkm(std::span(wire).first(k));
    ASSERT_FALSE(r.ok());
    seen.insert(r.error().field);
  }
  for (const char* f :
       {"protocol_version", "traffic_protection_protocol", "key_domain_id",
        "programme_CID_extension", "traffic_key_id", "traffic_key_lifetime", "timestamp",
        "master_salt", "encrypted_traffic_key_material", "next_traffic_key_id",
        "next_encrypted_traffic_key_material", "next_master_salt",
        "number_of_access_criteria_descriptors", "access_criteria_descriptor.tag",
        "access_criteria_descriptor.length", "access_criteria_descriptor.data", "MAC"}) {
    EXPECT_TRUE(seen.count(f)) << f;
  }
}

TEST(StkmMalformed, TrailingBytes) {
  for (unsigned flags : kSampleFlags) {
    auto wire = WriteStkm(MakeStkm(flags), kSak);
    std::size_t body = wire.size() - kStkmMacLength;
    for (std::size_t extra : {1, 11, 12, 13, 40}) {
      auto longer = wire;
      longer.insert(longer.end(), extra, 0x5a);
      SCOPED_TRACE("flags " + std::to_string(flags) + " extra " + std::to_string(extra));
      ExpectError(longer, "MAC", body);
    }
  }
}

TEST(StkmMalformed, WrongProtocolVersion) {
  auto wire = WriteStkm(MakeStkm(test::kMasterSalt), kSak);
  for (std::uint8_t v : {0, 2, 3, 15}) {
    auto bad = wire;
    bad[0] = static_cast<std::uint8_t>((bad[0] & 0x0f) | (v << 4));
    ExpectError(bad, "protocol_version", 0);
  }
  // Checked before anything else is read: even a 13-byte message names the version.
  std::vector<std::uint8_t> tiny(13, 0);
  ExpectError(tiny, "protocol_version", 0);
}

TEST(StkmMalformed, ReservedTrafficProtectionProtocol) {
  auto wire = WriteStkm(MakeStkm(0), kSak);
  for (std::uint8_t p = 3; p <= 7; ++p) {
    auto bad = wire;
    bad[1] = static_cast<std::uint8_t>((bad[1] & 0x1f) | (p << 5));
    ExpectError(bad, "traffic_protection_protocol", 1);
  }
}

TEST(StkmMalformed, BothOrNeitherProgrammeAndServiceFlag) {
  for (unsigned flags : kSampleFlags) {
    auto wire = WriteStkm(MakeStkm(flags), kSak);
    auto both = wire;
    both[1] |= 0x03;
    ExpectError(both, "service_flag", 1);
    auto neither = wire;
    neither[1] &= static_cast<std::uint8_t>(~0x03);
    ExpectError(neither, "service_flag", 1);
  }
  // The writer emits flags as given: the same errors from written messages.
  Stkm s = MakeStkm(0);
  s.programme_flag = true;
  ExpectError(WriteStkm(s, kSak), "service_flag", 1);
  s.programme_flag = s.service_flag = false;
  ExpectError(WriteStkm(s, kSak), "service_flag", 1);
}

// A flag set without its field: the layout it announces is longer than the message.
TEST(StkmMalformed, FlagWithoutItsField) {
  struct Bit {
    unsigned flag;
    int byte;
    std::uint8_t mask;
  };
  const Bit bits[] = {{test::kMasterSalt, 0, 0x01},
                      {test::kNextTrafficKey, 1, 0x08},
                      {test::kTimestamp, 1, 0x04},
                      {test::kAccessCriteria, 0, 0x02}};
  for (unsigned base : {0u, unsigned{test::kProgramme}, unsigned{test::kNextTrafficKey}}) {
    for (const Bit& b : bits) {
      if (base & b.flag) continue;
      SCOPED_TRACE("base " + std::to_string(base) + " adds flag " + std::to_string(b.flag));
      auto wire = WriteStkm(MakeStkm(base), kSak);
      wire[b.byte] |= b.mask;
      Stkm announced = MakeStkm(base | b.flag);
      announced.access_criteria.clear();
      auto layout = StkmLayout(announced);
      const LayoutField& f = FirstFieldPast(layout, wire.size() - kStkmMacLength);
      ExpectError(wire, f.name, f.offset);
    }
  }
}

// A flag cleared while its field is still there: bytes are left over before the MAC.
TEST(StkmMalformed, FieldWithoutItsFlag) {
  auto wire =
      WriteStkm(MakeStkm(test::kTimestamp | test::kMasterSalt | test::kNextTrafficKey), kSak);
  std::size_t body = wire.size() - kStkmMacLength;
  auto no_ts = wire;
  no_ts[1] &= static_cast<std::uint8_t>(~0x04);
  ExpectError(no_ts, "MAC", body - 5);
  auto no_next = wire;
  no_next[1] &= static_cast<std::uint8_t>(~0x08);
  ExpectError(no_next, "MAC", body - 2 - 16 - 14);
}

class DescriptorLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    stkm_ = MakeStkm(test::kAccessCriteria);
    wire_ = WriteStkm(stkm_, kSak);
    for (const auto& f : StkmLayout(stkm_)) {
      if (f.name == "number_of_access_criteria_descriptors") count_at_ = f.offset;
    }
    ASSERT_GT(count_at_, 0u);
    ASSERT_EQ(wire_[count_at_], 3);
    // Descriptors: tag 1 len 1 data; tag 2 len 0; tag 3 len 3 data.
    first_length_at_ = count_at_ + 2;
    last_length_at_ = count_at_ + 1 + 3 + 2 + 1;
    ASSERT_EQ(wire_[last_length_at_], 3);
  }
  Stkm stkm_;
  std::vector<std::uint8_t> wire_;
  std::size_t count_at_ = 0;
  std::size_t first_length_at_ = 0;
  std::size_t last_length_at_ = 0;
};

TEST_F(DescriptorLoop, DataOverrunsIntoTheMac) {
  auto bad = wire_;
  bad[last_length_at_] = 4;  // one byte into the MAC
  ExpectError(bad, "access_criteria_descriptor.data", last_length_at_ + 1);
  bad[last_length_at_] = 255;  // past the end of the message
  ExpectError(bad, "access_criteria_descriptor.data", last_length_at_ + 1);
  auto r = ParseStkm(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("descriptor 3 of 3"), std::string::npos) << r.error().message;
}

TEST_F(DescriptorLoop, MoreDescriptorsAnnouncedThanPresent) {
  auto bad = wire_;
  bad[count_at_] = 4;
  ExpectError(bad, "access_criteria_descriptor.tag", wire_.size() - kStkmMacLength);
  bad[count_at_] = 255;
  ExpectError(bad, "access_criteria_descriptor.tag", wire_.size() - kStkmMacLength);
}

TEST_F(DescriptorLoop, FewerDescriptorsAnnouncedThanPresent) {
  auto bad = wire_;
  bad[count_at_] = 2;
  ExpectError(bad, "MAC", last_length_at_ - 1);
  bad[count_at_] = 0;
  ExpectError(bad, "MAC", count_at_ + 1);
}

TEST_F(DescriptorLoop, ShorterDescriptorLeavesBytesOver) {
  auto bad = wire_;
  bad[last_length_at_] = 2;
  ExpectError(bad, "MAC", wire_.size() - kStkmMacLength - 1);
}

TEST_F(DescriptorLoop, LongerFirstDescriptorMisalignsTheLoop) {
  auto bad = wire_;
  bad[first_length_at_] = 200;
  ExpectError(bad, "access_criteria_descriptor.data", first_length_at_ + 1);
}

TEST(StkmMalformed, GarbageNeverCrashes) {
  // Every 0..64-byte message of a fixed pseudo-random stream: errors or values, no crash.
  std::uint32_t x = 12345;
  for (int n = 0; n < 2000; ++n) {
    std::vector<std::uint8_t> m(static_cast<std::size_t>(n % 90));
    for (auto& b : m) {
      x = x * 1103515245u + 12345u;
      b = static_cast<std::uint8_t>(x >> 16);
    }
    if (!m.empty()) m[0] = static_cast<std::uint8_t>(0x10 | (m[0] & 0x0f));
    auto r = ParseStkm(m);
    if (!r.ok()) {
      EXPECT_FALSE(r.error().field.empty());
    }
  }
}

}  // namespace
}  // namespace spc
