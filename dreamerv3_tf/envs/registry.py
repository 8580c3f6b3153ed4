"""make_env: task name + config.env -> a wrapped Env (numpy only, lazy imports).

  env = make_env('dmc_walker_walk', config.env, seed=0)
  obs = env.step({'reset': True, 'action': np.zeros(6, np.float32)})

Suite packages (dm_control, gymnasium, ale_py, crafter) are imported only when a
task of that suite is made.
"""

import importlib
import inspect

from dreamerv3_tf.envs import memory
from dreamerv3_tf.envs import wrappers

# suite -> (module, class, config sub-dict). atari100k is Atari with other defaults;
# py is the user's own constructor (envs/custom.py), task py_<module>:<function>.
SUITES = {
    'atari': ('atari', 'Atari', 'atari'),
    'atari100k': ('atari', 'Atari', 'atari100k'),
    'crafter': ('crafter', 'Crafter', 'crafter'),
    'dmc': ('dmc', 'DMC', 'dmc'),
    'dummy': ('dummy', 'Dummy', 'dummy'),
    'gym': ('gym', 'Gym', 'gym'),
    'py': ('custom', 'make', 'py'),
}


def sections_read(task):
  """The config.env sections the env of `task` reads (its suite's; py_ tasks also
  take gym's size, repeat and image), or None for a task of no suite."""
  suite = str(task).split('_', 1)[0]
  if suite not in SUITES:
    return None
  return {SUITES[suite][2]} | ({'gym'} if suite == 'py' else set())


def _get(config, key, default=None):
  """Reads `key` from a ConfigDict or a plain dict."""
  try:
    return config[key]
  except (KeyError, AttributeError):
    return default


def _unknown(task, reason):
  reason = ' '.join(reason.split())  # One line, whatever the suite's message.
  return wrappers.TaskError(
      f'Unknown task {task!r}: {reason}. Valid suites: {", ".join(SUITES)} '
      f'(task = <suite>_<name>, e.g. dmc_walker_walk, gym_CartPole-v1, py_mymodule:make)')


def suite_of_section(section):
  """The suite whose options config.env.<section> holds, else None (py's are the user's)."""
  return next((k for k, v in SUITES.items() if v[2] == section and k != 'py'), None)


def suite_options(suite):
  """The options of `suite`'s env constructor, the keys config.env.<section> may hold
  (seed and mode come from the caller; not for 'py', whose function names its own)."""
  module, cls, _ = SUITES[suite]
  ctor = getattr(importlib.import_module(f'dreamerv3_tf.envs.{module}'), cls)
  params = list(inspect.signature(ctor).parameters)
  # The first parameter is the task name.
  return [k for k in params[1:] if k not in ('seed', 'mode')]


def make_suite_env(task, env_config, seed, mode='train'):
  """The unwrapped suite env for `task` (see make_env)."""
  suite, sep, name = task.partition('_')
  if not sep:
    raise _unknown(task, 'no <suite>_ prefix')
  if suite not in SUITES:
    raise _unknown(task, f'no suite {suite!r}')
  if not name:
    raise _unknown(task, f'no task name after {suite}_')
  module, cls, section = SUITES[suite]
  if suite == 'py':  # the user's function takes its own options, not a suite's
    from dreamerv3_tf.envs import custom
    return custom.make(
        name, _get(env_config, 'py', None), _get(env_config, 'gym', None), seed, mode)
  ctor = getattr(importlib.import_module(f'dreamerv3_tf.envs.{module}'), cls)
  kwargs = dict(_get(env_config, section, None) or {})
  params = list(inspect.signature(ctor).parameters)
  options = suite_options(suite)
  unknown = sorted(k for k in kwargs if k not in options)
  if unknown:
    raise ValueError(
        f'config.env.{section} has unknown options {unknown} for {suite}; '
        f'valid: {", ".join(options)}')
  kwargs['seed'] = seed
  if 'mode' in params:
    kwargs['mode'] = mode
  try:
    return ctor(name, **kwargs)
  except wrappers.UnknownTaskError as e:
    raise _unknown(task, str(e)) from None


def make_env(task, env_config, seed, mode='train'):
  """Builds the env for `task` with the standard wrapper chain.

  Args:
    task: '<suite>_<name>', e.g. 'dmc_cartpole_balance', 'gym_CartPole-v1',
      'atari_pong', 'atari100k_pong', 'crafter_reward', 'dummy_disc', or the
      user's own: 'gym_<module>:<Id-v0>' (gymnasium imports the module, which
      registers the id) and 'py_<module>:<function>' (envs/custom.py).
    env_config: `config.env` (ConfigDict or nested dict) with one sub-dict of
      constructor options per suite and 'time_limit' (0: the suite's own).
    seed: int seed of this env instance.
    mode: 'train' or 'eval'; passed to suites that differ between the two.

  Returns:
    suite env -> TimeLimit (if time_limit > 0) -> NormalizeAction
    -> UnifyDtypes -> CheckSpaces -> ClipAction.
  """
  if mode not in ('train', 'eval'):
    raise ValueError(f"make_env mode must be 'train' or 'eval', got {mode!r}")
  with memory.capped() as total:  # an enormous space: a line, not the OOM killer
    try:
      env = make_suite_env(task, env_config, seed, mode)
    except wrappers.EnvSetupError as e:
      if total is None or not memory.is_out_of_memory(e.__cause__):
        raise
      raise type(e)(f'{e}{memory.out_of_memory_note(total)}') from e.__cause__
    except (MemoryError, OSError) as e:
      if total is None or not memory.is_out_of_memory(e):
        raise
      raise wrappers.EnvSetupError(
          f'{task}: {type(e).__name__}: {" ".join(str(e).split())}'
          f'{memory.out_of_memory_note(total)}') from e
  wrappers.check_space_sizes(env)  # before anything reads the bounds of a space
  time_limit = int(_get(env_config, 'time_limit', 0) or 0)
  if time_limit > 0:
    env = wrappers.TimeLimit(env, time_limit)
  env = wrappers.NormalizeAction(env)
  env = wrappers.UnifyDtypes(env)
  env = wrappers.CheckSpaces(env)
  env = wrappers.ClipAction(env)
  return env
