#include "tests/faults/tcp_proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace wlsync::testing {
namespace {

constexpr int kPollMs = 20;

int ListenLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Closes with a reset rather than a FIN, as a cut cable or a crashed middlebox looks.
void Reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

struct TcpProxy::Link {
  int client = -1;
  int server = -1;
};

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ListenLoopback(&port_);
  acceptor_ = std::thread([this] { Accept(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  acceptor_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void TcpProxy::CutAfter(uint64_t after_bytes) {
  cut_after_.store(after_bytes);
  cut_generation_.fetch_add(1);
}

void TcpProxy::Accept() {
  while (!stop_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, kPollMs) <= 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (mode_.load() == Mode::kRefuse) {
      Reset(client);
      continue;
    }
    int server = ConnectLoopback(target_port_);
    if (server < 0) {
      Reset(client);
      continue;
    }
    accepted_.fetch_add(1);
    auto link = std::make_shared<Link>();
    link->client = client;
    link->server = server;
    std::lock_guard<std::mutex> lock(mu_);
    threads_.emplace_back([this, link] { Pump(link); });
  }
}

void TcpProxy::Pump(std::shared_ptr<Link> link) {
  uint64_t seen_generation = cut_generation_.load();
  uint64_t budget = UINT64_MAX;  // bytes left before this link is cut
  char buf[16384];
  for (;;) {
    if (stop_.load() || mode_.load() == Mode::kRefuse) break;
    if (cut_generation_.load() != seen_generation) {
      seen_generation = cut_generation_.load();
      budget = cut_after_.load();
    }
    if (budget == 0) {
      cut_.fetch_add(1);
      break;
    }
    pollfd fds[2] = {{link->client, POLLIN, 0}, {link->server, POLLIN, 0}};
    if (mode_.load() == Mode::kStall) {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
      continue;
    }
    if (poll(fds, 2, kPollMs) <= 0) continue;
    bool closed = false;
    for (int i = 0; i < 2 && !closed; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof(buf), budget));
      ssize_t n = recv(fds[i].fd, buf, want, 0);
      if (n <= 0) {
        closed = true;
        break;
      }
      if (int64_t d = delay_ms_.load(); mode_.load() == Mode::kDelay && d > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(d));
      }
      int to = i == 0 ? link->server : link->client;
      if (!WriteAll(to, buf, static_cast<size_t>(n))) closed = true;
      if (budget != UINT64_MAX) budget -= static_cast<uint64_t>(n);
    }
    if (closed) break;
  }
  Reset(link->client);
  Reset(link->server);
}

}  // namespace wlsync::testing
