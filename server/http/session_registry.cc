#include "server/http/session_registry.h"

#include <cstdio>
#include <limits>
#include <vector>

#include "server/http/session.h"

namespace tollgate::server {
namespace {

// A claim fails only when the chosen session changed state at that instant; try the next one
// a few times rather than refuse a connection that could have been admitted.
constexpr int kClaimAttemptsMax = 8;

}  // namespace

void SessionSlot::mark_sheddable(int64_t since_ns) {
  int64_t expected = kBusy;
  since_ns_.compare_exchange_strong(expected, since_ns > 0 ? since_ns : 1,
                                    std::memory_order_acq_rel);
}

bool SessionSlot::mark_busy() {
  int64_t previous = since_ns_.load(std::memory_order_acquire);
  while (previous != kShedding) {
    if (since_ns_.compare_exchange_weak(previous, kBusy, std::memory_order_acq_rel)) return true;
  }
  return false;
}

bool SessionSlot::claim(int64_t expected_since_ns) {
  if (expected_since_ns <= 0) return false;
  return since_ns_.compare_exchange_strong(expected_since_ns, kShedding, std::memory_order_acq_rel);
}

std::string client_bucket(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().to_string();
  auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  }
  auto bytes = v6.to_bytes();
  std::string bucket;
  char hex[3];
  for (size_t i = 0; i < 8; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", bytes[i]);
    bucket += hex;
    if (i % 2 == 1) bucket += ':';
  }
  return bucket + ":/64";
}

Admission SessionRegistry::add(const std::shared_ptr<Session>& session, SessionSlot* slot,
                               const std::string& client) {
  std::shared_ptr<Session> victim;
  {
    std::lock_guard lock(mutex_);
    if (draining_) {
      refused_draining_total_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kDraining;
    }
    auto same_client = client_sessions_.find(client);
    if (same_client != client_sessions_.end() && same_client->second >= client_sessions_max_) {
      refused_client_full_total_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kClientFull;
    }
    if (sessions_.size() - shedding_ >= sessions_max_ && !claim_oldest_locked(victim)) {
      refused_full_total_.fetch_add(1, std::memory_order_relaxed);
      return Admission::kFull;
    }
    sessions_.emplace(session.get(), Entry{session, slot, client});
    ++client_sessions_[client];
  }
  if (victim) victim->shed();
  return Admission::kAdmitted;
}

bool SessionRegistry::claim_oldest_locked(std::shared_ptr<Session>& victim) {
  for (int attempt = 0; attempt < kClaimAttemptsMax; ++attempt) {
    Entry* oldest = nullptr;
    int64_t oldest_since = std::numeric_limits<int64_t>::max();
    for (auto& [key, entry] : sessions_) {
      int64_t since = entry.slot->sheddable_since_ns();
      if (entry.shedding || since <= 0 || since >= oldest_since) continue;
      oldest = &entry;
      oldest_since = since;
    }
    if (oldest == nullptr) return false;
    if (!oldest->slot->claim(oldest_since)) continue;
    oldest->shedding = true;
    ++shedding_;
    shed_total_.fetch_add(1, std::memory_order_relaxed);
    victim = oldest->session.lock();
    return true;
  }
  return false;
}

void SessionRegistry::remove(const Session* session) {
  std::function<void()> fire;
  {
    std::lock_guard lock(mutex_);
    auto entry = sessions_.find(session);
    if (entry == sessions_.end()) return;  // refused at admission
    if (entry->second.shedding) --shedding_;
    auto same_client = client_sessions_.find(entry->second.client);
    if (same_client != client_sessions_.end() && --same_client->second == 0) {
      client_sessions_.erase(same_client);
    }
    sessions_.erase(entry);
    if (draining_ && sessions_.empty() && on_empty_) fire = std::exchange(on_empty_, nullptr);
  }
  if (fire) fire();
}

void SessionRegistry::drain(std::function<void()> on_empty) {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
    for (auto& [key, entry] : sessions_) {
      if (auto session = entry.session.lock()) live.push_back(std::move(session));
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

SessionCounters SessionRegistry::counters() const {
  return {shed_total_.load(std::memory_order_relaxed),
          refused_full_total_.load(std::memory_order_relaxed),
          refused_client_full_total_.load(std::memory_order_relaxed),
          refused_draining_total_.load(std::memory_order_relaxed)};
}

}  // namespace tollgate::server
