#!/usr/bin/env bash
# Runs a command as the AVX2-only CPU kind computes, on a machine with AVX-512:
#   tools/as_avx2.sh python -m pytest tests
# Each library that picks its kernels from the CPU at run time is capped twice: by
# tools/cpuid_mask.c, which hides AVX-512 from the CPUID instruction itself in this
# process and every one it starts (the official JAX code's too, whose jaxlib 0.4.33
# refuses --xla_cpu_max_isa), and by its own setting below, which caps our code where
# the mask cannot load (no gcc, or a CPU without CPUID faulting).
set -euo pipefail
usage='Usage: tools/as_avx2.sh COMMAND [ARG...]: runs COMMAND capped to what an AVX2-only CPU runs, e.g. tools/as_avx2.sh python -m pytest tests'
if [ $# -eq 0 ]; then  # (it exited 0 without a word)
  echo "Error: no command given. $usage" >&2
  exit 2
fi
if [ "$1" = -h ] || [ "$1" = --help ]; then  # (it printed bash's help of exec)
  echo "$usage"
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
mask="${XDG_CACHE_HOME:-$HOME/.cache}/dreamerv3_tf/cpuid_mask-$(sha256sum "$here/cpuid_mask.c" | cut -c1-12).so"
if grep -qw cpuid_fault /proc/cpuinfo && command -v gcc > /dev/null; then
  if [ ! -e "$mask" ]; then
    mkdir -p "$(dirname "$mask")"
    gcc -O2 -shared -fPIC -o "$mask.tmp.$$" "$here/cpuid_mask.c" -ldl
    mv "$mask.tmp.$$" "$mask"
  fi
  export LD_PRELOAD="$mask${LD_PRELOAD:+ $LD_PRELOAD}"
  # glibc chose its string functions from CPUID before any library loaded.
  export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
else
  echo "as_avx2.sh: no CPUID faulting or no gcc here; only the settings below cap, and only our code" >&2
fi
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
