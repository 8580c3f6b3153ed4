"""DeepMind Control Suite: the official dmc_proprio (`proprio`, also the default) and
dmc_vision (`vision`) configs, and `cpu` / `quick` presets for a few CPU cores.

  python -m dreamerv3_tf.main --config=configs/dmc.py:train_eval --logdir=~/logdir/dmc
  python -m dreamerv3_tf.main --config=configs/dmc.py:train_eval,vision,size12m

Without `vision` the config is dmc_proprio's (size1m, ratio 1024). `vision`, as the
official dmc_vision, sets no size: the default model (size200m's dimensions), meant for a
GPU or TPU, unless a size preset or debug is given. The named presets also take the
official task (dmc_walker_walk); without them it is dmc_cartpole_balance, the quickest.
"""

from configs import base
from configs import presets


def _proprio(c):
  c.env.dmc.proprio, c.env.dmc.image = True, False
  presets.size('1m')(c)
  c.run.train_ratio = 1024.0


def proprio(c):
  """The official dmc_proprio."""
  _proprio(c)
  c.task = 'dmc_walker_walk'


def vision(c):
  """The official dmc_vision. Its model is base's unless a size preset or debug sets one:
  get_config leaves out the default's size1m when vision is given."""
  c.env.dmc.proprio, c.env.dmc.image = False, True
  c.run.train_ratio = 256.0
  c.task = 'dmc_walker_walk'


def cpu(c):
  """size1m proprio with train_ratio 128: about an hour for 50K steps on 2 Zen 4 cores.

  A lower ratio than the official 1024 trades sample efficiency for wall time; one env
  each for training and eval, which a few cores step faster than 16 and 4.
  """
  _proprio(c)
  c.run.train_ratio = 128.0
  c.run.envs = c.run.eval_envs = c.run.eval_eps = 1


def quick(c):
  """The README's DMC command: the cpu preset on cartpole_swingup for 30K env steps.

  16-18 minutes on 2 idle Zen 5 cores (33 env steps/s), about 38 on a Zen 4 (13.4
  env steps/s). Three eval episodes per report; a random policy scores 24 +- 28
  on this task. Of the DMC tasks we tried at this ratio, this one showed learning
  first (RESULTS.md); gym.py's quick preset shows it sooner.
  """
  cpu(c)
  c.task = 'dmc_cartpole_swingup'
  c.run.steps = 30000
  c.run.eval_eps = 3
  c.run.report_every = 120.0
  c.run.log_every = 120.0


def get_config(arg=''):
  c = base.get_config()
  c.task = 'dmc_cartpole_balance'
  c.run.steps = int(1.1e6)
  presets.official_envs(c)
  c.run.parallel = True   # dm_control (EGL) and TensorFlow do not share a process
  if 'vision' not in presets.names(arg):
    _proprio(c)  # the default: dmc_proprio's observations, size and ratio
  return presets.apply_presets(
      c, arg, {'proprio': proprio, 'vision': vision, 'cpu': cpu, 'quick': quick})
