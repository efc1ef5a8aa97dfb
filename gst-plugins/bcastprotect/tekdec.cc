/**
 * SECTION:element-tekdec
 * @title: tekdec
 * @short_description: turns OMA BCAST STKMs into TEKs in the pipeline's keyring
 *
 * tekdec is the sink of the key stream. For each STKM it obtains the TEK and the announced next
 * TEK and puts them into the keyring that the pipeline shares as GstContext `openbcast.keyring`,
 * where bcastsrtpdec and ismacrypdec find them by TEK ID. The long-term keys (SEK/SAK, PEK/PAK)
 * come from a key file (#GstTekDec:sek-file) for conformance runs and tests.
 *
 * The base CID that forms content IDs comes from the `base-cid` caps field (set by stkmparse) or
 * the #GstTekDec:base-cid property, which wins.
 *
 * Element messages:
 *
 * * `openbcast-tek`: an STKM brought a TEK ID not learned before: `tek-id` (uint), `has-next`
 *   (boolean), `next-tek-id` (uint, 0 without next), `content-id` (string), `protocol` (uint,
 *   traffic_protection_protocol: 1 SRTP, 2 ISMACryp), `lifetime` (uint, seconds),
 *   `authenticated` (boolean).
 * * `openbcast-stkm-rejected`: `reason` (string: "bad-mac", "no-rights" or "malformed"),
 *   `content-id` (string, empty when malformed), `detail` (string).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 udpsrc port=5004 caps=application/x-bcast-stkm ! \
 *     stkmparse base-cid=urn:openbcast:svc:news: ! tekdec sek-file=keys.ini \
 *   udpsrc port=5006 caps=application/x-srtp ! bcastsrtpdec ! ...
 * ]|
 */
#include "gst-plugins/bcastprotect/tekdec.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <utility>

#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

GST_DEBUG_CATEGORY_STATIC(gst_tek_dec_debug);
#define GST_CAT_DEFAULT gst_tek_dec_debug

namespace bcast {

const char* StkmRejectReasonName(StkmRejectReason reason) {
  switch (reason) {
    case StkmRejectReason::kMalformed:
      return "malformed";
    case StkmRejectReason::kNoRights:
      return "no-rights";
    case StkmRejectReason::kBadMac:
      return "bad-mac";
  }
  return "malformed";
}

namespace {

BcastTek ToBcastTek(const spc::TrafficKey& key, const spc::Stkm& stkm) {
  BcastTek tek{};
  tek.id = key.id;
  std::memcpy(tek.key, key.key.data(), sizeof(tek.key));
  std::memcpy(tek.salt, key.salt.data(), sizeof(tek.salt));
  tek.lifetime_s = stkm.traffic_key_lifetime;
  tek.protocol = stkm.traffic_protection_protocol;
  tek.authenticated = stkm.traffic_authentication_flag ? TRUE : FALSE;
  return tek;
}

// Long-term keys held in this process, from the key file of stkm.md.
class KeyFileTekSource final : public TekSource {
 public:
  KeyFileTekSource(std::string path, spc::KeyTable keys)
      : path_(std::move(path)), keys_(std::move(keys)) {}
  KeyFileTekSource(const KeyFileTekSource&) = delete;
  KeyFileTekSource& operator=(const KeyFileTekSource&) = delete;
  ~KeyFileTekSource() override {
    for (auto& [cid, key] : keys_) {
      OPENSSL_cleanse(key.encryption_key.data(), key.encryption_key.size());
      OPENSSL_cleanse(key.authentication_key.data(), key.authentication_key.size());
    }
  }

  spc::Result<OpenedStkm, StkmRejection> Open(std::span<const std::uint8_t> stkm,
                                              std::string_view base_cid) override {
    auto parsed = spc::ParseStkm(stkm);
    if (!parsed) {
      const spc::ParseError& err = parsed.error();
      return StkmRejection{
          StkmRejectReason::kMalformed,
          {},
          "field " + err.field + " at offset " + std::to_string(err.offset) + ": " + err.message,
          0};
    }
    std::string cid = spc::StkmContentId(*parsed, base_cid);
    auto it = keys_.find(cid);
    const spc::LongTermKey* key = it == keys_.end() ? nullptr : &it->second;
    auto opened = spc::OpenStkmWithKey(stkm, *parsed, cid, key);
    if (!opened) {
      const spc::StkmFailure& failure = opened.error();
      StkmRejection rejection;
      rejection.tek_id = parsed->traffic_key_id;
      rejection.content_id = failure.content_id.empty() ? cid : failure.content_id;
      rejection.detail = failure.message;
      switch (failure.code) {
        case spc::StkmError::kMalformed:
          rejection.reason = StkmRejectReason::kMalformed;
          break;
        case spc::StkmError::kNoRights:
          rejection.reason = StkmRejectReason::kNoRights;
          break;
        case spc::StkmError::kBadMac:
          rejection.reason = StkmRejectReason::kBadMac;
          break;
      }
      return rejection;
    }
    spc::StkmKeys& keys = opened.value();
    OpenedStkm out;
    out.content_id = keys.content_id;
    out.current = ToBcastTek(keys.current, keys.stkm);
    if (keys.next) out.next = ToBcastTek(*keys.next, keys.stkm);
    // The plain TEKs now live in `out` only.
    OPENSSL_cleanse(keys.current.key.data(), keys.current.key.size());
    if (keys.next) OPENSSL_cleanse(keys.next->key.data(), keys.next->key.size());
    return out;
  }

  std::string Describe() const override { return "key file " + path_; }

 private:
  std::string path_;
  spc::KeyTable keys_;
};

}  // namespace

spc::Result<std::unique_ptr<TekSource>, std::string> MakeKeyFileTekSource(const std::string& path) {
  auto table = spc::LoadKeyFile(path);
  if (!table) {
    const spc::ParseError& err = table.error();
    std::string text = err.message;
    if (!err.field.empty()) text += " (group [" + err.field + "]";
    if (!err.field.empty() && err.offset != 0) text += ", line " + std::to_string(err.offset);
    if (!err.field.empty()) text += ")";
    return text;
  }
  return std::unique_ptr<TekSource>(
      std::make_unique<KeyFileTekSource>(path, std::move(table.value())));
}

}  // namespace bcast

namespace {

// Warnings for rejected STKMs: the first few, then one in this many (the counters count all).
constexpr guint kWarnFirst = 5;
constexpr guint kWarnEvery = 100;
bool ShouldWarn(guint count) { return count <= kWarnFirst || count % kWarnEvery == 0; }

// TEK IDs this element has announced, to post "openbcast-tek" once per new ID. A ring rather than
// a set so that the 16-bit ID space may wrap on a long-running stream.
constexpr std::size_t kLearnedIds = 64;

struct StreamState {
  std::unique_ptr<bcast::TekSource> source;
  // GstBaseSink calls prepare a second time for the buffer it prerolls on; the reference keeps
  // the address from being reused by a different buffer meanwhile.
  GstBuffer* last_buffer = nullptr;
  std::array<guint16, kLearnedIds> learned{};
  std::size_t n_learned = 0;
  std::size_t next_learned = 0;

  bool Learned(guint16 id) const {
    return std::find(learned.begin(), learned.begin() + n_learned, id) !=
           learned.begin() + n_learned;
  }
  void Learn(guint16 id) {
    learned[next_learned] = id;
    next_learned = (next_learned + 1) % kLearnedIds;
    n_learned = std::min(n_learned + 1, kLearnedIds);
  }
  StreamState() = default;
  StreamState(const StreamState&) = delete;
  StreamState& operator=(const StreamState&) = delete;
  ~StreamState() { gst_clear_buffer(&last_buffer); }

  void Clear() {
    source.reset();
    gst_clear_buffer(&last_buffer);
    n_learned = next_learned = 0;
  }
};

}  // namespace

struct _GstTekDec {
  GstBaseSink parent;

  // Object lock.
  gchar* sek_file;
  gchar* base_cid;       // property
  gchar* caps_base_cid;  // from the sink caps
  BcastKeyring* keyring;
  guint teks;
  guint bad_mac;
  guint no_rights;
  guint malformed;

  StreamState state;  // streaming thread (and start/stop); constructed in init
};

enum {
  PROP_0,
  PROP_SEK_FILE,
  PROP_BASE_CID,
  PROP_TEKS,
  PROP_BAD_MAC,
  PROP_NO_RIGHTS,
  PROP_MALFORMED,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-bcast-stkm"));

G_DEFINE_TYPE_WITH_CODE(GstTekDec, gst_tek_dec, GST_TYPE_BASE_SINK,
                        GST_DEBUG_CATEGORY_INIT(gst_tek_dec_debug, "tekdec", 0,
                                                "OMA BCAST STKM to TEK decoder"))
GST_ELEMENT_REGISTER_DEFINE(tekdec, "tekdec", GST_RANK_NONE, GST_TYPE_TEK_DEC)

static void gst_tek_dec_set_property(GObject* object, guint prop_id, const GValue* value,
                                     GParamSpec* pspec) {
  GstTekDec* self = GST_TEK_DEC(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_SEK_FILE:
      g_free(self->sek_file);
      self->sek_file = g_value_dup_string(value);
      break;
    case PROP_BASE_CID:
      g_free(self->base_cid);
      self->base_cid = g_value_dup_string(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_tek_dec_get_property(GObject* object, guint prop_id, GValue* value,
                                     GParamSpec* pspec) {
  GstTekDec* self = GST_TEK_DEC(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_SEK_FILE:
      g_value_set_string(value, self->sek_file);
      break;
    case PROP_BASE_CID:
      g_value_set_string(value, self->base_cid);
      break;
    case PROP_TEKS:
      g_value_set_uint(value, self->teks);
      break;
    case PROP_BAD_MAC:
      g_value_set_uint(value, self->bad_mac);
      break;
    case PROP_NO_RIGHTS:
      g_value_set_uint(value, self->no_rights);
      break;
    case PROP_MALFORMED:
      g_value_set_uint(value, self->malformed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_tek_dec_finalize(GObject* object) {
  GstTekDec* self = GST_TEK_DEC(object);
  g_free(self->sek_file);
  g_free(self->base_cid);
  g_free(self->caps_base_cid);
  g_clear_object(&self->keyring);
  self->state.~StreamState();
  G_OBJECT_CLASS(gst_tek_dec_parent_class)->finalize(object);
}

static void gst_tek_dec_set_context(GstElement* element, GstContext* context) {
  GstTekDec* self = GST_TEK_DEC(element);
  if (BcastKeyring* keyring = bcast_keyring_from_context(context)) {
    GST_DEBUG_OBJECT(self, "keyring %p set", keyring);
    GST_OBJECT_LOCK(self);
    std::swap(self->keyring, keyring);
    GST_OBJECT_UNLOCK(self);
    g_clear_object(&keyring);
  }
  GST_ELEMENT_CLASS(gst_tek_dec_parent_class)->set_context(element, context);
}

static GstStateChangeReturn gst_tek_dec_change_state(GstElement* element,
                                                     GstStateChange transition) {
  GstTekDec* self = GST_TEK_DEC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    BcastKeyring* keyring = bcast_keyring_obtain(element);
    GST_OBJECT_LOCK(self);
    std::swap(self->keyring, keyring);
    GST_OBJECT_UNLOCK(self);
    g_clear_object(&keyring);
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_tek_dec_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    BcastKeyring* keyring = nullptr;
    GST_OBJECT_LOCK(self);
    std::swap(self->keyring, keyring);
    GST_OBJECT_UNLOCK(self);
    g_clear_object(&keyring);
  }
  return ret;
}

// The one place that picks the key source; the spcd (D-Bus) mode plugs in here.
static std::unique_ptr<bcast::TekSource> make_tek_source(GstTekDec* self) {
  GST_OBJECT_LOCK(self);
  std::string sek_file = self->sek_file != nullptr ? self->sek_file : "";
  GST_OBJECT_UNLOCK(self);
  if (sek_file.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("no key source: set sek-file"),
                      ("tekdec needs the sek-file property (key file of stkm.md)"));
    return nullptr;
  }
  auto source = bcast::MakeKeyFileTekSource(sek_file);
  if (!source) {
    GST_ELEMENT_ERROR(
        self, RESOURCE, OPEN_READ,
        ("Could not load key file \"%s\": %s", sek_file.c_str(), source.error().c_str()),
        (nullptr));
    return nullptr;
  }
  return std::move(source.value());
}

static gboolean gst_tek_dec_start(GstBaseSink* sink) {
  GstTekDec* self = GST_TEK_DEC(sink);
  self->state.Clear();
  self->state.source = make_tek_source(self);
  if (!self->state.source) return FALSE;
  GST_INFO_OBJECT(self, "TEKs from %s", self->state.source->Describe().c_str());
  GST_OBJECT_LOCK(self);
  self->teks = self->bad_mac = self->no_rights = self->malformed = 0;
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

static gboolean gst_tek_dec_stop(GstBaseSink* sink) {
  GST_TEK_DEC(sink)->state.Clear();
  return TRUE;
}

static gboolean gst_tek_dec_set_caps(GstBaseSink* sink, GstCaps* caps) {
  GstTekDec* self = GST_TEK_DEC(sink);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const gchar* cid = gst_structure_get_string(s, "base-cid");
  GST_OBJECT_LOCK(self);
  g_free(self->caps_base_cid);
  self->caps_base_cid = g_strdup(cid);
  GST_OBJECT_UNLOCK(self);
  GST_DEBUG_OBJECT(self, "base CID from caps: %s", GST_STR_NULL(cid));
  return TRUE;
}

static gboolean gst_tek_dec_query(GstBaseSink* sink, GstQuery* query) {
  if (bcast_keyring_handle_context_query(GST_ELEMENT(sink), query)) return TRUE;
  return GST_BASE_SINK_CLASS(gst_tek_dec_parent_class)->query(sink, query);
}

static void post_tek_message(GstTekDec* self, const bcast::OpenedStkm& opened) {
  GstStructure* s = gst_structure_new(
      "openbcast-tek", "tek-id", G_TYPE_UINT, static_cast<guint>(opened.current.id), "has-next",
      G_TYPE_BOOLEAN, opened.next.has_value(), "next-tek-id", G_TYPE_UINT,
      opened.next ? static_cast<guint>(opened.next->id) : 0u, "content-id", G_TYPE_STRING,
      opened.content_id.c_str(), "protocol", G_TYPE_UINT,
      static_cast<guint>(opened.current.protocol), "lifetime", G_TYPE_UINT,
      static_cast<guint>(opened.current.lifetime_s), "authenticated", G_TYPE_BOOLEAN,
      opened.current.authenticated, nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

static void handle_rejection(GstTekDec* self, const bcast::StkmRejection& rejection,
                             const std::string& source) {
  guint count = 0;
  GST_OBJECT_LOCK(self);
  switch (rejection.reason) {
    case bcast::StkmRejectReason::kMalformed:
      count = ++self->malformed;
      break;
    case bcast::StkmRejectReason::kNoRights:
      count = ++self->no_rights;
      break;
    case bcast::StkmRejectReason::kBadMac:
      count = ++self->bad_mac;
      break;
  }
  GST_OBJECT_UNLOCK(self);

  const char* reason = bcast::StkmRejectReasonName(rejection.reason);
  GST_DEBUG_OBJECT(self, "STKM rejected (%s, %u so far): %s", reason, count,
                   rejection.detail.c_str());
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(
          GST_OBJECT(self),
          gst_structure_new("openbcast-stkm-rejected", "reason", G_TYPE_STRING, reason,
                            "content-id", G_TYPE_STRING, rejection.content_id.c_str(), "detail",
                            G_TYPE_STRING, rejection.detail.c_str(), nullptr)));
  if (!ShouldWarn(count)) return;

  switch (rejection.reason) {
    case bcast::StkmRejectReason::kMalformed:
      GST_ELEMENT_WARNING(self, STREAM, DECODE,
                          ("Malformed STKM rejected: %s", rejection.detail.c_str()),
                          ("%u malformed STKMs so far", count));
      break;
    case bcast::StkmRejectReason::kNoRights:
      GST_ELEMENT_WARNING(self, STREAM, DECRYPT_NOKEY,
                          ("No rights for %s: no key for this content ID in the %s",
                           rejection.content_id.c_str(), source.c_str()),
                          ("%s; %u STKMs without rights so far", rejection.detail.c_str(), count));
      break;
    case bcast::StkmRejectReason::kBadMac:
      GST_ELEMENT_WARNING(
          self, STREAM, DECRYPT,
          ("STKM for %s failed its MAC check (forged, corrupted or wrong SAK/PAK); TEK %u not used",
           rejection.content_id.c_str(), rejection.tek_id),
          ("%s; %u STKMs with a bad MAC so far", rejection.detail.c_str(), count));
      break;
  }
}

static GstFlowReturn gst_tek_dec_process(GstTekDec* self, GstBuffer* buffer) {
  if (!self->state.source) return GST_FLOW_FLUSHING;
  if (buffer == self->state.last_buffer) return GST_FLOW_OK;
  gst_buffer_replace(&self->state.last_buffer, buffer);

  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Could not map the STKM buffer"), (nullptr));
    return GST_FLOW_ERROR;
  }
  GST_OBJECT_LOCK(self);
  std::string base_cid = self->base_cid != nullptr        ? self->base_cid
                         : self->caps_base_cid != nullptr ? self->caps_base_cid
                                                          : "";
  BcastKeyring* keyring =
      self->keyring != nullptr ? BCAST_KEYRING(g_object_ref(self->keyring)) : nullptr;
  GST_OBJECT_UNLOCK(self);

  auto opened =
      self->state.source->Open(std::span<const std::uint8_t>(map.data, map.size), base_cid);
  gst_buffer_unmap(buffer, &map);

  if (!opened) {
    handle_rejection(self, opened.error(), self->state.source->Describe());
  } else {
    bcast::OpenedStkm& keys = opened.value();
    if (keyring != nullptr) {
      bcast_keyring_add(keyring, &keys.current);
      if (keys.next) bcast_keyring_add(keyring, &*keys.next);
    } else {
      GST_WARNING_OBJECT(self, "no keyring (element not brought to READY?)");
    }
    guint learned = 0;
    if (!self->state.Learned(keys.current.id)) {
      self->state.Learn(keys.current.id);
      learned++;
    }
    if (keys.next && !self->state.Learned(keys.next->id)) {
      self->state.Learn(keys.next->id);
      learned++;
    }
    GST_LOG_OBJECT(self, "STKM for %s: TEK %u, next %s %u, %u new", keys.content_id.c_str(),
                   keys.current.id, keys.next ? "yes" : "no", keys.next ? keys.next->id : 0,
                   learned);
    if (learned > 0) {
      GST_OBJECT_LOCK(self);
      self->teks += learned;
      GST_OBJECT_UNLOCK(self);
      GST_INFO_OBJECT(self, "new TEK for %s: id %u, next %s %u, protocol %u, lifetime %u s",
                      keys.content_id.c_str(), keys.current.id, keys.next ? "yes" : "no",
                      keys.next ? keys.next->id : 0, keys.current.protocol,
                      keys.current.lifetime_s);
      post_tek_message(self, keys);
    }
    OPENSSL_cleanse(&keys.current, sizeof(keys.current));
    if (keys.next) OPENSSL_cleanse(&*keys.next, sizeof(*keys.next));
  }
  g_clear_object(&keyring);
  return GST_FLOW_OK;
}

// Keys are taken in prepare, before the sink waits for preroll or the clock, so that the media
// branch has its TEK as early as possible (even while this sink is blocked in PAUSED).
static GstFlowReturn gst_tek_dec_prepare(GstBaseSink* sink, GstBuffer* buffer) {
  return gst_tek_dec_process(GST_TEK_DEC(sink), buffer);
}

static GstFlowReturn gst_tek_dec_prepare_list(GstBaseSink* sink, GstBufferList* list) {
  GstFlowReturn ret = GST_FLOW_OK;
  for (guint i = 0; i < gst_buffer_list_length(list) && ret == GST_FLOW_OK; i++) {
    ret = gst_tek_dec_process(GST_TEK_DEC(sink), gst_buffer_list_get(list, i));
  }
  return ret;
}

static GstFlowReturn gst_tek_dec_render(GstBaseSink*, GstBuffer*) { return GST_FLOW_OK; }

static void gst_tek_dec_class_init(GstTekDecClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseSinkClass* sink_class = GST_BASE_SINK_CLASS(klass);

  gobject_class->set_property = gst_tek_dec_set_property;
  gobject_class->get_property = gst_tek_dec_get_property;
  gobject_class->finalize = gst_tek_dec_finalize;

  /**
   * GstTekDec:sek-file:
   *
   * Path of the key file (GKeyFile syntax of stkm.md, one group per content ID with
   * key-domain, sek/sak or pek/pak). Read when the element goes to PAUSED.
   */
  g_object_class_install_property(
      gobject_class, PROP_SEK_FILE,
      g_param_spec_string("sek-file", "SEK file",
                          "Key file with the SEK/SAK (PEK/PAK) per content ID (stkm.md format)",
                          nullptr,
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                   GST_PARAM_MUTABLE_READY)));
  /**
   * GstTekDec:base-cid:
   *
   * The service's base CID; overrides the `base-cid` caps field. The content ID of an STKM is
   * this followed by its CID extension as 8 lowercase hex digits.
   */
  g_object_class_install_property(
      gobject_class, PROP_BASE_CID,
      g_param_spec_string("base-cid", "Base CID",
                          "Base content ID of the service (overrides the base-cid caps field)",
                          nullptr,
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                   GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstTekDec:teks:
   *
   * Distinct TEK IDs learned (current and next TEKs).
   */
  g_object_class_install_property(
      gobject_class, PROP_TEKS,
      g_param_spec_uint("teks", "TEKs", "Distinct TEK IDs learned from STKMs", 0, G_MAXUINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstTekDec:bad-mac:
   *
   * STKMs rejected because their MAC did not verify.
   */
  g_object_class_install_property(
      gobject_class, PROP_BAD_MAC,
      g_param_spec_uint("bad-mac", "Bad MAC", "STKMs rejected for a MAC mismatch", 0, G_MAXUINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstTekDec:no-rights:
   *
   * STKMs rejected because no long-term key is held for their content ID.
   */
  g_object_class_install_property(
      gobject_class, PROP_NO_RIGHTS,
      g_param_spec_uint("no-rights", "No rights", "STKMs rejected for lack of rights", 0, G_MAXUINT,
                        0, static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstTekDec:malformed:
   *
   * STKMs rejected because their structure is invalid.
   */
  g_object_class_install_property(
      gobject_class, PROP_MALFORMED,
      g_param_spec_uint("malformed", "Malformed", "Malformed STKMs rejected", 0, G_MAXUINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_set_static_metadata(
      element_class, "OMA BCAST TEK decoder", "Sink/Decryptor",
      "Obtains traffic encryption keys from Short Term Key Messages and shares them with the "
      "pipeline's decryptors through the openbcast.keyring context",
      "openbcast");

  element_class->set_context = GST_DEBUG_FUNCPTR(gst_tek_dec_set_context);
  element_class->change_state = GST_DEBUG_FUNCPTR(gst_tek_dec_change_state);

  sink_class->start = GST_DEBUG_FUNCPTR(gst_tek_dec_start);
  sink_class->stop = GST_DEBUG_FUNCPTR(gst_tek_dec_stop);
  sink_class->set_caps = GST_DEBUG_FUNCPTR(gst_tek_dec_set_caps);
  sink_class->query = GST_DEBUG_FUNCPTR(gst_tek_dec_query);
  sink_class->prepare = GST_DEBUG_FUNCPTR(gst_tek_dec_prepare);
  sink_class->prepare_list = GST_DEBUG_FUNCPTR(gst_tek_dec_prepare_list);
  sink_class->render = GST_DEBUG_FUNCPTR(gst_tek_dec_render);
}

static void gst_tek_dec_init(GstTekDec* self) {
  new (&self->state) StreamState();
  GstBaseSink* sink = GST_BASE_SINK(self);
  // Keys are wanted on arrival, not at a buffer's running time; the STKM is not kept around.
  gst_base_sink_set_sync(sink, FALSE);
  gst_base_sink_set_last_sample_enabled(sink, FALSE);
  gst_base_sink_set_qos_enabled(sink, FALSE);
}
