"""Driver: steps N envs with one batched policy call per step.

  driver = Driver([functools.partial(make_env, i) for i in range(4)], parallel=True)
  driver.on_step(replay.add)                 # fn(transition, worker)
  driver.reset(agent.init_policy)
  driver(policy, steps=1000)                 # policy(carry, obs) -> carry, act, out

With `parallel=True` each env lives in its own worker process (`workers.RemoteEnv`,
which restarts a crashed worker: the policy then sees `is_first=True` for that env
in the same step, and its partial episode is discarded); otherwise all envs live in
this process. Either way the driver steps one list of envs through the Env contract.
Finished-episode counts include only episodes that really ended (`is_last`).

Errors name the env ('<name> <index>', e.g. 'dmc_walker_walk train env 1') in one
line: an env that cannot be built raises base.EnvError, one that breaks its spaces
base.EnvSpaceError; the env's own traceback is printed only when errors.wants_traceback().
"""

import sys
import time

import numpy as np

from dreamerv3_tf.core import base
from dreamerv3_tf.core import deadline
from dreamerv3_tf.core import exit_guard
from dreamerv3_tf.core import wire
from dreamerv3_tf.core import workers


# Seconds an env in this process may take to close once a stop signal came, all envs of
# a driver together, as a worker is given (workers.RemoteEnv.close): with
# run.env_timeout, Ctrl-C's line came 6 minutes late, without a word, for 3 envs whose
# close() hung, and a second Ctrl-C was ignored.
STOP_CLOSE_SECONDS = 2.0


# Steps of one episode after which the driver warns that it may never end: an eval
# waits for whole episodes, and without env.time_limit it waited silently forever.
LONG_EPISODE = 100_000


def env_names(name, count):
  """How errors name each env: '<name> <index>'."""
  return [f'{name} {i}' for i in range(count)]


class Launch:
  """A Driver's envs, starting: env workers (parallel) are launched at once, and
  `driver()` waits for them, so the caller can do other work meanwhile (a run imports
  TensorFlow); envs in this process are built at once. `close()` stops what was
  started, whether or not a Driver was made of it. Arguments as for Driver.
  """

  def __init__(self, make_env_fns, parallel=False, timeout=120.0, name='env'):
    self._args = dict(make_env_fns=list(make_env_fns), parallel=parallel,
                      timeout=timeout, name=name)
    self._driver = self._launched = None
    fns = self._args['make_env_fns']
    if parallel and fns:
      self._launched = workers.launch(fns, timeout, env_names(name, len(fns)))
    else:
      self._driver = Driver(**self._args)

  def driver(self):
    """-> the Driver, once every env is built (base.EnvError naming one that failed)."""
    if self._driver is None:
      launched, self._launched = self._launched, None
      self._driver = Driver(**self._args, launched=launched)
    return self._driver

  def close(self):
    if self._driver is not None:
      self._driver.close()
    for env in self._launched or ():
      env.kill()
    self._launched = None


class Driver:
  """Steps a batch of envs with a batched policy.

  Args:
    make_env_fns: list of zero-argument callables returning an Env (with
      parallel=True, module-level functions or functools.partial of them with
      plain-data arguments: they are sent to the workers as data).
    parallel: each env in its own subprocess (True) or all in this process (False).
    timeout: seconds an env may take to be built or to answer one step. A worker
      (parallel) then counts as crashed and is rebuilt; an env in this process cannot
      be, and raises base.EnvError (core/deadline.py).
    name: how errors name the envs, followed by the index (e.g. 'dmc_walker_walk
      train env').
    launched: with parallel, the envs' workers already started (Launch).

  Attributes:
    obs_space, act_space: dicts of Space from env 0 (act_space includes 'reset').
    length: number of envs N.
  """

  def __init__(self, make_env_fns, parallel=False, timeout=120.0, name='env', launched=None):
    make_env_fns = list(make_env_fns)
    if not make_env_fns:
      raise ValueError('Driver needs at least one env constructor, got none.')
    self.length = len(make_env_fns)
    self.name = name
    self._names = env_names(name, self.length)
    self._step_fns = []
    self._episode_fns = []
    self._closed = False
    self._timeout = timeout
    if parallel:  # `launched`: their workers, already starting (see Launch)
      self._envs = workers.ready_all(
          launched if launched is not None else workers.launch(
              make_env_fns, timeout, self._names))
    else:
      self._envs = []
      for i, fn in enumerate(make_env_fns):
        own = None
        try:
          with deadline.limit(timeout), exit_guard.guard(self._names[i]):
            self._envs.append(fn())
        except BaseException as e:  # noqa: BLE001 - also sys.exit: named and passed on
          for env in self._envs:
            env.close()
          if isinstance(e, KeyboardInterrupt) and workers.is_stop(e):  # Ctrl-C or SIGTERM:
            raise  # the user stops the run
          if isinstance(e, deadline.Expired):
            raise workers.local_timeout_error(self._names[i], 'failed to start', e) from None
          if not isinstance(e, KeyboardInterrupt):
            raise base.EnvError(
                f'{self._names[i]} failed to start: {workers.error_summary(e)}',
                exit_code=base.exit_code(e)) from e
          own = workers.own_interrupt(  # the constructor's own code
              self._names[i], e, 'failed to start: its constructor raised')
        if own:
          raise own  # outside the handler (see own_interrupt)
    self.obs_space = self._envs[0].obs_space
    self.act_space = self._envs[0].act_space
    try:
      _check_spaces(self.obs_space, self.act_space)
    except ValueError:
      self.close()
      raise
    self._act_keys = list(base.agent_spaces(self.obs_space, self.act_space)[1])
    self._acts = None
    self.carry = None
    self._ahead = None  # the observations of a step taken ahead: `begin`
    self._last_obs = None  # the policy's last obs <[N, ...]>: idle envs' rows (__call__)
    self._episodes = _EpisodeStats(self.length)
    self.reset()

  @property
  def envs(self):
    """The envs: `workers.RemoteEnv`s with parallel=True."""
    return list(self._envs)

  @property
  def pids(self):
    """Process ids of the env workers (parallel), else an empty list."""
    return [env.pid for env in self._envs if isinstance(env, workers.RemoteEnv)]

  @property
  def restarts(self):
    """Number of env worker restarts so far (parallel only)."""
    return sum(getattr(env, 'restarts', 0) for env in self._envs)

  def reset(self, init_policy=None):
    """Every env starts a new episode at the next step; carry = init_policy(N)."""
    self._acts = base.reset_actions(self.act_space, self.length)
    self.carry = init_policy(self.length) if init_policy else None
    if not self._ahead_all_first():
      self._ahead = None  # a step ahead that did not start every episode: reset again

  def begin(self):
    """Takes the envs' next step now, and keeps its observations for the next call:
    an env that fails at its first step (a missing asset) fails here,
    before a run writes anything. The envs see the same actions in the same order."""
    if self._ahead is None:
      self._ahead = self._env_step()

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

    Returns (steps, episodes) done in this call. Each iteration steps every env once
    (given `episodes` alone, each that has episodes of its share left).
    The `episodes` are shared out over the envs, env i playing episodes // N of them and
    the first episodes % N one more, and only those are counted and passed to
    on_episode: envs that step together end episodes together, and episodes=1 of 3
    envs passed on 3, episodes=4 of 3 envs 6 (an eval of run.eval_eps episodes).
    Given `episodes` alone, an env that has played its share stops stepping (one of no
    share never steps), and starts a new episode when it steps again: episodes=1 of 3
    envs stepped all 3 until env 0's episode ended, their steps in the eval replay. The
    policy still sees all N (its batch, compiled once), idle envs' rows left unused.
    """
    if self._closed:
      raise RuntimeError('Driver is closed.')
    step, episode = 0, 0
    shares = None
    if episodes:
      shares = np.full(self.length, episodes // self.length)
      shares[:episodes % self.length] += 1
    while step < steps or episode < episodes:
      exit_guard.raise_stop()  # one that code it landed in swallowed
      active = shares > 0 if shares is not None and not steps else None
      step, episode = self._step(policy, step, episode, shares, active)
    return step, episode

  def close(self):
    """Closes the envs (and stops their workers). Safe to call twice."""
    if self._closed:
      return
    self._closed = True
    failed = None
    for env in self._envs:  # every worker at once: their waits overlap (request_close)
      if isinstance(env, workers.RemoteEnv):
        env.request_close()
    stop_by = time.monotonic() + STOP_CLOSE_SECONDS if exit_guard.stopping() else None
    for name, env in zip(self._names, self._envs):
      try:
        self._close(env, stop_by)
      except deadline.Expired as e:
        if stop_by is not None:  # (main's line names the stop; this is its detail)
          e = deadline.Expired(STOP_CLOSE_SECONDS)
        failed = failed or workers.local_timeout_error(name, 'failed to close', e)
      except base.EnvError as e:  # a worker's env: named already
        failed = failed or e
      except KeyboardInterrupt as e:
        if workers.is_stop(e):  # Ctrl-C or SIGTERM: the user stops
          raise
        failed = failed or workers.own_interrupt(name, e, 'failed to close: it raised')
      except (Exception, SystemExit, exit_guard.Exited) as e:  # noqa: BLE001 - the env's
        # own close(): the others close too; its sys.exit(2) ended a run that had saved
        # everything with code 2 and no line
        if failed is None:  # named like its other failures, not an 'unexpected' error
          failed = base.EnvError(f'{name} failed to close: {workers.error_summary(e)}')
          failed.__cause__ = e
    if failed is not None:
      raise failed

  def _close(self, env, stop_by=None):
    if isinstance(env, workers.RemoteEnv):
      env.close()  # its worker is killed if it takes longer than 2 s
      return
    # A run that has written everything ignores Ctrl-C while its envs close (main): an
    # env in this process that hangs there must not keep it from ending; nor, once a
    # stop came, for longer than the stop's share (`stop_by`).
    limit = self._timeout
    if stop_by is not None:
      limit = max(0.01, min(limit, stop_by - time.monotonic()))
    with deadline.limit(limit), exit_guard.guard():
      env.close()

  def save(self):
    """-> JSON-able state: pending actions, policy carry, episode stats, env states.

    Env states are None where an env cannot save its state (no get_state); such
    envs start a new episode after `load`.
    """
    if not self._ahead_all_first():  # envs a step past `acts`: they reset
      envs = [None] * self.length
    else:
      envs = [base.get_env_state(env) for env in self._envs]
    return {
        'acts': wire.to_json(self._acts), 'carry': wire.to_json(self.carry),
        'episodes': wire.to_json(self._episodes.__dict__), 'envs': envs}

  def load(self, state):
    """Restores `save()` output; envs without a saved state reset on the next step.

    A state saved by a driver of another number of envs (run.envs changed on a
    resume) restores nothing: every env starts a new episode at the next step, with
    the carry of the last `reset`. -> whether the state was restored.
    """
    self._ahead = None  # the restored actions and env states come next
    if len(state['envs']) != self.length:
      self._acts = base.reset_actions(self.act_space, self.length)
      self._episodes = _EpisodeStats(self.length)
      return False
    self._acts = wire.from_json(state['acts'])
    self.carry = wire.from_json(state['carry'])
    self._episodes.__dict__.update(wire.from_json(state['episodes']))
    for i, env_state in enumerate(state['envs']):
      if env_state is None:
        self._acts[base.RESET][i] = True
      else:
        self._envs[i].set_state(env_state)
    return True

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def _ahead_all_first(self):
    """Whether no step is ahead, or one that started every env's episode."""
    return self._ahead is None or bool(np.all(self._ahead['is_first']))

  def _env_step(self, rows=None):
    """Steps the envs `rows` (default all) -> their obs <[N, ...]>; the rows of the
    others hold their last obs (zeros before any), for the policy's batch."""
    rows = range(self.length) if rows is None else rows
    acts = [{k: v[i] for k, v in self._acts.items()} for i in rows]
    obs = _stack(workers.step_all([self._envs[i] for i in rows], acts,
                                  [self._names[i] for i in rows], self._timeout))
    if len(rows) == self.length:
      return obs
    last = self._last_obs if self._last_obs is not None and set(
        self._last_obs) == set(obs) else {
            k: np.zeros((self.length, *v.shape[1:]), v.dtype) for k, v in obs.items()}
    full = {k: v.copy() for k, v in last.items()}
    for k, v in obs.items():
      full[k][rows] = v
    return full

  def _step(self, policy, step, episode, shares=None, active=None):
    """One step of the envs `active` (bool [N], None: all) -> (step, episode) counted
    on; `shares`: the episodes each env has left to count (decremented here), None to
    count every episode."""
    n = self.length
    rows = np.arange(n) if active is None else np.flatnonzero(active)
    if self._ahead is not None:  # (its idle envs' obs unused: they start anew)
      obs, self._ahead = self._ahead, None
    else:
      obs = self._env_step(rows)
    self._last_obs = obs
    obs, logs = base.split_logs(obs)
    self.carry, act, outs = policy(self.carry, obs)
    act = {k: np.asarray(v) for k, v in act.items()}
    outs = {k: np.asarray(v) for k, v in outs.items()}
    self._check_policy(act, outs, obs)
    act = {k: act[k] for k in self._act_keys}
    last = np.asarray(obs['is_last'], bool)
    reset = last if active is None else last | ~active  # an idle env starts anew
    if reset.any():
      # The action for a final observation is never executed: store zeros, and let
      # the next step reset that env.
      act = {k: _zero_where(v, reset) for k, v in act.items()}
    self._acts = {**act, base.RESET: reset.copy()}
    if self._step_fns:
      trans = {**obs, **act, **outs, **logs}
      for i in rows:
        tran = {k: v[i] for k, v in trans.items()}
        for fn in self._step_fns:
          fn(tran, int(i))
    done = self._episodes.update(obs, logs, None if active is None else rows)
    if shares is not None:
      done = [(i, stats) for i, stats in done if shares[i] > 0]
      for i, _ in done:
        shares[i] -= 1
    for i, stats in done:
      for fn in self._episode_fns:
        fn(stats, i)
    for i in rows[self._episodes.length[rows] == LONG_EPISODE]:
      print(f'Warning: {self._names[i]} has run {LONG_EPISODE:,} steps without ending its '
            'episode; if its episodes never end, set env.time_limit (an eval waits for '
            'whole episodes)', file=sys.stderr, flush=True)
    return step + len(rows), episode + len(done)

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


class _EpisodeStats:
  """Per-env running episode statistics, updated for all envs at once."""

  def __init__(self, n):
    self.score = np.zeros(n, np.float64)
    self.length = np.zeros(n, np.int64)
    self.logs = {}  # key -> (sum, max) arrays [N]

  def update(self, obs, logs, rows=None):
    """Counts the step of the envs `rows` (default all) -> [(env, stats)] of those
    whose episode ended."""
    at = slice(None) if rows is None else np.asarray(rows)  # (a slice: no copies)
    first = np.asarray(obs['is_first'], bool)
    last = np.asarray(obs['is_last'], bool)
    if rows is not None:  # the idle envs' rows hold no step of theirs
      stepped = np.zeros(len(self.score), bool)
      stepped[at] = True
      first, last = first & stepped, last & stepped
    self.score[first] = 0.0
    self.length[first] = 0
    self.score[at] += np.asarray(obs['reward'], np.float64)[at]
    self.length[at] += 1
    for key, value in logs.items():
      value = np.asarray(value, np.float64)
      if value.ndim > 1:  # non-scalar log values are summarized by their mean
        value = value.reshape(len(value), -1).mean(-1)
      if key not in self.logs:
        self.logs[key] = (np.zeros_like(value), np.full_like(value, -np.inf))
      total, high = self.logs[key]
      total[first] = 0.0
      high[first] = -np.inf
      total[at] += value[at]
      high[at] = np.maximum(high[at], value[at])
    done = []
    for i in np.flatnonzero(last):
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
  if base.RESET not in act_space:
    raise ValueError(f"Env act_space lacks '{base.RESET}': has {sorted(act_space)}.")


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


def _zero_where(value, mask):
  mask = mask.reshape(mask.shape + (1,) * (value.ndim - 1))
  return np.where(mask, np.zeros((), value.dtype), value)
