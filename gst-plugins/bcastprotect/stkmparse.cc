/**
 * SECTION:element-stkmparse
 * @title: stkmparse
 * @short_description: checks and de-duplicates OMA BCAST Short Term Key Messages
 *
 * Each input buffer is one datagram of the key stream and holds one STKM. stkmparse checks its
 * structure (no key is needed for that), drops malformed STKMs with a warning that names the field
 * and byte offset, and drops STKMs byte-identical to one it passed on recently: the head-end
 * repeats every STKM every 0.5–2 s so a terminal can tune in at any time, and tekdec only needs
 * each one once. The output caps carry the service's base CID (`base-cid`) so that tekdec can form
 * content IDs.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 udpsrc port=5004 caps=application/x-bcast-stkm ! \
 *     stkmparse base-cid=urn:openbcast:svc:news: ! tekdec sek-file=keys.ini
 * ]|
 */
#include "gst-plugins/bcastprotect/stkmparse.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <new>
#include <span>
#include <string_view>
#include <vector>

#include "spc/libspc/stkm.h"

GST_DEBUG_CATEGORY_STATIC(gst_stkm_parse_debug);
#define GST_CAT_DEFAULT gst_stkm_parse_debug

namespace {

constexpr guint kRecentStkms = 32;
constexpr guint kDefaultRepeatTimeoutMs = 10000;
// Warnings for bad input: the first few, then one in this many (the counter counts all).
constexpr guint kWarnFirst = 5;
constexpr guint kWarnEvery = 100;

bool ShouldWarn(guint count) { return count <= kWarnFirst || count % kWarnEvery == 0; }

struct RecentStkm {
  std::size_t hash = 0;
  std::vector<std::uint8_t> bytes;
  gint64 passed_at = 0;  // monotonic µs when last passed on
};

// Streaming-thread state: only touched from transform_ip and start/stop.
struct StreamState {
  std::array<RecentStkm, kRecentStkms> recent;
  guint next = 0;

  void Clear() {
    for (auto& r : recent) r = RecentStkm{};
    next = 0;
  }
};

}  // namespace

struct _GstStkmParse {
  GstBaseTransform parent;

  // Object lock.
  gchar* base_cid;
  guint repeat_timeout_ms;
  guint accepted;
  guint malformed;
  guint repeats;

  StreamState state;  // constructed in init, destroyed in finalize
};

enum {
  PROP_0,
  PROP_BASE_CID,
  PROP_REPEAT_TIMEOUT,
  PROP_ACCEPTED,
  PROP_MALFORMED,
  PROP_REPEATS,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-bcast-stkm"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS("application/x-bcast-stkm"));

G_DEFINE_TYPE_WITH_CODE(GstStkmParse, gst_stkm_parse, GST_TYPE_BASE_TRANSFORM,
                        GST_DEBUG_CATEGORY_INIT(gst_stkm_parse_debug, "stkmparse", 0,
                                                "OMA BCAST STKM parser"))
GST_ELEMENT_REGISTER_DEFINE(stkmparse, "stkmparse", GST_RANK_NONE, GST_TYPE_STKM_PARSE)

static void gst_stkm_parse_set_property(GObject* object, guint prop_id, const GValue* value,
                                        GParamSpec* pspec) {
  GstStkmParse* self = GST_STKM_PARSE(object);
  switch (prop_id) {
    case PROP_BASE_CID:
      GST_OBJECT_LOCK(self);
      g_free(self->base_cid);
      self->base_cid = g_value_dup_string(value);
      GST_OBJECT_UNLOCK(self);
      // The base CID is part of the output caps.
      gst_base_transform_reconfigure_src(GST_BASE_TRANSFORM(self));
      break;
    case PROP_REPEAT_TIMEOUT:
      GST_OBJECT_LOCK(self);
      self->repeat_timeout_ms = g_value_get_uint(value);
      GST_OBJECT_UNLOCK(self);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

static void gst_stkm_parse_get_property(GObject* object, guint prop_id, GValue* value,
                                        GParamSpec* pspec) {
  GstStkmParse* self = GST_STKM_PARSE(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_BASE_CID:
      g_value_set_string(value, self->base_cid);
      break;
    case PROP_REPEAT_TIMEOUT:
      g_value_set_uint(value, self->repeat_timeout_ms);
      break;
    case PROP_ACCEPTED:
      g_value_set_uint(value, self->accepted);
      break;
    case PROP_MALFORMED:
      g_value_set_uint(value, self->malformed);
      break;
    case PROP_REPEATS:
      g_value_set_uint(value, self->repeats);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_stkm_parse_finalize(GObject* object) {
  GstStkmParse* self = GST_STKM_PARSE(object);
  g_free(self->base_cid);
  self->state.~StreamState();
  G_OBJECT_CLASS(gst_stkm_parse_parent_class)->finalize(object);
}

// Downstream gets the base CID as a caps field; upstream is not asked for one (the property wins
// over a base-cid that upstream, e.g. a session-description driven source, may set).
static GstCaps* gst_stkm_parse_transform_caps(GstBaseTransform* trans, GstPadDirection direction,
                                              GstCaps* caps, GstCaps* filter) {
  GstStkmParse* self = GST_STKM_PARSE(trans);
  GstCaps* out = gst_caps_copy(caps);
  GST_OBJECT_LOCK(self);
  for (guint i = 0; i < gst_caps_get_size(out); i++) {
    GstStructure* s = gst_caps_get_structure(out, i);
    if (direction == GST_PAD_SINK) {
      if (self->base_cid != nullptr) {
        gst_structure_set(s, "base-cid", G_TYPE_STRING, self->base_cid, nullptr);
      }
    } else {
      gst_structure_remove_field(s, "base-cid");
    }
  }
  GST_OBJECT_UNLOCK(self);
  if (filter != nullptr) {
    GstCaps* tmp = gst_caps_intersect_full(filter, out, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(out);
    out = tmp;
  }
  GST_DEBUG_OBJECT(self, "transformed %" GST_PTR_FORMAT " to %" GST_PTR_FORMAT, caps, out);
  return out;
}

static gboolean gst_stkm_parse_start(GstBaseTransform* trans) {
  GstStkmParse* self = GST_STKM_PARSE(trans);
  self->state.Clear();
  GST_OBJECT_LOCK(self);
  self->accepted = self->malformed = self->repeats = 0;
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

static gboolean gst_stkm_parse_stop(GstBaseTransform* trans) {
  GST_STKM_PARSE(trans)->state.Clear();
  return TRUE;
}

// TRUE when `bytes` equals an STKM passed on within the repeat timeout; otherwise remembers it.
static gboolean is_repeat(GstStkmParse* self, std::span<const std::uint8_t> bytes,
                          guint timeout_ms) {
  std::string_view view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const std::size_t hash = std::hash<std::string_view>{}(view);
  const gint64 now = g_get_monotonic_time();
  StreamState& st = self->state;
  for (RecentStkm& r : st.recent) {
    if (r.hash != hash || r.bytes.size() != bytes.size() ||
        !std::equal(bytes.begin(), bytes.end(), r.bytes.begin())) {
      continue;
    }
    // A repeat is passed on again after a while, so that a consumer whose answer may have changed
    // (rights acquired since, daemon restarted) gets another chance.
    if (timeout_ms != 0 && now - r.passed_at >= static_cast<gint64>(timeout_ms) * 1000) {
      r.passed_at = now;
      return FALSE;
    }
    return TRUE;
  }
  RecentStkm& slot = st.recent[st.next];
  st.next = (st.next + 1) % kRecentStkms;
  slot.hash = hash;
  slot.bytes.assign(bytes.begin(), bytes.end());
  slot.passed_at = now;
  return FALSE;
}

static GstFlowReturn gst_stkm_parse_transform_ip(GstBaseTransform* trans, GstBuffer* buf) {
  GstStkmParse* self = GST_STKM_PARSE(trans);
  GstMapInfo map;
  if (!gst_buffer_map(buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR(self, RESOURCE, READ, ("Could not map the STKM buffer"), (nullptr));
    return GST_FLOW_ERROR;
  }
  std::span<const std::uint8_t> bytes(map.data, map.size);

  GST_OBJECT_LOCK(self);
  const guint timeout_ms = self->repeat_timeout_ms;
  GST_OBJECT_UNLOCK(self);

  GstFlowReturn ret = GST_FLOW_OK;
  auto parsed = spc::ParseStkm(bytes);
  if (!parsed) {
    const spc::ParseError& err = parsed.error();
    GST_OBJECT_LOCK(self);
    const guint count = ++self->malformed;
    GST_OBJECT_UNLOCK(self);
    GST_DEBUG_OBJECT(self,
                     "malformed STKM of %" G_GSIZE_FORMAT " bytes: field %s offset %" G_GSIZE_FORMAT
                     ": %s",
                     map.size, err.field.c_str(), err.offset, err.message.c_str());
    if (ShouldWarn(count)) {
      GST_ELEMENT_WARNING(self, STREAM, DECODE,
                          ("Malformed STKM dropped: field %s at offset %" G_GSIZE_FORMAT ": %s",
                           err.field.c_str(), err.offset, err.message.c_str()),
                          ("%u malformed STKMs so far (warning for the first %u, then every %u)",
                           count, kWarnFirst, kWarnEvery));
    }
    ret = GST_BASE_TRANSFORM_FLOW_DROPPED;
  } else if (is_repeat(self, bytes, timeout_ms)) {
    GST_OBJECT_LOCK(self);
    self->repeats++;
    GST_OBJECT_UNLOCK(self);
    GST_LOG_OBJECT(self, "repeated STKM for TEK %u dropped", parsed->traffic_key_id);
    ret = GST_BASE_TRANSFORM_FLOW_DROPPED;
  } else {
    GST_OBJECT_LOCK(self);
    self->accepted++;
    GST_OBJECT_UNLOCK(self);
    GST_DEBUG_OBJECT(
        self, "STKM for TEK %u (next %s %u), key domain %06x, %s CID extension %08x",
        parsed->traffic_key_id, parsed->next_traffic_key_flag ? "yes" : "no",
        parsed->next_traffic_key_id, parsed->key_domain_id,
        parsed->programme_flag ? "programme" : "service",
        parsed->programme_flag ? parsed->programme_CID_extension : parsed->service_CID_extension);
  }
  gst_buffer_unmap(buf, &map);
  return ret;
}

static void gst_stkm_parse_class_init(GstStkmParseClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);

  gobject_class->set_property = gst_stkm_parse_set_property;
  gobject_class->get_property = gst_stkm_parse_get_property;
  gobject_class->finalize = gst_stkm_parse_finalize;

  /**
   * GstStkmParse:base-cid:
   *
   * The service's base CID from the session description. Put on the output caps as `base-cid`
   * (replacing one set upstream); tekdec appends the STKM's CID extension to it.
   */
  g_object_class_install_property(
      gobject_class, PROP_BASE_CID,
      g_param_spec_string("base-cid", "Base CID",
                          "Base content ID of the service (session description), put on the "
                          "output caps for tekdec",
                          nullptr,
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                   GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstStkmParse:repeat-timeout:
   *
   * An STKM identical to one passed on less than this many milliseconds ago (and among the last
   * 32 distinct ones) is dropped as a repeat. 0: drop identical STKMs for as long as they are
   * remembered.
   */
  g_object_class_install_property(
      gobject_class, PROP_REPEAT_TIMEOUT,
      g_param_spec_uint("repeat-timeout", "Repeat timeout",
                        "Pass an identical STKM on again after this many ms (0 = never)", 0,
                        G_MAXUINT, kDefaultRepeatTimeoutMs,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                 GST_PARAM_MUTABLE_PLAYING)));
  /**
   * GstStkmParse:accepted:
   *
   * Well-formed STKMs passed on: each distinct one once, plus a repeat let through again after
   * #GstStkmParse:repeat-timeout.
   */
  g_object_class_install_property(
      gobject_class, PROP_ACCEPTED,
      g_param_spec_uint("accepted", "Accepted", "Well-formed STKMs passed on", 0, G_MAXUINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstStkmParse:malformed:
   *
   * STKMs dropped because their structure is invalid.
   */
  g_object_class_install_property(
      gobject_class, PROP_MALFORMED,
      g_param_spec_uint("malformed", "Malformed", "Malformed STKMs dropped", 0, G_MAXUINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));
  /**
   * GstStkmParse:repeats:
   *
   * STKMs dropped because an identical one was passed on recently.
   */
  g_object_class_install_property(
      gobject_class, PROP_REPEATS,
      g_param_spec_uint("repeats", "Repeats", "Repeated STKMs dropped", 0, G_MAXUINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);
  gst_element_class_set_static_metadata(
      element_class, "OMA BCAST STKM parser", "Parser/Network",
      "Checks Short Term Key Messages, drops malformed and repeated ones and labels the key "
      "stream with its base CID",
      "openbcast");

  trans_class->transform_caps = GST_DEBUG_FUNCPTR(gst_stkm_parse_transform_caps);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR(gst_stkm_parse_transform_ip);
  trans_class->start = GST_DEBUG_FUNCPTR(gst_stkm_parse_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_stkm_parse_stop);
  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_ip_on_passthrough = TRUE;
}

static void gst_stkm_parse_init(GstStkmParse* self) {
  new (&self->state) StreamState();
  self->repeat_timeout_ms = kDefaultRepeatTimeoutMs;
  // Buffers are never modified, only inspected or dropped.
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), TRUE);
}
