"""A time limit for env calls made in this process (run.parallel=False).

  with deadline.limit(120.0):
    obs = env.step(action)     # deadline.Expired after 120 s

A worker process that does not answer is killed and rebuilt (workers.py); an env in
this process cannot be, so a call past its limit is interrupted and the run stops
with one line instead of hanging without a word. SIGALRM does the interrupting: it
wakes a blocking call (sleep, socket, lock wait) and lands in Python code, but not
inside a C function that never returns to the interpreter. Only the main thread
receives signals: elsewhere, and where SIGALRM does not exist, there is no limit.
"""

import contextlib
import signal
import threading


class Expired(BaseException):
  """The limit passed. A BaseException, like KeyboardInterrupt: an env's own
  `except Exception` cannot swallow it."""

  def __init__(self, seconds):
    super().__init__(f'no answer within {seconds:g}s')
    self.seconds = seconds


@contextlib.contextmanager
def limit(seconds):
  """Raises Expired in the block once `seconds` have passed (None or <= 0: no limit)."""
  if (not seconds or seconds <= 0 or not hasattr(signal, 'setitimer')
      or threading.current_thread() is not threading.main_thread()):
    yield
    return

  def expire(signum, frame):
    raise Expired(seconds)

  previous = signal.signal(signal.SIGALRM, expire)
  signal.setitimer(signal.ITIMER_REAL, seconds)
  try:
    yield
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    # None: a handler installed from C, which Python cannot put back; default then.
    signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
