// Which requests the I/O thread may run itself instead of waking the
// compute thread: a handful of instructions on a few thousand elements, where
// the hand-off (a futex wake-up, tens of microseconds on a loaded core) would
// cost more than the work. The shapes read here are the request's own,
// unchecked: anything odd is simply "not cheap" and goes to the compute
// thread, whose validator rejects it properly.
#pragma once

#include "executor/server/program_cache.h"
#include "pelemay.pb.h"

namespace pelemay {

// At most this many instructions, and this many elements in every input,
// operand and result (so a dot is at most 4096 x 4096 multiply-adds), and
// only ops whose cost is linear in those elements or a small dot (see
// IoThreadFamily in inline_run.cc): a sort, a convolution or a
// factorisation goes to the compute thread however small.
inline constexpr int kInlineMaxInstructions = 32;
inline constexpr int64_t kInlineMaxElements = 4096;

// A run of an inline program is judged by the program it carries; a run by
// program_id by the compiled program in `cache` (unknown ids are "not
// cheap": the compute thread answers NOT_FOUND).
bool CheapEnoughForIoThread(const v1::Request& request, ProgramCache& cache);

}  // namespace pelemay
