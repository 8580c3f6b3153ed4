"""Crafter: image obs, achievement log keys, reward vs noreward."""

import numpy as np
import pytest

pytest.importorskip('crafter')

from configs import base  # noqa: E402
from dreamerv3_tf.envs import make_env  # noqa: E402
from dreamerv3_tf.envs.crafter import Crafter  # noqa: E402


def test_reset_and_steps():
  env = make_env('crafter_reward', base.get_config().env, seed=0)
  assert env.obs_space['image'].shape == (64, 64, 3)
  assert env.act_space['action'].classes == 17
  logs = [k for k in env.obs_space if k.startswith('log/achievement_')]
  assert len(logs) == 22 and 'log/achievement_collect_wood' in logs
  obs = env.step({'reset': True, 'action': np.int32(0)})
  assert obs['is_first'] and obs['image'].dtype == np.uint8
  assert obs['image'].shape == (64, 64, 3) and obs['image'].std() > 0
  assert all(obs[k] == 0 and obs[k].dtype == np.int32 for k in logs)
  rng = np.random.default_rng(0)
  for _ in range(20):
    obs = env.step({'reset': False, 'action': np.int32(rng.integers(17))})
    assert obs['reward'] == obs['log/reward']
    assert obs['log/reward'].dtype == np.float32


def test_steps_are_crafters_and_death_is_terminal():
  """What the official Crafter gives: the game's image and reward, is_last when it ends,
  is_terminal where its discount is 0 (death; random play dies in a few hundred steps)."""
  import crafter
  ours = Crafter('reward', seed=5)
  bare = crafter.Env(size=(64, 64), reward=True, seed=5)
  obs = ours.step({'reset': True})
  np.testing.assert_array_equal(obs['image'], bare.reset())
  rng = np.random.default_rng(0)
  for _ in range(1000):
    action = int(rng.integers(17))
    obs = ours.step({'reset': False, 'action': action})
    image, reward, done, info = bare.step(action)
    np.testing.assert_array_equal(obs['image'], image)
    assert obs['reward'] == np.float32(reward) and obs['is_last'] == done
    assert obs['is_terminal'] == (info['discount'] == 0)
    if done:
      break
  assert obs['is_terminal'] and info['inventory']['health'] == 0


def test_noreward_hides_reward_but_logs_it():
  env = Crafter('noreward', size=(18, 18), seed=0)
  env.step({'reset': True})
  # Noop until the player's health changes (in ~125 steps with this seed).
  for _ in range(400):
    obs = env.step({'reset': False, 'action': 0})
    assert obs['reward'] == 0
    if obs['log/reward'] != 0:
      break
  assert obs['log/reward'] != 0


def test_same_seed_same_world_and_size_is_height_width():
  # World generation costs ~0.7 s per reset, so this test resets only twice.
  def first(seed):
    env = Crafter('reward', size=(20, 36), seed=seed)
    assert env.obs_space['image'].shape == (20, 36, 3)
    return env.step({'reset': True})['image']
  image = first(1)
  assert image.shape == (20, 36, 3)
  np.testing.assert_array_equal(image, first(1))


def test_bad_task_and_size():
  with pytest.raises(ValueError, match=r"Unknown task 'crafter_hard'.*Valid suites"):
    make_env('crafter_hard', base.get_config().env, seed=0)
  with pytest.raises(ValueError, match='size'):
    Crafter('reward', size=(16, 16))
