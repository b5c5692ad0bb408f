// Test support: temporary directories, running the real wlsync and wlsyncd binaries, and
// small federations of nodes on loopback ports. Used by CLI, integration and e2e tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace wlsync::testing {

// A fresh directory under $TMPDIR, removed on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program with arguments, waits, and captures its output. `env` entries are added.
CommandResult Run(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env = {});
// Runs build/bin/wlsync with the arguments, and with the CLI environment registered for
// the address after `--node` (see SetCliEnv): so `Cli({"--node", node.address(), ...})`
// reaches a test node with its CA. Other addresses get the shared test CA. WLSYNC_* from
// the caller's environment never leak in.
CommandResult Cli(const std::vector<std::string>& args);

// The environment variables (WLSYNC_CA, WLSYNC_INSECURE, ...) that Cli adds for calls to
// `address`: SetCliEnv sets one, ForgetCliEnv drops all of the address. Thread safe.
void SetCliEnv(const std::string& address, const std::string& name, const std::string& value);
void ForgetCliEnv(const std::string& address);

// A CA made once per test process (ECDSA P-256, in a temporary directory), which signs
// the certificates of the nodes MakeNodes makes, so that they accept each other.
struct TestCa {
  std::string cert;  // PEM file paths
  std::string key;
};
const TestCa& SharedTestCa();

// A loopback TCP port that was free a moment ago.
int FreePort();
// Whether a listener could bind `port` on 127.0.0.1 right now (with SO_REUSEADDR, as
// wlsyncd's gRPC listener does).
bool PortBindable(int port);

// GET http://127.0.0.1:PORT/PATH with HTTP/1.0: the status code (-1 when nothing answered)
// and the body.
struct HttpResult {
  int code = -1;
  std::string body;
};
HttpResult HttpGet(int port, const std::string& path);

// The value of one sample in a Prometheus text exposition, e.g.
// MetricValue(text, "wlsync_records{status=\"DEREGISTERED\"}"); -1 when absent.
double MetricValue(const std::string& exposition, const std::string& series);

std::string ReadFile(const std::string& path);
// Debian's multithreaded libfaketime (installed by deploy/install-deps.sh), for LD_PRELOAD
// into a wlsyncd whose wall clock a test moves; empty when it is not installed.
std::string FakeTimeLibrary();
void WriteFile(const std::string& path, const std::string& text);

// Polls `done` every `every` until it returns true or `timeout` passes.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every = std::chrono::milliseconds(50));

// One wlsyncd process made with `wlsync init`, with TLS as init configures it (its CA
// registered for Cli by the constructor) unless SetInsecure is called. Not thread safe.
class Node {
 public:
  Node(std::string name, std::string dir, int port);
  ~Node();  // kills the process if still running

  const std::string& name() const { return name_; }
  // The metrics listener's port (set by MakeNodes; 0 when unknown) and GET /metrics.
  int metrics_port() const { return metrics_port_; }
  void set_metrics_port(int port) { metrics_port_ = port; }
  std::string Metrics() const;
  const std::string& dir() const { return dir_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string config() const { return dir_ + "/config.toml"; }
  std::string public_key_hex() const;
  // The node's TLS certificate and the CA file its config trusts.
  std::string cert() const { return dir_ + "/tls/" + name_ + ".crt"; }
  std::string ca() const { return dir_ + "/tls/ca.crt"; }
  std::string log() const { return ReadFile(dir_ + "/wlsyncd.log"); }

  // Appends a [[peers]] block for `peer` to the config (before Start), dialled at the
  // peer's own address or at `address` (a proxy in front of it).
  void AddPeer(const Node& peer);
  void AddPeer(const Node& peer, const std::string& address);
  // Appends a [[trusted]] block (a key to verify, no connection).
  void Trust(const Node& other);
  // Appends raw TOML to the config.
  void AppendConfig(const std::string& toml);
  // Switches the node to plain TCP (api.insecure = true) before Start, and Cli to
  // --insecure for it.
  void SetInsecure();

  // An environment variable for the wlsyncd process (before Start).
  void SetDaemonEnv(const std::string& name, const std::string& value) { env_[name] = value; }

  // Starts wlsyncd and waits until it answers Status. Returns false on failure.
  bool Start();
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // SIGKILL and wait.
  void Kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // `wlsync --node ADDRESS args...`. Every CLI call naming this node's address (also through
  // testing::Cli) carries the node's current token: the admin token of `wlsync init` until
  // Start has made DIR/operator.token, that one afterwards, or what UseToken set.
  CommandResult Cli(const std::vector<std::string>& args) const;
  // DIR/ROLE.token.
  std::string token_file(const std::string& role) const;
  // Creates a token with the admin token, written to `out`; false on failure.
  bool MakeToken(const std::string& name, const std::string& role, const std::string& out) const;
  // Makes later CLI calls to this node use the token in `file`.
  void UseToken(const std::string& file);
  // Number of records in `status`, or -1 when the node does not answer.
  long Records() const;
  // `export` output (jsonl).
  std::string Export() const;

 private:
  std::string name_;
  std::string dir_;
  int port_;
  int metrics_port_ = 0;
  std::map<std::string, std::string> env_;
  pid_t pid_ = -1;

  bool EnsureOperatorToken();
};

// Makes nodes sharing one federation key and SharedTestCa under `root`, named as given, on
// free ports.
std::vector<std::unique_ptr<Node>> MakeNodes(const std::string& root,
                                             const std::vector<std::string>& names);
// Connects every node to every other (each pulls from all others).
void FullMesh(const std::vector<std::unique_ptr<Node>>& nodes);
// MakeNodes, FullMesh and Start of each; empty when any step fails.
std::vector<std::unique_ptr<Node>> StartMesh(const std::string& root,
                                             const std::vector<std::string>& names);

// Path of the shipped sample data file, e.g. SampleFile("commuters.csv").
std::string SampleFile(const std::string& name);
// Writes the header and the first `rows` rows of the sample commuters.csv to DIR/rows.csv
// and returns that path.
std::string SampleRows(const std::string& dir, int rows);
// The identity number of row `row` (0: the first after the header) of the sample.
std::string SampleIdDoc(int row);

// The CLI with the admin token `wlsync init` made for `node`.
CommandResult AdminCli(const Node& node, std::vector<std::string> args);
// The phone `wlsync get` prints for `who` at `node`; empty when there is none.
std::string PhoneAt(const Node& node, const std::string& who);
bool Contains(const std::string& text, const std::string& part);

}  // namespace wlsync::testing
