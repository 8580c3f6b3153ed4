"""Golden data from the official DreamerV3 code, for tests/test_parity.py.

Runs in the official code's own venv, never ours (setup: tools/parity/README.md):

  PYTHONPATH=/work/official/src /work/official/venv/bin/python \\
      tools/parity/make_golden.py --out tests/golden

For each variant (`cont`: vector + image observations, continuous actions; `disc`:
vector + grayscale image, discrete actions) it builds the official agent on a small
config (float32, CPU), runs a few updates and one policy step of the official model
functions, and writes `<out>/<variant>.npz` (plain arrays, no pickles):

  config              JSON: the official config, the spaces, what was patched
  params<k>/<name>    the whole official state (model, slow critic, optimizer,
                      return normalizer, counts) before update k+1 (k = 0) / after update k
  batch<k>/<key>      the batch of update k (is_first also mid-sequence)
  noise<k>/<site>     the noise of update k: obs [T, B, S] uniforms (posterior),
                      img_stoch [H, N, S] uniforms (prior), img_act/<key> [H + 1, N, ...]
                      (normals, or uniforms for discrete keys; the last row is the
                      action after the last imagined state)
  out<k>/...          what the official code computed in update k: tokens, post and
                      prior logits, deter, stoch, decoder outputs, head logits, every
                      loss term per (batch, time) step and its mean, the imagined
                      states and actions, rewards, continues, values, lambda returns,
                      the return normalizer after its update, advantages, replay
                      returns, and the raw gradient of every parameter (grad/<name>)
  policy/...          a carry, observations and the policy outputs in modes train
                      and eval (supplied noise) and mode (modes instead of samples)

The official random draws are replaced by noise this script supplies: the
categorical sampler (Gumbel-max in the official code) becomes an inverse-CDF draw
from one supplied uniform per categorical, the normal sampler takes supplied
standard normals. Both are exact samplers of the same distributions; ours draws the
same way, so the same noise gives the same samples. Everything runs op by op
(`jax.disable_jit`): inside `lax.scan` the draws then happen one step at a time in a
fixed order, which is how the supplied noise reaches them. The two-hot mean is
patched to a well-conditioned form (see `stable_twohot_pred`) unless
--twohot=official: the official summation order is ill-conditioned (bins of
+-4.85e8), so neither side can reproduce the other's rounding. The reward, value
and slow-value output layers start from random weights instead of zeros so that the
actor-critic sees non-zero returns from the first update on.
"""

import argparse
import json
import os
import sys

import numpy as np

VARIANTS = {
    'cont': dict(
        obs={'velocity': ('float32', (4,)), 'position': ('float32', (5,)),
             'image': ('uint8', (32, 32, 3))},
        act={'action': ('float32', (2,), -1.0, 1.0)},
        sizes=dict(deter=16, hidden=8, stoch=4, classes=4, blocks=2, units=16, depth=2,
                   bins=15, imag_length=4, layers=2)),
    'disc': dict(
        obs={'state': ('float32', (6,)), 'image': ('uint8', (16, 16, 1))},
        act={'action': ('int32', (), 0, 4)},
        sizes=dict(deter=24, hidden=12, stoch=3, classes=5, blocks=3, units=12, depth=2,
                   bins=16, imag_length=3, layers=1)),
}


def require_official_code():
  """One line, not ModuleNotFoundError's traceback, outside the official code's venv."""
  import importlib.util
  for name in ('jax', 'elements', 'dreamerv3', 'embodied'):
    if importlib.util.find_spec(name) is None:
      sys.exit(f'Error: {name} cannot be imported by {sys.executable}: run this with the '
               "official code's venv and PYTHONPATH (bench/README.md)")


def parse_args(argv):
  p = argparse.ArgumentParser(description=(__doc__ or '').split('\n\n')[0])
  p.add_argument('--out', default='tests/golden')
  p.add_argument('--variants', default='cont,disc')
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--batch', type=int, default=4, help='batch size B')
  p.add_argument('--length', type=int, default=8, help='batch_length T (+1 context)')
  p.add_argument('--updates', type=int, default=3)
  p.add_argument('--lr', type=float, default=3e-3)
  p.add_argument('--warmup', type=int, default=4)
  p.add_argument('--twohot', choices=('stable', 'official'), default='stable')
  p.add_argument('--sizes', default='', help='overrides, e.g. deter=32,blocks=4,bins=255')
  p.add_argument('--policy_batch', type=int, default=3)
  p.add_argument('--ckpt', default='', help='also save the final state as an official '
                 'checkpoint under this logdir (ckpt/latest, agent.pkl, config.yaml)')
  return p.parse_args(argv)


# --- the official agent ---------------------------------------------------------


def make_spaces(variant):
  import elements
  obs = {k: elements.Space(np.dtype(d), s) for k, (d, s) in variant['obs'].items()}
  obs.update(reward=elements.Space(np.float32), is_first=elements.Space(bool),
             is_last=elements.Space(bool), is_terminal=elements.Space(bool))
  act = {k: elements.Space(np.dtype(v[0]), v[1], *v[2:]) for k, v in variant['act'].items()}
  return obs, act


def make_config(variant, args, logdir):
  import elements
  import ruamel.yaml as yaml
  from dreamerv3 import agent as agent_mod
  src = os.path.dirname(os.path.abspath(agent_mod.__file__))
  configs = yaml.YAML(typ='safe').load(open(os.path.join(src, 'configs.yaml')).read())
  configs['defaults']['jax'].update(precompile=False, profiler=False)
  config = elements.Config(configs['defaults'])
  s = dict(variant['sizes'])
  for item in filter(None, args.sizes.split(',')):
    key, value = item.split('=')
    s[key] = int(value)
  size = min(v[1][0] for v in variant['obs'].values() if len(v[1]) == 3)
  mults = [2, 3, 4, 4, 4][:int(np.log2(size // 4))]
  return config.update({
      'logdir': logdir, 'seed': args.seed, 'batch_size': args.batch,
      'batch_length': args.length, 'report_length': 4, 'replay_context': 1,
      'jax.platform': 'cpu', 'jax.compute_dtype': 'float32', 'jax.prealloc': False,
      'agent.dyn.rssm.deter': s['deter'], 'agent.dyn.rssm.hidden': s['hidden'],
      'agent.dyn.rssm.stoch': s['stoch'], 'agent.dyn.rssm.classes': s['classes'],
      'agent.dyn.rssm.blocks': s['blocks'],
      'agent.enc.simple.depth': s['depth'], 'agent.enc.simple.mults': mults,
      'agent.enc.simple.layers': s['layers'], 'agent.enc.simple.units': s['units'],
      'agent.dec.simple.depth': s['depth'], 'agent.dec.simple.mults': mults,
      'agent.dec.simple.layers': s['layers'], 'agent.dec.simple.units': s['units'],
      'agent.dec.simple.bspace': 2,
      'agent.rewhead.layers': 1, 'agent.rewhead.units': s['units'],
      'agent.rewhead.bins': s['bins'], 'agent.conhead.layers': 1,
      'agent.conhead.units': s['units'], 'agent.policy.layers': 2,
      'agent.policy.units': s['units'], 'agent.value.layers': 2,
      'agent.value.units': s['units'], 'agent.value.bins': s['bins'],
      'agent.imag_length': s['imag_length'], 'agent.opt.lr': args.lr,
      'agent.opt.warmup': args.warmup,
  })


def make_agent(config, obs, act):
  import elements
  from dreamerv3 import agent as agent_mod
  return agent_mod.Agent(obs, act, elements.Config(
      **config.agent, logdir=config.logdir, seed=config.seed, jax=config.jax,
      batch_size=config.batch_size, batch_length=config.batch_length,
      replay_context=config.replay_context, report_length=config.report_length,
      replica=0, replicas=1))


# --- supplied noise and recording ---------------------------------------------------


class Feed:
  """The noise of one step: drawn and logged ('record'), then replayed in order."""

  def __init__(self):
    self.mode, self.log, self.pos, self.rng = None, [], 0, None

  def record(self, rng):
    self.mode, self.log, self.pos, self.rng = 'record', [], 0, rng

  def replay(self):
    self.mode, self.pos = 'replay', 0

  def draw(self, kind, shape):
    shape = tuple(int(x) for x in shape)
    if self.mode == 'record':
      x = (self.rng.uniform(size=shape) if kind == 'uniform'
           else self.rng.standard_normal(shape)).astype(np.float32)
      self.log.append((kind, x))
      return x
    assert self.mode == 'replay', self.mode
    got_kind, x = self.log[self.pos]
    assert (got_kind, x.shape) == (kind, shape), (self.pos, got_kind, x.shape, kind, shape)
    self.pos += 1
    return x

  def done(self):
    assert self.mode != 'replay' or self.pos == len(self.log), (self.pos, len(self.log))


FEED = Feed()
RECORD = {'on': False, 'calls': {}}


def _prerun():
  """ninjax runs scan bodies and gradients once for state tracking, with ignore=True."""
  import ninjax as nj
  return nj.context().ignore


def _keep(name, value):
  import jax
  if RECORD['on'] and not _prerun():
    value = jax.tree.map(np.asarray, value)
    RECORD['calls'].setdefault(name, []).append(value)


def stable_twohot_pred(self):
  """E[bins] for antisymmetric bins (b_lo = -b_hi) from mirrored pairs of logits.

  p_hi b_hi + p_lo b_lo = b_hi (p_hi - p_lo) and p_hi - p_lo = exp(l_lo - lse) *
  expm1(l_hi - l_lo): every term is accurate to float32 rounding, where the official
  sum of products of up to ~1e7 loses ~1 in absolute terms (even at init).
  """
  import jax
  import jax.numpy as jnp
  n = self.logits.shape[-1]
  m = n // 2
  lse = jax.scipy.special.logsumexp(self.logits, -1, keepdims=True)
  lo = self.logits[..., :m][..., ::-1]
  hi = self.logits[..., n - m:]
  diff = jnp.exp(lo - lse) * jnp.expm1(hi - lo)
  return self.unsquash((diff * self.bins[n - m:]).sum(-1))


def patch(twohot):
  """Replaces the official samplers and adds recording hooks (before construction)."""
  import jax
  import jax.numpy as jnp
  import embodied.jax.heads as heads
  import embodied.jax.opt as opt
  import embodied.jax.outs as outs
  from dreamerv3 import agent as agent_mod
  from dreamerv3 import rssm

  def categorical_sample(self, seed, shape=()):
    assert shape == ()
    lead = self.logits.shape[:-1]
    if _prerun():
      return jnp.zeros(lead, jnp.int32)
    if FEED.mode == 'mode':
      return jnp.argmax(self.logits, -1)
    u = jnp.asarray(FEED.draw('uniform', lead))
    cdf = jnp.cumsum(jax.nn.softmax(self.logits, -1)[..., :-1], -1)
    return (cdf <= u[..., None]).astype(jnp.int32).sum(-1)

  def normal_sample(self, seed, shape=()):
    assert shape == ()
    if _prerun():
      return self.mean
    if FEED.mode == 'mode':
      return self.mean
    eps = jnp.asarray(FEED.draw('normal', self.mean.shape))
    return eps * self.stddev + self.mean

  outs.Categorical.sample = categorical_sample
  outs.Normal.sample = normal_sample
  if twohot == 'stable':
    outs.TwoHot.pred = stable_twohot_pred

  head_call = heads.MLPHead.__call__

  def mlphead_call(self, x, bdims):
    out = head_call(self, x, bdims)
    _keep('head/' + self.path, _head_values(out))
    return out
  heads.MLPHead.__call__ = mlphead_call

  rssm_loss = rssm.RSSM.loss

  def rssm_loss_rec(self, carry, tokens, acts, reset, training):
    result = rssm_loss(self, carry, tokens, acts, reset, training)
    feat = result[3]
    _keep('rssm', dict(deter=feat['deter'], stoch=feat['stoch'], post=feat['logit'],
                       prior=self._prior(feat['deter']), tokens=tokens))
    return result
  rssm.RSSM.loss = rssm_loss_rec

  imagine = rssm.RSSM.imagine

  def imagine_rec(self, carry, policy, length, training, single=False):
    result = imagine(self, carry, policy, length, training, single)
    if not single and callable(policy):
      _, feat, action = result
      _keep('imagine', dict(deter=feat['deter'], stoch=feat['stoch'], act=action))
    return result
  rssm.RSSM.imagine = imagine_rec

  dec_call = rssm.Decoder.__call__

  def dec_rec(self, carry, feat, reset, training, single=False):
    result = dec_call(self, carry, feat, reset, training, single)
    _keep('dec', {k: v.pred() for k, v in result[2].items()})
    return result
  rssm.Decoder.__call__ = dec_rec

  imag_loss = agent_mod.imag_loss

  def imag_loss_rec(act, rew, con, policy, value, slowvalue, retnorm, *a, **kw):
    losses, outs_, mets = imag_loss(act, rew, con, policy, value, slowvalue, retnorm,
                                    *a, **kw)
    offset, scale = retnorm.stats()
    _keep('imag', dict(act=act, rew=rew, con=con, val=value.pred(),
                       slowval=slowvalue.pred(), ret=outs_['ret'], losses=losses,
                       retnorm_offset=offset, retnorm_scale=scale,
                       retnorm_lo=retnorm.lo.read(), retnorm_hi=retnorm.hi.read()))
    return losses, outs_, mets
  agent_mod.imag_loss = imag_loss_rec

  repl_loss = agent_mod.repl_loss

  def repl_loss_rec(last, term, rew, boot, value, slowvalue, *a, **kw):
    losses, outs_, mets = repl_loss(last, term, rew, boot, value, slowvalue, *a, **kw)
    _keep('repl', dict(ret=outs_['ret'], boot=boot, val=value.pred(),
                       slowval=slowvalue.pred(), losses=losses))
    return losses, outs_, mets
  agent_mod.repl_loss = repl_loss_rec

  clip_by_agc = opt.clip_by_agc

  def clip_by_agc_rec(*a, **kw):
    inner = clip_by_agc(*a, **kw)

    def update_fn(updates, state, params=None):
      if GRADS['on'] and not _prerun():
        GRADS['value'] = jax.tree.map(np.asarray, updates)
      return inner.update(updates, state, params)
    return opt.optax.GradientTransformation(inner.init, update_fn)
  opt.clip_by_agc = clip_by_agc_rec


GRADS = {'on': False, 'value': None}


def _head_values(out):
  """The raw outputs of a head's distribution(s): logits, or mean and stddev."""
  import embodied.jax.outs as outs
  if isinstance(out, dict):
    return {k: _head_values(v) for k, v in out.items()}
  if isinstance(out, outs.Agg):
    out = out.output
  if isinstance(out, outs.TwoHot):
    return {'logits': out.logits}
  if isinstance(out, outs.Binary):
    return {'logit': out.logit}
  if isinstance(out, outs.Normal):
    return {'mean': out.mean, 'stddev': out.stddev}
  if isinstance(out, outs.Categorical):
    return {'logits': out.logits}
  raise TypeError(type(out))


# --- data -------------------------------------------------------------------------


def make_batch(agent, B, T, rng):
  """A replay batch [B, T] (T includes the one context step) with edge cases."""
  data = {}
  for k, s in agent.spaces.items():
    shape = (B, T, *s.shape)
    if k == 'dyn/stoch':
      idx = rng.integers(0, s.shape[-1], shape[:-1])
      data[k] = np.eye(s.shape[-1], dtype=np.float32)[idx]
    elif s.dtype == np.uint8:
      data[k] = rng.integers(0, 256, shape, dtype=np.uint8)
    elif s.dtype == bool:
      data[k] = np.zeros(shape, bool)
    elif k == 'consec':
      data[k] = np.zeros(shape, np.int32)  # 0: the replayed context seeds the RSSM
    elif np.issubdtype(s.dtype, np.integer):
      data[k] = rng.integers(s.low, s.high, shape).astype(s.dtype)
    else:
      data[k] = (rng.normal(0, 1.5, shape) if k != 'dyn/deter'
                 else rng.normal(0, 0.5, shape)).astype(s.dtype)
  for k, s in agent.act_space.items():
    if not s.discrete:
      data[k] = np.clip(data[k], -1, 1)
      data[k][0, 2] = 1.5  # beyond the bounds: the RSSM scales it down
  data['is_first'][:, 0] = True
  data['is_first'][1, T // 2] = True   # an episode starts mid-sequence
  data['is_last'][0, T - 3] = True     # a time limit ...
  data['is_first'][0, T - 2] = True
  data['is_last'][B - 1, T // 2 - 1] = True  # ... and a terminal step
  data['is_terminal'][B - 1, T // 2 - 1] = True
  data['is_first'][B - 1, T // 2] = True
  return data


def inject_heads(params, rng):
  """Random output layers for reward, value and slow value (official: zeros).

  The bias favours the bins near zero (as a trained head would): predictions of a
  few units instead of the ~1e7 that uniform logits over bins up to 4.85e8 give.
  """
  for name in ('rew', 'val', 'slowval'):
    kernel = f'{name}/head/logits/kernel'
    bias = f'{name}/head/logits/bias'
    n = params[bias].shape[0]
    params[kernel] = rng.normal(0, 0.3, params[kernel].shape).astype(np.float32)
    params[bias] = (-0.7 * np.abs(np.linspace(-20, 20, n)) +
                    rng.normal(0, 0.1, n)).astype(np.float32)


# --- one update ---------------------------------------------------------------------


def run_update(agent, params, data, rng):
  """-> (new params, {quantity: array}, noise {site: array}) of one official update."""
  import jax
  import ninjax as nj
  model = agent.model
  B = data['is_first'].shape[0]
  seed = np.array([0, 0], np.uint32)  # unused: every draw is supplied
  _, carry = nj.pure(model.init_train)(params, B, seed=seed)

  def forward(carry, data):
    c, obs, prevact, _ = model._apply_replay_context(carry, data)
    loss, (_, _, outs_, mets) = model.loss(c, obs, prevact, training=True)
    return loss, outs_['losses'], mets

  FEED.record(rng)
  RECORD['on'], RECORD['calls'] = True, {}
  _, (loss, losses, mets) = nj.pure(forward)(params, carry, data, seed=seed)
  RECORD['on'] = False
  rec = RECORD['calls']
  FEED.replay()
  GRADS['on'] = True
  new, (_, _, metrics) = nj.pure(model.train)(params, carry, data, seed=seed)
  GRADS['on'] = False
  FEED.done()

  out = {}
  r = rec['rssm'][0]
  for k in ('tokens', 'deter', 'stoch', 'post', 'prior'):
    out[k] = r[k]
  for k, v in rec['dec'][0].items():
    out[f'dec/{k}'] = v
  # Head calls in order: reward/continue/value on the replayed states, then on the
  # imagined ones (the value heads: imagination first, then the replay loss).
  out['rew/logits'], out['img_rew/logits'] = [x['logits'] for x in rec['head/rew']]
  out['con/logit'], out['img_con/logit'] = [x['logit'] for x in rec['head/con']]
  out['img_val/logits'], out['val/logits'] = [x['logits'] for x in rec['head/val']]
  out['img_slowval/logits'], out['slowval/logits'] = [
      x['logits'] for x in rec['head/slowval']]
  im = rec['imagine'][0]
  out['img/deter'], out['img/stoch'] = im['deter'], im['stoch']
  for k, v in im['act'].items():
    out[f'img/act/{k}'] = v
  g = rec['imag'][0]
  for k, v in g['act'].items():
    out[f'imag/act/{k}'] = v
  for k in ('rew', 'con', 'val', 'slowval', 'ret', 'retnorm_offset', 'retnorm_scale',
            'retnorm_lo', 'retnorm_hi'):
    out[f'imag/{k}'] = np.asarray(g[k])
  # The official advantage with slowtar=False (config imag_loss.slowtar).
  out['imag/adv'] = (g['ret'] - g['val'][:, :-1]) / g['retnorm_scale']
  for k, v in g['losses'].items():
    out[f'imag/loss/{k}'] = v
  p = rec['repl'][0]
  for k in ('ret', 'boot', 'val', 'slowval'):
    out[f'repl/{k}'] = p[k]
  out['repl/loss/repval'] = p['losses']['repval']
  for k, v in losses.items():
    out[f'loss/{k}'] = np.asarray(v)
  out['loss/total'] = np.asarray(loss)
  for k, v in metrics.items():
    if np.ndim(v) == 0:
      out[f'metric/{k}'] = np.asarray(v)
  for k, v in GRADS['value'].items():
    out[f'grad/{k}'] = v
  noise = assemble_noise(FEED.log, agent, B * (data['is_first'].shape[1] - 1))
  new = jax.tree.map(np.asarray, new)
  return new, out, noise


def assemble_noise(log, agent, N):
  """The logged draws of one update (in the order drawn) -> named arrays."""
  T = agent.config.batch_length
  H = agent.config.imag_length
  keys = sorted(agent.act_space)
  log = list(log)
  obs = [log.pop(0)[1] for _ in range(T)]
  acts = {k: [] for k in keys}
  stoch = []
  for _ in range(H):
    for k in keys:
      acts[k].append(log.pop(0)[1])
    stoch.append(log.pop(0)[1])
  for k in keys:
    acts[k].append(log.pop(0)[1])
  assert not log, len(log)
  noise = {'obs': np.stack(obs), 'img_stoch': np.stack(stoch)}
  for k in keys:
    noise[f'img_act/{k}'] = np.stack(acts[k])
  return noise


def run_policy(agent, params, rng, B):
  """-> {name: array}: a carry, obs, and the policy outputs per mode."""
  import jax
  import ninjax as nj
  model = agent.model
  cfg = agent.config
  D, S, C = cfg.dyn.rssm.deter, cfg.dyn.rssm.stoch, cfg.dyn.rssm.classes
  out = {}
  deter = rng.normal(0, 0.5, (B, D)).astype(np.float32)
  stoch = np.eye(C, dtype=np.float32)[rng.integers(0, C, (B, S))]
  prevact = {}
  for k, s in agent.act_space.items():
    if s.discrete:
      prevact[k] = rng.integers(s.low, s.high, (B, *s.shape)).astype(s.dtype)
    else:
      prevact[k] = rng.uniform(-1, 1, (B, *s.shape)).astype(s.dtype)
  obs = {}
  for k, s in agent.obs_space.items():
    if s.dtype == np.uint8:
      obs[k] = rng.integers(0, 256, (B, *s.shape), dtype=np.uint8)
    elif s.dtype == bool:
      obs[k] = np.zeros((B, *s.shape), bool)
    else:
      obs[k] = rng.normal(0, 1.5, (B, *s.shape)).astype(s.dtype)
  obs['is_first'][0] = True
  out['carry/deter'], out['carry/stoch'] = deter, stoch
  for k, v in prevact.items():
    out[f'carry/prevact/{k}'] = v
  for k, v in obs.items():
    out[f'obs/{k}'] = v
  carry = ({}, {'deter': deter, 'stoch': stoch}, {}, prevact)
  seed = np.array([0, 0], np.uint32)
  FEED.record(rng)
  for mode in ('train', 'eval', 'mode'):
    if mode == 'eval':
      FEED.replay()  # the official eval mode samples too: same noise, same outputs
    if mode == 'mode':
      FEED.mode = 'mode'
    _, (new, act, outs_) = nj.pure(model.policy)(
        params, carry, obs, 'eval' if mode == 'mode' else mode, seed=seed)
    new = jax.tree.map(np.asarray, new)
    out[f'{mode}/deter'], out[f'{mode}/stoch'] = new[1]['deter'], new[1]['stoch']
    for k, v in act.items():
      out[f'{mode}/act/{k}'] = np.asarray(v)
  noise = [x for _, x in FEED.log]
  out['noise/stoch'] = noise[0]
  for i, k in enumerate(sorted(agent.act_space)):
    out[f'noise/act/{k}'] = noise[1 + i]
  return out


# --- main ---------------------------------------------------------------------------


def make_variant(name, args):
  import jax
  variant = VARIANTS[name]
  logdir = args.ckpt or f'/tmp/golden_{name}'
  config = make_config(variant, args, logdir)
  obs_space, act_space = make_spaces(variant)
  agent = make_agent(config, obs_space, act_space)
  # Op-by-op execution moves every constant to the device; the official setup forbids it.
  jax.config.update('jax_transfer_guard', 'allow')
  rng = np.random.default_rng([args.seed, list(VARIANTS).index(name)])
  params = jax.tree.map(np.asarray, dict(agent.params))
  inject_heads(params, rng)
  B, T = args.batch, args.length + 1
  arrays = {}
  for k, v in params.items():
    arrays[f'params0/{k}'] = v
  with jax.disable_jit():
    for u in range(1, args.updates + 1):
      data = make_batch(agent, B, T, rng)
      params, out, noise = run_update(agent, params, data, rng)
      for k, v in data.items():
        arrays[f'batch{u}/{k}'] = v
      for k, v in noise.items():
        arrays[f'noise{u}/{k}'] = v
      for k, v in out.items():
        if k.startswith('dec/') and v.ndim == 5 and u > 1:
          continue  # decoded images of the first update only (size)
        arrays[f'out{u}/{k}'] = np.asarray(v)
      for k, v in params.items():
        arrays[f'params{u}/{k}'] = v
      print(f'{name}: update {u}: loss {float(out["loss/total"]):.6f}', flush=True)
    for k, v in run_policy(agent, params, rng, args.policy_batch).items():
      arrays[f'policy/{k}'] = v
  spaces = {
      'obs': {k: [str(np.dtype(d)), list(s)] for k, (d, s) in variant['obs'].items()},
      'act': {k: [v[0], list(v[1]), *v[2:]] for k, v in variant['act'].items()}}
  meta = {'official': to_plain(dict(config)), 'spaces': spaces,
          'twohot': args.twohot, 'updates': args.updates, 'seed': args.seed,
          'commit': 'e3f0224', 'jax': jax.__version__}
  arrays['config'] = np.array(json.dumps(meta))
  if args.ckpt:
    save_checkpoint(agent, config, params, args.updates)
  return arrays


def to_plain(value):
  if isinstance(value, dict):
    return {k: to_plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_plain(v) for v in value]
  return value


def save_checkpoint(agent, config, params, updates):
  """The official agent's own save of `params`, as a training run would write it."""
  import elements
  logdir = elements.Path(config.logdir)
  logdir.mkdir()
  config.save(logdir / 'config.yaml')
  agent.load({'params': params, 'counters': {
      'updates': updates, 'batches': updates, 'actions': 0}})
  cp = elements.Checkpoint(logdir / 'ckpt')
  cp.agent = agent
  cp.save()


def main(argv):
  args = parse_args(argv)
  require_official_code()
  import jax
  jax.config.update('jax_platforms', 'cpu')
  patch(args.twohot)
  os.makedirs(args.out, exist_ok=True)
  for name in args.variants.split(','):
    arrays = make_variant(name, args)
    path = os.path.join(args.out, f'{name}.npz')
    tmp = path + '.tmp.npz'
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    print(f'wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB, {len(arrays)} arrays)')


if __name__ == '__main__':
  main(sys.argv[1:])
