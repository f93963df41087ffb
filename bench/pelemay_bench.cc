// pelemay_bench: single-threaded kernel throughput against same-process
// baselines (memcpy for memory-bound kernels, OpenBLAS sgemm for dot, a
// direct loop for conv), then a
// table of ratios with the targets the kernels are held to.
//
// Run it with OpenBLAS's core and cache overrides removed, so OpenBLAS picks
// its own best kernel for this CPU (a CI or container environment may pin a
// conservative one and flatter us):
//   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ./build/bench/pelemay_bench
// Google Benchmark flags work as usual; on a shared machine add
// --benchmark_repetitions=3: the summary takes each side's best run.
//
// Bandwidth is counted the same way everywhere: every byte read plus every
// byte written. add over n f32 moves 3 * 4n bytes (two inputs, one output),
// exp 2 * 4n, sum 4n; memcpy of X bytes moves 2X. The memcpy baselines copy
// 1.5 * 4n bytes so they move exactly what add does, over the same working
// set size.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "executor/core/dtype.h"
#include "executor/core/shape.h"
#include "executor/core/status.h"
#include "executor/kernels/conv.h"
#include "executor/kernels/elementwise.h"
#include "executor/kernels/gemm.h"
#include "executor/kernels/reduce.h"
#include "executor/kernels/simd_targets.h"
#include "executor/ops/op_catalogue.h"

namespace pelemay {
namespace {

constexpr int64_t k1M = int64_t{1} << 20;
constexpr int64_t k32M = int64_t{32} << 20;

std::vector<float> RandomFloats(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (float& x : v) x = u(rng);
  return v;
}

std::span<const std::byte> Bytes(const std::vector<float>& v) { return std::as_bytes(std::span(v)); }
std::span<std::byte> Bytes(std::vector<float>& v) { return std::as_writable_bytes(std::span(v)); }

// Runs a kernel once before timing; false (and the benchmark marked as
// failed) if it reports an error.
bool WorksOnce(benchmark::State& state, const Status& st) {
  if (st.ok()) return true;
  state.SkipWithError(st.ToString().c_str());
  return false;
}

// --- memory-bound kernels and their baseline --------------------------------

// Copies the bytes add moves for arg(0) elements: 1.5 * 4n read, as many written.
void BM_Memcpy(benchmark::State& state) {
  const int64_t n = state.range(0);
  const size_t bytes = static_cast<size_t>(n) * sizeof(float) * 3 / 2;
  std::vector<std::byte> src(bytes, std::byte{1}), dst(bytes, std::byte{0});
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(2 * bytes));
}

void BM_Add_F32(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto a = RandomFloats(n, 1), b = RandomFloats(n, 2);
  std::vector<float> out(static_cast<size_t>(n));
  auto add = [&] { return kernels::Binary(OpCode::add, DType::kF32, Bytes(a), Bytes(b), Bytes(out), nullptr); };
  if (!WorksOnce(state, add())) return;
  for (auto _ : state) {
    benchmark::DoNotOptimize(add());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 3 * n * static_cast<int64_t>(sizeof(float)));
}

void BM_Exp_F32(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto a = RandomFloats(n, 3, -10.0f, 10.0f);
  std::vector<float> out(static_cast<size_t>(n));
  auto exp = [&] { return kernels::Unary(OpCode::exp, DType::kF32, Bytes(a), Bytes(out), nullptr); };
  if (!WorksOnce(state, exp())) return;
  for (auto _ : state) {
    benchmark::DoNotOptimize(exp());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * n * static_cast<int64_t>(sizeof(float)));
}

void BM_Sum_F32(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto a = RandomFloats(n, 4);
  std::vector<float> out(1);
  const Shape shape = {n};
  const int64_t axes[] = {0};
  for (auto _ : state) {
    kernels::Reduce(OpCode::sum, DType::kF32, shape, axes, Bytes(a), Bytes(out), nullptr);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * static_cast<int64_t>(sizeof(float)));
}

// --- dot --------------------------------------------------------------------

void SetFlops(benchmark::State& state, int64_t n) {
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * static_cast<double>(n) * n * n, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Dot_F32(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto a = RandomFloats(n * n, 5), b = RandomFloats(n * n, 6);
  std::vector<float> c(static_cast<size_t>(n * n));
  for (auto _ : state) {
    kernels::Gemm(DType::kF32, 1, n, n, n, Bytes(a), Bytes(b), Bytes(c), nullptr);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, n);
}

void BM_Sgemm_OpenBLAS(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto a = RandomFloats(n * n, 5), b = RandomFloats(n * n, 6);
  std::vector<float> c(static_cast<size_t>(n * n));
  const auto ni = static_cast<blasint>(n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a.data(), ni, b.data(), ni, 0.0f, c.data(),
                ni);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  SetFlops(state, n);
}

// --- conv -------------------------------------------------------------------
// A ResNet-style layer: 64 -> 64 channels, 3x3 kernel, 56x56 image, padding
// 1, batch 1. Ours (im2col + GEMM) against the direct seven-loop convolution
// a straightforward port would write, in f32 like ours.

constexpr int64_t kConvC = 64, kConvO = 64, kConvHW = 56, kConvK = 3;

void SetConvFlops(benchmark::State& state) {
  state.counters["FLOPS"] = benchmark::Counter(2.0 * kConvO * kConvC * kConvK * kConvK * kConvHW * kConvHW,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Conv_F32(benchmark::State& state) {
  const auto x = RandomFloats(kConvC * kConvHW * kConvHW, 7), k = RandomFloats(kConvO * kConvC * kConvK * kConvK, 8);
  std::vector<float> y(static_cast<size_t>(kConvO * kConvHW * kConvHW));
  const std::vector<int64_t> ones = {1, 1}, pad = {1, 1};
  const kernels::ConvGeometry g{{1, kConvC, kConvHW, kConvHW},
                                {kConvO, kConvC, kConvK, kConvK},
                                {1, kConvO, kConvHW, kConvHW},
                                ones,
                                pad,
                                ones,
                                ones,
                                1,
                                1};
  for (auto _ : state) {
    kernels::Conv(DType::kF32, g, Bytes(x), Bytes(k), Bytes(y), nullptr);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetConvFlops(state);
}

void BM_ConvDirect_F32(benchmark::State& state) {
  const auto x = RandomFloats(kConvC * kConvHW * kConvHW, 7), k = RandomFloats(kConvO * kConvC * kConvK * kConvK, 8);
  std::vector<float> y(static_cast<size_t>(kConvO * kConvHW * kConvHW));
  for (auto _ : state) {
    for (int64_t o = 0; o < kConvO; ++o) {
      for (int64_t i = 0; i < kConvHW; ++i) {
        for (int64_t j = 0; j < kConvHW; ++j) {
          float acc = 0;
          for (int64_t c = 0; c < kConvC; ++c) {
            for (int64_t ki = 0; ki < kConvK; ++ki) {
              const int64_t r = i + ki - 1;
              if (r < 0 || r >= kConvHW) continue;
              for (int64_t kj = 0; kj < kConvK; ++kj) {
                const int64_t s = j + kj - 1;
                if (s < 0 || s >= kConvHW) continue;
                acc += x[(c * kConvHW + r) * kConvHW + s] * k[((o * kConvC + c) * kConvK + ki) * kConvK + kj];
              }
            }
          }
          y[(o * kConvHW + i) * kConvHW + j] = acc;
        }
      }
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  SetConvFlops(state);
}

BENCHMARK(BM_Memcpy)->Arg(k1M)->Arg(k32M)->UseRealTime();
BENCHMARK(BM_Add_F32)->Arg(k1M)->Arg(k32M)->UseRealTime();
BENCHMARK(BM_Exp_F32)->Arg(k1M)->UseRealTime();
BENCHMARK(BM_Sum_F32)->Arg(k1M)->UseRealTime();
BENCHMARK(BM_Dot_F32)->Arg(256)->Arg(512)->Arg(1024)->UseRealTime();
BENCHMARK(BM_Sgemm_OpenBLAS)->Arg(256)->Arg(512)->Arg(1024)->UseRealTime();
BENCHMARK(BM_Conv_F32)->UseRealTime();
BENCHMARK(BM_ConvDirect_F32)->UseRealTime();

// --- summary ----------------------------------------------------------------

// Prints as usual and keeps each benchmark's best rates by name (e.g.
// "BM_Add_F32/1048576/real_time") for the summary. Best, not mean, of
// --benchmark_repetitions runs: both sides get the same treatment, and the
// best run is the one least disturbed by whatever else shares the machine.
class CapturingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      auto& rates = results_[run.benchmark_name()];
      for (const auto& [name, counter] : run.counters) {
        auto [it, fresh] = rates.emplace(name, counter.value);
        if (!fresh) it->second = std::max(it->second, static_cast<double>(counter.value));
      }
    }
  }

  // The named rate of the first run whose name starts with `prefix`, or NaN.
  double Rate(const std::string& prefix, const std::string& counter) const {
    for (const auto& [name, rates] : results_) {
      if (name.rfind(prefix, 0) != 0) continue;
      const auto it = rates.find(counter);
      if (it != rates.end()) return it->second;
    }
    return std::nan("");
  }

 private:
  std::map<std::string, std::map<std::string, double>> results_;
};

void PrintRatio(const char* what, double ours, double base, const char* unit, double scale, double target) {
  const double ratio = ours / base;
  std::printf("%-28s %10.2f %10.2f %-6s %7.1f%%", what, ours / scale, base / scale, unit, 100.0 * ratio);
  if (target > 0) {
    std::printf("   target >= %.0f%%: %s", 100.0 * target,
                std::isnan(ratio) ? "not run" : (ratio >= target ? "PASS" : "FAIL"));
  }
  std::printf("\n");
}

void PrintSummary(const CapturingReporter& r) {
  const std::string m1 = "/" + std::to_string(k1M) + "/", m32 = "/" + std::to_string(k32M) + "/";
  const double memcpy_1m = r.Rate("BM_Memcpy" + m1, "bytes_per_second");
  const double memcpy_32m = r.Rate("BM_Memcpy" + m32, "bytes_per_second");
  std::printf("\nSummary (single thread; bandwidth = bytes read + written)\n");
  std::printf("%-28s %10s %10s %-6s %8s\n", "kernel", "ours", "baseline", "unit", "ratio");
  PrintRatio("add f32 1M vs memcpy", r.Rate("BM_Add_F32" + m1, "bytes_per_second"), memcpy_1m, "GB/s", 1e9, 0.60);
  PrintRatio("add f32 32M vs memcpy", r.Rate("BM_Add_F32" + m32, "bytes_per_second"), memcpy_32m, "GB/s", 1e9, 0.80);
  PrintRatio("exp f32 1M vs memcpy", r.Rate("BM_Exp_F32" + m1, "bytes_per_second"), memcpy_1m, "GB/s", 1e9, 0);
  PrintRatio("sum f32 1M vs memcpy", r.Rate("BM_Sum_F32" + m1, "bytes_per_second"), memcpy_1m, "GB/s", 1e9, 0);
  for (int n : {256, 512, 1024}) {
    const std::string arg = "/" + std::to_string(n) + "/";
    const std::string what = "dot f32 " + std::to_string(n) + " vs OpenBLAS";
    PrintRatio(what.c_str(), r.Rate("BM_Dot_F32" + arg, "FLOPS"), r.Rate("BM_Sgemm_OpenBLAS" + arg, "FLOPS"), "GFLOPS",
               1e9, n == 512 ? 0.40 : 0);
  }
  PrintRatio("conv f32 56x56x64 vs loop", r.Rate("BM_Conv_F32", "FLOPS"), r.Rate("BM_ConvDirect_F32", "FLOPS"),
             "GFLOPS", 1e9, 0);
}

}  // namespace
}  // namespace pelemay

int main(int argc, char** argv) {
  openblas_set_num_threads(1);
  std::printf("Highway target: %s (compiled:", pelemay::kernels::ChosenTarget().c_str());
  for (const auto& t : pelemay::kernels::CompiledTargets()) std::printf(" %s", t.c_str());
  std::printf(")\nOpenBLAS core: %s; config: %s; threads: 1\n", openblas_get_corename(), openblas_get_config());
  for (const char* var : {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}) {
    if (const char* v = std::getenv(var))
      std::printf("warning: %s=%s is set; OpenBLAS may not use its best kernel\n", var, v);
  }
  std::fflush(stdout);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pelemay::CapturingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  pelemay::PrintSummary(reporter);
  benchmark::Shutdown();
  return 0;
}
