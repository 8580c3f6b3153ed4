"""File size and latency per call of the exported policy: SavedModel against TFLite.

  python bench/export_latency.py                      # size1m proprio (cartpole_swingup)
  python bench/export_latency.py --kind vision --size 12m --calls 200

An agent with the quick preset's model (random weights: the cost does not depend on
them) is exported with `export.export(..., tflite=True)`. Each model then runs
`step_eval` with batch 1, carrying its state, as a client on a device would: the
SavedModel through `tf.saved_model.load(DIR).signatures['step_eval']` (tensors in and
out), TFLite through `tf.lite.Interpreter(...).get_signature_runner('step_eval')`
(numpy in and out) with 1 thread and with the interpreter's default. Prints wall and
process CPU milliseconds per call (CPU time is the figure to read on a loaded machine).
"""

import argparse
import os
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import numpy as np  # noqa: E402

from configs import dmc  # noqa: E402
from configs import presets  # noqa: E402
from dreamerv3_tf.core.spaces import Space  # noqa: E402


def make_spaces(kind):
  obs = {'reward': Space(np.float32), 'is_first': Space(bool),
         'is_last': Space(bool), 'is_terminal': Space(bool)}
  if kind == 'proprio':  # dmc cartpole: what the quick command trains
    obs['position'] = Space(np.float32, (3,))
    obs['velocity'] = Space(np.float32, (2,))
  else:
    obs['image'] = Space(np.uint8, (64, 64, 3))
  return obs, {'action': Space(np.float32, (1,), -1.0, 1.0)}


def directory_bytes(path):
  return sum(os.path.getsize(os.path.join(folder, name))
             for folder, _, names in os.walk(path) for name in names)


def timed(step, inputs, state, calls):
  """-> (wall ms, CPU ms) per call of state = step(inputs, state), after 20 warm-up calls."""
  for _ in range(20):
    state = step(inputs, state)
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(calls):
    state = step(inputs, state)
  return ((time.perf_counter() - wall) * 1e3 / calls, (time.process_time() - cpu) * 1e3 / calls)


def main():
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
  parser.add_argument('--kind', default='proprio', choices=['proprio', 'vision'])
  parser.add_argument('--size', default='1m')
  parser.add_argument('--calls', type=int, default=2000)
  args = parser.parse_args()
  if args.calls < 1:  # 0 divided by zero in the rates, or timed nothing
    parser.error('--calls must be 1 or more')

  import tensorflow as tf
  from dreamerv3_tf import export
  from dreamerv3_tf.agent.agent import Agent
  config = dmc.get_config(f'train_eval,quick,{args.kind}')
  presets.size(args.size)(config)
  obs_space, act_space = make_spaces(args.kind)
  agent = Agent(obs_space, act_space, config)
  tmp = tempfile.TemporaryDirectory()
  out = export.export(agent, os.path.join(tmp.name, 'export'), tflite=True)
  tflite_path = os.path.join(out, export.TFLITE_FILE)
  saved_bytes = directory_bytes(out) - os.path.getsize(tflite_path)

  rng = np.random.default_rng(0)
  obs = {f'obs_{k}': (rng.integers(0, 256, (1, *s.shape), dtype=np.uint8) if s.dtype == np.uint8
                      else rng.normal(size=(1, *s.shape)).astype(np.float32))
         for k, s in obs_space.items() if k not in ('reward', 'is_last', 'is_terminal')}
  obs['obs_is_first'] = np.zeros(1, bool)

  saved = tf.saved_model.load(out).signatures
  def saved_step(inputs, state):
    result = saved['step_eval'](**inputs, **state)
    return {k: v for k, v in result.items() if k.startswith('state_')}
  saved_inputs = {k: tf.constant(v) for k, v in obs.items()}
  saved_state = dict(saved['initial_state'](batch_size=tf.constant(1)))
  rows = [('SavedModel (signature call)', saved_bytes,
           timed(saved_step, saved_inputs, saved_state, args.calls))]

  for threads in (1, None):
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # "use ai_edge_litert" (TF >= 2.20)
      interpreter = tf.lite.Interpreter(model_path=tflite_path, num_threads=threads)
    runner = interpreter.get_signature_runner('step_eval')
    def tflite_step(inputs, state, runner=runner):
      result = runner(**inputs, **state)
      return {k: v for k, v in result.items() if k.startswith('state_')}
    state = interpreter.get_signature_runner('initial_state')(batch_size=np.int32(1))
    label = f'TFLite ({threads or "default"} thread{"s" if threads != 1 else ""})'
    rows.append((label, os.path.getsize(tflite_path),
                 timed(tflite_step, obs, state, args.calls)))

  print(f'\n{args.kind} size{args.size}, step_eval at batch 1, {args.calls} calls, '
        f'load average {os.getloadavg()[0]:.1f}\n')
  print('| model | file size | ms/call (wall) | ms/call (CPU) |')
  print('|---|---:|---:|---:|')
  for label, size, (wall, cpu) in rows:
    print(f'| {label} | {size / 1e6:.2f} MB | {wall:.3f} | {cpu:.3f} |')


if __name__ == '__main__':
  main()
