// wlsync: the operator CLI. `wlsync [--node HOST:PORT] COMMAND ...`; see `wlsync --help`.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "cli/client.h"
#include "cli/commands.h"
#include "daemon/config.h"

namespace {

using wlsync::cli::kExitUsage;

// The option's value when given, else the environment variable's. (An option given empty
// is refused before this is asked: `--node ''` is a mistake, not a fall-back.)
std::string FlagOrEnv(const std::string& flag, const char* name) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv(name);
  return env == nullptr ? "" : env;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wlsync: operator tool for a wlsync node"};
  app.require_subcommand(1);
  std::string node_flag;
  CLI::Option* node_option =
      app.add_option("--node", node_flag, "node address HOST:PORT (default: $WLSYNC_NODE)");
  std::string token_file_flag;
  CLI::Option* token_file_option =
      app.add_option("--token-file", token_file_flag,
                     "file holding the bearer token (default: $WLSYNC_TOKEN_FILE)");
  std::string ca_flag;
  bool insecure_flag = false;
  CLI::Option* ca_option = app.add_option("--ca", ca_flag,
                                          "CA certificate (PEM) of the node's TLS certificate "
                                          "(default: $WLSYNC_CA)");
  app.add_flag("--insecure", insecure_flag,
               "plain TCP, for a node run with api.insecure = true (or WLSYNC_INSECURE=1)");

  wlsync::cli::InitArgs init;
  CLI::App* init_cmd = app.add_subcommand("init", "make a node directory: config, keys, data dir");
  init_cmd->add_option("dir", init.dir, "directory to create")->required();
  init_cmd->add_option("--name", init.name, "node (jurisdiction) name, e.g. waihai")->required();
  init_cmd->add_option("--listen", init.listen, "HOST:PORT to serve on")->required();
  CLI::Option* metrics_listen_option =
      init_cmd->add_option("--metrics-listen", init.metrics_listen,
                           "HOST:PORT of the metrics listener, or off (default: 127.0.0.1 at "
                           "the --listen port + 1000)");
  init_cmd->add_option("--grids", init.grids, "grids CSV (default: the shipped sample grids)");
  init_cmd->add_option("--federation-key", init.federation_key,
                       "existing federation key file to share (default: make a new one)");
  init_cmd->add_option("--ca-cert", init.ca_cert,
                       "CA certificate to sign the node's TLS certificate with, or to trust "
                       "with --cert (default: make a CA in DIR/tls)");
  init_cmd->add_option("--ca-key", init.ca_key, "the key of --ca-cert");
  init_cmd->add_option("--cert", init.cert,
                       "use this node certificate (PEM) instead of making one");
  init_cmd->add_option("--key", init.key, "the key of --cert");
  init_cmd->add_option("--san", init.sans,
                       "extra host name or IP address for the node certificate (repeatable)");

  wlsync::cli::ImportArgs import;
  CLI::App* import_cmd = app.add_subcommand("import", "import commuters CSV rows (upsert)");
  import_cmd->add_option("file", import.file, "commuters CSV file")->required();
  import_cmd->add_option("--encoding", import.encoding, "utf-8 (default) or gb18030")
      ->check(CLI::IsMember({"utf-8", "utf8", "gb18030"}, CLI::ignore_case));
  import_cmd->add_option("--batch-rows", import.batch_rows, "rows per request")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));

  wlsync::cli::ImportArgs apply;
  apply.changes = true;
  CLI::App* apply_cmd = app.add_subcommand("apply", "apply a changes CSV (op,id_doc,field,value)");
  apply_cmd->add_option("file", apply.file, "changes CSV file")->required();
  apply_cmd->add_option("--encoding", apply.encoding, "utf-8 (default) or gb18030")
      ->check(CLI::IsMember({"utf-8", "utf8", "gb18030"}, CLI::ignore_case));

  std::string who, field, value, format = "jsonl";
  CLI::App* get_cmd = app.add_subcommand("get", "print one person as JSON");
  get_cmd->add_option("person", who, "identity number or pid")->required();
  CLI::App* set_cmd = app.add_subcommand("set", "change one field of a person");
  set_cmd->add_option("person", who, "identity number or pid")->required();
  set_cmd->add_option("field", field, "column name, e.g. phone")->required();
  set_cmd->add_option("value", value, "new value")->required();
  CLI::App* dereg_cmd = app.add_subcommand("deregister", "record that a person has left");
  dereg_cmd->add_option("person", who, "identity number or pid")->required();
  CLI::App* status_cmd = app.add_subcommand(
      "status", "the node on one screen: health, records, peers, reconciliation, quarantine");
  bool status_json = false;
  status_cmd->add_flag("--json", status_json, "print the whole status as JSON");
  CLI::App* health_cmd =
      app.add_subcommand("health", "SERVING or NOT_SERVING (exit 0 only when serving)");
  CLI::App* export_cmd = app.add_subcommand("export", "print every record in pid order");
  export_cmd->add_option("--format", format, "jsonl (default) or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}));

  std::string peer, cert_out, cert_file, cert_config;
  std::vector<std::string> cert_keys;
  int last = 10;
  CLI::App* reconcile_cmd = app.add_subcommand("reconcile", "compare with a peer now, repair, report");
  reconcile_cmd->add_option("--peer", peer, "configured peer name")->required();
  reconcile_cmd->add_option("--cert-out", cert_out, "write the agreement certificate here");
  CLI::App* reports_cmd = app.add_subcommand("reconcile-report", "past reconciliations as JSON");
  reports_cmd->add_option("--last", last, "how many, newest first")->check(CLI::Range(1, 1000));
  int quarantine_limit = 100;
  CLI::App* quarantine_cmd =
      app.add_subcommand("quarantine", "remote events refused by policy, with the reason");
  quarantine_cmd->add_option("--limit", quarantine_limit, "at most this many")
      ->check(CLI::Range(1, 10000));
  CLI::App* verify_cmd = app.add_subcommand("verify-cert", "check an agreement certificate offline");
  verify_cmd->add_option("file", cert_file, "certificate JSON")->required();
  verify_cmd->add_option("--config", cert_config, "take public keys from this node config");
  verify_cmd->add_option("--key", cert_keys, "NAME=HEX public key (repeatable)");

  wlsync::cli::QueryArgs query;
  std::string query_id, changed_since;
  wlsync::v1::QueryFilter& qf = query.filter;
  CLI::App* query_cmd = app.add_subcommand("query", "search the records (conditions are ANDed)");
  query_cmd->add_option("--id", query_id, "identity number or pid");
  query_cmd->add_option("--phone", *qf.mutable_phone(), "phone number");
  query_cmd->add_option("--grid", *qf.mutable_residence_grid(), "residence grid");
  query_cmd->add_option("--work-grid", *qf.mutable_work_grid(), "work grid");
  query_cmd->add_option("--workplace", *qf.mutable_workplace(), "workplace, exact");
  query_cmd->add_option("--workplace-prefix", *qf.mutable_workplace_prefix(),
                        "workplaces starting with this");
  query_cmd->add_option("--list", *qf.mutable_list(), "WHITE or GREY");
  query_cmd->add_option("--category", *qf.mutable_category(), "category");
  query_cmd->add_option("--status", *qf.mutable_status(), "REGISTERED or DEREGISTERED");
  query_cmd->add_option("--result", *qf.mutable_test_result(), "last test result");
  query_cmd->add_option("--since", *qf.mutable_tested_from(), "last tested on or after DATE");
  query_cmd->add_option("--until", *qf.mutable_tested_to(), "last tested on or before DATE");
  query_cmd->add_option("--changed-since", changed_since, "changed at or after TIME (UTC+8)");
  query_cmd->add_option("--case", query.case_id, "case id: unmasks values, recorded in the audit");
  query_cmd->add_option("--limit", query.limit, "people to print at most (default 100)")
      ->check(CLI::Range(1, 1000000));
  query_cmd->add_option("--page-token", query.page_token, "continue a previous query");
  query_cmd->add_flag("--json", query.json, "JSON lines instead of a table");

  std::string token_name, token_role, token_expires, token_out;
  CLI::App* token_cmd = app.add_subcommand("token", "bearer tokens (admin role)");
  token_cmd->require_subcommand(1);
  CLI::App* token_create = token_cmd->add_subcommand("create", "make a token; shown once");
  token_create->add_option("name", token_name, "token name")->required();
  token_create->add_option("--role", token_role, "operator, tracer, auditor or admin")->required();
  token_create->add_option("--expires", token_expires, "expiry DATE or TIME (UTC+8)");
  token_create->add_option("--out", token_out, "write the token to this file (mode 600)");
  CLI::App* token_list = token_cmd->add_subcommand("list", "every token, without secrets");
  CLI::App* token_revoke = token_cmd->add_subcommand("revoke", "revoke a token at once");
  token_revoke->add_option("name", token_name, "token name")->required();
  std::string token_hash_file;
  CLI::App* token_hash = token_cmd->add_subcommand("hash", "SHA-256 of a token file, for the config");
  token_hash->add_option("file", token_hash_file, "token file")->required();

  std::string audit_person, audit_token, audit_since, audit_key;
  uint64_t audit_from = 1;
  CLI::App* audit_cmd = app.add_subcommand("audit", "the audit trail (auditor role)");
  audit_cmd->require_subcommand(1);
  CLI::App* audit_verify = audit_cmd->add_subcommand("verify", "check the whole hash chain");
  audit_verify->add_option("--public-key", audit_key, "node public key (hex) to check the head");
  CLI::App* audit_export = audit_cmd->add_subcommand("export", "entries as JSON lines");
  audit_export->add_option("--from", audit_from, "first seq");
  CLI::App* audit_who = audit_cmd->add_subcommand("who-saw", "entries that returned a person");
  audit_who->add_option("person", audit_person, "identity number or pid")->required();
  audit_who->add_option("--since", audit_since, "since DATE or TIME (UTC+8)");
  CLI::App* audit_by = audit_cmd->add_subcommand("by-token", "entries made with a token");
  audit_by->add_option("name", audit_token, "token name")->required();
  audit_by->add_option("--since", audit_since, "since DATE or TIME (UTC+8)");

  wlsync::cli::KeyArgs key_args;
  CLI::App* key_cmd =
      app.add_subcommand("key", "signing keys: rotate, revoke, list, report (admin role)");
  key_cmd->require_subcommand(1);
  CLI::App* key_rotate = key_cmd->add_subcommand(
      "rotate", "make a new signing key for this node and announce it to the peers");
  key_rotate->add_option("--reason", key_args.reason, "for the record (no personal data)");
  CLI::App* key_revoke =
      key_cmd->add_subcommand("revoke", "refuse what a key signed from a time on");
  key_revoke->add_option("key_id", key_args.key_id, "the key id (see `key list`)")->required();
  key_revoke->add_option("--from", key_args.from, "DATE or TIME (UTC+8) the key is compromised from")
      ->required();
  key_revoke->add_option("--node", key_args.node,
                         "another node's key (recorded here only); default this node's");
  key_revoke->add_option("--reason", key_args.reason, "for the record (no personal data)");
  CLI::App* key_list = key_cmd->add_subcommand("list", "every trusted key and its validity");
  key_list->add_option("--node", key_args.node, "only this node's keys");
  key_list->add_flag("--json", key_args.json, "as JSON");
  CLI::App* key_report =
      key_cmd->add_subcommand("report", "the deltas accepted here under a key");
  key_report->add_option("key_id", key_args.key_id, "the key id")->required();
  key_report->add_option("--node", key_args.node, "the key's node; default this node");
  key_report->add_flag("--json", key_args.json, "the whole report as JSON, pids included");
  for (CLI::App* c : {key_rotate, key_revoke}) {
    c->add_flag("--json", key_args.json, "the resulting keys as JSON");
  }

  wlsync::cli::EmergencyArgs emergency;
  CLI::App* emergency_cmd =
      app.add_subcommand("emergency", "leak response: freeze, lockdown, report (admin role)");
  emergency_cmd->require_subcommand(1);
  CLI::App* em_freeze = emergency_cmd->add_subcommand("freeze", "stop syncing with a peer now");
  CLI::App* em_unfreeze = emergency_cmd->add_subcommand("unfreeze", "resume syncing with a peer");
  for (CLI::App* c : {em_freeze, em_unfreeze}) {
    c->add_option("--peer", emergency.peer, "configured peer name")->required();
    c->add_option("--reason", emergency.reason, "for the record (no personal data)");
  }
  CLI::App* em_lockdown = emergency_cmd->add_subcommand(
      "lockdown", "revoke every tracer token, refuse export and case unmasking");
  CLI::App* em_lift = emergency_cmd->add_subcommand("lift", "end the lockdown");
  for (CLI::App* c : {em_lockdown, em_lift}) {
    c->add_option("--reason", emergency.reason, "for the record (no personal data)");
  }
  CLI::App* em_state = emergency_cmd->add_subcommand("state", "lockdown and frozen peers");
  CLI::App* em_report =
      emergency_cmd->add_subcommand("report", "who read what since a time, from the audit trail");
  em_report->add_option("--since", emergency.since, "DATE or TIME (UTC+8)")->required();
  em_report->add_flag("--json", emergency.json, "the whole report as JSON, pids included");

  wlsync::cli::CertArgs cert;
  CLI::App* cert_cmd =
      app.add_subcommand("cert", "peer TLS certificates: revoke, list, reload (admin role)");
  cert_cmd->require_subcommand(1);
  CLI::App* cert_revoke =
      cert_cmd->add_subcommand("revoke", "refuse a peer's certificate now, also after restarts");
  cert_revoke->add_option("--peer", cert.peer, "configured peer name")->required();
  CLI::Option* by_fp = cert_revoke->add_option("--fingerprint", cert.fingerprint,
                                               "SHA-256 of the certificate (hex, colons allowed)");
  CLI::Option* by_file =
      cert_revoke->add_option("--cert", cert.cert_file, "or the certificate itself (PEM file)");
  by_fp->excludes(by_file);
  cert_revoke->add_option("--reason", cert.reason, "for the record (no personal data)");
  CLI::App* cert_list =
      cert_cmd->add_subcommand("list", "pinned and revoked certificates per peer");
  CLI::App* cert_reload =
      cert_cmd->add_subcommand("reload", "read the peers' pin files again (as SIGHUP does)");
  for (CLI::App* c : {cert_revoke, cert_list, cert_reload}) {
    c->add_flag("--json", cert.json, "the whole reply as JSON");
  }

  wlsync::cli::ForkArgs fork;
  CLI::App* fork_cmd =
      app.add_subcommand("fork", "streams refused after a fork: list, clear (admin role)");
  fork_cmd->require_subcommand(1);
  CLI::App* fork_list = fork_cmd->add_subcommand("list", "forked streams and both body hashes");
  CLI::App* fork_clear = fork_cmd->add_subcommand(
      "clear", "accept a forked stream again (check which copy is right first)");
  fork_clear->add_option("stream", fork.stream, "ORIGIN/EPOCH as `fork list` prints it")
      ->required();
  fork_clear->add_option("--reason", fork.reason, "for the record (no personal data)");
  for (CLI::App* c : {fork_list, fork_clear}) {
    c->add_flag("--json", fork.json, "the whole reply as JSON");
  }

  // CLI11 reads `--option=` (nothing after '=') as a bare `--option` and takes the next
  // argument as its value: refused here, as `--option ''` is below.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 3 && arg.substr(0, 2) == "--" && arg.find('=') == arg.size() - 1) {
      std::fprintf(stderr, "wlsync: %.*s is empty\n", static_cast<int>(arg.size() - 1), arg.data());
      return kExitUsage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  if (init_cmd->parsed()) {
    if (absl::Status s = wlsync::daemon::CheckHostPort(init.listen); !s.ok()) {
      std::fprintf(stderr, "wlsync: init: --listen %s\n", std::string(s.message()).c_str());
      return kExitUsage;
    }
    if (metrics_listen_option->count() > 0 && init.metrics_listen.empty()) {
      std::fprintf(stderr, "wlsync: init: --metrics-listen is empty (give HOST:PORT or off)\n");
      return kExitUsage;
    }
    if (!init.metrics_listen.empty() && init.metrics_listen != "off" &&
        !wlsync::daemon::IsValidMetricsListen(init.metrics_listen)) {
      std::fprintf(stderr,
                   "wlsync: init: --metrics-listen must be HOST:PORT (an IPv4 address or a "
                   "host name, a port from 1 to 65535), or off\n");
      return kExitUsage;
    }
    if (!wlsync::daemon::IsValidNodeName(init.name)) {
      std::fprintf(stderr, "wlsync: init: --name must be 1-32 of a-z 0-9 _ - starting with a letter\n");
      return kExitUsage;
    }
    return wlsync::cli::RunInit(init);
  }

  if (verify_cmd->parsed()) {
    if (cert_config.empty() && cert_keys.empty()) {
      std::fprintf(stderr, "wlsync: verify-cert: give --config FILE or --key NAME=HEX\n");
      return kExitUsage;
    }
    return wlsync::cli::RunVerifyCert(cert_file, cert_config, cert_keys);
  }

  if (token_hash->parsed()) return wlsync::cli::RunTokenHash(token_hash_file);

  for (const CLI::Option* given : {node_option, token_file_option, ca_option}) {
    if (given->count() > 0 && given->as<std::string>().empty()) {
      std::fprintf(stderr, "wlsync: %s is empty\n", given->get_name().c_str());
      return kExitUsage;
    }
  }
  wlsync::cli::ClientOptions client;
  std::string token_file = FlagOrEnv(token_file_flag, "WLSYNC_TOKEN_FILE");
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = wlsync::cli::ReadTokenFile(token_file);
    if (!token.ok()) {
      std::fprintf(stderr, "wlsync: %s\n", std::string(token.status().message()).c_str());
      return kExitUsage;
    }
    client.token = *token;
  }

  std::string node = FlagOrEnv(node_flag, "WLSYNC_NODE");
  const char* node_source = node_option->count() > 0 ? "--node" : "WLSYNC_NODE";
  if (node.empty()) {
    std::fprintf(stderr, "wlsync: no node: give --node HOST:PORT or set WLSYNC_NODE\n");
    return kExitUsage;
  }
  if (absl::Status s = wlsync::daemon::CheckHostPort(node); !s.ok()) {
    std::fprintf(stderr, "wlsync: %s %s\n", node_source, std::string(s.message()).c_str());
    return kExitUsage;
  }
  node = wlsync::daemon::CanonicalHostPort(node);
  client.ca_file = FlagOrEnv(ca_flag, "WLSYNC_CA");
  client.insecure = insecure_flag || FlagOrEnv("", "WLSYNC_INSECURE") == "1";
  if (absl::Status s = wlsync::cli::ConfigureClient(client); !s.ok()) {
    std::fprintf(stderr, "wlsync: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }
  if (import_cmd->parsed()) {
    import.node = node;
    return wlsync::cli::RunImport(import);
  }
  if (apply_cmd->parsed()) {
    apply.node = node;
    return wlsync::cli::RunImport(apply);
  }
  if (get_cmd->parsed()) return wlsync::cli::RunGet(node, who);
  if (set_cmd->parsed()) return wlsync::cli::RunSet(node, who, field, value);
  if (dereg_cmd->parsed()) return wlsync::cli::RunDeregister(node, who);
  if (status_cmd->parsed()) return wlsync::cli::RunStatus(node, status_json);
  if (health_cmd->parsed()) return wlsync::cli::RunHealth(node);
  if (export_cmd->parsed()) return wlsync::cli::RunExport(node, format);
  if (reconcile_cmd->parsed()) return wlsync::cli::RunReconcile(node, peer, cert_out);
  if (reports_cmd->parsed()) return wlsync::cli::RunReconcileReport(node, last);
  if (quarantine_cmd->parsed()) return wlsync::cli::RunQuarantine(node, quarantine_limit);
  if (query_cmd->parsed()) {
    if (!query_id.empty()) *qf.mutable_person() = wlsync::cli::PersonRefOf(query_id);
    if (!changed_since.empty()) {
      absl::StatusOr<int64_t> at = wlsync::cli::ParseTime(changed_since);
      if (!at.ok()) {
        std::fprintf(stderr, "wlsync: query: --changed-since: %s\n",
                     std::string(at.status().message()).c_str());
        return kExitUsage;
      }
      qf.set_changed_since_unix_ms(*at);
    }
    return wlsync::cli::RunQuery(node, query);
  }
  if (token_create->parsed()) {
    return wlsync::cli::RunTokenCreate(node, token_name, token_role, token_expires, token_out);
  }
  if (token_list->parsed()) return wlsync::cli::RunTokenList(node);
  if (token_revoke->parsed()) return wlsync::cli::RunTokenRevoke(node, token_name);
  for (CLI::App* c : {em_freeze, em_unfreeze, em_lockdown, em_lift, em_state, em_report}) {
    if (c->parsed()) {
      emergency.action = c->get_name();
      return wlsync::cli::RunEmergency(node, emergency);
    }
  }
  for (CLI::App* c : {key_rotate, key_revoke, key_list, key_report}) {
    if (c->parsed()) {
      key_args.action = c->get_name();
      return wlsync::cli::RunKey(node, key_args);
    }
  }
  for (CLI::App* c : {cert_revoke, cert_list, cert_reload}) {
    if (c->parsed()) {
      cert.action = c->get_name();
      return wlsync::cli::RunCert(node, cert);
    }
  }
  for (CLI::App* c : {fork_list, fork_clear}) {
    if (c->parsed()) {
      fork.action = c->get_name();
      return wlsync::cli::RunFork(node, fork);
    }
  }
  if (audit_verify->parsed()) return wlsync::cli::RunAuditVerify(node, audit_key);
  if (audit_export->parsed()) return wlsync::cli::RunAuditExport(node, audit_from);
  if (audit_who->parsed()) return wlsync::cli::RunAuditWhoSaw(node, audit_person, audit_since);
  if (audit_by->parsed()) return wlsync::cli::RunAuditByToken(node, audit_token, audit_since);
  return kExitUsage;
}
