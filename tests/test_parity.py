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


def test_golden_files_are_there():
  # They are committed: a missing file is a broken checkout, not a reason to skip.
  assert GOLDEN, f'no *.npz in {GOLDEN_DIR} (tools/parity/README.md makes them)'


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
    # The value head's gradient: it averages softmax minus two-hot targets of the
    # lambda returns, and a target interpolates between bins 0.16-0.3 apart near 0
    # when there are 255 bins, so the returns' float32 rounding (~1e-6 relative)
    # moves target weights by ~1e-5: pairs of adjacent bins with opposite errors.
    # Measured 2e-4 with 255 bins (seed 1), 1e-5 with 15-16 bins (committed files).
    'grad_value': 1e-3,
    # Our optimizer on the official gradients: slots and parameter changes
    # (measured <= 9.3e-6). The bias corrections 1 - beta^t are computed in float32
    # by different routes (optax: an integer power, repeated products; ours:
    # tf.pow), and at t = 2, 3 they differ by 6.6e-6 / 6.2e-6 relative
    # (1 - 0.999^t cancels); that difference vanishes as t grows.
    'optimizer': 1e-4,
    # After an update with our own gradients: slots and the change of every
    # parameter, beyond what our gradient's difference explains elementwise
    # (`update_slack`; measured <= 6.4e-6 beyond it, 5.1e-5 without it).
    'slots': 3e-4,
    # The same after three updates in a row without re-syncing, allowances summed
    # (measured <= 9.6e-6 beyond them).
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
  dgrad = {}
  for var, grad in zip(agent.model.trainable_weights, grads):
    name = names[id(var)]
    # The value head learns toward two-hot targets of the lambda returns; see TOL.
    group = 'grad_value' if name.startswith('val/') else 'grad'
    cmp.add(group, tag + f'grad/{name}', grad.numpy(), out[f'grad/{name}'])
    dgrad[name] = grad.numpy().astype(np.float64) - out[f'grad/{name}']

  with dists.supplied_noise(draws):
    _, _, metrics = agent.train(carry, batch)
  cmp.add('loss', tag + 'train/loss/total', metrics['loss/total'], out['loss/total'])
  cmp.add('grad', tag + 'train/grad_norm', metrics['opt/grad_norm'],
          out['metric/opt/grad_norm'])
  slack = update_slack(agent, after, out, dgrad, k)
  compare_state(agent, cmp, tag + 'after/', before, after, slack)
  compare_optimizer(agent, cmp, arrays, k)
  return slack


def update_slack(agent, after, out, dgrad, k):
  """How far update k may move from the official one given our gradient's difference.

  LaProp divides each gradient element by its RMS history, so an element whose
  gradient is small moves its parameter as much as a large one, and a gradient
  difference far below the tensor's largest element can change that element's
  update by its whole size. Linearized per element: mu moves by (1 - beta1) * dg /
  sqrt(nu_hat) and the parameter by lr_k / (1 - beta1^k) times that; the slow
  critic by its rate times the value head's. The optimizer alone is compared
  without any slack (`compare_optimizer`). -> {official name: elementwise slack}
  """
  o = agent.config.agent.opt
  b1, b2, eps = o['beta1'], o['beta2'], o['eps']
  lr = o['lr'] * min(1.0, (k - 1) / o['warmup']) if o['warmup'] else o['lr']
  rate = agent.config.agent.slowvalue['rate']
  slack = {}
  for name, dg in dgrad.items():
    g = out[f'grad/{name}'].astype(np.float64)
    nu_hat = after[f'opt/state/1/1/{name}'].astype(np.float64) / (1 - b2 ** k)
    dmu = 2 * (1 - b1) * np.abs(dg) / (np.sqrt(nu_hat) + eps)  # 2: linearization margin
    slack[f'opt/state/2/1/{name}'] = dmu
    slack[f'opt/state/1/1/{name}'] = 2 * (1 - b2) * (2 * np.abs(g * dg) + dg ** 2)
    slack[name] = lr / (1 - b1 ** k) * dmu
    if name.startswith('val/'):
      slack['slow' + name] = rate * slack[name]
  return slack


def compare_optimizer(agent, cmp, arrays, k):
  """Our optimizer on the official gradients of update k, from the official state."""
  from dreamerv3_tf.interop import official
  before = _sub(arrays, f'params{k - 1}/')
  after = _sub(arrays, f'params{k}/')
  out = _sub(arrays, f'out{k}/')
  official.assign(agent, before)
  names = {id(var): name for name, _, var in official.rows(agent)}
  variables = agent.model.trainable_weights
  agent.opt.apply([out[f'grad/{names[id(v)]}'] for v in variables], variables)
  ours = official.official_layout(agent)
  for v in variables:
    name = names[id(v)]
    for slot in (f'opt/state/1/1/{name}', f'opt/state/2/1/{name}'):
      cmp.add('optimizer', f'u{k}/optimizer/{slot}', ours[slot], after[slot])
    delta = after[name] - before[name]
    if np.abs(delta).max():
      ulp = np.spacing(np.abs(after[name]).astype(np.float32))
      cmp.add('optimizer', f'u{k}/optimizer/{name} (delta)', ours[name] - before[name],
              delta, slack=ulp)
    else:
      cmp.exact('count', f'u{k}/optimizer/{name}', ours[name], after[name])


def compare_state(agent, cmp, tag, before, after, slack, group='slots'):
  """Our state (in the official layout) against the official state `after`.

  `slack`: elementwise allowances per official name (see `update_slack`).
  """
  from dreamerv3_tf.interop import official
  ours = official.official_layout(agent)
  step = int(after['opt/step/value'])
  cmp.exact('count', tag + 'opt/step', int(agent.opt.step.numpy()), step)
  cmp.exact('count', tag + 'slowval_count',
            int(agent.slowval_updates.numpy()), int(after['slowval_count/value']))
  for name, value in ours.items():
    if name.startswith(('opt/state/', 'opt/step')) or name.endswith('_count/value'):
      if name.startswith('opt/state/'):
        cmp.add(group, tag + name, value, after[name], slack=slack.get(name, 0.0))
      continue
    if name.startswith('retnorm/'):
      cmp.add('imag' if group == 'slots' else group, tag + name, value, after[name])
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
      cmp.add(group, tag + name + ' (delta)', value - before[name], delta,
              slack=ulp + slack.get(name, 0.0))


def compare_chain(agent, cmp, arrays, updates, slacks):
  """All updates in a row from the initial official state, ours feeding ours.

  `slacks`: the allowances of the re-synced updates (`update_slack`), summed.
  """
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
  compare_state(agent, cmp, 'chain/', first, last, chain_slack(agent, slacks),
                group='chain')


def chain_slack(agent, slacks):
  """The allowances of the re-synced updates carried through three in a row.

  Momentum keeps a share beta1 of each update's difference (of the first update
  too, whose learning rate is 0), the parameters sum their changes, and the slow
  critic follows the value head at its rate.
  """
  o = agent.config.agent.opt
  b1, b2 = o['beta1'], o['beta2']
  rate = agent.config.agent.slowvalue['rate']
  mu, nu, param, slow = {}, {}, {}, {}
  for k, slack in enumerate(slacks, 1):
    lr = o['lr'] * min(1.0, (k - 1) / o['warmup']) if o['warmup'] else o['lr']
    for key, value in slack.items():
      if not key.startswith('opt/state/2/1/'):
        continue
      name = key[len('opt/state/2/1/'):]
      mu[name] = b1 * mu.get(name, 0.0) + value
      nu[name] = b2 * nu.get(name, 0.0) + slack[f'opt/state/1/1/{name}']
      param[name] = param.get(name, 0.0) + lr / (1 - b1 ** k) * mu[name]
      if name.startswith('val/'):
        slow['slow' + name] = (1 - rate) * slow.get('slow' + name, 0.0) + rate * param[name]
  out = {**param, **slow}
  out.update({f'opt/state/2/1/{n}': v for n, v in mu.items()})
  out.update({f'opt/state/1/1/{n}': v for n, v in nu.items()})
  return out


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
  slacks = [compare_update(agent, cmp, arrays, k) for k in range(1, meta['updates'] + 1)]
  compare_policy(agent, cmp, arrays)
  compare_chain(agent, cmp, arrays, meta['updates'], slacks)
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
  groups = {'grad', 'grad_value'}
  names = {n.split('/', 2)[2] for g, n, _ in cmp.rows if g in groups and '/grad/' in n}
  _, arrays, _, _ = parity
  trainable = {k[len('out1/grad/'):] for k in arrays if k.startswith('out1/grad/')}
  assert names == trainable  # every parameter's gradient was compared
  assert not cmp.failures(groups), cmp.failures(groups)


def test_optimizer_matches_on_the_official_gradients(parity):
  _, _, _, cmp = parity
  assert not cmp.failures({'optimizer', 'count'}), cmp.failures({'optimizer', 'count'})


def test_updates_match(parity):
  _, _, _, cmp = parity
  assert not cmp.failures({'slots', 'count'}), cmp.failures({'slots', 'count'})


def test_three_updates_in_a_row(parity):
  # No re-sync between updates: each update starts from our own result of the last.
  _, _, _, cmp = parity
  assert not cmp.failures({'chain', 'count'}), cmp.failures({'chain', 'count'})
