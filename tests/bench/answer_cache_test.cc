// The spc client's answer cache (spc/client/answer_cache.h): what it keeps, for how long, and what
// clears it.
#include "spc/client/answer_cache.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace {

using spc::client::AnswerCache;
using spc::client::Error;
using spc::client::Purpose;
using spc::client::TekResult;

TekResult Tek(std::uint16_t id) {
  TekResult r;
  r.content_id = "urn:svc:a";
  r.current.id = id;
  r.current.key.fill(static_cast<std::uint8_t>(id));
  return r;
}

const std::vector<std::uint8_t> kStkm = {1, 2, 3, 4, 5};
constexpr std::int64_t kTtl = 1000000;

TEST(AnswerCacheTest, RepeatWithinTtlIsAnswered) {
  AnswerCache c(8, kTtl);
  EXPECT_FALSE(c.Find(kStkm, "base:", Purpose::kPlay, 0));
  c.Put(kStkm, "base:", Purpose::kPlay, Tek(7), c.Generation(), 100);
  auto hit = c.Find(kStkm, "base:", Purpose::kPlay, 100 + kTtl - 1);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->current.id, 7);
  EXPECT_EQ(hit->current.key, Tek(7).current.key);
  EXPECT_EQ(c.hits(), 1u);
  // Expired: asked again.
  EXPECT_FALSE(c.Find(kStkm, "base:", Purpose::kPlay, 100 + kTtl));
}

TEST(AnswerCacheTest, NeverLongerThanTheTeksLifetime) {
  AnswerCache c(8, 60 * kTtl);
  TekResult t = Tek(9);
  t.lifetime = 2;  // s
  c.Put(kStkm, "base:", Purpose::kPlay, t, c.Generation(), 0);
  EXPECT_TRUE(c.Find(kStkm, "base:", Purpose::kPlay, 2000000 - 1));
  EXPECT_FALSE(c.Find(kStkm, "base:", Purpose::kPlay, 2000000));
}

TEST(AnswerCacheTest, RequestIsTheWholeKey) {
  AnswerCache c(8, kTtl);
  c.Put(kStkm, "base:", Purpose::kPlay, Tek(7), c.Generation(), 0);
  std::vector<std::uint8_t> other = kStkm;
  other.back() ^= 1;
  EXPECT_FALSE(c.Find(other, "base:", Purpose::kPlay, 1));
  EXPECT_FALSE(c.Find(kStkm, "base2:", Purpose::kPlay, 1));
  EXPECT_FALSE(c.Find(kStkm, "base:", Purpose::kRecord, 1));
  // The base CID and the STKM bytes cannot run into each other.
  const std::vector<std::uint8_t> shifted = {0, 1, 2, 3, 4, 5};
  EXPECT_FALSE(c.Find(shifted, "base", Purpose::kPlay, 1));
}

TEST(AnswerCacheTest, RefusalsAreNotKept) {
  AnswerCache c(8, kTtl);
  TekResult refused;
  refused.error = Error::kNoRights;
  c.Put(kStkm, "base:", Purpose::kPlay, refused, c.Generation(), 0);
  EXPECT_FALSE(c.Find(kStkm, "base:", Purpose::kPlay, 1));
}

TEST(AnswerCacheTest, ClearDropsEntriesAndAnswersThatCrossedIt) {
  AnswerCache c(8, kTtl);
  c.Put(kStkm, "base:", Purpose::kPlay, Tek(7), c.Generation(), 0);
  const std::uint64_t before = c.Generation();  // a request is sent...
  c.Clear();                                    // ...rights change while it is in flight...
  EXPECT_FALSE(c.Find(kStkm, "base:", Purpose::kPlay, 1));
  c.Put(kStkm, "base:", Purpose::kPlay, Tek(8), before, 2);  // ...its answer is not kept
  EXPECT_FALSE(c.Find(kStkm, "base:", Purpose::kPlay, 3));
  c.Put(kStkm, "base:", Purpose::kPlay, Tek(9), c.Generation(), 4);
  ASSERT_TRUE(c.Find(kStkm, "base:", Purpose::kPlay, 5));
}

TEST(AnswerCacheTest, OldestEntryMakesRoom) {
  AnswerCache c(2, kTtl);
  for (std::uint8_t i = 0; i < 3; ++i) {
    c.Put(std::vector<std::uint8_t>{i}, "b:", Purpose::kPlay, Tek(i), c.Generation(), 0);
  }
  EXPECT_FALSE(c.Find(std::vector<std::uint8_t>{0}, "b:", Purpose::kPlay, 1));
  EXPECT_TRUE(c.Find(std::vector<std::uint8_t>{1}, "b:", Purpose::kPlay, 1));
  EXPECT_TRUE(c.Find(std::vector<std::uint8_t>{2}, "b:", Purpose::kPlay, 1));
}

TEST(AnswerCacheTest, OffWhenTtlOrSizeIsZero) {
  AnswerCache no_room(0, kTtl);
  AnswerCache no_time(8, 0);
  for (AnswerCache* c : {&no_room, &no_time}) {
    c->Put(kStkm, "base:", Purpose::kPlay, Tek(7), c->Generation(), 0);
    EXPECT_FALSE(c->Find(kStkm, "base:", Purpose::kPlay, 0));
  }
}

}  // namespace
