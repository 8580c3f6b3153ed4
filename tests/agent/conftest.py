"""Shared helpers and compiled agents for the agent tests (debug-sized configs).

Compiling an agent's train step takes ~10-15 s on 2 cores, so the one jit-compiled
agent (`bandit_agent`) is session-scoped and shared; shape tests use eager agents
(`config.jit=False`), which build in a fraction of a second.
"""

import numpy as np
import pytest

from configs import base
from configs import presets
from dreamerv3_tf.core.spaces import Space

META = {
    'reward': Space(np.float32), 'is_first': Space(bool),
    'is_last': Space(bool), 'is_terminal': Space(bool)}


def make_config(jit=False, **agent):
  c = base.get_config()
  presets.debug(c)
  c.jit = jit
  for key, value in agent.items():
    if isinstance(value, dict):
      c.agent[key].update(value)
    else:
      c.agent[key] = value
  return c


def make_spaces(obs='vector', act='disc'):
  """obs: vector | image | mixed; act: disc | cont | dict."""
  obs_space = dict(META)
  if obs in ('vector', 'mixed'):
    obs_space['position'] = Space(np.float32, (3,))
    obs_space['velocity'] = Space(np.float32, (2,))
  if obs in ('image', 'mixed'):
    obs_space['image'] = Space(np.uint8, (16, 16, 3))
  act_space = {
      'disc': {'action': Space(np.int32, (), 0, 3)},
      'cont': {'action': Space(np.float32, (2,), -1, 1)},
      'dict': {'move': Space(np.float32, (2,), -1, 1),
               'button': Space(np.int32, (), 0, 4)},
  }[act]
  return obs_space, act_space


def image_config(jit=False):
  """Debug config whose conv stacks fit 16x16 images (two stages: 16 -> 4)."""
  return make_config(jit, enc=dict(mults=(2, 3)), dec=dict(mults=(2, 3)))


def random_obs(obs_space, lead, rng):
  out = {}
  for k, s in obs_space.items():
    if s.dtype == np.uint8:
      out[k] = rng.integers(0, 256, (*lead, *s.shape), dtype=np.uint8)
    elif s.dtype == bool:
      out[k] = np.zeros((*lead, *s.shape), bool)
    elif np.issubdtype(s.dtype, np.integer):
      out[k] = rng.integers(s.low.min(), s.high.max(), (*lead, *s.shape)).astype(s.dtype)
    else:
      out[k] = rng.uniform(-1, 1, (*lead, *s.shape)).astype(s.dtype)
  return out


def make_batch(agent, T, rng, B=None):
  """A valid train/report batch <[B, T, ...]> with random values."""
  config = agent.config
  B = B or config.batch_size
  batch = random_obs({**agent.obs_space, **agent.act_space}, (B, T), rng)
  batch['is_first'][:, 0] = True
  batch['stepid'] = rng.integers(0, 256, (B, T, 20), dtype=np.uint8)
  r = config.agent.rssm
  batch['dyn/deter'] = rng.normal(0, 0.5, (B, T, r.deter)).astype(np.float32)
  stoch = rng.integers(0, r.classes, (B, T, r.stoch))
  batch['dyn/stoch'] = np.eye(r.classes, dtype=np.float32)[stoch]
  return batch


def train_length(agent):
  return agent.config.batch_length + agent.config.replay_context


def report_length(agent):
  return agent.config.report_length + agent.config.replay_context


# --- the contextual bandit used by the learning test -----------------------------

BANDIT_N = 3


def bandit_spaces():
  obs_space = dict(META)
  obs_space['target'] = Space(np.float32, (BANDIT_N,), 0, 1)
  return obs_space, {'action': Space(np.int32, (), 0, BANDIT_N)}


def bandit_config():
  """Tiny, but a bit wider than debug so the reward interaction is learnable fast."""
  c = make_config(jit=True)
  c.batch_size, c.batch_length = 16, 8
  a = c.agent
  a.rssm.update(deter=64, hidden=32)
  for key in ('enc', 'dec', 'rewhead', 'conhead', 'policy', 'value'):
    a[key].units = 32
  a.rewhead.bins = a.value.bins = 255
  a.opt.update(lr=1e-3, warmup=0)
  return c


@pytest.fixture(scope='session')
def bandit_agent():
  from dreamerv3_tf.agent.agent import Agent
  return Agent(*bandit_spaces(), bandit_config())


@pytest.fixture(scope='session')
def h():
  """The helpers above, for test modules (test dirs are not packages)."""
  import types
  return types.SimpleNamespace(
      make_config=make_config, make_spaces=make_spaces, image_config=image_config,
      random_obs=random_obs, make_batch=make_batch, train_length=train_length,
      report_length=report_length, bandit_spaces=bandit_spaces,
      bandit_config=bandit_config, BANDIT_N=BANDIT_N)
