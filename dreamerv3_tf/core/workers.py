"""An env in a worker process, behind the same Env contract (restart on failure).

  envs = workers.start([functools.partial(make_env, i) for i in range(4)])
  obs = workers.step_all(envs, actions)      # all processes step at the same time
  obs = envs[0].step(action)                 # or one at a time: the Env contract
  envs[0].close()

Each env lives in its own fresh Python interpreter (a subprocess that imports only
this module, numpy and whatever the constructor needs), so no TensorFlow state is
forked and the parent's `__main__` is not re-imported (which the multiprocessing
'spawn' start method would do, importing TensorFlow in every worker when the entry
script imports it at the top). Its numpy uses one BLAS thread unless the user's
OPENBLAS_NUM_THREADS says otherwise. Constructors travel as plain data (a module-level
function's name and its arguments) and actions and observations as `wire`-encoded
numpy dicts over a socket pair: no pickle in either direction.

Crashed workers: a worker whose process dies, whose env raises, or that does not answer
within `timeout` seconds (awake_clock's: a stop of the whole run is not counted) is killed
and rebuilt from its constructor (unless that happens
at its very first step: an env that cannot take one step is broken, base.EnvError;
and an env that fails again after 3 rebuilds in a row, with no episode finished in
between, stops the run too, as one that fails within every episode would otherwise be
rebuilt forever).
Its partial episode is discarded: no fake `is_last` transition is emitted (a made-up
final observation would put a boundary into replay that the env never produced). The
rebuilt env is stepped with `reset=True` at once, so the observation `step` returns has
`is_first=True`: the agent resets that env's carry as at any episode start, replay
starts a new episode for the worker, and episode statistics restart. An env that breaks its declared spaces
(`base.EnvSpaceError`) is a bug, not a crash: it is raised, not restarted.
Errors and warnings name the env in one line; the env's own traceback is printed
only when errors.wants_traceback(). A warning that every env of a run would print goes
through `note`: a worker sends it with its next answer, and the parent prints each once.
"""

import functools
import importlib
import multiprocessing.connection as mpc
import os
import signal
import socket
import subprocess
import sys
import threading
import traceback
import weakref

from dreamerv3_tf.core import awake_clock
from dreamerv3_tf.core import base
from dreamerv3_tf.core import deadline
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import exit_guard
from dreamerv3_tf.core import streams
from dreamerv3_tf.core import tf_lines
from dreamerv3_tf.core import wire

_MAX_CONSECUTIVE_RESTARTS = 3
# Signals that may reach the whole process group (Ctrl-C; a scheduler's SIGUSR1 or
# SIGUSR2 sent to every process of a job): a worker ignores them and the parent, which
# stops on them, decides when workers stop.
GROUP_SIGNALS = {signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2}


_PENDING = None  # in a worker process: its env's notes, sent before its next answer
_SHOWN = set()  # the keys of the notes printed by this process


def note(key, text):
  """Prints 'Warning: <text>' once per `key` in the run: an env's warning that each of
  its envs would print (every worker its own line). In a worker process the parent
  prints it, when it receives the worker's next answer."""
  if _PENDING is not None:
    _PENDING.append((key, text))
  elif key not in _SHOWN:
    _SHOWN.add(key)
    print(f'Warning: {text}', file=sys.stderr, flush=True)


class RemoteEnv(base.Env):
  """An env built and stepped in its own worker process.

  Args:
    index: the env's number.
    make_env: zero-argument constructor: a module-level function, or a
      functools.partial of one with plain-data arguments.
    timeout: seconds the worker may take to build its env or answer one call
      before it counts as crashed.
    wait: wait for the env to be built now; False starts the process only
      (`ready()` waits), so that several workers start at the same time.
    name: how errors name the env (e.g. 'dmc_walker_walk train env 1').

  Attributes:
    obs_space, act_space: the env's spaces (act_space includes 'reset').
    restarts: number of times the worker was rebuilt.
  """

  def __init__(self, index, make_env, timeout=120.0, wait=True, name=None):
    self.index = index
    self.name = name or f'env {index}'
    self.timeout = float(timeout)
    self.restarts = 0
    self._spaces = None
    self._ctor = _ctor_spec(index, make_env)
    self._worker = [_Worker(index, self._ctor)]  # a list: restarts replace it
    self._deadline = self._failure = None
    self._lost = None  # a _WorkerError of get_state or set_state: the next step restarts
    self._close_by = None  # when close() stops waiting (request_close sets it)
    # Restarts since the env last finished an episode: an env that fails within every
    # episode (at its first real step or its hundredth) is stopped, not rebuilt forever.
    self._in_row = 0
    # Kill the worker if the env is dropped or the program exits without close().
    self._finalizer = weakref.finalize(self, _kill_all, self._worker)
    if wait:
      self.ready()

  @property
  def obs_space(self):
    return self._spaces[0]

  @property
  def act_space(self):
    return self._spaces[1]

  @property
  def pid(self):
    return self._worker[0].proc.pid

  def ready(self):
    """Waits until the env is built; base.EnvError naming it if that failed."""
    try:
      self._spaces = self._worker[0].ready(self.timeout)
    except _WorkerError as e:
      raise base.EnvError(
          f'{self.name} failed to start: {e}', e.details, e.exit_code) from None

  def step(self, action):
    self.submit(action)
    return self.result()

  def submit(self, action):
    """Sends `action`; `result()` waits for the observation."""
    self._deadline = awake_clock.now() + self.timeout  # (a stop of the run is not counted)
    self._failure, self._lost = self._lost, None  # (_call's: it is rebuilt now)
    if self._failure is not None:
      return
    try:
      wire.send(self._worker[0].conn, action)
    except OSError as e:  # BrokenPipeError, ConnectionResetError
      self._failure = _WorkerError(self._worker[0].lost(e))

  def result(self):
    """The observation for the submitted action; from a rebuilt env if it failed."""
    error, worker = self._failure, self._worker[0]
    if error is None:
      if awake_clock.wait(worker.conn.poll, self._deadline):
        try:
          obs = worker.receive()
          worker.stepped = True
          if isinstance(obs, dict) and bool(obs.get('is_last', False)):
            self._in_row = 0  # an episode finished: the env is not broken
          return obs
        except _WorkerError as e:
          error = e
        except base.EnvSpaceError as e:
          raise _renamed(e, self.name) from None
      else:
        error = _WorkerError(self._no_answer())
    if not worker.stepped:  # a broken env, not a crash: restarts cannot help
      raise base.EnvError(f'{self.name} failed on its first step: {error}', error.details)
    return self._restart(error)

  def get_state(self):
    """The env's state, or None if it cannot save one (see base.get_env_state) or its
    worker died or hung meanwhile (rebuilt at its next step; it resumes anew)."""
    return self._call(('get_state',))

  def set_state(self, state):
    return self._call(('set_state', state))

  def kill(self):
    """Stops the worker at once (its env is not closed)."""
    self._finalizer()

  def request_close(self):
    """Asks the worker to stop (it closes its env) and returns: `close()` then waits
    at most 2 s from now. Driver.close asks every worker first, so the waits overlap:
    one after another, workers busy in a long step (a slow reset) held a Ctrl-C's line
    back 2 s each, 18 s for 9 envs."""
    if self._finalizer.alive and self._close_by is None:
      self._worker[0].request_stop()
      self._close_by = awake_clock.now() + 2.0  # for the env's close and the process's exit

  def close(self):
    """Asks the worker to stop (it closes its env), then kills it. Safe twice.

    An env whose own close() raised is base.EnvError naming it, as in this process.
    """
    if not self._finalizer.alive:
      return
    self.request_close()
    worker = self._worker[0]
    failed = worker.closed(self._close_by)
    worker.join(max(0.0, self._close_by - awake_clock.now()))
    self._finalizer()
    if failed is not None:
      raise base.EnvError(f'{self.name} failed to close: {failed[0]}', failed[1])

  def _call(self, message):
    """The worker's answer to `message`, or None if it died or hung: then it is killed,
    and its next step rebuilds it as after a crash mid-step. An idle worker (an eval
    env between evals) killed by the OOM killer stopped the run at its next save with
    'Could not save a checkpoint ...: Broken pipe', and one stopped (SIGSTOP) hung it."""
    worker = self._worker[0]
    if self._lost is not None:  # killed already: its step rebuilds it
      return None
    try:
      wire.send(worker.conn, message)
      if not awake_clock.wait_for(worker.conn.poll, min(self.timeout, STATE_NOTICE_SECONDS)):
        self._say_waiting(message[0])
        if not awake_clock.wait_for(
            worker.conn.poll, max(0.0, self.timeout - STATE_NOTICE_SECONDS)):
          raise _Lost(self._no_answer())
      return worker.receive()
    except OSError as e:  # BrokenPipeError, ConnectionResetError
      self._lost = _WorkerError(worker.lost(e))
    except _Lost as e:
      self._lost = e
    except _WorkerError as e:  # the env's own get_state or set_state raised
      raise base.EnvError(f'{self.name}: {e}', e.details) from None
    worker.kill()
    return None

  def _no_answer(self):
    """Why its worker failed when it did not answer in time; a worker stopped alone
    (SIGSTOP, a debugger; a stop of the whole run is not counted) is named so: the line
    read as an env that hangs."""
    pid = self._worker[0].proc.pid
    stopped = (f'; its worker, pid {pid}, was stopped: SIGSTOP or SIGTSTP'
               if _is_stopped(pid) else '')
    return f'no answer within {self.timeout:g}s (run.env_timeout){stopped}'

  def _say_waiting(self, request):
    """One line for a worker that has not answered `request` within
    STATE_NOTICE_SECONDS: a save waited up to run.env_timeout (120 s) for a stopped
    (SIGSTOP) idle worker without a word."""
    if self.timeout <= STATE_NOTICE_SECONDS:
      return
    pid = self._worker[0].proc.pid
    why = (f' (its worker, pid {pid}, is stopped: SIGSTOP or SIGTSTP; kill -CONT {pid} '
           'resumes it)' if _is_stopped(pid) else '')
    what = ('sent its state for the checkpoint' if request == 'get_state'
            else 'taken its saved state')
    print(f'Warning: {self.name} has not {what} in {STATE_NOTICE_SECONDS:g}s{why}; waiting up '
          f'to run.env_timeout ({self.timeout:g}s), then the run goes on without it and '
          'rebuilds the env at its next step', file=sys.stderr, flush=True)

  def _restart(self, error):
    """Rebuilds the worker and returns its first observation (is_first)."""
    reset = {k: v[0] for k, v in base.reset_actions(self.act_space, 1).items()}
    while self._in_row < _MAX_CONSECUTIVE_RESTARTS:
      self._in_row += 1
      attempt = self._in_row
      print(
          f'Warning: {self.name} failed ({error}); restarting it (attempt '
          f'{attempt}), its partial episode is discarded.', file=sys.stderr, flush=True)
      if error.details and errors.wants_traceback():
        print(error.details, file=sys.stderr, flush=True)
      self._worker[0].kill()
      self.restarts += 1
      try:
        self._worker[0] = _Worker(self.index, self._ctor)
        self._worker[0].ready(self.timeout)
        wire.send(self._worker[0].conn, reset)
        if not awake_clock.wait_for(self._worker[0].conn.poll, self.timeout):
          raise _WorkerError(self._no_answer())
        obs = self._worker[0].receive()
        self._worker[0].stepped = True
        return obs
      except _WorkerError as e:
        error = e
      except OSError as e:
        error = _WorkerError(str(e))
    raise base.EnvError(
        f'{self.name} failed {_MAX_CONSECUTIVE_RESTARTS} restarts in a row without '
        f'finishing an episode; last error: {error}', error.details)


# Seconds a checkpoint's get_state (or a resume's set_state) waits for a worker before
# it says so; an idle worker answers in milliseconds.
STATE_NOTICE_SECONDS = 5.0


def start(make_env_fns, timeout=120.0, names=None):
  """-> [RemoteEnv], one per constructor; their interpreters start at the same time.

  names: how errors name each env (default 'env <index>'). Raises base.EnvError
  naming the first env that failed to build (all are stopped).
  """
  return ready_all(launch(make_env_fns, timeout, names))


def launch(make_env_fns, timeout=120.0, names=None):
  """-> [RemoteEnv] whose interpreters are starting; `ready_all` waits for them, and
  the caller may do other work meanwhile."""
  envs = []
  names = names or [None] * len(make_env_fns)
  try:
    for i, (fn, name) in enumerate(zip(make_env_fns, names)):
      envs.append(RemoteEnv(i, fn, timeout, wait=False, name=name))
  except BaseException:
    for env in envs:
      env.kill()
    raise
  return envs


def ready_all(envs):
  """Waits until every env of `launch` is built -> envs. Raises base.EnvError naming
  the first env that failed to build (all are stopped)."""
  try:
    for env in envs:
      env.ready()
  except BaseException:
    for env in envs:
      env.kill()
    raise
  return envs


def step_all(envs, acts, names, timeout=None):
  """-> [env.step(act)] for every env. Remote envs get their actions before any
  answer is awaited, so their processes step at the same time; the errors of envs
  in this process are named as `names` (remote ones name themselves), and a step of
  one that takes longer than `timeout` seconds stops the run (base.EnvError)."""
  remote = [isinstance(env, RemoteEnv) for env in envs]
  for env, act, is_remote in zip(envs, acts, remote):
    if is_remote:
      env.submit(act)
  return [env.result() if is_remote else _step_local(env, act, name, timeout)
          for env, act, is_remote, name in zip(envs, acts, remote, names)]


def local_timeout_error(name, what, error):
  """The one line for an env in this process that passed its time limit."""
  return base.EnvError(
      f'{name} {what}: {error} (it runs in this process, run.parallel=False, where a '
      'hung env cannot be restarted; run.env_timeout sets the limit)')


def _step_local(env, act, name, timeout=None):
  try:
    with deadline.limit(timeout), exit_guard.guard(name):
      return env.step(act)
  except deadline.Expired as e:
    raise local_timeout_error(name, 'failed to step', e) from None
  except base.EnvSpaceError as e:
    raise _renamed(e, name) from None
  except KeyboardInterrupt as e:
    if is_stop(e):  # Ctrl-C or SIGTERM (stop_signals.Terminated): the user stops
      raise
    error = own_interrupt(name, e)
  except BaseException as e:  # noqa: BLE001 - also the env's sys.exit: named and passed on
    raise base.EnvError(f'{name} {_raised(e)}') from e
  raise error  # outside the handler: a KeyboardInterrupt as its context reads as a stop


def is_stop(error):
  """Whether KeyboardInterrupt `error` is the user's stop: a signal, which a command's
  handlers raise as a stop_signals.Signalled (take_over). Where Python's own handler
  raises Ctrl-C as a plain one, every KeyboardInterrupt is taken for it."""
  # Looked up, never imported here (the runtime imports no command module).
  stops = sys.modules.get('dreamerv3_tf.stop_signals')
  if stops is None or signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    return True
  return isinstance(error, stops.Signalled)


def own_interrupt(name, error, what='raised'):
  """The EnvError of an env in this process whose own code raised KeyboardInterrupt
  `error` (no signal came): it read as the user's Ctrl-C ('Interrupted', exit 130).
  Raise it outside the handler of `error`: chained to it, even as its context, main
  takes it for a stop again. Its traceback is the details."""
  tb, where = error.__traceback__, ''
  while tb is not None:
    where, tb = f' at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}', tb.tb_next
  return base.EnvError(
      f'{name} {what} KeyboardInterrupt{where}, in its own code (no Ctrl-C or stop signal '
      'came)', ''.join(traceback.format_exception(error)))


def error_summary(error):
  """One line: the message, after the exception's type unless it is a ValueError
  (whose messages name the problem already, e.g. an unknown task) whose str() worked."""
  text = errors.flat_text(error)
  if isinstance(error, (ValueError, base.UserError, exit_guard.Exited)) and text and (
      not text.startswith(errors.STR_FAILED)):
    return text
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def _raised(error):
  text = errors.flat_text(error)
  if isinstance(error, exit_guard.Exited):  # 'called os._exit(3)'
    return text
  return f'raised {type(error).__name__}{": " + text if text else ""}'


def _renamed(error, name):
  """The EnvSpaceError with the env's name instead of its leading 'Env '."""
  text = str(error)
  return base.EnvSpaceError(f'{name}: {text[4:] if text.startswith("Env ") else text}')


def _ctor_spec(index, fn):
  """-> plain data naming `fn` (a module-level callable, or a functools.partial of one
  with plain-data arguments) that a worker turns back into the constructor."""
  func, args, kwargs = fn, (), {}
  if isinstance(fn, functools.partial):
    func, args, kwargs = fn.func, fn.args, fn.keywords
  module, name = getattr(func, '__module__', None), getattr(func, '__qualname__', '')
  try:
    if not module or not name or '<' in name:
      raise TypeError('not a module-level function or class')
    spec = {'module': module, 'name': name, 'args': tuple(args), 'kwargs': dict(kwargs)}
    wire.dumps(spec)
  except TypeError as e:
    raise ValueError(
        f'parallel=True needs env constructors that are picklable as plain data (a '
        f'module-level function, or a functools.partial of one whose arguments are '
        f'numbers, strings, lists, dicts or arrays); constructor {index} is {fn!r}: {e}'
    ) from None
  return spec


def _build(spec):
  """The worker's side of `_ctor_spec`: imports the function and calls it."""
  func = functools.reduce(getattr, spec['name'].split('.'), importlib.import_module(spec['module']))
  return func(*spec['args'], **spec['kwargs'])


class _WorkerError(RuntimeError):
  """A worker failed: a one-line message, the env's traceback if it raised, and the
  program's exit code for its error (base.exit_code: 2 for an unknown task)."""

  def __init__(self, message, details='', exit_code=1):
    super().__init__(message)
    self.details = details
    self.exit_code = exit_code


class _Lost(_WorkerError):
  """A worker died or did not answer in time (not an error its env reported)."""


# The worker's entry point: a fresh interpreter that imports only this module.
_BOOT = ('import sys; from dreamerv3_tf.core import workers; '
         'workers._serve(int(sys.argv[1]), int(sys.argv[2]))')
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Worker:
  """One env subprocess and the parent's end of its socket pair."""

  def __init__(self, index, ctor):
    self.index = index
    self.stepped = False  # answered a step: a later failure is a crash to restart
    parent, child = socket.socketpair()
    env = dict(os.environ)
    # One BLAS thread per worker unless the user chose a number: numpy's OpenBLAS starts
    # a thread per core in each worker (workers x cores threads for one env step each),
    # and starting them made a worker's boot cost 0.22 s of CPU instead of 0.16.
    env.setdefault('OPENBLAS_NUM_THREADS', '1')
    env['PYTHONPATH'] = os.pathsep.join(
        [_ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    # Ctrl-C reaches the whole process group, also while the worker's interpreter
    # starts, before _serve ignores it: it is born with SIGINT blocked (exec keeps
    # the mask), else that Ctrl-C printed its traceback on the run's stderr.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
    try:
      # This process's id, for the worker to end with it (_die_with): only from the
      # main thread, since Linux signals a child when the thread that started it ends.
      me = os.getpid() if threading.current_thread() is threading.main_thread() else 0
      self.proc = subprocess.Popen(
          [sys.executable, '-c', _BOOT, str(child.fileno()), str(me)],
          pass_fds=(child.fileno(),), env=env)
    finally:
      signal.pthread_sigmask(signal.SIG_SETMASK, mask)
      child.close()
    self.conn = mpc.Connection(parent.detach())
    # sys.path first, so the constructor's module (even a test file) can be imported.
    wire.send(self.conn, (list(sys.path), ctor))

  def ready(self, timeout):
    """Waits for the env to be built; returns (obs_space, act_space)."""
    if not awake_clock.wait_for(self.conn.poll, timeout):
      raise _WorkerError(f'built no env within {timeout:g}s (run.env_timeout)')
    return self.receive()

  def receive(self):
    try:
      kind, payload = wire.recv(self.conn)
      while kind == 'note':  # (the answer it comes before was sent right after it)
        note(*payload)
        kind, payload = wire.recv(self.conn)
    except (EOFError, OSError) as e:
      raise _Lost(self.lost(e)) from None
    if kind == 'space_error':
      raise base.EnvSpaceError(payload)
    if kind != 'ok':
      raise _WorkerError(*payload)  # (one-line summary, traceback)
    return payload

  def lost(self, error):
    """Describes a broken connection: usually the process died."""
    code = self._exitcode()
    if code is None:
      return f'lost connection to a live process ({error!r})'
    if code < 0:  # Popen's -N: killed by signal N ('exit code -9' read as the env's own exit)
      try:
        name = signal.Signals(-code).name
      except ValueError:  # a real-time signal
        name = signal.strsignal(-code) or 'unknown'
      oom = ', as the OOM killer ends a process when memory runs out' if -code == 9 else ''
      return f'process killed by signal {-code} ({name}{oom})'
    return f'process died (exit code {code})'

  def request_stop(self):
    try:
      wire.send(self.conn, None)
    except OSError:
      pass

  def closed(self, until):
    """Waits until awake_clock.now() reaches `until` for the answer to request_stop:
    None, or the (summary, traceback) of the env's close() raising. A step's answer
    still in the pipe is skipped; a worker that died or does not answer in time has
    nothing to report (it is killed)."""
    try:
      while awake_clock.wait(self.conn.poll, until):
        kind, payload = wire.recv(self.conn)
        if kind == 'note':  # (sent before its answer: the processes its env left)
          note(*payload)
        if kind == 'closed':
          return payload
    except (EOFError, OSError, ValueError):
      pass
    return None

  def join(self, timeout):
    try:
      self.proc.wait(timeout)
    except subprocess.TimeoutExpired:
      pass

  def kill(self):
    if self.proc.poll() is None:
      # (Linux) The processes its env started: orphaned, they outlived the run.
      left = exit_guard.descendants(self.proc.pid)
      self.proc.kill()
      exit_guard.signal_processes(left, signal.SIGKILL)
      try:
        self.proc.wait(5)
      except subprocess.TimeoutExpired:
        pass
    self.conn.close()

  def _exitcode(self):
    try:
      return self.proc.wait(0.5)
    except subprocess.TimeoutExpired:
      return None


def _is_stopped(pid):
  return exit_guard.process_state(pid) in ('T', 't')  # (t: stopped by a debugger)


def _kill_all(workers):
  for worker in workers:
    if worker is not None:
      worker.kill()


def _die_with(parent):
  """Linux: this worker is killed when the process `parent` that started it ends, however
  it ends. A worker busy in a hung step outlived a run killed with SIGKILL (the OOM
  killer, kill -9), keeping its memory and CPU until the step returned, if ever."""
  if not parent or not sys.platform.startswith('linux'):
    return
  try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):  # no prctl: as before
    return
  if os.getppid() != parent:  # it ended before the prctl
    os._exit(1)


def unraisable(unraisable):
  """sys.unraisablehook of `main` and the env workers (but with --traceback): an error
  Python ignores (an env's __del__ that raises, as one whose constructor failed before
  it set what __del__ closes; an atexit function that raises) is one warning line for
  the run, which a worker sends with its next answer (none: dropped). Python's report
  was a traceback each time: 5 lines at every step of an env dropping such an object,
  and one per worker before the one line naming a constructor's failure."""
  error = unraisable.exc_value
  frames = traceback.extract_tb(unraisable.exc_traceback)
  where = f' ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})' if (
      frames) else ''
  try:
    what = repr(unraisable.object)[:80]
  except Exception:  # noqa: BLE001 - an object whose repr fails too
    what = type(unraisable.object).__name__
  text = errors.flat_text(error)
  note(f'ignored {type(error).__name__}{where}', (
      f'{unraisable.err_msg or "Exception ignored in"}: {what}: {type(error).__name__}'
      f'{": " + text if text else ""}{where} (Python ignores it; --traceback shows it)'))


def thread_exception(args):
  """threading.excepthook of `main` and the env workers (but with --traceback): an error
  that ends a thread an env started (a simulator's poller whose server went away) is
  one warning line for the run, as `unraisable` makes one of an error in __del__.
  Python printed its traceback for every env and went on. One raised in our own code
  keeps Python's report: a bug of ours, not the env's."""
  frames = traceback.extract_tb(args.exc_traceback)
  ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  if args.exc_type is SystemExit or any(
      os.path.abspath(x.filename).startswith(ours + os.sep) for x in frames):
    threading.__excepthook__(args)  # (SystemExit: silent, as Python's own)
    return
  error = args.exc_value
  where = f' ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})' if (
      frames) else ''
  name = args.thread.name if args.thread is not None else '?'
  text = errors.flat_text(error)
  note(f'thread {args.exc_type.__name__}{where}', (
      f'Exception in thread {name!r}: {args.exc_type.__name__}{": " + text if text else ""}'
      f'{where} (Python ignores it: the thread ended; --traceback shows it)'))


def _end_processes_left():
  """In a worker whose env closed: ends the processes the env started and left running
  (they outlived the run, orphaned as the worker ended), with one warning line."""
  ended = exit_guard.processes_ended()
  if ended:
    note('processes an env left', ended)


def _serve(fd, parent=0):
  """Worker loop: build the env, then answer one observation per action."""
  _die_with(parent)
  # Ctrl-C reaches the whole process group; the parent decides when workers stop.
  for number in GROUP_SIGNALS:
    signal.signal(number, signal.SIG_IGN)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, GROUP_SIGNALS)  # a pending one is dropped
  conn = mpc.Connection(fd)
  streams.print_any_text()  # a fresh interpreter: the run's fds, not their error handler
  env = None
  global _PENDING
  _PENDING = []
  if not errors.wants_traceback():
    sys.unraisablehook = unraisable
    threading.excepthook = thread_exception
  # An env that imports TensorFlow printed its six start-up lines in each worker, where
  # main, which hides them, printed none.
  tf_lines.quiet_imports()

  def send(message):  # the env's notes first
    while _PENDING:
      wire.send(conn, ('note', _PENDING.pop(0)))
    wire.send(conn, message)

  try:
    path, ctor = wire.recv(conn)
    sys.path[:] = path
    try:
      with exit_guard.forks_end():  # a child the env forked stays out of the pipe
        env = _build(ctor)
      send(('ok', (env.obs_space, env.act_space)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which decides;
      # also the constructor's own KeyboardInterrupt (SIGINT is ignored here), which
      # printed this process's traceback on the run's stderr
      send(('error', (error_summary(e), traceback.format_exc(), base.exit_code(e))))
      return
    while True:
      act = wire.recv(conn)
      if act is None:  # the parent stops us: close the env and say how that went
        closing, env = env, None
        try:
          with exit_guard.guard():  # its os._exit ended the worker unreported (exit 0)
            closing.close()
          _end_processes_left()
          send(('closed', None))
        except BaseException as e:  # noqa: BLE001 - the parent names it, as in its own
          # process; also sys.exit, which ended this worker without a word (the run exited 0)
          send(('closed', (error_summary(e), traceback.format_exc())))
        break
      if isinstance(act, tuple):  # ('get_state',) or ('set_state', state)
        try:
          result = (base.get_env_state(env) if act[0] == 'get_state'
                    else env.set_state(act[1]))
          send(('ok', result))
        except Exception as e:  # noqa: BLE001 - the parent reports it
          send(('error', (error_summary(e), traceback.format_exc())))
        continue
      try:
        with exit_guard.forks_end():
          obs = env.step(act)
      except base.EnvSpaceError as e:  # a bug in the env: restarting cannot help
        send(('space_error', str(e)))
        return
      except BaseException as e:  # noqa: BLE001 - also sys.exit and KeyboardInterrupt of
        # the env's own code (SIGINT is ignored here): reported to the parent, which
        # restarts us, rather than a traceback of this process on the run's stderr
        send(('error', (_raised(e), traceback.format_exc())))
        return
      send(('ok', obs))
  except (EOFError, OSError):
    pass  # the parent is gone or closed the pipe
  finally:
    if env is not None:
      try:
        env.close()
      except Exception:  # noqa: BLE001 - closing a broken env must not mask the exit
        pass
    conn.close()
