// The shared-memory arena: a fixed-size file in a RAM-backed directory
// (/dev/shm on Linux), memory-mapped by the executor and written and read by
// its owner (the BEAM) with ordinary positioned file I/O. Large tensors cross
// the process boundary through it: the owner writes inputs, the executor
// computes on them in place and writes outputs straight into it.
//
// Ownership: the owner creates the file, sizes it and removes it. Its name
// says who owns it: `pelemay-arena-<owner OS pid>-<n>`, so arenas left by an
// owner that died can be found and removed (PelemayBackend.Pool does it at
// start). The executor only maps an existing file (Arena::Map); it never
// creates, resizes or removes one.
//
// Every access goes through Slice(), which checks bounds (with overflow-safe
// arithmetic) and alignment before handing out a span; nothing here trusts an
// offset or a length it did not check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace pelemay::shm {

// Where arenas live by default: /dev/shm on Linux (tmpfs: RAM, never written
// to disk). Elsewhere the system's temporary directory (on macOS that is a
// per-user directory on disk whose pages stay in the unified buffer cache;
// on Windows, the user's temp directory).
std::string DefaultDirectory();

// "pelemay-arena-<owner_pid>-<n>".
std::string ArenaName(uint64_t owner_pid, uint64_t n);

struct ArenaNameParts {
  uint64_t owner_pid = 0;
  uint64_t n = 0;
};
// The parts of a file name made by ArenaName, or nothing for any other name.
std::optional<ArenaNameParts> ParseArenaName(const std::string& file_name);

class Arena {
 public:
  // Maps an existing arena file read-write, shared, whole (its size is the
  // file's). Fails (nullptr, *error set) if it does not exist, is empty, or
  // cannot be mapped. Pages are not pre-faulted: mapping a sparse arena
  // costs no memory.
  static std::unique_ptr<Arena> Map(const std::string& path, std::string* error);

  // Creates (or truncates) the file at `path` with `size` zero bytes and maps
  // it: what an owner does. For tests and tools; the BEAM does this itself.
  static std::unique_ptr<Arena> Create(const std::string& path, uint64_t size, std::string* error);

  // Removes an arena file. True if it existed and is gone.
  static bool Remove(const std::string& path);

  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Alignment of the mapping's start (a page, at least).
  static constexpr uint64_t kBaseAlignment = 4096;

  // [offset, offset + length) if it lies inside the arena and offset is a
  // multiple of `align` (a power of two); else an empty optional and *error
  // says why. A zero length at any offset <= size() is valid.
  std::optional<std::span<std::byte>> Slice(uint64_t offset, uint64_t length, uint64_t align, std::string* error) const;

  // The offset of `bytes` if the whole span lies inside the mapping.
  std::optional<uint64_t> OffsetOf(std::span<const std::byte> bytes) const;

  std::span<std::byte> bytes() const { return {base_, static_cast<size_t>(size_)}; }

 private:
  struct Mapping;
  Arena(std::string path, std::unique_ptr<Mapping> mapping);

  std::string path_;
  std::unique_ptr<Mapping> mapping_;
  std::byte* base_ = nullptr;
  uint64_t size_ = 0;
};

// True if [a_offset, a_offset + a_length) and [b_offset, b_offset + b_length)
// share a byte (empty ranges share none). Inputs must already be in bounds.
bool Overlap(uint64_t a_offset, uint64_t a_length, uint64_t b_offset, uint64_t b_length);

}  // namespace pelemay::shm
