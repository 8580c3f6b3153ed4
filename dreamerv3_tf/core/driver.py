"""Driver: steps N envs with one batched policy call per step.

  driver = Driver([functools.partial(make_env, i) for i in range(4)], parallel=True)
  driver.on_step(replay.add)                 # fn(transition, worker)
  driver.reset(agent.init_policy)
  driver(policy, steps=1000)                 # policy(carry, obs) -> carry, act, out

With `parallel=True` each env lives in its own fresh Python interpreter (a subprocess
that imports only this module, numpy and whatever the constructor needs), so no
TensorFlow state is forked and the parent's `__main__` is not re-imported (which the
multiprocessing 'spawn' start method would do, importing TensorFlow in every worker
when the entry script imports it at the top). Constructors travel as plain data (a
module-level function's name and its arguments) and actions and observations as
`wire`-encoded numpy dicts over a socket pair: no pickle in either direction.

Crashed workers: a worker whose process dies, whose env raises, or that does not answer
within `timeout` seconds is killed and rebuilt from its constructor (unless that happens
at its very first step: an env that cannot take one step is broken, base.EnvError).
Its partial episode is discarded: no fake `is_last` transition is emitted (a made-up
final observation would put a boundary into replay that the env never produced). The rebuilt env is stepped with
`reset=True` at once, so the observation the policy sees for that worker in the same
step has `is_first=True`; the agent resets that env's carry as at any episode start,
replay starts a new episode for the worker, and `on_episode` statistics restart.
Finished-episode counts include only episodes that really ended (`is_last`).

Errors name the env ('<name> <index>', e.g. 'dmc_walker_walk train env 1') in one
line: an env that cannot be built raises base.EnvError, one that breaks its spaces
base.EnvSpaceError; the env's own traceback is printed only when base.wants_traceback().
"""

import functools
import importlib
import multiprocessing.connection as mpc
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
import weakref

import numpy as np

from dreamerv3_tf.core import base
from dreamerv3_tf.core import wire

_MAX_CONSECUTIVE_RESTARTS = 3


class Driver:
  """Steps a batch of envs with a batched policy.

  Args:
    make_env_fns: list of picklable zero-argument callables returning an Env
      (e.g. `functools.partial` of a module-level function).
    parallel: each env in its own subprocess (True) or all in this process (False).
    timeout: seconds a worker may take to build its env or answer one step before
      it counts as crashed (parallel only).
    name: how errors name the envs, followed by the index (e.g. 'dmc_walker_walk
      train env').

  Attributes:
    obs_space, act_space: dicts of Space from env 0 (act_space includes 'reset').
    length: number of envs N.
    restarts: number of worker restarts so far (parallel only).
  """

  def __init__(self, make_env_fns, parallel=False, timeout=120.0, name='env'):
    make_env_fns = list(make_env_fns)
    if not make_env_fns:
      raise ValueError('Driver needs at least one env constructor, got none.')
    self.length = len(make_env_fns)
    self.name = name
    self.parallel = bool(parallel)
    self.timeout = float(timeout)
    self.restarts = 0
    self._step_fns = []
    self._episode_fns = []
    self._closed = False
    if self.parallel:
      self._ctors = [_ctor_spec(i, fn) for i, fn in enumerate(make_env_fns)]
      self._workers = [None] * self.length
      # Kill workers if the driver is dropped or the program exits without close().
      self._finalizer = weakref.finalize(self, _kill_all, self._workers)
      spaces = []
      try:
        # Start every interpreter before waiting on any: their start-up overlaps.
        for i in range(self.length):
          self._workers[i] = _Worker(i, self._ctors[i])
        for worker in self._workers:
          spaces.append(worker.ready(self.timeout))
      except _WorkerError as e:
        _kill_all(self._workers)
        raise base.EnvError(
            f'{self._env_name(len(spaces))} failed to start: {e}', e.details) from None
      except BaseException:
        _kill_all(self._workers)
        raise
      self.obs_space, self.act_space = spaces[0]
    else:
      self._envs = []
      for i, fn in enumerate(make_env_fns):
        try:
          self._envs.append(fn())
        except Exception as e:  # noqa: BLE001 - named and passed on
          for env in self._envs:
            env.close()
          raise base.EnvError(f'{self._env_name(i)} failed to start: {_summary(e)}') from e
      self.obs_space = self._envs[0].obs_space
      self.act_space = self._envs[0].act_space
    try:
      _check_spaces(self.obs_space, self.act_space)
    except ValueError:
      self.close()
      raise
    self._act_keys = [k for k in self.act_space if k != 'reset']
    self._acts = None
    self.carry = None
    self._episodes = _EpisodeStats(self.length)
    self.reset()

  @property
  def pids(self):
    """Process ids of the env workers (parallel), else an empty list."""
    return [w.proc.pid for w in self._workers] if self.parallel else []

  def reset(self, init_policy=None):
    """Every env starts a new episode at the next step; carry = init_policy(N)."""
    self._acts = self._reset_acts(self.length)
    self.carry = init_policy(self.length) if init_policy else None

  def on_step(self, callback):
    """callback(transition, worker): obs, the action chosen for it, policy outs."""
    self._step_fns.append(callback)

  def on_episode(self, callback):
    """callback(stats, worker) at each `is_last`.

    stats: 'score' (sum of rewards), 'length' (observations, the first included) and
    'log/<key>/sum|mean|max' for every 'log/' key of the env.
    """
    self._episode_fns.append(callback)

  def __call__(self, policy, steps=0, episodes=0):
    """Runs until `steps` env steps and `episodes` finished episodes (over all envs).

    Returns (steps, episodes) done in this call. Each iteration steps every env once.
    """
    if self._closed:
      raise RuntimeError('Driver is closed.')
    step, episode = 0, 0
    while step < steps or episode < episodes:
      step, episode = self._step(policy, step, episode)
    return step, episode

  def close(self):
    """Stops the workers (or closes the in-process envs). Safe to call twice."""
    if self._closed:
      return
    self._closed = True
    if self.parallel:
      for worker in self._workers:
        worker.request_stop()
      deadline = time.monotonic() + 2.0
      for worker in self._workers:
        worker.join(max(0.0, deadline - time.monotonic()))
      self._finalizer()
    else:
      for env in self._envs:
        env.close()

  def save(self):
    """-> JSON-able state: pending actions, policy carry, episode stats, env states.

    Env states are None where an env cannot save its state (no get_state); such
    envs start a new episode after `load`.
    """
    return {
        'acts': wire.to_json(self._acts), 'carry': wire.to_json(self.carry),
        'episodes': wire.to_json(self._episodes.__dict__),
        'envs': [self._env_call(i, ('get_state',)) for i in range(self.length)]}

  def load(self, state):
    """Restores `save()` output; envs without a saved state reset on the next step."""
    self._acts = wire.from_json(state['acts'])
    self.carry = wire.from_json(state['carry'])
    self._episodes.__dict__.update(wire.from_json(state['episodes']))
    for i, env_state in enumerate(state['envs']):
      if env_state is None:
        self._acts['reset'][i] = True
      else:
        self._env_call(i, ('set_state', env_state))

  def _env_call(self, i, message):
    if not self.parallel:
      env = self._envs[i]
      return _get_state(env) if message[0] == 'get_state' else env.set_state(message[1])
    wire.send(self._workers[i].conn, message)
    try:
      return self._workers[i].receive()
    except _WorkerError as e:
      raise base.EnvError(f'{self._env_name(i)}: {e}', e.details) from None

  def _env_name(self, i):
    return f'{self.name} {i}'

  def _step_local(self, i, act):
    try:
      return self._envs[i].step(act)
    except base.EnvSpaceError as e:
      raise _renamed(e, self._env_name(i)) from None
    except Exception as e:  # noqa: BLE001 - named and passed on
      raise base.EnvError(f'{self._env_name(i)} {_raised(e)}') from e

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def _step(self, policy, step, episode):
    n = self.length
    acts = [{k: v[i] for k, v in self._acts.items()} for i in range(n)]
    if self.parallel:
      obs = self._step_parallel(acts)
    else:
      obs = [self._step_local(i, act) for i, act in enumerate(acts)]
    obs = _stack(obs)
    logs = {k: v for k, v in obs.items() if k.startswith('log/')}
    obs = {k: v for k, v in obs.items() if not k.startswith('log/')}
    self.carry, act, outs = policy(self.carry, obs)
    act = {k: np.asarray(v) for k, v in act.items() if k != 'reset'}
    outs = {k: np.asarray(v) for k, v in outs.items()}
    self._check_policy(act, outs, obs)
    last = np.asarray(obs['is_last'], bool)
    if last.any():
      # The action for a final observation is never executed: store zeros, and let
      # the next step reset that env.
      act = {k: _zero_where(v, last) for k, v in act.items()}
    self._acts = {**act, 'reset': last.copy()}
    if self._step_fns:
      trans = {**obs, **act, **outs, **logs}
      for i in range(n):
        tran = {k: v[i] for k, v in trans.items()}
        for fn in self._step_fns:
          fn(tran, i)
    if self._episode_fns:
      for i, stats in self._episodes.update(obs, logs):
        for fn in self._episode_fns:
          fn(stats, i)
    return step + n, episode + int(last.sum())

  def _check_policy(self, act, outs, obs):
    missing = [k for k in self._act_keys if k not in act]
    if missing:
      raise ValueError(
          f'Policy returned no action for {missing}: got keys {sorted(act)}.')
    for k, v in {**act, **outs}.items():
      if v.ndim == 0 or len(v) != self.length:
        raise ValueError(
            f"Policy output '{k}' has shape {v.shape}, expected a leading batch "
            f'axis of {self.length} envs.')
    clash = [k for k in outs if k in act or k in obs]
    if clash:
      raise ValueError(f'Policy outs {clash} clash with obs or action keys.')

  def _reset_acts(self, n):
    acts = {
        k: np.zeros((n,) + self.act_space[k].shape, self.act_space[k].dtype)
        for k in self._act_keys}
    acts['reset'] = np.ones(n, bool)
    return acts

  def _step_parallel(self, acts):
    results = [None] * self.length
    failures = {}
    pending = {}
    for i, (worker, act) in enumerate(zip(self._workers, acts)):
      try:
        wire.send(worker.conn, act)
        pending[worker.conn] = i
      except OSError as e:  # BrokenPipeError, ConnectionResetError
        failures[i] = _WorkerError(worker.lost(e))
    deadline = time.monotonic() + self.timeout
    while pending:
      ready = mpc.wait(list(pending), max(0.0, deadline - time.monotonic()))
      if not ready:
        break
      for conn in ready:
        i = pending.pop(conn)
        try:
          results[i] = self._workers[i].receive()
          self._workers[i].stepped = True
        except _WorkerError as e:
          failures[i] = e
        except base.EnvSpaceError as e:
          raise _renamed(e, self._env_name(i)) from None
    for i in pending.values():
      failures[i] = _WorkerError(f'no answer within {self.timeout:g}s')
    for i, error in sorted(failures.items()):
      if not self._workers[i].stepped:  # a broken env, not a crash: restarts cannot help
        raise base.EnvError(f'{self._env_name(i)} failed on its first step: {error}',
                            error.details)
      results[i] = self._restart(i, error)
    return results

  def _restart(self, i, error):
    """Rebuilds worker i and returns its first observation (is_first)."""
    reset = {k: v[0] for k, v in self._reset_acts(1).items()}
    for attempt in range(1, _MAX_CONSECUTIVE_RESTARTS + 1):
      print(
          f'WARNING: {self._env_name(i)} failed ({error}); restarting it (attempt '
          f'{attempt}), its partial episode is discarded.', file=sys.stderr, flush=True)
      if error.details and base.wants_traceback():
        print(error.details, file=sys.stderr, flush=True)
      self._workers[i].kill()
      self.restarts += 1
      try:
        self._workers[i] = _Worker(i, self._ctors[i])
        self._workers[i].ready(self.timeout)
        wire.send(self._workers[i].conn, reset)
        if not self._workers[i].conn.poll(self.timeout):
          raise _WorkerError(f'no answer within {self.timeout:g}s')
        obs = self._workers[i].receive()
        self._workers[i].stepped = True
        return obs
      except _WorkerError as e:
        error = e
      except OSError as e:
        error = _WorkerError(str(e))
    raise base.EnvError(
        f'{self._env_name(i)} failed {_MAX_CONSECUTIVE_RESTARTS} restarts in a row; '
        f'last error: {error}', error.details)


def _get_state(env):
  """The env's saved state, or None if it cannot save one."""
  try:
    return env.get_state() if hasattr(env, 'get_state') else None
  except NotImplementedError:
    return None


class _EpisodeStats:
  """Per-env running episode statistics, updated for all envs at once."""

  def __init__(self, n):
    self.score = np.zeros(n, np.float64)
    self.length = np.zeros(n, np.int64)
    self.logs = {}  # key -> (sum, max) arrays [N]

  def update(self, obs, logs):
    first = np.asarray(obs['is_first'], bool)
    self.score[first] = 0.0
    self.length[first] = 0
    self.score += obs['reward']
    self.length += 1
    for key, value in logs.items():
      value = np.asarray(value, np.float64)
      if value.ndim > 1:  # non-scalar log values are summarized by their mean
        value = value.reshape(len(value), -1).mean(-1)
      if key not in self.logs:
        self.logs[key] = (np.zeros_like(value), np.full_like(value, -np.inf))
      total, high = self.logs[key]
      total[first] = 0.0
      high[first] = -np.inf
      total += value
      np.maximum(high, value, out=high)
    done = []
    for i in np.flatnonzero(np.asarray(obs['is_last'], bool)):
      stats = {'score': float(self.score[i]), 'length': int(self.length[i])}
      for key, (total, high) in self.logs.items():
        stats[f'{key}/sum'] = float(total[i])
        stats[f'{key}/mean'] = float(total[i] / self.length[i])
        stats[f'{key}/max'] = float(high[i])
      done.append((int(i), stats))
    return done


def _check_spaces(obs_space, act_space):
  for key in ('reward', 'is_first', 'is_last'):
    if key not in obs_space:
      raise ValueError(f"Env obs_space lacks '{key}': has {sorted(obs_space)}.")
  if 'reset' not in act_space:
    raise ValueError(f"Env act_space lacks 'reset': has {sorted(act_space)}.")


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


def _stack(obs):
  keys = obs[0].keys()
  try:
    return {k: np.stack([o[k] for o in obs]) for k in keys}
  except KeyError as e:
    for i, o in enumerate(obs):
      if o.keys() != keys:
        raise ValueError(
            f'Env {i} returned obs keys {sorted(o)}, env 0 returned '
            f'{sorted(keys)}.') from e
    raise


def _summary(error):
  """One line: the message, after the exception's type unless it is a ValueError
  (whose messages name the problem already, e.g. an unknown task)."""
  text = ' '.join(str(error).split())
  if isinstance(error, (ValueError, base.UserError)) and text:
    return text
  return f'{type(error).__name__}: {text}' if text else type(error).__name__


def _raised(error):
  return f'raised {type(error).__name__}: {" ".join(str(error).split())}'


def _renamed(error, name):
  """The EnvSpaceError with the env's name instead of its leading 'Env '."""
  text = str(error)
  return base.EnvSpaceError(f'{name}: {text[4:] if text.startswith("Env ") else text}')


def _zero_where(value, mask):
  mask = mask.reshape(mask.shape + (1,) * (value.ndim - 1))
  return np.where(mask, np.zeros((), value.dtype), value)


class _WorkerError(RuntimeError):
  """A worker failed: a one-line message, and the env's traceback if it raised."""

  def __init__(self, message, details=''):
    super().__init__(message)
    self.details = details


# The worker's entry point: a fresh interpreter that imports only this module.
_BOOT = (
    'import sys; from dreamerv3_tf.core import driver; driver._serve(int(sys.argv[1]))')
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Worker:
  """One env subprocess and the parent's end of its socket pair."""

  def __init__(self, index, ctor):
    self.index = index
    self.stepped = False  # answered a step: a later failure is a crash to restart
    parent, child = socket.socketpair()
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [_ROOT] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
    try:
      self.proc = subprocess.Popen(
          [sys.executable, '-c', _BOOT, str(child.fileno())],
          pass_fds=(child.fileno(),), env=env)
    finally:
      child.close()
    self.conn = mpc.Connection(parent.detach())
    # sys.path first, so the constructor's module (even a test file) can be imported.
    wire.send(self.conn, (list(sys.path), ctor))

  def ready(self, timeout):
    """Waits for the env to be built; returns (obs_space, act_space)."""
    if not self.conn.poll(timeout):
      raise _WorkerError(f'built no env within {timeout:g}s')
    return self.receive()

  def receive(self):
    try:
      kind, payload = wire.recv(self.conn)
    except (EOFError, OSError) as e:
      raise _WorkerError(self.lost(e)) from None
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
    return f'process died (exit code {code})'

  def request_stop(self):
    try:
      wire.send(self.conn, None)
    except OSError:
      pass

  def join(self, timeout):
    try:
      self.proc.wait(timeout)
    except subprocess.TimeoutExpired:
      pass

  def kill(self):
    if self.proc.poll() is None:
      self.proc.kill()
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


def _kill_all(workers):
  for worker in workers:
    if worker is not None:
      worker.kill()


def _serve(fd):
  """Worker loop: build the env, then answer one observation per action."""
  # Ctrl-C reaches the whole process group; the parent decides when workers stop.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  conn = mpc.Connection(fd)
  env = None
  try:
    path, ctor = wire.recv(conn)
    sys.path[:] = path
    try:
      env = _build(ctor)
      wire.send(conn, ('ok', (env.obs_space, env.act_space)))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which decides
      wire.send(conn, ('error', (_summary(e), traceback.format_exc())))
      return
    while True:
      act = wire.recv(conn)
      if act is None:
        break
      if isinstance(act, tuple):  # ('get_state',) or ('set_state', state)
        try:
          result = _get_state(env) if act[0] == 'get_state' else env.set_state(act[1])
          wire.send(conn, ('ok', result))
        except Exception as e:  # noqa: BLE001 - the parent reports it
          wire.send(conn, ('error', (_summary(e), traceback.format_exc())))
        continue
      try:
        obs = env.step(act)
      except base.EnvSpaceError as e:  # a bug in the env: restarting cannot help
        wire.send(conn, ('space_error', str(e)))
        return
      except Exception as e:  # noqa: BLE001 - reported to the parent, which restarts us
        wire.send(conn, ('error', (_raised(e), traceback.format_exc())))
        return
      wire.send(conn, ('ok', obs))
  except (EOFError, OSError):
    pass  # the parent is gone or closed the pipe
  finally:
    if env is not None:
      try:
        env.close()
      except Exception:  # noqa: BLE001 - closing a broken env must not mask the exit
        pass
    conn.close()
