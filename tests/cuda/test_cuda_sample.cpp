// Token sampling on the GPU (src/kernels/cuda/sample.cuh) against seer::Sampler on the host, given
// the same generator: for greedy and for top-k / temperature / top-p settings, on fresh random
// logits (with ties, including ties at the k-th place), every draw of a sequence must give the same
// token. A wrong order, cut or draw changes tokens within a few draws.
#ifdef SEER_CUDA_MINI_GTEST
#include "mini_gtest.h"
#else
#include <gtest/gtest.h>
#endif

#include <cuda_runtime.h>

#include <seer/generate.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/sample.cuh"

namespace {

using namespace seer;

bool gpu_present() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

TEST(CudaSample, MatchesHostSampler) {
  if (!gpu_present()) GTEST_SKIP() << "no GPU";
  std::mt19937 rng(5);
  for (int vocab : {50, 1000, 49152, 128256}) {
    std::normal_distribution<float> nd(0.0f, 3.0f);
    std::vector<float> logits(static_cast<size_t>(vocab));
    for (float& x : logits) x = nd(rng);
    for (int i = 0; i < vocab / 10; ++i) logits[size_t(rng() % vocab)] = 7.5f;  // ties, some at the top
    float *dl = nullptr;
    int32_t* dt = nullptr;
    ASSERT_EQ(cudaMalloc(&dl, logits.size() * sizeof(float)), cudaSuccess);
    ASSERT_EQ(cudaMalloc(&dt, sizeof(int32_t)), cudaSuccess);
    ASSERT_EQ(cudaMemcpy(dl, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    struct Case {
      float t;
      int k;
      float p;
    };
    for (Case c : {Case{0.0f, 40, 0.95f}, Case{0.7f, 40, 0.95f}, Case{1.0f, 1, 1.0f}, Case{1.3f, 49, 1.0f},
                   Case{0.9f, 1024, 0.5f}, Case{2.0f, 7, 0.99f}}) {
      if (c.t > 0.0f && c.k >= vocab) continue;
      SamplingParams sp;
      sp.temperature = c.t;
      sp.top_k = c.k;
      sp.top_p = c.p;
      sp.seed = 99;
      Sampler host(sp), dev(sp);
      ASSERT_TRUE(dev.device_ok(vocab));
      for (int draw = 0; draw < 25; ++draw) {
        const int want = host.sample(logits);
        cuda::SampleParams p;
        p.logits = dl;
        p.vocab = vocab;
        p.temperature = c.t;
        p.top_k = c.k;
        p.top_p = c.p;
        p.u = c.t > 0.0f ? dev.draw() : 0.0;
        p.token = dt;
        ASSERT_EQ(cuda::run_sample(p, nullptr), cudaSuccess);
        int32_t got = -1;
        ASSERT_EQ(cudaMemcpy(&got, dt, sizeof(got), cudaMemcpyDeviceToHost), cudaSuccess);
        ASSERT_EQ(got, want) << "vocab " << vocab << " T " << c.t << " top-k " << c.k << " top-p " << c.p
                             << " draw " << draw;
      }
    }
    cudaFree(dl);
    cudaFree(dt);
  }
}

}  // namespace
