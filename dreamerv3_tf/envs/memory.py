"""A cap on what an env's constructor may reserve: the memory the machine has.

An env that declares an enormous observation (a gymnasium Box of 100000x100000x3
uint8) allocates its bounds in its own constructor, where no check of ours can come
first. With glibc's malloc such an array fails at once (MemoryError: the kernel
refuses a mapping beyond RAM and swap); with jemalloc, which `main` preloads
(allocator.py) and which maps with MAP_NORESERVE, it succeeded, numpy filled it, and
Linux's OOM killer ended the run without a line. So where such a malloc is loaded,
while an env is built, the process's address space (RLIMIT_AS, soft) is capped at its
current size plus the memory it could ever have (/proc/meminfo's MemTotal and
SwapTotal, or its cgroup's limit where lower): such an allocation fails as a
MemoryError and is named in one line, as under glibc's rule. Not the memory available
now: a constructor that reserves address space it does not use (a CUDA context, a
file it maps) would fail on a busy machine; if one needs more than the machine has,
its line says so, and DREAMERV3_TF_MALLOC=system (glibc's malloc) builds envs without
the cap.
"""

import contextlib
import errno
import os
import resource

from dreamerv3_tf.core import errors
from dreamerv3_tf.core import malloc

GIB = 2 ** 30
MIB = 2 ** 20
# What one env worker process (run.parallel=True) holds of its own after its first
# step, measured as the Private_Dirty of /proc/PID/smaps_rollup (dummy_disc,
# gym_CartPole-v1, dmc_walker_walk with images, atari_pong, crafter_reward; numpy
# 2, gymnasium 1.4, dm_control 1.0, ale_py 0.11, Python 3.11): a lower bound, by suite.
WORKER_BYTES = {'dummy': 18 * MIB, 'gym': 20 * MIB, 'dmc': 56 * MIB, 'atari': 24 * MIB,
                'atari100k': 24 * MIB, 'crafter': 24 * MIB, 'py': 18 * MIB}


def left_bytes():
  """(bytes, cgroup): what this process may still take before Linux's OOM killer ends
  one (MemAvailable and SwapFree, lowered to its cgroup's limit less its working set),
  and the directory of the cgroup whose limit that is (None: the machine's). (None,
  None) where /proc/meminfo cannot be read."""
  return _lowered('MemAvailable', 'SwapFree')


def available_bytes():
  """The memory this process may still take: MemAvailable, lowered to its cgroup's
  limit less its usage (cgroup v2 or v1); None where /proc/meminfo cannot be read."""
  return _lowered('MemAvailable')[0]


def _lowered(*keys):
  """(the sum of /proc/meminfo's `keys`, lowered to what each memory cgroup's limit
  leaves, and the directory of the cgroup that lowered it last, or None)."""
  left, where = _meminfo(*keys), None
  for cap, used, directory in _cgroup_limits() if left is not None else ():
    if used is not None and cap - used < left:
      left, where = max(0, cap - used), directory
  return left, where


def total_bytes():
  """The memory this process could ever have: MemTotal and SwapTotal, lowered to its
  cgroup's limit (v2 or v1); None where /proc/meminfo cannot be read."""
  total = _meminfo('MemTotal', 'SwapTotal')
  for cap, _, _ in _cgroup_limits() if total is not None else ():
    total = min(total, cap)
  return total


def _meminfo(*keys):
  """The sum of /proc/meminfo's `keys` in bytes, or None."""
  try:
    with open('/proc/meminfo') as f:
      fields = dict(line.split(':', 1) for line in f if ':' in line)
    return sum(int(fields[k].split()[0]) * 1024 for k in keys)
  except (OSError, KeyError, ValueError, IndexError):
    return None


def _cgroup_limits():
  """(limit, usage or None, its directory) in bytes of each memory cgroup of this
  process that has a limit; usage is its working set (less inactive page cache)."""
  for limit, usage in _cgroup_files():
    try:
      with open(limit) as f:
        cap = f.read().strip()
    except OSError:
      continue
    if not (cap.isdigit() and int(cap) < 2 ** 60):  # 'max', or v1's 'unlimited' 2^63 - page
      continue
    try:
      with open(usage) as f:
        used = int(f.read().strip())
    except (OSError, ValueError):
      used = None
    directory = os.path.dirname(usage)
    yield int(cap), used and used - _inactive_file(directory), directory


def _inactive_file(cgroup):
  """The cgroup's page cache that nobody used lately, which the kernel frees before it
  kills: its usage counts it (after a save of the replay, GBs), the OOM killer does not."""
  try:
    with open(os.path.join(cgroup, 'memory.stat')) as f:
      stat = dict(line.split() for line in f if len(line.split()) == 2)
    return int(stat.get('total_inactive_file', stat.get('inactive_file', 0)))  # v1, v2
  except (OSError, ValueError):
    return 0


def _cgroup_files():
  """(limit, usage) file pairs of this process's memory cgroups."""
  pairs = []
  for base, v2 in _cgroup_dirs('memory'):
    pairs.append((os.path.join(base, 'memory.max'), os.path.join(base, 'memory.current'))
                 if v2 else (os.path.join(base, 'memory.limit_in_bytes'),
                             os.path.join(base, 'memory.usage_in_bytes')))
  return pairs


def _cgroup_dirs(controller, root='/sys/fs/cgroup'):
  """(directory, is v2) of this process's cgroups that `controller` may limit: the v2
  one, and the v1 one of that controller's hierarchy."""
  try:
    with open('/proc/self/cgroup') as f:
      lines = f.read().splitlines()
  except OSError:
    return []
  dirs = []
  for line in lines:
    _, controllers, path = (line.split(':', 2) + ['', ''])[:3]
    if controllers == '':  # v2: at the root, or at unified/ beside v1's (a hybrid system)
      v2 = root if os.path.exists(os.path.join(root, 'cgroup.controllers')) else os.path.join(
          root, 'unified')
      dirs.append((os.path.join(v2, path.lstrip('/')), True))
    elif controller in controllers.split(','):  # v1
      dirs.append((os.path.join(root, controller, path.lstrip('/')), False))
  return dirs


def process_room(root='/sys/fs/cgroup', uid=None):
  """-> (n, limit): how many more processes (threads count) this process may start,
  and the limit that says so ('pids.max=200 of the cgroup /sys/fs/cgroup/pids/job',
  'ulimit -u 4096'): the tightest of its pids cgroup and those above it, and of
  RLIMIT_NPROC less the user's tasks (not for root, whom the kernel lets pass it).
  None where neither limits or they cannot be read."""
  rooms = []
  for directory, _ in _cgroup_dirs('pids', root):
    while True:  # a limit above this cgroup holds too
      try:
        with open(os.path.join(directory, 'pids.max')) as f:
          cap = f.read().strip()
        with open(os.path.join(directory, 'pids.current')) as f:
          used = int(f.read().strip())
        if cap.isdigit():
          rooms.append((max(0, int(cap) - used), f'pids.max={cap} of the cgroup {directory}'))
      except (OSError, ValueError):
        pass
      parent = os.path.dirname(directory)
      if parent == directory or len(parent) <= len(root):
        break
      directory = parent
  uid = os.getuid() if uid is None else uid
  soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
  if uid != 0 and soft != resource.RLIM_INFINITY:
    rooms.append((max(0, soft - _tasks_of(uid)), f'ulimit -u {soft}'))
  return min(rooms) if rooms else None


def tensorflow_threads():
  """About how many threads a run's process has yet to start before its peak (its
  TensorFlow's pools, XLA's compile, our own threads): the peak, 25 on 1 CPU and 32 on
  2, measured as the lowest `ulimit -u` that ran gym's debug config (TensorFlow sizes
  its pools by the CPUs this process may run on, as taskset sets them), less the
  threads it has now, which process_room counted as used. Beyond 2 CPUs (not measured)
  only the two pools known to grow by one thread per CPU, inter-op and intra-op, are
  added: a floor, so that a limit the run fits in is never refused."""
  try:
    cpus = len(os.sched_getaffinity(0))
  except (AttributeError, OSError):
    cpus = os.cpu_count() or 1
  try:
    with open('/proc/self/status') as f:
      now = int(next(x for x in f if x.startswith('Threads:')).split()[1])
  except (OSError, StopIteration, ValueError, IndexError):
    now = 1
  return max(0, tensorflow_peak_threads(cpus) - now)


def tensorflow_peak_threads(cpus):
  """A run's peak number of threads on `cpus` CPUs (tensorflow_threads)."""
  return 18 + 7 * min(cpus, 2) + 2 * max(0, cpus - 2)


def _tasks_of(uid):
  """The threads of all processes of user `uid`: what RLIMIT_NPROC counts."""
  count = 0
  for pid in os.listdir('/proc'):
    if not pid.isdigit():
      continue
    try:
      with open(f'/proc/{pid}/status') as f:
        fields = dict(line.split(':', 1) for line in f if ':' in line)
      if int(fields['Uid'].split()[0]) == uid:
        count += int(fields['Threads'])
    except (OSError, KeyError, ValueError, IndexError):
      continue  # ended meanwhile
  return count


def status_bytes(field):
  """A size in bytes from this process's /proc/self/status ('VmSize', 'RssAnon'), or None."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith(field + ':'):
          return int(line.split()[1]) * 1024
  except (OSError, ValueError, IndexError):
    pass
  return None


@contextlib.contextmanager
def capped():
  """Runs the block with RLIMIT_AS at the process's size plus the memory it could ever
  have (unless a lower limit is set already, or either cannot be read); restores it
  after. Yields that memory in bytes, or None when uncapped: always under glibc's
  malloc, which refuses an allocation beyond the machine's memory itself."""
  if not malloc.loaded():
    yield None
    return
  total, size = total_bytes(), status_bytes('VmSize')
  try:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
  except (OSError, ValueError):
    soft = hard = None
  if total is None or size is None or soft is None:
    yield None
    return
  cap = size + total
  infinite = resource.RLIM_INFINITY
  if (soft != infinite and soft <= cap) or (hard != infinite and hard < cap):
    yield None  # a limit of the user's own is lower: it stands
    return
  resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
  try:
    yield total
  finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def is_out_of_memory(error):
  """A MemoryError, an OSError ENOMEM (mmap's 'Cannot allocate memory'), or an error
  that says it ran out of memory (a CUDA context: 'CUDA error: out of memory')."""
  if isinstance(error, MemoryError) or (
      isinstance(error, OSError) and error.errno == errno.ENOMEM):
    return True
  text = errors.flat_text(error).lower()  # (an env's error whose str() raises: no)
  return error is not None and ('out of memory' in text or 'cannot allocate memory' in text)


def out_of_memory_note(total):
  """What a constructor's memory error adds to its line."""
  if total is None:
    return ''
  return (f'; building the env needs more memory than the {total / GIB:.1f} GiB this '
          'machine has, swap included (an observation space too large?; its address space '
          'was capped there while it was built: DREAMERV3_TF_MALLOC=system builds it '
          'without a cap)')
