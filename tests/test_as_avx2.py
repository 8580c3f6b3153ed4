"""tools/as_avx2.sh: every library of the command, and of what it starts, sees no AVX-512.

The suite's capped run and the capped side-by-side benchmark rest on it (README,
BENCHMARKS.md). Its CPUID mask needs gcc and CPUID faulting; without them the script
caps our code by flags alone, which the other tests' capped runs cover.
"""

import os
import platform
import shutil
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'tools', 'as_avx2.sh')


def _cpuid_faulting():
  try:
    with open('/proc/cpuinfo') as f:
      return 'cpuid_fault' in f.read().split()
  except OSError:
    return False


needs_mask = pytest.mark.skipif(
    not (_cpuid_faulting() and shutil.which('gcc')),
    reason='the CPUID mask needs gcc and CPUID faulting (/proc/cpuinfo: cpuid_fault)')


def as_avx2(code, tmp_path, **kwargs):
  env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / 'cache'))
  return subprocess.run([SCRIPT, sys.executable, '-c', code], env=env, capture_output=True,
                        text=True, timeout=120, **kwargs)


@needs_mask
def test_no_library_of_the_command_or_its_children_sees_avx512(tmp_path):
  # numpy reads CPUID at import: in the command, and in a process the command starts.
  probe = ('from numpy._core._multiarray_umath import __cpu_features__ as f; '
           'print(f["AVX512F"], f["AVX2"])')
  code = (f'import subprocess, sys; {probe}; '
          f'print(subprocess.run([sys.executable, "-c", {probe!r}], capture_output=True, '
          'text=True).stdout.strip())')
  proc = as_avx2(code, tmp_path)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.split('\n')[:2] == ['False True', 'False True'], proc.stdout
  assert 'as_avx2.sh' not in proc.stderr  # the mask loaded: no line about flags alone
  built = os.listdir(tmp_path / 'cache' / 'dreamerv3_tf')
  assert len(built) == 1 and built[0].startswith('cpuid_mask-'), built


@needs_mask
def test_main_keeps_the_xla_programs_of_each_cpu_kind_apart(tmp_path):
  """main's XLA cache holds a folder per CPU kind (cpuinfo.kind_key): XLA loaded AVX-512
  programs under the mask with a hidden error line only ('Target machine feature
  +avx512f is not supported on the host machine'), which on a real AVX2-only CPU would
  end the run with SIGILL."""
  code = 'from dreamerv3_tf.core import cpuinfo; print(cpuinfo.kind_key())'
  capped = as_avx2(code, tmp_path, cwd=ROOT)
  # Without the cap, also when the suite itself runs under tools/as_avx2.sh.
  capping = ('LD_PRELOAD', 'GLIBC_TUNABLES', 'NPY_DISABLE_CPU_FEATURES')
  plain = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT,
                         env={k: v for k, v in os.environ.items() if k not in capping})
  assert capped.returncode == plain.returncode == 0, capped.stderr + plain.stderr
  capped, plain = capped.stdout.strip(), plain.stdout.strip()
  assert capped.startswith(f'{platform.machine()}-avx2-'), capped
  if 'avx512f' in open('/proc/cpuinfo').read().split():
    assert plain.startswith(f'{platform.machine()}-avx512-'), plain


@needs_mask
def test_a_crash_still_reaches_the_programs_own_handler(tmp_path):
  # faulthandler installs its SIGSEGV handler after the mask's: a real fault must still
  # print the Python traceback and end the process by the signal, as without the mask.
  proc = as_avx2('import ctypes, faulthandler; faulthandler.enable(); ctypes.string_at(0)',
                 tmp_path)
  assert proc.returncode == -signal.SIGSEGV, (proc.returncode, proc.stderr)
  assert 'Fatal Python error: Segmentation fault' in proc.stderr
  assert 'in string_at' in proc.stderr


def test_compare_caps_the_official_side_by_the_mask_alone():
  # jaxlib 0.4.33 stops at --xla_cpu_max_isa; glibc's malloc as the official command runs.
  sys.path.insert(0, os.path.join(ROOT, 'bench'))
  import compare
  mask = '/home/u/.cache/dreamerv3_tf/cpuid_mask-0123abcd.so'
  env = compare.official_env(
      {'LD_PRELOAD': f'{mask} /usr/lib/libjemalloc.so.2',
       'XLA_FLAGS': '--xla_cpu_max_isa=AVX2 --xla_dump_to=/tmp/d'}, '/src')
  assert (env['LD_PRELOAD'], env['XLA_FLAGS']) == (mask, '--xla_dump_to=/tmp/d')
  assert 'LD_PRELOAD' not in compare.official_env({'LD_PRELOAD': '/x/libjemalloc.so.2'}, '/src')


@needs_mask
def test_a_handler_set_by_signal_keeps_the_mask(tmp_path):
  # pygame's import sets its SIGSEGV handler with signal(), which reaches glibc's own
  # sigaction; the next CPUID (SDL's, numpy's here) then ended the process.
  code = ('import ctypes; ctypes.CDLL(None).signal(11, 0); '  # SIGSEGV: the default action
          'from numpy._core._multiarray_umath import __cpu_features__ as f; '
          'print(f["AVX512F"])')
  proc = as_avx2(code, tmp_path)
  assert (proc.returncode, proc.stdout.strip()) == (0, 'False'), proc.stderr


@pytest.mark.parametrize('args', [[], ['--help'], ['-h']])
def test_no_command_is_its_usage_line(tmp_path, args):
  """Without a command the script exited 0 without a word, and `--help` printed bash's
  help of `exec`."""
  env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / 'cache'))
  proc = subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=60)
  usage = ('Usage: tools/as_avx2.sh COMMAND [ARG...]: runs COMMAND capped to what an '
           'AVX2-only CPU runs, e.g. tools/as_avx2.sh python -m pytest tests\n')
  if args:
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, usage, ''), proc
  else:
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, '', f'Error: no command given. {usage}')
  assert not (tmp_path / 'cache').exists()  # before the mask is built
