"""RemoteEnv: an env in a worker process behind the Env contract."""

import functools
import os

import numpy as np
import pytest

from dreamerv3_tf.core import base
from dreamerv3_tf.core import workers
from dreamerv3_tf.envs import make_env

DUMMY = functools.partial(make_env, 'dummy_disc_vec', {'dummy': {'length': 5}}, 3)


def act(reset, action=1):
  return {'action': np.int32(action), 'reset': np.bool_(reset)}


def test_steps_like_the_env_in_this_process():
  local = DUMMY()
  remote = workers.RemoteEnv(0, DUMMY)
  try:
    assert isinstance(remote, base.Env)
    assert remote.obs_space.keys() == local.obs_space.keys()
    assert remote.act_space.keys() == local.act_space.keys()
    for t in range(8):
      a, b = remote.step(act(t == 0, t % 4)), local.step(act(t == 0, t % 4))
      assert a.keys() == b.keys()
      for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  finally:
    remote.close()
    local.close()


def test_state_round_trip_and_close():
  remote = workers.RemoteEnv(0, DUMMY)
  remote.step(act(True))
  remote.step(act(False))
  state = remote.get_state()
  after = [remote.step(act(False, i))['vector'] for i in range(3)]
  remote.set_state(state)
  again = [remote.step(act(False, i))['vector'] for i in range(3)]
  np.testing.assert_array_equal(after, again)
  pid = remote.pid
  remote.close()
  remote.close()  # twice is fine
  with pytest.raises(ProcessLookupError):  # exited and reaped
    os.kill(pid, 0)


def test_a_killed_worker_is_rebuilt_and_starts_an_episode(capsys):
  remote = workers.RemoteEnv(0, DUMMY, timeout=30)
  try:
    remote.step(act(True))
    remote.step(act(False))
    old = remote.pid
    os.kill(old, 9)
    obs = remote.step(act(False))
    assert obs['is_first'] and remote.restarts == 1 and remote.pid != old
    assert not remote.step(act(False))['is_first']
    assert 'WARNING: env 0 failed (process died' in capsys.readouterr().err
  finally:
    remote.close()


def test_step_all_overlaps_workers_and_steps_local_envs_too():
  names = ['dummy 0', 'dummy 1', 'local 2']
  envs = workers.start([DUMMY, DUMMY], names=names[:2]) + [DUMMY()]
  try:
    obs = workers.step_all(envs, [act(True)] * 3, names)
    assert all(o['is_first'] for o in obs)
    obs = workers.step_all(envs, [act(False, 2)] * 3, names)
    for o in obs[1:]:
      np.testing.assert_array_equal(o['vector'], obs[0]['vector'])
    with pytest.raises(base.EnvSpaceError, match="^local 2: action is missing the key 'reset'"):
      workers.step_all(envs, [act(False), act(False), {}], names)
  finally:
    for env in envs:
      env.close()
