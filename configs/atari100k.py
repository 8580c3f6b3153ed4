"""Atari 100k benchmark, the official `atari100k` config: 1 train / 4 eval envs and the
default model (size200m's dimensions), meant for a GPU or TPU.

  python -m dreamerv3_tf.main --config=configs/atari100k.py:train_eval --config.task=atari100k_pong
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'atari100k_pong'
  c.run.steps = int(1.1e5)
  presets.official_envs(c, envs=1)
  c.run.train_ratio = 256.0
  c.run.parallel = False
  return presets.apply_presets(c, arg, {})
