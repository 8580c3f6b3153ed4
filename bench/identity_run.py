"""Behaviour identity of two checkouts: the same deterministic computations, compared.

  git archive main | tar -x -C /tmp/ref_main
  python bench/identity_run.py record /tmp/ref_main /tmp/identity/before.npz
  python bench/identity_run.py record . /tmp/identity/after.npz
  python bench/identity_run.py compare /tmp/identity/before.npz /tmp/identity/after.npz

`record ROOT OUT` runs code of the checkout ROOT (PYTHONPATH=ROOT, its own configs):

  --variant=run (default): `python -m dreamerv3_tf.main` for 400 steps of
    train_eval,debug on dummy_disc_vec with env worker processes, reports and saves,
    under `run.deterministic=True` and the steps clock, so two runs of the same code
    give the same numbers. Kept: every value of metrics.jsonl except timings and
    process figures (fps/, usage/), every line of scores.jsonl, every variable of the
    final checkpoint (agent, loop state, replay states without their random chunk
    names) and the contents of both replays restored from it.
  --variant=images: image observations, which a deterministic run cannot have (under
    op determinism TensorFlow has no XLA kernel for the encoder's MaxPool gradient):
    the debug agent with a 16x16 image and a vector, in this process, trained on 4
    fixed random batches, reported on through run.common.report (the open-loop videos
    as logged) and asked for policy actions. Kept: the metrics, the video pixels,
    the actions and all agent variables afterwards.

`compare A B` prints the keys present in only one of them and every value that is
not bit-identical, and exits 1 if there is any; else prints what it compared.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

STEPS = 400
FLAGS = {
    'env.dummy.length': 20, 'run.parallel': True, 'run.clock': 'steps',
    'run.log_every': 50, 'run.report_every': 100, 'run.save_every': 200,
    'logger.outputs': 'jsonl,tensorboard', 'run.steps': STEPS}
# Figures of the machine and the process, not of the computation.
VOLATILE = ('fps/', 'usage/', 'timer/')
VARIANTS = ('run', 'images')


def run(root, logdir):
  root = os.path.abspath(root)
  flags = {**FLAGS, 'task': 'dummy_disc_vec', 'run.deterministic': True}
  command = [
      sys.executable, '-m', 'dreamerv3_tf.main',
      '--config=configs/dmc.py:train_eval,debug', f'--logdir={logdir}'] + [
          f'--config.{k}={v}' for k, v in flags.items()]
  env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
  if result.returncode:
    sys.exit(f'identity_run: the run in {root} failed:\n{result.stderr[-4000:]}')


def collect(logdir):
  """Runs inside the recorded checkout (PYTHONPATH=ROOT): its own Replay reads its
  checkpoint, so the comparison does not depend on either side's file format."""
  import tensorflow as tf
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import factories
  from dreamerv3_tf import run_files
  out = {}
  for name, prefix in (('metrics.jsonl', 'metrics'), ('scores.jsonl', 'scores')):
    with open(os.path.join(logdir, name)) as f:
      lines = [json.loads(line) for line in f if line.strip()]
    for i, line in enumerate(lines):
      tag = line['step'] if prefix == 'metrics' else i
      for key, value in line.items():
        if not key.startswith(VOLATILE):
          out[f'{prefix}/{tag}/{key}'] = np.asarray(value)
  for path in tf.io.gfile.glob(os.path.join(logdir, 'tb', 'events.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        if value.HasField('image'):
          out[f'video/{event.step}/{value.tag}'] = np.frombuffer(
              value.image.encoded_image_string, np.uint8)
  ckpt = tf.train.latest_checkpoint(os.path.join(logdir, 'ckpt'))
  reader = tf.train.load_checkpoint(ckpt)
  for key in reader.get_variable_to_shape_map():
    value = reader.get_tensor(key)
    if key.endswith('.ATTRIBUTES/VARIABLE_VALUE'):
      out[f'ckpt/{key}'] = value
    elif key.endswith('py_state'):
      # Replay states name their chunks by random nonces and file names: dropped
      # here, the contents are compared below.
      state = _without(json.loads(value), ('key', 'file', 'files', 'selector_file'))
      out[f'ckpt/{key}'] = np.frombuffer(json.dumps(state, sort_keys=True).encode(), np.uint8)
  with open(os.path.join(logdir, 'config.json')) as f:
    config = run_files.from_json(f.read())
  replays = {f'replay_{m}': factories.make_replay(config, m) for m in ('train', 'eval')}
  checkpointing.Checkpoint(os.path.join(logdir, 'ckpt'), replays=replays).load(ckpt)
  for name, replay in replays.items():
    for key, value in replay.dump().items():
      if key != 'stepid':  # holds the chunk nonce
        out[f'replay/{name}/{key}'] = value
  return out


def _without(tree, names):
  if isinstance(tree, dict):
    return {k: _without(v, names) for k, v in tree.items() if k not in names}
  if isinstance(tree, list):
    return [_without(v, names) for v in tree]
  return tree


def images():
  """The `images` variant, inside the recorded checkout: -> {name: array}."""
  import tensorflow as tf
  from configs import dmc
  from dreamerv3_tf import factories
  from dreamerv3_tf.core.spaces import Space
  from dreamerv3_tf.run import common
  config = dmc.get_config('debug')
  config.agent.enc.mults = config.agent.dec.mults = (2, 3)
  obs_space = {
      'image': Space(np.uint8, (16, 16, 3)), 'vector': Space(np.float32, (4,), -1, 1),
      'reward': Space(np.float32), 'is_first': Space(bool), 'is_last': Space(bool),
      'is_terminal': Space(bool)}
  act_space = {'action': Space(np.int32, (), 0, 4)}
  agent = factories.make_agent(config, obs_space, act_space)
  rng = np.random.default_rng(0)
  r = config.agent.rssm

  def batch(T):
    B = config.batch_size
    data = {
        'image': rng.integers(0, 256, (B, T, 16, 16, 3), dtype=np.uint8),
        'vector': rng.uniform(-1, 1, (B, T, 4)).astype(np.float32),
        'reward': rng.uniform(0, 1, (B, T)).astype(np.float32),
        'is_first': rng.uniform(size=(B, T)) < 0.1, 'is_last': np.zeros((B, T), bool),
        'is_terminal': rng.uniform(size=(B, T)) < 0.05,
        'action': rng.integers(0, 4, (B, T)).astype(np.int32),
        'stepid': rng.integers(0, 256, (B, T, 20), dtype=np.uint8),
        'dyn/deter': rng.normal(0, 0.5, (B, T, r.deter)).astype(np.float32),
        'dyn/stoch': np.eye(r.classes, dtype=np.float32)[
            rng.integers(0, r.classes, (B, T, r.stoch))]}
    data['is_first'][:, 0] = True
    return data

  out = {}
  carry = agent.init_train(config.batch_size)
  for i in range(4):
    carry, outs, metrics = agent.train(carry, batch(config.batch_length + 1))
    out.update({f'train/{i}/{k}': np.asarray(v) for k, v in metrics.items()})
    out.update({f'outs/{i}/{k}': v for k, v in outs['replay'].items()})
  stream = _Batches([batch(config.report_length + 1) for _ in range(2)])
  report = common.report(agent, stream, 2)
  out.update({f'report/{k}': np.asarray(v) for k, v in report.items()})
  pcarry = agent.init_policy(3)
  for i in range(3):
    obs = {k: v[:3, 0] for k, v in batch(1).items()}
    for mode in ('train', 'eval'):
      pcarry, act, _ = agent.policy(pcarry, obs, mode=mode)
      out[f'policy/{i}/{mode}'] = act['action']
  with tempfile.TemporaryDirectory() as tmp:
    path = tf.train.Checkpoint(agent=agent).write(os.path.join(tmp, 'ckpt'))
    reader = tf.train.load_checkpoint(path)
    for key in reader.get_variable_to_shape_map():
      if key.endswith('.ATTRIBUTES/VARIABLE_VALUE'):
        out[f'ckpt/{key}'] = reader.get_tensor(key)
  return out


class _Batches:
  """Given batches as a stream (what run.common.report reads)."""

  def __init__(self, batches):
    self._batches = list(batches)
    self.batch_size = len(batches[0]['is_first'])

  def __next__(self):
    return self._batches.pop(0)


def record(root, path, variant):
  root = os.path.abspath(root)
  env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='2')
  this = os.path.abspath(__file__)
  with tempfile.TemporaryDirectory() as logdir:
    if variant == 'run':
      run(root, logdir)
    result = subprocess.run(
        [sys.executable, this, 'collect', variant, logdir, path],
        cwd=root, env=env, capture_output=True, text=True)
  if result.returncode:
    sys.exit(f'identity_run: collecting in {root} failed:\n{result.stderr[-4000:]}')
  print(result.stdout.strip())


def save(variant, logdir, path):
  values = collect(logdir) if variant == 'run' else images()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + '.tmp.npz'
  np.savez(tmp, **values)
  os.replace(tmp, path)
  kinds = sorted({k.split('/')[0] for k in values})
  print(f'recorded {len(values)} values ({", ".join(kinds)}) to {path}')


def compare(path_a, path_b):
  a, b = np.load(path_a), np.load(path_b)
  only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
  differ = [k for k in sorted(set(a) & set(b))
            if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape
            or not np.array_equal(a[k], b[k])]
  for key in only_a:
    print(f'only in {path_a}: {key}')
  for key in only_b:
    print(f'only in {path_b}: {key}')
  for key in differ:
    print(f'differs: {key}: {a[key].ravel()[:4]} vs {b[key].ravel()[:4]}')
  counts = {}
  for key in set(a) & set(b):
    kind = key.split('/')[0]
    counts[kind] = counts.get(kind, 0) + 1
  if only_a or only_b or differ:
    print(f'NOT identical: {len(differ)} differ, {len(only_a)} + {len(only_b)} unmatched')
    return 1
  print('identical: ' + ', '.join(f'{n} {k}' for k, n in sorted(counts.items())))
  return 0


def main():
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  p = sub.add_parser('record')
  p.add_argument('--variant', choices=VARIANTS, default='run')
  p.add_argument('root')
  p.add_argument('out')
  p = sub.add_parser('collect')  # internal: runs inside the recorded checkout
  p.add_argument('variant')
  p.add_argument('logdir')
  p.add_argument('out')
  p = sub.add_parser('compare')
  p.add_argument('a')
  p.add_argument('b')
  args = parser.parse_args()
  if args.command == 'record':
    record(args.root, args.out, args.variant)
    return 0
  if args.command == 'collect':
    save(args.variant, args.logdir, args.out)
    return 0
  return compare(args.a, args.b)


if __name__ == '__main__':
  sys.exit(main())
