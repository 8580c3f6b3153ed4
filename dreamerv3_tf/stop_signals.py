"""Ctrl-C, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 for every command (main, export, plot, the
official importer).

While a command starts (imports and flags: numpy, absl, matplotlib take up to a few
seconds), Ctrl-C printed a traceback and SIGTERM ended it without a word. Nothing is
written yet then, so `install` makes a stop end it at once with one line and exit
130 / 143. Once the command runs, `take_over` makes the first stop raise (SIGTERM as
`Terminated`, a KeyboardInterrupt) so that its cleanup and its one line run, and
ignores the rest: a repeat landed in that cleanup or line (a traceback), or in the
interpreter's shutdown, which puts Python handlers back to the default (exit -2).
Another kind already pending then (two within one C call) is ignored as well, not
reported by Python as a race, and the line names the one that came first
(`track_arrivals`): Python runs pending handlers by number, so a SIGTERM followed by
Ctrl-C said 'Interrupted'.
SIGHUP (the terminal closed, an ssh session dropped) stops it the same way: it ended
the program without a word, also in a log file it wrote to. So do SIGUSR1 and SIGUSR2,
which schedulers send ahead of a job's end (SLURM's `--signal=USR1@90`): their default
ended it with exit 138 and no line. So does SIGXCPU, which the kernel sends as the
process's CPU time passes its soft limit (`ulimit -S -t`, a batch system's CPU time): it
dumped core with exit 152 and no line, and the work since the last save was lost (the
hard limit's SIGKILL comes later). A signal the shell made ignored (`nohup`; Ctrl-C of
a job started with `&` in a script) stays ignored.
A stdout whose reader ended, or whose file cannot take more (a full disk), is one
line too (`stdout_failed`). Imports nothing heavy.
"""

import contextlib
import errno
import os
import select
import signal
import sys
import threading

from dreamerv3_tf.core import exit_guard


class Signalled(KeyboardInterrupt):
  """A stop signal as `stop` raises it: a plain KeyboardInterrupt under its handlers was
  raised by code, e.g. an env's own (core/workers.is_stop), not by the user's Ctrl-C."""


class Interrupted(Signalled):
  """Ctrl-C (SIGINT), raised as a KeyboardInterrupt."""


class Terminated(Signalled):
  """SIGTERM, raised like Ctrl-C's KeyboardInterrupt so both stop the same way."""


class HungUp(Signalled):
  """SIGHUP, raised like Ctrl-C's KeyboardInterrupt."""


class UserSignal(Signalled):
  """SIGUSR1 or SIGUSR2 (`signum`), raised like Ctrl-C's KeyboardInterrupt."""

  def __init__(self, signum):
    super().__init__()
    self.signum = signum


class CpuLimit(Signalled):
  """SIGXCPU: the process's CPU time passed its soft limit (RLIMIT_CPU)."""


# The signals a command stops on; those after the first three kill it by default.
SIGNALS = exit_guard.STOP_SIGNALS
_USER = (signal.SIGUSR1, signal.SIGUSR2)
_DEFAULT_KILLS = (signal.SIGHUP, *_USER, signal.SIGXCPU)  # taken only where not ignored


def word_and_code(stop):
  """('Terminated', 143) for a Terminated, the SIGHUP's words and 129 for a HungUp,
  the SIGUSR1's or SIGUSR2's and 128 + its number for a UserSignal, SIGXCPU's and 152
  for a CpuLimit, else ('Interrupted', 130)."""
  if isinstance(stop, HungUp):
    return 'Hung up (SIGHUP: its terminal closed)', 129
  if isinstance(stop, UserSignal):
    name = signal.Signals(stop.signum).name
    return f"Stopped by {name} (a scheduler's notice of a job's end?)", 128 + stop.signum
  if isinstance(stop, CpuLimit):  # (no number: the kernel adds a second to the soft
    # limit at each SIGXCPU, so the one read here is not the one given)
    return ('Stopped by SIGXCPU (its CPU time reached the limit that ulimit -t sets)',
            128 + signal.SIGXCPU)
  return ('Terminated', 143) if isinstance(stop, Terminated) else ('Interrupted', 130)


def stopped_while_starting(signum, frame):
  """The handler while a command starts (`install`)."""
  del frame
  word, code = word_and_code(exception(signum))
  os.write(2, f'{word} while starting; nothing was written\n'.encode())
  os._exit(code)


def install():
  """Call first thing in a command's `__main__`."""
  signal.signal(signal.SIGTERM, stopped_while_starting)
  if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not nohup'd
    signal.signal(signal.SIGINT, stopped_while_starting)
  for number in _DEFAULT_KILLS:
    if signal.getsignal(number) == signal.SIG_DFL:  # not nohup'd, not ignored
      signal.signal(number, stopped_while_starting)


def ctrl_c_is_ours():
  """Whether the command may take Ctrl-C over: not when the shell made it ignored
  (nohup, `&` in a script)."""
  return signal.getsignal(signal.SIGINT) in (signal.default_int_handler,
                                            stopped_while_starting)


def stop(signum, frame=None):
  """The handler once a command runs: the first stop raises, the rest are ignored.

  Where it lands in TensorFlow's Python code, it is raised as soon as the main thread
  has left it (_DEFER_IN, `_raise_outside_tensorflow`)."""
  signum = first_arrived(signum)
  ignore()
  _STOPPED.append(signum)
  error = exception(signum)
  depth = _tensorflow_frames(frame) if frame is not None else 0
  if depth and sys.getprofile() is None:  # (under a profiler of the user's: raised here)
    _DEFERRED[:] = [error, depth]
    sys.setprofile(_raise_outside_tensorflow)
    if _ARRIVALS[1] is not None:  # stop_notice's thread: this handler read the signal
      with contextlib.suppress(OSError):
        os.write(_ARRIVALS[1], bytes([signum]))
    return
  raise error


# Packages whose Python code TensorFlow's C++ calls back (a property it reads, a
# trackable's serialize method) and then may not check for an error. A stop raised in
# `Context._handle`, read by EagerTensor's constructor, made it go on with a null
# context: the run died by SIGSEGV with no line and no final save (about 1 in 200 stops
# of a random-agent run on 2 busy cores, session 56). A stop is raised only where no
# frame of theirs is on the stack: code of any other package may be called by their C++
# in turn (abc's isinstance checks, a property of ours it reads). Traces and compiles
# run on a thread of their own (core/compile_pacing): a stop deferred waits for a short
# call, an update or a save.
_DEFER_IN = frozenset({'tensorflow', 'keras', 'tf_keras', 'tensorflow_probability'})
_DEFERRED = []  # [the stop deferred, how many frames of _DEFER_IN are on the stack]


def _theirs(frame):
  """Whether `frame` runs a function of _DEFER_IN's packages. Not a module's own code as
  it is imported: importlib runs it and takes its errors, and a stop while TensorFlow
  loads stopped at once (0.3 s) instead of after the import (4 s)."""
  return (frame.f_code.co_name != '<module>' and
          (frame.f_globals.get('__name__') or '').partition('.')[0] in _DEFER_IN)


def _tensorflow_frames(frame):
  """How many frames of _DEFER_IN's packages are `frame` or called it."""
  count = 0
  while frame is not None:
    count += _theirs(frame)
    frame = frame.f_back
  return count


def _raise_outside_tensorflow(frame, event, arg):
  """The main thread's profile function while a stop is deferred: counts the frames of
  _DEFER_IN's packages as they are entered and left (a walk of the stack at every call
  slowed the code it waited for: a run stopped by SIGXCPU took 3.6-12 s instead of 2),
  and raises the stop as the last of them returns (into the code that called it, as if
  it had landed there), or at the first call or return made with none left."""
  del arg
  if _theirs(frame):
    if event == 'call':
      _DEFERRED[1] += 1
    elif event == 'return':
      _DEFERRED[1] -= 1
      if _DEFERRED[1] <= 0:
        _raise_if_none_left(frame.f_back)
  elif _DEFERRED[1] <= 0:
    _raise_if_none_left(frame)


def _raise_if_none_left(frame):
  """Raises the deferred stop if no frame of _DEFER_IN's is `frame` or called it (the
  count checked where it ends), else counts them anew."""
  _DEFERRED[1] = _tensorflow_frames(frame)
  if not _DEFERRED[1]:
    error = _DEFERRED[0]
    _DEFERRED.clear()
    sys.setprofile(None)
    raise error


def raised():
  """Whether a stop came and was raised (stop_notice's `handled`): not one deferred."""
  return bool(_STOPPED) and not _DEFERRED


_ARRIVED = []  # stop signals in the order they arrived, as the wakeup fd told them
_ARRIVALS = [None, None]  # the wakeup fd's read and write ends (`track_arrivals`'), or None
# Held from a read of it to the note of what it read: a handler that read the next
# byte meanwhile noted the later signal first. (An RLock: a handler may run inside.)
_ARRIVALS_LOCK = threading.RLock()


def track_arrivals():
  """Makes the C-level handler write each signal's number, as it arrives, to a pipe
  (signal.set_wakeup_fd) that `first_arrived` reads. Returns the pipe's non-blocking
  read end, or None where the wakeup fd is someone else's (an event loop's): that is
  left alone. Call from the main thread; once is enough (`take_over` does)."""
  if _ARRIVALS[0] is not None:
    return _ARRIVALS[0]
  taken = signal.set_wakeup_fd(-1)
  if taken != -1:
    signal.set_wakeup_fd(taken)
    return None
  read, write = os.pipe()
  os.set_blocking(write, False)  # the C-level handler must never block on it
  os.set_blocking(read, False)  # read by the handler and by stop_notice's thread
  signal.set_wakeup_fd(write, warn_on_full_buffer=False)
  _ARRIVALS[:] = [read, write]
  return read


def read_arrivals():
  """The bytes waiting on the wakeup fd (b'' if none), its stop signals noted in the
  order they came. Its one reader: stop_notice's thread, and the handler."""
  read = b''
  with _ARRIVALS_LOCK:
    while _ARRIVALS[0] is not None:
      try:
        data = os.read(_ARRIVALS[0], 64)
      except OSError:  # BlockingIOError: nothing more
        break
      if not data:
        break
      read += data
    numbers = {int(x) for x in SIGNALS}
    _ARRIVED.extend(x for x in read if x in numbers)
  return read


def first_arrived(signum):
  """The stop signal that arrived first, else `signum`. Python runs the handlers of
  signals that came during one call by their number: SIGTERM, then Ctrl-C, within one
  XLA compile said 'Interrupted' (exit 130)."""
  read_arrivals()
  return _ARRIVED[0] if _ARRIVED else signum


_STOPPED = []  # the stop signal `stop` raised, once one came


def stopping():
  """Whether a stop signal stopped the command: what it closes then gets a short time
  (core/driver, which looks this module up and never imports it)."""
  return bool(_STOPPED)


def raise_again():
  """Raises the stop's exception again once one came (core/driver asks at every step).

  The code a stop lands in may drop what `stop` raised: Python prints and drops an
  exception of a weakref's callback (importlib's module locks have one), and C code
  may turn it into an error (TensorFlow's nest: a SystemError) that code above catches.
  The run then trained on with every further stop ignored: SIGXCPU's test hung for
  300 s in CI."""
  if _STOPPED:
    raise exception(_STOPPED[0])


def take_over(handler=stop):
  """Once the command runs: `handler` (`stop`, or one that ends by calling it) takes
  SIGTERM (`kill`, `timeout`, schedulers: as Ctrl-C) and Ctrl-C."""
  track_arrivals()  # so that the stop named is the one that came first
  signal.signal(signal.SIGTERM, handler)
  if ctrl_c_is_ours():
    signal.signal(signal.SIGINT, handler)
  for number in _DEFAULT_KILLS:
    if signal.getsignal(number) in (signal.SIG_DFL, stopped_while_starting):
      signal.signal(number, handler)
  if signal.getsignal(signal.SIGXCPU) is handler:
    warn_before_cpu_kill()


# CPU seconds before a CPU time limit's SIGKILL in which SIGXCPU stops the command.
CPU_NOTICE_SECONDS = 10


def warn_before_cpu_kill():
  """Where the CPU time's soft limit is its hard one (`ulimit -t N` sets both), the
  kernel sends SIGKILL alone as it is reached: the run ended as 'Killed', without a
  line, losing what it did since its last save. The soft limit is set
  CPU_NOTICE_SECONDS below it, so SIGXCPU stops the command first."""
  import resource
  soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
  if soft == hard != resource.RLIM_INFINITY and hard > 2 * CPU_NOTICE_SECONDS:
    resource.setrlimit(resource.RLIMIT_CPU, (hard - CPU_NOTICE_SECONDS, hard))


def ignore():
  """Stops are ignored from now on: one is under way, or the work is done."""
  global _replaced_hook, _replaced_excepthook
  if sys.unraisablehook is not _quiet_race:
    _replaced_hook, sys.unraisablehook = sys.unraisablehook, _quiet_race
  if sys.excepthook is not _quiet_stop:
    _replaced_excepthook, sys.excepthook = sys.excepthook, _quiet_stop
  for number in SIGNALS:
    signal.signal(number, signal.SIG_IGN)


_replaced_hook = None  # the unraisable hook `ignore` replaced
_replaced_excepthook = None  # and the exception hook


def behind(error, kind=Signalled):
  """The exception of `kind` (default: one `stop` raised) that `error` is, or was raised
  while handling or from (a C extension that made a SystemError of it), else None."""
  seen = set()
  while error is not None and id(error) not in seen:
    if isinstance(error, kind):
      return error
    seen.add(id(error))
    error = error.__cause__ or error.__context__
  return None


def _quiet_race(unraisable):
  """Drops Python's report of a stop that could not be raised where it landed.

  Two kinds that come during one C call (SIGTERM, then Ctrl-C during an XLA compile)
  are both pending when Python looks: it runs the lower number's handler first, and
  then found the other with its handler gone ('OSError: Signal 15 ignored due to race
  condition' and a traceback on stderr, after the stop's one line). Ignoring it is
  what `ignore` asked for. A stop that landed in a weakref's callback (importlib's
  module locks have one) is printed and dropped there ('Exception ignored in:' and its
  traceback); `raise_again` raises it at the run's next step."""
  error = unraisable.exc_value
  race = {f'Signal {int(n)} ignored due to race condition' for n in SIGNALS}
  if not (type(error) is OSError and str(error) in race) and behind(error) is None:
    _replaced_hook(unraisable)


def _quiet_stop(kind, error, trace):
  """sys.excepthook once a stop came: C code that prints the error a Python call of its
  raised (PyErr_Print) printed the stop's traceback there; the command's line says it."""
  if behind(error) is None:
    _replaced_excepthook(kind, error, trace)


def exception(signum):
  if signum in _USER:
    return UserSignal(signum)
  return {signal.SIGTERM: Terminated, signal.SIGHUP: HungUp,
          signal.SIGXCPU: CpuLimit}.get(signum, Interrupted)()


# A command's line when its stdout is a pipe whose reader ended (`| head`, `| less` quit):
# '[Errno 32] Broken pipe' named no stream.
_STDOUT_GONE = 'Stopped: stdout is a pipe that nothing reads any more (the program after | ended)'

# What a write to stdout raises when its file cannot take it (a full disk, /dev/full,
# `ulimit -f`, a terminal gone).
_STDOUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def _to_devnull(fd):
  """Points `fd` at /dev/null: the interpreter's last flush then adds no 'Exception
  ignored' lines."""
  null = os.open(os.devnull, os.O_WRONLY)
  os.dup2(null, fd)
  os.close(null)


def _stdout_gone():
  """Whether stdout is a pipe whose reader has closed it (ask after a BrokenPipeError);
  then it goes to /dev/null."""
  try:
    fd = sys.stdout.fileno()
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    if not any(events & select.POLLERR for _, events in poller.poll(0)):
      return False
    _to_devnull(fd)
    return True
  except (AttributeError, ValueError, OSError):  # no stdout, or not a file
    return False


def _stdout_error():
  """The OSError that writing stdout raises now (a full disk, /dev/full, a file too
  large), else None: ask after an OSError that names no file. A failed write drops
  what it held, so a newline is written to tell. stdout then goes to /dev/null."""
  try:
    sys.stdout.write('\n')
    sys.stdout.flush()
    return None
  except OSError as e:
    _to_devnull(sys.stdout.fileno())
    return e
  except (AttributeError, ValueError):  # no stdout, or closed
    return None


def stdout_failed(error):
  """The start of a command's line when `error` was a write to stdout that failed: its
  reader ended (_STDOUT_GONE) or its file cannot take it ('[Errno 28] No space left on
  device' named no stream); else None. The caller adds what it left written."""
  if isinstance(error, BrokenPipeError) and _stdout_gone():
    return _STDOUT_GONE
  if isinstance(error, OSError) and not error.filename and error.errno in _STDOUT_ERRNOS:
    failed = _stdout_error()
    if failed:
      return f'Stopped: cannot write to stdout ({failed.strerror})'
  if isinstance(error, ValueError) and getattr(sys.stdout, 'closed', False):
    # sys.stdout.close() in this process's code (an env's): 'Error: ValueError: I/O
    # operation on closed file. (unexpected: ...)' named no stream
    return 'Stopped: cannot write to stdout (sys.stdout was closed by code in this process)'
  return None
