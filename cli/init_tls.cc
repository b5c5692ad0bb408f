#include "cli/init_tls.h"

#include <filesystem>
#include <set>

#include "base/strings.h"
#include "model/pid.h"
#include "net/certs.h"
#include "net/node_tls.h"

namespace wlsync::cli {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> Read(const std::string& flag, const std::string& path) {
  absl::StatusOr<std::string> text = model::ReadSmallFile(path);
  if (!text.ok())
    return absl::InvalidArgumentError(base::StrCat(flag, ": ", text.status().message()));
  return text;
}

absl::Status Prefixed(const std::string& prefix, const absl::Status& s) {
  return absl::InvalidArgumentError(base::StrCat(prefix, ": ", s.message()));
}

// The host of HOST:PORT, without IPv6 brackets.
std::string HostOf(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsWildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host.empty();
}

// Names a client may dial: loopback always, the node name, the listen host, and --san.
absl::StatusOr<std::vector<std::string>> SubjectAltNames(const InitArgs& args) {
  std::vector<std::string> hosts = {"localhost", "127.0.0.1", "::1", args.name};
  std::string listen_host = HostOf(args.listen);
  if (!IsWildcard(listen_host)) hosts.push_back(listen_host);
  for (const std::string& san : args.sans) {
    if (!net::IsValidSanHost(san)) {
      return absl::InvalidArgumentError(
          base::StrCat("--san: not a host name or IP address: ", san));
    }
    hosts.push_back(san);
  }
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& h : hosts) {
    if (net::IsValidSanHost(h) && seen.insert(h).second) out.push_back(h);
  }
  return out;
}

// Single-quoted for sh unless made only of characters that need no quoting.
std::string ShellQuote(const std::string& value) {
  bool plain = !value.empty();
  for (char ch : value) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              std::string_view("_./:@%+,-").find(ch) != std::string_view::npos;
    plain = plain && ok;
  }
  if (plain) return value;
  std::string out = "'";
  for (char ch : value) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

}  // namespace

absl::StatusOr<InitTls> PrepareInitTls(const InitArgs& args) {
  if (args.cert.empty() != args.key.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together");
  }
  if (!args.ca_key.empty() && args.ca_cert.empty()) {
    return absl::InvalidArgumentError("--ca-key needs --ca-cert");
  }
  if (!args.cert.empty() && args.ca_cert.empty()) {
    return absl::InvalidArgumentError("--cert needs --ca-cert, the CA that signed it");
  }
  if (args.cert.empty() && !args.ca_cert.empty() && args.ca_key.empty()) {
    return absl::InvalidArgumentError(
        "--ca-cert needs --ca-key to sign the node's certificate (or give --cert and --key)");
  }
  absl::StatusOr<std::vector<std::string>> hosts = SubjectAltNames(args);
  if (!hosts.ok()) return hosts.status();

  InitTls out;
  net::KeyAndCert ca;
  if (args.ca_cert.empty()) {
    absl::StatusOr<net::KeyAndCert> made = net::MakeCa(base::StrCat("wlsync CA of ", args.name));
    if (!made.ok()) return Prefixed("making a CA", made.status());
    ca = *std::move(made);
    out.ca_key_pem = ca.key_pem;
  } else {
    absl::StatusOr<std::string> cert = Read("--ca-cert", args.ca_cert);
    if (!cert.ok()) return cert.status();
    ca.cert_pem = *std::move(cert);
    if (!args.ca_key.empty()) {
      absl::StatusOr<std::string> key = Read("--ca-key", args.ca_key);
      if (!key.ok()) return key.status();
      ca.key_pem = *std::move(key);
      if (absl::Status s = net::CheckCa(ca); !s.ok()) return Prefixed("--ca-cert/--ca-key", s);
    }
  }
  out.ca_cert_pem = ca.cert_pem;

  net::KeyAndCert node;
  if (!args.cert.empty()) {
    absl::StatusOr<std::string> cert = Read("--cert", args.cert);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = Read("--key", args.key);
    if (!key.ok()) return key.status();
    node = {*std::move(cert), *std::move(key)};
    if (absl::Status s = net::CheckNodeCertificate(node, ca.cert_pem); !s.ok()) {
      return Prefixed("--cert/--key", s);
    }
  } else {
    absl::StatusOr<net::KeyAndCert> issued = net::IssueNodeCertificate(ca, args.name, *hosts);
    if (!issued.ok()) return Prefixed("making the node certificate", issued.status());
    node = *std::move(issued);
  }
  out.cert_pem = node.cert_pem;
  out.key_pem = node.key_pem;
  absl::StatusOr<std::string> fp = net::FingerprintOfPem(node.cert_pem);
  if (!fp.ok()) return fp.status();
  out.fingerprint = *fp;
  return out;
}

absl::Status WriteInitTls(const InitArgs& args, const InitTls& tls) {
  fs::path dir = fs::path(args.dir) / "tls";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(
        base::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  fs::permissions(dir, fs::perms::owner_all, ec);
  std::vector<std::tuple<std::string, const std::string*, int>> files = {
      {"ca.crt", &tls.ca_cert_pem, 0644},
      {args.name + ".crt", &tls.cert_pem, 0644},
      {args.name + ".key", &tls.key_pem, 0600}};
  if (!tls.ca_key_pem.empty()) files.push_back({"ca.key", &tls.ca_key_pem, 0600});
  for (const auto& [name, text, mode] : files) {
    if (absl::Status s = model::WriteFileAtomic((dir / name).string(), *text, mode); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

std::string DialAddress(const std::string& listen) {
  std::string host = HostOf(listen);
  std::string port = listen.substr(listen.rfind(':') + 1);
  if (host == "::") return "[::1]:" + port;
  if (IsWildcard(host)) return "127.0.0.1:" + port;
  return listen;
}

absl::Status WriteCliEnv(const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& vars) {
  std::string text =
      "# Points the wlsync CLI at this node: `. cli.env` (written by `wlsync init`).\n";
  for (const auto& [name, value] : vars) {
    base::StrAppend(&text, "export ", name, "=", ShellQuote(value), "\n");
  }
  return model::WriteFileAtomic(path, text, 0644);
}

}  // namespace wlsync::cli
