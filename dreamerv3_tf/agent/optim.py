"""The DreamerV3 optimizer: AGC, then LaProp (RMS-normalize, then momentum), warm-up.

Per update t = 1, 2, ... and per parameter tensor p with gradient g (the official
optax chain clip_by_agc -> scale_by_rms -> scale_by_momentum -> learning rate):

  g  <- g / max(1, ||g|| / (agc * max(||p||, 1e-3)))        adaptive clipping, per tensor
  nu <- beta2 * nu + (1 - beta2) * g^2
  u  <- g / (sqrt(nu / (1 - beta2^t)) + eps)                 eps outside the sqrt
  mu <- beta1 * mu + (1 - beta1) * u
  p  <- p - lr_t * mu / (1 - beta1^t)
  lr_t = lr * min(1, (t - 1) / warmup)                       so the first update has lr 0

Non-finite gradients: the official float32 path applies them (and the params
become NaN); its float16 path skips such updates. We always skip: params, slots
and `step` stay unchanged, `skipped` counts it and the metric `grad_nonfinite` is
1. The training loop counts, names and stops repeated skips (run/nonfinite.py).
"""

import types

import numpy as np
import tensorflow as tf

f32 = tf.float32


def _sumsq(x):
  return tf.reduce_sum(tf.square(tf.cast(x, f32)))


# Elements per row of the optimizer's layout (see _Rows): XLA reduces a row of at
# most 32 in one kernel, and at sizes 1m and 12m only 7 and 10 tensors need padding.
ROW = 32


class _Rows:
  """Tensors of fixed shapes laid end to end in rows of ROW elements.

  Each tensor starts a new row and the rest of its last row is padding, so a row
  belongs to one tensor. Per-tensor sums of squares are then one reduction over
  rows and one segment sum, instead of a reduction per tensor: XLA splits each of
  those into a reduce-window and a reduce and fuses neither with its input, so at
  size1m they were about 500 of the train step's 1800 kernels (BENCHMARKS.md,
  session 12).
  """

  def __init__(self, shapes):
    self.shapes = [tf.TensorShape(s) for s in shapes]
    self.sizes = [int(s.num_elements()) for s in self.shapes]
    rows = [-(-n // ROW) for n in self.sizes]
    self.pads = [r * ROW - n for r, n in zip(rows, self.sizes)]
    # The tensor of each row.
    self.row_ids = tf.constant(np.repeat(np.arange(len(rows)), rows), tf.int32)

  def flat(self, tensors, pad=0.0):
    """-> <float32>[rows, ROW] the tensors, padded with `pad`."""
    pieces, flat = [], tf.constant([-1])
    for t, n in zip(tensors, self.pads):
      pieces.append(t if t.shape.rank == 1 else tf.reshape(t, flat))
      if n:
        pieces.append(tf.fill([n], tf.constant(pad, f32)))
    return tf.reshape(tf.concat(pieces, 0), (-1, ROW))

  def unflat(self, rows):
    """The inverse of `flat`: -> one tensor per shape (padding dropped)."""
    sizes = [k for n, p in zip(self.sizes, self.pads) for k in (n, p)]
    pieces = tf.split(tf.reshape(rows, [-1]), sizes)[::2]
    return [x if s.rank == 1 else tf.reshape(x, s) for x, s in zip(pieces, self.shapes)]

  def sumsqs(self, rows):
    """-> <float32>[tensors] each tensor's sum of squares (padding must be zero)."""
    per_row = tf.reduce_sum(tf.square(rows), 1)
    return tf.math.unsorted_segment_sum(per_row, self.row_ids, len(self.sizes))

  def per_row(self, values):
    """<[tensors]> -> <[rows, 1]> each row's tensor's value."""
    return tf.gather(values, self.row_ids)[:, None]


def agc_scales(grad_sumsqs, param_sumsqs, clip, pmin=1e-3):
  """-> (<float32>[N] the factor per tensor that makes ||g|| <= clip * max(||p||, pmin),
  <float32>[] the fraction of tensors clipped), from sums of squares per tensor."""
  ratio = tf.sqrt(grad_sumsqs) / (clip * tf.maximum(pmin, tf.sqrt(param_sumsqs)))
  return 1.0 / tf.maximum(1.0, ratio), tf.reduce_mean(tf.cast(ratio > 1.0, f32))


def agc_clip(grads, params, clip, pmin=1e-3):
  """Adaptive gradient clipping, per tensor: ||g|| <= clip * max(||p||, pmin).

  Returns:
    (clipped grads, <float32>[] fraction of tensors that were clipped).
  """
  scales, frac = agc_scales(tf.stack([_sumsq(g) for g in grads]),
                            tf.stack([_sumsq(p) for p in params]), clip, pmin)
  scales = tf.unstack(scales, num=len(grads))
  return [tf.cast(g, f32) * s for g, s in zip(grads, scales)], frac


def _var_key(var):
  """A readable, stable key for a variable: Keras 3 path, else the TF name."""
  path = getattr(var, 'path', None)
  name = path if isinstance(path, str) and path else var.name
  return name[:-2] if name.endswith(':0') else name


class Optimizer(tf.Module):
  """LaProp with adaptive gradient clipping and linear learning-rate warm-up.

  Checkpointable through `tf.train.Checkpoint(opt=optimizer)`: `step`, `skipped`
  and the slots `mu[key]`, `nu[key]` are tracked by name, where key is the
  variable's Keras path (or TF name); repeated names get suffixes '_1', '_2', ...
  in the order given to `build`.

  Args:
    lr: peak learning rate.
    agc: adaptive clipping threshold relative to the parameter norm (0 = off).
    eps: added to the RMS denominator (outside the square root).
    beta1: momentum decay.  beta2: second-moment decay.
    warmup: number of updates of the linear warm-up (0 = off).
    pmin: floor on the parameter norm in AGC (so zero-init tensors can move).
  """

  def __init__(self, lr=4e-5, agc=0.3, eps=1e-20, beta1=0.9, beta2=0.999,
               warmup=1000, pmin=1e-3, name='opt'):
    super().__init__(name=name)
    if lr < 0 or agc < 0 or eps < 0 or warmup < 0:
      raise ValueError(f'Optimizer: lr, agc, eps and warmup must be >= 0, got '
                       f'lr={lr} agc={agc} eps={eps} warmup={warmup}')
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
      raise ValueError(f'Optimizer: betas must lie in [0, 1), got {beta1}, {beta2}')
    self.lr = float(lr)
    self.agc = float(agc)
    self.eps = float(eps)
    self.beta1 = float(beta1)
    self.beta2 = float(beta2)
    self.warmup = int(warmup)
    self.pmin = float(pmin)
    # Under a tf.distribute strategy the gradients are all-reduced before `apply`,
    # so every replica computes the same update and writes its own copy
    # (aggregation NONE): no merge_call, no copies between devices, and it works
    # inside an XLA-compiled replica function.
    agg = tf.VariableAggregation.NONE
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='step', aggregation=agg)
    self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name='skipped',
                               aggregation=agg)
    self.mu = {}
    self.nu = {}
    # id(variable) -> slot key, and the model variables; held outside the
    # checkpoint graph (they belong to the models, and int keys cannot be saved).
    self._built = None

  @property
  def built(self):
    return self._built is not None

  def build(self, variables):
    """Create the slots (mu, nu per variable). Call once, before the first traced step."""
    variables = list(variables)
    if self.built:
      raise ValueError(f'Optimizer {self.name}: build() was already called')
    if not variables:
      raise ValueError(f'Optimizer {self.name}: build() got no variables')
    agg = tf.VariableAggregation.NONE   # see __init__
    keys, mu, nu, seen = {}, {}, {}, {}
    for var in variables:
      if id(var) in keys:
        raise ValueError(f'Optimizer {self.name}: variable {_var_key(var)} given twice')
      if not tf.as_dtype(var.dtype).is_floating:
        raise ValueError(f'Optimizer {self.name}: variable {_var_key(var)} has dtype '
                         f'{var.dtype}, expected a floating dtype')
      base = _var_key(var)
      count = seen.get(base, 0)
      seen[base] = count + 1
      key = base if count == 0 else f'{base}_{count}'
      while key in mu:
        count += 1
        key = f'{base}_{count}'
      keys[id(var)] = key
      shape = tuple(var.shape)
      slot_name = key.replace('/', '.')
      mu[key] = tf.Variable(tf.zeros(shape, f32), trainable=False, name=f'mu.{slot_name}',
                            aggregation=agg)
      nu[key] = tf.Variable(tf.zeros(shape, f32), trainable=False, name=f'nu.{slot_name}',
                            aggregation=agg)
    self.mu = mu
    self.nu = nu
    # A plain namespace: references the checkpoint must not follow.
    self._built = types.SimpleNamespace(keys=keys, variables=tuple(variables))

  def slots(self, var):
    """-> (mu, nu): the slot variables of `var`, found by identity (paths repeat)."""
    if not self.built or id(var) not in self._built.keys:
      return None
    key = self._built.keys[id(var)]
    return self.mu[key], self.nu[key]

  def learning_rate(self, step=None):
    """-> <float32>[] lr used by the update that follows `step` applied updates."""
    step = self.step if step is None else step
    if not self.warmup:
      return tf.constant(self.lr, f32)
    ramp = tf.cast(step, f32) / float(self.warmup)
    return self.lr * tf.minimum(1.0, ramp)

  def apply(self, grads, variables):
    """Apply one update; usable inside tf.function(jit_compile=True).

    Args:
      grads: list of gradients (tensors or IndexedSlices), one per variable.
      variables: variables given to `build` (any order, any subset).
    Returns:
      dict of <float32>[] metrics: grad_norm, grad_rms (before clipping),
      clipped_grad_norm, agc_frac (fraction of tensors clipped), update_norm,
      update_rms (the applied step, lr included), param_norm, param_rms,
      param_count, lr (used by this update), updates (step after it),
      grad_nonfinite (1 if the update was skipped).
    """
    if not self.built:
      raise ValueError(f'Optimizer {self.name}: call build(variables) before apply()')
    grads, variables = list(grads), list(variables)
    if len(grads) != len(variables):
      raise ValueError(f'Optimizer {self.name}: {len(grads)} grads for '
                       f'{len(variables)} variables')
    unknown = [_var_key(v) for v in variables if id(v) not in self._built.keys]
    if unknown:
      raise ValueError(f'Optimizer {self.name}: variables not given to build(): {unknown}')
    missing = [_var_key(v) for g, v in zip(grads, variables) if g is None]
    if missing:
      raise ValueError(f'Optimizer {self.name}: no gradient for {missing} '
                       f'(not connected to the loss?)')
    grads = [tf.cast(tf.convert_to_tensor(g), f32) for g in grads]
    params = [tf.cast(tf.convert_to_tensor(v), f32) for v in variables]
    for g, p, v in zip(grads, params, variables):
      if g.shape != p.shape:
        raise ValueError(f'Optimizer {self.name}: gradient of {_var_key(v)} has shape '
                         f'{g.shape}, expected {p.shape}')

    # All the math runs once over the tensors laid out in rows (_Rows): the
    # per-tensor norms AGC needs, then the elementwise update. Same values, far
    # fewer kernels than per tensor (XLA emits one per op and tensor).
    keys = [self._built.keys[id(v)] for v in variables]
    rows = _Rows([x.shape for x in params])
    g = rows.flat(grads)
    grad_sumsqs = rows.sumsqs(g)
    param_sumsqs = rows.sumsqs(rows.flat(params))
    grad_norm = tf.sqrt(tf.reduce_sum(grad_sumsqs))
    finite = tf.math.is_finite(grad_norm)

    if self.agc:
      scales, agc_frac = agc_scales(grad_sumsqs, param_sumsqs, self.agc, self.pmin)
      g = g * rows.per_row(scales)
    else:
      agc_frac = tf.constant(0.0, f32)

    mu_old = rows.flat([self.mu[k].value() for k in keys])
    # Padded with ones: the padding's update stays 0 / (sqrt(beta2) + eps) = 0, eps = 0 too.
    nu_old = rows.flat([self.nu[k].value() for k in keys], pad=1.0)
    lr = self.learning_rate()
    t = tf.cast(self.step + 1, f32)
    corr1 = 1.0 - tf.pow(self.beta1, t)
    corr2 = 1.0 - tf.pow(self.beta2, t)
    nu = self.beta2 * nu_old + (1.0 - self.beta2) * tf.square(g)
    u = g / (tf.sqrt(nu / corr2) + self.eps)
    mu = self.beta1 * mu_old + (1.0 - self.beta1) * u
    # Skipping by select (not tf.cond) keeps one straight-line XLA program.
    update = tf.where(finite, lr * (mu / corr1), tf.zeros_like(mu))
    for k, piece in zip(keys, rows.unflat(tf.where(finite, nu, nu_old))):
      self.nu[k].assign(piece)
    for k, piece in zip(keys, rows.unflat(tf.where(finite, mu, mu_old))):
      self.mu[k].assign(piece)
    for var, piece in zip(variables, rows.unflat(update)):
      var.assign_sub(tf.cast(piece, var.dtype))
    self.step.assign_add(tf.cast(finite, tf.int64))
    self.skipped.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
    param_norm = tf.sqrt(tf.reduce_sum(param_sumsqs))
    update_norm = tf.sqrt(_sumsq(update))
    count = float(sum(rows.sizes))

    return {
        'grad_norm': grad_norm,
        'grad_rms': grad_norm / count ** 0.5,
        'clipped_grad_norm': tf.sqrt(_sumsq(g)),
        'agc_frac': agc_frac,
        'update_norm': update_norm,
        'update_rms': update_norm / count ** 0.5,
        'param_norm': param_norm,
        'param_rms': param_norm / count ** 0.5,
        'param_count': tf.constant(count, f32),
        'lr': tf.cast(lr, f32),
        'updates': tf.cast(self.step, f32),
        'grad_nonfinite': tf.cast(tf.logical_not(finite), f32),
    }

