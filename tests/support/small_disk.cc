#include "tests/support/small_disk.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

namespace wlsync::testing {

SmallDisk::SmallDisk(std::string dir, int mib) : dir_(std::move(dir)) {
  std::string options = "size=" + std::to_string(mib) + "m,mode=0700";
  mounted_ = mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0;
}

SmallDisk::~SmallDisk() {
  if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
}

size_t SmallDisk::Fill(const std::string& name) {
  int fd = open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return 0;
  std::string chunk(64 << 10, 'f');
  size_t total = 0;
  for (ssize_t n; (n = write(fd, chunk.data(), chunk.size())) > 0;) total += n;
  close(fd);
  return total;
}

}  // namespace wlsync::testing
