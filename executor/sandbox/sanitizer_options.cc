// Sanitizer defaults for the pelemay_executor binary only (linked into it,
// not into the tests or the fuzz targets). A confined executor cannot run two
// things the sanitizer runtimes do by default:
//   * LeakSanitizer's exit-time check stops the world with a ptrace()ing
//     clone (not a thread) and reads /proc: the seccomp filter kills it, so
//     every clean exit would end in SIGSYS;
//   * symbolizing a report opens /proc/self/exe or spawns llvm-symbolizer.
// Leaks of the executor's code are still found: the same code runs under
// LeakSanitizer in the in-process test suites and in the fuzz targets.
// Reports print raw addresses; rerun with --no-sandbox and
// ASAN_OPTIONS=symbolize=1 (the environment overrides these defaults).
#if defined(__SANITIZE_ADDRESS__)
#define PELEMAY_ASAN_OPTIONS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PELEMAY_ASAN_OPTIONS 1
#endif
#endif

#if defined(PELEMAY_ASAN_OPTIONS)
// NOLINTNEXTLINE(bugprone-reserved-identifier): the sanitizer runtime's hook
extern "C" const char* __asan_default_options() { return "detect_leaks=0:symbolize=0"; }
// NOLINTNEXTLINE(bugprone-reserved-identifier)
extern "C" const char* __lsan_default_options() { return "detect_leaks=0"; }
#endif
