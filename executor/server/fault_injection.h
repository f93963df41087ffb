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
  explicit FaultInjector(bool enabled, int64_t memory_budget) : enabled_(enabled), budget_(memory_budget) {}

  bool enabled() const { return enabled_; }

  // No fault armed for the next run and no executor-wide SLOW: a run can
  // only be as slow as its own work.
  bool Quiet() {
    if (!enabled_) return true;
    std::lock_guard<std::mutex> lock(mu_);
    return !armed_ && slow_ms_.load() == 0;
  }

  // What the port loop must do with the reply of the request that faulted.
  enum class Reply { kNormal, kGarbage, kTruncatedThenExit };

  // A fault request arrived. Fatal kinds with when=NOW do not return.
  // Returns the reply treatment, or an error (disabled, unknown kind, or
  // ALLOCATE's RESOURCE_EXHAUSTED).
  StatusOr<Reply> Handle(const v1::FaultRequest& fault);

  // A run request carries a fault of its own (RunRequest.fault): checks it
  // (disabled, unknown kind), then fires it if it is due before the first
  // instruction (when=NOW). Fatal kinds do not return.
  Status BeforeRun(const v1::FaultRequest& own, Reply* reply);

  // Called by the interpreter after each instruction of a run (on the
  // compute thread): fires the run's own DURING_NEXT_RUN fault (`own`, may
  // be null) after its first instruction, then an armed DURING_NEXT_RUN
  // FaultRequest, and applies SLOW (the executor-wide one and the run's own).
  // Returns a status to fail the run with (ALLOCATE), and the reply
  // treatment for the run's response.
  Status AfterInstruction(size_t index, const v1::FaultRequest* own, Reply* reply);

  // Writes the bytes of a garbage frame or a truncated frame.
  static std::string GarbageFrame();
  static std::string TruncatedFrame();

 private:
  [[noreturn]] static void Die(const v1::FaultRequest& fault);
  Status Allocate();
  static Status TryForbidden(v1::FaultRequest::Kind kind);
  Reply Fire(const v1::FaultRequest& fault, Status* status);
  Status Check(const v1::FaultRequest& fault) const;

  const bool enabled_;
  const int64_t budget_;
  std::mutex mu_;
  std::optional<v1::FaultRequest> armed_;  // DURING_NEXT_RUN
  std::atomic<uint64_t> slow_ms_{0};
};

}  // namespace pelemay
