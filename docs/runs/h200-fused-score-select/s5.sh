#!/usr/bin/env bash
# Probe: the prefill gate's TF32 GEMM shapes, cuBLAS as cuda_gate.cpp calls it against cublasLt's heuristic candidates.
set -u
nvcc -O2 -std=c++17 -arch=sm_90a out/gemm_probe.cu -lcublas -lcublasLt -o /tmp/gemm_probe && /tmp/gemm_probe | tee $OUT/gemm_probe.txt
