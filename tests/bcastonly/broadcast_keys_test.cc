// spcd's broadcast-only key delivery in-process (BroadcastKeys on a real key store): the
// device_registration_response → BCRO path, every ignore reason counted, forged / broken /
// truncated messages leaving the key store byte-for-byte unchanged, re-keying and revocation;
// the SDP streams and the broadcast receiver on real loopback UDP.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "channels/broadcast_receiver.h"
#include "channels/session_description.h"
#include "spc/daemon/broadcast_keys.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/ltkm/bcro.h"
#include "spc/libspc/ltkm/drr.h"
#include "tests/ltkm/test_pki.h"

namespace {

using spc::daemon::BroadcastKeys;
using spc::daemon::DeviceIdentity;
using spc::store::KeyStore;
using spc::store::StoreError;
using spc::test::OtherPki;
using spc::test::SharedPki;

constexpr std::uint32_t kGroup = 7;
constexpr char kBase[] = "urn:openbcast:svc:test:";

std::time_t Now() { return std::time(nullptr); }

spc::Key128 Random16() {
  spc::Key128 k{};
  spc::RandomBytes(k);
  return k;
}

std::string DbPath() {
  static int n = 0;
  return spc::test::TempDir() + "/store-" + std::to_string(++n) + ".db";
}

DeviceIdentity Identity(int device) {
  const auto& pki = SharedPki();
  DeviceIdentity id;
  id.certificate = spc::ShareCertificate(pki.devices[device].get());
  id.private_key = spc::ShareKey(pki.device_keys[device].get());
  id.anchor_certificates.push_back(spc::ShareCertificate(pki.root.get()));
  id.anchors = spc::MakeTrustStore(id.anchor_certificates);
  id.device_id = spc::SpkiSha1(id.certificate.get());
  return id;
}

// The head-end side of one RI: registration material per device and the BCRO writer.
struct Ri {
  const spc::test::Pki& pki;
  spc::Key128 k_dev = Random16();
  spc::Key128 k_mac = Random16();
  std::map<std::uint16_t, spc::Key128> group_keys{{1, Random16()}};

  explicit Ri(const spc::test::Pki& p = SharedPki()) : pki(p) {}

  std::vector<std::uint8_t> Drr(int device, std::uint64_t ts, std::uint16_t generation = 1,
                                spc::DrrStatus status = spc::DrrStatus::kSuccess) {
    spc::RegistrationMaterial m;
    m.timestamp = ts;
    m.not_after = ts + 86400;
    m.k_mac.Assign(std::span<const std::uint8_t, 16>(k_mac));
    m.k_dev.Assign(std::span<const std::uint8_t, 16>(k_dev));
    for (const auto& c : pki.RiChain()) m.ri_certificates.push_back(spc::CertificateDer(c.get()));
    if (!group_keys.count(generation)) group_keys[generation] = Random16();
    spc::GroupKey g;
    g.group_id = kGroup;
    g.key_generation = generation;
    g.key.Assign(std::span<const std::uint8_t, 16>(group_keys[generation]));
    m.groups.push_back(std::move(g));
    auto pub = spc::CertificatePublicKey(SharedPki().devices[device].get());
    auto bytes = spc::WriteDrr(m, status, pub.get(), pki.ri_key.get());
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : std::vector<std::uint8_t>{};
  }

  std::vector<std::uint8_t> GroupBcro(std::uint32_t ext, const std::string& ro_id, std::uint64_t ts,
                                      std::uint16_t generation = 1, std::uint32_t group = kGroup,
                                      const spc::LongTermKey* key = nullptr) {
    spc::Bcro b;
    b.address_mode = 1;
    b.group_id = group;
    b.key_generation = generation;
    b.ro_id = ro_id;
    b.timestamp = ts;
    b.key_domain_id = 0x0a0b0c;
    b.content_id = spc::ContentId(kBase, ext);
    b.permissions = spc::kPermissionPlay;
    spc::LongTermKey k;
    if (key) {
      k = *key;
    } else {
      k.key_domain_id = 0x0a0b0c;
      k.encryption_key = Random16();
      k.authentication_key = Random16();
    }
    spc::Key128 wrap = group_keys.count(generation) ? group_keys[generation] : Random16();
    auto bytes = spc::WriteBcro(b, k, std::span<const std::uint8_t, 16>(wrap), pki.ri_key.get());
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : std::vector<std::uint8_t>{};
  }

  std::vector<std::uint8_t> DeviceBcro(const spc::Sha1Digest& device, std::uint32_t ext,
                                       const std::string& ro_id, std::uint64_t ts) {
    spc::Bcro b;
    b.address_mode = 0;
    b.device_id = device;
    b.ro_id = ro_id;
    b.timestamp = ts;
    b.key_domain_id = 0x0a0b0c;
    b.content_id = spc::ContentId(kBase, ext);
    b.permissions = spc::kPermissionPlay | spc::kPermissionRecord;
    spc::LongTermKey k;
    k.encryption_key = Random16();
    k.authentication_key = Random16();
    auto bytes = spc::WriteBcro(b, k, std::span<const std::uint8_t, 16>(k_dev), pki.ri_key.get());
    EXPECT_TRUE(bytes.ok());
    return bytes.ok() ? *bytes : std::vector<std::uint8_t>{};
  }
};

// Everything the store holds that a message could change, secrets included (compared, not
// printed).
std::string Snapshot(KeyStore& store) {
  StoreError err;
  std::string s;
  for (const auto& r : store.List(&err)) {
    s += r.content_id + "|" + spc::HexEncode(r.key.encryption_key) +
         spc::HexEncode(r.key.authentication_key) + "|" + r.ro_id + "|" +
         std::to_string(r.ro_timestamp) + "\n";
  }
  for (const auto& c : store.ListRiContexts(&err)) {
    auto reg = store.FindRegistration(c.ri_id, &err);
    s += c.ri_id + "|" + c.status + "|" + std::to_string(c.timestamp) + "|" +
         (reg && reg->has_device_keys ? spc::HexEncode(reg->k_dev) : "-") + "\n";
    if (reg) {
      for (const auto& g : reg->groups) {
        s += std::to_string(g.group_id) + "/" + std::to_string(g.key_generation) + "|" +
             spc::HexEncode(g.key) + "\n";
      }
    }
  }
  return s;
}

class BroadcastKeysTest : public testing::Test {
 protected:
  void SetUp() override {
    StoreError err;
    store_ = KeyStore::Open(DbPath(), &err);
    ASSERT_TRUE(store_) << err.message;
    identity_ = Identity(0);
    keys_ = std::make_unique<BroadcastKeys>(*store_, &identity_);
    keys_->on_rights_changed = [this](const std::vector<std::string>& ids) {
      changed_.insert(changed_.end(), ids.begin(), ids.end());
    };
  }
  std::uint64_t IgnoredBcro(const std::string& reason) {
    auto it = keys_->counters().bcros_ignored.find(reason);
    return it == keys_->counters().bcros_ignored.end() ? 0 : it->second;
  }
  std::uint64_t IgnoredDrr(const std::string& reason) {
    auto it = keys_->counters().drrs_ignored.find(reason);
    return it == keys_->counters().drrs_ignored.end() ? 0 : it->second;
  }

  std::unique_ptr<KeyStore> store_;
  DeviceIdentity identity_;
  std::unique_ptr<BroadcastKeys> keys_;
  std::vector<std::string> changed_;
  Ri ri_;
};

TEST_F(BroadcastKeysTest, RegistrationThenGroupAndDeviceBcrosInstallRights) {
  const std::uint64_t t = Now();
  auto o = keys_->ProcessDrr(ri_.Drr(0, t), Now());
  ASSERT_TRUE(o.accepted) << o.reason << ": " << o.message;
  o = keys_->ProcessBcro(ri_.GroupBcro(0x2a, "ro-1", t), Now());
  ASSERT_TRUE(o.accepted) << o.reason << ": " << o.message;
  o = keys_->ProcessBcro(ri_.DeviceBcro(identity_.device_id, 0x2b, "ro-2", t), Now());
  ASSERT_TRUE(o.accepted) << o.reason << ": " << o.message;
  StoreError err;
  auto r = store_->Find(spc::ContentId(kBase, 0x2a), &err);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->source, "bcro");
  EXPECT_EQ(r->ro_id, "ro-1");
  EXPECT_EQ(r->issuer, spc::HexEncode(spc::SpkiSha1(SharedPki().ri.get())));
  EXPECT_TRUE(r->play);
  EXPECT_FALSE(r->record);
  EXPECT_TRUE(store_->Find(spc::ContentId(kBase, 0x2b), &err)->record);
  EXPECT_EQ(changed_.size(), 2u);
  EXPECT_EQ(keys_->counters().bcros_installed, 2u);
  // Carousel repetitions: counted as repeats, nothing written.
  o = keys_->ProcessBcro(ri_.GroupBcro(0x2a, "ro-1", t), Now());
  EXPECT_FALSE(o.accepted);
  EXPECT_EQ(changed_.size(), 2u);
}

TEST_F(BroadcastKeysTest, BcroBeforeItsRegistrationIsInstalledWhenTheRegistrationArrives) {
  const std::uint64_t t = Now();
  auto o = keys_->ProcessBcro(ri_.GroupBcro(0x2a, "ro-1", t), Now());
  EXPECT_EQ(o.reason, "unknown-ri");
  EXPECT_EQ(IgnoredBcro("unknown-ri"), 1u);
  ASSERT_TRUE(keys_->ProcessDrr(ri_.Drr(0, t), Now()).accepted);
  StoreError err;
  EXPECT_TRUE(store_->Find(spc::ContentId(kBase, 0x2a), &err));
  EXPECT_EQ(keys_->counters().bcros_installed, 1u);
}

TEST_F(BroadcastKeysTest, IgnoredBcrosAreCountedByReasonAndChangeNothing) {
  const std::uint64_t t = Now();
  ASSERT_TRUE(keys_->ProcessDrr(ri_.Drr(0, t), Now()).accepted);
  ASSERT_TRUE(keys_->ProcessBcro(ri_.GroupBcro(0x2a, "ro-1", t), Now()).accepted);
  const std::string before = Snapshot(*store_);

  struct Case {
    std::vector<std::uint8_t> message;
    std::string reason;
  };
  const spc::Sha1Digest other_device = spc::SpkiSha1(SharedPki().devices[1].get());
  std::vector<Case> cases = {
      {ri_.DeviceBcro(other_device, 0x30, "ro-other-device", t), "other-device"},
      {ri_.GroupBcro(0x31, "ro-other-group", t, 1, kGroup + 1), "other-group"},
      {ri_.GroupBcro(0x32, "ro-unknown-gen", t, 9), "unknown-generation"},
      // The same RO ID as installed, older timestamp, other keys.
      {ri_.GroupBcro(0x2a, "ro-1", t - 10), "replayed-ro-id"},
      // An RI the device has no registration with.
      {Ri(OtherPki()).GroupBcro(0x33, "ro-unknown-ri", t), "unknown-ri"},
  };
  for (const Case& c : cases) {
    auto o = keys_->ProcessBcro(c.message, Now());
    EXPECT_FALSE(o.accepted) << c.reason;
    EXPECT_EQ(o.reason, c.reason) << o.message;
    EXPECT_EQ(IgnoredBcro(c.reason), 1u) << c.reason;
    EXPECT_EQ(Snapshot(*store_), before) << c.reason;
  }
  // Twice the same ignored message: counted twice.
  keys_->ProcessBcro(cases[0].message, Now());
  EXPECT_EQ(IgnoredBcro("other-device"), 2u);
  EXPECT_EQ(keys_->counters().bcros_installed, 1u);
}

TEST_F(BroadcastKeysTest, ForgedBrokenAndTruncatedMessagesHaveNamedErrorsAndChangeNothing) {
  const std::uint64_t t = Now();
  // The registration of this device arrives forged first: nothing may be stored.
  auto drr = ri_.Drr(0, t);
  auto forged = drr;
  forged[forged.size() - 5] ^= 0x40;  // inside the signature
  const std::string empty = Snapshot(*store_);
  EXPECT_EQ(keys_->ProcessDrr(forged, Now()).reason, "bad-signature");
  EXPECT_EQ(Snapshot(*store_), empty);
  // Signed by an RI that chains to another root.
  Ri other(OtherPki());
  EXPECT_EQ(keys_->ProcessDrr(other.Drr(0, t), Now()).reason, "broken-chain");
  EXPECT_EQ(Snapshot(*store_), empty);

  ASSERT_TRUE(keys_->ProcessDrr(drr, Now()).accepted);
  ASSERT_TRUE(keys_->ProcessBcro(ri_.GroupBcro(0x2a, "ro-1", t), Now()).accepted);
  const std::string before = Snapshot(*store_);

  auto bcro = ri_.GroupBcro(0x40, "ro-forged", t);
  auto bad = bcro;
  bad[bad.size() - 3] ^= 0x01;
  EXPECT_EQ(keys_->ProcessBcro(bad, Now()).reason, "bad-signature");
  // A signed byte changed (the content ID's last byte): the signature no longer covers it.
  bad = bcro;
  const std::string cid = spc::ContentId(kBase, 0x40);
  auto pos = std::search(bad.begin(), bad.end(), cid.begin(), cid.end());
  ASSERT_NE(pos, bad.end());
  *(pos + static_cast<std::ptrdiff_t>(cid.size()) - 1) ^= 0x01;
  EXPECT_EQ(keys_->ProcessBcro(bad, Now()).reason, "bad-signature");
  EXPECT_EQ(Snapshot(*store_), before);

  // Truncated at every byte: a named error (never accepted), and the store as it was.
  const auto newer_drr = ri_.Drr(0, t + 100, 2);
  for (std::size_t n = 0; n < newer_drr.size(); ++n) {
    auto o = keys_->ProcessDrr(std::span(newer_drr.data(), n), Now());
    ASSERT_FALSE(o.accepted) << n;
    ASSERT_EQ(o.reason, "malformed") << n << ": " << o.message;
    ASSERT_NE(o.message.find("field "), std::string::npos) << o.message;
  }
  for (std::size_t n = 0; n < bcro.size(); ++n) {
    auto o = keys_->ProcessBcro(std::span(bcro.data(), n), Now());
    ASSERT_FALSE(o.accepted) << n;
    ASSERT_EQ(o.reason, "malformed") << n << ": " << o.message;
  }
  EXPECT_EQ(Snapshot(*store_), before);
  EXPECT_EQ(IgnoredDrr("malformed"), newer_drr.size());
  EXPECT_EQ(IgnoredBcro("malformed"), bcro.size());
}

TEST_F(BroadcastKeysTest, NewerResponseReplacesOlderIsIgnoredRevokedRemovesEverything) {
  const std::uint64_t t = Now();
  ASSERT_TRUE(keys_->ProcessDrr(ri_.Drr(0, t, 1), Now()).accepted);
  ASSERT_TRUE(keys_->ProcessBcro(ri_.GroupBcro(0x2a, "ro-1", t), Now()).accepted);
  // Re-keying: generation 2 replaces 1; a BCRO of generation 1 is then of an unknown generation.
  ASSERT_TRUE(keys_->ProcessDrr(ri_.Drr(0, t + 10, 2), Now()).accepted);
  EXPECT_EQ(keys_->ProcessBcro(ri_.GroupBcro(0x2b, "ro-2", t, 1), Now()).reason,
            "unknown-generation");
  EXPECT_TRUE(keys_->ProcessBcro(ri_.GroupBcro(0x2b, "ro-3", t + 10, 2), Now()).accepted);
  // An older response (generation 1 again) is ignored.
  const std::string before = Snapshot(*store_);
  EXPECT_EQ(keys_->ProcessDrr(ri_.Drr(0, t + 5, 1), Now()).reason, "older-response");
  EXPECT_EQ(Snapshot(*store_), before);
  // Revoked: the registration, its keys and its rights go; the context says why.
  changed_.clear();
  auto o = keys_->ProcessDrr(ri_.Drr(0, t + 20, 2, spc::DrrStatus::kDeviceRevoked), Now());
  ASSERT_TRUE(o.accepted) << o.message;
  EXPECT_EQ(o.reason, "withdrawn");
  StoreError err;
  EXPECT_TRUE(store_->List(&err).empty());
  EXPECT_EQ(changed_.size(), 2u);
  const std::string ri_id = spc::HexEncode(spc::SpkiSha1(SharedPki().ri.get()));
  auto reg = store_->FindRegistration(ri_id, &err);
  ASSERT_TRUE(reg);
  EXPECT_EQ(reg->context.status, "revoked");
  EXPECT_FALSE(reg->has_device_keys);
  EXPECT_TRUE(reg->groups.empty());
  EXPECT_NE(keys_->WithdrawalNote().find("revoked"), std::string::npos);
  EXPECT_EQ(keys_->counters().registrations_withdrawn, 1u);
  // BCROs of that RI are now refused, and an older success response cannot undo the revocation.
  EXPECT_EQ(keys_->ProcessBcro(ri_.GroupBcro(0x2c, "ro-4", t + 30, 2), Now()).reason, "unknown-ri");
  EXPECT_EQ(keys_->ProcessDrr(ri_.Drr(0, t + 10, 2), Now()).reason, "older-response");
  EXPECT_TRUE(store_->List(&err).empty());
}

TEST_F(BroadcastKeysTest, ResponsesForOtherDevicesAndWithoutIdentity) {
  EXPECT_EQ(keys_->ProcessDrr(ri_.Drr(1, Now()), Now()).reason, "other-device");
  BroadcastKeys none(*store_, nullptr);
  EXPECT_EQ(none.ProcessDrr(ri_.Drr(0, Now()), Now()).reason, "no-device-identity");
  EXPECT_TRUE(Snapshot(*store_).empty());
}

TEST(SessionDescriptionLtkm, ParsesAndWritesRegistrationBcroAndTriggerStreams) {
  const std::string text =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n"
      "m=application 4358 UDP vnd.oma.bcast.registration\r\nc=IN IP4 239.1.2.3/4\r\n"
      "m=application 4359 UDP vnd.oma.bcast.bcro\r\nc=IN IP4 127.0.0.1\r\n"
      "m=application 4360 UDP vnd.oma.drm.roap-trigger\r\nc=IN IP4 127.0.0.1\r\n"
      "m=application 4361 UDP vnd.example.other\r\nc=IN IP4 127.0.0.1\r\n";
  auto sd = channels::ParseSessionDescription(text);
  ASSERT_TRUE(sd) << sd.error().message;
  ASSERT_EQ(sd->ltkm_streams.size(), 3u);
  EXPECT_EQ(sd->ltkm_streams[0].kind, channels::LtkmStreamKind::kRegistration);
  EXPECT_EQ(sd->ltkm_streams[0].address, "239.1.2.3");
  EXPECT_EQ(sd->ltkm_streams[0].ttl, 4);
  EXPECT_EQ(sd->ltkm_streams[1].kind, channels::LtkmStreamKind::kBcro);
  EXPECT_EQ(sd->ltkm_streams[1].port, channels::kDefaultBcroPort);
  EXPECT_EQ(sd->ltkm_streams[2].kind, channels::LtkmStreamKind::kTrigger);
  auto again = channels::ParseSessionDescription(channels::WriteSessionDescription(*sd));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->ltkm_streams, sd->ltkm_streams);

  auto bad = channels::ParseSessionDescription(
      "v=0\r\ns=x\r\nt=0 0\r\nm=application 4359 RTP/AVP vnd.oma.bcast.bcro\r\nc=IN IP4 "
      "127.0.0.1\r\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "m=");
  EXPECT_EQ(bad.error().offset, 4u);
}

TEST(BroadcastReceiver, DeliversLoopbackDatagramsToEveryListenerOfAnEndpoint) {
  g_autoptr(GMainContext) ctx = g_main_context_new();
  channels::BroadcastReceiver receiver(ctx);
  std::vector<std::string> a, b;
  auto first = receiver.Listen(
      "127.0.0.1", 0, [&](std::span<const std::uint8_t> d) { a.emplace_back(d.begin(), d.end()); });
  ASSERT_TRUE(first) << first.error();
  const std::uint16_t port = receiver.LocalPort(*first);
  ASSERT_NE(port, 0);
  auto second = receiver.Listen("127.0.0.1", port, [&](std::span<const std::uint8_t> d) {
    b.emplace_back(d.begin(), d.end());
  });
  ASSERT_TRUE(second) << second.error();
  EXPECT_FALSE(receiver.Listen("not-an-address", 1, [](auto) {}));

  g_autoptr(GSocket) tx =
      g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_UDP, nullptr);
  g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) to = g_inet_socket_address_new(lo, port);
  for (const char* m : {"one", "two", "three"}) {
    ASSERT_GT(g_socket_send_to(tx, to, m, std::strlen(m), nullptr, nullptr), 0);
  }
  const gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while ((a.size() < 3 || b.size() < 3) && g_get_monotonic_time() < deadline) {
    g_main_context_iteration(ctx, TRUE);
  }
  EXPECT_EQ(a, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(b, a);
  EXPECT_EQ(receiver.datagrams(), 3u);
  receiver.Stop(*first);
  receiver.Stop(*second);
}

}  // namespace
