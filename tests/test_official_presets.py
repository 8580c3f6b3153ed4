"""The named suite presets are the official configs (dreamerv3/configs.yaml at e3f0224):
`--configs dmc_vision` there is `configs/dmc.py:vision` here. dmc.py's presets ran 1 train
/ 1 eval env, and vision, atari, atari100k and crafter a size12m model where the official
trains its default one (size200m's dimensions).

The official values are data here, each with the configs.yaml key it comes from: the
official checkout is not there in CI."""

import pytest

from configs import atari
from configs import atari100k
from configs import base
from configs import crafter
from configs import dmc
from configs import gym

OFFICIAL_DEFAULTS = {  # configs.yaml `defaults:`
    'run.envs': 16,  # defaults.run.envs
    'run.eval_envs': 4,  # defaults.run.eval_envs
    'size': '200m',  # defaults.agent.dyn.rssm {deter: 8192, ...}, enc.simple.depth 64, ...
}

# (our config, presets) -> {our key: (official value, configs.yaml key)}
OFFICIAL = {
    ('dmc', 'proprio'): {
        'task': ('dmc_walker_walk', 'dmc_proprio.task'),
        'run.steps': (int(1.1e6), 'dmc_proprio.run.steps'),
        'run.train_ratio': (1024.0, 'dmc_proprio.run.train_ratio'),
        'env.dmc.image': (False, 'dmc_proprio.env.dmc.image'),
        'env.dmc.proprio': (True, 'defaults.env.dmc.proprio'),
        'size': ('1m', 'dmc_proprio: <<: *size1m')},
    ('dmc', 'vision'): {
        'task': ('dmc_walker_walk', 'dmc_vision.task'),
        'run.steps': (int(1.1e6), 'dmc_vision.run.steps'),
        'run.train_ratio': (256.0, 'dmc_vision.run.train_ratio'),
        'env.dmc.proprio': (False, 'dmc_vision.env.dmc.proprio'),
        'env.dmc.image': (True, 'defaults.env.dmc.image')},
    ('atari', ''): {
        'task': ('atari_pong', 'atari.task'),
        'run.steps': (int(5.1e7), 'atari.run.steps'),
        'run.train_ratio': (32.0, 'atari.run.train_ratio')},
    ('atari100k', ''): {
        'task': ('atari100k_pong', 'atari100k.task'),
        'run.steps': (int(1.1e5), 'atari100k.run.steps'),
        'run.envs': (1, 'atari100k.run.envs'),
        'run.train_ratio': (256.0, 'atari100k.run.train_ratio')},
    ('crafter', ''): {
        'task': ('crafter_reward', 'crafter.task'),
        'run.steps': (int(1.1e6), 'crafter.run.steps'),
        'run.envs': (1, 'crafter.run.envs'),
        'run.train_ratio': (512.0, 'crafter.run.train_ratio')},
}
FILES = {'dmc': dmc, 'atari': atari, 'atari100k': atari100k, 'crafter': crafter}


def model_size(c):
  """The base.SIZES name whose dimensions `c` has, else None."""
  a = c.agent
  have = dict(deter=a.rssm.deter, hidden=a.rssm.hidden, classes=a.rssm.classes,
              depth=a.enc.depth, units=a.enc.units)
  same = {a.dec.depth} == {have['depth']} and {
      a[k].units for k in ('dec', 'rewhead', 'conhead', 'policy', 'value')} == {have['units']}
  return next((k for k, s in base.SIZES.items() if s == have and same), None)


def ours(c, key):
  if key == 'size':
    return model_size(c)
  for part in key.split('.'):
    c = c[part]
  return c


@pytest.mark.parametrize('file, presets', sorted(OFFICIAL))
def test_a_named_preset_is_the_official_config(file, presets):
  c = FILES[file].get_config(presets)
  want = {k: (v, f'defaults: {k}') for k, v in OFFICIAL_DEFAULTS.items()}
  want.update(OFFICIAL[file, presets])
  got = {k: ours(c, k) for k in want}
  assert got == {k: v for k, (v, _) in want.items()}, [
      f'{k}: ours {got[k]!r}, official {v!r} ({where})'
      for k, (v, where) in want.items() if got[k] != v]
  # Each eval env plays its share of run.eval_eps (README: eval episodes): one episode
  # each, as the official's eval of four envs that start together logs four on DMC.
  assert c.run.eval_eps == c.run.eval_envs


@pytest.mark.parametrize('file, presets, envs, eval_envs, size, ratio', [
    (dmc, 'train_eval', 16, 4, '1m', 1024.0),  # dmc_proprio on dmc_cartpole_balance
    (dmc, 'cpu', 1, 1, '1m', 128.0), (dmc, 'quick', 1, 1, '1m', 128.0),
    (dmc, 'vision,cpu', 1, 1, '1m', 128.0),
    (dmc, 'vision,size12m', 16, 4, '12m', 256.0),
    # The official dmc_vision sets no size, so one before it counts (vision set size12m).
    (dmc, 'size12m,vision', 16, 4, '12m', 256.0), (dmc, 'debug,vision', 2, 1, None, 256.0),
    (gym, '', 1, 1, '1m', 512.0), (gym, 'quick', 1, 1, '1m', 256.0),
    (dmc, 'vision,debug', 2, 1, None, 16.0), (atari, 'debug', 2, 1, None, 16.0),
    (crafter, 'debug', 2, 1, None, 16.0)])
def test_the_cpu_presets_set_their_own(file, presets, envs, eval_envs, size, ratio):
  """The CPU-friendly presets keep their env counts and models after a suite preset."""
  c = file.get_config(presets)
  assert (c.run.envs, c.run.eval_envs, model_size(c), c.run.train_ratio) == (
      envs, eval_envs, size, ratio)
  assert c.run.eval_eps >= c.run.eval_envs  # no eval env that never steps
  if 'debug' in presets:
    assert c.agent.rssm.deter == 16


@pytest.mark.parametrize('file, presets', sorted(OFFICIAL))
def test_the_official_flag_names_the_preset_that_is_its_config(file, presets):
  """`--configs dmc_vision` is refused with the line that names ours: the plain preset."""
  from dreamerv3_tf import official_flags
  name = {('dmc', 'proprio'): 'dmc_proprio', ('dmc', 'vision'): 'dmc_vision'}.get(
      (file, presets), file)
  line = official_flags.refusal(['main', '--configs', name], {'config'})
  assert line.endswith(f': --config=configs/{file}.py:{presets or "train_eval"}'), line
