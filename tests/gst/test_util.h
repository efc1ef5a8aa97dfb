// Shared helpers of the bcastprotect element tests: GStreamer/plugin set-up, STKM and key file
// making with libspc's writers, bus waiting.
#pragma once

#include <glib/gstdio.h>
#include <gst/gst.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "spc/libspc/key_file.h"
#include "spc/libspc/keys.h"
#include "spc/libspc/stkm.h"

// The plugin's entry point is C (GST_PLUGIN_DEFINE wraps it in G_BEGIN_DECLS); declare it so.
G_BEGIN_DECLS
GST_PLUGIN_STATIC_DECLARE(bcastprotect);
G_END_DECLS

namespace bcast_test {

struct GstObjectDeleter {
  void operator()(gpointer p) const {
    if (p != nullptr) gst_object_unref(p);
  }
};
template <class T>
using GstPtr = std::unique_ptr<T, GstObjectDeleter>;

struct GObjectDeleter {
  void operator()(gpointer p) const {
    if (p != nullptr) g_object_unref(p);
  }
};
template <class T>
using GObjPtr = std::unique_ptr<T, GObjectDeleter>;

struct MessageDeleter {
  void operator()(GstMessage* m) const {
    if (m != nullptr) gst_message_unref(m);
  }
};
using MessagePtr = std::unique_ptr<GstMessage, MessageDeleter>;

inline void EnsureGst() {
  static std::once_flag once;
  std::call_once(once, [] {
    gst_init(nullptr, nullptr);
    GST_PLUGIN_STATIC_REGISTER(bcastprotect);
    // A GLib critical in the elements is a bug: make it abort the test.
    g_log_set_always_fatal(static_cast<GLogLevelFlags>(G_LOG_LEVEL_CRITICAL | G_LOG_FATAL_MASK));
  });
}

inline constexpr const char* kBaseCid = "urn:openbcast:svc:news:";
inline constexpr std::uint32_t kDomain = 0x0a0b0c;
inline constexpr std::uint32_t kExtension = 0x2a;

inline spc::Key128 Key(std::uint8_t first) {
  spc::Key128 k{};
  for (std::size_t i = 0; i < k.size(); i++) k[i] = static_cast<std::uint8_t>(first + i);
  return k;
}
inline spc::MasterSalt Salt(std::uint8_t first) {
  spc::MasterSalt s{};
  for (std::size_t i = 0; i < s.size(); i++) s[i] = static_cast<std::uint8_t>(first + i);
  return s;
}

inline const spc::Key128 kSek = Key(0x00);
inline const spc::Key128 kSak = Key(0x10);

// A TEK the head-end would announce: id, key and salt derived from the id so every id differs.
struct TestTek {
  std::uint16_t id;
  spc::Key128 key;
  spc::MasterSalt salt;
};
inline TestTek MakeTek(std::uint16_t id) {
  return TestTek{id, Key(static_cast<std::uint8_t>(0x40 + id * 3)),
                 Salt(static_cast<std::uint8_t>(0x90 + id * 5))};
}

struct StkmSpec {
  TestTek current = MakeTek(7);
  std::optional<TestTek> next;
  std::uint16_t lifetime = 30;
  std::uint32_t extension = kExtension;
  std::uint32_t domain = kDomain;
  spc::Key128 sek = kSek;
  spc::Key128 sak = kSak;
};

inline std::vector<std::uint8_t> MakeStkm(const StkmSpec& spec) {
  spc::Stkm s;
  s.master_salt_flag = true;
  s.traffic_protection_protocol = static_cast<std::uint8_t>(spc::TrafficProtectionProtocol::kSrtp);
  s.traffic_authentication_flag = true;
  s.service_flag = true;
  s.key_domain_id = spec.domain;
  s.service_CID_extension = spec.extension;
  s.traffic_key_id = spec.current.id;
  s.traffic_key_lifetime = spec.lifetime;
  s.master_salt = spec.current.salt;
  s.encrypted_traffic_key_material = spc::EncryptTrafficKey(spec.sek, spec.current.key);
  if (spec.next) {
    s.next_traffic_key_flag = true;
    s.next_traffic_key_id = spec.next->id;
    s.next_encrypted_traffic_key_material = spc::EncryptTrafficKey(spec.sek, spec.next->key);
    s.next_master_salt = spec.next->salt;
  }
  return spc::WriteStkm(s, spec.sak);
}

inline GstBuffer* ToBuffer(const std::vector<std::uint8_t>& bytes) {
  return gst_buffer_new_memdup(bytes.data(), bytes.size());
}

// A key file in a fresh temporary directory, removed again on destruction.
class TempKeyFile {
 public:
  explicit TempKeyFile(const spc::KeyTable& keys) {
    GError* error = nullptr;
    dir_ = g_dir_make_tmp("bcastprotect-test-XXXXXX", &error);
    g_assert_no_error(error);
    path_ = std::string(dir_) + "/keys.ini";
    const std::string text = spc::WriteKeyFile(keys);
    g_file_set_contents(path_.c_str(), text.c_str(), static_cast<gssize>(text.size()), &error);
    g_assert_no_error(error);
  }
  TempKeyFile(const TempKeyFile&) = delete;
  TempKeyFile& operator=(const TempKeyFile&) = delete;
  ~TempKeyFile() {
    g_unlink(path_.c_str());
    g_rmdir(dir_);
    g_free(dir_);
  }
  const std::string& path() const { return path_; }

 private:
  gchar* dir_ = nullptr;
  std::string path_;
};

inline spc::KeyTable DefaultKeys() {
  spc::LongTermKey key;
  key.key_domain_id = kDomain;
  key.programme = false;
  key.encryption_key = kSek;
  key.authentication_key = kSak;
  spc::KeyTable table;
  table.emplace(spc::ContentId(kBaseCid, kExtension), key);
  return table;
}

// Next message of one of `types` (and, for element messages, with structure `name`), or null
// after `timeout`. Messages of other kinds are dropped.
inline MessagePtr WaitMessage(GstBus* bus, GstMessageType types, const char* name,
                              GstClockTime timeout) {
  const gint64 deadline = g_get_monotonic_time() + static_cast<gint64>(timeout / GST_USECOND);
  while (true) {
    const gint64 left = deadline - g_get_monotonic_time();
    if (left < 0) return nullptr;
    MessagePtr msg(
        gst_bus_timed_pop_filtered(bus, static_cast<GstClockTime>(left) * GST_USECOND, types));
    if (!msg) return nullptr;
    if (name == nullptr) return msg;
    const GstStructure* s = gst_message_get_structure(msg.get());
    if (s != nullptr && gst_structure_has_name(s, name)) return msg;
  }
}

// Every message of `type` (and structure `name` if given) currently queued on the bus; queued
// messages of other types are discarded.
inline std::vector<MessagePtr> DrainMessages(GstBus* bus, GstMessageType type,
                                             const char* name = nullptr) {
  std::vector<MessagePtr> out;
  while (MessagePtr msg{gst_bus_pop_filtered(bus, type)}) {
    const GstStructure* s = gst_message_get_structure(msg.get());
    if (name == nullptr || (s != nullptr && gst_structure_has_name(s, name))) {
      out.push_back(std::move(msg));
    }
  }
  return out;
}

inline std::string WarningText(GstMessage* msg) {
  GError* error = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_warning(msg, &error, &debug);
  std::string text = error != nullptr ? error->message : "";
  g_clear_error(&error);
  g_free(debug);
  return text;
}

inline guint UintProperty(GstElement* element, const char* name) {
  guint value = 0;
  g_object_get(element, name, &value, nullptr);
  return value;
}

}  // namespace bcast_test
