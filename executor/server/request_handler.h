// What the executor does with each request, independent of how requests
// arrive: the port loop, the `run` command and the tests all call this.
//
// Work requests (run, compile) may take long and are called on the compute
// thread; quick requests (stats, info, ping, release) are answered on the I/O
// thread even while work runs. Cancel and shutdown belong to the port loop,
// which owns the queue.
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <vector>

#include "executor/core/thread_pool.h"
#include "executor/server/fault_injection.h"
#include "executor/server/options.h"
#include "executor/server/program_cache.h"
#include "executor/validate/program_types.h"
#include "pelemay.pb.h"

namespace pelemay {

class RequestHandler {
 public:
  explicit RequestHandler(const ExecutorOptions& options);

  static bool IsWork(const v1::Request& request);

  // run / compile. `cancelled` may be set from another thread to stop it.
  // `reply` (if given) receives how an injected fault wants the response sent.
  v1::Response HandleWork(const v1::Request& request, const std::atomic<bool>* cancelled,
                          FaultInjector::Reply* reply = nullptr);
  // stats / info / ping / release.
  v1::Response HandleQuick(const v1::Request& request);

  v1::Info Info() const;
  v1::Stats Stats() const;
  void CountBytes(uint64_t in, uint64_t out) {
    bytes_in_ += in;
    bytes_out_ += out;
  }
  void CountRequest() { ++requests_; }
  void CountError() { ++errors_; }
  const Limits& limits() const { return limits_; }
  FaultInjector& faults() { return faults_; }
  ProgramCache& cache() { return cache_; }

  static v1::Response ErrorResponse(uint64_t id, const Status& status);

 private:
  v1::Response Run(const v1::Request& request, const std::atomic<bool>* cancelled, FaultInjector::Reply* reply);
  v1::Response Compile(const v1::Request& request);

  ExecutorOptions options_;
  Limits limits_;
  ThreadPool pool_;
  ProgramCache cache_;
  FaultInjector faults_;
  std::atomic<uint64_t> requests_{0}, runs_{0}, errors_{0}, bytes_in_{0}, bytes_out_{0};
  std::atomic<bool> busy_{false};
  std::vector<std::string> compiled_targets_;  // read once: querying re-pins dispatch
};

// Outputs placed in the arena start on multiples of this.
inline constexpr uint64_t kArenaOutputAlignment = 64;

// The arena slots of a run's outputs (RunContext::output_slots) from its
// RunRequest.output_arena, checked against the arena and the run's arena
// inputs; empty when the request grants no region. See docs/protocol.md.
StatusOr<std::vector<std::span<std::byte>>> PlaceOutputs(const v1::RunRequest& run, const CheckedProgram& program,
                                                         const shm::Arena* arena);

// RssAnon of this process in bytes, 0 where the platform does not say.
uint64_t RssAnonBytes();

}  // namespace pelemay
