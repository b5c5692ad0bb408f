#include "tests/support/cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "model/pid.h"
#include "net/certs.h"

extern char** environ;

namespace wlsync::testing {
namespace fs = std::filesystem;

TempDir::TempDir(const std::string& tag) {
  std::random_device rd;
  path_ = (fs::temp_directory_path() /
           ("wlsync-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(rd())))
              .string();
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string FakeTimeLibrary() {
  for (const char* path : {"/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                           "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1"}) {
    if (fs::exists(path)) return path;
  }
  return "";
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

namespace {

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> Environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string key = entry.substr(0, entry.find('='));
    if (!extra.contains(key)) env.push_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

pid_t Spawn(std::vector<std::string> argv, const std::map<std::string, std::string>& env,
            const std::string& out_path, const std::string& err_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> envs = Environment(env);
  std::vector<char*> cargv = CStrings(argv);
  std::vector<char*> cenv = CStrings(envs);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

}  // namespace

CommandResult Run(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env) {
  TempDir tmp("run");
  CommandResult r;
  pid_t pid = Spawn(argv, env, tmp / "out", tmp / "err");
  if (pid < 0) {
    r.err = "spawn failed: " + argv[0];
    return r;
  }
  r.exit_code = WaitExit(pid);
  r.out = ReadFile(tmp / "out");
  r.err = ReadFile(tmp / "err");
  return r;
}

namespace {

struct CliEnvs {
  std::mutex mu;
  std::map<std::string, std::map<std::string, std::string>> by_address;  // guarded by mu
};
CliEnvs& TheCliEnvs() {
  static CliEnvs envs;
  return envs;
}

}  // namespace

void SetCliEnv(const std::string& address, const std::string& name, const std::string& value) {
  CliEnvs& envs = TheCliEnvs();
  std::lock_guard<std::mutex> lock(envs.mu);
  envs.by_address[address][name] = value;
}

void ForgetCliEnv(const std::string& address) {
  CliEnvs& envs = TheCliEnvs();
  std::lock_guard<std::mutex> lock(envs.mu);
  envs.by_address.erase(address);
}

const TestCa& SharedTestCa() {
  static const TempDir dir("test-ca");  // removed at exit
  static const TestCa ca = [] {
    absl::StatusOr<net::KeyAndCert> made = net::MakeCa("wlsync test CA");
    TestCa out{dir / "ca.crt", dir / "ca.key"};
    if (made.ok()) {
      (void)model::WriteFileAtomic(out.cert, made->cert_pem, 0644);
      (void)model::WriteFileAtomic(out.key, made->key_pem, 0600);
    }
    return out;
  }();
  return ca;
}

CommandResult Cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {std::string(WLSYNC_BIN_DIR) + "/wlsync"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> env = {
      {"WLSYNC_NODE", ""},
      {"WLSYNC_CA", SharedTestCa().cert},
      {"WLSYNC_INSECURE", ""},
      {"WLSYNC_TOKEN_FILE", ""}};
  auto flag = std::find(args.begin(), args.end(), "--node");
  if (flag != args.end() && flag + 1 != args.end()) {
    CliEnvs& envs = TheCliEnvs();
    std::lock_guard<std::mutex> lock(envs.mu);
    auto it = envs.by_address.find(*(flag + 1));
    if (it != envs.by_address.end()) {
      for (const auto& [k, v] : it->second) env[k] = v;
    }
  }
  return Run(argv, env);
}

namespace {

// The lowest port the kernel hands out to outgoing connections and to bind(port 0).
int EphemeralLow() {
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  return low;
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

bool PortBindable(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr = Loopback(port);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

int FreePort() {
  // A node binds its ports only when it starts, so the port must stay free until then.
  // Ports the kernel picks itself (bind to port 0) come from its ephemeral range, from which
  // it also gives every outgoing connection its local port: a peer's or the CLI's
  // connection could take the port first (CI saw "Address already in use"). So ports come
  // from below that range, at random (tests run in parallel processes), and never twice in
  // one test process.
  static std::mutex mu;
  static std::set<int> given;
  static std::mt19937 rng(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  static const int high = std::min(EphemeralLow(), 65536) - 1;
  static const int low = std::max(high - 12000, 10000);
  if (high > low) {
    std::uniform_int_distribution<int> pick(low, high);
    for (int attempt = 0; attempt < 200; ++attempt) {
      int port = pick(rng);
      if (!given.contains(port) && PortBindable(port)) {
        given.insert(port);
        return port;
      }
    }
  }
  // No room below the ephemeral range: let the kernel choose.
  for (int attempt = 0;; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = Loopback(0);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    int port = ntohs(addr.sin_port);
    if (given.insert(port).second || attempt >= 100) return port;
  }
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(every);
  }
  return done();
}

HttpResult HttpGet(int port, const std::string& path) {
  HttpResult result;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return result;
  sockaddr_in addr = Loopback(port);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return result;
  }
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return result;
  }
  std::string response;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) response.append(buf, n);
  close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  size_t space = response.find(' ');
  size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/", 0) != 0 || space == std::string::npos || body == std::string::npos) {
    return result;
  }
  result.code = std::atoi(response.c_str() + space + 1);
  result.body = response.substr(body + 4);
  return result;
}

double MetricValue(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return -1;
}

std::string Node::Metrics() const {
  HttpResult r = HttpGet(metrics_port_, "/metrics");
  return r.code == 200 ? r.body : "";
}

Node::Node(std::string name, std::string dir, int port)
    : name_(std::move(name)), dir_(std::move(dir)), port_(port) {
  SetCliEnv(address(), "WLSYNC_CA", ca());
  // Until Start makes the operator token, the CLI uses the admin token of `wlsync init`.
  SetCliEnv(address(), "WLSYNC_TOKEN_FILE", dir_ + "/admin.token");
}

std::string Node::token_file(const std::string& role) const {
  return dir_ + "/" + role + ".token";
}

bool Node::MakeToken(const std::string& name, const std::string& role,
                     const std::string& out) const {
  CommandResult r = testing::Cli({"--token-file", dir_ + "/admin.token", "--node", address(),
                                  "token", "create", name, "--role", role, "--out", out});
  return r.exit_code == 0;
}

void Node::UseToken(const std::string& file) {
  SetCliEnv(address(), "WLSYNC_TOKEN_FILE", file);
}

Node::~Node() {
  if (pid_ > 0) Kill();
  ForgetCliEnv(address());
}

void Node::SetInsecure() {
  std::string text = ReadFile(config());
  size_t at = text.find("insecure = false");
  if (at != std::string::npos) text.replace(at, 16, "insecure = true");
  WriteFile(config(), text);
  SetCliEnv(address(), "WLSYNC_INSECURE", "1");
  SetCliEnv(address(), "WLSYNC_CA", "");
}

std::string Node::public_key_hex() const {
  std::string key = ReadFile(dir_ + "/keys/" + name_ + ".key.pub");
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
  return key;
}

void Node::AppendConfig(const std::string& toml) {
  std::ofstream out(config(), std::ios::app);
  out << "\n" << toml << "\n";
}

void Node::AddPeer(const Node& peer) { AddPeer(peer, peer.address()); }

void Node::AddPeer(const Node& peer, const std::string& address) {
  AppendConfig("[[peers]]\nname = \"" + peer.name() + "\"\naddress = \"" + address +
               "\"\npublic_key = \"" + peer.public_key_hex() + "\"\ncert = \"" + peer.cert() +
               "\"\n");
}

void Node::Trust(const Node& other) {
  AppendConfig("[[trusted]]\nname = \"" + other.name() + "\"\npublic_key = \"" +
               other.public_key_hex() + "\"\n");
}

bool Node::Start() {
  UseToken(dir_ + "/admin.token");
  std::vector<std::string> argv = {std::string(WLSYNC_BIN_DIR) + "/wlsyncd", "--config", config()};
  pid_ = Spawn(argv, env_, dir_ + "/wlsyncd.out", dir_ + "/wlsyncd.log");
  if (pid_ < 0) return false;
  bool up = WaitFor([&] {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;  // exited: give up
    }
    return Records() >= 0;
  }, std::chrono::seconds(20)) && pid_ > 0;
  if (!up) {
    // Say why in the test's output: the data dir, and its log, go with the test.
    std::string log = ReadFile(dir_ + "/wlsyncd.log");
    if (log.size() > 4000) log = log.substr(log.size() - 4000);
    std::fprintf(stderr, "wlsyncd in %s did not start (%s); its log ends with:\n%s\n", dir_.c_str(),
                 pid_ < 0 ? "it exited" : "no answer in 20 s", log.c_str());
    return false;
  }
  return EnsureOperatorToken();
}

bool Node::EnsureOperatorToken() {
  // Tokens live in the data dir: a node started on a wiped one needs a new token.
  std::string file = token_file("operator");
  if (fs::exists(file) &&
      testing::Cli({"--token-file", file, "--node", address(), "status"}).exit_code != 0) {
    fs::remove(file);
  }
  if (!fs::exists(file) && !MakeToken("operator", "operator", file)) return false;
  UseToken(file);
  return true;
}

int Node::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int code = WaitExit(pid_);
  pid_ = -1;
  return code;
}

void Node::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  WaitExit(pid_);
  pid_ = -1;
}

CommandResult Node::Cli(const std::vector<std::string>& args) const {
  std::vector<std::string> full = {"--node", address()};
  full.insert(full.end(), args.begin(), args.end());
  return testing::Cli(full);
}

long Node::Records() const {
  CommandResult r = Cli({"status", "--json"});
  if (r.exit_code != 0) return -1;
  size_t at = r.out.find("\"records\": \"");
  if (at == std::string::npos) return -1;
  return std::strtol(r.out.c_str() + at + 12, nullptr, 10);
}

std::string Node::Export() const { return Cli({"export"}).out; }

std::vector<std::unique_ptr<Node>> MakeNodes(const std::string& root,
                                             const std::vector<std::string>& names) {
  std::vector<std::unique_ptr<Node>> nodes;
  std::string federation_key;
  for (const std::string& name : names) {
    int port = FreePort();
    int metrics_port = FreePort();
    std::string dir = root + "/" + name;
    std::vector<std::string> args = {"init", dir, "--name", name, "--listen",
                                     "127.0.0.1:" + std::to_string(port), "--metrics-listen",
                                     "127.0.0.1:" + std::to_string(metrics_port), "--grids",
                                     SampleFile("grids.csv"), "--ca-cert", SharedTestCa().cert,
                                     "--ca-key", SharedTestCa().key};
    if (!federation_key.empty()) {
      args.push_back("--federation-key");
      args.push_back(federation_key);
    }
    CommandResult r = testing::Cli(args);
    if (r.exit_code != 0) return {};
    if (federation_key.empty()) federation_key = dir + "/keys/federation.key";
    nodes.push_back(std::make_unique<Node>(name, dir, port));
    nodes.back()->set_metrics_port(metrics_port);
  }
  return nodes;
}

void FullMesh(const std::vector<std::unique_ptr<Node>>& nodes) {
  for (const auto& a : nodes) {
    for (const auto& b : nodes) {
      if (a != b) a->AddPeer(*b);
    }
  }
}

std::vector<std::unique_ptr<Node>> StartMesh(const std::string& root,
                                             const std::vector<std::string>& names) {
  std::vector<std::unique_ptr<Node>> nodes = MakeNodes(root, names);
  if (nodes.size() != names.size()) return {};
  FullMesh(nodes);
  for (auto& n : nodes) {
    if (!n->Start()) return {};
  }
  // The nodes started one after another, so the first ones' pulls from the later ones may
  // have failed and be waiting out their reconnect backoff: a test that reads a peer link
  // right away would see it DOWN (two CI runs did). Return once every link is up.
  if (names.size() > 1) {
    bool linked = WaitFor(
        [&] {
          for (auto& n : nodes) {
            CommandResult r = n->Cli({"status", "--json"});
            if (r.exit_code != 0 || r.out.find("\"connected\": false") != std::string::npos) {
              return false;
            }
          }
          return true;
        },
        std::chrono::seconds(20), std::chrono::milliseconds(50));
    if (!linked) {
      std::fprintf(stderr, "StartMesh: the nodes under %s did not all connect in 20 s\n",
                   root.c_str());
      return {};
    }
  }
  return nodes;
}

std::string SampleFile(const std::string& name) {
  return std::string(WLSYNC_SOURCE_DIR) + "/deploy/sample/" + name;
}

std::string SampleRows(const std::string& dir, int rows) {
  std::istringstream in(ReadFile(SampleFile("commuters.csv")));
  std::string out, line;
  for (int i = 0; i <= rows && std::getline(in, line); ++i) out += line + "\n";
  std::string path = dir + "/rows.csv";
  WriteFile(path, out);
  return path;
}

std::string SampleIdDoc(int row) {
  std::string csv = ReadFile(SampleFile("commuters.csv"));
  size_t start = 0;
  for (int i = 0; i <= row; ++i) start = csv.find('\n', start) + 1;
  return csv.substr(start, csv.find(',', start) - start);
}

CommandResult AdminCli(const Node& node, std::vector<std::string> args) {
  args.insert(args.begin(), {"--token-file", node.dir() + "/admin.token"});
  return node.Cli(args);
}

std::string PhoneAt(const Node& node, const std::string& who) {
  std::string out = node.Cli({"get", who}).out;
  size_t at = out.find("\"phone\":\"");
  return at == std::string::npos ? "" : out.substr(at + 9, 11);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace wlsync::testing
