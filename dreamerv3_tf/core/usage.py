"""Usage: CPU and memory of this process, its children (env workers) and the machine.

  logger.add(usage.stats(), prefix='usage')
"""

import ctypes

import psutil

_GB = 1024 ** 3


class Usage:
  """psutil figures for the 'usage/' log prefix.

  CPU fractions are averages since the previous `stats()` call (the first call
  measures from construction); 1.0 means one full core.
  """

  def __init__(self):
    self._proc = psutil.Process()
    self._proc.cpu_percent()  # starts the measurement interval
    psutil.cpu_percent()
    self._children = {}

  def stats(self):
    """-> dict of floats: proc_*, children_*, total_*.

    proc_fds and proc_threads are there to show leaks over a long run, next to
    proc_ram_gb (RSS) and the replay's own `replay/ram_gb`.
    """
    memory = psutil.virtual_memory()
    rss = self._proc.memory_info().rss
    stats = {
        'proc_cpu_frac': self._proc.cpu_percent() / 100,
        'proc_ram_gb': rss / _GB,
        'proc_ram_frac': rss / memory.total,
        'proc_fds': float(self._proc.num_fds()),
        'proc_threads': float(self._proc.num_threads()),
        'total_cpu_frac': psutil.cpu_percent() / 100,
        'total_cpu_count': float(psutil.cpu_count() or 0),
        'total_ram_used_gb': memory.used / _GB,
        'total_ram_avail_gb': memory.available / _GB,
        'total_ram_frac': memory.percent / 100,
    }
    child_cpu, child_rss, alive = 0.0, 0, {}
    for child in self._proc.children(recursive=True):
      try:
        # Keep the Process objects: cpu_percent measures since the previous call
        # on the same object.
        known = self._children.get(child.pid)
        if known != child:  # new child, or a reused pid (psutil compares create time)
          known = child
        child_cpu += known.cpu_percent() / 100
        child_rss += known.memory_info().rss
        alive[child.pid] = known
      except psutil.Error:  # the child exited meanwhile
        continue
    self._children = alive
    stats['children_count'] = float(len(alive))
    stats['children_cpu_frac'] = child_cpu
    stats['children_ram_gb'] = child_rss / _GB
    return stats


def release_heap():
  """Returns freed malloc memory to the OS now; -> True if the malloc did.

  An XLA compile leaves several hundred MB of freed heap in the process (about
  0.9 GB after the size1m train step). glibc keeps it unless asked; jemalloc
  (allocator.py) hands it back over 10 s, only while the process allocates, and
  kept about 190 MB of it for good in a size1m run. Peak RSS is unchanged; the RSS
  of the rest of the run drops.
  """
  mallctl = _jemalloc_mallctl()
  if mallctl is not None:
    # MALLCTL_ARENAS_ALL (4096): purge the dirty pages of every arena.
    return mallctl(b'arena.4096.purge', None, None, None, 0) == 0
  try:
    libc = ctypes.CDLL('libc.so.6')
    return bool(libc.malloc_trim(0))
  except (OSError, AttributeError):
    return False  # neither jemalloc nor glibc: nothing to do


def malloc_name():
  """'jemalloc' if it is this process's malloc (`release_heap` purges it), else 'other'."""
  return 'jemalloc' if _jemalloc_mallctl() is not None else 'other'


def _jemalloc_mallctl():
  """jemalloc's mallctl when jemalloc is this process's malloc, else None."""
  try:
    return ctypes.CDLL(None).mallctl
  except (OSError, AttributeError):
    return None
