"""A non-finite batch: the agent skips the update, reports why, and stays trainable."""

import numpy as np

from dreamerv3_tf.agent.agent import Agent


def state(agent):
  """Everything a skipped update must leave alone: weights, slots, return statistics."""
  model = agent.model
  variables = [*model.trainable_weights, *model.opt.mu.values(), *model.opt.nu.values(),
               model.opt.step, model.retnorm.lo, model.retnorm.hi]
  return [np.array(v.numpy()) for v in variables]


def test_nonfinite_batch_is_skipped_and_leaves_the_agent_trainable(h):
  config = h.image_config()  # eager: builds in seconds, nothing to compile
  agent = Agent(*h.make_spaces('mixed', 'disc'), config)
  rng = np.random.default_rng(0)
  T, B = h.train_length(agent), config.batch_size
  carry, _, mets = agent.train(agent.init_train(B), h.make_batch(agent, T, rng))
  # The loss metrics are the terms of `loss_terms`, which orders the warnings.
  assert agent.loss_terms == (
      'dyn', 'rep', 'position', 'velocity', 'image', 'rew', 'con', 'policy', 'value',
      'repval')
  assert {k for k in mets if k.startswith('loss/')} == {
      f'loss/{k}' for k in (*agent.loss_terms, 'rec', 'total')}

  before = state(agent)
  batch = h.make_batch(agent, T, rng)
  batch['velocity'][:, 1, 0] = np.nan  # every env at one step: most returns are NaN
  _, _, mets = agent.train(carry, batch)
  assert mets['opt/grad_nonfinite'] == 1.0
  assert all(np.isnan(mets[f'loss/{k}']) for k in agent.loss_terms)
  for old, new in zip(before, state(agent)):
    np.testing.assert_array_equal(old, new)  # a skipped update selects the old values
  # Nothing poisoned the agent: the next finite batch trains as usual.
  _, _, mets = agent.train(carry, h.make_batch(agent, T, rng))
  assert mets['opt/grad_nonfinite'] == 0.0
  assert all(np.isfinite(mets[f'loss/{k}']) for k in agent.loss_terms)
  assert int(agent.opt.step.numpy()) == 2 and int(agent.opt.skipped.numpy()) == 1
