"""Driver: in-process and subprocess envs, counting, reset semantics, crash recovery."""

import functools
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dreamerv3_tf.core import base
from dreamerv3_tf.core import driver as driverlib
from dreamerv3_tf.core import workers
from dreamerv3_tf.core.spaces import Space

LENGTH = 4  # env steps after the first observation: episodes have LENGTH + 1 obs


class CountEnv(base.Env):
  """obs 'vec' = [t, action received]; reward 1 per step after the first.

  With `fail` and a `marker` path that does not exist yet, the env fails once at
  t == 2 ('raise', 'hang' or 'exit') and creates the marker, so its restarted
  incarnation runs normally.
  """

  def __init__(self, length=LENGTH, fail=None, marker=None):
    self.length = length
    self.fail = fail
    self.marker = marker
    self.t = None
    self.closed = False

  @property
  def obs_space(self):
    return {
        'vec': Space(np.float32, (2,)), 'reward': Space(np.float32),
        'is_first': Space(bool), 'is_last': Space(bool), 'is_terminal': Space(bool),
        'log/t': Space(np.float32)}

  @property
  def act_space(self):
    return {'action': Space(np.int32, (), 0, 4), 'reset': Space(bool)}

  def step(self, action):
    if self.fail and self.t == 2 and not os.path.exists(self.marker):
      open(self.marker, 'w').close()
      if self.fail == 'raise':
        raise RuntimeError('env exploded')
      if self.fail == 'hang':
        time.sleep(600)
      if self.fail == 'hang_swallowing':  # an env that catches every Exception
        try:
          time.sleep(600)
        except Exception:  # noqa: BLE001
          pass
      if self.fail == 'exit':
        os._exit(3)
    if action['reset'] or self.t is None:
      self.t = 0
      return self._obs(0.0, first=True)
    self.t += 1
    return self._obs(1.0, action=action['action'], last=self.t >= self.length)

  def _obs(self, reward, action=0, first=False, last=False):
    return {
        'vec': np.array([self.t, action], np.float32), 'reward': np.float32(reward),
        'is_first': first, 'is_last': last, 'is_terminal': last,
        'log/t': np.float32(self.t)}

  def close(self):
    self.closed = True


def make_env(**kwargs):
  return CountEnv(**kwargs)


def fns(n, **kwargs):
  return [functools.partial(make_env, **kwargs) for _ in range(n)]


def init_policy(n):
  return np.zeros(n, np.int64)


def policy(carry, obs):
  """Action in 1..3 from the steps since the episode start (never zero)."""
  assert not any(k.startswith('log/') for k in obs), sorted(obs)
  carry = np.where(obs['is_first'], 0, carry) + 1
  act = {'action': ((carry - 1) % 3 + 1).astype(np.int32)}
  return carry, act, {'since_first': carry.copy()}


def record(driver):
  trans = {i: [] for i in range(driver.length)}
  driver.on_step(lambda tran, worker: trans[worker].append(tran))
  return trans


@pytest.mark.parametrize('parallel', [False, True])
def test_transitions_resets_and_counting(parallel):
  with driverlib.Driver(fns(2), parallel=parallel) as driver:
    assert set(driver.act_space) == {'action', 'reset'}
    assert 'vec' in driver.obs_space
    trans = record(driver)
    episodes = []
    driver.on_episode(lambda stats, worker: episodes.append((worker, stats)))
    driver.reset(init_policy)
    steps, eps = driver(policy, steps=11)
    assert steps == 12  # whole batch steps: 6 x 2 envs
    assert eps == 2     # each env finished one episode (5 obs) after 6 steps
    for worker in range(2):
      ts = trans[worker]
      assert len(ts) == 6
      t = [int(x['vec'][0]) for x in ts]
      assert t == [0, 1, 2, 3, 4, 0]
      assert [bool(x['is_first']) for x in ts] == [1, 0, 0, 0, 0, 1]
      assert [bool(x['is_last']) for x in ts] == [0, 0, 0, 0, 1, 0]
      # The transition holds the action chosen for its obs; the env received it at
      # the next step. The action for a final obs is zeroed and the env reset.
      for prev, nxt in zip(ts[:-1], ts[1:]):
        if prev['is_last']:
          assert prev['action'] == 0
          assert nxt['is_first']
        else:
          assert nxt['vec'][1] == prev['action'] != 0
      assert [int(x['since_first']) for x in ts] == [1, 2, 3, 4, 5, 1]
      assert 'log/t' in ts[0] and 'reset' not in ts[0]
    assert sorted(w for w, _ in episodes) == [0, 1]
    stats = episodes[0][1]
    assert stats['score'] == LENGTH and stats['length'] == LENGTH + 1
    assert stats['log/t/sum'] == 10 and stats['log/t/max'] == 4
    assert stats['log/t/mean'] == 2

    # Counting episodes: keep going until 3 more finish (over both envs).
    trans[0].clear()
    trans[1].clear()
    steps, eps = driver(policy, episodes=3)
    assert eps == 3 and steps == len(trans[0]) + len(trans[1])

    # reset() mid-episode: every env starts over at the next step.
    driver(policy, steps=2)
    driver.reset(init_policy)
    trans[0].clear()
    driver(policy, steps=1)
    assert trans[0][0]['is_first'] and trans[0][0]['vec'][0] == 0


@pytest.mark.parametrize('episodes, workers, parallel', [
    (1, [0], True), (4, [0, 0, 1, 2], False), (6, [0, 0, 1, 1, 2, 2], False)])
def test_episodes_are_shared_out_over_the_envs_and_only_those_count(
    episodes, workers, parallel):
  """Envs that step together end episodes together: episodes=1 of 3 envs passed 3 to
  on_episode (an eval of run.eval_eps=1 logged 3), and episodes=4 passed 6. An env that
  has played its share stops stepping: episodes=1 stepped all 3 envs for a whole
  episode, episodes=4 envs 1 and 2 for one more (their steps in the eval replay)."""
  with driverlib.Driver(fns(3), parallel=parallel) as driver:
    ended = []
    driver.on_episode(lambda stats, worker: ended.append(worker))
    trans = record(driver)
    driver.reset(init_policy)
    steps, counted = driver(policy, episodes=episodes)
    assert sorted(ended) == workers and counted == episodes
    assert steps == (LENGTH + 1) * episodes  # each its share's whole episodes, no more
    assert [len(trans[i]) for i in range(3)] == [
        (LENGTH + 1) * workers.count(i) for i in range(3)]
    # Each idle env starts a new episode when it steps again, the policy's carry too.
    for ts in trans.values():
      ts.clear()
    driver(policy, steps=3)
    assert [bool(trans[i][0]['is_first']) and int(trans[i][0]['since_first']) == 1
            for i in range(3)] == [True] * 3


def test_parallel_matches_in_process():
  runs = []
  for parallel in (False, True):
    with driverlib.Driver(fns(3), parallel=parallel) as driver:
      trans = record(driver)
      driver.reset(init_policy)
      driver(policy, steps=21)
      runs.append(trans)
  for worker in range(3):
    a, b = runs[0][worker], runs[1][worker]
    assert len(a) == len(b) == 7
    for x, y in zip(a, b):
      assert x.keys() == y.keys()
      for k in x:
        np.testing.assert_array_equal(x[k], y[k])


def test_sigkill_worker_is_restarted(capsys):
  with driverlib.Driver(fns(2), parallel=True, timeout=30) as driver:
    trans = record(driver)
    episodes = []
    driver.on_episode(lambda stats, worker: episodes.append((worker, stats)))
    driver.reset(init_policy)
    driver(policy, steps=6)  # both envs at t == 2
    old = driver.pids[1]
    os.kill(old, signal.SIGKILL)
    before = len(trans[1])
    driver(policy, steps=14)
    assert driver.restarts == 1
    assert driver.pids[1] != old
    after = trans[1][before:]
    # The restarted worker begins a new episode in the same step it was restarted.
    assert after[0]['is_first'] and after[0]['vec'][0] == 0
    assert int(after[0]['since_first']) == 1  # the policy saw is_first: carry reset
    assert [int(x['vec'][0]) for x in after[:6]] == [0, 1, 2, 3, 4, 0]
    # Worker 0 was not disturbed.
    assert [int(x['vec'][0]) for x in trans[0][before:before + 3]] == [3, 4, 0]
    # The partial episode was discarded; the next full one is reported whole.
    lengths = [s['length'] for w, s in episodes if w == 1]
    assert lengths == [LENGTH + 1]
    err = capsys.readouterr().err
    assert 'Warning: env 1 failed (process killed by signal 9 (SIGKILL' in err
    assert len(err.strip().splitlines()) == 1, err  # one line, no traceback


@pytest.mark.parametrize('fail', ['raise', 'exit'])
def test_failing_worker_is_restarted(tmp_path, fail, capsys):
  marker = str(tmp_path / 'failed')
  ctors = fns(1) + fns(1, fail=fail, marker=marker)
  with driverlib.Driver(ctors, parallel=True) as driver:
    trans = record(driver)
    driver.reset(init_policy)
    driver(policy, steps=12)
    assert os.path.exists(marker)
    assert driver.restarts == 1
    assert [int(x['vec'][0]) for x in trans[0]] == [0, 1, 2, 3, 4, 0]
    assert [int(x['vec'][0]) for x in trans[1]] == [0, 1, 2, 0, 1, 2]
    err = capsys.readouterr().err
    assert 'Warning: env 1 failed' in err and 'restarting it (attempt 1)' in err
    if fail == 'raise':
      assert '(raised RuntimeError: env exploded)' in err
    assert 'Traceback' not in err


def test_hanging_worker_times_out(tmp_path, capsys):
  marker = str(tmp_path / 'hung')
  with driverlib.Driver(fns(1, fail='hang', marker=marker), parallel=True,
                        timeout=3) as driver:
    trans = record(driver)
    driver.reset(init_policy)
    driver(policy, steps=5)
    assert driver.restarts == 1
    assert [int(x['vec'][0]) for x in trans[0]] == [0, 1, 2, 0, 1]
    assert 'no answer within 3s (run.env_timeout)' in capsys.readouterr().err


@pytest.mark.parametrize('fail', ['hang', 'hang_swallowing'])
def test_hanging_env_in_this_process_stops_with_one_line(tmp_path, fail):
  # In this process an env cannot be rebuilt: past its time limit the run stops, named.
  driver = driverlib.Driver(fns(2, fail=fail, marker=str(tmp_path / 'hung')),
                            parallel=False, timeout=0.5, name='corridor train env')
  driver.reset(init_policy)
  start = time.monotonic()
  with pytest.raises(base.EnvError) as error:
    driver(policy, steps=10)
  assert time.monotonic() - start < 30  # not the env's 600 s
  assert str(error.value) == (
      'corridor train env 0 failed to step: no answer within 0.5s (it runs in this '
      'process, run.parallel=False, where a hung env cannot be restarted; '
      'run.env_timeout sets the limit)')
  # The limit is gone after the step: a later wait in this process is not cut short.
  time.sleep(0.7)
  driver.close()


def hanging_constructor():
  time.sleep(600)


def test_env_that_hangs_while_built_in_this_process_is_named():
  start = time.monotonic()
  with pytest.raises(base.EnvError) as error:
    driverlib.Driver([hanging_constructor], parallel=False, timeout=0.5)
  assert time.monotonic() - start < 30
  assert str(error.value).startswith('env 0 failed to start: no answer within 0.5s (it runs')


def _exits_when_built():
  os._exit(0)


class _CloseOsExits(CountEnv):
  def close(self):
    super().close()
    os._exit(4)


def test_an_env_in_this_process_that_calls_os_exit_is_named(tmp_path):
  """os._exit ended the run at once, without a line: os._exit(0) mid-run with exit
  code 0, as if the run had finished."""
  driver = driverlib.Driver(fns(1, fail='exit', marker=str(tmp_path / 'exited')),
                            parallel=False, name='task train env')
  driver.reset(init_policy)
  with pytest.raises(base.EnvError, match=r'^task train env 0 called os\._exit\(3\)$'):
    driver(policy, steps=10)
  driver.close()
  with pytest.raises(base.EnvError, match=r'^env 0 failed to start: called os\._exit\(0\)$'):
    driverlib.Driver([_exits_when_built], parallel=False)


@pytest.mark.parametrize('parallel', [False, True], ids=['this_process', 'workers'])
def test_an_env_whose_close_calls_os_exit_is_named(parallel):
  driver = driverlib.Driver([_CloseOsExits, CountEnv], parallel=parallel, name='env')
  driver.reset(init_policy)
  with pytest.raises(base.EnvError, match=r'^env 0 failed to close: called os\._exit\(4\)$'):
    driver.close()


def test_in_process_exception_propagates_named(tmp_path):
  marker = str(tmp_path / 'raised')
  driver = driverlib.Driver(fns(1, fail='raise', marker=marker), parallel=False)
  driver.reset(init_policy)
  with pytest.raises(base.EnvError) as error:
    driver(policy, steps=10)
  assert str(error.value) == 'env 0 raised RuntimeError: env exploded'
  assert isinstance(error.value.__cause__, RuntimeError)  # kept for --traceback
  driver.close()
  assert driver.envs[0].closed


class _CloseRaises(CountEnv):
  def close(self):
    super().close()
    raise RuntimeError('close failed')


@pytest.mark.parametrize('parallel', [False, True], ids=['this_process', 'workers'])
def test_an_env_whose_close_raises_is_named_and_the_others_close(parallel):
  """In this process it was an 'unexpected' RuntimeError naming no env, and the envs
  after it were left open; in a worker it was not reported at all (the run exited 0)."""
  driver = driverlib.Driver([_CloseRaises, CountEnv], parallel=parallel, name='task train env')
  driver.reset(init_policy)
  driver(policy, steps=2)
  with pytest.raises(base.EnvError, match='^task train env 0 failed to close: '
                                          'RuntimeError: close failed$') as error:
    driver.close()
  if parallel:
    assert 'Traceback' in error.value.details  # the env's own, for --traceback
    pids = driver.pids
    for pid in pids:  # both workers stopped and reaped all the same
      with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
  else:
    assert all(env.closed for env in driver.envs)


class _CloseExits(CountEnv):
  def close(self):
    super().close()
    sys.exit(2)


@pytest.mark.parametrize('parallel', [False, True], ids=['this_process', 'workers'])
def test_an_env_whose_close_calls_sys_exit_is_named(parallel):
  """A run that had saved everything ended with no line: exit code 2 (the code of a
  bad flag) in this process, 0 from a worker, whose exit went unreported."""
  driver = driverlib.Driver([_CloseExits, CountEnv], parallel=parallel, name='task train env')
  driver.reset(init_policy)
  driver(policy, steps=2)
  with pytest.raises(base.EnvError, match='^task train env 0 failed to close: SystemExit: 2$'):
    driver.close()
  if not parallel:
    assert all(env.closed for env in driver.envs)


class _CloseHangs(CountEnv):
  def close(self):
    time.sleep(600)


def test_an_env_that_hangs_in_close_in_this_process_is_named_and_the_others_close():
  """A run that wrote everything ignores Ctrl-C while its envs close (main): an env in
  this process that hung there kept it from ending, with no way to stop it but a kill."""
  driver = driverlib.Driver([_CloseHangs, CountEnv], parallel=False, timeout=0.5,
                            name='task train env')
  driver.reset(init_policy)
  start = time.monotonic()
  with pytest.raises(base.EnvError, match=r'^task train env 0 failed to close: no answer '
                                          r'within 0.5s \(it runs in this process'):
    driver.close()
  assert time.monotonic() - start < 30  # not the env's 600 s
  assert driver.envs[1].closed


def test_close_asks_every_worker_before_it_waits_for_one(monkeypatch):
  """Workers busy in a long step (a slow first reset) cannot answer a stop at once:
  asked one after another, each was waited on 2 s in turn, and Ctrl-C's line came 18 s
  late with 9 envs. Asked first, all together, they are waited on for 2 s in all."""
  calls = []
  for method in ('request_stop', 'closed'):
    real = getattr(workers._Worker, method)
    monkeypatch.setattr(workers._Worker, method, functools.partialmethod(
        lambda self, *args, real=real, method=method: calls.append(method) or real(self, *args)))
  driver = driverlib.Driver(fns(3), parallel=True)
  driver.close()
  assert calls == ['request_stop'] * 3 + ['closed'] * 3


def test_once_a_stop_came_envs_in_this_process_get_two_seconds_to_close(monkeypatch):
  """Ctrl-C's line waited for each hung close() in turn, run.env_timeout each (6
  minutes for 3 envs at the default), without a word, and a second Ctrl-C was ignored."""
  from dreamerv3_tf import stop_signals
  monkeypatch.setattr(stop_signals, '_STOPPED', [signal.SIGINT])  # as stop() leaves it
  driver = driverlib.Driver([_CloseHangs, _CloseHangs, CountEnv], parallel=False,
                            timeout=30, name='task train env')
  driver.reset(init_policy)
  with pytest.raises(base.EnvError, match=r'^task train env 0 failed to close: no answer '
                                          r'within 2s \(it runs in this process'):
    driver.close()
  assert driver.envs[2].closed  # the two seconds are shared: the last env still closed


def test_close_stops_workers():
  driver = driverlib.Driver(fns(2), parallel=True)
  driver.reset(init_policy)
  driver(policy, steps=2)
  pids = driver.pids
  driver.close()
  for pid in pids:  # exited and reaped
    with pytest.raises(ProcessLookupError):
      os.kill(pid, 0)
  driver.close()  # twice is fine
  with pytest.raises(RuntimeError, match='closed'):
    driver(policy, steps=1)


def test_bad_policy_output_is_named():
  with driverlib.Driver(fns(2)) as driver:
    driver.reset()
    with pytest.raises(ValueError, match="no action for \\['action'\\]"):
      driver(lambda c, o: (c, {}, {}), steps=1)
    with pytest.raises(ValueError, match="'action' has shape \\(3,\\)"):
      driver(lambda c, o: (c, {'action': np.zeros(3, np.int32)}, {}), steps=1)


def test_unpicklable_constructor_is_named():
  with pytest.raises(ValueError, match='picklable'):
    driverlib.Driver([lambda: CountEnv()], parallel=True)


def test_runtime_modules_do_not_import_tensorflow():
  code = (
      'import sys\n'
      'from dreamerv3_tf.core import driver, clocks, logger, usage\n'
      'bad = [m for m in sys.modules if m.split(".")[0] in '
      '("tensorflow", "keras", "tensorflow_probability")]\n'
      'assert not bad, bad\n')
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  subprocess.run([sys.executable, '-c', code], check=True, cwd=root)


def broken_env():
  raise ValueError('bad env config')


@pytest.mark.parametrize('parallel', [False, True])
def test_constructor_error_at_start_is_one_line_naming_the_env(parallel):
  with pytest.raises(base.EnvError) as error:
    driverlib.Driver([fns(1)[0], functools.partial(broken_env)], parallel=parallel,
                     name='dummy_x train env')
  assert str(error.value) == 'dummy_x train env 1 failed to start: bad env config'
  assert ('Traceback' in error.value.details) == parallel  # the worker's, for --traceback


class _BrokenSpaces(CountEnv):
  """Declares a float32 vector but returns float64: a bug in the env."""

  def step(self, action):
    obs = super().step(action)
    return {**obs, 'vec': obs['vec'].astype(np.float64)}


def _make_broken():
  from dreamerv3_tf.envs import wrappers
  return wrappers.CheckSpaces(_BrokenSpaces())


@pytest.mark.parametrize('parallel', [False, True])
def test_env_that_breaks_its_spaces_fails_once_with_one_line(parallel):
  with driverlib.Driver([_make_broken], parallel=parallel) as driver:
    with pytest.raises(base.EnvSpaceError) as error:
      driver(lambda c, o: (c, {'action': np.zeros(len(o['is_first']), np.int32)}, {}), steps=3)
    assert str(error.value) == "env 0: obs 'vec': expected float32[2], got float64[2]"
    assert driver.restarts == 0


@pytest.mark.parametrize('parallel', [False, True])
def test_save_and_load_continue_exactly(parallel):
  """A driver restored from save() steps on exactly as the original does."""
  import json
  from dreamerv3_tf.envs import make_env as make
  fn = functools.partial(make, 'dummy_disc_vec', {'dummy': {'length': 7}}, 3)

  def run(driver, steps):
    seen = []
    driver.on_step(lambda tran, worker: seen.append((worker, tran['vector'].tolist(),
                                                     float(tran['reward']))))
    counter = lambda carry, obs: (carry + 1, {'action': (carry + np.arange(2)) % 4}, {})
    driver(counter, steps=steps)
    return seen

  with driverlib.Driver([fn, fn], parallel=parallel) as a:
    a.reset(lambda n: np.zeros(n, np.int64))
    run(a, 10)
    state = json.loads(json.dumps(a.save()))  # through JSON, as in a checkpoint
    expected = run(a, 16)
  with driverlib.Driver([fn, fn], parallel=parallel) as b:
    b.load(state)
    assert run(b, 16) == expected


def test_envs_without_state_start_new_episodes_after_load():
  with driverlib.Driver(fns(2)) as a:
    a(policy, steps=6)
    state = a.save()
  assert state['envs'] == [None, None]
  with driverlib.Driver(fns(2)) as b:
    b.load(state)
    firsts = []
    b.on_step(lambda tran, worker: firsts.append(bool(tran['is_first'])))
    b(policy, steps=2)
  assert firsts == [True, True]


@pytest.mark.parametrize('before, after', [(2, 3), (3, 2)])
def test_state_of_another_number_of_envs_starts_new_episodes(before, after):
  """run.envs may change on a resume: the saved per-env state is not restored."""
  with driverlib.Driver(fns(before)) as a:
    a.reset(init_policy)
    a(policy, steps=3 * before)
    state = a.save()
  with driverlib.Driver(fns(after)) as b:
    b.reset(init_policy)
    assert b.load(state) is False
    firsts = []
    b.on_step(lambda tran, worker: firsts.append(bool(tran['is_first'])))
    b(policy, steps=2 * after)
  assert firsts == [True] * after + [False] * after


class _NeverSteps(CountEnv):
  """Builds, but raises at every step: a broken env config, not a crash."""

  def step(self, action):
    raise ValueError('camera_id=99 is invalid')


@pytest.mark.parametrize('parallel', [False, True])
def test_env_failing_its_first_step_is_one_error_without_restarts(parallel, capsys):
  with driverlib.Driver([_NeverSteps], parallel=parallel) as driver:
    with pytest.raises(base.EnvError) as error:
      driver(policy, steps=1)
    assert driver.restarts == 0
  expected = 'env 0 failed on its first step: raised ' if parallel else 'env 0 raised '
  assert str(error.value) == expected + 'ValueError: camera_id=99 is invalid'
  assert capsys.readouterr().err == ''


@pytest.mark.parametrize('parallel', [False, True])
def test_begin_takes_the_first_step_early_and_changes_nothing_after(parallel):
  """begin() steps the envs at once (an env that cannot step fails there), and the
  transitions that follow are those of a driver that did not begin early, with a
  reset and an init_policy between begin() and the first call too."""
  def run(driver, early):
    seen = record(driver)
    if early:
      driver.begin()
    driver.reset(init_policy)
    driver(policy, steps=12)
    return {i: [(t['vec'].tolist(), bool(t['is_first']), int(t['since_first']))
                for t in ts] for i, ts in seen.items()}

  with driverlib.Driver(fns(2), parallel=parallel) as a:
    expected = run(a, early=False)
  with driverlib.Driver(fns(2), parallel=parallel) as b:
    assert run(b, early=True) == expected
  with driverlib.Driver([_NeverSteps], parallel=parallel) as broken:
    with pytest.raises(base.EnvError, match='camera_id=99 is invalid'):
      broken.begin()


def test_an_episode_that_does_not_end_is_warned_of_once(monkeypatch, capsys):
  """An env whose episodes never end made the first eval wait forever, silently."""
  monkeypatch.setattr(driverlib, 'LONG_EPISODE', 5)
  with driverlib.Driver(fns(2, length=10 ** 9)) as driver:
    driver.reset(init_policy)
    driver(policy, steps=2 * 12)
  lines = capsys.readouterr().err.splitlines()
  assert lines == [
      f'Warning: env {i} has run 5 steps without ending its episode; if its episodes never '
      'end, set env.time_limit (an eval waits for whole episodes)' for i in (0, 1)]
