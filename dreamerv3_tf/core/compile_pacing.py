"""Runs a call that compiles an XLA program so that the compile holds less memory.

XLA's CPU compiler emits each fusion's MLIR on the calling thread and queues its
compile on helper threads it starts for that compile; every queued fusion holds a
compiler instance of its own (an MLIRContext with every dialect loaded). With 2 cores
the calling thread emits faster than the helpers compile, the queue grows to
hundreds, and the size1m train step's compile peaked at 2.0-2.1 GB (BENCHMARKS.md,
sessions 11 and 20). Once a helper is busy, `run` lowers the calling thread's
priority by NICE: it then emits mostly while a helper waits for work, the queue stays
short, and the peak fell to 1.36-1.46 GB in the same compile time (session 22).
Nice 19 starved the emitter behind two busy processes (98 s against 44); nice 5 did
not shorten the queue.

What the compile frees stays in the process: malloc keeps it for reuse (jemalloc
for 10 s, glibc until asked), but the first run's buffers are allocated elsewhere,
so it added about 250 MB to the peak (1.55-1.62 GB). `run(..., release=fn)` calls
fn (usage.release_heap) every RELEASE seconds until the call returns: 1.30 GB,
with jemalloc or glibc, in the same compile time (session 28).

An unprivileged thread cannot raise its priority back, so the call runs on a thread
of its own that ends with it. The caller waits for it with stop signals blocked, so
a Ctrl-C is handled when the call returns, as it was when the call ran on the caller;
one handled as the thread starts gives the call up if it has not begun (_give_up).
Linux only (a thread's nice, /proc); elsewhere the call simply runs.
"""

import os
import signal
import threading
import time

from dreamerv3_tf.core import exit_guard

NICE = 10     # added to the calling thread's nice value (at most 19)
BUSY = 0.2    # CPU seconds by which a thread started during the call is a compile helper
POLL = 0.02   # seconds between looks at the process's threads
RELEASE = 0.1  # seconds between calls of `release` while the call runs

_TASKS = '/proc/self/task'
# All of a command's stop signals: SIGXCPU, once left out, interrupted the caller's wait,
# and the process exited with the compile running on its thread (an abort, exit -6).
_STOPS = exit_guard.STOP_SIGNALS

_CALLS = set()  # the runs under way (`calling`), by id(box)


def calling():
  """Whether a `run` is under way: a stop handled as its thread started waits for the call
  (_give_up), and stop_notice then says so, as for a stop the wait held back."""
  return bool(_CALLS)


def supported():
  return (os.path.isdir(_TASKS) and hasattr(os, 'setpriority')
          and hasattr(signal, 'pthread_sigmask'))


def run(fn, *args, release=None):
  """-> fn(*args), run on a thread that yields the CPU to the compile's helpers;
  `release()`, if given, hands freed heap back to the OS every RELEASE seconds."""
  if not supported():
    return fn(*args)
  before = set(os.listdir(_TASKS))
  box, lock, ended = {}, threading.Lock(), threading.Event()

  def call():
    try:
      with lock:
        if 'given_up' in box:  # a stop came first (_give_up): the call never begins
          return
        box['began'] = True
      # (Started here: the caller starts one thread, which _give_up can tell began or not.)
      done = threading.Event()
      watcher = threading.Thread(target=_watch,
                                 args=(threading.get_native_id(), before, done, release),
                                 name='compile-pacing', daemon=True)
      watcher.start()
      try:
        box['result'] = fn(*args)
      except BaseException as e:  # noqa: BLE001  (re-raised on the caller)
        box['error'] = e
      finally:
        done.set()
        watcher.join()
    finally:
      ended.set()

  # Only read here: a stop raised before the `try` then leaves the mask as it was (else the
  # main thread's stop signals stayed blocked for good).
  held = signal.pthread_sigmask(signal.SIG_BLOCK, ())
  try:
    _CALLS.add(id(box))
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)  # inherited by the call's threads
    caller = threading.Thread(target=call, name='compile-call', daemon=True)
    caller.start()
    caller.join()   # a C-level wait: no Python signal handler runs here
  except BaseException:
    _give_up(lock, box, ended)
    raise
  finally:
    signal.pthread_sigmask(signal.SIG_SETMASK, held)
    _CALLS.discard(id(box))
  if 'error' in box:
    raise box.pop('error')
  return box['result']


def _give_up(lock, box, ended):
  """After a stop raised on this thread before its wait (its handler runs at the next
  Python call: as the call's thread started, its signal came to another thread, which
  does not block it): the call never begins if it has not yet, else this waits until it
  ended. The run exited with the compile running on its thread, which aborted the
  process after the stop's line ('FATAL: exception not rethrown', exit -6)."""
  while True:
    try:
      with lock:
        box['given_up'] = True
        began = 'began' in box
      if began:
        ended.wait()  # (signals still blocked: a C-level wait, as the caller's join)
      return
    except BaseException:  # noqa: BLE001 - a second stop's: the first one is raised
      pass


def _watch(tid, before, done, release):
  """Lowers thread `tid`'s priority once a thread started after `before` is busy;
  calls `release` every RELEASE seconds until `done`."""
  known = before | {str(tid), str(threading.get_native_id())}
  lowered, last_release = False, time.monotonic()
  while not done.wait(POLL):
    if release and time.monotonic() - last_release >= RELEASE:
      release()
      last_release = time.monotonic()
    if not lowered and any(task not in known and _cpu_seconds(task) >= BUSY
                           for task in os.listdir(_TASKS)):
      lowered = True
      try:
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, nice + NICE))
      except OSError:  # the call just ended
        pass
    if lowered and not release:
      return


def _cpu_seconds(task):
  """User + system CPU seconds of thread `task` of this process (0 once it ended)."""
  try:
    with open(f'{_TASKS}/{task}/stat') as f:
      stat = f.read()
  except OSError:
    return 0.0
  fields = stat[stat.rindex(')') + 2:].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
