"""A stop of the whole run (Ctrl-Z and fg, SIGSTOP and SIGCONT) longer than
run.env_timeout is not an env that hung: its limits count only the time the run ran."""

import functools
import os
import subprocess
import time

import numpy as np

from dreamerv3_tf.core import awake_clock
from dreamerv3_tf.core import deadline
from dreamerv3_tf.core import workers
from dreamerv3_tf.envs import dummy

TIMEOUT = 1.5  # run.env_timeout of the tests, below the stop
STOP = 2.0


class _WaitsForFile:
  """The dummy env, whose steps (but resets) wait until `path` exists."""

  def __init__(self, path):
    self.env, self.path = dummy.Dummy('disc_vec'), path
    self.obs_space, self.act_space = self.env.obs_space, self.env.act_space

  def step(self, action):
    while not action['reset'] and not os.path.exists(self.path):
      time.sleep(0.01)
    return self.env.step(action)

  def close(self):
    self.env.close()


def waits_for_file(path):
  return _WaitsForFile(path)


def act(reset):
  return {'action': np.int32(1), 'reset': np.bool_(reset)}


def stop_then_go(pids, path):
  """In 0.2 s stops `pids` for STOP seconds, as Ctrl-Z and fg do; 0.1 s after they
  continue creates `path`, which the step they were in waits for."""
  pids = ' '.join(str(pid) for pid in pids)
  return subprocess.Popen(['sh', '-c', f'sleep 0.2; kill -STOP {pids}; sleep {STOP}; '
                           f'kill -CONT {pids}; sleep 0.1; touch {path}'])


def test_a_worker_stopped_with_the_run_mid_step_is_not_declared_hung(capsys, tmp_path):
  """Its step's answer came after the continue, when the wait had run out: 'env 0
  failed (no answer within 1.5s (run.env_timeout)); restarting it', its episode lost."""
  path = tmp_path / 'go'
  remote = workers.RemoteEnv(0, functools.partial(waits_for_file, str(path)), timeout=30)
  try:
    remote.step(act(True))
    remote.timeout = TIMEOUT
    remote.submit(act(False))
    helper = stop_then_go([os.getpid(), remote.pid], path)
    obs = remote.result()
    assert helper.wait() == 0
    assert not obs['is_first'] and remote.restarts == 0
    assert 'Warning' not in capsys.readouterr().err
  finally:
    remote.close()


def test_an_env_of_this_process_stopped_mid_step_is_not_past_its_limit(tmp_path):
  """The run stopped: 'train env 0 failed to step: no answer within 1.5s (it runs in
  this process, run.parallel=False, ...)'."""
  path = tmp_path / 'go'
  env = waits_for_file(str(path))
  env.step(act(True))
  helper = stop_then_go([os.getpid()], path)
  with deadline.limit(TIMEOUT):
    obs = env.step(act(False))
  assert helper.wait() == 0
  assert not obs['is_first']


def test_a_wait_late_by_a_stop_does_not_count_it():
  """awake_clock.wait with the stop injected: a poll that returns 100 s late."""
  clock = [1000.0]
  awake = awake_clock.Clock(monotonic=lambda: clock[0])
  polls = []

  def poll(seconds):
    polls.append(seconds)
    clock[0] += seconds + (100 if len(polls) == 2 else 0)
    return False

  assert not awake.wait_for(poll, 1.0)
  assert polls == [0.25, 0.25, 0.25, 0.25, 0] and awake.now() == 1001.0


def test_a_stop_two_threads_saw_is_counted_once():
  awake = awake_clock.Clock(monotonic=lambda: 1100.0)
  awake.late(1000.0)  # the watchdog's look, due at 1000, came at 1100
  awake.late(1000.5)  # and the main thread's
  assert awake.now() == 1000.0
