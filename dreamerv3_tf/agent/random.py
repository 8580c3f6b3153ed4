"""RandomAgent: the agent interface with uniformly random actions and no learning.

It lets every script run end to end (and be tested) without a neural network. It is
a tf.Module so that it goes into the checkpoint like the real agent; its only state
is the number of policy calls, which seeds the action sampler.
"""

import numpy as np
import tensorflow as tf

from dreamerv3_tf.core import base


class RandomAgent(tf.Module):

  def __init__(self, obs_space, act_space, config=None):
    super().__init__(name='random_agent')
    base.check_agent_spaces(obs_space, act_space)
    self.obs_space = obs_space
    self.act_space = act_space
    self.seed = int(config.seed) if config is not None else 0
    self.calls = tf.Variable(0, dtype=tf.int64, trainable=False, name='calls')

  def init_policy(self, batch_size):
    return ()

  def init_train(self, batch_size):
    return ()

  def init_report(self, batch_size):
    return ()

  def policy(self, carry, obs, mode='train'):
    batch = len(obs['is_first'])
    rng = np.random.default_rng([self.seed, int(self.calls.numpy())])
    self.calls.assign_add(1)
    act = {k: np.stack([v.sample(rng) for _ in range(batch)])
           for k, v in self.act_space.items()}
    return carry, act, {}

  def train(self, carry, batch):
    return carry, {}, _batch_stats(batch)

  def report(self, carry, batch):
    return carry, _batch_stats(batch)


def _batch_stats(batch):
  """What a report can say without a model: statistics of the replayed data."""
  reward = np.asarray(batch['reward'], np.float32)
  return {
      'data/reward_mean': float(reward.mean()),
      'data/reward_max': float(reward.max()),
      'data/is_first_frac': float(np.asarray(batch['is_first']).mean()),
  }
