#!/usr/bin/env bash
# Runs a command as the AVX2-only CPU kind computes, on a machine with AVX-512:
#   tools/as_avx2.sh python -m pytest tests
# Each line caps one library that picks its kernels from the CPU at run time.
set -euo pipefail
# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512
# VNNI/BF16 (or AMX); AVX2-only CPUs run the Eigen kernels, whose softmax does
# not give bit-mirrored probabilities for mirrored logits.
export TF_ENABLE_ONEDNN_OPTS=0
export ONEDNN_MAX_CPU_ISA=AVX2                                 # oneDNN inside XLA
export XLA_FLAGS="${XLA_FLAGS:-} --xla_cpu_max_isa=AVX2"        # XLA's code generation
export NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"  # numpy's dispatch (numpy 2.4)
export OPENBLAS_CORETYPE=Haswell                               # numpy's BLAS
# A separate XLA cache, so that no program compiled for AVX-512 is reused.
export TF_XLA_FLAGS="${TF_XLA_FLAGS:-} --tf_xla_persistent_cache_directory=${HOME}/.cache/dreamerv3_tf/xla-avx2"
exec "$@"
