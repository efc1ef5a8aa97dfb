#include "spc/daemon/rights_expiry.h"

#include <algorithm>

namespace spc::daemon {
namespace {

std::int64_t Now() { return g_get_real_time() / G_USEC_PER_SEC; }

}  // namespace

RightsExpiry::~RightsExpiry() {
  if (timer_ != 0) g_source_remove(timer_);
}

void RightsExpiry::Watch(const std::string& content_id, std::int64_t not_after) {
  if (not_after == 0) return;
  auto [it, added] = watched_.try_emplace(content_id, not_after);
  if (!added) {
    if (it->second == not_after) return;
    it->second = not_after;  // rights imported again with another end
  }
  Arm();
}

void RightsExpiry::Arm() {
  if (watched_.empty()) return;
  std::int64_t first = watched_.begin()->second;
  for (const auto& [cid, not_after] : watched_) first = std::min(first, not_after);
  if (timer_ != 0 && armed_for_ <= first) return;
  if (timer_ != 0) g_source_remove(timer_);
  armed_for_ = first;
  // spcd refuses from not_after + 1 on (its check is now > not_after, in whole seconds).
  const std::int64_t wait = std::max<std::int64_t>(0, first + 1 - Now());
  timer_ = g_timeout_add_seconds(static_cast<guint>(std::min<std::int64_t>(wait, G_MAXUINT / 2)),
                                 OnTimer, this);
}

gboolean RightsExpiry::OnTimer(gpointer data) {
  auto* self = static_cast<RightsExpiry*>(data);
  self->timer_ = 0;
  const std::int64_t now = Now();
  std::vector<std::string> expired;
  for (auto it = self->watched_.begin(); it != self->watched_.end();) {
    if (it->second < now) {
      expired.push_back(it->first);
      it = self->watched_.erase(it);
    } else {
      ++it;
    }
  }
  self->Arm();
  if (!expired.empty()) self->on_expired_(expired);
  return G_SOURCE_REMOVE;
}

}  // namespace spc::daemon
