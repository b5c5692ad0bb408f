#include "tests/fuzz/fuzz_support.h"

#include <stdlib.h>

#include <filesystem>
#include <system_error>

#include "base/strings.h"

namespace wlsync::fuzz {
namespace {

// 64 hex characters derived from `what`: a fixed test secret.
std::string TestSecretHex(std::string_view what) {
  return model::HexEncode(sync::Sha256(base::StrCat("wlsync/fuzz/test-key/", what)));
}

template <typename Key>
Key LoadOrDie(absl::StatusOr<Key> key, std::string_view what) {
  WLSYNC_FUZZ_CHECK(key.ok(), base::StrCat(what, ": ", key.status().message()));
  return *std::move(key);
}

}  // namespace

ScratchDir::ScratchDir(std::string_view tag) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      base::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/wlsync-fuzz-", tag, "-XXXXXX");
  WLSYNC_FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr, "mkdtemp " + pattern);
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string ScratchDir::operator/(std::string_view name) const {
  return base::StrCat(path_, "/", name);
}

sync::SigningKey TestSigningKey(const ScratchDir& dir, std::string_view node) {
  std::string path = dir / base::StrCat("signing-", node, ".key");
  absl::Status written =
      model::WriteFileAtomic(path, TestSecretHex(base::StrCat("signing/", node)) + "\n", 0600);
  WLSYNC_FUZZ_CHECK(written.ok(), written.message());
  return LoadOrDie(sync::SigningKey::LoadFile(path), "test signing key");
}

model::FederationKey TestFederationKey(const ScratchDir& dir) {
  std::string path = dir / "federation.key";
  absl::Status written = model::WriteFileAtomic(path, TestSecretHex("federation") + "\n", 0600);
  WLSYNC_FUZZ_CHECK(written.ok(), written.message());
  return LoadOrDie(model::FederationKey::LoadFile(path), "test federation key");
}

std::string SampleGridsPath() { return WLSYNC_SOURCE_DIR "/deploy/sample/grids.csv"; }

}  // namespace wlsync::fuzz
