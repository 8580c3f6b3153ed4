"""The agent: the DreamerV3 model behind the runtime interface (numpy in, numpy out).

  agent = Agent(obs_space, act_space, config)       # core.base.agent_spaces; configs/base.py
  carry = agent.init_policy(B)
  carry, act, out = agent.policy(carry, obs, mode='train' | 'eval')
  carry = agent.init_train(B)
  carry, outs, metrics = agent.train(carry, batch)  # batch [B, batch_length + context]
  carry = agent.init_report(B)
  carry, metrics = agent.report(carry, batch)       # batch [B, report_length + context]

This is the boundary around `model.Model`, which does the math on tensors: here
numpy inputs are checked against the spaces, the model's three steps are compiled,
replicated under the strategy the agent is built in, and given their seeds, and
traces are counted. `policy`, `train` and `report` each run one
`tf.function(jit_compile=config.jit)` traced once (a mode flag is a tensor, not a
Python value); with `config.jit=False` they run eagerly. All variables (models,
optimizer slots, return normaliser, slow critic, RNG counters) exist after
`__init__`, and `tf.train.Checkpoint(agent=agent)` saves and restores all of them.
"""

import contextlib
import hashlib
import os
import re
import types

import numpy as np
import tensorflow as tf

from dreamerv3_tf import distribute
from dreamerv3_tf import tfimport
from dreamerv3_tf.agent import model as model_lib
from dreamerv3_tf.agent import policy_call
from dreamerv3_tf.agent import stable_names
from dreamerv3_tf.agent import tf_settings
from dreamerv3_tf.core import base
from dreamerv3_tf.core import compile_pacing
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import usage

# The model's state, tracked as attributes of the agent: checkpoint names stay
# 'agent/enc/...', 'agent/opt/...' as before the model had its own class, so saved
# runs, `run.from_checkpoint_regex` patterns and exports keep their names.
MODEL_STATE = ('enc', 'dyn', 'dec', 'rew', 'con', 'pol', 'val', 'slowval', 'retnorm',
               'slowval_updates', 'opt')


class XlaCacheError(base.UserError, RuntimeError):
  """A compiled program in the XLA cache (config.xla_cache) cannot be read."""


class XlaCacheWriteError(XlaCacheError, base.WriteError):
  """The XLA cache cannot store a compiled program (a disk that filled mid-run): a
  write failure, so main's line adds what the run kept and how to resume."""


def _xla_cache_error(error):
  """An XlaCacheError for `error` of a call that compiled, if the XLA cache caused it.

  TensorFlow reads a function's program from the cache at its first call and stops on
  one it cannot read: a garbled or unreadable file with a message naming it, a file cut
  short with 'Read less bytes than requested', which names none. After compiling it
  writes the program to a temporary file there, and stops if it cannot (a full disk).
  """
  cache = tfimport.xla_cache_directory()
  if not cache or not isinstance(error, tf.errors.OpError):
    return None
  text = errors.one_line(error)
  named = re.search(re.escape(os.path.join(cache, '')) + r'[^\s;]+', text)
  if named and named.group(0).endswith('.tmp'):
    _remove_own_cut_write(named.group(0))
    return XlaCacheWriteError(
        f'the XLA cache {cache} cannot store a compiled program ({text}); give it room '
        "and write access, or run with --config.xla_cache=''")
  if not named and not isinstance(error, tf.errors.OutOfRangeError):
    return None  # a file elsewhere, or not a file's error
  return XlaCacheError(
      f'the XLA cache {cache} holds a damaged or unreadable compiled program ({text}); '
      f'delete {named.group(0) if named else cache} (the next start compiles again), or '
      "run with --config.xla_cache=''")


def _remove_own_cut_write(path):
  """Removes the temporary of a compiled program that this process failed to write
  (XLA names it PROGRAM.pb<host>-<hex>-<pid>-<time>.tmp and leaves it): on a disk
  that had filled, what it held (up to a program's 0.4-6 MB) stayed for an hour, until
  a start took it for a killed writer's."""
  if f'-{os.getpid()}-' in os.path.basename(path):
    with contextlib.suppress(OSError):
      os.remove(path)


class Agent(tf.Module, base.Agent):
  """DreamerV3 behind the runtime's agent interface.

  Args:
    obs_space: dict of Space incl. reward/is_first/is_last/is_terminal, without
      'log/' keys; act_space: dict of Space without 'reset' (both from
      core.base.agent_spaces).
    config: the whole ConfigDict of configs/base.py.
  """

  def __init__(self, obs_space, act_space, config):
    tf_settings.check_eager('the agent')
    tf.Module.__init__(self, name='agent')
    base.check_agent_spaces(obs_space, act_space)
    self._s = types.SimpleNamespace(
        obs_space=dict(obs_space), act_space=dict(act_space), config=config,
        context=int(config.replay_context),
        traces={'policy': 0, 'train': 0, 'report': 0},
        # The strategy whose scope the agent is built in (factories.make_agent):
        # its variables are mirrored and `train` runs per replica.
        strategy=tf.distribute.get_strategy())
    self._s.model = model_lib.Model(obs_space, act_space, config)
    for name in MODEL_STATE:
      setattr(self, name, getattr(self._s.model, name))
    # RNG state: a base seed and per-function counters, all checkpointed, so a
    # restored agent continues the exact random streams of the saved one.
    self.rng_seed = tf.Variable(int(config.seed), dtype=tf.int64, trainable=False,
                                name='rng_seed')
    self.policy_calls = tf.Variable(0, dtype=tf.int64, trainable=False, name='policy_calls')
    self.train_calls = tf.Variable(0, dtype=tf.int64, trainable=False, name='train_calls')
    self.report_calls = tf.Variable(0, dtype=tf.int64, trainable=False, name='report_calls')
    # Per (batch size) the policy's input checks, per (batch size, greedy) its
    # traced program called with flat tensors (policy_call.py: the host boundary).
    self._s.policy_specs, self._s.policy_programs = {}, {}
    self._s.called = set()  # steps (the policy's per batch size) compiled
    # Pacing is for XLA's CPU compiler, and its thread would not see a caller's
    # device scope: not with accelerators or several devices.
    self._s.paced = bool(config.jit) and not distribute.is_distributed(
        self._s.strategy) and not any(
            tf.config.list_logical_devices(kind) for kind in ('GPU', 'TPU'))
    self._s.greedy = {g: tf.constant(g) for g in (False, True)}
    # What a step's trace depends on besides its inputs (stable_names.py).
    model_config = (config.agent.to_json_best_effort(sort_keys=True), str(config.compute_dtype),
                    type(self._s.strategy).__name__, sorted(obs_space), sorted(act_space))
    self._s.config_key = hashlib.sha256(repr(model_config).encode()).hexdigest()[:16]
    self._s.fns = {
        'policy': self._compile(self._policy, 'policy'),
        'train': self._compile(self._train, 'train'),
        'report': self._compile(self._report, 'report')}

  # --- properties -------------------------------------------------------------

  @property
  def model(self):
    """The tensor-only DreamerV3 model (`model.Model`)."""
    return self._s.model

  @property
  def obs_space(self):
    return self._s.obs_space

  @property
  def act_space(self):
    return self._s.act_space

  @property
  def config(self):
    return self._s.config

  @property
  def strategy(self):
    """The tf.distribute strategy the agent was built under (its variables' home)."""
    return self._s.strategy

  @property
  def trace_counts(self):
    """{'policy'|'train'|'report': number of Python traces so far}."""
    return dict(self._s.traces)

  @property
  def loss_terms(self):
    """The model's loss terms in the order the train step computes them
    (`Model.loss_terms`; run/nonfinite.py names the first non-finite one)."""
    return self._s.model.loss_terms

  # --- compile ----------------------------------------------------------------

  def _compile(self, fn, name):
    def traced(*args):
      self._s.traces[name] += 1
      return fn(*tf.nest.map_structure(tf.convert_to_tensor, args))
    traced.__name__ = name
    strategy = self._s.strategy
    if name == 'train' and distribute.is_distributed(strategy):
      # Each replica trains on its share of the batch; policy and report stay on
      # one device (they read the first copy of every mirrored variable).
      def on_trace():
        self._s.traces[name] += 1
      replica_fn = lambda *args: fn(*tf.nest.map_structure(tf.convert_to_tensor, args))
      return distribute.replicated(strategy, replica_fn, self.config.jit, on_trace)
    if not self.config.jit:
      return traced
    return tf.function(traced, jit_compile=True, autograph=False)

  def _call(self, name, *args):
    """Runs compiled step `name`; after a call that compiled, frees the heap.

    A call that compiles (the first of a step; the policy's first for a batch
    size) runs paced on CPU (core/compile_pacing.py): XLA's queue of fusions
    stays short, and what the compile frees goes back to the OS as it runs; the
    size1m train step's compile peaks about 800 MB lower.
    """
    traces = self._s.traces[name]
    fn = self._s.fns[name]
    key = (name, len(args[0])) if name == 'policy' else name
    first = key not in self._s.called
    try:
      # A host program's numpy promotion and run_functions_eagerly (tf_settings.py).
      with tf_settings.own_semantics(), self._names(name, args, first):
        if first and self._s.paced:
          result = compile_pacing.run(fn, *args, release=usage.release_heap)
        else:
          result = fn(*args)
    except tf.errors.OpError as e:
      cache_error = _xla_cache_error(e) if first else None
      if cache_error:
        raise cache_error from e
      raise
    self._s.called.add(key)
    if self._s.traces[name] != traces:
      usage.release_heap()
    return result

  def _names(self, name, args, tracing=True):
    """The names of a trace of step `name` for `args`, the same in every process
    (stable_names.py): an unchanged program is then found in the XLA cache whatever
    the process traced before (another number of envs, another script)."""
    if not (tracing and self.config.jit):
      return contextlib.nullcontext()
    leaves = tf.nest.flatten(args)
    inputs = ';'.join(f'{getattr(x.dtype, "name", x.dtype)}{list(x.shape)}' for x in leaves)
    return stable_names.scope(f'{name}|{inputs}|{self._s.config_key}')

  def _seed(self, counter, stream):
    """A stateless seed <int64>[2] from a counter variable; bumps the counter."""
    seed = tf.stack([self.rng_seed.read_value() * 8 + stream, counter.read_value()])
    distribute.writable(counter, self._s.strategy).assign_add(1)
    return seed

  def _policy(self, deter, stoch, prevact, obs, greedy):
    # Each worker process of a multi_worker run acts with its own noise.
    seed = distribute.worker_seed(self._seed(self.policy_calls, 0), self._s.strategy)
    carry = {'deter': deter, 'stoch': stoch, 'prevact': prevact}
    carry, act, out = self._s.model.policy_step(carry, obs, greedy, seed)
    return carry['deter'], carry['stoch'], carry['prevact'], act, out

  def _train(self, carry, data):
    # Under strategy.run: this replica's rows of the batch, its own noise.
    seed = distribute.replica_seed(self._seed(self.train_calls, 1))
    return self._s.model.train_step(carry, data, seed)

  def _report(self, carry, data):
    return self._s.model.report_step(carry, data, self._seed(self.report_calls, 2))

  def trace(self, name, carry, data, mode='train'):
    """Traces step `name` ('policy' | 'train' | 'report') for these inputs (as the
    step's method takes them) without compiling it; -> its concrete function.

    For start-up profiling (tracing timed apart from compiling); the next call with
    inputs of this shape compiles and runs.
    """
    self._check_compiled(name)
    args = self.step_inputs(name, carry, data, mode)
    with tf_settings.own_semantics(), self._names(name, args):
      return self._s.fns[name].get_concrete_function(*args)

  def compiler_ir(self, name, carry, data, mode='train', stage='hlo'):
    """The XLA program of step `name` for these inputs (a string; `stage` as in
    tf.function.experimental_get_compiler_ir, e.g. 'optimized_hlo' for FLOP counts)."""
    self._check_compiled(name)
    args = self.step_inputs(name, carry, data, mode)
    with tf_settings.own_semantics(), self._names(name, args):
      return self._s.fns[name].experimental_get_compiler_ir(*args)(stage=stage)

  def _check_compiled(self, name):
    if not self.config.jit or distribute.is_distributed(self._s.strategy):
      raise ValueError(f'Agent: tracing {name} alone needs config.jit=True and one device')

  def step_inputs(self, name, carry, data, mode='train'):
    """The checked numpy arguments of compiled step `name`, from the inputs of
    `policy(carry, obs, mode)`, `train(carry, batch)` or `report(carry, batch)`.

    For tools and tests that run the model's steps themselves (the parity test).
    """
    if name == 'policy':
      if mode not in ('train', 'eval'):
        raise ValueError(f"policy: mode must be 'train' or 'eval', got {mode!r}")
      spec = self._policy_spec(len(data['is_first']))
      obs = spec.check_obs(data)
      carry = spec.check_carry(carry)
      greedy = mode == 'eval' and not self.config.agent.eval_sample
      return carry['deter'], carry['stoch'], carry['prevact'], obs, self._s.greedy[greedy]
    if name not in ('train', 'report'):
      raise ValueError(f"Agent: step must be 'policy', 'train' or 'report', got {name!r}")
    length = self.config.batch_length if name == 'train' else self.config.report_length
    B, batch = self._batch(data, int(length) + self._s.context, f'{name} batch')
    return self._check_carry(carry, B), batch

  def _policy_spec(self, B):
    spec = self._s.policy_specs.get(B)
    if spec is None:
      model = self._s.model
      spec = self._s.policy_specs[B] = policy_call.PolicySpec(
          B, self.obs_space, self.act_space, model.encoded_keys + ['is_first'],
          model.carry_shapes())
    return spec

  # --- carries ----------------------------------------------------------------

  def _zero_carry(self, batch_size):
    B = int(batch_size)
    return {k: np.zeros((B, *shape), np.float32)
            for k, shape in self._s.model.carry_shapes().items()}

  def init_policy(self, batch_size):
    """-> {'deter', 'stoch', 'prevact' (flat, one-hot for discrete)} zeros."""
    return self._zero_carry(batch_size)

  def init_train(self, batch_size):
    return self._zero_carry(batch_size)

  def init_report(self, batch_size):
    return self._zero_carry(batch_size)

  # --- boundary checks --------------------------------------------------------

  def _check_carry(self, carry, B):
    return policy_call.check_carry(
        carry, {k: (int(B), *shape) for k, shape in self._s.model.carry_shapes().items()})

  def _check(self, data, keys, lead, what):
    spaces = {**self.act_space, **self.obs_space}
    return policy_call.check_inputs(data, policy_call.input_spec(keys, spaces, lead), what)

  def _batch(self, batch, T, what):
    B = len(batch['is_first'])
    keys = sorted(self.obs_space) + sorted(self.act_space)
    data = self._check(batch, keys, (B, T), what)
    if 'stepid' not in batch:
      raise ValueError(f"{what}: missing key 'stepid'")
    data['stepid'] = np.asarray(batch['stepid'])
    if self._s.context:
      for k, shape in self._s.model.latent_shapes().items():
        if k not in batch:
          raise ValueError(f'{what}: missing key {k!r} (needed with replay_context > 0)')
        x = np.asarray(batch[k], np.float32)
        if x.shape != (B, T, *shape):
          raise ValueError(f'{what}[{k!r}]: expected shape {(B, T, *shape)}, got {x.shape}')
        data[k] = x
    return B, data

  # --- the three steps ----------------------------------------------------------

  def policy(self, carry, obs, mode='train'):
    """(carry, obs <[B, ...]>, mode) -> carry, act {key: <[B, ...]>}, out.

    out: {'dyn/deter': <float32>[B, D], 'dyn/stoch': <float32>[B, S, C]}, the
    posterior latent after this observation (stored in replay for replay_context).
    """
    args = self.step_inputs('policy', carry, obs, mode)
    key = (len(args[0]), bool(args[-1] is self._s.greedy[True]))
    program = self._s.policy_programs.get(key)
    if program is not None:
      deter, stoch, prevact, act, out = program(args)
    else:
      deter, stoch, prevact, act, out = self._call('policy', *args)
      if self.config.jit and not distribute.is_distributed(self._s.strategy):
        # Traced now: later calls of this signature skip tf.function's dispatch.
        with tf_settings.own_semantics():
          self._s.policy_programs[key] = policy_call.FlatProgram(
              self._s.fns['policy'].get_concrete_function(*args))
    carry = {'deter': deter.numpy(), 'stoch': stoch.numpy(), 'prevact': prevact.numpy()}
    act = {k: v.numpy() for k, v in act.items()}
    out = {k: v.numpy() for k, v in out.items()}
    return carry, act, out

  def train(self, carry, batch):
    """(carry, batch <[B, batch_length + replay_context, ...]>) -> carry, outs, metrics."""
    carry, outs, metrics = self._call('train', *self.step_inputs('train', carry, batch))
    carry = {k: v.numpy() for k, v in carry.items()}
    outs = {'replay': {k: v.numpy() for k, v in outs['replay'].items()}}
    metrics = {k: float(v) for k, v in metrics.items()}
    return carry, outs, metrics

  def report(self, carry, batch):
    """(carry, batch <[B, report_length + replay_context, ...]>) -> carry, metrics.

    Metrics: float scalars, plus 'openloop/<image key>/true' and '/pred'
    <uint8>[RB, report_length, H, W, C] (see `Model.report_step`; the run renders
    them into a video where it logs them: run.common.openloop_video).
    """
    carry, metrics = self._call('report', *self.step_inputs('report', carry, batch))
    carry = {k: v.numpy() for k, v in carry.items()}
    out = {}
    for k, v in metrics.items():
      v = v.numpy()
      out[k] = v if v.ndim else float(v)
    return carry, out
