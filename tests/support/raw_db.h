// Opening a stopped node's data dir with RocksDB itself, every column family, as someone
// with the disk (not the node's API) would: for tests that damage or edit what is stored.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace wlsync::testing {

// The column families of an open data dir, by name.
using ColumnFamilies = std::map<std::string, rocksdb::ColumnFamilyHandle*>;

// Opens `data_dir` (the node must be stopped), calls `edit`, and closes it again.
void WithRawDb(const std::string& data_dir,
               const std::function<void(rocksdb::DB*, const ColumnFamilies&)>& edit);

}  // namespace wlsync::testing
