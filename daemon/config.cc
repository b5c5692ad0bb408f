#include "daemon/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "base/strings.h"
#include "daemon/scheduler.h"
#include "model/pid.h"
#include "sync/signer.h"
#include "toml++/toml.h"

namespace wlsync::daemon {
namespace {

namespace fs = std::filesystem;

absl::Status Bad(const std::string& origin, std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(base::StrCat(origin, ": ", key, ": ", why));
}

// Refuses keys not in `known`, so that a typo never silently falls back to a default.
absl::Status CheckKeys(const toml::table& table, std::string_view prefix,
                       const std::set<std::string_view>& known, const std::string& origin) {
  for (const auto& [key, value] : table) {
    if (!known.contains(key.str())) {
      return Bad(origin, base::StrCat(prefix, key.str()), "unknown key");
    }
  }
  return absl::OkStatus();
}

class Reader {
 public:
  Reader(const toml::table& table, std::string prefix, const std::string& origin,
         const std::string& base_dir)
      : table_(table), prefix_(std::move(prefix)), origin_(origin), base_dir_(base_dir) {}

  absl::Status String(std::string_view key, std::string* out, bool required) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      return required ? Bad(origin_, Name(key), "missing") : absl::OkStatus();
    }
    if (!node->is_string()) return Bad(origin_, Name(key), "must be a string");
    *out = node->value<std::string>().value();
    if (out->empty() && required) return Bad(origin_, Name(key), "must not be empty");
    return absl::OkStatus();
  }

  absl::Status Path(std::string_view key, std::string* out, bool required) {
    if (absl::Status s = String(key, out, required); !s.ok()) return s;
    if (!out->empty() && fs::path(*out).is_relative()) {
      *out = (fs::path(base_dir_) / *out).lexically_normal().string();
    }
    return absl::OkStatus();
  }

  absl::Status Int(std::string_view key, int64_t* out, int64_t min, int64_t max) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return absl::OkStatus();
    if (!node->is_integer()) return Bad(origin_, Name(key), "must be an integer");
    int64_t v = node->value<int64_t>().value();
    if (v < min || v > max) {
      return Bad(origin_, Name(key), base::StrCat("must be between ", min, " and ", max));
    }
    *out = v;
    return absl::OkStatus();
  }

  absl::Status Bool(std::string_view key, bool* out) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return absl::OkStatus();
    if (!node->is_boolean()) return Bad(origin_, Name(key), "must be true or false");
    *out = node->value<bool>().value();
    return absl::OkStatus();
  }

  absl::Status PublicKey(std::string_view key, std::string* out) {
    std::string hex;
    if (absl::Status s = String(key, &hex, /*required=*/true); !s.ok()) return s;
    absl::StatusOr<std::string> raw = sync::ParsePublicKeyHex(hex, base::StrCat(origin_, ": ", Name(key)));
    if (!raw.ok()) return raw.status();
    *out = *raw;
    return absl::OkStatus();
  }

  std::string Name(std::string_view key) const { return base::StrCat(prefix_, key); }

 private:
  const toml::table& table_;
  std::string prefix_;
  const std::string& origin_;
  const std::string& base_dir_;
};

const toml::table* Section(const toml::table& root, std::string_view name) {
  const toml::node* node = root.get(name);
  return node == nullptr ? nullptr : node->as_table();
}

#define WLSYNC_RETURN_IF_ERROR(expr)          \
  do {                                        \
    if (absl::Status _s = (expr); !_s.ok()) { \
      return _s;                              \
    }                                         \
  } while (0)

absl::Status ReadNode(const toml::table& root, const std::string& origin,
                      const std::string& base, Config* c) {
  const toml::table* node = Section(root, "node");
  if (node == nullptr) return Bad(origin, "node", "missing section [node]");
  WLSYNC_RETURN_IF_ERROR(CheckKeys(*node, "node.",
                                   {"name", "data_dir", "signing_key", "federation_key", "grids",
                                    "data_key"},
                                   origin));
  Reader r(*node, "node.", origin, base);
  WLSYNC_RETURN_IF_ERROR(r.String("name", &c->name, /*required=*/true));
  if (!IsValidNodeName(c->name)) {
    return Bad(origin, "node.name", "must be 1-32 of a-z 0-9 _ - starting with a letter");
  }
  WLSYNC_RETURN_IF_ERROR(r.Path("data_dir", &c->data_dir, /*required=*/true));
  WLSYNC_RETURN_IF_ERROR(r.Path("signing_key", &c->signing_key, /*required=*/true));
  WLSYNC_RETURN_IF_ERROR(r.Path("federation_key", &c->federation_key, /*required=*/true));
  WLSYNC_RETURN_IF_ERROR(r.Path("grids", &c->grids, /*required=*/true));
  WLSYNC_RETURN_IF_ERROR(r.Path("data_key", &c->data_key, /*required=*/false));
  return absl::OkStatus();
}

absl::Status ReadTuning(const toml::table& root, const std::string& origin,
                        const std::string& base, Config* c) {
  if (const toml::table* api = Section(root, "api")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*api, "api.", {"listen", "insecure"}, origin));
    Reader r(*api, "api.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.String("listen", &c->listen, /*required=*/false));
    WLSYNC_RETURN_IF_ERROR(r.Bool("insecure", &c->insecure));
    if (absl::Status s = CheckHostPort(c->listen); !s.ok()) {
      return Bad(origin, "api.listen", std::string(s.message()));
    }
  }
  if (const toml::table* metrics = Section(root, "metrics")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*metrics, "metrics.", {"listen"}, origin));
    Reader r(*metrics, "metrics.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.String("listen", &c->metrics_listen, /*required=*/false));
    if (!c->metrics_listen.empty() && c->metrics_listen.front() == '[') {
      return Bad(origin, "metrics.listen",
                 "IPv6 addresses are not supported by the metrics listener (Debian's civetweb "
                 "is built without IPv6): give an IPv4 address or a host name");
    }
    if (!c->metrics_listen.empty() && !IsValidMetricsListen(c->metrics_listen)) {
      return Bad(origin, "metrics.listen",
                 "must be HOST:PORT (an IPv4 address or a host name, a port from 1 to 65535), "
                 "or \"\" to turn metrics off");
    }
  }
  if (const toml::table* tls = Section(root, "tls")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*tls, "tls.", {"cert", "key", "ca"}, origin));
    Reader r(*tls, "tls.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.Path("cert", &c->tls_cert, /*required=*/true));
    WLSYNC_RETURN_IF_ERROR(r.Path("key", &c->tls_key, /*required=*/true));
    WLSYNC_RETURN_IF_ERROR(r.Path("ca", &c->tls_ca, /*required=*/true));
  }
  if (const toml::table* sync = Section(root, "sync")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*sync, "sync.",
                                     {"max_clock_skew_ms", "group_commit_window_us",
                                      "max_message_bytes", "reconnect_min_ms",
                                      "reconnect_max_ms"},
                                     origin));
    Reader r(*sync, "sync.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.Int("max_clock_skew_ms", &c->max_clock_skew_ms, 0, 86400000));
    WLSYNC_RETURN_IF_ERROR(r.Int("group_commit_window_us", &c->group_commit_window_us, 0, 100000));
    WLSYNC_RETURN_IF_ERROR(r.Int("max_message_bytes", &c->max_message_bytes, 65536, 1 << 30));
    WLSYNC_RETURN_IF_ERROR(r.Int("reconnect_min_ms", &c->reconnect_min_ms, 1, 600000));
    WLSYNC_RETURN_IF_ERROR(r.Int("reconnect_max_ms", &c->reconnect_max_ms, 1, 3600000));
  }
  if (const toml::table* log = Section(root, "log")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*log, "log.", {"format", "level"}, origin));
    Reader r(*log, "log.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.String("format", &c->log_format, /*required=*/false));
    WLSYNC_RETURN_IF_ERROR(r.String("level", &c->log_level, /*required=*/false));
    if (c->log_format != "text" && c->log_format != "json") {
      return Bad(origin, "log.format", "must be \"text\" or \"json\"");
    }
    static const std::set<std::string_view> kLevels = {"trace", "debug", "info", "warn",
                                                       "error", "critical", "off"};
    if (!kLevels.contains(c->log_level)) {
      return Bad(origin, "log.level", "must be one of trace debug info warn error critical off");
    }
  }
  if (const toml::table* auth = Section(root, "auth")) {
    std::set<std::string_view> known = {"admin_token_sha256"};
    std::vector<std::string> names;
    for (const auto& [role, limits] : c->limits) {
      names.push_back(base::StrCat(access::RoleName(role), "_requests_per_minute"));
      names.push_back(base::StrCat(access::RoleName(role), "_records_per_hour"));
    }
    for (const std::string& n : names) known.insert(n);
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*auth, "auth.", known, origin));
    Reader r(*auth, "auth.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.String("admin_token_sha256", &c->admin_token_sha256, false));
    const std::string& h = c->admin_token_sha256;
    if (!h.empty() && (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != h.npos)) {
      return Bad(origin, "auth.admin_token_sha256", "must be 64 lowercase hex characters");
    }
    for (auto& [role, limits] : c->limits) {
      std::string_view name = access::RoleName(role);
      WLSYNC_RETURN_IF_ERROR(r.Int(base::StrCat(name, "_requests_per_minute"),
                                   &limits.requests_per_minute, 0, 1000000000));
      WLSYNC_RETURN_IF_ERROR(r.Int(base::StrCat(name, "_records_per_hour"),
                                   &limits.records_per_hour, 0, 1000000000000));
    }
  }
  if (const toml::table* ret = Section(root, "retention")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(
        *ret, "retention.",
        {"erase_after_s", "test_max_age_days", "sweep_every_s", "audit_keep_days",
         "tombstone_keep_s"},
        origin));
    Reader r(*ret, "retention.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.Int("erase_after_s", &c->retention_erase_after_s, 0, 100LL * 365 * 86400));
    WLSYNC_RETURN_IF_ERROR(r.Int("test_max_age_days", &c->retention_test_max_age_days, 0, 36500));
    WLSYNC_RETURN_IF_ERROR(r.Int("sweep_every_s", &c->retention_sweep_every_s, 1, 7 * 86400));
    // Whole days, so never less than one; 0 keeps the trail for ever.
    WLSYNC_RETURN_IF_ERROR(r.Int("audit_keep_days", &c->retention_audit_keep_days, 0, 36500));
    // After the tombstone's last change, and only once every peer confirmed it.
    WLSYNC_RETURN_IF_ERROR(
        r.Int("tombstone_keep_s", &c->retention_tombstone_keep_s, 0, 100LL * 365 * 86400));
  }
  if (const toml::table* health = Section(root, "health")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*health, "health.", {"peer_timeout_s"}, origin));
    Reader r(*health, "health.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.Int("peer_timeout_s", &c->health_peer_timeout_s, 1, 86400 * 7));
  }
  if (const toml::table* rec = Section(root, "reconcile")) {
    WLSYNC_RETURN_IF_ERROR(CheckKeys(*rec, "reconcile.",
                                     {"enabled", "at", "time_zone", "jitter_s", "alert_after_h",
                                      "startup_delay_s"},
                                     origin));
    Reader r(*rec, "reconcile.", origin, base);
    WLSYNC_RETURN_IF_ERROR(r.Bool("enabled", &c->reconcile_enabled));
    WLSYNC_RETURN_IF_ERROR(r.String("at", &c->reconcile_at, /*required=*/false));
    WLSYNC_RETURN_IF_ERROR(r.String("time_zone", &c->reconcile_time_zone, /*required=*/false));
    WLSYNC_RETURN_IF_ERROR(r.Int("jitter_s", &c->reconcile_jitter_s, 0, 86400));
    WLSYNC_RETURN_IF_ERROR(r.Int("alert_after_h", &c->reconcile_alert_after_h, 1, 24 * 365));
    WLSYNC_RETURN_IF_ERROR(r.Int("startup_delay_s", &c->reconcile_startup_delay_s, 0, 3600));
  }
  if (const toml::table* own = Section(root, "ownership")) {
    for (const auto& [key, value] : *own) {
      if (!value.is_string()) return Bad(origin, base::StrCat("ownership.", key.str()), "must be a string");
      absl::Status s = c->ownership.Set(key.str(), value.value<std::string>().value());
      if (!s.ok()) return absl::InvalidArgumentError(base::StrCat(origin, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadPeers(const toml::table& root, const std::string& origin,
                       const std::string& base, Config* c) {
  std::set<std::string> names = {c->name};
  for (std::string_view section : {"peers", "trusted"}) {
    const toml::node* node = root.get(section);
    if (node == nullptr) continue;
    const toml::array* list = node->as_array();
    if (list == nullptr) return Bad(origin, section, "must be an array of tables [[...]]");
    for (size_t i = 0; i < list->size(); ++i) {
      const toml::table* t = (*list)[i].as_table();
      std::string prefix = base::StrCat(section, "[", i, "].");
      if (t == nullptr) return Bad(origin, prefix, "must be a table");
      bool is_peer = section == std::string_view("peers");
      std::set<std::string_view> known = {"name", "public_key", "key_history"};
      if (is_peer) known.insert({"address", "cert"});
      WLSYNC_RETURN_IF_ERROR(CheckKeys(*t, prefix, known, origin));
      Reader r(*t, prefix, origin, base);
      std::string name, key, address;
      WLSYNC_RETURN_IF_ERROR(r.String("name", &name, /*required=*/true));
      if (!IsValidNodeName(name)) return Bad(origin, r.Name("name"), "not a valid node name");
      if (name == c->name) {
        return Bad(origin, r.Name("name"), "is this node's own name (node.name)");
      }
      if (!names.insert(name).second) return Bad(origin, r.Name("name"), "listed twice");
      WLSYNC_RETURN_IF_ERROR(r.PublicKey("public_key", &key));
      std::string history;
      WLSYNC_RETURN_IF_ERROR(r.Path("key_history", &history, /*required=*/false));
      c->key_histories.push_back({name, history});
      if (history.empty()) c->key_histories.pop_back();
      if (is_peer) {
        WLSYNC_RETURN_IF_ERROR(r.String("address", &address, /*required=*/true));
        if (absl::Status s = CheckHostPort(address); !s.ok()) {
          return Bad(origin, r.Name("address"), std::string(s.message()));
        }
        address = CanonicalHostPort(address);
        std::string cert;
        WLSYNC_RETURN_IF_ERROR(r.Path("cert", &cert, /*required=*/false));
        if (cert.empty() && !c->insecure) {
          return Bad(origin, r.Name("cert"),
                     "missing: the file of the peer's TLS certificate, which this node pins "
                     "(required unless api.insecure = true)");
        }
        c->peers.push_back({name, address, key, cert});
      } else {
        c->trusted.push_back({name, key});
      }
    }
  }
  return absl::OkStatus();
}

// The IPv6 address of a bracketed host ("[::1]"); nullopt for any other host.
std::optional<in6_addr> BracketedIpv6(std::string_view host) {
  in6_addr parsed;
  if (host.size() < 3 || host.front() != '[' || host.back() != ']' ||
      inet_pton(AF_INET6, std::string(host.substr(1, host.size() - 2)).c_str(), &parsed) != 1) {
    return std::nullopt;
  }
  return parsed;
}

}  // namespace

absl::Status CheckHostPort(std::string_view address) {
  auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(base::StrCat("must be HOST:PORT: ", why));
  };
  if (address.empty()) return bad("it is empty");
  if (address.find('/') != std::string_view::npos) {
    return bad("no scheme or path (dns:///, http://): HOST:PORT only");
  }
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return bad("no :PORT at the end");
  std::string_view host = address.substr(0, colon);
  std::string_view port = address.substr(colon + 1);
  if (port.empty()) return bad("no port after the ':'");
  if (!std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return bad("the port is digits only, nothing before or after them");
  }
  if (port.size() > 1 && port.front() == '0') return bad("the port has no leading zero");
  const int value = port.size() > 5 ? 0 : std::stoi(std::string(port));
  if (value < 1 || value > 65535) return bad("the port must be from 1 to 65535");
  if (host.empty()) return bad("no host before the port");
  if (host.front() == '[') {
    if (host.find('%') != std::string_view::npos) {
      return bad("an IPv6 zone id (%) is not supported: give a routable or loopback address");
    }
    if (!BracketedIpv6(host)) return bad("a bracketed host is one IPv6 address, as in [::1]:7401");
    return absl::OkStatus();
  }
  if (host.find(':') != std::string_view::npos) {
    return bad("an IPv6 address goes in brackets, as in [::1]:7401");
  }
  const bool name_chars = std::all_of(host.begin(), host.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-' || ch == '_';
  });
  if (!name_chars) {
    return bad("the host is a name or an IPv4 address: letters, digits, '.', '-' and '_' only");
  }
  return absl::OkStatus();
}

bool IsValidHostPort(std::string_view address) { return CheckHostPort(address).ok(); }

std::string CanonicalHostPort(std::string_view address) {
  size_t colon = address.rfind(':');
  std::optional<in6_addr> ip =
      colon == std::string_view::npos ? std::nullopt : BracketedIpv6(address.substr(0, colon));
  if (!ip) return std::string(address);
  char text[INET6_ADDRSTRLEN];
  // An IPv4-mapped address is the IPv4 address it maps, and certificates name it so.
  if (IN6_IS_ADDR_V4MAPPED(&*ip)) {
    if (inet_ntop(AF_INET, &ip->s6_addr[12], text, sizeof(text)) == nullptr) {
      return std::string(address);
    }
    return base::StrCat(text, address.substr(colon));
  }
  if (inet_ntop(AF_INET6, &*ip, text, sizeof(text)) == nullptr) return std::string(address);
  return base::StrCat("[", text, "]", address.substr(colon));
}

bool IsValidMetricsListen(std::string_view address) {
  if (!IsValidHostPort(address)) return false;
  std::string_view host = address.substr(0, address.rfind(':'));
  return std::all_of(host.begin(), host.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-';
  });
}

bool IsValidNodeName(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] < 'a' || name[0] > 'z') return false;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<Config> ParseConfig(std::string_view text, const std::string& origin,
                                   const std::string& base_dir) {
  // toml++ reports syntax errors by exception; they stop here and become a Status.
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& err) {
    return absl::InvalidArgumentError(base::StrCat(origin, ":", err.source().begin.line, ":",
                                                   err.source().begin.column, ": ",
                                                   err.description()));
  }
  WLSYNC_RETURN_IF_ERROR(CheckKeys(root, "",
                                   {"node", "api", "metrics", "tls", "sync", "log", "auth", "retention", "health",
                                    "reconcile",
                                    "ownership", "peers", "trusted"},
                                   origin));
  Config c;
  c.path = origin;
  WLSYNC_RETURN_IF_ERROR(ReadNode(root, origin, base_dir, &c));
  WLSYNC_RETURN_IF_ERROR(ReadTuning(root, origin, base_dir, &c));
  WLSYNC_RETURN_IF_ERROR(ReadPeers(root, origin, base_dir, &c));
  ScheduleOptions schedule;
  if (absl::Status s = ParseAt(c.reconcile_at, &schedule); !s.ok()) {
    return absl::InvalidArgumentError(base::StrCat(origin, ": ", s.message()));
  }
  schedule.time_zone = c.reconcile_time_zone;
  if (!IsTimeZoneName(schedule.time_zone)) {
    return Bad(origin, "reconcile.time_zone",
               "must be a time zone name such as Asia/Shanghai (see /usr/share/zoneinfo)");
  }
  if (!ScheduledAt(schedule, 0, 0).ok()) {
    return Bad(origin, "reconcile.time_zone", "unknown time zone (see /usr/share/zoneinfo)");
  }
  if (c.reconnect_min_ms > c.reconnect_max_ms) {
    return Bad(origin, "sync.reconnect_min_ms", "must not exceed sync.reconnect_max_ms");
  }
  if (!c.insecure && Section(root, "tls") == nullptr) {
    return Bad(origin, "tls",
               "missing section [tls] with cert, key and ca (`wlsync init` writes one); plain "
               "TCP needs an explicit api.insecure = true, for loopback development only");
  }
  return c;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  absl::StatusOr<std::string> text = model::ReadSmallFile(path);
  if (!text.ok()) return text.status();
  std::string base = fs::absolute(path).parent_path().string();
  return ParseConfig(*text, path, base);
}

}  // namespace wlsync::daemon
