"""Atari 100k benchmark, official `atari100k` settings.

  python -m dreamerv3_tf.main --config=configs/atari100k.py:train_eval --config.task=atari100k_pong
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'atari100k_pong'
  c.run.steps = int(1.1e5)
  c.run.envs = 1
  c.run.train_ratio = 256.0
  c.run.parallel = False
  presets.size('12m')(c)
  return presets.apply_presets(c, arg, {})
