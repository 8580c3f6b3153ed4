"""Crafter, official `crafter` settings.

  python -m dreamerv3_tf.main --config=configs/crafter.py:train_eval
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'crafter_reward'
  c.run.steps = int(1.1e6)
  c.run.envs = 1
  c.run.train_ratio = 512.0
  c.run.parallel = False
  presets.size('12m')(c)
  return presets.apply_presets(c, arg, {})
