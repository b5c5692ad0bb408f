// A small tmpfs mounted on a directory for a test's lifetime, to fill a disk on purpose.
// Mounting needs CAP_SYS_ADMIN (root here and in CI); mounted() says whether it worked.
#pragma once

#include <string>

namespace wlsync::testing {

class SmallDisk {
 public:
  SmallDisk(std::string dir, int mib);
  ~SmallDisk();
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool mounted() const { return mounted_; }
  // Writes `name` until the disk is full; returns the bytes written.
  size_t Fill(const std::string& name);

 private:
  std::string dir_;
  bool mounted_ = false;
};

}  // namespace wlsync::testing
