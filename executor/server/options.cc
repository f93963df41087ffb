#include "executor/server/options.h"

#include <cctype>
#include <charconv>

namespace pelemay {

StatusOr<int64_t> ParseBytes(const std::string& text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || value < 0 || ptr == text.data())
    return InvalidArgument() << "'" << text << "' is not a byte count";
  int shift = 0;
  if (ptr != end) {
    switch (std::toupper(static_cast<unsigned char>(*ptr))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      default: return InvalidArgument() << "'" << text << "': unknown size suffix";
    }
    if (ptr + 1 != end) return InvalidArgument() << "'" << text << "' is not a byte count";
  }
  if (value > (INT64_MAX >> shift)) return InvalidArgument() << "'" << text << "' is too large";
  return value << shift;
}

namespace {
StatusOr<int64_t> ParseCount(const std::string& name, const std::string& text, int64_t min) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min)
    return InvalidArgument() << "--" << name << " needs an integer >= " << min << ", got '" << text << "'";
  return v;
}
}  // namespace

StatusOr<ExecutorOptions> ParseOptions(const std::vector<std::string>& args) {
  ExecutorOptions o;
  std::vector<std::string> positional;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "help") {
      o.mode = ExecutorOptions::Mode::kHelp;
      return o;
    }
    if (a.rfind("--", 0) != 0) {
      positional.push_back(a);
      continue;
    }
    if (a == "--enable-fault-injection") {
      o.enable_fault_injection = true;
      continue;
    }
    if (a == "--no-sandbox") {
      o.sandbox = false;
      continue;
    }
    if (a == "--spin-always") {
      o.spin_governor = false;
      continue;
    }
    const auto eq = a.find('=');
    const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::string value;
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return InvalidArgument() << "--" << name << " needs a value";
    }
    if (name == "memory-budget") {
      auto v = ParseBytes(value);
      if (!v.ok()) return v.status();
      if (*v < 4096) return InvalidArgument() << "--memory-budget must be at least 4K";
      o.memory_budget_bytes = *v;
    } else if (name == "max-frame") {
      auto v = ParseBytes(value);
      if (!v.ok()) return v.status();
      if (*v < 1024 || *v > 0xffffffffLL) return InvalidArgument() << "--max-frame must be between 1K and 4G-1";
      o.max_frame_bytes = *v;
    } else if (name == "threads") {
      auto v = ParseCount(name, value, 0);
      if (!v.ok()) return v.status();
      if (*v > 1024) return InvalidArgument() << "--threads is at most 1024";
      o.threads = static_cast<unsigned>(*v);
    } else if (name == "spin-us") {
      auto v = ParseCount(name, value, 0);
      if (!v.ok()) return v.status();
      if (*v > kMaxSpinUs) return InvalidArgument() << "--spin-us is at most " << kMaxSpinUs;
      o.spin_us = *v;
    } else if (name == "program-cache") {
      auto v = ParseCount(name, value, 1);
      if (!v.ok()) return v.status();
      o.program_cache = *v;
    } else if (name == "simd-target") {
      o.simd_target = value;
    } else if (name == "arena") {
      if (value.empty()) return InvalidArgument() << "--arena needs a path";
      o.arena_path = value;
    } else if (name == "repeat") {
      auto v = ParseCount(name, value, 1);
      if (!v.ok()) return v.status();
      o.repeat = *v;
    } else {
      return InvalidArgument() << "unknown option --" << name << " (see --help)";
    }
  }
  if (!positional.empty()) {
    if (positional[0] == "run") {
      if (positional.size() != 2) return InvalidArgument() << "usage: pelemay_executor run FILE";
      o.mode = ExecutorOptions::Mode::kRun;
      o.run_file = positional[1];
    } else if (positional[0] == "info") {
      if (positional.size() != 1) return InvalidArgument() << "usage: pelemay_executor info";
      o.mode = ExecutorOptions::Mode::kInfo;
    } else {
      return InvalidArgument() << "unknown command '" << positional[0] << "' (see --help)";
    }
  }
  return o;
}

int64_t EffectiveSpinUs(const ExecutorOptions& options, unsigned cpus) {
  if (options.spin_us >= 0) return options.spin_us;
  return cpus >= 2 ? kDefaultSpinUs : 0;
}

Status MapArena(ExecutorOptions* options) {
  if (options->arena_path.empty()) return Status::Ok();
  std::string error;
  auto arena = shm::Arena::Map(options->arena_path, &error);
  if (!arena) return InvalidArgument() << error;
  options->arena = std::move(arena);
  return Status::Ok();
}

std::string HelpText() {
  return R"(pelemay_executor - the sandboxed numerical executor of PelemayBackend

USAGE
  pelemay_executor [OPTIONS]            serve the protocol on stdin/stdout
  pelemay_executor run FILE [OPTIONS]   run one request file and print the result
  pelemay_executor info [OPTIONS]       print version, SIMD targets and limits
  pelemay_executor --help               this text

In the default mode the executor is a port program: the BEAM (or any peer)
writes pelemay.v1.Request messages, each as a 4-byte big-endian length and
the serialized bytes, and reads pelemay.v1.Response messages back in the
same framing. See docs/protocol.md. It exits when stdin closes, on a
shutdown request, or on SIGTERM.

`run FILE` is for debugging: FILE holds one Request (a `run` request with an
inline program) in protobuf text format, or binary. The outputs are printed
as readable tensors with the time taken. Examples: executor/examples/.

OPTIONS
  --memory-budget BYTES  most tensor memory one program may use (default 1G);
                         larger programs get RESOURCE_EXHAUSTED. Suffixes K, M, G.
  --max-frame BYTES      largest request frame accepted (default 256M)
  --threads N            threads for large ops (default 0 = cores available)
  --program-cache N      compiled programs kept, least recently used evicted
                         (default 256)
  --spin-us N            after handling a request while no run is computing,
                         poll stdin for N microseconds before sleeping, so a
                         request sent right after a reply needs no thread
                         wake-up (default 100 with 2 or more CPUs, else 0;
                         at most 10000; 0 = never spin). Costs at most N us of
                         one CPU each time the executor goes idle. The
                         polling moves to another CPU, or stops for a while,
                         where its thread finds its CPU shared with another
                         busy thread (it waits to run): see docs/benchmarks.md.
  --spin-always          poll for the whole --spin-us even on a shared CPU
                         (for measurements)
  --simd-target NAME     cap SIMD dispatch: best, lowest (scalar),
                         lowest-vector (128-bit), or a name that `info`
                         lists (e.g. AVX2, SSE4). The
                         environment variable PELEMAY_SIMD_TARGET does the same.
  --repeat N             run FILE: run N times and report the mean time
  --arena PATH           map this shared-memory arena at start-up (a file its
                         owner created and sized, e.g. /dev/shm/pelemay-
                         arena-<owner pid>-<n>): tensors with an `arena`
                         payload are read from it in place and outputs may be
                         written into it (RunRequest.output_arena). See the
                         arena section of docs/protocol.md.
  --no-sandbox           do not confine the process (for debugging with gdb
                         or strace). By default the port loop and `run FILE`
                         confine themselves after start-up: no new
                         privileges, no core dumps, rlimits on address space
                         (from --memory-budget) and open files, and a seccomp
                         allowlist that kills the process (SIGSYS) on any
                         other system call. See docs/security.md.
  --enable-fault-injection
                         obey FaultRequest messages (crash, hang, garbage
                         replies...). For fault-tolerance tests only; without
                         it fault requests are rejected with UNSUPPORTED.
)";
}

}  // namespace pelemay
