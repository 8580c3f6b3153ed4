"""The DreamerV3 model: world model, actor-critic and their losses, on tensors only.

  model = Model(obs_space, act_space, config)      # agent-facing spaces, configs/base.py
  carry, act, out = model.policy_step(carry, obs, greedy, seed)
  carry, outs, metrics = model.train_step(carry, data, seed)
  carry, metrics = model.report_step(carry, data, seed)

Tensors in, tensors out: everything here is traceable under one tf.function and
knows nothing of numpy, compiling or where seeds come from. `agent.Agent` is the
boundary around it (numpy checks, compile, strategy, seeds); the SavedModel export
traces `policy_step` on its own. All variables (models, optimizer slots, return
normaliser, slow critic) exist after `__init__`.
"""

import contextlib
import types

import numpy as np
import tensorflow as tf

from dreamerv3_tf import distribute
from dreamerv3_tf.agent import behavior
from dreamerv3_tf.agent import dists
from dreamerv3_tf.agent import heads
from dreamerv3_tf.agent import nets
from dreamerv3_tf.agent import optim
from dreamerv3_tf.agent import rssm
from dreamerv3_tf.core import base

sg = tf.stop_gradient
f32 = tf.float32
META = base.OBS_META_KEYS


def check_spaces(task, obs_space, act_space):
  """Raises base.EnvError naming the first key the model cannot encode or act on
  (they failed in the layers' constructors as an 'unexpected' AssertionError or
  ZeroDivisionError naming no key)."""
  model_obs = {k: v for k, v in obs_space.items() if k not in META}
  for what, spaces in (('obs', model_obs), ('action', act_space)):
    if spaces and all(0 in space.shape for space in spaces.values()):
      shapes = ', '.join(f'{k!r} {spaces[k].shape}' for k in sorted(spaces))
      raise base.EnvError(f'{task} {what} {shapes} hold no values: the model needs one '
                       f'{what} key with a size')
  # A step-dict env's images are not resized to one size, as a gymnasium env's are.
  images = [(k, s.shape[:2]) for k, s in sorted(model_obs.items()) if rssm.is_image(s)]
  other = next((x for x in images if x[1] != images[0][1]), None)
  if other:
    (a, (h, w)), (b, (h2, w2)) = images[0], other
    raise base.EnvError(
        f'{task} obs images {a!r} {h}x{w} and {b!r} {h2}x{w2}: the model stacks its uint8 '
        'images along channels, so they must share height and width; return them at one size')
  one_of_n = 'a discrete action is one integer from 0 to n - 1 (gymnasium Discrete(n))'
  for key, space in act_space.items():
    if not space.discrete:
      continue
    if space.dtype == bool or space.shape != ():
      raise base.EnvError(f'{task} action {key!r} is {space}: {one_of_n}; give several as a '
                       'dict of them')
    if space.low != 0 or space.high >= np.iinfo(space.dtype).max:
      raise base.EnvError(f'{task} action {key!r} is {space}: {one_of_n}, so its space '
                       'needs low 0 and high n')


class Model(tf.Module):
  """DreamerV3 (current official version) in Keras 3 / TensorFlow 2.

  Args:
    obs_space: dict of Space: the observation keys and reward/is_first/is_last/
      is_terminal (no 'log/' keys: core.base.agent_spaces).
    act_space: dict of Space of the action keys (no 'reset').
    config: the whole ConfigDict of configs/base.py.
  """

  def __init__(self, obs_space, act_space, config):
    tf.Module.__init__(self, name='model')
    check_spaces(config.task, obs_space, act_space)
    model_space = {k: v for k, v in obs_space.items() if k not in META}
    a = config.agent
    # Plain values, outside the checkpoint graph.
    self._s = types.SimpleNamespace(
        obs_space=dict(obs_space), config=config, context=int(config.replay_context),
        scales=dict(a.loss_scales))
    p = dict(dtype=nets.policy(config.compute_dtype))
    with nets.init_seed(int(config.seed)):
      self.enc = rssm.Encoder(model_space, **a.enc, name='enc', **p)
      act_dim = sum(heads.action_dims(act_space).values())
      self.dyn = rssm.RSSM(act_dim, self.enc.outdim, **a.rssm, name='dyn', **p)
      D, S = self.dyn.deter, self.dyn.stoch * self.dyn.classes
      self.dec = rssm.Decoder(model_space, D, S, **a.dec, name='dec', **p)
      F = D + S
      self.rew = heads.TwoHotHead(F, **a.rewhead, name='rew', **p)
      self.con = heads.BinaryHead(F, **a.conhead, name='con', **p)
      self.pol = heads.PolicyHead(F, act_space, **a.policy, name='pol', **p)
      self.val = heads.TwoHotHead(F, **a.value, name='val', **p)
      self.slowval = heads.TwoHotHead(F, **a.value, name='slowval', **p)
    self.slowval.trainable = False
    # Its statistics are float32 whatever the compute dtype; named, not the host's
    # Keras policy (set_global_policy('mixed_float16') made its compute_dtype float16).
    self.retnorm = behavior.ReturnNormalizer(**a.retnorm, name='retnorm', dtype='float32')
    self.slowval_updates = tf.Variable(0, dtype=tf.int64, trainable=False,
                                       name='slowval_updates')
    self._s.slow = behavior.SlowCritic(
        self.val, self.slowval, self.slowval_updates, **a.slowvalue)
    self._s.slow.copy()
    self.opt = optim.Optimizer(**a.opt)
    self.opt.build(self.trainable_weights)

  @property
  def modules(self):
    return [self.enc, self.dyn, self.dec, self.rew, self.con, self.pol, self.val]

  @property
  def trainable_weights(self):
    return [v for m in self.modules for v in m.trainable_weights]

  @property
  def loss_terms(self):
    """Names of the `loss/<name>` train metrics, in the order the train step computes
    them (world model, then actor and critic): the first non-finite one is nearest
    the cause (run/nonfinite.py)."""
    recons = (*self.dec.veckeys, *self.dec.imgkeys)
    repval = ('repval',) if self._s.config.agent.repval_loss else ()
    return ('dyn', 'rep', *recons, 'rew', 'con', 'policy', 'value', *repval)

  @property
  def encoded_keys(self):
    """The observation keys the encoder reads (sorted)."""
    return sorted(self.dec.obs_space)

  def carry_shapes(self):
    """-> {name: shape without the batch axis} of the policy, train and report carries."""
    return {'deter': (self.dyn.deter,), 'stoch': (self.dyn.stoch, self.dyn.classes),
            'prevact': (sum(self.pol.dims.values()),)}

  def latent_shapes(self):
    """-> {replay key: per-step shape} of the latents stored for replay_context."""
    return {'dyn/deter': (self.dyn.deter,), 'dyn/stoch': (self.dyn.stoch, self.dyn.classes)}

  # --- policy -----------------------------------------------------------------

  def policy_step(self, carry, obs, greedy, seed):
    """One policy step on tensors, traceable for an unknown batch size B.

    Shared by `Agent.policy` and the SavedModel export (`dreamerv3_tf.export`).
    Args:
      carry: {'deter' <float32>[B, D], 'stoch' <float32>[B, S, C], 'prevact' <float32>[B, A]}.
      obs: {key: <[B, ...]>} the encoder keys (uint8 images, float32 vectors, int32)
        and 'is_first' <bool>[B].
      greedy: <bool>[] take the modes (latent and action) instead of samples.
      seed: <int64>[2] stateless seed of this step.
    Returns:
      carry, act {key: <[B, ...]> env actions}, out {'dyn/deter', 'dyn/stoch'}.
    """
    seeds = dists.split(seed, 1 + len(self.pol.keys))
    encoded = {k: obs[k] for k in self.dec.obs_space}
    tokens = _any_batch(lambda x: self.enc(x, bdims=1), encoded)
    deter, stoch, logits = self.dyn.obs_step(
        carry['deter'], carry['stoch'], carry['prevact'], tokens, obs['is_first'], seeds[0])
    # Greedy eval is free of sampling noise, also in the latent (official: samples).
    stoch = tf.where(greedy, self.dyn.dist(logits).mode(), stoch)
    dist = self.pol(_any_batch(lambda x: rssm.feat(*x), (deter, stoch)))
    acts = {}
    for i, k in enumerate(self.pol.keys):
      acts[k] = tf.where(greedy, dist[k].mode(), dist[k].sample(seeds[1 + i]))
    flat = self.pol.flat(acts)
    carry = {'deter': deter, 'stoch': stoch, 'prevact': flat}
    out = {'dyn/deter': deter, 'dyn/stoch': stoch}
    return carry, _any_batch(self.pol.decode, flat), out

  # --- train ------------------------------------------------------------------

  def _split_context(self, carry, data):
    """-> start (deter, stoch), obs, prevact <[B, T', A]>, stepid for the loss steps."""
    K = self._s.context
    acts = self.pol.encode({k: data[k] for k in self.pol.keys})   # [B, T, A]
    obs = {k: data[k][:, K:] for k in self._s.obs_space}
    if K:
      deter = data['dyn/deter'][:, K - 1]
      stoch = data['dyn/stoch'][:, K - 1]
      prevact = acts[:, K - 1:-1]
    else:
      deter, stoch = carry['deter'], carry['stoch']
      prevact = tf.concat([carry['prevact'][:, None], acts[:, :-1]], 1)
    return (deter, stoch), obs, prevact, data['stepid'][:, K:], acts[:, -1]

  def train_step(self, carry, data, seed):
    """One update on a batch; under a strategy, this replica's rows of it.

    Args:
      carry: as in `policy_step`, for the B rows of the batch.
      data: {key: <[B, T, ...]>} obs and action keys, 'stepid' and, with
        replay_context K > 0, the stored 'dyn/deter' and 'dyn/stoch'.
      seed: <int64>[2] stateless seed of this update (and replica).
    Returns:
      carry, outs {'replay': {'stepid', 'dyn/deter', 'dyn/stoch'} <[B, T - K, ...]>},
      metrics {name: <float32>[]}.
    """
    grads, aux, stepid, lastact = self.train_grads(carry, data, seed)
    # Mean over replicas = the gradient of the mean loss over the whole batch;
    # every replica then applies the same update to its copy of the variables.
    grads = distribute.all_mean(grads)
    metrics = aux['metrics']
    with tf.name_scope('opt'):
      opt_metrics = self.opt.apply(grads, self.trainable_weights)
      self._s.slow.update()
    metrics.update({f'opt/{k}': v for k, v in opt_metrics.items()})
    deter, stoch = aux['deter'], aux['stoch']
    outs = {'replay': {'stepid': stepid, 'dyn/deter': deter, 'dyn/stoch': stoch}}
    carry = {'deter': deter[:, -1], 'stoch': stoch[:, -1], 'prevact': lastact}
    return carry, outs, metrics

  def train_grads(self, carry, data, seed):
    """The first half of a train step: the gradients, before the update.

    Updates the return normalizer, like `train_step`; nothing else. The parity test
    calls it eagerly to compare gradients and intermediate values.
    Returns:
      grads (one per `trainable_weights`), aux (see `loss`), stepid, the last action.
    """
    start, obs, prevact, stepid, lastact = self._split_context(carry, data)
    variables = self.trainable_weights
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([v.value for v in variables])
      loss, aux = self.loss(start, obs, prevact, seed, tape)
    grads = tape.gradient(loss, [v.value for v in variables])
    return grads, aux, stepid, lastact

  def loss(self, start, obs, prevact, seed, tape=None):
    """World-model, actor, critic and replay-value losses.

    Args:
      start: (deter <[B, D]>, stoch <[B, S, C]>) before the first step.
      obs: {key: <[B, T, ...]>}; prevact: <float32>[B, T, A].
      tape: the GradientTape of an update (imagination runs outside it), or None
        (a report: the return normaliser is not updated).
    Returns:
      loss <float32>[], aux {'metrics', 'deter', 'stoch', 'recons', ...}; the other
      aux entries (tokens, logits, per-step losses, head outputs, imagination) are
      for inspection: traced functions that do not return them drop them.
    """
    seeds = dists.split(seed, 3)
    # The name scopes mark the phases in profiles (bench/train_profile.py).
    with tf.name_scope('wm'):
      losses, metrics, post = self._world_model_loss(start, obs, prevact, seeds[0])
    with tf.name_scope('imag'):
      imag_losses, imag_metrics, imag = self._imagination_loss(
          post['deter'], post['stoch'], seeds[1], tape)
    losses.update(imag_losses)
    metrics.update(imag_metrics)
    repl = {}
    if self._s.config.agent.repval_loss:
      with tf.name_scope('repl'):
        repl_losses, repl = self._replay_value_loss(obs, post['feat'], imag['boot'], tape)
      losses.update(repl_losses)
    loss, loss_metrics = self._total(losses, post['recons'])
    metrics.update(loss_metrics)
    aux = {'metrics': metrics, 'losses': losses, 'imag': imag, 'repl': repl,
           **{k: post[k] for k in ('deter', 'stoch', 'recons', 'tokens', 'post', 'prior',
                                   'rew', 'con')}}
    return loss, aux

  def _world_model_loss(self, start, obs, prevact, seed):
    """-> losses {key: <[B, T]>}, metrics, posterior {'deter', 'stoch', 'feat', 'recons',
    'tokens', 'post' and 'prior' (logits), 'rew' and 'con' (head outputs)}."""
    a = self._s.config.agent
    reset = obs['is_first']
    T = reset.shape[1]
    losses, metrics = {}, {}
    tokens = self.enc({k: obs[k] for k in self.dec.obs_space})
    obs_seeds = dists.split(seed, T)
    deter, stoch, post = self.dyn.observe(*start, tokens, prevact, reset, obs_seeds)
    prior = self.dyn.prior_logits(deter)
    losses['dyn'], losses['rep'] = self.dyn.kl_losses(post, prior)
    metrics['dyn_ent'] = tf.reduce_mean(tf.reduce_sum(self.dyn.dist(prior).entropy(), -1))
    metrics['rep_ent'] = tf.reduce_mean(tf.reduce_sum(self.dyn.dist(post).entropy(), -1))
    recons = self.dec(deter, stoch)
    for k, dist in recons.items():
      target = obs[k]
      target = tf.cast(target, f32) / 255.0 if target.dtype == tf.uint8 else target
      losses[k] = dist.loss(target)
    feat = rssm.feat(deter, stoch)
    rewdist = self.rew(feat)
    losses['rew'] = rewdist.loss(obs['reward'])
    con = 1.0 - tf.cast(obs['is_terminal'], f32)
    if a.contdisc:
      con *= 1.0 - 1.0 / a.horizon
    condist = self.con(feat)
    losses['con'] = condist.loss(con)
    return losses, metrics, {
        'deter': deter, 'stoch': stoch, 'feat': feat, 'recons': recons, 'tokens': tokens,
        'post': post, 'prior': prior, 'rew': rewdist, 'con': condist}

  def imagine(self, deter, stoch, seed):
    """The policy's dreams from every state of <[B, T, ...]> posteriors.

    -> deter <[N, H+1, D]>, stoch <[N, H+1, S, C]>, act <[N, H+1, A]> (N = B * T;
    step 0 is the start state; act[:, t] is the action sampled in state t).
    """
    B, T = deter.shape[:2]
    H = int(self._s.config.agent.imag_length)
    N = B * T
    d0 = sg(tf.reshape(deter, (N, self.dyn.deter)))
    s0 = sg(tf.reshape(stoch, (N, self.dyn.stoch, self.dyn.classes)))

    def policyfn(d, s, seed):
      dist = self.pol(rssm.feat(d, s))
      ks = dists.split(seed, len(self.pol.keys))
      return self.pol.flat({k: dist[k].sample(ks[i]) for i, k in enumerate(self.pol.keys)})

    imag_seeds = dists.split(seed, H + 1)
    imgd, imgs, imga = self.dyn.imagine(
        d0, s0, policyfn, H, imag_seeds[:H], modules=[self.pol])
    imgd = tf.concat([d0[:, None], imgd], 1)                 # [N, H+1, D]
    imgs = tf.concat([s0[:, None], imgs], 1)
    lastact = policyfn(imgd[:, -1], imgs[:, -1], imag_seeds[H])
    imga = tf.concat([imga, lastact[:, None]], 1)            # [N, H+1, A]
    return imgd, imgs, imga

  def _imagination_loss(self, deter, stoch, seed, tape):
    """Imagines from every posterior state; actor and critic losses on the dreams.

    -> losses {'policy', 'value'} <[B, T]>, metrics, outs: 'boot' the imagined
    returns of the start states <[B, T]> (the replay value's bootstrap), and the
    trajectories ('deter', 'stoch', 'act', 'rew', 'con' <[N, H+1, ...]>) with
    their 'ret', 'adv', 'val', 'slowval' (behavior.imag_loss).
    """
    a = self._s.config.agent
    B, T = deter.shape[:2]
    # Nothing in the imagination itself needs gradients.
    with _unrecorded(tape):
      imgd, imgs, imga = self.imagine(deter, stoch, seed)
      imgfeat = sg(rssm.feat(imgd, imgs))
      imgrew = self.rew(imgfeat).pred()
      imgcon = self.con(imgfeat).pred()
      slowdist = self.slowval(imgfeat)
      slowdist = _Frozen(slowdist.pred())
    polydist = self.pol(imgfeat)
    valdist = self.val(imgfeat)
    update = tape is not None
    los, imgouts, mets = behavior.imag_loss(
        self.pol.unflat(imga), imgrew, imgcon, polydist, valdist, slowdist,
        _AllReplicasNormalizer(self.retnorm) if update else self.retnorm, update,
        contdisc=a.contdisc, horizon=a.horizon, **a.imag_loss)
    imgouts.update(deter=imgd, stoch=imgs, act=imga, rew=imgrew, con=imgcon)
    losses = {k: tf.reshape(tf.reduce_mean(v, 1), (B, T)) for k, v in los.items()}
    imgouts['boot'] = tf.reshape(imgouts['ret'][:, 0], (B, T))
    return losses, mets, imgouts

  def _replay_value_loss(self, obs, feat, boot, tape):
    """The critic on the replayed sequence, bootstrapped from the imagined returns.

    -> losses {'repval'}, outs (behavior.repl_loss).
    """
    a = self._s.config.agent
    with _unrecorded(tape):
      slowrep = _Frozen(self.slowval(sg(feat)).pred())
    return behavior.repl_loss(
        obs['is_last'], obs['is_terminal'], obs['reward'], boot,
        self.val(feat), slowrep, horizon=a.horizon, **a.repl_loss)

  def _total(self, losses, recons):
    """-> the scaled sum of the mean losses, and 'loss/*' metrics."""
    scales = dict(self._s.scales)
    rec = scales.pop('rec')
    scales.update({k: rec for k in recons})
    if not self._s.config.agent.repval_loss:
      scales.pop('repval', None)
    if set(scales) != set(losses):
      raise ValueError(f'loss scales {sorted(scales)} do not match losses {sorted(losses)}')
    if tuple(losses) != self.loss_terms:
      raise ValueError(f'losses {list(losses)} are not in the order of loss_terms')
    means = {k: tf.reduce_mean(v) for k, v in losses.items()}
    loss = tf.add_n([means[k] * scales[k] for k in sorted(means)])
    metrics = {f'loss/{k}': v for k, v in means.items()}
    metrics['loss/rec'] = tf.add_n([means[k] for k in recons])
    metrics['loss/total'] = loss
    return loss, metrics

  # --- report -----------------------------------------------------------------

  def report_step(self, carry, data, seed):
    """Losses without an update, and open-loop predictions of the image keys.

    Args: as in `train_step` (T = report_length + replay_context).
    Returns:
      carry, metrics: scalars, plus for each image key 'openloop/<key>/true' and
      'openloop/<key>/pred' <uint8>[RB, T - K, H, W, C] (RB = min(6, B)): the batch's
      images and the model's predictions of them, reconstructions for the first
      half of the steps and imagined from the actions alone for the second half.
    """
    start, obs, prevact, _, lastact = self._split_context(carry, data)
    seeds = dists.split(seed, 2)
    _, aux = self.loss(start, obs, prevact, seeds[0])
    metrics = dict(aux['metrics'])
    deter, stoch, recons = aux['deter'], aux['stoch'], aux['recons']
    imgkeys = self.dec.imgkeys
    if imgkeys:
      B, T = obs['is_first'].shape
      RB, half = min(6, B), T // 2
      d0, s0 = deter[:RB, half - 1], stoch[:RB, half - 1]
      img_seeds = dists.split(seeds[1], T - half)
      imgd, imgs, _ = self.dyn.imagine(
          d0, s0, prevact[:RB, half:], T - half, img_seeds)
      imgrec = self.dec(imgd, imgs)
      for k in imgkeys:
        pred = tf.concat([recons[k].pred()[:RB, :half], imgrec[k].pred()], 1)
        metrics[f'openloop/{k}/true'] = obs[k][:RB]
        metrics[f'openloop/{k}/pred'] = tf.cast(
            tf.clip_by_value(pred * 255.0, 0.0, 255.0), tf.uint8)
    carry = {'deter': deter[:, -1], 'stoch': stoch[:, -1], 'prevact': lastact}
    return carry, metrics


def _any_batch(fn, inputs):
  """fn(inputs <[B, ...]>), also when B is unknown at tracing (SavedModel signatures).

  The encoder, `rssm.feat` and the action decoding reshape with the static batch
  size, so for an unknown B `fn` runs on batches of one under tf.vectorized_map,
  which turns it back into the same batched ops (no loop). Only for deterministic
  `fn`: a random op in it would draw the same numbers for every example.
  """
  if tf.nest.flatten(inputs)[0].shape[0] is not None:
    return fn(inputs)
  one = lambda x: tf.nest.map_structure(lambda t: t[None], x)
  return tf.vectorized_map(
      lambda x: tf.nest.map_structure(lambda t: t[0], fn(one(x))), inputs)


def _unrecorded(tape):
  """A context in which `tape` (if any) records nothing."""
  return tape.stop_recording() if tape is not None else contextlib.nullcontext()


class _AllReplicasNormalizer:
  """Updates the return normaliser with the returns of all replicas.

  The percentiles are those of the whole batch, so every replica keeps the same
  statistics as one device would; without replicas it is the normaliser itself.
  """

  def __init__(self, norm):
    self._norm = norm

  def update(self, x):
    self._norm.update(distribute.all_concat(x))

  def stats(self):
    return self._norm.stats()


class _Frozen:
  """A prediction treated as a constant target (slow critic)."""

  def __init__(self, pred):
    self._pred = sg(pred)

  def pred(self):
    return self._pred
