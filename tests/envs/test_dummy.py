"""Dummy envs (determinism, learnable reward) and make_env itself."""

import os
import subprocess
import sys

import numpy as np
import pytest

from configs import base
from dreamerv3_tf.envs import make_env
from dreamerv3_tf.envs.dummy import Dummy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def env_config(length=6, size=(8, 8), time_limit=0):
  c = base.get_config().env
  c.dummy.length, c.dummy.size, c.time_limit = length, size, time_limit
  return c


def rollout(env, actions):
  obs = [env.step({'reset': True, 'action': actions[0]})]
  for a in actions:
    obs.append(env.step({'reset': False, 'action': a}))
  return obs


def test_dummy_deterministic_given_seed():
  acts = [np.int32(i % 4) for i in range(5)]
  a = rollout(make_env('dummy_disc', env_config(), seed=3), acts)
  b = rollout(make_env('dummy_disc', env_config(), seed=3), acts)
  c = rollout(make_env('dummy_disc', env_config(), seed=4), acts)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])
  assert any(not np.array_equal(x['vector'], y['vector']) for x, y in zip(a, c))


def test_disc_reward_follows_shown_target():
  env = make_env('dummy_disc', env_config(length=50), seed=0)
  obs = env.step({'reset': True, 'action': np.int32(0)})
  hits = misses = 0
  for _ in range(20):
    target = int(np.argmax(obs['vector']))
    # The image lights the target's quadrant: row-major 2x2 grid.
    row, col = divmod(target, 2)
    assert obs['image'][row * 4:(row + 1) * 4, col * 4:(col + 1) * 4].min() == 255
    assert obs['image'].sum() == 255 * 16 * 3
    obs = env.step({'reset': False, 'action': np.int32(target)})
    hits += obs['reward']
    wrong = np.int32((np.argmax(obs['vector']) + 1) % 4)
    obs = env.step({'reset': False, 'action': wrong})
    misses += obs['reward']
  assert hits == 20 and misses == 0


def test_cont_reward_is_higher_near_target():
  env = make_env('dummy_cont', env_config(length=100), seed=1)
  obs = env.step({'reset': True, 'action': np.zeros(2, np.float32)})
  good, bad = [], []
  for _ in range(20):
    target = obs['vector'][:2]
    assert obs['image'].max() == 255
    obs = env.step({'reset': False, 'action': target.copy()})
    good.append(obs['reward'])
    obs = env.step({'reset': False, 'action': -np.sign(obs['vector'][:2])})
    bad.append(obs['reward'])
  np.testing.assert_allclose(good, 1.0, atol=1e-6)
  assert max(bad) < 1.0 and np.mean(bad) < 0.5 and min(bad) >= 0.0
  # Actions outside [-1, 1] are clipped by the chain, not rejected.
  obs = env.step({'reset': False, 'action': np.array([5.0, -5.0], np.float32)})
  assert 0.0 <= obs['reward'] <= 1.0


def test_episode_length_and_reset_after_last():
  env = make_env('dummy_disc_vec', env_config(length=4), seed=0)
  obs = [env.step({'reset': i == 0, 'action': np.int32(0)}) for i in range(6)]
  assert [bool(o['is_first']) for o in obs] == [1, 0, 0, 0, 0, 1]
  assert [bool(o['is_last']) for o in obs] == [0, 0, 0, 0, 1, 0]
  assert not any(o['is_terminal'] for o in obs)
  assert obs[5]['reward'] == 0  # Stepped after is_last without reset: resets.


def test_time_limit_from_config():
  env = make_env('dummy_cont_vec', env_config(length=100, time_limit=3), seed=0)
  act = np.zeros(2, np.float32)
  obs = [env.step({'reset': i == 0, 'action': act}) for i in range(5)]
  assert [bool(o['is_last']) for o in obs] == [0, 0, 0, 1, 0]
  assert obs[4]['is_first']


@pytest.mark.parametrize('task, keys', [
    ('dummy_disc', {'vector', 'image'}), ('dummy_disc_vec', {'vector'}),
    ('dummy_disc_img', {'image'}), ('dummy_cont', {'vector', 'image'}),
    ('dummy_cont_vec', {'vector'}), ('dummy_cont_img', {'image'})])
def test_variants_obs_and_act_spaces(task, keys):
  env = make_env(task, env_config(size=(6, 10)), seed=0)
  meta = {'reward', 'is_first', 'is_last', 'is_terminal', 'log/hits'}
  assert set(env.obs_space) == keys | meta
  if 'image' in keys:
    assert env.obs_space['image'].shape == (6, 10, 3)
  action = env.act_space['action']
  if 'disc' in task:
    assert action.dtype == np.int32 and action.shape == () and action.classes == 4
  else:
    assert action.dtype == np.float32 and action.shape == (2,)
    np.testing.assert_array_equal(action.low, -1)
    np.testing.assert_array_equal(action.high, 1)
  obs = env.step({'reset': True, 'action': action.sample(np.random.default_rng(0))})
  for key, space in env.obs_space.items():
    assert (obs[key].dtype, obs[key].shape) == (space.dtype, space.shape), key


def test_plain_dict_config_works():
  config = {'dummy': {'length': 3, 'size': [4, 4]}, 'time_limit': 0}
  env = make_env('dummy_disc', config, seed=0)
  assert env.step({'reset': True, 'action': 0})['image'].shape == (4, 4, 3)


@pytest.mark.parametrize('task', [
    'nosuite', 'foo_bar', 'dummy_foo', 'dummy_', 'crafter_easy'])
def test_unknown_task_is_one_line_value_error(task):
  with pytest.raises(ValueError) as info:
    make_env(task, env_config(), seed=0)
  message = str(info.value)
  assert repr(task) in message and 'Valid suites: atari' in message
  assert '\n' not in message
  assert info.value.exit_code == 2  # config.task is a config value: main exits 2


def test_unknown_config_option_and_mode():
  c = {'dummy': {'length': 3, 'size': (4, 4), 'colour': 'red'}}
  with pytest.raises(ValueError, match=r"env.dummy has unknown options \['colour'\]"):
    make_env('dummy_disc', c, seed=0)
  with pytest.raises(ValueError, match="mode must be 'train' or 'eval'"):
    make_env('dummy_disc', env_config(), seed=0, mode='test')


def test_dummy_rejects_bad_options():
  with pytest.raises(ValueError, match='length'):
    Dummy('disc', length=0)
  with pytest.raises(ValueError, match='size'):
    Dummy('disc', size=(1, 8))


def test_making_dummy_env_imports_no_tensorflow_or_suites():
  code = (
      'import sys\n'
      'from dreamerv3_tf.envs import make_env\n'
      "env = make_env('dummy_disc', {'dummy': {'length': 3, 'size': (4, 4)}}, 0)\n"
      "env.step({'reset': True, 'action': 0})\n"
      "heavy = ['tensorflow', 'keras', 'tensorflow_probability', 'jax', 'dm_control',\n"
      "         'mujoco', 'gymnasium', 'ale_py', 'crafter']\n"
      'loaded = [m for m in heavy if m in sys.modules]\n'
      'assert not loaded, loaded\n')
  result = subprocess.run(
      [sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
      timeout=60)
  assert result.returncode == 0, result.stderr
