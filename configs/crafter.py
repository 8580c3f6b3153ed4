"""Crafter, the official `crafter` config: 1 train / 4 eval envs and the default model
(size200m's dimensions), meant for a GPU or TPU.

  python -m dreamerv3_tf.main --config=configs/crafter.py:train_eval
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'crafter_reward'
  c.run.steps = int(1.1e6)
  presets.official_envs(c, envs=1)
  c.run.train_ratio = 512.0
  c.run.parallel = False
  return presets.apply_presets(c, arg, {})
