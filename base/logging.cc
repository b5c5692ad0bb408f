#include "base/logging.h"

#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/stubs/logging.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace wlsync::base {
namespace {

// Writes the message as a JSON string value: escapes quotes, backslashes, control bytes.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            int n = snprintf(buf, sizeof(buf), "\\u%04x", c);
            dest.append(buf, buf + n);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

struct Registry {
  std::mutex mu;
  std::shared_ptr<spdlog::sinks::sink> sink =
      std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  LogFormat format = LogFormat::kText;
  spdlog::level::level_enum level = spdlog::level::info;
  absl::flat_hash_map<std::string, std::shared_ptr<spdlog::logger>> loggers;
};

Registry& GetRegistry() {
  static auto* registry = new Registry();
  return *registry;
}

std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
  if (format == LogFormat::kText) {
    return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e%z %l [%n] %v");
  }
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<JsonMessageFlag>('*').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","component":"%n","msg":"%*"})");
  return f;
}

// libprotobuf's messages name fields and types, never values.
void LogFromProtobuf(google::protobuf::LogLevel level, const char* file, int line,
                     const std::string& message) {
  std::shared_ptr<spdlog::logger> log = Logger("protobuf");
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      log->info("source={}:{} {}", file, line, message);
      break;
    case google::protobuf::LOGLEVEL_WARNING:
      log->warn("source={}:{} {}", file, line, message);
      break;
    case google::protobuf::LOGLEVEL_ERROR:
      log->error("source={}:{} {}", file, line, message);
      break;
    case google::protobuf::LOGLEVEL_FATAL:
      log->critical("source={}:{} {}", file, line, message);
      break;
  }
}

}  // namespace

void ConfigureLogging(LogFormat format, std::string_view level) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.format = format;
  r.level = spdlog::level::from_str(std::string(level));
  r.sink->set_formatter(MakeFormatter(format));
  for (auto& [name, logger] : r.loggers) logger->set_level(r.level);
  google::protobuf::SetLogHandler(&LogFromProtobuf);
}

std::shared_ptr<spdlog::logger> Logger(std::string_view component) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.loggers.find(std::string(component));
  if (it != r.loggers.end()) return it->second;
  if (r.loggers.empty()) r.sink->set_formatter(MakeFormatter(r.format));
  auto logger = std::make_shared<spdlog::logger>(std::string(component), r.sink);
  logger->set_level(r.level);
  logger->flush_on(spdlog::level::warn);
  r.loggers.emplace(std::string(component), logger);
  return logger;
}

}  // namespace wlsync::base
