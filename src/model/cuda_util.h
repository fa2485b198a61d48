// Host helpers shared by the GPU model forward and the GPU gates (only with SEER_HAVE_CUDA):
// a growable device allocation and the cuBLAS status check.
#pragma once

#include <seer/status.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace seer {

inline const char* cublas_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}

#define SEER_CUBLAS_CHECK(expr)                                                                 \
  do {                                                                                          \
    cublasStatus_t seer_cublas_st_ = (expr);                                                    \
    if (seer_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                               \
      return Status::error("{}:{}: {} failed: {}", __FILE__, __LINE__, #expr, cublas_name(seer_cublas_st_)); \
  } while (0)

// Bumped whenever a DeviceBuffer moves (grows): work captured with the old addresses (a CUDA graph of
// a decode step) is stale from then on.
inline uint64_t device_buffer_epoch = 0;

// A device allocation that grows on demand and frees itself.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  Status reserve(size_t want, const char* what) {
    if (want <= bytes) return Status::ok();
    ++device_buffer_epoch;
    // cudaFree returns an earlier kernel's sticky error: reported as that, not as an allocation failure.
    cudaError_t e = ptr ? cudaFree(ptr) : cudaSuccess;
    ptr = nullptr;
    bytes = 0;
    if (e != cudaSuccess)
      return Status::error("GPU: an earlier error, found while resizing the buffer for {}: {}", what,
                           cudaGetErrorString(e));
    e = cudaMalloc(&ptr, want);
    if (e != cudaSuccess)
      return Status::error("GPU: cannot allocate {} MiB for {}: {}", (want + (1 << 20) - 1) >> 20, what,
                           cudaGetErrorString(e));
    bytes = want;
    return Status::ok();
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr);
  }
};

}  // namespace seer
