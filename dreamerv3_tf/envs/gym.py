"""Gymnasium envs by id, e.g. task=gym_CartPole-v1, gym_Pendulum-v1, and ids that
gymnasium's module syntax registers on import: task=gym_<module>:<Id-v0>.

Obs: a Box of images (uint8, [H, W] or [H, W, C]) becomes 'image' resized to
`size`; any other Box becomes 'vector' <float32>[D] (flattened, unbounded; one of an
image's shape but no uint8 gets a warning line: wrappers.pixels_warning); a
Discrete obs becomes an int32 scalar; Dict obs keep their keys (nested keys are
joined with '_'; one named like a step key, 'reward' or an action key, gets an 'obs_'
prefix). With `image=True` the env renders rgb_array frames into 'image'.
Actions: Discrete(n) -> 'action' <int32>[] in [0, n); Box -> <float32> box (a Box of
integers or bools is given the nearest value of its dtype).
terminated -> is_last and is_terminal; truncated -> is_last only.
Outputs outside the declared spaces raise EnvSpaceError naming the key: a Box value
of another shape or of no real dtype, a non-uint8 image (integers in [0, 255] pass),
a Discrete value that is not an integer of its range (named as the env returned it),
missing or extra Dict keys, a reward or a vector value that is not a number (or
beyond float32), terminated/truncated that are not bools, a rendered frame
(image=True) that is no uint8 [H, W, 3 or 4]. Values outside a vector Box's declared
bounds are one warning line for the run, naming the first ('vector' is unbounded for
the agent, and gymnasium's own env checker only warns of them); floats become float32.
"""

import contextlib
import os
import sys
import time
import warnings

import numpy as np

from dreamerv3_tf.core import base
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import workers
from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.core.spaces import step_spaces
from dreamerv3_tf.envs import display
from dreamerv3_tf.envs import wrappers
from dreamerv3_tf.envs.wrappers import EnvSetupError
from dreamerv3_tf.envs.wrappers import UnknownTaskError

_OBS_FIX = 'use Box, Discrete or a Dict of them (gymnasium.wrappers.FlattenObservation flattens it)'
_ACT_FIX = 'use Discrete, Box or a Dict of them'



def _is_image(space, gym):
  return (
      isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and
      (len(space.shape) == 2 or (len(space.shape) == 3 and space.shape[-1] in (1, 3, 4))))


def _flatten(space, gym, prefix=()):
  """Dict space -> {path tuple: leaf space}."""
  if isinstance(space, gym.spaces.Dict):
    leaves = {}
    for key, sub in space.spaces.items():
      leaves.update(_flatten(sub, gym, prefix + (key,)))
    return leaves
  return {prefix: space}


def _make(gym, task, kwargs):
  """gym.make(task) with every failure as one line naming what to fix."""
  module = _module(task)
  try:
    # gymnasium warns of a deprecated version before it refuses it: two lines (with
    # terminal colours) above the one that names it. Shown only if the env is made.
    # Without gymnasium's env checker: every step is checked here, each problem named in
    # one line; its checks of the first steps printed warnings in two lines each (with
    # terminal colours) before ours, and a 4-tuple step was its 'ValueError: not enough
    # values to unpack (expected 5, got 4)', which a worker restarted 3 times.
    with warnings_once():
      return gym.make(task, disable_env_checker=True, **kwargs)
  except (gym.error.DeprecatedEnv, gym.error.UnregisteredEnv) as e:
    raise _no_env(gym, task, module, e) from None
  except ModuleNotFoundError as e:
    if module and module.endswith('.py'):  # 'corridor.py': the module corridor's submodule py
      raise _names_a_file(task, module) from None
    # (gymnasium's, from the import's: its sentence after it says what the line says)
    cause = e.__cause__ if isinstance(e.__cause__, ModuleNotFoundError) else e
    raise _not_imported(task, module, cause.msg) from None
  except SystemExit as e:  # the module or constructor called sys.exit: 'SystemExit: 0'
    importing = module and module not in sys.modules
    raise EnvSetupError(
        f'gymnasium.make({task!r}): {f"importing {module}" if importing else "its constructor"}'
        f' called sys.exit({e.code!r}), which must not end the run'
        f'{" (a module that runs as a script at import?)" if importing else ""}') from e
  except Exception as e:  # noqa: BLE001 - the env's own constructor: one line
    if _malformed(gym, e):
      raise _no_env(gym, task, module, e) from None
    text = errors.flat_text(e)
    attribute, where = _own_frame(e, gym)
    what = f': env.{attribute}' if attribute else ''
    raise EnvSetupError(
        f'gymnasium.make({task!r}){what} raised {type(e).__name__}: {text}{where}') from e


def check_id(task):
  """The UnknownTaskError make_env gives for gymnasium id `task` that names no env
  (unregistered, deprecated, malformed), found in gymnasium's registry without making
  it (the config check's, before TensorFlow: gymnasium imports in some 90 ms). Of an id
  of a module, <module>:<Id-v0>, only the module is looked for on sys.path (which env
  workers take), not imported: that runs the user's code, which registers the id."""
  module = _module(task)
  if module is not None:
    from dreamerv3_tf.envs.custom import top_module_found  # (a relative one: the env's)
    if top_module_found(module) is False:
      raise (_names_a_file(task, module) if module.endswith('.py') else
             _not_imported(task, module, f"No module named {module.split('.')[0]!r}"))
    return
  import gymnasium as gym
  from gymnasium.envs import registration
  find = getattr(registration, '_find_spec', None)  # make's own lookup (gymnasium 1.x)
  if find is None:
    return
  try:
    with warnings.catch_warnings():  # (an id without its version: the env's to say)
      warnings.simplefilter('ignore')
      find(task)
  except (gym.error.DeprecatedEnv, gym.error.UnregisteredEnv) as e:
    raise _no_env(gym, task, None, e) from None
  except Exception as e:  # noqa: BLE001 - any other is the env's to name as it starts
    if _malformed(gym, e):
      raise _no_env(gym, task, None, e) from None


def _module(task):
  """-> the module of gymnasium id `task` (<module>:<Id-v0>) or None; UnknownTaskError
  for one that names none or a file."""
  module = task.split(':')[0] if ':' in task else None
  if module == '':  # gymnasium's 'ValueError: Empty module name', exit code 1
    raise UnknownTaskError(f'{task!r} names no module before its colon (<module>:<Id-v0>)')
  if module and ('/' in module or os.sep in module):
    raise _names_a_file(task, module)
  return module


def _not_imported(task, module, reason):
  return UnknownTaskError(f'gymnasium could not import {module or task!r} ({reason}): put '
                          'the directory that holds it on PYTHONPATH')


def _malformed(gym, error):
  """('CartPole-v1 ', 'Cart Pole-v1'): a task name, not the env failing (exit code 1)."""
  return type(error) is gym.error.Error and errors.flat_text(error).startswith(
      'Malformed environment ID')


def _no_env(gym, task, module, error):
  """The UnknownTaskError of id `task` that gymnasium's lookup refused with `error`."""
  if isinstance(error, gym.error.DeprecatedEnv):  # 'Taxi-v3': an old version of a task
    return UnknownTaskError(f'gymnasium has no env {task!r} any more ({error})')
  hint = f'; does {module} call gymnasium.register for it?' if module else ''
  if not module and isinstance(error, gym.error.NamespaceNotFound):
    hint = _namespace_hint(task)
  text = errors.flat_text(error) if _malformed(gym, error) else str(error)
  return UnknownTaskError(f'gymnasium has no env {task!r} ({text}){hint}')


_SHOWN = set()  # the env's own warnings shown in this process (warnings_once)


@contextlib.contextmanager
def warnings_once():
  """Shows the warnings of the block if it ends without an error. gymnasium's own (an id
  without its version: 'Using the latest versioned environment ...'; a Box of float64
  bounds: 'Box low's precision lowered ...') are one line each for the run: they came
  as two lines with terminal colours per env made. Others are shown as Python shows
  them."""
  import re
  with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter('always')
    before = list(warnings.filters)
    yield
    added = [f for f in warnings.filters if f not in before]
  # Filters the env set as it was made (to silence what its library says at each step)
  # are kept: catch_warnings put the old ones back, undoing them.
  for action, message, category, module, lineno in reversed(added):
    warnings.filterwarnings(action, message.pattern if message else '', category,
                            module.pattern if module else '', lineno)
  gym = sys.modules.get('gymnasium')
  theirs = os.path.dirname(os.path.abspath(gym.__file__)) + os.sep if gym else None
  for w in said:
    if not theirs or not os.path.abspath(w.filename).startswith(theirs):
      # Once per place and text, as Python's default filter shows it (warn_explicit
      # alone showed it again for every env made).
      key = (str(w.message), w.category, w.filename, w.lineno)
      if key not in _SHOWN:
        _SHOWN.add(key)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
      continue
    text = re.sub(r'\x1b\[[0-9;]*m', '', str(w.message)).strip()  # its colours
    text = ' '.join(text.removeprefix('WARN:').split())
    workers.note(f'gymnasium {text}', f'gymnasium: {text}')


def _namespace_hint(task):
  """A namespace's envs are registered as its package is imported (gymnasium 1.x)."""
  namespace = task.split('/')[0]
  package = {'ALE': 'ale_py'}.get(namespace, '<its package>')
  hint = f'; its package registers the namespace as it is imported: task=gym_{package}:{task}'
  if namespace == 'ALE':
    hint += ', or this project\'s Atari suite: task=atari_pong'
  return hint


SPACES = ('observation_space', 'action_space')


def _own_frame(error, gym):
  """(the space property that raised `error`, or None; ' (file.py, line N)' of its
  deepest frame outside gymnasium and this package, or ''). A property that raised
  was named neither ('failed to start: RuntimeError: no spaces yet'), nor its file."""
  import importlib
  import traceback
  # Nor Python's importer ('<frozen importlib._bootstrap>', importlib/__init__.py): an
  # env module that failed to import (Box2D missing) was named by its frames.
  ours = [os.path.dirname(os.path.abspath(m.__file__)) + os.sep
          for m in (gym, sys.modules['dreamerv3_tf'], importlib)]
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if not os.path.abspath(f.filename).startswith(tuple(ours))
            and not f.filename.startswith('<frozen ')]
  if not frames:
    return None, ''
  attribute = next((f.name for f in reversed(frames) if f.name in SPACES), None)
  return attribute, f' ({os.path.basename(frames[-1].filename)}, line {frames[-1].lineno})'


def _checks_done(env, gym):
  """Marks the checks of gymnasium.make's PassiveEnvChecker in `env`'s wrappers done, as
  gym_ tasks make theirs without it (_make): a py_ constructor that returned
  gymnasium.make's env printed its warnings in two lines each before our one line, and
  a 4-tuple step was its 'ValueError: not enough values to unpack'."""
  checker = getattr(getattr(gym, 'wrappers', None), 'PassiveEnvChecker', None)
  while checker is not None and isinstance(env, gym.Wrapper):
    if isinstance(env, checker):  # (checked_data_reuse: gymnasium 1.x)
      env.checked_reset = env.checked_step = env.checked_render = True
      env.checked_data_reuse = True
    env = env.env


def _names_a_file(task, module):
  """gym_corridor.py:Corridor-v0: 'could not import ...: put the directory that holds
  it on PYTHONPATH' misled where it was."""
  from dreamerv3_tf.envs.custom import module_of_file
  return UnknownTaskError(
      f"{task!r} names a file ({module!r}), not a module; put the file's directory on "
      f"PYTHONPATH and name its module: gym_{module_of_file(module)}:{task.split(':', 1)[1]}")


def _resize(image, size):
  """<uint8>[h, w, C] -> <uint8>[H, W, C] with PIL bilinear; size = (H, W)."""
  if image.shape[:2] == tuple(size):
    return image
  from PIL import Image
  channels = image.shape[-1]
  if channels == 1:
    image = image[..., 0]
  out = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))
  return out[..., None] if channels == 1 else out


# Frames of more pixels than this times env.gym.size's, and than BIG_FRAME_PIXELS, are
# named in a warning line: each is resized at every step (10000x10000 to 64x64 took
# 0.7 s, and the run crawled on). Smaller ones cost little: gymnasium's rendered 400x600
# (59 times 64x64) takes 1 ms, 1000x1000 10 ms.
BIG_FRAME_RATIO = 16
BIG_FRAME_PIXELS = 2 ** 20


class Gym:
  """A gymnasium env (an id, or an Env instance) behind the step-dict interface."""

  def __init__(self, task, size=(64, 64), repeat=1, image=False, seed=None):
    import gymnasium as gym
    self._gym = gym
    if int(repeat) < 1:
      raise ValueError(f'gym repeat must be >= 1, got {repeat}')
    if isinstance(task, gym.Env):  # An env instance made by the caller.
      if image and task.render_mode != 'rgb_array':
        raise ValueError("gym image=True needs an env made with render_mode='rgb_array'")
      self._env = task
      _checks_done(task, gym)
    else:
      if image:  # before pygame loads: SDL's windowing drivers printed 'error:
        # XDG_RUNTIME_DIR is invalid' on headless machines; frames are the same
        os.environ.setdefault('SDL_VIDEODRIVER', 'dummy')
      kwargs = {'render_mode': 'rgb_array'} if image else {}
      self._env = _make(gym, task, kwargs)
    self._human = getattr(self._env, 'render_mode', None) == 'human'
    if self._human:
      _human_render(self._env)
    # An env made here is named by its id (one made by the caller's constructor is named
    # by the caller, as 'module:Env: ...').
    made = '' if isinstance(task, gym.Env) else f'gymnasium.make({task!r}): '
    for attribute in SPACES:  # read below many times: a property that raises is named
      try:
        getattr(self._env, attribute)
      except Exception as e:  # noqa: BLE001 - the user's property: named in one line
        _, where = _own_frame(e, gym)
        raise EnvSetupError(
            f'{made}env.{attribute} raised {type(e).__name__}: '
            f'{errors.flat_text(e)}{where}') from e
    self._size = tuple(int(x) for x in size)
    self._resized = set()  # the image keys resized once: checked for their size
    self._repeat = int(repeat)
    self._seed = None if seed is None else int(seed) % (2 ** 32)
    self._seeded = False
    self._obs_leaves = {}  # our key -> (path, kind, gym space)
    # Obs keys that the step dict holds otherwise get an 'obs_' prefix: the meta keys, and
    # the action keys (a Dict obs of the last 'action' stopped the run: 'Env obs and act
    # spaces share keys ['action']', though its gymnasium env was fine).
    taken = set(base.OBS_META_KEYS) | {base.RESET} | {
        '_'.join(map(str, path)) if path else 'action'
        for path in _flatten(self._env.action_space, gym)}
    for path, space in _flatten(self._env.observation_space, gym).items():
      if not path:
        key = 'image' if _is_image(space, gym) else 'vector'
      else:
        key = '_'.join(map(str, path))  # gymnasium's Dict takes int keys too
        key = f'obs_{key}' if key in taken else key
      if key in self._obs_leaves:
        raise base.EnvSpaceError(
            f'gym obs {key!r}: the Dict keys {self._obs_leaves[key][0]} and {path} both '
            f"become {key!r} (nested keys are joined with '_'); rename one")
      if isinstance(space, gym.spaces.Discrete):
        kind = 'discrete'
      elif _is_image(space, gym):
        kind = 'image'
      elif isinstance(space, gym.spaces.Box):
        kind = 'vector'
        wrappers.pixels_warning(
            f'gym obs {key!r}', space.dtype, space.shape,
            f'declare it Box(0, 255, {tuple(space.shape)}, np.uint8) and return uint8 frames')
      else:
        raise base.EnvSpaceError(
            f'gym obs {key!r}: unsupported space {space}; {_obs_fix(space, gym)}')
      _check_not_empty(space, f'gym obs {key!r}', 'observation_space', gym)
      _check_int32(space, f'gym obs {key!r}', gym)
      self._obs_leaves[key] = (path, kind, space)
    # The vectors whose Box declares a finite bound: checked at each step until one
    # leaves its bounds (_left_bounds).
    self._bounded = {key: space for key, (_, kind, space) in self._obs_leaves.items()
                     if kind == 'vector' and _finite_bounds(space)}
    self._label = task if isinstance(task, str) else (
        f'{type(self._env.unwrapped).__module__}:{type(self._env.unwrapped).__name__}')
    self._render = bool(image) and 'image' not in self._obs_leaves
    # The declared paths of a Dict obs, for the check of extra keys at each step.
    self._obs_paths = ({path for path, _, _ in self._obs_leaves.values()}
                       if isinstance(self._env.observation_space, gym.spaces.Dict) else None)
    if not self._obs_leaves and not self._render:
      raise base.EnvSpaceError(
          f'gym obs: observation_space {self._env.observation_space} has no observation '
          'for the agent; give it at least one Box or Discrete (or set '
          'config.env.gym image=True)')
    self._act_leaves = {}  # our key -> (path, gym space)
    for path, space in _flatten(self._env.action_space, gym).items():
      key = '_'.join(map(str, path)) if path else 'action'
      if key in self._act_leaves:
        raise base.EnvSpaceError(
            f'gym action {key!r}: the Dict keys {self._act_leaves[key][0]} and {path} '
            f"both become {key!r} (nested keys are joined with '_'); rename one")
      # 'reward' was named as a key the obs shared ('Env obs and act spaces share keys'),
      # though the env's obs had none.
      if key in (base.RESET,) + base.OBS_META_KEYS:
        raise base.EnvSpaceError(
            f"gym action {key!r}: a key the run uses itself (each step's reward, is_first, "
            "is_last and is_terminal, each action's reset); rename it")
      if not isinstance(space, (gym.spaces.Discrete, gym.spaces.Box)):
        raise base.EnvSpaceError(
            f'gym action {key!r}: unsupported space {space}; {_act_fix(space, gym)}')
      _check_not_empty(space, f'gym action {key!r}', 'action_space', gym)
      _check_int32(space, f'gym action {key!r}', gym)
      self._act_leaves[key] = (path, space)
    if not self._act_leaves:
      raise base.EnvSpaceError(
          f'gym action: action_space {self._env.action_space} has no action; {_ACT_FIX}')
    if self._seed is not None:
      self._env.action_space.seed(self._seed)
    self._done = True

  @property
  def gym_env(self):
    """The underlying gymnasium env (wrappers forward this attribute)."""
    return self._env

  @property
  def obs_space(self):
    spaces = {}
    for key, (_, kind, space) in self._obs_leaves.items():
      if kind == 'discrete':
        spaces[key] = Space(np.int32, (), 0, int(space.n))
      elif kind == 'image':
        channels = 1 if len(space.shape) == 2 else space.shape[-1]
        spaces[key] = Space(np.uint8, self._size + (channels,))
      else:
        spaces[key] = Space(np.float32, (max(1, int(np.prod(space.shape))),))
    if self._render:
      spaces['image'] = Space(np.uint8, self._size + (3,))
    spaces.update(step_spaces())
    return spaces

  @property
  def act_space(self):
    spaces = {}
    for key, (_, space) in self._act_leaves.items():
      if isinstance(space, self._gym.spaces.Discrete):
        spaces[key] = Space(np.int32, (), 0, int(space.n))
      else:
        spaces[key] = Space(np.float32, space.shape, space.low, space.high)
    spaces['reset'] = Space(bool)
    return spaces

  def step(self, action):
    try:
      return self._step(action)
    except Exception as e:  # noqa: BLE001 - re-raised unless SDL refused its driver
      refusal = _sdl_refusal(e) if self._human else None
      if refusal is None:
        raise
      raise refusal from e

  def _step(self, action):
    if action.get('reset', False) or self._done:
      self._done = False
      if self._seeded:
        obs, _ = _returned(self._env.reset(), 'reset()', '(obs, info)')
      else:  # Seed once; later resets continue the env's own rng.
        obs, _ = _returned(self._env.reset(seed=self._seed), 'reset()', '(obs, info)')
        self._seeded = True
      return self._obs(obs, 0.0, is_first=True)
    act = self._unflatten(action)
    reward = 0.0
    terminated = truncated = False
    for _ in range(self._repeat):
      obs, rew, terminated, truncated, _ = _returned(
          self._env.step(act), 'step()', '(obs, reward, terminated, truncated, info)')
      reward += _reward(rew)
      terminated = _flag(terminated, 'terminated')
      truncated = _flag(truncated, 'truncated')
      if terminated or truncated:
        break
    self._done = bool(terminated or truncated)
    return self._obs(obs, reward, is_last=self._done, is_terminal=bool(terminated))

  def close(self):
    if self._env is None:  # closed before
      return
    self._env.close()
    # Freed now: a native env still alive as the interpreter exits (ale_py's, through
    # gym_ale_py:ALE/Pong-v5) made nanobind print some 30 lines of 'leaked' warnings.
    self._env = None

  def _extra_keys(self, raw):
    """Keys a Dict obs holds beyond its space (Dict.contains rejects them too)."""
    if self._obs_paths is None:
      return
    extra = []

    def walk(value, path):
      if path in self._obs_paths:
        return
      if isinstance(value, dict):
        for k, v in value.items():
          walk(v, path + (k,))
      else:
        extra.append('_'.join(map(str, path)))

    walk(raw, ())
    if extra:
      raise base.EnvSpaceError(
          f'Env obs has keys not in observation_space: {sorted(extra)}')

  def _unflatten(self, action):
    result = None
    for key, (path, space) in self._act_leaves.items():
      if isinstance(space, self._gym.spaces.Discrete):
        value = int(action[key]) + int(space.start)
      else:
        value = np.asarray(action[key])
        if np.dtype(space.dtype).kind in 'biu':
          # The agent's actions are floats: the nearest value, not the cast's (0.9 -> 0,
          # and any nonzero -> True: a bool Box's False was all but unreachable).
          value = np.rint(value)
        value = value.astype(space.dtype)
      if not path:
        return value
      result = result if result is not None else {}
      node = result
      for part in path[:-1]:
        node = node.setdefault(part, {})
      node[path[-1]] = value
    return result

  def _obs(self, raw, reward, is_first=False, is_last=False, is_terminal=False):
    obs = {}
    for key, (path, kind, space) in self._obs_leaves.items():
      value = _leaf(raw, path, key)
      if kind == 'discrete':
        obs[key] = np.int32(_integer(value, key, space))
        continue
      array = _array(value, key, space)
      if kind == 'image':
        # Integers narrow only where every value fits (as UnifyDtypes does): no float
        # truncated, no 300 wrapped around to 44.
        fits = array.dtype.kind in 'iu' and (
            not array.size or (array.min() >= 0 and array.max() <= 255))
        if array.dtype != np.uint8 and not fits:
          got = _fmt(array) + (
              f' in [{array.min()}, {array.max()}]' if array.dtype.kind in 'iu' else '')
          raise base.EnvSpaceError(
              f'Env obs {key!r}: expected a uint8 image {_fmt(space)}, got {got} '
              '(convert it to uint8 in the env)')
        array = array.astype(np.uint8)
        array = array[..., None] if array.ndim == 2 else array
        obs[key] = self._resize(key, array)
      else:
        _check_float32(array, key)
        if key in self._bounded:
          self._left_bounds(key, array)
        obs[key] = array.astype(np.float32).reshape(-1)
    self._extra_keys(raw)
    if self._render:
      obs['image'] = self._resize('image', _frame(self._env.render()))
    if np.isfinite(reward) and abs(reward) > float(np.finfo(np.float32).max):  # inf as float32
      raise base.EnvSpaceError(
          f"Env obs 'reward': expected finite float32[], got {reward} (beyond float32)")
    obs.update(
        reward=np.float32(reward), is_first=is_first, is_last=bool(is_last),
        is_terminal=bool(is_terminal))
    return obs

  def _left_bounds(self, key, array):
    """One warning line for the run when a vector obs leaves its Box's declared bounds.
    The run goes on, as gymnasium's own env checker only warns of it (the official code's
    CheckSpaces stops there): 'vector' is unbounded for the agent. It passed without a
    word, though the env broke its observation_space. Then no longer checked."""
    space = self._bounded[key]
    low, high = space.low.reshape(-1), space.high.reshape(-1)
    flat = array.reshape(-1)
    outside = np.flatnonzero((flat < low) | (flat > high))  # (NaN: CheckSpaces names it)
    if not outside.size:
      return
    del self._bounded[key]
    i = int(outside[0])
    more = f' (and {outside.size - 1} more element{"s" if outside.size > 2 else ""})' if (
        outside.size > 1) else ''
    workers.note(f'gym bounds {self._label} {key}', (
        f'gym env {self._label} obs {key!r}: element {i} is {flat[i]}, outside its declared '
        f'Box bounds [{low[i]}, {high[i]}]{more}; the agent takes {key!r} as unbounded and '
        "trains on (later values outside are not named): widen the env's "
        'observation_space, or clip the values in the env'))

  def _resize(self, key, image):
    """_resize to env.gym.size; the first frame of `key` far larger than that is named
    in a warning line with what resizing it cost (once per run, whatever the envs)."""
    if key in self._resized:
      return _resize(image, self._size)
    start = time.perf_counter()
    out = _resize(image, self._size)
    self._resized.add(key)
    (height, width), (h, w) = image.shape[:2], self._size
    if height * width > max(BIG_FRAME_RATIO * h * w, BIG_FRAME_PIXELS):
      workers.note(f'gym big frames {key}', (
          f"gym obs {key!r}: the env's frames are {height}x{width}, "
          f'{height * width / (h * w):.0f} times the pixels of env.gym.size={h}x{w}, and '
          f'each is resized at every step of every env (the first took '
          f'{time.perf_counter() - start:.2f} s); set env.gym.size nearer, or make the env '
          f'emit smaller frames'))
    return out


def _human_render(env):
  """An env made with render_mode='human' (as gymnasium's examples make them) draws each
  step and waits for its render_fps: one warning line for the run. Without a display,
  SDL (pygame) draws offscreen: its own choice of video driver crashed the run beside
  TensorFlow (a segfault at the first reset, run.parallel=False) and printed 'error:
  XDG_RUNTIME_DIR is invalid' for each worker."""
  # A DISPLAY no server answers at (a closed ssh -X session's) crashed it the same way.
  headless = sys.platform.startswith('linux') and display.unusable()
  given = os.environ.get('SDL_VIDEODRIVER')  # the user's; set but empty is SDL's own choice
  if headless and not given:
    os.environ['SDL_VIDEODRIVER'] = 'dummy'  # read as pygame opens its window
  if given in ('dummy', 'offscreen'):  # SDL's windowless drivers
    where = f'offscreen (SDL_VIDEODRIVER={given!r})'
  elif given:  # it may have no such driver: _sdl_refusal names it
    where = f'through SDL_VIDEODRIVER={given!r}'
  else:
    where = f'offscreen ({headless})' if headless else 'in a window'
  fps = (getattr(env, 'metadata', None) or {}).get('render_fps')
  workers.note('gym human render', (
      f"gym env made with render_mode='human': it draws every step {where}"
      f'{f" and waits for its render_fps, at most {fps} steps a second per env" if fps else ""}'
      '; make it without render_mode to train (config.env.gym image=True gives the agent '
      'its frames)'))


def _sdl_refusal(error):
  """The EnvSetupError naming SDL_VIDEODRIVER where pygame's SDL could not open a window
  with the driver it names ('nosuch not available'; also x11's without a display), else
  None: the line named pygame's message only ('raised error: nosuch not available')."""
  driver = os.environ.get('SDL_VIDEODRIVER')
  if not driver or type(error).__module__.split('.')[0] != 'pygame' or (
      str(error) != f'{driver} not available'):
    return None
  return EnvSetupError(
      f'SDL_VIDEODRIVER={driver!r} names no video driver SDL can open here (pygame: '
      f"{error}), and the gym env made with render_mode='human' draws with it; unset it "
      '(without a display the env draws offscreen) or make the env without render_mode')


def _frame(frame):
  """A frame of render() (config.env.gym image=True) as uint8[H, W, 3], else an
  EnvSpaceError naming it. None failed in the message naming it ('NoneType' object has
  no attribute 'id', an env made by a py_ function has no spec), floats in [0, 1] were
  cut to a black image, and a gray [H, W] frame lost all but 3 of its columns."""
  array = None if frame is None else np.asarray(frame)
  fits = array is not None and array.ndim == 3 and array.shape[-1] in (3, 4) and (
      array.dtype == np.uint8 or (array.dtype.kind in 'iu' and (
          not array.size or (array.min() >= 0 and array.max() <= 255))))
  if not fits:
    got = 'None' if array is None else (_fmt(array) if array.dtype != object else
                                        type(frame).__name__)
    raise base.EnvSpaceError(
        f'Env render() returned {got}; config.env.gym image=True needs rgb_array frames, '
        'uint8[H, W, 3] (or 4 channels)')
  return array[..., :3].astype(np.uint8)


def _no_space(space, gym, attribute, kinds):
  """'set env.<attribute> to one' for a value that is no gymnasium space (None: never
  set; the class Box), else None: 'use Box, ...' and FlattenObservation were no help."""
  if isinstance(space, gym.spaces.Space):
    return None
  return f'it is no gymnasium.spaces.Space: set env.{attribute} to one ({kinds})'


def _act_fix(space, gym):
  return _no_space(space, gym, 'action_space', 'Discrete, Box or a Dict of them') or _ACT_FIX


def _obs_fix(space, gym):
  """What to do about an obs space we cannot take. FlattenObservation leaves a
  Sequence or Graph as it is: they were told it flattens them."""
  no_space = _no_space(space, gym, 'observation_space', 'Box, Discrete or a Dict of them')
  if no_space:
    return no_space
  sized = tuple(getattr(gym.spaces, k) for k in ('Sequence', 'Graph') if hasattr(gym.spaces, k))
  if isinstance(space, sized):
    return ('its observations vary in size, which the agent cannot take: return a Box of '
            'fixed shape (e.g. padded)')
  return _OBS_FIX


def _check_not_empty(space, what, where, gym):
  """EnvSpaceError for a Box of no values (shape (0,)): as an obs it was declared
  float32[1] to the agent and failed at the first reset ('expected float32[1], got
  float32[0]'); as an action it reached the agent as an action of no dimensions."""
  if isinstance(space, gym.spaces.Box) and not int(np.prod(space.shape)):
    raise base.EnvSpaceError(
        f'{what}: a Box of shape {space.shape} holds no values; drop it from the '
        f'{where} or give it a size')


def _check_int32(space, what, gym):
  """EnvSpaceError for a Discrete of more values than int32 holds, which the agent's
  spaces use: it stopped the run with 'OverflowError: Python integer 1099511627776 out
  of bounds for int32', naming no key."""
  limit = np.iinfo(np.int32).max
  if isinstance(space, gym.spaces.Discrete) and int(space.n) > limit:
    raise base.EnvSpaceError(
        f'{what}: Discrete({int(space.n)}) has more values than int32 holds (at most '
        f'{limit}); use a smaller Discrete, or a Box')


def _returned(result, call, expected):
  """`result` of the env's `call` if it has the gymnasium form `expected`, else an
  EnvSpaceError naming it (a bug of the env, e.g. the old gym API's 4-tuple step)."""
  if isinstance(result, (tuple, list)) and len(result) == expected.count(',') + 1:
    return result
  got = f'{len(result)} values' if isinstance(result, (tuple, list)) else type(result).__name__
  raise base.EnvSpaceError(
      f'Env {call} returned {got}; gymnasium envs return {expected} (an env of the old '
      'gym API? port it to gymnasium.Env)')


def _finite_bounds(space):
  """Whether Box `space` declares a finite bound (gymnasium's float32 max counts as none)."""
  limit = np.finfo(np.float32).max
  return bool(np.any(np.abs(np.asarray(space.low, np.float64)) < limit)
              or np.any(np.abs(np.asarray(space.high, np.float64)) < limit))


def _fmt(x):
  return f'{np.dtype(x.dtype).name}[{", ".join(str(d) for d in x.shape)}]'


def _leaf(raw, path, key):
  """The value at `path` of a (nested) dict obs, or an EnvSpaceError naming `key`."""
  value = raw
  for i, part in enumerate(path):
    if not isinstance(value, dict):
      where = f"obs[{']['.join(map(repr, path[:i]))}]" if i else 'obs'
      raise base.EnvSpaceError(
          f'Env obs {key!r}: expected {where} to be a dict (a Dict space), got '
          f'{type(value).__name__}')
    if part not in value:
      raise base.EnvSpaceError(f'Env obs is missing the key {key!r} (its Dict space has it)')
    value = value[part]
  return value


def _array(value, key, space):
  """A Box obs as an array of the space's shape and a real dtype, else EnvSpaceError."""
  try:
    array = np.asarray(value)
  except Exception:  # noqa: BLE001 - ragged lists and the like
    array = None
  if array is None or array.dtype.kind not in 'biuf':
    got = type(value).__name__ if array is None or array.dtype == object else _fmt(array)
    if array is not None and array.dtype == object and array.ndim:  # 'got ndarray' alone
      odd = [x for x in array.flat if not isinstance(
          x, (bool, int, float, np.bool_, np.integer, np.floating))][:1]
      got = f'{type(value).__name__} of Python objects, shape {array.shape}' + ''.join(
          f', holding {type(x).__name__} {x!r}'[:60] for x in odd)
    raise base.EnvSpaceError(f'Env obs {key!r}: expected {_fmt(space)}, got {got}')
  if array.shape != tuple(space.shape):
    raise base.EnvSpaceError(f'Env obs {key!r}: expected {_fmt(space)}, got {_fmt(array)}')
  return array


def _check_float32(array, key):
  """EnvSpaceError naming a finite value of `array` beyond float32 (1e39), which the
  cast would turn into an inf (and a numpy RuntimeWarning line)."""
  big = wrappers.beyond(array, np.float32)
  if big is not None:
    raise base.EnvSpaceError(
        f'Env obs {key!r}: expected finite float32[{array.size}], got {big} (beyond float32)')


def _integer(value, key, space):
  """A Discrete obs as its index from `start` (an int in [0, n)), else EnvSpaceError (no
  silent rounding of floats). The range is checked here, in the env's own values:
  CheckSpaces saw them shifted by `start` (Discrete(4, start=3)'s 0 was named 'got values
  in [-3, -3]'), and one beyond int32 was a bare OverflowError naming no key. (Run at
  every step: the line is built only for a value refused.)"""
  if isinstance(value, bool):  # a Python bool is an int, as gymnasium's Discrete takes it
    value = int(value)
  array = np.asarray(value) if isinstance(value, (int, np.integer, np.ndarray)) else None
  if array is None or array.shape != () or array.dtype.kind not in 'iu':
    got = _fmt(array) if array is not None else f'{type(value).__name__} {value!r}'[:80]
    raise base.EnvSpaceError(
        f'Env obs {key!r}: expected an integer of {_discrete(space)}, got {got}')
  start, index = int(space.start), int(array)
  if not 0 <= index - start < int(space.n):
    raise base.EnvSpaceError(
        f'Env obs {key!r}: expected an integer of {_discrete(space)}, in [{start}, '
        f'{start + int(space.n)}), got {index}')
  return index - start


def _discrete(space):
  start = int(space.start)
  return f'Discrete({int(space.n)}{f", start={start}" if start else ""})'


def _reward(value):
  """The step's reward as a float, else EnvSpaceError naming it."""
  if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
    try:
      return float(value)
    except OverflowError:  # a Python int beyond float64: 'OverflowError: int too large
      # to convert to float', naming no reward, and a worker was restarted for it
      raise base.EnvSpaceError(
          f"Env obs 'reward': expected finite float32[], got an int of "
          f'{int(value).bit_length()} bits (beyond float32)') from None
  if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in 'biuf':
    return float(value)
  got = _fmt(value) if isinstance(value, np.ndarray) else type(value).__name__
  raise base.EnvSpaceError(f"Env obs 'reward': expected a number, got {got}")


def _flag(value, name):
  """terminated or truncated as a bool, else EnvSpaceError naming it."""
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)) and value in (0, 1):  # envs that return 0 / 1
    return bool(value)
  if isinstance(value, np.ndarray) and value.shape == () and value.dtype == bool:
    return bool(value)
  got = _fmt(value) if isinstance(value, np.ndarray) else f'{type(value).__name__} {value!r}'[:80]
  raise base.EnvSpaceError(f'Env step() {name}: expected a bool, got {got}')
