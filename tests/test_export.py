"""SavedModel export: a DMC episode in a process without dreamerv3_tf, image and
discrete agents, signature names, and the one-line errors of the CLI; the TensorFlow
Lite model against the SavedModel on the same recorded observations."""

import io
import os
import re
import shutil
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
import tensorflow as tf

import cli_zygote
from configs import dmc
from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import envs
from dreamerv3_tf import export
from dreamerv3_tf import export_checks
from dreamerv3_tf import logdir_checks
from dreamerv3_tf import run_files
from dreamerv3_tf.agent import nets
from dreamerv3_tf.agent import tf_settings
from dreamerv3_tf.agent.agent import Agent
from dreamerv3_tf.core import base
from dreamerv3_tf.core import errors
from dreamerv3_tf.core.spaces import Space

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META = {'reward': Space(np.float32), 'is_first': Space(bool),
        'is_last': Space(bool), 'is_terminal': Space(bool)}
CARTPOLE = (
    {'position': Space(np.float32, (3,)), 'velocity': Space(np.float32, (2,)), **META},
    {'action': Space(np.float32, (1,), -1, 1)})

# Runs in a fresh interpreter whose cwd is not the repo: dreamerv3_tf is not even
# importable there, so loading the SavedModel cannot depend on it.
EPISODE = r'''
import os, sys
os.environ['MUJOCO_GL'] = 'disable'  # EGL and TensorFlow crash in one process here
import numpy as np
import tensorflow as tf
from dm_control import suite
out, model, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
policy = tf.saved_model.load(model)
step = policy.signatures['step_eval']
names = sorted(k for k in step.structured_input_signature[1] if k.startswith('obs_'))
state = policy.signatures['initial_state'](batch_size=tf.constant(1))
env = suite.load('cartpole', 'balance', task_kwargs={'random': 3})
ts, first = env.reset(), True
record = {k: [] for k in names + ['action']}
for _ in range(steps):
  obs = {f'obs_{k}': np.asarray(v, np.float32).reshape(1, -1)
         for k, v in ts.observation.items()}
  obs['obs_is_first'] = np.array([first])
  assert sorted(obs) == names, (sorted(obs), names)
  result = step(**{k: tf.constant(v) for k, v in obs.items()}, **state)
  state = {k: v for k, v in result.items() if k.startswith('state_')}
  action = result['action_action'].numpy()[0]
  for k, v in obs.items():
    record[k].append(v[0])
  record['action'].append(action)
  ts = env.step(action)
  first = ts.last()
  if first:
    ts = env.reset()
assert not any(m.split('.')[0] == 'dreamerv3_tf' for m in sys.modules)
np.savez(out, **{k: np.stack(v) for k, v in record.items()})
'''


def perturb(agent, seed):
  """Moves every weight away from its initial value, so a restore that silently
  failed (a fresh agent of the same config) would act differently."""
  rng = np.random.default_rng(seed)
  for v in agent.model.trainable_weights:
    v.assign(v.numpy() + rng.normal(0, 0.3, v.shape).astype(np.float32))


def make_run(logdir, config, obs_space, act_space, seed=0):
  """A logdir as training leaves it: config.json, spaces.json, ckpt/. -> agent."""
  with config.unlocked():
    config.logdir = str(logdir)
  logdir_checks.save(config, str(logdir))
  run_files.save_spaces(str(logdir), obs_space, act_space)
  agent = Agent(obs_space, act_space, config)
  perturb(agent, seed)
  checkpointing.Checkpoint(os.path.join(str(logdir), 'ckpt'), agent=agent).save()
  return agent


def export_cmd(*args):
  return [sys.executable, '-m', 'dreamerv3_tf.export', *args]


def tflite_steps(path):
  """(initial_state, step_eval) signature runners of a .tflite file, as on a device."""
  with warnings.catch_warnings():  # tf.lite.Interpreter: "use ai_edge_litert" (TF >= 2.20)
    warnings.simplefilter('ignore')
    interpreter = tf.lite.Interpreter(model_path=str(path))
  return (interpreter.get_signature_runner('initial_state'),
          interpreter.get_signature_runner('step_eval'))


@pytest.fixture(scope='module')
def cartpole_export(tmp_path_factory):
  """(logdir, agent, export dir, the command's stdout) of a debug-sized agent, exported
  with the CLI."""
  logdir = tmp_path_factory.mktemp('cartpole')
  config = dmc.get_config('train_eval,debug')
  agent = make_run(logdir, config, *CARTPOLE)
  out = logdir / 'export'
  result = cli_zygote.run(export_cmd(f'--logdir={logdir}', f'--out={out}', '--tflite'),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'to {out} (signatures:' in result.stdout
  assert f'TensorFlow Lite: {out}/policy.tflite' in result.stdout
  assert 'Assets written' not in result.stderr  # success is quiet on stderr
  return logdir, agent, out, result.stdout


@pytest.fixture(scope='module')
def cartpole(cartpole_export):
  """(logdir, agent, export dir) of cartpole_export."""
  return cartpole_export[:3]


@pytest.fixture(scope='module')
def loaded(cartpole):
  """The cartpole export as tf.saved_model.load gives it to a deploying caller, loaded
  once (0.5 s each) for the tests that only call its signatures, which keep no state."""
  return tf.saved_model.load(str(cartpole[2]))


@pytest.fixture(scope='module')
def saved_cartpole(cartpole):
  """export.SavedPolicy of the cartpole export, loaded once (0.5 s each) for the tests
  whose calls of mode eval keep no state in it."""
  return export.SavedPolicy(str(cartpole[2]))


@pytest.fixture(scope='module')
def episode(cartpole, tmp_path_factory):
  """A DMC episode driven by the SavedModel in a process without dreamerv3_tf:
  {obs_<key>: [T, ...], action: [T, 1]}."""
  _, _, out = cartpole
  tmp = tmp_path_factory.mktemp('episode')
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  result = cli_zygote.run(
      [sys.executable, '-c', EPISODE, str(tmp / 'ep.npz'), str(out), '200'],
      cwd=tmp, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return dict(np.load(tmp / 'ep.npz', allow_pickle=False))


def test_dmc_episode_without_dreamerv3_tf_matches_the_eval_policy(cartpole, episode):
  logdir, agent, out = cartpole
  steps = 200
  data = episode
  assert data['action'].shape == (steps, 1) and data['obs_position'].shape == (steps, 3)
  carry = agent.init_policy(1)
  actions = []
  for t in range(steps):
    obs = {k[4:]: data[k][t:t + 1] for k in data if k.startswith('obs_')}
    carry, act, _ = agent.policy(carry, obs, mode='eval')
    actions.append(act['action'][0])
  np.testing.assert_allclose(np.stack(actions), data['action'], atol=1e-5, rtol=0)
  assert np.std(data['action']) > 1e-3  # the policy reacts to what it sees


def test_tflite_step_matches_the_saved_model_on_recorded_observations(cartpole, loaded,
                                                                      episode):
  _, _, out = cartpole
  saved = loaded.signatures
  init, step = tflite_steps(out / 'policy.tflite')
  state_a = {k: v.numpy() for k, v in saved['initial_state'](batch_size=tf.constant(1)).items()}
  state_b = init(batch_size=np.int32(1))
  assert {k: v.shape for k, v in state_b.items()} == {k: v.shape for k, v in state_a.items()}
  names = [k for k in episode if k.startswith('obs_')]
  actions_a, actions_b, gap = [], [], 0.0
  for t in range(len(episode['action'])):  # each model carries its own state
    obs = {k: episode[k][t:t + 1] for k in names}
    a = saved['step_eval'](**{k: tf.constant(v) for k, v in {**obs, **state_a}.items()})
    a = {k: v.numpy() for k, v in a.items()}
    b = step(**obs, **state_b)
    assert sorted(b) == sorted(a) and all(b[k].dtype == a[k].dtype for k in a)
    state_a = {k: v for k, v in a.items() if k.startswith('state_')}
    state_b = {k: v for k, v in b.items() if k.startswith('state_')}
    gap = max(gap, np.abs(state_a['state_deter'] - state_b['state_deter']).max())
    actions_a.append(a['action_action'][0])
    actions_b.append(b['action_action'][0])
  # XNNPACK's float32 kernels sum in another order than TensorFlow's: at most 2.4e-7
  # (actions) and 1.5e-7 (deter) over these 200 steps on an AVX-512 CPU; 1e-4 leaves
  # room for other kernels (AVX2) without letting a wrong op or weight through.
  np.testing.assert_allclose(actions_b, actions_a, atol=1e-4, rtol=0)
  assert gap < 1e-4
  np.testing.assert_allclose(actions_a, episode['action'], atol=1e-6, rtol=0)  # same obs


def test_the_tflite_line_says_the_batch_size_its_steps_take(cartpole_export):
  """initial_state(batch_size=2) gave a state of 2 rows, and its step then failed in the
  runtime ('XNNPack delegate failed to reshape runtime'), which the export cannot word:
  TFLite has no builtin to check a shape with a message. The export's line says it.
  (The fixture's export with --tflite: its file and the command's line.)"""
  _, _, out, stdout = cartpole_export
  _, step = tflite_steps(out / 'policy.tflite')
  batch = {int(x['shape'][0]) for x in step.get_input_details().values()}
  assert batch == {1}
  assert (f'TensorFlow Lite: {out}/policy.tflite (signatures: step_eval, initial_state; '
          'a batch of 1 only: initial_state(batch_size=1), one interpreter per env).\n'
          ) in stdout, stdout


def test_tflite_cannot_take_the_sampling_step_and_says_which_ops(cartpole, tmp_path):
  _, agent, _ = cartpole
  with pytest.raises(export.ExportError, match=(
      r'^TensorFlow Lite cannot convert step_train: ops .*StatelessRandomUniformV2.* have '
      'no TFLite builtin$')):
    export.write_tflite(agent, str(tmp_path / 'train.tflite'), signatures=('step_train',))
  assert not (tmp_path / 'train.tflite').exists()


def test_tflite_on_a_full_temporary_directory_names_it_and_tmpdir(cartpole, tmp_path,
                                                                   monkeypatch):
  """The SavedModel that --tflite converts is written to TMPDIR, not beside --out: on a
  full tmpfs there the export said 'Cannot write /tmp/tmpa1b2/variables/variables_temp/
  part-00000-of-00001.data-00000-of-00001.tempstate1972: No space left on device', a
  file the user never named, with --out on a disk of room."""
  if os.geteuid() != 0 or not shutil.which('mount'):
    pytest.skip('needs root to mount a small tmpfs')
  _, agent, _ = cartpole
  full = tmp_path / 'tmp'
  full.mkdir()
  subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'none', str(full)], check=True)
  try:
    with open(full / 'filler', 'wb') as f:  # all its room
      stat = os.statvfs(full)
      os.posix_fallocate(f.fileno(), 0, stat.f_bavail * stat.f_frsize)
    monkeypatch.setattr('tempfile.tempdir', str(full))
    with pytest.raises(export.ExportError) as caught:
      export.write_tflite(agent, str(tmp_path / 'policy.tflite'))
    line = errors.describe(caught.value)
    assert re.fullmatch(
        f'Error: Cannot write {re.escape(str(full))}/tmp\\w+/\\S+: No space left on device '
        '\\(the SavedModel that --tflite converts, in the temporary directory '
        f'{re.escape(str(full))}; give it room, or set TMPDIR to another\\)', line), line
    # Its temporary directory taken back (AutoGraph's own files, which TensorFlow's
    # signatures leave there, are not ours).
    assert [x for x in os.listdir(full) if not x.startswith('__autograph')] == ['filler']
    assert not (tmp_path / 'policy.tflite').exists()
  finally:
    subprocess.run(['umount', '-l', str(full)], check=True)


def test_signatures_names_and_only_policy_weights(cartpole, loaded):
  _, agent, _ = cartpole
  model = loaded
  assert set(model.signatures) == {'initial_state', 'step_eval', 'step_train',
                                   'serving_default'}
  step = model.signatures['step_train']
  inputs = set(step.structured_input_signature[1])
  assert inputs == {'obs_position', 'obs_velocity', 'obs_is_first', 'seed',
                    'state_deter', 'state_stoch', 'state_prevact'}
  assert set(step.structured_outputs) == {
      'action_action', 'state_deter', 'state_stoch', 'state_prevact'}
  for name, spec in step.structured_input_signature[1].items():
    assert re.fullmatch('[A-Za-z0-9_]+', name), name  # valid TF Serving names
    assert spec.shape[:1].as_list() == ([] if name == 'seed' else [None]), name
  policy_vars = nets.weights([agent.enc, agent.dyn, agent.pol])
  assert len(model.weights) == len(policy_vars)
  size = sum(int(np.prod(v.shape)) for v in model.weights)
  assert size == sum(int(np.prod(v.shape)) for v in policy_vars)
  state = model.signatures['initial_state'](batch_size=tf.constant(5))
  assert state['state_stoch'].shape == (5, 4, 4) and not np.any(state['state_deter'])


def test_a_host_programs_tensorflow_settings_stay_out_of_the_export(cartpole, loaded,
                                                                    tmp_path):
  """A notebook's numpy promotion and check-numerics callback, set before it exports:
  'all' promotion stopped the export (OverflowError on a seed's constant), and the
  callback's ops went into the SavedModel (1143 CheckNumerics; enable_dump_debug_info's
  ops wrote tfdbg files wherever the export then ran). Both are the host's again after."""
  from tensorflow.python.eager import context
  from tensorflow.python.framework import ops
  _, agent, _ = cartpole
  # The promotion part of experimental_enable_numpy_behavior(dtype_conversion_mode='all'),
  # which also patches tf.Tensor for good: not in a test worker.
  ops.set_dtype_conversion_mode('all')
  tf.debugging.enable_check_numerics()
  try:
    out = export.export(agent, str(tmp_path / 'out'))
    assert ops.promo_mode_enum_to_string(ops.get_dtype_conversion_mode()) == 'all'
    assert context.context().op_callbacks
  finally:
    tf.debugging.disable_check_numerics()
    ops.set_dtype_conversion_mode('off')
  with open(os.path.join(out, 'saved_model.pb'), 'rb') as f:
    assert f.read().count(b'CheckNumerics') == 0
  rng = np.random.default_rng(0)
  inputs = {'obs_position': rng.normal(size=(2, 3)), 'obs_velocity': rng.normal(size=(2, 2)),
            'obs_is_first': np.ones(2, bool)}
  inputs = {k: tf.constant(v, tf.bool if v.dtype == bool else tf.float32)
            for k, v in inputs.items()}
  inputs.update(loaded.signatures['initial_state'](batch_size=tf.constant(2)))
  want = loaded.signatures['step_eval'](**inputs)
  got = tf.saved_model.load(out).signatures['step_eval'](**inputs)
  for k, v in want.items():  # the same graph and weights, run in two processes, whose
    # kernels may split a sum over threads otherwise: rounding at most
    np.testing.assert_allclose(got[k].numpy(), v.numpy(), rtol=0, atol=1e-6, err_msg=k)


def test_without_eager_execution_a_saved_policy_is_refused_in_one_line(cartpole):
  """As the agent (tests/agent/test_agent.py): init_policy stopped with
  "AttributeError: 'SymbolicTensor' object has no attribute 'numpy'"."""
  with tf.Graph().as_default():
    with pytest.raises(tf_settings.HostSettingError, match=(
        r'^export.SavedPolicy takes and returns numpy arrays, and TensorFlow does not '
        'execute eagerly here')):
      export.SavedPolicy(str(cartpole[2])).init_policy(1)


@pytest.mark.parametrize('name, shape, message', [
    ('obs_position', (2, 4), r'Shape of tensor obs_position \[2,4\] is not compatible with '
     r'expected shape \[\?,3\]'),
    ('obs_position', (3, 3), r'obs_position has another batch size than state_deter'),
    ('state_stoch', (3, 4, 4), r'state_stoch has another batch size than state_deter'),
    # An obs without its batch axis was named as 'another batch size than state_deter'.
    ('obs_position', (3,), r'Shape of tensor obs_position \[3\] is not compatible with '
     r'expected shape \[\?,3\]'),
    ('state_deter', (2, 16, 1), r'Shape of tensor state_deter \[2,16,1\] is not compatible'),
    ('seed', (2,), r'Shape of tensor seed \[2\] is not compatible with expected shape \[\]')])
def test_a_deploying_caller_is_told_which_input_has_a_wrong_shape(loaded, name, shape,
                                                                   message):
  """A signature checks only dtypes: an obs of another shape or batch failed deep in
  the encoder or RSSM ('Matrix size-incompatible: In[0]: [2,4], In[1]: [3,16]')."""
  model = loaded
  inputs = {'obs_position': tf.zeros((2, 3)), 'obs_velocity': tf.zeros((2, 2)),
            'obs_is_first': tf.ones(2, tf.bool),
            **model.signatures['initial_state'](batch_size=tf.constant(2))}
  # The seed is step_train's alone ([2] failed in a tf.stack: 'Shapes of all inputs
  # must match', naming no input).
  step = 'step_train' if name == 'seed' else 'step_eval'
  if step == 'step_train':
    inputs['seed'] = tf.constant(1, tf.int64)
  model.signatures[step](**inputs)
  wrong = tf.zeros(shape, inputs[name].dtype)
  with pytest.raises(tf.errors.InvalidArgumentError, match=message):
    model.signatures[step](**{**inputs, name: wrong})


def test_a_negative_batch_size_of_the_initial_state_is_named(loaded):
  """It was 'Dimension -1 must be >= 0', naming no input."""
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='initial_state: batch_size must be >= 0'):
    loaded.signatures['initial_state'](batch_size=tf.constant(-1))
  state = loaded.signatures['initial_state'](batch_size=tf.constant(0))
  assert state['state_deter'].shape == (0, 16)
  # A batch_size of shape [1] was 'In[0] should be a scalar: [1]', naming no input.
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r'Shape of tensor batch_size \[1\] is not compatible with '
                           r'expected shape \[\]'):
    loaded.signatures['initial_state'](batch_size=tf.constant([1]))


def test_saved_policy_takes_a_state_of_another_float_dtype_as_the_agent_does(cartpole):
  """A state of float64 rows (np.zeros for a reset) failed inside the signature with
  TensorFlow's 'input #3(zero-based) was expected to be a float tensor but is a double
  tensor', naming no input; Agent.policy converts it, as SavedPolicy converts obs."""
  _, _, out = cartpole
  policy = export.SavedPolicy(str(out))
  obs = {'position': np.ones((2, 3)), 'velocity': np.ones((2, 2)), 'is_first': np.ones(2, bool)}
  carry = policy.init_policy(2)
  wide = {k: v.astype(np.float64) for k, v in carry.items()}
  for mode in ('eval', 'train'):
    seed = policy._seed  # noqa: SLF001 - both calls of mode train sample with one seed
    want = policy.policy(carry, obs, mode)
    policy._seed = seed  # noqa: SLF001
    got = policy.policy(wide, obs, mode)
    # float64 zeros become the same float32 zeros: the same program on equal inputs.
    np.testing.assert_array_equal(got[1]['action'], want[1]['action'])
    assert got[0]['state_deter'].dtype == np.float32


@pytest.mark.parametrize('change, message', [
    # "could not convert string to float: np.str_('a')", naming no key.
    (lambda obs, carry: obs.update(position=np.full((2, 3), 'a')),
     "policy obs 'position' holds text (<U1); the policy takes float32 values"),
    # TensorFlow's 6 lines of 'Graph execution error: ...', the key on the fifth.
    (lambda obs, carry: obs.update(position=np.ones((2, 4))),
     "policy obs 'position' has shape (2, 4); the policy takes (None, 3) (None: the batch)"),
    (lambda obs, carry: obs.update(position=np.ones(3)),
     "policy obs 'position' has shape (3,); the policy takes (None, 3) (None: the batch)"),
    (lambda obs, carry: carry.update(state_deter=np.ones((2, 16, 1))),
     "policy carry 'state_deter' has shape (2, 16, 1); the policy takes (None, 16) (None: "
     'the batch)'),
    # TensorFlow's 'Binding inputs to tf.function failed ...' and every input, 8 lines.
    (lambda obs, carry: carry.pop('state_deter'),
     "policy carry: missing key 'state_deter'; got ['state_prevact', 'state_stoch'] (pass "
     'what init_policy or the last policy call returned)'),
    # An action came back without a word (a sensor that failed, in a deployment).
    (lambda obs, carry: obs['velocity'].__setitem__((1, 0), np.nan),
     "policy obs 'velocity' holds NaN or inf (row 1 of 2); the policy acts on finite "
     'observations only'),
    # The cases below: sweep 74. TensorFlow's 6 lines of 'Graph execution error: ...'.
    (lambda obs, carry: obs.update(position=np.ones((3, 3))),
     "policy obs 'position' has 3 rows, carry 'state_deter' 2 (one row per env: "
     'init_policy(B) gives the carry of B envs)'),
    (lambda obs, carry: carry.update(state_stoch=np.zeros((3, 4, 4))),
     "policy carry 'state_stoch' has 3 rows, carry 'state_deter' 2 (one row per env: "
     'init_policy(B) gives the carry of B envs)'),
    # TensorFlow's 22 lines of 'Binding inputs to tf.function failed ...'.
    (lambda obs, carry: carry.update(action_action=np.zeros((2, 1))),
     "policy carry: unknown key 'action_action'; it takes ['state_deter', 'state_prevact', "
     "'state_stoch'] (pass what init_policy or the last policy call returned)"),
    # Returned actions without a word: 'False' is a true string, 2 and NaN true numbers,
    # complex numbers lost their imaginary part (numpy's ComplexWarning).
    (lambda obs, carry: obs.update(is_first=np.array(['False', 'False'])),
     "policy obs 'is_first' holds text (<U5); the policy takes bool values"),
    (lambda obs, carry: obs.update(is_first=np.array([0, 2])),
     "policy obs 'is_first' holds 2, which is no bool value (True/False or 1/0)"),
    (lambda obs, carry: obs.update(is_first=np.array([np.nan, 0])),
     "policy obs 'is_first' holds nan, which is no bool value (True/False or 1/0)"),
    (lambda obs, carry: obs.update(position=np.ones((2, 3)) + 1j),
     "policy obs 'position' holds complex numbers (complex128); the policy takes float32 "
     'values'),
    (lambda obs, carry: carry['state_deter'].__setitem__((0, 0), np.inf),
     "policy carry 'state_deter' holds NaN or inf (row 0 of 2); pass what init_policy or "
     'the last policy call returned'),
])
def test_saved_policy_names_the_input_it_cannot_take(saved_cartpole, change, message):
  policy = saved_cartpole
  obs = {'position': np.ones((2, 3)), 'velocity': np.ones((2, 2)), 'is_first': np.ones(2, bool)}
  carry = policy.init_policy(2)
  change(obs, carry)
  with pytest.raises(ValueError) as error:
    policy.policy(carry, obs)
  assert str(error.value) == message


@pytest.mark.parametrize('carry, obs, message', [
    # 'The truth value of an array with more than one element is ambiguous ...' and
    # "argument of type 'NoneType' is not iterable", naming neither.
    ('init', np.ones((2, 5)), 'policy obs: expected a dict of arrays by key, got ndarray'),
    (None, 'good', 'policy carry: expected a dict of arrays by key (what init_policy or '
     'the last policy call returned), got NoneType'),
    ('tuple', 'good', 'policy carry: expected a dict of arrays by key (what init_policy or '
     'the last policy call returned), got tuple')])
def test_saved_policy_names_obs_or_carry_that_are_no_dict(saved_cartpole, carry, obs, message):
  policy = saved_cartpole
  good = {'position': np.ones((2, 3)), 'velocity': np.ones((2, 2)), 'is_first': np.ones(2, bool)}
  carry = {'init': policy.init_policy(2), 'tuple': tuple(policy.init_policy(2).values()),
           None: None}[carry]
  with pytest.raises(ValueError) as error:
    policy.policy(carry, good if isinstance(obs, str) else obs)
  assert str(error.value) == message


@pytest.mark.parametrize('batch_size', [
    -1,  # TensorFlow's 6 lines of 'Graph execution error: ... must be >= 0'
    1.5, '2',  # taken as 1 and 2
    2**40,  # wrapped around in int32: a carry of 0 rows
    None])  # "int() argument must be ..., not 'NoneType'"
def test_saved_policy_names_a_batch_size_it_cannot_take(saved_cartpole, batch_size):
  with pytest.raises(ValueError) as error:
    saved_cartpole.init_policy(batch_size)
  assert str(error.value) == (f'init_policy: batch_size must be a whole number from 0 to '
                              f'2**31-1, got {batch_size!r}')
  assert saved_cartpole.init_policy(np.int64(2))['state_deter'].shape == (2, 16)


def test_step_train_samples_from_the_seed(cartpole):
  _, _, out = cartpole
  policy = export.SavedPolicy(str(out))
  rng = np.random.default_rng(0)
  B = 64
  obs = {'position': rng.normal(size=(B, 3)).astype(np.float32),
         'velocity': rng.normal(size=(B, 2)).astype(np.float32),
         'is_first': np.ones(B, bool)}
  step = policy._steps['train']  # noqa: SLF001 - the raw signature takes the seed
  inputs = {f'obs_{k}': tf.constant(v) for k, v in obs.items()}
  inputs.update(policy.init_policy(B))
  a = step(**inputs, seed=tf.constant(1, tf.int64))['action_action'].numpy()
  b = step(**inputs, seed=tf.constant(1, tf.int64))['action_action'].numpy()
  c = step(**inputs, seed=tf.constant(2, tf.int64))['action_action'].numpy()
  _, greedy, _ = policy.policy(policy.init_policy(B), obs, mode='eval')
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c) and not np.allclose(a, greedy['action'])
  # Each example draws its own noise: identical inputs give different samples.
  same = {k: np.repeat(v[:1], B, 0) for k, v in inputs.items()}
  d = step(**same, seed=tf.constant(1, tf.int64))['action_action'].numpy()
  assert np.std(d) > 0.05


@pytest.fixture(scope='module')
def image_disc(tmp_path_factory):
  """(env config, obs_space, act_space, agent, checkpoint prefix, export dir) of an
  image agent with discrete actions, exported with TensorFlow Lite."""
  tmp = tmp_path_factory.mktemp('image_disc')
  config = dmc.get_config('train_eval,debug')
  config.task = 'dummy_disc'
  config.env.dummy.size = (16, 16)
  config.agent.enc.mults = config.agent.dec.mults = (2, 3)
  env = envs.make_env('dummy_disc', config.env, seed=0)
  obs_space, act_space = base.agent_spaces(env.obs_space, env.act_space)
  agent = make_run(tmp / 'run', config, obs_space, act_space, seed=1)
  prefix, out = export.export_run(str(tmp / 'run'), str(tmp / 'export'), tflite=True)
  return config.env, obs_space, act_space, agent, prefix, out


def test_image_and_discrete_agent_on_dummy_env(image_disc):
  env_config, obs_space, act_space, agent, prefix, out = image_disc
  B = 3
  made = [envs.make_env('dummy_disc', env_config, seed=i) for i in range(B)]
  assert obs_space['image'].shape == (16, 16, 3) and act_space['action'].discrete
  assert prefix.endswith('ckpt-1')
  tflite_init, tflite_step = tflite_steps(os.path.join(out, 'policy.tflite'))
  carry_c = [tflite_init(batch_size=np.int32(1)) for _ in range(B)]  # a batch of one each
  policy = export.SavedPolicy(out)
  policy.check_spaces(obs_space, act_space)
  carry_a, carry_b = agent.init_policy(B), policy.init_policy(B)
  acts = {'action': np.zeros(B, np.int32), 'reset': np.ones(B, bool)}
  taken = []
  for _ in range(60):
    steps = [env.step({k: v[i] for k, v in acts.items()}) for i, env in enumerate(made)]
    obs = {k: np.stack([s[k] for s in steps]) for k in steps[0]}
    carry_a, act_a, _ = agent.policy(carry_a, obs, mode='eval')
    carry_b, act_b, _ = policy.policy(carry_b, obs, mode='eval')
    act_c = []
    for i in range(B):
      out_c = tflite_step(
          **{f'obs_{k}': obs[k][i:i + 1] for k in ('image', 'vector', 'is_first')}, **carry_c[i])
      carry_c[i] = {k: v for k, v in out_c.items() if k.startswith('state_')}
      act_c.append(out_c['action_action'][0])
    assert act_b['action'].dtype == np.int32 and out_c['action_action'].dtype == np.int32
    np.testing.assert_array_equal(act_a['action'], act_b['action'])
    np.testing.assert_array_equal(act_c, act_b['action'])
    acts = {'action': act_b['action'], 'reset': np.zeros(B, bool)}
    taken.append(act_b['action'])
  assert len(np.unique(taken)) > 1


# The ops of the exports TensorFlow 2.4 to 2.21 loaded and matched 2.21's outputs with
# (tools/deploy_check.py; README "Export and evaluation", BENCHMARKS.md "Deploying the
# export"). An op not listed may be one an older TensorFlow lacks: measure it there
# and add it. TensorFlow 2.3 lacks StatelessRandomUniformFullIntV2 (the policy's seeds).
DEPLOYED_OPS = {
    'Abs', 'AddV2', 'All', 'ArgMax', 'Assert', 'AssignVariableOp', 'BatchMatMulV2',
    'BitwiseOr', 'Cast', 'ConcatV2', 'Const', 'Conv2D', 'Cumsum', 'Einsum', 'EnsureShape',
    'Equal', 'Exp', 'Fill', 'GatherV2', 'Greater', 'GreaterEqual', 'Identity', 'LeftShift',
    'Less', 'LessEqual', 'Log', 'Log1p', 'LogSoftmax', 'LogicalNot', 'MatMul', 'Max',
    'Maximum', 'Mean', 'MergeV2Checkpoints', 'Mul', 'Neg', 'NoOp', 'OneHot', 'Pack',
    'Placeholder', 'PlaceholderWithDefault', 'Range', 'ReadVariableOp', 'RealDiv', 'Reshape',
    'RestoreV2', 'Rsqrt', 'SaveV2', 'Select', 'SelectV2', 'Shape', 'ShardedFilename',
    'Sigmoid', 'Softmax', 'Split', 'SplitV', 'Square', 'StatefulPartitionedCall',
    'StatelessRandomNormalV2', 'StatelessRandomUniformFullIntV2', 'StatelessRandomUniformV2',
    'StaticRegexFullMatch', 'StopGradient', 'StridedSlice', 'StringJoin', 'Sub', 'Sum',
    'Tanh', 'Tile', 'Transpose', 'VarHandleOp'}


def saved_ops(path):
  """{op type} of every node of SavedModel `path`, its functions' too."""
  from tensorflow.core.protobuf import saved_model_pb2
  saved = saved_model_pb2.SavedModel()
  with open(os.path.join(path, 'saved_model.pb'), 'rb') as f:
    saved.ParseFromString(f.read())
  graph = saved.meta_graphs[0].graph_def
  return {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}


def test_the_saved_model_holds_only_ops_older_tensorflow_loads(cartpole, image_disc):
  """TensorFlow 2.10 and later read each variable in the SavedModel's own save function
  with a DisableCopyOnRead op first, which TensorFlow 2.9 and older do not know: their
  tf.saved_model.load refused the whole export ("Op type not registered
  'DisableCopyOnRead' in binary running on ..."), as did their
  tf.compat.v1.saved_model.loader.load (the graph import TF Serving's loader does)."""
  for out in (cartpole[2], image_disc[5]):
    ops = saved_ops(str(out))
    assert 'DisableCopyOnRead' not in ops
    assert ops <= DEPLOYED_OPS, sorted(ops - DEPLOYED_OPS)


# The TFLite builtins (all at version 1) of the policy.tflite files that TFLite 2.8 to
# 2.21 (tf.lite, tflite-runtime, ai-edge-litert) ran and matched TensorFlow 2.21's
# SavedModel with (tools/deploy_check.py): another builtin, or a later version of one,
# may be one an older runtime lacks.
DEPLOYED_TFLITE_OPS = {
    'ABS', 'ADD', 'ARG_MAX', 'BATCH_MATMUL', 'CAST', 'CONCATENATION', 'CONV_2D', 'DIV', 'FILL',
    'FULLY_CONNECTED', 'LESS', 'LOG', 'LOGICAL_NOT', 'LOGISTIC', 'MAXIMUM', 'MEAN', 'MUL',
    'NEG', 'ONE_HOT', 'REDUCE_MAX', 'RESHAPE', 'RSQRT', 'SELECT', 'SOFTMAX', 'SPLIT_V',
    'SQUARE', 'STRIDED_SLICE', 'SUB', 'TANH', 'TILE'}


def tflite_ops(path):
  """{(builtin name, version)} of the ops of TFLite model `path`."""
  from tensorflow.lite.python import schema_py_generated as schema
  names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith('_')}
  with open(path, 'rb') as f:
    model = schema.Model.GetRootAsModel(f.read(), 0)
  codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
  return {(names.get(c.BuiltinCode(), c.BuiltinCode()), c.Version()) for c in codes}


def test_the_tflite_model_holds_only_builtins_older_runtimes_run(cartpole, image_disc):
  """The encoder's symlog was tf.sign(x) * log1p(|x|), and TFLite's SIGN builtin is new
  in 2.11: tf.lite and tflite-runtime 2.10 and older refused the whole file ("Op
  builtin_code out of range: 158. Are you using old TFLite binary with newer model?")."""
  for out in (cartpole[2], image_disc[5]):
    ops = tflite_ops(os.path.join(str(out), 'policy.tflite'))
    assert {name for name, _ in ops} <= DEPLOYED_TFLITE_OPS, sorted(ops)
    assert {version for _, version in ops} == {1}, sorted(ops)


def deploy_check():
  """tools/deploy_check.py as a module."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(
      'deploy_check', os.path.join(ROOT, 'tools', 'deploy_check.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_deploy_check_matches_the_export_in_tensorflow_and_tflite(cartpole, tmp_path, capfd,
                                                                  monkeypatch):
  _, _, out = cartpole
  tool, ref = deploy_check(), str(tmp_path / 'ref.npz')
  assert tool.main(['record', f'--export={out}', f'--out={ref}', '--steps=6']) == 0
  assert f'Recorded 6 steps x 2 rows of step_eval and step_train of {out} with TensorFlow ' \
      in capfd.readouterr().out
  assert tool.main(['check', f'--export={out}', f'--ref={ref}']) == 0
  lines = capfd.readouterr().out.splitlines()
  assert [x.split(':')[0] for x in lines[:3]] == ['initial_state', 'step_eval', 'step_train']
  assert all(x.endswith(': matches') for x in lines[:3]), lines
  assert lines[3].startswith(f'TensorFlow {tf.__version__} (Python ')
  assert lines[3].endswith(f"the export matches TensorFlow {tf.__version__}'s outputs")
  # TensorFlow Lite, in another interpreter (--python), as in a deploying venv, whose
  # environment sets no TensorFlow log level (the suite's does).
  monkeypatch.delenv('TF_CPP_MIN_LOG_LEVEL', raising=False)
  assert tool.main(['check', f'--export={out}', f'--ref={ref}', '--runtime=tf_lite',
                    f'--python={sys.executable}']) == 0
  captured = capfd.readouterr()
  # Its import of TensorFlow printed six start-up lines (absl's, oneDNN's and cudart's,
  # twice) before the runtime's own line.
  assert set(captured.err.splitlines()) <= {'INFO: Created TensorFlow Lite XNNPACK delegate '
                                            'for CPU.'}, captured.err
  lines = captured.out.splitlines()
  assert [x.split(':')[0] for x in lines if x.endswith(': matches')] == [
      'initial_state', 'step_eval'], lines
  assert f'tf.lite of TensorFlow {tf.__version__}' in lines[-1]


@pytest.mark.parametrize('content, reason', [
    (b'garbage', 'not an .npz file'),  # was numpy's refusal to unpickle it
    (None, "its meta lacks ['tensorflow', 'steps', 'batch', 'files']")])  # was a KeyError
def test_deploy_check_names_a_ref_it_cannot_read(tmp_path, capfd, content, reason):
  ref = tmp_path / 'ref.npz'
  if content is None:
    np.savez(ref, meta=np.array('{}'))
  else:
    ref.write_bytes(content)
  assert deploy_check().main(['check', f'--export={tmp_path}', f'--ref={ref}']) == 2
  assert capfd.readouterr().err == (
      f'Error: --ref {ref} cannot be read (ValueError: {reason}); record it again\n')


def test_deploy_check_names_a_difference_and_the_ref_of_another_export(
    cartpole, image_disc, tmp_path, capfd):
  tool = deploy_check()
  out, other = str(cartpole[2]), image_disc[5]
  ref, wrong = str(tmp_path / 'ref.npz'), str(tmp_path / 'wrong.npz')
  assert tool.main(['record', f'--export={out}', f'--out={ref}', '--steps=4']) == 0
  with open(ref, 'rb') as f:
    before = f.read()
  # An existing --out is left as it is.
  assert tool.main(['record', f'--export={other}', f'--out={ref}', '--steps=4']) == 2
  assert capfd.readouterr().err == (
      f'Error: --out {ref} exists; it is left as it is: pass another --out, or --overwrite '
      'to replace it\n')
  with open(ref, 'rb') as f:
    assert f.read() == before
  # An output 1e-3 off (ten times the tolerance) at step 2.
  with np.load(ref, allow_pickle=False) as f:
    data = {k: f[k] for k in f.files}
  data['step_eval/action_action'][2, 1] += 1e-3
  np.savez(wrong, **data)
  assert tool.main(['check', f'--export={out}', f'--ref={wrong}']) == 1
  lines = capfd.readouterr().out.splitlines()
  assert re.fullmatch(r'step_eval: largest \|difference\| action_action 0\.001, .*: differs: '
                      'action_action differs by 0.001 first at step 2', lines[1]), lines
  assert lines[-1].endswith(f"step_eval differ from TensorFlow {tf.__version__}'s"), lines
  # A REF of another export: one line, exit code 2.
  assert tool.main(['check', f'--export={other}', f'--ref={ref}']) == 2
  assert capfd.readouterr().err == (
      f'Error: {other}/saved_model.pb is not the file --ref {ref} was recorded from (its '
      'SHA-256 differs); record it again from this export\n')


def test_deploy_check_refuses_an_out_it_cannot_write_in_one_line(cartpole, tmp_path, capfd,
                                                                   monkeypatch):
  """record --out=DIR --overwrite recorded, then ended in a traceback (IsADirectoryError);
  a full disk or a folder it may not write did too."""
  tool, out = deploy_check(), str(cartpole[2])
  folder = tmp_path / 'refs'
  (folder / 'keep').mkdir(parents=True)
  assert tool.main(['record', f'--export={out}', f'--out={folder}', '--overwrite']) == 2
  assert capfd.readouterr().err == (
      f'Error: --out {folder} is a directory; give the path of the reference file, e.g. '
      'ref.npz\n')
  assert os.listdir(folder) == ['keep']
  ref = tmp_path / 'ref.npz'
  ref.write_bytes(b'the old reference')

  def full(*args, **kwargs):
    raise OSError(28, 'No space left on device')
  monkeypatch.setattr(tool.np, 'savez', full)
  assert tool.main(['record', f'--export={out}', f'--out={ref}', '--overwrite',
                    '--steps=1']) == 2
  assert capfd.readouterr().err == (
      f'Error: --out {ref} cannot be written (OSError: [Errno 28] No space left on device); '
      'it is left as it was\n')
  assert ref.read_bytes() == b'the old reference'
  assert sorted(os.listdir(tmp_path)) == ['ref.npz', 'refs']  # no temporary left


def test_deploy_check_refuses_a_recording_it_cannot_make_in_one_line(cartpole, tmp_path, capfd,
                                                                     monkeypatch):
  """--seed -1 and --batch 1e8 were numpy's tracebacks; a recording a little beyond the
  memory left was killed without a word."""
  tool, out, ref = deploy_check(), str(cartpole[2]), tmp_path / 'ref.npz'
  assert tool.main(['record', f'--export={out}', f'--out={ref}', '--seed=-1']) == 2
  assert capfd.readouterr().err == 'Error: --seed -1 is below 0; give a seed of 0 or more\n'
  # 10^12 rows: petabytes, beyond any machine's memory.
  assert tool.main(['record', f'--export={out}', f'--out={ref}', '--batch=1000000000000']) == 2
  assert re.fullmatch(r'Error: --steps 20 x --batch 1000000000000 needs about [\d,]+\.\d GiB '
                      r'of memory for its inputs and outputs, more than the [\d.]+ GiB '
                      r'available; give fewer\n', capfd.readouterr().err)

  def beyond(*args):  # what the estimate missed
    raise MemoryError('Unable to allocate 9.0 GiB')
  monkeypatch.setattr(tool, 'draw_inputs', beyond)
  assert tool.main(['record', f'--export={out}', f'--out={ref}', '--steps=1']) == 2
  assert capfd.readouterr().err == (
      'Error: --steps 1 x --batch 2 ran out of memory (MemoryError: Unable to allocate 9.0 '
      'GiB); give fewer\n')
  assert os.listdir(tmp_path) == []


def test_deploy_check_says_a_wrong_flag_in_one_line(capfd):
  """argparse printed its usage (3 lines) before the error."""
  with pytest.raises(SystemExit) as exit_:
    deploy_check().main(['check', '--export=e', '--ref=r.npz', '--runtime=nosuch'])
  assert exit_.value.code == 2
  assert capfd.readouterr().err == (
      "Error: argument --runtime: invalid choice: 'nosuch' (choose from 'tensorflow', "
      "'ai_edge_litert', 'tflite_runtime', 'tf_lite') (see --help)\n")


@pytest.fixture(scope='module')
def saved_image_disc(image_disc):
  """export.SavedPolicy of image_disc's export, loaded once (as saved_cartpole)."""
  return export.SavedPolicy(image_disc[5])


@pytest.mark.parametrize('image, shown', [
    (np.full((2, 16, 16, 3), 0.5), '0.5'),  # an image in [0, 1]: all zeros, no word
    (np.full((2, 16, 16, 3), 300), '300'),  # wrapped around to 44
    (np.full((2, 16, 16, 3), -1), '-1'),  # to 255
    (np.full((2, 16, 16, 3), np.nan), 'nan')])  # to 0, after numpy's RuntimeWarning
def test_saved_policy_names_an_image_of_values_uint8_cannot_hold(saved_image_disc, image,
                                                                 shown):
  policy = saved_image_disc
  obs = {'image': image, 'vector': np.zeros((2, 4), np.float32), 'is_first': np.ones(2, bool)}
  with pytest.raises(ValueError) as error:
    policy.policy(policy.init_policy(2), obs)
  assert str(error.value) == (f"policy obs 'image' holds {shown}, which is no uint8 value "
                              '(whole numbers from 0 to 255)')
  obs['image'] = np.full((2, 16, 16, 3), 200.0)  # floats of whole numbers are converted
  assert policy.policy(policy.init_policy(2), obs)[1]['action'].shape == (2,)


def test_errors_are_one_line_and_nothing_is_overwritten(cartpole, tmp_path):
  logdir, _, out = cartpole
  with pytest.raises(configuration.ConfigError, match='config.json not found'):
    export.export_run(str(tmp_path), str(tmp_path / 'a'))
  empty = tmp_path / 'empty'
  logdir_checks.save(dmc.get_config('debug'), str(empty))
  run_files.save_spaces(str(empty), *CARTPOLE)
  with pytest.raises(checkpointing.CheckpointError, match='No checkpoint found in'):
    export.export_run(str(empty), str(tmp_path / 'a'))
  with pytest.raises(checkpointing.CheckpointError, match='ckpt-9 is missing'):
    export.export_run(str(logdir), str(tmp_path / 'a'), checkpoint=f'{logdir}/ckpt/ckpt-9')
  # From the command, a checkpoint that does not exist is a flag's value, found before
  # TensorFlow loads (a stand-in that cannot be imported shows it is not): it was
  # exit code 1 once TensorFlow had loaded.
  (tmp_path / 'no_tf' / 'tensorflow').mkdir(parents=True)
  (tmp_path / 'no_tf' / 'tensorflow' / '__init__.py').write_text(
      "raise ImportError('the export imported TensorFlow')")
  result = subprocess.run(
      export_cmd(f'--logdir={logdir}', f'--out={tmp_path}/a',
                 f'--checkpoint={logdir}/ckpt/ckpt-9'),
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env=dict(os.environ, PYTHONPATH=f'{tmp_path}/no_tf:{ROOT}'))
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'Error: --checkpoint {logdir}/ckpt/ckpt-9: no such checkpoint '
      f'({logdir}/ckpt/ckpt-9 and {logdir}/ckpt/ckpt-9.index do not exist); name a '
      "checkpoint prefix such as RUN/ckpt/ckpt-3, or a run's ckpt directory"], result.stderr
  # One that exists but is no checkpoint, in a user's shell (no TF_CPP_MIN_LOG_LEVEL):
  # the 9 lines TensorFlow logs as it loads came before the one line. A file, an index
  # file or an export: exit code 1 once TensorFlow had loaded, where a missing one is 2.
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  env['PYTHONPATH'] = f'{tmp_path}/no_tf:{ROOT}'
  index = tf.train.latest_checkpoint(str(logdir / 'ckpt')) + '.index'
  for given, line in (
      (f'{logdir}/config.json', 'is a file, not a checkpoint (name a checkpoint prefix '
       'such as RUN/ckpt/ckpt-3, without .index, or a directory of checkpoints)'),
      (index, f'is a file, not a checkpoint (name its prefix, --checkpoint={index[:-6]})'),
      # Its data file, as a shell completes 'ckpt-1.' first: the line named no prefix.
      (f'{index[:-6]}.data-00000-of-00001',
       f'is a file, not a checkpoint (name its prefix, --checkpoint={index[:-6]})'),
      (str(out), "is a SavedModel, an export: it holds the policy for eval_only, not the "
       "agent's weights and optimizer; name the run's ckpt directory"),
      # Its variables folder: 'No checkpoint found in ...', exit code 1, after the load.
      (f'{out}/variables', f'is no checkpoint of a run (it is inside the SavedModel export '
       f'{out}, which eval_only takes whole: --config.run.from_checkpoint={out}; training '
       "and export need a run's checkpoint, RUN/ckpt)")):
    result = subprocess.run(
        export_cmd(f'--logdir={logdir}', f'--out={tmp_path}/a', f'--checkpoint={given}'),
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f'Error: --checkpoint {given} {line}'], result.stderr[-3000:]
  assert not (tmp_path / 'a').exists()
  before = sorted(os.listdir(out))
  stamp = os.path.getmtime(out / 'saved_model.pb')
  result = cli_zygote.run(export_cmd(f'--logdir={logdir}', f'--out={out}'),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2  # a flag's value (it was 1)
  lines = [x for x in result.stderr.splitlines() if x.startswith('Error:')]
  assert 'Traceback' not in result.stderr
  assert lines == [f'Error: --out {out} exists and is not empty; '
                   'choose another or pass --overwrite'], result.stderr[-2000:]
  assert sorted(os.listdir(out)) == before
  assert os.path.getmtime(out / 'saved_model.pb') == stamp
  export.export_run(str(logdir), str(out), overwrite=True, tflite=True)
  assert sorted(os.listdir(out)) == before
  assert not [x for x in os.listdir(logdir) if '.tmp-' in x]


def test_stdout_that_nothing_reads_is_one_line_and_the_export_whole(cartpole, tmp_path):
  """`export ... | true`: the export was written, then its last line ended in a
  traceback (BrokenPipeError)."""
  logdir, _, _ = cartpole
  out = tmp_path / 'export'
  proc = cli_zygote.Popen(export_cmd(f'--logdir={logdir}', f'--out={out}'), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  proc.stdout.close()
  stderr = proc.stderr.read()
  assert proc.wait(timeout=300) == 1, stderr[-3000:]
  assert our_lines(stderr) == [
      'Stopped: stdout is a pipe that nothing reads any more (the program after | ended); '
      f'the export in {out} is written whole']
  assert export.SavedPolicy(str(out)).init_policy(1) is not None


@pytest.mark.skipif(not os.path.exists('/dev/full'),
                    reason='no /dev/full, the device whose writes fail as on a full disk '
                    '(Linux has it; macOS does not)')
def test_stdout_on_a_full_disk_is_one_line_and_the_export_whole(cartpole, tmp_path):
  """`export ... > log` on a full disk: 'Error: [Errno 28] No space left on device'
  named no file, and not that the export was written."""
  logdir, _, _ = cartpole
  out = tmp_path / 'export'
  with open('/dev/full', 'w') as full:
    result = cli_zygote.run(export_cmd(f'--logdir={logdir}', f'--out={out}'), cwd=ROOT,
                            stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
  assert result.returncode == 1, result.stderr[-3000:]
  assert our_lines(result.stderr) == [
      f'Stopped: cannot write to stdout (No space left on device); the export in {out} is '
      'written whole']
  assert export.SavedPolicy(str(out)).init_policy(1) is not None


def our_lines(stderr):
  """stderr without TensorFlow's native log lines (printed as it loads)."""
  native = re.compile(r'[IWEF]\d{4} |WARNING: All log messages before absl::InitializeLog|'
                      'To enable the following instructions')
  return [x for x in stderr.splitlines() if x.strip() and not native.match(x)]


@pytest.mark.parametrize('name, text, message', [
    ('config.json', '{not json', 'config.json is not valid JSON'),
    ('config.json', '[1, 2]', 'config.json holds a JSON list, not an object'),
    ('config.json', '{"a": 1}', "config.json is not a saved config .no 'task'"),
    # Edited by hand: "TypeError: not all arguments converted during string formatting".
    ('config.json', '{"task": "dmc_cartpole_balance", "random_agent": false, '
     '"agent": {"rssm": {"deter": "big"}}}', "config.json holds agent.rssm.deter='big', "
     'where configs/base.py has a number; put back the value the run had'),
    # A newer version's setting: "ValueError: Unrecognized keyword arguments passed to
    # RSSM: {'newkey': 3} (unexpected...)" as the agent was built.
    ('config.json', '{"task": "dmc_cartpole_balance", "random_agent": false, '
     '"agent": {"rssm": {"deter": 16, "newkey": 3}}}', 'config.json holds agent.rssm.newkey=3, '
     'an agent setting this version of dreamerv3_tf lacks .a run of a newer version, or '
     'edited by hand.+; use the version that trained the run, or remove the key'),
    # A section's null: exported without a word.
    ('config.json', '{"task": "dmc_cartpole_balance", "random_agent": false, "agent": {}, '
     '"run": null}', 'config.json holds run=None, where configs/base.py has a dict; put '
     'back the value the run had'),
    ('spaces.json', '{not json', 'spaces.json is not valid JSON'),
    ('spaces.json', '{"obs_space": 3}', 'spaces.json does not hold the spaces of a run'),
])
def test_damaged_run_files_are_named(tmp_path, name, text, message):
  logdir = tmp_path / 'run'
  logdir_checks.save(dmc.get_config('debug'), str(logdir))
  run_files.save_spaces(str(logdir), *CARTPOLE)
  (logdir / name).write_text(text)
  with pytest.raises(configuration.ConfigError, match=message):
    export.export_run(str(logdir), str(tmp_path / 'out'))
  assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('name', ['config.json', 'spaces.json'])
@pytest.mark.parametrize('damage', ['directory', 'link_to_nothing', 'no_permission'])
def test_a_run_file_that_cannot_be_read_is_named_with_its_cause(
    tmp_path, name, damage, unprivileged):
  """They were '[Errno 21] Is a directory: PATH' and '[Errno 13] Permission denied: PATH'
  (exit code 1), and a link to nothing 'PATH not found: is RUN the logdir of a training
  run?' (config.json) or '... (deleted?)' (spaces.json), found by a damaged-file sweep.
  The CLI's case stops before TensorFlow loads (run_files reads them)."""
  logdir = tmp_path / 'run'
  logdir_checks.save(dmc.get_config('debug'), str(logdir))
  run_files.save_spaces(str(logdir), *CARTPOLE)
  path = logdir / name
  if damage == 'no_permission':
    path.chmod(0)
    result = cli_zygote.run(
        [*unprivileged, *export_cmd(f'--logdir={logdir}', f'--out={tmp_path}/out')],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-3000:]
    assert our_lines(result.stderr) == [f'Error: {path} cannot be read (Permission denied)']
    return
  path.unlink()
  if damage == 'directory':
    path.mkdir()
    line = f'{path} is a directory, not the file a run saved'
  else:
    path.symlink_to(tmp_path / 'gone')
    line = (f'{path} is a symbolic link to {tmp_path}/gone, which does not exist (a disk '
            'not mounted?); mount it or fix the link')
  with pytest.raises(configuration.ConfigError) as error:
    export_checks.check_run(str(logdir))
  assert str(error.value) == line


def test_an_act_space_file_linked_to_nothing_is_named(cartpole, tmp_path):
  """It was taken for an older export's absent file: eval_only evaluated it without
  checking the task's actions against it (found by a damaged-file sweep)."""
  copy = shutil.copytree(cartpole[2], tmp_path / 'export')
  (copy / export.ACT_SPACE_FILE).unlink()
  (copy / export.ACT_SPACE_FILE).symlink_to(tmp_path / 'gone')
  with pytest.raises(export.ExportError) as error:
    export.SavedPolicy(str(copy))
  assert str(error.value) == (
      f'SavedModel {copy}: {export.ACT_SPACE_FILE} cannot be read ({copy}/'
      f'{export.ACT_SPACE_FILE}; No such file or directory); export it again')


@pytest.mark.parametrize('damage', ['garbage', 'cut'])
def test_an_export_whose_fingerprint_cannot_be_read_loads_with_one_warning(
    cartpole, tmp_path, capfd, caplog, damage):
  """fingerprint.pb damaged (checksums only): TensorFlow's load printed its traceback
  (absl's log, 9 lines) and went on; eval_only then evaluated with exit code 0 (found
  by a damaged-file sweep)."""
  copy = shutil.copytree(cartpole[2], tmp_path / 'export')
  fingerprint = copy / 'fingerprint.pb'
  data = fingerprint.read_bytes()
  fingerprint.write_bytes(b'\x01\x02garbage' if damage == 'garbage' else data[:len(data) // 2])
  capfd.readouterr()
  policy = export.SavedPolicy(str(copy))
  assert policy.init_policy(1) is not None
  err = capfd.readouterr().err
  assert 'Traceback' not in err and 'Fingerprint' not in caplog.text  # (absl's log: here)
  [line] = our_lines(err)
  assert line.startswith(f'Warning: {fingerprint} cannot be read (') and line.endswith(
      '); the policy loads without it (it holds only checksums of the export)'), line


def test_a_spaces_json_other_than_its_checkpoints_is_named(cartpole, tmp_path):
  """spaces.json edited (an obs of another shape) beside the run's own checkpoint: the
  line named one variable ("Checkpoint RUN/ckpt/ckpt-1: 'dec/...' is float32[5] there
  but float32[4] in this agent"), which the checkpoint itself records (found by a
  damaged-file sweep)."""
  from dreamerv3_tf.run import common
  logdir, agent, _ = cartpole
  run = tmp_path / 'run'
  run.mkdir()
  shutil.copy(logdir / 'config.json', run / 'config.json')
  made = common.made_for(run_files.load_config(str(logdir)), *CARTPOLE)
  loop = checkpointing.JSONState(lambda: {'made_for': made}, lambda state: None)
  prefix = checkpointing.Checkpoint(str(run / 'ckpt'), agent=agent, loop=loop).save()
  obs = dict(CARTPOLE[0], position=Space(np.float32, (4,)))  # edited: 3 -> 4
  run_files.save_spaces(str(run), obs, CARTPOLE[1])
  with pytest.raises(checkpointing.CheckpointError) as error:
    export.export_run(str(run), str(tmp_path / 'out'))
  assert str(error.value) == (
      f"{run}/spaces.json does not hold the spaces checkpoint {prefix} was made for (its "
      "obs 'position' is float32[3], spaces.json's float32[4]): edited or replaced? put "
      'back the one the run wrote, or resume the run, which writes it again from its env')
  assert not (tmp_path / 'out').exists()


def test_a_spaces_json_of_another_action_count_than_its_checkpoints_is_named(
    image_disc, tmp_path):
  """A discrete action's high edited in spaces.json (a changed number of actions): the
  line named one variable ("Checkpoint RUN/ckpt/ckpt-1: 'dyn/dynin2/linear/kernel' is
  float32[4, 8] there but float32[6, 8] in this agent"); the checkpoint records the
  number of actions now (sweep 74)."""
  from dreamerv3_tf.run import common
  _, obs_space, act_space, agent, prefix, _ = image_disc
  run = tmp_path / 'run'
  run.mkdir()
  trained = os.path.dirname(os.path.dirname(prefix))
  shutil.copy(os.path.join(trained, 'config.json'), run / 'config.json')
  made = common.made_for(run_files.load_config(trained), obs_space, act_space)
  loop = checkpointing.JSONState(lambda: {'made_for': made}, lambda state: None)
  prefix = checkpointing.Checkpoint(str(run / 'ckpt'), agent=agent, loop=loop).save()
  count = act_space['action'].classes
  run_files.save_spaces(str(run), obs_space, {'action': Space(np.int32, (), 0, count + 2)})
  with pytest.raises(checkpointing.CheckpointError) as error:
    export.export_run(str(run), str(tmp_path / 'out'))
  assert str(error.value) == (
      f"{run}/spaces.json does not hold the spaces checkpoint {prefix} was made for (its "
      f"action 'action' is one of {count} values, spaces.json's one of {count + 2}): "
      'edited or replaced? put back the one the run wrote, or resume the run, which writes '
      'it again from its env')
  assert not (tmp_path / 'out').exists()


def test_a_damaged_state_file_is_one_line_without_tensorflows_warnings(
    cartpole, tmp_path, caplog):
  """The check of spaces.json against the checkpoint (run.common.load_agent) read the
  state file through TensorFlow, which logged 'ParseError: ...' and 'Checkpoint ignored'
  before the line naming the file (3 lines; found by a damaged-file sweep)."""
  run = shutil.copytree(cartpole[0], tmp_path / 'run', ignore=shutil.ignore_patterns('export'))
  state = run / 'ckpt' / 'checkpoint'
  state.write_text(state.read_text().replace('model_checkpoint_path', 'model_checkpoint_pathS'))
  with pytest.raises(checkpointing.CheckpointError, match='is damaged'):
    export.export_run(str(run), str(tmp_path / 'out'))
  assert not [r for r in caplog.records if r.name == 'tensorflow'], caplog.text


def test_a_logdir_inside_a_run_names_the_run(tmp_path):
  """--logdir=RUN/ckpt (where the checkpoints are) said only 'RUN/ckpt/config.json not
  found: is RUN/ckpt the logdir of a training run?'."""
  logdir = tmp_path / 'run'
  logdir_checks.save(dmc.get_config('debug'), str(logdir))
  (logdir / 'ckpt').mkdir()
  with pytest.raises(configuration.ConfigError) as error:
    export.export_run(str(logdir / 'ckpt'), str(tmp_path / 'out'))
  assert str(error.value) == (
      f'{logdir}/ckpt/config.json not found: {logdir}/ckpt is a folder of the run '
      f'{logdir}; pass --logdir={logdir}')
  # A file said '{logdir}/config.json/config.json not found: ... is a folder of the run'.
  for path, line in ((logdir / 'config.json', f'a file of the run {logdir}, not its '
                      f'logdir; pass --logdir={logdir}'),
                     (tmp_path / 'x.txt', 'a file, not the logdir of a training run')):
    path.touch()
    with pytest.raises(configuration.ConfigError) as error:
      export.export_run(str(path), str(tmp_path / 'out'))
    assert str(error.value) == f'{path} is {line}'
  assert not (tmp_path / 'out').exists()


def test_a_logdir_that_is_an_export_names_it(tmp_path):
  """--logdir=EXPORT, e.g. to add --tflite to an export made without it, said 'EXPORT/
  config.json not found: is EXPORT the logdir of a training run?'."""
  (tmp_path / 'exp').mkdir()
  (tmp_path / 'exp' / 'saved_model.pb').touch()
  with pytest.raises(configuration.ConfigError) as error:
    export.export_run(str(tmp_path / 'exp'), str(tmp_path / 'out'), tflite=True)
  assert str(error.value) == (
      f'{tmp_path}/exp/config.json not found: {tmp_path}/exp is a SavedModel export, not '
      "the logdir of a training run; pass the run it was exported from (its --logdir), "
      'whose checkpoints an export is made of')
  assert not (tmp_path / 'out').exists()


def test_out_below_a_file_is_named_and_the_cli_says_one_line(tmp_path):
  (tmp_path / 'file').write_text('x')
  out = tmp_path / 'file' / 'out'
  with pytest.raises(export.ExportError, match=f'--out {out} is below {tmp_path}/file, '
                     'which is a file'):
    export.export_run(str(tmp_path / 'run'), str(out))
  # The CLI: an unreadable config.json (a ConfigError from outside the old except).
  (tmp_path / 'run').mkdir()
  (tmp_path / 'run' / 'config.json').write_text('{not json')
  result = cli_zygote.run(export_cmd(f'--logdir={tmp_path}/run', f'--out={tmp_path}/out'),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  # 2, as main gives for it (a ConfigError); it was 1 here.
  assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr[-3000:]
  assert our_lines(result.stderr) == [
      f'Error: {tmp_path}/run/config.json is not valid JSON (Expecting property name '
      'enclosed in double quotes: line 1 column 2 (char 1))']


def test_out_that_is_a_link_to_nothing_is_named(tmp_path):
  """It failed once the export was written, naming only the temporary: 'Error:
  OUT.tmp-<pid>; Not a directory' (the rename onto the link)."""
  out = tmp_path / 'out'
  out.symlink_to(tmp_path / 'gone')
  with pytest.raises(export.ExportError) as error:
    export.check_out(str(out), overwrite=False)
  assert str(error.value) == (
      f'--out {out} is a symlink to {tmp_path}/gone, which does not exist; remove the '
      'link or choose another --out')


def test_overwrite_of_an_export_that_holds_a_run_is_refused(tmp_path):
  """A run started in an export's folder (--logdir=OUT by mistake): --overwrite replaced
  OUT as a whole, and the run's config.json, checkpoints and metrics went with it."""
  out = tmp_path / 'out'
  (out / 'ckpt').mkdir(parents=True)
  for name in ('saved_model.pb', 'config.json'):
    (out / name).write_text('x')
  with pytest.raises(export.ExportError) as error:
    export.check_out(str(out), overwrite=True)
  assert str(error.value) == (
      f"--out {out} holds a run's files beside its export (ckpt, config.json); --overwrite "
      'would delete them with it: move them away or choose another --out')
  assert error.value.exit_code == 2  # a flag's value (it was 1)


def test_overwrite_of_an_export_that_holds_other_files_is_refused(tmp_path):
  """Another export made inside it (--out=OUT/v2), or notes beside it: --overwrite
  replaced OUT as a whole, and they went with it. (A real export's own files pass:
  test_errors_are_one_line_and_nothing_is_overwritten overwrites one.)"""
  out = tmp_path / 'out'
  (out / 'v2' / 'variables').mkdir(parents=True)
  (out / 'variables').mkdir()
  for name in ('saved_model.pb', 'policy.tflite', 'NOTES.txt', 'v2/saved_model.pb'):
    (out / name).write_text('x')
  with pytest.raises(export.ExportError) as error:
    export.check_out(str(out), overwrite=True)
  assert str(error.value) == (
      f"--out {out} holds files that are not its export's (NOTES.txt, v2); --overwrite "
      'would delete them with it: move them away or choose another --out')
  assert export.TFLITE_FILE in export_checks.EXPORT_FILES
  # Nor is a new export made inside one: it was accepted, and then stood in the way.
  for inside in (out / 'v3', out / 'a' / 'b'):
    with pytest.raises(export.ExportError) as error:
      export.check_out(str(inside), overwrite=False)
    assert str(error.value) == (
        f'--out {inside} is inside the export {out}, which holds only its own files (an '
        '--overwrite of it refuses others): choose a folder outside it')
    assert error.value.exit_code == 2
  export.check_out(str(tmp_path / 'beside'), overwrite=False)


def test_overwrite_of_an_export_whose_variables_hold_a_run_is_refused(tmp_path):
  """A run started in its variables/ (--logdir=OUT/variables, with only the warning of a
  folder of other things): --overwrite deleted its config.json, checkpoints and metrics
  with the old export. TensorFlow's own files there pass."""
  out = tmp_path / 'out'
  (out / 'variables' / 'ckpt').mkdir(parents=True)
  for name in ('saved_model.pb', 'variables/variables.index',
               'variables/variables.data-00000-of-00001', 'variables/config.json'):
    (out / name).write_text('x')
  with pytest.raises(export.ExportError) as error:
    export.check_out(str(out), overwrite=True)
  assert str(error.value) == (
      f"--out {out} holds files that are not its export's (variables/ckpt, "
      'variables/config.json); --overwrite would delete them with it: move them away or '
      'choose another --out')
  for name in ('ckpt', 'config.json'):
    shutil.rmtree(out / 'variables' / name, ignore_errors=True)
    if (out / 'variables' / name).exists():
      (out / 'variables' / name).unlink()
  export.check_out(str(out), overwrite=True)


@pytest.mark.parametrize('flag', ['--logdir', '--out', '--checkpoint'])
def test_a_path_that_cannot_be_read_names_its_flag(cartpole, tmp_path, flag):
  """A gs:// path without network or credentials was 'Error: Error executing an HTTP
  request: libcurl code 6 ...', naming neither the flag nor the path (a scheme
  TensorFlow lacks stands in for it: no network needed)."""
  paths = {'--logdir': str(cartpole[0]), '--out': str(tmp_path / 'out'), '--checkpoint': None}
  paths[flag] = 'ftp://host/x'
  # (checkpoint.load_agent names --checkpoint itself: a CheckpointError, export's base)
  with pytest.raises(checkpointing.CheckpointError) as error:
    export.export_run(paths['--logdir'], paths['--out'], checkpoint=paths['--checkpoint'])
  assert str(error.value).startswith(
      f"Cannot read {flag} ftp://host/x: File system scheme 'ftp' not implemented"), (
          str(error.value))
  assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('length', [250, 256])
def test_out_of_a_name_too_long_for_its_temporary_is_named(tmp_path, length):
  """The export is written as OUT.tmp-<pid> and renamed: a last name of 244-255 bytes
  failed once TensorFlow had loaded and the agent was built, naming only the temporary
  ('Error: .../eee...e.tmp-6272; File name too long'); 256 bytes the same. A bad command
  line: exit code 2, as main's --logdir and a too long --out path (it was 1)."""
  from dreamerv3_tf import export_checks
  out = tmp_path / ('e' * length)
  with pytest.raises(export_checks.FlagError) as error:
    export.check_out(str(out), overwrite=False)
  assert error.value.exit_code == 2
  assert str(error.value) == (
      f'--out {out}: its name is {length} bytes, and the filesystem of {tmp_path} takes '
      "names of at most 255, with the 12 the export adds for its temporary name beside it "
      "('.tmp-<pid>'); give a name of at most 243 bytes")
  export.check_out(str(tmp_path / ('e' * 243)), overwrite=False)
  long_folder = tmp_path / ('e' * 256)  # a folder's name above it
  with pytest.raises(export_checks.FlagError) as error:
    export.check_out(str(long_folder / 'x'), overwrite=False)
  assert error.value.exit_code == 2
  assert str(error.value) == (f'--out {long_folder}/x: the name eeeeeeeeeeeeeeeeeeee... is 256 '
                              f'bytes, and the filesystem of {tmp_path} takes at most 255')
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('run, encoding, meant', [
    ('run', 'utf-8', '{tmp_path}/run/ckpt/ckpt-4'),
    # It was not quoted: pasted, '--checkpoint=.../my' and a stray argument.
    ('my run', 'utf-8', "'{tmp_path}/my run/ckpt/ckpt-4'"),
    # Under PYTHONIOENCODING=ascii it was '.../l\\xe4ufe/...', which named another path.
    ('läufe', 'ascii', "$'{tmp_path}/l\\xc3\\xa4ufe/ckpt/ckpt-4'"),
])
def test_a_bare_checkpoint_name_of_the_run_names_its_path(tmp_path, monkeypatch, run, encoding,
                                                          meant):
  """--checkpoint=ckpt-4 (a bare name, as run.resume_from takes one) said only 'no such
  checkpoint (ckpt-4 and ckpt-4.index do not exist)'. The path it names pastes as it."""
  from dreamerv3_tf import export_checks
  (tmp_path / run / 'ckpt').mkdir(parents=True)
  (tmp_path / run / 'ckpt' / 'ckpt-4.index').write_bytes(b'')
  monkeypatch.chdir(tmp_path)
  monkeypatch.setattr(sys, 'stderr', io.TextIOWrapper(io.BytesIO(), encoding=encoding))
  with pytest.raises(export_checks.FlagError) as error:
    export_checks.check_checkpoint('ckpt-4', str(tmp_path / run))
  assert str(error.value) == (
      '--checkpoint ckpt-4: no such checkpoint in the current directory; did you mean '
      f'--checkpoint={meant.format(tmp_path=tmp_path)}, of --logdir?')
  with pytest.raises(export_checks.FlagError, match='^--checkpoint ckpt-5: no such '
                     r'checkpoint \(ckpt-5 and ckpt-5.index do not exist\)'):
    export_checks.check_checkpoint('ckpt-5', str(tmp_path / 'run'))


def test_a_checkpoint_its_run_pruned_names_the_kept_ones(tmp_path):
  """export --checkpoint=RUN/ckpt/ckpt-3 as RUN trains (keeping its latest 2) said 'no
  such checkpoint (...); name a checkpoint prefix such as RUN/ckpt/ckpt-3', the one given."""
  from dreamerv3_tf import export_checks
  (tmp_path / 'ckpt').mkdir()
  for name in ('checkpoint', 'ckpt-11.index', 'ckpt-12.index'):
    (tmp_path / 'ckpt' / name).write_bytes(b'')  # only their names are read
  with pytest.raises(export_checks.FlagError) as error:
    export_checks.check_checkpoint(f'{tmp_path}/ckpt/ckpt-3')
  assert str(error.value) == (
      f'--checkpoint {tmp_path}/ckpt/ckpt-3: no such checkpoint: its run keeps its latest 2 '
      f'(run.keep_checkpoints), now ckpt-11, ckpt-12; name one of them, or {tmp_path}/ckpt '
      'for its latest')


@pytest.mark.parametrize('given', ['ckpt-4_temp', 'ckpt-4_temp/part-00000-of-00001'])
def test_a_checkpoint_in_what_a_stopped_save_left_is_named(tmp_path, given):
  """The folder a killed save left was 'No checkpoint found', exit code 1, once
  TensorFlow had loaded; its part-00000-of-00001 was exported as a checkpoint."""
  from dreamerv3_tf import export_checks
  temp = tmp_path / 'ckpt' / 'ckpt-4_temp'
  temp.mkdir(parents=True)
  for name in ('part-00000-of-00001.index', 'part-00000-of-00001.data-00000-of-00001'):
    (temp / name).write_bytes(b'')  # only their names are read
  with pytest.raises(export_checks.FlagError) as error:
    export_checks.check_checkpoint(f'{tmp_path}/ckpt/{given}')
  assert str(error.value) == (
      f'--checkpoint {tmp_path}/ckpt/{given} is in what a stopped save left ({temp}), not a '
      f'checkpoint; name a saved one, such as {tmp_path}/ckpt/ckpt-N, or {tmp_path}/ckpt for '
      'its latest')


def test_out_in_a_directory_that_cannot_be_written_is_named_first(tmp_path, unprivileged):
  """It failed once TensorFlow had loaded and the agent was built, naming only the
  temporary export beside --out ('Error: DIR/policy.tmp-123; Permission denied')."""
  folder = tmp_path / 'ro'
  folder.mkdir()
  folder.chmod(0o555)
  code = ('import sys; from dreamerv3_tf import export_checks; '
          'export_checks.check_out(sys.argv[1], False)')
  result = cli_zygote.run([*unprivileged, sys.executable, '-c', code, str(folder / 'policy')],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert result.stderr.splitlines()[-1] == (
      f'dreamerv3_tf.export_checks.ExportError: --out {folder}/policy: cannot write in '
      f'{folder} (Permission denied)'), result.stderr[-2000:]
  assert os.listdir(folder) == []


def test_a_missing_flag_is_one_line_with_exit_code_2(tmp_path):
  result = cli_zygote.run(export_cmd(f'--logdir={tmp_path}'), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-3000:]
  # absl's said 'flag --out=None: Flag --out must have a value other than None.'
  assert our_lines(result.stderr) == ['Error: --out is required; give it a value (see --help)']
  # No flag at all was two lines, one per missing flag.
  result = cli_zygote.run(export_cmd(), cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      'Error: --logdir and --out are required; give each a value (see --help)'], result.stderr


def test_a_flag_given_twice_with_other_values_is_a_warning_line(tmp_path):
  """absl took the last --out silently, as main warns; the same value twice (a bare
  boolean and its =true) says nothing."""
  result = cli_zygote.run(export_cmd(f'--logdir={tmp_path}/a', f'--out={tmp_path}/x', '--out',
                                     f'{tmp_path}/y', '--tflite', '--tflite=true'),
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode != 0 and our_lines(result.stderr) == [
      f"Warning: --out is given 2 times ('{tmp_path}/x', '{tmp_path}/y'); the last, "
      f"'{tmp_path}/y', is used",
      f'Error: {tmp_path}/a does not exist'], result.stderr[-2000:]


# The command with TensorFlow made unimportable: a check that needed it would fail.
WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules['tensorflow'] = None
sys.argv = ['export', *sys.argv[1:]]
runpy.run_module('dreamerv3_tf.export', run_name='__main__')
"""


@pytest.mark.parametrize('case', ['no_out', 'taken', 'the_run', 'not_a_run', 'random',
                                  'folder_of_runs', 'stray', 'not_an_export', 'line_break',
                                  'empty_out', 'run_for_checkpoint', 'variable', 'link_loop',
                                  'too_long', 'no_bucket', 'one_slash', 'in_memory', 'file_url',
                                  's3', 'in_proc'])
def test_command_line_mistakes_are_found_before_tensorflow_loads(cartpole, tmp_path, case):
  """A typo cost the 5-7 s of TensorFlow's import before its one line."""
  logdir, _, out = cartpole
  random_run = tmp_path / 'random'
  config = dmc.get_config('train_eval,debug')
  config.random_agent = True
  logdir_checks.save(config, str(random_run))
  run_files.save_spaces(str(random_run), *CARTPOLE)
  os.symlink(tmp_path / 'loop2', tmp_path / 'loop1')
  os.symlink(tmp_path / 'loop1', tmp_path / 'loop2')
  (tmp_path / 'empty').mkdir()
  too_long = f'{tmp_path}/x' + ('/' + 'y' * 200) * 20
  args, line = {
      'no_out': ([f'--logdir={logdir}'], 'Error: --out is required; give it a value '
                 '(see --help)'),
      'taken': ([f'--logdir={logdir}', f'--out={out}'], f'Error: --out {out} exists and is '
                'not empty; choose another or pass --overwrite'),
      'the_run': ([f'--logdir={logdir}', f'--out={logdir}', '--overwrite'],
                  f'Error: --out {logdir} is the run directory {logdir} or holds it'),
      'not_a_run': ([f'--logdir={tmp_path}/empty', f'--out={tmp_path}/x'],
                    f'Error: {tmp_path}/empty/config.json not found'),
      # It asked 'TMP/config.json not found: is TMP the logdir of a training run?', where
      # main and plot name the runs in it.
      'folder_of_runs': ([f'--logdir={tmp_path}', f'--out={tmp_path}/x'],
                         f'Error: --logdir {tmp_path} holds 1 run (random) and is none itself; '
                         f'pass it to export, e.g. --logdir={random_run}'),
      'random': ([f'--logdir={random_run}', f'--out={tmp_path}/x'],
                 f'Error: {random_run} trained a random agent'),
      'stray': ([f'--logdir={logdir}', f'--out={tmp_path}/x', 'tflite'],
                "Error: unexpected argument 'tflite'; flags start with --"),
      # --overwrite deleted another run's logdir named as --out.
      'not_an_export': ([f'--logdir={logdir}', f'--out={random_run}', '--overwrite'],
                        f'Error: --out {random_run} is not empty and holds no export'),
      # 'Error: --out /tmp/...' cut at the break, no cause.
      'line_break': ([f'--logdir={logdir}', f'--out={tmp_path}/x\ny'],
                     f"Error: --out='{tmp_path}/x\\ny' holds a line break; give one path"),
      'empty_out': ([f'--logdir={logdir}', '--out='], 'Error: --out is empty; give a directory'),
      # From a flagfile or in single quotes: the export went to a new folder named '$HOME'.
      # Both were 'Error: OUT.tmp-<pid>; Too many levels of symbolic links' (or '...; File
      # name too long', the folders made for it left behind), once TensorFlow had loaded.
      'link_loop': ([f'--logdir={logdir}', f'--out={tmp_path}/loop1/x'],
                    f'Error: --out {tmp_path}/loop1/x: {tmp_path}/loop1 is a symbolic link '
                    f'to {tmp_path}/loop2, which does not exist or loops; fix the link or '
                    'choose another --out'),
      # Exit code 0: the trailing slashes dropped, the SavedModel went into ./gs: here.
      'no_bucket': ([f'--logdir={logdir}', '--out=gs://'], 'Error: --out gs:// names no '
                    'Cloud Storage bucket; give a full path such as gs://BUCKET/run'),
      # Exit code 0 too, into ./gs:/bucket/exp.
      'one_slash': ([f'--logdir={logdir}', '--out=gs:/bucket/exp'], 'Error: --out '
                    'gs:/bucket/exp starts like a remote path without its //; write '
                    "gs://bucket/exp, or ./gs:/bucket/exp for a local directory named 'gs:'"),
      # 'Error: NotFoundError', once TensorFlow had loaded and the export was written.
      'in_memory': ([f'--logdir={logdir}', '--out=ram://exp'], "Error: --out ram://exp is in "
                    "TensorFlow's in-memory file system (ram://)"),
      # "Error: Cannot read --out s3://b/exp: File system scheme 's3' not implemented",
      # exit code 1, once TensorFlow had loaded.
      's3': ([f'--logdir={logdir}', '--out=s3://b/exp'], 'Error: --out s3://b/exp: this '
             'TensorFlow opens local, file:// and gs:// paths, not s3:// (the tensorflow-io '
             'package provides s3://, and it is not installed)'),
      # file:///x is /x, checked before TensorFlow loads (the checks of a local --out
      # skipped it: --out=file:///proc/x was 'Error: file:///proc/x.tmp-<pid>; No such
      # file or directory', once TensorFlow had loaded).
      'file_url': ([f'--logdir=file://{logdir}', f'--out=file://{logdir}', '--overwrite'],
                   f'Error: --out {logdir} is the run directory {logdir} or holds it'),
      # 'Error: --out /proc/x: cannot write in /proc (No such file or directory)', exit
      # code 1, where main's --logdir there is refused with 2.
      'in_proc': ([f'--logdir={logdir}', '--out=/proc/x'], "Error: --out /proc/x is in /proc, "
                  "the kernel's proc file system, which holds no export's files; give an "
                  '--out on a disk'),
      'too_long': ([f'--logdir={logdir}', f'--out={too_long}'],
                   f'Error: --out {too_long[:100]}... is {len(too_long)} bytes long, and the '
                   f'filesystem of {tmp_path} takes paths of at most 4096 bytes, with the up '
                   'to 112 the export adds for its files below it; use a shorter --out'),
      'variable': ([f'--logdir={logdir}', '--out=$HOME/x'], "Error: --out='$HOME/x' holds "
                   f"$HOME, which no shell expanded (single quotes, or a flagfile or launcher, "
                   "which expand no variables?), and no such path exists; give the path it "
                   f"stands for, '{os.path.expanduser('~')}/x', or create the path to mean it"),
      # 'No checkpoint found in RUN (did you mean ...)', exit code 1, once TensorFlow loaded.
      'run_for_checkpoint': ([f'--logdir={logdir}', f'--out={tmp_path}/x',
                              f'--checkpoint={logdir}'], f"Error: --checkpoint {logdir} is a "
                             f"run's logdir, and its checkpoints are in {logdir}/ckpt: did "
                             f'you mean --checkpoint={logdir}/ckpt?'),
  }[case]
  result = cli_zygote.run([sys.executable, '-c', WITHOUT_TENSORFLOW, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  # 2 for a flag's value (stray, line_break and empty_out were 1), and for a --logdir
  # that holds no run (1 before, 2 in main); so for an --out taken, the run, or no
  # export, and a --logdir of a random agent (they were 1: docs/ERRORS.md, exit codes).
  assert result.returncode == 2, result.stderr[-3000:]
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith(line), result.stderr[-3000:]
  assert not (tmp_path / 'x').exists() and not os.path.exists(os.path.join(ROOT, 'gs:'))
  assert sorted(os.listdir(random_run)) == ['config.json', 'spaces.json']


@pytest.mark.parametrize('env, logdir, line', [
    # Exit code 1 here, where main and the importer gave 2 for the same line.
    ({'TF_NUM_INTEROP_THREADS': '100000'}, 'run', 'Error: TF_NUM_INTEROP_THREADS=100000: '
     'TensorFlow would start that many threads'),
    ({'TF_DETERMINISTIC_OPS': 'maybe'}, 'run', "Error: TF_DETERMINISTIC_OPS='maybe': "
     'TensorFlow takes 1, 0, true or false'),
    ({}, 'run/config.json', 'Error: {tmp}/run/config.json is a file of the run {tmp}/run, '
     'not its logdir; pass --logdir={tmp}/run'),
    # (A folder of runs: it asked '{tmp}/config.json not found: is {tmp} the logdir of a
    # training run?', where main and plot name the runs in it.)
    ({}, '', 'Error: --logdir {tmp} holds 1 run (run) and is none itself; pass it to export, '
     'e.g. --logdir={tmp}/run'),
    # It asked '{tmp}/gone/config.json not found: is {tmp}/gone the logdir of a training
    # run?', where plot says 'does not exist'.
    ({}, 'gone', 'Error: {tmp}/gone does not exist')])
def test_a_bad_environment_or_logdir_has_mains_exit_code(tmp_path, env, logdir, line):
  """Exit code 2, as main and the importer give for the same ConfigError."""
  run = tmp_path / 'run'
  config = dmc.get_config('train_eval,debug')
  logdir_checks.save(config, str(run))
  run_files.save_spaces(str(run), *CARTPOLE)
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={tmp_path / logdir}',
       f'--out={tmp_path}/x'], cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, **env})
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith(line.format(tmp=tmp_path)), result.stderr
  assert result.returncode == 2, result.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == ['run']


@pytest.mark.parametrize('out, line', [
    # Exit code 1, where main's --logdir gives 2 for the same; 'exists and is not a
    # directory', where main's line says this.
    ('file', 'Error: --out {tmp}/file is a file, not a directory'),
    ('file/x', 'Error: --out {tmp}/file/x is below {tmp}/file, which is a file, not a directory'),
    ('link', 'Error: --out {tmp}/link is a symlink to {tmp}/gone, which does not exist')])
def test_an_out_that_is_a_file_where_a_folder_is_meant_has_mains_exit_code(tmp_path, out, line):
  run = tmp_path / 'run'
  logdir_checks.save(dmc.get_config('train_eval,debug'), str(run))
  run_files.save_spaces(str(run), *CARTPOLE)
  (tmp_path / 'file').write_text('notes')
  (tmp_path / 'link').symlink_to(tmp_path / 'gone')
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={run}', f'--out={tmp_path / out}'],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith(line.format(tmp=tmp_path)), result.stderr
  assert result.returncode == 2, result.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == ['file', 'link', 'run']
  assert (tmp_path / 'file').read_text() == 'notes'


@pytest.mark.parametrize('value, line', [
    # Exported the latest (an unset shell variable), or failed after TensorFlow loaded:
    # 'Checkpoint   is missing', and 'Error: Checkpoint /tmp/...' cut at the break.
    ('', 'Error: --checkpoint is empty; give a checkpoint, or leave the flag out for the '
         'latest in LOGDIR/ckpt'),
    (' ', 'Error: --checkpoint is empty; give a checkpoint'),
    ('{tmp}/ckpt\ny', "Error: --checkpoint='{tmp}/ckpt\\ny' holds a line break; give one path")])
def test_a_checkpoint_flag_it_cannot_take_is_one_line_before_tensorflow(tmp_path, value, line):
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={tmp_path}', f'--out={tmp_path}/x',
       f'--checkpoint={value.format(tmp=tmp_path)}'],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith(line.format(tmp=tmp_path)), result.stderr
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('given', ['', '/ckpt', '/ckpt/save1'], ids=['run', 'ckpt', 'save'])
def test_a_checkpoint_of_an_official_run_names_the_importer(tmp_path, given):
  """It was 'Error: No checkpoint found in OFFICIAL', exit code 1, once TensorFlow had
  loaded; --logdir and main's run.from_checkpoint name the importer for such a run."""
  run = tmp_path / 'run'
  logdir_checks.save(dmc.get_config('train_eval,debug'), str(run))
  run_files.save_spaces(str(run), *CARTPOLE)
  official = tmp_path / 'official'
  (official / 'ckpt' / 'save1').mkdir(parents=True)
  (official / 'ckpt' / 'latest').write_text('save1')
  (official / 'ckpt' / 'save1' / 'agent.pkl').write_bytes(b'')
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={run}', f'--out={tmp_path}/x',
       f'--checkpoint={official}{given}'],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.splitlines() == [
      f'Error: --checkpoint {official}{given} belongs to a run of the official DreamerV3 '
      f'({official}/ckpt/latest), which this package reads only through its importer: '
      f'python -m dreamerv3_tf.interop.official --checkpoint={official} --logdir=NEW_LOGDIR, '
      'then use NEW_LOGDIR (README, "Official checkpoints")'], result.stderr
  assert sorted(os.listdir(tmp_path)) == ['official', 'run']


@pytest.mark.parametrize('flag', ['--out', '--logdir', '--checkpoint'])
def test_an_empty_home_is_named_not_taken_for_the_root(tmp_path, flag):
  """With HOME set but empty, expanduser made ~/x the /x at the file system's root: an
  --out=~/export was written there, a --logdir=~/run read from there."""
  flags = {'--logdir': str(tmp_path / 'run'), '--out': str(tmp_path / 'x'),
           flag: '~/s67_never_written'}
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, *(f'{k}={v}' for k, v in flags.items())],
      cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, 'HOME': ''})
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.splitlines() == [
      f'Error: {flag} ~/s67_never_written: HOME is set but empty, so ~ names no home '
      f'directory; set HOME or give {flag} as a full path'], result.stderr
  assert not os.path.exists('/s67_never_written') and os.listdir(tmp_path) == []


def test_a_flag_after_the_end_of_flags_is_named_so(tmp_path):
  # "Error: unexpected argument '--tflite'; flags start with --", of a flag that did.
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={tmp_path}', f'--out={tmp_path}/x',
       '--', '--tflite'], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      "Error: unexpected argument '--tflite' after '--', which ends the flags; drop the "
      "'--'"], result.stderr[-3000:]
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('name, text, line', [
    ('missing.flags', None, '--flagfile {path}: cannot read it (No such file or directory)'),
    # A traceback of 30 lines (exit 1); the two above were absl's 'ERROR:: Unable to open'.
    # ('a --flagfile is not UTF-8 text (...)', naming none)
    ('latin1.flags', b'--tflite\n# \xe9t\xe9\n', '--flagfile {path} is not UTF-8 text (invalid '
     'continuation byte at byte offset 11)'),
    # absl's warning once per read of it, then 'Error: --logdir and --out are required'.
    ('self.flags', b'--flagfile={path}\n', '--flagfile {path} includes itself (through its '
     '--flagfile lines); include each file once'),
    # absl ignores an empty one: --flagfile=$FLAGS with FLAGS unset ran without its flags.
    ('', None, '--flagfile is empty (an unset shell variable?); give a file of flags, or '
     'leave the flag out')])
def test_a_flagfile_it_cannot_read_is_one_line(tmp_path, name, text, line):
  path = tmp_path / name if name else ''
  if text is not None:
    path.write_bytes(text.replace(b'{path}', bytes(path)))
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--flagfile={path}'], cwd=ROOT,
      capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'Error: {line.format(path=path)}'], result.stderr[-3000:]


def test_h_is_help_here_too():
  # "Error: Unknown command line flag 'h'" (main and the importer: test_configuration).
  asked, help_ = [cli_zygote.run([sys.executable, '-c', WITHOUT_TENSORFLOW, flag], cwd=ROOT,
                                 capture_output=True, text=True, timeout=120)
                  for flag in ('-h', '--help')]
  assert (asked.returncode, asked.stdout, asked.stderr) == (
      help_.returncode, help_.stdout, help_.stderr)
  assert 'USAGE: export' in asked.stdout, asked.stdout
  assert asked.returncode == 0  # absl's 1 failed `export --help && ...`
  # The flags with their help, as main and the importer list theirs (only the docstring was
  # shown: absl lists the main module's flags, and these are defined in export_checks).
  for flag in ('--logdir:', '--out:', '--checkpoint:', '--[no]overwrite:', '--[no]tflite:',
               '--[no]traceback:'):
    assert flag in asked.stdout, asked.stdout[-2000:]


def test_a_boolean_flag_of_another_value_is_a_readable_line(tmp_path):
  # "flag --tflite=maybe: ('Non-boolean argument to boolean flag', 'maybe')".
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={tmp_path}', f'--out={tmp_path}/x',
       '--tflite=maybe'], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      'Error: flag --tflite=maybe: --tflite takes true or false (--tflite alone is true, '
      '--notflite false)'], result.stderr[-3000:]


@pytest.mark.parametrize('flag', ['--config=configs/dmc.py:debug', '--config.task=dmc_x'])
def test_a_config_flag_of_main_is_named_as_the_runs_own(tmp_path, flag):
  # "Error: Unknown command line flag 'config'" (or 'config.task'): main's flags copied.
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={tmp_path}', f'--out={tmp_path}/x',
       flag], cwd=ROOT, capture_output=True, text=True, timeout=120)
  name = flag.split('=')[0]
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f"Error: {name} is a flag of main; export takes the config the run saved, "
      "LOGDIR/config.json (see --help)"], result.stderr[-3000:]
  assert os.listdir(tmp_path) == []


def without_an_agent(monkeypatch, save):
  """export.export of no agent: PolicyModule gives no signatures, and `save(module, path,
  signatures)` stands for tf.saved_model.save."""
  monkeypatch.setattr(export, 'PolicyModule', lambda agent: types.SimpleNamespace(
      signatures=lambda: {}))
  monkeypatch.setattr(tf.saved_model, 'save', save)


def saving(text=None, meanwhile=lambda: None):
  """A tf.saved_model.save that runs `meanwhile()` (another process's doing), then makes
  the export's directory, with a saved_model.pb holding `text` unless it is None."""
  def save(module, path, signatures):
    meanwhile()
    os.makedirs(path)
    if text is not None:
      with open(os.path.join(path, 'saved_model.pb'), 'w') as f:
        f.write(text)
  return save


def test_overwrite_keeps_the_old_export_until_the_new_one_is_in_place(tmp_path, monkeypatch):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'saved_model.pb').write_text('old')
  rename = tf.io.gfile.rename

  def interrupted(src, dst, overwrite=False):
    if '.tmp-' in src:  # Ctrl-C just as the new export would take --out's place
      raise KeyboardInterrupt()
    rename(src, dst, overwrite)

  without_an_agent(monkeypatch, saving('new'))
  monkeypatch.setattr(tf.io.gfile, 'rename', interrupted)
  with pytest.raises(KeyboardInterrupt):
    export.export(types.SimpleNamespace(act_space={}), str(out), overwrite=True)
  assert (out / 'saved_model.pb').read_text() == 'old'
  assert os.listdir(tmp_path) == ['out']


def test_an_out_another_export_wrote_meanwhile_is_kept(tmp_path, monkeypatch):
  """Two exports to one --out at once (a script's loop with &, of two checkpoints): both
  found it free, and the later one replaced the first's export without --overwrite,
  each saying 'Exported ... to OUT'."""
  out = tmp_path / 'out'

  def other_export():  # it finishes while this one saves
    out.mkdir()
    (out / 'saved_model.pb').write_text('other')

  without_an_agent(monkeypatch, saving('this', meanwhile=other_export))
  with pytest.raises(export.ExportError, match=re.escape(
      f'{out} was written by another process while this export ran (two exports to one '
      '--out at once?); it is left as it is: pass another --out, or --overwrite to replace '
      'it')):
    export.export(types.SimpleNamespace(act_space={}), str(out))
  assert (out / 'saved_model.pb').read_text() == 'other'
  assert os.listdir(tmp_path) == ['out']  # its own temporary removed


def test_overwrite_of_an_out_that_is_a_link_replaces_the_link_only(tmp_path, monkeypatch):
  """--out a symlink to an export, --overwrite: the removal of the old one followed the
  link and emptied the directory it names, then stopped with '--out.old-<pid>; Not a
  directory' (exit code 1), the link left beside --out."""
  target, out = tmp_path / 'exports' / 'v1', tmp_path / 'out'
  target.mkdir(parents=True)
  (target / 'saved_model.pb').write_text('old')
  out.symlink_to(target)
  without_an_agent(monkeypatch, saving('new'))
  export.export(types.SimpleNamespace(act_space={}), str(out), overwrite=True)
  assert not out.is_symlink() and (out / 'saved_model.pb').read_text() == 'new'
  assert (target / 'saved_model.pb').read_text() == 'old'  # not ours to delete
  assert sorted(os.listdir(tmp_path)) == ['exports', 'out']


def test_half_exports_of_killed_exports_are_removed_and_a_running_ones_kept(
    tmp_path, monkeypatch):
  """An export killed midway (kill -9) left out.tmp-<pid>, a half SavedModel, beside
  --out for good, or, killed between the two renames of an --overwrite, the old export
  as out.old-<pid>; the next export to --out removes them, unless their process still
  runs, and the old export only once its own is in place (until then the only copy)."""
  out = tmp_path / 'out'
  gone = subprocess.Popen(['true'])
  gone.wait()
  running = subprocess.Popen(['sleep', '60'])
  try:
    for pid in (gone.pid, running.pid):
      (tmp_path / f'out.tmp-{pid}').mkdir()
      (tmp_path / f'out.tmp-{pid}' / 'saved_model.pb').write_text('half')
      (tmp_path / f'out.old-{pid}').mkdir()
      (tmp_path / f'out.old-{pid}' / 'saved_model.pb').write_text('old')
    (tmp_path / 'out.tmp-notes').mkdir()  # not an export's: no pid
    for kind in ('tmp', 'old'):  # not an export's: no directory
      (tmp_path / f'out.{kind}-{gone.pid}0').write_text('a file')

    def fails(module, path, signatures):
      raise OSError(28, 'No space left on device')

    without_an_agent(monkeypatch, fails)
    with pytest.raises(OSError):
      export.export(types.SimpleNamespace(act_space={}), str(out))
    assert (tmp_path / f'out.old-{gone.pid}' / 'saved_model.pb').read_text() == 'old'
    without_an_agent(monkeypatch, saving())
    export.export(types.SimpleNamespace(act_space={}), str(out))
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['out', f'out.tmp-{gone.pid}0', f'out.tmp-{running.pid}', 'out.tmp-notes',
         f'out.old-{gone.pid}0', f'out.old-{running.pid}'])
    # An --out below directories that do not exist yet: the save makes them.
    export.export(types.SimpleNamespace(act_space={}), str(tmp_path / 'new' / 'dir' / 'out'))
    assert os.listdir(tmp_path / 'new' / 'dir') == ['out']
  finally:
    running.kill()
    running.wait()


def test_a_stale_name_whose_number_is_no_pid_is_left(tmp_path, monkeypatch):
  """out.tmp-<digits> longer than any process id (a directory of the user's, no export's):
  os.kill raised an OverflowError, an 'unexpected' error before the export was written."""
  out = tmp_path / 'out'
  for kind in ('tmp', 'old'):
    (tmp_path / f'out.{kind}-{"9" * 25}').mkdir()
  without_an_agent(monkeypatch, saving())
  export.export(types.SimpleNamespace(act_space={}), str(out))
  assert sorted(os.listdir(tmp_path)) == sorted(
      ['out', f'out.tmp-{"9" * 25}', f'out.old-{"9" * 25}'])

# A SIGTERM arrives while the SavedModel is written (run in a child: it sets handlers).
# TensorFlow imported as the export imports it (the collector paused: 2 s of CPU less).
SIGTERM_DURING_SAVE = """
import os, signal, sys, types
from dreamerv3_tf import tfimport
tf = tfimport.load(owned=True)
from dreamerv3_tf import export, export_checks
out = sys.argv[1]
def save(module, path, signatures):
  os.makedirs(path)
  os.kill(os.getpid(), signal.SIGTERM)
export.PolicyModule = lambda agent: types.SimpleNamespace(signatures=lambda: {})
tf.saved_model.save = save
export_checks.check_run = lambda logdir: None
export.export_run = lambda *args: export.export(
    types.SimpleNamespace(act_space={}), out, overwrite=True)
sys.argv = ['export', f'--logdir={os.path.dirname(out)}/unused', f'--out={out}', '--overwrite']
export_checks.entry()
"""


# Ctrl-C held down: the repeat lands in the removal of the temporary export.
CTRL_C_HELD_DURING_SAVE = SIGTERM_DURING_SAVE.replace('signal.SIGTERM', 'signal.SIGINT').replace(
    'export_checks.entry()', """real_rmtree = tf.io.gfile.rmtree
def rmtree(path):
  os.kill(os.getpid(), signal.SIGINT)  # still held down: lands in the cleanup
  real_rmtree(path)
tf.io.gfile.rmtree = rmtree
export_checks.entry()""")


@pytest.mark.parametrize('script, code, word', [
    (SIGTERM_DURING_SAVE, 143, 'Terminated'), (CTRL_C_HELD_DURING_SAVE, 130, 'Interrupted')],
    ids=['sigterm', 'ctrl_c_held'])
def test_a_stop_is_one_line_and_leaves_out_as_it_was(tmp_path, script, code, word):
  """A repeated Ctrl-C landed in the removal of the temporary export: it was left
  beside --out (and one in the stop's line printed a traceback)."""
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'saved_model.pb').write_text('old')
  result = cli_zygote.run([sys.executable, '-c', script, str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == code, result.stderr[-3000:]
  assert our_lines(result.stderr) == [f'{word}; an unfinished export leaves --out as it was']
  assert (out / 'saved_model.pb').read_text() == 'old'
  assert os.listdir(tmp_path) == ['out']  # no temporary export left behind


def test_a_policy_for_another_number_of_actions_is_refused(image_disc, tmp_path):
  """The signatures show an int32 action either way: the export names its choices."""
  _, obs_space, act_space, _, _, exported = image_disc
  out = str(tmp_path / 'export')
  shutil.copytree(exported, out)  # its act space file goes below
  policy = export.SavedPolicy(out)
  policy.check_spaces(obs_space, act_space)
  other = {'action': Space(np.int32, (), 0, 2)}  # e.g. CartPole's two
  with pytest.raises(export.ExportError, match=(
      r"action 'action': the policy was trained for Space\(int32, shape=\(\), low=0, "
      r'high=4\), the env has Space\(int32, shape=\(\), low=0, high=2\)')):
    policy.check_spaces(obs_space, other)
  os.remove(os.path.join(out, export.ACT_SPACE_FILE))  # an export of an older version
  export.SavedPolicy(out).check_spaces(obs_space, other)


@pytest.mark.parametrize('other, named', [
    ('env', "env had obs 'velocity'"),
    # Said "does not match this agent: 0 names only in the checkpoint [], 9 only in the
    # agent [...]", naming no setting.
    ('agent', 'agent had agent.enc.layers=0 (this run: 1)')])
def test_a_checkpoint_of_another_run_names_what_differs(cartpole, tmp_path, other, named):
  """--checkpoint of another run: the error names that run's env or agent settings, not
  variable names behind "for regex '.*'" (a flag export does not have)."""
  logdir, _, _ = cartpole
  config = dmc.get_config('train_eval,debug')
  obs_space = CARTPOLE[0]
  if other == 'env':
    obs_space = {**CARTPOLE[0], 'velocity': Space(np.float32, (3,))}
  else:
    config.agent.enc.layers = 0
  make_run(tmp_path / 'other', config, obs_space, CARTPOLE[1])
  with pytest.raises(checkpointing.CheckpointError) as error:
    export.export_run(str(logdir), str(tmp_path / 'out'),
                      checkpoint=str(tmp_path / 'other' / 'ckpt'))
  message = str(error.value)
  assert message.startswith(f"{tmp_path / 'other' / 'ckpt'} is of a run whose {named}")
  assert message.endswith('export it with the logdir of the run that wrote it'), message
  assert 'regex' not in message and not (tmp_path / 'out').exists()


def test_a_checkpoint_of_another_run_that_fits_is_refused_naming_both(cartpole, tmp_path):
  """--checkpoint of another run whose variables fit this run's agent: the export paired
  that run's weights with --logdir's config without a word. A copy of the run's
  checkpoints outside any run (a backup) is still exported."""
  logdir, _, _ = cartpole
  make_run(tmp_path / 'other', dmc.get_config('train_eval,debug'), *CARTPOLE, seed=1)
  with pytest.raises(export_checks.FlagError) as error:
    export.export_run(str(logdir), str(tmp_path / 'out'),
                      checkpoint=str(tmp_path / 'other' / 'ckpt'))
  assert str(error.value) == (
      f"--checkpoint {tmp_path}/other/ckpt is of the run {tmp_path}/other, not of --logdir "
      f"{logdir}: its weights would be exported with {logdir}/config.json; pass "
      f"--logdir={tmp_path}/other to export that run")
  assert not (tmp_path / 'out').exists()
  shutil.copytree(logdir / 'ckpt', tmp_path / 'backup')
  prefix, _ = export.export_run(str(logdir), str(tmp_path / 'out'),
                                checkpoint=str(tmp_path / 'backup'))
  assert prefix.startswith(str(tmp_path / 'backup'))


def test_a_checkpoint_named_by_its_file_url_is_of_its_own_run(tmp_path):
  """file:///RUN/ckpt/ckpt-1 is RUN's own: export --logdir=RUN said '--checkpoint
  file:///RUN/ckpt/ckpt-1 is of the run file:///RUN, not of --logdir RUN', and a
  run.resume_from of that form was 'not a checkpoint of this run'."""
  from dreamerv3_tf.core import checkpoint_paths
  logdir_checks.save(dmc.get_config('debug'), str(tmp_path))
  given = f'file://{tmp_path}/ckpt/ckpt-1'
  export_checks.check_checkpoint_run(given, given, str(tmp_path), run_files.file_ops(given))
  assert checkpoint_paths.resume_path(f'{tmp_path}/ckpt', given) == f'{tmp_path}/ckpt/ckpt-1'


@pytest.mark.parametrize('checkpoint', ['ckpt', 'ckpt/', 'ckpt/ckpt-1'])
def test_a_checkpoint_of_another_run_is_refused_before_tensorflow(cartpole, tmp_path,
                                                                  checkpoint):
  """The same line came once TensorFlow had loaded and the agent was restored (about
  4 s): only the paths tell it."""
  logdir, _, _ = cartpole
  logdir_checks.save(dmc.get_config('train_eval,debug'), str(tmp_path / 'other'))
  shutil.copytree(logdir / 'ckpt', tmp_path / 'other' / 'ckpt')
  given = f'{tmp_path}/other/{checkpoint}'
  result = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--logdir={logdir}',
       f'--out={tmp_path}/out', f'--checkpoint={given}'],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.splitlines() == [
      f'Error: --checkpoint {given} is of the run {tmp_path}/other, not of --logdir '
      f'{logdir}: its weights would be exported with {logdir}/config.json; pass '
      f'--logdir={tmp_path}/other to export that run'], result.stderr[-3000:]
  assert not (tmp_path / 'out').exists()


def test_a_tf_xla_flags_tensorflow_cannot_read_is_one_line(tmp_path):
  """TensorFlow ended the export inside its hidden import: exit code 1, no line. Now
  exit code 2, as in main and the importer (it was 1 here with the line)."""
  run = tmp_path / 'run'
  logdir_checks.save(dmc.get_config('debug'), str(run))
  run_files.save_spaces(str(run), *CARTPOLE)
  result = cli_zygote.run(export_cmd(f'--logdir={run}', f'--out={tmp_path}/out'), cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_XLA_FLAGS='garbage'))
  assert result.returncode == 2 and result.stderr.splitlines() == [
      "Error: TF_XLA_FLAGS='garbage': XLA reads a value that does not start with -- as a "
      'file of flags, and cannot open garbage; TensorFlow would stop the export as it '
      'loads'], result.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == ['run']


def test_out_that_would_replace_the_run_is_refused_before_anything_loads(tmp_path):
  """--overwrite replaces --out as a whole: --out=LOGDIR (or a parent, or its ckpt/)
  deleted the run's config and checkpoints and left the export in their place."""
  run = tmp_path / 'run'
  (run / 'ckpt').mkdir(parents=True)
  files = {run / 'config.json': '{}', run / 'ckpt' / 'ckpt-1.index': 'x'}
  for path, text in files.items():
    path.write_text(text)
  for out in (run, f'{run}/', tmp_path, '/', run / 'ckpt', run / 'ckpt' / 'new'):
    with pytest.raises(export.ExportError, match=r'--out \S+ (is the run directory|is in '
                       r"the run's checkpoints)"):
      export.export_run(str(run), str(out), overwrite=True)
  for flag, args in (('--logdir', ('', str(tmp_path / 'out'))), ('--out', (str(run), ''))):
    with pytest.raises(export.ExportError, match=f'{flag} is empty'):
      export.export_run(*args)
  assert {path: path.read_text() for path in files} == files
  assert sorted(os.listdir(tmp_path)) == ['run'] and sorted(os.listdir(run)) == [
      'ckpt', 'config.json']


@pytest.mark.parametrize('content, reason', [
    (b'', 'its saved_model.pb holds no graph'),
    (b'\x08\x01\x12\xff\xff', 'Cannot parse file'),
])
def test_a_damaged_saved_model_is_named(tmp_path, content, reason):
  """eval_only's run.from_checkpoint=EXPORT: it was an 'unexpected' ValueError or
  DecodeError of tf.saved_model.load ("pass a tags= argument")."""
  (tmp_path / 'saved_model.pb').write_bytes(content)
  with pytest.raises(export.ExportError, match=(
      f'SavedModel {tmp_path} cannot be loaded \\({reason}.*\\); export it again')):
    export.SavedPolicy(str(tmp_path))


@pytest.mark.parametrize('content, reason', [
    (b'not json', 'Expecting value'),
    (b'\xff\xfe', 'not UTF-8'),
    (b'[1, 2]', 'not a JSON object of spaces'),
    (b'{"action": 5}', 'not a JSON object of spaces'),
    (b'{}', 'it names no action'),  # (passed: the env's actions were checked against none)
    (b'{"action": {"dtype": "int32"}}', "lacks 'shape'"),
    (None, 'Is a directory'),
])
def test_a_damaged_act_space_file_is_named(cartpole, tmp_path, content, reason):
  """eval_only's run.from_checkpoint=EXPORT whose assets.extra/act_space.json was cut or
  edited: an 'unexpected' JSONDecodeError, UnicodeDecodeError, KeyError, ... naming no
  file."""
  out = tmp_path / 'export'
  shutil.copytree(cartpole[2], out)
  path = out / export.ACT_SPACE_FILE
  path.unlink()
  path.mkdir() if content is None else path.write_bytes(content)
  with pytest.raises(export.ExportError, match=(
      f'SavedModel {out}: {export.ACT_SPACE_FILE} cannot be read \\(.*{reason}.*\\); '
      'export it again')):
    export.SavedPolicy(str(out))


@pytest.mark.parametrize('cause', ['No space left on device', 'Disk quota exceeded'])
def test_a_full_disk_as_the_savedmodel_is_written_is_named_not_out_of_memory(cause):
  """TensorFlow raises ENOSPC (and EDQUOT) as ResourceExhaustedError, as it does running
  out of memory: an export to a full disk said 'Error: out of memory (...); use a
  smaller model (a size preset), batch_size or batch_length, ...'."""
  path = '/disk/out.tmp-7/saved_model.pb.tmp0a1b'
  error = tf.errors.ResourceExhaustedError(None, None, f'{path}; {cause}')
  assert errors.describe(error) == f'Error: Cannot write {path}: {cause}'
  oom = tf.errors.ResourceExhaustedError(None, None, 'OOM when allocating tensor with shape[9]')
  assert errors.describe(oom).startswith('Error: out of memory (')


def test_a_flag_where_a_value_goes_is_refused(tmp_path):
  """'--out $OUT --tflite' with OUT unset: absl took --tflite for the value and exported
  into ./--tflite, with no TFLite model. (The run here does not exist: the old code
  stopped there, before writing.)"""
  result = cli_zygote.run(export_cmd(f'--logdir={tmp_path}/nosuch', '--out', '--tflite'),
                          cwd=tmp_path, env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      'Error: --out takes a value, but the next argument is the flag --tflite (an unset '
      "shell variable, as in '--out $VAR'?); give it one, e.g. --out=VALUE"], result.stderr
  assert os.listdir(tmp_path) == []


def test_a_file_size_limit_is_named_and_keeps_the_old_export(cartpole, tmp_path):
  """Under `ulimit -f` below the SavedModel's size the export said 'Error: OUT.tmp-PID/
  saved_model.pb.tmpX; File too large', TensorFlow's words, naming neither a write nor
  the limit."""
  logdir, _, exported = cartpole
  out = shutil.copytree(exported, tmp_path / 'export')
  before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
  limit = 20 * 1024  # below saved_model.pb's size
  assert (out / 'saved_model.pb').stat().st_size > limit
  result = cli_zygote.run(
      export_cmd(f'--logdir={logdir}', f'--out={out}', '--overwrite'), cwd=ROOT,
      capture_output=True, text=True, timeout=300, preexec_fn=cli_zygote.file_size_limit(limit))
  assert result.returncode == 1
  assert re.fullmatch(
      f'Error: Cannot write {re.escape(str(out))}\\.tmp-\\d+/saved_model\\.pb\\.tmp\\w+: File too large \\(this '
      'process may write files of at most 20480 bytes, ulimit -f 20; raise it, e.g. ulimit -f '
      'unlimited\\)', result.stderr.strip().splitlines()[-1]), result.stderr  # (after
  # TensorFlow's own start-up lines, which a real process shows at the suite's level)
  assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == before
  assert sorted(os.listdir(tmp_path)) == ['export']  # its temporary export taken back


def test_the_readmes_example_loads_and_calls_an_export(tmp_path):
  """The README's example under 'Export and evaluation', run as written (HOME at
  tmp_path, so its ~/export/run1 is ours) in a process without dreamerv3_tf, on the
  export of an agent of gym CartPole-v1's spaces."""
  with open(os.path.join(ROOT, 'README.md')) as f:
    section = f.read().split('## Export and evaluation', 1)[1].split('\n## ', 1)[0]
  example = re.search(r'```python\n(.*?)```', section, re.S)
  assert example, 'the README shows no example of loading an export'
  config = dmc.get_config('train_eval,debug')
  config.task = 'gym_CartPole-v1'
  make_run(tmp_path / 'run', config, {'vector': Space(np.float32, (4,)), **META},
           {'action': Space(np.int32, (), 0, 2)})
  export.export_run(str(tmp_path / 'run'), str(tmp_path / 'export' / 'run1'))
  code = example.group(1) + (
      "import sys\n"
      "assert not any(m.split('.')[0] == 'dreamerv3_tf' for m in sys.modules)\n"
      "print(action.dtype.name, action.shape.as_list(), sorted(state))\n")
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['HOME'] = str(tmp_path)
  result = cli_zygote.run([sys.executable, '-c', code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.splitlines()[-1] == (
      "int32 [1] ['state_deter', 'state_prevact', 'state_stoch']"), result.stdout
