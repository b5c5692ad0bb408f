// One spdlog logger per component ("storage", "sync", "peer", "rpc", ...), all sharing
// one sink and one format: human-readable by default, one JSON object per line on request
// (time, level, component, msg, and the message's key=value context as members).
// Never pass personal data to a logger: log pids and counts.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "spdlog/logger.h"

namespace wlsync::base {

enum class LogFormat { kText, kJson };

// Sets the format and level ("trace".."off") for every component logger, existing and
// future. Call once at start-up; later calls replace the settings. Also sends libprotobuf's
// own messages (such as "String field ... contains invalid UTF-8 data", for every such
// message a peer sends) to the "protobuf" component, which would otherwise write them to
// stderr outside the format: a plain-text line in a JSON log.
void ConfigureLogging(LogFormat format, std::string_view level);

// The logger of `component`, created on first use. Thread safe.
std::shared_ptr<spdlog::logger> Logger(std::string_view component);

// The key=value context of a log message, as the JSON format adds it to each object:
// `key` is [a-z_][a-z0-9_.]*, `value` runs to the next space or is "quoted" (quote and
// backslash escaped with a backslash, as base::Quote writes them). Words that are not
// pairs are skipped; a repeated key, or one of time, level, component and msg, is dropped;
// an unterminated quote ends the context. Keys are views into `message`.
std::vector<std::pair<std::string_view, std::string>> ParseLogContext(std::string_view message);

}  // namespace wlsync::base

// Debian's Abseil has its own string_view type (absl::Status::message() returns it); this
// lets log lines format it like std::string_view.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
