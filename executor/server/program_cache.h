// Compiled programs, kept by id with least-recently-used eviction. Programs
// are shared_ptr so one that is running stays alive if it is released or
// evicted meanwhile. Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "executor/validate/program_types.h"

namespace pelemay {

class ProgramCache {
 public:
  explicit ProgramCache(size_t capacity) : capacity_(capacity) {}

  uint64_t Insert(std::shared_ptr<const CheckedProgram> program);
  std::shared_ptr<const CheckedProgram> Find(uint64_t id);  // null if unknown
  bool Release(uint64_t id);
  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  using Entry = std::pair<uint64_t, std::shared_ptr<const CheckedProgram>>;
  size_t capacity_;
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::list<Entry> lru_;  // most recent first
  std::unordered_map<uint64_t, std::list<Entry>::iterator> index_;
};

}  // namespace pelemay
