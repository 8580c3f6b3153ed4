"""Whether a policy export serves the same actions under another TensorFlow or LiteRT.

An export (`python -m dreamerv3_tf.export`) is written with the TensorFlow this project
pins; robots, servers and phones often run an older one, or only the TensorFlow Lite
runtime (`ai-edge-litert`, formerly `tflite-runtime`). Record what the export computes
here, then check it where it is deployed:

  python tools/deploy_check.py record --export=DIR --out=REF.npz
  VENV/bin/python tools/deploy_check.py check --export=DIR --ref=REF.npz
  python tools/deploy_check.py check --export=DIR --ref=REF.npz --python=VENV/bin/python
  python tools/deploy_check.py check --export=DIR --ref=REF.npz --runtime=ai_edge_litert \\
      --python=LITERT_VENV/bin/python

record (needs TensorFlow and dreamerv3_tf: run it where this project is installed) steps the SavedModel's `step_eval`
and `step_train` (seed t at step t) for --steps steps on --batch rows of inputs drawn
from --seed (uint8 images 0-255, integer observations 0-2, other observations normal;
`obs_is_first` at the first step and, for row 0, half way), each signature carrying
its own state from `initial_state`, and writes the inputs, the outputs and the SHA-256
of the export's files to REF (.npz without pickle, written whole or not at all; an
existing REF is refused unless --overwrite).

check needs numpy and the runtime only (not this repository, not dreamerv3_tf), so it
runs in the deploying Python. --runtime=tensorflow (the default) loads the SavedModel
with tf.saved_model.load and calls each signature as the README's example does,
carrying the state, against REF. --runtime=ai_edge_litert, tflite_runtime or tf_lite
(tf.lite.Interpreter) runs DIR/policy.tflite (`export --tflite`; --export may also
name the .tflite file) through its `initial_state` and `step_eval` signature runners,
one row of REF at a time (its batch is 1), against REF's step_eval. --python=PY runs
the check under that interpreter (e.g. a venv's) without this process's PYTHONPATH.

It prints a line per signature with the largest difference of each output and a last
line; exit code 0 when all match (to TOLERANCE), 1 when the runtime cannot load or run
the export or an output differs, 2 for bad input (a missing or damaged file, a REF of
another export, a runtime that is not installed). TensorFlow's start-up lines are hidden
unless TF_CPP_MIN_LOG_LEVEL is set (e.g. to 0, to see them all).
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

import numpy as np

# Another TensorFlow / LiteRT version (or CPU) may sum float32 in another order (at most
# 4.8e-7 apart in TensorFlow 2.4-2.20 and the TFLite runtimes, BENCHMARKS.md): the same
# 1e-4 as tests/test_export.py's TFLite check, which lets no wrong op or weight through
# (a flipped discrete latent differs by 1, an integer action by 1).
TOLERANCE = 1e-4
SIGNATURES = ('initial_state', 'step_eval', 'step_train')
TFLITE_FILE = 'policy.tflite'
RUNTIMES = ('tensorflow', 'ai_edge_litert', 'tflite_runtime', 'tf_lite')


class BadInput(Exception):
  """Exit code 2: the command cannot check anything as given."""


class Failed(Exception):
  """Exit code 1: the runtime cannot load or run the export."""


def one_line(e, limit=600):
  text = ' '.join(str(e).split()) or type(e).__name__
  return f'{type(e).__name__}: {text[:limit]}{"..." if len(text) > limit else ""}'


def sha256(path):
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def export_files(export):
  """{path relative to the export: SHA-256} of the files a runtime reads."""
  files = {}
  for rel in ['saved_model.pb', TFLITE_FILE] + sorted(
      os.path.join('variables', n) for n in (
          os.listdir(os.path.join(export, 'variables'))
          if os.path.isdir(os.path.join(export, 'variables')) else [])):
    if os.path.isfile(os.path.join(export, rel)):
      files[rel] = sha256(os.path.join(export, rel))
  return files


def import_tensorflow():
  # TensorFlow's start-up lines are no finding of this check: five before each result
  # (absl's 'All log messages before absl::InitializeLog()', oneDNN's and cudart's notes,
  # cuInit's error at the first op). Static initialisers log some of them before
  # TensorFlow reads its level, so stderr's descriptor is hidden while it loads. A level
  # the user set shows them all.
  quiet = 'TF_CPP_MIN_LOG_LEVEL' not in os.environ
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # errors reach Python as exceptions
  hidden = None
  if quiet and 'tensorflow' not in sys.modules:
    try:
      sys.stderr.flush()
      hidden, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
      os.dup2(null, 2)
      os.close(null)
    except OSError:  # stderr closed (2>&-): nothing to hide from
      pass
  try:
    import tensorflow as tf
  except Exception as e:  # noqa: BLE001 - not installed, or a protobuf it cannot import
    raise BadInput(f'TensorFlow cannot be imported in {sys.executable} ({one_line(e)})') from None
  finally:
    if hidden is not None:
      sys.stderr.flush()
      os.dup2(hidden, 2)
      os.close(hidden)
  return tf


def load_saved_model(tf, export):
  try:
    policy = tf.saved_model.load(export)
  except Exception as e:  # noqa: BLE001 - whatever this version cannot read
    raise Failed(f'tf.saved_model.load failed: {one_line(e)}') from None
  missing = [k for k in SIGNATURES if k not in policy.signatures]
  if missing:
    raise Failed(f'the SavedModel lacks the signatures {missing}')
  return policy


# --- record -----------------------------------------------------------------------


def draw_inputs(specs, steps, batch, seed):
  """{input name: [steps, batch, ...]} for the step signatures' obs inputs."""
  rng = np.random.default_rng(seed)
  inputs = {}
  for name in sorted(specs):
    spec = specs[name]
    if not name.startswith('obs_'):
      continue
    shape = (steps, batch) + tuple(spec.shape.as_list()[1:])
    dtype = spec.dtype.as_numpy_dtype
    if name == 'obs_is_first':
      x = np.zeros(shape, bool)
      x[0] = True
      x[steps // 2, 0] = True
    elif dtype == np.uint8:
      x = rng.integers(0, 256, shape).astype(np.uint8)
    elif np.issubdtype(dtype, np.integer) or dtype == bool:
      x = rng.integers(0, 3, shape).astype(dtype)
    else:
      x = rng.normal(0, 1, shape).astype(dtype)
    inputs[name] = x
  return inputs


def record(args):
  # Checked before TensorFlow loads (seconds).
  export = args.export.rstrip('/')
  if not os.path.isfile(os.path.join(export, 'saved_model.pb')):
    raise BadInput(f'--export {export} is no SavedModel directory (no saved_model.pb)')
  if os.path.lexists(args.out) and not args.overwrite:
    raise BadInput(f'--out {args.out} exists; it is left as it is: pass another --out, or '
                   '--overwrite to replace it')
  if os.path.exists(args.out) and not os.path.isfile(args.out):
    # With --overwrite: a traceback (IsADirectoryError) after the whole recording.
    kind = 'a directory' if os.path.isdir(args.out) else 'no regular file'
    raise BadInput(f'--out {args.out} is {kind}; give the path of the reference file, e.g. '
                   'ref.npz')
  if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
    raise BadInput(f'--out {args.out}: its directory does not exist')
  if args.steps < 1 or args.batch < 1:
    raise BadInput('--steps and --batch must be at least 1')
  if args.seed < 0:  # was numpy's traceback, after TensorFlow had loaded
    raise BadInput(f'--seed {args.seed} is below 0; give a seed of 0 or more')
  try:  # (check's deploying Python needs none of ours; record runs beside the export)
    from dreamerv3_tf.envs import memory
  except ImportError as e:
    raise BadInput(f'record needs dreamerv3_tf ({one_line(e)}): run it where this project is '
                   'installed (pip install -e .)') from None
  tf = import_tensorflow()
  files = export_files(export)
  policy = load_saved_model(tf, export)
  sig = policy.signatures
  specs = sig['step_eval'].structured_input_signature[1]
  row = {k: v.numpy() for k, v in sig['initial_state'](batch_size=tf.constant(1)).items()}
  # The memory this process may still take, within a cgroup's limit too.
  check_memory(specs, row, args.steps, args.batch, memory.available_bytes())
  try:
    return _record(tf, args, export, files, sig, specs)
  except (MemoryError, tf.errors.ResourceExhaustedError) as e:  # beyond the estimate
    raise BadInput(f'--steps {args.steps} x --batch {args.batch} ran out of memory '
                   f'({one_line(e, 200)}); give fewer') from None


def check_memory(specs, state_row, steps, batch, free):
  """Refuses a recording that cannot fit in memory: --batch 1e8 was numpy's traceback
  (179 TiB), and one a little beyond the memory left is killed without a word."""
  need = 0
  for name, spec in specs.items():
    if name.startswith('obs_'):
      count = steps * batch * int(np.prod(spec.shape.as_list()[1:]))
      # The draw makes 8-byte numbers, then the input's own dtype.
      need += count * (8 + spec.dtype.as_numpy_dtype().itemsize)
  # Each mode's states per step, kept and then stacked (actions are smaller).
  need += 3 * steps * batch * sum(v.nbytes for v in state_row.values())
  if free is not None and need > 0.9 * free:  # (a tenth left for the model's own work)
    raise BadInput(f'--steps {steps} x --batch {batch} needs about {need / 2**30:,.1f} GiB of '
                   f'memory for its inputs and outputs, more than the {free / 2**30:.1f} GiB '
                   'available; give fewer')


def _record(tf, args, export, files, sig, specs):
  inputs = draw_inputs(specs, args.steps, args.batch, args.seed)
  arrays = {f'in/{k}': v for k, v in inputs.items()}
  init = {k: v.numpy() for k, v in sig['initial_state'](
      batch_size=tf.constant(args.batch, tf.int32)).items()}
  arrays.update({f'initial_state/{k}': v for k, v in init.items()})
  for mode in ('eval', 'train'):
    state = dict(init)
    outs = []
    for t in range(args.steps):
      feed = {k: tf.constant(v[t]) for k, v in inputs.items()}
      feed.update({k: tf.constant(v) for k, v in state.items()})
      if mode == 'train':
        feed['seed'] = tf.constant(t, tf.int64)
      out = {k: v.numpy() for k, v in sig[f'step_{mode}'](**feed).items()}
      state = {k: v for k, v in out.items() if k.startswith('state_')}
      outs.append(out)
    arrays.update({f'step_{mode}/{k}': np.stack([o[k] for o in outs]) for k in outs[0]})
  meta = {'tensorflow': tf.__version__, 'export': os.path.abspath(export),
          'steps': args.steps, 'batch': args.batch, 'seed': args.seed, 'files': files}
  arrays['meta'] = np.array(json.dumps(meta, sort_keys=True))
  tmp = f'{args.out}.tmp-{os.getpid()}'
  try:
    with open(tmp, 'wb') as f:
      np.savez(f, **arrays)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, args.out)
  except OSError as e:  # a full disk, a folder it may not write: was a traceback
    raise BadInput(f'--out {args.out} cannot be written ({one_line(e, 200)}); it is left as '
                   'it was') from None
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  print(f'Recorded {args.steps} steps x {args.batch} rows of step_eval and step_train of '
        f'{export} with TensorFlow {tf.__version__} to {args.out}')
  return 0


# --- check ------------------------------------------------------------------------


def read_ref(path):
  if not os.path.exists(path):
    raise BadInput(f'--ref {path} does not exist (write it with: record)')
  try:
    import zipfile
    if not zipfile.is_zipfile(path):  # np.load took it for a pickle it refused
      raise ValueError('not an .npz file')
    with np.load(path, allow_pickle=False) as f:
      ref = {k: f[k] for k in f.files}
    meta = json.loads(str(ref.pop('meta')))
    missing = [k for k in ('tensorflow', 'steps', 'batch', 'files') if k not in meta]
    if missing:
      raise ValueError(f'its meta lacks {missing}')
  except Exception as e:  # noqa: BLE001 - cut short, not an npz, no meta: all one case
    raise BadInput(f'--ref {path} cannot be read ({one_line(e, 200)}); record it again') from None
  return ref, meta


def check_files(export, meta, names, ref_path):
  """BadInput unless `names` of the export are those REF was recorded from."""
  recorded = meta['files']
  for rel in names:
    path = os.path.join(export, rel)
    if rel not in recorded:
      raise BadInput(f'--ref {ref_path} was recorded without {rel}; record it again from '
                     'this export')
    if not os.path.isfile(path):
      raise BadInput(f'--export {export} has no {rel}'
                     + (' (export with --tflite)' if rel == TFLITE_FILE else ''))
    if sha256(path) != recorded[rel]:
      raise BadInput(f'{path} is not the file --ref {ref_path} was recorded from (its '
                     'SHA-256 differs); record it again from this export')


class Compare:
  """The largest difference of each output of one signature against REF."""

  def __init__(self, what):
    self.what, self.gaps, self.bad, self.named = what, {}, [], set()

  def add(self, key, got, want, t):
    got = np.asarray(got)
    if got.shape != want.shape or got.dtype != want.dtype:
      if key not in self.named:
        self.named.add(key)
        self.bad.append(f'{key} is {got.dtype}{list(got.shape)} at step {t}, REF '
                        f'{want.dtype}{list(want.shape)}')
      self.gaps[key] = float('inf')
      return
    gap = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) if got.size else 0.0
    if gap > TOLERANCE and key not in self.named:
      self.named.add(key)
      self.bad.append(f'{key} differs by {gap:.3g} first at step {t}')
    self.gaps[key] = max(self.gaps.get(key, 0.0), gap)

  def line(self):
    gaps = ', '.join(f'{k} {v:.2g}' for k, v in sorted(self.gaps.items()))
    verdict = 'differs: ' + '; '.join(self.bad) if self.bad else 'matches'
    return f'{self.what}: largest |difference| {gaps} (tolerance {TOLERANCE:g}): {verdict}'


def check_tensorflow(export, ref, meta, ref_path):
  tf = import_tensorflow()
  if not os.path.isfile(os.path.join(export, 'saved_model.pb')):
    raise BadInput(f'--export {export} is no SavedModel directory (no saved_model.pb)')
  check_files(export, meta, [k for k in meta['files'] if k != TFLITE_FILE], ref_path)
  policy = load_saved_model(tf, export)
  sig = policy.signatures
  steps, batch = meta['steps'], meta['batch']
  inputs = {k[3:]: v for k, v in ref.items() if k.startswith('in/')}
  results = []
  try:
    init = sig['initial_state'](batch_size=tf.constant(batch, tf.int32))
    compare = Compare('initial_state')
    for k in sorted(init):
      compare.add(k, init[k].numpy(), ref[f'initial_state/{k}'], 0)
    results.append(compare)
    for mode in ('eval', 'train'):
      compare = Compare(f'step_{mode}')
      state = {k: v.numpy() for k, v in init.items()}
      want = {k.split('/', 1)[1]: v for k, v in ref.items() if k.startswith(f'step_{mode}/')}
      for t in range(steps):
        feed = {k: tf.constant(v[t]) for k, v in inputs.items()}
        feed.update({k: tf.constant(v) for k, v in state.items()})
        if mode == 'train':
          feed['seed'] = tf.constant(t, tf.int64)
        out = {k: v.numpy() for k, v in sig[f'step_{mode}'](**feed).items()}
        if sorted(out) != sorted(want):
          raise Failed(f'step_{mode} returns {sorted(out)}, REF {sorted(want)}')
        for k in sorted(out):
          compare.add(k, out[k], want[k][t], t)
        state = {k: v for k, v in out.items() if k.startswith('state_')}
      results.append(compare)
  except Failed:
    raise
  except Exception as e:  # noqa: BLE001 - an op this version cannot run, ...
    raise Failed(f'calling the signatures failed: {one_line(e)}') from None
  return f'TensorFlow {tf.__version__}', results


def tflite_interpreter(runtime, path):
  import warnings
  try:
    if runtime == 'ai_edge_litert':
      from ai_edge_litert import interpreter as module
      version = 'ai-edge-litert ' + _dist_version('ai-edge-litert')
    elif runtime == 'tflite_runtime':
      from tflite_runtime import interpreter as module
      version = 'tflite-runtime ' + _dist_version('tflite-runtime')
    else:
      module = import_tensorflow().lite
      version = f'tf.lite of TensorFlow {import_tensorflow().__version__}'
  except Exception as e:  # noqa: BLE001 - not installed, or one that cannot import
    raise BadInput(f'--runtime {runtime} cannot be imported in {sys.executable} '
                   f'({one_line(e)})') from None
  try:
    with warnings.catch_warnings():  # tf.lite.Interpreter: "use ai_edge_litert" (TF >= 2.20)
      warnings.simplefilter('ignore')
      interpreter = module.Interpreter(model_path=path)
    runners = (interpreter.get_signature_runner('initial_state'),
               interpreter.get_signature_runner('step_eval'))
  except Exception as e:  # noqa: BLE001 - an op or op version this runtime lacks, ...
    raise Failed(f'{version} cannot load {path}: {one_line(e)}') from None
  return version, runners


def _dist_version(name):
  try:
    from importlib import metadata
    return metadata.version(name)
  except Exception:  # noqa: BLE001 - Python < 3.8, or installed without metadata
    return '(version unknown)'


def check_tflite(runtime, export, ref, meta, ref_path):
  if export.endswith('.tflite'):
    export, name = os.path.split(export)
  else:
    name = TFLITE_FILE
  if name != TFLITE_FILE:  # a renamed copy of the export's file
    files = {name: meta['files'][TFLITE_FILE]} if TFLITE_FILE in meta['files'] else {}
    meta = dict(meta, files=files)
  check_files(export, meta, [name], ref_path)
  version, (init, step) = tflite_interpreter(runtime, os.path.join(export, name))
  steps, batch = meta['steps'], meta['batch']
  inputs = {k[3:]: v for k, v in ref.items() if k.startswith('in/')}
  want = {k.split('/', 1)[1]: v for k, v in ref.items() if k.startswith('step_eval/')}
  results = [Compare('initial_state'), Compare('step_eval')]
  try:
    for row in range(batch):  # one interpreter per env: a batch of 1
      state = init(batch_size=np.array(1, np.int32))
      for k in sorted(state):
        results[0].add(k, state[k], ref[f'initial_state/{k}'][row:row + 1], 0)
      for t in range(steps):
        feed = {k: v[t, row:row + 1] for k, v in inputs.items()}
        out = step(**feed, **state)
        if sorted(out) != sorted(want):
          raise Failed(f'step_eval returns {sorted(out)}, REF {sorted(want)}')
        for k in sorted(out):
          results[1].add(k, out[k], want[k][t, row:row + 1], t)
        state = {k: v for k, v in out.items() if k.startswith('state_')}
  except Failed:
    raise
  except Exception as e:  # noqa: BLE001 - an op this runtime cannot run, ...
    raise Failed(f'{version} cannot run {name}: {one_line(e)}') from None
  return version, results


def check(args, argv):
  if args.python:
    return rerun(args.python, argv)
  export = args.export.rstrip('/')
  if not os.path.exists(export):
    raise BadInput(f'--export {export} does not exist')
  ref, meta = read_ref(args.ref)
  if args.runtime == 'tensorflow':
    version, results = check_tensorflow(export, ref, meta, args.ref)
  else:
    version, results = check_tflite(args.runtime, export, ref, meta, args.ref)
  for result in results:
    print(result.line())
  differs = [r.what for r in results if r.bad]
  where = f'{version} (Python {sys.version.split()[0]})'
  if differs:
    print(f'{where}: {", ".join(differs)} differ from TensorFlow {meta["tensorflow"]}\'s')
    return 1
  print(f'{where}: the export matches TensorFlow {meta["tensorflow"]}\'s outputs')
  return 0


def rerun(python, given):
  """This check (command line `given`) under interpreter `python`, without this
  process's PYTHONPATH."""
  argv, skip = [], False
  for a in given:
    if skip:
      skip = False
    elif a == '--python':
      skip = True
    elif not a.startswith('--python='):
      argv.append(a)
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  try:
    code = subprocess.run([python, os.path.abspath(__file__)] + argv, env=env).returncode
  except OSError as e:
    raise BadInput(f'--python {python} cannot be run ({one_line(e, 200)})') from None
  if code < 0:  # e.g. ai-edge-litert 1.0.1's initial_state: a segmentation fault
    import signal
    raise Failed(f'{python} was killed by {signal.Signals(-code).name} during the check')
  return code


class Parser(argparse.ArgumentParser):
  """argparse's errors in one line, as the other commands give them (it printed its
  usage before them)."""

  def error(self, message):
    print(f'Error: {message} (see --help)', file=sys.stderr)
    sys.exit(2)


def main(argv=None):
  parser = Parser(
      description=(__doc__ or 'Checks a policy export under another TensorFlow or LiteRT.'
                   ).split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  commands = parser.add_subparsers(dest='command')
  rec = commands.add_parser('record', help='record the outputs of the SavedModel (TensorFlow)')
  rec.add_argument('--export', required=True, help='the export directory')
  rec.add_argument('--out', required=True, help='the reference file (.npz) to write')
  rec.add_argument('--steps', type=int, default=20, help='steps of each signature (20)')
  rec.add_argument('--batch', type=int, default=2, help='rows of each step (2)')
  rec.add_argument('--seed', type=int, default=0, help='seed of the inputs (0)')
  rec.add_argument('--overwrite', action='store_true', help='replace an existing --out')
  chk = commands.add_parser('check', help='compare a runtime with a reference file')
  chk.add_argument('--export', required=True,
                   help='the export directory (or, for a TFLite runtime, its .tflite file)')
  chk.add_argument('--ref', required=True, help='the file `record` wrote')
  chk.add_argument('--runtime', default='tensorflow', choices=RUNTIMES,
                   help='tensorflow (the SavedModel) or a TFLite runtime (policy.tflite)')
  chk.add_argument('--python', help='run the check under this interpreter (a venv\'s python)')
  argv = sys.argv[1:] if argv is None else list(argv)
  args = parser.parse_args(argv)
  if not args.command:
    parser.error('give a command: record or check')
  try:
    return record(args) if args.command == 'record' else check(args, argv)
  except BadInput as e:
    print(f'Error: {e}', file=sys.stderr)
    return 2
  except Failed as e:
    print(f'Failed: {e}', file=sys.stderr)
    return 1


if __name__ == '__main__':
  sys.exit(main())
