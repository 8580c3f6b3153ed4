import os
import shutil
import signal
import sys

import pytest

# Tests run from a checkout: make `configs` and `dreamerv3_tf` importable without install.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from dreamerv3_tf import tfimport  # noqa: E402  (imports no TensorFlow)
from dreamerv3_tf.core import cpuinfo  # noqa: E402
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# Compiling tiny agents is most of the suite's CPU time. The tests check what a
# program computes, not how fast, so they compile the cheapest way XLA offers: LLVM at
# -O0, and XLA's older elemental emitters instead of its MLIR fusion emitters. For a
# tiny agent's train step, alone on 2 cores: 20 s to the first update at XLA's
# defaults, 14.5 at -O0, 8.3 at -O0 with those emitters (an update then runs in 39 ms
# instead of 15; tests/agent/test_learning.py runs its 800 updates at -O1).
# Subprocesses inherit the flags, and TEST_XLA_FLAGS_ENV names the ones added here.
# The compiled programs are cached under a prefix of their own: the cache key does
# not hold XLA_FLAGS, and a user's run must never load one of these programs. They go
# to the CPU kind's folder, as a run's (main.use_xla_cache): an AVX2-only node sharing
# its home with an AVX-512 one would load that one's programs, and XLA runs them into SIGILL.
TEST_XLA_FLAGS = ('--xla_backend_optimization_level=0', '--xla_cpu_use_fusion_emitters=false')
TEST_XLA_FLAGS_ENV = 'DREAMERV3_TF_TEST_XLA_FLAGS'
TEST_CACHE_PREFIX = 'tests_o0_noemit'
_added = tfimport.add_xla_flags(TEST_XLA_FLAGS)  # a caller's flag wins
os.environ.setdefault(TEST_XLA_FLAGS_ENV, ' '.join(_added))
_tf_xla = os.environ.get('TF_XLA_FLAGS', '')
if 'tf_xla_persistent_cache_directory' not in _tf_xla:   # tools/as_avx2.sh sets its own
  _cache = os.path.join(os.path.expanduser('~/.cache/dreamerv3_tf/xla'), cpuinfo.kind_key())
  os.makedirs(_cache, exist_ok=True)
  _tf_xla += f' --tf_xla_persistent_cache_directory={_cache}'
os.environ['TF_XLA_FLAGS'] = f'{_tf_xla} --tf_xla_persistent_cache_prefix={TEST_CACHE_PREFIX}'.strip()
# Flags XLA takes (the suite fails at its first compile otherwise): every start of
# `main` would check them again in a child process, seconds each (tfimport.check_xla_flags).
# The defaults the agent's modules add when they load go in first, so that the
# workers' and subprocesses' flags stay the ones marked.
tfimport.add_xla_flags(tfimport.XLA_DEFAULTS)
os.environ[tfimport.CHECKED_ENV] = tfimport.flags_of_environment()

# One thread in each of TensorFlow's op pools, in every process of the suite: a debug
# agent's ops gain less from a second thread than it costs in CPU, and the two workers
# keep both cores busy already (4 of the largest files: 3% less CPU and wall, a Zen 4,
# session 53). TensorFlow reads them as its runtime starts, so forked runs take them.
# A caller's own counts win.
os.environ.setdefault('TF_NUM_INTRAOP_THREADS', '1')
os.environ.setdefault('TF_NUM_INTEROP_THREADS', '1')
# And one OpenBLAS thread: numpy's OpenBLAS starts a thread per core in each process that
# imports it, which spins for a while after each call; over the suite's ~150 processes that
# import numpy afresh (tests' own commands, XLA-flag checks) the spinning took 1.4% of the
# suite's CPU samples (perf record, session 58). Env workers take one thread already
# (core/workers.py). No test computes with BLAS on large arrays.
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

# Bytecode for our modules, which the suite's hundreds of processes load anew (forked runs
# drop them, env workers and subprocesses start fresh): with PYTHONDONTWRITEBYTECODE set,
# each compiled them from their source, ~0.1 s of CPU a forked run (session 53). Compiled
# once here into their __pycache__ (git ignores it); a process reads bytecode regardless.
if sys.dont_write_bytecode:
  import compileall  # noqa: E402
  for _package in ('dreamerv3_tf', 'configs'):
    compileall.compile_dir(os.path.join(ROOT, _package), quiet=2)  # read-only: none

# Every process of the suite (the xdist workers, started after this file loads, and
# every CLI run) gets the malloc `main` takes for itself (dreamerv3_tf/allocator.py):
# jemalloc or TCMalloc if installed. The suite took 5:45 instead of 7:10 with jemalloc.
from dreamerv3_tf import allocator  # noqa: E402  (no TensorFlow)
os.environ.update(allocator.preload_env())


# The suite's commands must get stop signals as from a user's shell. Started in the
# background (`pytest &` in a script, nohup), the suite inherited Ctrl-C (and under
# nohup SIGHUP) ignored; every command it starts kept them ignored, as a command should
# (stop_signals.py), and the tests that press Ctrl-C failed, leaving runs training. So
# did perf record's SIGUSR2 and any other stop signal a launcher ignores (10 tests failed
# with all of them ignored, session 58). Ctrl-C is the suite's again; the others stay
# without effect on the suite, but a handled signal is the default again in each program
# a test starts (exec resets it).
from dreamerv3_tf.core import exit_guard  # noqa: E402  (no TensorFlow)
for _number in exit_guard.STOP_SIGNALS:
  if signal.getsignal(_number) == signal.SIG_IGN:
    signal.signal(_number, signal.default_int_handler if _number == signal.SIGINT
                  else lambda signum, frame: None)


def pytest_configure(config):
  """Processes that run tests import TensorFlow the way main does (tfimport.py): with the
  garbage collector paused, about 1 s sooner. The xdist controller runs none."""
  if hasattr(config, 'workerinput') or not getattr(config.option, 'numprocesses', None):
    from dreamerv3_tf import startup
    startup.import_tensorflow(startup.log_level())  # its load-time lines hidden too

# The slowest test files, slowest first (`pytest --durations=0` summed per file, 2 cores,
# session 16), so that no worker is left running one of them at the end. xdist would
# otherwise order files by their number of tests (--no-loadscope-reorder, pyproject.toml).
SLOW_FIRST = (
    'agent/test_learning.py', 'test_multi_worker.py', 'test_export.py',
    'run/test_exact_resume.py', 'test_startup.py', 'run/test_errors.py',
    'interop/test_official.py', 'envs/test_custom.py', 'run/test_train_eval.py',
    'run/test_kill_resume.py', 'agent/test_agent.py', 'test_distribute.py',
    'agent/test_mixed_precision.py', 'test_configuration.py', 'run/test_nonfinite.py',
    'test_parity.py', 'core/test_driver.py', 'test_tfimport.py', 'run/test_eval_only.py')


def pytest_xdist_auto_num_workers(config):
  """Workers for `-n auto`: one per core, at most 4, and 3 GB of RAM for each
  (a worker compiling an agent peaks at about 2 GB)."""
  try:
    ram_gb = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30
  except (ValueError, OSError):
    ram_gb = 8
  cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
  return max(1, min(4, cores or 1, int(ram_gb // 3)))


def pytest_collection_modifyitems(session, config, items):
  here = os.path.dirname(os.path.abspath(__file__))
  rank = {os.path.join(here, name): i for i, name in enumerate(SLOW_FIRST)}
  items.sort(key=lambda item: rank.get(str(item.path), len(SLOW_FIRST)))


@pytest.fixture
def unprivileged():
  """The command prefix under which a process obeys file permissions: root writes
  anywhere unless it drops that capability (setpriv, util-linux); skips without it."""
  if os.geteuid() != 0:
    return []
  if not shutil.which('setpriv'):
    pytest.skip('running as root without setpriv: permissions cannot be enforced')
  import cli_zygote  # (here: it keeps the environment this file sets up as it loads)
  return cli_zygote.unprivileged_prefix()
