import os
import sys

# Tests run from a checkout: make `configs` and `dreamerv3_tf` importable without install.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# The slowest test files (`pytest --durations=0`, summed per file, on 2 cores),
# started first so that no worker is left running one of them at the end.
SLOW_FIRST = (
    'run/test_exact_resume.py', 'test_multi_worker.py', 'run/test_errors.py',
    'test_startup.py', 'agent/test_mixed_precision.py', 'agent/test_learning.py',
    'envs/test_custom.py', 'test_export.py', 'agent/test_agent.py',
    'run/test_kill_resume.py', 'interop/test_official.py', 'run/test_nonfinite.py',
    'run/test_train_eval.py', 'test_distribute.py', 'test_parity.py')


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
