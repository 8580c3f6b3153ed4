"""Env wrappers: the standard chain and a few helpers shared by the suites.

The chain applied by `registry.make_env`, innermost first:
  suite env -> TimeLimit (optional) -> NormalizeAction -> UnifyDtypes
  -> CheckSpaces -> ClipAction
Actions travel inwards (ClipAction first), observations outwards.
"""

import math
import re

import numpy as np

from dreamerv3_tf.core.base import EnvSpaceError
from dreamerv3_tf.core.spaces import Space

FLAG_KEYS = ('is_first', 'is_last', 'is_terminal')
# The agent names a layer after each key it sees ('vecout_<key>', 'logits_<key>'; Keras
# refuses '/', TensorFlow's scopes a space), and export names the policy's inputs after
# them (export.py: letters, digits, _): a run must not train for days on a key that
# then cannot be exported.
KEY = re.compile(r'^[A-Za-z0-9_]+$')
_NUMERIC = (np.ndarray, np.generic, bool, int, float)


class UnknownTaskError(ValueError):
  """A suite does not know the requested task name (raised by suite envs)."""

  @classmethod
  def naming(cls, what, name, valid):
    """-> the error for task `name` of `what` (e.g. 'ale-py has no game'), naming the
    closest of the `valid` names if any is close, else all of them."""
    import difflib
    valid = list(valid)
    # Matched in lower case: 'PONG' matched nothing, and all of ale-py's 108 games were named.
    lower = {}
    for x in valid:
      lower.setdefault(str(x).lower(), x)
    close = [lower[x] for x in difflib.get_close_matches(str(name).lower(), lower, n=3,
                                                         cutoff=0.6)]
    hint = (f'did you mean {" or ".join(map(repr, close))}? ({len(valid)} are valid)'
            if close else f'valid: {", ".join(valid)}')
    return cls(f'{what} {name!r}; {hint}')


class EnvSetupError(EnvSpaceError):
  """An env that cannot be built as named: an unknown task, or a user's env module or
  constructor that cannot be imported, raises or returns no usable env. The message
  is one line naming what to fix. A kind of EnvSpaceError, so that env workers pass
  it on without restarting and `main` prints it as one line."""


class TaskError(EnvSetupError):
  """config.task names no task of its suite, or a suite option names what the task
  does not have (a camera its model lacks), or an environment variable of the suite
  takes no such value (MUJOCO_GL), or config.env.py sets keys its py_ env does not
  take (or lacks ones it needs), known only once the env loads: a user's value, so
  the exit code of one (2), as for an unknown suite, which the config check refuses
  before envs start."""

  exit_code = 2


class Wrapper:
  """Forwards everything it does not override to the wrapped `env`."""

  def __init__(self, env):
    self.env = env

  @property
  def obs_space(self):
    return self.env.obs_space

  @property
  def act_space(self):
    return self.env.act_space

  def step(self, action):
    return self.env.step(action)

  def close(self):
    # A step-dict env needs no close() (custom._adapt takes obs_space, act_space and
    # step()): without one, a run that had saved everything exited 1 as it closed.
    close = getattr(self.env, 'close', None)
    if close is not None:
      close()

  def get_state(self):
    """JSON-able state of the whole chain, for exact resume (see core/base.Env)."""
    if not hasattr(self.env, 'get_state'):
      raise NotImplementedError(f'{type(self.env).__name__} cannot save its state')
    return {'env': self.env.get_state(), 'own': self._own_state()}

  def set_state(self, state):
    self.env.set_state(state['env'])
    self._set_own_state(state['own'])

  def _own_state(self):
    return {}

  def _set_own_state(self, state):
    pass

  def __getattr__(self, name):
    # Guard 'env' and dunders: they are looked up before __init__ has run when
    # an instance is unpickled (e.g. sent to a subprocess), which would recurse.
    if name == 'env' or name.startswith('__'):
      raise AttributeError(name)
    return getattr(self.env, name)

  def __repr__(self):
    return f'{type(self).__name__}({self.env!r})'


def continuous_keys(act_space):
  """Float action keys (the ones NormalizeAction and ClipAction act on)."""
  return [
      k for k, s in act_space.items()
      if k != 'reset' and np.issubdtype(s.dtype, np.floating)]


class TimeLimit(Wrapper):
  """Ends episodes after `duration` agent steps: sets is_last, not is_terminal.

  A step after an is_last observation always starts a new episode.
  """

  def __init__(self, env, duration):
    super().__init__(env)
    if int(duration) <= 0:
      raise ValueError(f'TimeLimit duration must be positive, got {duration}')
    self._duration = int(duration)
    self._count = 0
    self._done = True

  def step(self, action):
    if action.get('reset', False) or self._done:
      self._count = 0
      self._done = False
      return self.env.step({**action, 'reset': True})
    self._count += 1
    obs = self.env.step(action)
    if not isinstance(obs, dict) or 'is_last' not in obs:  # CheckSpaces names it
      return obs
    if self._count >= self._duration and not obs['is_last']:
      obs = {**obs, 'is_last': True}
    self._done = bool(obs['is_last'])
    return obs

  def _own_state(self):
    return {'count': self._count, 'done': self._done}

  def _set_own_state(self, state):
    self._count, self._done = int(state['count']), bool(state['done'])


class ActionRepeat(Wrapper):
  """Repeats each action `repeat` times, summing rewards; stops at is_last."""

  def __init__(self, env, repeat):
    super().__init__(env)
    if int(repeat) < 1:
      raise ValueError(f'ActionRepeat repeat must be >= 1, got {repeat}')
    self._repeat = int(repeat)

  def step(self, action):
    if action.get('reset', False):
      return self.env.step(action)
    reward = 0.0
    for _ in range(self._repeat):
      obs = self.env.step(action)
      reward += float(obs['reward'])
      if obs['is_last'] or obs['is_terminal']:
        break
    return {**obs, 'reward': np.float32(reward)}


class NormalizeAction(Wrapper):
  """The agent acts in [-1, 1]; maps to the env's bounds for float keys.

  Dimensions without bounds pass through unchanged; those with one infinite bound
  pass through clipped to the other: Box(low=0, high=inf) was sent the policy's -0.5,
  outside the act space CheckSpaces then checked it against, and the run stopped
  blaming the env.
  """

  def __init__(self, env, keys=None):
    super().__init__(env)
    spaces = env.act_space
    self._keys = continuous_keys(spaces) if keys is None else list(keys)
    self._inner, self._maps, outer = {}, {}, dict(spaces)
    for key in self._keys:
      space = spaces[key]
      low = space.low.astype(np.float64)
      high = space.high.astype(np.float64)
      mask = np.isfinite(low) & np.isfinite(high)
      self._inner[key] = space
      # Placeholder bounds where unbounded, so the affine map stays finite.
      self._maps[key] = (mask, np.where(mask, low, -1.0), np.where(mask, high, 1.0))
      # The policy acts in [-1, 1]: a dimension with one finite bound is [-1, 1] too
      # (clipped into its bound below), not [0, inf] that its -0.5 would break.
      free = ~np.isfinite(low) & ~np.isfinite(high)
      outer[key] = Space(
          np.float32, space.shape,
          np.where(free, low, -1.0), np.where(free, high, 1.0))
    self._act_space = outer

  @property
  def act_space(self):
    return self._act_space

  def step(self, action):
    action = dict(action)
    for key in self._keys:
      if key not in action:
        continue
      mask, low, high = self._maps[key]
      value = np.asarray(action[key], np.float64)
      orig = (value + 1) / 2 * (high - low) + low
      # Rounding may step an ulp past a bound; envs such as dm_control check.
      inner = self._inner[key]
      orig = np.where(mask, np.clip(orig, low, high), np.clip(value, inner.low, inner.high))
      action[key] = orig.astype(inner.dtype)
    return self.env.step(action)


class ClipAction(Wrapper):
  """Clips float actions to [low, high] (default [-1, 1]); keeps the dtype."""

  def __init__(self, env, keys=None, low=-1.0, high=1.0):
    super().__init__(env)
    self._keys = continuous_keys(env.act_space) if keys is None else list(keys)
    self._low, self._high = low, high

  def step(self, action):
    action = dict(action)
    for key in self._keys:
      if key in action:
        value = np.asarray(action[key])
        action[key] = np.clip(value, self._low, self._high).astype(value.dtype)
    return self.env.step(action)


def _unified_dtype(dtype, action=False):
  dtype = np.dtype(dtype)
  if dtype == bool or (dtype == np.uint8 and not action):  # uint8: images
    return dtype
  if np.issubdtype(dtype, np.floating):
    return np.dtype(np.float32)
  if np.issubdtype(dtype, np.integer):
    return np.dtype(np.int32)
  raise ValueError(f'Unsupported space dtype {dtype.name}')


def _unified_space(space, action=False):
  dtype = _unified_dtype(space.dtype, action)
  low, high = space.low, space.high
  if np.issubdtype(dtype, np.integer) and dtype != space.dtype:
    info = np.iinfo(dtype)
    low = np.clip(low, info.min, info.max)
    high = np.clip(high, info.min, info.max)
  return Space(dtype, space.shape, low, high)


class UnifyDtypes(Wrapper):
  """float -> float32, int -> int32, uint8 (of obs) and bool stay; reward float32.

  Observations are converted on the way out (only where the value's kind fits the
  space, see `_cast`: an env returning floats for a uint8 image is an error that
  CheckSpaces reports), actions back to the env's own dtypes on the way in.
  """

  def __init__(self, env):
    super().__init__(env)
    self._obs_space = {k: _unified_space(s) for k, s in env.obs_space.items()}
    self._obs_space['reward'] = Space(np.float32)
    for key in FLAG_KEYS:
      self._obs_space[key] = Space(bool)
    # uint8 actions become int32 as well: the policy emits int32 for every discrete
    # action, and a step-dict env's Space(np.uint8, (), 0, n) made the replay hold int32
    # where the agent expected uint8 (an 'unexpected' error at the first report).
    self._act_space = {k: _unified_space(s, action=True) for k, s in env.act_space.items()}
    self._act_space['reset'] = Space(bool)
    self._act_inner = {k: s.dtype for k, s in env.act_space.items()}

  @property
  def obs_space(self):
    return self._obs_space

  @property
  def act_space(self):
    return self._act_space

  def step(self, action):
    action = {
        k: np.asarray(v, self._act_inner[k]) if k in self._act_inner else v
        for k, v in action.items()}
    obs = self.env.step(action)
    if not isinstance(obs, dict):  # CheckSpaces names it ('list' has no attribute 'items')
      return obs
    out = {}
    for key, value in obs.items():
      space = self._obs_space.get(key)
      out[key] = value if space is None else _cast(value, space.dtype)
    return out


def _cast(value, dtype):
  """`value` as `dtype` where that keeps its meaning, else unchanged for CheckSpaces
  to name: no float becomes an integer, nothing becomes or stops being a bool, and
  integers only narrow when every value fits (no silent wrap-around)."""
  if not isinstance(value, _NUMERIC):
    return value
  value = np.asarray(value)
  if value.dtype == dtype or dtype == bool or value.dtype == bool:
    return value
  if np.issubdtype(dtype, np.floating):
    fits = value.dtype.kind in 'iu' or (value.dtype.kind == 'f' and beyond(value, dtype) is None)
    return value.astype(dtype) if fits else value
  if value.dtype.kind not in 'iu':
    return value
  info = np.iinfo(dtype)
  if value.size and (value.min() < info.min or value.max() > info.max):
    return value
  return value.astype(dtype)


def beyond(value, dtype):
  """The first finite value of the float array `value` that float `dtype` cannot hold,
  else None: the cast would make it inf, with a numpy RuntimeWarning line on stderr,
  and the env's 1e39 would be named as an inf it never returned."""
  value = np.asarray(value)
  if value.dtype.kind != 'f' or np.finfo(value.dtype).max <= np.finfo(dtype).max:
    return None
  big = np.isfinite(value) & (np.abs(value) > np.finfo(dtype).max)
  return value[big].flat[0] if big.any() else None


def _fmt(dtype, shape):
  return f'{np.dtype(dtype).name}[{", ".join(str(x) for x in shape)}]'


def _describe(value):
  if isinstance(value, _NUMERIC):
    value = np.asarray(value)
    return _fmt(value.dtype, value.shape)
  return type(value).__name__


class _Checker:
  """Validates values of one Space; returns an error string or None."""

  def __init__(self, space):
    self.space = space
    self.expected = _fmt(space.dtype, space.shape)
    dtype = space.dtype
    self.floating = np.issubdtype(dtype, np.floating)
    self.integer = np.issubdtype(dtype, np.integer)
    # Skip the bounds check when the bounds are the dtype's full range (images,
    # unbounded vectors): it would cost a min/max per step and never fail.
    if self.floating:
      self.bounded = bool(
          np.any(np.isfinite(space.low)) or np.any(np.isfinite(space.high)))
    elif self.integer:
      info = np.iinfo(dtype)
      self.bounded = bool(
          np.any(space.low > info.min) or np.any(space.high < info.max))
      # Integer highs are exclusive, except at the dtype's max (uint8 images hold
      # 255 under the default high of 255).
      self.high_inclusive = space.high == info.max
    else:
      self.bounded = False

  def check(self, value, strict_dtype=True):
    if not isinstance(value, _NUMERIC):
      return f'expected {self.expected}, got {type(value).__name__}'
    value = np.asarray(value)
    if strict_dtype:
      ok_dtype = value.dtype == self.space.dtype
    elif self.space.dtype == bool:
      ok_dtype = value.dtype == bool
    elif self.integer:
      ok_dtype = np.issubdtype(value.dtype, np.integer)
    else:
      ok_dtype = np.issubdtype(value.dtype, np.number)
    if not ok_dtype or value.shape != self.space.shape:
      big = beyond(value, self.space.dtype) if self.floating else None
      if big is not None:  # left uncast by UnifyDtypes
        return f'expected finite {self.expected}, got {big} (beyond {self.space.dtype.name})'
      return f'expected {self.expected}, got {_fmt(value.dtype, value.shape)}'
    if self.floating and not np.all(np.isfinite(value)):
      bad = value[~np.isfinite(value)]
      return f'expected finite {self.expected}, got {bad.size} non-finite ({bad.flat[0]})'
    if self.bounded:
      low, high = self.space.low, self.space.high
      if self.integer:
        inside = (value >= low) & ((value < high) | self.high_inclusive)
      else:
        inside = (value >= low) & (value <= high)
      if not np.all(inside):
        exclusive = self.integer and not np.all(self.high_inclusive)
        interval = f'[{_short(low)}, {_short(high)}{")" if exclusive else "]"}'
        return (
            f'expected {self.expected} in {interval}, got values in '
            f'[{np.min(value)}, {np.max(value)}]')
    return None


def _short(bound):
  bound = np.asarray(bound)
  if bound.size and np.all(bound == bound.flat[0]):
    return str(bound.flat[0])
  return str(bound.tolist())


# Bytes one step's observations (or actions) may declare, all keys together: 256 MiB,
# a hundred times a raw 1024x1024x3 image. The agent takes images of at most 256 pixels
# a side (16 per side after its four stages); a gym_ env's images are resized first.
MAX_STEP_BYTES = 2 ** 28


def check_space_sizes(env):
  """EnvSetupError naming the largest key when `env`'s spaces declare more than
  MAX_STEP_BYTES a step: a Space of 100000x100000x3 uint8 (a step-dict env's, held as
  a broadcast scalar) was made whole by the first comparison of its bounds, and Linux's
  OOM killer ended the run without a line. Reads only shapes and dtypes."""
  for what, spaces in (('obs', env.obs_space), ('action', env.act_space)):
    sizes = {key: math.prod(space.shape) * space.dtype.itemsize
             for key, space in spaces.items()}
    total = sum(sizes.values())
    if total > MAX_STEP_BYTES:
      key = max(sizes, key=sizes.get)
      space = spaces[key]
      shape = 'x'.join(str(x) for x in space.shape)
      raise EnvSetupError(
          f'Env {what} {key!r} is declared as {space.dtype.name}[{shape}], '
          f'{_mib(sizes[key])} a step ({_mib(total)} with the other {what} keys), more than '
          f'the {_mib(MAX_STEP_BYTES)} a step may hold (the replay keeps every step); '
          'declare the size the env returns, or resize its images')


def _mib(n):
  return f'{n / 2 ** 20:,.0f} MiB' if n >= 2 ** 20 else f'{n:,} bytes'


# The least height and width of an obs that pixels_warning takes for an image: smaller
# grids (a 3x3 board of one-hot cells) are more likely features than pictures.
MIN_IMAGE_SIDE = 16


def pixels_warning(label, dtype, shape, fix):
  """Warns once per run of an obs shaped as an image, [H, W, 1, 3 or 4], that is not
  uint8: the agent encodes only uint8 images with its conv net (as the official code,
  which asserts uint8), so it took a float32 [64, 64, 3] Box as a vector of 12288
  values and trained an MLP on the pixels without a word. `fix` says how to declare
  it; `label` names the key ("gym obs 'image'")."""
  dtype = np.dtype(dtype)
  if (len(shape) != 3 or shape[-1] not in (1, 3, 4) or min(shape[:2]) < MIN_IMAGE_SIDE
      or dtype == np.uint8 or dtype.kind not in 'iuf'):
    return
  from dreamerv3_tf.core import workers  # (workers imports no env)
  workers.note(f'pixels {label}', (
      f'{label} is {_fmt(dtype, shape)}, shaped as an image, but the agent takes only '
      f'uint8 images as images: it learns from these {math.prod(shape)} values as one '
      f'vector (an MLP, no conv net); if they are pixels, {fix} (floats in [0, 1] '
      'times 255)'))


class CheckSpaces(Wrapper):
  """Checks every observation and action against the spaces; fails loudly.

  Observations must match dtype and shape exactly (after UnifyDtypes), lie in the
  bounds and be finite. Actions may use any dtype of the same kind (any integer
  for integer spaces) but must match shape and bounds. On reset steps only the
  'reset' flag is checked, as the other action values are ignored then.
  """

  def __init__(self, env):
    super().__init__(env)
    obs_space, act_space = env.obs_space, env.act_space
    for what, spaces in (('obs', obs_space), ('action', act_space)):
      for key in spaces:
        # Keys with other characters were an 'unexpected' error of the agent, one of
        # them ('a b') at the first report, after the logdir was written.
        if not isinstance(key, str) or not (key.startswith('log/') or KEY.match(key)):
          raise EnvSpaceError(
              f'Env {what} key {key!r}: the agent names its layers and its exported '
              "inputs after its keys, so they must be text of letters, digits and _ only "
              "('log/' keys, which it never sees, may hold more); rename it")
    overlap = sorted(set(obs_space) & set(act_space))
    if overlap:
      raise EnvSpaceError(f'Env obs and act spaces share keys {overlap}')
    for key in ('reward',) + FLAG_KEYS:
      if key not in obs_space:
        raise EnvSpaceError(f'Env obs_space lacks the key {key!r}')
    if 'reset' not in act_space:
      raise EnvSpaceError("Env act_space lacks the key 'reset'")
    # The agent sees neither the flags nor 'log/' keys: with nothing else there is no
    # input to encode, and without an action nothing to learn.
    seen = sorted(k for k in obs_space
                  if k not in ('reward',) + FLAG_KEYS and not k.startswith('log/'))
    if not seen:
      raise EnvSpaceError(
          f'Env obs_space has no observation for the agent, only {sorted(obs_space)}: '
          "add at least one key besides 'reward', the is_* flags and 'log/' keys")
    if not [k for k in act_space if k != 'reset']:
      raise EnvSpaceError("Env act_space has no action, only 'reset'")
    for key in seen:
      space = obs_space[key]
      pixels_warning(f'Env obs {key!r}', space.dtype, space.shape,
                     f'declare Space(np.uint8, {tuple(space.shape)}) and return uint8 arrays')
    self._obs = {k: _Checker(s) for k, s in obs_space.items()}
    self._act = {k: _Checker(s) for k, s in act_space.items()}
    # Whether a new episode may start without a reset action: before the first step
    # and after is_last (TimeLimit below resets then, and some envs restart on their
    # own). Not saved with the env's state: after a restore it allows one more start.
    self._ended = True

  def step(self, action):
    self._check_action(action)
    obs = self.env.step(action)
    self._check_obs(obs)
    if obs['is_first'] and obs['reward'] != 0:
      raise EnvSpaceError(f"Env obs 'reward': expected 0 on is_first, got {obs['reward']}")
    if action['reset'] and not obs['is_first']:
      raise EnvSpaceError("Env obs 'is_first': expected True after a reset action")
    # Taken silently: the agent reset its state mid-episode (replay kept two episodes
    # as one). A terminal step without is_last is no error: Atari's lives='discount'
    # marks a life lost so, and the game goes on (the official code's Atari goes on
    # too, but marks nothing: its is_terminal is is_last, README's differences).
    if obs['is_first'] and not action['reset'] and not self._ended:
      raise EnvSpaceError(
          "Env obs 'is_first': True mid-episode, without a reset action and not after "
          'is_last; an episode starts only on a reset action or after an is_last step')
    self._ended = bool(obs['is_last'])
    return obs

  def _check_action(self, action):
    if not isinstance(action, dict):
      raise EnvSpaceError(f'Env action: expected a dict, got {type(action).__name__}')
    extra = sorted(set(action) - set(self._act))
    if extra:
      raise EnvSpaceError(
          f'Env action has unexpected keys {extra}; act_space has {sorted(self._act)}')
    if 'reset' not in action:
      raise EnvSpaceError("Env action is missing the key 'reset'")
    error = self._act['reset'].check(action['reset'], strict_dtype=False)
    if error:
      raise EnvSpaceError(f"Env action 'reset': {error}")
    if action['reset']:
      return
    for key, checker in self._act.items():
      if key not in action:
        raise EnvSpaceError(f'Env action is missing the key {key!r}')
      error = checker.check(action[key], strict_dtype=False)
      if error:
        raise EnvSpaceError(f'Env action {key!r}: {error}')

  def _check_obs(self, obs):
    if not isinstance(obs, dict):
      raise EnvSpaceError(f'Env obs: expected a dict, got {type(obs).__name__}')
    for key, checker in self._obs.items():
      if key not in obs:
        raise EnvSpaceError(f'Env obs is missing the key {key!r} ({checker.expected})')
      error = checker.check(obs[key])
      if error:
        raise EnvSpaceError(f'Env obs {key!r}: {error}')
    if len(obs) != len(self._obs):
      extra = sorted(set(obs) - set(self._obs))
      raise EnvSpaceError(
          f'Env obs has keys not in obs_space: {extra} '
          f'({", ".join(f"{k}={_describe(obs[k])}" for k in extra)})')
