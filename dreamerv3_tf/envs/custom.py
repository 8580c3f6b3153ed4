"""Your own env by name: task=py_<module>:<function>, keyword arguments from config.env.py.

  # corridor.py, in a directory on PYTHONPATH
  class Corridor(gymnasium.Env): ...
  python -m dreamerv3_tf.main --config=configs/gym.py:train_eval \
      --config.task=py_corridor:Corridor --config.env.py='{"length": 5}'

`function` is any callable of the module, a function or a class (dots reach nested
attributes). It gets config.env.py as keyword arguments, plus `seed` (an int that
differs per env) and `mode` ('train' or 'eval') if it has parameters of those names.
It returns a gymnasium.Env, wrapped like a gym_ task (config.env.gym's size, repeat and
image apply, and resets are seeded), or an env with the step-dict interface of
core/base.Env (obs_space and act_space: dicts of core.spaces.Space).

Env workers (run.parallel=True) import the module by name in their own processes,
with the main process's sys.path: it must be importable there (PYTHONPATH, or the
working directory). Each way this can fail raises EnvSetupError, one line naming
what to fix.
"""

import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
import weakref

from dreamerv3_tf.core import errors
from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.envs.wrappers import EnvSetupError
from dreamerv3_tf.envs.wrappers import TaskError

PASSED = ('seed', 'mode')  # given by the run, never by config.env.py

# The envs the constructors returned in this process, by id: one returned twice is named.
_RETURNED = weakref.WeakValueDictionary()


def make(name, kwargs, gym_options, seed, mode):
  """The env of task py_<name>.

  Args:
    name: '<module>:<function>'.
    kwargs: config.env.py, keyword arguments of the function.
    gym_options: config.env.gym, for a gymnasium.Env it returns.
    seed, mode: passed on where the function takes them.
  """
  module_name, function, fn = resolve(name)
  kwargs = dict(kwargs or {})
  call = _arguments(name, fn, kwargs, {'seed': seed, 'mode': mode})
  shown = ', '.join(f'{k}={v!r}' for k, v in kwargs.items())
  from dreamerv3_tf.envs import gym as gym_env  # (imports no gymnasium)
  try:
    with gym_env.warnings_once():  # gymnasium's: one line each, not two per env
      env = fn(**call)
  except SystemExit as e:  # 'failed to start: SystemExit: 0'
    raise EnvSetupError(
        f'{name}({shown}) called sys.exit({e.code!r}){_where(e, module_name)}; an env '
        'constructor must return an env (or raise)') from e
  except Exception as e:  # noqa: BLE001 - the user's code: named in one line
    key = _unexpected_key(e, kwargs)
    if key:  # a function of **kwargs passing config.env.py on: a config value (exit 2)
      raise TaskError(
          f'config.env.py sets {key!r}, which {name} does not take: {errors.flat_text(e)}'
          f'{_where(e, module_name)}') from e
    raise EnvSetupError(
        f'{name}({shown}) raised {type(e).__name__}: {errors.flat_text(e)}'
        f'{_where(e, module_name)}') from e
  _check_new(name, env)
  return _adapt(name, env, gym_options, seed)


def _check_new(name, env):
  """EnvSetupError for an env object the constructor returned before in this process (a
  module-level env it hands out): the run's envs stepped it in turn, each resetting it
  amid the others' episodes, without a word (run.parallel=False)."""
  try:
    inner = env.unwrapped  # also one shared beneath new gymnasium wrappers
  except Exception:  # noqa: BLE001 - no gymnasium env (a step-dict one): itself
    inner = env
  for made in dict.fromkeys((env, inner)):
    if _RETURNED.get(id(made)) is made:
      raise EnvSetupError(
          f'{name} returned the {type(made).__name__} object it had returned for another '
          'env of this process, which would step it in turn, mixing their episodes; return '
          'a new env at each call')
  for made in (env, inner):
    try:
      _RETURNED[id(made)] = made
    except TypeError:  # no weak reference to it (__slots__): not checked
      pass


def _unexpected_key(error, kwargs):
  """The key of config.env.py a TypeError names as 'an unexpected keyword argument'
  (Python's own words for a call), else None: the constructor's signature takes
  **kwargs, or has none to read, so only the call could tell it (was exit code 1,
  as a constructor that failed)."""
  if type(error) is not TypeError:
    return None
  match = re.search(r"got an unexpected keyword argument '(\w+)'", str(error))
  return match.group(1) if match and match.group(1) in kwargs else None


def resolve(name):
  """'<module>:<function>' -> (module name, function name, the callable).

  A name of no such module or function is a TaskError (exit code 2, as an unknown
  task of a suite); was 1, as a constructor that raised."""
  module_name, function = _split(name)
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if module_name.endswith('.py'):  # 'corridor.py': the module corridor's submodule py
      raise _names_a_file(name, module_name, function) from None
    if e.name and (module_name + '.').startswith(e.name + '.'):
      raise _not_found(module_name) from None
    raise EnvSetupError(
        f'importing {module_name} failed: {errors.flat_text(e)} (a package it needs is '
        'missing)') from e
  except SystemExit as e:  # 'failed to start: SystemExit: 0' named neither who nor why
    raise EnvSetupError(
        f'importing {module_name} called sys.exit({e.code!r}){_where(e, module_name)}: a '
        'module that runs as a script at import (no `if __name__ == "__main__":` guard?)'
    ) from e
  except Exception as e:  # noqa: BLE001 - the user's module: named in one line
    raise EnvSetupError(
        f'importing {module_name} raised {type(e).__name__}: {errors.flat_text(e)}'
        f'{_where(e, module_name)}') from e
  fn = module
  for part in function.split('.'):
    if not hasattr(fn, part):
      names = sorted(k for k, v in vars(module).items()
                     if callable(v) and not k.startswith('_') and
                     getattr(v, '__module__', None) == module_name)
      where = module.__file__ or (  # a directory without __init__.py: no file
          f'the directory {", ".join(getattr(module, "__path__", []))}')
      raise TaskError(
          f'module {module_name} ({where}) has no {function!r}; its own '
          f'functions and classes: {", ".join(names) or "none"}')
    fn = getattr(fn, part)
  if not callable(fn):
    raise EnvSetupError(f'{name} is a {type(fn).__name__}, not a function or class')
  return module_name, function, fn


def check_name(name):
  """The TaskError `resolve` gives for `name`, '<module>:<function>', of another shape,
  one that names a file, or one whose top-level module sys.path (which env workers
  take) lacks: the config check's, before TensorFlow. It imports nothing (a module runs
  the user's code: the env's to import), so a function the module lacks is the env's."""
  module_name, function = _split(name)
  if top_module_found(module_name) is False:
    if module_name.endswith('.py'):
      raise _names_a_file(name, module_name, function)
    raise _not_found(module_name)


def top_module_found(module_name):
  """Whether the top-level package of `module_name` is on sys.path (a path search that
  imports nothing of the user's), or None where that cannot be known so: a relative
  name, or one in sys.modules without a spec (the env's import then names it)."""
  top = module_name.split('.')[0]
  if not top:
    return None
  try:
    return importlib.util.find_spec(top) is not None
  except (ImportError, ValueError):
    return None


def _split(name):
  """'<module>:<function>' -> (module name, function name), or TaskError."""
  module_name, sep, function = name.partition(':')
  if not sep or not module_name or not function:
    raise TaskError(
        f'task py_{name}: expected py_<module>:<function>, e.g. py_corridor:Corridor')
  if '/' in module_name or os.sep in module_name:  # no module's name; '../x' raised TypeError
    raise _names_a_file(name, module_name, function)
  return module_name, function


def _not_found(module_name):
  return TaskError(f'env module {module_name!r} not found: put the directory that holds it '
                   'on PYTHONPATH (or run from there)')


def module_of_file(path):
  """The module name of a file a task named instead (myenvs/corridor.py -> corridor)."""
  name = os.path.basename(path)
  return name[:-len('.py')] if name.endswith('.py') else name


def _names_a_file(name, module_name, function):
  """The TaskError of a task that names its module by a file (py_corridor.py:Corridor,
  py_myenvs/corridor:Corridor): 'not found: put the directory that holds it on
  PYTHONPATH' misled where it was."""
  module = module_of_file(module_name)
  return TaskError(f"task py_{name} names a file ({module_name!r}), not a module; put the "
                   f"file's directory on PYTHONPATH and name its module: py_{module}:{function}")


def _arguments(name, fn, kwargs, passed):
  """The keyword arguments of the call; unknown or missing ones are named, as config
  values (TaskError: exit code 2; was 1, as a constructor that failed)."""
  clash = [k for k in PASSED if k in kwargs]
  if clash:
    raise TaskError(
        f'config.env.py sets {clash}: the run passes {", ".join(PASSED)} itself '
        '(config.seed; train or eval env)')
  try:
    params = inspect.signature(fn).parameters.values()
  except (TypeError, ValueError):  # no signature to read (a builtin): the call decides
    return dict(kwargs)
  named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  open_ended = any(p.kind == p.VAR_KEYWORD for p in params)
  unknown = sorted(k for k in kwargs if k not in named)
  if unknown and not open_ended:
    raise TaskError(
        f'config.env.py sets {unknown}, which {name} does not take; it takes: '
        f'{", ".join(k for k in named if k not in PASSED) or "no arguments"}')
  missing = [p.name for p in params
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and
             p.default is p.empty and p.name not in kwargs and p.name not in PASSED]
  if missing:
    raise TaskError(
        f'{name} needs {missing}: set them in config.env.py, e.g. '
        f"--config.env.py='{{\"{missing[0]}\": ...}}'")
  return {**kwargs, **{k: v for k, v in passed.items() if k in named}}


def _adapt(name, env, gym_options, seed):
  """A gymnasium.Env -> Gym; a step-dict env as it is, once its spaces are checked."""
  gymnasium = sys.modules.get('gymnasium')  # loaded if the user's module made one
  if gymnasium is not None and isinstance(env, gymnasium.Env):
    from dreamerv3_tf.envs.gym import Gym
    try:
      return Gym(env, seed=seed, **dict(gym_options or {}))
    except ValueError as e:  # unsupported spaces, image=True without rgb_array
      raise EnvSetupError(f'{name}: {e}') from None
  if all(_has(name, env, k) for k in ('obs_space', 'act_space', 'step')):
    for what in ('obs_space', 'act_space'):
      spaces = getattr(env, what)
      if not isinstance(spaces, dict):
        raise EnvSetupError(
            f'{name}: env.{what} is a {type(spaces).__name__}; expected a dict of '
            'dreamerv3_tf.core.spaces.Space')
      for key, space in spaces.items():
        if not isinstance(space, Space):
          raise EnvSetupError(
              f'{name}: env.{what}[{key!r}] is a {type(space).__name__}; expected a '
              'dreamerv3_tf.core.spaces.Space (or return a gymnasium.Env)')
    return env
  hint = (' (it has observation_space: a gym env? port it to gymnasium.Env)'
          if hasattr(env, 'observation_space') else '')
  vector = getattr(getattr(gymnasium, 'vector', None), 'VectorEnv', None)
  if vector is not None and isinstance(env, vector):  # the hint above misled: port what?
    hint = (f' (a vector env of {getattr(env, "num_envs", "several")} envs: return one env;'
            ' the run makes run.envs of them, and run.parallel=True steps them in parallel)')
  raise EnvSetupError(
      f'{name} returned {type(env).__name__}, not an env{hint}: return a gymnasium.Env '
      'or an object with obs_space, act_space and step() (dreamerv3_tf/core/base.py Env)')


def _has(name, env, attribute):
  """hasattr(env, attribute), naming the error of a property that raises (hasattr lets
  all but AttributeError through: its bare 'RuntimeError: ...' named neither)."""
  try:
    return hasattr(env, attribute)
  except Exception as e:  # noqa: BLE001 - the user's property: named in one line
    raise EnvSetupError(
        f'{name}: env.{attribute} raised {type(e).__name__}: {errors.flat_text(e)}'
        f'{_where(e, type(env).__module__)}') from e


def _where(error, module_name):
  """' (file.py, line N)': the deepest frame in the user's module, else the deepest."""
  frames = traceback.extract_tb(error.__traceback__)
  if not frames or isinstance(error, SyntaxError):  # its message names file and line
    return ''
  own = getattr(sys.modules.get(module_name), '__file__', None)
  if own is None:  # an import that failed leaves no module behind: find its file
    try:
      own = importlib.util.find_spec(module_name).origin
    except Exception:  # noqa: BLE001 - e.g. its parent package failed to import
      own = None
  mine = [f for f in frames if own and os.path.abspath(f.filename) == os.path.abspath(own)]
  # Not this package's frames: a function of no Python file (py_math:sqrt) named our
  # call, '(custom.py, line 54)', which is no place to fix.
  package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
  theirs = [f for f in frames if not os.path.abspath(f.filename).startswith(package)]
  if not (mine or theirs):
    return ''
  frame = (mine or theirs)[-1]
  return f' ({os.path.basename(frame.filename)}, line {frame.lineno})'
