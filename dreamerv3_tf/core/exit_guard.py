"""What an env in this process (run.parallel=False) may do to the whole process.

  with exit_guard.guard(name):
    obs = env.step(action)     # exit_guard.Exited if the env calls os._exit(3)

os._exit ends the process at once, without a line: an env that called os._exit(0)
mid-run ended the run with exit code 0, as if it had finished. Inside the block,
os._exit raises Exited instead, so the run stops with one line naming the env. Only
the guarding thread's calls are caught: another thread's (the run's own exits) and a
child process's the env forked (which inherits the guard) exit as asked. Such a child
that returns or raises out of the block instead is ended there, with one warning line.

An env that sets its own handler for a stop signal (a simulator's library resetting
SIGINT to the default, or catching it for its own shutdown) made Ctrl-C kill the run
without a line, or do nothing at all. With a `name`, the run's handlers are put back
after the block, with one warning line naming the env; so is the recursion limit, if the
env lowered it (sys.setrecursionlimit(60): the run's own code failed, naming no env).
"""
import _signal  # signal.getsignal's C function, without its enum conversion (below)
import contextlib
import os
import signal
import sys
import threading
import time


class Exited(BaseException):
  """The env called os._exit(code). A BaseException, like SystemExit: an env's own
  `except Exception` cannot swallow it."""

  def __init__(self, code):
    super().__init__(f'called os._exit({code!r})')
    self.code = code


# The signals that stop a command (stop_signals.SIGNALS takes them from here: the
# runtime imports no command module); those after the first three kill it by default.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                signal.SIGXCPU)

_WARNED = []  # the handlers' warning is one line for the run


def _handlers():
  # Around every env step in this process: signal.getsignal's enum conversion made
  # this 4 us of the guard's 10.6 (0.3 us raw).
  return tuple(map(_signal.getsignal, STOP_SIGNALS))


@contextlib.contextmanager
def guard(name=None):
  real = os._exit
  pid, thread = os.getpid(), threading.get_ident()
  handlers = depth = None
  if name is not None and threading.current_thread() is threading.main_thread():
    handlers, depth = _handlers(), sys.getrecursionlimit()

  def _exit(code):
    if os.getpid() != pid or threading.get_ident() != thread:
      return real(code)
    raise Exited(code)

  os._exit = _exit
  try:
    with forks_end(name):  # a child the env forked, come back into the run's code
      yield
  finally:
    os._exit = real
    if handlers is not None and _handlers() != handlers:
      _put_back(handlers, name)
    if depth is not None and sys.getrecursionlimit() < depth:
      _put_back_recursion_limit(depth, name)


@contextlib.contextmanager
def forks_end(name=None):
  """Ends a child that the block's code forked and that comes back out of it (an env
  worker's step: such a child read and wrote the worker's pipe beside it)."""
  pid = os.getpid()
  try:
    yield
  finally:
    if os.getpid() != pid:
      _end_child(name)


def _end_child(name):
  """Ends a process the env forked that returned or raised into the run instead of
  ending (os._exit, or exec): it ran a copy of the run beside it, writing to the same
  logdir and forking again at each step, and its exit code was the run's."""
  error = sys.exc_info()[1]  # e.g. the exec that failed
  raised = f', raising {type(error).__name__}: {" ".join(str(error).split())}' if (
      error is not None) else ''
  line = (f'Warning: {name or "an env"} forked a process (pid {os.getpid()}) that came back '
          f'into the run{raised}; it was ended (a forked child must end with os._exit() or '
          'exec)\n')
  try:
    sys.stderr.flush()
    # One write: print's two (the text, then its newline) from children ending at once
    # merged two lines into one and left an empty one.
    os.write(2, line.encode('utf-8', 'replace'))
  except (OSError, ValueError, AttributeError):  # no stderr (closed by the env)
    pass
  finally:
    os._exit(1)


def _put_back(handlers, name):
  """Restores the stop signals' `handlers` (in STOP_SIGNALS' order) that the block
  replaced (None: one set from C, which Python cannot put back). Not once a stop came:
  its handler ignores the rest (stop_signals.ignore), which is no env's doing."""
  if stopping():
    return
  now = _handlers()
  changed = [(n, h) for n, h, current in zip(STOP_SIGNALS, handlers, now)
             if h is not None and current is not h]
  for number, handler in changed:
    signal.signal(number, handler)
  if changed and not _WARNED:
    _WARNED.append(True)
    names = ' and '.join(signal.Signals(n).name for n, _ in changed)
    print(f'Warning: {name} set its own handler for {names}; the run put its own back, '
          'so a stop still ends it with one line (its env.close() is called then)',
          file=sys.stderr, flush=True)


def _put_back_recursion_limit(depth, name):
  """Restores the recursion limit `depth` that the block lowered: the run's own code
  (TensorFlow's tracing is deep) failed with 'Error: RecursionError: maximum recursion
  depth exceeded ... (unexpected: ...)', naming no env."""
  lowered = sys.getrecursionlimit()
  sys.setrecursionlimit(depth)
  if not _WARNED_DEPTH:
    _WARNED_DEPTH.append(True)
    print(f'Warning: {name} lowered the recursion limit to {lowered} '
          f'(sys.setrecursionlimit); the run put its own, {depth}, back', file=sys.stderr,
          flush=True)


_WARNED_DEPTH = []  # as _WARNED, for the recursion limit


def stopping():
  """Whether a stop signal (Ctrl-C, SIGTERM, ...) is stopping the command: what it
  closes then gets a short time (core/driver)."""
  stops = sys.modules.get('dreamerv3_tf.stop_signals')  # looked up, never imported here
  return bool(stops and stops.stopping())


def raise_stop():
  """Raises again a stop signal's exception that the code it landed in swallowed
  (stop_signals.raise_again); nothing if no stop came."""
  stops = sys.modules.get('dreamerv3_tf.stop_signals')
  if stops:
    stops.raise_again()


# Seconds the threads and processes left running as the program ends get to end.
LEFTOVER_WAIT = 2.0


def leftovers(wait=LEFTOVER_WAIT):
  """Once the program's work is done: a line naming the threads that are no daemons and
  the multiprocessing children that are not still running after `wait` s (an env's),
  and the other processes below this one (processes_ended), or ''. The children are
  killed; the caller ends the process without joining the threads (Python's shutdown
  waits for them without end)."""
  # First what Python's exit runs before it joins threads: concurrent.futures' pools
  # end their idle workers there (named here as hanging, they did not), after their work.
  for call in reversed(getattr(threading, '_threading_atexits', [])):
    call()
  deadline = time.monotonic() + wait
  threads = [t for t in threading.enumerate()
             if t is not threading.current_thread() and not t.daemon]
  multiprocessing = sys.modules.get('multiprocessing')  # looked up: loaded if one was made
  children = [p for p in multiprocessing.active_children()
              if not p.daemon] if multiprocessing else []
  for waiting in threads + children:
    waiting.join(max(0.0, deadline - time.monotonic()))
  threads = [t for t in threads if t.is_alive()]
  children = [p for p in children if p.is_alive()]
  for child in children:  # SIGKILL: a forked child runs the run's SIGTERM handler
    child.kill()
    child.join(1.0)
  ended = processes_ended()  # (not multiprocessing's: Python ends or joins those itself)
  names = []
  if threads:
    names.append(f'thread{"s" if len(threads) > 1 else ""} '
                 f'{", ".join(repr(t.name) for t in threads)}')
  if children:
    names.append(f'multiprocessing process{"es" if len(children) > 1 else ""} '
                 f'{", ".join(f"{p.name!r} (pid {p.pid})" for p in children)}')
  if not names:
    return ended
  count = len(threads) + len(children)
  line = (f'{" and ".join(names)} still ran {wait:g} s after the work was done, '
          f'{"not a daemon" if count == 1 else "no daemons"}: Python waits for such at '
          f'exit, and the program would hang; it ends without waiting'
          f'{" (the processes killed)" if children else ""}: start '
          f"{'it' if count == 1 else 'them'} with daemon=True, or end "
          f"{'it' if count == 1 else 'them'} in the env's close()")
  return f'{line}; {ended}' if ended else line


# Seconds the processes an env started and left running get to end after SIGTERM.
PROCESS_END_WAIT = 1.0


def processes_ended(wait=PROCESS_END_WAIT):
  """Ends the processes below this one that still run (Linux: /proc), an env's helper
  (subprocess.Popen(['sleep', '1000']), a simulator's server) that its close() left:
  they outlived the run, and held its stdout open (`main ... | tail` never ended).
  SIGTERM, then SIGKILL `wait` s later. -> the line naming them, or ''. Processes of
  multiprocessing are left to it (Python joins or ends them at exit)."""
  multiprocessing = sys.modules.get('multiprocessing')
  theirs = {p.pid for p in multiprocessing.active_children()} if multiprocessing else set()
  pids = [p for p in descendants() if p not in theirs and not _of_multiprocessing(p)]
  named = [(pid, _command(pid)) for pid in pids if _running(pid)]
  if not named:
    return ''
  signal_processes([pid for pid, _ in named], signal.SIGTERM)
  deadline = time.monotonic() + wait
  while any(_running(pid) for pid, _ in named) and time.monotonic() < deadline:
    time.sleep(0.02)
  signal_processes([pid for pid, _ in named if _running(pid)], signal.SIGKILL)
  shown = ', '.join(f'{command!r} (pid {pid})' for pid, command in named[:3])
  more = f' and {len(named) - 3} more' if len(named) > 3 else ''
  return (f'process{"es" if len(named) > 1 else ""} {shown}{more} that an env started '
          f'still ran after the work was done; {"they were" if len(named) > 1 else "it was"} '
          f"ended (SIGTERM): end {'them' if len(named) > 1 else 'it'} in the env's close()")


def descendants(pid=None):
  """The pids of the processes below `pid` (default: this process), parents first;
  [] where /proc does not list children."""
  found, todo = [], [os.getpid() if pid is None else pid]
  while todo:
    parent = todo.pop(0)
    try:
      tasks = os.listdir(f'/proc/{parent}/task')
    except OSError:
      continue
    for task in tasks:
      try:
        with open(f'/proc/{parent}/task/{task}/children') as f:
          children = [int(x) for x in f.read().split()]
      except (OSError, ValueError):
        continue
      for child in children:
        if child not in found:
          found.append(child)
          todo.append(child)
  return found


def process_state(pid):
  """The state letter /proc gives process `pid` ('R', 'S', 'T' for stopped, 'Z' for a
  zombie, ...), or None where it is gone or unknown."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().rpartition(')')[2].split()[0]
  except (OSError, IndexError):
    return None


def _running(pid):
  """Whether `pid` runs: it exists and is no zombie (one of ours is reaped then)."""
  state = process_state(pid)
  if state != 'Z':
    return state is not None
  try:
    os.waitpid(pid, os.WNOHANG)
  except ChildProcessError:  # not this process's child
    pass
  return False


# Seconds to wait for a process that is starting to show its command line.
CMDLINE_WAIT = 0.2


def _command(pid):
  # A process still in its exec reads as '' for a moment, though Popen has returned
  # (its error pipe closes before the kernel sets the new arguments): 9% of 300 starts.
  deadline = time.monotonic() + CMDLINE_WAIT
  while True:
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        raw = f.read()
    except OSError:
      return '?'
    if raw or time.monotonic() > deadline or not _running(pid):
      break
    time.sleep(0.002)
  words = raw.rstrip(b'\0').split(b'\0')
  text = ' '.join(x.decode('utf-8', 'replace') for x in words)
  return text if len(text) <= 60 else text[:57] + '...'


def _of_multiprocessing(pid):
  """Whether `pid` is multiprocessing's resource tracker or fork server (it ends when
  this process does)."""
  return ' -c from multiprocessing.' in _command(pid)


def signal_processes(pids, number):
  """Sends signal `number` to each of `pids` that still exists."""
  for pid in pids:
    try:
      os.kill(pid, number)
    except OSError:  # ended meanwhile
      pass
