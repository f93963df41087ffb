// The port loop: reads framed requests from an input descriptor and writes
// framed responses to an output descriptor with Boost.Asio.
//
// Threads: the I/O thread reads, answers quick requests (stats, info, ping,
// release, cancel) and writes every response; one compute thread takes run
// and compile requests from a FIFO queue, so a long run never delays a ping
// or a cancel. Kernels inside a run use the handler's thread pool.
//
// Exit: on end of input (the owner is gone), a shutdown request, or SIGTERM /
// SIGINT, the running request is cancelled and the loop returns once the
// compute thread has stopped and pending responses are written.
#pragma once

#include "executor/sandbox/sandbox.h"
#include "executor/server/options.h"

namespace pelemay {

// Exit codes of the port loop.
enum PortExit : int {
  kExitOk = 0,         // EOF at a frame boundary, shutdown or SIGTERM
  kExitTruncated = 3,  // input ended inside a frame
  kExitIoError = 4,    // reading or writing failed
  kExitSandbox = 5,    // the sandbox could not be applied (docs/security.md)
};

// Serves until exit; returns a PortExit code. in_fd/out_fd are normally 0/1.
// Unless options.sandbox is false, the process confines itself (sandbox.h)
// once every descriptor and thread the loop needs exists, before it reads
// the first request.
int ServePort(const ExecutorOptions& options, int in_fd, int out_fd);

// The limits the sandbox derives its rlimits from (also used by `run FILE`).
sandbox::Limits SandboxLimits(const ExecutorOptions& options, unsigned pool_threads);

}  // namespace pelemay
