// wlsyncd under a service manager: the sd_notify messages systemd reads (Type=notify), sent
// to a real datagram socket as systemd would offer it through NOTIFY_SOCKET.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/cluster.h"

namespace wlsync::daemon {
namespace {

// A bound AF_UNIX datagram socket that collects what the daemon sends.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    timeval timeout{0, 200000};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  bool bound() const { return bound_; }

  // Waits up to `timeout` for a message containing `text`; every message read is kept.
  bool WaitFor(const std::string& text, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      for (const std::string& m : messages_) {
        if (m.find(text) != std::string::npos) return true;
      }
      if (std::chrono::steady_clock::now() > until) return false;
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n > 0) messages_.emplace_back(buf, static_cast<size_t>(n));
    }
  }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> messages_;
};

TEST_CASE("Notify: READY once serving, watchdog pings, STOPPING on SIGTERM", "[daemon][e2e]") {
  wlsync::testing::TempDir root("notify");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  NotifySocket sock(root / "notify.sock");
  REQUIRE(sock.bound());
  nodes[0]->SetDaemonEnv("NOTIFY_SOCKET", root / "notify.sock");
  nodes[0]->SetDaemonEnv("WATCHDOG_USEC", "1000000");  // pings every half second

  REQUIRE(nodes[0]->Start());
  REQUIRE(sock.WaitFor("READY=1", std::chrono::seconds(5)));
  const std::string& ready = sock.messages().front();
  INFO(ready);
  CHECK(ready.find("READY=1\nSTATUS=serving on port " + nodes[0]->address().substr(10)) == 0);
  CHECK(ready.find("metrics on port " + std::to_string(nodes[0]->metrics_port())) !=
        std::string::npos);

  size_t before = sock.messages().size();
  REQUIRE(sock.WaitFor("WATCHDOG=1", std::chrono::seconds(3)));
  CHECK(sock.messages().size() > before);

  CHECK(nodes[0]->Stop() == 0);
  CHECK(sock.WaitFor("STOPPING=1", std::chrono::seconds(2)));
}

TEST_CASE("Notify: a node that cannot start says why in its STATUS", "[daemon][e2e]") {
  wlsync::testing::TempDir root("notify-fail");
  auto nodes = wlsync::testing::MakeNodes(root.path(), {"waihai"});
  REQUIRE(nodes.size() == 1);
  NotifySocket sock(root / "notify.sock");
  REQUIRE(sock.bound());
  nodes[0]->SetDaemonEnv("NOTIFY_SOCKET", root / "notify.sock");
  nodes[0]->AppendConfig("[bogus]\nkey = 1\n");
  CHECK_FALSE(nodes[0]->Start());
  REQUIRE(sock.WaitFor("STATUS=cannot start: ", std::chrono::seconds(2)));
  INFO(sock.messages().front());
  CHECK(sock.messages().front().find("bogus") != std::string::npos);
  CHECK_FALSE(sock.WaitFor("READY=1", std::chrono::milliseconds(300)));
}

}  // namespace
}  // namespace wlsync::daemon
