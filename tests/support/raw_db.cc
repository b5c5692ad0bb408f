#include "tests/support/raw_db.h"

#include <rocksdb/db.h>

#include <vector>

#include <catch2/catch.hpp>

namespace wlsync::testing {

void WithRawDb(const std::string& data_dir,
               const std::function<void(rocksdb::DB*, const ColumnFamilies&)>& edit) {
  std::vector<std::string> names;
  REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), data_dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), data_dir, cfs, &handles, &db).ok());
  ColumnFamilies by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = handles[i];
  edit(db, by_name);
  for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

}  // namespace wlsync::testing
