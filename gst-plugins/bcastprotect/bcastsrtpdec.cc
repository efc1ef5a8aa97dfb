// bcastsrtpdec: SRTP decryption keyed by BCAST TEKs from the pipeline keyring.
//
// The SRTP work (MKI → TEK, ROC and replay window per SSRC across key changes, RFC 4771, the
// per-packet crypto on OpenSSL EVP or libsrtp2) is in srtp/srtp_receiver; this file adds the
// GStreamer side: caps, the keyring, holding packets whose TEK has not arrived yet, statistics,
// messages and warnings.
//
// Threads: the streaming thread (chain/events) and a small release thread that hands held packets
// on when their TEK arrives (or drops them when hold-time runs out) even if no new packet comes.
// Packet processing and everything that goes out of the source pad run under the sink pad's
// stream lock, which GStreamer already holds around chain and serialized events: the hot path
// takes no lock of its own, and only the release thread (while packets are held) competes for
// it. `lock` protects the state other threads touch — properties, the keyring, the hold queue —
// and is never held across crypto or a push. Counters are atomics so that "stats" never waits
// for a packet. Order: stream lock before lock. The keyring's lock is only taken inside keyring
// calls, and the keyring emits "tek-added" without it, so no cycle exists.

#include "gst-plugins/bcastprotect/bcastsrtpdec.h"

#include <openssl/crypto.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gst-plugins/bcastprotect/keyring.h"
#include "gst-plugins/bcastprotect/srtp/srtp_receiver.h"
#include "spc/libspc/crypto.h"

GST_DEBUG_CATEGORY_STATIC(bcast_srtp_dec_debug);
#define GST_CAT_DEFAULT bcast_srtp_dec_debug

namespace bs = bcast::srtp;

namespace {

constexpr guint kDefaultReplayWindow = 128;
constexpr guint kDefaultHoldTimeMs = 500;
constexpr guint kDefaultJoinTimeMs = 10000;
constexpr guint kDefaultHoldMax = 1024;
constexpr gint64 kWarningIntervalUs = 2 * G_USEC_PER_SEC;
// Failures with not one success under a TEK before "the ROC is probably unknown" is reported.
constexpr guint64 kRocSuspicionThreshold = 16;

// Written under the stream lock (one writer at a time: plain load+store, no locked
// read-modify-write per packet), except dropped_held(_at_join), which flushing also counts
// (fetch_add). Read by "stats" at any time.
struct Counters {
  std::atomic<guint64> received{0};
  std::atomic<guint64> decrypted{0};
  std::atomic<guint64> auth_failures{0};
  std::atomic<guint64> replays{0};
  std::atomic<guint64> unknown_mki{0};
  std::atomic<guint64> malformed{0};
  std::atomic<guint64> roc_unknown{0};
  std::atomic<guint64> held{0};
  std::atomic<guint64> dropped_held{0};
  std::atomic<guint64> dropped_held_at_join{0};  // of dropped_held
  std::atomic<guint> key_changes{0};
  void Reset() {
    for (auto* c : {&received, &decrypted, &auth_failures, &replays, &unknown_mki, &malformed,
                    &roc_unknown, &held, &dropped_held, &dropped_held_at_join}) {
      c->store(0, std::memory_order_relaxed);
    }
    key_changes.store(0, std::memory_order_relaxed);
  }
};

template <typename T>
void Inc(std::atomic<T>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
void IncShared(std::atomic<guint64>& c) { c.fetch_add(1, std::memory_order_relaxed); }

struct Held {
  GstBuffer* buffer = nullptr;
  std::optional<bs::KeyId> tek;
  std::optional<bs::KeyId> alt_tek;
  gint64 deadline = 0;  // monotonic µs
  // Held before the element decrypted anything: if its TEK never comes, it was in use before the
  // terminal joined (its STKMs went by earlier), not lost.
  bool at_join = false;
};

// Bus messages are posted after the state lock is released.
struct Notice {
  bool key_change = false;  // else a warning
  bs::KeyId tek = 0;
  guint ssrc = 0;
  guint roc = 0;
  gboolean initial = FALSE;
  std::string text;
  std::string details;
};

struct TekTally {
  guint64 decrypted = 0;
  guint64 auth_failures = 0;
  bool warned = false;
};

struct WarnState {
  gint64 last = 0;
  guint64 suppressed = 0;
};

struct Impl {
  std::mutex lock;
  std::condition_variable cond;

  // Properties (lock).
  guint replay_window = kDefaultReplayWindow;
  guint hold_time_ms = kDefaultHoldTimeMs;
  guint join_time_ms = kDefaultJoinTimeMs;
  guint hold_max = kDefaultHoldMax;
  gint default_tek_id = -1;
  bs::Engine engine = bs::Engine::kOpenssl;

  // Stream lock.
  std::unique_ptr<bs::SrtpReceiver> receiver;

  // lock.
  BcastKeyring* keyring = nullptr;
  gulong tek_added_handler = 0;
  std::optional<bs::KeyId> latest_tek;  // last "tek-added": the TEK for mki-length 0
  std::deque<Held> held;
  gint64 join_started = 0;  // monotonic µs of the first packet held at the join (0: none yet)
  // Packets a ReleaseHeld pass took out of `held` to look at: still held until the pass ends.
  std::size_t held_in_pass = 0;
  bool tek_arrived = false;
  bool running = false;
  bool flushing = false;
  guint64 flush_gen = 0;  // bumped by FLUSH_START: held packets of before are stale
  std::thread releaser;

  // Hints read without a lock on the hot path. maybe_release: packets are held or a TEK came
  // (check the hold queue); default_dirty: default-tek-id or the latest TEK changed (mki-length 0).
  std::atomic<bool> maybe_release{false};
  std::atomic<bool> default_dirty{true};

  Counters counters;
  std::atomic<guint> last_ssrc{0};
  std::atomic<guint> last_roc{0};
  std::atomic<gint> last_tek{-1};

  // Stream lock: per-packet bookkeeping, with one-entry caches in front of the maps, and scratch
  // vectors reused from packet to packet (no allocation per buffer).
  std::map<guint32, bs::KeyId> tek_in_use;  // per SSRC
  bool in_use_cached = false;
  guint32 in_use_ssrc = 0;
  bs::KeyId in_use_tek = 0;
  std::map<bs::KeyId, TekTally> tallies;
  TekTally* tally = nullptr;
  bs::KeyId tally_tek = 0;
  std::map<std::string, WarnState> warnings;
  std::vector<Notice> notices;
  std::vector<GstBuffer*> released;
};

enum {
  PROP_0,
  PROP_REPLAY_WINDOW_SIZE,
  PROP_HOLD_TIME,
  PROP_JOIN_TIME,
  PROP_HOLD_MAX,
  PROP_DEFAULT_TEK_ID,
  PROP_ENGINE,
  PROP_STATS,
};

GType bcast_srtp_dec_engine_get_type() {
  static gsize type = 0;
  static const GEnumValue values[] = {
      {static_cast<gint>(bs::Engine::kOpenssl), "OpenSSL EVP (default)", "openssl"},
      {static_cast<gint>(bs::Engine::kLibsrtp), "libsrtp2 (reference)", "libsrtp"},
      {0, nullptr, nullptr},
  };
  if (g_once_init_enter(&type)) {
    g_once_init_leave(&type, g_enum_register_static("GstBcastSrtpDecEngine", values));
  }
  return type;
}

}  // namespace

struct _GstBcastSrtpDec {
  GstElement parent;
  GstPad* sinkpad;
  GstPad* srcpad;
  Impl impl;  // constructed in _init, destroyed in _finalize (GObject memory is raw)
};

// The sink pad's stream lock (a GRecMutex), for the release thread and state changes.
class StreamLock {
 public:
  explicit StreamLock(GstPad* pad) : pad_(pad) { GST_PAD_STREAM_LOCK(pad_); }
  ~StreamLock() { GST_PAD_STREAM_UNLOCK(pad_); }
  StreamLock(const StreamLock&) = delete;
  StreamLock& operator=(const StreamLock&) = delete;

 private:
  GstPad* pad_;
};

G_DEFINE_TYPE_WITH_CODE(GstBcastSrtpDec, gst_bcast_srtp_dec, GST_TYPE_ELEMENT,
                        GST_DEBUG_CATEGORY_INIT(bcast_srtp_dec_debug, "bcastsrtpdec", 0,
                                                "openbcast SRTP decryptor"))
GST_ELEMENT_REGISTER_DEFINE(bcastsrtpdec, "bcastsrtpdec", GST_RANK_NONE, GST_TYPE_BCAST_SRTP_DEC)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-srtp"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-rtp"));

// SRTP-only caps fields, removed on the RTP side.
static const char* const kSrtpFields[] = {
    "srtp-key", "srtp-cipher", "srtp-auth",     "srtcp-cipher",     "srtcp-auth",
    "mki",      "mki-length",  "srtp-rcc-mode", "srtp-roc-tx-rate", "roc",
};

static GstCaps* TransformCaps(GstCaps* caps, bool to_rtp) {
  GstCaps* out = gst_caps_copy(caps);
  for (guint i = 0; i < gst_caps_get_size(out); ++i) {
    GstStructure* s = gst_caps_get_structure(out, i);
    gst_structure_set_name(s, to_rtp ? "application/x-rtp" : "application/x-srtp");
    if (to_rtp) {
      for (const char* f : kSrtpFields) gst_structure_remove_field(s, f);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Packet processing (called with the sink pad's stream lock held; impl.lock only where said).

static void Warn(GstBcastSrtpDec* self, const std::string& reason, std::string text,
                 std::string details) {
  Impl& impl = self->impl;
  WarnState& w = impl.warnings[reason];
  const gint64 now = g_get_monotonic_time();
  if (w.last != 0 && now - w.last < kWarningIntervalUs) {
    ++w.suppressed;
    return;
  }
  if (w.suppressed > 0) {
    details += " (" + std::to_string(w.suppressed) + " more since the last warning)";
  }
  w.last = now;
  w.suppressed = 0;
  Notice n;
  n.text = std::move(text);
  n.details = std::move(details);
  impl.notices.push_back(std::move(n));
}

enum class KeyringAnswer { kNoKeyring, kNotFound, kFound };

// TEK `id` from the keyring set on the element (the keyring is referenced, not locked, meanwhile).
static KeyringAnswer LookupTek(GstBcastSrtpDec* self, bs::KeyId id, BcastTek* tek) {
  Impl& impl = self->impl;
  BcastKeyring* keyring = nullptr;
  {
    std::lock_guard<std::mutex> l(impl.lock);
    if (impl.keyring != nullptr) keyring = BCAST_KEYRING(g_object_ref(impl.keyring));
  }
  if (keyring == nullptr) return KeyringAnswer::kNoKeyring;
  const bool found = bcast_keyring_lookup_key(keyring, id, tek);
  g_object_unref(keyring);
  return found ? KeyringAnswer::kFound : KeyringAnswer::kNotFound;
}

// Makes TEK `id` known to the receiver, from the keyring if needed.
static bool EnsureKey(GstBcastSrtpDec* self, bs::KeyId id) {
  Impl& impl = self->impl;
  if (!impl.receiver) return false;
  if (impl.receiver->HasKey(id)) return true;
  BcastTek tek;
  if (LookupTek(self, id, &tek) != KeyringAnswer::kFound) return false;
  bool ok = false;
  if (tek.protocol == 1) {  // traffic_protection_protocol SRTP
    impl.receiver->AddKey(id, std::span<const std::uint8_t, 16>(tek.key, 16),
                          std::span<const std::uint8_t, 14>(tek.salt, 14), tek.authenticated);
    GST_INFO_OBJECT(self, "TEK %" G_GUINT64_FORMAT " from the keyring (%s)",
                    static_cast<guint64>(id),
                    tek.authenticated ? "authenticated" : "no authentication");
    ok = true;
  } else {
    GST_WARNING_OBJECT(self, "TEK %" G_GUINT64_FORMAT " is for protocol %u, not SRTP",
                       static_cast<guint64>(id), tek.protocol);
  }
  OPENSSL_cleanse(&tek, sizeof tek);
  return ok;
}

// After an authentication failure under TEK `id`: true when the receiver's key for it was not the
// keyring's any more and is now (replaced by the keyring's, or removed when the keyring has none).
// A TEK ID names another key when the head-end restarted (its TEK IDs start again) or the 16-bit
// ID space wrapped; without this the receiver kept the old key, which never expires there, and
// every genuine packet under the new one failed authentication.
static bool RefreshKey(GstBcastSrtpDec* self, bs::KeyId id) {
  Impl& impl = self->impl;
  if (!impl.receiver || !impl.receiver->HasKey(id)) return false;
  BcastTek tek;
  const KeyringAnswer answer = LookupTek(self, id, &tek);
  if (answer == KeyringAnswer::kNoKeyring) return false;
  const bool found = answer == KeyringAnswer::kFound;
  bool changed = false;
  if (!found || tek.protocol != 1) {
    // Expired in the keyring (or never an SRTP TEK): the packet waits for the TEK to come.
    impl.receiver->RemoveKey(id);
    changed = true;
  } else {
    changed =
        impl.receiver->AddKey(id, std::span<const std::uint8_t, 16>(tek.key, 16),
                              std::span<const std::uint8_t, 14>(tek.salt, 14), tek.authenticated);
  }
  OPENSSL_cleanse(&tek, sizeof tek);
  if (changed) {
    GST_INFO_OBJECT(self, "TEK %" G_GUINT64_FORMAT " %s", static_cast<guint64>(id),
                    found ? "replaced by the keyring's new key" : "expired: dropped");
  }
  return changed;
}

// For mki-length 0: the TEK named by default-tek-id, else the latest added to the keyring.
static void UpdateDefaultKey(GstBcastSrtpDec* self) {
  Impl& impl = self->impl;
  if (!impl.receiver || impl.receiver->config().mki_length != 0) return;
  impl.default_dirty.store(false, std::memory_order_relaxed);
  std::optional<bs::KeyId> id;
  {
    std::lock_guard<std::mutex> l(impl.lock);
    if (impl.default_tek_id >= 0) {
      id = static_cast<bs::KeyId>(impl.default_tek_id);
    } else {
      id = impl.latest_tek;
    }
  }
  if (id) {
    impl.receiver->SetDefaultKey(*id);
    EnsureKey(self, *id);
  }
}

static bool ReleaseDueLocked(Impl& impl) {
  if (impl.held.empty()) return false;
  return impl.tek_arrived || impl.held.front().deadline <= g_get_monotonic_time();
}

static void CountDroppedHeld(Impl& impl, const Held& h) {
  IncShared(impl.counters.dropped_held);
  if (h.at_join) IncShared(impl.counters.dropped_held_at_join);
}

static void DropHeldLocked(Impl& impl) {
  for (Held& h : impl.held) {
    gst_buffer_unref(h.buffer);
    CountDroppedHeld(impl, h);
  }
  impl.held.clear();
  impl.maybe_release.store(false, std::memory_order_relaxed);
}

// Queues a packet whose TEK is not known yet; false when holding is off (hold-time 0, flushing).
static bool Hold(GstBcastSrtpDec* self, GstBuffer* buf, const bs::UnprotectResult& r) {
  Impl& impl = self->impl;
  std::lock_guard<std::mutex> l(impl.lock);
  if (impl.hold_time_ms == 0 || impl.flushing) return false;
  while (impl.held.size() >= impl.hold_max && !impl.held.empty()) {
    gst_buffer_unref(impl.held.front().buffer);
    CountDroppedHeld(impl, impl.held.front());
    impl.held.pop_front();
    Warn(self, "hold-overflow", "SRTP hold queue full",
         "dropped the oldest packet waiting for its TEK");
  }
  Held h;
  h.buffer = buf;
  h.tek = r.tek_id;
  h.alt_tek = r.alt_tek_id;
  const gint64 now = g_get_monotonic_time();
  h.deadline = now + static_cast<gint64>(impl.hold_time_ms) * 1000;
  if (impl.counters.decrypted.load(std::memory_order_relaxed) == 0 && impl.join_time_ms > 0) {
    if (impl.join_started == 0) impl.join_started = now;
    h.at_join = now - impl.join_started <= static_cast<gint64>(impl.join_time_ms) * 1000;
  }
  impl.held.push_back(h);
  Inc(impl.counters.held);
  impl.maybe_release.store(true, std::memory_order_relaxed);
  impl.cond.notify_all();
  GST_LOG_OBJECT(self, "holding packet for TEK %" G_GINT64_FORMAT " (%zu held)",
                 r.tek_id ? static_cast<gint64>(*r.tek_id) : -1, impl.held.size());
  return true;
}

// A decrypted packet under another TEK or SSRC than the previous one: its TEK's tally, and the
// key-change message when the SSRC's TEK changed.
[[gnu::noinline, gnu::cold]] static void NoteOtherTek(GstBcastSrtpDec* self, guint32 ssrc,
                                                      bs::KeyId tek, guint roc) {
  Impl& impl = self->impl;
  if (impl.tally == nullptr || impl.tally_tek != tek) {
    impl.tally = &impl.tallies[tek];
    impl.tally_tek = tek;
  }
  if (impl.in_use_cached && impl.in_use_ssrc == ssrc && impl.in_use_tek == tek) return;
  auto it = impl.tek_in_use.find(ssrc);
  if (it == impl.tek_in_use.end() || it->second != tek) {
    Notice n;
    n.key_change = true;
    n.tek = tek;
    n.ssrc = ssrc;
    n.roc = roc;
    n.initial = it == impl.tek_in_use.end();
    if (!n.initial) Inc(impl.counters.key_changes);
    impl.tek_in_use[ssrc] = tek;
    impl.notices.push_back(n);
    GST_INFO_OBJECT(self, "SSRC %08x now under TEK %" G_GUINT64_FORMAT " (ROC %u)", ssrc,
                    static_cast<guint64>(tek), roc);
  }
  impl.in_use_cached = true;
  impl.in_use_ssrc = ssrc;
  impl.in_use_tek = tek;
}

// Notes a decrypted packet: statistics, the TEK per SSRC and its change message.
static void NoteDecrypted(GstBcastSrtpDec* self, const bs::UnprotectResult& r) {
  Impl& impl = self->impl;
  const bs::KeyId tek = r.tek_id ? *r.tek_id : 0;
  const guint roc = static_cast<guint>(r.index >> 16);
  if (impl.tally == nullptr || impl.tally_tek != tek || !impl.in_use_cached ||
      impl.in_use_ssrc != r.ssrc || impl.in_use_tek != tek) [[unlikely]] {
    NoteOtherTek(self, r.ssrc, tek, roc);
  }
  Inc(impl.counters.decrypted);
  ++impl.tally->decrypted;
  impl.last_ssrc.store(r.ssrc, std::memory_order_relaxed);
  impl.last_roc.store(roc, std::memory_order_relaxed);
  impl.last_tek.store(static_cast<gint>(tek & 0xffff), std::memory_order_relaxed);
}

// Unprotect did not decrypt `packet`: makes the TEK it names known from the keyring, or replaces a
// stale one after an authentication failure, and tries once more.
[[gnu::noinline, gnu::cold]] static bs::UnprotectResult Retry(GstBcastSrtpDec* self,
                                                              std::span<std::uint8_t> packet,
                                                              bs::UnprotectResult r) {
  bs::SrtpReceiver& receiver = *self->impl.receiver;
  if (r.decision == bs::Decision::kUnknownMki) {
    bool retry = false;
    if (r.tek_id) retry = EnsureKey(self, *r.tek_id);
    if (!retry && r.alt_tek_id) retry = EnsureKey(self, *r.alt_tek_id);
    if (retry) r = receiver.Unprotect(packet);
  }
  if (r.decision == bs::Decision::kAuthFailure && r.tek_id && RefreshKey(self, *r.tek_id)) {
    // A failed check leaves the packet untouched: try it under the keyring's key, or (none yet)
    // hold it as a packet of an unknown TEK.
    r = receiver.Unprotect(packet);
  }
  return r;
}

// A packet that was not decrypted: counted, held (unknown TEK) or dropped with a warning. Takes
// `buf`; returns nullptr.
[[gnu::noinline, gnu::cold]] static GstBuffer* NotDecrypted(GstBcastSrtpDec* self, GstBuffer* buf,
                                                            const bs::UnprotectResult& r,
                                                            gsize size, bool from_hold) {
  Impl& impl = self->impl;
  bs::SrtpReceiver& receiver = *impl.receiver;
  const bs::KeyId tek = r.tek_id ? *r.tek_id : 0;
  switch (r.decision) {
    case bs::Decision::kDecrypted:
      break;
    case bs::Decision::kUnknownMki:
      if (!from_hold) {
        Inc(impl.counters.unknown_mki);
        if (Hold(self, buf, r)) return nullptr;
      } else {
        IncShared(impl.counters.dropped_held);
      }
      Warn(self, "unknown-mki", "SRTP packets with an unknown TEK dropped",
           "MKI names TEK " + (r.tek_id ? std::to_string(*r.tek_id) : std::string("(none)")) +
               ", not in the keyring");
      break;
    case bs::Decision::kAuthFailure: {
      Inc(impl.counters.auth_failures);
      TekTally& t = impl.tallies[tek];
      ++t.auth_failures;
      const bool no_rcc = receiver.config().rcc_mode == bs::RccMode::kNone;
      if (no_rcc && t.decrypted == 0 && t.auth_failures >= kRocSuspicionThreshold && !t.warned) {
        t.warned = true;
        Notice n;
        n.text = "Every SRTP packet under TEK " + std::to_string(tek) +
                 " fails authentication: the ROC is probably unknown";
        n.details =
            "joined after a sequence number wrap without RFC 4771 (a=SRTPROCTxRate) or a 'roc' "
            "caps field; " +
            std::to_string(t.auth_failures) + " packets failed, none passed";
        impl.notices.push_back(std::move(n));
      } else {
        Warn(self, "auth-failure", "SRTP authentication failed",
             "packet under TEK " + std::to_string(tek) + " dropped (tag does not verify)");
      }
      break;
    }
    case bs::Decision::kReplay:
      Inc(impl.counters.replays);
      Warn(self, "replay", "SRTP replay dropped",
           "packet index " + std::to_string(r.index) + " already received or too old");
      break;
    case bs::Decision::kRocUnknown:
      Inc(impl.counters.roc_unknown);
      GST_DEBUG_OBJECT(self, "waiting for the first ROC-carrying packet of SSRC %08x", r.ssrc);
      break;
    case bs::Decision::kMalformed:
      Inc(impl.counters.malformed);
      Warn(self, "malformed", "Malformed SRTP packet dropped",
           "not an SRTP packet of the negotiated layout (" + std::to_string(size) + " bytes)");
      break;
  }
  gst_buffer_unref(buf);
  return nullptr;
}

// Takes `buf`; returns the decrypted RTP buffer (the same memory, cut to the RTP length) or
// nullptr when the packet was dropped or held. Only what every packet needs is inline here.
static GstBuffer* Process(GstBcastSrtpDec* self, GstBuffer* buf, bool from_hold) {
  Impl& impl = self->impl;
  bs::SrtpReceiver& receiver = *impl.receiver;
  if (!from_hold) Inc(impl.counters.received);
  if (receiver.config().mki_length == 0 && impl.default_dirty.load(std::memory_order_relaxed))
      [[unlikely]] {
    UpdateDefaultKey(self);
  }

  buf = gst_buffer_make_writable(buf);
  // One memory held by this buffer only (the usual case): map it directly, which skips the
  // buffer-level bookkeeping of gst_buffer_map; anything else goes through gst_buffer_map (which
  // merges or copies as needed).
  GstMapInfo map;
  GstMemory* direct = gst_buffer_n_memory(buf) == 1 ? gst_buffer_peek_memory(buf, 0) : nullptr;
  if (direct != nullptr && !gst_memory_map(direct, &map, GST_MAP_READWRITE)) direct = nullptr;
  if (direct == nullptr && !gst_buffer_map(buf, &map, GST_MAP_READWRITE)) [[unlikely]] {
    Inc(impl.counters.malformed);
    gst_buffer_unref(buf);
    return nullptr;
  }
  std::span<std::uint8_t> packet(map.data, map.size);
  bs::UnprotectResult r = receiver.Unprotect(packet);
  if (r.decision != bs::Decision::kDecrypted) [[unlikely]] {
    r = Retry(self, packet, r);
  }
  const gsize size = map.size;
  if (direct != nullptr) {
    gst_memory_unmap(direct, &map);
  } else {
    gst_buffer_unmap(buf, &map);
  }

  if (r.decision != bs::Decision::kDecrypted) [[unlikely]] {
    return NotDecrypted(self, buf, r, size, from_hold);
  }
  if (direct != nullptr) {
    gst_memory_resize(direct, 0, r.length);  // the buffer's only memory, ours alone
  } else {
    gst_buffer_set_size(buf, static_cast<gssize>(r.length));
  }
  NoteDecrypted(self, r);
  return buf;
}

// Bus messages, posted after the packet (never under impl.lock).
static void PostNotices(GstBcastSrtpDec* self) {
  Impl& impl = self->impl;
  for (Notice& n : impl.notices) {
    if (n.key_change) {
      // tek-id: the TEK ID (DRM Profile) or the MTK ID; msk-id only for a 6-byte MKI.
      GstStructure* st =
          gst_structure_new("openbcast-srtp-key", "tek-id", G_TYPE_UINT,
                            static_cast<guint>(n.tek & 0xffff), "ssrc", G_TYPE_UINT, n.ssrc, "roc",
                            G_TYPE_UINT, n.roc, "initial", G_TYPE_BOOLEAN, n.initial, nullptr);
      if (n.tek > 0xffff) {
        gst_structure_set(st, "msk-id", G_TYPE_UINT, static_cast<guint>(n.tek >> 16), nullptr);
      }
      gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), st));
    } else {
      GST_ELEMENT_WARNING(self, STREAM, DECRYPT, ("%s", n.text.c_str()), ("%s", n.details.c_str()));
    }
  }
  impl.notices.clear();
}

// Hands on held packets whose TEK is now known (pushed as one list, before anything newer) and
// drops those past their deadline. The queue is taken out under impl.lock and processed without
// it.
static GstFlowReturn ReleaseHeld(GstBcastSrtpDec* self) {
  Impl& impl = self->impl;
  std::deque<Held> batch;
  guint64 gen = 0;
  bool flushing = false;
  guint hold_time_ms = 0;
  {
    std::lock_guard<std::mutex> l(impl.lock);
    if (!ReleaseDueLocked(impl)) {
      impl.maybe_release.store(!impl.held.empty(), std::memory_order_relaxed);
      return GST_FLOW_OK;
    }
    impl.tek_arrived = false;
    batch.swap(impl.held);
    impl.held_in_pass = batch.size();
    gen = impl.flush_gen;
    flushing = impl.flushing;
    hold_time_ms = impl.hold_time_ms;
  }
  UpdateDefaultKey(self);
  const gint64 now = g_get_monotonic_time();
  std::map<bs::KeyId, bool> known;  // one keyring lookup per TEK ID per pass
  auto available = [&](const std::optional<bs::KeyId>& id) {
    if (!id) return false;
    auto it = known.find(*id);
    if (it != known.end()) return it->second;
    const bool k = EnsureKey(self, *id);
    known[*id] = k;
    return k;
  };
  const bool no_mki = impl.receiver && impl.receiver->config().mki_length == 0;
  std::deque<Held> keep;
  for (Held& h : batch) {
    const bool ready = impl.receiver && (no_mki ? available(impl.receiver->default_key())
                                                : (available(h.tek) || available(h.alt_tek)));
    if (ready) {
      if (GstBuffer* out = Process(self, h.buffer, true)) impl.released.push_back(out);
    } else if (h.deadline <= now || flushing) {
      CountDroppedHeld(impl, h);
      const std::string which = h.tek ? std::to_string(*h.tek) : std::string("(default)");
      if (h.at_join) {
        GST_INFO_OBJECT(self,
                        "dropped a packet from before the first TEK: TEK %s came before "
                        "this stream was joined",
                        which.c_str());
      } else {
        Warn(self, "dropped-held", "SRTP packets dropped: their TEK never arrived",
             "no TEK " + which + " within hold-time " + std::to_string(hold_time_ms) + " ms");
      }
      gst_buffer_unref(h.buffer);
    } else {
      keep.push_back(h);
    }
  }
  {
    std::lock_guard<std::mutex> l(impl.lock);
    if (impl.flush_gen != gen) {  // flushed meanwhile: what was kept is stale
      for (Held& h : keep) {
        gst_buffer_unref(h.buffer);
        CountDroppedHeld(impl, h);
      }
    } else {
      for (Held& h : impl.held) keep.push_back(h);  // none: only stream lock holders add
      impl.held = std::move(keep);
    }
    impl.held_in_pass = 0;
    impl.maybe_release.store(!impl.held.empty(), std::memory_order_relaxed);
    impl.cond.notify_all();  // EOS may be waiting for the queue to empty
  }
  PostNotices(self);
  GstFlowReturn ret = GST_FLOW_OK;
  if (impl.released.size() == 1) {
    ret = gst_pad_push(self->srcpad, impl.released.front());
  } else if (!impl.released.empty()) {
    GstBufferList* list = gst_buffer_list_new_sized(static_cast<guint>(impl.released.size()));
    for (GstBuffer* b : impl.released) gst_buffer_list_add(list, b);
    ret = gst_pad_push_list(self->srcpad, list);
  }
  impl.released.clear();
  return ret;
}

static void ReleaseLoop(GstBcastSrtpDec* self) {
  Impl& impl = self->impl;
  std::unique_lock<std::mutex> lk(impl.lock);
  while (impl.running) {
    if (!ReleaseDueLocked(impl)) {
      if (impl.held.empty()) {
        impl.cond.wait(lk);
      } else {
        const gint64 wait_us = impl.held.front().deadline - g_get_monotonic_time();
        impl.cond.wait_for(lk, std::chrono::microseconds(std::max<gint64>(wait_us, 0) + 1000));
      }
      continue;
    }
    lk.unlock();
    {
      StreamLock sl(self->sinkpad);
      if (impl.receiver) ReleaseHeld(self);
    }
    lk.lock();
  }
}

static void StartReleaser(GstBcastSrtpDec* self) {
  Impl& impl = self->impl;
  std::lock_guard<std::mutex> l(impl.lock);
  if (impl.running) return;
  impl.running = true;
  impl.flushing = false;
  impl.releaser = std::thread(ReleaseLoop, self);
}

static void StopReleaser(GstBcastSrtpDec* self) {
  Impl& impl = self->impl;
  {
    std::lock_guard<std::mutex> l(impl.lock);
    impl.running = false;
    impl.cond.notify_all();
  }
  if (impl.releaser.joinable()) impl.releaser.join();
}

// ---------------------------------------------------------------------------------------------
// Keyring.

static void OnTekAdded(BcastKeyring*, guint id, gpointer user_data) {
  auto* self = static_cast<GstBcastSrtpDec*>(user_data);
  Impl& impl = self->impl;
  std::lock_guard<std::mutex> l(impl.lock);
  impl.latest_tek = static_cast<bs::KeyId>(id);
  impl.tek_arrived = true;
  impl.default_dirty.store(true, std::memory_order_relaxed);
  if (!impl.held.empty()) impl.maybe_release.store(true, std::memory_order_relaxed);
  impl.cond.notify_all();
  GST_DEBUG_OBJECT(self, "keyring has TEK %u", id);
}

// Takes ownership of `keyring`.
static void SetKeyring(GstBcastSrtpDec* self, BcastKeyring* keyring) {
  Impl& impl = self->impl;
  BcastKeyring* old = nullptr;
  gulong old_handler = 0;
  {
    std::lock_guard<std::mutex> l(impl.lock);
    if (keyring == impl.keyring) {
      if (keyring) g_object_unref(keyring);
      return;
    }
    old = impl.keyring;
    old_handler = impl.tek_added_handler;
    impl.keyring = keyring;
    impl.tek_added_handler = 0;
  }
  if (old) {
    if (old_handler) g_signal_handler_disconnect(old, old_handler);
    g_object_unref(old);
  }
  if (keyring) {
    const gulong h = g_signal_connect(keyring, "tek-added", G_CALLBACK(OnTekAdded), self);
    std::lock_guard<std::mutex> l(impl.lock);
    impl.tek_added_handler = h;
    impl.tek_arrived = true;  // keys may already be there
    impl.default_dirty.store(true, std::memory_order_relaxed);
    if (!impl.held.empty()) impl.maybe_release.store(true, std::memory_order_relaxed);
    impl.cond.notify_all();
  }
}

static void gst_bcast_srtp_dec_set_context(GstElement* element, GstContext* context) {
  auto* self = GST_BCAST_SRTP_DEC(element);
  if (BcastKeyring* keyring = bcast_keyring_from_context(context)) {
    GST_DEBUG_OBJECT(self, "keyring from context");
    SetKeyring(self, keyring);
  }
  GST_ELEMENT_CLASS(gst_bcast_srtp_dec_parent_class)->set_context(element, context);
}

// ---------------------------------------------------------------------------------------------
// Pads.

static bool ConfigFromCaps(GstBcastSrtpDec* self, GstCaps* caps, bs::ReceiverConfig& cfg) {
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  if (const char* cipher = gst_structure_get_string(s, "srtp-cipher")) {
    if (g_strcmp0(cipher, "aes-128-icm") != 0) {
      GST_ELEMENT_ERROR(self, STREAM, DECRYPT, ("Unsupported SRTP cipher '%s'", cipher),
                        ("only aes-128-icm (AES_CM_128) is used with BCAST TEKs"));
      return false;
    }
  }
  if (const char* auth = gst_structure_get_string(s, "srtp-auth")) {
    auto a = bs::ParseSrtpAuth(auth);
    if (!a) {
      GST_ELEMENT_ERROR(self, STREAM, DECRYPT, ("Unsupported SRTP authentication '%s'", auth),
                        ("srtp-auth must be hmac-sha1-80, hmac-sha1-32 or null"));
      return false;
    }
    cfg.auth = *a;
  }
  gint v = 0;
  if (gst_structure_get_int(s, "mki-length", &v)) {
    if (v < 0 || v > static_cast<gint>(bs::kMaxMkiLength) || v == 5) {
      GST_ELEMENT_ERROR(self, STREAM, DECRYPT, ("Unsupported mki-length %d", v),
                        ("0..4 (TEK ID), or 6 (Smartcard Profile: MSK ID and MTK ID)"));
      return false;
    }
    cfg.mki_length = static_cast<std::size_t>(v);
  }
  if (gst_structure_get_int(s, "srtp-rcc-mode", &v)) {
    if (v < 0 || v > 3) {
      GST_ELEMENT_ERROR(self, STREAM, DECRYPT, ("Unsupported srtp-rcc-mode %d", v), ("0..3"));
      return false;
    }
    cfg.rcc_mode = static_cast<bs::RccMode>(v);
  }
  if (gst_structure_get_int(s, "srtp-roc-tx-rate", &v)) {
    if (v < 1 || v > 65535) {
      GST_ELEMENT_ERROR(self, STREAM, DECRYPT, ("Invalid srtp-roc-tx-rate %d", v), ("1..65535"));
      return false;
    }
    cfg.roc_tx_rate = static_cast<std::uint16_t>(v);
  }
  guint roc = 0;
  if (gst_structure_get_uint(s, "roc", &roc)) cfg.initial_roc = roc;
  return true;
}

static bool SameLayout(const bs::ReceiverConfig& a, const bs::ReceiverConfig& b) {
  return a.engine == b.engine && a.auth == b.auth && a.mki_length == b.mki_length &&
         a.rcc_mode == b.rcc_mode && a.roc_tx_rate == b.roc_tx_rate &&
         a.replay_window == b.replay_window;
}

// Called with the stream lock held (CAPS is serialized).
static gboolean HandleCaps(GstBcastSrtpDec* self, GstCaps* caps) {
  Impl& impl = self->impl;
  bs::ReceiverConfig cfg;
  {
    std::lock_guard<std::mutex> l(impl.lock);
    cfg.replay_window = impl.replay_window;
    cfg.engine = impl.engine;
  }
  if (!ConfigFromCaps(self, caps, cfg)) return FALSE;
  // Same layout again (caps renegotiated): keep the receiver, its ROC and its replay window.
  if (!impl.receiver || !SameLayout(impl.receiver->config(), cfg)) {
    impl.receiver = std::make_unique<bs::SrtpReceiver>(cfg);
    impl.tek_in_use.clear();
    impl.in_use_cached = false;
    GST_INFO_OBJECT(self,
                    "SRTP %s, MKI %zu bytes, RCC mode %d rate %u, replay window %zu, engine %s",
                    std::string(bs::SrtpAuthName(cfg.auth)).c_str(), cfg.mki_length,
                    static_cast<int>(cfg.rcc_mode), cfg.roc_tx_rate, cfg.replay_window,
                    std::string(bs::EngineName(cfg.engine)).c_str());
  }
  impl.default_dirty.store(true, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> l(impl.lock);
    impl.tek_arrived = true;
    if (!impl.held.empty()) impl.maybe_release.store(true, std::memory_order_relaxed);
    impl.cond.notify_all();
  }
  GstCaps* out = TransformCaps(caps, true);
  const gboolean ok = gst_pad_push_event(self->srcpad, gst_event_new_caps(out));
  gst_caps_unref(out);
  return ok;
}

static gboolean gst_bcast_srtp_dec_sink_event(GstPad* pad, GstObject* parent, GstEvent* event) {
  auto* self = GST_BCAST_SRTP_DEC(parent);
  Impl& impl = self->impl;
  switch (GST_EVENT_TYPE(event)) {
    case GST_EVENT_CAPS: {
      GstCaps* caps = nullptr;
      gst_event_parse_caps(event, &caps);
      const gboolean ok = HandleCaps(self, caps);
      gst_event_unref(event);
      return ok;
    }
    case GST_EVENT_FLUSH_START: {
      {
        std::lock_guard<std::mutex> l(impl.lock);
        impl.flushing = true;
        ++impl.flush_gen;
        DropHeldLocked(impl);
        impl.cond.notify_all();
      }
      return gst_pad_event_default(pad, parent, event);
    }
    case GST_EVENT_FLUSH_STOP: {
      {
        std::lock_guard<std::mutex> l(impl.lock);
        impl.flushing = false;
      }
      return gst_pad_event_default(pad, parent, event);
    }
    case GST_EVENT_EOS: {
      // Packets still waiting for their TEK get their hold-time before the stream ends. EOS holds
      // the stream lock, so the release thread cannot run meanwhile: the queue is drained here.
      for (;;) {
        {
          std::unique_lock<std::mutex> lk(impl.lock);
          if (impl.held.empty() || impl.flushing || !impl.running || !impl.receiver) break;
          if (!ReleaseDueLocked(impl)) {
            const gint64 wait_us = impl.held.front().deadline - g_get_monotonic_time();
            impl.cond.wait_for(lk, std::chrono::microseconds(std::max<gint64>(wait_us, 0) + 1000));
            continue;
          }
        }
        ReleaseHeld(self);
      }
      return gst_pad_event_default(pad, parent, event);
    }
    default:
      return gst_pad_event_default(pad, parent, event);
  }
}

static GstFlowReturn NotNegotiated(GstBcastSrtpDec* self) {
  GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No SRTP caps before the first packet"),
                    ("bcastsrtpdec needs application/x-srtp caps"));
  return GST_FLOW_NOT_NEGOTIATED;
}

// The pad guarantees `parent` is a GstBcastSrtpDec: no GType check per packet.
static GstBcastSrtpDec* FromParent(GstObject* parent) {
  return reinterpret_cast<GstBcastSrtpDec*>(parent);
}

static GstFlowReturn gst_bcast_srtp_dec_chain(GstPad*, GstObject* parent, GstBuffer* buf) {
  auto* self = FromParent(parent);
  Impl& impl = self->impl;
  if (!impl.receiver) {
    gst_buffer_unref(buf);
    return NotNegotiated(self);
  }
  GstFlowReturn ret = GST_FLOW_OK;
  if (impl.maybe_release.load(std::memory_order_relaxed)) ret = ReleaseHeld(self);
  GstBuffer* out = Process(self, buf, false);
  if (!impl.notices.empty()) PostNotices(self);
  if (out != nullptr) {
    if (ret == GST_FLOW_OK) {
      ret = gst_pad_push(self->srcpad, out);
    } else {
      gst_buffer_unref(out);
    }
  }
  return ret;
}

static gboolean ProcessInList(GstBuffer** buffer, guint, gpointer user_data) {
  // A NULL result removes the buffer from the list (dropped or held).
  *buffer = Process(static_cast<GstBcastSrtpDec*>(user_data), *buffer, false);
  return TRUE;
}

// The list is decrypted in place and pushed on as the same list.
static GstFlowReturn gst_bcast_srtp_dec_chain_list(GstPad*, GstObject* parent,
                                                   GstBufferList* list) {
  auto* self = FromParent(parent);
  Impl& impl = self->impl;
  list = gst_buffer_list_make_writable(list);
  if (!impl.receiver) {
    gst_buffer_list_unref(list);
    return NotNegotiated(self);
  }
  GstFlowReturn ret = GST_FLOW_OK;
  if (impl.maybe_release.load(std::memory_order_relaxed)) ret = ReleaseHeld(self);
  gst_buffer_list_foreach(list, ProcessInList, self);
  if (!impl.notices.empty()) PostNotices(self);
  if (ret != GST_FLOW_OK || gst_buffer_list_length(list) == 0) {
    gst_buffer_list_unref(list);
    return ret;
  }
  return gst_pad_push_list(self->srcpad, list);
}

static gboolean gst_bcast_srtp_dec_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  auto* self = GST_BCAST_SRTP_DEC(parent);
  if (GST_QUERY_TYPE(query) != GST_QUERY_CAPS) return gst_pad_query_default(pad, parent, query);
  const bool is_sink = pad == self->sinkpad;
  GstPad* other = is_sink ? self->srcpad : self->sinkpad;
  GstCaps* filter = nullptr;
  gst_query_parse_caps(query, &filter);
  GstCaps* peer_filter = filter ? TransformCaps(filter, is_sink) : nullptr;
  GstCaps* peer = gst_pad_peer_query_caps(other, peer_filter);
  if (peer_filter) gst_caps_unref(peer_filter);
  GstCaps* transformed = TransformCaps(peer, !is_sink);
  gst_caps_unref(peer);
  GstCaps* templ = gst_pad_get_pad_template_caps(pad);
  GstCaps* result = gst_caps_intersect(transformed, templ);
  gst_caps_unref(transformed);
  gst_caps_unref(templ);
  if (filter) {
    GstCaps* f = gst_caps_intersect_full(filter, result, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(result);
    result = f;
  }
  gst_query_set_caps_result(query, result);
  gst_caps_unref(result);
  return TRUE;
}

// ---------------------------------------------------------------------------------------------
// GObject / GstElement.

static GstStructure* MakeStats(GstBcastSrtpDec* self) {
  Impl& impl = self->impl;
  guint held_now = 0;
  {
    std::lock_guard<std::mutex> l(impl.lock);
    held_now = static_cast<guint>(impl.held.size() + impl.held_in_pass);
  }
  const Counters& c = impl.counters;
  auto v = [](const std::atomic<guint64>& a) { return a.load(std::memory_order_relaxed); };
  return gst_structure_new(
      "application/x-bcast-srtp-stats", "received", G_TYPE_UINT64, v(c.received), "decrypted",
      G_TYPE_UINT64, v(c.decrypted), "auth-failures", G_TYPE_UINT64, v(c.auth_failures), "replays",
      G_TYPE_UINT64, v(c.replays), "unknown-mki", G_TYPE_UINT64, v(c.unknown_mki), "malformed",
      G_TYPE_UINT64, v(c.malformed), "roc-unknown", G_TYPE_UINT64, v(c.roc_unknown), "held",
      G_TYPE_UINT64, v(c.held), "dropped-held", G_TYPE_UINT64, v(c.dropped_held),
      "dropped-held-at-join", G_TYPE_UINT64, v(c.dropped_held_at_join), "held-now", G_TYPE_UINT,
      held_now, "key-changes", G_TYPE_UINT, c.key_changes.load(std::memory_order_relaxed), "roc",
      G_TYPE_UINT, impl.last_roc.load(std::memory_order_relaxed), "ssrc", G_TYPE_UINT,
      impl.last_ssrc.load(std::memory_order_relaxed), "tek-id", G_TYPE_INT,
      impl.last_tek.load(std::memory_order_relaxed), nullptr);
}

static void gst_bcast_srtp_dec_set_property(GObject* object, guint prop_id, const GValue* value,
                                            GParamSpec* pspec) {
  auto* self = GST_BCAST_SRTP_DEC(object);
  Impl& impl = self->impl;
  std::lock_guard<std::mutex> l(impl.lock);
  switch (prop_id) {
    case PROP_REPLAY_WINDOW_SIZE:
      impl.replay_window = g_value_get_uint(value);
      break;
    case PROP_HOLD_TIME:
      impl.hold_time_ms = g_value_get_uint(value);
      break;
    case PROP_JOIN_TIME:
      impl.join_time_ms = g_value_get_uint(value);
      break;
    case PROP_HOLD_MAX:
      impl.hold_max = g_value_get_uint(value);
      break;
    case PROP_DEFAULT_TEK_ID:
      impl.default_tek_id = g_value_get_int(value);
      impl.tek_arrived = true;
      impl.default_dirty.store(true, std::memory_order_relaxed);
      if (!impl.held.empty()) impl.maybe_release.store(true, std::memory_order_relaxed);
      impl.cond.notify_all();
      break;
    case PROP_ENGINE:
      impl.engine = static_cast<bs::Engine>(g_value_get_enum(value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static void gst_bcast_srtp_dec_get_property(GObject* object, guint prop_id, GValue* value,
                                            GParamSpec* pspec) {
  auto* self = GST_BCAST_SRTP_DEC(object);
  Impl& impl = self->impl;
  if (prop_id == PROP_STATS) {
    g_value_take_boxed(value, MakeStats(self));
    return;
  }
  std::lock_guard<std::mutex> l(impl.lock);
  switch (prop_id) {
    case PROP_REPLAY_WINDOW_SIZE:
      g_value_set_uint(value, impl.replay_window);
      break;
    case PROP_HOLD_TIME:
      g_value_set_uint(value, impl.hold_time_ms);
      break;
    case PROP_JOIN_TIME:
      g_value_set_uint(value, impl.join_time_ms);
      break;
    case PROP_HOLD_MAX:
      g_value_set_uint(value, impl.hold_max);
      break;
    case PROP_DEFAULT_TEK_ID:
      g_value_set_int(value, impl.default_tek_id);
      break;
    case PROP_ENGINE:
      g_value_set_enum(value, static_cast<gint>(impl.engine));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  }
}

static GstStateChangeReturn gst_bcast_srtp_dec_change_state(GstElement* element,
                                                            GstStateChange transition) {
  auto* self = GST_BCAST_SRTP_DEC(element);
  Impl& impl = self->impl;
  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      SetKeyring(self, bcast_keyring_obtain(element));
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED: {
      {
        StreamLock sl(self->sinkpad);
        impl.counters.Reset();
        {
          std::lock_guard<std::mutex> l(impl.lock);
          impl.join_started = 0;
        }
        impl.tallies.clear();
        impl.tally = nullptr;
        impl.tek_in_use.clear();
        impl.in_use_cached = false;
        impl.warnings.clear();
        impl.last_roc.store(0, std::memory_order_relaxed);
        impl.last_ssrc.store(0, std::memory_order_relaxed);
        impl.last_tek.store(-1, std::memory_order_relaxed);
      }
      StartReleaser(self);
      break;
    }
    default:
      break;
  }
  const GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_bcast_srtp_dec_parent_class)->change_state(element, transition);
  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY: {
      StopReleaser(self);
      StreamLock sl(self->sinkpad);
      std::lock_guard<std::mutex> l(impl.lock);
      DropHeldLocked(impl);
      impl.receiver.reset();
      break;
    }
    case GST_STATE_CHANGE_READY_TO_NULL:
      SetKeyring(self, nullptr);
      break;
    default:
      break;
  }
  return ret;
}

static void gst_bcast_srtp_dec_finalize(GObject* object) {
  auto* self = GST_BCAST_SRTP_DEC(object);
  StopReleaser(self);
  SetKeyring(self, nullptr);
  DropHeldLocked(self->impl);
  self->impl.~Impl();
  G_OBJECT_CLASS(gst_bcast_srtp_dec_parent_class)->finalize(object);
}

static void gst_bcast_srtp_dec_class_init(GstBcastSrtpDecClass* klass) {
  spc::KeepOpensslStateUntilExit();  // the streaming threads may outlive the host's main
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  gobject_class->set_property = gst_bcast_srtp_dec_set_property;
  gobject_class->get_property = gst_bcast_srtp_dec_get_property;
  gobject_class->finalize = gst_bcast_srtp_dec_finalize;
  element_class->change_state = gst_bcast_srtp_dec_change_state;
  element_class->set_context = gst_bcast_srtp_dec_set_context;

  /**
   * GstBcastSrtpDec:replay-window-size:
   *
   * Packets accepted behind the highest index received on an SSRC (RFC 3711 §3.3.2). The window
   * spans TEK changes. Takes effect with the next caps.
   */
  g_object_class_install_property(
      gobject_class, PROP_REPLAY_WINDOW_SIZE,
      g_param_spec_uint("replay-window-size", "Replay window size",
                        "Size of the SRTP replay window in packets (kept across TEK changes)", 64,
                        32767, kDefaultReplayWindow,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstBcastSrtpDec:hold-time:
   *
   * A packet whose MKI names a TEK the keyring does not have yet (its STKM is late) waits this
   * long; it goes on, in order, when the keyring announces the TEK ("tek-added"), else it is
   * dropped and counted in dropped-held. 0 drops such packets at once.
   */
  g_object_class_install_property(
      gobject_class, PROP_HOLD_TIME,
      g_param_spec_uint("hold-time", "Hold time",
                        "Milliseconds a packet waits for a TEK that has not arrived yet", 0, 60000,
                        kDefaultHoldTimeMs,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstBcastSrtpDec:join-time:
   *
   * Joining a running service: packets held before the first packet was decrypted, for at most
   * this long after the first of them, are the join when their TEK never comes (its STKM went by
   * before the stream was tuned in): counted in dropped-held-at-join, without a warning. Later
   * ones, or all with 0, are losses with a warning.
   */
  g_object_class_install_property(
      gobject_class, PROP_JOIN_TIME,
      g_param_spec_uint("join-time", "Join time",
                        "Milliseconds in which held packets whose TEK never comes, before the "
                        "first decrypted one, count as the join, not as losses (0: never)",
                        0, G_MAXUINT, kDefaultJoinTimeMs,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstBcastSrtpDec:hold-max:
   *
   * Bound of the queue of packets waiting for their TEK; the oldest go first when it is full.
   */
  g_object_class_install_property(
      gobject_class, PROP_HOLD_MAX,
      g_param_spec_uint("hold-max", "Hold queue size",
                        "Most packets held while waiting for their TEK", 1, 1 << 20,
                        kDefaultHoldMax,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstBcastSrtpDec:default-tek-id:
   *
   * With mki-length 0 in the caps (a sender without MKI, e.g. FFmpeg) every packet uses one TEK:
   * this ID, or with -1 the TEK most recently added to the keyring.
   */
  g_object_class_install_property(
      gobject_class, PROP_DEFAULT_TEK_ID,
      g_param_spec_int("default-tek-id", "Default TEK ID",
                       "TEK for packets without MKI (-1: the latest TEK added to the keyring)", -1,
                       65535, -1,
                       static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstBcastSrtpDec:engine:
   *
   * Who does the per-packet cryptography: "openssl" (default; OpenSSL EVP contexts keyed once
   * per TEK) or "libsrtp" (libsrtp2 srtp_unprotect_mki, the reference the OpenSSL engine is
   * cross-checked against in tests/srtp). Index, ROC, RFC 4771 and the replay window are the
   * element's own with either. Takes effect with the next caps.
   */
  g_object_class_install_property(
      gobject_class, PROP_ENGINE,
      g_param_spec_enum("engine", "Engine", "SRTP crypto engine (openssl or libsrtp)",
                        bcast_srtp_dec_engine_get_type(), static_cast<gint>(bs::Engine::kOpenssl),
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstBcastSrtpDec:stats:
   *
   * application/x-bcast-srtp-stats: received, decrypted, auth-failures, replays, unknown-mki,
   * malformed, roc-unknown (RFC 4771 packets before the first ROC), held, dropped-held,
   * dropped-held-at-join (of dropped-held, those held before the first packet was decrypted and
   * within join-time: their TEK was in use before the stream was joined) (guint64); held-now,
   * key-changes, roc and ssrc (of the last decrypted packet) (guint); tek-id (gint, -1 before the
   * first packet).
   */
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics", "SRTP decryption statistics", GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "BCAST SRTP decoder", "Filter/Network/SRTP",
      "Decrypts SRTP with OMA BCAST TEKs from the pipeline keyring (MKI = TEK ID, RFC 4771 ROC)",
      "openbcast");
}

static void gst_bcast_srtp_dec_init(GstBcastSrtpDec* self) {
  new (&self->impl) Impl();
  self->sinkpad = gst_pad_new_from_static_template(&sink_template, "sink");
  gst_pad_set_chain_function(self->sinkpad, gst_bcast_srtp_dec_chain);
  gst_pad_set_chain_list_function(self->sinkpad, gst_bcast_srtp_dec_chain_list);
  gst_pad_set_event_function(self->sinkpad, gst_bcast_srtp_dec_sink_event);
  gst_pad_set_query_function(self->sinkpad, gst_bcast_srtp_dec_query);
  gst_element_add_pad(GST_ELEMENT(self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template(&src_template, "src");
  gst_pad_set_query_function(self->srcpad, gst_bcast_srtp_dec_query);
  gst_element_add_pad(GST_ELEMENT(self), self->srcpad);
}
