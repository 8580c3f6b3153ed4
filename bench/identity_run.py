"""Behaviour identity of two checkouts: the same deterministic debug run, compared.

  git archive main | tar -x -C /tmp/ref_main
  python bench/identity_run.py record /tmp/ref_main /tmp/identity/before.npz
  python bench/identity_run.py record . /tmp/identity/after.npz
  python bench/identity_run.py compare /tmp/identity/before.npz /tmp/identity/after.npz

`record ROOT OUT` runs `python -m dreamerv3_tf.main` from the checkout ROOT (its own
code and configs, PYTHONPATH=ROOT) on a fresh logdir: train_eval,debug for 400 steps
with env worker processes, the steps clock and (variant `vec`, the default)
`run.deterministic=True` on dummy_disc_vec, so two runs of the same code give the
same numbers; `--variant=img` adds images and open-loop videos (see VARIANTS).
It keeps, as arrays in one .npz (no pickle):
  metrics/<step>/<key>   every value of metrics.jsonl except timings and process
                         figures (fps/, usage/, which vary from run to run)
  scores/<i>/<key>       every line of scores.jsonl
  video/<step>/<tag>     the GIF bytes of every TensorBoard video (open-loop reports)
  ckpt/<name>            every variable of the final checkpoint (agent, loop state,
                         replay states without their random chunk names)
  replay/<name>/<key>    the contents of both replays restored from that checkpoint
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
VARIANTS = {
    # The check: op determinism on. Vectors only: under op determinism TensorFlow has
    # no XLA kernel for the encoder's MaxPool gradient, so image runs cannot be made.
    'vec': {'task': 'dummy_disc_vec', 'run.deterministic': True},
    # A supplement for the decoder's images and the open-loop videos: without op
    # determinism, which the XLA CPU kernels happen not to need (two runs of one
    # checkout agree), but nothing guarantees it.
    'img': {'task': 'dummy_disc', 'run.deterministic': False,
            'env.dummy.size': '(16, 16)', 'agent.enc.mults': '(2, 3)',
            'agent.dec.mults': '(2, 3)'},
}
# Figures of the machine and the process, not of the computation.
VOLATILE = ('fps/', 'usage/', 'timer/')


def run(root, logdir, variant):
  root = os.path.abspath(root)
  flags = {**FLAGS, **VARIANTS[variant]}
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
  from dreamerv3_tf import configuration
  from dreamerv3_tf import factories
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
    config = configuration.from_json(f.read())
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


def record(root, path, variant):
  root = os.path.abspath(root)
  env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL='2')
  with tempfile.TemporaryDirectory() as logdir:
    run(root, logdir, variant)
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), 'collect', logdir, path],
        cwd=root, env=env, capture_output=True, text=True)
  if result.returncode:
    sys.exit(f'identity_run: collecting from the run failed:\n{result.stderr[-4000:]}')
  print(result.stdout.strip())


def save(logdir, path):
  values = collect(logdir)
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
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  p = sub.add_parser('record')
  p.add_argument('--variant', choices=sorted(VARIANTS), default='vec')
  p.add_argument('root')
  p.add_argument('out')
  p = sub.add_parser('collect')  # internal: runs inside the recorded checkout
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
    save(args.logdir, args.out)
    return 0
  return compare(args.a, args.b)


if __name__ == '__main__':
  sys.exit(main())
