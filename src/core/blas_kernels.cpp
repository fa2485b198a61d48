#include "core/blas_kernels.h"

#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

// OpenBLAS's own query; weak, so that another BLAS links too (the pointer is then null).
extern "C" char* openblas_get_corename(void) __attribute__((weak));

namespace seer {
namespace {

// OpenBLAS's x86 kernel sets without AVX2 (its fallbacks for a CPU it does not know).
bool sse_only(const char* core) {
  static const char* const kOld[] = {"unknown", "katmai",  "coppermine", "northwood", "prescott",     "banias",
                                     "atom",    "core2",   "penryn",     "dunnington", "nehalem",     "athlon",
                                     "opteron", "opteron_sse3", "barcelona", "nano",   "bobcat"};
  for (const char* old : kOld)
    if (strcasecmp(core, old) == 0) return true;
  return false;
}

}  // namespace

std::string blas_kernels() {
  const char* core = openblas_get_corename ? openblas_get_corename() : nullptr;
  return core ? core : "unknown";
}

void rerun_with_matching_blas_kernels(char** argv) {
#if defined(__x86_64__) && defined(__linux__)
  if (!openblas_get_corename || std::getenv("OPENBLAS_CORETYPE")) return;
  const char* core = openblas_get_corename();
  if (!core || !sse_only(core)) return;
  __builtin_cpu_init();
  const char* want = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    want = "SkylakeX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    want = "Haswell";
  if (!want) return;  // the CPU itself is that old
  // Started through an explicit dynamic loader (`ld-linux-x86-64.so.2 seer ...`), /proc/self/exe is
  // the loader: starting it again with argv would lose the program.
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  exe[len > 0 ? len : 0] = '\0';
  const char* base = std::strrchr(exe, '/');
  if (len <= 0 || std::strncmp(base ? base + 1 : exe, "ld-", 3) == 0) {
    std::fprintf(stderr,
                 "seer: OpenBLAS runs its %s kernels on this CPU and seer was started through a loader (%s), so it "
                 "cannot start itself again with the faster ones: set OPENBLAS_CORETYPE=%s\n",
                 core, len > 0 ? exe : "/proc/self/exe unreadable", want);
    return;
  }
  if (setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
  execv("/proc/self/exe", argv);
  const int err = errno;
  unsetenv("OPENBLAS_CORETYPE");
  std::fprintf(stderr,
               "seer: OpenBLAS runs its %s kernels on this CPU; starting again with OPENBLAS_CORETYPE=%s failed "
               "(%s), continuing with them (set OPENBLAS_CORETYPE=%s yourself to use the faster ones)\n",
               core, want, std::strerror(err), want);
#else
  (void)argv;
#endif
}

}  // namespace seer
