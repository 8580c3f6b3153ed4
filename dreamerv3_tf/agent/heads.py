"""Heads on the latent features: reward, continue, value (two-hot) and policy.

Each head is MLP (Linear, RMSNorm, SiLU) x layers -> an output layer -> a dist
from `dists`. Inputs are features <[..., F]> with any leading shape.
"""

import numpy as np
import tensorflow as tf

from dreamerv3_tf.agent import dists
from dreamerv3_tf.agent import nets


class TwoHotHead(nets.Layer):
  """Symexp two-hot regression (reward and value). outscale 0 zero-inits the output."""

  def __init__(self, inp, layers=1, units=1024, bins=255, outscale=0.0,
               predsum=dists.PREDSUM, **kw):
    super().__init__(**kw)
    p = dict(dtype=self.dtype_policy)
    self.mlp = nets.MLP(inp, layers, units, name='mlp', **p)
    self.out = nets.Linear(self.mlp.outdim, bins, outscale, name='out', **p)
    self.bins = dists.twohot_bins(bins)
    self.predsum = predsum
    self.built = True

  def call(self, x):
    """-> dists.TwoHot over <[..., bins]> logits."""
    return dists.TwoHot(
        tf.cast(self.out(self.mlp(x)), tf.float32), self.bins, self.predsum)


class BinaryHead(nets.Layer):
  """Continue flag: Bernoulli from one logit."""

  def __init__(self, inp, layers=1, units=1024, outscale=1.0, **kw):
    super().__init__(**kw)
    p = dict(dtype=self.dtype_policy)
    self.mlp = nets.MLP(inp, layers, units, name='mlp', **p)
    self.out = nets.Linear(self.mlp.outdim, 1, outscale, name='out', **p)
    self.built = True

  def call(self, x):
    """-> dists.Binary over <[...]> logits."""
    return dists.Binary(tf.cast(self.out(self.mlp(x)), tf.float32)[..., 0])


def action_dims(act_space):
  """{key: flat size inside the agent}: classes for discrete, prod(shape) otherwise."""
  dims = {}
  for k in sorted(act_space):
    s = act_space[k]
    if s.discrete:
      if s.shape != () or s.dtype == bool:
        raise ValueError(
            f'action {k!r}: discrete actions must be scalar integers, got {s}')
      dims[k] = s.classes
    else:
      dims[k] = int(np.prod(s.shape))
  return dims


class PolicyHead(nets.Layer):
  """Actor: one distribution per action key.

  Discrete keys: Categorical with `unimix`; continuous keys: BoundedNormal
  (tanh mean, std in [minstd, maxstd]). Output layers scaled by `outscale`: per
  key i in sorted order `logits<i>` (discrete) or `mean<i>` and `std<i>`
  (continuous), separate tensors as in the official code, because adaptive
  gradient clipping works per tensor.
  """

  def __init__(self, inp, act_space, layers=3, units=1024, minstd=0.1, maxstd=1.0,
               unimix=0.0, outscale=0.01, **kw):
    super().__init__(**kw)
    p = dict(dtype=self.dtype_policy)
    self.act_space = dict(act_space)
    self.keys = sorted(act_space)
    self.dims = action_dims(act_space)
    self.discrete = {k: act_space[k].discrete for k in self.keys}
    self.minstd, self.maxstd, self.unimix = minstd, maxstd, unimix
    self.mlp = nets.MLP(inp, layers, units, name='mlp', **p)
    for i, k in enumerate(self.keys):
      linear = lambda name: nets.Linear(
          self.mlp.outdim, self.dims[k], outscale, name=f'{name}_{k}', **p)
      if self.discrete[k]:
        setattr(self, f'logits{i}', linear('logits'))
      else:
        setattr(self, f'mean{i}', linear('mean'))
        setattr(self, f'std{i}', linear('std'))
    self.built = True

  def call(self, x):
    """-> {key: dist}; samples/modes are flat float vectors <[..., dims[key]]>."""
    h = self.mlp(x)
    out = {}
    layer = lambda name, i: tf.cast(getattr(self, f'{name}{i}')(h), tf.float32)
    for i, k in enumerate(self.keys):
      if self.discrete[k]:
        out[k] = dists.Categorical(layer('logits', i), self.unimix)
      else:
        out[k] = dists.BoundedNormal(
            layer('mean', i), layer('std', i), self.minstd, self.maxstd)
    return out

  def flat(self, acts):
    """{key: <[..., dims[key]]>} -> <float32>[..., A] in sorted key order."""
    return tf.concat([tf.cast(acts[k], tf.float32) for k in self.keys], -1)

  def unflat(self, x):
    """<[..., A]> -> {key: <[..., dims[key]]>}."""
    parts = tf.split(x, [self.dims[k] for k in self.keys], -1)
    return dict(zip(self.keys, parts))

  def encode(self, acts):
    """Env actions {key: int index | float array} -> <float32>[..., A] (one-hot)."""
    out = []
    for k in self.keys:
      a = acts[k]
      if self.discrete[k]:
        out.append(tf.one_hot(tf.cast(a, tf.int32), self.dims[k], dtype=tf.float32))
      else:
        lead = a.shape[:a.shape.rank - len(self.act_space[k].shape)]
        out.append(tf.reshape(tf.cast(a, tf.float32), (*lead, self.dims[k])))
    return tf.concat(out, -1)

  def decode(self, x):
    """<[..., A]> -> env actions {key: int32 index | float32 [..., *shape]}."""
    out = {}
    for k, part in self.unflat(x).items():
      if self.discrete[k]:
        out[k] = tf.argmax(part, -1, output_type=tf.int32)
      else:
        shape = self.act_space[k].shape
        out[k] = tf.reshape(part, (*part.shape[:-1], *shape))
    return out
