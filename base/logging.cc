#include "base/logging.h"

#include <algorithm>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "google/protobuf/stubs/logging.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace wlsync::base {
namespace {

// Appends `text` as the inside of a JSON string: escapes quotes, backslashes, control bytes.
void AppendJsonEscaped(std::string_view text, spdlog::memory_buf_t& dest) {
  for (char c : text) {
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

// Writes the message as a JSON string value.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    AppendJsonEscaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

// Writes the message's key=value context as JSON members (`,"peer":"guzhen"`), so that a
// collector can filter on them: see ParseLogContext.
class JsonContextFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (const auto& [key, value] :
         ParseLogContext(std::string_view(msg.payload.data(), msg.payload.size()))) {
      dest.append(std::string_view(",\""));
      dest.append(key);
      dest.append(std::string_view("\":\""));
      AppendJsonEscaped(value, dest);
      dest.push_back('"');
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonContextFlag>();
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
  f->add_flag<JsonMessageFlag>('*').add_flag<JsonContextFlag>('K').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","component":"%n","msg":"%*"%K})");
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

bool IsKeyChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || c == '_' || (!first && ((c >= '0' && c <= '9') || c == '.'));
}

}  // namespace

std::vector<std::pair<std::string_view, std::string>> ParseLogContext(std::string_view message) {
  std::vector<std::pair<std::string_view, std::string>> out;
  size_t i = 0;
  while (i < message.size()) {
    while (i < message.size() && message[i] == ' ') ++i;
    size_t key_start = i;
    while (i < message.size() && IsKeyChar(message[i], i == key_start)) ++i;
    std::string_view key = message.substr(key_start, i - key_start);
    if (key.empty() || i >= message.size() || message[i] != '=') {
      while (i < message.size() && message[i] != ' ') ++i;  // not a pair: skip the word
      continue;
    }
    ++i;  // '='
    std::string value;
    if (i < message.size() && message[i] == '"') {
      bool closed = false;
      for (++i; i < message.size(); ++i) {
        if (message[i] == '\\' && i + 1 < message.size()) {
          value.push_back(message[++i]);
        } else if (message[i] == '"') {
          closed = true;
          ++i;
          break;
        } else {
          value.push_back(message[i]);
        }
      }
      if (!closed) break;  // unterminated: stop here
    } else {
      size_t start = i;
      while (i < message.size() && message[i] != ' ') ++i;
      value = std::string(message.substr(start, i - start));
    }
    bool reserved = key == "time" || key == "level" || key == "component" || key == "msg";
    bool repeated =
        std::any_of(out.begin(), out.end(), [&](const auto& kv) { return kv.first == key; });
    if (!reserved && !repeated) out.emplace_back(key, std::move(value));
  }
  return out;
}

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
