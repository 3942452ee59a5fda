// Tracks live HTTP sessions so a shutdown can drain them and know when the last one is gone.
//
// Thread-safe: sessions register and unregister from any io_context thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace tollgate::server {

class Session;

class SessionRegistry {
 public:
  explicit SessionRegistry(size_t sessions_max) : sessions_max_(sessions_max) {}

  // False when draining or already at sessions_max; the caller then drops the connection.
  bool add(const std::shared_ptr<Session>& session);

  // Called from ~Session. Fires the drain callback once the last session is gone.
  void remove(const Session* session);

  // Stops admitting sessions, asks each live one to finish, and calls `on_empty` (once, from
  // whichever thread removes the last session, or right away if none are live).
  void drain(std::function<void()> on_empty);

  // Drops the drain callback; used when the server is torn down without a completed drain.
  void disarm();

  size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions_;
  size_t sessions_max_;
  bool draining_ = false;
  std::function<void()> on_empty_;
};

}  // namespace tollgate::server
