"""Output distributions and numeric helpers of DreamerV3, as pure TensorFlow ops.

Every class takes tensors of any leading shape, computes in float32 and works
eagerly, inside `tf.function(jit_compile=True)` and inside `tf.scan` bodies.
Seeds are `<int32|int64>[2]` stateless-RNG seeds; the same seed gives the same
sample within one mode (eager or XLA), but XLA and eager draw different values.

  symlog, symexp, twohot_bins
  TwoHot        symexp two-hot regression (reward and value heads)
  Categorical   over the last axis, optional unimix, straight-through one-hot samples
  BoundedNormal tanh mean, sigmoid std (continuous actions)
  Binary        Bernoulli from a logit (continue head)
  MSE, SymlogMSE
  kl_categorical
  uniform, normal, split   the only random draws; supplied_noise replaces them (parity)
"""

import contextlib
import math

import numpy as np
import tensorflow as tf

sg = tf.stop_gradient
f32 = tf.float32


def _f32(x):
  return tf.cast(x, f32)


def symlog(x):
  """sign(x) * log(1 + |x|), elementwise, float32.

  As a select rather than tf.sign: the same values (but the sign of a zero) and
  gradients, and an exported policy's TFLite model then needs no SIGN builtin, which
  runtimes before TensorFlow Lite 2.11 lack ("Op builtin_code out of range: 158"): the
  encoder's symlog alone kept them from loading the whole file."""
  x = _f32(x)
  y = tf.math.log1p(tf.abs(x))
  return tf.where(x < 0, -y, y)


def symexp(x):
  """sign(x) * (exp(|x|) - 1), the inverse of symlog."""
  x = _f32(x)
  return tf.sign(x) * tf.math.expm1(tf.abs(x))


def twohot_bins(n):
  """-> <float32>[n] bins at symexp(linspace(-20, 20, n)), exactly antisymmetric.

  Built from the negative half and mirrored, as the official code does, so that
  bins[i] == -bins[n - 1 - i] bit for bit (and the middle bin is 0 for odd n).
  """
  n = int(n)
  if n < 2:
    raise ValueError(f'twohot_bins needs n >= 2, got {n}')
  if n % 2 == 1:
    half = np.linspace(-20.0, 0.0, (n - 1) // 2 + 1)
    half = (np.sign(half) * np.expm1(np.abs(half))).astype(np.float32)
    bins = np.concatenate([half, -half[:-1][::-1]])
  else:
    half = np.linspace(-20.0, 0.0, n // 2)
    half = (np.sign(half) * np.expm1(np.abs(half))).astype(np.float32)
    bins = np.concatenate([half, -half[::-1]])
  return tf.constant(bins, f32)


def _static_size(x, what):
  n = x.shape[-1]
  if n is None:
    raise ValueError(f'{what}: the last axis must have a static size, got {x.shape}')
  return int(n)


def _in_xla():
  """True while tracing inside an XLA-compiled function (or its loop bodies)."""
  try:
    # Private but stable for years; the fallback below is only slower, not wrong.
    from tensorflow.python.framework import ops
    from tensorflow.python.ops import control_flow_util
    return bool(control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph()))
  except Exception:  # pylint: disable=broad-except
    return False


def _rng_alg():
  # Threefry is ~4x cheaper than Philox under XLA on CPU (PERF_NOTES), but the
  # non-XLA TF kernels do not implement it, so eager and plain graphs use Philox.
  return 'threefry' if _in_xla() else 'philox'


def uniform(shape, seed):
  """<float32>[*shape] uniform in [0, 1) from a stateless seed <int32|int64>[2]."""
  if _SUPPLIED:
    return _supplied('uniform', shape)
  return tf.random.stateless_uniform(shape, seed, dtype=f32, alg=_rng_alg())


def normal(shape, seed):
  """<float32>[*shape] standard normal from a stateless seed <int32|int64>[2]."""
  if _SUPPLIED:
    return _supplied('normal', shape)
  return tf.random.stateless_normal(shape, seed, dtype=f32, alg=_rng_alg())


# Every sample of the agent (latents and actions) comes from `uniform` or `normal`.
# The parity test (tests/test_parity.py) replaces those draws with the noise the
# official code consumed; `supplied_noise` is that hook. It acts where ops are
# created, in Python: when it is not active nothing in any traced graph changes.
_SUPPLIED = []


@contextlib.contextmanager
def supplied_noise(draws):
  """Inside, `uniform` and `normal` return the next of `draws` instead of drawing.

  Args:
    draws: a sequence of (kind 'uniform' | 'normal', float32 array), in the order
      the agent draws: a step's posterior latent, then per imagination step the
      action of each action key (sorted) and the prior latent, then the last action.
  Eager only (config.jit=False): a traced loop body draws once for all its steps.
  On exit every draw must have been used.
  """
  state = {'draws': list(draws), 'next': 0}
  _SUPPLIED.append(state)
  try:
    yield
  finally:
    _SUPPLIED.pop()
  if state['next'] != len(state['draws']):
    raise ValueError(f"supplied_noise: {len(state['draws']) - state['next']} of "
                     f"{len(state['draws'])} draws were not used")


def _supplied(kind, shape):
  state = _SUPPLIED[-1]
  if not tf.executing_eagerly():
    raise RuntimeError('supplied_noise needs eager execution (config.jit=False)')
  shape = tuple(int(x) for x in np.asarray(shape).reshape(-1))
  i = state['next']
  if i >= len(state['draws']):
    raise ValueError(f'supplied_noise: draw {i} ({kind} {shape}) is beyond the '
                     f"{len(state['draws'])} supplied")
  got_kind, value = state['draws'][i]
  value = np.asarray(value, np.float32)
  if (got_kind, value.shape) != (kind, shape):
    raise ValueError(f'supplied_noise: draw {i} is {kind} {shape} here, but the '
                     f'supplied one is {got_kind} {value.shape}')
  state['next'] = i + 1
  return tf.constant(value)


def split(seed, n):
  """<seed.dtype>[n, 2]: n new stateless seeds from one.

  Not tf.random.experimental.stateless_split: that always scrambles the seed with
  Philox rounds (a 267-instruction chain per call in XLA), and XLA's simplifier
  needs about 40 fix-point rounds over the whole train step to digest those
  chains. Here the Threefry key under XLA is the seed itself.
  """
  return tf.random.stateless_uniform(
      [n, 2], seed, minval=None, maxval=None, dtype=seed.dtype, alg=_rng_alg())


PREDSUMS = ('paired', 'stable', 'official')


def _check_same_shape(pred, target, name):
  if pred.shape.is_fully_defined() and target.shape.is_fully_defined():
    if pred.shape != target.shape:
      raise ValueError(
          f'{name}.loss: target shape {target.shape} does not match prediction '
          f'shape {pred.shape}')


# The default summation order of TwoHot.pred (config agent.value.predsum and
# agent.rewhead.predsum; the README's design notes say why).
PREDSUM = 'official'


class TwoHot:
  """Symexp two-hot regression output over fixed bins in raw (symexp) space.

  Args:
    logits: <float>[..., n].
    bins: <float32>[n] sorted bin values, e.g. `twohot_bins(255)`.
    predsum: how `pred` sums: 'official' (the official summation order with its
      rounding noise, which shapes early training; the default, PREDSUM), 'paired'
      (exactly 0 at equal mirrored probs) or 'stable' (well-conditioned everywhere,
      needs antisymmetric bins).
  """

  def __init__(self, logits, bins, predsum=PREDSUM):
    if predsum not in PREDSUMS:
      raise ValueError(f'TwoHot: predsum must be one of {PREDSUMS}, got {predsum!r}')
    self.predsum = predsum
    self.logits = _f32(logits)
    self.bins = _f32(bins)
    n = _static_size(self.logits, 'TwoHot logits')
    if self.bins.shape.rank != 1 or self.bins.shape[0] != n:
      raise ValueError(f'TwoHot: bins must be [{n}] to match logits {self.logits.shape}, '
                       f'got {self.bins.shape}')
    self.n = n
    self.probs = tf.nn.softmax(self.logits, -1)

  def pred(self):
    """-> <float32>[...] the expected value sum(probs * bins).

    Summed from the outside in, as the official code does, so that symmetric
    bins with uniform probabilities (zero-init output layer) predict exactly 0
    instead of a left-to-right rounding residue. Each mirrored pair is written as
    (p_hi - p_lo) * b_hi + p_lo * (b_hi + b_lo): for antisymmetric bins both
    terms are exact zeros at equal probs even when XLA fuses multiply-adds into
    FMAs (the official p_lo * b_lo + p_hi * b_hi leaves ~0.16 under XLA on CPU).
    """
    n = self.n
    m = n // 2
    if self.predsum == 'stable':
      return self._stable_pred()
    if self.predsum == 'official':
      # The official order: float32 products of about 2e6 (extreme bins times
      # 1/255) round by ~0.1 each, so early predictions carry noise of that size.
      lo = (self.probs[..., :m] * self.bins[:m])[..., ::-1]
      hi = self.probs[..., n - m:] * self.bins[n - m:]
      wavg = tf.reduce_sum(lo + hi, -1)
      if n % 2 == 1:
        wavg = self.probs[..., m] * self.bins[m] + wavg
      return wavg
    p_lo = self.probs[..., :m][..., ::-1]
    b_lo = self.bins[:m][::-1]
    p_hi = self.probs[..., n - m:]
    b_hi = self.bins[n - m:]
    wavg = tf.reduce_sum((p_hi - p_lo) * b_hi + p_lo * (b_hi + b_lo), -1)
    if n % 2 == 1:
      wavg = self.probs[..., m] * self.bins[m] + wavg
    return wavg

  def _stable_pred(self):
    """sum(probs * bins) for antisymmetric bins (b_lo = -b_hi), well-conditioned.

    Per mirrored pair p_hi b_hi + p_lo b_lo = b_hi (p_hi - p_lo), and
    p_hi - p_lo = exp(l_lo - lse) * expm1(l_hi - l_lo) keeps its relative accuracy
    where subtracting two rounded probabilities (times bins of up to 4.85e8)
    leaves absolute errors of order 1. Exactly 0 at equal mirrored logits.
    """
    n, m = self.n, self.n // 2
    lse = tf.reduce_logsumexp(self.logits, -1, keepdims=True)
    lo = self.logits[..., :m][..., ::-1]
    hi = self.logits[..., n - m:]
    diff = tf.exp(lo - lse) * tf.math.expm1(hi - lo)
    return tf.reduce_sum(diff * self.bins[n - m:], -1)

  def encode(self, target):
    """-> <float32>[..., n] two-hot weights of `target` <[...]> in raw space.

    Targets outside the bin range put all weight on the closest end bin.
    """
    target = sg(_f32(target))
    n = self.n
    x = target[..., None]
    below = tf.reduce_sum(tf.cast(self.bins <= x, tf.int32), -1) - 1
    above = n - tf.reduce_sum(tf.cast(self.bins > x, tf.int32), -1)
    below = tf.clip_by_value(below, 0, n - 1)
    above = tf.clip_by_value(above, 0, n - 1)
    equal = tf.equal(below, above)
    one = tf.ones_like(target)
    dist_below = tf.where(equal, one, tf.abs(tf.gather(self.bins, below) - target))
    dist_above = tf.where(equal, one, tf.abs(tf.gather(self.bins, above) - target))
    total = dist_below + dist_above
    weight_below = dist_above / total
    weight_above = dist_below / total
    return (tf.one_hot(below, n, dtype=f32) * weight_below[..., None] +
            tf.one_hot(above, n, dtype=f32) * weight_above[..., None])

  def loss(self, target):
    """-> <float32>[...] cross-entropy of the logits against `encode(target)`."""
    weights = self.encode(target)
    _check_same_shape(self.logits, weights, 'TwoHot')
    logp = tf.nn.log_softmax(self.logits, -1)
    return -tf.reduce_sum(weights * logp, -1)


def kl_categorical(lhs_logits, rhs_logits):
  """-> <float32>[...] KL(lhs || rhs) of categoricals over the last axis.

  The inputs are (unnormalized) logits; pass log-probabilities that already have
  unimix applied, e.g. `Categorical(x, 0.01).logits`.
  """
  lhs = tf.nn.log_softmax(_f32(lhs_logits), -1)
  rhs = tf.nn.log_softmax(_f32(rhs_logits), -1)
  return tf.reduce_sum(tf.exp(lhs) * (lhs - rhs), -1)


class Categorical:
  """Categorical over the last axis with one-hot, straight-through samples.

  Args:
    logits: <float>[..., n] (e.g. [B, stoch, classes] latents or [B, A] actions).
    unimix: mix this fraction of the uniform distribution into the probs.

  Attributes:
    probs: <float32>[..., n] after unimix.
    logits: <float32>[..., n] normalized log-probs after unimix.
    minent, maxent: entropy bounds 0 and log(n) (for the policy randomness metric).
  """

  def __init__(self, logits, unimix=0.0):
    logits = _f32(logits)
    n = _static_size(logits, 'Categorical logits')
    self.n = n
    if unimix:
      probs = tf.nn.softmax(logits, -1)
      probs = (1.0 - unimix) * probs + unimix / n
      self.probs = probs
      self.logits = tf.math.log(probs)
    else:
      self.logits = tf.nn.log_softmax(logits, -1)
      self.probs = tf.exp(self.logits)
    self.unimix = unimix
    self.minent = 0.0
    self.maxent = math.log(n)

  def _straight_through(self, onehot):
    # Forward value exactly the one-hot; backward the gradient of the probs.
    return onehot + (self.probs - sg(self.probs))

  def sample(self, seed):
    """-> <float32>[..., n] one-hot sample, straight-through gradients to the logits.

    Inverse CDF: one uniform per categorical compared against the cumulative
    probabilities (much cheaper under XLA than Gumbel-max or multinomial).
    """
    probs = sg(self.probs)
    u = uniform(tf.shape(probs)[:-1], seed)[..., None]
    cdf = tf.math.cumsum(probs[..., :-1], -1)
    # Counting (instead of differencing a step function) gives a valid index even
    # when rounding leaves the total mass below u; such draws go to the last class.
    index = tf.reduce_sum(tf.cast(cdf <= u, tf.int32), -1)
    return self._straight_through(tf.one_hot(index, self.n, dtype=f32))

  def mode(self):
    """-> <float32>[..., n] one-hot of the argmax, straight-through gradients."""
    index = tf.argmax(self.logits, -1, output_type=tf.int32)
    return self._straight_through(tf.one_hot(index, self.n, dtype=f32))

  def log_prob(self, onehot):
    """-> <float32>[...] log-probability of a one-hot (or soft) event <[..., n]>."""
    return tf.reduce_sum(self.logits * _f32(onehot), -1)

  def loss(self, onehot):
    return -self.log_prob(sg(_f32(onehot)))

  def entropy(self):
    """-> <float32>[...]."""
    return -tf.reduce_sum(self.probs * self.logits, -1)

  def kl(self, other):
    """-> <float32>[...] KL(self || other) over the last axis."""
    return kl_categorical(self.logits, other.logits)


class BoundedNormal:
  """Normal with mean tanh(x) and std (maxstd - minstd) * sigmoid(s + 2) + minstd.

  Independent over the last (action) axis: log_prob and entropy sum over it.
  As in the official code, samples are NOT clipped to [-1, 1] (the env-side
  ClipAction wrapper clips; the policy gradient uses the unclipped sample).

  Args:
    mean_logits, std_logits: <float>[..., A].
  """

  def __init__(self, mean_logits, std_logits, minstd=0.1, maxstd=1.0):
    self.mean = tf.tanh(_f32(mean_logits))
    self.std = (maxstd - minstd) * tf.sigmoid(_f32(std_logits) + 2.0) + minstd
    dims = _static_size(self.mean, 'BoundedNormal mean_logits')
    self.minent = dims * (0.5 * math.log(2 * math.pi * minstd ** 2) + 0.5)
    self.maxent = dims * (0.5 * math.log(2 * math.pi * maxstd ** 2) + 0.5)

  def pred(self):
    return self.mean

  def mode(self):
    return self.mean

  def sample(self, seed):
    """-> <float32>[..., A] mean + std * eps; reparameterized (gradients flow)."""
    return self.mean + self.std * normal(tf.shape(self.mean), seed)

  def log_prob(self, x):
    """-> <float32>[...] log density of x <[..., A]>, summed over A."""
    z = (_f32(x) - self.mean) / self.std
    logp = -0.5 * tf.square(z) - tf.math.log(self.std) - 0.5 * math.log(2 * math.pi)
    return tf.reduce_sum(logp, -1)

  def loss(self, x):
    return -self.log_prob(sg(_f32(x)))

  def entropy(self):
    """-> <float32>[...] summed over A."""
    ent = 0.5 * tf.math.log(2 * math.pi * tf.square(self.std)) + 0.5
    return tf.reduce_sum(ent, -1)


class Binary:
  """Bernoulli from a logit <[...]> (continue head)."""

  def __init__(self, logits):
    self.logits = _f32(logits)

  def pred(self):
    """-> <float32>[...] probability of 1."""
    return tf.sigmoid(self.logits)

  def mode(self):
    """-> <float32>[...] 1.0 where the logit is positive, else 0.0."""
    return tf.cast(self.logits > 0, f32)

  def log_prob(self, event):
    """-> <float32>[...]; `event` may be fractional (soft targets such as contdisc)."""
    event = _f32(event)
    return (event * tf.math.log_sigmoid(self.logits) +
            (1.0 - event) * tf.math.log_sigmoid(-self.logits))

  def loss(self, target):
    """-> <float32>[...] binary cross-entropy against `target` (no gradient to it)."""
    target = _f32(target)
    _check_same_shape(self.logits, target, 'Binary')
    return -self.log_prob(sg(target))

  def sample(self, seed):
    return tf.cast(uniform(tf.shape(self.logits), seed) < self.pred(), f32)


def _sum_last(x, dims):
  return tf.reduce_sum(x, list(range(-dims, 0))) if dims else x


class MSE:
  """Squared error.

  Args:
    pred: <float>[..., *event] the prediction.
    dims: how many trailing (event) axes `loss` sums over; e.g. 1 for a vector
      observation [B, T, D], 3 for an image [B, T, H, W, C], 0 for scalars.
  """

  def __init__(self, pred, dims=0):
    self.mean = _f32(pred)
    self.dims = int(dims)

  def pred(self):
    return self.mean

  def mode(self):
    return self.mean

  def loss(self, target):
    """-> <float32>[...] (event axes summed); no gradient flows to `target`."""
    target = _f32(target)
    _check_same_shape(self.mean, target, 'MSE')
    return _sum_last(tf.square(self.mean - sg(target)), self.dims)


class SymlogMSE:
  """Squared error in symlog space; the network predicts symlog(target).

  Args:
    pred: <float>[..., *event] the raw network output (symlog space).
    dims: trailing axes summed by `loss` (see MSE).
  """

  def __init__(self, pred, dims=0):
    self.mean = _f32(pred)
    self.dims = int(dims)

  def pred(self):
    """-> the prediction in target space, symexp(pred)."""
    return symexp(self.mean)

  def mode(self):
    return self.pred()

  def loss(self, target):
    """-> <float32>[...] sum of (pred - symlog(target))^2 over the event axes."""
    target = _f32(target)
    _check_same_shape(self.mean, target, 'SymlogMSE')
    return _sum_last(tf.square(self.mean - sg(symlog(target))), self.dims)
