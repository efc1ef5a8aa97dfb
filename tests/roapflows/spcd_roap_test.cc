// spcd's ROAP client against the head-end's Rights Issuer: the RI runs in this process on the
// test's main context (so each test can tell it to misbehave), spcd is the real daemon on a
// private bus, provisioned with a device certificate of the test PKI (scripts/make-test-pki.sh).
// Every D-Bus call is asynchronous and the test iterates its main context until the answer comes
// (the RI answers spcd meanwhile): no sleeps anywhere.
#include <gio/gio.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "samples/headend/rights_issuer.h"
#include "spc/libspc/hex.h"
#include "spc/libspc/keys.h"
#include "tests/spcd/spcd_test_util.h"

namespace {

using spcd_test::PrivateBus;
using spcd_test::Spcd;
using spcd_test::TempDir;

constexpr char kBase[] = "urn:openbcast:svc:roap:";

// The test PKI, made once per test program (RSA key generation takes a few seconds).
std::string PkiPath() {
  return std::string(g_get_tmp_dir()) + "/roapflows-pki-" + std::to_string(getpid());
}

const std::string& PkiDir() {
  static std::string dir = [] {
    std::string d = PkiPath();
    std::string out;
    const int rc = spcd_test::RunCommand(
        {spcd_test::EnvOr("MAKE_TEST_PKI", "scripts/make-test-pki.sh"), d, "2"}, &out);
    EXPECT_EQ(rc, 0) << out;
    std::atexit([] {
      std::string ignored;
      // PkiDir()'s string may be gone by now (static destruction): rebuild the path.
      spcd_test::RunCommand({"rm", "-rf", PkiPath()}, &ignored);
    });
    return d;
  }();
  return dir;
}

struct Reply {
  GVariant* value = nullptr;  // owned
  std::string error_name;
  std::string message;
  bool ok() const { return value != nullptr; }
  ~Reply() {
    if (value) g_variant_unref(value);
  }
};

class SpcdRoap : public ::testing::Test {
 protected:
  void SetUp() override {
    bus_ = std::make_unique<PrivateBus>(dir_.path());
    ASSERT_TRUE(bus_->ok());
    headend::RoapRiOptions o;
    o.pki_dir = PkiDir();
    o.slow_ms = 3000;
    o.trigger_dir = dir_.File("triggers");
    std::string error;
    ri_ = headend::RightsIssuer::Create(o, &error);
    ASSERT_TRUE(ri_) << error;
    ri_->on_event = [this](const std::string& line) { events_.push_back(line); };
    sample_ = spcd_test::RandomKeys(0x2a);
    sample_.base_cid = kBase;
    ri_->SetRights(sample_.content_id(), Key(sample_));
    spcd_ = std::make_unique<Spcd>(
        *bus_, dir_.File("spc.db"), dir_.File("spcd.log"),
        std::vector<std::string>{"--device-cert", PkiDir() + "/device-1.pem", "--device-key",
                                 PkiDir() + "/device-1.key", "--trust-anchors",
                                 PkiDir() + "/root.pem", "--interaction-timeout", "1000",
                                 "--interaction-attempts", "2", "--interaction-backoff", "20"});
    ASSERT_TRUE(spcd_->Start()) << spcd_test::ReadFileOrEmpty(dir_.File("spcd.log"));
    signal_id_ = g_dbus_connection_signal_subscribe(
        bus_->conn(), nullptr, spcd_test::kIface, nullptr, spcd_test::kPath, nullptr,
        G_DBUS_SIGNAL_FLAGS_NONE,
        [](GDBusConnection*, const gchar*, const gchar*, const gchar*, const gchar* signal,
           GVariant* params, gpointer self) {
          auto* t = static_cast<SpcdRoap*>(self);
          g_autofree gchar* text = g_variant_print(params, FALSE);
          t->signals_.push_back(std::string(signal) + " " + text);
        },
        this, nullptr);
  }
  void TearDown() override {
    if (bus_ && signal_id_) g_dbus_connection_signal_unsubscribe(bus_->conn(), signal_id_);
    if (spcd_) {
      EXPECT_TRUE(spcd_->Stop());
    }
    if (HasFailure()) {
      std::printf("spcd log:\n%s\n", spcd_test::ReadFileOrEmpty(dir_.File("spcd.log")).c_str());
    }
    spcd_.reset();
    ri_.reset();
    bus_.reset();
  }

  static spc::LongTermKey Key(const spcd_test::ServiceKeys& k) {
    spc::LongTermKey key;
    key.key_domain_id = k.key_domain;
    key.encryption_key = k.sek;
    key.authentication_key = k.sak;
    return key;
  }

  // An asynchronous call, the main context iterated until it answers (at most 60 s).
  std::unique_ptr<Reply> Call(const char* method, GVariant* args, const char* reply_type) {
    auto reply = std::make_unique<Reply>();
    bool done = false;
    struct Ctx {
      Reply* reply;
      bool* done;
    } ctx{reply.get(), &done};
    g_dbus_connection_call(
        bus_->conn(), spcd_test::kName, spcd_test::kPath, spcd_test::kIface, method, args,
        reply_type ? G_VARIANT_TYPE(reply_type) : nullptr, G_DBUS_CALL_FLAGS_NONE, 60000, nullptr,
        [](GObject* source, GAsyncResult* res, gpointer p) {
          auto* c = static_cast<Ctx*>(p);
          GError* err = nullptr;
          c->reply->value = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &err);
          if (err) {
            g_autofree gchar* name = g_dbus_error_get_remote_error(err);
            c->reply->error_name = name ? name : "";
            g_dbus_error_strip_remote_error(err);
            c->reply->message = err->message;
            g_error_free(err);
          }
          *c->done = true;
        },
        &ctx);
    while (!done) g_main_context_iteration(nullptr, TRUE);
    return reply;
  }

  std::unique_ptr<Reply> Register(const std::string& url) {
    return Call("Register", g_variant_new("(s)", url.c_str()), "(s)");
  }
  std::unique_ptr<Reply> Acquire(const std::vector<std::string>& cids) {
    GVariantBuilder b;
    g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
    for (const auto& c : cids) g_variant_builder_add(&b, "s", c.c_str());
    return Call("AcquireRights", g_variant_new("(as)", &b), "(as)");
  }
  std::unique_ptr<Reply> Trigger(const std::string& bytes) {
    GVariant* v = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, bytes.data(), bytes.size(), 1);
    return Call("HandleTrigger", g_variant_new_tuple(&v, 1), "(s)");
  }
  std::unique_ptr<Reply> Stkm(const spcd_test::ServiceKeys& k, const spcd_test::StkmSpec& spec) {
    auto stkm = spcd_test::MakeStkm(k, spec);
    GVariant* v = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, stkm.data(), stkm.size(), 1);
    GVariant* args[] = {v, g_variant_new_string(k.base_cid.c_str())};
    return Call("ProcessStkm", g_variant_new_tuple(args, 2), nullptr);
  }
  std::string StatusString(const char* key) {
    auto r = Call("Status", nullptr, "(a{sv})");
    if (!r->ok()) return "<" + r->error_name + ">";
    g_autoptr(GVariant) dict = g_variant_get_child_value(r->value, 0);
    g_autoptr(GVariant) v = g_variant_lookup_value(dict, key, nullptr);
    if (!v) return "<absent>";
    if (g_variant_is_of_type(v, G_VARIANT_TYPE_STRING)) return g_variant_get_string(v, nullptr);
    g_autofree gchar* text = g_variant_print(v, FALSE);
    return text;
  }
  // Everything the key store shows on D-Bus: rights and RI contexts.
  std::string StoreSnapshot() {
    auto rights = Call("ListRights", nullptr, "(a(susxxbbs))");
    auto ris = Call("ListRiContexts", nullptr, "(a(sssxxs))");
    EXPECT_TRUE(rights->ok() && ris->ok());
    if (!rights->ok() || !ris->ok()) return {};
    g_autofree gchar* a = g_variant_print(rights->value, FALSE);
    g_autofree gchar* b = g_variant_print(ris->value, FALSE);
    return std::string(a) + "\n" + b;
  }
  std::string Misbehave(const std::string& mode) {
    std::string error;
    EXPECT_TRUE(ri_->SetMisbehaviour(mode, &error)) << error;
    return mode;
  }
  void RegisterAndAcquireSample() {
    auto r = Register(ri_->url());
    ASSERT_TRUE(r->ok()) << r->error_name << ": " << r->message;
    const gchar* id = nullptr;
    g_variant_get(r->value, "(&s)", &id);
    EXPECT_EQ(id, ri_->ri_id_hex());
    auto a = Acquire({sample_.content_id()});
    ASSERT_TRUE(a->ok()) << a->error_name << ": " << a->message;
  }
  bool WaitForSignal(const std::string& prefix, int timeout_ms = 30000) {
    bool expired = false;
    guint guard = g_timeout_add(
        timeout_ms,
        [](gpointer e) {
          *static_cast<bool*>(e) = true;
          return G_SOURCE_REMOVE;
        },
        &expired);
    auto seen = [&] {
      for (const auto& s : signals_) {
        if (s.rfind(prefix, 0) == 0) return true;
      }
      return false;
    };
    while (!seen() && !expired) g_main_context_iteration(nullptr, TRUE);
    if (!expired) g_source_remove(guard);
    return seen();
  }

  TempDir dir_;
  std::unique_ptr<PrivateBus> bus_;
  std::unique_ptr<headend::RightsIssuer> ri_;
  std::unique_ptr<Spcd> spcd_;
  spcd_test::ServiceKeys sample_;
  std::vector<std::string> events_;
  std::vector<std::string> signals_;
  guint signal_id_ = 0;
};

TEST_F(SpcdRoap, FreshTerminalRegistersAcquiresAndDecryptsStkms) {
  EXPECT_EQ(StatusString("roap-state"), "unregistered");
  // Nothing to decrypt with yet.
  spcd_test::StkmSpec spec;
  spec.tek = spcd_test::RandomKey();
  spec.timestamp = spcd_test::Now();
  EXPECT_EQ(Stkm(sample_, spec)->error_name, "org.openbcast.SPC1.Error.NoRights");

  RegisterAndAcquireSample();
  EXPECT_EQ(StatusString("roap-state"), "registered");
  EXPECT_EQ(StatusString("roap-ri-id"), ri_->ri_id_hex());
  EXPECT_EQ(StatusString("roap-ri-url"), ri_->url());
  EXPECT_EQ(ri_->counters().registrations, 1u);
  EXPECT_EQ(ri_->counters().ro_responses, 1u);
  const std::string snap = StoreSnapshot();
  EXPECT_NE(snap.find(sample_.content_id()), std::string::npos) << snap;
  EXPECT_NE(snap.find("'roap'"), std::string::npos) << snap;
  EXPECT_TRUE(WaitForSignal("RightsChanged (['" + sample_.content_id()));

  auto r = Stkm(sample_, spec);
  ASSERT_TRUE(r->ok()) << r->error_name << ": " << r->message;
  g_autoptr(GVariant) tek = g_variant_get_child_value(r->value, 1);
  gsize n = 0;
  const void* p = g_variant_get_fixed_array(tek, &n, 1);
  ASSERT_EQ(n, 16u);
  EXPECT_EQ(0, memcmp(p, spec.tek.data(), 16)) << "TEK decrypted with the SEK from the RO";

  // The device key stays in spcd's state folder, 0600; no SEK/SAK byte reaches its log.
  struct stat st {};
  ASSERT_EQ(stat(dir_.File("device.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string log = spcd_test::ReadFileOrEmpty(dir_.File("spcd.log"));
  EXPECT_NE(log.find("installed RO"), std::string::npos);
  for (const std::string& secret :
       {spcd_test::Hex(sample_.sek), spcd_test::Hex(sample_.sak), spcd_test::HexUpper(sample_.sek),
        spcd_test::HexUpper(sample_.sak)}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "key bytes in spcd's log";
  }

  // Acquiring again installs nothing new (same RO ID and timestamp at most once).
  auto again = Acquire({sample_.content_id()});
  ASSERT_TRUE(again->ok()) << again->error_name;
  EXPECT_EQ(StatusString("interaction-requests"), "4");
}

TEST_F(SpcdRoap, MissingRightsAreAcquiredAutomatically) {
  auto r = Register(ri_->url());
  ASSERT_TRUE(r->ok()) << r->error_name << ": " << r->message;
  EXPECT_EQ(StatusString("auto-acquire"), "true");
  spcd_test::StkmSpec spec;
  spec.tek = spcd_test::RandomKey();
  spec.timestamp = spcd_test::Now();
  // The first STKM finds no rights; spcd asks the RI for them by itself.
  EXPECT_EQ(Stkm(sample_, spec)->error_name, "org.openbcast.SPC1.Error.NoRights");
  ASSERT_TRUE(WaitForSignal("RightsChanged (['" + sample_.content_id()));
  auto ok = Stkm(sample_, spec);
  ASSERT_TRUE(ok->ok()) << ok->error_name << ": " << ok->message;
  EXPECT_EQ(StatusString("roap-auto-acquisitions"), "1");
}

TEST_F(SpcdRoap, FailedAutomaticAcquisitionIsSignalledAndStoresNothing) {
  auto r = Register(ri_->url());
  ASSERT_TRUE(r->ok()) << r->error_name << ": " << r->message;
  const std::string before = StoreSnapshot();
  Misbehave("ro-bad-mac");
  spcd_test::StkmSpec spec;
  spec.tek = spcd_test::RandomKey();
  spec.timestamp = spcd_test::Now();
  EXPECT_EQ(Stkm(sample_, spec)->error_name, "org.openbcast.SPC1.Error.NoRights");
  ASSERT_TRUE(WaitForSignal("RoapFailed ('acquire " + sample_.content_id() +
                            "', 'org.openbcast.SPC1.Error.Roap.BadRoMac'"));
  EXPECT_EQ(StoreSnapshot(), before);
  // Within the pause after a failure, another STKM does not hammer the RI.
  const std::uint64_t requests = ri_->counters().requests;
  EXPECT_EQ(Stkm(sample_, spec)->error_name, "org.openbcast.SPC1.Error.NoRights");
  EXPECT_EQ(StatusString("roap-auto-acquisitions"), "1");
  EXPECT_EQ(ri_->counters().requests, requests);
  EXPECT_NE(StatusString("roap-last-error").find("BadRoMac"), std::string::npos);
}

TEST_F(SpcdRoap, TriggersAndOnePass) {
  // A registration trigger registers.
  auto reg = Trigger(ri_->MakeRegistrationTrigger());
  ASSERT_TRUE(reg->ok()) << reg->error_name << ": " << reg->message;
  const gchar* outcome = nullptr;
  g_variant_get(reg->value, "(&s)", &outcome);
  EXPECT_EQ(std::string(outcome), "registered " + ri_->ri_id_hex());

  // A SEK change: new rights at the RI, an acquisition trigger (also written as a file).
  auto next = spcd_test::RandomKeys(0x2b);
  next.base_cid = kBase;
  ri_->SetRights(next.content_id(), Key(next));
  const std::string trigger = ri_->SendAcquisitionTrigger({next.content_id()});
  std::string file;
  for (const auto& e : events_) {
    if (e.rfind("roap trigger ", 0) == 0) file = e.substr(e.find("file=") + 5);
  }
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(spcd_test::ReadFileOrEmpty(file), trigger);
  auto acq = Trigger(trigger);
  ASSERT_TRUE(acq->ok()) << acq->error_name << ": " << acq->message;
  g_variant_get(acq->value, "(&s)", &outcome);
  EXPECT_EQ(std::string(outcome), "installed " + next.content_id());
  bool echoed = false;
  for (const auto& e : events_) echoed |= e.find("trigger-nonce=") != std::string::npos;
  EXPECT_TRUE(echoed) << "the trigger's nonce comes back as the roRequest's triggerNonce";
  // The trigger stream repeats triggers: a nonce runs once.
  auto repeat = Trigger(trigger);
  ASSERT_TRUE(repeat->ok());
  g_variant_get(repeat->value, "(&s)", &outcome);
  EXPECT_EQ(std::string(outcome), "repeat");

  // 1-pass: an roResponse pushed for this device.
  auto third = spcd_test::RandomKeys(0x2c);
  third.base_cid = kBase;
  ri_->SetRights(third.content_id(), Key(third));
  auto dd = Call("DeviceData", nullptr, "(ays)");
  ASSERT_TRUE(dd->ok());
  const gchar* device_id = nullptr;
  g_autoptr(GVariant) cert = nullptr;
  g_variant_get(dd->value, "(@ay&s)", &cert, &device_id);
  std::string error;
  const std::string pushed = ri_->MakePushedRoResponse(device_id, {third.content_id()}, &error);
  ASSERT_FALSE(pushed.empty()) << error;
  auto one = Trigger(pushed);
  ASSERT_TRUE(one->ok()) << one->error_name << ": " << one->message;
  g_variant_get(one->value, "(&s)", &outcome);
  EXPECT_EQ(std::string(outcome), "installed " + third.content_id());
  spcd_test::StkmSpec spec;
  spec.tek = spcd_test::RandomKey();
  spec.timestamp = spcd_test::Now();
  EXPECT_TRUE(Stkm(third, spec)->ok());
  EXPECT_TRUE(Stkm(next, spec)->ok());

  // Garbage is a named error.
  EXPECT_EQ(Trigger("<roap:roapTrigger")->error_name, "org.openbcast.SPC1.Error.Roap.Malformed");
}

TEST_F(SpcdRoap, FailedTriggerRunsAgainWhenRepeated) {
  ASSERT_TRUE(Register(ri_->url())->ok());
  const std::string trigger = ri_->SendAcquisitionTrigger({sample_.content_id()});
  Misbehave("http-503");
  EXPECT_EQ(Trigger(trigger)->error_name, "org.openbcast.SPC1.Error.Interaction.ServerError");
  Misbehave("none");
  auto again = Trigger(trigger);
  ASSERT_TRUE(again->ok()) << again->error_name << ": " << again->message;
  const gchar* outcome = nullptr;
  g_variant_get(again->value, "(&s)", &outcome);
  EXPECT_EQ(std::string(outcome), "installed " + sample_.content_id());
  auto repeat = Trigger(trigger);
  ASSERT_TRUE(repeat->ok());
  g_variant_get(repeat->value, "(&s)", &outcome);
  EXPECT_EQ(std::string(outcome), "repeat");
}

struct Case {
  const char* mode;
  const char* error;  // after org.openbcast.SPC1.Error.
};

TEST_F(SpcdRoap, EveryFailedRegistrationCheckIsNamedAndStoresNothing) {
  RegisterAndAcquireSample();
  const std::string before = StoreSnapshot();
  const Case cases[] = {
      {"bad-signature", "Roap.BadSignature"},
      {"wrong-session-id", "Roap.WrongSessionId"},
      {"expired-cert", "Roap.ExpiredCertificate"},
      {"untrusted-cert", "Roap.UntrustedCertificate"},
      {"revoked-cert", "Roap.RevokedCertificate"},
      {"ocsp-other-nonce", "Roap.OcspNonceMismatch"},
      {"no-ocsp", "Roap.OcspMissing"},
      {"status:AccessDenied", "Roap.Status.AccessDenied"},
      {"status:UnsupportedVersion", "Roap.Status.UnsupportedVersion"},
  };
  for (const Case& c : cases) {
    Misbehave(c.mode);
    auto r = Register(ri_->url());
    EXPECT_FALSE(r->ok()) << c.mode;
    EXPECT_EQ(r->error_name, std::string("org.openbcast.SPC1.Error.") + c.error)
        << c.mode << ": " << r->message;
    EXPECT_EQ(StoreSnapshot(), before) << c.mode;
    EXPECT_EQ(StatusString("roap-state"), "registered") << c.mode;
  }
}

TEST_F(SpcdRoap, EveryFailedAcquisitionCheckIsNamedAndStoresNothing) {
  RegisterAndAcquireSample();
  auto other = spcd_test::RandomKeys(0x30);
  other.base_cid = kBase;
  ri_->SetRights(other.content_id(), Key(other));
  const std::string before = StoreSnapshot();
  std::vector<Case> cases = {
      {"bad-signature", "Roap.BadSignature"},
      {"wrong-nonce", "Roap.WrongNonce"},
      {"ro-other-device", "Roap.RoForAnotherDevice"},
      {"ro-bad-mac", "Roap.BadRoMac"},
  };
  std::vector<std::string> statuses;
  for (int i = 1; i < spc::roap::kStatusCount; ++i) {
    statuses.emplace_back(spc::roap::StatusName(static_cast<spc::roap::Status>(i)));
  }
  std::vector<std::string> modes, names;
  for (const auto& s : statuses) {
    modes.push_back("status:" + s);
    names.push_back("Roap.Status." + s);
  }
  for (std::size_t i = 0; i < modes.size(); ++i)
    cases.push_back({modes[i].c_str(), names[i].c_str()});
  for (const Case& c : cases) {
    Misbehave(c.mode);
    auto r = Acquire({other.content_id()});
    EXPECT_FALSE(r->ok()) << c.mode;
    EXPECT_EQ(r->error_name, std::string("org.openbcast.SPC1.Error.") + c.error)
        << c.mode << ": " << r->message;
    EXPECT_EQ(StoreSnapshot(), before) << c.mode;
  }
  EXPECT_EQ(cases.size(), 4u + 19u);
  // The RI behaving again: the same request goes through.
  Misbehave("none");
  auto ok = Acquire({other.content_id()});
  ASSERT_TRUE(ok->ok()) << ok->error_name << ": " << ok->message;
  EXPECT_NE(StoreSnapshot(), before);
  // Content the RI has no rights for: its NotFound status.
  EXPECT_EQ(Acquire({"urn:nothing:00000001"})->error_name,
            "org.openbcast.SPC1.Error.Roap.Status.NotFound");
}

TEST_F(SpcdRoap, InteractionFaultsAreNamedRetriedWhereAllowedAndStoreNothing) {
  RegisterAndAcquireSample();
  auto other = spcd_test::RandomKeys(0x31);
  other.base_cid = kBase;
  ri_->SetRights(other.content_id(), Key(other));
  const std::string before = StoreSnapshot();
  struct Fault {
    const char* mode;
    const char* error;
    std::uint64_t requests;  // HTTP requests the RI sees: 2 = retried once (spcd: 2 attempts)
  };
  const Fault faults[] = {
      {"http-503", "Interaction.ServerError", 2},
      {"slow", "Interaction.Timeout", 2},
      {"truncated", "Interaction.Truncated", 2},
      {"wrong-content-type", "Interaction.WrongContentType", 1},
  };
  for (const Fault& f : faults) {
    Misbehave(f.mode);
    const std::uint64_t seen = ri_->counters().requests;
    auto r = Acquire({other.content_id()});
    EXPECT_EQ(r->error_name, std::string("org.openbcast.SPC1.Error.") + f.error)
        << f.mode << ": " << r->message;
    EXPECT_EQ(ri_->counters().requests - seen, f.requests) << f.mode;
    EXPECT_EQ(StoreSnapshot(), before) << f.mode;
  }
  Misbehave("none");
  // 4xx: a wrong path on the RI's server is never retried.
  std::string url = ri_->url();
  url.replace(url.rfind("/roap"), 5, "/nope");
  auto nope = Register(url);
  EXPECT_EQ(nope->error_name, "org.openbcast.SPC1.Error.Interaction.ClientError") << nope->message;
  EXPECT_NE(nope->message.find("404"), std::string::npos) << nope->message;
  // RI down.
  const std::string down = ri_->url();
  ri_.reset();
  auto r = Register(down);
  EXPECT_EQ(r->error_name, "org.openbcast.SPC1.Error.Interaction.Unreachable") << r->message;
  EXPECT_NE(r->message.find("2 attempts"), std::string::npos) << r->message;
  EXPECT_EQ(StoreSnapshot(), before);
  EXPECT_NE(StatusString("roap-last-error").find("Interaction.Unreachable"), std::string::npos);
}

// spcctl's verbs, run asynchronously so that this process's main loop keeps serving the RI.
struct CliResult {
  int status = -1;
  std::string out;
};

TEST_F(SpcdRoap, SpcctlVerbs) {
  auto run = [this](std::vector<std::string> args) {
    std::vector<std::string> argv = {spcd_test::SpcctlPath(), "--bus-address", bus_->address()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<const gchar*> c;
    for (auto& a : argv) c.push_back(a.c_str());
    c.push_back(nullptr);
    GError* err = nullptr;
    GSubprocess* p =
        g_subprocess_newv(c.data(),
                          static_cast<GSubprocessFlags>(G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                        G_SUBPROCESS_FLAGS_STDERR_MERGE),
                          &err);
    CliResult r;
    EXPECT_NE(p, nullptr) << (err ? err->message : "");
    if (!p) return r;
    bool done = false;
    struct Ctx {
      CliResult* r;
      bool* done;
    } ctx{&r, &done};
    g_subprocess_communicate_utf8_async(
        p, nullptr, nullptr,
        [](GObject* src, GAsyncResult* res, gpointer data) {
          auto* x = static_cast<Ctx*>(data);
          gchar* out = nullptr;
          g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), res, &out, nullptr, nullptr);
          x->r->out = out ? out : "";
          g_free(out);
          x->r->status = g_subprocess_get_exit_status(G_SUBPROCESS(src));
          *x->done = true;
        },
        &ctx);
    while (!done) g_main_context_iteration(nullptr, TRUE);
    g_object_unref(p);
    return r;
  };
  auto reg = run({"register", ri_->url()});
  EXPECT_EQ(reg.status, 0) << reg.out;
  EXPECT_NE(reg.out.find("registered with RI " + ri_->ri_id_hex()), std::string::npos) << reg.out;
  auto acq = run({"--json", "acquire", sample_.content_id()});
  EXPECT_EQ(acq.status, 0) << acq.out;
  EXPECT_NE(acq.out.find("\"installed\":[\"" + sample_.content_id() + "\"]"), std::string::npos)
      << acq.out;
  auto next = spcd_test::RandomKeys(0x40);
  next.base_cid = kBase;
  ri_->SetRights(next.content_id(), Key(next));
  ri_->SendAcquisitionTrigger({next.content_id()});
  const std::string file = dir_.File("triggers") + "/trigger-1.xml";
  auto trig = run({"handle-trigger", file});
  EXPECT_EQ(trig.status, 0) << trig.out;
  EXPECT_NE(trig.out.find("installed " + next.content_id()), std::string::npos) << trig.out;
  // A refusal: exit status 1 and the error's D-Bus name.
  Misbehave("ro-bad-mac");
  auto bad = run({"acquire", "urn:openbcast:svc:roap:00000041"});
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("org.openbcast.SPC1.Error.Roap.Status.NotFound"), std::string::npos)
      << bad.out;
  ri_->SetRights("urn:openbcast:svc:roap:00000041", Key(next));
  bad = run({"acquire", "urn:openbcast:svc:roap:00000041"});
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("org.openbcast.SPC1.Error.Roap.BadRoMac"), std::string::npos) << bad.out;
  auto status = run({"--json", "status"});
  EXPECT_EQ(status.status, 0) << status.out;
  EXPECT_NE(status.out.find("\"roap_state\":\"registered\""), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("\"roap_ri_id\":\"" + ri_->ri_id_hex() + "\""), std::string::npos)
      << status.out;
  auto text = run({"status"});
  EXPECT_NE(text.out.find("ROAP:             registered, RI " + ri_->ri_id_hex()),
            std::string::npos)
      << text.out;
  auto usage = run({"acquire"});
  EXPECT_EQ(usage.status, 2) << usage.out;
  auto missing = run({"handle-trigger", dir_.File("no-such-file")});
  EXPECT_EQ(missing.status, 2) << missing.out;
}

TEST_F(SpcdRoap, NoDeviceIdentityAndNotRegistered) {
  auto a = Acquire({sample_.content_id()});
  EXPECT_EQ(a->error_name, "org.openbcast.SPC1.Error.Roap.NotRegistered") << a->message;
  EXPECT_EQ(Register("ftp://x")->error_name, "org.openbcast.SPC1.Error.InvalidArgs");
}

}  // namespace
