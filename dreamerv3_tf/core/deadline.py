"""A time limit for env calls made in this process (run.parallel=False).

  with deadline.limit(120.0):
    obs = env.step(action)     # deadline.Expired after 120 s

A worker process that does not answer is killed and rebuilt (workers.py); an env in
this process cannot be, so a call past its limit is interrupted and the run stops
with one line instead of hanging without a word. The limit counts awake_clock's seconds:
a stop of the process (Ctrl-Z and fg) is not counted. A watchdog thread does the
interrupting: past the limit it sends SIGNAL to the main thread, which wakes a
blocking call (sleep, socket, lock wait) and lands in Python code, but not inside a C
function that never returns to the interpreter. Only the main thread receives
signals: elsewhere, and where pthread_kill does not exist, there is no limit.

SIGNAL is a real-time signal of its own, not SIGALRM: an env's code that used
signal.alarm (a library's timeout decorator; alarm(0) as it ends) reset the one timer
SIGALRM shares with setitimer, and the limit never came; a SIGALRM handler of the env's
replaced ours. The env's own alarms are left as they are.
"""

import collections
import contextlib
import os
import signal
import threading

from dreamerv3_tf.core import awake_clock

# (SIGRTMIN + 4: glibc takes the first two for itself, Python's SIGRTMIN counts past them)
SIGNAL = signal.SIGRTMIN + 4 if hasattr(signal, 'SIGRTMIN') else getattr(signal, 'SIGALRM', None)


class Expired(BaseException):
  """The limit passed. A BaseException, like KeyboardInterrupt: an env's own
  `except Exception` cannot swallow it."""

  def __init__(self, seconds):
    super().__init__(f'no answer within {seconds:g}s')
    self.seconds = seconds


_Limit = collections.namedtuple('_Limit', 'until seconds')

_armed = None  # the innermost running limit, or None
_lock = threading.Lock()  # between `limit` and the watchdog's look at _armed
_wake = threading.Event()  # a limit that ends before the watchdog looks again
_watching = [None, None]  # the watchdog thread, and when it looks next (None: only when woken)


@contextlib.contextmanager
def limit(seconds):
  """Raises Expired in the block once `seconds` have passed (None or <= 0: no limit)."""
  global _armed
  if (not seconds or seconds <= 0 or SIGNAL is None or not hasattr(signal, 'pthread_kill')
      or threading.current_thread() is not threading.main_thread()):
    yield
    return
  if signal.getsignal(SIGNAL) is not _expire:  # once (or again, if something replaced it)
    signal.signal(SIGNAL, _expire)
  outer = _armed
  with _lock:
    _armed = _Limit(awake_clock.now() + seconds, seconds)
    thread, looks_at = _watching
    if thread is None or not thread.is_alive():
      _start_watchdog()
    elif looks_at is None or _armed.until < looks_at:
      _wake.set()  # (per step this is rare: each limit ends after the one before)
  try:
    yield
  finally:
    _armed = outer


def _expire(signum, frame):
  """SIGNAL's handler: raises for a limit that passed; a late signal, sent as its block
  ended, is dropped."""
  del signum, frame
  armed = _armed
  if armed is not None and awake_clock.now() >= armed.until:
    raise Expired(armed.seconds)


def _start_watchdog():
  thread = threading.Thread(target=_watch, name='env-deadline', daemon=True)
  _watching[:] = [thread, None]
  thread.start()


def _watch():
  main = threading.main_thread().ident
  sent = None
  while True:
    _wake.clear()  # before looking: a set() from now on ends the wait below
    with _lock:
      armed, now = _armed, awake_clock.now()
      if armed is not None and armed is not sent and now >= armed.until:
        sent = armed
        signal.pthread_kill(main, SIGNAL)
      due = armed is not None and armed is not sent
      _watching[1] = armed.until if due else None
    if due:  # (awake_clock's wait: a stop of this process that outlasts it is not counted)
      awake_clock.wait(_wake.wait, armed.until)
    else:
      _wake.wait()


def _forget_watchdog():
  """A forked child has no watchdog thread (only the forking thread survives a fork)."""
  global _lock, _wake
  _lock, _wake = threading.Lock(), threading.Event()
  _watching[:] = [None, None]


if hasattr(os, 'register_at_fork'):
  os.register_at_fork(after_in_child=_forget_watchdog)
