"""Our model against golden outputs of the official DreamerV3 code; no JAX needed.

tests/golden/<variant>.npz come from tools/parity/make_golden.py, run in the official
code's venv (tools/parity/README.md): the official state before and after a few
updates, the batches, the noise of every random draw, and what the official code
computed. Here the golden state goes into our agent through the checkpoint importer
(`interop.official`), our agent runs eagerly on the same batch with the same noise
(`dists.supplied_noise`), and every quantity is compared.

Errors are relative to the size of the quantity: max |ours - official| over the
tensor, divided by max |official| (a loss: its absolute value). Each update starts
from the official state before it (re-synced), so one update's rounding does not
leak into the next; `test_three_updates_in_a_row` runs them chained.
"""

import glob
import json
import os

import numpy as np
import pytest

# PARITY_GOLDEN_DIR: other golden files, e.g. from make_golden.py with other seeds or sizes.
GOLDEN_DIR = os.environ.get('PARITY_GOLDEN_DIR') or os.path.join(
    os.path.dirname(__file__), 'golden')
GOLDEN = sorted(glob.glob(os.path.join(GOLDEN_DIR, '*.npz')))
pytestmark = pytest.mark.skipif(not GOLDEN, reason='no tests/golden/*.npz')

# Tolerances, relative as above, about 5-10x the largest error measured over the
# committed golden files (both variants, three updates; the table is in RESULTS.md,
# "Parity with the official code"). Both sides compute in float32.
TOL = {
    # Encoder tokens, RSSM logits and deter, decoder and head outputs, the policy
    # (measured <= 1.1e-6, the decoded image).
    'world': 1e-5,
    # Every loss (mean over the batch, relative to the mean size of its terms) and
    # the total (measured <= 5.1e-7).
    'loss': 1e-5,
    # The same per (batch, time) step (measured <= 6.5e-6, repval): a two-hot
    # target interpolates between bins, which scales a return's rounding by
    # 1 / bin spacing.
    'loss_steps': 3e-5,
    # Imagined states and actions, rewards, continues, values, lambda returns,
    # advantages, the return normalizer (measured <= 1.5e-6).
    'imag': 3e-5,
    # The raw gradient of every parameter, relative to its largest element, and
    # the global norm (measured <= 1.0e-5: backprop through the scans).
    'grad': 1e-4,
    # After an update: optimizer slots and the change of every parameter
    # (measured <= 5.1e-5, momentum; it sums the gradient's sign-like ratios).
    'slots': 3e-4,
    # The same after three updates in a row without re-syncing (measured <= 6.3e-5).
    'chain': 1e-3,
}


def _load(path):
  with np.load(path, allow_pickle=False) as f:
    arrays = {k: f[k] for k in f.files}
  return arrays, json.loads(str(arrays.pop('config')))


def _sub(arrays, prefix):
  return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def make_agent(meta):
  from configs import base
  from dreamerv3_tf.agent import agent as agent_mod
  from dreamerv3_tf.core.spaces import Space
  from dreamerv3_tf.interop import official_config
  config = base.get_config()
  official_config.apply(meta['official'], config)
  config.jit = False  # supplied noise reaches the draws of eager loops only
  predsum = 'stable' if meta['twohot'] == 'stable' else 'official'
  config.agent.value.predsum = config.agent.rewhead.predsum = predsum
  obs_space = {k: Space(np.dtype(d), tuple(s)) for k, (d, s) in meta['spaces']['obs'].items()}
  obs_space.update(reward=Space(np.float32), is_first=Space(bool), is_last=Space(bool),
                   is_terminal=Space(bool))
  act_space = {k: Space(np.dtype(v[0]), tuple(v[1]), *v[2:])
               for k, v in meta['spaces']['act'].items()}
  return agent_mod.Agent(obs_space, act_space, config)


def train_draws(agent, noise):
  """The supplied noise of one update in the order our agent draws it."""
  kind = lambda k: 'uniform' if agent.pol.discrete[k] else 'normal'
  draws = [('uniform', x) for x in noise['obs']]
  H = int(agent.config.agent.imag_length)
  for t in range(H + 1):
    draws += [(kind(k), noise[f'img_act/{k}'][t]) for k in agent.pol.keys]
    if t < H:
      draws.append(('uniform', noise['img_stoch'][t]))
  return draws


def onehot_actions(agent, acts):
  """{key: official env action <[..., dims] or int [...]>} -> <float32>[..., A]."""
  parts = []
  for k in agent.pol.keys:
    x = np.asarray(acts[k])
    if agent.pol.discrete[k]:
      x = np.eye(agent.pol.dims[k], dtype=np.float32)[x]
    parts.append(x.astype(np.float32))
  return np.concatenate(parts, -1)


class Comparison:
  """Collects (name, error, tolerance) rows; `failures()` lists what is over."""

  def __init__(self):
    self.rows = []

  def add(self, group, name, ours, official, slack=0.0, scale=None):
    """Error relative to `scale` (default max |official|), minus `slack` per element."""
    ours = np.asarray(ours, np.float64)
    official = np.asarray(official, np.float64)
    assert ours.shape == official.shape, (name, ours.shape, official.shape)
    scale = np.abs(official).max() if scale is None else scale
    diff = np.maximum(0.0, np.abs(ours - official) - slack)
    err = diff.max() / max(scale, 1e-30) if ours.size else 0.0
    self.rows.append((group, name, float(err)))

  def exact(self, group, name, ours, official):
    ours, official = np.asarray(ours), np.asarray(official)
    assert ours.shape == official.shape, (name, ours.shape, official.shape)
    self.rows.append((group, name, float(np.mean(ours != official))))

  def failures(self, groups):
    return [(g, n, e) for g, n, e in self.rows
            if g in groups and e > (TOL[g] if g in TOL else 0.0)]

  def worst(self, group):
    errs = [(e, n) for g, n, e in self.rows if g == group]
    return max(errs) if errs else (0.0, '')


def compare_update(agent, cmp, arrays, k):
  """Runs update k from the official state before it; adds its comparisons."""
  import tensorflow as tf
  from dreamerv3_tf.agent import dists
  from dreamerv3_tf.interop import official
  before = _sub(arrays, f'params{k - 1}/')
  after = _sub(arrays, f'params{k}/')
  out = _sub(arrays, f'out{k}/')
  official.assign(agent, before)
  batch = {key: v for key, v in _sub(arrays, f'batch{k}/').items() if key != 'consec'}
  B, T = batch['is_first'].shape
  draws = train_draws(agent, _sub(arrays, f'noise{k}/'))
  carry = agent.init_train(B)
  # The same numpy -> tensor conversion as train.
  args = tf.nest.map_structure(tf.convert_to_tensor, agent.step_inputs('train', carry, batch))
  retnorm = [agent.retnorm.lo.numpy(), agent.retnorm.hi.numpy()]
  with dists.supplied_noise(draws):
    grads, aux, _, _ = agent.model.train_grads(*args, tf.constant([0, 0], tf.int64))
  tag = f'u{k}/'
  cmp.add('imag', tag + 'retnorm/lo', agent.retnorm.lo.numpy(), out['imag/retnorm_lo'])
  cmp.add('imag', tag + 'retnorm/hi', agent.retnorm.hi.numpy(), out['imag/retnorm_hi'])
  agent.retnorm.lo.assign(retnorm[0])  # train below updates it again
  agent.retnorm.hi.assign(retnorm[1])

  world = {'tokens': aux['tokens'], 'deter': aux['deter'], 'post': aux['post'],
           'prior': aux['prior'], 'rew/logits': aux['rew'].logits,
           'con/logit': aux['con'].logits}
  for key, dist in aux['recons'].items():
    if f'dec/{key}' in out:
      world[f'dec/{key}'] = dist.mean
  for name, value in world.items():
    cmp.add('world', tag + name, value, out[name])
  cmp.exact('sample', tag + 'stoch', aux['stoch'], out['stoch'])
  img = aux['imag']
  # Ours hold the start state too: [N, H + 1]; the official imagined ones [N, H].
  cmp.exact('sample', tag + 'img/stoch', img['stoch'][:, 1:], out['img/stoch'])
  cmp.add('imag', tag + 'img/deter', img['deter'][:, 1:], out['img/deter'])
  acts = {key: out[f'imag/act/{key}'] for key in agent.pol.keys}
  cmp.add('imag', tag + 'img/act', img['act'], onehot_actions(agent, acts))
  for name in ('rew', 'con', 'val', 'slowval', 'ret', 'adv'):
    cmp.add('imag', tag + f'imag/{name}', img[name], out[f'imag/{name}'])
  cmp.add('imag', tag + 'repl/ret', aux['repl']['ret'], out['repl/ret'])
  for name, value in aux['losses'].items():
    cmp.add('loss_steps', tag + f'loss/{name}', value, out[f'loss/{name}'])
  for name, value in aux['metrics'].items():
    if name.startswith('loss/') and f'metric/{name}' in out:
      # Relative to the size of the terms averaged: a mean of terms of both signs
      # (the policy loss) can be near 0 while each term is known to 1e-7.
      size = np.abs(out[name]).mean() if name in out else None
      cmp.add('loss', tag + f'mean/{name}', value, out[f'metric/{name}'], scale=size)
  cmp.add('loss', tag + 'mean/loss/total', aux['metrics']['loss/total'], out['loss/total'])

  names = {id(var): name for name, _, var in official.rows(agent)}
  for var, grad in zip(agent.model.trainable_weights, grads):
    name = names[id(var)]
    cmp.add('grad', tag + f'grad/{name}', grad.numpy(), out[f'grad/{name}'])

  with dists.supplied_noise(draws):
    _, _, metrics = agent.train(carry, batch)
  cmp.add('loss', tag + 'train/loss/total', metrics['loss/total'], out['loss/total'])
  cmp.add('grad', tag + 'train/grad_norm', metrics['opt/grad_norm'],
          out['metric/opt/grad_norm'])
  compare_state(agent, cmp, tag + 'after/', before, after)


def compare_state(agent, cmp, tag, before, after, group_scale=1.0):
  """Our state (in the official layout) against the official state `after`."""
  from dreamerv3_tf.interop import official
  ours = official.official_layout(agent)
  step = int(after['opt/step/value'])
  cmp.exact('count', tag + 'opt/step', int(agent.opt.step.numpy()), step)
  cmp.exact('count', tag + 'slowval_count',
            int(agent.slowval_updates.numpy()), int(after['slowval_count/value']))
  for name, value in ours.items():
    if name.startswith(('opt/state/', 'opt/step')) or name.endswith('_count/value'):
      if name.startswith('opt/state/'):
        cmp.add('slots', tag + name, value, after[name])
      continue
    if name.startswith('retnorm/'):
      cmp.add('imag', tag + name, value, after[name])
      continue
    # Parameters: compare the change the update made (its size is the learning
    # rate; the parameters themselves would hide its errors). Both sides store the
    # result in float32: one unit in the last place of the parameter is rounding
    # of the stored value, not an error of the update (it matters for the slow
    # critic, whose change of 2% of a small difference is ~1000 such units).
    delta = after[name] - before[name]
    if not np.abs(delta).max():
      cmp.exact('count', tag + name, value, after[name])
    else:
      ulp = np.spacing(np.abs(after[name]).astype(np.float32))
      cmp.add('slots', tag + name + ' (delta)', value - before[name], delta, slack=ulp)


def compare_chain(agent, cmp, arrays, updates):
  """All updates in a row from the initial official state, ours feeding ours."""
  from dreamerv3_tf.agent import dists
  from dreamerv3_tf.interop import official
  first = _sub(arrays, 'params0/')
  official.assign(agent, first)
  for k in range(1, updates + 1):
    batch = {key: v for key, v in _sub(arrays, f'batch{k}/').items() if key != 'consec'}
    with dists.supplied_noise(train_draws(agent, _sub(arrays, f'noise{k}/'))):
      _, _, metrics = agent.train(agent.init_train(len(batch['is_first'])), batch)
    cmp.add('chain', f'chain/u{k}/loss/total', metrics['loss/total'],
            _sub(arrays, f'out{k}/')['loss/total'])
  last = _sub(arrays, f'params{updates}/')
  rows = Comparison()
  compare_state(agent, rows, 'chain/', first, last)
  cmp.rows += [('chain' if g in ('slots', 'imag') else g, n, e) for g, n, e in rows.rows]


def compare_policy(agent, cmp, arrays):
  from dreamerv3_tf.agent import dists
  from dreamerv3_tf.interop import official
  updates = max(int(k.split('/')[0][len('params'):]) for k in arrays if k.startswith('params'))
  official.assign(agent, _sub(arrays, f'params{updates}/'))
  pol = _sub(arrays, 'policy/')
  prev = {k: pol[f'carry/prevact/{k}'] for k in agent.pol.keys}
  carry = {'deter': pol['carry/deter'], 'stoch': pol['carry/stoch'],
           'prevact': onehot_actions(agent, prev)}
  obs = {k[len('obs/'):]: v for k, v in pol.items() if k.startswith('obs/')}
  kind = lambda k: 'uniform' if agent.pol.discrete[k] else 'normal'
  draws = [('uniform', pol['noise/stoch'])] + [
      (kind(k), pol[f'noise/act/{k}']) for k in agent.pol.keys]
  a = agent.config.agent
  for mode, ours_mode, sample in (('train', 'train', False), ('eval', 'eval', True),
                                  ('mode', 'eval', False)):
    a.eval_sample = sample  # True: eval samples like the official eval mode
    with dists.supplied_noise(draws):
      new, act, _ = agent.policy(carry, obs, mode=ours_mode)
    cmp.add('world', f'policy/{mode}/deter', new['deter'], pol[f'{mode}/deter'])
    cmp.exact('sample', f'policy/{mode}/stoch', new['stoch'], pol[f'{mode}/stoch'])
    for k in agent.pol.keys:
      if agent.pol.discrete[k]:
        cmp.exact('sample', f'policy/{mode}/act/{k}', act[k], pol[f'{mode}/act/{k}'])
      else:
        cmp.add('world', f'policy/{mode}/act/{k}', act[k], pol[f'{mode}/act/{k}'])
  a.eval_sample = False


@pytest.fixture(scope='module', params=GOLDEN, ids=lambda p: os.path.basename(p)[:-4])
def parity(request):
  """Runs every golden update and the policy once per golden file."""
  arrays, meta = _load(request.param)
  agent = make_agent(meta)
  cmp = Comparison()
  for k in range(1, meta['updates'] + 1):
    compare_update(agent, cmp, arrays, k)
  compare_policy(agent, cmp, arrays)
  compare_chain(agent, cmp, arrays, meta['updates'])
  print(f'\n{os.path.basename(request.param)}: worst relative error per group')
  for group in sorted({g for g, _, _ in cmp.rows}):
    err, name = cmp.worst(group)
    print(f'  {group:7s} {err:.2e}  {name}')
  return agent, arrays, meta, cmp


def test_world_model_matches(parity):
  _, _, _, cmp = parity
  assert not cmp.failures({'world'}), cmp.failures({'world'})


def test_samples_are_identical(parity):
  # Same noise, same inverse-CDF draws: one-hot latents and discrete actions agree
  # exactly unless a uniform lands within float rounding of a CDF boundary.
  _, _, _, cmp = parity
  assert not cmp.failures({'sample'}), cmp.failures({'sample'})


def test_losses_match(parity):
  _, _, _, cmp = parity
  assert not cmp.failures({'loss', 'loss_steps'}), cmp.failures({'loss', 'loss_steps'})


def test_imagination_returns_and_advantages_match(parity):
  _, _, _, cmp = parity
  assert not cmp.failures({'imag'}), cmp.failures({'imag'})


def test_gradients_match(parity):
  _, _, _, cmp = parity
  names = {n.split('/', 2)[2] for g, n, _ in cmp.rows if g == 'grad' and '/grad/' in n}
  _, arrays, _, _ = parity
  trainable = {k[len('out1/grad/'):] for k in arrays if k.startswith('out1/grad/')}
  assert names == trainable  # every parameter's gradient was compared
  assert not cmp.failures({'grad'}), cmp.failures({'grad'})


def test_updates_match(parity):
  _, _, _, cmp = parity
  assert not cmp.failures({'slots', 'count'}), cmp.failures({'slots', 'count'})


def test_three_updates_in_a_row(parity):
  # No re-sync between updates: each update starts from our own result of the last.
  _, _, _, cmp = parity
  assert not cmp.failures({'chain', 'count'}), cmp.failures({'chain', 'count'})
