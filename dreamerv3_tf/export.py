"""The policy of a training run as a SavedModel that runs without this package.

  python -m dreamerv3_tf.export --logdir=~/logdir/run1 --out=~/export/run1
      [--checkpoint=~/logdir/run1/ckpt/ckpt-7] [--overwrite] [--tflite]

The agent is rebuilt from RUN/config.json and RUN/spaces.json (no env is made) and
the latest checkpoint in RUN/ckpt (or --checkpoint) is restored into it.

Signatures (B is free; every name is a valid TF Serving tensor name):
  initial_state(batch_size <int32>[]) -> state_deter <float32>[B, D],
      state_stoch <float32>[B, S, C], state_prevact <float32>[B, A]
  step_eval(obs_<key> <[B, ...]>, obs_is_first <bool>[B], state_*) -> action_<key>, state_*
      deterministic (modes): the actions of `agent.policy(..., mode='eval')`
      (with agent.eval_sample=True the in-process eval samples; use step_train)
  step_train(the same inputs, seed <int64>[]) -> the same outputs
      samples like mode='train'; pass a new seed every step (e.g. a step counter)
  serving_default: step_eval
There are two step signatures rather than one with a `mode` input because TF Serving
clients call a signature by name with a fixed set of inputs: the eval policy needs
no seed, and a string/bool mode input would have to be sent with every request.

obs_<key> are the observation keys the agent encodes, with their space's dtype and
shape (images uint8 [B, H, W, C]); obs_is_first is True on the first step of an
episode and resets the state. Discrete actions are int32 indices; continuous actions
lie in [-1, 1] (training normalises the env's action bounds to that range: scale back).

  policy = tf.saved_model.load(DIR)               # no dreamerv3_tf import needed
  state = policy.signatures['initial_state'](batch_size=tf.constant(1))
  out = policy.signatures['step_eval'](obs_position=..., obs_is_first=..., **state)
  action = out['action_action']
  state = {k: v for k, v in out.items() if k.startswith('state_')}

`SavedPolicy(DIR)` wraps the SavedModel in the agent's policy interface (eval_only);
DIR/assets.extra/act_space.json (ACT_SPACE_FILE) names the action spaces it was
trained for, which `check_spaces` compares with the env's.

With --tflite, DIR/policy.tflite holds the same policy for TensorFlow Lite (phones,
robots): the signatures step_eval and initial_state with the inputs and outputs named
above (the state is an explicit input and output), for a batch of one (B = 1), in
TFLite builtin ops only, so the plain TFLite / LiteRT runtime runs it:

  interpreter = tf.lite.Interpreter(DIR + '/policy.tflite')  # or ai_edge_litert's
  state = interpreter.get_signature_runner('initial_state')(batch_size=np.int32(1))
  out = interpreter.get_signature_runner('step_eval')(obs_position=..., obs_is_first=...,
                                                      **state)
step_train is not converted: its stateless random ops (StatelessRandomUniformV2,
StatelessRandomUniformFullIntV2 and the uint64 BitwiseOr / LeftShift / Cast / Pack of
their seeds) are no TFLite builtins and would need the flex (TF Select) delegate.
"""

if __name__ == '__main__':  # the command: its flags and paths are checked before the
  # TensorFlow import below (seconds); this file then loads as dreamerv3_tf.export.
  from dreamerv3_tf import stop_signals
  stop_signals.install()
  from dreamerv3_tf.core import streams
  streams.print_any_text()
  from dreamerv3_tf import export_checks
  export_checks.entry()

import collections.abc
import contextlib
import json
import operator
import os
import re
import sys
import tempfile
import types

import numpy as np
import tensorflow as tf

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import export_checks
from dreamerv3_tf.agent import tf_settings
from dreamerv3_tf.core import errors
from dreamerv3_tf.envs import wrappers
from dreamerv3_tf.export_checks import ExportError  # noqa: F401 (export.ExportError)
from dreamerv3_tf.gfile import GFILES

STATE_KEYS = ('deter', 'stoch', 'prevact')
SIGNATURES = ('initial_state', 'step_eval', 'step_train', 'serving_default')
TFLITE_FILE = 'policy.tflite'
TFLITE_SIGNATURES = ('step_eval', 'initial_state')
TFLITE_BATCH = 1  # one robot or phone; static shapes also suit TFLite's kernels
# The action spaces the policy was trained for: the signatures give only dtypes and
# shapes, which a discrete action of another number of choices shares.
ACT_SPACE_FILE = 'assets.extra/act_space.json'


class PolicyModule(tf.Module):
  """The policy of `agent` as tf.functions; only the encoder, RSSM and actor weights.

  Args:
    agent: a dreamerv3_tf Agent (restored).
    batch_size: the batch size of the step signatures; None leaves it free.
  """

  def __init__(self, agent, batch_size=None):
    super().__init__(name='policy')
    import keras
    from dreamerv3_tf.agent import nets
    model = agent.model
    obs_space = {k: agent.obs_space[k] for k in model.encoded_keys + ['is_first']}
    for key in list(obs_space) + list(agent.act_space):
      if not wrappers.KEY.match(key):  # envs refuse such keys; an imported run may not
        raise ExportError(
            f'key {key!r} is not a valid signature name (letters, digits, _ only)')
    zero = agent.init_policy(1)
    state_specs = {
        f'state_{k}': tf.TensorSpec((batch_size, *zero[k].shape[1:]), tf.float32, f'state_{k}')
        for k in STATE_KEYS}
    # Untracked (a plain namespace): the SavedModel holds only the variables the
    # policy reads, not the optimizer, decoder and critics.
    self._s = types.SimpleNamespace(
        model=model, obs_space=obs_space, state_specs=state_specs,
        salt=int(agent.rng_seed.numpy()) * 8)  # the policy's RNG stream, as in Agent
    self.weights = [v.value if isinstance(v, keras.Variable) else v
                    for v in nets.weights([model.enc, model.dyn, model.pol])]
    obs_specs = {
        f'obs_{k}': tf.TensorSpec((batch_size, *s.shape), tf.as_dtype(s.dtype), f'obs_{k}')
        for k, s in obs_space.items()}
    inputs = {**obs_specs, **state_specs}
    seed = {'seed': tf.TensorSpec((), tf.int64, 'seed')}
    self.initial_state = tf.function(
        self._initial_state, autograph=False,
        input_signature=[tf.TensorSpec((), tf.int32, 'batch_size')])
    self.step_eval = tf.function(
        self._step_eval, autograph=False, input_signature=[inputs])
    self.step_train = tf.function(
        self._step_train, autograph=False, input_signature=[{**inputs, **seed}])

  def signatures(self):
    eval_fn = self.step_eval.get_concrete_function()
    return {
        'initial_state': self.initial_state.get_concrete_function(),
        'step_eval': eval_fn,
        'step_train': self.step_train.get_concrete_function(),
        'serving_default': eval_fn}

  def _initial_state(self, batch_size):
    if self._free_batch():  # -1 was 'Dimension -1 must be >= 0', naming no input
      # and [1] 'In[0] should be a scalar: [1]': a signature checks the dtype only.
      batch_size = tf.ensure_shape(tf.identity(batch_size, 'batch_size'), [])
      with tf.control_dependencies([tf.debugging.assert_non_negative(
          batch_size, message='initial_state: batch_size must be >= 0')]):
        batch_size = tf.identity(batch_size)
    return {name: tf.zeros(tf.concat([[batch_size], spec.shape[1:]], 0), tf.float32)
            for name, spec in self._s.state_specs.items()}

  def _step_eval(self, inputs):
    inputs = self._checked(inputs)
    return self._step(inputs, True, tf.constant([self._s.salt, 0], tf.int64))

  def _step_train(self, inputs):
    inputs = self._checked(inputs)
    salt = tf.constant(self._s.salt, tf.int64)
    return self._step(inputs, False, tf.stack([salt, inputs['seed']]))

  def _free_batch(self):
    """Whether the signatures leave B free (the SavedModel's); TFLite's fixed batch
    checks its own shapes, and has no builtin for the assertions below."""
    return self._s.state_specs['state_deter'].shape[0] is None

  def _step(self, inputs, greedy, seed):
    obs = {}
    for k, space in self._s.obs_space.items():
      x = inputs[f'obs_{k}']
      # The dtypes `Agent.policy` converts its numpy inputs to.
      if space.dtype != np.uint8 and space.dtype != bool:
        x = tf.cast(x, tf.int32 if space.discrete else tf.float32)
      obs[k] = x
    carry = {k: inputs[f'state_{k}'] for k in STATE_KEYS}
    carry, act, _ = self._s.model.policy_step(carry, obs, tf.constant(greedy), seed)
    out = {f'action_{k}': v for k, v in act.items()}
    out.update({f'state_{k}': carry[k] for k in STATE_KEYS})
    return out

  def _checked(self, inputs):
    """`inputs` whose shapes and batch sizes are checked, naming the input: a
    signature checks only dtypes, and an obs of another shape or batch failed deep
    inside the encoder or RSSM ('Matrix size-incompatible: In[0]: [2,7], In[1]: [4,16]').
    Each input's shape (its rank too) is checked before its batch size: an obs given
    without its batch axis was named as 'another batch size than state_deter'."""
    if not self._free_batch():
      return inputs
    # x.shape is the signature's, batch left free; the seed's is [] ([2] failed in a
    # tf.stack, 'Shapes of all inputs must match', naming no input).
    shaped = {name: tf.ensure_shape(tf.identity(x, name), x.shape)
              for name, x in inputs.items()}
    batch = tf.shape(shaped['state_deter'])[0]
    checked = {}
    for name, x in shaped.items():
      if name == 'seed':
        checked[name] = x
        continue
      with tf.control_dependencies([tf.debugging.assert_equal(
          tf.shape(x)[0], batch, message=f'{name} has another batch size than state_deter')]):
        checked[name] = tf.identity(x)
    return checked


# A host program's TensorFlow settings stay out of the graphs saved (agent/tf_settings.py).
@tf_settings.own_semantics()
@tf_settings.without_op_callbacks()
def export(agent, out, overwrite=False, tflite=False):
  """Writes the SavedModel of `agent`'s policy to directory `out`. -> out.

  Written under a temporary name next to `out` and renamed when complete, so `out`
  never holds half an export. An existing non-empty `out` is an error unless
  `overwrite`. With `tflite`, `out` also holds TFLITE_FILE (see write_tflite).
  """
  out = os.path.expanduser(out).rstrip('/')
  check_out(out, overwrite)
  module = PolicyModule(agent)
  remove_stale_temporaries(out)
  tmp = f'{out}.tmp-{os.getpid()}'
  if tf.io.gfile.exists(tmp):
    tf.io.gfile.rmtree(tmp)
  try:
    with _plain_variable_reads():
      tf.saved_model.save(module, tmp, signatures=module.signatures())
    tf.io.gfile.makedirs(os.path.dirname(os.path.join(tmp, ACT_SPACE_FILE)))
    with tf.io.gfile.GFile(os.path.join(tmp, ACT_SPACE_FILE), 'w') as f:
      f.write(json.dumps({k: v.to_dict() for k, v in agent.act_space.items()}))
    if tflite:
      write_tflite(agent, os.path.join(tmp, TFLITE_FILE))
    old = None
    if not overwrite and tf.io.gfile.isdir(out) and tf.io.gfile.listdir(out):
      # Made by another process since check_out, e.g. two exports to one --out at
      # once: it was replaced without a word, as if --overwrite were given.
      raise ExportError(
          f'{out} was written by another process while this export ran (two exports to '
          'one --out at once?); it is left as it is: pass another --out, or --overwrite '
          'to replace it')
    if tf.io.gfile.exists(out):  # --overwrite: kept aside until the new one is in place
      old = f'{out}.old-{os.getpid()}'
      tf.io.gfile.rename(out, old)
    try:
      tf.io.gfile.rename(tmp, out)
    except BaseException:
      if old:
        tf.io.gfile.rename(old, out)
      raise
    if old and os.path.islink(old):  # only the link: rmtree emptied the directory it
      os.remove(old)                  # names, then failed on the link itself
    elif old:
      tf.io.gfile.rmtree(old)
    # Only now, a whole `out` in place: one killed between its two renames left its
    # old export as `out`.old-<pid>, then the only copy.
    remove_stale_temporaries(out, '.old-')
  finally:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.rmtree(tmp)
  return out


@contextlib.contextmanager
def _plain_variable_reads():
  """The SavedModel's save function (the one a loader calls to write the variables to a
  checkpoint again; the signatures never run it) reads each variable with ReadVariableOp
  alone, as TensorFlow before 2.10 did. TensorFlow 2.10 and later add DisableCopyOnRead
  there, an op TensorFlow 2.9 and older do not know: their tf.saved_model.load refused
  the whole export ("Op type not registered 'DisableCopyOnRead'"). The op only keeps the
  read from copying a variable in copy-on-read mode (sparse updates); the values saved
  are the same."""
  from tensorflow.python.ops import resource_variable_ops
  variable = resource_variable_ops.BaseResourceVariable
  no_copy = variable.__dict__.get('read_value_no_copy')
  if no_copy is None:  # another TensorFlow: tests/test_export.py says if the op is back
    yield
    return
  variable.read_value_no_copy = variable.read_value
  try:
    yield
  finally:
    variable.read_value_no_copy = no_copy


def remove_stale_temporaries(out, kind='.tmp-'):
  """Removes the directories `out`<kind><pid> that exports to `out` killed midway (kill
  -9, the OOM killer) left: they stayed beside --out for good, each a SavedModel
  directory that looked like an export. kind: '.tmp-', a half-written export; '.old-',
  the export an --overwrite had moved aside, killed before it removed it (call this
  only once a whole `out` is in place). One whose process still runs (another export to
  the same --out) is left; so are those of remote paths."""
  parent, name = os.path.split(out)
  if '://' in out or not os.path.isdir(parent or '.'):  # (the save makes a new parent)
    return
  for entry in os.listdir(parent or '.'):
    pid = entry[len(name) + len(kind):]
    path = os.path.join(parent, entry)
    if (entry.startswith(name + kind) and pid.isdigit() and os.path.isdir(path)
        and not os.path.islink(path) and not _running(int(pid))):
      tf.io.gfile.rmtree(path)  # (a file or link of that name is not an export's)


def _running(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except (OSError, OverflowError):  # e.g. another user's process; no pid that long,
    return True                     # so no export's: left
  return True


@tf_settings.own_semantics()
@tf_settings.without_op_callbacks()
def write_tflite(agent, path, batch_size=TFLITE_BATCH, signatures=TFLITE_SIGNATURES):
  """Writes `signatures` of `agent`'s policy as a TensorFlow Lite model to `path`.

  The steps take batches of exactly `batch_size`: with a free batch size the policy
  runs under tf.vectorized_map (see model._any_batch), whose convolutions the converter
  leaves as tf.Conv2D (not a builtin) at size1m and up. Builtin ops only, so no flex
  delegate is needed on the device; ops without a builtin raise ExportError naming them.
  """
  module = PolicyModule(agent, batch_size)
  with tempfile.TemporaryDirectory() as saved_model:
    # The SavedModel it converts goes to the temporary directory, not beside OUT: a full
    # TMPDIR was 'Cannot write /tmp/tmpa1b2/variables/...', a file the user never named.
    with errors.file_errors(
        'Cannot write {path}: {cause} (the SavedModel that --tflite converts, in the '
        f'temporary directory {os.path.dirname(saved_model)}; give it room, or set TMPDIR '
        'to another)', ExportError):
      tf.saved_model.save(module, saved_model, signatures=module.signatures())
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model, signature_keys=list(signatures))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
      model = converter.convert()
    except Exception as e:  # noqa: BLE001 - tf.lite's ConverterError, many lines long
      ops = re.search(r'TF Select ops: ([^\n]+)', str(e))
      reason = (f'ops {ops.group(1)} have no TFLite builtin' if ops else
                ' '.join(str(e).split())[-300:])
      raise ExportError(
          f'TensorFlow Lite cannot convert {", ".join(signatures)}: {reason}') from None
  with tf.io.gfile.GFile(path, 'wb') as f:
    f.write(model)
  return path


def check_out(out, overwrite):
  export_checks.check_out(out, overwrite, tf.io.gfile.isdir, tf.io.gfile.exists,
                          tf.io.gfile.listdir)


def export_run(logdir, out, checkpoint=None, overwrite=False, tflite=False):
  """Rebuilds the agent of training run `logdir`, restores it, exports it.

  -> (checkpoint prefix used, out).
  """
  from dreamerv3_tf import factories
  from dreamerv3_tf.run import common
  logdir, out = export_checks.normalize(logdir, out)
  export_checks.check_out_beside_run(out, logdir)  # before the slow part
  with _reading('--out', out):
    check_out(out, overwrite)
  with _reading('--logdir', logdir):
    config, obs_space, act_space = export_checks.check_run(logdir)
  with config.unlocked():
    config.distribute = 'default'  # one device: the run's strategy may not exist here
  agent = factories.make_agent(config, obs_space, act_space)
  flag = '--checkpoint' if checkpoint else '--logdir'
  with _reading(flag, checkpoint or logdir):
    if not checkpoint:
      checkpoint = os.path.join(logdir, 'ckpt')
      if not tf.io.gfile.isdir(checkpoint):
        raise checkpointing.CheckpointError(f'No checkpoint found in {checkpoint}')
    hint = 'export it with the logdir of the run that wrote it'
    own = os.path.join(logdir, 'ckpt') == checkpoint.rstrip('/')  # (else another run's)
    prefix, _ = common.load_agent(  # a checkpoint of another task or size names what differs
        agent, checkpoint, obs_space, act_space, hint, flag='--checkpoint', config=config,
        agent_hint=hint, spaces_file=os.path.join(logdir, 'spaces.json') if own else None)
    export_checks.check_checkpoint_run(checkpoint, prefix, logdir, GFILES)
  return prefix, export(agent, out, overwrite, tflite)


@contextlib.contextmanager
def _reading(flag, path):
  """TensorFlow's file errors as one line naming `flag` and `path`: a gs:// path
  without network or credentials was 'Error: Error executing an HTTP request: libcurl
  code 6 ...', naming neither."""
  try:
    yield
  except tf.errors.OpError as e:
    raise ExportError(f'Cannot read {flag} {path}: {errors.one_line(e)}') from None


def _fingerprint_damage(path):
  """Why the fingerprint.pb of export `path` cannot be read, else None (also where
  there is none: older exports)."""
  try:
    tf.saved_model.experimental.read_fingerprint(path)
  except FileNotFoundError:
    return None
  except (RuntimeError, OSError) as e:  # its last line is the cause ('DATA_LOSS: ...')
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    return lines[-1] if lines else type(e).__name__
  return None


class SavedPolicy:
  """A SavedModel export behind the agent's policy interface (numpy in and out).

    policy = SavedPolicy(path)
    carry = policy.init_policy(B)
    carry, act, out = policy.policy(carry, obs, mode='eval')

  Attributes:
    obs_keys: the observation keys it reads (with is_first).
    specs: {input name: tf.TensorSpec} of step_eval.
    act_specs: {action key: tf.TensorSpec [None, ...]} of its outputs.
  """

  def __init__(self, path):
    tf_settings.check_eager('export.SavedPolicy')
    path = os.path.expanduser(path).rstrip('/')
    if not is_saved_model(path):
      raise ExportError(f'{path} is not a SavedModel directory (no saved_model.pb)')
    # Exports before ACT_SPACE_FILE existed: dtypes and shapes only. Read before the
    # model, whose load takes a while: a damaged file is named at once.
    self.act_spaces = None
    spaces_file = os.path.join(path, ACT_SPACE_FILE)
    # A link to nothing was taken for an older export's absent file: no action check.
    if tf.io.gfile.exists(spaces_file) or os.path.islink(spaces_file):
      self.act_spaces = _read_act_spaces(path)
    damage = _fingerprint_damage(path)
    if damage:  # TensorFlow's load goes on without it, after a traceback (absl's log)
      print(f'Warning: {path}/fingerprint.pb cannot be read ({damage}); the policy loads '
            'without it (it holds only checksums of the export)', file=sys.stderr, flush=True)
    from absl import logging as absl_logging
    verbosity = absl_logging.get_verbosity()
    try:
      if damage:
        absl_logging.set_verbosity(absl_logging.FATAL)
      self._model = tf.saved_model.load(path)
    except Exception as e:  # noqa: BLE001 - a damaged or truncated saved_model.pb, ...
      from dreamerv3_tf.core import errors
      reason = errors.one_line(e)
      if 'there are 0 MetaGraphs' in reason:  # not the 'pass tags=' it suggests
        reason = 'its saved_model.pb holds no graph'
      raise ExportError(f'SavedModel {path} cannot be loaded ({reason}); '
                        'export it again') from e
    finally:
      absl_logging.set_verbosity(verbosity)
    missing = [k for k in SIGNATURES if k not in self._model.signatures]
    if missing:
      raise ExportError(f'SavedModel {path} lacks the signatures {missing}: '
                        'not a dreamerv3_tf policy export')
    self._init = self._model.signatures['initial_state']
    self._steps = {m: self._model.signatures[f'step_{m}'] for m in ('eval', 'train')}
    self.specs = dict(self._steps['eval'].structured_input_signature[1])
    self._takes = self._input_specs(self.specs)
    self.obs_keys = sorted(k[4:] for k in self.specs if k.startswith('obs_'))
    outputs = self._steps['eval'].structured_outputs
    self.act_specs = {k[len('action_'):]: tf.TensorSpec(v.shape, v.dtype)
                      for k, v in outputs.items() if k.startswith('action_')}
    self._seed = np.int64(0)

  def check_spaces(self, obs_space, act_space):
    """Raises ExportError naming the first key whose space differs from the export.

    Takes the agent-facing spaces (core.base.agent_spaces).
    """
    for key in self.obs_keys:
      spec = self.specs[f'obs_{key}']
      if key not in obs_space:
        raise ExportError(
            f'the policy reads obs key {key!r}; the env has {sorted(obs_space)}')
      _compare(f'obs key {key!r}', spec, obs_space[key])
    act_keys = sorted(act_space)
    if act_keys != sorted(self.act_specs):
      raise ExportError(
          f'the policy acts on {sorted(self.act_specs)}; the env on {act_keys}')
    for key in act_keys:
      _compare(f'action {key!r}', self.act_specs[key], act_space[key])
      saved = (self.act_spaces or {}).get(key)
      if saved is not None and saved != act_space[key]:
        raise ExportError(f'action {key!r}: the policy was trained for {saved}, the env '
                          f'has {act_space[key]}')

  @staticmethod
  def _input_specs(specs):
    """{input name: (numpy dtype, shape tuple with None)}: read once, not at every step
    (TensorFlow's spec accessors cost microseconds each, several per input)."""
    return {k: (v.dtype.as_numpy_dtype, tuple(v.shape.as_list())) for k, v in specs.items()}

  def _input(self, what, name, value):
    """`value` as the tensor of input `name`; ValueError naming `what` if it cannot be.

    float64 rows (np.zeros for a reset) failed in the signature, named by position
    ('input #3(zero-based) was expected to be a float tensor'): converted, as
    Agent.policy does. Text named no key, and a shape was TensorFlow's 6 lines."""
    dtype, shape = self._takes[name]
    try:
      value, problem = _converted(np.asarray(value), np.dtype(dtype))
    except (TypeError, ValueError) as e:
      raise ValueError(f'policy {what}: {e}') from None
    if problem:
      raise ValueError(f'policy {what} {problem}')
    if value.ndim != len(shape) or any(
        d is not None and d != n for d, n in zip(shape, value.shape)):
      raise ValueError(f'policy {what} has shape {value.shape}; the policy takes '
                       f'{shape} (None: the batch)')
    if value.dtype.kind == 'f' and not np.isfinite(value).all():
      # An action was returned without a word (NaN for continuous ones), as a training
      # run's env checks refuse such an observation (envs/wrappers.py).
      rows = np.flatnonzero(~np.isfinite(value.reshape(len(value), -1)).all(1))
      hint = ('the policy acts on finite observations only' if name.startswith('obs_') else
              'pass what init_policy or the last policy call returned')
      raise ValueError(f'policy {what} holds NaN or inf (row {rows[0]} of {len(value)}); '
                       f'{hint}')
    return tf.constant(value)

  def init_policy(self, batch_size):
    try:  # int() took 1.5 as 1, and 2**40 wrapped around in int32 to a carry of 0 rows
      size = operator.index(batch_size)
    except TypeError:
      size = -1
    if not 0 <= size < 2**31:
      raise ValueError('init_policy: batch_size must be a whole number from 0 to 2**31-1, '
                       f'got {batch_size!r}')
    state = self._init(batch_size=tf.constant(size, tf.int32))
    return {k: v.numpy() for k, v in state.items()}

  def policy(self, carry, obs, mode='eval'):
    if mode not in ('train', 'eval'):
      raise ValueError(f"policy: mode must be 'train' or 'eval', got {mode!r}")
    hint = 'pass what init_policy or the last policy call returned'
    if not isinstance(obs, collections.abc.Mapping):
      raise ValueError(f'policy obs: expected a dict of arrays by key, got {type(obs).__name__}')
    if not isinstance(carry, collections.abc.Mapping):
      raise ValueError(f'policy carry: expected a dict of arrays by key (what init_policy or '
                       f'the last policy call returned), got {type(carry).__name__}')
    inputs, names = {}, {}
    for key in self.obs_keys:
      if key not in obs:
        raise ValueError(f'policy obs: missing key {key!r}; got {sorted(obs)}')
      names[f'obs_{key}'] = f'obs {key!r}'
    # TensorFlow's binding error listed every input in 8 lines (22 for an unknown key).
    takes = sorted(k for k in self.specs if k.startswith('state_'))
    missing = [k for k in takes if k not in carry]
    if missing:
      raise ValueError(f'policy carry: missing key {missing[0]!r}; got {sorted(carry)} ({hint})')
    unknown = sorted(k for k in carry if k not in takes)
    if unknown:
      raise ValueError(f'policy carry: unknown key {unknown[0]!r}; it takes {takes} ({hint})')
    names.update({k: f'carry {k!r}' for k in takes})
    for name, what in names.items():
      value = obs[name[4:]] if name.startswith('obs_') else carry[name]
      inputs[name] = self._input(what, name, value)
    rows = inputs['state_deter'].shape[0]
    for name, what in names.items():  # TensorFlow's 6 lines of 'Graph execution error'
      if inputs[name].shape[0] != rows:
        raise ValueError(f"policy {what} has {inputs[name].shape[0]} rows, carry "
                         f"'state_deter' {rows} (one row per env: init_policy(B) gives the "
                         'carry of B envs)')
    if mode == 'train':
      inputs['seed'] = tf.constant(self._seed)
      self._seed += 1
    out = self._steps[mode](**inputs)
    carry = {k: v.numpy() for k, v in out.items() if k.startswith('state_')}
    act = {k[len('action_'):]: v.numpy() for k, v in out.items() if k.startswith('action_')}
    return carry, act, {}


def _converted(given, dtype):
  """-> (numpy array `given` as `dtype`, None), or (None, what is wrong) where that would
  change its values, not only their precision: text ('False' is a true string), complex
  numbers (the imaginary part dropped) and numbers an integer or bool dtype cannot hold
  (an image of floats in [0, 1] became zeros, 300 wrapped around to 44, 2 became True)."""
  if given.dtype == dtype:
    return given, None
  kind = {'U': 'text', 'S': 'text', 'c': 'complex numbers'}.get(given.dtype.kind)
  if kind:
    return None, f'holds {kind} ({given.dtype}); the policy takes {dtype.name} values'
  with np.errstate(invalid='ignore'):  # NaN to an integer: numpy's RuntimeWarning
    value = given.astype(dtype)
    wrong = (value.astype(given.dtype) != given if dtype.kind in 'biu' and
             given.dtype.kind != 'b' else None)
  if wrong is not None and wrong.any():
    shown = given[wrong].flat[0]
    shown = shown.item() if isinstance(shown, np.generic) else shown
    allowed = ('True/False or 1/0' if dtype.kind == 'b' else
               f'whole numbers from {np.iinfo(dtype).min} to {np.iinfo(dtype).max}')
    return None, f'holds {shown!r}, which is no {dtype.name} value ({allowed})'
  return value, None


def _read_act_spaces(path):
  """{key: Space} of export `path`'s ACT_SPACE_FILE; ExportError naming the file when
  it cannot be read (cut short, edited, not UTF-8): these were 'unexpected' errors."""
  from dreamerv3_tf.core import errors
  from dreamerv3_tf.core.spaces import Space
  try:
    with tf.io.gfile.GFile(os.path.join(path, ACT_SPACE_FILE), 'rb') as f:
      data = json.loads(f.read().decode('utf-8'))
    if not (isinstance(data, dict) and all(isinstance(v, dict) for v in data.values())):
      raise ValueError('not a JSON object of spaces')
    if not data:  # '{}' passed, and the check of the env's actions against it did nothing
      raise ValueError('it names no action')
    return {k: Space.from_dict(v) for k, v in data.items()}
  except UnicodeDecodeError:
    reason = 'not UTF-8'
  except KeyError as e:
    reason = f'a space lacks {e.args[0]!r}'
  except (ValueError, TypeError, tf.errors.OpError) as e:
    reason = errors.one_line(e)
  raise ExportError(f'SavedModel {path}: {ACT_SPACE_FILE} cannot be read ({reason}); '
                    'export it again')


def is_saved_model(path):
  return tf.io.gfile.exists(os.path.join(os.path.expanduser(path), 'saved_model.pb'))


def _compare(what, spec, space):
  want = (spec.dtype.name, tuple(spec.shape[1:]))
  got = (tf.as_dtype(space.dtype).name, tuple(space.shape))
  if want != got:
    raise ExportError(f'{what}: the policy has dtype/shape {want}, the env {got}')
