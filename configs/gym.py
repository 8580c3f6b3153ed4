"""Gymnasium tasks by id, e.g. task=gym_CartPole-v1.

  python -m dreamerv3_tf.main --config=configs/gym.py:train_eval --config.task=gym_CartPole-v1
"""

from configs import base
from configs import presets


def get_config(arg=''):
  c = base.get_config()
  c.task = 'gym_CartPole-v1'
  c.run.steps = int(1e6)
  c.run.envs = c.run.eval_envs = 1  # a CPU's few cores (no official gym config)
  c.run.train_ratio = 512.0
  c.run.parallel = False
  presets.size('1m')(c)
  return presets.apply_presets(c, arg, {'quick': quick})


def quick(c):
  """The README's first command: CartPole-v1 at size1m, ratio 256, 5K env steps.

  Of the tasks we measured on 2 CPU cores, this one shows learning soonest in
  wall time (RESULTS.md: eval scores against the random policy's, over seeds).
  Reports and evals count env steps, so every machine evaluates at the same
  points of the run.
  """
  c.task = 'gym_CartPole-v1'
  c.run.steps = 5000
  c.run.train_ratio = 256.0
  c.run.eval_eps = 3
  c.run.clock = 'steps'
  c.run.report_every = 500
  c.run.log_every = 500
  c.run.save_every = 2500
