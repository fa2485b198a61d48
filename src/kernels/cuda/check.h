// Host-side error checking for the CUDA launchers (host .cpp files only; see common.cuh for why).
#pragma once

#include <seer/status.h>

#include <cuda_runtime.h>

namespace seer::cuda {

// True when SEER_CUDA_SYNC_DEBUG is defined at compile time or set (non-empty, not "0") in the
// environment: every launcher then synchronizes its stream after each launch so that an
// asynchronous fault is reported by the launch that caused it.
bool sync_debug_enabled();

// Checks the launch that just happened (and, under the debug switch, waits for it).
Status check_launch(const char* kernel, cudaStream_t stream);

}  // namespace seer::cuda

// Returns a Status naming the call and the CUDA error when `expr` fails.
#define SEER_CUDA_CHECK(expr)                                                                   \
  do {                                                                                          \
    cudaError_t seer_cuda_err_ = (expr);                                                        \
    if (seer_cuda_err_ != cudaSuccess)                                                          \
      return ::seer::Status::error("{}:{}: {} failed: {} ({})", __FILE__, __LINE__, #expr,     \
                                   cudaGetErrorName(seer_cuda_err_),                            \
                                   cudaGetErrorString(seer_cuda_err_));                         \
  } while (0)

// After a launch whose cudaGetLastError the .cu side already returned: catches anything left and,
// under the debug switch, waits for the stream.
#define SEER_CUDA_CHECK_LAUNCH(name, stream) SEER_RETURN_IF_ERROR(::seer::cuda::check_launch(name, stream))

