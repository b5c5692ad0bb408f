// Prometheus exposition of a node's metrics. Most families are computed at scrape time from
// the components' own counters (base/tally.h, WriterStats, StoreStats, ...) by sources the
// node registers; latency histograms are observed as calls end. HttpServer serves the text
// format on a separate listener. Only this library knows prometheus-cpp; start with Registry,
// then see daemon/node_metrics.cc for what a node exports.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace wlsync::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class Type { kCounter, kGauge };

// One metric family as it stands at a scrape. Counter names end in "_total".
struct Family {
  std::string name;
  std::string help;
  Type type = Type::kGauge;
  std::vector<std::pair<Labels, double>> samples;

  Family(std::string name, std::string help, Type type)
      : name(std::move(name)), help(std::move(help)), type(type) {}
  void Add(Labels labels, double value) { samples.emplace_back(std::move(labels), value); }
};

// Cumulative histograms of one quantity (seconds, say), one per label tuple. The caller
// bounds the label values. Thread safe.
class Histogram {
 public:
  Histogram(std::string name, std::string help, std::vector<double> upper_bounds);

  void Observe(const Labels& labels, double value);

  struct Series {
    std::vector<uint64_t> buckets;  // per upper bound, not cumulative; last is +Inf
    uint64_t count = 0;
    double sum = 0;
  };
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  std::map<Labels, Series> Snapshot() const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<double> upper_bounds_;
  mutable std::mutex mu_;
  std::map<Labels, Series> series_;  // guarded by mu_
};

// What one scrape shows: the histograms it owns and the families its sources compute.
// Sources and histograms are added before the registry is served; Render and the
// histograms' Observe are thread safe from then on.
class Registry {
 public:
  using Source = std::function<void(std::vector<Family>* out)>;

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // `source` is called at every scrape, on the HTTP server's thread.
  void AddSource(Source source) { sources_.push_back(std::move(source)); }
  // A histogram owned by the registry; the reference stays valid as long as it.
  Histogram& AddHistogram(std::string name, std::string help, std::vector<double> upper_bounds);

  // The Prometheus text exposition format, as GET /metrics returns it.
  std::string Render() const;

  // Every family of one scrape (histograms excluded), for tests and `Render`.
  std::vector<Family> Collect() const;

 private:
  friend class HttpServer;
  std::vector<Source> sources_;
  std::vector<std::unique_ptr<Histogram>> histograms_;
};

// Serves GET /metrics (the registry's text format) on its own HTTP listener, with
// prometheus-cpp's exposer (civetweb). Lifecycle: Start, then destroy to stop; the
// registry must outlive it.
class HttpServer {
 public:
  // `listen` is HOST:PORT (IPv6 hosts in brackets); port 0 picks a free port. Fails with
  // UNAVAILABLE, naming the address, when it cannot listen there.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                           const Registry& registry);
  ~HttpServer();

  int port() const { return port_; }

 private:
  struct Impl;
  HttpServer(std::unique_ptr<Impl> impl, int port);
  std::unique_ptr<Impl> impl_;
  int port_;
};

}  // namespace wlsync::metrics
