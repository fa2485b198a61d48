// OpenBLAS kernel choice. Debian's OpenBLAS (DYNAMIC_ARCH) picks its kernels once, as the library
// loads, from the CPU's model number. A CPU newer than its table (OpenBLAS 0.3.21 on an Emerald
// Rapids Xeon, for one) gets the SSE3 "Prescott" kernels, and seer's prefill GEMMs run ~3x slower
// (SmolLM2 prompt processing of 512 tokens on 2 cores: 168 against 568 tokens/s with the AVX-512
// kernels, docs/BENCHMARKS.md §1). The
// only supported way to choose is OPENBLAS_CORETYPE in the environment before the library loads.
#pragma once

#include <string>

namespace seer {

// Call first thing in main(), before any output, file or thread. When OpenBLAS took an SSE-only
// kernel set on a CPU with AVX2 and FMA (or AVX-512), and OPENBLAS_CORETYPE is not set, runs the
// program again (same arguments, same descriptors) with OPENBLAS_CORETYPE naming the kernels that
// fit (SkylakeX or Haswell); returns when nothing is to be done, or when that fails (with a note on
// stderr). A user's own OPENBLAS_CORETYPE is always left alone.
void rerun_with_matching_blas_kernels(char** argv);

// The kernel set OpenBLAS runs with ("SkylakeX", "Haswell", ...), or "unknown" (another BLAS).
std::string blas_kernels();

}  // namespace seer
