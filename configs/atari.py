"""Atari (ale-py), the official `atari` config: 200M frames, train_ratio 32, 16 train /
4 eval envs and the default model (size200m's dimensions), meant for a GPU or TPU.

  python -m dreamerv3_tf.main --config=configs/atari.py:train_eval --config.task=atari_pong
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'atari_pong'
  c.run.steps = int(5.1e7)
  c.run.train_ratio = 32.0
  presets.official_envs(c)
  return presets.apply_presets(c, arg, {})
