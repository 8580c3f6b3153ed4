"""tf.distribute: strategies by name, and MirroredStrategy over 2 CPUs = one device.

The comparison needs two logical CPU devices, which must be configured before
TensorFlow initialises its devices; other test files in the same pytest process
have done that long before, so it runs in a subprocess (this file as a script).

Sampling in the comparison is made deterministic (uniform draws 0.5, normal draws
0): by design each replica folds its id into the sampling seed, so replicas draw
independent noise and a 2-replica run samples other numbers than one device.
With the noise fixed, everything else must agree: the split of the batch, the
all-reduced gradients, the return normaliser (percentiles over the whole batch),
the optimizer and slow-critic updates, the reduced metrics and the gathered
outputs. `replica_seed` is checked separately.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
UPDATES = 2


# --- in the pytest process ----------------------------------------------------------

def test_make_strategy_names(monkeypatch):
  import tensorflow as tf
  from dreamerv3_tf import distribute
  strategy = distribute.make_strategy('default')
  assert strategy is tf.distribute.get_strategy()
  assert not distribute.is_distributed(strategy)
  with pytest.raises(ValueError, match=r"unknown strategy 'mirror'.*'mirrored'"):
    distribute.make_strategy('mirror')
  monkeypatch.delenv('TF_CONFIG', raising=False)
  with pytest.raises(ValueError, match='TF_CONFIG'):
    distribute.make_strategy('multi_worker')
  mirrored = distribute.make_strategy('mirrored')
  assert isinstance(mirrored, tf.distribute.MirroredStrategy)
  assert mirrored.num_replicas_in_sync == len(tf.config.list_logical_devices('CPU'))
  # A notebook's strategy scope around factories.make_agent: 'default' returned its
  # strategy (a mirrored agent for a config of one device), 'mirrored' stopped with
  # "Mixing different tf.distribute.Strategy objects".
  with mirrored.scope():
    for name in ('default', 'mirrored'):
      with pytest.raises(distribute.StrategyScopeError, match=(
          f"^distribute='{name}': the agent is built under the strategy the config names, "
          'and this runs inside the scope of a MirroredStrategy of the caller.s; build it '
          'outside that scope')):
        distribute.make_strategy(name)


def test_helpers_are_identities_without_replicas():
  import tensorflow as tf
  from dreamerv3_tf import distribute
  x = tf.constant([[1.0, 2.0]])
  seed = tf.constant([3, 4], tf.int64)
  assert distribute.all_mean([x])[0] is x
  assert distribute.all_concat(x) is x
  assert distribute.replica_seed(seed) is seed
  var = tf.Variable(0)
  assert distribute.writable(var, tf.distribute.get_strategy()) is var


@pytest.fixture(scope='module')
def compared():
  import cli_zygote
  import tensorflow as tf
  with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
    if tf.config.list_physical_devices('GPU'):  # the comparison is of two logical CPUs
      env['CUDA_VISIBLE_DEVICES'] = ''
    # Forked from the suite's zygote (TensorFlow imported already: ~2 s of CPU less),
    # or a real process where the environment keeps it from forking.
    proc = cli_zygote.run(cli_zygote.script(__file__, tmp),
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(os.path.join(tmp, 'info.json')) as f:
      info = json.load(f)
    arrays = {}
    for name in ('single', 'mirrored'):
      with np.load(os.path.join(tmp, f'{name}.npz'), allow_pickle=False) as data:
        arrays[name] = dict(data)
    yield info, arrays


def test_two_replicas_train_like_one_device(compared):
  info, arrays = compared
  assert info['replicas'] == 2
  single, mirrored = arrays['single'], arrays['mirrored']
  assert sorted(single) == sorted(mirrored)
  weights = [k for k in single if k.startswith('var/')]
  assert len(weights) > 20, weights
  for step in range(UPDATES):
    np.testing.assert_allclose(
        mirrored[f'loss/{step}'], single[f'loss/{step}'], rtol=1e-4, atol=1e-5)
  # The normaliser statistics are ~1e-5 after two updates of an untrained agent:
  # compare them relatively (local percentiles per replica would be ~4% off). Such
  # returns are the official two-hot sum's rounding at init, whose values depend on
  # the compiled batch shape (2 rows per replica vs 4): 3.7e-4 apart measured.
  norm = [k for k in single if k.endswith(('/retnorm/lo', '/retnorm/hi'))]
  assert len(norm) == 2, norm
  for k in norm:
    assert single[k] != 0, k
    np.testing.assert_allclose(mirrored[k], single[k], rtol=2e-3, atol=1e-10, err_msg=k)
  moved = 0
  for k in sorted(single):
    np.testing.assert_allclose(mirrored[k], single[k], rtol=1e-4, atol=1e-5, err_msg=k)
    if k.startswith('var/') and k in info['initial_differs']:
      moved += 1
  # The updates really changed the weights (a zero update would agree trivially).
  assert moved > 20, info['initial_differs']
  assert info['updates'] == UPDATES


def test_replica_copies_stay_identical(compared):
  info, _ = compared
  assert info['copy_mismatch'] == [], info['copy_mismatch']


def test_replicas_draw_independent_noise(compared):
  info, _ = compared
  seeds = info['replica_seeds']
  assert len(seeds) == 2 and seeds[0] != seeds[1], seeds


def test_batch_not_divisible_by_replicas_fails_clearly(compared):
  info, _ = compared
  assert 'batch size 3 is not divisible by the 2 replicas' in info['divisible_error']


def test_policy_traces_and_bfloat16_under_mirrored(compared):
  info, _ = compared
  assert info['train_traces'] == 1
  assert info['policy_ok']
  assert info['bfloat16_loss_finite']


# --- the subprocess -------------------------------------------------------------------

def _weights(agent):
  """The Keras weights of every model, the slow critic and the return normaliser."""
  model = agent.model
  layers = [*model.modules, model.slowval, model.retnorm]
  return [v for layer in layers for v in layer.weights]


def _worker(outdir):
  """Trains one agent on one device and one under MirroredStrategy(2 CPUs)."""
  sys.path.insert(0, ROOT)
  sys.path.insert(0, HERE)
  from dreamerv3_tf import tfimport
  tf = tfimport.load(owned=True)  # as main imports it (collector paused): ~1.5 s less CPU
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
  from agent import conftest as h  # tests/agent/conftest.py: debug config and batches
  from dreamerv3_tf import distribute
  from dreamerv3_tf import factories
  from dreamerv3_tf.agent import dists

  # Fixed noise (see the module docstring).
  dists.uniform = lambda shape, seed: tf.fill(shape, tf.constant(0.5, tf.float32))
  dists.normal = lambda shape, seed: tf.zeros(shape, tf.float32)

  def config(name, dtype='float32', jit=True):
    c = h.make_config(jit=jit)
    c.distribute, c.compute_dtype = name, dtype
    # An eps well above rounding noise makes the first LaProp step g / (|g| + eps)
    # smooth in g (with 1e-20 it is sign(g), which flips on tiny gradients).
    c.agent.opt.update(warmup=0, lr=1e-3, eps=1e-4)
    # A fast return normaliser whose scale is not clipped at 1: its statistics
    # (percentiles over the whole batch) then show in the weights and the losses.
    c.agent.retnorm.update(rate=0.5, limit=1e-3)
    return c

  obs_space, act_space = h.make_spaces('vector', 'disc')
  rng = np.random.default_rng(0)
  probe = factories.make_agent(config('default'), obs_space, act_space)
  T = h.train_length(probe)
  batches = [h.make_batch(probe, T, rng) for _ in range(UPDATES)]
  initial = {f'var/{i:03d}/{v.path}': v.numpy() for i, v in enumerate(_weights(probe))}
  info = {}

  def run(name, label, jit):
    agent = factories.make_agent(config(name, jit=jit), obs_space, act_space)
    carry = agent.init_train(agent.config.batch_size)
    out = {}
    for step, batch in enumerate(batches):
      carry, outs, mets = agent.train(carry, batch)
      out[f'loss/{step}'] = np.float32(mets['loss/total'])
      for k in ('loss/dyn', 'loss/rep', 'loss/policy', 'loss/value', 'retnorm/scale',
                'opt/grad_norm', 'opt/update_norm', 'opt/updates'):
        out[f'metric/{k}/{step}'] = np.float32(mets[k])
      for k, v in outs['replay'].items():
        out[f'outs/{k}/{step}'] = v
    for k, v in carry.items():
      out[f'carry/{k}'] = v
    for i, v in enumerate(_weights(agent)):   # optimizer slots and counters below
      out[f'var/{i:03d}/{v.path}'] = np.asarray(v.numpy())
    for k in agent.opt.mu:
      out[f'slot/mu/{k}'] = agent.opt.mu[k].numpy()
      out[f'slot/nu/{k}'] = agent.opt.nu[k].numpy()
    for name_ in ('train_calls', 'slowval_updates'):
      out[f'counter/{name_}'] = np.asarray(getattr(agent, name_).numpy())
    np.savez(os.path.join(outdir, f'{label}.npz'), **out)
    return agent, out

  # The reference runs eagerly: XLA would only add its own rounding (and ~30 s of
  # compiling) to a comparison of the distribution logic.
  _, single = run('default', 'single', jit=False)
  agent, _ = run('mirrored', 'mirrored', jit=True)
  strategy = agent.strategy
  info['replicas'] = strategy.num_replicas_in_sync
  info['updates'] = int(agent.opt.step.numpy())
  info['train_traces'] = agent.trace_counts['train']
  info['initial_differs'] = [
      k for k, v in initial.items() if not np.allclose(single[k], v, rtol=0, atol=1e-7)]
  mismatch = []
  for v in [w.value for w in _weights(agent)] + list(agent.variables):
    copies = strategy.experimental_local_results(v)
    if len(copies) != 2 or not all(np.array_equal(copies[0].numpy(), c.numpy())
                                   for c in copies[1:]):
      mismatch.append(v.name)
  for slot in list(agent.opt.mu.values()) + list(agent.opt.nu.values()):
    a, b = strategy.experimental_local_results(slot)
    if not np.array_equal(a.numpy(), b.numpy()):
      mismatch.append(slot.name)
  # The policy counter is written on the first copy only (see distribute.writable).
  info['copy_mismatch'] = [n for n in mismatch if 'policy_calls' not in n
                           and 'report_calls' not in n]

  seeds = strategy.run(tf.function(
      lambda: distribute.replica_seed(tf.constant([1, 2], tf.int64)), autograph=False))
  info['replica_seeds'] = [s.numpy().tolist()
                           for s in strategy.experimental_local_results(seeds)]

  small = h.make_batch(agent, T, rng, B=3)
  try:
    agent.train(agent.init_train(3), small)
    info['divisible_error'] = ''
  except ValueError as e:
    info['divisible_error'] = str(e)

  carry, act, _ = agent.policy(agent.init_policy(3), h.random_obs(obs_space, (3,), rng))
  info['policy_ok'] = bool(act['action'].shape == (3,))

  # Mixed precision composes with the strategy (eager strategy.run: no tracing).
  bf16 = factories.make_agent(config('mirrored', 'bfloat16', jit=False), obs_space, act_space)
  _, _, mets = bf16.train(bf16.init_train(4), batches[0])
  info['bfloat16_loss_finite'] = bool(np.isfinite(mets['loss/total']))

  with open(os.path.join(outdir, 'info.json'), 'w') as f:
    json.dump(info, f)


if __name__ == '__main__':
  _worker(sys.argv[1])


def test_worker_role_from_tf_config():
  import json
  from dreamerv3_tf import cluster_config
  from dreamerv3_tf import distribute
  cluster = {'worker': ['a:1', 'b:1', 'c:1']}
  text = lambda task, cluster=cluster: json.dumps({'cluster': cluster, 'task': task})
  role = lambda task, cluster=cluster: cluster_config.worker_role(text(task, cluster))
  assert cluster_config.worker_role('') == (True, 0)
  assert role({'type': 'worker', 'index': 0}) == (True, 0)
  assert role({'type': 'worker', 'index': 2}) == (False, 2)
  assert distribute.worker_address(2, text({'type': 'worker', 'index': 0})) == 'c:1'
  # With a chief task, the chief is number 0 and the workers follow it.
  with_chief = {**cluster, 'chief': ['d:1']}
  assert role({'type': 'worker', 'index': 0}, with_chief) == (False, 1)
  assert role({'type': 'chief', 'index': 0}, with_chief) == (True, 0)
  assert distribute.worker_address(1, text({'type': 'chief', 'index': 0}, with_chief)) == 'a:1'
  with pytest.raises(ValueError, match='TF_CONFIG is not valid'):
    cluster_config.worker_role('{"task": 3}')
  local = distribute.local_cluster(2)
  assert [cluster_config.worker_role(t) for t in local] == [(True, 0), (False, 1)]
  ports = {distribute.worker_address(i, local[0]) for i in range(2)}
  assert len(ports) == 2 and all(p.startswith('127.0.0.1:') for p in ports)


def test_lost_worker_names_the_other_process():
  import json
  import tensorflow as tf
  from dreamerv3_tf import distribute
  from dreamerv3_tf.core import errors
  tf_config = json.dumps({'cluster': {'worker': ['127.0.0.1:5000', '127.0.0.1:5001']},
                          'task': {'type': 'worker', 'index': 0}})
  # The texts TensorFlow 2.21 raised in our runs: a peer killed mid-collective, and
  # the coordination service's abort after the peer's heartbeats stopped.
  reset = ('Graph execution error:\n\nCollective ops is aborted by: recvmsg:Connection '
           'reset by peer\nAdditional GRPC error information from remote target '
           '/job:worker/replica:0/task:1 while calling /tensorflow.WorkerService/RecvBuf:')
  heartbeat = ('Collective ops is aborted by: Error reported from /job:worker/task:1: The '
               'following tasks are unhealthy (stopped sending heartbeats):')
  # A third worker's relayed abort: it read '( Collective ops is aborted by: Collective
  # ops is aborted by: Socket closed)' (3 workers, one killed).
  relayed = ('Graph execution error:\n\n{{function_node __inference_train_4}} Collective ops '
             'is aborted by: Collective ops is aborted by: Socket closed\nAdditional GRPC '
             'error information from remote target /job:worker/replica:0/task:1')
  for text in (reset, heartbeat, relayed):
    error = distribute.lost_worker(tf.errors.UnavailableError(None, None, text), tf_config)
    message = str(error)
    assert message.startswith('lost worker 1 (127.0.0.1:5001) of the multi_worker run (')
    assert '\n' not in message and message.count('Collective ops is aborted by: ') == 1
    assert errors.one_line(error) == message  # (the line main prints: nothing dropped)
  assert distribute.lost_worker(ValueError('x'), tf_config) is None
  assert distribute.lost_worker(tf.errors.InvalidArgumentError(None, None, 'x'),
                                tf_config) is None


def test_non_chief_workers_write_only_their_logs(monkeypatch, tmp_path):
  import json
  from configs import dmc
  from dreamerv3_tf.run import common
  monkeypatch.setenv('TF_CONFIG', json.dumps(
      {'cluster': {'worker': ['a:1', 'b:1']}, 'task': {'type': 'worker', 'index': 1}}))
  config = dmc.get_config('debug')
  config.update_from_flattened_dict({'distribute': 'multi_worker', 'logdir': str(tmp_path)})
  assert common.worker(config) == (False, 1, f'{tmp_path}/workers/1')
  config.distribute = 'default'
  assert common.worker(config) == (True, 0, str(tmp_path))


def test_workers_compare_the_run_they_see_not_their_logdir_strings(tmp_path):
  """Hosts that mount the shared storage at other paths were refused as started with
  other flags (logdir=...). Now each process's logdir may differ, and what it sees there
  is compared: the checkpoint it resumes (and its contents), the same directory for two
  processes of one host, the same URL for a gs:// logdir."""
  from dreamerv3_tf import run_files
  from dreamerv3_tf import same_run
  from configs import dmc
  run, other = tmp_path / 'nfs' / 'run1', tmp_path / 'other' / 'run1'
  for logdir, contents in ((run, b'index of 40'), (other, b'index of another 40')):
    (logdir / 'ckpt').mkdir(parents=True)
    (logdir / 'ckpt' / 'ckpt-40.index').write_bytes(contents)
  (tmp_path / 'shared').symlink_to(tmp_path / 'nfs')  # host2's mount of the same run
  mounted = tmp_path / 'shared' / 'run1'
  ckpt = lambda logdir: f'{logdir}/ckpt/ckpt-40'
  mine = same_run.seen(str(run), ckpt(run))
  host2 = lambda view: {**view, 'host': 'host2'}
  # The same path, or another path to the same run (another host, or this one).
  assert same_run.difference(same_run.seen(str(run), ckpt(run)), mine) is None
  assert same_run.difference(host2(same_run.seen(str(mounted), ckpt(mounted))), mine) is None
  assert same_run.difference(same_run.seen(str(mounted), ckpt(mounted)), mine) is None
  assert same_run.difference(host2(same_run.seen('/x/new', None)),
                             same_run.seen(str(run / 'new'), None)) is None
  tail = ('; give every worker the same run (its logdir where each host mounts the shared '
          'storage) and the same run.resume_from')
  # Another run seen: none, or a checkpoint of other contents, or another one chosen.
  assert same_run.difference(host2(same_run.seen('/shared/run1', None)), mine) == (
      f'sees no checkpoint in its logdir /shared/run1, this process resumes ckpt-40 from '
      f'{run}' + tail)
  assert same_run.difference(host2(same_run.seen(str(other), ckpt(other))), mine) == (
      f'resumes a ckpt-40 of other contents from its logdir {other}, this process resumes '
      f'ckpt-40 from {run}' + tail)
  (run / 'ckpt' / 'ckpt-30.index').write_bytes(b'index of 30')
  chosen = same_run.seen(str(mounted), f'{mounted}/ckpt/ckpt-30', 'ckpt-30')
  assert same_run.difference(host2(chosen), mine) == (
      f'resumes ckpt-30 (run.resume_from) from its logdir {mounted}, this process resumes '
      f'ckpt-40 from {run}' + tail)
  # One host, two directories (the same run on other hosts would not tell).
  assert same_run.difference(same_run.seen(str(other), ckpt(run)), mine) == (
      f'runs on this host ({mine["host"]}) in its logdir {other}, this process in {run}, '
      'which is another directory; give every worker the same run: the same logdir, or '
      'where its host mounts the shared storage')
  # A URL is the same place on every host, its own string.
  assert same_run.difference(host2(same_run.seen('gs://b/run1/', None)),
                             same_run.seen('gs://b/run1', None)) is None
  assert same_run.difference(host2(same_run.seen('gs://b/run2', None)),
                             same_run.seen('gs://b/run1', None)).startswith(
      'runs in its logdir gs://b/run2, this process in gs://b/run1, which is another place')
  config = dmc.get_config('debug')
  shared = run_files.shared_flags(config)
  assert 'logdir' not in shared and 'run.resume_from' not in shared and 'seed' in shared


def test_other_workers_resume_the_checkpoint_run_resume_from_names(tmp_path):
  """They loaded the latest, while the chief resumed the one run.resume_from names (its
  newer ones damaged): another agent in each process, or the damaged one refused."""
  from dreamerv3_tf import checkpoint
  ckpt = tmp_path / 'ckpt'
  ckpt.mkdir()
  for n in (30, 40):
    (ckpt / f'ckpt-{n}.index').write_bytes(b'')
  (ckpt / 'checkpoint').write_text(
      'model_checkpoint_path: "ckpt-40"\nall_model_checkpoint_paths: "ckpt-30"\n'
      'all_model_checkpoint_paths: "ckpt-40"\n')
  assert checkpoint.read_only_resume(str(ckpt)) == f'{ckpt}/ckpt-40'
  assert checkpoint.read_only_resume(str(ckpt), 'ckpt-30') == f'{ckpt}/ckpt-30'
  assert checkpoint.read_only_resume(str(ckpt), f'{ckpt}/ckpt-30.index') == f'{ckpt}/ckpt-30'
  assert checkpoint.read_only_resume(str(tmp_path / 'new')) is None


@pytest.mark.parametrize('stop', ['SIGTERM', 'SIGUSR2'])
def test_a_multi_worker_run_waiting_for_another_process_says_so_and_stops(tmp_path, stop):
  """The other process of its cluster never started (or TF_CONFIG named a wrong host or
  port): the run hung after 'Building the agent', without a word, and SIGTERM did
  nothing: TensorFlow holds the interpreter while it waits for the cluster, so no Python
  signal handler runs. Now the wait is named, and a stop ends it at once (SIGUSR2, a stop
  too, did nothing until the cluster connected). TensorFlow's wait puts its own SIGTERM
  handler in place, which only notes a preemption: SIGTERM 2 s after the line did nothing
  (a flaky failure under load before), and the wait is now Python's."""
  import queue
  import signal
  import threading
  import time
  import cli_zygote
  from dreamerv3_tf import distribute
  tf_config = distribute.local_cluster(2)[0]
  other = distribute.worker_address(1, tf_config)
  logdir = tmp_path / 'run'
  proc = cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={logdir}', '--config.task=dummy_disc_vec', '--config.run.parallel=False',
       '--config.distribute=multi_worker', '--config.logger.outputs=jsonl'],
      cwd=ROOT, env={**os.environ, 'TF_CONFIG': tf_config}, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
  lines = queue.Queue()
  threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
  seen = []
  try:
    while not (seen and seen[-1].startswith('[') and 'Waiting for the other' in seen[-1]):
      try:  # the old code printed 'Building the agent' as its last line, then nothing
        seen.append(lines.get(timeout=60))
      except queue.Empty:
        pytest.fail(f'no line names the wait; the lines were {seen}')
    time.sleep(2)  # (TensorFlow's own SIGTERM handler is in place by then)
    proc.send_signal(getattr(signal, stop))
    try:
      proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
      pytest.fail(f'{stop} did not end the run waiting for its cluster')
  finally:
    proc.kill()
  assert seen[-1].split('] ', 1)[1] == (
      f'Waiting for the other process(es) of the multi_worker run (worker 1 at {other}) to '
      'start with the same command and their own TF_CONFIG task (launchers/multi_worker.sh); '
      'Ctrl-C or SIGTERM ends this one at once, nothing written yet.\n')
  # Its exit code and one line, as every stop of a command (it ended without a word).
  stderr = proc.stderr.read()
  assert proc.returncode == 128 + getattr(signal, stop), stderr[-3000:]
  word = {'SIGTERM': 'Terminated'}.get(
      stop, f"Stopped by {stop} (a scheduler's notice of a job's end?)")
  assert [x for x in stderr.splitlines() if not re.match(r'[IWEF]\d{4} ', x)] == [
      f'{word} while waiting for the other process(es) of the multi_worker run; nothing was '
      'written'], stderr[-3000:]
  assert not logdir.exists()


def test_a_multi_worker_address_this_process_cannot_listen_on_is_named(tmp_path):
  """Its TF_CONFIG task's port held by another process (a worker of an earlier run still
  running): the run stopped with 'Error: Could not start gRPC server', naming neither."""
  import json
  import socket
  import cli_zygote
  with socket.socket() as held:
    held.bind(('127.0.0.1', 0))
    held.listen()
    address = f'127.0.0.1:{held.getsockname()[1]}'
    tf_config = json.dumps({'cluster': {'worker': [address, '127.0.0.1:1']},
                            'task': {'type': 'worker', 'index': 0}})
    logdir = tmp_path / 'run'
    result = cli_zygote.run(
        [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
         f'--logdir={logdir}', '--config.task=dummy_disc_vec', '--config.run.parallel=False',
         '--config.distribute=multi_worker', '--config.logger.outputs=jsonl'],
        cwd=ROOT, env={**os.environ, 'TF_CONFIG': tf_config}, capture_output=True, text=True,
        timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.strip().splitlines()[-1] == (
      f"Config error: this process's address in TF_CONFIG, worker 0 at {address}, cannot be "
      'listened on: another process holds that port (a worker of an earlier run still '
      "running?), or the host is not this machine's; free the port or give another "
      '(launchers/multi_worker.sh)')
  assert not logdir.exists()


def _stopped_workers(logdirs, own):
  """-> (TF_CONFIG texts, [(exit code, stderr lines)]) of a 2-process multi_worker run of
  `logdirs` and per-process flags `own`, which must stop before building the agent."""
  import cli_zygote
  from dreamerv3_tf import distribute
  tf_configs = distribute.local_cluster(2)
  procs = [cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train,debug',
       f'--logdir={logdirs[i]}', '--config.run.parallel=False',
       '--config.distribute=multi_worker', '--config.logger.outputs=jsonl', *own[i]],
      cwd=ROOT, env={**os.environ, 'TF_CONFIG': tf_config}, stdout=subprocess.DEVNULL,
      stderr=subprocess.PIPE, text=True) for i, tf_config in enumerate(tf_configs)]
  try:
    errs = [p.communicate(timeout=180)[1] for p in procs]
  finally:
    for p in procs:
      p.kill()
  return tf_configs, [(p.returncode, _without_cpp_log(err)) for p, err in zip(procs, errs)]


def _without_cpp_log(text):
  """The lines of `text` but TensorFlow's C++ log entries ('E0000 ... failed call to
  cuInit'; one may go on for lines, as the failed gather a stopping peer leaves,
  'Additional GRPC error information ...'): the zygote imported TensorFlow before main
  could set its level, and a real run hides them (test_startup.py). Each of our lines
  starts with one of OUR_LINES."""
  kept, in_entry = [], False
  for line in text.strip().splitlines():
    if re.match(r'[IWEF]\d{4} ', line):
      in_entry = True
    elif line.startswith(OUR_LINES):
      in_entry = False
    if not in_entry:
      kept.append(line)
  return kept


OUR_LINES = ('Config error: ', 'Error: ', 'Warning: ', '[')


def test_workers_started_with_other_flags_stop_with_one_line_naming_them(tmp_path):
  """A worker started with another batch_size trained on without a word, and another
  model size or run.steps, or an env of other spaces, stopped the run as a lost worker
  ('Shape mismatch in the collective', 'Socket closed'). Keys each process sets for
  itself may differ, the logdir too (one given through a symlink here)."""
  from dreamerv3_tf import distribute
  logdir = tmp_path / 'run'
  (tmp_path / 'mount').symlink_to(tmp_path)  # the same run through another path
  own = [['--config.task=dummy_disc_vec'],
         ['--config.task=dummy_cont_vec', '--config.batch_size=8', '--config.run.env_timeout=60']]
  tf_configs, results = _stopped_workers([logdir, tmp_path / 'mount' / 'run'], own)
  values = [{'batch_size': '4', 'task': "'dummy_disc_vec'",
             'action': 'Space(int32, shape=(), low=0, high=4)'},
            {'batch_size': '8', 'task': "'dummy_cont_vec'",
             'action': 'Space(float32, shape=(2,), low=-1.0, high=1.0)'}]
  for number, (code, lines) in enumerate(results):
    other = 1 - number
    there, here = values[other], values[number]
    assert code == 2, lines
    assert lines == [
        f'Config error: worker {other} ({distribute.worker_address(other, tf_configs[0])}) '
        'of the multi_worker run was started with other flags or env spaces than this '
        f"process (batch_size={there['batch_size']} there, {here['batch_size']} here; "
        f"task={there['task']} there, {here['task']} here; action 'action' "
        f"{there['action']} there, {here['action']} here); start every worker with the "
        'same command and its own TF_CONFIG (launchers/multi_worker.sh)'], lines
  assert not logdir.exists()


def test_workers_of_one_host_in_other_logdirs_stop_with_one_line_naming_both(tmp_path):
  """Each process may name the run as its host mounts it, but two of one host that see
  other directories run two runs: every process stops, before anything is written."""
  from dreamerv3_tf import distribute
  import socket
  logdirs = [tmp_path / 'a', tmp_path / 'b']
  tf_configs, results = _stopped_workers(logdirs, [[], []])
  for number, (code, lines) in enumerate(results):
    other = 1 - number
    assert code == 2, lines
    assert lines == [
        f'Config error: worker {other} ({distribute.worker_address(other, tf_configs[0])}) '
        f'of the multi_worker run runs on this host ({socket.gethostname()}) in its logdir '
        f'{logdirs[other]}, this process in {logdirs[number]}, which is another directory; '
        'give every worker the same run: the same logdir, or where its host mounts the '
        'shared storage'], lines
  assert not any(x.exists() for x in logdirs)
