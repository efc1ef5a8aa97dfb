#include "spc/libspc/keys.h"

#include <gtest/gtest.h>

#include "spc/libspc/crypto.h"
#include "tests/unit/stkm_test_util.h"

namespace spc {
namespace {

using test::kSak;
using test::kSek;

constexpr Key128 kTek = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33,
                         0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
constexpr Key128 kNextTek = {0xfe, 0xed, 0xfa, 0xce, 0x01, 0x02, 0x03, 0x04,
                             0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
constexpr char kBase[] = "urn:openbcast:svc:news:";

LongTermKey ServiceKey() {
  LongTermKey k;
  k.key_domain_id = 0x0a0b0c;
  k.encryption_key = kSek;
  k.authentication_key = kSak;
  return k;
}

Stkm HeadEndStkm(unsigned flags) {
  Stkm s = test::MakeStkm(flags);
  s.service_CID_extension = 0x2a;
  s.programme_CID_extension = s.programme_flag ? 0x2b : 0;
  s.encrypted_traffic_key_material = EncryptTrafficKey(kSek, kTek);
  if (s.next_traffic_key_flag) {
    s.next_encrypted_traffic_key_material = EncryptTrafficKey(kSek, kNextTek);
  }
  if (s.programme_flag) s.service_CID_extension = 0;
  return s;
}

struct Lookup {
  std::string want;
  const LongTermKey* key;
  mutable int calls = 0;
  const LongTermKey* operator()(const std::string& cid) const {
    ++calls;
    return cid == want ? key : nullptr;
  }
};

TEST(ContentId, AppendsEightLowercaseHexDigits) {
  EXPECT_EQ(ContentId(kBase, 0x2a), "urn:openbcast:svc:news:0000002a");
  EXPECT_EQ(ContentId("x", 0xDEADBEEF), "xdeadbeef");
  Stkm s = test::MakeStkm(test::kProgramme);
  s.programme_CID_extension = 0xabc;
  EXPECT_EQ(StkmContentId(s, "p:"), "p:00000abc");
  s = test::MakeStkm(0);
  s.service_CID_extension = 0x1;
  EXPECT_EQ(StkmContentId(s, "s:"), "s:00000001");
}

TEST(TrafficKey, EncryptDecryptRoundTrip) {
  Key128 enc = EncryptTrafficKey(kSek, kTek);
  EXPECT_NE(enc, kTek);
  EXPECT_EQ(DecryptTrafficKey(kSek, enc), kTek);
  EXPECT_EQ(enc, Aes128EcbEncryptBlock(kSek, kTek));
}

TEST(OpenStkm, DecryptsTekAndNextTekWithSalts) {
  LongTermKey key = ServiceKey();
  Stkm s = HeadEndStkm(test::kMasterSalt | test::kNextTrafficKey);
  auto wire = WriteStkm(s, kSak);
  Lookup lookup{"urn:openbcast:svc:news:0000002a", &key};
  auto r = OpenStkm(wire, kBase, lookup);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->content_id, "urn:openbcast:svc:news:0000002a");
  EXPECT_EQ(r->current.id, s.traffic_key_id);
  EXPECT_EQ(r->current.key, kTek);
  EXPECT_EQ(r->current.salt, s.master_salt);
  ASSERT_TRUE(r->next.has_value());
  EXPECT_EQ(r->next->id, s.next_traffic_key_id);
  EXPECT_EQ(r->next->key, kNextTek);
  EXPECT_EQ(r->next->salt, s.next_master_salt);
  EXPECT_NE(r->next->salt, r->current.salt);
}

TEST(OpenStkm, ZeroSaltWithoutMasterSaltFlag) {
  LongTermKey key = ServiceKey();
  auto wire = WriteStkm(HeadEndStkm(test::kNextTrafficKey), kSak);
  auto r = OpenStkm(wire, kBase, Lookup{"urn:openbcast:svc:news:0000002a", &key});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->current.salt, MasterSalt{});
  ASSERT_TRUE(r->next.has_value());
  EXPECT_EQ(r->next->salt, MasterSalt{});
  EXPECT_EQ(r->next->key, kNextTek);
}

TEST(OpenStkm, NoNextKeyWithoutFlag) {
  LongTermKey key = ServiceKey();
  auto wire = WriteStkm(HeadEndStkm(0), kSak);
  auto r = OpenStkm(wire, kBase, Lookup{"urn:openbcast:svc:news:0000002a", &key});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->next.has_value());
  EXPECT_EQ(r->current.key, kTek);
}

TEST(OpenStkm, ProgrammeKey) {
  LongTermKey key = ServiceKey();
  key.programme = true;
  auto wire = WriteStkm(HeadEndStkm(test::kProgramme), kSak);
  auto r = OpenStkm(wire, "urn:p:", Lookup{"urn:p:0000002b", &key});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->current.key, kTek);
}

TEST(OpenStkm, WrongMacIsRejectedWithoutKeyOutput) {
  LongTermKey key = ServiceKey();
  auto wire = WriteStkm(HeadEndStkm(test::kNextTrafficKey), kSak);
  wire.back() ^= 0x01;
  auto r = OpenStkm(wire, kBase, Lookup{"urn:openbcast:svc:news:0000002a", &key});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StkmError::kBadMac);
  EXPECT_EQ(r.error().content_id, "urn:openbcast:svc:news:0000002a");
  EXPECT_NE(r.error().message.find("MAC"), std::string::npos);
}

TEST(OpenStkm, TamperedBodyIsRejected) {
  LongTermKey key = ServiceKey();
  auto wire = WriteStkm(HeadEndStkm(0), kSak);
  wire[20] ^= 0x80;  // inside encrypted_traffic_key_material
  auto r = OpenStkm(wire, kBase, Lookup{"urn:openbcast:svc:news:0000002a", &key});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StkmError::kBadMac);
}

TEST(OpenStkm, MacUnderWrongSakIsRejected) {
  LongTermKey key = ServiceKey();
  Key128 other = kSak;
  other[0] ^= 0xff;
  auto wire = WriteStkm(HeadEndStkm(0), other);
  auto r = OpenStkm(wire, kBase, Lookup{"urn:openbcast:svc:news:0000002a", &key});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StkmError::kBadMac);
}

TEST(OpenStkm, UnknownContentIsNoRights) {
  LongTermKey key = ServiceKey();
  auto wire = WriteStkm(HeadEndStkm(0), kSak);
  Lookup lookup{"urn:openbcast:svc:sport:0000002a", &key};
  auto r = OpenStkm(wire, kBase, lookup);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(lookup.calls, 1);
  EXPECT_EQ(r.error().code, StkmError::kNoRights);
  EXPECT_EQ(r.error().content_id, "urn:openbcast:svc:news:0000002a");
  EXPECT_NE(r.error().message.find("no rights for urn:openbcast:svc:news:0000002a"),
            std::string::npos)
      << r.error().message;
}

TEST(OpenStkm, KeyDomainMismatchIsNoRights) {
  LongTermKey key = ServiceKey();
  key.key_domain_id = 0x010203;
  auto wire = WriteStkm(HeadEndStkm(0), kSak);
  auto r = OpenStkm(wire, kBase, Lookup{"urn:openbcast:svc:news:0000002a", &key});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StkmError::kNoRights);
  EXPECT_NE(r.error().message.find("key domain"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("010203"), std::string::npos) << r.error().message;
}

TEST(OpenStkm, MalformedNamesFieldAndSkipsLookup) {
  LongTermKey key = ServiceKey();
  auto wire = WriteStkm(HeadEndStkm(0), kSak);
  wire[0] = 0x20;  // protocol_version 2
  Lookup lookup{"urn:openbcast:svc:news:0000002a", &key};
  auto r = OpenStkm(wire, kBase, lookup);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, StkmError::kMalformed);
  EXPECT_EQ(r.error().parse.field, "protocol_version");
  EXPECT_EQ(lookup.calls, 0);
}

}  // namespace
}  // namespace spc
