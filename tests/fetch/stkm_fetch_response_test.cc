// The STKM fetch answer framing (spc/libspc/stkm_fetch_response.h): round trip through the writer,
// and a table of malformed bodies, each refused naming the field and the byte offset.
#include "spc/libspc/stkm_fetch_response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "spc/libspc/stkm.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes MakeStkm(std::uint16_t tek_id) {
  spc::Stkm s;
  s.key_domain_id = 0x0a0b0c;
  s.service_CID_extension = 0x2a;
  s.traffic_key_id = tek_id;
  s.traffic_key_lifetime = 25;
  s.timestamp_flag = true;
  s.timestamp = 1700000000;
  const std::array<std::uint8_t, 16> sak{};
  return spc::WriteStkm(s, sak);
}

TEST(StkmFetchResponse, RoundTripOneAndTwo) {
  const Bytes a = MakeStkm(1), b = MakeStkm(2);
  for (const std::vector<Bytes>& list : {std::vector<Bytes>{a}, std::vector<Bytes>{a, b}}) {
    const Bytes body = spc::WriteStkmFetchResponse(list);
    ASSERT_FALSE(body.empty());
    auto parsed = spc::ParseStkmFetchResponse(body);
    ASSERT_TRUE(parsed) << parsed.error().message;
    ASSERT_EQ(parsed->size(), list.size());
    std::size_t offset = 2;
    for (std::size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ(Bytes((*parsed)[i].bytes.begin(), (*parsed)[i].bytes.end()), list[i]);
      EXPECT_EQ((*parsed)[i].offset, offset);
      offset += list[i].size() + 2;
      auto stkm = spc::ParseStkm((*parsed)[i].bytes);
      ASSERT_TRUE(stkm);
      EXPECT_EQ(stkm->traffic_key_id, i + 1);
    }
  }
}

TEST(StkmFetchResponse, WriterRefusesWhatCannotBeFramed) {
  EXPECT_TRUE(spc::WriteStkmFetchResponse({Bytes{}}).empty());
  EXPECT_TRUE(spc::WriteStkmFetchResponse({Bytes(70000, 1)}).empty());
}

struct Malformed {
  const char* name;
  Bytes body;
  const char* field;
  std::size_t offset;
};

TEST(StkmFetchResponse, MalformedTable) {
  const Bytes a = MakeStkm(1);
  Bytes one = spc::WriteStkmFetchResponse({a});
  Bytes truncated(one.begin(), one.end() - 1);
  Bytes trailing = one;
  trailing.push_back(0x00);  // a length field cut after one byte
  Bytes zero_second = one;
  zero_second.push_back(0);
  zero_second.push_back(0);
  Bytes too_many;
  for (std::size_t i = 0; i <= spc::kMaxFetchedStkms; ++i) {
    too_many.insert(too_many.end(), one.begin(), one.end());
  }
  const std::vector<Malformed> table = {
      {"empty", {}, "stkm_length", 0},
      {"one byte", {0x00}, "stkm_length", 0},
      {"zero length", {0x00, 0x00}, "stkm_length", 0},
      {"length past the end", {0x00, 0x05, 1, 2, 3}, "stkm", 2},
      {"truncated STKM", truncated, "stkm", 2},
      {"half a second length", trailing, "stkm_length", one.size()},
      {"zero second length", zero_second, "stkm_length", one.size()},
      {"too many", too_many, "body", one.size() * spc::kMaxFetchedStkms},
      {"all ones", Bytes(3, 0xff), "stkm", 2},
  };
  for (const Malformed& m : table) {
    auto parsed = spc::ParseStkmFetchResponse(m.body);
    ASSERT_FALSE(parsed) << m.name;
    EXPECT_EQ(parsed.error().field, m.field) << m.name << ": " << parsed.error().message;
    EXPECT_EQ(parsed.error().offset, m.offset) << m.name << ": " << parsed.error().message;
    EXPECT_FALSE(parsed.error().message.empty()) << m.name;
  }
}

}  // namespace
