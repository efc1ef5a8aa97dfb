/**
 * SECTION:element-bcastsrc
 * @title: bcastsrc
 * @short_description: plays a protected OMA BCAST service from its session description
 *
 * bcastsrc reads the session description of a service (shared/spec/sdp.md) from a file
 * (`bcast+file:///path/service.sdp`) or over HTTP (`bcast+http://host/path/service.sdp`,
 * `bcast+https://…`), builds the key branches (`udpsrc ! stkmparse ! tekdec`, one per key stream)
 * and the media branches (`udpsrc ! bcastsrtpdec ! rtpjitterbuffer ! depayloader ! parser` for
 * SRTP, `udpsrc ! rtpjitterbuffer ! ismacrypdec ! parser` for ISMACryp, no decryptor for clear
 * media) and exposes one source pad per elementary stream (`video_%u`: parsed H.264,
 * `audio_%u`: parsed AAC), followed by no-more-pads. Decoders are left to the application or to
 * decodebin, so `playbin uri=bcast+file://…` and `gst-play-1.0 bcast+file://…` play a protected
 * service with no other code.
 *
 * The long-term keys for the key file mode of tekdec come from, in this order: the
 * #GstBcastSrc:sek-file property, the URI query parameter `keys`
 * (`bcast+file:///srv/service.sdp?keys=/srv/keys.ini`), the environment variable
 * `OPENBCAST_KEY_FILE`. Without any of them tekdec asks the SP-C daemon spcd (its default: the
 * system bus); the URI query parameters `spcd-bus=session` and `spcd-bus-address=<D-Bus address>`
 * choose another bus. With a tekdec that has no spcd mode, a protected service without a key file
 * is refused. `keys`, `spcd-bus` and `spcd-bus-address` are never sent to an HTTP server.
 *
 * All elements of one bcastsrc share one keyring (GstContext `openbcast.keyring`) of their own: a
 * keyring announced elsewhere in the pipeline is not taken, so two services never mix TEK IDs.
 * The element messages of tekdec (`openbcast-tek`, `openbcast-stkm-rejected`) and bcastsrtpdec
 * reach the pipeline bus unchanged. Once the branches are built bcastsrc posts `openbcast-service`
 * with `service-name` (string), `streams` (uint), `protected` (boolean) and `key-source` (string:
 * "key file <path>", "spcd" or "none").
 *
 * The SDP is read and the branches built when the element goes from NULL to READY; every problem
 * there (unreadable file, HTTP failure, malformed SDP, unsupported media, missing keys or plugins)
 * is a GST_ELEMENT_ERROR naming the URI and the cause, and the state change fails.
 *
 * ## Example launch lines
 * |[
 * gst-play-1.0 'bcast+file:///tmp/svc/service.sdp?keys=/tmp/svc/keys.ini'
 * gst-launch-1.0 playbin uri='bcast+file:///tmp/svc/service.sdp?keys=/tmp/svc/keys.ini'
 * gst-launch-1.0 bcastsrc uri=bcast+http://127.0.0.1:8080/service.sdp sek-file=keys.ini name=s \
 *     s.video_0 ! queue ! avdec_h264 ! autovideosink  s.audio_0 ! queue ! avdec_aac ! autoaudiosink
 * ]|
 */
#include "gst-plugins/bcastprotect/bcastsrc.h"

#include <libsoup/soup.h>

#include <map>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "channels/session_description.h"
#include "gst-plugins/bcastprotect/keyring.h"
#include "gst-plugins/bcastprotect/service_caps.h"

GST_DEBUG_CATEGORY_STATIC(gst_bcast_src_debug);
#define GST_CAT_DEFAULT gst_bcast_src_debug

namespace {

constexpr guint kDefaultLatencyMs = 200;
constexpr guint kDefaultHttpTimeoutS = 10;
// A session description is a few kilobytes; anything much larger is not one.
constexpr gsize kMaxSdpBytes = 1 << 20;
// Bursts of an IDR picture must not overflow the socket while a decoder is busy.
constexpr gint kUdpBufferSize = 4 * 1024 * 1024;

enum {
  PROP_0,
  PROP_URI,
  PROP_SEK_FILE,
  PROP_LATENCY,
  PROP_HTTP_TIMEOUT,
  PROP_MULTICAST_IFACE,
  PROP_SERVICE_NAME,
};

// Where the SDP comes from, from the URI.
struct Location {
  bool http = false;
  std::string path;      // bcast+file: the local path
  std::string http_url;  // bcast+http(s): the URL to fetch, without our own query parameters
  std::string keys;      // ?keys=
  std::string spcd_bus;  // ?spcd-bus=system|session (tekdec's bus, without a key file)
  std::string spcd_bus_address;  // ?spcd-bus-address=<D-Bus address> (tekdec's bus-address)
};

// Query parameters that are bcastsrc's own, never sent to an HTTP server.
constexpr const char* kOwnQueryKeys[] = {"keys", "spcd-bus", "spcd-bus-address"};

// Everything built from one SDP; torn down at READY→NULL.
struct Built {
  std::vector<GstElement*> elements;  // owned by the bin
  std::vector<GstPad*> pads;          // ghost pads, owned by the element
};

struct Private {
  // Properties (object lock).
  std::string uri;
  std::string sek_file;
  guint latency_ms = kDefaultLatencyMs;
  guint http_timeout_s = kDefaultHttpTimeoutS;
  std::string multicast_iface;
  std::string service_name;
  // Streaming state (state-change thread only).
  Built built;
};

struct UriDeleter {
  void operator()(GstUri* uri) const { gst_uri_unref(uri); }
};
using UriPtr = std::unique_ptr<GstUri, UriDeleter>;

// Parses and checks a bcast+… URI; on failure returns false with a message for GST_URI_ERROR.
bool ParseLocation(const std::string& uri, Location* out, std::string* error) {
  UriPtr parsed(gst_uri_from_string(uri.c_str()));
  if (!parsed) {
    *error = "'" + uri + "' is not a URI";
    return false;
  }
  const gchar* scheme_raw = gst_uri_get_scheme(parsed.get());
  g_autofree gchar* scheme = g_ascii_strdown(scheme_raw != nullptr ? scheme_raw : "", -1);
  const gchar* keys = gst_uri_get_query_value(parsed.get(), "keys");
  Location loc;
  if (keys != nullptr) loc.keys = keys;
  if (const gchar* bus = gst_uri_get_query_value(parsed.get(), "spcd-bus")) {
    if (g_strcmp0(bus, "system") != 0 && g_strcmp0(bus, "session") != 0) {
      *error = "'" + uri + "': spcd-bus is 'system' or 'session', not '" + bus + "'";
      return false;
    }
    loc.spcd_bus = bus;
  }
  if (const gchar* address = gst_uri_get_query_value(parsed.get(), "spcd-bus-address")) {
    loc.spcd_bus_address = address;
  }
  if (g_strcmp0(scheme, "bcast+file") == 0) {
    const gchar* host = gst_uri_get_host(parsed.get());
    if (host != nullptr && *host != '\0' && g_ascii_strcasecmp(host, "localhost") != 0) {
      *error = "'" + uri + "': bcast+file URIs name a local file (no host '" + host + "')";
      return false;
    }
    g_autofree gchar* path = gst_uri_get_path(parsed.get());
    if (path == nullptr || !g_path_is_absolute(path)) {
      *error = "'" + uri + "': expected bcast+file:///absolute/path/service.sdp";
      return false;
    }
    loc.path = path;
  } else if (g_strcmp0(scheme, "bcast+http") == 0 || g_strcmp0(scheme, "bcast+https") == 0) {
    const gchar* host = gst_uri_get_host(parsed.get());
    if (host == nullptr || *host == '\0') {
      *error = "'" + uri + "': expected bcast+http://host[:port]/path/service.sdp";
      return false;
    }
    loc.http = true;
    UriPtr http(gst_uri_copy(parsed.get()));
    gst_uri_set_scheme(http.get(), g_strcmp0(scheme, "bcast+https") == 0 ? "https" : "http");
    // Our own parameters stay here; any other belongs to the HTTP server.
    for (const char* key : kOwnQueryKeys) gst_uri_remove_query_key(http.get(), key);
    GList* left = gst_uri_get_query_keys(http.get());
    if (left == nullptr) gst_uri_set_query_table(http.get(), nullptr);
    g_list_free(left);
    g_autofree gchar* url = gst_uri_to_string(http.get());
    loc.http_url = url;
  } else {
    *error = "'" + uri + "': unsupported scheme (bcast+file, bcast+http or bcast+https)";
    return false;
  }
  *out = std::move(loc);
  return true;
}

}  // namespace

struct _GstBcastSrc {
  GstBin parent;
  Private priv;
};

static void gst_bcast_src_uri_handler_init(gpointer g_iface, gpointer iface_data);

G_DEFINE_TYPE_WITH_CODE(GstBcastSrc, gst_bcast_src, GST_TYPE_BIN,
                        G_IMPLEMENT_INTERFACE(GST_TYPE_URI_HANDLER, gst_bcast_src_uri_handler_init);
                        GST_DEBUG_CATEGORY_INIT(gst_bcast_src_debug, "bcastsrc", 0,
                                                "OMA BCAST protected service source"));

GST_ELEMENT_REGISTER_DEFINE(bcastsrc, "bcastsrc", GST_RANK_PRIMARY, GST_TYPE_BCAST_SRC);

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE(
    "video_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("video/x-h264"));
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE(
    "audio_%u", GST_PAD_SRC, GST_PAD_SOMETIMES, GST_STATIC_CAPS("audio/mpeg"));

// ---- reading the session description ----

// Fetches `url` with libsoup 3 in a private main context, so the caller's loop is not run from a
// state change. Returns false with a message on a transport error or a non-2xx status.
static bool FetchHttp(const std::string& url, guint timeout_s, std::string* body,
                      std::string* error, bool* not_found) {
  GMainContext* context = g_main_context_new();
  g_main_context_push_thread_default(context);
  bool ok = false;
  {
    g_autoptr(SoupSession) session =
        soup_session_new_with_options("timeout", timeout_s, "idle-timeout", timeout_s, "user-agent",
                                      "openbcast-bcastsrc/0.1", nullptr);
    g_autoptr(GError) err = nullptr;
    g_autoptr(GUri) guri =
        g_uri_parse(url.c_str(), static_cast<GUriFlags>(SOUP_HTTP_URI_FLAGS), &err);
    if (guri == nullptr) {
      *error = "bad HTTP URL " + url + ": " + err->message;
    } else {
      g_autoptr(SoupMessage) msg = soup_message_new_from_uri("GET", guri);
      g_autoptr(GBytes) bytes = soup_session_send_and_read(session, msg, nullptr, &err);
      const guint status = soup_message_get_status(msg);
      if (bytes == nullptr) {
        *error = "GET " + url + " failed: " + (err ? err->message : "no response");
      } else if (!SOUP_STATUS_IS_SUCCESSFUL(status)) {
        const char* reason = soup_message_get_reason_phrase(msg);
        *error = "GET " + url + ": HTTP " + std::to_string(status) + " " + (reason ? reason : "");
        *not_found = status == SOUP_STATUS_NOT_FOUND || status == SOUP_STATUS_GONE;
      } else if (g_bytes_get_size(bytes) > kMaxSdpBytes) {
        *error = "GET " + url + ": " + std::to_string(g_bytes_get_size(bytes)) +
                 " bytes is too large for a session description";
      } else {
        gsize size = 0;
        const char* data = static_cast<const char*>(g_bytes_get_data(bytes, &size));
        body->assign(data != nullptr ? data : "", size);
        ok = true;
      }
    }
  }
  g_main_context_pop_thread_default(context);
  g_main_context_unref(context);
  return ok;
}

// Reads the SDP text named by the URI; posts the error itself.
static bool ReadSdp(GstBcastSrc* self, const std::string& uri, const Location& loc, guint timeout_s,
                    std::string* text) {
  if (loc.http) {
    std::string error;
    bool not_found = false;
    GST_INFO_OBJECT(self, "fetching the session description from %s", loc.http_url.c_str());
    if (!FetchHttp(loc.http_url, timeout_s, text, &error, &not_found)) {
      if (not_found) {
        GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                          ("Session description not found: %s", error.c_str()),
                          ("uri %s", uri.c_str()));
      } else {
        GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                          ("Could not fetch the session description: %s", error.c_str()),
                          ("uri %s", uri.c_str()));
      }
      return false;
    }
    return true;
  }
  gchar* contents = nullptr;
  gsize length = 0;
  g_autoptr(GError) err = nullptr;
  if (!g_file_get_contents(loc.path.c_str(), &contents, &length, &err)) {
    if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
      GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                        ("Session description %s not found", loc.path.c_str()),
                        ("uri %s: %s", uri.c_str(), err->message));
    } else {
      GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ,
                        ("Could not read the session description %s", loc.path.c_str()),
                        ("uri %s: %s", uri.c_str(), err->message));
    }
    return false;
  }
  text->assign(contents, length);
  g_free(contents);
  return true;
}

// ---- building the branches ----

static GstElement* MakeChild(GstBcastSrc* self, const char* factory, const std::string& name,
                             GstContext* keyring_context) {
  GstElement* e = gst_element_factory_make(factory, name.c_str());
  if (e == nullptr) {
    const std::string f = factory;
    const char* hint =
        (f == "stkmparse" || f == "tekdec" || f == "bcastsrtpdec" || f == "ismacrypdec")
            ? "the openbcast plugin bcastprotect"
        : f == "udpsrc" || f.rfind("rtp", 0) == 0 ? "gstreamer1.0-plugins-good"
                                                  : "gstreamer1.0-plugins-bad";
    GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN, ("GStreamer element '%s' not found", factory),
                      ("needed by the service; it comes with %s", hint));
    return nullptr;
  }
  if (!gst_bin_add(GST_BIN(self), e)) {
    GST_ELEMENT_ERROR(self, CORE, FAILED, ("Could not add %s to bcastsrc", name.c_str()),
                      (nullptr));
    return nullptr;
  }
  // Set after adding: a child that brings a context into a bin has it announced to the whole
  // pipeline, and this keyring is the service's own.
  if (keyring_context != nullptr) gst_element_set_context(e, keyring_context);
  self->priv.built.elements.push_back(e);
  return e;
}

static bool LinkChain(GstBcastSrc* self, const std::vector<GstElement*>& chain) {
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    if (!gst_element_link(chain[i], chain[i + 1])) {
      GST_ELEMENT_ERROR(
          self, CORE, NEGOTIATION,
          ("Could not link %s to %s", GST_ELEMENT_NAME(chain[i]), GST_ELEMENT_NAME(chain[i + 1])),
          (nullptr));
      return false;
    }
  }
  return true;
}

static void SetUdpSource(GstBcastSrc* self, GstElement* src, const std::string& address,
                         guint16 port, GstCaps* caps, const std::string& iface) {
  g_object_set(src, "address", address.c_str(), "port", static_cast<gint>(port), "caps", caps,
               "buffer-size", kUdpBufferSize, nullptr);
  if (!iface.empty()) g_object_set(src, "multicast-iface", iface.c_str(), nullptr);
  GST_DEBUG_OBJECT(self, "%s listens on %s:%u", GST_ELEMENT_NAME(src), address.c_str(), port);
}

static bool AddKeyBranch(GstBcastSrc* self, const channels::KeyStream& key,
                         const std::string& key_file, const Location& loc, const std::string& iface,
                         GstContext* context, const channels::SessionDescription& sd) {
  const std::string prefix = "key-" + key.id;
  GstElement* src = MakeChild(self, "udpsrc", prefix + "-src", nullptr);
  // Smartcard Profile: the datagrams are MIKEY MTK messages, which stkmparse (STKMs) would drop.
  GstElement* parse =
      src ? MakeChild(self, sd.smartcard() ? "identity" : "stkmparse", prefix + "-parse", nullptr)
          : nullptr;
  GstElement* dec = nullptr;
  if (parse != nullptr) {
    dec = gst_element_factory_make("tekdec", (prefix + "-tekdec").c_str());
    if (dec == nullptr) {
      GST_ELEMENT_ERROR(self, CORE, MISSING_PLUGIN, ("GStreamer element 'tekdec' not found"),
                        ("it comes with the openbcast plugin bcastprotect"));
      return false;
    }
    // tekdec is a sink only for the key stream: the bin must not count it as one, or it would
    // wait for its preroll and its EOS as for a media sink and look like a sink to playbin.
    GST_OBJECT_FLAG_UNSET(dec, GST_ELEMENT_FLAG_SINK);
    g_object_set(dec, "async", FALSE, nullptr);
    if (!gst_bin_add(GST_BIN(self), dec)) {
      GST_ELEMENT_ERROR(self, CORE, FAILED, ("Could not add tekdec to bcastsrc"), (nullptr));
      return false;
    }
    gst_element_set_context(dec, context);
    self->priv.built.elements.push_back(dec);
  }
  if (dec == nullptr) return false;
  g_autoptr(GstCaps) caps = gst_caps_new_empty_simple("application/x-bcast-stkm");
  SetUdpSource(self, src, key.address, key.port, caps, iface);
  if (sd.smartcard()) {
    char domain[16];
    g_snprintf(domain, sizeof domain, "%06x", key.key_domain_id);
    g_object_set(dec, "profile", "smartcard", "bsf-url", sd.bsf_url.c_str(), "bsm-url",
                 sd.bsm_url.c_str(), "base-cid", key.base_cid.c_str(), nullptr);
    if (g_object_class_find_property(G_OBJECT_GET_CLASS(dec), "key-domain") != nullptr) {
      g_object_set(dec, "key-domain", domain, nullptr);
    }
  } else {
    g_object_set(parse, "base-cid", key.base_cid.c_str(), nullptr);
  }
  if (!key_file.empty() && !sd.smartcard()) {
    g_object_set(dec, "sek-file", key_file.c_str(), nullptr);
  } else {
    GObjectClass* klass = G_OBJECT_GET_CLASS(dec);
    if (!loc.spcd_bus.empty() && g_object_class_find_property(klass, "bus") != nullptr) {
      gst_util_set_object_arg(G_OBJECT(dec), "bus", loc.spcd_bus.c_str());
    }
    if (!loc.spcd_bus_address.empty() &&
        g_object_class_find_property(klass, "bus-address") != nullptr) {
      g_object_set(dec, "bus-address", loc.spcd_bus_address.c_str(), nullptr);
    }
  }
  return LinkChain(self, {src, parse, dec});
}

// The media branch; returns the parser's source pad (transfer full) for the ghost pad.
static GstPad* AddMediaBranch(GstBcastSrc* self, const std::string& name,
                              const channels::MediaStream& media, const bcast::StreamPlan& plan,
                              guint latency_ms, const std::string& iface, GstContext* context) {
  GstElement* src = MakeChild(self, "udpsrc", name + "-src", nullptr);
  if (src == nullptr) return nullptr;
  std::vector<GstElement*> chain = {src};
  if (!plan.decryptor.empty()) {
    GstElement* dec = MakeChild(self, plan.decryptor.c_str(), name + "-decrypt", context);
    if (dec == nullptr) return nullptr;
    chain.push_back(dec);
  }
  if (latency_ms > 0) {
    // Presentation times from the RTP timestamps, and packets in order, after SRTP (whose index
    // estimation copes with reordering) and before the depayloader.
    GstElement* jb = MakeChild(self, "rtpjitterbuffer", name + "-jitterbuffer", nullptr);
    if (jb == nullptr) return nullptr;
    g_object_set(jb, "latency", latency_ms, nullptr);
    chain.push_back(jb);
  }
  GstElement* depay =
      MakeChild(self, plan.depayloader.c_str(), name + "-depay",
                plan.protection == bcast::Protection::kIsmacryp ? context : nullptr);
  GstElement* parse =
      depay ? MakeChild(self, plan.parser.c_str(), name + "-parse", nullptr) : nullptr;
  if (parse == nullptr) return nullptr;
  chain.insert(chain.end(), {depay, parse});
  if (plan.video && g_object_class_find_property(G_OBJECT_GET_CLASS(depay), "wait-for-keyframe")) {
    // A terminal that joins mid-GOP shows nothing until the next key frame rather than garbage.
    g_object_set(depay, "wait-for-keyframe", TRUE, nullptr);
  }
  g_autoptr(GstCaps) caps = gst_caps_from_string(plan.caps.c_str());
  if (caps == nullptr) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("Bad caps for the %s stream", name.c_str()),
                      ("%s", plan.caps.c_str()));
    return nullptr;
  }
  SetUdpSource(self, src, media.address, media.port, caps, iface);
  if (!LinkChain(self, chain)) return nullptr;
  return gst_element_get_static_pad(parse, "src");
}

static std::string MediaLabel(const channels::MediaStream& m) {
  return "m=" + m.media + " " + std::to_string(m.port) + " " + m.protocol + " " +
         std::to_string(m.payload_type);
}

static bool TekdecCanAskSpcd() {
  // tekdec's SP-C daemon mode (properties bus / bus-name) is the default key source when it exists.
  g_autoptr(GstElementFactory) factory = gst_element_factory_find("tekdec");
  if (factory == nullptr) return false;
  GstPluginFeature* loaded = gst_plugin_feature_load(GST_PLUGIN_FEATURE(factory));
  if (loaded == nullptr) return false;
  GType type = gst_element_factory_get_element_type(GST_ELEMENT_FACTORY(loaded));
  gst_object_unref(loaded);
  if (type == G_TYPE_INVALID) return false;
  g_autoptr(GTypeClass) klass = static_cast<GTypeClass*>(g_type_class_ref(type));
  return g_object_class_find_property(G_OBJECT_CLASS(klass), "bus-name") != nullptr;
}

static void Teardown(GstBcastSrc* self) {
  Built built = std::exchange(self->priv.built, Built{});
  for (GstPad* pad : built.pads) gst_element_remove_pad(GST_ELEMENT(self), pad);
  for (GstElement* e : built.elements) {
    gst_element_set_state(e, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(self), e);
  }
}

static bool Build(GstBcastSrc* self) {
  GST_OBJECT_LOCK(self);
  const std::string uri = self->priv.uri;
  const std::string sek_file = self->priv.sek_file;
  const guint latency_ms = self->priv.latency_ms;
  const guint timeout_s = self->priv.http_timeout_s;
  const std::string iface = self->priv.multicast_iface;
  GST_OBJECT_UNLOCK(self);

  if (uri.empty()) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("No URI set"),
                      ("set uri=bcast+file:///path/service.sdp or bcast+http://…"));
    return false;
  }
  Location loc;
  std::string error;
  if (!ParseLocation(uri, &loc, &error)) {
    GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("Bad URI: %s", error.c_str()), (nullptr));
    return false;
  }
  std::string text;
  if (!ReadSdp(self, uri, loc, timeout_s, &text)) return false;
  auto parsed = channels::ParseSessionDescription(text);
  if (!parsed) {
    const spc::ParseError& e = parsed.error();
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                      ("Malformed session description %s: %s (%s, line %zu)", uri.c_str(),
                       e.message.c_str(), e.field.c_str(), e.offset),
                      (nullptr));
    return false;
  }
  const channels::SessionDescription& sd = parsed.value();
  if (sd.media.empty()) {
    GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                      ("The session description %s has no media stream", uri.c_str()), (nullptr));
    return false;
  }

  // Plan every stream first: nothing is built for a service that cannot be played whole.
  std::vector<bcast::StreamPlan> plans;
  std::vector<const channels::KeyStream*> stream_keys;
  std::set<std::string> key_ids;
  bool any_protected = false;
  for (const auto& m : sd.media) {
    auto plan = bcast::PlanForMedia(m);
    if (!plan) {
      GST_ELEMENT_ERROR(self, STREAM, CODEC_NOT_FOUND,
                        ("Cannot play %s of %s: %s (%s)", MediaLabel(m).c_str(), uri.c_str(),
                         plan.error().message.c_str(), plan.error().field.c_str()),
                        (nullptr));
      return false;
    }
    const channels::KeyStream* key = nullptr;
    if (plan->protected_stream()) {
      any_protected = true;
      if (!m.key_stream_id.empty()) {
        key = sd.FindKeyStream(m.key_stream_id);
      } else if (sd.key_streams.size() == 1) {
        key = &sd.key_streams.front();
      }
      if (key == nullptr) {
        GST_ELEMENT_ERROR(self, STREAM, FORMAT,
                          ("%s of %s is protected but names no key stream (a=stkmstream:%s)",
                           MediaLabel(m).c_str(), uri.c_str(), m.key_stream_id.c_str()),
                          ("key streams are m=application lines with format vnd.oma.bcast.stkm"));
        return false;
      }
      key_ids.insert(key->id);
    }
    stream_keys.push_back(key);
    plans.push_back(std::move(plan.value()));
  }

  std::string key_file = sek_file;
  const char* key_file_from = "the sek-file property";
  if (key_file.empty() && !loc.keys.empty()) {
    key_file = loc.keys;
    key_file_from = "the URI's keys parameter";
  }
  if (key_file.empty()) {
    const char* env = g_getenv(BCAST_SRC_KEY_FILE_ENV);
    if (env != nullptr && *env != '\0') {
      key_file = env;
      key_file_from = "$" BCAST_SRC_KEY_FILE_ENV;
    }
  }
  std::string key_source = "none";
  if (any_protected) {
    if (!key_file.empty()) {
      if (!g_file_test(key_file.c_str(), G_FILE_TEST_IS_REGULAR)) {
        GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND,
                          ("Key file %s (from %s) not found", key_file.c_str(), key_file_from),
                          ("uri %s", uri.c_str()));
        return false;
      }
      key_source = "key file " + key_file;
    } else if (TekdecCanAskSpcd()) {
      key_source = "spcd";
    } else {
      GST_ELEMENT_ERROR(self, STREAM, DECRYPT_NOKEY,
                        ("The service %s is protected and no key file is given", uri.c_str()),
                        ("add ?keys=/path/keys.ini to the URI, set the sek-file property or "
                         "the environment variable " BCAST_SRC_KEY_FILE_ENV));
      return false;
    }
  }

  g_autoptr(BcastKeyring) keyring = bcast_keyring_new();
  g_autoptr(GstContext) context = bcast_keyring_context_new(keyring);
  for (const auto& key : sd.key_streams) {
    if (key_ids.count(key.id) == 0) continue;
    if (!AddKeyBranch(self, key, key_file, loc, iface, context, sd)) return false;
  }
  std::map<std::string, guint> counts;
  std::vector<std::pair<std::string, GstPad*>> targets;  // ghost pad name, target (ref)
  for (std::size_t i = 0; i < sd.media.size(); ++i) {
    const auto& m = sd.media[i];
    const char* kind = plans[i].video ? "video" : "audio";
    const guint n = counts[kind]++;
    const std::string pad_name = std::string(kind) + "_" + std::to_string(n);
    GstPad* target = AddMediaBranch(self, pad_name, m, plans[i], latency_ms, iface, context);
    if (target == nullptr) {
      for (auto& t : targets) gst_object_unref(t.second);
      return false;
    }
    targets.emplace_back(pad_name, target);
  }
  // The pads go out only once every branch is built, so a half-built service exposes nothing.
  for (auto& [name, target] : targets) {
    GstPadTemplate* templ = gst_element_class_get_pad_template(
        GST_ELEMENT_GET_CLASS(self), name.rfind("video", 0) == 0 ? "video_%u" : "audio_%u");
    GstPad* ghost = gst_ghost_pad_new_from_template(name.c_str(), target, templ);
    gst_object_unref(target);
    if (GST_STATE(self) >= GST_STATE_PAUSED) gst_pad_set_active(ghost, TRUE);
    self->priv.built.pads.push_back(ghost);
    gst_element_add_pad(GST_ELEMENT(self), ghost);
  }
  gst_element_no_more_pads(GST_ELEMENT(self));

  GST_OBJECT_LOCK(self);
  self->priv.service_name = sd.session_name;
  GST_OBJECT_UNLOCK(self);
  GST_INFO_OBJECT(self, "service '%s': %zu streams, %zu key streams, keys from %s",
                  sd.session_name.c_str(), sd.media.size(), key_ids.size(), key_source.c_str());
  gst_element_post_message(
      GST_ELEMENT(self),
      gst_message_new_element(GST_OBJECT(self),
                              gst_structure_new("openbcast-service", "service-name", G_TYPE_STRING,
                                                sd.session_name.c_str(), "streams", G_TYPE_UINT,
                                                static_cast<guint>(sd.media.size()), "protected",
                                                G_TYPE_BOOLEAN, any_protected, "key-source",
                                                G_TYPE_STRING, key_source.c_str(), nullptr)));
  return true;
}

// ---- GstElement ----

static GstStateChangeReturn gst_bcast_src_change_state(GstElement* element,
                                                       GstStateChange transition) {
  GstBcastSrc* self = GST_BCAST_SRC(element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (!Build(self)) {
      Teardown(self);
      return GST_STATE_CHANGE_FAILURE;
    }
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS(gst_bcast_src_parent_class)->change_state(element, transition);
  if (transition == GST_STATE_CHANGE_READY_TO_NULL ||
      (transition == GST_STATE_CHANGE_NULL_TO_READY && ret == GST_STATE_CHANGE_FAILURE)) {
    Teardown(self);
  }
  return ret;
}

static void gst_bcast_src_set_context(GstElement* element, GstContext* context) {
  // Each bcastsrc keeps its own keyring: TEK IDs of two services must not meet in one.
  if (g_strcmp0(gst_context_get_context_type(context), BCAST_KEYRING_CONTEXT_TYPE) == 0) {
    GST_DEBUG_OBJECT(element, "not taking the pipeline's keyring");
    return;
  }
  GST_ELEMENT_CLASS(gst_bcast_src_parent_class)->set_context(element, context);
}

// ---- GstURIHandler ----

static GstURIType gst_bcast_src_uri_get_type(GType) { return GST_URI_SRC; }

static const gchar* const* gst_bcast_src_uri_get_protocols(GType) {
  static const gchar* const protocols[] = {"bcast+file", "bcast+http", "bcast+https", nullptr};
  return protocols;
}

static gchar* gst_bcast_src_uri_get_uri(GstURIHandler* handler) {
  GstBcastSrc* self = GST_BCAST_SRC(handler);
  GST_OBJECT_LOCK(self);
  gchar* uri = self->priv.uri.empty() ? nullptr : g_strdup(self->priv.uri.c_str());
  GST_OBJECT_UNLOCK(self);
  return uri;
}

static gboolean gst_bcast_src_uri_set_uri(GstURIHandler* handler, const gchar* uri,
                                          GError** error) {
  GstBcastSrc* self = GST_BCAST_SRC(handler);
  if (GST_STATE(self) != GST_STATE_NULL) {
    g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
                "bcastsrc: the URI can only change in the NULL state");
    return FALSE;
  }
  std::string value = uri != nullptr ? uri : "";
  if (!value.empty()) {
    Location loc;
    std::string message;
    if (!ParseLocation(value, &loc, &message)) {
      g_set_error(error, GST_URI_ERROR, GST_URI_ERROR_BAD_URI, "%s", message.c_str());
      return FALSE;
    }
  }
  GST_OBJECT_LOCK(self);
  self->priv.uri = std::move(value);
  GST_OBJECT_UNLOCK(self);
  return TRUE;
}

static void gst_bcast_src_uri_handler_init(gpointer g_iface, gpointer) {
  auto* iface = static_cast<GstURIHandlerInterface*>(g_iface);
  iface->get_type = gst_bcast_src_uri_get_type;
  iface->get_protocols = gst_bcast_src_uri_get_protocols;
  iface->get_uri = gst_bcast_src_uri_get_uri;
  iface->set_uri = gst_bcast_src_uri_set_uri;
}

// ---- GObject ----

static void gst_bcast_src_set_property(GObject* object, guint prop_id, const GValue* value,
                                       GParamSpec* pspec) {
  GstBcastSrc* self = GST_BCAST_SRC(object);
  switch (prop_id) {
    case PROP_URI: {
      g_autoptr(GError) err = nullptr;
      if (!gst_uri_handler_set_uri(GST_URI_HANDLER(self), g_value_get_string(value), &err)) {
        GST_WARNING_OBJECT(self, "uri not set: %s", err ? err->message : "?");
      }
      break;
    }
    case PROP_SEK_FILE: {
      const gchar* s = g_value_get_string(value);
      GST_OBJECT_LOCK(self);
      self->priv.sek_file = s != nullptr ? s : "";
      GST_OBJECT_UNLOCK(self);
      break;
    }
    case PROP_LATENCY:
      GST_OBJECT_LOCK(self);
      self->priv.latency_ms = g_value_get_uint(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_HTTP_TIMEOUT:
      GST_OBJECT_LOCK(self);
      self->priv.http_timeout_s = g_value_get_uint(value);
      GST_OBJECT_UNLOCK(self);
      break;
    case PROP_MULTICAST_IFACE: {
      const gchar* s = g_value_get_string(value);
      GST_OBJECT_LOCK(self);
      self->priv.multicast_iface = s != nullptr ? s : "";
      GST_OBJECT_UNLOCK(self);
      break;
    }
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
}

static void SetOptionalString(GValue* value, const std::string& s) {
  g_value_set_string(value, s.empty() ? nullptr : s.c_str());
}

static void gst_bcast_src_get_property(GObject* object, guint prop_id, GValue* value,
                                       GParamSpec* pspec) {
  GstBcastSrc* self = GST_BCAST_SRC(object);
  GST_OBJECT_LOCK(self);
  switch (prop_id) {
    case PROP_URI:
      SetOptionalString(value, self->priv.uri);
      break;
    case PROP_SEK_FILE:
      SetOptionalString(value, self->priv.sek_file);
      break;
    case PROP_LATENCY:
      g_value_set_uint(value, self->priv.latency_ms);
      break;
    case PROP_HTTP_TIMEOUT:
      g_value_set_uint(value, self->priv.http_timeout_s);
      break;
    case PROP_MULTICAST_IFACE:
      SetOptionalString(value, self->priv.multicast_iface);
      break;
    case PROP_SERVICE_NAME:
      SetOptionalString(value, self->priv.service_name);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_bcast_src_finalize(GObject* object) {
  GST_BCAST_SRC(object)->priv.~Private();
  G_OBJECT_CLASS(gst_bcast_src_parent_class)->finalize(object);
}

static void gst_bcast_src_class_init(GstBcastSrcClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);

  gobject_class->set_property = gst_bcast_src_set_property;
  gobject_class->get_property = gst_bcast_src_get_property;
  gobject_class->finalize = gst_bcast_src_finalize;

  const auto rw_ready = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                                 GST_PARAM_MUTABLE_READY);
  /**
   * GstBcastSrc:uri:
   *
   * The session description: `bcast+file:///path/service.sdp`, `bcast+http://host/service.sdp`
   * or `bcast+https://…`; the query parameter `keys=/path/keys.ini` names the key file.
   */
  g_object_class_install_property(
      gobject_class, PROP_URI,
      g_param_spec_string("uri", "URI",
                          "Session description of the service (bcast+file:///path/service.sdp, "
                          "bcast+http://host/path/service.sdp; ?keys=/path/keys.ini for the "
                          "key file)",
                          nullptr, rw_ready));
  /**
   * GstBcastSrc:sek-file:
   *
   * Key file (stkm.md format) handed to tekdec; wins over the URI's `keys` parameter and the
   * environment variable OPENBCAST_KEY_FILE.
   */
  g_object_class_install_property(
      gobject_class, PROP_SEK_FILE,
      g_param_spec_string("sek-file", "SEK file",
                          "Key file with the SEK/SAK (PEK/PAK) per content ID for tekdec; "
                          "overrides the URI's keys parameter and $" BCAST_SRC_KEY_FILE_ENV,
                          nullptr, rw_ready));
  /**
   * GstBcastSrc:latency:
   *
   * Latency of the RTP jitter buffer of each media stream; 0 leaves the jitter buffer out (the
   * buffers then carry their arrival times).
   */
  g_object_class_install_property(
      gobject_class, PROP_LATENCY,
      g_param_spec_uint("latency", "Latency",
                        "RTP jitter buffer latency in ms (0: no jitter buffer)", 0, 10000,
                        kDefaultLatencyMs, rw_ready));
  /**
   * GstBcastSrc:http-timeout:
   *
   * How long fetching a bcast+http(s) session description may take.
   */
  g_object_class_install_property(
      gobject_class, PROP_HTTP_TIMEOUT,
      g_param_spec_uint("http-timeout", "HTTP timeout",
                        "Timeout in seconds for fetching the session description over HTTP", 1, 600,
                        kDefaultHttpTimeoutS, rw_ready));
  /**
   * GstBcastSrc:multicast-iface:
   *
   * Network interface(s) on which to join multicast groups (udpsrc's multicast-iface).
   */
  g_object_class_install_property(
      gobject_class, PROP_MULTICAST_IFACE,
      g_param_spec_string("multicast-iface", "Multicast interface",
                          "Network interface on which to join the multicast groups", nullptr,
                          rw_ready));
  /**
   * GstBcastSrc:service-name:
   *
   * The session name (s=) of the service, known from READY on.
   */
  g_object_class_install_property(
      gobject_class, PROP_SERVICE_NAME,
      g_param_spec_string("service-name", "Service name", "Session name (s=) of the service",
                          nullptr,
                          static_cast<GParamFlags>(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)));

  gst_element_class_add_static_pad_template(element_class, &video_template);
  gst_element_class_add_static_pad_template(element_class, &audio_template);
  gst_element_class_set_static_metadata(
      element_class, "OMA BCAST service source", "Source/Network",
      "Receives and decrypts a protected OMA BCAST service described by an SDP file or URL "
      "(key stream, SRTP or ISMACryp media) and outputs its elementary streams",
      "openbcast");

  element_class->change_state = GST_DEBUG_FUNCPTR(gst_bcast_src_change_state);
  element_class->set_context = GST_DEBUG_FUNCPTR(gst_bcast_src_set_context);
}

static void gst_bcast_src_init(GstBcastSrc* self) { new (&self->priv) Private(); }
