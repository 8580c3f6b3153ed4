"""Actor-critic learning: lambda returns, return normalisation, slow critic, losses.

Shapes: N imagined trajectories (B * T starts), H imagination steps; trajectories
carry H + 1 states (the start plus H imagined ones).
"""

import tensorflow as tf

from dreamerv3_tf.agent import nets

sg = tf.stop_gradient
f32 = tf.float32


def lambda_return(last, term, rew, val, boot, disc, lam):
  """TD(lambda) returns along axis 1. All inputs <float32>[N, T] -> <[N, T - 1]>.

  ret[t] = rew[t+1] + live[t+1] * ((1 - c[t+1]) * boot[t+1] + c[t+1] * ret[t+1]),
  live = (1 - term) * disc, c = (1 - last) * lam, and ret[T-1] = boot[T-1].
  `val` is accepted for symmetry with the official signature; the bootstrap
  values are `boot` (pass val twice where there is no separate bootstrap).
  """
  del val
  last, term, rew, boot = (tf.cast(x, f32) for x in (last, term, rew, boot))
  live = (1.0 - term[:, 1:]) * disc
  cont = (1.0 - last[:, 1:]) * lam
  interm = rew[:, 1:] + (1.0 - cont) * live * boot[:, 1:]
  swap = lambda x: tf.transpose(x)
  rets = tf.scan(
      lambda ret, x: x[0] + x[1] * x[2] * ret,
      (swap(interm), swap(live), swap(cont)),
      initializer=boot[:, -1], reverse=True)
  return swap(rets)


def percentile(x, q):
  """Linear-interpolated q-th percentile (0..100) of all elements (numpy 'linear')."""
  x = tf.sort(tf.reshape(tf.cast(x, f32), (-1,)))
  n = x.shape[0]
  pos = q / 100.0 * (n - 1)
  lo = int(pos // 1)
  hi = min(lo + 1, n - 1)
  frac = pos - lo
  return x[lo] * (1.0 - frac) + x[hi] * frac


class ReturnNormalizer(nets.Layer):
  """EMA of the 5th and 95th return percentiles; scale = max(limit, hi - lo).

  Args: rate, limit, perclo, perchi (config.agent.retnorm).
  """

  def __init__(self, rate=0.01, limit=1.0, perclo=5.0, perchi=95.0, **kw):
    super().__init__(**kw)
    self.rate, self.limit, self.perclo, self.perchi = rate, limit, perclo, perchi
    self.lo = self._weight('lo', 0.0, trainable=False)
    self.hi = self._weight('hi', 0.0, trainable=False)
    self.built = True

  def update(self, x):
    x = sg(tf.cast(x, f32))
    r = self.rate
    lo = (1 - r) * self.lo.value + r * percentile(x, self.perclo)
    hi = (1 - r) * self.hi.value + r * percentile(x, self.perchi)
    # Non-finite returns (their update is skipped) would poison the statistics,
    # and so every later update: keep the old ones instead.
    finite = tf.reduce_all(tf.math.is_finite(x))
    self.lo.assign(tf.where(finite, lo, self.lo.value))
    self.hi.assign(tf.where(finite, hi, self.hi.value))

  def stats(self):
    """-> offset, scale (both without gradient)."""
    lo, hi = tf.convert_to_tensor(self.lo.value), tf.convert_to_tensor(self.hi.value)
    return sg(lo), sg(tf.maximum(self.limit, hi - lo))

  def call(self, x):
    """Updates with `x`, then returns the stats."""
    self.update(x)
    return self.stats()


class SlowCritic:
  """Keeps `target` an EMA of `source` (same architecture): mix `rate` every `every`.

  The count lives in a variable so the schedule survives checkpoints.
  """

  def __init__(self, source, target, count, rate=0.02, every=1):
    assert rate == 1 or rate < 0.5, rate
    self.source, self.target, self.count = source, target, count
    self.rate, self.every = rate, every
    src, dst = source.weights, target.weights
    assert [v.shape for v in src] == [v.shape for v in dst]

  def copy(self):
    for s, d in zip(self.source.weights, self.target.weights):
      d.assign(s.value)

  def update(self):
    mix = tf.where(self.count % self.every == 0, self.rate, 0.0)
    for s, d in zip(self.source.weights, self.target.weights):
      d.assign(mix * s.value + (1.0 - mix) * d.value)
    self.count.assign_add(1)


def imag_loss(act, rew, con, policy, value, slowvalue, retnorm, update,
              contdisc=True, horizon=333, lam=0.95, actent=3e-4, slowreg=1.0):
  """Actor and critic losses on imagined trajectories.

  Args:
    act: {key: <float32>[N, H+1, dims]} the action taken in each state.
    rew: <float32>[N, H+1] predicted rewards; con: <[N, H+1]> continue probs.
    policy: {key: dist over [N, H+1]}; value, slowvalue: TwoHot over [N, H+1].
    retnorm: ReturnNormalizer; update: whether to update it.
  Returns:
    losses {'policy', 'value'}: <[N, H]>, outs {'ret', 'adv': <[N, H]>, 'val',
    'slowval': <[N, H+1]>}, metrics.
  """
  val = value.pred()
  slowval = slowvalue.pred()
  tarval = sg(val)  # official default slowtar=False: bootstrap from the fast critic
  disc = 1.0 if contdisc else 1.0 - 1.0 / horizon
  weight = sg(tf.math.cumprod(disc * con, 1) / disc)
  last = tf.zeros_like(con)
  term = 1.0 - con
  ret = sg(lambda_return(last, term, rew, tarval, tarval, disc, lam))

  if update:
    retnorm.update(ret)
  roffset, rscale = retnorm.stats()
  adv = (ret - tarval[:, :-1]) / rscale
  logpi = sum(policy[k].log_prob(sg(act[k]))[:, :-1] for k in sorted(policy))
  ents = {k: policy[k].entropy()[:, :-1] for k in sorted(policy)}
  losses = {}
  losses['policy'] = weight[:, :-1] * -(logpi * sg(adv) + actent * sum(ents.values()))
  tar = tf.concat([ret, tf.zeros_like(ret[:, -1:])], 1)
  losses['value'] = weight[:, :-1] * (
      value.loss(sg(tar)) + slowreg * value.loss(sg(slowval)))[:, :-1]

  ret_normed = (ret - roffset) / rscale
  mean = tf.reduce_mean
  metrics = {
      'adv': mean(adv), 'adv_std': tf.math.reduce_std(adv),
      'adv_mag': mean(tf.abs(adv)), 'rew': mean(rew), 'con': mean(con),
      'ret': mean(ret_normed), 'val': mean(val), 'tar': mean(ret),
      'weight': mean(weight), 'slowval': mean(slowval),
      'ret_min': tf.reduce_min(ret_normed), 'ret_max': tf.reduce_max(ret_normed),
      'ret_rate': mean(tf.cast(tf.abs(ret_normed) >= 1.0, f32)),
      'retnorm/lo': roffset, 'retnorm/scale': rscale}
  for k in sorted(policy):
    metrics[f'ent/{k}'] = mean(ents[k])
    lo, hi = policy[k].minent, policy[k].maxent
    metrics[f'rand/{k}'] = (mean(ents[k]) - lo) / (hi - lo)
  return losses, {'ret': ret, 'adv': adv, 'val': val, 'slowval': slowval}, metrics


def repl_loss(last, term, rew, boot, value, slowvalue, horizon=333, lam=0.95,
              slowreg=1.0):
  """Critic loss on the replayed sequence, bootstrapped from imagination returns.

  Args:
    last, term: <bool>[B, T]; rew: <float32>[B, T]; boot: <float32>[B, T]
      (the imagined lambda return from each replayed state).
    value, slowvalue: TwoHot over [B, T].
  Returns:
    losses {'repval': <[B, T-1]>}, outs {'ret': <[B, T-1]>}.
  """
  val = value.pred()
  slowval = slowvalue.pred()
  disc = 1.0 - 1.0 / horizon
  weight = 1.0 - tf.cast(last, f32)
  ret = sg(lambda_return(last, term, rew, sg(val), sg(boot), disc, lam))
  tar = tf.concat([ret, tf.zeros_like(ret[:, -1:])], 1)
  losses = {'repval': weight[:, :-1] * (
      value.loss(sg(tar)) + slowreg * value.loss(sg(slowval)))[:, :-1]}
  return losses, {'ret': ret}
