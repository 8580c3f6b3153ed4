"""Env step -> replay row -> batch, against the official rule (danijar/dreamerv3 e3f0224).

A row holds obs_t with the reward and flags that came with it, the action the policy
chose after seeing obs_t (zeros when obs_t is_last: the env resets instead) and the
policy's outs for that call, the posterior latent after obs_t
(embodied/core/driver.py:70-80, dreamerv3/agent.py:115-135). The agent then pairs obs_t
with the action of row t - 1 (dreamerv3/agent.py:317-332).
"""

import numpy as np

from dreamerv3_tf.core import base
from dreamerv3_tf.core import chunks as chunklib
from dreamerv3_tf.core import driver as driverlib
from dreamerv3_tf.core import replay as replaylib
from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.core.spaces import step_spaces
from dreamerv3_tf.envs import wrappers

STEPS = 3  # env steps per episode after its reset obs


class StepEnv(base.Env):
  """obs 'pos' = [episode, t]; reward 10 t (0 on the reset obs); terminal at t = STEPS."""

  def __init__(self):
    self.received = []  # the actions the env got, in order
    self.episode, self.t = -1, None

  @property
  def obs_space(self):
    return {'pos': Space(np.float32, (2,)), **step_spaces()}

  @property
  def act_space(self):
    return {'action': Space(np.float32, (1,), -1.0, 1.0), 'reset': Space(bool)}

  def step(self, action):
    self.received.append({k: np.array(v) for k, v in action.items()})
    if action['reset'] or self.t is None:
      self.episode, self.t = self.episode + 1, 0
    else:
      self.t += 1
    last = self.t == STEPS
    return {'pos': np.array([self.episode, self.t], np.float32),
            'reward': np.float32(10 * self.t), 'is_first': self.t == 0,
            'is_last': last, 'is_terminal': last}

  def close(self):
    pass


def policy(carry, obs):
  """Action 0.5 (t + 1) from the obs it saw (1.5 at t = 2: beyond the bound); its
  'latent' is that obs."""
  t = obs['pos'][:, 1]
  act = {'action': (0.5 * (t + 1))[:, None].astype(np.float32)}
  return carry, act, {'dyn/deter': obs['pos'].copy()}


def test_a_row_holds_obs_t_its_reward_and_flags_the_action_chosen_after_it_and_its_latent():
  env = StepEnv()
  replay = replaylib.Replay(length=5, capacity=100)
  with driverlib.Driver([lambda: wrappers.ClipAction(env)]) as driver:
    driver.on_step(replay.add)
    driver.reset()
    driver(policy, steps=2 * (STEPS + 1) + 1)
  rows = replay.dump()
  episode, t = rows['pos'][:, 0], rows['pos'][:, 1]
  assert episode.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2]
  assert t.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0]
  assert (rows['reward'] == 10 * t).all()  # the reward that came with obs_t, 0 at a reset
  assert (rows['is_first'] == (t == 0)).all()
  assert (rows['is_last'] == (t == STEPS)).all() and (rows['is_terminal'] == rows['is_last']).all()
  # The action chosen after obs_t, as the policy gave it (the env got it clipped:
  # embodied/core/wrappers.py:84-86 too); zeros with an is_last obs (never executed).
  want = np.where(t == STEPS, 0.0, 0.5 * (t + 1))
  assert (rows['action'][:, 0] == want).all()
  assert (rows['dyn/deter'] == rows['pos']).all()  # the latent after obs_t
  assert chunklib.stepid_fields(rows['stepid'])[2].tolist() == list(range(9))
  # The env got row t's action at its next step, and a reset (no action) after is_last.
  got = env.received[1:]
  for row, sent in zip(range(len(got)), got):
    assert bool(sent['reset']) == bool(rows['is_last'][row])
    if not sent['reset']:
      assert sent['action'][0] == min(rows['action'][row, 0], 1.0)
  assert env.received[0]['reset']  # the first step resets


def test_a_batch_marks_the_first_step_first_and_ends_an_episode_cut_inside_it():
  """embodied/core/replay.py:283-291: is_first at t = 0; is_last before any is_first."""
  replay = replaylib.Replay(length=4, capacity=100)
  for t, first in enumerate([0, 0, 0, 1, 0, 0]):  # an episode abandoned at t = 2
    replay.add({'t': np.int32(t), 'reward': np.float32(0), 'is_first': bool(first),
                'is_last': False, 'is_terminal': False})
  batch = replay.sample(20, mode='report')
  for row in range(20):
    t = batch['t'][row]
    assert batch['is_first'][row].tolist() == [True] + [x == 3 for x in t[1:]]
    assert batch['is_last'][row].tolist() == [x == 2 for x in t]


def test_a_shorter_window_ends_an_episode_cut_at_its_last_step_as_the_whole_item_does():
  """The official report batch is the first report_length + context steps of a sampled
  train sequence, is_last computed on the whole sequence (embodied/core/replay.py:283-291,
  then embodied/core/streams.py:131-133): a window whose next step is_first ends there."""
  replay = replaylib.Replay(length=5, capacity=100)
  for t, first in enumerate([1, 0, 0, 1, 0]):  # the one item; abandoned at t = 2
    replay.add({'t': np.int32(t), 'reward': np.float32(0), 'is_first': bool(first),
                'is_last': False, 'is_terminal': False})
  batch = replay.sample(1, length=3, mode='report')
  assert batch['t'][0].tolist() == [0, 1, 2]
  assert batch['is_last'][0].tolist() == [False, False, True]
  assert replay.sample(1, length=4, mode='report')['is_last'][0].tolist() == [0, 0, 1, 0]
