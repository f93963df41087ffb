// GoogleTest entry point shared by every suite: applies PELEMAY_SIMD_TARGET
// first, so CTest can rerun each suite with SIMD dispatch capped to the lowest
// compiled target (128-bit, like the NEON boards users deploy on).
#include <csignal>
#include <cstdio>

#include <gtest/gtest.h>

#include "executor/kernels/simd_targets.h"

int main(int argc, char** argv) {
  // Suites that talk to an executor process (tests/executor_process.h) write
  // to its stdin; when it has just exited on purpose (bad input, injected
  // faults), the write must fail with EPIPE, which the tests check, instead
  // of killing the test binary with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  testing::InitGoogleTest(&argc, argv);
  const pelemay::Status st = pelemay::kernels::UseTargetFromEnvironment();
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 2;
  }
  std::printf("SIMD target: %s\n", pelemay::kernels::ChosenTarget().c_str());
  return RUN_ALL_TESTS();
}
