// Tracks live HTTP sessions: admits connections under a global cap and a per-client cap, sheds
// idle and slow sessions (oldest first) when the global cap is reached, counts what it shed and
// refused, and lets a shutdown drain the sessions and know when the last one is gone.
//
// Thread-safe: sessions register and unregister from any io_context thread.
#pragma once

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace tollgate::server {

class Session;

// What a session tells the registry about itself, written on the session's strand and read by
// the registry under its lock: since when it may be shed (waiting for or reading a request, or
// lingering after its last response), or that it may not (a request is being handled or a
// response or stream written).
class SessionSlot {
 public:
  static constexpr int64_t kBusy = 0;
  static constexpr int64_t kShedding = -1;

  // Sheddable from `since_ns` (steady clock), unless already sheddable (the earlier time stays)
  // or claimed for shedding.
  void mark_sheddable(int64_t since_ns);
  // Not sheddable. False when the registry has already claimed the session: it must close.
  bool mark_busy();
  // The registry's claim on a sheddable session; false if it is busy or claimed already.
  bool claim(int64_t expected_since_ns);
  int64_t sheddable_since_ns() const { return since_ns_.load(std::memory_order_acquire); }

 private:
  std::atomic<int64_t> since_ns_{kBusy};
};

enum class Admission { kAdmitted, kDraining, kClientFull, kFull };

// Totals since start, for /metrics.
struct SessionCounters {
  uint64_t shed_total = 0;                 // idle or slow sessions closed to admit new ones
  uint64_t refused_full_total = 0;         // at the global cap with nothing to shed
  uint64_t refused_client_full_total = 0;  // at the per-client cap
  uint64_t refused_draining_total = 0;     // arrived during shutdown
};

// The per-client bucket of an address: the IPv4 address (also when IPv4-mapped), or an IPv6
// address's /64, since one host usually holds a whole /64.
std::string client_bucket(const boost::asio::ip::address& address);

class SessionRegistry {
 public:
  SessionRegistry(size_t sessions_max, size_t client_sessions_max)
      : sessions_max_(sessions_max), client_sessions_max_(client_sessions_max) {}

  // Admits `session` (whose slot stays valid until remove()) unless draining or `client` is at
  // its cap. At the global cap, the sheddable session waiting longest is claimed and asked to
  // close (Session::shed) to make room; with none, the new one is refused (kFull).
  Admission add(const std::shared_ptr<Session>& session, SessionSlot* slot,
                const std::string& client);

  // Called from ~Session. Fires the drain callback once the last session is gone.
  void remove(const Session* session);

  // Stops admitting sessions, asks each live one to finish, and calls `on_empty` (once, from
  // whichever thread removes the last session, or right away if none are live).
  void drain(std::function<void()> on_empty);

  // Drops the drain callback; used when the server is torn down without a completed drain.
  void disarm();

  size_t size() const;
  SessionCounters counters() const;

 private:
  struct Entry {
    std::weak_ptr<Session> session;
    SessionSlot* slot;
    std::string client;
    bool shedding = false;
  };
  // Claims the sheddable session waiting longest; `victim` stays empty if it is already being
  // destroyed (its room is made all the same). False when no session may be shed.
  bool claim_oldest_locked(std::shared_ptr<Session>& victim);

  mutable std::mutex mutex_;
  std::unordered_map<const Session*, Entry> sessions_;
  std::unordered_map<std::string, size_t> client_sessions_;
  size_t shedding_ = 0;  // claimed and not yet removed: they no longer count against the cap
  size_t sessions_max_;
  size_t client_sessions_max_;
  bool draining_ = false;
  std::function<void()> on_empty_;
  std::atomic<uint64_t> shed_total_{0};
  std::atomic<uint64_t> refused_full_total_{0};
  std::atomic<uint64_t> refused_client_full_total_{0};
  std::atomic<uint64_t> refused_draining_total_{0};
};

}  // namespace tollgate::server
