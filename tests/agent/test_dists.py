"""Tests for dreamerv3_tf.agent.dists against hand-written numpy references."""

import math

import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf.agent import dists

SEED = tf.constant([3, 7], tf.int32)


def np_softmax(x):
  x = x - x.max(-1, keepdims=True)
  e = np.exp(x)
  return e / e.sum(-1, keepdims=True)


def np_symexp(x):
  return np.sign(x) * np.expm1(np.abs(x))


def jit(fn):
  return tf.function(fn, jit_compile=True)


# ---------------------------------------------------------------- symlog / bins

def test_symlog_symexp_values_and_inverse():
  x = np.array([-1000.0, -3.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 3.0, 1000.0], np.float32)
  want = np.sign(x) * np.log1p(np.abs(x))
  np.testing.assert_allclose(dists.symlog(x).numpy(), want, rtol=1e-6)
  np.testing.assert_allclose(dists.symlog(np.float32(math.e - 1)).numpy(), 1.0, rtol=1e-6)
  np.testing.assert_allclose(dists.symexp(dists.symlog(x)).numpy(), x, rtol=1e-5)
  np.testing.assert_allclose(dists.symlog(dists.symexp(want)).numpy(), want, rtol=1e-5)
  # Integer inputs are computed in float32.
  assert dists.symlog(tf.constant([2, -2])).dtype == tf.float32


def test_symlog_is_sign_times_log1p_exactly_values_and_gradients():
  """symlog selects rather than multiplies by tf.sign (an exported TFLite model then
  needs no SIGN builtin, which TFLite runtimes before 2.11 lack): equal values and
  gradients, eager and under XLA, over magnitudes from denormals to inf and NaN."""
  rng = np.random.default_rng(0)
  x = np.concatenate([rng.normal(0, s, 2000) for s in (1e-30, 1e-6, 1.0, 1e3, 1e30)] + [
      np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, -3.4e38])])
  x = tf.constant(x.astype(np.float32))

  def both(x):
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      signed = tf.sign(x) * tf.math.log1p(tf.abs(x))
      ours = dists.symlog(x)
    return signed, ours, tape.gradient(signed, x), tape.gradient(ours, x)

  for fn in (both, jit(both)):
    signed, ours, grad_signed, grad_ours = [v.numpy() for v in fn(x)]
    # Exact: both negate or keep the same log1p(|x|) (0 and -0 compare equal).
    np.testing.assert_array_equal(ours, signed)
    np.testing.assert_array_equal(grad_ours, grad_signed)


def test_twohot_bins():
  for n in (255, 256, 9):
    bins = dists.twohot_bins(n).numpy()
    assert bins.shape == (n,) and bins.dtype == np.float32
    np.testing.assert_array_equal(bins, -bins[::-1])  # bit-exact mirror
    # Even n repeats the middle 0 (as the official construction does).
    assert np.all(np.diff(bins) > 0) if n % 2 else np.all(np.diff(bins) >= 0)
    np.testing.assert_allclose(bins[0], -np.expm1(20.0), rtol=1e-6)
  bins = dists.twohot_bins(255).numpy()
  assert bins[127] == 0.0
  np.testing.assert_allclose(bins, np_symexp(np.linspace(-20, 20, 255)), rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match='n >= 2'):
    dists.twohot_bins(1)


# ---------------------------------------------------------------- two-hot

def np_twohot(x, bins):
  """Raw-space two-hot encoding of one scalar, written from the definition."""
  w = np.zeros(len(bins))
  if x <= bins[0]:
    w[0] = 1.0
  elif x >= bins[-1]:
    w[-1] = 1.0
  else:
    hi = np.searchsorted(bins, x, side='right')
    lo = hi - 1
    if bins[lo] == x:
      w[lo] = 1.0
    else:
      w[lo] = (bins[hi] - x) / (bins[hi] - bins[lo])
      w[hi] = (x - bins[lo]) / (bins[hi] - bins[lo])
  return w


def test_twohot_encode_between_bins_in_raw_space():
  bins = dists.twohot_bins(255)
  b = bins.numpy().astype(np.float64)
  targets = np.array([3.7, -0.25, 0.0, float(b[140]), 1e12, -1e12, 123456.0], np.float32)
  head = dists.TwoHot(tf.zeros([len(targets), 255]), bins)
  weights = head.encode(targets).numpy()
  for i, x in enumerate(targets):
    np.testing.assert_allclose(weights[i], np_twohot(float(x), b), atol=1e-5)
  # 3.7 lies between two bins; interpolation is linear in raw (not symlog) space.
  hi = np.searchsorted(b, 3.7)
  lo = hi - 1
  assert b[lo] < 3.7 < b[hi]
  want_lo = (b[hi] - 3.7) / (b[hi] - b[lo])
  np.testing.assert_allclose(weights[0, lo], want_lo, rtol=1e-5)
  np.testing.assert_allclose(weights[0, hi], 1 - want_lo, rtol=1e-5)
  assert np.count_nonzero(weights[0]) == 2
  # Exactly on a bin, or beyond the ends: all weight on one bin.
  assert weights[3, 140] == 1.0 and weights[4, -1] == 1.0 and weights[5, 0] == 1.0


def test_twohot_loss_is_cross_entropy_and_has_gradient():
  bins = dists.twohot_bins(255)
  logits = np.random.RandomState(0).normal(size=(2, 3, 255)).astype(np.float32)
  target = np.array([[0.5, -20.0, 7.0], [0.0, 1e3, -1e-3]], np.float32)
  logits_t = tf.constant(logits)
  with tf.GradientTape() as tape:
    tape.watch(logits_t)
    loss = dists.TwoHot(logits_t, bins).loss(target)
  grad = tape.gradient(loss, logits_t)
  assert loss.shape == (2, 3)
  logp = np.log(np_softmax(logits.astype(np.float64)))
  b = bins.numpy().astype(np.float64)
  for i in range(2):
    for j in range(3):
      want = -(np_twohot(float(target[i, j]), b) * logp[i, j]).sum()
      np.testing.assert_allclose(loss[i, j].numpy(), want, rtol=1e-5)
  assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).sum() > 0


def test_twohot_pred_decodes_encoded_value():
  bins = dists.twohot_bins(255)
  targets = np.array([3.7, -0.25, 0.0, 42.0, -1234.5, 1.0], np.float32)
  head = dists.TwoHot(tf.zeros([6, 255]), bins)
  weights = head.encode(targets)
  logits = tf.math.log(tf.maximum(weights, 1e-30))
  np.testing.assert_allclose(dists.TwoHot(logits, bins).pred().numpy(), targets,
                             rtol=1e-5, atol=1e-6)
  # A one-hot (huge logit on bin 150) decodes to that bin.
  logits = tf.one_hot([150], 255) * 100.0
  np.testing.assert_allclose(dists.TwoHot(logits, bins).pred().numpy(), bins.numpy()[150:151],
                             rtol=1e-6)


@pytest.mark.parametrize('n', [255, 256, 9])
def test_twohot_pred_exactly_zero_at_equal_logits_eager_and_jit(n):
  bins = dists.twohot_bins(n)
  fn = lambda logits: dists.TwoHot(logits, bins, predsum='paired').pred()
  for value in (0.0, 1.3, -7.1, 50.0):
    logits = tf.fill([3, 2, n], value)
    assert np.all(fn(logits).numpy() == 0.0)
    assert np.all(jit(fn)(logits).numpy() == 0.0)
  # Mirrored logits predict the negated value (up to softmax rounding).
  logits = tf.random.stateless_normal([4, n], [1, 2])
  np.testing.assert_allclose(fn(logits).numpy(), -fn(logits[:, ::-1]).numpy(), rtol=1e-6)


def test_twohot_rejects_mismatched_bins():
  with pytest.raises(ValueError, match='bins'):
    dists.TwoHot(tf.zeros([2, 10]), dists.twohot_bins(11))


# ---------------------------------------------------------------- categorical

def test_categorical_unimix_probs_logits_entropy_logprob():
  raw = np.random.RandomState(1).normal(size=(2, 4, 5)).astype(np.float32) * 3
  dist = dists.Categorical(raw, unimix=0.01)
  want = 0.99 * np_softmax(raw.astype(np.float64)) + 0.01 / 5
  np.testing.assert_allclose(dist.probs.numpy(), want, rtol=1e-5)
  np.testing.assert_allclose(dist.logits.numpy(), np.log(want), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dist.entropy().numpy(), -(want * np.log(want)).sum(-1), rtol=1e-5)
  onehot = np.eye(5, dtype=np.float32)[[[0, 1, 2, 3], [4, 4, 0, 1]]]
  np.testing.assert_allclose(dist.log_prob(onehot).numpy(),
                             np.log((want * onehot).sum(-1)), rtol=1e-5)
  assert dist.maxent == pytest.approx(math.log(5))
  # Without unimix, logits are normalized log-probs of the softmax.
  plain = dists.Categorical(raw)
  np.testing.assert_allclose(plain.probs.numpy(), np_softmax(raw.astype(np.float64)), rtol=1e-5)


def test_categorical_sample_is_onehot_with_straight_through_gradient():
  raw = tf.constant(np.random.RandomState(2).normal(size=(3, 4, 6)).astype(np.float32))
  weights = tf.constant(np.arange(6, dtype=np.float32))

  def fn(logits, seed):
    dist = dists.Categorical(logits, unimix=0.01)
    sample = dist.sample(seed)
    mode = dist.mode()
    return sample, mode, dist.probs

  for f in (fn, jit(fn)):
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(raw)
      sample, mode, probs = f(raw, SEED)
      s_obj = tf.reduce_sum(sample * weights)
      m_obj = tf.reduce_sum(mode * weights)
      p_obj = tf.reduce_sum(probs * weights)
    s = sample.numpy()
    assert set(np.unique(s)) == {0.0, 1.0} and np.all(s.sum(-1) == 1.0)
    np.testing.assert_array_equal(mode.numpy(), np.eye(6)[np.argmax(raw.numpy(), -1)])
    # Straight-through: the gradient is that of the probabilities.
    g_probs = tape.gradient(p_obj, raw).numpy()
    assert np.abs(g_probs).max() > 1e-3
    np.testing.assert_allclose(tape.gradient(s_obj, raw).numpy(), g_probs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(tape.gradient(m_obj, raw).numpy(), g_probs, rtol=1e-5, atol=1e-7)


def test_categorical_sample_frequencies_eager_and_jit():
  probs = np.array([0.5, 0.05, 0.2, 0.25, 0.0], np.float32)
  logits = np.log(np.maximum(probs, 1e-30))
  draws = 20000
  tiled = tf.constant(np.tile(logits, (draws // 4, 4, 1)))  # [5000, 4, 5]
  fn = lambda x, seed: dists.Categorical(x).sample(seed)
  for f, seed in ((fn, SEED), (jit(fn), SEED), (jit(fn), tf.constant([9, 1], tf.int64))):
    freq = f(tiled, seed).numpy().reshape(-1, 5).mean(0)
    # 4 sigma of a binomial frequency over 20k draws is <= 0.015.
    np.testing.assert_allclose(freq, probs, atol=0.015)
    assert freq[-1] == 0.0
  # Different seeds give different draws, the same seed the same draws.
  a, b = jit(fn)(tiled, SEED).numpy(), jit(fn)(tiled, SEED + 1).numpy()
  assert not np.array_equal(a, b)
  np.testing.assert_array_equal(a, jit(fn)(tiled, SEED).numpy())


def test_categorical_sampling_inside_scan_under_jit():
  logits = tf.constant(np.log([[0.1, 0.9], [0.8, 0.2]]), tf.float32)

  @tf.function(jit_compile=True)
  def roll(seeds):
    def body(carry, seed):
      sample = dists.Categorical(logits).sample(seed)
      return carry + sample, sample
    return tf.scan(lambda c, s: body(c[0], s), seeds,
                   initializer=(tf.zeros([2, 2]), tf.zeros([2, 2])))

  seeds = tf.stack([tf.range(2000), tf.range(2000) * 3 + 1], -1)
  total, samples = roll(seeds)
  freq = total[-1].numpy() / 2000
  np.testing.assert_allclose(freq, [[0.1, 0.9], [0.8, 0.2]], atol=0.04)
  assert samples.shape == (2000, 2, 2)


def test_kl_categorical_against_numpy():
  rs = np.random.RandomState(3)
  lhs = rs.normal(size=(4, 32, 8)).astype(np.float32)
  rhs = rs.normal(size=(4, 32, 8)).astype(np.float32)
  p, q = np_softmax(lhs.astype(np.float64)), np_softmax(rhs.astype(np.float64))
  want = (p * (np.log(p) - np.log(q))).sum(-1)
  np.testing.assert_allclose(dists.kl_categorical(lhs, rhs).numpy(), want, rtol=1e-4, atol=1e-6)
  assert np.all(dists.kl_categorical(lhs, lhs).numpy() == 0.0)
  # With unimix, on the mixed distributions (as the RSSM uses it).
  d1, d2 = dists.Categorical(lhs, 0.01), dists.Categorical(rhs, 0.01)
  p, q = 0.99 * p + 0.01 / 8, 0.99 * q + 0.01 / 8
  want = (p * (np.log(p) - np.log(q))).sum(-1)
  np.testing.assert_allclose(d1.kl(d2).numpy(), want, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(dists.kl_categorical(d1.logits, d2.logits).numpy(), want,
                             rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- bounded normal

def test_bounded_normal_mode_std_logprob_entropy():
  rs = np.random.RandomState(4)
  mean_logits = rs.normal(size=(3, 2)).astype(np.float32) * 2
  std_logits = np.array([[-100.0, 100.0], [0.0, -2.0], [1.0, 3.0]], np.float32)
  dist = dists.BoundedNormal(mean_logits, std_logits, minstd=0.1, maxstd=1.0)
  mean = np.tanh(mean_logits)
  std = 0.9 / (1 + np.exp(-(std_logits.astype(np.float64) + 2))) + 0.1
  np.testing.assert_allclose(dist.mode().numpy(), mean, rtol=1e-6)
  np.testing.assert_allclose(dist.std.numpy(), std, rtol=1e-6)
  np.testing.assert_allclose(dist.std.numpy()[0], [0.1, 1.0], rtol=1e-6)
  np.testing.assert_allclose(dist.std.numpy()[1, 1], 0.55, rtol=1e-6)  # sigmoid(0) midpoint
  x = rs.uniform(-1.5, 1.5, size=(3, 2)).astype(np.float32)
  want = (-0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)).sum(-1)
  np.testing.assert_allclose(dist.log_prob(x).numpy(), want, rtol=1e-5)
  want = (0.5 * np.log(2 * np.pi * std ** 2) + 0.5).sum(-1)
  np.testing.assert_allclose(dist.entropy().numpy(), want, rtol=1e-5)
  assert dist.minent == pytest.approx(2 * (0.5 * np.log(2 * np.pi * 0.01) + 0.5))


def test_bounded_normal_samples_statistics_unclipped_and_reparameterized():
  mean_logits = tf.fill([20000, 2], 2.0)   # mean tanh(2) = 0.964
  std_logits = tf.constant([[-100.0, 100.0]] * 20000)

  def fn(m, s, seed):
    return dists.BoundedNormal(m, s).sample(seed)

  for f in (fn, jit(fn)):
    with tf.GradientTape() as tape:
      tape.watch(mean_logits)
      x = f(mean_logits, std_logits, SEED)
      obj = tf.reduce_sum(x)
    x = x.numpy()
    np.testing.assert_allclose(x.mean(0), [np.tanh(2.0)] * 2, atol=0.03)
    np.testing.assert_allclose(x.std(0), [0.1, 1.0], rtol=0.03)
    assert x.max() > 1.5  # not clipped to [-1, 1], as in the official code
    grad = tape.gradient(obj, mean_logits).numpy()
    np.testing.assert_allclose(grad, 1 - np.tanh(2.0) ** 2, rtol=1e-5)


# ---------------------------------------------------------------- binary / mse

def test_binary():
  logits = np.array([[-3.0, 0.0, 2.0]], np.float32)
  target = np.array([[0.0, 0.997, 1.0]], np.float32)
  dist = dists.Binary(logits)
  p = 1 / (1 + np.exp(-logits.astype(np.float64)))
  np.testing.assert_allclose(dist.pred().numpy(), p, rtol=1e-6)
  np.testing.assert_array_equal(dist.mode().numpy(), [[0.0, 0.0, 1.0]])
  want = -(target * np.log(p) + (1 - target) * np.log(1 - p))
  np.testing.assert_allclose(dist.loss(target).numpy(), want, rtol=1e-5)
  with pytest.raises(ValueError, match='does not match'):
    dist.loss(np.zeros([3], np.float32))


def test_mse_and_symlog_mse_sum_event_dims():
  pred = np.random.RandomState(5).normal(size=(2, 3, 4)).astype(np.float32)
  target = np.random.RandomState(6).normal(size=(2, 3, 4)).astype(np.float32) * 10
  np.testing.assert_allclose(dists.MSE(pred, dims=1).loss(target).numpy(),
                             ((pred - target) ** 2).sum(-1), rtol=1e-5)
  np.testing.assert_allclose(dists.MSE(pred, dims=2).loss(target).numpy(),
                             ((pred - target) ** 2).sum((-1, -2)), rtol=1e-5)
  np.testing.assert_allclose(dists.MSE(pred).loss(target).numpy(), (pred - target) ** 2,
                             rtol=1e-5)
  slt = np.sign(target) * np.log1p(np.abs(target))
  head = dists.SymlogMSE(pred, dims=1)
  np.testing.assert_allclose(head.loss(target).numpy(), ((pred - slt) ** 2).sum(-1), rtol=1e-5)
  np.testing.assert_allclose(head.pred().numpy(), np_symexp(pred), rtol=1e-5)
  with pytest.raises(ValueError, match='does not match'):
    dists.MSE(pred, dims=1).loss(target[..., :3])


# ---------------------------------------------------------------- eager vs jit

def test_deterministic_outputs_agree_eager_and_jit():
  rs = np.random.RandomState(7)
  bins = dists.twohot_bins(255)
  inputs = dict(
      twohot=tf.constant(rs.normal(size=(4, 255)).astype(np.float32)),
      target=tf.constant(rs.normal(size=(4,)).astype(np.float32) * 100),
      cat=tf.constant(rs.normal(size=(4, 3, 5)).astype(np.float32)),
      cat2=tf.constant(rs.normal(size=(4, 3, 5)).astype(np.float32)),
      mean=tf.constant(rs.normal(size=(4, 2)).astype(np.float32)),
      std=tf.constant(rs.normal(size=(4, 2)).astype(np.float32)),
      act=tf.constant(rs.normal(size=(4, 2)).astype(np.float32)))

  def fn(x):
    th = dists.TwoHot(x['twohot'], bins, predsum='paired')
    c1 = dists.Categorical(x['cat'], 0.01)
    c2 = dists.Categorical(x['cat2'], 0.01)
    bn = dists.BoundedNormal(x['mean'], x['std'])
    bi = dists.Binary(x['target'])
    return dict(
        th_pred=th.pred(), th_loss=th.loss(x['target']), c_ent=c1.entropy(),
        c_kl=c1.kl(c2), c_mode=c1.mode(), c_logp=c1.log_prob(c2.mode()),
        bn_logp=bn.log_prob(x['act']), bn_ent=bn.entropy(), bi_loss=bi.loss(bi.pred()),
        symlog=dists.symlog(x['target']), symexp=dists.symexp(x['act']))

  eager, compiled = fn(inputs), jit(fn)(inputs)
  for key in eager:
    np.testing.assert_allclose(compiled[key].numpy(), eager[key].numpy(), rtol=1e-5, atol=1e-5,
                               err_msg=key)


def test_twohot_sums_on_mirrored_logits():
  # Mirrored logits (as a zero-init head keeps them while targets sit near 0)
  # predict about 0. The paired sum is the exact expectation of the float32
  # probabilities the softmax gave; the official order adds the rounding of
  # products of ~2e6 (under XLA's fused multiply-adds, ~0.1).
  bins = dists.twohot_bins(255)
  half = np.random.default_rng(0).normal(0, 1e-3, (64, 128)).astype(np.float32)
  logits = np.concatenate([half, half[:, :-1][:, ::-1]], -1)
  dist = dists.TwoHot(logits, bins, predsum='paired')
  probs, paired = dist.probs.numpy(), dist.pred().numpy()
  official = dists.TwoHot(logits, bins).pred().numpy()  # the default
  want = (probs.astype(np.float64) * bins.numpy().astype(np.float64)).sum(-1)
  # Each paired term (p_hi - p_lo) * b_hi is one float32 rounding of a value
  # below ~0.1, and 127 of them are summed: 1e-6 bounds that error.
  np.testing.assert_allclose(paired, want, rtol=0, atol=1e-6)
  # Where the softmax kernel gave bit-mirrored probabilities (oneDNN does, Eigen
  # on AVX2-only CPUs not always) the exact expectation is 0 to the bit.
  mirrored = np.all(probs[:, :127] == probs[:, 128:][:, ::-1], -1)
  assert np.all(paired[mirrored] == 0.0)
  assert np.abs(official - want).max() < 2.0
  with pytest.raises(ValueError, match='predsum'):
    dists.TwoHot(logits, bins, predsum='left')


def test_split_gives_distinct_reproducible_seeds_eager_and_jit():
  seed = tf.constant([3, 7], tf.int64)
  jit = tf.function(lambda s: dists.split(s, 16), jit_compile=True)
  for fn in (lambda s: dists.split(s, 16), jit):
    out = fn(seed).numpy()
    assert out.shape == (16, 2) and out.dtype == np.int64
    assert len({tuple(r) for r in out}) == 16
    np.testing.assert_array_equal(out, fn(seed).numpy())
    assert not np.array_equal(out, fn(tf.constant([3, 8], tf.int64)).numpy())
  assert dists.split(tf.constant([1, 2], tf.int32), 3).dtype == tf.int32


def test_split_under_xla_has_no_philox_seed_scramble():
  # tf's stateless_split adds a Philox key scramble per call; inside the train
  # step's loops those chains cost XLA's simplifier ~40 extra fix-point rounds.
  fn = tf.function(lambda s: dists.uniform([4], dists.split(s, 2)[1]), jit_compile=True)
  hlo = fn.experimental_get_compiler_ir(tf.constant([1, 2], tf.int64))(stage='hlo')
  assert 'StatelessRandomGetKeyCounter' not in hlo
  ref = tf.function(lambda s: tf.random.experimental.stateless_split(s, 2), jit_compile=True)
  assert 'StatelessRandomGetKeyCounter' in ref.experimental_get_compiler_ir(
      tf.constant([1, 2], tf.int64))(stage='hlo')


def _twohot_truth(logits, bins):
  logits = np.asarray(logits, np.float64)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  return (probs * np.asarray(bins, np.float64)).sum(-1)


def test_stable_twohot_sum_is_accurate_eager_and_under_xla():
  # Nearly mirrored logits: the true expectation is small and the official order
  # cancels products of ~2e6; the stable form keeps float32 accuracy (the
  # tolerance: 1e-6 relative to the largest bin contribution, ~2e6 here).
  bins = dists.twohot_bins(255)
  rng = np.random.default_rng(1)
  half = rng.normal(0, 1e-3, (256, 128))
  logits = np.concatenate([half, half[:, :-1][:, ::-1]], -1)
  logits = (logits + rng.normal(0, 1e-4, logits.shape)).astype(np.float32)
  truth = _twohot_truth(logits, bins.numpy())
  scale = np.abs(bins.numpy()).max() / 255
  jit = tf.function(lambda x, p: dists.TwoHot(x, bins, p).pred(), jit_compile=True)
  errors = {}
  for predsum in dists.PREDSUMS:
    for mode, fn in (('eager', lambda x, p: dists.TwoHot(x, bins, p).pred()), ('xla', jit)):
      errors[predsum, mode] = np.abs(fn(logits, predsum).numpy() - truth).max() / scale
  assert max(errors['stable', 'eager'], errors['stable', 'xla']) < 1e-6, errors
  # Zero logits: exactly zero.
  zero = dists.TwoHot(np.zeros((2, 255), np.float32), bins, 'stable').pred().numpy()
  np.testing.assert_array_equal(zero, np.zeros(2, np.float32))


def test_supplied_noise_replaces_the_draws_in_order():
  probs = np.array([[0.2, 0.5, 0.3]], np.float32)
  cat = dists.Categorical(np.log(probs))
  norm = dists.BoundedNormal(np.zeros((1, 2), np.float32), np.zeros((1, 2), np.float32))
  seed = tf.constant([0, 0], tf.int64)
  draws = [('uniform', np.array([0.69], np.float32)),   # cdf 0.2, 0.7: class 1
           ('normal', np.array([[1.0, -2.0]], np.float32))]
  with dists.supplied_noise(draws):
    onehot = cat.sample(seed).numpy()
    action = norm.sample(seed).numpy()
  np.testing.assert_array_equal(onehot, [[0, 1, 0]])
  np.testing.assert_allclose(action, norm.std.numpy() * [[1.0, -2.0]], rtol=1e-6)
  with pytest.raises(ValueError, match='draw 0 is normal'):
    with dists.supplied_noise(draws):
      norm.sample(seed)
  with pytest.raises(ValueError, match='1 of 2 draws were not used'):
    with dists.supplied_noise(draws):
      cat.sample(seed)
  with pytest.raises(RuntimeError, match='eager'):
    with dists.supplied_noise(draws):
      tf.function(cat.sample)(seed)
  # Off again: seeded draws.
  assert cat.sample(seed).numpy().sum() == 1
