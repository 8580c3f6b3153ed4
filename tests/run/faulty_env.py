"""Envs whose outputs break their declared spaces, for the error tests.

`inject(fault, mode)` makes `factories` build the last `mode` env (train or eval) of
a run with `fault`: from its third step on, one output is outside its space (or,
with 'cannot_step', its first step raises). The
constructors stay plain data, so the envs also run in driver worker processes.
"""

import functools

import numpy as np

from dreamerv3_tf import factories
from dreamerv3_tf.envs import registry

FAULTS = {
    'nan_vector': lambda obs: {**obs, 'vector': np.full_like(obs['vector'], np.nan)},
    'inf_reward': lambda obs: {**obs, 'reward': np.float32(np.inf)},
    'float_image': lambda obs: {**obs, 'image': obs['image'].astype(np.float32)},
    'short_vector': lambda obs: {**obs, 'vector': obs['vector'][:3]},
    'cannot_step': lambda obs: _raise(ValueError('camera_id=99 is invalid')),
}
AFTER = {'cannot_step': 0}  # steps each fault waits for (default 3)


def _raise(error):
  raise error


class Faulty:
  """The suite env, with `fault` applied to every observation after `after` steps."""

  def __init__(self, env, fault):
    self.env, self.fault, self.after, self.steps = env, FAULTS[fault], AFTER.get(fault, 3), 0

  def __getattr__(self, name):
    if name == 'env':
      raise AttributeError(name)
    return getattr(self.env, name)

  def step(self, action):
    obs = self.env.step(action)
    self.steps += 1
    return self.fault(obs) if self.steps > self.after else obs


def make_env(fault, task, env_config, seed, mode):
  """registry.make_env with the fault inside the standard wrapper chain."""
  if not fault:
    return registry.make_env(task, env_config, seed, mode)
  suite_env = registry.make_suite_env
  registry.make_suite_env = lambda *args, **kwargs: Faulty(suite_env(*args, **kwargs), fault)
  try:
    return registry.make_env(task, env_config, seed, mode)
  finally:
    registry.make_suite_env = suite_env


def inject(fault, mode):
  """Patches factories.env_fns; -> a function that undoes it."""
  original = factories.env_fns

  def env_fns(config, which):
    fns = original(config, which)
    last = len(fns) - 1
    return [functools.partial(make_env, fault if which == mode and i == last else '',
                              *fn.args) for i, fn in enumerate(fns)]

  factories.env_fns = env_fns
  return lambda: setattr(factories, 'env_fns', original)
