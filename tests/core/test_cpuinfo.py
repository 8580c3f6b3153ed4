"""The CPU kind that benchmarks name with every figure."""

from dreamerv3_tf.core import cpuinfo

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse avx fma avx2 avx512f avx512_vnni avx512_bf16
processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse avx fma avx2 avx512f avx512_vnni avx512_bf16
"""


def test_names_the_widest_isa():
  assert cpuinfo.isa(['sse', 'avx', 'avx2', 'avx512f']) == 'AVX-512'
  assert cpuinfo.isa(['sse', 'avx', 'fma', 'avx2']) == 'AVX2'
  assert cpuinfo.isa(['sse']) == 'SSE'


def test_describe_names_model_isa_and_cpus():
  line = cpuinfo.describe(ZEN4, environ={})
  assert line == 'AMD EPYC (family 25 model 17), 2 CPUs, AVX-512 (+VNNI, BF16)'


def test_describe_says_when_xla_is_capped():
  avx2 = ZEN4.replace(' avx512f avx512_vnni avx512_bf16', '')
  assert cpuinfo.describe(avx2, environ={}).endswith('2 CPUs, AVX2')
  env = {'XLA_FLAGS': '--xla_foo=1 --xla_cpu_max_isa=AVX2'}
  assert cpuinfo.describe(ZEN4, environ=env).endswith(', capped to AVX2 (tools/as_avx2.sh)')
  masked = {'LD_PRELOAD': '/root/.cache/dreamerv3_tf/cpuid_mask-0123abcd.so /x/libjemalloc.so.2'}
  assert cpuinfo.describe(ZEN4, environ=masked).endswith(', capped to AVX2 (tools/as_avx2.sh)')
  assert cpuinfo.cap({'LD_PRELOAD': '/x/libjemalloc.so.2'}) == ''
