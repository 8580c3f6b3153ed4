"""A clock of the seconds this process ran: time.monotonic() less the stops it saw.

  until = awake_clock.now() + timeout
  answered = awake_clock.wait(conn.poll, until)  # False once `timeout` awake seconds passed

A stop of the whole process group (Ctrl-Z and `fg` later, SIGSTOP then SIGCONT, a cgroup
freezer) stops the env workers with this process, but time.monotonic() runs on. A wait
that such a stop outlasted ended at the continue, with its worker still in the step the
stop interrupted: a worker was declared hung (rebuilt, its episode discarded), and an
env of this process stopped the run (deadline.py). Waits here look at the clock at least
every SLICE seconds; a look that comes later than it asked for saw a stop (or a machine
so busy that this process did not run), and that time is not counted.
"""

import threading
import time

SLICE = 0.25  # seconds between looks at the clock while waiting (a stop is counted to that)


class Clock:
  """The clock; this process's is the module's functions. monotonic: the time source
  (tests pass a fake one)."""

  def __init__(self, monotonic=time.monotonic):
    self._monotonic = monotonic
    self._lock = threading.Lock()
    self._stopped = 0.0  # seconds not counted
    self._seen_until = float('-inf')  # the monotonic end of the last stop counted

  def now(self):
    """-> seconds, as time.monotonic(), less the stops seen so far."""
    return self._monotonic() - self._stopped

  def late(self, due):
    """Counts the time past `due` (the time.monotonic() a wait was to end at) as a
    stop. Two threads that saw the same stop count it once."""
    end = self._monotonic()
    with self._lock:
      start = max(due, self._seen_until)
      if end > start:
        self._stopped += end - start
        self._seen_until = end

  def wait(self, poll, until):
    """Calls poll(seconds) until it returns True -> True, or until now() reaches
    `until` -> what a last poll(0) returns."""
    while True:
      left = until - self.now()
      if left <= 0:
        return poll(0)
      seconds = min(left, SLICE)
      due = self._monotonic() + seconds
      if poll(seconds):
        return True
      self.late(due)

  def wait_for(self, poll, seconds):
    """wait(poll, now() + seconds)."""
    return self.wait(poll, self.now() + seconds)


_CLOCK = Clock()
now, late, wait, wait_for = _CLOCK.now, _CLOCK.late, _CLOCK.wait, _CLOCK.wait_for
