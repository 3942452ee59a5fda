// Accepts TCP connections and hands each to a new Session on its own strand.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>

#include "server/http/session.h"

namespace tollgate::server {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Takes an acceptor that is already bound and listening.
  Listener(boost::asio::io_context& ioc, boost::asio::ip::tcp::acceptor&& acceptor,
           SessionContext& context);

  void start();

  // Stops accepting; thread-safe. Existing sessions are unaffected.
  void stop();

 private:
  void do_accept();
  void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;  // waits out accept errors such as EMFILE
  std::chrono::milliseconds retry_delay_{0};
  SessionContext& context_;
};

}  // namespace tollgate::server
