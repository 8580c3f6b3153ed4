"""Layers of dreamerv3_tf.agent.nets: init, block structure, norm, conv stacks, frozen reads."""

import numpy as np
import tensorflow as tf

from dreamerv3_tf.agent import nets


def test_linear_init_is_truncated_fan_in_and_outscale():
  with nets.init_seed(0):
    layer = nets.Linear(400, 300)
    small = nets.Linear(400, 300, outscale=0.01)
    zero = nets.Linear(400, 300, outscale=0.0)
  w = layer.kernel.numpy()
  std = 1.1368 / np.sqrt(400)
  # Truncation at 2 std shrinks the std by 1/1.1368: the corrected std is 1/sqrt(fan_in).
  np.testing.assert_allclose(w.std(), 1 / np.sqrt(400), rtol=0.02)
  assert np.abs(w).max() <= 2 * std + 1e-6
  np.testing.assert_allclose(small.kernel.numpy().std(), 0.01 / np.sqrt(400), rtol=0.02)
  assert not zero.kernel.numpy().any() and not layer.bias.numpy().any()


def test_init_seed_reproducible():
  with nets.init_seed(3):
    a = nets.Linear(8, 4).kernel.numpy()
  with nets.init_seed(3):
    b = nets.Linear(8, 4).kernel.numpy()
  with nets.init_seed(4):
    c = nets.Linear(8, 4).kernel.numpy()
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_block_linear_equals_block_diagonal_dense():
  with nets.init_seed(1):
    layer = nets.BlockLinear(12, 8, blocks=4)
  layer.bias.assign(np.arange(8, dtype=np.float32))
  k = layer.kernel.numpy()                                # [4, 3, 2]
  dense = np.zeros((12, 8), np.float32)
  for g in range(4):
    dense[3 * g:3 * g + 3, 2 * g:2 * g + 2] = k[g]
  x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
  np.testing.assert_allclose(layer(x).numpy(), x @ dense + np.arange(8), atol=1e-5)
  # Fan-in of a block-linear layer is the full input size (official init).
  with nets.init_seed(2):
    big = nets.BlockLinear(1024, 1024, blocks=8)
  np.testing.assert_allclose(big.kernel.numpy().std(), 1 / np.sqrt(1024), rtol=0.03)


def test_rmsnorm_matches_numpy_and_keeps_dtype():
  norm = nets.RMSNorm(6)
  norm.scale.assign(np.linspace(0.5, 2, 6).astype(np.float32))
  x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
  want = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-4) * np.linspace(0.5, 2, 6)
  np.testing.assert_allclose(norm(x).numpy(), want, rtol=1e-5)
  mixed = nets.RMSNorm(6, dtype=nets.policy('bfloat16'))
  y = mixed(x)  # computed in float32, returned in the bfloat16 compute dtype
  assert y.dtype == tf.bfloat16 and mixed.scale.dtype == 'float32'
  np.testing.assert_allclose(y.numpy().astype(np.float32), x / np.sqrt(
      (x ** 2).mean(-1, keepdims=True) + 1e-4), rtol=2e-2, atol=2e-2)


def test_mlp_shapes_and_no_layers():
  mlp = nets.MLP(5, 2, 7)
  assert mlp(tf.zeros((2, 3, 5))).shape == (2, 3, 7)
  assert mlp(tf.zeros((4, 5))).shape == (4, 7)
  ident = nets.MLP(5, 0, 7)
  assert ident.outdim == 5 and ident(tf.ones((2, 5))).shape == (2, 5)


def test_conv_stacks_shapes_and_range():
  enc = nets.ConvEncoder((16, 16, 3), depth=2, mults=(2, 3), kernel=5)
  img = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
  tokens = enc(tf.constant(img))
  assert tokens.shape == (3, 4 * 4 * 6) and enc.outdim == 96
  dec = nets.ConvDecoder((16, 16, 3), deter=8, stoch=6, depth=2, mults=(2, 3),
                         kernel=5, units=4, bspace=2)
  out = dec(tf.random.normal((3, 8)), tf.random.normal((3, 6))).numpy()
  assert out.shape == (3, 16, 16, 3) and out.min() >= 0 and out.max() <= 1


def test_conv_stack_rejects_bad_resolution():
  """A config error naming the key (it was an 'unexpected' ValueError in main)."""
  from dreamerv3_tf.core import errors
  for make, part in ((lambda m: nets.ConvEncoder((20, 20, 3), 2, m, 5), 'enc'),
                     (lambda m: nets.ConvDecoder((64, 64, 3), 8, 2, 2, m, 5, 4, 1), 'dec')):
    mults = (2, 3, 4, 4) if part == 'enc' else (3,)
    try:
      make(mults)
    except nets.ImageSizeError as e:
      assert errors.describe(e).startswith(f'Config error: agent.{part}.mults={mults} does '
                                           'not fit images of'), errors.describe(e)
      assert e.exit_code == 2
    else:
      raise AssertionError('expected ImageSizeError')


def test_frozen_scan_matches_direct_and_gives_same_gradients():
  with nets.init_seed(0):
    layer = nets.Linear(4, 4)
  xs = tf.random.normal((6, 2, 4), seed=1)

  def run(frozen):
    with tf.GradientTape() as tape:
      weights = nets.snapshot([layer]) if frozen else None

      def step(h, x):
        if frozen:
          with nets.frozen(weights):
            return tf.tanh(layer(h + x))
        return tf.tanh(layer(h + x))
      out = tf.scan(step, xs, tf.zeros((2, 4)))
      loss = tf.reduce_sum(out ** 2)
    return out, tape.gradient(loss, [layer.kernel.value, layer.bias.value])

  out1, g1 = tf.function(lambda: run(False))()
  out2, g2 = tf.function(lambda: run(True))()
  np.testing.assert_allclose(out1.numpy(), out2.numpy(), rtol=1e-5)
  for a, b in zip(g1, g2):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_conv_on_the_upsampled_input_equals_upsample_then_conv():
  """The decoder's sub-pixel path is the same function as upsampling first, with the
  same gradients, for odd kernels (summed taps) and even ones (the plain path)."""
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=(2, 5, 6, 4)).astype(np.float32))
  for k in (1, 3, 4, 5):
    with nets.init_seed(k):
      conv = nets.Conv2D(4, 3, k)
    conv.bias.assign(rng.normal(size=3).astype(np.float32))
    outs, grads = [], []
    for fn in (lambda x: conv(nets._upsample(x)), conv.call_upsampled):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
        loss = tf.reduce_sum(y * tf.cos(y))
      outs.append(y.numpy())
      grads.append([g.numpy() for g in tape.gradient(loss, [x, conv.kernel, conv.bias])])
    assert outs[0].shape == outs[1].shape == (2, 10, 12, 3)
    # Up to 4 taps are summed before multiplying: float rounding only (seen <= 1e-6).
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    for a, b in zip(grads[1], grads[0]):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
