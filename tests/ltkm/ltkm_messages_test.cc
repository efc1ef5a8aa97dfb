// device_registration_response and BCRO: round trips through the one writer and the one parser,
// malformed tables (truncation at every byte names the field that was cut, lying lengths, bad
// version/status/address_mode), and every processing reason on the generated test PKI.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "spc/libspc/hex.h"
#include "spc/libspc/ltkm/bcro.h"
#include "spc/libspc/ltkm/drr.h"
#include "tests/ltkm/test_pki.h"

namespace spc {
namespace {

using test::OtherPki;
using test::SharedPki;

std::time_t Now() { return std::time(nullptr); }

template <std::size_t N>
SecureKey<N> RandomKey() {
  std::array<std::uint8_t, N> a{};
  RandomBytes(a);
  return SecureKey<N>(a);
}

std::vector<std::uint8_t> V(std::span<const std::uint8_t> s) { return {s.begin(), s.end()}; }

// (field, offset, size) of every field of a message, in order: an independent description of
// the ltkm.md layouts to check the parser's error positions against.
struct Field {
  std::string name;
  std::size_t offset;
  std::size_t size;
};
class Layout {
 public:
  Layout& Add(std::string name, std::size_t size) {
    fields_.push_back({std::move(name), end_, size});
    end_ += size;
    return *this;
  }
  std::size_t size() const { return end_; }
  // The field a message cut to `n` bytes runs out in.
  const Field& At(std::size_t n) const {
    for (const auto& f : fields_) {
      if (n >= f.offset && n < f.offset + f.size) return f;
    }
    return fields_.back();
  }

 private:
  std::vector<Field> fields_;
  std::size_t end_ = 0;
};

Layout DrrLayout(const DeviceRegistrationResponse& d) {
  Layout l;
  l.Add("drr_version", 1).Add("status", 1).Add("device_id", 20).Add("ri_id", 20);
  l.Add("timestamp", 5).Add("not_after", 5).Add("number_of_certificates", 1);
  for (const auto& c : d.certificates) l.Add("certificate_length", 2).Add("certificate", c.size());
  l.Add("encrypted_registration_material_length", 2)
      .Add("encrypted_registration_material", d.encrypted_registration_material.size())
      .Add("number_of_groups", 1);
  for (std::size_t i = 0; i < d.groups.size(); ++i) {
    l.Add("group_id", 4).Add("key_generation", 2).Add("wrapped_group_key", 24);
  }
  l.Add("signature_length", 2).Add("signature", d.signature.size());
  return l;
}

Layout BcroLayout(const Bcro& b) {
  Layout l;
  l.Add("bcro_version", 1).Add("address_mode", 1).Add("ri_id", 20);
  l.Add("ro_id_length", 1).Add("ro_id", b.ro_id.size()).Add("timestamp", 5);
  if (b.address_mode == 0) {
    l.Add("device_id", 20);
  } else {
    l.Add("group_id", 4).Add("key_generation", 2);
  }
  l.Add("key_domain_id", 3).Add("content_id_length", 1).Add("content_id", b.content_id.size());
  l.Add("permissions", 1).Add("not_before", 5).Add("not_after", 5);
  l.Add("wrapped_key_material", 40).Add("signature_length", 2).Add("signature", b.signature.size());
  return l;
}

class LtkmMessages : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& pki = SharedPki();
    now_ = Now();
    material_.timestamp = static_cast<std::uint64_t>(now_);
    material_.not_after = static_cast<std::uint64_t>(now_) + 30 * 86400;
    material_.k_mac = RandomKey<16>();
    material_.k_dev = RandomKey<16>();
    for (auto [id, gen] : {std::pair{7u, 1}, std::pair{9u, 3}}) {
      GroupKey g;
      g.group_id = id;
      g.key_generation = static_cast<std::uint16_t>(gen);
      g.key = RandomKey<16>();
      material_.groups.push_back(g);
    }
    material_.ri_certificates = {CertificateDer(pki.ri.get())};
    device_pub_ = CertificatePublicKey(pki.devices[0].get());
    device_id_ = SpkiSha1(pki.devices[0].get());
    RandomBytes(ltk_.encryption_key);
    RandomBytes(ltk_.authentication_key);
    ltk_.key_domain_id = 0x0a0b0c;
  }

  std::vector<std::uint8_t> Drr(DrrStatus status = DrrStatus::kSuccess) {
    auto w = WriteDrr(material_, status, device_pub_.get(), SharedPki().ri_key.get());
    EXPECT_TRUE(w.ok()) << w.error().message;
    return w.ok() ? *w : std::vector<std::uint8_t>{};
  }
  Result<RegistrationMaterial, LtkmFailure> Verify(const std::vector<std::uint8_t>& msg,
                                                   X509_STORE* anchors = nullptr,
                                                   EVP_PKEY* device_key = nullptr,
                                                   std::time_t now = 0) {
    return VerifyDrr(msg, anchors ? anchors : SharedPki().anchors.get(),
                     device_key ? device_key : SharedPki().device_keys[0].get(), now ? now : now_);
  }
  // A response as WriteDrr makes it, changed by `edit` and signed again by `key`.
  std::vector<std::uint8_t> Resigned(void (*edit)(DeviceRegistrationResponse&),
                                     EVP_PKEY* key = nullptr) {
    auto d = ParseDrr(Drr());
    EXPECT_TRUE(d.ok());
    edit(*d);
    auto s = SignDrr(*d, key ? key : SharedPki().ri_key.get());
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : std::vector<std::uint8_t>{};
  }

  Bcro DeviceBcro() {
    Bcro b;
    b.address_mode = 0;
    b.ro_id = "RO-news-0001";
    b.timestamp = static_cast<std::uint64_t>(now_);
    b.device_id = device_id_;
    b.key_domain_id = 0x0a0b0c;
    b.content_id = "urn:openbcast:svc:news:0000002a";
    b.permissions = kPermissionPlay | kPermissionRecord;
    b.not_before = static_cast<std::uint64_t>(now_) - 60;
    b.not_after = static_cast<std::uint64_t>(now_) + 86400;
    return b;
  }
  Bcro GroupBcro(std::uint32_t group = 9, std::uint16_t generation = 3) {
    Bcro b = DeviceBcro();
    b.address_mode = 1;
    b.device_id = {};
    b.group_id = group;
    b.key_generation = generation;
    b.permissions = kPermissionPlay;
    return b;
  }
  std::vector<std::uint8_t> WriteB(const Bcro& b, std::span<const std::uint8_t, 16> wrapping_key,
                                   EVP_PKEY* key = nullptr) {
    auto w = WriteBcro(b, ltk_, wrapping_key, key ? key : SharedPki().ri_key.get());
    EXPECT_TRUE(w.ok()) << w.error().message;
    return w.ok() ? *w : std::vector<std::uint8_t>{};
  }
  RegistrationMaterial Registered() {
    auto r = Verify(Drr());
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : RegistrationMaterial{};
  }

  std::time_t now_ = 0;
  RegistrationMaterial material_;
  EvpPkeyPtr device_pub_;
  Sha1Digest device_id_{};
  LongTermKey ltk_;
};

// ---- device_registration_response --------------------------------------------------------------

TEST_F(LtkmMessages, DrrRoundTripAndVerify) {
  auto msg = Drr();
  auto parsed = ParseDrr(msg);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(SerializeDrr(*parsed), msg);
  EXPECT_EQ(parsed->drr_version, 1);
  EXPECT_EQ(parsed->device_id, device_id_);
  EXPECT_EQ(parsed->ri_id, SpkiSha1(SharedPki().ri.get()));
  EXPECT_EQ(parsed->certificates.size(), 1u);
  EXPECT_EQ(parsed->encrypted_registration_material.size(), 256u + 40u);
  ASSERT_EQ(parsed->groups.size(), 2u);
  EXPECT_EQ(parsed->groups[1].group_id, 9u);
  EXPECT_EQ(parsed->groups[1].key_generation, 3);
  EXPECT_EQ(parsed->signature.size(), 256u);
  EXPECT_EQ(DrrLayout(*parsed).size(), msg.size());

  auto r = Verify(msg);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->ri_id, parsed->ri_id);
  EXPECT_EQ(r->device_id, device_id_);
  EXPECT_EQ(r->timestamp, material_.timestamp);
  EXPECT_EQ(r->not_after, material_.not_after);
  EXPECT_EQ(V(r->k_mac.span()), V(material_.k_mac.span()));
  EXPECT_EQ(V(r->k_dev.span()), V(material_.k_dev.span()));
  ASSERT_EQ(r->groups.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r->groups[i].group_id, material_.groups[i].group_id);
    EXPECT_EQ(r->groups[i].key_generation, material_.groups[i].key_generation);
    EXPECT_EQ(V(r->groups[i].key.span()), V(material_.groups[i].key.span()));
  }
  EXPECT_EQ(r->ri_certificates, material_.ri_certificates);
  EXPECT_NE(r->FindGroup(7, 1), nullptr);
  EXPECT_EQ(r->FindGroup(7, 2), nullptr);
}

TEST_F(LtkmMessages, DrrForAnotherDevice) {
  auto r = Verify(Drr(), nullptr, SharedPki().device_keys[1].get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, LtkmError::kOtherDevice) << r.error().message;
}

TEST_F(LtkmMessages, DrrChainUntrustedExpiredMissingMismatched) {
  auto msg = Drr();
  auto untrusted = Verify(msg, OtherPki().anchors.get());
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.error().code, LtkmError::kBrokenChain);
  EXPECT_NE(untrusted.error().message.find("issuer"), std::string::npos)
      << untrusted.error().message;
  // A time when the RI certificate (5 years) has expired but the registration has not ended.
  material_.not_after = static_cast<std::uint64_t>(now_) + 30LL * 365 * 86400;
  auto late = Verify(Drr(), nullptr, nullptr, now_ + 20LL * 365 * 86400);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, LtkmError::kBrokenChain);
  EXPECT_NE(late.error().message.find("expired"), std::string::npos) << late.error().message;

  auto none = Verify(Resigned([](DeviceRegistrationResponse& d) { d.certificates.clear(); }));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, LtkmError::kBrokenChain);
  auto garbage =
      Verify(Resigned([](DeviceRegistrationResponse& d) { d.certificates[0].resize(100); }));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code, LtkmError::kBrokenChain);
  auto other_id = Verify(Resigned([](DeviceRegistrationResponse& d) { d.ri_id[0] ^= 1; }));
  ASSERT_FALSE(other_id.ok());
  EXPECT_EQ(other_id.error().code, LtkmError::kBrokenChain);
  // The other PKI's RI certificate (a valid chain, but not to our anchor).
  auto foreign = Verify(Resigned(
      [](DeviceRegistrationResponse& d) {
        d.certificates = {CertificateDer(OtherPki().ri.get())};
        d.ri_id = SpkiSha1(OtherPki().ri.get());
      },
      OtherPki().ri_key.get()));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, LtkmError::kBrokenChain);
}

TEST_F(LtkmMessages, DrrForgedSignature) {
  auto msg = Drr();
  // One flipped bit in each signed field region and in the signature itself.
  for (std::size_t at : {std::size_t{1}, std::size_t{44}, std::size_t{50}, msg.size() - 300,
                         msg.size() - 258, msg.size() - 1}) {
    auto t = msg;
    t[at] ^= 0x01;
    auto r = Verify(t);
    ASSERT_FALSE(r.ok()) << "byte " << at;
    EXPECT_TRUE(r.error().code == LtkmError::kBadSignature ||
                r.error().code == LtkmError::kMalformed)
        << at << ": " << r.error().message;
  }
  auto t = msg;
  t[45] ^= 0x01;  // timestamp
  EXPECT_EQ(Verify(t).error().code, LtkmError::kBadSignature);
  // Signed by another key while naming our RI.
  auto other = Verify(Resigned([](DeviceRegistrationResponse&) {}, OtherPki().ri_key.get()));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, LtkmError::kBadSignature);
  // No signature at all.
  auto d = ParseDrr(msg);
  ASSERT_TRUE(d.ok());
  d->signature.clear();
  EXPECT_EQ(Verify(SerializeDrr(*d)).error().code, LtkmError::kBadSignature);
}

TEST_F(LtkmMessages, DrrStatusAndExpiry) {
  auto revoked = Verify(Drr(DrrStatus::kDeviceRevoked));
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().code, LtkmError::kDeviceRevoked);
  auto unknown = Verify(Drr(DrrStatus::kUnknownDevice));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, LtkmError::kUnknownDevice);
  auto parsed = ParseDrr(Drr(DrrStatus::kDeviceRevoked));
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->encrypted_registration_material.empty());
  EXPECT_TRUE(parsed->groups.empty());
  // A forged "revoked" is a signature failure, not a revocation.
  auto forged = Drr(DrrStatus::kDeviceRevoked);
  forged[forged.size() - 5] ^= 1;
  EXPECT_EQ(Verify(forged).error().code, LtkmError::kBadSignature);

  material_.not_after = static_cast<std::uint64_t>(now_) - 1;
  EXPECT_EQ(Verify(Drr()).error().code, LtkmError::kExpired);
}

TEST_F(LtkmMessages, DrrTamperedWrappedKeys) {
  auto c2 = Verify(Resigned(
      [](DeviceRegistrationResponse& d) { d.encrypted_registration_material.back() ^= 1; }));
  ASSERT_FALSE(c2.ok());
  EXPECT_EQ(c2.error().code, LtkmError::kUnwrapFailed) << c2.error().message;
  auto c1 = Verify(
      Resigned([](DeviceRegistrationResponse& d) { d.encrypted_registration_material[10] ^= 1; }));
  ASSERT_FALSE(c1.ok());
  EXPECT_EQ(c1.error().code, LtkmError::kUnwrapFailed);
  auto group = Verify(
      Resigned([](DeviceRegistrationResponse& d) { d.groups[1].wrapped_group_key[3] ^= 1; }));
  ASSERT_FALSE(group.ok());
  EXPECT_EQ(group.error().code, LtkmError::kUnwrapFailed);
  EXPECT_NE(group.error().message.find("group 9"), std::string::npos) << group.error().message;
  auto short_material = Verify(Resigned(
      [](DeviceRegistrationResponse& d) { d.encrypted_registration_material.resize(100); }));
  ASSERT_FALSE(short_material.ok());
  EXPECT_EQ(short_material.error().code, LtkmError::kUnwrapFailed);
}

TEST_F(LtkmMessages, DrrTruncatedAtEveryByteNamesTheField) {
  auto msg = Drr();
  auto parsed = ParseDrr(msg);
  ASSERT_TRUE(parsed.ok());
  Layout layout = DrrLayout(*parsed);
  for (std::size_t n = 0; n < msg.size(); ++n) {
    auto r = ParseDrr(std::span(msg).first(n));
    ASSERT_FALSE(r.ok()) << "cut at " << n;
    const Field& f = layout.At(n);
    EXPECT_EQ(r.error().field, f.name) << "cut at " << n << ": " << r.error().message;
    EXPECT_EQ(r.error().offset, f.offset) << "cut at " << n;
    auto v = VerifyDrr(std::span(msg).first(n), SharedPki().anchors.get(),
                       SharedPki().device_keys[0].get(), now_);
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, LtkmError::kMalformed);
    EXPECT_EQ(v.error().parse.field, f.name);
  }
}

TEST_F(LtkmMessages, DrrMalformedTable) {
  auto msg = Drr();
  auto parsed = ParseDrr(msg);
  ASSERT_TRUE(parsed.ok());
  const std::size_t cert_len_at = 53;  // after 1+1+20+20+5+5 bytes and the count
  const std::size_t material_len_at = cert_len_at + 2 + parsed->certificates[0].size();
  const std::size_t groups_at = material_len_at + 2 + 296;
  struct Case {
    const char* what;
    std::size_t at;
    std::vector<std::uint8_t> bytes;  // written at `at`
    const char* field;                // nullptr: any field, as long as it fails
    std::size_t offset;
  };
  const Case cases[] = {
      {"version 2", 0, {2}, "drr_version", 0},
      {"version 0", 0, {0}, "drr_version", 0},
      {"reserved status", 1, {3}, "status", 1},
      {"no certificates but a certificate follows", 52, {0}, nullptr, 0},
      {"certificate longer than the message",
       cert_len_at,
       {0xff, 0xff},
       "certificate",
       cert_len_at + 2},
      {"material longer than the message",
       material_len_at,
       {0xff, 0xf0},
       "encrypted_registration_material",
       material_len_at + 2},
      // 318 bytes follow the count: 10 whole groups, then 18 bytes of an 11th.
      {"200 groups", groups_at, {200}, "wrapped_group_key", groups_at + 1 + 10 * 30 + 6},
      {"signature length too long", msg.size() - 258, {0x01, 0x01}, "signature", msg.size() - 256},
      {"signature length too short", msg.size() - 258, {0x00, 0xff}, "signature", msg.size() - 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto t = msg;
    std::copy(c.bytes.begin(), c.bytes.end(), t.begin() + static_cast<std::ptrdiff_t>(c.at));
    auto r = ParseDrr(t);
    ASSERT_FALSE(r.ok());
    EXPECT_LE(r.error().offset, t.size());
    EXPECT_FALSE(r.error().field.empty());
    if (c.field == nullptr) continue;
    EXPECT_EQ(r.error().field, c.field) << r.error().message;
    EXPECT_EQ(r.error().offset, c.offset) << r.error().message;
  }
  auto trailing = msg;
  trailing.push_back(0);
  auto r = ParseDrr(trailing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "signature");
  EXPECT_EQ(r.error().offset, msg.size());
  EXPECT_NE(r.error().message.find("unexpected"), std::string::npos);
}

TEST_F(LtkmMessages, DrrWriterRejectsWhatTheLayoutCannotHold) {
  DeviceRegistrationResponse d;
  d.timestamp = std::uint64_t{1} << 40;
  EXPECT_TRUE(SerializeDrr(d).empty());
  d.timestamp = 0;
  d.certificates.resize(256);
  EXPECT_TRUE(SerializeDrr(d).empty());
  d.certificates = {std::vector<std::uint8_t>(70000)};
  EXPECT_TRUE(SerializeDrr(d).empty());
  EXPECT_FALSE(SignDrr(d, SharedPki().ri_key.get()).ok());
}

// ---- BCRO --------------------------------------------------------------------------------------

TEST_F(LtkmMessages, BcroDeviceRoundTripAndOpen) {
  RegistrationMaterial reg = Registered();
  auto msg = WriteB(DeviceBcro(), reg.k_dev.span());
  auto parsed = ParseBcro(msg);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(SerializeBcro(*parsed), msg);
  EXPECT_EQ(BcroLayout(*parsed).size(), msg.size());
  Bcro expected = DeviceBcro();
  expected.ri_id = SpkiSha1(SharedPki().ri.get());
  expected.wrapped_key_material = parsed->wrapped_key_material;
  expected.signature = parsed->signature;
  EXPECT_EQ(*parsed, expected);

  auto e = OpenBcro(msg, &reg, device_id_);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->content_id, "urn:openbcast:svc:news:0000002a");
  EXPECT_EQ(e->key_domain_id, 0x0a0b0cu);
  EXPECT_EQ(e->key.key_domain_id, 0x0a0b0cu);
  EXPECT_EQ(e->key.encryption_key, ltk_.encryption_key);
  EXPECT_EQ(e->key.authentication_key, ltk_.authentication_key);
  EXPECT_EQ(e->permissions, kPermissionPlay | kPermissionRecord);
  EXPECT_EQ(e->not_before, expected.not_before);
  EXPECT_EQ(e->not_after, expected.not_after);
  EXPECT_EQ(e->ro_id, "RO-news-0001");
  EXPECT_EQ(e->ri_id, expected.ri_id);
  EXPECT_EQ(e->timestamp, expected.timestamp);
}

TEST_F(LtkmMessages, BcroGroupRoundTripAndOpen) {
  RegistrationMaterial reg = Registered();
  auto msg = WriteB(GroupBcro(9, 3), material_.groups[1].key.span());
  auto parsed = ParseBcro(msg);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->address_mode, 1);
  EXPECT_EQ(parsed->group_id, 9u);
  EXPECT_EQ(parsed->key_generation, 3);
  EXPECT_EQ(parsed->device_id, Sha1Digest{});
  EXPECT_EQ(SerializeBcro(*parsed), msg);
  // Any device of the group opens it, whatever its device_id.
  Sha1Digest someone{};
  auto e = OpenBcro(msg, &reg, someone);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->key.encryption_key, ltk_.encryption_key);
}

TEST_F(LtkmMessages, BcroReasons) {
  RegistrationMaterial reg = Registered();
  auto device_msg = WriteB(DeviceBcro(), reg.k_dev.span());

  auto no_reg = OpenBcro(device_msg, nullptr, device_id_);
  ASSERT_FALSE(no_reg.ok());
  EXPECT_EQ(no_reg.error().code, LtkmError::kUnknownRi);
  RegistrationMaterial other_ri = reg;
  other_ri.ri_id[0] ^= 1;
  EXPECT_EQ(OpenBcro(device_msg, &other_ri, device_id_).error().code, LtkmError::kUnknownRi);

  Sha1Digest other_device = SpkiSha1(SharedPki().devices[1].get());
  EXPECT_EQ(OpenBcro(device_msg, &reg, other_device).error().code, LtkmError::kOtherDevice);

  auto other_group = WriteB(GroupBcro(8, 1), material_.groups[0].key.span());
  EXPECT_EQ(OpenBcro(other_group, &reg, device_id_).error().code, LtkmError::kOtherGroup);
  auto new_generation = WriteB(GroupBcro(9, 4), material_.groups[1].key.span());
  EXPECT_EQ(OpenBcro(new_generation, &reg, device_id_).error().code, LtkmError::kUnknownGeneration);

  for (std::size_t at :
       {std::size_t{0x20}, std::size_t{60}, device_msg.size() - 260, device_msg.size() - 1}) {
    auto t = device_msg;
    t[at] ^= 0x01;
    auto r = OpenBcro(t, &reg, device_id_);
    ASSERT_FALSE(r.ok()) << at;
    EXPECT_EQ(r.error().code, LtkmError::kBadSignature) << at << ": " << r.error().message;
  }
  // Signed by the other PKI's RI while naming ours.
  auto foreign = WriteBcro(DeviceBcro(), ltk_, reg.k_dev.span(), OtherPki().ri_key.get());
  ASSERT_TRUE(foreign.ok());
  auto fb = ParseBcro(*foreign);
  ASSERT_TRUE(fb.ok());
  fb->ri_id = reg.ri_id;
  auto resigned_foreign = SignBcro(*fb, OtherPki().ri_key.get());
  ASSERT_TRUE(resigned_foreign.ok());
  EXPECT_EQ(OpenBcro(*resigned_foreign, &reg, device_id_).error().code, LtkmError::kBadSignature);

  // Well signed but wrapped with the wrong key: the group key of generation 1 for generation 3.
  auto wrong_key = WriteB(GroupBcro(9, 3), material_.groups[0].key.span());
  auto r = OpenBcro(wrong_key, &reg, device_id_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, LtkmError::kUnwrapFailed) << r.error().message;
  // Tampered wrapped key material, signed again.
  auto b = ParseBcro(device_msg);
  ASSERT_TRUE(b.ok());
  b->wrapped_key_material[17] ^= 0x20;
  auto tampered = SignBcro(*b, SharedPki().ri_key.get());
  ASSERT_TRUE(tampered.ok());
  EXPECT_EQ(OpenBcro(*tampered, &reg, device_id_).error().code, LtkmError::kUnwrapFailed);

  auto malformed = OpenBcro(std::span(device_msg).first(30), &reg, device_id_);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code, LtkmError::kMalformed);
  EXPECT_EQ(malformed.error().parse.field, "ro_id");
  EXPECT_EQ(LtkmErrorName(malformed.error().code), "malformed");
}

TEST_F(LtkmMessages, RekeyingReplacesTheDeviceKey) {
  RegistrationMaterial old_reg = Registered();
  auto old_bcro = WriteB(DeviceBcro(), old_reg.k_dev.span());
  material_.k_dev = RandomKey<16>();
  material_.timestamp += 10;
  RegistrationMaterial new_reg = Registered();
  EXPECT_GT(new_reg.timestamp, old_reg.timestamp);
  EXPECT_NE(V(new_reg.k_dev.span()), V(old_reg.k_dev.span()));
  EXPECT_EQ(OpenBcro(old_bcro, &new_reg, device_id_).error().code, LtkmError::kUnwrapFailed);
  auto new_bcro = WriteB(DeviceBcro(), new_reg.k_dev.span());
  EXPECT_TRUE(OpenBcro(new_bcro, &new_reg, device_id_).ok());
  EXPECT_TRUE(OpenBcro(old_bcro, &old_reg, device_id_).ok());
}

TEST_F(LtkmMessages, BcroTruncatedAtEveryByteNamesTheField) {
  RegistrationMaterial reg = Registered();
  for (const Bcro& b : {DeviceBcro(), GroupBcro()}) {
    auto msg = WriteB(b, reg.k_dev.span());
    auto parsed = ParseBcro(msg);
    ASSERT_TRUE(parsed.ok());
    Layout layout = BcroLayout(*parsed);
    for (std::size_t n = 0; n < msg.size(); ++n) {
      auto r = ParseBcro(std::span(msg).first(n));
      ASSERT_FALSE(r.ok()) << "cut at " << n;
      const Field& f = layout.At(n);
      EXPECT_EQ(r.error().field, f.name) << "mode " << int{b.address_mode} << " cut at " << n;
      EXPECT_EQ(r.error().offset, f.offset) << "cut at " << n;
    }
  }
}

TEST_F(LtkmMessages, BcroMalformedTable) {
  auto msg = WriteB(DeviceBcro(), material_.k_dev.span());
  const std::size_t ro_len_at = 22;
  const std::size_t cid_len_at = ro_len_at + 1 + 12 + 5 + 20 + 3;
  struct Case {
    const char* what;
    std::size_t at;
    std::uint8_t byte;
    const char* field;  // nullptr: any field, as long as it fails
    std::size_t offset;
  };
  const Case cases[] = {
      {"version 2", 0, 2, "bcro_version", 0},
      {"address_mode 2", 1, 2, "address_mode", 1},
      {"address_mode 255", 1, 255, "address_mode", 1},
      // Longer than it is: the fields after it no longer add up.
      {"ro_id_length lies", ro_len_at, 255, nullptr, 0},
      {"content_id_length lies", cid_len_at, 255, nullptr, 0},
      {"content_id_length 0", cid_len_at, 0, nullptr, 0},
      {"signature length too long", msg.size() - 258, 0x02, "signature", msg.size() - 256},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto t = msg;
    t[c.at] = c.byte;
    auto r = ParseBcro(t);
    ASSERT_FALSE(r.ok());
    EXPECT_LE(r.error().offset, t.size());
    if (c.field == nullptr) continue;
    EXPECT_EQ(r.error().field, c.field) << r.error().message;
    EXPECT_EQ(r.error().offset, c.offset) << r.error().message;
  }
  // A length running past the end of the message names its field at the field's offset.
  auto cut = std::vector<std::uint8_t>(msg.begin(), msg.begin() + cid_len_at + 10);
  cut[cid_len_at] = 200;
  auto r_cut = ParseBcro(cut);
  ASSERT_FALSE(r_cut.ok());
  EXPECT_EQ(r_cut.error().field, "content_id");
  EXPECT_EQ(r_cut.error().offset, cid_len_at + 1);
  // Group mode read as device mode: the lengths no longer add up.
  auto g = WriteB(GroupBcro(), material_.k_dev.span());
  g[1] = 0;
  EXPECT_FALSE(ParseBcro(g).ok());
  auto trailing = msg;
  trailing.push_back(0);
  auto r = ParseBcro(trailing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "signature");
  EXPECT_EQ(r.error().offset, msg.size());

  Bcro too_big = DeviceBcro();
  too_big.content_id.assign(256, 'x');
  EXPECT_TRUE(SerializeBcro(too_big).empty());
  too_big = DeviceBcro();
  too_big.key_domain_id = 0x1000000;
  EXPECT_TRUE(SerializeBcro(too_big).empty());
}

TEST(LtkmErrorNames, AreStable) {
  EXPECT_EQ(LtkmErrorName(LtkmError::kOtherDevice), "other-device");
  EXPECT_EQ(LtkmErrorName(LtkmError::kOtherGroup), "other-group");
  EXPECT_EQ(LtkmErrorName(LtkmError::kUnknownGeneration), "unknown-generation");
  EXPECT_EQ(LtkmErrorName(LtkmError::kUnknownRi), "unknown-ri");
  EXPECT_EQ(LtkmErrorName(LtkmError::kBadSignature), "bad-signature");
  EXPECT_EQ(LtkmErrorName(LtkmError::kBrokenChain), "broken-chain");
  EXPECT_EQ(LtkmErrorName(LtkmError::kUnwrapFailed), "unwrap-failed");
}

}  // namespace
}  // namespace spc
