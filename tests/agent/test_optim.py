"""Tests for dreamerv3_tf.agent.optim against a numpy reference of the official update."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf.agent import optim


class RefLaProp:
  """Numpy float64 reference of the official chain: clip_by_agc -> scale_by_rms ->
  scale_by_momentum -> linear warm-up learning rate (optax counts from 0)."""

  def __init__(self, params, lr, agc, eps, beta1, beta2, warmup, pmin=1e-3):
    self.params = [np.array(p, np.float64) for p in params]
    self.mu = [np.zeros_like(p) for p in self.params]
    self.nu = [np.zeros_like(p) for p in self.params]
    self.count = 0
    self.cfg = dict(lr=lr, agc=agc, eps=eps, beta1=beta1, beta2=beta2, warmup=warmup, pmin=pmin)

  def step(self, grads):
    c = self.cfg
    grads = [np.array(g, np.float64) for g in grads]
    if c['agc']:
      clipped = []
      for g, p in zip(grads, self.params):
        upper = c['agc'] * max(c['pmin'], np.linalg.norm(p.ravel()))
        clipped.append(g / max(1.0, np.linalg.norm(g.ravel()) / upper))
      grads = clipped
    t = self.count + 1
    lr = c['lr'] * min(1.0, self.count / c['warmup']) if c['warmup'] else c['lr']
    for i, g in enumerate(grads):
      self.nu[i] = c['beta2'] * self.nu[i] + (1 - c['beta2']) * g * g
      nu_hat = self.nu[i] / (1 - c['beta2'] ** t)
      u = g / (np.sqrt(nu_hat) + c['eps'])
      self.mu[i] = c['beta1'] * self.mu[i] + (1 - c['beta1']) * u
      mu_hat = self.mu[i] / (1 - c['beta1'] ** t)
      self.params[i] = self.params[i] - lr * mu_hat
    self.count += 1
    return lr


def make_problem(seed=0):
  """Two variables and a fixed quadratic loss whose gradients differ per step."""
  rs = np.random.RandomState(seed)
  init = [rs.normal(size=(3, 4)).astype(np.float32), np.zeros([4], np.float32)]
  target = rs.normal(size=(3, 4)).astype(np.float32) * 5
  return init, target


def grads_np(params, target):
  w, b = params
  # loss = sum((w - target)^2) + sum(b * [1, -2, 3, 0.001]) + 0.5 sum(b^2)
  return [2 * (w - target), np.array([1, -2, 3, 1e-3]) + b]


def make_tf(init, target, **cfg):
  w = tf.Variable(init[0], name='net/w')
  b = tf.Variable(init[1], name='net/b')
  opt = optim.Optimizer(**cfg)
  opt.build([w, b])
  target = tf.constant(target)
  coef = tf.constant([1, -2, 3, 1e-3], tf.float32)

  def step():
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(w - target)) + tf.reduce_sum(b * coef + 0.5 * b * b)
    grads = tape.gradient(loss, [w, b])
    return opt.apply(grads, [w, b])

  return opt, [w, b], step


CFG = dict(lr=0.05, agc=0.3, eps=1e-20, beta1=0.9, beta2=0.999, warmup=0)


@pytest.mark.parametrize('cfg', [
    CFG,
    dict(CFG, warmup=2),
    dict(CFG, agc=0.0, eps=0.5),   # eps large enough to matter: placement outside the sqrt
    dict(CFG, agc=1e3, beta1=0.5, beta2=0.9),
])
def test_laprop_matches_numpy_reference_eager_and_jit(cfg):
  init, target = make_problem()
  for compile_ in (False, True):
    opt, variables, step = make_tf(init, target, **cfg)
    if compile_:
      step = tf.function(step, jit_compile=True)
    ref = RefLaProp(init, **cfg)
    for i in range(3):
      want_grads = grads_np(ref.params, target)
      want_lr = ref.step(want_grads)
      metrics = step()
      for v, want in zip(variables, ref.params):
        np.testing.assert_allclose(v.numpy(), want, rtol=2e-5, atol=1e-6,
                                   err_msg=f'step {i + 1} {v.name} jit={compile_}')
      np.testing.assert_allclose(metrics['lr'].numpy(), want_lr, rtol=1e-6)
      raw_norm = np.sqrt(sum((g ** 2).sum() for g in want_grads))
      np.testing.assert_allclose(metrics['grad_norm'].numpy(), raw_norm, rtol=1e-5)
    assert int(opt.step.numpy()) == 3 and int(opt.skipped.numpy()) == 0
    for key, want in zip(['net/w', 'net/b'], ref.mu):
      # float32 bias corrections (1 - 0.999^t ~ 1e-3) cost ~1e-5 relative, as officially.
      np.testing.assert_allclose(opt.mu[key].numpy(), want, rtol=2e-5, atol=1e-5)


def test_first_step_is_sign_times_lr():
  # With bias correction the first LaProp step is lr * sign(g) whatever the scale.
  init, target = make_problem(1)
  opt, (w, b), step = make_tf(init, target, **dict(CFG, agc=0.0))
  before = w.numpy()
  step()
  np.testing.assert_allclose(before - w.numpy(), 0.05 * np.sign(2 * (init[0] - target)),
                             rtol=1e-5)


def test_agc_clip_values():
  g = [tf.constant([3.0, 4.0]), tf.constant([0.3, 0.4]), tf.constant([1.0, 0.0])]
  p = [tf.constant([1.2, 1.6]), tf.constant([1.2, 1.6]), tf.zeros([2])]
  clipped, frac = optim.agc_clip(g, p, clip=0.3)
  # ||p|| = 2 -> max norm 0.6: [3, 4] (norm 5) scales to [0.36, 0.48]; [0.3, 0.4] is kept.
  np.testing.assert_allclose(clipped[0].numpy(), [0.36, 0.48], rtol=1e-6)
  np.testing.assert_allclose(clipped[1].numpy(), [0.3, 0.4], rtol=1e-6)
  # Zero params: the norm floor 1e-3 gives max norm 3e-4.
  np.testing.assert_allclose(clipped[2].numpy(), [3e-4, 0.0], rtol=1e-5)
  np.testing.assert_allclose(frac.numpy(), 2 / 3, rtol=1e-6)


def test_warmup_learning_rate():
  init, target = make_problem()
  opt, _, step = make_tf(init, target, **dict(CFG, lr=1e-3, warmup=4))
  step = tf.function(step, jit_compile=True)
  lrs = [float(step()['lr']) for _ in range(6)]
  np.testing.assert_allclose(lrs, [0, 2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3], rtol=1e-6)
  np.testing.assert_allclose(opt.learning_rate(tf.constant(2, tf.int64)).numpy(), 5e-4,
                             rtol=1e-6)


def test_nonfinite_gradient_skips_update():
  w = tf.Variable([1.0, 2.0], name='w')
  opt = optim.Optimizer(**CFG)
  opt.build([w])
  apply = tf.function(lambda g: opt.apply([g], [w]), jit_compile=True)
  apply(tf.constant([0.5, -0.5]))
  state = [w.numpy(), opt.mu['w'].numpy(), opt.nu['w'].numpy()]
  metrics = apply(tf.constant([np.nan, 1.0]))
  assert metrics['grad_nonfinite'].numpy() == 1.0
  assert metrics['update_norm'].numpy() == 0.0
  for before, after in zip(state, [w.numpy(), opt.mu['w'].numpy(), opt.nu['w'].numpy()]):
    np.testing.assert_array_equal(before, after)
  assert int(opt.step.numpy()) == 1 and int(opt.skipped.numpy()) == 1
  metrics = apply(tf.constant([np.inf, 1.0]))
  assert int(opt.skipped.numpy()) == 2
  metrics = apply(tf.constant([0.5, -0.5]))
  assert metrics['grad_nonfinite'].numpy() == 0.0 and int(opt.step.numpy()) == 2
  assert np.all(np.isfinite(w.numpy())) and not np.array_equal(w.numpy(), state[0])


def test_checkpoint_round_trip_and_identical_continuation(tmp_path):
  init, target = make_problem(2)
  cfg = dict(CFG, warmup=3)
  opt_a, vars_a, step_a = make_tf(init, target, **cfg)
  step_a = tf.function(step_a, jit_compile=True)
  for _ in range(3):
    step_a()
  ckpt_a = tf.train.Checkpoint(opt=opt_a, w=vars_a[0], b=vars_a[1])
  path = ckpt_a.save(os.path.join(tmp_path, 'ckpt'))

  opt_b, vars_b, step_b = make_tf(make_problem(9)[0], target, **cfg)
  ckpt_b = tf.train.Checkpoint(opt=opt_b, w=vars_b[0], b=vars_b[1])
  ckpt_b.restore(path).assert_existing_objects_matched().assert_consumed()
  assert int(opt_b.step.numpy()) == 3
  for key in opt_a.mu:
    np.testing.assert_array_equal(opt_a.mu[key].numpy(), opt_b.mu[key].numpy())
    np.testing.assert_array_equal(opt_a.nu[key].numpy(), opt_b.nu[key].numpy())
  step_b = tf.function(step_b, jit_compile=True)
  for _ in range(2):
    ma, mb = step_a(), step_b()
    assert float(ma['lr']) == float(mb['lr'])
  for va, vb in zip(vars_a, vars_b):
    np.testing.assert_array_equal(va.numpy(), vb.numpy())
  keys = [name for name, _ in tf.train.list_variables(path)]
  assert 'opt/mu/net.Sw/.ATTRIBUTES/VARIABLE_VALUE' in keys, keys


def test_keras_variables_and_duplicate_paths():
  class Net(keras.Model):
    def __init__(self, **kw):
      super().__init__(**kw)
      self.lin = keras.layers.Dense(2, name='lin')

    def call(self, x):
      return self.lin(x)

  nets = [Net(name='enc'), Net(name='enc')]  # same paths: enc/lin/kernel twice
  x = tf.ones([1, 3])
  for net in nets:
    net(x)
  variables = nets[0].trainable_variables + nets[1].trainable_variables
  opt = optim.Optimizer(**CFG)
  opt.build(variables)
  assert sorted(opt.mu) == ['enc/lin/bias', 'enc/lin/bias_1', 'enc/lin/kernel',
                            'enc/lin/kernel_1']
  assert len(opt.trainable_variables) == 0 and len(opt.variables) == 10

  @tf.function(jit_compile=True)
  def step():
    with tf.GradientTape() as tape:
      loss = sum(tf.reduce_sum(tf.square(net(x) - 1.0)) for net in nets)
    grads = tape.gradient(loss, variables)
    return opt.apply(grads, variables)

  before = [v.numpy() for v in variables]
  step()
  step()
  assert all(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))
  assert int(opt.step.numpy()) == 2
  # Slots are found by identity, not by the repeated path.
  kernels = [net.lin.kernel for net in nets]
  (mu0, nu0), (mu1, nu1) = opt.slots(kernels[0]), opt.slots(kernels[1])
  assert mu0 is opt.mu['enc/lin/kernel'] and nu0 is opt.nu['enc/lin/kernel']
  assert mu1 is opt.mu['enc/lin/kernel_1'] and nu1 is opt.nu['enc/lin/kernel_1']
  assert not np.array_equal(mu0.numpy(), mu1.numpy())
  assert opt.slots(tf.Variable(1.0)) is None


def test_bad_use_raises_clear_errors():
  w = tf.Variable([1.0], name='w')
  other = tf.Variable([1.0], name='other')
  opt = optim.Optimizer()
  with pytest.raises(ValueError, match='build'):
    opt.apply([tf.ones([1])], [w])
  opt.build([w])
  with pytest.raises(ValueError, match='already'):
    opt.build([w])
  with pytest.raises(ValueError, match='not given to build'):
    opt.apply([tf.ones([1])], [other])
  with pytest.raises(ValueError, match='no gradient'):
    opt.apply([None], [w])
  with pytest.raises(ValueError, match='shape'):
    opt.apply([tf.ones([2])], [w])
  with pytest.raises(ValueError, match='betas'):
    optim.Optimizer(beta1=1.0)


def test_metrics_match_numpy():
  """The norms the train metrics report: before and after clipping, of the applied
  update and of the parameters it was computed from."""
  init, target = make_problem(2)
  cfg = dict(CFG, agc=0.3, warmup=0)
  opt, (w, b), step = make_tf(init, target, **cfg)
  ref = RefLaProp(init, **cfg)
  params = [p.copy() for p in ref.params]
  grads = grads_np(params, target)
  metrics = {k: float(v) for k, v in step().items()}
  ref.step(grads)
  norm = lambda xs: np.sqrt(sum(np.sum(np.square(x)) for x in xs))
  uppers = [0.3 * max(1e-3, np.linalg.norm(p)) for p in params]
  ratios = [np.linalg.norm(g) / u for g, u in zip(grads, uppers)]
  clipped = [g / max(1.0, r) for g, r in zip(grads, ratios)]
  updates = [p - q for p, q in zip(params, ref.params)]
  count = sum(p.size for p in params)
  want = {
      'grad_norm': norm(grads), 'grad_rms': norm(grads) / np.sqrt(count),
      'clipped_grad_norm': norm(clipped), 'agc_frac': np.mean([r > 1 for r in ratios]),
      'update_norm': norm(updates), 'update_rms': norm(updates) / np.sqrt(count),
      'param_norm': norm(params), 'param_rms': norm(params) / np.sqrt(count),
      'param_count': count, 'updates': 1, 'grad_nonfinite': 0}
  for k, v in want.items():
    # float32 sums of at most 16 squares against float64: well inside 1e-5.
    np.testing.assert_allclose(metrics[k], v, rtol=1e-5, err_msg=k)


@pytest.mark.parametrize('jit', [False, True])
def test_tensors_of_many_rows_match_numpy_reference(jit):
  """The update runs over the tensors laid out in rows of `optim.ROW` (each tensor
  starting a row, padded): tensors that span rows, end mid-row or are scalars get
  the per-tensor clipping and update of the reference, and the padding never shows,
  not even with eps = 0 (0 / 0 in a zero-padded second moment)."""
  R = optim.ROW
  shapes = [(3, R + 1), (R,), (), (2, R, 2), (R + 3,), (1,)]
  rs = np.random.RandomState(3)
  init = [rs.normal(size=s).astype(np.float32) for s in shapes]
  steps = [[rs.normal(size=s).astype(np.float32) * rs.choice([0.1, 10.0]) for s in shapes]
           for _ in range(3)]
  cfg = dict(CFG, eps=0.0, warmup=0)
  variables = [tf.Variable(x, name=f'v{i}') for i, x in enumerate(init)]
  opt = optim.Optimizer(**cfg)
  opt.build(variables)
  apply = lambda grads: opt.apply(grads, variables)
  if jit:
    apply = tf.function(apply, jit_compile=True)
  ref = RefLaProp(init, **cfg)
  for grads in steps:
    metrics = apply([tf.constant(g) for g in grads])
    ref.step(grads)
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert 0 < float(metrics['agc_frac']) < 1, 'some tensors clipped, not all'
  for v, want in zip(variables, ref.params):
    # float32 against float64 over three updates, as in the tests above.
    np.testing.assert_allclose(v.numpy(), want, rtol=2e-5, atol=1e-6, err_msg=v.name)
  for v, want in zip(variables, ref.nu):
    np.testing.assert_allclose(opt.slots(v)[1].numpy(), want, rtol=2e-5, err_msg=v.name)
