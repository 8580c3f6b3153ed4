"""compute_dtype=bfloat16 (Keras mixed_bfloat16, the official default on accelerators):
the debug agent trains for 50 compiled updates next to a float32 twin on the same
batches; its losses stay finite and close to the twin's, and every variable, the
optimizer's included, stays float32."""

import numpy as np
import pytest

from dreamerv3_tf.agent.agent import Agent

UPDATES = 50
# World-model and critic losses; the policy loss is ~0 here (no advantages yet), so
# only its finiteness is checked.
COMPARED = ('loss/total', 'loss/dyn', 'loss/rep', 'loss/rec', 'loss/rew', 'loss/con',
            'loss/value', 'loss/repval')


@pytest.fixture(scope='module')
def runs(h):
  """{dtype: (agent, {loss name: <float64>[UPDATES]})}, both on the same batches."""
  out, batches = {}, None
  for dtype in ('float32', 'bfloat16'):
    config = h.make_config(jit=True)
    config.compute_dtype = dtype
    agent = Agent(*h.make_spaces('vector', 'cont'), config)
    if batches is None:
      rng = np.random.default_rng(0)
      batches = [h.make_batch(agent, h.train_length(agent), rng) for _ in range(UPDATES)]
    carry, losses = agent.init_train(config.batch_size), {}
    for batch in batches:
      carry, _, mets = agent.train(carry, batch)
      for k, v in mets.items():
        if k.startswith('loss/'):
          losses.setdefault(k, []).append(float(v))
    out[dtype] = agent, {k: np.array(v) for k, v in losses.items()}
  return out


def test_bfloat16_trains_with_finite_losses(runs):
  agent, losses = runs['bfloat16']
  assert int(agent.opt.step.numpy()) == UPDATES
  assert 'loss/policy' in losses
  for k, v in losses.items():
    assert v.shape == (UPDATES,) and np.isfinite(v).all(), k


def test_bfloat16_keeps_variables_and_optimizer_state_float32(runs):
  agent, _ = runs['bfloat16']
  import tensorflow as tf
  floats = [v for v in agent.variables if tf.as_dtype(v.dtype).is_floating]
  assert len(floats) > len(agent.model.trainable_weights) > 0
  assert sorted({tf.as_dtype(v.dtype).name for v in floats}) == ['float32']
  slots = list(agent.opt.mu.values()) + list(agent.opt.nu.values())
  assert len(slots) == 2 * len(agent.model.trainable_weights)
  assert sorted({tf.as_dtype(v.dtype).name for v in slots}) == ['float32']
  # The layers do compute in bfloat16.
  assert agent.dyn.compute_dtype == 'bfloat16' and agent.enc.compute_dtype == 'bfloat16'


def test_bfloat16_losses_stay_near_float32(runs):
  _, full = runs['float32']
  _, half = runs['bfloat16']
  for k in COMPARED:
    a, b = full[k], half[k]
    # bfloat16 keeps 8 mantissa bits (~0.4% per rounding), compounded through the
    # RSSM's 8 steps and 50 updates: one update's loss may differ by a few percent
    # (4.9% at most seen, on AVX-512), their mean over the run by well under 1%.
    np.testing.assert_allclose(b, a, rtol=0.1, atol=1e-3, err_msg=k)
    assert abs(b.mean() - a.mean()) <= 0.02 * abs(a.mean()) + 1e-3, (k, a.mean(), b.mean())
