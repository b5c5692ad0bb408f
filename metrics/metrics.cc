#include "metrics/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <exception>
#include <sstream>

#include "base/strings.h"

namespace wlsync::metrics {
namespace {

// LIMITATION: civetweb serves one connection per worker: more than kWorkers connections that
// send nothing keep scrapes out for up to kRequestTimeoutMs each time. The listener belongs
// on loopback or a management network (the default is loopback).
constexpr int kWorkers = 16;
constexpr int kRequestTimeoutMs = 3000;

std::vector<prometheus::ClientMetric::Label> ToLabels(const Labels& labels) {
  std::vector<prometheus::ClientMetric::Label> out;
  out.reserve(labels.size());
  for (const auto& [name, value] : labels) out.push_back({name, value});
  return out;
}

prometheus::MetricFamily ToPrometheus(const Family& family) {
  prometheus::MetricFamily out;
  out.name = family.name;
  out.help = family.help;
  out.type = family.type == Type::kCounter ? prometheus::MetricType::Counter
                                           : prometheus::MetricType::Gauge;
  for (const auto& [labels, value] : family.samples) {
    prometheus::ClientMetric m;
    m.label = ToLabels(labels);
    if (family.type == Type::kCounter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    out.metric.push_back(std::move(m));
  }
  return out;
}

prometheus::MetricFamily ToPrometheus(const Histogram& histogram) {
  prometheus::MetricFamily out;
  out.name = histogram.name();
  out.help = histogram.help();
  out.type = prometheus::MetricType::Histogram;
  const std::vector<double>& bounds = histogram.upper_bounds();
  for (const auto& [labels, series] : histogram.Snapshot()) {
    prometheus::ClientMetric m;
    m.label = ToLabels(labels);
    m.histogram.sample_count = series.count;
    m.histogram.sample_sum = series.sum;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < series.buckets.size(); ++i) {
      cumulative += series.buckets[i];
      double bound = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    out.metric.push_back(std::move(m));
  }
  return out;
}

std::vector<prometheus::MetricFamily> CollectAll(const Registry& registry,
                                                 const std::vector<const Histogram*>& histograms) {
  std::vector<prometheus::MetricFamily> out;
  for (const Family& f : registry.Collect()) out.push_back(ToPrometheus(f));
  for (const Histogram* h : histograms) out.push_back(ToPrometheus(*h));
  return out;
}

// What prometheus-cpp's exposer scrapes.
class Adapter final : public prometheus::Collectable {
 public:
  Adapter(const Registry& registry, std::vector<const Histogram*> histograms)
      : registry_(registry), histograms_(std::move(histograms)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    return CollectAll(registry_, histograms_);
  }

 private:
  const Registry& registry_;
  const std::vector<const Histogram*> histograms_;
};

}  // namespace

Histogram::Histogram(std::string name, std::string help, std::vector<double> upper_bounds)
    : name_(std::move(name)), help_(std::move(help)), upper_bounds_(std::move(upper_bounds)) {}

void Histogram::Observe(const Labels& labels, double value) {
  size_t bucket = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) -
                  upper_bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = series_[labels];
  if (s.buckets.empty()) s.buckets.assign(upper_bounds_.size() + 1, 0);
  ++s.buckets[bucket];
  ++s.count;
  s.sum += value;
}

std::map<Labels, Histogram::Series> Histogram::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_;
}

Histogram& Registry::AddHistogram(std::string name, std::string help,
                                  std::vector<double> upper_bounds) {
  histograms_.push_back(
      std::make_unique<Histogram>(std::move(name), std::move(help), std::move(upper_bounds)));
  return *histograms_.back();
}

std::vector<Family> Registry::Collect() const {
  std::vector<Family> out;
  for (const Source& source : sources_) source(&out);
  return out;
}

std::string Registry::Render() const {
  std::vector<const Histogram*> histograms;
  for (const auto& h : histograms_) histograms.push_back(h.get());
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, CollectAll(*this, histograms));
  return out.str();
}

struct HttpServer::Impl {
  std::shared_ptr<Adapter> adapter;
  std::unique_ptr<prometheus::Exposer> exposer;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl, int port)
    : impl_(std::move(impl)), port_(port) {}

HttpServer::~HttpServer() {
  // Stop serving before the adapter (and the registry behind it) can go away.
  impl_->exposer.reset();
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                              const Registry& registry) {
  auto impl = std::make_unique<Impl>();
  std::vector<const Histogram*> histograms;
  for (const auto& h : registry.histograms_) histograms.push_back(h.get());
  impl->adapter = std::make_shared<Adapter>(registry, std::move(histograms));
  // civetweb reports a listener it cannot open by throwing from the constructor.
  try {
    // Enough workers that a few idle or slow connections cannot keep scrapes out, and a
    // short request timeout that frees a worker from a connection that says nothing.
    impl->exposer = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", listen, "num_threads", std::to_string(kWorkers),
        "request_timeout_ms", std::to_string(kRequestTimeoutMs)});
  } catch (const std::exception& e) {
    return absl::UnavailableError(base::StrCat("metrics.listen: cannot listen on ", listen,
                                               " (in use or invalid): ", e.what()));
  }
  std::vector<int> ports = impl->exposer->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(base::StrCat("metrics.listen: cannot listen on ", listen));
  }
  impl->exposer->RegisterCollectable(impl->adapter, "/metrics");
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), ports.front()));
}

}  // namespace wlsync::metrics
