#include "executor/kernels/simd_targets.h"

#include <cstdlib>

#include <hwy/highway.h>
#include <hwy/targets.h>

namespace pelemay::kernels {
namespace {

// Targets compiled into pelemay_kernels (HWY_TARGETS there, with
// HWY_COMPILE_ALL_ATTAINABLE) and supported by this CPU, best first.
std::vector<int64_t> Available() {
  // SupportedAndGeneratedTargets lists lowest bit first; on every
  // architecture a lower bit is a better target.
  return hwy::SupportedAndGeneratedTargets();
}

int64_t g_pinned = 0;  // 0 = no cap

void Apply(int64_t mask) {
  hwy::SetSupportedTargetsForTest(mask);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

}  // namespace

std::vector<std::string> CompiledTargets() {
  std::vector<std::string> names;
  // Read the real CPU support, not a test pin.
  hwy::SetSupportedTargetsForTest(0);
  for (int64_t t : Available()) names.emplace_back(hwy::TargetName(t));
  if (g_pinned != 0) Apply(g_pinned);
  return names;
}

std::string ChosenTarget() {
  const auto targets = hwy::SupportedAndGeneratedTargets();
  return targets.empty() ? "none" : hwy::TargetName(targets.front());
}

Status UseTarget(const std::string& name) {
  hwy::SetSupportedTargetsForTest(0);
  const auto targets = Available();
  int64_t pick = 0;
  if (name == "best") {
    g_pinned = 0;
    Apply(0);
    return Status::Ok();
  }
  if (name == "lowest") {
    pick = targets.back();
  } else if (name == "lowest-vector") {
    // The narrowest real SIMD target: 128-bit on x86 (SSSE3) and Arm (NEON).
    for (int64_t t : targets)
      if (t != HWY_SCALAR && t != HWY_EMU128) pick = t;
    if (pick == 0) pick = targets.back();
  } else {
    for (int64_t t : targets)
      if (name == hwy::TargetName(t)) pick = t;
  }
  if (pick == 0) {
    std::string known;
    for (int64_t t : targets) known += std::string(known.empty() ? "" : ", ") + hwy::TargetName(t);
    if (g_pinned != 0) Apply(g_pinned);
    return InvalidArgument() << "unknown SIMD target '" << name << "'; this CPU and build offer: " << known
                             << " (or 'best', 'lowest', 'lowest-vector')";
  }
  g_pinned = pick;
  Apply(pick);
  return Status::Ok();
}

Status UseTargetFromEnvironment() {
  const char* env = std::getenv("PELEMAY_SIMD_TARGET");
  if (env == nullptr || *env == '\0') return Status::Ok();
  return UseTarget(env);
}

void ForEachTarget(const std::function<void(const std::string&)>& fn) {
  const int64_t saved = g_pinned;
  hwy::SetSupportedTargetsForTest(0);
  for (int64_t t : Available()) {
    Apply(t);
    fn(hwy::TargetName(t));
  }
  g_pinned = saved;
  Apply(saved);
}

}  // namespace pelemay::kernels
