"""The DreamerV3 agent: world model + actor-critic behind the runtime interface.

  agent = Agent(obs_space, act_space, config)       # config: configs/base.py
  carry = agent.init_policy(B)
  carry, act, out = agent.policy(carry, obs, mode='train' | 'eval')
  carry = agent.init_train(B)
  carry, outs, metrics = agent.train(carry, batch)  # batch [B, batch_length + context]
  carry = agent.init_report(B)
  carry, metrics = agent.report(carry, batch)       # batch [B, report_length + context]

`policy`, `train` and `report` each run one `tf.function(jit_compile=config.jit)`
traced once (a mode flag is a tensor, not a Python value); with `config.jit=False`
they run eagerly. Numpy in, numpy out. All variables (models, optimizer slots,
return normaliser, slow critic, RNG counters) exist after `__init__`, and
`tf.train.Checkpoint(agent=agent)` saves and restores all of them.
"""

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
from dreamerv3_tf.core import usage

sg = tf.stop_gradient
f32 = tf.float32
META = base.OBS_META_KEYS


class _Static:
  """Holds plain Python values outside the checkpoint graph."""

  def __init__(self, **kw):
    self.__dict__.update(kw)


def _to_config_kw(d):
  return {k: (tuple(v) if isinstance(v, list) else v) for k, v in dict(d).items()}


class Agent(tf.Module, base.Agent):
  """DreamerV3 (current official version) in Keras 3 / TensorFlow 2.

  Args:
    obs_space: dict of Space incl. reward/is_first/is_last/is_terminal.
    act_space: dict of Space without 'reset'.
    config: the whole ConfigDict of configs/base.py.
  """

  def __init__(self, obs_space, act_space, config):
    tf.Module.__init__(self, name='agent')
    act_space = {k: v for k, v in act_space.items() if k != 'reset'}
    # 'log/' keys are for logging only: replay drops them, so batches never hold them.
    obs_space = {k: v for k, v in obs_space.items() if not k.startswith('log/')}
    missing = [k for k in META if k not in obs_space]
    if missing:
      raise ValueError(f'Agent: obs_space lacks {missing}; got {sorted(obs_space)}')
    if not act_space:
      raise ValueError('Agent: act_space has no action keys')
    model_space = {k: v for k, v in obs_space.items() if k not in META}
    a = config.agent
    context = int(config.replay_context)
    self._s = _Static(
        obs_space=dict(obs_space), act_space=dict(act_space), config=config,
        model_space=model_space, context=context,
        scales=dict(a.loss_scales), traces={'policy': 0, 'train': 0, 'report': 0},
        fns={},
        # The strategy whose scope the agent is built in (factories.make_agent):
        # its variables are mirrored and `train` runs per replica.
        strategy=tf.distribute.get_strategy())
    dtype = nets.policy(config.get('compute_dtype', 'float32'))
    p = dict(dtype=dtype)
    with nets.init_seed(int(config.seed)):
      self.enc = rssm.Encoder(model_space, **_to_config_kw(a.enc), name='enc', **p)
      act_dim = sum(heads.action_dims(act_space).values())
      self.dyn = rssm.RSSM(act_dim, self.enc.outdim, **_to_config_kw(a.rssm),
                           name='dyn', **p)
      D, S = self.dyn.deter, self.dyn.stoch * self.dyn.classes
      self.dec = rssm.Decoder(model_space, D, S, **_to_config_kw(a.dec), name='dec', **p)
      F = D + S
      self.rew = heads.TwoHotHead(F, **_to_config_kw(a.rewhead), name='rew', **p)
      self.con = heads.BinaryHead(F, **_to_config_kw(a.conhead), name='con', **p)
      self.pol = heads.PolicyHead(F, act_space, **_to_config_kw(a.policy), name='pol', **p)
      self.val = heads.TwoHotHead(F, **_to_config_kw(a.value), name='val', **p)
      self.slowval = heads.TwoHotHead(F, **_to_config_kw(a.value), name='slowval', **p)
    self.slowval.trainable = False
    self.retnorm = behavior.ReturnNormalizer(**_to_config_kw(a.retnorm), name='retnorm')
    self.slowval_updates = tf.Variable(0, dtype=tf.int64, trainable=False,
                                       name='slowval_updates')
    self._s.slow = behavior.SlowCritic(
        self.val, self.slowval, self.slowval_updates, **_to_config_kw(a.slowvalue))
    self._s.slow.copy()
    # RNG state: a base seed and per-function counters, all checkpointed, so a
    # restored agent continues the exact random streams of the saved one.
    self.rng_seed = tf.Variable(int(config.seed), dtype=tf.int64, trainable=False,
                                name='rng_seed')
    self.policy_calls = tf.Variable(0, dtype=tf.int64, trainable=False, name='policy_calls')
    self.train_calls = tf.Variable(0, dtype=tf.int64, trainable=False, name='train_calls')
    self.report_calls = tf.Variable(0, dtype=tf.int64, trainable=False, name='report_calls')
    self.opt = optim.Optimizer(**_to_config_kw(a.opt))
    self.opt.build(self.trainable_weights)
    self._s.fns = {
        'policy': self._compile(self._policy, 'policy'),
        'train': self._compile(self._train, 'train'),
        'report': self._compile(self._report, 'report')}

  # --- properties -------------------------------------------------------------

  @property
  def obs_space(self):
    return self._s.obs_space

  @property
  def act_space(self):
    return self._s.act_space

  @property
  def config(self):
    return self._s.config

  @property
  def trace_counts(self):
    """{'policy'|'train'|'report': number of Python traces so far}."""
    return dict(self._s.traces)

  @property
  def loss_terms(self):
    """Names of the `loss/<name>` train metrics, in the order the train step computes
    them (world model, then actor and critic): the first non-finite one is nearest
    the cause (run/nonfinite.py)."""
    recons = (*self.dec.veckeys, *self.dec.imgkeys)
    repval = ('repval',) if self.config.agent.repval_loss else ()
    return ('dyn', 'rep', *recons, 'rew', 'con', 'policy', 'value', *repval)

  @property
  def modules(self):
    return [self.enc, self.dyn, self.dec, self.rew, self.con, self.pol, self.val]

  @property
  def trainable_weights(self):
    return [v for m in self.modules for v in m.trainable_weights]

  def _compile(self, fn, name):
    def traced(*args):
      self._s.traces[name] += 1
      return fn(*tf.nest.map_structure(tf.convert_to_tensor, args))
    traced.__name__ = name
    strategy = self._s.strategy
    if name == 'train' and distribute.is_distributed(strategy):
      # Each replica trains on its share of the batch; policy and report stay on
      # one device (they read the first copy of every mirrored variable).
      def on_trace():
        self._s.traces[name] += 1
      replica_fn = lambda *args: fn(*tf.nest.map_structure(tf.convert_to_tensor, args))
      return distribute.replicated(strategy, replica_fn, self.config.jit, on_trace)
    if not self.config.jit:
      return traced
    return tf.function(traced, jit_compile=True, autograph=False)

  def _call(self, name, *args):
    """Runs compiled step `name`; after a call that compiled, frees the heap."""
    traces = self._s.traces[name]
    result = self._s.fns[name](*args)
    if self._s.traces[name] != traces:
      usage.release_heap()
    return result

  def _seed(self, counter, stream):
    """A stateless seed <int64>[2] from a counter variable; bumps the counter."""
    seed = tf.stack([self.rng_seed.read_value() * 8 + stream, counter.read_value()])
    distribute.writable(counter, self._s.strategy).assign_add(1)
    return seed

  # --- carries ----------------------------------------------------------------

  def _zero_carry(self, batch_size):
    B = int(batch_size)
    return {
        'deter': np.zeros((B, self.dyn.deter), np.float32),
        'stoch': np.zeros((B, self.dyn.stoch, self.dyn.classes), np.float32),
        'prevact': np.zeros((B, sum(self.pol.dims.values())), np.float32)}

  def init_policy(self, batch_size):
    """-> {'deter', 'stoch', 'prevact' (flat, one-hot for discrete)} zeros."""
    return self._zero_carry(batch_size)

  def init_train(self, batch_size):
    return self._zero_carry(batch_size)

  def init_report(self, batch_size):
    return self._zero_carry(batch_size)

  # --- boundary checks --------------------------------------------------------

  def _check_carry(self, carry, B):
    ref = self._zero_carry(B)
    if not isinstance(carry, dict) or set(carry) != set(ref):
      raise ValueError(f'carry: expected keys {sorted(ref)}, got '
                       f'{sorted(carry) if isinstance(carry, dict) else type(carry)}')
    out = {}
    for k, v in ref.items():
      x = np.asarray(carry[k], np.float32)
      if x.shape != v.shape:
        raise ValueError(f'carry[{k!r}]: expected shape {v.shape}, got {x.shape}')
      out[k] = x
    return out

  def _check(self, data, keys, lead, what):
    out = {}
    for k in keys:
      if k not in data:
        raise ValueError(f'{what}: missing key {k!r}; got {sorted(data)}')
      space = self.obs_space.get(k) or self.act_space.get(k)
      x = np.asarray(data[k])
      want = (*lead, *space.shape)
      if x.shape != want:
        raise ValueError(f'{what}[{k!r}]: expected shape {want}, got {x.shape}')
      if space.dtype == np.uint8 and x.dtype != np.uint8:
        raise ValueError(f'{what}[{k!r}]: expected dtype uint8, got {x.dtype}')
      if space.dtype == np.uint8:
        pass
      elif space.dtype == bool:
        x = x.astype(bool)
      elif space.discrete:
        x = x.astype(np.int32)
      else:
        x = x.astype(np.float32)
      out[k] = x
    return out

  # --- policy -----------------------------------------------------------------

  def policy(self, carry, obs, mode='train'):
    """(carry, obs <[B, ...]>, mode) -> carry, act {key: <[B, ...]>}, out.

    out: {'dyn/deter': <float32>[B, D], 'dyn/stoch': <float32>[B, S, C]}, the
    posterior latent after this observation (stored in replay for replay_context).
    """
    if mode not in ('train', 'eval'):
      raise ValueError(f"policy: mode must be 'train' or 'eval', got {mode!r}")
    B = len(obs['is_first'])
    keys = sorted(self.dec.obs_space) + ['is_first']
    obs = self._check(obs, keys, (B,), 'policy obs')
    carry = self._check_carry(carry, B)
    greedy = mode == 'eval' and not self.config.agent.get('eval_sample', False)
    deter, stoch, prevact, act, out = self._call(
        'policy', carry['deter'], carry['stoch'], carry['prevact'], obs,
        tf.constant(greedy))
    carry = {'deter': deter.numpy(), 'stoch': stoch.numpy(), 'prevact': prevact.numpy()}
    act = {k: v.numpy() for k, v in act.items()}
    out = {k: v.numpy() for k, v in out.items()}
    return carry, act, out

  def _policy(self, deter, stoch, prevact, obs, greedy):
    # Each worker process of a multi_worker run acts with its own noise.
    seed = distribute.worker_seed(self._seed(self.policy_calls, 0), self._s.strategy)
    carry = {'deter': deter, 'stoch': stoch, 'prevact': prevact}
    carry, act, out = self.policy_step(carry, obs, greedy, seed)
    return carry['deter'], carry['stoch'], carry['prevact'], act, out

  def policy_step(self, carry, obs, greedy, seed):
    """One policy step on tensors, traceable for an unknown batch size B.

    Shared by `policy` and the SavedModel export (`dreamerv3_tf.export`).
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

  def _batch(self, batch, T, what):
    B = len(batch['is_first'])
    keys = sorted(self.obs_space) + sorted(self.act_space)
    data = self._check(batch, keys, (B, T), what)
    if 'stepid' not in batch:
      raise ValueError(f"{what}: missing key 'stepid'")
    data['stepid'] = np.asarray(batch['stepid'])
    if self._s.context:
      for k, shape in (('dyn/deter', (self.dyn.deter,)),
                       ('dyn/stoch', (self.dyn.stoch, self.dyn.classes))):
        if k not in batch:
          raise ValueError(f'{what}: missing key {k!r} (needed with replay_context > 0)')
        x = np.asarray(batch[k], np.float32)
        if x.shape != (B, T, *shape):
          raise ValueError(f'{what}[{k!r}]: expected shape {(B, T, *shape)}, got {x.shape}')
        data[k] = x
    return B, data

  def train(self, carry, batch):
    """(carry, batch <[B, batch_length + replay_context, ...]>) -> carry, outs, metrics."""
    T = int(self.config.batch_length) + self._s.context
    B, data = self._batch(batch, T, 'train batch')
    carry = self._check_carry(carry, B)
    carry, outs, metrics = self._call('train', carry, data)
    carry = {k: v.numpy() for k, v in carry.items()}
    outs = {'replay': {k: v.numpy() for k, v in outs['replay'].items()}}
    metrics = {k: float(v) for k, v in metrics.items()}
    return carry, outs, metrics

  def _split_context(self, carry, data):
    """-> start (deter, stoch), obs, prevact <[B, T', A]>, stepid for the loss steps."""
    K = self._s.context
    acts = self.pol.encode({k: data[k] for k in self.pol.keys})   # [B, T, A]
    obs = {k: data[k][:, K:] for k in self.obs_space}
    if K:
      deter = data['dyn/deter'][:, K - 1]
      stoch = data['dyn/stoch'][:, K - 1]
      prevact = acts[:, K - 1:-1]
    else:
      deter, stoch = carry['deter'], carry['stoch']
      prevact = tf.concat([carry['prevact'][:, None], acts[:, :-1]], 1)
    return (deter, stoch), obs, prevact, data['stepid'][:, K:], acts[:, -1]

  def _train(self, carry, data):
    # Under strategy.run: this replica's rows of the batch, its own noise.
    seed = distribute.replica_seed(self._seed(self.train_calls, 1))
    grads, aux, stepid, lastact = self.train_grads(carry, data, seed)
    # Mean over replicas = the gradient of the mean loss over the whole batch;
    # every replica then applies the same update to its copy of the variables.
    grads = distribute.all_mean(grads)
    metrics = aux['metrics']
    opt_metrics = self.opt.apply(grads, self.trainable_weights)
    metrics.update({f'opt/{k}': v for k, v in opt_metrics.items()})
    self._s.slow.update()
    deter, stoch = aux['deter'], aux['stoch']
    outs = {'replay': {'stepid': stepid, 'dyn/deter': deter, 'dyn/stoch': stoch}}
    carry = {'deter': deter[:, -1], 'stoch': stoch[:, -1], 'prevact': lastact}
    return carry, outs, metrics

  def train_grads(self, carry, data, seed):
    """The first half of a train step on tensors: the gradients, before the update.

    Updates the return normalizer, like `train`; nothing else. The parity test
    calls it eagerly to compare gradients and intermediate values.
    Returns:
      grads (one per `trainable_weights`), aux (see `_loss`), stepid, the last action.
    """
    start, obs, prevact, stepid, lastact = self._split_context(carry, data)
    variables = self.trainable_weights
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([v.value for v in variables])
      loss, aux = self._loss(start, obs, prevact, seed, tape)
    grads = tape.gradient(loss, [v.value for v in variables])
    return grads, aux, stepid, lastact

  def _loss(self, start, obs, prevact, seed, tape=None, report=False):
    """World-model, actor, critic and replay-value losses.

    Args:
      start: (deter <[B, D]>, stoch <[B, S, C]>) before the first step.
      obs: {key: <[B, T, ...]>}; prevact: <float32>[B, T, A].
      tape: the GradientTape (imagination runs outside it), or None.
    Returns:
      loss <float32>[], aux {'metrics', 'deter', 'stoch', 'recons', ...}; the other
      aux entries (tokens, logits, per-step losses, head outputs, imagination) are
      for inspection: traced functions that do not return them drop them.
    """
    a = self.config.agent
    update = tape is not None
    reset = obs['is_first']
    B, T = reset.shape
    H = int(a.imag_length)
    seeds = dists.split(seed, 3)
    losses, metrics = {}, {}

    # World model.
    tokens = self.enc({k: obs[k] for k in self.dec.obs_space})
    obs_seeds = dists.split(seeds[0], T)
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

    # Imagination from every posterior state; nothing in it needs gradients.
    with tape.stop_recording() if tape is not None else _nullcontext():
      N = B * T
      d0 = sg(tf.reshape(deter, (N, self.dyn.deter)))
      s0 = sg(tf.reshape(stoch, (N, self.dyn.stoch, self.dyn.classes)))

      def policyfn(d, s, seed):
        dist = self.pol(rssm.feat(d, s))
        ks = dists.split(seed, len(self.pol.keys))
        return self.pol.flat({k: dist[k].sample(ks[i]) for i, k in enumerate(self.pol.keys)})

      imag_seeds = dists.split(seeds[1], H + 1)
      imgd, imgs, imga = self.dyn.imagine(
          d0, s0, policyfn, H, imag_seeds[:H], modules=[self.pol])
      imgd = tf.concat([d0[:, None], imgd], 1)                 # [N, H+1, D]
      imgs = tf.concat([s0[:, None], imgs], 1)
      lastact = policyfn(imgd[:, -1], imgs[:, -1], imag_seeds[H])
      imga = tf.concat([imga, lastact[:, None]], 1)            # [N, H+1, A]
      imgfeat = sg(rssm.feat(imgd, imgs))
      imgrew = self.rew(imgfeat).pred()
      imgcon = self.con(imgfeat).pred()
      slowdist = self.slowval(imgfeat)
      slowdist = _Frozen(slowdist.pred())
    polydist = self.pol(imgfeat)
    valdist = self.val(imgfeat)
    los, imgouts, mets = behavior.imag_loss(
        self.pol.unflat(imga), imgrew, imgcon, polydist, valdist, slowdist,
        _AllReplicasNormalizer(self.retnorm) if update else self.retnorm, update,
        contdisc=a.contdisc, horizon=a.horizon, **_to_config_kw(a.imag_loss))
    imgouts.update(deter=imgd, stoch=imgs, act=imga, rew=imgrew, con=imgcon)
    losses.update({k: tf.reshape(tf.reduce_mean(v, 1), (B, T)) for k, v in los.items()})
    metrics.update(mets)

    # Critic on the replayed sequence, bootstrapped from the imagined returns.
    if a.repval_loss:
      boot = tf.reshape(imgouts['ret'][:, 0], (B, T))
      with tape.stop_recording() if tape is not None else _nullcontext():
        slowrep = _Frozen(self.slowval(sg(feat)).pred())
      los, replouts = behavior.repl_loss(
          obs['is_last'], obs['is_terminal'], obs['reward'], boot,
          self.val(feat), slowrep, horizon=a.horizon, **_to_config_kw(a.repl_loss))
      losses.update(los)
    else:
      replouts = {}

    scales = dict(self._s.scales)
    rec = scales.pop('rec')
    scales.update({k: rec for k in recons})
    if not a.repval_loss:
      scales.pop('repval', None)
    if set(scales) != set(losses):
      raise ValueError(f'loss scales {sorted(scales)} do not match losses {sorted(losses)}')
    if tuple(losses) != self.loss_terms:
      raise ValueError(f'losses {list(losses)} are not in the order of loss_terms')
    means = {k: tf.reduce_mean(v) for k, v in losses.items()}
    loss = tf.add_n([means[k] * scales[k] for k in sorted(means)])
    metrics.update({f'loss/{k}': v for k, v in means.items()})
    metrics['loss/rec'] = tf.add_n([means[k] for k in recons])
    metrics['loss/total'] = loss
    aux = {'metrics': metrics, 'deter': deter, 'stoch': stoch, 'recons': recons,
           'tokens': tokens, 'post': post, 'prior': prior, 'losses': losses,
           'rew': rewdist, 'con': condist, 'imag': imgouts, 'repl': replouts}
    return loss, aux

  # --- report -----------------------------------------------------------------

  def report(self, carry, batch):
    """(carry, batch <[B, report_length + replay_context, ...]>) -> carry, metrics.

    Metrics: float scalars, plus 'openloop/<image key>' <uint8>[T, 3 H + 4, RB (W + 4), C]
    videos (rows: truth, prediction, error; green border observed, red imagined).
    """
    T = int(self.config.report_length) + self._s.context
    B, data = self._batch(batch, T, 'report batch')
    carry = self._check_carry(carry, B)
    carry, metrics = self._call('report', carry, data)
    carry = {k: v.numpy() for k, v in carry.items()}
    out = {}
    for k, v in metrics.items():
      v = v.numpy()
      out[k] = v if v.ndim else float(v)
    return carry, out

  def _report(self, carry, data):
    seed = self._seed(self.report_calls, 2)
    start, obs, prevact, _, lastact = self._split_context(carry, data)
    seeds = dists.split(seed, 2)
    _, aux = self._loss(start, obs, prevact, seeds[0])
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
        metrics[f'openloop/{k}'] = _video(obs[k][:RB], pred, half)
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


class _nullcontext:
  def __enter__(self):
    return None

  def __exit__(self, *args):
    return False


def _video(true, pred, observed):
  """true <uint8>[RB, T, H, W, C], pred <float32> in [0, 1] -> <uint8>[T, 3H+4, RB(W+4), C]."""
  pred = tf.cast(tf.clip_by_value(pred * 255.0, 0.0, 255.0), tf.uint8)
  error = tf.cast((tf.cast(pred, tf.int32) - tf.cast(true, tf.int32) + 255) // 2, tf.uint8)
  video = tf.concat([true, pred, error], 2)                  # [RB, T, 3H, W, C]
  RB, T, H, W, C = video.shape
  inner = tf.pad(tf.ones((RB, T, H, W, C), tf.bool), [[0, 0], [0, 0], [2, 2], [2, 2], [0, 0]])
  video = tf.pad(video, [[0, 0], [0, 0], [2, 2], [2, 2], [0, 0]])
  green = np.array([0, 255, 0] if C == 3 else [255] * C, np.uint8)
  red = np.array([255, 0, 0] if C == 3 else [128] * C, np.uint8)
  border = np.stack([green if t < observed else red for t in range(T)])   # [T, C]
  border = tf.constant(border)[None, :, None, None, :]
  video = tf.where(inner, video, tf.broadcast_to(border, video.shape))
  video = tf.transpose(video, (1, 2, 0, 3, 4))                # [T, 3H+4, RB, W+4, C]
  return tf.reshape(video, (T, H + 4, RB * (W + 4), C))
