"""configs/base.py's defaults are the official defaults (`defaults:` of dreamerv3/configs.yaml
at e3f0224): a user of our base config trains the official agent, on the official replay
and batches. Each official key is compared through the importer's own table
(interop/official_config.py: SAME, REQUIRED) or OTHER_KEYS below; a key that
differs on purpose names the README row that says why.

The official values are data here, each under its configs.yaml key (`defaults.` left
off): the official checkout is not there in CI. Keys of its infrastructure (logdir,
replica(s), method, the addresses and actor settings, ipv6, errfile, logger, run.usage,
run.debug, jax's platform, devices and debug) shape no learning and are not held here."""

import re

import pytest

from configs import atari
from configs import atari100k
from configs import base
from configs import crafter
from configs import dmc
from configs import gym
from configs import presets
from dreamerv3_tf.interop import official_config

OFFICIAL = {
    # top level
    'seed': 0, 'script': 'train', 'task': 'dummy_disc', 'random_agent': False,
    'batch_size': 16, 'batch_length': 64, 'report_length': 32, 'replay_context': 1,
    'consec_train': 1, 'consec_report': 1,
    'jax.compute_dtype': 'bfloat16', 'jax.jit': True,
    'replay.size': 5e6, 'replay.online': True, 'replay.chunksize': 1024,
    'replay.fracs': {'uniform': 1.0, 'priority': 0.0, 'recency': 0.0},
    'replay.prio': {'exponent': 0.8, 'maxfrac': 0.5, 'initial': float('inf'),
                    'zero_on_sample': True},
    'replay.priosignal': 'model', 'replay.recexp': 1.0,
    'run.steps': 1e10, 'run.duration': 0, 'run.train_ratio': 32.0, 'run.log_every': 120,
    'run.report_every': 300, 'run.save_every': 900, 'run.envs': 16, 'run.eval_envs': 4,
    'run.eval_eps': 1, 'run.report_batches': 1, 'run.from_checkpoint': '',
    'run.episode_timeout': 180,
    # agent
    'agent.loss_scales.rec': 1.0, 'agent.loss_scales.rew': 1.0, 'agent.loss_scales.con': 1.0,
    'agent.loss_scales.dyn': 1.0, 'agent.loss_scales.rep': 0.1,
    'agent.loss_scales.policy': 1.0, 'agent.loss_scales.value': 1.0,
    'agent.loss_scales.repval': 0.3,
    'agent.opt.lr': 4e-5, 'agent.opt.agc': 0.3, 'agent.opt.eps': 1e-20,
    'agent.opt.beta1': 0.9, 'agent.opt.beta2': 0.999, 'agent.opt.momentum': True,
    'agent.opt.wd': 0.0, 'agent.opt.schedule': 'const', 'agent.opt.warmup': 1000,
    'agent.opt.anneal': 0,
    'agent.ac_grads': False,
    'agent.dyn.typ': 'rssm',
    'agent.dyn.rssm.deter': 8192, 'agent.dyn.rssm.hidden': 1024, 'agent.dyn.rssm.stoch': 32,
    'agent.dyn.rssm.classes': 64, 'agent.dyn.rssm.act': 'silu', 'agent.dyn.rssm.norm': 'rms',
    'agent.dyn.rssm.unimix': 0.01, 'agent.dyn.rssm.outscale': 1.0,
    'agent.dyn.rssm.winit': 'trunc_normal_in', 'agent.dyn.rssm.imglayers': 2,
    'agent.dyn.rssm.obslayers': 1, 'agent.dyn.rssm.dynlayers': 1,
    'agent.dyn.rssm.absolute': False, 'agent.dyn.rssm.blocks': 8,
    'agent.dyn.rssm.free_nats': 1.0,
    'agent.enc.typ': 'simple',
    'agent.enc.simple.depth': 64, 'agent.enc.simple.mults': [2, 3, 4, 4],
    'agent.enc.simple.layers': 3, 'agent.enc.simple.units': 1024,
    'agent.enc.simple.act': 'silu', 'agent.enc.simple.norm': 'rms',
    'agent.enc.simple.winit': 'trunc_normal_in', 'agent.enc.simple.symlog': True,
    'agent.enc.simple.outer': False, 'agent.enc.simple.kernel': 5,
    'agent.enc.simple.strided': False,
    'agent.dec.typ': 'simple',
    'agent.dec.simple.depth': 64, 'agent.dec.simple.mults': [2, 3, 4, 4],
    'agent.dec.simple.layers': 3, 'agent.dec.simple.units': 1024,
    'agent.dec.simple.act': 'silu', 'agent.dec.simple.norm': 'rms',
    'agent.dec.simple.outscale': 1.0, 'agent.dec.simple.winit': 'trunc_normal_in',
    'agent.dec.simple.outer': False, 'agent.dec.simple.kernel': 5,
    'agent.dec.simple.bspace': 8, 'agent.dec.simple.strided': False,
    'agent.rewhead.layers': 1, 'agent.rewhead.units': 1024, 'agent.rewhead.act': 'silu',
    'agent.rewhead.norm': 'rms', 'agent.rewhead.output': 'symexp_twohot',
    'agent.rewhead.outscale': 0.0, 'agent.rewhead.winit': 'trunc_normal_in',
    'agent.rewhead.bins': 255,
    'agent.conhead.layers': 1, 'agent.conhead.units': 1024, 'agent.conhead.act': 'silu',
    'agent.conhead.norm': 'rms', 'agent.conhead.output': 'binary',
    'agent.conhead.outscale': 1.0, 'agent.conhead.winit': 'trunc_normal_in',
    'agent.policy.layers': 3, 'agent.policy.units': 1024, 'agent.policy.act': 'silu',
    'agent.policy.norm': 'rms', 'agent.policy.minstd': 0.1, 'agent.policy.maxstd': 1.0,
    'agent.policy.outscale': 0.01, 'agent.policy.unimix': 0.01,
    'agent.policy.winit': 'trunc_normal_in',
    'agent.value.layers': 3, 'agent.value.units': 1024, 'agent.value.act': 'silu',
    'agent.value.norm': 'rms', 'agent.value.output': 'symexp_twohot',
    'agent.value.outscale': 0.0, 'agent.value.winit': 'trunc_normal_in',
    'agent.value.bins': 255,
    'agent.policy_dist_disc': 'categorical', 'agent.policy_dist_cont': 'bounded_normal',
    'agent.imag_last': 0, 'agent.imag_length': 15, 'agent.horizon': 333,
    'agent.contdisc': True,
    'agent.imag_loss.slowtar': False, 'agent.imag_loss.lam': 0.95,
    'agent.imag_loss.actent': 3e-4, 'agent.imag_loss.slowreg': 1.0,
    'agent.repl_loss.slowtar': False, 'agent.repl_loss.lam': 0.95,
    'agent.repl_loss.slowreg': 1.0,
    'agent.slowvalue.rate': 0.02, 'agent.slowvalue.every': 1,
    'agent.retnorm.impl': 'perc', 'agent.retnorm.rate': 0.01, 'agent.retnorm.limit': 1.0,
    'agent.retnorm.perclo': 5.0, 'agent.retnorm.perchi': 95.0,
    'agent.retnorm.debias': False,
    'agent.valnorm.impl': 'none', 'agent.valnorm.rate': 0.01, 'agent.valnorm.limit': 1e-8,
    'agent.advnorm.impl': 'none', 'agent.advnorm.rate': 0.01, 'agent.advnorm.limit': 1e-8,
    'agent.reward_grad': True, 'agent.repval_loss': True, 'agent.repval_grad': True,
    'agent.report': True, 'agent.report_gradnorms': False,
}

# Official keys the importer does not copy -> ours: the run's settings, and the discrete
# policy's unimix, which the official categorical head ignores (the importer sets ours 0).
OTHER_KEYS = {
    'agent.policy.unimix': 'agent.policy.unimix',
    'script': 'script', 'random_agent': 'random_agent', 'jax.compute_dtype': 'compute_dtype',
    'jax.jit': 'jit', 'replay.size': 'replay.size', 'replay.online': 'replay.online',
    'replay.chunksize': 'replay.chunksize', 'replay.fracs': 'replay.fracs',
    'replay.prio': 'replay.prio', 'replay.recexp': 'replay.recexp',
    'run.steps': 'run.steps', 'run.duration': 'run.duration',
    'run.log_every': 'run.log_every', 'run.report_every': 'run.report_every',
    'run.save_every': 'run.save_every', 'run.envs': 'run.envs',
    'run.eval_envs': 'run.eval_envs', 'run.eval_eps': 'run.eval_eps',
    'run.report_batches': 'run.report_batches', 'run.from_checkpoint': 'run.from_checkpoint',
}

# Official key -> (our value, the `what` of README's "Where we differ" row that says why).
DIFFERS = {
    'task': ('dmc_walker_walk', "a config file's defaults"),
    'script': ('train_eval', "a config file's defaults"),
    'run.envs': (4, "a config file's defaults"),
    'run.eval_envs': (1, "a config file's defaults"),
    'jax.compute_dtype': ('float32', 'compute dtype'),
    # The same number; the official counts sequence starts, we count steps.
    'replay.size': (int(5e6), 'replay capacity'),
    'agent.policy.unimix': (0.0, 'policy unimix setting'),
}

# Official keys with no setting of ours: why the official default is what we do.
NO_SETTING = {
    'replay.priosignal': 'read nowhere in the official code',
    'run.episode_timeout': 'official parallel script only; ours: run.env_timeout',
    'agent.opt.anneal': "unused by the official schedule 'const' (REQUIRED)",
    'agent.valnorm.rate': "unused by impl 'none' (REQUIRED)",
    'agent.valnorm.limit': "unused by impl 'none' (REQUIRED)",
    'agent.advnorm.rate': "unused by impl 'none' (REQUIRED)",
    'agent.advnorm.limit': "unused by impl 'none' (REQUIRED)",
    'agent.report': 'reports run every run.report_every (0: never)',
}

# configs.yaml `defaults.env`, of the suites we have.
OFFICIAL_ENV = {
    'dmc': {'size': [64, 64], 'repeat': 1, 'proprio': True, 'image': True, 'camera': -1},
    'atari': {'size': [96, 96], 'repeat': 4, 'sticky': True, 'gray': True, 'actions': 'all',
              'lives': 'unused', 'noops': 30, 'autostart': False, 'pooling': 2,
              'aggregate': 'max', 'resize': 'pillow', 'clip_reward': False},
    # No pooling or aggregate in configs.yaml: the official Atari's defaults, 2 and 'max'
    # (embodied/envs/atari.py:25).
    'atari100k': {'size': [64, 64], 'repeat': 4, 'sticky': False, 'gray': False,
                  'actions': 'needed', 'lives': 'unused', 'noops': 30, 'autostart': False,
                  'pooling': 2, 'aggregate': 'max', 'resize': 'pillow',
                  'clip_reward': False},
    'crafter': {'size': [64, 64], 'logs': False},
}
# Official env keys with no setting in config.env: why the official value is what we do.
ENV_NO_SETTING = {
    'autostart': 'our Atari constructor: autostart=False',
    'resize': "PIL's bilinear filter, the official 'pillow' (envs/atari.py NO_OPTION)",
    'logs': "Crafter's achievement files in the logdir: no learning",
}


def ours(c, key):
  for part in key.split('.'):
    c = c[part]
  return c.to_dict() if hasattr(c, 'to_dict') else c


def plain(value):
  """A YAML list as our tuple; numbers as floats (YAML's 5e6 is ours int(5e6))."""
  if isinstance(value, list):
    return tuple(value)
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    return float(value)
  if isinstance(value, dict):
    return {k: plain(v) for k, v in value.items()}
  return value


def _differences(c):
  """-> [line] of every official default that our config `c` does not have."""
  lines = []
  for key, want in OFFICIAL.items():
    if key in NO_SETTING:
      continue
    if key in DIFFERS:
      want = DIFFERS[key][0]
    if key in official_config.REQUIRED:  # the only value we implement
      got = official_config.REQUIRED[key]
    else:
      got = ours(c, official_config.SAME.get(key) or OTHER_KEYS[key])
    if plain(got) != plain(want):
      lines.append(f'{key}: ours {got!r}, official {OFFICIAL[key]!r}')
  return lines


def test_every_official_default_has_one_place():
  """Compared through one table, or listed with why we have no such setting."""
  tables = (official_config.SAME, official_config.REQUIRED, OTHER_KEYS, NO_SETTING)
  for key in OFFICIAL:
    assert sum(key in t for t in tables) == 1, key
  assert set(DIFFERS) <= set(OFFICIAL) - set(NO_SETTING)
  # The importer's tables hold no official key missing here but two arguments of the
  # official code that configs.yaml leaves at their defaults (dreamerv3/agent.py:350,
  # rssm.py:263).
  assert set(official_config.REQUIRED) - set(OFFICIAL) == {
      'agent.opt.nesterov', 'agent.dec.simple.symlog'}
  assert set(official_config.SAME) <= set(OFFICIAL)


def test_base_has_the_official_defaults():
  c = base.get_config()
  assert _differences(c) == []
  # The eval replay's capacity: `config.replay.size / 10` (dreamerv3/main.py:187).
  assert c.replay.eval_fraction == 0.1


def test_a_changed_default_is_named():
  c = base.get_config()
  c.agent.imag_loss.actent = 1e-3
  c.replay.fracs.uniform = 0.5
  c.agent.policy.unimix = 0.01  # (the official's value, not ours)
  assert [line.split(':')[0] for line in _differences(c)] == [
      'replay.fracs', 'agent.policy.unimix', 'agent.imag_loss.actent']
  assert _differences(c)[-1] == 'agent.imag_loss.actent: ours 0.001, official 0.0003'


@pytest.mark.parametrize('file, arg', [
    (dmc, 'proprio'), (dmc, 'vision'), (atari, ''), (atari100k, ''), (crafter, ''),
    (gym, ''), (dmc, 'cpu')])
def test_a_suite_file_keeps_the_official_agent_but_its_size(file, arg):
  """The suite files and presets set the task, the run and the model size (README rows
  for those that are not the official's); the agent, replay and batches stay base's."""
  c = file.get_config(arg)
  want = base.get_config()
  deter = c.agent.rssm.deter
  presets.size(next(k for k, s in base.SIZES.items() if s['deter'] == deter))(want)
  keys = [official_config.SAME.get(k) or OTHER_KEYS.get(k) for k in OFFICIAL]
  keys = [k for k in keys if k and not k.startswith(('run.', 'task', 'script'))]
  assert {k: ours(c, k) for k in keys} == {k: ours(want, k) for k in keys}


@pytest.mark.parametrize('suite', sorted(OFFICIAL_ENV))
def test_base_has_the_official_env_settings(suite):
  import inspect
  from dreamerv3_tf.envs import atari as atari_env
  env = base.get_config().env[suite].to_dict()
  want = {k: v for k, v in OFFICIAL_ENV[suite].items() if k not in ENV_NO_SETTING}
  assert {k: plain(env.get(k)) for k in want} == plain(want)
  assert set(env) - set(want) == set()  # no setting of ours the official lacks
  if 'autostart' in OFFICIAL_ENV[suite]:
    default = inspect.signature(atari_env.Atari).parameters['autostart'].default
    assert default is OFFICIAL_ENV[suite]['autostart']


@pytest.mark.parametrize('key', sorted(DIFFERS))
def test_a_deliberate_difference_has_its_readme_row(key):
  import os
  readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'README.md')).read()
  table = readme.split('## Where we differ from the official code, and why', 1)[1]
  rows = re.findall(r'^\| ([^|]+?) \|', table, re.M)
  assert DIFFERS[key][1] in rows


@pytest.mark.parametrize('key, value', [
    ('consec_train', 2), ('consec_report', 4), ('agent.report_gradnorms', True),
    ('agent.dyn.rssm.winit', 'normal'), ('agent.value.winit', 'trunc_normal_out')])
def test_the_importer_refuses_an_official_option_we_lack(key, value):
  """A config.yaml of one of these was imported, and its checkpoint trained on and
  reported under our defaults without a word."""
  tree = {}
  *parents, leaf = key.split('.')
  node = tree
  for part in parents:
    node = node.setdefault(part, {})
  node[leaf] = value
  with pytest.raises(official_config.OfficialConfigError) as error:
    official_config.apply(tree, base.get_config())
  assert str(error.value).startswith(f'official {key}={value!r} is not implemented here')
