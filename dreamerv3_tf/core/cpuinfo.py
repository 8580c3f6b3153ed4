"""The CPU kind a figure was measured on: model, vector ISA, and any cap in force.

Speed and even some kernel results depend on it (README: tools/as_avx2.sh), so
benchmarks print `describe()` with every figure.
"""

import os
import re


def _cpuinfo(path='/proc/cpuinfo'):
  try:
    with open(path) as f:
      return f.read()
  except OSError:
    return ''


def _field(info, name):
  m = re.search(rf'^{name}\s*:\s*(.*)$', info, re.M)
  return m.group(1).strip() if m else ''


def isa(flags):
  """The widest x86 vector ISA among `flags`: 'AVX-512', 'AVX2', 'AVX' or 'SSE'."""
  flags = set(flags)
  if 'avx512f' in flags:
    return 'AVX-512'
  if 'avx2' in flags:
    return 'AVX2'
  return 'AVX' if 'avx' in flags else 'SSE'


def masked(environ=None):
  """Whether tools/cpuid_mask.c is preloaded: every library of the process (and of the
  processes it starts) then sees a CPU without AVX-512."""
  environ = os.environ if environ is None else environ
  return any(os.path.basename(x).startswith('cpuid_mask')
             for x in re.split(r'[\s:]+', environ.get('LD_PRELOAD', '')))


def cap(environ=None):
  """The ISA our processes are capped to (tools/as_avx2.sh), or '': XLA's by XLA_FLAGS,
  or every library's by the CPUID mask."""
  environ = os.environ if environ is None else environ
  m = re.search(r'--xla_cpu_max_isa=(\S+)', environ.get('XLA_FLAGS', ''))
  return m.group(1) if m else 'AVX2' if masked(environ) else ''


def describe(info=None, environ=None):
  """One line: 'AMD EPYC (family 25 model 17), 2 CPUs, AVX-512 (+VNNI, BF16)' and,
  when capped, ', capped to AVX2 (tools/as_avx2.sh)'."""
  info = _cpuinfo() if info is None else info
  flags = _field(info, 'flags').split()
  extra = [name for flag, name in (('avx512_vnni', 'VNNI'), ('avx512_bf16', 'BF16'),
                                   ('amx_tile', 'AMX')) if flag in flags]
  kind = isa(flags) + (f' (+{", ".join(extra)})' if extra else '')
  model = _field(info, 'model name') or 'unknown CPU'
  family, number = _field(info, 'cpu family'), _field(info, 'model')
  where = f' (family {family} model {number})' if family and number else ''
  cpus = len(re.findall(r'^processor\s*:', info, re.M)) or os.cpu_count()
  line = f'{model}{where}, {cpus} CPUs, {kind}'
  capped = cap(environ)
  if capped:
    line += f', capped to {capped} (tools/as_avx2.sh)'
  return line
