"""Layers of the agent: Linear, BlockLinear, Conv2D, RMSNorm, MLP, conv stacks.

Every layer is a Keras layer that creates its weights in `__init__` from explicit
input sizes, so the agent's variables all exist before anything is traced and the
checkpoint keys are the attribute names. The call bodies are plain TensorFlow ops.

Weights are initialised with a truncated normal (within 2 std) scaled by
1.1368 / sqrt(fan_in) (1.1368 undoes the variance lost by truncating), times
`outscale`; biases start at zero. Block-linear layers use the full input size as
fan-in, like the official code. Draws come from a numpy generator installed with
`init_seed(seed)`, so the same seed builds the same agent.

Loops (`tf.scan`) must not read variables in their body, nor compute anything from a
weight there: such a value is saved per iteration for the backward pass. `snapshot`
reads every weight once, outside, together with the values layers derive from their
weights (`derive()`); `frozen(snapshot)` maps the variables to those tensors inside
its scope (Keras `StatelessScope`), and `derived(layer)` gives the derived values.
"""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf

from dreamerv3_tf.core import base

_RNGS = []


@contextlib.contextmanager
def init_seed(seed):
  """Weights created inside this block draw from `np.random.default_rng(seed)`."""
  _RNGS.append(np.random.default_rng(seed))
  try:
    yield
  finally:
    _RNGS.pop()


def _rng():
  if not _RNGS:
    _RNGS.append(np.random.default_rng())
  return _RNGS[-1]


def trunc_normal(shape, fan_in, scale=1.0):
  """<float32>[shape] truncated normal in [-2, 2] std, std 1.1368 * scale / sqrt(fan_in)."""
  rng = _rng()
  x = rng.standard_normal(shape)
  bad = np.abs(x) > 2
  while bad.any():
    x[bad] = rng.standard_normal(int(bad.sum()))
    bad = np.abs(x) > 2
  return (x * (1.1368 * scale / math.sqrt(fan_in))).astype(np.float32)


def silu(x):
  return x * tf.sigmoid(x)


def policy(compute_dtype):
  """Keras dtype policy for a compute dtype name ('float32' or 'bfloat16')."""
  if compute_dtype in ('float32', None):
    return keras.DTypePolicy('float32')
  if compute_dtype == 'bfloat16':
    return keras.DTypePolicy('mixed_bfloat16')
  if compute_dtype == 'float16':
    return keras.DTypePolicy('mixed_float16')
  raise ValueError(f'compute_dtype: expected float32|bfloat16, got {compute_dtype!r}')


class Layer(keras.layers.Layer):
  """A Keras layer whose weights are made in `__init__` (numpy initial values)."""

  def _weight(self, name, value, trainable=True):
    value = np.asarray(value, np.float32)
    return self.add_weight(
        shape=value.shape, name=name, trainable=trainable, dtype='float32',
        initializer=lambda shape, dtype=None: tf.constant(value, dtype or tf.float32),
        autocast=False)

  def _sublayers(self, prefix, layers):
    """Sets each layer as attribute `<prefix><i>` (so tf.train.Checkpoint sees it;
    it does not see into Keras-tracked lists) and returns the count."""
    for i, layer in enumerate(layers):
      setattr(self, f'{prefix}{i}', layer)
    return len(layers)

  def _list(self, prefix, count):
    return [getattr(self, f'{prefix}{i}') for i in range(count)]

  def _cast(self, x):
    return tf.cast(x, self.compute_dtype)

  def _w(self, var):
    """The variable's value in compute dtype (mapped inside `frozen`)."""
    return tf.cast(var.value, self.compute_dtype)


class Linear(Layer):
  """y = x @ W + b over the last axis. <[..., inp]> -> <[..., units]>."""

  def __init__(self, inp, units, outscale=1.0, bias=True, **kw):
    super().__init__(**kw)
    self.inp, self.units = int(inp), int(units)
    self.kernel = self._weight('kernel', trunc_normal(
        (self.inp, self.units), self.inp, outscale) if outscale else
        np.zeros((self.inp, self.units)))
    self.bias = self._weight('bias', np.zeros(self.units)) if bias else None
    self.built = True

  def call(self, x):
    x = self._cast(x)
    assert x.shape[-1] == self.inp, (self.name, self.inp, x.shape)
    if x.shape.rank == 2:
      y = tf.matmul(x, self._w(self.kernel))
    else:
      y = tf.tensordot(x, self._w(self.kernel), [[x.shape.rank - 1], [0]])
    if self.bias is not None:
      y = y + self._w(self.bias)
    return y


class BlockLinear(Layer):
  """Block-diagonal linear: `blocks` independent groups. <[B, inp]> -> <[B, units]>.

  The kernel is stored block-major <[blocks, inp/blocks, units/blocks]>.
  """

  def __init__(self, inp, units, blocks, outscale=1.0, bias=True, shared=0, **kw):
    super().__init__(**kw)
    assert inp % blocks == 0 and units % blocks == 0, (inp, units, blocks)
    self.inp, self.units, self.blocks = int(inp), int(units), int(blocks)
    self.shared = int(shared)   # of each group's inputs, the last `shared` (call_shared)
    assert 0 <= self.shared <= self.inp // self.blocks, (shared, inp, blocks)
    shape = (blocks, inp // blocks, units // blocks)
    self.kernel = self._weight('kernel', trunc_normal(shape, self.inp, outscale))
    self.bias = self._weight('bias', np.zeros(self.units)) if bias else None
    self.built = True

  def call(self, x):
    """x: <[B, inp]> flat, or <[B, blocks, inp/blocks]> grouped -> <[B, units]>."""
    x = self._cast(x)
    g = self.blocks
    if x.shape.rank == 2:
      x = tf.reshape(x, (-1, g, self.inp // g))
    y = tf.einsum('bgi,gio->bgo', x, self._w(self.kernel))
    y = tf.reshape(y, (-1, self.units))
    if self.bias is not None:
      y = y + self._w(self.bias)
    return y

  def derive(self):
    """-> {'own' <[blocks, i - shared, o]>, 'wide' <[shared, units]>}: the kernel rows
    of each group's own inputs, and of the shared inputs with the groups side by side."""
    if not self.shared:
      return {}
    kernel = self._w(self.kernel)                       # [g, i, o]
    own = kernel.shape[1] - self.shared
    wide = tf.reshape(tf.transpose(kernel[:, own:], (1, 0, 2)), (self.shared, self.units))
    return {'own': kernel[:, :own], 'wide': wide}

  def call_shared(self, own, shared):
    """As `call` on each group's input [own <[B, blocks, i]>, shared <[B, shared]>]
    (the shared part the same for every group, as if tiled) -> <[B, units]>.

    The same sums as tiling: the own part as the block matmul, the shared part as one
    dense matmul against the groups' kernel rows side by side. No tiled copy of the
    shared input, and one wide matmul instead of `blocks` narrow ones. In a loop,
    the kernel's parts come from the snapshot (`derived`), not from per-step slices;
    outside loops the shared part is tiled (the official form, no kernel copy).
    """
    own, shared = self._cast(own), self._cast(shared)
    assert shared.shape[-1] == self.shared, (shared.shape, self.shared)
    parts = derived(self)
    if parts is None:
      # Outside a loop (the policy step) the kernel's parts would be derived on every
      # call: a transposing copy of the kernel (60-90 µs of a size1m policy call). The
      # tiled input costs B x shared floats instead.
      tiled = tf.tile(shared[:, None], (1, self.blocks, 1))
      return self.call(tf.concat([own, tiled], -1))
    y = tf.reshape(tf.einsum('bgi,gio->bgo', own, parts['own']), (-1, self.units))
    y = y + tf.matmul(shared, parts['wide'])
    if self.bias is not None:
      y = y + self._w(self.bias)
    return y

  def call_group_major(self, x):
    """x <[B, inp]> -> <[blocks, B, units/blocks]>: each group's output, groups first.

    The layout XLA's batched dot produces: element-wise work that follows runs on it
    without a transpose in its loop (on CPU, transposing reads in a fused loop of
    sigmoids and tanhs made it several times slower, bench/train_profile.py).
    """
    x = self._cast(x)
    g = self.blocks
    x = tf.transpose(tf.reshape(x, (-1, g, self.inp // g)), (1, 0, 2))
    y = tf.matmul(x, self._w(self.kernel))
    if self.bias is not None:
      y = y + tf.reshape(self._w(self.bias), (g, 1, self.units // g))
    return y


class Conv2D(Layer):
  """Same-padded stride-1 convolution. <[B, H, W, inp]> -> <[B, H, W, depth]>."""

  def __init__(self, inp, depth, kernel, outscale=1.0, **kw):
    super().__init__(**kw)
    self.inp, self.depth, self.k = int(inp), int(depth), int(kernel)
    shape = (self.k, self.k, self.inp, self.depth)
    self.kernel = self._weight(
        'kernel', trunc_normal(shape, self.k * self.k * self.inp, outscale))
    self.bias = self._weight('bias', np.zeros(self.depth))
    self.built = True

  def call(self, x):
    x = self._cast(x)
    y = tf.nn.conv2d(x, self._w(self.kernel), 1, 'SAME')
    return y + self._w(self.bias)

  def call_upsampled(self, x):
    """`call(_upsample(x))`, computed on x: <[B, H, W, inp]> -> <[B, 2H, 2W, depth]>.

    Each output pixel of a phase (row parity a, column parity b) sees the repeated
    input through a smaller kernel: the taps that land on the same input pixel,
    summed (`_subpixel_kernel`). One convolution on x gives all four phases as
    channels, then they are interleaved. The same function as upsampling first;
    its sums differ by float rounding. 9 taps per output pixel for a 5x5 kernel
    instead of 25, and the backward pass transposes x, not its 4x larger upsample.
    """
    if self.k % 2 == 0:
      return self.call(_upsample(x))
    _, H, W, _ = x.shape
    # The phases' kernel is summed in the variable's dtype, then cast (mixed precision).
    kernel = tf.cast(_subpixel_kernel(self.kernel.value, self.k), self.compute_dtype)
    y = tf.nn.conv2d(self._cast(x), kernel, 1, 'SAME')      # [B, H, W, 2 * 2 * depth]
    y = tf.reshape(y, (-1, H, W, 2, 2, self.depth))
    y = tf.reshape(tf.transpose(y, (0, 1, 3, 2, 4, 5)), (-1, 2 * H, 2 * W, self.depth))
    return y + self._w(self.bias)


def _subpixel_kernel(kernel, k):
  """<[k, k, I, O]> -> <[m, m, I, 4 O]>: for each output phase (a, b), the kernel on
  the un-upsampled input (channels ordered a, b, O).

  With padding p = k // 2, tap d of output row 2i + a reads upsampled row
  2i + a + d - p, which is input row i + (a + d - p) // 2. For odd k these offsets
  span a range centred on 0, m wide, so a SAME m x m convolution aligns them.
  """
  p = k // 2
  offsets = [[(a + d - p) // 2 for d in range(k)] for a in (0, 1)]
  low = min(min(o) for o in offsets)
  m = max(max(o) for o in offsets) - low + 1
  taps = np.zeros((2, k, m), np.float32)                # taps[a, d, u]: tap d -> offset u
  for a in (0, 1):
    for d in range(k):
      taps[a, d, offsets[a][d] - low] = 1
  taps = tf.constant(taps, kernel.dtype)
  out = tf.einsum('adu,bev,deio->uviabo', taps, taps, kernel)
  return tf.reshape(out, (m, m, kernel.shape[2], 4 * kernel.shape[3]))


class RMSNorm(Layer):
  """Scale-only RMS normalisation over the last axis, computed in float32."""

  def __init__(self, dim, eps=1e-4, **kw):
    super().__init__(**kw)
    self.eps = eps
    self.scale = self._weight('scale', np.ones(int(dim)))
    self.built = True

  def call(self, x):
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    mean2 = tf.reduce_mean(tf.square(x), -1, keepdims=True)
    x = x * (tf.math.rsqrt(mean2 + self.eps) * self.scale.value)
    return tf.cast(x, dtype if dtype.is_floating else self.compute_dtype)


class NormAct(Layer):
  """Linear -> RMSNorm -> SiLU, the unit block of every network here."""

  def __init__(self, inp, units, **kw):
    super().__init__(**kw)
    self.linear = Linear(inp, units, dtype=self.dtype_policy, name='linear')
    self.norm = RMSNorm(units, dtype=self.dtype_policy, name='norm')
    self.built = True

  def call(self, x):
    return silu(self.norm(self.linear(x)))


class MLP(Layer):
  """`layers` x (Linear, RMSNorm, SiLU). <[..., inp]> -> <[..., units]> (inp if 0 layers)."""

  def __init__(self, inp, layers, units, **kw):
    super().__init__(**kw)
    self.nlayers = self._sublayers('layer', [
        NormAct(inp if i == 0 else units, units, dtype=self.dtype_policy,
                name=f'layer{i}') for i in range(layers)])
    self.outdim = units if layers else inp
    self.built = True

  def call(self, x):
    layers = self._list('layer', self.nlayers)
    if x.shape.rank == 2:
      for layer in layers:
        x = layer(x)
      return x
    lead = x.shape[:-1]
    lead = lead.as_list() if lead.is_fully_defined() else tf.shape(x)[:-1]
    x = tf.reshape(x, (-1, x.shape[-1]))
    for layer in layers:
      x = layer(x)
    return tf.reshape(x, tf.concat([lead, [self.outdim]], 0))


def _maxpool(x):
  """2x2 max-pool, stride 2, as a max over reshaped windows (as the official code).

  Its gradient splits evenly between tied maxima, like JAX's; MaxPool's goes to the
  first. On CPU, XLA's MaxPool gradient (argmax indices, then a scatter fused into the
  bias gradient's sum) took 2 s of a size12m vision update (bench/train_profile.py).
  """
  B, H, W, C = x.shape
  if H % 2 or W % 2:
    return tf.nn.max_pool2d(x, 2, 2, 'VALID')
  x = tf.reshape(x, (-1, H // 2, 2, W // 2, 2, C))
  return tf.reduce_max(x, (2, 4))


def _upsample(x):
  """Nearest-neighbour 2x upsampling (repeat rows and columns)."""
  B, H, W, C = x.shape
  B = tf.shape(x)[0] if B is None else B
  x = tf.broadcast_to(x[:, :, None, :, None, :], (B, H, 2, W, 2, C))
  return tf.reshape(x, (B, 2 * H, 2 * W, C))


class ImageSizeError(base.UserError, ValueError):
  """agent.enc/dec.mults that do not fit the env's images: a config error, found
  only once the env says its image size."""

  prefix = 'Config error'
  exit_code = 2


def _check_image_size(shape, mults, part):
  H, W = shape[:2]
  problem = base.image_stages_problem(H, W, mults)
  if problem:
    raise ImageSizeError(
        f'agent.{part}.mults={tuple(mults)} does not fit images of {H}x{W}: {problem}')


class ConvEncoder(Layer):
  """Image stack: per stage conv(kernel) -> 2x2 max-pool -> RMSNorm -> SiLU.

  <uint8>[N, H, W, C] -> <[N, h * w * depth * mults[-1]]>, pixels scaled to [-0.5, 0.5].
  """

  def __init__(self, shape, depth, mults, kernel, **kw):
    super().__init__(**kw)
    H, W, C = shape
    self.depths = [depth * m for m in mults]
    factor = 2 ** len(self.depths)
    _check_image_size(shape, mults, 'enc')
    convs, norms = [], []
    inp = C
    for i, d in enumerate(self.depths):
      convs.append(Conv2D(inp, d, kernel, dtype=self.dtype_policy, name=f'conv{i}'))
      norms.append(RMSNorm(d, dtype=self.dtype_policy, name=f'norm{i}'))
      inp = d
    self.nconv = self._sublayers('conv', convs)
    self._sublayers('norm', norms)
    self.outdim = (H // factor) * (W // factor) * self.depths[-1]
    self.built = True

  def call(self, x):
    x = tf.cast(x, self.compute_dtype) / 255.0 - 0.5
    for conv, norm in zip(self._list('conv', self.nconv), self._list('norm', self.nconv)):
      x = silu(norm(_maxpool(conv(x))))
    return tf.reshape(x, (-1, self.outdim))


class ConvDecoder(Layer):
  """Image decoder: latent -> minres grid -> (upsample, conv, norm, act)* -> sigmoid.

  The grid comes from a block-linear projection of `deter` (bspace groups, each
  filling its own channels of the grid) plus a two-layer projection of `stoch`.
  (<[N, deter]>, <[N, stoch * classes]>) -> <float32>[N, H, W, C] in [0, 1].
  """

  def __init__(self, shape, deter, stoch, depth, mults, kernel, units, bspace, **kw):
    super().__init__(**kw)
    H, W, C = shape
    self.depths = [depth * m for m in mults]
    factor = 2 ** len(self.depths)
    self.minres = (H // factor, W // factor)
    _check_image_size(shape, mults, 'dec')
    top = self.depths[-1]
    if deter % bspace or top % bspace:
      raise ValueError(f'dec.bspace={bspace} must divide deter={deter} and depth {top}')
    self.bspace = bspace
    h, w = self.minres
    p = dict(dtype=self.dtype_policy)
    self.sp0 = BlockLinear(deter, h * w * top, bspace, name='sp0', **p)
    self.sp1 = NormAct(stoch, 2 * units, name='sp1', **p)
    self.sp2 = Linear(2 * units, h * w * top, name='sp2', **p)
    self.spnorm = RMSNorm(top, name='spnorm', **p)
    convs, norms = [], []
    inp = top
    for i in reversed(range(len(self.depths) - 1)):
      d = self.depths[i]
      convs.append(Conv2D(inp, d, kernel, name=f'conv{i}', **p))
      norms.append(RMSNorm(d, name=f'conv{i}norm', **p))
      inp = d
    self.nconv = self._sublayers('conv', convs)  # conv0 is the first (coarsest) one
    self._sublayers('norm', norms)
    self.out = Conv2D(inp, C, kernel, name='imgout', **p)
    self.built = True

  def call(self, deter, stoch):
    h, w = self.minres
    g, top = self.bspace, self.depths[-1]
    x0 = self.sp0(deter)                                   # [N, g * h * w * top/g]
    x0 = tf.reshape(x0, (-1, g, h, w, top // g))
    x0 = tf.reshape(tf.transpose(x0, (0, 2, 3, 1, 4)), (-1, h, w, top))
    x1 = tf.reshape(self.sp2(self.sp1(stoch)), (-1, h, w, top))
    x = silu(self.spnorm(x0 + x1))
    for conv, norm in zip(self._list('conv', self.nconv), self._list('norm', self.nconv)):
      x = silu(norm(conv.call_upsampled(x)))
    x = self.out.call_upsampled(x)
    return tf.sigmoid(tf.cast(x, tf.float32))


def weights(layers):
  """All weights (trainable and not) of a list of layers, without duplicates."""
  seen, out = set(), []
  for layer in layers:
    for v in layer.weights:
      if id(v) not in seen:
        seen.add(id(v))
        out.append(v)
  return out


class Snapshot:
  """Weights read once, and the values layers derive from them (a kernel's slice or
  transpose): computed outside a loop, so the loop saves none of them per step."""

  def __init__(self, mapping, derived):
    self.mapping, self.derived = mapping, derived


_DERIVED = []


def snapshot(layers):
  """Reads every weight once, and computes every sublayer's `derive()`, for
  `frozen`. Call outside loops."""
  mapping = [(v, tf.identity(v.value)) for v in weights(layers)]
  derived = {}
  with keras.StatelessScope(state_mapping=mapping):
    for layer in layers:
      for sub in layer._flatten_layers(include_self=True, recursive=True):
        if hasattr(sub, 'derive') and id(sub) not in derived:
          derived[id(sub)] = sub.derive()
  return Snapshot(mapping, derived)


@contextlib.contextmanager
def frozen(snap):
  """Inside, reading a mapped Keras variable gives its snapshot tensor, and
  `derived(layer)` the layer's values derived from it."""
  with keras.StatelessScope(state_mapping=snap.mapping):
    _DERIVED.append(snap.derived)
    try:
      yield
    finally:
      _DERIVED.pop()


def derived(layer):
  """`layer.derive()` as computed by the innermost `frozen` scope's snapshot, or None."""
  return _DERIVED[-1].get(id(layer)) if _DERIVED else None
