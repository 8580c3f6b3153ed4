"""The Agent interface: behaviour losses against numpy, shapes, tracing, modes, checkpoints."""

import re

import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf.agent import agent as agent_lib
from dreamerv3_tf.agent import behavior
from dreamerv3_tf.agent.agent import Agent
from dreamerv3_tf.run import common


# --- lambda returns and return normalisation ------------------------------------

def _np_lambda_return(last, term, rew, boot, disc, lam):
  """Direct recursion: R_t = r_{t+1} + g_{t+1} ((1 - l_{t+1}) v_{t+1} + l_{t+1} R_{t+1})."""
  N, T = rew.shape
  out = np.zeros((N, T - 1))
  for n in range(N):
    ret = boot[n, -1]
    for t in reversed(range(T - 1)):
      live = (1 - term[n, t + 1]) * disc
      c = (1 - last[n, t + 1]) * lam
      ret = rew[n, t + 1] + live * ((1 - c) * boot[n, t + 1] + c * ret)
      out[n, t] = ret
  return out


def test_lambda_return_hand_computed():
  # Two steps by hand, no terminals: R1 = r2 + d v2, R0 = r1 + d ((1 - lam) v1 + lam R1).
  rew = np.array([[0.0, 1.0, 2.0]], np.float32)
  val = np.array([[0.5, 3.0, 4.0]], np.float32)
  zeros = np.zeros_like(rew)
  d, lam = 0.9, 0.8
  r1 = 2.0 + d * 4.0
  r0 = 1.0 + d * ((1 - lam) * 3.0 + lam * r1)
  got = behavior.lambda_return(zeros, zeros, rew, val, val, d, lam).numpy()
  np.testing.assert_allclose(got, [[r0, r1]], rtol=1e-6)


def test_lambda_return_with_terminals_and_boundaries():
  rng = np.random.default_rng(0)
  N, T = 3, 7
  rew = rng.normal(size=(N, T)).astype(np.float32)
  boot = rng.normal(size=(N, T)).astype(np.float32)
  term = (rng.uniform(size=(N, T)) < 0.2).astype(np.float32)
  last = np.maximum(term, rng.uniform(size=(N, T)) < 0.2).astype(np.float32)
  got = behavior.lambda_return(last, term, rew, boot, boot, 0.997, 0.95).numpy()
  want = _np_lambda_return(last, term, rew, boot, 0.997, 0.95)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # A terminal at t+1 cuts everything after it: R_t = r_{t+1}.
  n, t = np.argwhere(term[:, 1:] > 0)[0]
  np.testing.assert_allclose(got[n, t], rew[n, t + 1], rtol=1e-6)


def test_return_normalizer_percentile_ema():
  norm = behavior.ReturnNormalizer(rate=0.01, limit=1.0, perclo=5.0, perchi=95.0)
  rng = np.random.default_rng(0)
  lo = hi = 0.0
  for i in range(3):
    x = rng.normal(0, 20, (64, 15)).astype(np.float32)
    norm.update(tf.constant(x))
    lo = 0.99 * lo + 0.01 * np.percentile(x, 5)
    hi = 0.99 * hi + 0.01 * np.percentile(x, 95)
  offset, scale = norm.stats()
  np.testing.assert_allclose(offset.numpy(), lo, rtol=1e-5)
  np.testing.assert_allclose(scale.numpy(), max(1.0, hi - lo), rtol=1e-5)
  # Small returns: the scale is clipped at 1, so advantages are not blown up.
  small = behavior.ReturnNormalizer()
  small.update(tf.constant(rng.normal(0, 0.01, (100,)).astype(np.float32)))
  assert small.stats()[1].numpy() == 1.0


# --- shapes through the whole agent (eager) ---------------------------------------

CASES = [('vector', 'disc'), ('image', 'cont'), ('mixed', 'dict')]


@pytest.mark.parametrize('obs,act', CASES)
def test_interface_shapes(obs, act, h):
  config = h.image_config() if obs != 'vector' else h.make_config()
  agent = Agent(*h.make_spaces(obs, act), config)
  rng = np.random.default_rng(0)
  B = 3
  r = config.agent.rssm
  carry = agent.init_policy(B)
  o = h.random_obs(agent.obs_space, (B,), rng)
  o['is_first'][:] = True
  carry, acts, out = agent.policy(carry, o, mode='train')
  assert sorted(acts) == sorted(agent.act_space)
  for k, space in agent.act_space.items():
    assert acts[k].shape == (B, *space.shape), k
    if space.discrete:
      assert acts[k].dtype == np.int32 and ((0 <= acts[k]) & (acts[k] < space.classes)).all()
    else:
      assert acts[k].dtype == np.float32
  assert out['dyn/deter'].shape == (B, r.deter) and out['dyn/deter'].dtype == np.float32
  assert out['dyn/stoch'].shape == (B, r.stoch, r.classes)
  np.testing.assert_array_equal(carry['deter'], out['dyn/deter'])

  T = h.train_length(agent)
  tcarry, outs, mets = agent.train(agent.init_train(config.batch_size),
                                   h.make_batch(agent, T, rng))
  L = config.batch_length
  rep = outs['replay']
  assert rep['stepid'].shape == (config.batch_size, L, 20)
  assert rep['dyn/deter'].shape == (config.batch_size, L, r.deter)
  assert rep['dyn/stoch'].shape == (config.batch_size, L, r.stoch, r.classes)
  for key in ('loss/rec', 'loss/rew', 'loss/con', 'loss/dyn', 'loss/rep', 'loss/policy',
              'loss/value', 'loss/repval', 'opt/grad_norm', 'ret', 'val', 'adv'):
    assert isinstance(mets[key], float) and np.isfinite(mets[key]), key
  for k in agent.act_space:
    assert np.isfinite(mets[f'ent/{k}'])
  assert mets['loss/dyn'] >= 1.0 and mets['loss/rep'] >= 1.0  # free nats
  assert tcarry['deter'].shape == (config.batch_size, r.deter)


def test_report_video(h):
  config = h.image_config()
  agent = Agent(*h.make_spaces('mixed', 'disc'), config)
  rng = np.random.default_rng(1)
  B = config.batch_size
  carry, mets = agent.report(agent.init_report(B), h.make_batch(agent, h.report_length(agent), rng))
  T, RB = config.report_length, min(6, B)
  true, pred = mets['openloop/image/true'], mets['openloop/image/pred']
  assert true.dtype == pred.dtype == np.uint8
  assert true.shape == pred.shape == (RB, T, 16, 16, 3)
  # The truth shows the batch images unchanged.
  batch_img = h.make_batch(agent, h.report_length(agent), np.random.default_rng(1))['image']
  np.testing.assert_array_equal(true, batch_img[:RB, config.replay_context:])
  assert isinstance(mets['loss/image'], float)
  assert not any(isinstance(v, np.ndarray) and v.ndim == 0 for v in mets.values())
  # As logged: truth, prediction and error rows of RB sequences side by side.
  video = common.openloop_video(true, pred)
  assert video.dtype == np.uint8 and video.shape == (T, 3 * 16 + 4, RB * (16 + 4), 3)
  np.testing.assert_array_equal(video[0, 2:18, 2:18], true[0, 0])
  np.testing.assert_array_equal(video[1, 18:34, 22:38], pred[1, 1])
  error = (pred[0, 0].astype(int) - true[0, 0].astype(int) + 255) // 2
  np.testing.assert_array_equal(video[0, 34:50, 2:18], error)
  # Borders: green while observed (the first half), red when imagined.
  assert (video[0, 0, 0] == [0, 255, 0]).all() and (video[T - 1, 0, 0] == [255, 0, 0]).all()


def test_no_replay_context_uses_carry(h):
  config = h.make_config()
  config.replay_context = 0
  agent = Agent(*h.make_spaces('vector', 'disc'), config)
  rng = np.random.default_rng(0)
  batch = h.make_batch(agent, config.batch_length, rng)
  batch['is_first'][:] = False
  del batch['dyn/deter'], batch['dyn/stoch']
  carry = agent.init_train(config.batch_size)
  carry, outs, mets = agent.train(carry, batch)
  assert outs['replay']['dyn/deter'].shape[1] == config.batch_length
  assert np.abs(carry['deter']).sum() > 0 and np.isfinite(mets['loss/total'])


def test_bad_input_names_the_key(h):
  agent = Agent(*h.make_spaces('vector', 'disc'), h.make_config())
  obs = h.random_obs(agent.obs_space, (2,), np.random.default_rng(0))
  del obs['position']
  with pytest.raises(ValueError, match='position'):
    agent.policy(agent.init_policy(2), obs)
  obs = h.random_obs(agent.obs_space, (2,), np.random.default_rng(0))
  obs['velocity'] = obs['velocity'][:, :1]
  with pytest.raises(ValueError, match='velocity'):
    agent.policy(agent.init_policy(2), obs)
  with pytest.raises(ValueError, match='mode'):
    agent.policy(agent.init_policy(2), h.random_obs(agent.obs_space, (2,),
                 np.random.default_rng(0)), mode='greedy')


def test_env_spaces_are_refused_with_one_line(h):
  obs_space, act_space = h.make_spaces('vector', 'disc')
  config = h.make_config()
  with pytest.raises(ValueError, match=r"^Agent: got the env spaces \(\['log/t'\]"):
    Agent({**obs_space, 'log/t': obs_space['reward']}, act_space, config)
  with pytest.raises(ValueError, match=r"\['reset'\] are not for the agent"):
    Agent(obs_space, {**act_space, 'reset': obs_space['is_first']}, config)


@pytest.mark.parametrize('key, space, message', [
    ('action', ('int32', ()), r"action 'action' is Space\(int32.*\): a discrete action is "
                              r'one integer from 0 to n - 1 .*needs low 0 and high n$'),
    ('action', ('int32', (), -1, 2), 'needs low 0 and high n'),
    ('action', ('int32', (3,), 0, 4), 'give several as a dict of them'),
    ('action', ('bool', ()), 'give several as a dict of them'),
    ('action', ('float32', (0,), -1, 1),
     r"action 'action' \(0,\) hold no values: the model needs one action key with a size"),
    ('obs', ('float32', (0,)), r"obs 'obs' \(0,\) hold no values"),
    # A step-dict env's images are not resized: 'image keys must share height and
    # width', an 'unexpected' ValueError naming no task.
    ('obs', {'front': ('uint8', (64, 64, 3)), 'top': ('uint8', (128, 128, 1))},
     r"obs images 'front' 64x64 and 'top' 128x128: the model stacks its uint8 images along "
     r'channels, so they must share height and width; return them at one size$'),
])
def test_spaces_the_model_cannot_take_name_the_key(h, key, space, message):
  """They were an 'unexpected' AssertionError, ValueError or ZeroDivisionError from a
  layer's constructor, naming neither the task nor the key."""
  from dreamerv3_tf.core.spaces import Space
  from dreamerv3_tf.core.base import OBS_META_KEYS as META, UserError
  obs_space, act_space = h.make_spaces('vector', 'disc')
  if key == 'obs':  # its only keys (beside others, a key of no values works)
    spaces = space if isinstance(space, dict) else {'obs': space}
    obs_space = {k: v for k, v in obs_space.items() if k in META} | {
        k: Space(*s) for k, s in spaces.items()}
  else:
    act_space[key] = Space(*space)
  config = h.make_config()
  config.task = 'py_mine:Env'
  with pytest.raises(UserError, match=f'^py_mine:Env .*{message}') as info:
    Agent(obs_space, act_space, config)
  assert info.value.prefix == 'Env error'


def test_bfloat16_runs(h):
  config = h.make_config()
  config.compute_dtype = 'bfloat16'
  agent = Agent(*h.make_spaces('vector', 'cont'), config)
  assert agent.dyn.dynin0.linear.kernel.dtype == 'float32'
  _, _, mets = agent.train(agent.init_train(config.batch_size),
                           h.make_batch(agent, h.train_length(agent), np.random.default_rng(0)))
  assert np.isfinite(mets['loss/total'])


def test_a_host_programs_keras_dtype_settings_change_no_layer(h):
  """A notebook's keras.mixed_precision.set_global_policy('mixed_float16') and
  set_floatx('float64'): every layer names its dtype policy (compute_dtype), so the agent
  computes and saves as its config says (checked by hand: the same numbers bit for bit,
  and the same checkpoint)."""
  import keras
  policy, floatx = keras.mixed_precision.global_policy(), keras.backend.floatx()
  keras.mixed_precision.set_global_policy('mixed_float16')
  keras.backend.set_floatx('float64')
  try:
    agent = Agent(*h.make_spaces('image', 'disc'), h.image_config())
    obs = h.random_obs(agent.obs_space, (2,), np.random.default_rng(0))
    agent.policy(agent.init_policy(2), obs)
  finally:
    keras.mixed_precision.set_global_policy(policy)
    keras.backend.set_floatx(floatx)
  layers, todo = [], [getattr(agent, k) for k in agent_lib.MODEL_STATE]
  while todo:  # each Keras layer held as an attribute, at any depth
    layer = todo.pop()
    if isinstance(layer, keras.layers.Layer) and all(layer is not x for x in layers):
      layers.append(layer)
      todo.extend(vars(layer).values())
  assert len(layers) > 20
  assert [m.name for m in layers if (m.compute_dtype, m.variable_dtype) != (
      'float32', 'float32')] == []  # retnorm's compute_dtype was the host's float16
  assert {v.dtype.name for v in agent.variables if v.dtype.is_floating} == {'float32'}


def test_a_host_programs_numpy_promotion_changes_nothing(h):
  """A notebook's experimental_enable_numpy_behavior(dtype_conversion_mode='all'): the
  first policy call stopped with 'OverflowError: Python int ... too large to convert
  to np.int32' (a seed's constant). Set here as its promotion part alone (the call also
  patches tf.Tensor for good); the agent computes as without it, bit for bit."""
  from tensorflow.python.framework import ops
  config = h.make_config()
  results = []
  for mode in ('off', 'all'):
    agent = Agent(*h.make_spaces('vector', 'disc'), config)  # the same seed: same weights
    data = np.random.default_rng(0)
    obs = h.random_obs(agent.obs_space, (2,), data)
    obs['is_first'][:] = True
    batch = h.make_batch(agent, h.train_length(agent), data)
    ops.set_dtype_conversion_mode(mode)
    try:
      _, act, out = agent.policy(agent.init_policy(2), obs, mode='train')
      _, _, mets = agent.train(agent.init_train(config.batch_size), batch)
      assert ops.promo_mode_enum_to_string(ops.get_dtype_conversion_mode()) == mode
    finally:
      ops.set_dtype_conversion_mode('off')
    results.append((act['action'], out['dyn/deter'], mets['loss/total'], mets['loss/policy']))
  for a, b in zip(*results):  # the same eager ops on the same inputs: no tolerance
    np.testing.assert_array_equal(a, b)


def test_without_eager_execution_the_agent_is_refused_in_one_line(h):
  """A host's TF1 code (tf.compat.v1.disable_eager_execution(), for good; a graph's scope
  here, which turns eager execution off alike): the agent was built of graph tensors,
  and its first policy call stopped with "AttributeError: 'SymbolicTensor' object has
  no attribute 'numpy'"."""
  from dreamerv3_tf.agent import tf_settings
  with tf.Graph().as_default():
    with pytest.raises(tf_settings.HostSettingError, match=(
        r'^the agent takes and returns numpy arrays, and TensorFlow does not execute '
        r'eagerly here: tf.compat.v1.disable_eager_execution\(\) or .* outside graphs$')):
      Agent(*h.make_spaces('vector', 'disc'), h.make_config())


# --- compiled agent: tracing and modes ------------------------------------------

def _bandit_obs(h, B, rng, first=False):
  target = rng.integers(0, h.BANDIT_N, B)
  return {'target': np.eye(h.BANDIT_N, dtype=np.float32)[target],
          'reward': np.zeros(B, np.float32), 'is_first': np.full(B, first),
          'is_last': np.zeros(B, bool), 'is_terminal': np.zeros(B, bool)}


def test_traced_once_and_eval_deterministic(bandit_agent, h):
  agent = bandit_agent
  # The agent is shared: other tests may have traced it for other inputs already.
  before = agent.trace_counts
  rng = np.random.default_rng(0)
  B = 8
  obs = _bandit_obs(h, B, rng, first=True)
  carry0 = agent.init_policy(B)
  evals = [agent.policy(carry0, obs, mode='eval') for _ in range(3)]
  trains = [agent.policy(carry0, obs, mode='train') for _ in range(4)]
  for c, a, o in evals[1:]:
    np.testing.assert_array_equal(a['action'], evals[0][1]['action'])
  # Sampling: with a near-uniform initial policy over 3 actions, 4 x 8 draws differ.
  acts = np.stack([t[1]['action'] for t in trains])
  assert len({tuple(x) for x in acts}) > 1
  carry = carry0
  for i in range(3):
    carry, _, _ = agent.policy(carry, _bandit_obs(h, B, rng, i == 0), mode='train')
  tc = agent.init_train(agent.config.batch_size)
  for _ in range(3):
    tc, _, _ = agent.train(tc, h.make_batch(agent, h.train_length(agent), rng))
  rc = agent.init_report(agent.config.batch_size)
  for _ in range(2):
    rc, mets = agent.report(rc, h.make_batch(agent, h.report_length(agent), rng))
  # One trace per step at most for these inputs: both policy modes share it.
  after = agent.trace_counts
  assert all(after[k] >= 1 and after[k] - before[k] <= 1 for k in after), (before, after)
  assert 'loss/rew' in mets and not any(k.startswith('openloop') for k in mets)
  # For profiles: the traced step of these inputs, without a new trace.
  batch = h.make_batch(agent, h.train_length(agent), rng)
  concrete = agent.trace('train', tc, batch)
  assert isinstance(concrete, tf.types.experimental.ConcreteFunction)
  assert agent.trace_counts['train'] == after['train']


def test_policy_calls_after_the_first_run_the_same_program(bandit_agent, h, monkeypatch):
  """Later calls go through policy_call.FlatProgram, not tf.function's dispatch;
  they must give what the tf.function gives for the same inputs and counter.
  Only the first, which compiles, runs paced (core/compile_pacing.py). It is made
  under a host program's tf.config.run_functions_eagerly(True), which ran it
  eagerly: other draws than the compiled program's (agent/tf_settings.py)."""
  agent = bandit_agent
  rng = np.random.default_rng(1)
  B = 5  # a batch size no other test uses: its first call traces
  traces = agent.trace_counts['policy']
  paced = []
  pace = agent_lib.compile_pacing.run

  def paced_run(fn, *args, release):
    paced.append((len(args[0]), release))
    return pace(fn, *args, release=release)

  monkeypatch.setattr(agent_lib.compile_pacing, 'run', paced_run)
  carry = agent.init_policy(B)
  for i, mode in enumerate(['train', 'train', 'eval', 'train', 'eval', 'train']):
    obs = _bandit_obs(h, B, rng, first=i == 0)
    counter = int(agent.policy_calls.numpy())
    tf.config.run_functions_eagerly(i == 0)
    try:
      fast = agent.policy(carry, obs, mode=mode)
      assert tf.config.functions_run_eagerly() == (i == 0)  # the host's again
    finally:
      tf.config.run_functions_eagerly(False)
    agent.policy_calls.assign(counter)
    args = agent.step_inputs('policy', carry, obs, mode)
    deter, stoch, prevact, act, out = agent._s.fns['policy'](*args)
    # The same compiled program on the same inputs and seed: bit-identical.
    np.testing.assert_array_equal(fast[0]['deter'], deter.numpy())
    np.testing.assert_array_equal(fast[0]['stoch'], stoch.numpy())
    np.testing.assert_array_equal(fast[0]['prevact'], prevact.numpy())
    np.testing.assert_array_equal(fast[1]['action'], act['action'].numpy())
    for k in out:
      np.testing.assert_array_equal(fast[2][k], out[k].numpy())
    carry = fast[0]
  assert agent.trace_counts['policy'] == traces + 1
  assert paced == [(B, agent_lib.usage.release_heap)]
  assert (B, False) in agent._s.policy_programs and (B, True) in agent._s.policy_programs
  # The checks still run on every call.
  with pytest.raises(ValueError, match="missing key 'target'"):
    agent.policy(carry, {k: v for k, v in obs.items() if k != 'target'})
  with pytest.raises(ValueError, match=r"carry\['deter'\]: expected shape"):
    agent.policy({**carry, 'deter': carry['deter'][:2]}, obs)


# --- checkpoints -----------------------------------------------------------------

def test_checkpoint_round_trip(tmp_path, h):
  spaces = h.make_spaces('vector', 'dict')
  config = h.make_config()
  agent = Agent(*spaces, config)
  rng = np.random.default_rng(0)
  batches = [h.make_batch(agent, h.train_length(agent), rng) for _ in range(3)]
  carry = agent.init_train(config.batch_size)
  for b in batches[:2]:
    carry, _, _ = agent.train(carry, b)
  obs = h.random_obs(agent.obs_space, (4,), rng)
  pcarry = agent.init_policy(4)
  path = tf.train.Checkpoint(agent=agent).save(str(tmp_path / 'ckpt'))

  config2 = h.make_config()
  config2.seed = 7  # different initial weights: everything must come from the file
  other = Agent(*spaces, config2)
  status = tf.train.Checkpoint(agent=other).restore(path)
  status.assert_existing_objects_matched()
  # The file's save_counter has no object here; unsaid, TensorFlow warned of it when the
  # status was collected, in whatever test ran then (twice in one suite run's output).
  status.expect_partial()
  for v1, v2 in zip(agent.model.trainable_weights, other.model.trainable_weights):
    np.testing.assert_array_equal(v1.numpy(), v2.numpy())
  assert int(other.opt.step.numpy()) == 2
  _, a1, o1 = agent.policy(pcarry, obs, mode='train')
  _, a2, o2 = other.policy(pcarry, obs, mode='train')
  for k in a1:
    np.testing.assert_array_equal(a1[k], a2[k])
  np.testing.assert_array_equal(o1['dyn/deter'], o2['dyn/deter'])
  _, _, m1 = agent.train(carry, batches[2])
  _, _, m2 = other.train(carry, batches[2])
  for k in m1:
    np.testing.assert_allclose(m1[k], m2[k], rtol=1e-6, err_msg=k)
  np.testing.assert_array_equal(agent.retnorm.hi.numpy(), other.retnorm.hi.numpy())
  for v1, v2 in zip(agent.slowval.weights, other.slowval.weights):
    np.testing.assert_array_equal(v1.numpy(), v2.numpy())


def test_loops_save_no_weights_per_step(bandit_agent, h):
  """A loop body that reads a weight, or computes from one (a slice, a transpose),
  saves that value once per step for the backward pass: memory and copies that grow
  with the sequence. Every per-step array the train step's loops carry must hold
  batch rows; weights and the values derived from them enter the loops whole."""
  agent = bandit_agent
  c = agent.config
  B, T, H = c.batch_size, c.batch_length, c.agent.imag_length
  rng = np.random.default_rng(0)
  hlo = agent.compiler_ir('train', agent.init_train(B),
                          h.make_batch(agent, h.train_length(agent), rng), stage='optimized_hlo')
  loops = re.findall(r'= \((.*)\) while\(', hlo)
  assert len(loops) >= 4, len(loops)   # observe, its backward, imagination, returns
  bad = []
  for carried in loops:
    for dims in re.findall(r'(?:f32|bf16)\[([\d,]+)\]', carried):
      dims = tuple(int(x) for x in dims.split(','))
      if len(dims) >= 3 and dims[0] in (T, H) and not {B, B * T} & set(dims[1:]):
        bad.append(dims)
  assert not bad, f'per-step arrays without a batch dimension: {bad}'
