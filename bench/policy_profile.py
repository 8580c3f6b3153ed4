"""Where a policy call's time goes (not a test; prints a table).

  python bench/policy_profile.py                  # size1m proprio, 1 and 16 envs
  python bench/policy_profile.py --envs 1,4,16 --calls 3000
  tools/as_avx2.sh python bench/policy_profile.py # as an AVX2-only CPU computes

Rows, each timed over the same calls:
  checks            step_inputs: key, shape and dtype checks and numpy conversions
  tf.function call  the agent's tf.function called as before agent/policy_call.py:
                    dispatch over nested arguments, their conversion, the XLA
                    program, the outputs as EagerTensors
  to numpy          the outputs copied to numpy
  public policy()   `Agent.policy` as the driver calls it (policy_call's flat path)
  concrete fn       the traced concrete function called with numpy arguments
  flat call         its atomic function with device tensors: the program plus
                    TensorFlow's per-call runtime, the floor of this design

With --trace, the public calls also run under the TensorFlow profiler, and a second
table splits TensorFlow's execute of the median call along its timeline. Our own
Python around it (checks, flattening, outputs to numpy) is the first table's public
call minus its flat call: the profiler slows Python down several times, so it is not
timed here. The profiler's marks also add about a microsecond per kernel.
  to the op         TensorFlow's argument handling, up to the eager op
  input copy        each input, and each captured variable's handle, checked for its
                    device and placed (EagerCopyToDevice: one span for all of them)
  launch            the XLA launch op before the program: the compile-cache lookup and
                    the captured variables (each is looked up, locked and read)
  buffers           the executable's own setup before its first kernel: buffer tables
  program           the thunks: from the first issued to the last kernel done, on
                    any thread (the executor returns before kernels on other
                    threads end; BlockUntilReady waits for them)
  kernels           the kernels' own time, summed over threads: below `program`,
                    the rest is issuing and hand-offs; above it, kernels overlapped
  after             outputs handed back, tensors wrapped and returned to Python
It then times calls of a program that does no math with the policy's number of
captured variables, as many tensor inputs, or neither: what each variable adds.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import numpy as np  # noqa: E402

from bench import train_step  # noqa: E402
from configs import base  # noqa: E402
from configs import presets  # noqa: E402


def make_agent(size):
  from dreamerv3_tf.agent.agent import Agent
  c = base.get_config()
  presets.size(size)(c)
  obs, act = train_step.make_spaces('proprio')
  return Agent(obs, act, c), obs


def sample_obs(obs_space, B, rng):
  o = {k: np.stack([s.sample(rng) for _ in range(B)]) for k, s in obs_space.items()}
  for k in ('position', 'velocity'):
    o[k] = o[k].clip(-1, 1)
  o['is_first'][:] = False
  return o


def profile(agent, obs, calls):
  """-> {phase: µs per call} over `calls` calls (after 50 warm-up calls)."""
  import tensorflow as tf
  B = len(obs['is_first'])
  carry = agent.init_policy(B)
  for _ in range(50):
    carry, _, _ = agent.policy(carry, obs)
  fn = agent._s.fns['policy']
  t_check = t_call = t_numpy = 0.0
  for _ in range(calls):
    a = time.perf_counter()
    args = agent.step_inputs('policy', carry, obs, 'train')
    b = time.perf_counter()
    deter, stoch, prevact, act, out = fn(*args)
    c = time.perf_counter()
    carry = {'deter': deter.numpy(), 'stoch': stoch.numpy(), 'prevact': prevact.numpy()}
    {k: v.numpy() for k, v in act.items()}
    {k: v.numpy() for k, v in out.items()}
    d = time.perf_counter()
    t_check += b - a
    t_call += c - b
    t_numpy += d - c
  # Through the public method, as the driver calls it.
  t0 = time.perf_counter()
  for _ in range(calls):
    carry, _, _ = agent.policy(carry, obs)
  public = time.perf_counter() - t0
  # The program alone: device tensors in, no Python checks, no copies out.
  args = agent.step_inputs('policy', carry, obs, 'train')
  concrete = fn.get_concrete_function(*args)
  flat = [tf.convert_to_tensor(x) for x in tf.nest.flatten(args)]
  for _ in range(50):
    concrete(*args)
  t0 = time.perf_counter()
  for _ in range(calls):
    concrete(*args)
  t_conc = time.perf_counter() - t0
  inner = concrete._inference_function if hasattr(concrete, '_inference_function') else None
  t_flat = None
  if inner is not None:
    try:
      inner.call_flat(*flat, *concrete.captured_inputs)
      t0 = time.perf_counter()
      for _ in range(calls):
        inner.call_flat(*flat, *concrete.captured_inputs)
      t_flat = time.perf_counter() - t0
    except Exception as e:  # private API: report, do not fail
      print(f'  (flat call unavailable: {type(e).__name__}: {e})')
  us = lambda s: 1e6 * s / calls
  res = {'checks': us(t_check), 'tf.function call': us(t_call), 'to numpy': us(t_numpy),
         'before: sum of the three': us(t_check + t_call + t_numpy),
         'public policy()': us(public), 'concrete fn, numpy args': us(t_conc)}
  if t_flat is not None:
    res['flat call, device args'] = us(t_flat)
  return res


_PHASES = ('to the op', 'input copy', 'launch', 'buffers', 'program', 'kernels', 'after',
           'execute')


def trace_anatomy(agent, obs, calls):
  """-> {phase: median µs} of TensorFlow's execute in public policy() calls, under the
  TF profiler (_PHASES; 'execute' is the whole)."""
  import bisect
  import glob
  import json
  import tempfile
  import tensorflow as tf
  from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
  B = len(obs['is_first'])
  carry = agent.init_policy(B)
  for _ in range(50):
    carry, _, _ = agent.policy(carry, obs)
  with tempfile.TemporaryDirectory() as logdir:
    tf.profiler.experimental.start(logdir)
    for _ in range(calls):
      carry, _, _ = agent.policy(carry, obs)
    tf.profiler.experimental.stop()
    files = glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True)
    data, _ = plugin.xspace_to_tools_data(files, 'trace_viewer@')
  events = sorted((e for e in json.loads(data)['traceEvents'] if e.get('ph') == 'X'),
                  key=lambda e: e['ts'])
  starts = [e['ts'] for e in events]
  within = lambda t0, t1: events[bisect.bisect_left(starts, t0):bisect.bisect_right(starts, t1)]
  rows = []
  for call in (e for e in events if e['name'] == 'TFE_Py_ExecuteCancelable'):
    t0, t1 = call['ts'], call['ts'] + call['dur']
    inside = within(t0, t1)
    first = lambda prefix: next((e for e in inside if e['name'].startswith(prefix)), None)
    execute, copy = first('EagerExecute'), first('EagerCopyToDevice')
    program, run = first('__inference_policy'), first('CpuExecutable::ExecuteAsync')
    thunks = first('ThunkExecutor::Execute')
    if not (execute and program and run and thunks):
      continue
    kernels = [e for e in within(thunks['ts'], t1) if 'hlo_op' in e.get('args', {})]
    done = max([thunks['ts'] + thunks['dur']] + [e['ts'] + e['dur'] for e in kernels])
    rows.append({
        'to the op': execute['ts'] - t0,
        'input copy': copy['dur'] if copy else 0.0,
        'launch': run['ts'] - program['ts'],
        'buffers': thunks['ts'] - run['ts'],
        'program': done - thunks['ts'],
        'kernels': sum(e['dur'] for e in kernels),
        'after': t1 - done, 'execute': call['dur']})
  if not rows:
    raise RuntimeError('the profile holds no policy call with the expected events')
  return {k: float(np.median([r[k] for r in rows])) for k in _PHASES}


def argument_cost(count, calls=3000):
  """-> {kind: µs per call} of a jit-compiled function that takes one [1, 8] input
  and reads one element of each of `count` [64, 64] variables, or of as many tensor
  inputs, or of none: what a captured variable costs a call, apart from any math."""
  import tensorflow as tf
  x = tf.constant(np.ones((1, 8), np.float32))
  variables = [tf.Variable(np.ones((64, 64), np.float32)) for _ in range(count)]
  tensors = [tf.constant(np.ones((64, 64), np.float32)) for _ in range(count)]
  fns = {
      'no other input': (lambda x: x + 1, (x,)),
      f'{count} captured variables': (
          lambda x: tf.add_n([v[0, 0] for v in variables]) + x, (x,)),
      f'{count} tensor inputs': (lambda x, ts: tf.add_n([t[0, 0] for t in ts]) + x, (x, tensors))}
  out = {}
  for name, (fn, args) in fns.items():
    concrete = tf.function(fn, jit_compile=True).get_concrete_function(*args)
    atomic, flat = concrete._inference_function, tf.nest.flatten(args)
    for _ in range(100):
      atomic.call_flat(*flat, *concrete.captured_inputs)
    t0 = time.perf_counter()
    for _ in range(calls):
      atomic.call_flat(*flat, *concrete.captured_inputs)
    out[name] = 1e6 * (time.perf_counter() - t0) / calls
  return out


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--size', default='1m')
  parser.add_argument('--envs', default='1,16')
  parser.add_argument('--calls', type=int, default=2000)
  parser.add_argument('--trace', action='store_true',
                      help='also split a call along its timeline under the TF profiler')
  args = parser.parse_args()
  if args.calls < 1:  # 0 divided by zero in the rates, or timed nothing
    parser.error('--calls must be 1 or more')
  from dreamerv3_tf.core import cpuinfo
  print(f'CPU: {cpuinfo.describe()}')
  agent, obs_space = make_agent(args.size)
  rng = np.random.default_rng(0)
  envs = [int(x) for x in args.envs.split(',')]
  results = {B: profile(agent, sample_obs(obs_space, B, rng), args.calls) for B in envs}
  names = list(results[envs[0]])
  print(f'policy call, size{args.size} proprio, µs per call (calls/s of the public call below)')
  print('| phase | ' + ' | '.join(f'{B} env' + ('s' if B > 1 else '') for B in envs) + ' |')
  print('|---|' + '---:|' * len(envs))
  for n in names:
    print(f'| {n} | ' + ' | '.join(f'{results[B][n]:.0f}' for B in envs) + ' |')
  print('| calls/s, public | ' + ' | '.join(
      f'{1e6 / results[B]["public policy()"]:.0f}' for B in envs) + ' |')
  if args.trace:
    traced = {B: trace_anatomy(agent, sample_obs(obs_space, B, rng), min(args.calls, 500))
              for B in envs}
    print("\nTensorFlow's execute of a public call under the TF profiler, µs (medians)")
    print('| phase | ' + ' | '.join(f'{B} env' + ('s' if B > 1 else '') for B in envs) + ' |')
    print('|---|' + '---:|' * len(envs))
    for n in _PHASES:
      print(f'| {n} | ' + ' | '.join(f'{traced[B][n]:.0f}' for B in envs) + ' |')
    captured = len(agent._s.fns['policy'].get_concrete_function(
        *agent.step_inputs('policy', agent.init_policy(1), sample_obs(obs_space, 1, rng),
                           'train')).captured_inputs)
    print(f'\nthe policy captures {captured} variables; a jit-compiled call that does no math '
          'costs, µs:')
    for name, us in argument_cost(captured).items():
      print(f'  {name}: {us:.0f}')


if __name__ == '__main__':
  from dreamerv3_tf import startup
  startup.import_tensorflow(startup.log_level())  # as `main` does (compare.py)
  main()
