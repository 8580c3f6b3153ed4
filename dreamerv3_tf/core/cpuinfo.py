"""The CPU kind a figure was measured on: model, vector ISA, and any cap in force.

Speed and even some kernel results depend on it (README: tools/as_avx2.sh), so
benchmarks print `describe()` with every figure.
"""

import hashlib
import os
import platform
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


def features():
  """The CPU features code of this process may use, as the CPUID instruction tells them
  (numpy's detection, which tools/cpuid_mask.c caps as it caps XLA's), sorted; the
  kernel's /proc/cpuinfo flags where numpy tells none."""
  found = None
  for module in ('numpy._core._multiarray_umath', 'numpy.core._multiarray_umath'):
    try:
      found = __import__(module, fromlist=['__cpu_features__']).__cpu_features__
      break
    except (ImportError, AttributeError):
      continue
  if found:
    return sorted(name for name, on in found.items() if on)
  return sorted(_field(_cpuinfo(), 'flags').split())


def kind_key():
  """A folder name for what is compiled for this CPU kind, e.g. 'x86_64-avx512-3f2a9c10d4':
  the machine, the widest vector ISA, and a digest of every feature."""
  names = features()
  widest = isa(x.lower() for x in names).lower().replace('-', '')
  digest = hashlib.sha256(' '.join(names).encode()).hexdigest()[:10]
  return f'{platform.machine() or "cpu"}-{widest}-{digest}'
