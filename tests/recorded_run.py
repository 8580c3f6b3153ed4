"""Runs for tests/test_multi_worker.py: a real training run that records what it
trained on, and the same updates replayed under MirroredStrategy in one process.

  python tests/recorded_run.py record OUT [main flags...]
      Runs `python -m dreamerv3_tf.main [main flags...]` unchanged, and also writes
      OUT/worker<N>.npz (N: this process's number in the cluster) with every batch
      this process passed to `agent.train` (`batch/<i>/<key>`) and, after the run,
      every agent variable under its checkpoint name (`var/<name>`).
  python tests/recorded_run.py replay LOGDIR OUT [CHECKPOINT]
      Rebuilds the agent of LOGDIR (its config.json and spaces.json) under
      MirroredStrategy over one logical CPU device per recorded worker, loads the
      agent of CHECKPOINT if given (the one the recorded run resumed), trains it on
      the recorded batches (row blocks in worker order: replica i gets worker i's
      rows), and writes OUT/mirrored.npz (`var/<name>`).

Recording wraps the agent from the outside (factories.make_agent and the run
script), so the production code runs exactly as `dreamerv3_tf.main` runs it.
"""

import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def agent_arrays(agent):
  """{'var/<checkpoint name>': value} of every agent variable (first local copy)."""
  from dreamerv3_tf import checkpoint
  return {f'var/{name}': np.asarray(var.numpy())
          for name, var in checkpoint._agent_variables(agent).items()}


def record(out, argv):
  from dreamerv3_tf import cluster_config
  from dreamerv3_tf import factories
  from dreamerv3_tf import main
  from dreamerv3_tf.run import train_eval
  made, batches = [], []
  make_agent, run = factories.make_agent, train_eval.train_eval

  def recording_make_agent(*args, **kwargs):
    agent = make_agent(*args, **kwargs)
    train = agent.train

    def recording_train(carry, batch):
      batches.append({k: np.array(v) for k, v in batch.items()})
      return train(carry, batch)

    agent.train = recording_train
    made.append(agent)
    return agent

  def recording_run(config, evaluate=True, **kwargs):
    result = run(config, evaluate, **kwargs)
    arrays = agent_arrays(made[0])
    for i, batch in enumerate(batches):
      arrays.update({f'batch/{i:04d}/{k}': v for k, v in batch.items()})
    number = cluster_config.worker_role()[1]
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f'worker{number}.npz')
    np.savez(path + '.tmp.npz', **arrays)
    os.replace(path + '.tmp.npz', path)
    return result

  factories.make_agent, train_eval.train_eval = recording_make_agent, recording_run
  sys.argv = [sys.argv[0], *argv]
  main.entry()


def replay(logdir, out, checkpoint=None):
  files = sorted(glob.glob(os.path.join(out, 'worker*.npz')))
  records = []
  for path in files:
    with np.load(path, allow_pickle=False) as data:
      records.append({k: data[k] for k in data.files if k.startswith('batch/')})
  from dreamerv3_tf import tfimport
  tf = tfimport.load(owned=True)  # as main imports it (collector paused): ~1.5 s less CPU
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * len(records))
  from dreamerv3_tf import factories
  from dreamerv3_tf import run_files
  with open(os.path.join(logdir, 'config.json')) as f:
    config = run_files.from_json(f.read())
  if config.run.deterministic:
    tf.config.experimental.enable_op_determinism()
  with config.unlocked():
    config.distribute = 'mirrored'
    config.batch_size *= len(records)
  agent = factories.make_agent(config, *run_files.load_spaces(logdir))
  if checkpoint:
    from dreamerv3_tf import checkpoint as checkpointing
    checkpointing.load_agent(agent, checkpoint)
  steps = sorted({k.split('/')[1] for k in records[0]})
  for record_ in records:
    if sorted({k.split('/')[1] for k in record_}) != steps:
      raise SystemExit(f'the workers recorded different numbers of updates: {files}')
  carry = agent.init_train(config.batch_size)
  for step in steps:
    keys = [k[len(f'batch/{step}/'):] for k in records[0] if k.startswith(f'batch/{step}/')]
    batch = {k: np.concatenate([r[f'batch/{step}/{k}'] for r in records]) for k in keys}
    carry, _, _ = agent.train(carry, batch)
  np.savez(os.path.join(out, 'mirrored.npz'), **agent_arrays(agent))


if __name__ == '__main__':
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  if len(sys.argv) >= 3 and sys.argv[1] == 'record':
    record(sys.argv[2], sys.argv[3:])
  elif len(sys.argv) in (4, 5) and sys.argv[1] == 'replay':
    replay(*sys.argv[2:])
  else:
    raise SystemExit(__doc__)
