// Deliberate faults for the fault-tolerance tests and the chaos suite. Only
// an executor started with --enable-fault-injection obeys fault requests;
// any other rejects them with UNSUPPORTED. This is test machinery compiled
// into the product on purpose: the port layer's crash handling is a feature
// and needs a real process crashing in every way it can.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>

#include "executor/core/status.h"
#include "pelemay.pb.h"

namespace pelemay {

class FaultInjector {
 public:
  explicit FaultInjector(bool enabled, int64_t memory_budget)
      : enabled_(enabled), budget_(memory_budget) {}

  bool enabled() const { return enabled_; }

  // What the port loop must do with the reply of the request that faulted.
  enum class Reply { kNormal, kGarbage, kTruncatedThenExit };

  // A fault request arrived. Fatal kinds with when=NOW do not return.
  // Returns the reply treatment, or an error (disabled, unknown kind, or
  // ALLOCATE's RESOURCE_EXHAUSTED).
  StatusOr<Reply> Handle(const v1::FaultRequest& fault);

  // Called by the interpreter after each instruction of a run (on the
  // compute thread): fires an armed DURING_NEXT_RUN fault and applies SLOW.
  // Returns a status to fail the run with (ALLOCATE), and the reply
  // treatment for the run's response.
  Status AfterInstruction(size_t index, Reply* reply);

  // Writes the bytes of a garbage frame or a truncated frame.
  static std::string GarbageFrame();
  static std::string TruncatedFrame();

 private:
  [[noreturn]] static void Die(const v1::FaultRequest& fault);
  Status Allocate();
  Reply Fire(const v1::FaultRequest& fault, Status* status);

  const bool enabled_;
  const int64_t budget_;
  std::mutex mu_;
  std::optional<v1::FaultRequest> armed_;  // DURING_NEXT_RUN
  std::atomic<uint64_t> slow_ms_{0};
};

}  // namespace pelemay
