"""A step's trace is named as a fresh process names it, whatever ran before, so that
XLA's persistent cache finds an unchanged program (agent/stable_names.py).
tests/test_startup.py checks the same across two starts of `main`."""

import numpy as np
import tensorflow as tf

from dreamerv3_tf.agent import stable_names
from dreamerv3_tf.agent.agent import Agent


def policy_program(h):
  """(function name, HLO text) of a fresh debug agent's policy step for 2 envs."""
  agent = Agent(*h.make_spaces('vector', 'disc'), h.make_config(jit=True))
  obs = h.random_obs(agent.obs_space, (2,), np.random.default_rng(0))
  carry = agent.init_policy(2)
  name = agent.trace('policy', carry, obs).name
  return name, agent.compiler_ir('policy', carry, obs)


def test_a_step_is_named_as_in_a_fresh_process_whatever_ran_before(h, monkeypatch):
  # Each agent traces its policy as the first such trace of a process does.
  monkeypatch.setattr(stable_names, '_traced', {})
  first = policy_program(h)
  # What a process may do before: other traces, which move TensorFlow's own counter
  # of names (with run.envs=3 instead of 2 every program compiled again).
  tf.function(lambda x: tf.nn.softmax(x) * 2.0)(tf.ones([3, 4]))
  monkeypatch.setattr(stable_names, '_traced', {})
  again = policy_program(h)
  assert again[0] == first[0]
  assert again[1] == first[1]  # the same HLO: the cache's key (with the name)


def test_two_traces_of_a_step_in_one_process_are_named_apart(h):
  # Two functions of one name would clash in TensorFlow's function library.
  a, b = policy_program(h), policy_program(h)
  assert a[0] != b[0]
  assert stable_names.base('k', 0) != stable_names.base('k', 1)
  # Far above the process's own counter, which other tensors keep using.
  assert min(stable_names.base(f'k{i}', 0) for i in range(100)) >= 2 ** 40
