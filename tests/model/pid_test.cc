#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "model/pid.h"

namespace wlsync::model {
namespace {

TEST_CASE("Pid: base32 of 16 bytes is 26 lowercase characters", "[model]") {
  uint8_t zeros[16] = {};
  REQUIRE(Base32Lower(zeros, 16) == std::string(26, 'a'));
  // RFC 4648 test vector "foobar" -> MZXW6YTBOI (upper case, padded).
  const char* foobar = "foobar";
  REQUIRE(Base32Lower(reinterpret_cast<const uint8_t*>(foobar), 6) == "mzxw6ytboi");
}

TEST_CASE("Pid: the same key and identity number give the same pid", "[model]") {
  FederationKey key = FederationKey::Generate();
  std::string a = key.Pid("44070420030404510X");
  REQUIRE(a == key.Pid("44070420030404510X"));
  REQUIRE(IsValidPid(a));
  REQUIRE(a != key.Pid("440704200304045104"));
  REQUIRE(FederationKey::Generate().Pid("44070420030404510X") != a);
}

TEST_CASE("Pid: a key written to a file reads back the same", "[model]") {
  auto dir = std::filesystem::temp_directory_path() / ("wlsync-pid-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "federation.key").string();
  FederationKey key = FederationKey::Generate();
  REQUIRE(key.WriteFile(path).ok());
  absl::StatusOr<FederationKey> loaded = FederationKey::LoadFile(path);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->Pid("440704199312307009") == key.Pid("440704199312307009"));
  auto perms = std::filesystem::status(path).permissions();
  REQUIRE((perms & std::filesystem::perms::group_read) == std::filesystem::perms::none);

  SECTION("a damaged key file is refused with a message naming the file") {
    REQUIRE(WriteFileAtomic(path, "not hex\n", 0600).ok());
    absl::StatusOr<FederationKey> bad = FederationKey::LoadFile(path);
    REQUIRE_FALSE(bad.ok());
    REQUIRE(bad.status().message().find(path) != std::string_view::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("Pid: IsValidPid refuses wrong length, alphabet and tail bits", "[model]") {
  REQUIRE(IsValidPid(std::string(26, 'a')));
  REQUIRE_FALSE(IsValidPid(std::string(25, 'a')));
  REQUIRE_FALSE(IsValidPid(std::string(25, 'a') + "1"));
  REQUIRE_FALSE(IsValidPid(std::string(25, 'a') + "b"));  // low bits must be zero
  REQUIRE_FALSE(IsValidPid(std::string(26, 'A')));

  // Every byte, in the middle and last: only the 32 characters of the alphabet, and last
  // only those whose value has its two low bits clear (a, e, i, ..., 2, 6).
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const size_t at = alphabet.find(c);
    INFO(b);
    CHECK(IsValidPid(std::string(12, 'a') + c + std::string(13, 'a')) == (at != std::string::npos));
    CHECK(IsValidPid(std::string(25, 'a') + c) == (at != std::string::npos && at % 4 == 0));
  }
  // Pids the federation key makes are valid.
  FederationKey key = FederationKey::Generate();
  for (int n = 0; n < 100; ++n) CHECK(IsValidPid(key.Pid("id" + std::to_string(n))));
}

TEST_CASE("Pid: HmacKey gives HMAC-SHA256 as computed from scratch, for keys of every size",
          "[model]") {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  CHECK(HexEncode(HmacKey("Jefe").Mac({"what do ya ", "want for nothing?"})) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 4231 test case 6: a 131-byte key (longer than a block, hashed first).
  CHECK(HexEncode(HmacKey(std::string(131, '\xaa'))
                      .Mac({"Test Using Larger Than Block-Size Key - Hash Key First"})) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  // The prepared key gives what a fresh one gives, and a second message is unaffected by
  // the first (the state is copied, not consumed).
  for (size_t size : {0, 1, 16, 32, 63, 64, 65, 200}) {
    std::string key(size, '\0');
    for (size_t i = 0; i < size; ++i) key[i] = static_cast<char>(i * 7 + 1);
    HmacKey prepared(key);
    INFO(size);
    for (const char* value :
         {"", "13812345678", "a longer value than one block of sixty-four bytes, to cross it"}) {
      CHECK(prepared.Tag("phone", value) == HmacKey(key).Tag("phone", value));
      CHECK(prepared.Tag("phone", value) == KeyedTag(key, "phone", value));
      CHECK(prepared.Tag("phone", value).size() == 16);
    }
  }
}

TEST_CASE("Pid: hex round-trips and refuses bad digits", "[model]") {
  REQUIRE(HexEncode("\x01\xab") == "01ab");
  REQUIRE(*HexDecode("01AB") == "\x01\xab");
  REQUIRE_FALSE(HexDecode("0").ok());
  REQUIRE_FALSE(HexDecode("zz").ok());
}

}  // namespace
}  // namespace wlsync::model
