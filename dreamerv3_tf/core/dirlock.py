"""One run per logdir: an exclusive lock on the directory for as long as a run uses it.

Two runs in one logdir (the same command started twice, or a scheduler restarting a
job whose old process still runs) both resumed, saved, pruned the other's checkpoints
and set them aside as damaged. The lock is `flock` on the directory itself: nothing is
written into the logdir, and the kernel drops the lock when the process ends, however
it ends (SIGKILL included), so no stale lock is ever left. Env workers are started
with exec and do not inherit it (workers.py). A filesystem that cannot lock a
directory (some network filesystems) runs unlocked, as before.
"""

import contextlib
import errno
import fcntl
import os


class Busy(Exception):
  """Another process holds the directory's lock; `pid` is its id when /proc tells."""

  def __init__(self, path, pid):
    self.path, self.pid = path, pid
    super().__init__(f'{path} is locked by {f"process {pid}" if pid else "another process"}')


_HELD = {}  # real path -> open file descriptor of this process's lock


def _try_lock(path):
  """-> fd holding the lock on directory `path`, None if it cannot be locked here.
  Raises Busy if another process holds it."""
  fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    os.close(fd)
    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
      raise Busy(path, holder(path)) from None
    return None  # e.g. ENOLCK, EBADF on a network filesystem: no lock to be had
  return fd


def check_free(path):
  """Raises Busy if another process holds `path`'s lock (nothing if `path` does not
  exist or is held by this process). Takes no lock."""
  real = os.path.realpath(path)
  if real in _HELD or not os.path.isdir(real):
    return
  fd = _try_lock(real)
  if fd is not None:
    os.close(fd)  # closing the only descriptor releases the lock


@contextlib.contextmanager
def hold(path):
  """Locks existing directory `path` for the `with` block; raises Busy if another
  process holds it. Nested holds of one directory share the lock."""
  real = os.path.realpath(path)
  if real in _HELD:
    yield
    return
  fd = _try_lock(real)
  if fd is None:
    yield
    return
  _HELD[real] = fd
  try:
    yield
  finally:
    del _HELD[real]
    os.close(fd)


def replaced(path):
  """Whether `path`, held by this process, no longer names the directory it locked:
  deleted, renamed away or replaced by another since (False if not held here)."""
  fd = _HELD.get(os.path.realpath(path))
  if fd is None:
    return False
  held = os.fstat(fd)
  try:
    now = os.stat(path)
  except FileNotFoundError:
    return True
  return (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino)


def holder(path):
  """-> id of the process holding a flock on `path` (from /proc/locks), else None."""
  try:
    st = os.stat(path)
    with open('/proc/locks') as f:
      lines = f.read().splitlines()
  except OSError:
    return None
  inode = f'{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}'
  for line in lines:  # '3: FLOCK  ADVISORY  WRITE 4711 00:2a:1234 0 EOF'
    fields = line.split()
    if 'FLOCK' in fields and '->' not in fields and inode in fields:
      pid = fields[fields.index(inode) - 1]
      return int(pid) if pid.isdigit() and pid != '0' else None
  return None
