"""Space: dtype, shape and bounds of one observation or action entry."""

import numpy as np

from dreamerv3_tf.core import base


class Space:
  """A box of values of one dtype and shape.

  Discrete spaces are integer spaces with a scalar shape: `Space(np.int32, (), 0, n)`
  holds the values 0 .. n-1 (`high` is exclusive for integers, as in `range`).
  Bool spaces hold flags such as `is_first`. Everything else is continuous.
  """

  def __init__(self, dtype, shape=(), low=None, high=None):
    self.dtype = np.dtype(dtype)
    if self.dtype.kind not in 'biuf':  # was "Invalid integer data type 'U'." of np.iinfo
      raise ValueError(f'Space of dtype {self.dtype.name}: a space holds bool, integer or '
                       'float values')
    shape = (shape,) if isinstance(shape, int) else tuple(int(x) for x in shape)
    self.shape = shape
    if low is None:
      low = _dtype_min(self.dtype)
    if high is None:
      high = _dtype_max(self.dtype)
    # A float bound beyond the dtype (a float64 Box's 1e39 as float32) becomes the inf
    # it means, without numpy's two lines 'RuntimeWarning: overflow encountered in cast'.
    with np.errstate(over='ignore'):
      self.low = np.broadcast_to(np.asarray(low, self.dtype), shape)
      self.high = np.broadcast_to(np.asarray(high, self.dtype), shape)

  @property
  def discrete(self):
    """Integer or bool values (one-hot encoded inside the agent when integer)."""
    return np.issubdtype(self.dtype, np.integer) or self.dtype == bool

  @property
  def classes(self):
    """Number of values of a scalar integer space (e.g. Discrete(n) -> n)."""
    assert self.discrete and self.dtype != bool, self
    assert np.all(self.low == 0), self
    return int(np.max(self.high))

  def contains(self, value):
    value = np.asarray(value)
    if value.shape != self.shape or value.dtype != self.dtype:
      return False
    if self.dtype == bool:
      return True
    if np.issubdtype(self.dtype, np.integer):
      # `high` is exclusive, except at the dtype's maximum (e.g. uint8 images hold 255).
      top = np.iinfo(self.dtype).max
      below = (value < self.high) | ((self.high == top) & (value == top))
      return bool(np.all(value >= self.low) and np.all(below))
    return bool(np.all(value >= self.low) and np.all(value <= self.high))

  def sample(self, rng=None):
    """A uniform sample; `rng` is a np.random.Generator (default: a fresh one)."""
    rng = rng if rng is not None else np.random.default_rng()
    if self.dtype == bool:
      return rng.uniform(size=self.shape) < 0.5
    if np.issubdtype(self.dtype, np.integer):
      return rng.integers(self.low, self.high, self.shape).astype(self.dtype)
    low = np.maximum(self.low, -1e6).astype(np.float64)
    high = np.minimum(self.high, 1e6).astype(np.float64)
    return rng.uniform(low, high, self.shape).astype(self.dtype)

  def to_dict(self):
    """A JSON-able description (used to save the spaces next to a checkpoint). A bound
    equal everywhere is one number (from_dict broadcasts it): an image's 64x64x3 bounds
    made spaces.json 593 KB of zeros and 255s."""
    return {
        'dtype': self.dtype.name, 'shape': list(self.shape),
        'low': _compact(self.low), 'high': _compact(self.high)}

  @classmethod
  def from_dict(cls, d):
    return cls(d['dtype'], tuple(d['shape']), d['low'], d['high'])

  def __eq__(self, other):
    return (
        isinstance(other, Space) and self.dtype == other.dtype and
        self.shape == other.shape and np.array_equal(self.low, other.low) and
        np.array_equal(self.high, other.high))

  def __repr__(self):
    if self.dtype == bool or self.shape and self.low.size > 1 and (
        np.all(self.low == self.low.flat[0]) and
        np.all(self.high == self.high.flat[0])):
      low, high = self.low.flat[0], self.high.flat[0]
    else:
      low, high = self.low, self.high
    return (f'Space({self.dtype.name}, shape={self.shape}, low={_text(low)}, '
            f'high={_text(high)})')


# numpy's own threshold: above this many values, each level shows its first and last 3.
_SUMMARY_SIZE, _EDGE = 1000, 3


def _text(bound, summary=None):
  """`bound`'s values on one line, each as its numpy scalar prints it.

  numpy's array text follows np.set_printoptions (a host program's precision=1 showed
  -1.25 as -1.2) and wraps at its linewidth (75 characters): an error line that named
  a space of 20 joint limits ended inside the first."""
  bound = np.asarray(bound)
  if bound.ndim == 0:
    return str(bound[()])
  if summary is None:
    summary = bound.size > _SUMMARY_SIZE
  rows = list(bound)
  if summary and len(rows) > 2 * _EDGE:
    parts = [_text(x, True) for x in rows[:_EDGE]] + ['...'] + [
        _text(x, True) for x in rows[-_EDGE:]]
  else:
    parts = [_text(x, summary) for x in rows]
  return '[' + ' '.join(parts) + ']'


def _compact(bound):
  """`bound` as JSON data: one number if all its values are equal, else nested lists."""
  if bound.size and np.all(bound == bound.flat[0]):
    return bound.flat[0].item()
  return bound.tolist()


def step_spaces():
  """The spaces every env adds to its observations: reward and episode flags."""
  return {k: Space(np.float32 if k == 'reward' else bool) for k in base.OBS_META_KEYS}


def _dtype_min(dtype):
  if dtype == bool:
    return False
  if np.issubdtype(dtype, np.floating):
    return -np.inf
  return np.iinfo(dtype).min


def _dtype_max(dtype):
  if dtype == bool:
    return True
  if np.issubdtype(dtype, np.floating):
    return np.inf
  return np.iinfo(dtype).max
