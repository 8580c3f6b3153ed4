"""World model parts: the RSSM (block GRU + categorical latents), Encoder, Decoder.

Shapes: B batch, T time, D deter, S stoch, C classes, A flat action size, E tokens.
A latent state is a pair (deter <[B, D]>, stoch <float32>[B, S, C] one-hot).
"""

import math

import numpy as np
import tensorflow as tf

from dreamerv3_tf.agent import dists
from dreamerv3_tf.agent import nets

sg = tf.stop_gradient


def is_image(space):
  return space.dtype == np.uint8 and len(space.shape) == 3


class RSSM(nets.Layer):
  """Recurrent state-space model (DreamerV3): deterministic block GRU + stoch.

  Args:
    act_dim: size of the flat (one-hot / continuous) action vector.
    token_dim: size of the encoder output.
    deter, hidden, stoch, classes, unimix, blocks, imglayers, obslayers,
    free_nats: as in config.agent.rssm.
  """

  def __init__(
      self, act_dim, token_dim, deter=512, hidden=64, stoch=32, classes=4,
      unimix=0.01, blocks=8, imglayers=2, obslayers=1, free_nats=1.0, **kw):
    super().__init__(**kw)
    if deter % blocks:
      raise ValueError(f'rssm.deter={deter} must be divisible by rssm.blocks={blocks}')
    self.deter, self.hidden, self.stoch, self.classes = deter, hidden, stoch, classes
    self.unimix, self.blocks, self.free_nats = unimix, blocks, free_nats
    self.act_dim, self.token_dim = act_dim, token_dim
    p = dict(dtype=self.dtype_policy)
    flat = stoch * classes
    self.dynin0 = nets.NormAct(deter, hidden, name='dynin0', **p)
    self.dynin1 = nets.NormAct(flat, hidden, name='dynin1', **p)
    self.dynin2 = nets.NormAct(act_dim, hidden, name='dynin2', **p)
    # Each group sees its own slice of deter plus all three input embeddings.
    self.dynhid = nets.BlockLinear(deter + 3 * hidden * blocks, deter, blocks,
                                   shared=3 * hidden, name='dynhid0', **p)
    self.dynhidnorm = nets.RMSNorm(deter, name='dynhid0norm', **p)
    self.dyngru = nets.BlockLinear(deter, 3 * deter, blocks, name='dyngru', **p)
    self.obslayers = self._sublayers('obs', [
        nets.NormAct(deter + token_dim if i == 0 else hidden, hidden, name=f'obs{i}', **p)
        for i in range(obslayers)])
    self.obslogit = nets.Linear(hidden if obslayers else deter + token_dim, flat,
                                name='obslogit', **p)
    self.imglayers = self._sublayers('prior', [
        nets.NormAct(deter if i == 0 else hidden, hidden, name=f'prior{i}', **p)
        for i in range(imglayers)])
    self.priorlogit = nets.Linear(hidden if imglayers else deter, flat,
                                  name='priorlogit', **p)
    self.built = True

  # --- single steps -----------------------------------------------------------

  def initial(self, batch_size):
    """-> (deter <[B, D]>, stoch <[B, S, C]>) zeros."""
    return (tf.zeros((batch_size, self.deter), tf.float32),
            tf.zeros((batch_size, self.stoch, self.classes), tf.float32))

  def core(self, deter, stoch, action):
    """One block-GRU update. -> deter <float32>[B, D]."""
    g, D = self.blocks, self.deter
    stoch = tf.reshape(stoch, (-1, self.stoch * self.classes))
    action = tf.cast(action, tf.float32)
    action = action / sg(tf.maximum(1.0, tf.abs(action)))
    x = tf.concat([self.dynin0(deter), self.dynin1(stoch), self.dynin2(action)], -1)
    # Each group reads its slice of deter and all of x (the official code tiles x).
    x = self.dynhid.call_shared(tf.reshape(deter, (-1, g, D // g)), x)
    x = nets.silu(self.dynhidnorm(x))
    # Gates group-major [g, B, 3 * D/g] (reset, candidate, update per group): see
    # BlockLinear.call_group_major.
    x = tf.cast(self.dyngru.call_group_major(x), tf.float32)
    F = D // g
    reset = tf.sigmoid(x[..., :F])
    cand = tf.tanh(reset * x[..., F:2 * F])
    update = tf.sigmoid(x[..., 2 * F:] - 1.0)
    # The blend per group, joined along features: the same arithmetic as transposing
    # [g, B, F] back to [B, D], but XLA's CPU loop over a transpose fused with the
    # blend indexes by (d // F, d % F) and stays scalar; per group it runs over
    # contiguous [B, F] rows in vector registers (README, design notes).
    deter = tf.cast(deter, tf.float32)
    return tf.concat([
        update[i] * cand[i] + (1.0 - update[i]) * deter[:, i * F:(i + 1) * F]
        for i in range(g)], -1)

  def post_logits(self, deter, tokens):
    """-> <float32>[B, S, C] posterior logits from [deter, tokens]."""
    x = tf.concat([tf.cast(deter, self.compute_dtype),
                   tf.cast(tokens, self.compute_dtype)], -1)
    for layer in self._list('obs', self.obslayers):
      x = layer(x)
    return self._logits(self.obslogit(x))

  def prior_logits(self, deter):
    """-> <float32>[..., S, C] prior logits from deter <[..., D]>."""
    lead = deter.shape[:-1]
    x = tf.reshape(deter, (-1, self.deter))
    for layer in self._list('prior', self.imglayers):
      x = layer(x)
    x = self._logits(self.priorlogit(x))
    return tf.reshape(x, (*lead, self.stoch, self.classes))

  def _logits(self, x):
    return tf.reshape(tf.cast(x, tf.float32), (-1, self.stoch, self.classes))

  def dist(self, logits):
    return dists.Categorical(logits, self.unimix)

  def obs_step(self, deter, stoch, prevact, tokens, reset, seed):
    """Posterior step. reset <bool>[B] zeroes the state and previous action.

    -> deter <[B, D]>, stoch <[B, S, C]> (sampled), logits <[B, S, C]>.
    """
    keep = tf.cast(~reset, tf.float32)[:, None]
    deter = deter * keep
    stoch = stoch * keep[:, :, None]
    prevact = prevact * keep
    deter = self.core(deter, stoch, prevact)
    logits = self.post_logits(deter, tokens)
    stoch = self.dist(logits).sample(seed)
    return deter, stoch, logits

  def img_step(self, deter, stoch, action, seed):
    """Prior step. -> deter <[B, D]>, stoch <[B, S, C]> (sampled)."""
    deter = self.core(deter, stoch, action)
    stoch = self.dist(self.prior_logits(deter)).sample(seed)
    return deter, stoch

  # --- sequences --------------------------------------------------------------

  def observe(self, deter, stoch, tokens, prevact, reset, seeds):
    """Posterior rollout over a sequence.

    Args:
      deter <[B, D]>, stoch <[B, S, C]>: state before the first step.
      tokens <[B, T, E]>, prevact <float32>[B, T, A], reset <bool>[B, T].
      seeds: <int>[T, 2] one sampling seed per step.
    Returns:
      deter <float32>[B, T, D], stoch <float32>[B, T, S, C], logits <[B, T, S, C]>.
    """
    weights = nets.snapshot([self])

    def step(carry, inp):
      deter, stoch = carry
      tok, act, res, seed = inp
      with nets.frozen(weights):
        deter, stoch, logits = self.obs_step(deter, stoch, act, tok, res, seed)
      return deter, stoch, logits

    swap = lambda x: tf.transpose(x, (1, 0, *range(2, x.shape.rank)))
    inputs = (swap(tokens), swap(prevact), swap(reset), seeds)
    init = (tf.cast(deter, tf.float32), tf.cast(stoch, tf.float32),
            tf.zeros((deter.shape[0], self.stoch, self.classes), tf.float32))
    deters, stochs, logits = tf.scan(
        lambda c, x: step(c[:2], x), inputs, init)
    return swap(deters), swap(stochs), swap(logits)

  def imagine(self, deter, stoch, policy, length, seeds, modules=()):
    """Prior rollout of `length` steps.

    Args:
      deter <[N, D]>, stoch <[N, S, C]>: start states.
      policy: either actions <float32>[N, length, A] (open loop) or a function
        (deter, stoch, seed) -> action <[N, A]> evaluated before each step.
      seeds: <int>[length, 2].
      modules: further layers `policy` uses (their weights are read once, outside).
    Returns:
      deter <[N, length, D]>, stoch <[N, length, S, C]>, actions <[N, length, A]>
      (actions[:, t] is the action taken in the state before step t).
    """
    weights = nets.snapshot([self, *modules])
    swap = lambda x: tf.transpose(x, (1, 0, *range(2, x.shape.rank)))
    N = deter.shape[0]
    if callable(policy):
      def step(carry, seed):
        deter, stoch, _ = carry
        pseed, iseed = tf.unstack(dists.split(seed, 2))
        with nets.frozen(weights):
          action = policy(deter, stoch, pseed)
          deter, stoch = self.img_step(deter, stoch, action, iseed)
        return deter, stoch, action
      inputs = seeds
      init = (deter, stoch, tf.zeros((N, self.act_dim), tf.float32))
    else:
      def step(carry, inp):
        deter, stoch, _ = carry
        action, seed = inp
        with nets.frozen(weights):
          deter, stoch = self.img_step(deter, stoch, action, seed)
        return deter, stoch, action
      inputs = (swap(policy), seeds)
      init = (deter, stoch, tf.zeros((N, self.act_dim), tf.float32))
    init = tuple(tf.cast(x, tf.float32) for x in init)
    deters, stochs, actions = tf.scan(step, inputs, init)
    return swap(deters), swap(stochs), swap(actions)

  def kl_losses(self, post_logits, prior_logits):
    """Dynamics and representation KL <[B, T]> (summed over S, clipped at free nats).

    dyn = KL(sg(post) || prior) trains the prior; rep = KL(post || sg(prior))
    trains the representation. Both on the unimix-ed distributions.
    """
    post = self.dist(post_logits).logits
    prior = self.dist(prior_logits).logits
    dyn = tf.reduce_sum(dists.kl_categorical(sg(post), prior), -1)
    rep = tf.reduce_sum(dists.kl_categorical(post, sg(prior)), -1)
    if self.free_nats:
      dyn = tf.maximum(dyn, self.free_nats)
      rep = tf.maximum(rep, self.free_nats)
    return dyn, rep


def feat(deter, stoch):
  """-> <[..., D + S * C]> the features heads read: [deter, flat stoch]."""
  stoch = tf.reshape(stoch, (*stoch.shape[:-2], stoch.shape[-2] * stoch.shape[-1]))
  return tf.concat([tf.cast(deter, tf.float32), tf.cast(stoch, tf.float32)], -1)


def _vector_keys(obs_space):
  return sorted(k for k, s in obs_space.items() if not is_image(s))


def _image_keys(obs_space):
  return sorted(k for k, s in obs_space.items() if is_image(s))


class Encoder(nets.Layer):
  """Observations -> tokens. Vectors: symlog -> MLP; images: conv stack.

  Args:
    obs_space: dict of Space without reward/is_* keys.
    depth, mults, layers, units, kernel, symlog: as in config.agent.enc.
  """

  def __init__(self, obs_space, depth=64, mults=(2, 3, 4, 4), layers=3, units=1024,
               kernel=5, symlog=True, **kw):
    super().__init__(**kw)
    self.obs_space = dict(obs_space)
    self.veckeys = _vector_keys(obs_space)
    self.imgkeys = _image_keys(obs_space)
    if not self.veckeys and not self.imgkeys:
      raise ValueError('Encoder: the observation space has no keys to encode')
    self.symlog = symlog
    p = dict(dtype=self.dtype_policy)
    self.outdim = 0
    if self.veckeys:
      vdim = sum(int(np.prod(obs_space[k].shape)) for k in self.veckeys)
      self.mlp = nets.MLP(vdim, layers, units, name='mlp', **p)
      self.outdim += self.mlp.outdim
    if self.imgkeys:
      shape = _image_shape(obs_space, self.imgkeys)
      self.cnn = nets.ConvEncoder(shape, depth, mults, kernel, name='cnn', **p)
      self.outdim += self.cnn.outdim
    self.built = True

  def call(self, obs, bdims=2):
    """obs: dict of <[*bshape, ...]> with `bdims` batch axes -> <[*bshape, E]>."""
    ref = obs[(self.veckeys or self.imgkeys)[0]]
    bshape = ref.shape[:bdims]
    n = math.prod(bshape)
    outs = []
    if self.veckeys:
      x = tf.concat([
          tf.reshape(tf.cast(obs[k], tf.float32), (n, -1)) for k in self.veckeys], -1)
      if self.symlog:
        x = dists.symlog(x)
      outs.append(tf.cast(self.mlp(x), tf.float32))
    if self.imgkeys:
      x = tf.concat([obs[k] for k in self.imgkeys], -1)
      x = tf.reshape(x, (n, *x.shape[bdims:]))
      outs.append(tf.cast(self.cnn(x), tf.float32))
    x = tf.concat(outs, -1)
    return tf.reshape(x, (*bshape, self.outdim))


def _image_shape(obs_space, keys):
  shapes = {k: obs_space[k].shape for k in keys}
  if len({s[:2] for s in shapes.values()}) > 1:
    raise ValueError(f'image keys must share height and width, got {shapes}')
  first = shapes[keys[0]]
  return (first[0], first[1], sum(s[2] for s in shapes.values()))


class Decoder(nets.Layer):
  """Latent features -> reconstruction distributions per observation key.

  Vectors: MLP on [stoch, deter] -> symlog MSE (summed over the key's dims).
  Images: ConvDecoder (block-linear from deter + projection of stoch) -> MSE
  summed over pixels. All image keys are decoded together along channels.

  Args:
    obs_space: dict of Space without reward/is_* keys.
    deter, stoch: latent sizes (stoch = S * C flat).
    depth, mults, layers, units, kernel, bspace: as in config.agent.dec.
  """

  def __init__(self, obs_space, deter, stoch, depth=64, mults=(2, 3, 4, 4),
               layers=3, units=1024, kernel=5, bspace=8, outscale=1.0, **kw):
    super().__init__(**kw)
    self.obs_space = dict(obs_space)
    self.veckeys = _vector_keys(obs_space)
    self.imgkeys = _image_keys(obs_space)
    p = dict(dtype=self.dtype_policy)
    if self.veckeys:
      self.sizes = [int(np.prod(obs_space[k].shape)) for k in self.veckeys]
      self.mlp = nets.MLP(deter + stoch, layers, units, name='mlp', **p)
      # One output layer per key (vecout<i>, sorted keys), as in the official code:
      # adaptive gradient clipping works per tensor.
      self._sublayers('vecout', [
          nets.Linear(self.mlp.outdim, n, outscale, name=f'vecout_{k}', **p)
          for k, n in zip(self.veckeys, self.sizes)])
    if self.imgkeys:
      shape = _image_shape(obs_space, self.imgkeys)
      self.cnn = nets.ConvDecoder(shape, deter, stoch, depth, mults, kernel, units,
                                  bspace, name='cnn', **p)
    self.built = True

  def call(self, deter, stoch, bdims=2):
    """deter <[*bshape, D]>, stoch <[*bshape, S, C]> -> {key: dist with loss/pred}."""
    bshape = deter.shape[:bdims]
    n = math.prod(bshape)
    deter = tf.reshape(deter, (n, deter.shape[-1]))
    stoch = tf.reshape(stoch, (n, -1))
    recons = {}
    if self.veckeys:
      x = self.mlp(tf.concat([tf.cast(stoch, tf.float32), tf.cast(deter, tf.float32)], -1))
      for i, k in enumerate(self.veckeys):
        part = tf.cast(getattr(self, f'vecout{i}')(x), tf.float32)
        shape = self.obs_space[k].shape
        recons[k] = dists.SymlogMSE(tf.reshape(part, (*bshape, *shape)), len(shape))
    if self.imgkeys:
      x = self.cnn(deter, stoch)
      x = tf.reshape(x, (*bshape, *x.shape[1:]))
      chans = [self.obs_space[k].shape[-1] for k in self.imgkeys]
      for k, part in zip(self.imgkeys, tf.split(x, chans, -1)):
        recons[k] = dists.MSE(part, 3)
    return recons
