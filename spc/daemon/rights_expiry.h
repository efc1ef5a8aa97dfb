// Rights that run out while clients hold answers made with them (issue 8).
//
// A client library caches TEK answers (spc/client/answer_cache.h) until RightsChanged. spcd
// refuses an STKM once the rights' not_after has passed, but a client would not ask: so spcd
// emits RightsChanged for the content IDs it answered for when their rights run out. Main loop
// only.
#pragma once

#include <glib.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace spc::daemon {

class RightsExpiry {
 public:
  using Expired = std::function<void(const std::vector<std::string>& content_ids)>;

  explicit RightsExpiry(Expired on_expired) : on_expired_(std::move(on_expired)) {}
  ~RightsExpiry();
  RightsExpiry(const RightsExpiry&) = delete;
  RightsExpiry& operator=(const RightsExpiry&) = delete;

  // An answer was given with the rights of `content_id`, valid until `not_after` (seconds since
  // 1970 UTC; 0 = no end: nothing to watch).
  void Watch(const std::string& content_id, std::int64_t not_after);

 private:
  static gboolean OnTimer(gpointer self);
  void Arm();

  Expired on_expired_;
  std::map<std::string, std::int64_t> watched_;  // content ID → not_after
  guint timer_ = 0;
  std::int64_t armed_for_ = 0;  // the not_after the timer fires after
};

}  // namespace spc::daemon
