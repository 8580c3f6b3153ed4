"""Atari (ale-py), official `atari` settings: 200M frames, train_ratio 32.

  python -m dreamerv3_tf.main --config=configs/atari.py:train_eval --config.task=atari_pong
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'atari_pong'
  c.run.steps = int(5.1e7)
  c.run.train_ratio = 32.0
  c.run.envs = 8
  presets.size('12m')(c)
  return presets.apply_presets(c, arg, {})
