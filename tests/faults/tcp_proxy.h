// A small TCP proxy for the fault suite: sits between two nodes on loopback and, on
// command, passes bytes, delays them, stalls (holds connections open but forwards
// nothing), cuts every connection in the middle of whatever it is carrying, or refuses
// new connections. TLS passes through untouched: the nodes still authenticate each other.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace wlsync::testing {

// Lifecycle: construct (listens on a free loopback port), use, destroy (closes all and
// joins its threads). Mode changes are thread safe and take effect within ~20 ms.
class TcpProxy {
 public:
  enum class Mode {
    kPass,    // forward everything
    kDelay,   // forward each chunk after `delay`
    kStall,   // keep connections, forward nothing
    kRefuse,  // close new connections at once (existing ones are cut too)
  };

  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  void set_mode(Mode mode) { mode_.store(mode); }
  void set_delay(std::chrono::milliseconds delay) { delay_ms_.store(delay.count()); }
  // Cuts every open connection once it has forwarded `after_bytes` more bytes in either
  // direction (0: at once): the peers see a connection reset in the middle of a message.
  void CutAfter(uint64_t after_bytes);

  // Connections accepted and connections cut so far (to check that faults happened).
  uint64_t accepted() const { return accepted_.load(); }
  uint64_t cut() const { return cut_.load(); }

 private:
  struct Link;
  void Accept();
  void Pump(std::shared_ptr<Link> link);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<Mode> mode_{Mode::kPass};
  std::atomic<int64_t> delay_ms_{0};
  std::atomic<uint64_t> cut_generation_{0};
  std::atomic<uint64_t> cut_after_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> cut_{0};
  std::mutex mu_;
  std::vector<std::thread> threads_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace wlsync::testing
