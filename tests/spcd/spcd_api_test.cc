// org.openbcast.SPC1 through a private bus and the real spcd process: every method, every error,
// the replay / validity / record / parental checks, the signals, the key store file mode.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "spcd_test_util.h"

namespace spcd_test {
namespace {

struct VariantUnref {
  void operator()(GVariant* v) const {
    if (v) g_variant_unref(v);
  }
};
using VariantPtr = std::unique_ptr<GVariant, VariantUnref>;

VariantPtr Call(GDBusConnection* c, const char* method, GVariant* params, GError** err) {
  return VariantPtr(g_dbus_connection_call_sync(c, kName, kPath, kIface, method, params, nullptr,
                                                G_DBUS_CALL_FLAGS_NONE, 10000, nullptr, err));
}

std::string ErrorName(GError* err) {
  if (!err) return "";
  g_autofree gchar* n = g_dbus_error_get_remote_error(err);
  return n ? n : std::string("(local) ") + err->message;
}

GVariant* StkmArgs(const std::vector<std::uint8_t>& stkm, const std::string& base,
                   const char* purpose = nullptr) {
  GVariant* bytes = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, stkm.data(), stkm.size(), 1);
  if (purpose) return g_variant_new("(@ayss)", bytes, base.c_str(), purpose);
  return g_variant_new("(@ays)", bytes, base.c_str());
}

struct Tek {
  guint16 id = 0, lifetime = 0, next_id = 0;
  guint8 protocol = 0;
  bool authenticated = false, has_next = false;
  std::vector<std::uint8_t> tek, salt, next_tek, next_salt;
  std::string content_id;
};

std::vector<std::uint8_t> Bytes(GVariant* v) {
  gsize n = 0;
  const auto* p = static_cast<const std::uint8_t*>(g_variant_get_fixed_array(v, &n, 1));
  return std::vector<std::uint8_t>(p, p + n);
}

Tek Parse(GVariant* reply) {
  Tek t;
  GVariant *tek, *salt, *next_tek, *next_salt;
  const gchar* cid = nullptr;
  gboolean auth, has_next;
  g_variant_get(reply, "(q@ay@ayqybbq@ay@ay&s)", &t.id, &tek, &salt, &t.lifetime, &t.protocol,
                &auth, &has_next, &t.next_id, &next_tek, &next_salt, &cid);
  t.authenticated = auth;
  t.has_next = has_next;
  t.tek = Bytes(tek);
  t.salt = Bytes(salt);
  t.next_tek = Bytes(next_tek);
  t.next_salt = Bytes(next_salt);
  t.content_id = cid;
  for (GVariant* v : {tek, salt, next_tek, next_salt}) g_variant_unref(v);
  return t;
}

// Collects RightsChanged / RightsMissing from the default main context.
class Signals {
 public:
  explicit Signals(GDBusConnection* c) : conn_(c) {
    id_ = g_dbus_connection_signal_subscribe(
        c, nullptr, kIface, nullptr, kPath, nullptr, G_DBUS_SIGNAL_FLAGS_NONE,
        [](GDBusConnection*, const gchar*, const gchar*, const gchar*, const gchar* name,
           GVariant* params, gpointer p) {
          auto* self = static_cast<Signals*>(p);
          g_autofree gchar* text = g_variant_print(params, FALSE);
          self->received.push_back(std::string(name) + " " + text);
        },
        this, nullptr);
  }
  ~Signals() { g_dbus_connection_signal_unsubscribe(conn_, id_); }
  // Iterates the default context until a signal starting with `prefix` arrived.
  bool WaitFor(const std::string& prefix, int timeout_ms = 10000) {
    bool timed_out = false;
    guint t = g_timeout_add(
        timeout_ms,
        [](gpointer p) {
          *static_cast<bool*>(p) = true;
          return G_SOURCE_REMOVE;
        },
        &timed_out);
    auto found = [&] {
      for (const auto& s : received) {
        if (s.rfind(prefix, 0) == 0) return true;
      }
      return false;
    };
    while (!found() && !timed_out) g_main_context_iteration(nullptr, TRUE);
    if (!timed_out) g_source_remove(t);
    return found();
  }
  std::vector<std::string> received;

 private:
  GDBusConnection* conn_;
  guint id_ = 0;
};

class SpcdApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    bus_ = std::make_unique<PrivateBus>(dir_.path());
    ASSERT_TRUE(bus_->ok());
    StartSpcd({});
  }
  void StartSpcd(std::vector<std::string> args) {
    spcd_ = std::make_unique<Spcd>(*bus_, store(), dir_.File("spcd.log"), std::move(args));
    ASSERT_TRUE(spcd_->Start());
  }
  std::string store() const { return dir_.File("spc.db"); }
  GDBusConnection* c() const { return bus_->conn(); }

  void Import(const std::string& text, guint expected) {
    g_autoptr(GError) err = nullptr;
    auto r = Call(c(), "ImportKeys", g_variant_new("(s)", text.c_str()), &err);
    ASSERT_TRUE(r) << ErrorName(err);
    guint n = 0;
    g_variant_get(r.get(), "(u)", &n);
    EXPECT_EQ(n, expected);
  }

  // ProcessStkm (purpose nullptr) or ProcessStkmFor; returns the error name or "" and fills tek.
  std::string Process(const std::vector<std::uint8_t>& stkm, const std::string& base,
                      const char* purpose = nullptr, Tek* tek = nullptr,
                      std::string* message = nullptr) {
    g_autoptr(GError) err = nullptr;
    auto r =
        Call(c(), purpose ? "ProcessStkmFor" : "ProcessStkm", StkmArgs(stkm, base, purpose), &err);
    if (!r) {
      std::string name = ErrorName(err);
      if (message) {
        g_dbus_error_strip_remote_error(err);
        *message = err->message;
      }
      return name;
    }
    if (tek) *tek = Parse(r.get());
    return "";
  }

  std::map<std::string, VariantPtr> Status() {
    g_autoptr(GError) err = nullptr;
    auto r = Call(c(), "Status", nullptr, &err);
    EXPECT_TRUE(r) << ErrorName(err);
    std::map<std::string, VariantPtr> m;
    if (!r) return m;
    GVariantIter* it = nullptr;
    g_variant_get(r.get(), "(a{sv})", &it);
    const gchar* k;
    GVariant* v;
    while (g_variant_iter_next(it, "{&sv}", &k, &v)) m[k] = VariantPtr(v);
    g_variant_iter_free(it);
    return m;
  }
  guint64 Counter(const char* name) {
    auto m = Status();
    return m.count(name) ? g_variant_get_uint64(m[name].get()) : ~0ull;
  }

  TempDir dir_;
  std::unique_ptr<PrivateBus> bus_;
  std::unique_ptr<Spcd> spcd_;
};

TEST_F(SpcdApiTest, StatusOfAnEmptyStore) {
  auto m = Status();
  ASSERT_TRUE(m.count("version"));
  EXPECT_STREQ(g_variant_get_string(m["version"].get(), nullptr), "0.1.0");
  EXPECT_EQ(g_variant_get_string(m["key-store"].get(), nullptr), store());
  EXPECT_EQ(g_variant_get_uint32(m["schema-version"].get()), 2u);  // key store v2
  EXPECT_EQ(g_variant_get_uint32(m["rights"].get()), 0u);
  EXPECT_EQ(g_variant_get_byte(m["parental-rating"].get()), 255);
  EXPECT_EQ(g_variant_get_uint32(m["replay-tolerance"].get()), 60u);
  for (const char* k : {"stkms-processed", "stkms-cached", "stkms-rejected", "stkms-bad-mac"}) {
    ASSERT_TRUE(m.count(k)) << k;
    EXPECT_EQ(g_variant_get_uint64(m[k].get()), 0u) << k;
  }
}

TEST_F(SpcdApiTest, ImportKeysListRightsAndRightsChanged) {
  Signals sig(c());
  ServiceKeys svc = RandomKeys(0x2a);
  ServiceKeys prg = RandomKeys(0x8000002b, true);
  Import(KeyFileGroup(svc,
                      {"not-before=2020-01-01T00:00:00Z", "not-after=4102444800", "record=false"}) +
             KeyFileGroup(prg),
         2);
  ASSERT_TRUE(sig.WaitFor("RightsChanged"));
  EXPECT_NE(sig.received.back().find(svc.content_id()), std::string::npos);
  EXPECT_NE(sig.received.back().find(prg.content_id()), std::string::npos);

  g_autoptr(GError) err = nullptr;
  auto r = Call(c(), "ListRights", nullptr, &err);
  ASSERT_TRUE(r) << ErrorName(err);
  g_autofree gchar* text = g_variant_print(r.get(), TRUE);
  // Never key bytes.
  for (const auto* k : {&svc.sek, &svc.sak, &prg.sek, &prg.sak}) {
    EXPECT_EQ(std::string(text).find(Hex(*k)), std::string::npos);
  }
  GVariantIter* it = nullptr;
  g_variant_get(r.get(), "(a(susxxbbs))", &it);
  const gchar *cid, *kind, *source;
  guint32 domain;
  gint64 nb, na;
  gboolean play, record;
  int rows = 0;
  while (g_variant_iter_next(it, "(&su&sxxbb&s)", &cid, &domain, &kind, &nb, &na, &play, &record,
                             &source)) {
    ++rows;
    EXPECT_EQ(domain, 0x0a0b0cu);
    EXPECT_STREQ(source, "import");
    EXPECT_TRUE(play);
    if (svc.content_id() == cid) {
      EXPECT_STREQ(kind, "service");
      EXPECT_EQ(nb, 1577836800);
      EXPECT_EQ(na, 4102444800);
      EXPECT_FALSE(record);
    } else {
      EXPECT_EQ(prg.content_id(), cid);
      EXPECT_STREQ(kind, "programme");
      EXPECT_EQ(nb, 0);
      EXPECT_EQ(na, 0);
      EXPECT_TRUE(record);
    }
  }
  g_variant_iter_free(it);
  EXPECT_EQ(rows, 2);
  EXPECT_EQ(g_variant_get_uint32(Status()["rights"].get()), 2u);
}

TEST_F(SpcdApiTest, InvalidKeyFileImportsNothing) {
  ServiceKeys good = RandomKeys(1);
  // The second group has a 15-byte SEK: the whole file is refused, the good group too.
  std::string bad =
      "[urn:x:00000002]\nkey-domain=0a0b0c\nsek=000102030405060708090a0b0c0d0e\n"
      "sak=101112131415161718191a1b1c1d1e1f\n";
  g_autoptr(GError) err = nullptr;
  auto r = Call(c(), "ImportKeys", g_variant_new("(s)", (KeyFileGroup(good) + bad).c_str()), &err);
  EXPECT_FALSE(r);
  EXPECT_EQ(ErrorName(err), "org.openbcast.SPC1.Error.InvalidKeyFile");
  g_clear_error(&err);
  r = Call(c(), "ImportKeys",
           g_variant_new("(s)", KeyFileGroup(good, {"not-after=yesterday"}).c_str()), &err);
  EXPECT_EQ(ErrorName(err), "org.openbcast.SPC1.Error.InvalidKeyFile");
  g_clear_error(&err);
  r = Call(c(), "ImportKeys", g_variant_new("(s)", "not a key file"), &err);
  EXPECT_EQ(ErrorName(err), "org.openbcast.SPC1.Error.InvalidKeyFile");
  EXPECT_EQ(g_variant_get_uint32(Status()["rights"].get()), 0u);
}

TEST_F(SpcdApiTest, ProcessStkmReturnsTekSaltAndNextTek) {
  ServiceKeys k = RandomKeys(0x2a);
  Import(KeyFileGroup(k), 1);
  StkmSpec spec;
  spec.tek_id = 0x0102;
  spec.tek = RandomKey();
  spec.timestamp = Now();
  spc::MasterSalt salt;
  for (std::size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<std::uint8_t>(0x40 + i);
  spec.salt = salt;
  spec.next_id = 0x0103;
  spec.next_tek = RandomKey();
  spec.lifetime = 45;
  spec.protocol = 2;
  auto stkm = MakeStkm(k, spec);
  ASSERT_FALSE(stkm.empty());
  Tek t;
  ASSERT_EQ(Process(stkm, k.base_cid, nullptr, &t), "");
  EXPECT_EQ(t.id, 0x0102);
  EXPECT_EQ(t.tek, std::vector<std::uint8_t>(spec.tek.begin(), spec.tek.end()));
  EXPECT_EQ(t.salt, std::vector<std::uint8_t>(salt.begin(), salt.end()));
  EXPECT_EQ(t.lifetime, 45);
  EXPECT_EQ(t.protocol, 2);
  EXPECT_TRUE(t.authenticated);
  EXPECT_TRUE(t.has_next);
  EXPECT_EQ(t.next_id, 0x0103);
  EXPECT_EQ(t.next_tek, std::vector<std::uint8_t>(spec.next_tek.begin(), spec.next_tek.end()));
  EXPECT_EQ(t.next_salt, std::vector<std::uint8_t>(salt.begin(), salt.end()));
  EXPECT_EQ(t.content_id, k.content_id());

  // Without salt or next TEK: zero salt, has_next false.
  StkmSpec plain;
  plain.tek = RandomKey();
  ASSERT_EQ(Process(MakeStkm(k, plain), k.base_cid, "play", &t), "");
  EXPECT_EQ(t.tek, std::vector<std::uint8_t>(plain.tek.begin(), plain.tek.end()));
  EXPECT_EQ(t.salt, std::vector<std::uint8_t>(14, 0));
  EXPECT_FALSE(t.has_next);
  EXPECT_EQ(t.next_tek, std::vector<std::uint8_t>(16, 0));
}

TEST_F(SpcdApiTest, ProgrammeKeys) {
  ServiceKeys k = RandomKeys(0x8000002b, true);
  Import(KeyFileGroup(k), 1);
  StkmSpec spec;
  spec.tek = RandomKey();
  Tek t;
  ASSERT_EQ(Process(MakeStkm(k, spec), k.base_cid, nullptr, &t), "");
  EXPECT_EQ(t.tek, std::vector<std::uint8_t>(spec.tek.begin(), spec.tek.end()));
  EXPECT_EQ(t.content_id, k.content_id());
}

TEST_F(SpcdApiTest, RepeatedStkmIsAnsweredFromTheCache) {
  ServiceKeys k = RandomKeys(0x2a);
  Import(KeyFileGroup(k), 1);
  StkmSpec spec;
  spec.tek = RandomKey();
  spec.timestamp = Now();
  auto stkm = MakeStkm(k, spec);
  Tek a, b;
  ASSERT_EQ(Process(stkm, k.base_cid, nullptr, &a), "");
  EXPECT_EQ(Counter("stkms-cached"), 0u);
  ASSERT_EQ(Process(stkm, k.base_cid, nullptr, &b), "");
  ASSERT_EQ(Process(stkm, k.base_cid, nullptr, &b), "");
  EXPECT_EQ(Counter("stkms-cached"), 2u);
  EXPECT_EQ(Counter("stkms-processed"), 3u);
  EXPECT_EQ(a.tek, b.tek);
  EXPECT_EQ(a.id, b.id);
}

TEST_F(SpcdApiTest, MalformedStkmNamesFieldAndOffset) {
  ServiceKeys k = RandomKeys(0x2a);
  Import(KeyFileGroup(k), 1);
  std::string msg;
  EXPECT_EQ(Process({0x10, 0x00}, k.base_cid, nullptr, nullptr, &msg),
            "org.openbcast.SPC1.Error.Malformed");
  EXPECT_NE(msg.find("field"), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset"), std::string::npos) << msg;
  StkmSpec spec;
  auto stkm = MakeStkm(k, spec);
  stkm.pop_back();  // one byte short
  stkm.erase(stkm.begin() + 10);
  EXPECT_EQ(Process(stkm, k.base_cid), "org.openbcast.SPC1.Error.Malformed");
  EXPECT_EQ(Counter("stkms-rejected"), 2u);
}

TEST_F(SpcdApiTest, NoRightsEmitsRightsMissing) {
  Signals sig(c());
  ServiceKeys k = RandomKeys(0x77);
  std::string msg;
  EXPECT_EQ(Process(MakeStkm(k, StkmSpec{}), k.base_cid, nullptr, nullptr, &msg),
            "org.openbcast.SPC1.Error.NoRights");
  EXPECT_NE(msg.find(k.content_id()), std::string::npos) << msg;
  ASSERT_TRUE(sig.WaitFor("RightsMissing"));
  EXPECT_NE(sig.received.back().find(k.content_id()), std::string::npos);

  // Rights of another key domain are not these rights.
  ServiceKeys other = k;
  other.key_domain = 0x010203;
  Import(KeyFileGroup(other), 1);
  EXPECT_EQ(Process(MakeStkm(k, StkmSpec{}), k.base_cid), "org.openbcast.SPC1.Error.NoRights");
  // Another base CID names other rights.
  EXPECT_EQ(Process(MakeStkm(other, StkmSpec{}), "urn:other:"),
            "org.openbcast.SPC1.Error.NoRights");
  EXPECT_EQ(Process(MakeStkm(other, StkmSpec{}), other.base_cid), "");
}

TEST_F(SpcdApiTest, BadMacIsRejectedAndCounted) {
  ServiceKeys k = RandomKeys(0x2a);
  Import(KeyFileGroup(k), 1);
  spc::Key128 wrong = RandomKey();
  EXPECT_EQ(Process(MakeStkm(k, StkmSpec{}, &wrong), k.base_cid),
            "org.openbcast.SPC1.Error.BadMac");
  auto stkm = MakeStkm(k, StkmSpec{});
  stkm[stkm.size() - 20] ^= 0x01;  // a flipped bit in the encrypted TEK
  EXPECT_EQ(Process(stkm, k.base_cid), "org.openbcast.SPC1.Error.BadMac");
  EXPECT_EQ(Counter("stkms-bad-mac"), 2u);
  EXPECT_EQ(Counter("stkms-rejected"), 2u);
}

TEST_F(SpcdApiTest, ReplayedStkmIsRefusedAlsoAfterRestart) {
  ServiceKeys k = RandomKeys(0x2a);
  Import(KeyFileGroup(k), 1);
  std::int64_t now = Now();
  StkmSpec fresh;
  fresh.tek = RandomKey();
  fresh.timestamp = now;
  ASSERT_EQ(Process(MakeStkm(k, fresh), k.base_cid), "");
  StkmSpec within = fresh;
  within.timestamp = now - 30;  // inside the 60 s tolerance
  EXPECT_EQ(Process(MakeStkm(k, within), k.base_cid), "");
  StkmSpec old = fresh;
  old.timestamp = now - 61;
  std::string msg;
  EXPECT_EQ(Process(MakeStkm(k, old), k.base_cid, nullptr, nullptr, &msg),
            "org.openbcast.SPC1.Error.Replay");
  EXPECT_NE(msg.find(k.content_id()), std::string::npos);

  // The newest timestamp is persisted: a restarted spcd still refuses the replay.
  ASSERT_TRUE(spcd_->Stop());
  StartSpcd({});
  EXPECT_EQ(Process(MakeStkm(k, old), k.base_cid), "org.openbcast.SPC1.Error.Replay");
  EXPECT_EQ(Process(MakeStkm(k, within), k.base_cid), "");

  // A cached answer is refused too once newer STKMs moved the window past it.
  auto first = MakeStkm(k, fresh);
  ASSERT_EQ(Process(first, k.base_cid), "");
  StkmSpec later = fresh;
  later.timestamp = now + 100;
  ASSERT_EQ(Process(MakeStkm(k, later), k.base_cid), "");
  EXPECT_EQ(Process(first, k.base_cid), "org.openbcast.SPC1.Error.Replay");
}

TEST_F(SpcdApiTest, ReplayToleranceOption) {
  ASSERT_TRUE(spcd_->Stop());
  StartSpcd({"--replay-tolerance", "5"});
  ServiceKeys k = RandomKeys(0x2a);
  Import(KeyFileGroup(k), 1);
  StkmSpec s;
  s.timestamp = Now();
  ASSERT_EQ(Process(MakeStkm(k, s), k.base_cid), "");
  s.timestamp = *s.timestamp - 6;
  EXPECT_EQ(Process(MakeStkm(k, s), k.base_cid), "org.openbcast.SPC1.Error.Replay");
  EXPECT_EQ(g_variant_get_uint32(Status()["replay-tolerance"].get()), 5u);
}

TEST_F(SpcdApiTest, OutsideTheRightsValidity) {
  std::int64_t now = Now();
  ServiceKeys expired = RandomKeys(1);
  ServiceKeys future = RandomKeys(2);
  ServiceKeys window = RandomKeys(3);
  Import(KeyFileGroup(expired, {"not-after=" + std::to_string(now - 3600)}) +
             KeyFileGroup(future, {"not-before=" + std::to_string(now + 3600)}) +
             KeyFileGroup(window, {"not-before=" + std::to_string(now - 3600),
                                   "not-after=" + std::to_string(now + 3600)}),
         3);
  std::string msg;
  EXPECT_EQ(Process(MakeStkm(expired, StkmSpec{}), expired.base_cid, nullptr, nullptr, &msg),
            "org.openbcast.SPC1.Error.Expired");
  EXPECT_NE(msg.find("expired"), std::string::npos) << msg;
  EXPECT_EQ(Process(MakeStkm(future, StkmSpec{}), future.base_cid),
            "org.openbcast.SPC1.Error.NotPermitted");
  StkmSpec s;
  s.timestamp = now;
  EXPECT_EQ(Process(MakeStkm(window, s), window.base_cid), "");
  // STKM timestamps outside the window (a recording made before, a forged future one).
  s.timestamp = now + 7200;
  EXPECT_EQ(Process(MakeStkm(window, s), window.base_cid), "org.openbcast.SPC1.Error.Expired");
  ServiceKeys w2 = RandomKeys(4);
  Import(KeyFileGroup(w2, {"not-before=" + std::to_string(now - 3600)}), 1);
  s.timestamp = now - 7200;
  EXPECT_EQ(Process(MakeStkm(w2, s), w2.base_cid), "org.openbcast.SPC1.Error.NotPermitted");
}

// Clients keep TEK answers until RightsChanged (spc/client/answer_cache.h): spcd emits it when
// rights it answered with run out, and refuses the same STKM from then on.
TEST_F(SpcdApiTest, RightsChangedWhenAnsweredRightsRunOut) {
  Signals sig(c());
  ServiceKeys k = RandomKeys(5);
  const std::int64_t end = Now() + 2;
  Import(KeyFileGroup(k, {"not-after=" + std::to_string(end)}), 1);
  ASSERT_TRUE(sig.WaitFor("RightsChanged"));
  sig.received.clear();
  const auto stkm = MakeStkm(k, StkmSpec{});
  ASSERT_EQ(Process(stkm, k.base_cid), "");
  ASSERT_EQ(Process(stkm, k.base_cid), "");  // a repeat, from spcd's cache
  ASSERT_TRUE(sig.WaitFor("RightsChanged", 20000)) << "no RightsChanged when the rights ran out";
  EXPECT_NE(sig.received.back().find(k.content_id()), std::string::npos) << sig.received.back();
  EXPECT_GT(Now(), end);
  EXPECT_EQ(Process(stkm, k.base_cid), "org.openbcast.SPC1.Error.Expired");
}

TEST_F(SpcdApiTest, RecordPermission) {
  ServiceKeys norec = RandomKeys(1);
  ServiceKeys rec = RandomKeys(2);
  ServiceKeys noplay = RandomKeys(3);
  Import(KeyFileGroup(norec, {"record=false"}) + KeyFileGroup(rec, {"record=true"}) +
             KeyFileGroup(noplay, {"play=false"}),
         3);
  std::string msg;
  EXPECT_EQ(Process(MakeStkm(norec, StkmSpec{}), norec.base_cid, "play"), "");
  EXPECT_EQ(Process(MakeStkm(norec, StkmSpec{}), norec.base_cid, "record", nullptr, &msg),
            "org.openbcast.SPC1.Error.NotPermitted");
  EXPECT_NE(msg.find("record"), std::string::npos) << msg;
  EXPECT_EQ(Process(MakeStkm(rec, StkmSpec{}), rec.base_cid, "record"), "");
  StkmSpec spo;  // service protection only: no recording whatever the rights say
  spo.protection_after_reception = 3;
  EXPECT_EQ(Process(MakeStkm(rec, spo), rec.base_cid, "record", nullptr, &msg),
            "org.openbcast.SPC1.Error.NotPermitted");
  EXPECT_NE(msg.find("protection_after_reception"), std::string::npos) << msg;
  EXPECT_EQ(Process(MakeStkm(rec, spo), rec.base_cid, "play"), "");
  StkmSpec cp;
  cp.protection_after_reception = 2;
  EXPECT_EQ(Process(MakeStkm(rec, cp), rec.base_cid, "record"), "");
  EXPECT_EQ(Process(MakeStkm(noplay, StkmSpec{}), noplay.base_cid),
            "org.openbcast.SPC1.Error.NotPermitted");
}

TEST_F(SpcdApiTest, ParentalRating) {
  ASSERT_TRUE(spcd_->Stop());
  StartSpcd({"--parental-rating", "12"});
  ServiceKeys k = RandomKeys(1);
  Import(KeyFileGroup(k), 1);
  StkmSpec adult;
  adult.parental_rating = 16;
  std::string msg;
  EXPECT_EQ(Process(MakeStkm(k, adult), k.base_cid, nullptr, nullptr, &msg),
            "org.openbcast.SPC1.Error.NotPermitted");
  EXPECT_NE(msg.find("parental rating 16"), std::string::npos) << msg;
  StkmSpec teen;
  teen.parental_rating = 12;
  EXPECT_EQ(Process(MakeStkm(k, teen), k.base_cid), "");
  EXPECT_EQ(g_variant_get_byte(Status()["parental-rating"].get()), 12);

  g_autoptr(GError) err = nullptr;
  ASSERT_TRUE(Call(c(), "SetParentalRating", g_variant_new("(y)", 18), &err)) << ErrorName(err);
  EXPECT_EQ(g_variant_get_byte(Status()["parental-rating"].get()), 18);
  EXPECT_EQ(Process(MakeStkm(k, adult), k.base_cid), "");
  ASSERT_TRUE(Call(c(), "SetParentalRating", g_variant_new("(y)", 0), &err)) << ErrorName(err);
  // The earlier answer is cached, but the setting changed: refused now.
  EXPECT_EQ(Process(MakeStkm(k, adult), k.base_cid), "org.openbcast.SPC1.Error.NotPermitted");
}

TEST_F(SpcdApiTest, InvalidPurpose) {
  ServiceKeys k = RandomKeys(1);
  Import(KeyFileGroup(k), 1);
  EXPECT_EQ(Process(MakeStkm(k, StkmSpec{}), k.base_cid, "copy"),
            "org.openbcast.SPC1.Error.InvalidArgs");
}

TEST_F(SpcdApiTest, IntrospectionMatchesTheInterface) {
  g_autoptr(GError) err = nullptr;
  VariantPtr r(g_dbus_connection_call_sync(c(), kName, kPath, "org.freedesktop.DBus.Introspectable",
                                           "Introspect", nullptr, G_VARIANT_TYPE("(s)"),
                                           G_DBUS_CALL_FLAGS_NONE, 10000, nullptr, &err));
  ASSERT_TRUE(r) << ErrorName(err);
  const gchar* xml = nullptr;
  g_variant_get(r.get(), "(&s)", &xml);
  for (const char* m : {"ProcessStkm", "ProcessStkmFor", "ImportKeys", "Status", "ListRights",
                        "SetParentalRating", "RightsChanged", "RightsMissing"}) {
    EXPECT_NE(std::strstr(xml, m), nullptr) << m;
  }
}

TEST_F(SpcdApiTest, KeyStoreIsMode0600) {
  ServiceKeys k = RandomKeys(1);
  Import(KeyFileGroup(k), 1);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    struct stat st {};
    ASSERT_EQ(::stat((store() + suffix).c_str(), &st), 0) << suffix;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << suffix;
  }
}

TEST_F(SpcdApiTest, KeyStoreIsMode0600EvenWithAnOpenUmask) {
  ASSERT_TRUE(spcd_->Stop());
  ::unlink(store().c_str());
  ::unlink((store() + "-wal").c_str());
  ::unlink((store() + "-shm").c_str());
  mode_t old = ::umask(0);
  StartSpcd({});
  ::umask(old);
  Import(KeyFileGroup(RandomKeys(1)), 1);
  struct stat st {};
  ASSERT_EQ(::stat(store().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SpcdApiTest, SecondSpcdCannotTakeTheName) {
  std::string out;
  int status = RunCommand(
      {SpcdPath(), "--bus-address", bus_->address(), "--store", dir_.File("other.db")}, &out);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("org.openbcast.SPC1"), std::string::npos) << out;
  // The first one still answers.
  EXPECT_TRUE(Status().count("version"));
}

TEST_F(SpcdApiTest, ReplaceTakesOverTheName) {
  Import(KeyFileGroup(RandomKeys(1)), 1);
  Spcd second(*bus_, dir_.File("other.db"), dir_.File("second.log"), {"--replace"});
  ASSERT_TRUE(second.Start());
  // The first spcd loses the name and exits with status 1.
  EXPECT_EQ(WaitForExit(spcd_->proc(), 20000), 1);
  // The answers now come from the second one (its own, empty store).
  EXPECT_EQ(g_variant_get_uint32(Status()["rights"].get()), 0u);
  EXPECT_TRUE(second.Stop());
}

TEST_F(SpcdApiTest, SigtermExitsCleanly) { EXPECT_TRUE(spcd_->Stop()); }

}  // namespace
}  // namespace spcd_test

namespace spcd_test {
namespace {

// The installed system-bus policy (data/dbus/org.openbcast.SPC1.conf) on a private bus: it parses,
// root owns the name and calls, another user can neither call nor own.
TEST(SpcdPolicyTest, RootOnlyOwnsAndOthersAreDenied) {
  std::string policy = EnvOr("SPCD_DBUS_POLICY", "");
  ASSERT_FALSE(policy.empty());
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // let another user reach the socket
  PrivateBus bus(dir.path(), policy);
  ASSERT_TRUE(bus.ok());
  if (::getuid() != 0) GTEST_SKIP() << "needs root to own the name under the policy";
  Spcd spcd(bus, dir.File("spc.db"), dir.File("spcd.log"));
  ASSERT_TRUE(spcd.Start());
  std::string out;
  ASSERT_EQ(RunCommand({SpcctlPath(), "--bus-address", bus.address(), "status"}, &out), 0) << out;

  if (!g_file_test("/usr/bin/setpriv", G_FILE_TEST_IS_EXECUTABLE)) GTEST_SKIP() << "no setpriv";
  std::vector<std::string> as_nobody = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                        "--clear-groups"};
  auto cmd = as_nobody;
  cmd.insert(cmd.end(), {SpcctlPath(), "--bus-address", bus.address(), "status"});
  EXPECT_EQ(RunCommand(cmd, &out), 3) << out;
  EXPECT_NE(out.find("AccessDenied"), std::string::npos) << out;

  std::string nobody_dir = dir.File("nobody");
  ASSERT_EQ(::mkdir(nobody_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chown(nobody_dir.c_str(), 65534, 65534), 0);
  spcd.Kill();
  cmd = as_nobody;
  cmd.insert(cmd.end(),
             {SpcdPath(), "--bus-address", bus.address(), "--store", nobody_dir + "/spc.db"});
  EXPECT_EQ(RunCommand(cmd, &out), 1) << out;
  EXPECT_NE(out.find("org.openbcast.SPC1"), std::string::npos) << out;
}

}  // namespace
}  // namespace spcd_test
