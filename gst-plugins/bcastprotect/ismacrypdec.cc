/**
 * SECTION:element-ismacrypdec
 * @title: ismacrypdec
 * @short_description: decrypts ISMACryp (enc-mpeg4-generic) RTP with TEKs from the keyring
 *
 * ismacrypdec takes RTP packets of payload format `enc-mpeg4-generic` (RFC 3640 framing with the
 * ISMACryp 1.1 AU-header fields) and outputs the decrypted access units: AAC as
 * `audio/mpeg, mpegversion=4, stream-format=raw` with `codec_data` from the SDP `config`, H.264 as
 * `video/x-h264, stream-format=byte-stream, alignment=au` (ISMA E&A carries Annex B access units;
 * the SDP `sprop-parameter-sets` are put in front of the first one).
 *
 * The sink caps carry the SDP fmtp parameters as GStreamer's SDP library puts them (lowercased
 * names): ISMACrypIVLength, ISMACrypDeltaIVLength, ISMACrypKeyIndicatorLength,
 * ISMACrypKeyIndicatorPerAU, ISMACrypSelectiveEncryption, ISMACrypSalt, and the RFC 3640 ones
 * (mode, sizeLength, indexLength, indexDeltaLength, CTSDeltaLength, DTSDeltaLength,
 * randomAccessIndication, streamStateIndication, auxiliaryDataSizeLength, constantSize,
 * constantDuration, config, streamType).
 *
 * Each AU is decrypted with AES-128-CTR under the TEK whose ID is the AU's key indicator, looked up
 * in the keyring that the pipeline shares as GstContext `openbcast.keyring` (filled by tekdec).
 * Without a key indicator in the stream, #GstIsmacrypDec:key-id or else the TEK most recently
 * added to the keyring is used.
 *
 * Losses: AUs fragmented over several packets are only output when every fragment arrived (the
 * AU-size and the IV of each fragment are checked); the IV of the next packet gives the byte
 * stream offset again, so a lost packet costs only the AUs it carried.
 *
 * Bad input never stops the stream: the affected AU is dropped, counted in
 * #GstIsmacrypDec:stats under its reason and reported with a warning.
 *
 * Joining a running service: until the first AU is decrypted, AUs under a TEK the keyring does
 * not hold are counted as `dropped-at-join`, without a warning, for at most
 * #GstIsmacrypDec:join-time after the first of them. They are the join, not a failure: their
 * TEK's STKM went by before the stream was tuned in, or the key stream is not read yet.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 udpsrc port=5004 caps=application/x-bcast-stkm ! stkmparse ! tekdec sek-file=k.ini
 * \ udpsrc port=5008 caps="application/x-rtp, media=audio, clock-rate=44100,
 *     encoding-name=ENC-MPEG4-GENERIC, mode=AAC-hbr, sizelength=13, indexlength=3,
 *     indexdeltalength=3, config=1210, ismacrypivlength=4, ismacrypkeyindicatorlength=2" ! \
 *   rtpjitterbuffer ! ismacrypdec ! aacparse ! avdec_aac ! autoaudiosink
 * ]|
 */
#include "gst-plugins/bcastprotect/ismacrypdec.h"

#include <gst/rtp/gstrtpbuffer.h>
#include <gst/rtp/gstrtphdrext.h>
#include <gst/rtp/gstrtpmeta.h>

#include <array>
#include <atomic>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "gst-plugins/bcastprotect/ismacryp/ismacryp.h"
#include "gst-plugins/bcastprotect/keyring.h"
#include "gst-plugins/bcastprotect/srtp/srtp_types.h"
#include "spc/libspc/crypto.h"

GST_DEBUG_CATEGORY_STATIC(gst_ismacryp_dec_debug);
#define GST_CAT_DEFAULT gst_ismacryp_dec_debug

namespace {

namespace ism = bcast::ismacryp;

// Why an AU was dropped; the names are the stats fields.
enum DropReason {
  kDropHeadersLength,    // AU-headers-length (or auxiliary section) runs past the packet
  kDropHeaderTruncated,  // an AU header field (IV, key indicator, ...) runs past the section
  kDropAuSize,           // AU-size larger than the data that is there
  kDropUnknownKey,       // no TEK for the key indicator
  kDropIncomplete,       // fragments missing
  kDropCrypto,           // OpenSSL failed
  kDropBsoUnknown,       // ISMACrypIVLength=0 and a loss: the byte stream offset is gone
  kDropReasons,
};

constexpr guint kDefaultJoinTimeMs = 10000;

constexpr const char* kDropNames[kDropReasons] = {
    "dropped-headers-length", "dropped-header-truncated", "dropped-au-size",
    "dropped-unknown-key",    "dropped-incomplete",       "dropped-crypto",
    "dropped-bso-unknown",
};

enum class Codec { kAac, kH264 };

// Counters and flags the streaming thread writes and other threads read: atomics, so that no AU
// takes the object lock.
struct Stats {
  std::atomic<guint64> decrypted{0};
  std::atomic<guint64> clear{0};
  std::atomic<guint64> dropped[kDropReasons] = {};
  std::atomic<guint64> packets_lost{0};
  std::atomic<guint64> at_join{0};  // not a drop reason: not in aus-dropped
  // Monotonic µs of the first AU dropped at the join (0: none yet), the start of join-time.
  std::atomic<gint64> join_started{0};
  std::atomic<bool> warned[kDropReasons] = {};  // a bus warning was posted since the last good AU
  std::atomic<bool> any_warned{false};
  // The TEK for streams without key indicator: key-id, else the latest "tek-added" (-1: none).
  std::atomic<gint> fallback_id{-1};
  // Bumped when a TEK arrives or key-id / the keyring changes: cached TEKs are looked up again.
  std::atomic<guint> key_gen{0};
  void Reset() {
    decrypted.store(0, std::memory_order_relaxed);
    clear.store(0, std::memory_order_relaxed);
    packets_lost.store(0, std::memory_order_relaxed);
    at_join.store(0, std::memory_order_relaxed);
    join_started.store(0, std::memory_order_relaxed);
    for (auto& d : dropped) d.store(0, std::memory_order_relaxed);
    for (auto& w : warned) w.store(false, std::memory_order_relaxed);
    any_warned.store(false, std::memory_order_relaxed);
  }
};

void Bump(std::atomic<guint64>& c, guint64 n = 1) {
  // One writer (the streaming thread): no locked read-modify-write.
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// The TEK last used. Looked up again when the ID changes, a TEK arrives ("tek-added"), key-id or
// the keyring changes, and at least every kTekRecheckUs, so that a key replaced under the same ID
// or expired is noticed: at broadcast AU rates (under 100/s) every AU still sees the keyring's
// current state; faster streams share one lookup (a lock and a ref) per interval.
constexpr gint64 kTekRecheckUs = 10 * 1000;
struct TekCache {
  bool valid = false;
  std::int64_t id = -1;
  guint gen = 0;
  gint64 checked = 0;
  ism::Tek key{};
  void Clear() {
    OPENSSL_cleanse(key.data(), key.size());
    valid = false;
  }
};

// A buffer of one memory (what sources make, and the AUs made here) is mapped through that
// memory: gst_buffer_map would take and drop a ref on it and check the buffer's state, per
// packet. Others (several memories, merged by gst_buffer_map) go through the buffer.
struct BufferMap {
  GstMapInfo info{};
  bool whole_buffer = false;
};

static bool map_buffer(GstBuffer* buf, BufferMap* map, GstMapFlags flags) {
  map->whole_buffer = gst_buffer_n_memory(buf) != 1;
  if (map->whole_buffer) return gst_buffer_map(buf, &map->info, flags);
  return gst_memory_map(gst_buffer_peek_memory(buf, 0), &map->info, flags);
}

static void unmap_buffer(GstBuffer* buf, BufferMap* map) {
  if (map->whole_buffer) {
    gst_buffer_unmap(buf, &map->info);
  } else {
    gst_memory_unmap(map->info.memory, &map->info);
  }
}

// An AU being put together from fragments, straight into its output memory: each fragment is
// decrypted (or copied, when clear or its TEK is not known yet) into place as it arrives.
struct Assembly {
  bool active = false;
  GstMemory* out = nullptr;  // prefix (H.264 parameter sets) + AU-size bytes
  GstMapInfo map{};          // `out` stays mapped for writing until the AU is complete
  bool mapped = false;
  std::size_t prefix = 0;     // bytes of parameter sets in front of the AU
  std::size_t filled = 0;     // AU bytes received
  std::size_t decrypted = 0;  // AU bytes [0, decrypted) already decrypted
  std::optional<std::uint64_t> bso;
  std::uint32_t size = 0;
  std::uint32_t rtp_ts = 0;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  bool encrypted = true;
  std::optional<std::uint64_t> key;
  bool rap = false;
  bool after_gap = false;  // started right after a loss: may be the tail of an AU
};

// An assembled AU, complete with the current packet: it goes out once the packet is unmapped, in
// the packet's GstBuffer when that is ours alone (see process_mapped).
struct CompletedAu {
  GstMemory* memory = nullptr;
  std::size_t prefix = 0;
  bool encrypted = true;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  bool rap = false;
};

// A complete AU of the current packet, decrypted in place, pushed once the packet is unmapped
// (a region of a buffer mapped for writing cannot be shared).
struct PendingAu {
  guint offset = 0;  // in the RTP packet
  guint size = 0;
  std::size_t prefix = 0;
  bool encrypted = true;
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  GstClockTime dts = GST_CLOCK_TIME_NONE;
  bool rap_known = false;
  bool rap = false;
};

// One RTP packet, mapped once (for writing when it is ours alone), its header read by the
// project's RTP header parser: what gst_rtp_buffer_map gives, without its per-packet extras (a
// GstRTPBuffer of four maps to clear, a second map for the padding, a call per field).
struct RtpPacket {
  GstBuffer* buffer = nullptr;  // set while mapped
  BufferMap map;
  bcast::srtp::RtpHeaderInfo header;
  std::span<std::uint8_t> payload;  // without the padding
};

// Streaming-thread state (constructed in init, destroyed in finalize).
struct StreamState {
  ism::Fmtp fmtp;
  Codec codec = Codec::kAac;
  gint clock_rate = 0;
  ism::CtrCipher cipher;
  TekCache tek;
  ism::ParsedPayload parsed;  // reused from packet to packet
  Assembly assembly;
  // An AU whose fragments a loss interrupted (already counted): its tail is not counted again.
  std::optional<std::pair<std::uint32_t, std::uint32_t>> interrupted;  // (rtp ts, AU-size)
  std::optional<guint16> last_seq;
  // Without IV in the packets (ISMACrypIVLength=0) the BSO is counted here; a loss loses it.
  std::optional<std::uint64_t> implicit_bso = 0;
  bool gap = false;  // a loss before the current packet
  bool sent_parameter_sets = false;
  ism::Bytes parameter_sets;  // Annex B SPS/PPS from sprop-parameter-sets
  // The packet is ours alone and mapped for writing: complete AUs are decrypted where they are
  // and go out as regions of it (no allocation, no copy); they wait in `pending` until unmap.
  bool in_place = false;
  std::vector<PendingAu> pending;  // capacity kept from packet to packet
  CompletedAu completed;           // set by finish_assembly, output by process_mapped

  // ---- the element's own packet path (own_chain / own_chain_list) ----
  // GstRTPBaseDepayload 1.22 handles a buffer list packet by packet (its checks, a second map,
  // one push per AU); the own path takes the packets itself and pushes the list's AUs as one
  // list. It keeps what the base class keeps per packet (below, same names as its private
  // fields) so that the output is the same buffers, timestamps and flags. Not used (the base
  // class handles every packet) with RTP header extensions or in ONVIF mode, which only the base
  // class implements.
  bool own_path = false;  // per caps: no extmap-*, no onvif-mode
  bool negotiated = false;
  gint next_seqnum = -1;
  guint32 last_ssrc = 0;
  bool discont = false;                    // the next AU out gets DISCONT
  GstClockTime pts = GST_CLOCK_TIME_NONE;  // of the last packet, for the next AU without one
  GstClockTime dts = GST_CLOCK_TIME_NONE;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  guint64 ref_ts = GST_CLOCK_TIME_NONE;
  GstClockTime npt_start = 0;
  GstClockTime npt_stop = GST_CLOCK_TIME_NONE;
  gdouble play_speed = 1.0;
  gdouble play_scale = 1.0;
  guint clock_base = G_MAXUINT;
  guint32 segment_seqnum = GST_SEQNUM_INVALID;
  GstEvent* segment_event = nullptr;  // made at the first packet, pushed before the first AU
  // The packet being handled (source-info): its SSRC and CSRCs.
  guint32 in_ssrc = 0;
  std::vector<guint32> in_csrcs;
  bool collecting = false;      // push_au appends to `out` instead of pushing
  gint64 now = 0;               // monotonic time of the packet or list (the TEK recheck)
  std::vector<GstBuffer*> out;  // AUs of the packet or list, capacity kept
  std::vector<GstBuffer*> in;   // the list's packets, capacity kept
};

}  // namespace

struct _GstIsmacrypDec {
  GstRTPBaseDepayload parent;

  // Object lock.
  BcastKeyring* keyring;
  gulong tek_added_id;
  gint key_id;                      // property
  gint latest_tek;                  // last "tek-added" id, -1 none
  std::atomic<guint> join_time_ms;  // property, read by the streaming thread without the lock

  Stats stats;  // atomics: no lock

  GstPadQueryFunction sink_query;
  GstPadQueryFunction src_query;
  GstPadChainFunction base_chain;
  GstPadChainListFunction base_chain_list;
  std::atomic<bool> hdrext_added;  // "add-extension" was used: the base class's path

  StreamState state;
};

enum {
  PROP_0,
  PROP_KEY_ID,
  PROP_JOIN_TIME,
  PROP_STATS,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("application/x-rtp, media=(string){audio,video}, clock-rate=(int)[1,MAX], "
                    "encoding-name=(string)ENC-MPEG4-GENERIC"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS("audio/mpeg, mpegversion=(int)4, stream-format=(string)raw; "
                    "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au"));

G_DEFINE_TYPE_WITH_CODE(GstIsmacrypDec, gst_ismacryp_dec, GST_TYPE_RTP_BASE_DEPAYLOAD,
                        GST_DEBUG_CATEGORY_INIT(gst_ismacryp_dec_debug, "ismacrypdec", 0,
                                                "ISMACryp RTP decryptor"))
GST_ELEMENT_REGISTER_DEFINE(ismacrypdec, "ismacrypdec", GST_RANK_NONE, GST_TYPE_ISMACRYP_DEC)

static GstStructure* make_stats(GstIsmacrypDec* self) {
  const Stats& s = self->stats;
  auto v = [](const std::atomic<guint64>& a) { return a.load(std::memory_order_relaxed); };
  guint64 dropped = 0;
  for (const auto& d : s.dropped) dropped += v(d);
  GstStructure* st = gst_structure_new(
      "application/x-ismacrypdec-stats", "aus-decrypted", G_TYPE_UINT64, v(s.decrypted),
      "aus-clear", G_TYPE_UINT64, v(s.clear), "aus-dropped", G_TYPE_UINT64, dropped, "packets-lost",
      G_TYPE_UINT64, v(s.packets_lost), "dropped-at-join", G_TYPE_UINT64, v(s.at_join), nullptr);
  for (int i = 0; i < kDropReasons; ++i) {
    gst_structure_set(st, kDropNames[i], G_TYPE_UINT64, v(s.dropped[i]), nullptr);
  }
  return st;
}

// Object lock held.
static void update_fallback_locked(GstIsmacrypDec* self) {
  self->stats.fallback_id.store(self->key_id >= 0 ? self->key_id : self->latest_tek,
                                std::memory_order_relaxed);
  self->stats.key_gen.fetch_add(1, std::memory_order_release);
}

static void gst_ismacryp_dec_set_property(GObject* object, guint prop_id, const GValue* value,
                                          GParamSpec* pspec) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(object);
  switch (prop_id) {
    case PROP_KEY_ID:
      GST_OBJECT_LOCK(self);
      self->key_id = g_value_get_int(value);
      update_fallback_locked(self);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_JOIN_TIME:
      self->join_time_ms.store(g_value_get_uint(value), std::memory_order_relaxed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

static void gst_ismacryp_dec_get_property(GObject* object, guint prop_id, GValue* value,
                                          GParamSpec* pspec) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_KEY_ID:
      g_value_set_int(value, self->key_id);
      break;
    case PROP_JOIN_TIME:
      g_value_set_uint(value, self->join_time_ms.load(std::memory_order_relaxed));
      break;
    case PROP_STATS:
      g_value_take_boxed(value, make_stats(self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void on_tek_added(BcastKeyring* /*keyring*/, guint id, gpointer user_data) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(user_data);
  GST_OBJECT_LOCK(self);
  self->latest_tek = static_cast<gint>(id);
  update_fallback_locked(self);
  GST_OBJECT_UNLOCK(self);
}

// Takes ownership of `keyring` (may be null); drops the old one.
static void replace_keyring(GstIsmacrypDec* self, BcastKeyring* keyring) {
  GST_OBJECT_LOCK(self);
  std::swap(self->keyring, keyring);
  gulong old_id = self->tek_added_id;
  self->tek_added_id = 0;
  update_fallback_locked(self);
  GST_OBJECT_UNLOCK(self);
  if (keyring != nullptr) {
    if (old_id != 0) g_signal_handler_disconnect(keyring, old_id);
    g_object_unref(keyring);
  }
  GST_OBJECT_LOCK(self);
  BcastKeyring* current = self->keyring ? BCAST_KEYRING(g_object_ref(self->keyring)) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (current != nullptr) {
    gulong id = 0;
    if (g_signal_lookup("tek-added", G_OBJECT_TYPE(current)) != 0) {
      id = g_signal_connect(current, "tek-added", G_CALLBACK(on_tek_added), self);
    }
    GST_OBJECT_LOCK(self);
    self->tek_added_id = id;
    GST_OBJECT_UNLOCK(self);
    g_object_unref(current);
  }
}

static void gst_ismacryp_dec_set_context(GstElement* element, GstContext* context) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(element);
  if (BcastKeyring* keyring = bcast_keyring_from_context(context)) {
    GST_DEBUG_OBJECT(self, "keyring %p set", keyring);
    replace_keyring(self, keyring);
  }
  GST_ELEMENT_CLASS(gst_ismacryp_dec_parent_class)->set_context(element, context);
}

static void clear_assembly(Assembly& a) {
  if (a.mapped) gst_memory_unmap(a.out, &a.map);
  if (a.out != nullptr) gst_memory_unref(a.out);
  a = Assembly{};
}

static void reset_stream(GstIsmacrypDec* self) {
  StreamState& st = self->state;
  clear_assembly(st.assembly);
  st.tek.Clear();
  st.interrupted.reset();
  st.last_seq.reset();
  st.implicit_bso = 0;
  st.gap = false;
  st.sent_parameter_sets = false;
  // What GstRTPBaseDepayload resets on flush and READY_TO_PAUSED.
  st.next_seqnum = -1;
  st.ref_ts = GST_CLOCK_TIME_NONE;
  gst_event_replace(&st.segment_event, nullptr);
}

static GstStateChangeReturn gst_ismacryp_dec_change_state(GstElement* element,
                                                          GstStateChange transition) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    replace_keyring(self, bcast_keyring_obtain(element));
  }
  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    reset_stream(self);
    self->stats.Reset();
    StreamState& st = self->state;
    st.negotiated = false;
    st.discont = false;
    st.npt_start = 0;
    st.npt_stop = GST_CLOCK_TIME_NONE;
    st.play_speed = 1.0;
    st.play_scale = 1.0;
    st.clock_base = G_MAXUINT;
    st.segment_seqnum = GST_SEQNUM_INVALID;
    st.pts = st.dts = st.duration = GST_CLOCK_TIME_NONE;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_ismacryp_dec_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    gst_event_replace(&self->state.segment_event, nullptr);
  }
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) replace_keyring(self, nullptr);
  return ret;
}

static gboolean sink_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(parent);
  if (bcast_keyring_handle_context_query(GST_ELEMENT(self), query)) return TRUE;
  return self->sink_query ? self->sink_query(pad, parent, query)
                          : gst_pad_query_default(pad, parent, query);
}

static gboolean src_query(GstPad* pad, GstObject* parent, GstQuery* query) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(parent);
  if (bcast_keyring_handle_context_query(GST_ELEMENT(self), query)) return TRUE;
  return self->src_query ? self->src_query(pad, parent, query)
                         : gst_pad_query_default(pad, parent, query);
}

// ---- caps ----

static std::string value_to_string(const GValue* v) {
  if (G_VALUE_HOLDS_STRING(v)) return g_value_get_string(v) ? g_value_get_string(v) : "";
  if (G_VALUE_HOLDS_INT(v)) return std::to_string(g_value_get_int(v));
  if (G_VALUE_HOLDS_UINT(v)) return std::to_string(g_value_get_uint(v));
  if (G_VALUE_HOLDS_BOOLEAN(v)) return g_value_get_boolean(v) ? "1" : "0";
  g_autofree gchar* s = gst_value_serialize(v);
  return s ? s : "";
}

// AudioSpecificConfig: object type, sampling frequency index (or explicit rate), channels.
static bool parse_asc(const ism::Bytes& asc, gint* rate, gint* channels) {
  static const gint kRates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                22050, 16000, 12000, 11025, 8000,  7350};
  std::size_t bit = 0;
  auto read = [&](unsigned n, guint32* out) {
    if (bit + n > asc.size() * 8) return false;
    guint32 v = 0;
    for (unsigned i = 0; i < n; ++i, ++bit) v = (v << 1) | ((asc[bit / 8] >> (7 - bit % 8)) & 1u);
    *out = v;
    return true;
  };
  guint32 ot = 0, fi = 0, ch = 0;
  if (!read(5, &ot)) return false;
  if (ot == 31 && !read(6, &ot)) return false;
  if (!read(4, &fi)) return false;
  if (fi == 15) {
    guint32 r = 0;
    if (!read(24, &r)) return false;
    *rate = static_cast<gint>(r);
  } else if (fi < G_N_ELEMENTS(kRates)) {
    *rate = kRates[fi];
  } else {
    return false;
  }
  if (!read(4, &ch)) return false;
  *channels = ch == 7 ? 8 : static_cast<gint>(ch);
  return *channels > 0;
}

static gboolean set_stream_caps(GstRTPBaseDepayload* depay, GstCaps* caps) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(depay);
  StreamState& st = self->state;
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  gint clock_rate = 0;
  if (!gst_structure_get_int(s, "clock-rate", &clock_rate) || clock_rate <= 0) {
    GST_ERROR_OBJECT(self, "no clock-rate in caps %" GST_PTR_FORMAT, caps);
    return FALSE;
  }
  std::vector<std::pair<std::string, std::string>> params;
  for (gint i = 0; i < gst_structure_n_fields(s); ++i) {
    const gchar* name = gst_structure_nth_field_name(s, i);
    params.emplace_back(name, value_to_string(gst_structure_get_value(s, name)));
  }
  auto fmtp = ism::ParseFmtp(params);
  if (!fmtp) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("bad ISMACryp/RFC 3640 parameter in the caps"),
                      ("%s: %s", fmtp.error().field.c_str(), fmtp.error().message.c_str()));
    return FALSE;
  }
  const gchar* media = gst_structure_get_string(s, "media");
  g_autofree gchar* mode_lower = g_ascii_strdown(fmtp->mode.c_str(), -1);
  const std::string mode = mode_lower;
  std::optional<Codec> codec;
  if (mode == "aac-hbr" || mode == "aac-lbr") {
    codec = Codec::kAac;
  } else if (mode == "avc-video" || mode == "avc") {
    codec = Codec::kH264;
  } else if (fmtp->stream_type == 5 || (fmtp->stream_type < 0 && g_strcmp0(media, "audio") == 0)) {
    codec = Codec::kAac;
  } else if (g_strcmp0(media, "video") == 0 &&
             (!fmtp->sprop_parameter_sets.empty() || fmtp->config.empty())) {
    codec = Codec::kH264;
  }
  if (!codec) {
    GST_ELEMENT_ERROR(
        self, STREAM, CODEC_NOT_FOUND, ("unsupported ISMACryp stream"),
        ("mode=%s streamType=%d: only AAC and H.264", fmtp->mode.c_str(), fmtp->stream_type));
    return FALSE;
  }
  GstCaps* out = nullptr;
  st.parameter_sets.clear();
  if (*codec == Codec::kAac) {
    if (fmtp->config.empty()) {
      GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("AAC stream without config"),
                        ("the SDP fmtp must carry config (AudioSpecificConfig)"));
      return FALSE;
    }
    GstBuffer* cd = gst_buffer_new_memdup(fmtp->config.data(), fmtp->config.size());
    out = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4, "stream-format",
                              G_TYPE_STRING, "raw", "codec_data", GST_TYPE_BUFFER, cd, nullptr);
    gst_buffer_unref(cd);
    gint rate = 0, channels = 0;
    if (parse_asc(fmtp->config, &rate, &channels)) {
      gst_caps_set_simple(out, "rate", G_TYPE_INT, rate, "channels", G_TYPE_INT, channels, nullptr);
    }
  } else {
    out = gst_caps_new_simple("video/x-h264", "stream-format", G_TYPE_STRING, "byte-stream",
                              "alignment", G_TYPE_STRING, "au", nullptr);
    g_auto(GStrv) sets = g_strsplit(fmtp->sprop_parameter_sets.c_str(), ",", -1);
    for (gchar** p = sets; p && *p; ++p) {
      if (**p == '\0') continue;
      gsize len = 0;
      g_autofree guchar* nal = g_base64_decode(*p, &len);
      if (len == 0) continue;
      static constexpr std::uint8_t kStart[] = {0, 0, 0, 1};
      st.parameter_sets.insert(st.parameter_sets.end(), kStart, kStart + 4);
      st.parameter_sets.insert(st.parameter_sets.end(), nal, nal + len);
    }
  }
  st.fmtp = std::move(fmtp.value());
  st.codec = *codec;
  st.clock_rate = clock_rate;
  depay->clock_rate = static_cast<guint>(clock_rate);
  GST_INFO_OBJECT(self, "%s: %s", *codec == Codec::kAac ? "AAC" : "H.264",
                  ism::FormatFmtp(st.fmtp).c_str());
  gboolean ok = gst_pad_set_caps(GST_RTP_BASE_DEPAYLOAD_SRCPAD(depay), out);
  gst_caps_unref(out);
  return ok;
}

// The base class calls this only for caps that differ from the last ones, as the base class
// parses them: what it reads for the segment it makes, and whether the own path can be used.
static gboolean gst_ismacryp_dec_set_caps(GstRTPBaseDepayload* depay, GstCaps* caps) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(depay);
  StreamState& st = self->state;
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const GValue* v = gst_structure_get_value(s, "onvif-mode");
  const bool onvif = v && G_VALUE_HOLDS_BOOLEAN(v) && g_value_get_boolean(v);
  v = gst_structure_get_value(s, "npt-start");
  st.npt_start = v && G_VALUE_HOLDS_UINT64(v) ? g_value_get_uint64(v) : 0;
  v = gst_structure_get_value(s, "npt-stop");
  st.npt_stop = v && G_VALUE_HOLDS_UINT64(v) ? g_value_get_uint64(v) : GST_CLOCK_TIME_NONE;
  v = gst_structure_get_value(s, "play-speed");
  st.play_speed = v && G_VALUE_HOLDS_DOUBLE(v) ? g_value_get_double(v) : 1.0;
  v = gst_structure_get_value(s, "play-scale");
  st.play_scale = v && G_VALUE_HOLDS_DOUBLE(v) ? g_value_get_double(v) : 1.0;
  v = gst_structure_get_value(s, "clock-base");
  st.clock_base = v && G_VALUE_HOLDS_UINT(v) ? g_value_get_uint(v) : G_MAXUINT;
  bool extmap = false;
  for (gint i = 0; i < gst_structure_n_fields(s); ++i) {
    extmap = extmap || g_str_has_prefix(gst_structure_nth_field_name(s, i), "extmap-");
  }
  const bool own = !onvif && !extmap;
  if (own != st.own_path) st.next_seqnum = -1;  // the other path saw the packets in between
  st.own_path = own;
  st.negotiated = set_stream_caps(depay, caps);
  return st.negotiated;
}

// ---- packets ----

// Until the first AU is decrypted and for at most join-time after the first AU dropped so, a
// missing TEK is the join: the terminal did not see that TEK's STKM.
static bool is_join(GstIsmacrypDec* self, DropReason reason) {
  Stats& s = self->stats;
  if (reason != kDropUnknownKey || s.decrypted.load(std::memory_order_relaxed) != 0) return false;
  const gint64 window_us =
      static_cast<gint64>(self->join_time_ms.load(std::memory_order_relaxed)) * 1000;
  if (window_us == 0) return false;
  const gint64 now = self->state.collecting ? self->state.now : g_get_monotonic_time();
  gint64 started = s.join_started.load(std::memory_order_relaxed);
  if (started == 0) {
    started = now;
    s.join_started.store(now, std::memory_order_relaxed);
  }
  return now - started <= window_us;
}

static void drop(GstIsmacrypDec* self, DropReason reason, const std::string& detail) {
  if (is_join(self, reason)) {
    GST_INFO_OBJECT(self, "AU dropped at the join: %s", detail.c_str());
    Bump(self->stats.at_join);
    return;
  }
  GST_WARNING_OBJECT(self, "AU dropped (%s): %s", kDropNames[reason], detail.c_str());
  Bump(self->stats.dropped[reason]);
  const bool post = !self->stats.warned[reason].exchange(true, std::memory_order_relaxed);
  self->stats.any_warned.store(true, std::memory_order_relaxed);
  if (post) {
    GST_ELEMENT_WARNING(self, STREAM, DECRYPT, ("ISMACryp access unit dropped"),
                        ("%s: %s", kDropNames[reason], detail.c_str()));
  }
}

// The TEK named by key indicator `ki` (or the fallback ID), from the cache when it is current.
static const ism::Tek* find_tek(GstIsmacrypDec* self, std::optional<std::uint64_t> ki) {
  TekCache& cache = self->state.tek;
  const std::int64_t id =
      ki ? static_cast<std::int64_t>(*ki) : self->stats.fallback_id.load(std::memory_order_relaxed);
  const guint gen = self->stats.key_gen.load(std::memory_order_acquire);
  const gint64 now = self->state.collecting ? self->state.now : g_get_monotonic_time();
  if (cache.valid && cache.id == id && cache.gen == gen && now - cache.checked < kTekRecheckUs) {
    return &cache.key;
  }
  cache.Clear();
  if (id < 0 || id > 0xffff) return nullptr;
  GST_OBJECT_LOCK(self);
  BcastKeyring* keyring = self->keyring ? BCAST_KEYRING(g_object_ref(self->keyring)) : nullptr;
  GST_OBJECT_UNLOCK(self);
  if (keyring == nullptr) return nullptr;
  BcastTek tek{};
  const bool found = bcast_keyring_lookup(keyring, static_cast<guint16>(id), &tek);
  g_object_unref(keyring);
  if (!found) return nullptr;
  std::memcpy(cache.key.data(), tek.key, cache.key.size());
  OPENSSL_cleanse(&tek, sizeof tek);
  cache.valid = true;
  cache.id = id;
  cache.gen = gen;
  cache.checked = now;
  return &cache.key;
}

static GstClockTime ticks_to_time(GstIsmacrypDec* self, std::int64_t ticks) {
  const std::uint64_t abs = ticks < 0 ? static_cast<std::uint64_t>(-ticks) : ticks;
  GstClockTime t = gst_util_uint64_scale_int(abs, GST_SECOND, self->state.clock_rate);
  return t;
}

// Bytes of H.264 parameter sets the next AU gets in front (0 once they went out).
static std::size_t prefix_length(const StreamState& st) {
  return st.codec == Codec::kH264 && !st.sent_parameter_sets ? st.parameter_sets.size() : 0;
}

// Sets timestamps and flags and pushes one complete AU.
static void push_au(GstIsmacrypDec* self, GstBuffer* buf, std::size_t prefix, bool encrypted,
                    GstClockTime pts, GstClockTime dts, bool rap_known, bool rap) {
  StreamState& st = self->state;
  st.sent_parameter_sets = true;
  GST_BUFFER_PTS(buf) = pts;
  GST_BUFFER_DTS(buf) = dts;
  if (rap_known && !rap) GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DELTA_UNIT);
  Bump(encrypted ? self->stats.decrypted : self->stats.clear);
  if (self->stats.any_warned.load(std::memory_order_relaxed)) {
    for (auto& w : self->stats.warned) w.store(false, std::memory_order_relaxed);
    self->stats.any_warned.store(false, std::memory_order_relaxed);
  }
  GST_LOG_OBJECT(self, "AU of %" G_GSIZE_FORMAT " bytes (%s)", gst_buffer_get_size(buf) - prefix,
                 encrypted ? "decrypted" : "clear");
  if (!st.collecting) {
    gst_rtp_base_depayload_push(&self->parent, buf);
    return;
  }
  // What gst_rtp_base_depayload_push does to the buffer before pushing it (set_headers): the
  // last packet's timestamps and duration where the AU has none, once per packet; DISCONT once
  // after a discontinuity; the RTP source meta when asked for.
  if (!GST_CLOCK_TIME_IS_VALID(GST_BUFFER_PTS(buf))) GST_BUFFER_PTS(buf) = st.pts;
  if (!GST_CLOCK_TIME_IS_VALID(GST_BUFFER_DTS(buf))) GST_BUFFER_DTS(buf) = st.dts;
  if (!GST_CLOCK_TIME_IS_VALID(GST_BUFFER_DURATION(buf))) GST_BUFFER_DURATION(buf) = st.duration;
  if (st.discont) {
    GST_BUFFER_FLAG_SET(buf, GST_BUFFER_FLAG_DISCONT);
    st.discont = false;
  }
  st.pts = st.dts = st.duration = GST_CLOCK_TIME_NONE;
  if (gst_rtp_base_depayload_is_source_info_enabled(&self->parent)) {
    while (GstMeta* m = gst_buffer_get_meta(buf, GST_RTP_SOURCE_META_API_TYPE)) {
      gst_buffer_remove_meta(buf, m);
    }
    GstRTPSourceMeta* meta = gst_buffer_add_rtp_source_meta(buf, &st.in_ssrc, nullptr, 0);
    if (meta != nullptr && !st.in_csrcs.empty()) {
      gst_rtp_source_meta_append_csrc(meta, st.in_csrcs.data(),
                                      static_cast<guint>(st.in_csrcs.size()));
    }
  }
  st.out.push_back(buf);
}

// One complete AU inside the packet (`data` within rtp's payload). Encrypted: decrypted straight
// into a new buffer (the one pass over its bytes; the packet stays as the base class mapped it,
// read-only). Clear: a region of the packet's memory, no copy.
static void output_au(GstIsmacrypDec* self, const RtpPacket& rtp,
                      std::span<const std::uint8_t> data, std::optional<std::uint64_t> bso,
                      bool encrypted, std::optional<std::uint64_t> ki, GstClockTime pts,
                      GstClockTime dts, bool rap_known, bool rap) {
  StreamState& st = self->state;
  const std::size_t prefix = prefix_length(st);
  GstBuffer* buf = nullptr;
  if (st.in_place) {
    if (encrypted) {
      if (!bso) {
        drop(self, kDropBsoUnknown, "no IV in the packets and a packet was lost");
        return;
      }
      const ism::Tek* key = find_tek(self, ki);
      if (key == nullptr) {
        drop(self, kDropUnknownKey,
             ki ? "no TEK with ID " + std::to_string(*ki) : std::string("no TEK in the keyring"));
        return;
      }
      // Mapped for writing by gst_ismacryp_dec_process_buffer: the span may be written.
      std::span<std::uint8_t> au(const_cast<std::uint8_t*>(data.data()), data.size());
      if (!st.cipher.Apply(*key, st.fmtp.salt, *bso, au)) {
        drop(self, kDropCrypto, "AES-128-CTR failed");
        return;
      }
    }
    PendingAu p;
    p.offset = static_cast<guint>(data.data() - rtp.map.info.data);
    p.size = static_cast<guint>(data.size());
    p.prefix = prefix;
    p.encrypted = encrypted;
    p.pts = pts;
    p.dts = dts;
    p.rap_known = rap_known;
    p.rap = rap;
    st.pending.push_back(p);
    st.sent_parameter_sets = true;  // the next AU of the packet gets none
    return;
  }
  if (encrypted) {
    if (!bso) {
      drop(self, kDropBsoUnknown, "no IV in the packets and a packet was lost");
      return;
    }
    const ism::Tek* key = find_tek(self, ki);
    if (key == nullptr) {
      drop(self, kDropUnknownKey,
           ki ? "no TEK with ID " + std::to_string(*ki) : std::string("no TEK in the keyring"));
      return;
    }
    buf = gst_buffer_new_allocate(nullptr, prefix + data.size(), nullptr);
    BufferMap map;
    bool ok = buf != nullptr && map_buffer(buf, &map, GST_MAP_WRITE);
    if (ok) {
      if (prefix > 0) std::memcpy(map.info.data, st.parameter_sets.data(), prefix);
      ok = st.cipher.Apply(*key, st.fmtp.salt, *bso, data,
                           std::span<std::uint8_t>(map.info.data + prefix, data.size()));
      unmap_buffer(buf, &map);
    }
    if (!ok) {
      if (buf != nullptr) gst_buffer_unref(buf);
      drop(self, kDropCrypto, "AES-128-CTR failed");
      return;
    }
  } else {
    const auto offset = static_cast<gsize>(data.data() - rtp.map.info.data);
    buf = gst_buffer_copy_region(rtp.buffer, GST_BUFFER_COPY_MEMORY, offset, data.size());
    if (prefix > 0) {
      // A copy: the caps may change the parameter sets while downstream still holds the AU.
      auto* ps = static_cast<guint8*>(g_memdup2(st.parameter_sets.data(), prefix));
      gst_buffer_prepend_memory(buf, gst_memory_new_wrapped(static_cast<GstMemoryFlags>(0), ps,
                                                            prefix, 0, prefix, ps, g_free));
    }
  }
  push_au(self, buf, prefix, encrypted, pts, dts, rap_known, rap);
}

static std::optional<std::uint64_t> key_of(const ism::AuHeader& h,
                                           std::optional<std::uint64_t> current) {
  if (!h.has_key_indicator) return current;
  auto v = ism::KeyIndicatorValue(h.key_indicator);
  // Larger than 64 bits: cannot be a TEK ID; map to a value that no TEK has.
  return v ? v : std::optional<std::uint64_t>(~std::uint64_t{0});
}

static void abandon_assembly(GstIsmacrypDec* self, const char* why) {
  StreamState& st = self->state;
  Assembly& a = st.assembly;
  if (!a.active) return;
  st.implicit_bso.reset();
  const auto id = std::make_pair(a.rtp_ts, a.size);
  if (!(a.after_gap && st.interrupted == id)) {
    drop(self, kDropIncomplete,
         std::string(why) + " (" + std::to_string(a.filled) + " of " + std::to_string(a.size) +
             " bytes)");
  }
  clear_assembly(a);
}

// Appends a fragment to the AU being assembled: decrypted into place when the BSO and the TEK
// are known and everything before it is decrypted, else copied (decrypted when the AU completes).
static bool append_fragment(GstIsmacrypDec* self, std::span<const std::uint8_t> data) {
  StreamState& st = self->state;
  Assembly& a = st.assembly;
  std::span<std::uint8_t> dst(a.map.data + a.prefix + a.filled, data.size());
  bool ok = true;
  const ism::Tek* key = nullptr;
  if (a.encrypted && a.bso && a.decrypted == a.filled) key = find_tek(self, a.key);
  if (key != nullptr) {
    ok = st.cipher.Apply(*key, st.fmtp.salt, *a.bso + a.filled, data, dst);
    if (ok) a.decrypted += data.size();
  } else {
    std::memcpy(dst.data(), data.data(), data.size());
  }
  a.filled += data.size();
  return ok;
}

// The complete assembled AU: decrypts what is still encrypted, then pushes it.
static void finish_assembly(GstIsmacrypDec* self) {
  StreamState& st = self->state;
  Assembly a = st.assembly;  // takes the buffer and its mapping
  st.assembly = Assembly{};
  const ism::Fmtp& f = st.fmtp;
  if (a.encrypted && a.decrypted < a.size) {
    if (!a.bso) {
      clear_assembly(a);
      drop(self, kDropBsoUnknown, "no IV in the packets and a packet was lost");
      return;
    }
    const ism::Tek* key = find_tek(self, a.key);
    if (key == nullptr) {
      clear_assembly(a);
      drop(self, kDropUnknownKey,
           a.key ? "no TEK with ID " + std::to_string(*a.key)
                 : std::string("no TEK in the keyring"));
      return;
    }
    std::span<std::uint8_t> rest(a.map.data + a.prefix + a.decrypted, a.size - a.decrypted);
    if (!st.cipher.Apply(*key, f.salt, *a.bso + a.decrypted, rest)) {
      clear_assembly(a);
      drop(self, kDropCrypto, "AES-128-CTR failed");
      return;
    }
  }
  gst_memory_unmap(a.out, &a.map);
  st.completed = CompletedAu{a.out, a.prefix, a.encrypted, a.pts, a.rap};
}

// `discont`: the packet follows a discontinuity (flagged, or found by the packet path).
static void process_packet(GstIsmacrypDec* self, const RtpPacket& rtp, bool discont) {
  StreamState& st = self->state;
  const ism::Fmtp& f = st.fmtp;
  const guint16 seq = rtp.header.seq;
  const std::uint32_t rtp_ts = rtp.header.timestamp;
  const bool marker = rtp.header.marker;
  const GstClockTime pts = GST_BUFFER_PTS(rtp.buffer);

  bool gap = discont && st.last_seq;
  if (st.last_seq && seq != static_cast<guint16>(*st.last_seq + 1)) {
    gap = true;
    Bump(self->stats.packets_lost, static_cast<guint16>(seq - *st.last_seq - 1));
  }
  st.last_seq = seq;
  if (gap || st.gap) {
    st.gap = false;
    if (st.assembly.active) {
      st.interrupted = std::make_pair(st.assembly.rtp_ts, st.assembly.size);
      st.assembly.after_gap = false;
      abandon_assembly(self, "fragment lost");
    }
    gap = true;
    st.implicit_bso.reset();
  }

  const std::span<const std::uint8_t> payload = rtp.payload;

  if (auto error = ism::ParsePayloadInto(f, payload, &st.parsed)) {
    abandon_assembly(self, "malformed packet in the middle of a fragmented AU");
    drop(self, kDropHeadersLength,
         error->field + " at byte " + std::to_string(error->offset) + ": " + error->message);
    return;
  }
  const ism::ParsedPayload& parsed = st.parsed;
  const auto& headers = parsed.headers;
  std::span<const std::uint8_t> data = payload.subspan(parsed.data_offset);

  // One AU header whose AU-size exceeds the data: a fragment (RFC 3640).
  if (headers.size() == 1 && headers[0].size > data.size() && !parsed.header_error) {
    const ism::AuHeader& h = headers[0];
    const std::optional<std::uint64_t> bso =
        f.iv_length > 0 ? std::optional<std::uint64_t>(h.iv) : std::nullopt;
    Assembly& a = st.assembly;
    if (a.active) {
      const bool continues = h.size == a.size && rtp_ts == a.rtp_ts &&
                             (!bso || !a.bso || *bso == *a.bso + a.filled) &&
                             a.filled + data.size() <= a.size;
      if (!continues) abandon_assembly(self, "fragment does not continue the AU");
    }
    if (!a.active) {
      if (marker && !gap) {
        st.implicit_bso.reset();
        drop(self, kDropAuSize,
             "AU-size " + std::to_string(h.size) + " but " + std::to_string(data.size()) +
                 " bytes in a packet that ends the AU");
        return;
      }
      a.active = true;
      a.prefix = prefix_length(st);
      a.out = gst_allocator_alloc(nullptr, a.prefix + h.size, nullptr);
      a.mapped = a.out != nullptr && gst_memory_map(a.out, &a.map, GST_MAP_WRITE);
      if (!a.mapped) {
        clear_assembly(a);
        drop(self, kDropAuSize, "cannot allocate AU-size " + std::to_string(h.size));
        return;
      }
      if (a.prefix > 0) std::memcpy(a.map.data, st.parameter_sets.data(), a.prefix);
      a.filled = 0;
      a.decrypted = 0;
      a.bso = f.iv_length > 0 ? bso : st.implicit_bso;
      a.size = h.size;
      a.rtp_ts = rtp_ts;
      a.pts = pts;
      a.encrypted = h.encrypted;
      a.key = key_of(h, std::nullopt);
      a.rap = h.rap;
      a.after_gap = gap;
    }
    if (!append_fragment(self, data)) {
      clear_assembly(a);
      st.implicit_bso.reset();
      drop(self, kDropCrypto, "AES-128-CTR failed");
      return;
    }
    if (a.filled == a.size) {
      st.interrupted.reset();
      if (f.iv_length == 0) {
        st.implicit_bso = a.bso ? std::optional<std::uint64_t>(*a.bso + a.size) : std::nullopt;
      }
      finish_assembly(self);
    } else if (marker) {
      abandon_assembly(self, "last fragment before the AU was complete");
    }
    return;
  }

  if (st.assembly.active) abandon_assembly(self, "AU not finished when a new one started");
  st.interrupted.reset();

  // Complete AUs.
  std::optional<std::uint64_t> bso;
  std::optional<std::uint64_t> ki;
  std::size_t off = 0;
  std::int64_t index_ticks = 0;
  const std::uint32_t au_duration =
      f.constant_duration ? f.constant_duration : (st.codec == Codec::kAac ? 1024u : 0u);
  for (std::size_t i = 0; i < headers.size(); ++i) {
    const ism::AuHeader& h = headers[i];
    if (i == 0) {
      bso = f.iv_length > 0 ? std::optional<std::uint64_t>(h.iv) : st.implicit_bso;
    } else {
      if (bso) *bso += h.iv;  // delta IV: counted from the end of the previous AU
      index_ticks += static_cast<std::int64_t>(h.index + 1) * au_duration;
    }
    ki = key_of(h, ki);
    if (h.size > data.size() - off) {
      drop(self, kDropAuSize,
           "AU " + std::to_string(i) + " of " + std::to_string(headers.size()) + ": AU-size " +
               std::to_string(h.size) + " but " + std::to_string(data.size() - off) +
               " bytes left");
      // The AUs after it cannot be located either.
      for (std::size_t j = i + 1; j < headers.size(); ++j) {
        drop(self, kDropAuSize, "AU after one whose AU-size runs past the packet");
      }
      bso.reset();
      break;
    }
    GstClockTime au_pts = pts;
    if (GST_CLOCK_TIME_IS_VALID(pts) && i > 0) {
      const std::int64_t ticks =
          h.cts_delta ? static_cast<std::int64_t>(*h.cts_delta) : index_ticks;
      au_pts = pts + ticks_to_time(self, ticks);
    }
    GstClockTime au_dts = GST_CLOCK_TIME_NONE;
    if (h.dts_delta && GST_CLOCK_TIME_IS_VALID(au_pts)) {
      const GstClockTime d = ticks_to_time(self, *h.dts_delta);
      au_dts = au_pts > d ? au_pts - d : 0;
    }
    output_au(self, rtp, data.subspan(off, h.size), bso, h.encrypted, ki, au_pts, au_dts,
              f.random_access_indication, h.rap);
    off += h.size;
    if (bso) *bso += h.size;
  }
  if (f.iv_length == 0) st.implicit_bso = bso;
  if (parsed.header_error) {
    const auto& e = *parsed.header_error;
    drop(self, kDropHeaderTruncated,
         e.field + " at byte " + std::to_string(e.offset) + ": " + e.message);
  }
  return;
}

// The clear region [offset, offset+size) of `in` with `prefix` bytes of parameter sets in front.
static GstBuffer* au_region(GstIsmacrypDec* self, GstBuffer* in, guint offset, guint size,
                            std::size_t prefix) {
  GstBuffer* buf = gst_buffer_copy_region(in, GST_BUFFER_COPY_MEMORY, offset, size);
  if (buf != nullptr && prefix > 0) {
    // A copy: the caps may change the parameter sets while downstream still holds the AU.
    auto* ps = static_cast<guint8*>(g_memdup2(self->state.parameter_sets.data(), prefix));
    gst_buffer_prepend_memory(buf, gst_memory_new_wrapped(static_cast<GstMemoryFlags>(0), ps,
                                                          prefix, 0, prefix, ps, g_free));
  }
  return buf;
}

// Every packet comes here. A packet that only this element holds (the usual case: udpsrc or the
// jitterbuffer hand on their buffer) is mapped for writing and its AUs are decrypted in place;
// a shared one (a tee upstream) is mapped for reading and decrypted into new buffers.
// (gst_buffer_is_all_memory_writable, without its argument checks and logging per packet.)
static bool is_ours_alone(GstBuffer* in) {
  if (!gst_buffer_is_writable(in)) return false;
  const guint n = gst_buffer_n_memory(in);
  for (guint i = 0; i < n; ++i) {
    if (!gst_memory_is_writable(gst_buffer_peek_memory(in, i))) return false;
  }
  return true;
}

// GstRTPBuffer's checks (gst_rtp_buffer_map): version 2, CSRCs and extension within the packet,
// and the padding count (its last byte) within what the header leaves.
static bool map_packet(GstBuffer* in, bool writable, RtpPacket* rtp) {
  if (!map_buffer(in, &rtp->map, writable ? GST_MAP_READWRITE : GST_MAP_READ)) return false;
  const std::span<std::uint8_t> bytes(rtp->map.info.data, rtp->map.info.size);
  const auto header = bcast::srtp::ParseRtpHeader(bytes);
  const std::size_t padding = header && header->padding ? bytes.back() : 0;
  if (!header || bytes.size() < header->header_length + padding) {
    unmap_buffer(in, &rtp->map);
    return false;
  }
  rtp->buffer = in;
  rtp->header = *header;
  rtp->payload =
      bytes.subspan(header->header_length, bytes.size() - header->header_length - padding);
  return true;
}

static void unmap_packet(RtpPacket* rtp) {
  unmap_buffer(rtp->buffer, &rtp->map);
  rtp->buffer = nullptr;
}

// A packet mapped by map_packet (for writing when `writable`): processes it, unmaps it, and
// outputs the AUs decrypted in place.
static void process_mapped(GstIsmacrypDec* self, GstBuffer* in, RtpPacket* rtp, bool writable,
                           bool discont) {
  StreamState& st = self->state;
  st.in_place = writable;
  st.pending.clear();
  process_packet(self, *rtp, discont);
  unmap_packet(rtp);
  st.in_place = false;
  if (st.completed.memory != nullptr) {
    // A packet that completes a fragmented AU carries nothing else.
    const CompletedAu c = std::exchange(st.completed, CompletedAu{});
    GstBuffer* buf = nullptr;
    gpointer meta_state = nullptr;
    if (writable && in->pool == nullptr && gst_buffer_iterate_meta(in, &meta_state) == nullptr) {
      // The packet's GstBuffer, ours alone, not a pool's and without metas, carries the AU on:
      // one buffer fewer made and freed per AU. Its fields are reset as for a new buffer.
      gst_buffer_replace_all_memory(in, c.memory);
      GST_BUFFER_FLAGS(in) = 0;
      GST_BUFFER_DURATION(in) = GST_CLOCK_TIME_NONE;
      GST_BUFFER_OFFSET(in) = GST_BUFFER_OFFSET_NONE;
      GST_BUFFER_OFFSET_END(in) = GST_BUFFER_OFFSET_NONE;
      buf = gst_buffer_ref(in);  // the caller's unref leaves this one for downstream
    } else {
      buf = gst_buffer_new();
      gst_buffer_append_memory(buf, c.memory);
    }
    push_au(self, buf, c.prefix, c.encrypted, c.pts, GST_CLOCK_TIME_NONE,
            self->state.fmtp.random_access_indication, c.rap);
    return;
  }
  if (st.pending.size() == 1 && st.pending[0].prefix == 0) {
    // One AU (1 KB video AUs, AAC without aggregation): the packet itself, cut down to the AU,
    // goes on; no buffer is made. The base class unrefs `in` after this: one ref for downstream.
    const PendingAu& p = st.pending[0];
    gst_buffer_resize(in, p.offset, p.size);
    GST_BUFFER_FLAGS(in) = 0;
    GST_BUFFER_DURATION(in) = GST_CLOCK_TIME_NONE;
    GST_BUFFER_OFFSET(in) = GST_BUFFER_OFFSET_NONE;
    GST_BUFFER_OFFSET_END(in) = GST_BUFFER_OFFSET_NONE;
    st.pending.clear();
    push_au(self, gst_buffer_ref(in), 0, p.encrypted, p.pts, p.dts, p.rap_known, p.rap);
    return;
  }
  for (const PendingAu& p : st.pending) {
    GstBuffer* buf = au_region(self, in, p.offset, p.size, p.prefix);
    if (buf == nullptr) {
      drop(self, kDropCrypto, "cannot share the packet's memory");
      continue;
    }
    push_au(self, buf, p.prefix, p.encrypted, p.pts, p.dts, p.rap_known, p.rap);
  }
  st.pending.clear();
}

// The base class's path (RTP header extensions, ONVIF mode): it has checked and mapped the
// packet and pushes what push_au hands it.
static GstBuffer* gst_ismacryp_dec_process_buffer(GstRTPBaseDepayload* depay, GstBuffer* in) {
  GstIsmacrypDec* self = reinterpret_cast<GstIsmacrypDec*>(depay);  // no GType check per packet
  const bool writable = is_ours_alone(in);
  RtpPacket rtp;
  if (!map_packet(in, writable, &rtp)) {
    GST_ELEMENT_WARNING(self, STREAM, DECODE, (nullptr), ("invalid RTP packet, dropped"));
    return nullptr;
  }
  process_mapped(self, in, &rtp, writable, GST_BUFFER_FLAG_IS_SET(in, GST_BUFFER_FLAG_DISCONT));
  return nullptr;
}

// ---- the own packet path ----

// GstRTPBaseDepayload's segment for the first packet (its create_segment_event): the upstream
// segment, its start moved back by the RTP time since clock-base, NPT and speed from the caps.
static GstEvent* make_segment_event(GstIsmacrypDec* self, guint32 rtptime, GstClockTime position) {
  GstRTPBaseDepayload* depay = GST_RTP_BASE_DEPAYLOAD(self);
  const StreamState& st = self->state;
  GstClockTime start = depay->segment.start;
  if (st.clock_base != G_MAXUINT && position != GST_CLOCK_TIME_NONE) {
    guint64 exttime = st.clock_base;
    gst_rtp_buffer_ext_timestamp(&exttime, rtptime);
    // The base class's arithmetic, kept as it is so that both paths make the same segment.
    const GstClockTime gap =
        gst_util_uint64_scale_int(exttime - st.clock_base, depay->clock_rate, GST_SECOND);
    if (position > gap) start = position - gap;
  }
  GstClockTime stop = depay->segment.stop;
  if (st.npt_stop != GST_CLOCK_TIME_NONE) stop = start + (st.npt_stop - st.npt_start);
  if (position == GST_CLOCK_TIME_NONE) position = start;
  const guint64 running_time = gst_segment_to_running_time(&depay->segment, GST_FORMAT_TIME, start);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  segment.rate = st.play_speed;
  segment.applied_rate = st.play_scale;
  segment.start = start;
  segment.stop = stop;
  segment.time = st.npt_start;
  segment.position = position;
  segment.base = running_time;
  GstEvent* event = gst_event_new_segment(&segment);
  if (st.segment_seqnum != GST_SEQNUM_INVALID) gst_event_set_seqnum(event, st.segment_seqnum);
  return event;
}

static GstCaps* ntp_reference_caps() {
  static GstStaticCaps caps = GST_STATIC_CAPS("timestamp/x-ntp");
  static GstCaps* c = gst_static_caps_get(&caps);  // kept for the process's lifetime
  return c;
}

// One packet (ours: unreffed here): GstRTPBaseDepayload's per-packet checks (duplicate
// reference timestamp, sequence: old packets dropped, gaps and SSRC changes make a discont,
// the segment at the first packet), then the packet's AUs into `st.out`.
static void handle_packet(GstIsmacrypDec* self, GstBuffer* in) {
  StreamState& st = self->state;
  if (GstReferenceTimestampMeta* meta =
          gst_buffer_get_reference_timestamp_meta(in, ntp_reference_caps())) {
    if (meta->timestamp == st.ref_ts) {
      // The base class removes a repeated one; it only reaches downstream on the packet itself
      // (a packet ours alone goes on cut down to its AU).
      if (gst_buffer_is_writable(in)) gst_buffer_remove_meta(in, GST_META_CAST(meta));
    } else {
      st.ref_ts = meta->timestamp;
    }
  }
  const bool writable = is_ours_alone(in);
  RtpPacket rtp;
  if (!map_packet(in, writable, &rtp)) {
    GST_ELEMENT_WARNING(self, STREAM, DECODE, (nullptr),
                        ("Received invalid RTP payload, dropping"));
    gst_buffer_unref(in);
    return;
  }
  const bool buf_discont = GST_BUFFER_IS_DISCONT(in);
  st.pts = GST_BUFFER_PTS(in);
  st.dts = GST_BUFFER_DTS(in);
  st.duration = GST_BUFFER_DURATION(in);
  const guint32 ssrc = rtp.header.ssrc;
  const guint16 seq = rtp.header.seq;
  bool discont = buf_discont;
  if (st.next_seqnum != -1) {
    if (ssrc != st.last_ssrc) {
      discont = true;
    } else if (const gint gap =
                   gst_rtp_buffer_compare_seqnum(seq, static_cast<guint16>(st.next_seqnum));
               gap < 0) {
      discont = true;
    } else if (gap > 0) {
      // An old packet: a duplicate or reordered one is dropped, a much older one means the
      // sender restarted.
      gint max_reorder = 100;
      g_object_get(self, "max-reorder", &max_reorder, nullptr);
      if (gap <= max_reorder) {
        GST_WARNING_OBJECT(self, "old packet %u (expected %d), dropped", seq, st.next_seqnum);
        unmap_packet(&rtp);
        gst_buffer_unref(in);
        return;
      }
      discont = true;
    }
  }
  st.next_seqnum = (seq + 1) & 0xffff;
  st.last_ssrc = ssrc;
  if (discont) st.discont = true;
  GstRTPBaseDepayload* depay = &self->parent;
  if (depay->need_newsegment) {
    gst_event_replace(&st.segment_event, nullptr);
    st.segment_event = make_segment_event(self, rtp.header.timestamp, st.pts);
    depay->need_newsegment = FALSE;
  }
  st.in_ssrc = ssrc;
  st.in_csrcs.clear();
  for (unsigned i = 0; i < rtp.header.csrc_count; ++i) {
    st.in_csrcs.push_back(
        GST_READ_UINT32_BE(rtp.map.info.data + 12 + 4 * i));  // after the fixed 12
  }
  process_mapped(self, in, &rtp, writable, discont);
  gst_buffer_unref(in);
}

static GstFlowReturn not_negotiated(GstIsmacrypDec* self) {
  GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, ("No RTP format was negotiated."),
                    ("Input buffers need to have RTP caps set on them."));
  return GST_FLOW_NOT_NEGOTIATED;
}

// Pushes the AUs collected in `st.out`: the segment first when it is still to go, then a single
// AU as a buffer, several as one list when `as_list`, else one by one (as the base class).
static GstFlowReturn push_collected(GstIsmacrypDec* self, bool as_list) {
  StreamState& st = self->state;
  GstPad* srcpad = GST_RTP_BASE_DEPAYLOAD_SRCPAD(self);
  GstFlowReturn ret = GST_FLOW_OK;
  if (st.out.empty()) return ret;
  if (st.segment_event != nullptr) {
    GstEvent* event = st.segment_event;
    st.segment_event = nullptr;
    gst_pad_push_event(srcpad, event);
  }
  if (st.out.size() == 1) {
    ret = gst_pad_push(srcpad, st.out[0]);
  } else if (as_list) {
    GstBufferList* list = gst_buffer_list_new_sized(static_cast<guint>(st.out.size()));
    for (GstBuffer* b : st.out) gst_buffer_list_add(list, b);
    ret = gst_pad_push_list(srcpad, list);
  } else {
    std::size_t i = 0;
    for (; i < st.out.size() && ret == GST_FLOW_OK; ++i) ret = gst_pad_push(srcpad, st.out[i]);
    for (; i < st.out.size(); ++i) gst_buffer_unref(st.out[i]);
  }
  st.out.clear();
  return ret;
}

static GstFlowReturn own_chain(GstPad* pad, GstObject* parent, GstBuffer* in) {
  GstIsmacrypDec* self = reinterpret_cast<GstIsmacrypDec*>(parent);  // no GType check per packet
  StreamState& st = self->state;
  if (!st.own_path || self->hdrext_added.load(std::memory_order_relaxed)) {
    return self->base_chain(pad, parent, in);
  }
  if (!st.negotiated) {
    gst_buffer_unref(in);
    return not_negotiated(self);
  }
  st.collecting = true;
  st.now = g_get_monotonic_time();
  handle_packet(self, in);
  st.collecting = false;
  return push_collected(self, false);
}

// A list: every packet as own_chain handles it, the AUs of the whole list pushed as one list.
static GstFlowReturn own_chain_list(GstPad* pad, GstObject* parent, GstBufferList* list) {
  GstIsmacrypDec* self = reinterpret_cast<GstIsmacrypDec*>(parent);
  StreamState& st = self->state;
  if (!st.own_path || self->hdrext_added.load(std::memory_order_relaxed)) {
    return self->base_chain_list(pad, parent, list);
  }
  if (!st.negotiated) {
    gst_buffer_list_unref(list);
    return not_negotiated(self);
  }
  // The packets are taken out of the list, so that one the list alone held is ours alone and
  // is decrypted in place (the base class keeps the list's ref, and every packet is shared).
  const guint n = gst_buffer_list_length(list);
  st.in.clear();
  for (guint i = 0; i < n; ++i) st.in.push_back(gst_buffer_ref(gst_buffer_list_get(list, i)));
  gst_buffer_list_unref(list);
  st.collecting = true;
  st.now = g_get_monotonic_time();
  for (GstBuffer* b : st.in) handle_packet(self, b);
  st.collecting = false;
  st.in.clear();
  return push_collected(self, true);
}

static void on_add_extension(GstRTPBaseDepayload* depay, GstRTPHeaderExtension*, gpointer) {
  reinterpret_cast<GstIsmacrypDec*>(depay)->hdrext_added.store(true, std::memory_order_relaxed);
}

static gboolean gst_ismacryp_dec_packet_lost(GstRTPBaseDepayload* depay, GstEvent* event) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(depay);
  // The jitterbuffer gave up on a packet: the next one starts after a gap.
  self->state.gap = true;
  return GST_RTP_BASE_DEPAYLOAD_CLASS(gst_ismacryp_dec_parent_class)->packet_lost(depay, event);
}

static gboolean gst_ismacryp_dec_handle_event(GstRTPBaseDepayload* depay, GstEvent* event) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(depay);
  if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP) reset_stream(self);
  if (GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT) {
    self->state.segment_seqnum = gst_event_get_seqnum(event);
  }
  return GST_RTP_BASE_DEPAYLOAD_CLASS(gst_ismacryp_dec_parent_class)->handle_event(depay, event);
}

static void gst_ismacryp_dec_init(GstIsmacrypDec* self) {
  new (&self->state) StreamState();
  new (&self->stats) Stats();
  new (&self->hdrext_added) std::atomic<bool>(false);
  self->key_id = -1;
  new (&self->join_time_ms) std::atomic<guint>(kDefaultJoinTimeMs);
  self->latest_tek = -1;
  GstRTPBaseDepayload* depay = GST_RTP_BASE_DEPAYLOAD(self);
  GstPad* sink = GST_RTP_BASE_DEPAYLOAD_SINKPAD(depay);
  GstPad* src = GST_RTP_BASE_DEPAYLOAD_SRCPAD(depay);
  self->sink_query = GST_PAD_QUERYFUNC(sink);
  self->src_query = GST_PAD_QUERYFUNC(src);
  gst_pad_set_query_function(sink, sink_query);
  gst_pad_set_query_function(src, src_query);
  self->base_chain = GST_PAD_CHAINFUNC(sink);
  self->base_chain_list = GST_PAD_CHAINLISTFUNC(sink);
  gst_pad_set_chain_function(sink, own_chain);
  gst_pad_set_chain_list_function(sink, own_chain_list);
  g_signal_connect(self, "add-extension", G_CALLBACK(on_add_extension), nullptr);
}

static void gst_ismacryp_dec_finalize(GObject* object) {
  GstIsmacrypDec* self = GST_ISMACRYP_DEC(object);
  replace_keyring(self, nullptr);
  clear_assembly(self->state.assembly);
  gst_event_replace(&self->state.segment_event, nullptr);
  self->state.tek.Clear();
  self->state.~StreamState();
  self->stats.~Stats();
  G_OBJECT_CLASS(gst_ismacryp_dec_parent_class)->finalize(object);
}

static void gst_ismacryp_dec_class_init(GstIsmacrypDecClass* klass) {
  spc::KeepOpensslStateUntilExit();  // the streaming threads may outlive the host's main
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstRTPBaseDepayloadClass* depay_class = GST_RTP_BASE_DEPAYLOAD_CLASS(klass);

  gobject_class->set_property = gst_ismacryp_dec_set_property;
  gobject_class->get_property = gst_ismacryp_dec_get_property;
  gobject_class->finalize = gst_ismacryp_dec_finalize;

  /**
   * GstIsmacrypDec:key-id:
   *
   * TEK ID to use when the stream has no key indicator (ISMACrypKeyIndicatorLength=0). -1: the
   * TEK most recently added to the keyring.
   */
  g_object_class_install_property(
      gobject_class, PROP_KEY_ID,
      g_param_spec_int("key-id", "Key ID",
                       "TEK ID for streams without key indicator (-1: latest TEK in the keyring)",
                       -1, 0xffff, -1,
                       static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstIsmacrypDec:join-time:
   *
   * Milliseconds after the first AU whose TEK the keyring does not hold during which, until an AU
   * is decrypted, such AUs are the join (`dropped-at-join`, no warning) rather than failures
   * (`dropped-unknown-key`, a warning). 0: every such AU is a failure.
   */
  g_object_class_install_property(
      gobject_class, PROP_JOIN_TIME,
      g_param_spec_uint("join-time", "Join time",
                        "Milliseconds in which AUs without their TEK before the first decrypted "
                        "one count as the join, not as failures (0: never)",
                        0, G_MAXUINT, kDefaultJoinTimeMs,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstIsmacrypDec:stats:
   *
   * `application/x-ismacrypdec-stats` with guint64 fields: `aus-decrypted`, `aus-clear` (sent
   * clear under selective encryption), `aus-dropped` (sum of the reasons), `packets-lost`
   * (sequence number gaps), and per reason `dropped-headers-length`, `dropped-header-truncated`,
   * `dropped-au-size`, `dropped-unknown-key`, `dropped-incomplete`, `dropped-crypto`,
   * `dropped-bso-unknown`; `dropped-at-join` (AUs without their TEK before the first decrypted
   * one, see #GstIsmacrypDec:join-time; not in `aus-dropped`).
   */
  g_object_class_install_property(
      gobject_class, PROP_STATS,
      g_param_spec_boxed("stats", "Statistics", "AUs decrypted, clear and dropped by reason",
                         GST_TYPE_STRUCTURE,
                         static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "ISMACryp RTP decryptor", "Codec/Depayloader/Network/RTP/Decryptor",
      "Decrypts ISMACryp enc-mpeg4-generic RTP into AAC or H.264 access units with the OMA BCAST "
      "TEKs of the pipeline's keyring",
      "openbcast");
  element_class->set_context = GST_DEBUG_FUNCPTR(gst_ismacryp_dec_set_context);
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_ismacryp_dec_change_state);

  depay_class->set_caps = GST_DEBUG_FUNCPTR(gst_ismacryp_dec_set_caps);
  depay_class->process = GST_DEBUG_FUNCPTR(gst_ismacryp_dec_process_buffer);
  depay_class->packet_lost = GST_DEBUG_FUNCPTR(gst_ismacryp_dec_packet_lost);
  depay_class->handle_event = GST_DEBUG_FUNCPTR(gst_ismacryp_dec_handle_event);
}
