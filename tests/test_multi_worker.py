"""Two real worker processes on 127.0.0.1 train the debug agent with
MultiWorkerMirroredStrategy (`--config.distribute=multi_worker`, TF_CONFIG per process).

One story serves every test, so that the suite starts as few clusters as it can: a
run from scratch whose worker 1 is killed mid-run (the chief must stop with one line),
then both restarted to finish. Both run `python -m dreamerv3_tf.main` unchanged
through tests/recorded_run.py, which records every batch each worker of the restart
trained on and its final weights. The same batches are then replayed in one process
under MirroredStrategy over two logical CPUs, from the checkpoint the restart resumed.
Processes are ended by their ids when the story ends, whether it passed or not.
"""

import json
import os
import signal
import time
import types

import numpy as np
import pytest

import cli_zygote

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAVE_EVERY = 20
KILL_AFTER = 60      # env steps per worker saved before the kill: training starts at ~40
RESTART_STEPS = 40   # env steps per worker after the restart: ~20 updates
FLAGS = {
    'distribute': 'multi_worker', 'task': 'dummy_disc_vec', 'env.dummy.length': 20,
    'run.parallel': False, 'run.deterministic': True, 'run.clock': 'steps',
    'run.log_every': SAVE_EVERY, 'run.report_every': 10 ** 6, 'run.save_every': SAVE_EVERY,
    'run.keep_checkpoints': 10, 'logger.outputs': 'jsonl'}
# Counters the comparison with a one-process run skips: acting is not replayed there.
ACTING = ('var/policy_calls', 'var/report_calls')
# `python tests/recorded_run.py ARGS` as the suite's zygote forks it (tests/cli_zygote.py):
# TensorFlow is imported already, ~2 s of CPU less for each of the story's 5 processes.
# Where the environment differs in what TensorFlow reads as it loads, cli_zygote starts
# it as a real process, the same command.
RECORDED_RUN = os.path.join(HERE, 'recorded_run.py')


def process_env(**extra):
  """The story's environment: this worker's, on the CPU (a GPU, if TensorFlow sees one,
  hidden: the replay compares with two logical CPUs), quiet as the suite's."""
  import tensorflow as tf
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', **extra)
  if tf.config.list_physical_devices('GPU'):
    env['CUDA_VISIBLE_DEVICES'] = ''
  return env


class Cluster:
  """Worker processes of one run; output in files; ended by pid on close."""

  def __init__(self, logdir, record, steps):
    self.logdir, self.record, self.steps = str(logdir), str(record), steps
    self.procs, self.files = [], []

  def start(self, workers=2):
    from dreamerv3_tf import distribute
    tf_configs = distribute.local_cluster(workers)
    self.addresses = json.loads(tf_configs[0])['cluster']['worker']
    flags = {**FLAGS, 'run.steps': self.steps}
    os.makedirs(self.record, exist_ok=True)
    for index, tf_config in enumerate(tf_configs):
      env = process_env(TF_CONFIG=tf_config)
      cmd = cli_zygote.script(RECORDED_RUN, 'record', self.record,
                              '--config=configs/dmc.py:train,debug', f'--logdir={self.logdir}',
                              *[f'--config.{k}={v}' for k, v in flags.items()])
      out, err = [open(os.path.join(self.record, f'worker{index}.{x}'), 'w')
                  for x in ('out', 'err')]
      self.files += [out, err]
      self.procs.append(cli_zygote.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=err))
    self.started = time.time()
    return self

  def output(self, index):
    """(stdout, stderr) of worker `index` so far."""
    return tuple(open(os.path.join(self.record, f'worker{index}.{x}')).read()
                 for x in ('out', 'err'))

  def wait(self, timeout):
    deadline = time.time() + timeout
    for p in self.procs:
      p.wait(timeout=max(1, deadline - time.time()))
    return [(p.returncode, *self.output(i)) for i, p in enumerate(self.procs)]

  def close(self):
    for p in self.procs:
      if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
      p.wait()
    for f in self.files:
      f.close()


def load(path):
  with np.load(path, allow_pickle=False) as data:
    return {k: data[k] for k in data.files}


def weights(arrays):
  return {k: v for k, v in arrays.items() if k.startswith('var/')}


def checkpoint_weights(path):
  import tensorflow as tf
  reader = tf.train.load_checkpoint(path)
  suffix = '/.ATTRIBUTES/VARIABLE_VALUE'
  return {'var/' + k[len('agent/'):-len(suffix)]: reader.get_tensor(k)
          for k in reader.get_variable_to_shape_map()
          if k.startswith('agent/') and k.endswith(suffix)}


def latest(logdir):
  import tensorflow as tf
  return tf.train.latest_checkpoint(os.path.join(logdir, 'ckpt'))


def check_ok(results):
  for number, (code, out, err) in enumerate(results):
    assert code == 0, f'worker {number} exited {code}:\n{out[-2000:]}\n{err[-3000:]}'


@pytest.fixture(scope='module')
def story(tmp_path_factory):
  """The run from scratch with its kill, the restart, and the mirrored replay."""
  tmp = tmp_path_factory.mktemp('multi_worker')
  logdir, out = tmp / 'run', types.SimpleNamespace()
  first = Cluster(logdir, tmp / 'first', 10 ** 6)
  try:
    first.start()
    deadline = time.time() + 300
    while True:
      path = latest(str(logdir)) if (logdir / 'ckpt').is_dir() else None
      if path and loop_step(path) >= KILL_AFTER:
        break
      assert time.time() < deadline, first.output(0)
      for i, p in enumerate(first.procs):
        assert p.poll() is None, first.output(i)
      time.sleep(0.2)
    out.peers = tcp_peers(first.procs[0].pid) | tcp_peers(first.procs[1].pid)
    # Kill worker 1 mid-run: the chief must stop on its own with one line naming it.
    os.kill(first.procs[1].pid, signal.SIGKILL)
    killed = time.time()
    chief = first.procs[0]
    # Bound: the coordination service declares a silent peer dead after 10 s of
    # missed heartbeats, and the chief's next update (within a second here) fails.
    chief.wait(timeout=90)
    out.stopped = time.time() - killed
    out.chief = (chief.returncode, *first.output(0))
    out.addresses = first.addresses
  finally:
    first.close()
  # Both restarted: they resume from the chief's last checkpoint and finish together.
  out.saved = latest(str(logdir))
  out.step = loop_step(out.saved)
  record = tmp / 'record'
  again = Cluster(logdir, record, out.step + RESTART_STEPS)
  try:
    out.again = again.start().wait(timeout=300)
  finally:
    again.close()
  check_ok(out.again)
  proc = cli_zygote.run(
      cli_zygote.script(RECORDED_RUN, 'replay', str(logdir), str(record), out.saved),
      cwd=ROOT, env=process_env(), capture_output=True, text=True, timeout=240)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out.logdir = logdir
  out.arrays = {name: load(record / f'{name}.npz') for name in ('worker0', 'worker1', 'mirrored')}
  return out


def test_workers_train_on_their_own_data_and_stay_identical(story):
  w0, w1 = story.arrays['worker0'], story.arrays['worker1']
  batches = sorted({k.split('/')[1] for k in w0 if k.startswith('batch/')})
  assert len(batches) >= 10, batches
  resumed_at = int(checkpoint_weights(story.saved)['var/opt/step'])
  assert resumed_at > 0 and int(w0['var/opt/step']) == resumed_at + len(batches)
  # Each process seeds its envs and action noise with its number: other data.
  differs = [k for k in w0 if k.startswith('batch/') and k.endswith('/vector')
             and not np.array_equal(w0[k], w1[k])]
  assert len(differs) == len(batches)
  # Identical programs on identical weights and the same all-reduced gradients, on
  # one machine: the copies must agree bit for bit (any drift would mean divergence).
  assert sorted(weights(w0)) == sorted(weights(w1))
  unequal = [k for k in weights(w0) if not np.array_equal(w0[k], w1[k])]
  assert unequal == []


def test_workers_equal_one_process_with_two_replicas(story):
  w0, mirrored = weights(story.arrays['worker0']), weights(story.arrays['mirrored'])
  assert sorted(w0) == sorted(mirrored)
  compared = [k for k in w0 if k not in ACTING]
  assert len(compared) > 50, compared
  # Same batches, same per-replica graphs and the same two gradients summed; only
  # the all-reduce implementations differ (gRPC ring vs. reduction on one device),
  # which may round a mean differently in the last bit: ~20 updates of Adam-like
  # steps keep that far below 1e-5 relative.
  for k in compared:
    np.testing.assert_allclose(w0[k], mirrored[k], rtol=1e-5, atol=1e-6, err_msg=k)
  # The updates really moved the weights (a run without updates would agree trivially).
  resumed_at = int(checkpoint_weights(story.saved)['var/opt/step'])
  assert int(mirrored['var/opt/step']) >= resumed_at + 10


def test_only_the_chief_writes_the_run(story):
  logdir, arrays = story.logdir, story.arrays
  assert (logdir / 'config.json').is_file() and (logdir / 'spaces.json').is_file()
  path = latest(str(logdir))
  assert path is not None
  assert sorted(os.listdir(logdir / 'workers')) == ['1']
  # The other worker logs its own episodes, and writes nothing else.
  assert sorted(os.listdir(logdir / 'workers' / '1')) == ['metrics.jsonl', 'scores.jsonl']
  # The run's last checkpoint holds the weights both workers ended with.
  saved = checkpoint_weights(path)
  final = weights(arrays['worker0'])
  assert sorted(saved) == sorted(final)
  for k, v in final.items():
    np.testing.assert_array_equal(saved[k], v, err_msg=k)


def tcp_peers(pid):
  """Remote addresses (hex, as in /proc/net/tcp*) of the established TCP sockets of `pid`."""
  inodes = set()
  for fd in os.listdir(f'/proc/{pid}/fd'):
    try:
      link = os.readlink(f'/proc/{pid}/fd/{fd}')
    except OSError:  # closed meanwhile
      continue
    if link.startswith('socket:['):
      inodes.add(link[len('socket:['):-1])
  peers = set()
  for name in ('tcp', 'tcp6'):
    for line in open(f'/proc/{pid}/net/{name}').read().splitlines()[1:]:
      fields = line.split()
      if fields[9] in inodes and fields[3] == '01':  # ESTABLISHED
        peers.add(fields[2].split(':')[0])
  return peers


def is_loopback(hex_address):
  """127.0.0.0/8, ::1 or ::ffff:127.x.y.z, from /proc/net's little-endian hex."""
  if len(hex_address) == 8:
    return int(hex_address, 16) & 0xFF == 127
  if hex_address == '00000000000000000000000001000000':
    return True
  return (hex_address[:24] == '0000000000000000FFFF0000'
          and int(hex_address[24:], 16) & 0xFF == 127)


def loop_step(path):
  import tensorflow as tf
  state = tf.train.load_checkpoint(path).get_tensor('loop/.ATTRIBUTES/py_state')
  return json.loads(state)['step']


def test_killed_worker_stops_the_other_and_both_resume(story):
  # The workers talk over loopback only (TensorFlow listens on every interface).
  assert story.peers and all(is_loopback(p) for p in story.peers), story.peers
  code, _, err = story.chief
  assert code == 1, err[-3000:]
  last = err.strip().splitlines()[-1]
  assert last.startswith(
      f'Error: lost worker 1 ({story.addresses[1]}) of the multi_worker run'), err[-3000:]
  assert 'Traceback' not in err
  assert story.stopped < 60
  assert story.step >= KILL_AFTER
  for _, out, _ in story.again:
    assert f'Resumed from {story.saved} at step {story.step}.' in out
  end = loop_step(latest(str(story.logdir)))
  assert end >= story.step + RESTART_STEPS
  print(f'\nmulti_worker faults: worker 1 killed at step >= {story.step} -> chief stopped '
        f'after {story.stopped:.1f} s; restart from step {story.step} to {end}')
