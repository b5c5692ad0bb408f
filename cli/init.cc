// `wlsync init`: makes a node directory ready for `wlsyncd --config DIR/config.toml`.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "access/tokens.h"
#include "base/strings.h"
#include "cli/commands.h"
#include "cli/init_tls.h"
#include "model/grids.h"
#include "model/pid.h"
#include "storage/sealing.h"
#include "sync/signer.h"

namespace wlsync::cli {
namespace {

namespace fs = std::filesystem;

int Fail(const std::string& message) {
  std::fprintf(stderr, "wlsync: init: %s\n", message.c_str());
  return kExitFailure;
}

// The sample grids shipped with wlsync, for a node made without --grids.
std::string DefaultGrids() {
  for (const char* candidate : {WLSYNC_SOURCE_DIR "/deploy/sample/grids.csv",
                                "/usr/share/wlsync/grids.csv"}) {
    if (fs::exists(candidate)) return candidate;
  }
  return "";
}

// 127.0.0.1 at the API port + 1000, so that nodes on one host get distinct listeners.
std::string MetricsListen(const InitArgs& args) {
  if (args.metrics_listen == "off") return "";
  if (!args.metrics_listen.empty()) return args.metrics_listen;
  int port = std::atoi(args.listen.substr(args.listen.rfind(':') + 1).c_str()) + 1000;
  if (port <= 65535) return base::StrCat("127.0.0.1:", port);
  std::fprintf(stderr,
               "wlsync: init: note: metrics are off (the API port + 1000 is above 65535); "
               "give --metrics-listen HOST:PORT to turn them on\n");
  return "";
}

std::string ConfigText(const InitArgs& args, const std::string& admin_hash) {
  return base::StrCat(
      "# wlsync node configuration, written by `wlsync init`. See docs/operations.md.\n"
      "# Relative paths are resolved against this file's folder.\n\n"
      "[node]\n"
      "name = \"", args.name, "\"\n"
      "data_dir = \"data\"\n"
      "signing_key = \"keys/", args.name, ".key\"\n"
      "federation_key = \"keys/federation.key\"\n"
      "grids = \"grids.csv\"\n"
      "# Encrypts records and the delta log at rest. Back it up with the other keys: the\n"
      "# data dir cannot be read without it.\n"
      "data_key = \"keys/data.key\"\n\n"
      "[api]\n"
      "listen = \"", args.listen, "\"\n"
      "# TLS on the client and peer APIs. true means plain TCP: loopback development only.\n"
      "insecure = false\n\n"
      "[metrics]\n"
      "# Prometheus text format at http://LISTEN/metrics, on its own listener (loopback by\n"
      "# default: put a reverse proxy or the scraper on this host). \"\" turns it off.\n"
      "listen = \"", MetricsListen(args), "\"\n\n"
      "[tls]\n"
      "cert = \"tls/", args.name, ".crt\"\n"
      "key = \"tls/", args.name, ".key\"\n"
      "# CA certificates trusted for peers and clients; several may be concatenated.\n"
      "ca = \"tls/ca.crt\"\n\n"
      "[sync]\n"
      "max_clock_skew_ms = 10000\n\n"
      "[log]\n"
      "format = \"text\"\n"
      "level = \"info\"\n\n"
      "[auth]\n"
      "# SHA-256 of the admin token in admin.token (`wlsync token hash FILE`).\n"
      "admin_token_sha256 = \"", admin_hash, "\"\n\n"
      "# Add one block per peer jurisdiction:\n"
      "# [[peers]]\n"
      "# name = \"guzhen\"\n"
      "# address = \"127.0.0.1:7402\"\n"
      "# public_key = \"<contents of the peer's keys/NAME.key.pub>\"\n"
      "# cert = \"peers/guzhen.crt\"  # a copy of the peer's tls/NAME.crt, pinned\n");
}

}  // namespace

int RunInit(const InitArgs& args) {
  fs::path dir(args.dir);
  if (fs::exists(dir / "config.toml")) {
    return Fail(base::StrCat((dir / "config.toml").string(), " exists; refusing to overwrite"));
  }
  // Check every input before anything is written, so that a failure leaves nothing behind.
  std::string grids = args.grids.empty() ? DefaultGrids() : args.grids;
  if (grids.empty()) return Fail("no grids file found: give --grids FILE");
  absl::StatusOr<model::Grids> loaded = model::Grids::LoadFile(grids);
  if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
  if (!loaded->HasJurisdiction(args.name)) {
    std::fprintf(stderr,
                 "wlsync: init: warning: no grid of %s belongs to jurisdiction %s, so this node "
                 "can register but never deregister people of its own\n",
                 grids.c_str(), args.name.c_str());
  }
  absl::StatusOr<InitTls> tls = PrepareInitTls(args);
  if (!tls.ok()) return Fail(std::string(tls.status().message()));
  model::FederationKey federation = model::FederationKey::Generate();
  if (!args.federation_key.empty()) {
    absl::StatusOr<model::FederationKey> key = model::FederationKey::LoadFile(args.federation_key);
    if (!key.ok()) return Fail(std::string(key.status().message()));
    federation = *key;
  }

  std::error_code ec;
  fs::create_directories(dir / "keys", ec);
  if (!ec) fs::create_directories(dir / "data", ec);
  if (ec) return Fail(base::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  fs::permissions(dir / "keys", fs::perms::owner_all, ec);
  fs::copy_file(grids, dir / "grids.csv", fs::copy_options::overwrite_existing, ec);
  if (ec) return Fail(base::StrCat("cannot copy ", grids, ": ", ec.message()));

  std::string fed_path = (dir / "keys" / "federation.key").string();
  if (absl::Status s = federation.WriteFile(fed_path); !s.ok()) return Fail(std::string(s.message()));

  if (absl::Status s = storage::WriteNewDataKeyFile((dir / "keys" / "data.key").string()); !s.ok()) {
    return Fail(std::string(s.message()));
  }

  sync::SigningKey key = sync::SigningKey::Generate();
  std::string key_path = (dir / "keys" / (args.name + ".key")).string();
  if (absl::Status s = key.WriteFiles(key_path); !s.ok()) return Fail(std::string(s.message()));
  if (absl::Status s = WriteInitTls(args, *tls); !s.ok()) return Fail(std::string(s.message()));
  std::string ca_path = fs::absolute(dir / "tls" / "ca.crt").lexically_normal().string();
  // The first token: admin, to create the others (`wlsync token create`).
  std::string admin = access::NewTokenSecret();
  std::string admin_path = fs::absolute(dir / "admin.token").lexically_normal().string();
  if (absl::Status s = model::WriteFileAtomic(admin_path, admin + "\n", 0600); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  std::vector<std::pair<std::string, std::string>> env = {
      {"WLSYNC_NODE", DialAddress(args.listen)},
      {"WLSYNC_CA", ca_path},
      {"WLSYNC_TOKEN_FILE", admin_path}};
  if (absl::Status s = WriteCliEnv((dir / "cli.env").string(), env); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (absl::Status s = model::WriteFileAtomic((dir / "config.toml").string(),
                                              ConfigText(args, access::TokenHash(admin)), 0644);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  std::printf("initialized node %s in %s\npublic key: %s\nkey id: %s\n"
              "tls certificate: %s (sha256 %s)\nCA: %s%s\n"
              "admin token: %s\n"
              "start it with: wlsyncd --config %s\npoint the CLI at it with: . %s\n",
              args.name.c_str(), dir.string().c_str(), model::HexEncode(key.public_key()).c_str(),
              key.key_id().c_str(), (dir / "tls" / (args.name + ".crt")).string().c_str(),
              tls->fingerprint.c_str(), ca_path.c_str(),
              tls->ca_key_pem.empty() ? "" : " (made here; its key is tls/ca.key: keep it safe)",
              admin_path.c_str(), (dir / "config.toml").string().c_str(),
              (dir / "cli.env").string().c_str());
  return kExitOk;
}

}  // namespace wlsync::cli
