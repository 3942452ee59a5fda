#include "server/http/session_registry.h"

#include <vector>

#include "server/http/session.h"

namespace tollgate::server {

bool SessionRegistry::add(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(mutex_);
  if (draining_ || sessions_.size() >= sessions_max_) return false;
  sessions_.emplace(session.get(), session);
  return true;
}

void SessionRegistry::remove(const Session* session) {
  std::function<void()> fire;
  {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
    if (draining_ && sessions_.empty() && on_empty_) fire = std::exchange(on_empty_, nullptr);
  }
  if (fire) fire();
}

void SessionRegistry::drain(std::function<void()> on_empty) {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    for (auto& [key, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
    if (sessions_.empty()) {
      on_empty_ = nullptr;
    } else {
      on_empty_ = std::move(on_empty);
      on_empty = nullptr;
    }
  }
  for (auto& session : live) session->drain();
  if (on_empty) on_empty();
}

void SessionRegistry::disarm() {
  std::lock_guard lock(mutex_);
  on_empty_ = nullptr;
}

size_t SessionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace tollgate::server
