#include "executor/server/program_cache.h"

namespace pelemay {

uint64_t ProgramCache::Insert(std::shared_ptr<const CheckedProgram> program) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_id_++;
  lru_.emplace_front(id, std::move(program));
  index_[id] = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return id;
}

std::shared_ptr<const CheckedProgram> ProgramCache::Find(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

bool ProgramCache::Release(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return false;
  lru_.erase(it->second);
  index_.erase(it);
  return true;
}

size_t ProgramCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace pelemay
