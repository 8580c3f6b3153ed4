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

import tensorflow as tf

f32 = tf.float32


def _sumsq(x):
  return tf.reduce_sum(tf.square(tf.cast(x, f32)))


def _flat(tensors):
  """-> <[sum of sizes]> the tensors' elements laid end to end."""
  # One shape constant for all reshapes, none for vectors: fewer ops to trace.
  flat = tf.constant([-1])
  return tf.concat([t if t.shape.rank == 1 else tf.reshape(t, flat) for t in tensors], 0)


def _unflat(flat, shapes):
  """The inverse of `_flat`: -> one tensor per shape."""
  pieces = tf.split(flat, [int(s.num_elements()) for s in shapes])
  return [x if s.rank == 1 else tf.reshape(x, s) for x, s in zip(pieces, shapes)]


def agc_clip(grads, params, clip, pmin=1e-3, grad_sumsqs=None, param_sumsqs=None):
  """Adaptive gradient clipping, per tensor: ||g|| <= clip * max(||p||, pmin).

  Args:
    grad_sumsqs, param_sumsqs: optional precomputed <float32>[N] sum of squares
      per tensor (saves a pass).
  Returns:
    (clipped grads, <float32>[] fraction of tensors that were clipped).
  """
  if grad_sumsqs is None:
    grad_sumsqs = tf.stack([_sumsq(g) for g in grads])
  if param_sumsqs is None:
    param_sumsqs = tf.stack([_sumsq(p) for p in params])
  # The scalar math of all tensors at once, as vectors of one entry per tensor.
  ratio = tf.sqrt(grad_sumsqs) / (clip * tf.maximum(pmin, tf.sqrt(param_sumsqs)))
  scales = tf.unstack(1.0 / tf.maximum(1.0, ratio), num=len(grads))
  clipped = [tf.cast(g, f32) * s for g, s in zip(grads, scales)]
  return clipped, tf.reduce_mean(tf.cast(ratio > 1.0, f32))


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

    # Per tensor, only the two norms AGC needs; all the elementwise math runs once
    # over the tensors laid end to end. Same values, far fewer ops: at size1m the
    # train step traces 5.7K TF ops instead of 9.8K and XLA emits 995 kernels instead
    # of 1397, about 4 s less to the first update (BENCHMARKS.md, session 8).
    grad_sumsqs = tf.stack([_sumsq(g) for g in grads])
    param_sumsqs = tf.stack([_sumsq(p) for p in params])
    grad_norm = tf.sqrt(tf.reduce_sum(grad_sumsqs))
    finite = tf.math.is_finite(grad_norm)

    if self.agc:
      grads, agc_frac = agc_clip(grads, params, self.agc, self.pmin, grad_sumsqs, param_sumsqs)
    else:
      agc_frac = tf.constant(0.0, f32)

    keys = [self._built.keys[id(v)] for v in variables]
    g = _flat(grads)
    mu_old = _flat([self.mu[k].value() for k in keys])
    nu_old = _flat([self.nu[k].value() for k in keys])
    lr = self.learning_rate()
    t = tf.cast(self.step + 1, f32)
    corr1 = 1.0 - tf.pow(self.beta1, t)
    corr2 = 1.0 - tf.pow(self.beta2, t)
    nu = self.beta2 * nu_old + (1.0 - self.beta2) * tf.square(g)
    u = g / (tf.sqrt(nu / corr2) + self.eps)
    mu = self.beta1 * mu_old + (1.0 - self.beta1) * u
    # Skipping by select (not tf.cond) keeps one straight-line XLA program.
    update = tf.where(finite, lr * (mu / corr1), tf.zeros_like(mu))
    shapes = [p.shape for p in params]
    for k, piece in zip(keys, _unflat(tf.where(finite, nu, nu_old), shapes)):
      self.nu[k].assign(piece)
    for k, piece in zip(keys, _unflat(tf.where(finite, mu, mu_old), shapes)):
      self.mu[k].assign(piece)
    for var, piece in zip(variables, _unflat(update, shapes)):
      var.assign_sub(tf.cast(piece, var.dtype))
    self.step.assign_add(tf.cast(finite, tf.int64))
    self.skipped.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
    param_norm = tf.sqrt(tf.reduce_sum(param_sumsqs))
    update_norm = tf.sqrt(_sumsq(update))
    count = float(sum(int(s.num_elements()) for s in shapes))

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

