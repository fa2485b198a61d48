// Error checking and the SEER_CUDA_SYNC_DEBUG switch; see common.cuh.
#include "kernels/cuda/check.h"

#include <cstdlib>
#include <cstring>

namespace seer::cuda {

bool sync_debug_enabled() {
#ifdef SEER_CUDA_SYNC_DEBUG
  return true;
#else
  static const bool enabled = [] {
    const char* v = std::getenv("SEER_CUDA_SYNC_DEBUG");
    return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
  }();
  return enabled;
#endif
}

Status check_launch(const char* kernel, cudaStream_t stream) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    return Status::error("launch of {} failed: {} ({})", kernel, cudaGetErrorName(err), cudaGetErrorString(err));
  if (sync_debug_enabled()) {
    err = cudaStreamSynchronize(stream);
    if (err != cudaSuccess)
      return Status::error("{} failed while running (SEER_CUDA_SYNC_DEBUG): {} ({})", kernel,
                           cudaGetErrorName(err), cudaGetErrorString(err));
  }
  return Status::ok();
}

}  // namespace seer::cuda
