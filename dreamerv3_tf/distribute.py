"""Data parallelism through tf.distribute: strategies by name and replica-side helpers.

  strategy = make_strategy(config.distribute)    # default | mirrored | multi_worker | tpu
  with strategy.scope():
    agent = Agent(obs_space, act_space, config)  # every variable mirrored
  step = replicated(strategy, fn)                # fn(*trees) runs per replica
  carry, outs, metrics = step(carry, batch)      # batch split on axis 0

Inside `fn` (the replica function) the helpers `all_mean`, `all_concat` and
`replica_seed` synchronise replicas; outside `strategy.run`, or with one replica,
they return their input unchanged and add no ops, so the single-device program
is exactly the one without a strategy.

Every replica applies the identical update to its own copy of the variables (the
gradients are all-reduced first), so no variable needs an aggregation and no
update is copied between devices.
"""

import json
import os
import re
import signal
import sys
import threading

import numpy as np
import tensorflow as tf

from dreamerv3_tf import cluster_config
from dreamerv3_tf import configuration
from dreamerv3_tf import run_files
from dreamerv3_tf import same_run
from dreamerv3_tf.core import base
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import exit_guard

NAMES = ('default', 'mirrored', 'multi_worker', 'tpu')


class NoTPU(base.UserError):
  """distribute='tpu' on a machine without one."""


class StrategyScopeError(base.UserError, RuntimeError):
  """make_strategy called inside the scope of a caller's strategy."""


def make_strategy(name):
  """-> tf.distribute.Strategy for a config name (see NAMES).

  Outside any strategy's scope only: inside a host program's, 'default' returned that
  strategy (a config of one device built a mirrored agent without a word), and the
  others stopped in scope() with "Mixing different tf.distribute.Strategy objects".
  """
  if tf.distribute.has_strategy():
    raise StrategyScopeError(
        f'distribute={name!r}: the agent is built under the strategy the config names, and '
        f'this runs inside the scope of a {type(tf.distribute.get_strategy()).__name__} '
        "of the caller's; build it outside that scope (agent.Agent built inside one "
        "takes that scope's strategy)")
  if name == 'default':
    return tf.distribute.get_strategy()
  if name == 'mirrored':
    gpus = tf.config.list_logical_devices('GPU')
    if gpus:
      return tf.distribute.MirroredStrategy([d.name for d in gpus])
    # CPUs: reduce on one device. The default collective all-reduce matches ops
    # across replica threads by launch order, which eager runs do not keep.
    return tf.distribute.MirroredStrategy(
        [d.name for d in tf.config.list_logical_devices('CPU')],
        cross_device_ops=tf.distribute.ReductionToOneDevice())
  if name == 'multi_worker':
    return _connected(cluster_config.cluster_of_this_process())
  if name == 'tpu':
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu='local')
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as e:
      # TensorFlow's line went on about a missing 'ConfigureDistributedTPU' kernel.
      reason = str(e).split('.')[0] if 'TPUs not found' in str(e) else errors.one_line(e)
      raise NoTPU(f"distribute='tpu' found no TPU here ({reason}); run it on a TPU VM "
                  "(launchers/tpu_vm.sh), or use distribute='default'") from e
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f'distribute: unknown strategy {name!r}; choose one of {NAMES}')


# The stops whose default action ends the process while TensorFlow waits for the
# cluster (see _connected): SIGUSR1 and SIGUSR2 did nothing until it connected. Not
# SIGXCPU, whose default dumps core (and a wait spends no CPU to reach a limit).
_STOPS_WHILE_CONNECTING = tuple(s for s in exit_guard.STOP_SIGNALS if s != signal.SIGXCPU)


def _connected(tf_config):
  """MultiWorkerMirroredStrategy() of this process, which waits until every process of
  the cluster has started, holding the interpreter: with one not started (or a
  TF_CONFIG naming a wrong host or port) the run hung after its 'Building the agent'
  line, without a word, and Ctrl-C or SIGTERM did nothing (their Python handlers run
  only between Python instructions). The wait is named first, and those signals end
  the process at once while it lasts: nothing is written to the logdir before it."""
  handlers = {s: signal.getsignal(s) for s in _STOPS_WHILE_CONNECTING}
  # Not those ignored (nohup); handlers can be set from the main thread only.
  taken = [s for s, h in handlers.items() if callable(h)
           and threading.current_thread() is threading.main_thread()]
  for sig in taken:  # (before the line, which promises it)
    signal.signal(sig, _stop_while_waiting)
  try:
    _, number = cluster_config.worker_role()
    cluster = tf_config['cluster']
    tasks = [f'{kind} {index} at {address}' for kind in ('chief', 'worker')
             for index, address in enumerate(cluster.get(kind) or [])]
    others = [task for i, task in enumerate(tasks) if i != number]
    if others:
      from dreamerv3_tf import startup
      shown = ', '.join(others[:4]) + (f' and {len(others) - 4} more' if len(others) > 4 else '')
      startup.say(f'Waiting for the other process(es) of the multi_worker run ({shown}) to '
                  'start with the same command and their own TF_CONFIG task (launchers/'
                  'multi_worker.sh); Ctrl-C or SIGTERM ends this one at once, nothing '
                  'written yet.')
      _wait_for_peers(tasks[number], others)
    for sig in taken:  # TensorFlow's wait holds the interpreter: no Python handler runs
      signal.signal(sig, signal.SIG_DFL)
    try:
      return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.OpError as e:
      if 'Could not start gRPC server' not in str(e):
        raise
      # It was 'Error: Could not start gRPC server', naming neither address nor cause.
      raise configuration.ConfigError(
          f"this process's address in TF_CONFIG, {tasks[number]}, cannot be listened on: "
          'another process holds that port (a worker of an earlier run still running?), '
          "or the host is not this machine's; free the port or give another "
          '(launchers/multi_worker.sh)') from None
  finally:
    for sig in taken:
      signal.signal(sig, handlers[sig])


def _stop_while_waiting(signum, frame):
  """A stop signal during _wait_for_peers (Python's wait): its one line, then the exit
  its default action gives; nothing is written yet. It ended without a word."""
  del frame
  from dreamerv3_tf import stop_signals  # (every command's words and exit codes)
  word, code = stop_signals.word_and_code(stop_signals.exception(signum))
  try:
    print(f'{word} while waiting for the other process(es) of the multi_worker run; '
          'nothing was written', file=sys.stderr, flush=True)
  except (OSError, ValueError, AttributeError):  # stderr closed: the exit code says it
    pass
  os._exit(code)


def _wait_for_peers(mine, others, pause=0.2):
  """Returns once every process of `others` ('worker 1 at host:port') accepts a TCP
  connection at its address, while this one listens at its own (`mine`), as each
  process does before TensorFlow's wait. That wait holds the interpreter, and TensorFlow
  puts its own SIGTERM handler in place as it starts (it only notes a preemption):
  SIGTERM then did nothing until the cluster connected, though the line promised it
  ends the process at once. Here the wait is Python's, the stops' actions the default
  ones; what is left is TensorFlow's, once every process has started. A port this
  process cannot listen on is left to TensorFlow, which names it."""
  import socket
  import time
  address = lambda task: task.rsplit(' at ', 1)[1].rsplit(':', 1)
  listener = None
  try:
    dual = socket.has_dualstack_ipv6()  # (all addresses, as TensorFlow's server)
    listener = socket.create_server(('', int(address(mine)[1])), dualstack_ipv6=dual,
                                    family=socket.AF_INET6 if dual else socket.AF_INET)
  except OSError:
    return  # (held: TensorFlow's 'Could not start gRPC server' is named below)
  try:
    waiting = list(others)
    while waiting:
      host, port = address(waiting[0])
      try:
        socket.create_connection((host.strip('[]'), int(port)), timeout=1).close()
        waiting.pop(0)
      except OSError:
        time.sleep(pause)
  finally:
    listener.close()


def check_same_flags(strategy, config, obs_space, act_space, checkpoint):
  """ConfigError (one line) in every process of a multi_worker run unless all were
  started with the same config, but for what each may set for itself (its XLA cache,
  how its envs run, what it logs, where its host mounts the logdir), their envs have
  the same spaces, and they see the same run (same_run.py): `checkpoint` is the one this
  process resumes (None: a new run). A worker started with another batch_size trained
  on without a word; another model size or run.steps, or an env of other spaces (an env
  edited on one host), stopped the run as 'lost worker 0 ... (Shape mismatch in the
  collective ...)' or '... (Socket closed)'.
  The first collective of the run: every process calls it before building the agent."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return
  mine = {'flags': run_files.shared_flags(config), 'spaces': {
      f'{what} {k!r}': repr(v) for what, spaces in (('obs', obs_space), ('action', act_space))
      for k, v in spaces.items()},
      'run': same_run.seen(config.logdir, checkpoint, config.run.resume_from)}
  text = json.dumps(mine, sort_keys=True)
  local = local_replicas(strategy)
  texts = _gathered_texts(strategy, text)
  if any(other != text for other in texts):
    _leave_together(strategy)
  for row, other in enumerate(texts):
    if other != text:
      number = row // local
      address = worker_address(number)
      name = f'worker {number} ({address})' if address else f'worker {number}'
      theirs = json.loads(other)
      diff = [*_differences(theirs['flags'], mine['flags'], '{}={}', repr),
              *_differences(theirs['spaces'], mine['spaces'], '{} {}', str)]
      more = f' and {len(diff) - 3} more' if len(diff) > 3 else ''
      if diff:
        raise configuration.ConfigError(
            f'{name} of the multi_worker run was started with other flags or env spaces '
            f'than this process ({"; ".join(diff[:3])}{more}); start every worker with the '
            'same command and its own TF_CONFIG (launchers/multi_worker.sh)')
      line = same_run.difference(theirs.get('run'), mine['run'])
      if line:
        raise configuration.ConfigError(f'{name} of the multi_worker run {line}')


def _leave_together(strategy):
  """Returns once every process has its gathered texts: one more collective, whose own
  failure is dropped. A process that found a difference stops; one that stopped at once
  could close its sockets while a peer still read the gather's last reply, and that
  peer stopped as 'lost worker 1 ... (Socket closed)' instead of naming the difference
  (2 in 150 runs of two mismatched workers on a busy machine; 0 in 150 since). Every
  process found a difference if one did (all texts are not equal), so all come here."""
  try:  # (its failure TensorFlow logs as an error: hidden but for --verbose)
    _gather(strategy, np.zeros([1], np.int32))
  except tf.errors.OpError:
    pass  # a peer that had everything and left: each process stops with its own line


def _differences(theirs, mine, form, show):
  """['batch_size=8 there, 4 here', ...] for the keys whose values differ."""
  shown = lambda values, k: show(values[k]) if k in values else '(none: another version?)'
  return [f'{form.format(k, shown(theirs, k))} there, {shown(mine, k)} here'
          for k in sorted(set(theirs) | set(mine)) if theirs.get(k, ()) != mine.get(k, ())]


def _gather(strategy, array):
  """`array` of every replica, concatenated on axis 0 (a collective)."""
  value = strategy.experimental_distribute_values_from_function(lambda _: tf.constant(array))
  return strategy.gather(value, axis=0).numpy()


def _gathered_texts(strategy, text):
  """`text` of every replica, in replica order (a collective: every process calls it)."""
  data = np.frombuffer(text.encode(), np.uint8)
  lengths = _gather(strategy, np.array([len(data)], np.int32))
  rows = np.zeros([1, int(lengths.max())], np.int32)  # (equal shapes to gather)
  rows[0, :len(data)] = data
  rows = _gather(strategy, rows)
  return [bytes(row[:n].astype(np.uint8)).decode() for row, n in zip(rows, lengths)]


def worker_address(number, tf_config=None):
  """'host:port' of process `number` (as numbered by cluster_config.worker_role); ''
  if unknown."""
  data = cluster_config.tf_config(tf_config)
  if not data:
    return ''
  cluster = data['cluster']
  tasks = list(cluster.get('chief', [])) + list(cluster.get('worker', []))
  return tasks[number] if 0 <= number < len(tasks) else ''


def local_cluster(workers):
  """TF_CONFIG texts of a cluster of `workers` processes on 127.0.0.1, one a worker.

  Ports are ones the OS had free a moment ago (a port taken in between makes the
  worker fail to start). For tests and benchmarks on one machine.
  """
  import socket
  sockets = [socket.socket() for _ in range(workers)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  addresses = [f'127.0.0.1:{s.getsockname()[1]}' for s in sockets]
  for s in sockets:
    s.close()
  return [json.dumps({'cluster': {'worker': addresses}, 'task': {'type': 'worker', 'index': i}})
          for i in range(workers)]


def worker_number(strategy):
  """This process's number in a multi-worker cluster (cluster_config.worker_role); 0
  otherwise."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return 0
  return cluster_config.worker_role()[1]


def worker_seed(seed, strategy):
  """<int64>[2] stateless seed -> the seed of this worker process (unchanged on worker 0).

  For what each process does on its own (the policy acting in its envs): every
  variable, the counters that make seeds included, is mirrored across workers, so
  without this the workers would draw the same action noise.
  """
  number = worker_number(strategy)
  if not number:
    return seed
  return tf.cast(tf.random.experimental.stateless_fold_in(seed, number), seed.dtype)


class WorkerLostError(base.UserError, RuntimeError):
  """Another process of a multi_worker run stopped; the message is one line."""


_TASK = re.compile(r'/job:(\w+)/(?:replica:\d+/)?task:(\d+)')


def lost_worker(error, tf_config=None):
  """WorkerLostError naming the lost process if `error` is a failed collective, else None.

  TensorFlow's coordination service notices a process whose heartbeats stopped (~10 s)
  or a chief that no longer answers, and aborts this process's collectives; a
  collective whose peer died fails at once ('Connection reset by peer'). Both raise
  an OpError whose text names the other task, e.g. '/job:worker/replica:0/task:1'.
  """
  if not isinstance(error, tf.errors.OpError):
    return None
  text = str(error)
  if not isinstance(error, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                            tf.errors.AbortedError, tf.errors.CancelledError)) and (
                                'ollective ops is aborted' not in text):
    return None
  data = cluster_config.tf_config(tf_config)
  _, mine = cluster_config.worker_role(tf_config)
  for job, task in _TASK.findall(text):
    number = int(task) + int(job == 'worker' and bool(data['cluster'].get('chief')))
    if number != mine:
      address = worker_address(number, tf_config)
      name = f'worker {number} ({address})' if address else f'/job:{job}/task:{task}'
      return WorkerLostError(
          f'lost {name} of the multi_worker run ({_first_line(text)}); restart every '
          "worker with the same flags to resume from the chief's last checkpoint")
  return WorkerLostError(
      f'lost another worker of the multi_worker run ({_first_line(text)}); restart '
      "every worker with the same flags to resume from the chief's last checkpoint")


def _first_line(text):
  # The line read '( Collective ops is aborted by: Collective ops is aborted by: Socket
  # closed)': a decoration dropped after the strip, and each hop's prefix repeated.
  text = re.sub(r'(Collective ops is aborted by: )+', r'\1', errors.undecorated(text))
  lines = [x.strip() for x in text.splitlines() if x.strip()]
  for line in lines:  # TensorFlow's text starts with 'Graph execution error:'
    if 'aborted' in line.lower() or 'unhealthy' in line or 'reset' in line:
      return line[:160]
  return (lines[0] if lines else type(text).__name__)[:160]


def _is_tpu(strategy):
  return isinstance(strategy, (tf.distribute.TPUStrategy,
                               tf.distribute.experimental.TPUStrategy))


def is_distributed(strategy):
  """Whether steps must go through `strategy.run` (more than one replica, or TPU)."""
  return strategy.num_replicas_in_sync > 1 or _is_tpu(strategy)


def local_replicas(strategy):
  """Replicas driven by this process (all of them except with multi_worker)."""
  return len(strategy.extended.worker_devices)


def jit_per_replica(strategy):
  """Whether the replica function may be a tf.function(jit_compile=True).

  TensorFlow runs collectives and variable updates inside an XLA-compiled replica
  function only when every device is a GPU (MirroredExtended._use_merge_call); on
  CPU devices they need `merge_call`, which cannot run inside a nested function,
  so there the replica function is a plain graph. TPUStrategy compiles the replica
  function itself.
  """
  if _is_tpu(strategy):
    return False
  return all('GPU' in d.upper() for d in strategy.extended.worker_devices)


# --- inside the replica function ----------------------------------------------------

def _replica_context():
  """The replica context inside `strategy.run` with > 1 replicas, else None."""
  if not tf.distribute.has_strategy():
    return None
  ctx = tf.distribute.get_replica_context()
  if ctx is None or ctx.num_replicas_in_sync == 1:
    return None
  return ctx


def all_mean(tree):
  """Mean over replicas of every tensor in `tree` (identity on one replica)."""
  ctx = _replica_context()
  if ctx is None:
    return tree
  return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tree)


def all_concat(x):
  """<[n, ...]> per replica -> <[R n, ...]> in replica order, on every replica.

  Each replica writes its rows into its own slot of zeros and the slots are summed:
  exact (x + 0 = x), keeps a NaN in its own rows, and needs only an all-reduce,
  which every strategy supports wherever it runs.
  """
  ctx = _replica_context()
  if ctx is None:
    return x
  R = ctx.num_replicas_in_sync
  rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
  slots = tf.scatter_nd(tf.reshape(rid, (1, 1)), x[None], (R, *x.shape))
  total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, slots)
  return tf.reshape(total, (R * x.shape[0], *x.shape[1:]))


def replica_seed(seed):
  """<int64>[2] stateless seed -> the seed of this replica (unchanged on one replica).

  Replica r folds r into the seed, so replicas draw independent noise for their
  rows. A run over R replicas therefore samples other noise than one device on the
  same batch: results are reproducible for a fixed replica count, not across counts.
  """
  ctx = _replica_context()
  if ctx is None:
    return seed
  rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
  return tf.cast(tf.random.experimental.stateless_fold_in(seed, rid), seed.dtype)


def writable(var, strategy):
  """The variable to assign for a one-device update of `var`.

  Inside `strategy.run` a mirrored variable resolves to this replica's copy. Outside
  it (policy, report), assigning it would update the copies on every device, which
  a one-device XLA function cannot do; there the first copy is written, which is
  the one every read outside `strategy.run` and every checkpoint sees.
  """
  if not is_distributed(strategy):
    return var
  if tf.distribute.has_strategy() and tf.distribute.get_replica_context() is not None:
    return var
  return strategy.experimental_local_results(var)[0]


# --- around the replica function ------------------------------------------------------

def split(strategy, tree):
  """Numpy leaves <[B, ...]> -> per-replica values <[B / L, ...]>, L local replicas.

  Replica i (in this process) gets rows [i B / L, (i + 1) B / L).
  """
  L = local_replicas(strategy)
  leaves = [np.asarray(x) for x in tf.nest.flatten(tree)]
  if not leaves:
    raise ValueError('split: nothing to split')
  B = leaves[0].shape[0] if leaves[0].ndim else None
  for x in leaves:
    if not x.ndim or x.shape[0] != B:
      raise ValueError(f'split: every input needs the same leading batch axis {B}, '
                       f'got shape {x.shape}')
  if B % L:
    raise ValueError(f'batch size {B} is not divisible by the {L} replicas of '
                     f'{type(strategy).__name__}; use a multiple of {L}')
  tree = tf.nest.pack_sequence_as(tree, leaves)
  n = B // L

  def value_fn(ctx):
    i = ctx.replica_id_in_sync_group % L
    return tf.nest.map_structure(lambda x: x[i * n:(i + 1) * n], tree)

  return strategy.experimental_distribute_values_from_function(value_fn)


def replicated(strategy, fn, jit=True, on_trace=None):
  """Runs `fn(*args)` on every replica's share of the batch.

  Args:
    fn: the replica function; its inputs are trees of tensors with a leading batch
      axis, its outputs trees of tensors.
    jit: compile (tf.function, and XLA per replica where supported); False runs
      `strategy.run` eagerly, for debugging.
    on_trace: called once per Python trace of the whole step.
  Returns:
    A callable (numpy trees with a batch axis) -> outputs, where scalars are
    averaged over all replicas and other tensors concatenated on axis 0 in
    replica order over the replicas of this process (the rows of its batch).
  """
  inner = fn
  if jit and jit_per_replica(strategy):
    inner = tf.function(fn, jit_compile=True, autograph=False)

  def merge(value):
    parts = strategy.experimental_local_results(value)
    if parts[0].shape.rank == 0:
      return strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
    return tf.concat(parts, 0)

  def step(*args):
    if on_trace is not None:
      on_trace()
    outputs = strategy.run(inner, args=args)
    return tf.nest.map_structure(merge, outputs)

  if jit:
    step = tf.function(step, autograph=False)

  def call(*args):
    return step(*split(strategy, args))

  return call
