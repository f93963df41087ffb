#include "shared_mem/arena.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <boost/interprocess/exceptions.hpp>
#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>

namespace pelemay::shm {

namespace bip = boost::interprocess;

std::string DefaultDirectory() {
#if defined(__linux__)
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec)) return "/dev/shm";
#endif
  std::error_code ec2;
  auto tmp = std::filesystem::temp_directory_path(ec2);
  return ec2 ? std::string(".") : tmp.string();
}

std::string ArenaName(uint64_t owner_pid, uint64_t n) {
  return "pelemay-arena-" + std::to_string(owner_pid) + "-" + std::to_string(n);
}

namespace {

// A run of decimal digits (no sign, no leading '+', at most 19 digits so it
// fits a uint64_t), or nothing.
std::optional<uint64_t> ParseDecimal(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

std::optional<ArenaNameParts> ParseArenaName(const std::string& file_name) {
  static const std::string kPrefix = "pelemay-arena-";
  if (file_name.rfind(kPrefix, 0) != 0) return std::nullopt;
  const std::string rest = file_name.substr(kPrefix.size());
  const size_t dash = rest.find('-');
  if (dash == std::string::npos) return std::nullopt;
  auto pid = ParseDecimal(rest.substr(0, dash));
  auto n = ParseDecimal(rest.substr(dash + 1));
  if (!pid || !n) return std::nullopt;
  return ArenaNameParts{*pid, *n};
}

struct Arena::Mapping {
  bip::file_mapping file;
  bip::mapped_region region;
};

Arena::Arena(std::string path, std::unique_ptr<Mapping> mapping)
    : path_(std::move(path)),
      mapping_(std::move(mapping)),
      base_(static_cast<std::byte*>(mapping_->region.get_address())),
      size_(static_cast<uint64_t>(mapping_->region.get_size())) {}

Arena::~Arena() = default;

std::unique_ptr<Arena> Arena::Map(const std::string& path, std::string* error) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    *error = "cannot map the arena " + path + ": " + ec.message();
    return nullptr;
  }
  if (size == 0) {
    *error = "cannot map the arena " + path + ": the file is empty (its owner sizes it)";
    return nullptr;
  }
  try {
    auto m = std::make_unique<Mapping>();
    m->file = bip::file_mapping(path.c_str(), bip::read_write);
    // Not pre-faulted (no MAP_POPULATE): on tmpfs that would allocate every
    // page of a sparse arena at once. The owner allocates pages as requests
    // need them; each is faulted in here once, on first touch.
    m->region = bip::mapped_region(m->file, bip::read_write);
    if (m->region.get_size() != size) {
      *error = "cannot map the arena " + path + ": the file changed size while being mapped";
      return nullptr;
    }
    return std::unique_ptr<Arena>(new Arena(path, std::move(m)));
  } catch (const bip::interprocess_exception& e) {
    *error = "cannot map the arena " + path + ": " + e.what();
    return nullptr;
  }
}

std::unique_ptr<Arena> Arena::Create(const std::string& path, uint64_t size, std::string* error) {
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) {
      *error = "cannot create the arena " + path;
      return nullptr;
    }
  }
  std::error_code ec;
  std::filesystem::resize_file(path, size, ec);
  if (ec) {
    *error = "cannot size the arena " + path + ": " + ec.message();
    Remove(path);
    return nullptr;
  }
  return Map(path, error);
}

bool Arena::Remove(const std::string& path) {
  std::error_code ec;
  return std::filesystem::remove(path, ec);
}

std::optional<std::span<std::byte>> Arena::Slice(uint64_t offset, uint64_t length, uint64_t align,
                                                 std::string* error) const {
  if (align == 0 || (align & (align - 1)) != 0) {
    *error = "alignment " + std::to_string(align) + " is not a power of two";
    return std::nullopt;
  }
  uint64_t end = 0;
  if (__builtin_add_overflow(offset, length, &end) || end > size_) {
    *error = "[" + std::to_string(offset) + ", " + std::to_string(offset) + " + " + std::to_string(length) +
             ") is not inside the arena of " + std::to_string(size_) + " bytes";
    return std::nullopt;
  }
  // The mapping starts on a page boundary, so offset alignment is address
  // alignment for any align up to a page.
  if (offset % align != 0) {
    *error = "offset " + std::to_string(offset) + " is not a multiple of " + std::to_string(align);
    return std::nullopt;
  }
  return std::span<std::byte>(base_ + offset, static_cast<size_t>(length));
}

std::optional<uint64_t> Arena::OffsetOf(std::span<const std::byte> bytes) const {
  const auto p = reinterpret_cast<uintptr_t>(bytes.data());
  const auto b = reinterpret_cast<uintptr_t>(base_);
  if (bytes.data() == nullptr || p < b) return std::nullopt;
  const uint64_t off = p - b;
  if (off > size_ || bytes.size() > size_ - off) return std::nullopt;
  return off;
}

bool Overlap(uint64_t a_offset, uint64_t a_length, uint64_t b_offset, uint64_t b_length) {
  if (a_length == 0 || b_length == 0) return false;
  return a_offset < b_offset + b_length && b_offset < a_offset + a_length;
}

}  // namespace pelemay::shm
