"""Stops a run with one line just before Linux's OOM killer would end it without one.

A model too big for the machine's memory (`size400m` on 24 GB: 15 GB and more at its
first update), or a replay that outgrows it, ended with SIGKILL: "Killed" from the
shell, or nothing at all in a scheduler's log. The OOM killer comes when the memory
left (MemAvailable and free swap, or the cgroup's limit less its working set) is
gone, and it ends the process with the highest `oom_score`. A thread polls what is
left; when it falls below a margin and this process is the one the kernel would
choose, it writes the line and exits with 137, the code SIGKILL gave. Nothing is lost
that the kill would have kept: saves are atomic, and a resume reads what was saved.
Where another process is the bigger one, the kernel ends that one and the run goes on.
Imports no TensorFlow.
"""

import os
import threading

from dreamerv3_tf.envs import memory

POLL = 0.05  # s; a big model's update touches a few hundred MB in that time
EXIT_CODE = 137  # as the OOM killer's SIGKILL


def margin(total):
  """How little memory may be left before the run stops: 1% of the machine's (or the
  cgroup's), from 128 MiB to 512 MiB; the kernel keeps less for itself."""
  return min(max(total // 100, 128 * 2 ** 20), 512 * 2 ** 20)


def is_the_victim(cgroup=None, pid=None, proc='/proc'):
  """Whether process `pid` (this one) has the highest oom_score of the processes the
  OOM killer would choose from: those of `cgroup` (a directory, where its limit is
  what runs out) or all it can see. True where its own score cannot be read."""
  pid = pid or os.getpid()
  try:
    with open(f'{proc}/{pid}/oom_score') as f:
      own = int(f.read())
  except (OSError, ValueError):
    return True
  for other in (_members(cgroup) if cgroup else _all(proc)) - {pid}:
    try:
      with open(f'{proc}/{other}/oom_score') as f:
        if int(f.read()) > own:
          return False
    except (OSError, ValueError):  # ended meanwhile, or not ours to read
      continue
  return True


def _all(proc):
  return {int(name) for name in os.listdir(proc) if name.isdigit()}


def _members(cgroup):
  """The processes of the cgroup at directory `cgroup` and of those below it."""
  pids = set()
  for directory, _, _ in os.walk(cgroup):
    try:
      with open(os.path.join(directory, 'cgroup.procs')) as f:
        pids.update(int(x) for x in f.read().split())
    except (OSError, ValueError):
      continue
  return pids


def zfs_reclaimable(path='/proc/spl/kstat/zfs/arcstats'):
  """Bytes ZFS's cache (ARC) would give back under pressure, which MemAvailable does not
  count (on a ZFS root it can hold half the RAM): its size above its floor; 0 without ZFS."""
  try:
    with open(path) as f:
      stats = {p[0]: p[-1] for p in (line.split() for line in f) if len(p) == 3}
    return max(0, int(stats['size']) - int(stats['c_min']))
  except (OSError, KeyError, ValueError):
    return 0


def line(left, total, tail):
  """The run's one line; `tail` says what was kept (main._kept)."""
  gb = lambda n: f'{n / 1e9:.1f} GB'
  # RssAnon: what the process made, not its mapped libraries, which the kernel can drop.
  held = memory.status_bytes('RssAnon')
  held = f'the run holds {gb(held)}, and ' if held else ''
  return (f'Out of memory: {held}{gb(left)} is left of the {gb(total)} it may use (RAM and '
          "swap, or its cgroup's limit), so Linux's OOM killer would end it now, without a "
          'line; a smaller model (a size preset, agent.*) or replay.size needs less' + tail)


def watch(tail, poll=POLL, exit=os._exit):
  """Starts the watcher thread (a daemon: it never delays the exit) and returns it;
  `tail()` gives the end of the line, `exit(code)` ends the process. Returns None
  where /proc/meminfo cannot be read."""
  total = memory.total_bytes()
  if total is None or memory.left_bytes()[0] is None:
    return None
  floor = margin(total)

  def run():
    while not stopped.wait(poll):
      left, cgroup = memory.left_bytes()
      if left is None or left >= floor:
        continue
      if cgroup is None:
        left += zfs_reclaimable()
      if left >= floor or not is_the_victim(cgroup):
        continue
      try:
        text = line(left, total, tail())
      except Exception:  # noqa: BLE001 - the line must come, whatever tail() met
        text = line(left, total, '')
      os.write(2, (text + '\n').encode())
      exit(EXIT_CODE)
      return

  stopped = threading.Event()
  thread = threading.Thread(target=run, name='memory-watch', daemon=True)
  thread.stop = stopped.set
  thread.start()
  return thread
