// The shared-memory arena library (shared_mem/arena.h) on its own: names,
// creating and mapping, and the checks every access goes through.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "shared_mem/arena.h"

namespace pelemay::shm {
namespace {

// A fresh arena path of this test process, removed at the end.
struct TempArenaPath {
  TempArenaPath() {
    static uint64_t n = 1000;
    path = DefaultDirectory() + "/" + ArenaName(static_cast<uint64_t>(::getpid()), n++);
  }
  ~TempArenaPath() { Arena::Remove(path); }
  std::string path;
};

TEST(SharedMem, NamesSayWhoOwnsTheArena) {
  EXPECT_EQ(ArenaName(1234, 7), "pelemay-arena-1234-7");
  auto parts = ParseArenaName("pelemay-arena-1234-7");
  ASSERT_TRUE(parts);
  EXPECT_EQ(parts->owner_pid, 1234u);
  EXPECT_EQ(parts->n, 7u);
  for (const char* bad :
       {"pelemay-arena-", "pelemay-arena-12", "pelemay-arena-12-", "pelemay-arena--3", "pelemay-arena-1x-2",
        "pelemay-arena-1-2-3", "other-1-2", "pelemay-arena-+1-2", "pelemay-arena-99999999999999999999-1"})
    EXPECT_FALSE(ParseArenaName(bad)) << bad;
}

TEST(SharedMem, DefaultDirectoryIsRamBackedOnLinux) {
#if defined(__linux__)
  EXPECT_EQ(DefaultDirectory(), "/dev/shm");
#else
  EXPECT_TRUE(std::filesystem::is_directory(DefaultDirectory()));
#endif
}

TEST(SharedMem, CreateMapAndShareBytes) {
  TempArenaPath p;
  std::string error;
  auto owner = Arena::Create(p.path, 1 << 20, &error);
  ASSERT_TRUE(owner) << error;
  EXPECT_EQ(owner->size(), 1u << 20);
  EXPECT_EQ(std::filesystem::file_size(p.path), 1u << 20);
  auto other = Arena::Map(p.path, &error);
  ASSERT_TRUE(other) << error;
  ASSERT_EQ(other->size(), owner->size());
  // Two mappings of one file: writes through one are seen through the other,
  // and through ordinary file reads (what the BEAM does).
  auto w = owner->Slice(4096, 16, 4, &error);
  ASSERT_TRUE(w) << error;
  std::memcpy(w->data(), "0123456789abcdef", 16);
  auto r = other->Slice(4096, 16, 4, &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(std::memcmp(r->data(), "0123456789abcdef", 16), 0);
  std::ifstream f(p.path, std::ios::binary);
  f.seekg(4096);
  char buf[16];
  f.read(buf, 16);
  EXPECT_EQ(std::memcmp(buf, "0123456789abcdef", 16), 0);
  // The mapping outlives the other one (an executor dies, its owner keeps it).
  other.reset();
  EXPECT_EQ(std::memcmp(w->data(), "0123456789abcdef", 16), 0);
  owner.reset();
  EXPECT_TRUE(Arena::Remove(p.path));
  EXPECT_FALSE(std::filesystem::exists(p.path));
  EXPECT_FALSE(Arena::Remove(p.path));
}

TEST(SharedMem, MapRefusesMissingAndEmptyFiles) {
  TempArenaPath p;
  std::string error;
  EXPECT_FALSE(Arena::Map(p.path, &error));
  EXPECT_NE(error.find(p.path), std::string::npos) << error;
  { std::ofstream f(p.path); }
  error.clear();
  EXPECT_FALSE(Arena::Map(p.path, &error));
  EXPECT_NE(error.find("empty"), std::string::npos) << error;
}

TEST(SharedMem, SliceChecksBoundsAndAlignment) {
  TempArenaPath p;
  std::string error;
  auto a = Arena::Create(p.path, 8192, &error);
  ASSERT_TRUE(a) << error;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_TRUE(a->Slice(0, 8192, 64, &error));
  EXPECT_TRUE(a->Slice(8192, 0, 1, &error));   // empty, at the end
  EXPECT_TRUE(a->Slice(8188, 4, 4, &error));   // the last element
  EXPECT_FALSE(a->Slice(8188, 8, 4, &error));  // one past the end
  EXPECT_NE(error.find("not inside"), std::string::npos) << error;
  EXPECT_FALSE(a->Slice(8200, 0, 1, &error));      // empty, past the end
  EXPECT_FALSE(a->Slice(kMax - 3, 8, 4, &error));  // offset + length wraps around
  EXPECT_FALSE(a->Slice(8, kMax, 4, &error));
  EXPECT_FALSE(a->Slice(kMax, kMax, 1, &error));
  EXPECT_FALSE(a->Slice(2, 4, 4, &error));  // misaligned for f32
  EXPECT_NE(error.find("multiple"), std::string::npos) << error;
  EXPECT_FALSE(a->Slice(64, 4, 3, &error));  // not a power of two
  EXPECT_FALSE(a->Slice(64, 4, 0, &error));
  auto s = a->Slice(128, 64, 64, &error);
  ASSERT_TRUE(s);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(s->data()) % 64, 0u);
  EXPECT_EQ(s->data(), a->bytes().data() + 128);
}

TEST(SharedMem, OffsetOfKnowsWhatLiesInside) {
  TempArenaPath p;
  std::string error;
  auto a = Arena::Create(p.path, 4096, &error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->OffsetOf(a->bytes().subspan(100, 28)), std::optional<uint64_t>(100));
  EXPECT_EQ(a->OffsetOf(a->bytes()), std::optional<uint64_t>(0));
  std::byte outside[16];
  EXPECT_FALSE(a->OffsetOf(std::span<const std::byte>(outside, 16)));
  // Starts inside, runs past the end.
  EXPECT_FALSE(a->OffsetOf(std::span<const std::byte>(a->bytes().data() + 4090, 16)));
}

TEST(SharedMem, Overlap) {
  EXPECT_TRUE(Overlap(0, 10, 9, 1));
  EXPECT_FALSE(Overlap(0, 10, 10, 5));
  EXPECT_FALSE(Overlap(10, 5, 0, 10));
  EXPECT_TRUE(Overlap(0, 100, 10, 5));
  EXPECT_TRUE(Overlap(10, 5, 0, 100));
  EXPECT_FALSE(Overlap(5, 0, 0, 100));  // empty ranges overlap nothing
}

}  // namespace
}  // namespace pelemay::shm
