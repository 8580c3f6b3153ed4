"""The agent learns: a contextual bandit where the reward depends on the action.

Each episode shows a one-hot target in the 'target' observation (fixed for the
episode); the reward of the next step is 1 when the discrete action equals the
target, else 0. Random play earns 1/3 per step. Batches are generated directly
from uniformly random behaviour (as replay of a random agent would hold), so the
test checks the whole learner: world model (reward depends on target and action),
imagination, critic and actor. About 30-60 s on 2 cores.
"""

import numpy as np


def bandit_batch(B, T, N, deter, stoch, classes, rng):
  target = np.repeat(rng.integers(0, N, (B, 1)), T, 1)
  action = rng.integers(0, N, (B, T)).astype(np.int32)
  reward = np.zeros((B, T), np.float32)
  reward[:, 1:] = action[:, :-1] == target[:, :-1]
  first = np.zeros((B, T), bool)
  first[:, 1] = True  # the episode starts after the replay-context step
  return {
      'target': np.eye(N, dtype=np.float32)[target], 'reward': reward,
      'is_first': first, 'is_last': np.zeros((B, T), bool),
      'is_terminal': np.zeros((B, T), bool), 'action': action,
      'stepid': np.zeros((B, T, 20), np.uint8),
      'dyn/deter': np.zeros((B, T, deter), np.float32),
      'dyn/stoch': np.zeros((B, T, stoch, classes), np.float32)}


def evaluate(agent, N, rng, envs=32, steps=10):
  """Mean reward per step of the eval-mode policy over `envs` fresh episodes."""
  target = rng.integers(0, N, envs)
  carry = agent.init_policy(envs)
  hits = []
  for t in range(steps):
    obs = {'target': np.eye(N, dtype=np.float32)[target],
           'reward': np.zeros(envs, np.float32), 'is_first': np.full(envs, t == 0),
           'is_last': np.zeros(envs, bool), 'is_terminal': np.zeros(envs, bool)}
    carry, act, _ = agent.policy(carry, obs, mode='eval')
    hits.append(act['action'] == target)
  return float(np.mean(hits))


def test_learns_contextual_bandit(bandit_agent, h):
  agent, N = bandit_agent, h.BANDIT_N
  c, r = agent.config, agent.config.agent.rssm
  rng = np.random.default_rng(0)
  T = c.batch_length + c.replay_context
  carry = agent.init_train(c.batch_size)
  for _ in range(800):
    batch = bandit_batch(c.batch_size, T, N, r.deter, r.stoch, r.classes, rng)
    carry, _, mets = agent.train(carry, batch)
  assert np.isfinite(mets['loss/total'])
  score = evaluate(agent, N, rng)
  # Random play scores 1/3; the learned policy should pick the target nearly always.
  assert score > 0.8, (score, mets)


def cont_bandit_batch(B, T, deter, stoch, classes, rng):
  """Continuous version: a target in [-1, 1] per episode, reward 1 - |a - target|."""
  target = np.repeat(rng.uniform(-1, 1, (B, 1, 1)), T, 1).astype(np.float32)
  action = rng.uniform(-1, 1, (B, T, 1)).astype(np.float32)
  reward = np.zeros((B, T), np.float32)
  reward[:, 1:] = 1.0 - np.abs(action[:, :-1, 0] - target[:, :-1, 0])
  first = np.zeros((B, T), bool)
  first[:, 1] = True
  return {
      'target': target, 'reward': reward, 'is_first': first,
      'is_last': np.zeros((B, T), bool), 'is_terminal': np.zeros((B, T), bool),
      'action': action, 'stepid': np.zeros((B, T, 20), np.uint8),
      'dyn/deter': np.zeros((B, T, deter), np.float32),
      'dyn/stoch': np.zeros((B, T, stoch, classes), np.float32)}


def test_learns_continuous_contextual_bandit():
  """The continuous path (bounded normal policy, REINFORCE) learns too."""
  from configs import base
  from configs import presets
  from dreamerv3_tf.agent.agent import Agent
  from dreamerv3_tf.core.spaces import Space
  c = base.get_config()
  presets.debug(c)
  c.batch_size, c.batch_length = 16, 8
  c.agent.rssm.update(deter=64, hidden=32)
  for key in ('enc', 'dec', 'rewhead', 'conhead', 'policy', 'value'):
    c.agent[key].units = 32
  c.agent.rewhead.bins = c.agent.value.bins = 255
  c.agent.opt.update(lr=1e-3, warmup=0)
  obs_space = {
      'target': Space(np.float32, (1,), -1, 1), 'reward': Space(np.float32),
      'is_first': Space(bool), 'is_last': Space(bool), 'is_terminal': Space(bool)}
  agent = Agent(obs_space, {'action': Space(np.float32, (1,), -1, 1)}, c)
  r = c.agent.rssm
  rng = np.random.default_rng(0)
  T = c.batch_length + c.replay_context
  carry = agent.init_train(c.batch_size)
  for _ in range(800):
    carry, _, mets = agent.train(
        carry, cont_bandit_batch(c.batch_size, T, r.deter, r.stoch, r.classes, rng))
  envs = 32
  target = rng.uniform(-1, 1, (envs, 1)).astype(np.float32)
  carry, rewards = agent.init_policy(envs), []
  for t in range(10):
    obs = {'target': target, 'reward': np.zeros(envs, np.float32),
           'is_first': np.full(envs, t == 0), 'is_last': np.zeros(envs, bool),
           'is_terminal': np.zeros(envs, bool)}
    carry, act, _ = agent.policy(carry, obs, mode='eval')
    rewards.append(1.0 - np.abs(act['action'] - target))
  # Random play earns 1/3 on average; a policy that tracks the target nearly 1.
  assert np.mean(rewards) > 0.75, (np.mean(rewards), mets)
