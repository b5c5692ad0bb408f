// Shared by the libFuzzer targets of tests/fuzz and their seed generator: a scratch
// directory, the fixed test keys, and a check that aborts (so that libFuzzer keeps the
// input as a crash) when an invariant of the code under test breaks. Start with
// delta_fuzzer.cc; tests/fuzz/run.sh builds and runs every target.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "model/pid.h"
#include "sync/signer.h"

// Aborts with `what` when `cond` is false; libFuzzer then saves the input as a crash.
#define WLSYNC_FUZZ_CHECK(cond, what)                                                  \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", __FILE__, __LINE__, \
                   std::string(what).c_str());                                         \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace wlsync::fuzz {

// A new directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
// A process that crashes leaves it behind: tests/fuzz/run.sh points TMPDIR into the build
// dir and empties it before each run.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view tag);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const;

 private:
  std::string path_;
};

// The signing key of a test node, the same in every run (derived from `node`), so that the
// committed seed deltas verify. Test keys only: they sign nothing outside tests/fuzz.
sync::SigningKey TestSigningKey(const ScratchDir& dir, std::string_view node);

// The federation key of the test nodes, the same in every run.
model::FederationKey TestFederationKey(const ScratchDir& dir);

// The grids shipped in deploy/sample (synthetic), as the seed rows use them.
std::string SampleGridsPath();

}  // namespace wlsync::fuzz
