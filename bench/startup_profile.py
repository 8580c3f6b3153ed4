"""Where start-up time and memory go, per phase, and the effect of XLA flags (not a test).

  python bench/startup_profile.py                      # phases of one cold start at size1m
  python bench/startup_profile.py --variants "default=;nofe=--xla_cpu_use_fusion_emitters=false"

Each variant runs in a fresh process with no persistent XLA cache (a cold start).
Phases: import TensorFlow, build the agent, trace the train step, lower it to HLO
(tf2xla), the first update (HLO passes, code generation, one run), and the heap
after the agent hands freed memory back (`usage.release_heap`, automatic after a
compile). CPU seconds are reported next to wall seconds because the cores are
shared: CPU time moves much less with the load.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _peak_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_mb():
  with open('/proc/self/statm') as f:
    return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def child(size, updates, lower):
  """One cold start; prints a JSON line {phase: {wall, cpu, peak_mb, cur_mb}}."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  sys.path.insert(0, HERE)
  sys.path.insert(0, os.path.join(HERE, '..'))
  out, t0, c0 = {}, time.time(), time.process_time()

  def mark(name):
    out[name] = dict(wall=round(time.time() - t0, 2), cpu=round(time.process_time() - c0, 2),
                     peak_mb=round(_peak_mb()), cur_mb=round(_current_mb()))

  import numpy as np
  import tensorflow as tf  # noqa: F401
  mark('import_tf')
  from configs import base
  from configs import presets
  from dreamerv3_tf.agent.agent import Agent
  import train_step
  c = base.get_config()
  presets.size(size)(c)
  obs, act = train_step.make_spaces('proprio')
  agent = Agent(obs, act, c)
  mark('construct')
  B, T = c.batch_size, c.batch_length + c.replay_context
  batch = train_step.make_batch(obs, act, c, B, T, np.random.default_rng(0))
  carry = agent.init_train(B)
  agent.trace('train', carry, batch)  # tracing apart from compiling
  mark('trace')
  if lower:  # an extra tf2xla lowering, only to time it; the first update redoes it
    agent.compiler_ir('train', carry, batch, stage='hlo')
    mark('tf2xla')
  carry, _, _ = agent.train(carry, batch)
  mark('first_update')
  # The agent frees the heap after a call that traced; here the trace came first.
  from dreamerv3_tf.core import usage
  usage.release_heap()
  mark('heap_released')
  times = []
  for _ in range(updates):
    t = time.time()
    carry, _, _ = agent.train(carry, batch)
    times.append(time.time() - t)
  out['s_per_update'] = round(float(np.median(times)), 3)
  print(json.dumps(out))


def run_variant(flags, size, updates, lower):
  env = dict(os.environ, XLA_FLAGS=flags, TF_XLA_FLAGS='')
  cmd = [sys.executable, os.path.abspath(__file__), '--child', '--size', size,
         '--updates', str(updates)] + (['--lower'] if lower else [])
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
  if proc.returncode:
    raise RuntimeError(f'variant {flags!r} failed: {proc.stderr.strip().splitlines()[-1:]}')
  return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
  parser.add_argument('--size', default='1m')
  parser.add_argument('--updates', type=int, default=5)
  parser.add_argument('--variants', default='default=',
                      help='name=XLA_FLAGS pairs separated by ";"')
  parser.add_argument('--lower', action='store_true',
                      help='time the tf2xla lowering separately (adds one lowering)')
  parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.updates < 1:  # 0 divided by zero in the rates, or timed nothing
    parser.error('--updates must be 1 or more')
  if args.child:
    return child(args.size, args.updates, args.lower)
  print(f'load average {os.getloadavg()[0]:.1f}; size{args.size}; cold (no XLA cache)')
  for spec in args.variants.split(';'):
    name, _, flags = spec.partition('=')
    res = run_variant(flags, args.size, args.updates, args.lower)
    print(f'\n[{name}] XLA_FLAGS={flags!r}  s/update {res.pop("s_per_update")}')
    print(f'  {"phase":14s} {"wall s":>7s} {"cpu s":>7s} {"peak MB":>8s} {"now MB":>7s}')
    for phase, r in res.items():
      print(f'  {phase:14s} {r["wall"]:7.1f} {r["cpu"]:7.1f} {r["peak_mb"]:8d} {r["cur_mb"]:7d}')


if __name__ == '__main__':
  main()
