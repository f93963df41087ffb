// Which Highway targets are compiled in, which one dispatch picked, and a way
// to cap it (the --simd-target option, PELEMAY_SIMD_TARGET, and tests that
// run every kernel on every target).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "executor/core/status.h"

namespace pelemay::kernels {

// Names of the targets compiled into this binary and supported by this CPU,
// best first (e.g. "AVX3", "AVX2", "SSE4", "SSSE3", "EMU128").
std::vector<std::string> CompiledTargets();
// The target HWY_DYNAMIC_DISPATCH uses now.
std::string ChosenTarget();
// Restricts dispatch to `name`: one of CompiledTargets(), "best", "lowest"
// (the scalar fallback) or "lowest-vector" (the narrowest SIMD target: 128-bit
// SSSE3 on x86, NEON on Arm). INVALID_ARGUMENT for an unknown name.
Status UseTarget(const std::string& name);
// Applies PELEMAY_SIMD_TARGET from the environment if set.
Status UseTargetFromEnvironment();
// Runs fn once per compiled target with dispatch pinned to it, then restores
// the previous choice. fn receives the target's name.
void ForEachTarget(const std::function<void(const std::string&)>& fn);

}  // namespace pelemay::kernels
