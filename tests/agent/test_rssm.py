"""RSSM, Encoder and Decoder: shapes, reset, GRU gate bias, KL balance with free nats."""

import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf.agent import nets
from dreamerv3_tf.agent import rssm

KW = dict(deter=16, hidden=8, stoch=4, classes=3, unimix=0.01, blocks=2,
          imglayers=2, obslayers=1, free_nats=1.0)


def make_rssm(**kw):
  with nets.init_seed(0):
    return rssm.RSSM(act_dim=3, token_dim=5, **{**KW, **kw})


def seeds(n, s=0):
  return tf.random.experimental.stateless_split(tf.constant([s, 1], tf.int64), n)


def test_observe_and_imagine_shapes():
  model = make_rssm()
  B, T = 2, 5
  d0, s0 = model.initial(B)
  tokens = tf.random.normal((B, T, 5))
  acts = tf.one_hot(tf.zeros((B, T), tf.int32), 3)
  reset = tf.constant([[True] + [False] * (T - 1)] * B)
  deter, stoch, logits = model.observe(d0, s0, tokens, acts, reset, seeds(T))
  assert deter.shape == (B, T, 16) and stoch.shape == (B, T, 4, 3)
  assert logits.shape == (B, T, 4, 3)
  # Samples are one-hot.
  np.testing.assert_allclose(stoch.numpy().sum(-1), 1.0, atol=1e-6)
  assert set(np.unique(stoch.numpy())) <= {0.0, 1.0}
  policy = lambda d, s, seed: tf.one_hot(tf.ones(d.shape[0], tf.int32), 3)
  imgd, imgs, imga = model.imagine(deter[:, -1], stoch[:, -1], policy, 4, seeds(4))
  assert imgd.shape == (B, 4, 16) and imgs.shape == (B, 4, 4, 3)
  np.testing.assert_array_equal(imga.numpy().argmax(-1), 1)
  opend, opens, _ = model.imagine(deter[:, -1], stoch[:, -1], acts[:, :3], 3, seeds(3))
  assert opend.shape == (B, 3, 16) and opens.shape == (B, 3, 4, 3)
  prior = model.prior_logits(deter)
  assert prior.shape == (B, T, 4, 3)


def test_reset_ignores_previous_state_and_action():
  model = make_rssm()
  B = 3
  tokens = tf.random.normal((B, 5))
  reset = tf.ones(B, bool)
  seed = tf.constant([4, 2], tf.int64)
  fresh = model.obs_step(*model.initial(B), tf.zeros((B, 3)), tokens, reset, seed)
  junk = model.obs_step(tf.random.normal((B, 16)), tf.one_hot([[0, 1, 2, 0]] * 3, 3) * 5,
                        tf.ones((B, 3)), tokens, reset, seed)
  for a, b in zip(fresh, junk):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
  kept = model.obs_step(tf.random.normal((B, 16)), tf.one_hot([[0, 1, 2, 0]] * 3, 3) * 5,
                        tf.ones((B, 3)), tokens, tf.zeros(B, bool), seed)
  assert not np.allclose(kept[0].numpy(), fresh[0].numpy())


def test_gru_update_gate_bias():
  # With all GRU pre-activations zero: cand = tanh(0) = 0 and update = sigmoid(-1),
  # so deter shrinks by the factor 1 - sigmoid(-1) (the update bias of -1).
  model = make_rssm()
  model.dyngru.kernel.assign(tf.zeros_like(model.dyngru.kernel))
  deter = tf.random.normal((2, 16))
  new = model.core(deter, tf.zeros((2, 4, 3)), tf.zeros((2, 3)))
  factor = 1 - 1 / (1 + np.exp(1.0))
  np.testing.assert_allclose(new.numpy(), deter.numpy() * factor, rtol=1e-5)


def test_action_normalised_by_magnitude():
  model = make_rssm()
  deter, stoch = tf.random.normal((1, 16)), tf.one_hot([[0, 1, 2, 0]], 3)
  big = model.core(deter, stoch, tf.constant([[4.0, -8.0, 0.5]]))
  unit = model.core(deter, stoch, tf.constant([[1.0, -1.0, 0.5]]))
  np.testing.assert_allclose(big.numpy(), unit.numpy(), atol=1e-6)


def _np_unimix_logp(logits, unimix):
  p = np.exp(logits - logits.max(-1, keepdims=True))
  p /= p.sum(-1, keepdims=True)
  return np.log((1 - unimix) * p + unimix / p.shape[-1])


def test_kl_balance_and_free_nats_against_numpy():
  model = make_rssm()
  rng = np.random.default_rng(0)
  post = rng.normal(0, 3, (2, 5, 4, 3)).astype(np.float32)
  prior = rng.normal(0, 3, (2, 5, 4, 3)).astype(np.float32)
  post[0, 0] = prior[0, 0]  # identical -> KL 0 -> clipped up to the free nats
  lp, lq = _np_unimix_logp(post, 0.01), _np_unimix_logp(prior, 0.01)
  kl = (np.exp(lp) * (lp - lq)).sum(-1).sum(-1)  # summed over the latents first
  want = np.maximum(kl, 1.0)
  dyn, rep = model.kl_losses(tf.constant(post), tf.constant(prior))
  np.testing.assert_allclose(dyn.numpy(), want, rtol=1e-4)
  np.testing.assert_allclose(rep.numpy(), want, rtol=1e-4)
  assert dyn.numpy()[0, 0] == 1.0 and (kl > 1).any()
  # dyn trains only the prior, rep only the posterior.
  post_v, prior_v = tf.Variable(post), tf.Variable(prior)
  with tf.GradientTape(persistent=True) as tape:
    dyn, rep = model.kl_losses(post_v, prior_v)
    dyn, rep = tf.reduce_sum(dyn), tf.reduce_sum(rep)
  assert tape.gradient(dyn, post_v) is None and tape.gradient(rep, prior_v) is None
  assert np.abs(tape.gradient(dyn, prior_v).numpy()).sum() > 0
  assert np.abs(tape.gradient(rep, post_v).numpy()).sum() > 0


@pytest.mark.parametrize('kind', ['vector', 'image', 'mixed'])
def test_encoder_decoder_shapes_and_losses(kind, h):
  obs_space, _ = h.make_spaces(kind)
  space = {k: v for k, v in obs_space.items()
           if k not in ('reward', 'is_first', 'is_last', 'is_terminal')}
  enc = rssm.Encoder(space, depth=2, mults=(2, 3), layers=1, units=8, kernel=5)
  dec = rssm.Decoder(space, deter=16, stoch=12, depth=2, mults=(2, 3), layers=1,
                     units=8, kernel=5, bspace=2)
  B, T = 2, 3
  obs = h.random_obs(space, (B, T), np.random.default_rng(0))
  tokens = enc({k: tf.constant(v) for k, v in obs.items()})
  assert tokens.shape == (B, T, enc.outdim)
  want = (8 if kind != 'image' else 0) + (96 if kind != 'vector' else 0)
  assert enc.outdim == want
  recons = dec(tf.random.normal((B, T, 16)), tf.one_hot(tf.zeros((B, T, 4), tf.int32), 3))
  assert sorted(recons) == sorted(space)
  for k, dist in recons.items():
    assert dist.pred().shape == (B, T, *space[k].shape), k
    target = obs[k].astype(np.float32) / (255 if space[k].dtype == np.uint8 else 1)
    assert dist.loss(tf.constant(target)).shape == (B, T), k
