"""Gymnasium tasks by id, e.g. task=gym_CartPole-v1.

  python -m dreamerv3_tf.main --config=configs/gym.py:train_eval --config.task=gym_CartPole-v1
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'gym_CartPole-v1'
  c.run.steps = int(1e6)
  c.run.envs = 1
  c.run.train_ratio = 512.0
  c.run.parallel = False
  presets.size('1m')(c)
  return presets.apply_presets(c, arg, {})
