"""How the cost of an update and of a policy call grows with the work (prints a table).

  python bench/cost_table.py                       # every row, each in a fresh process
  python bench/cost_table.py --rows b8,b32,l128    # some rows (names below)
  python bench/cost_table.py --json /tmp/cost.json

Train rows (proprio inputs as in bench/train_step.py; one axis varied at a time
from batch 16 x length 64 at size1m):
  b8 b16 b32       batch size 8 / 16 / 32
  l32 l128         sequence length 32 / 128 (l64 is b16)
  s12m s25m        model size 12m / 25m
Policy rows: p1 p4 p16, policy calls/s at size1m for 1 / 4 / 16 envs (mode=train).

Each row runs alone in its own process (nothing else of ours runs meanwhile) and
reports the median over its timed updates, the CPU time per update, and the dot
FLOPs counted in the optimized HLO, so a row's time can be read against its work.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))
sys.path.insert(0, HERE)

TRAIN = {
    'b8': dict(batch=8), 'b16': dict(), 'b32': dict(batch=32),
    'l32': dict(length=32), 'l128': dict(length=128),
    's12m': dict(size='12m'), 's25m': dict(size='25m'),
}
POLICY = {'p1': 1, 'p4': 4, 'p16': 16}


def child_train(name, updates):
  import numpy as np
  import time as t_
  import official_bench
  import train_step
  row = {'size': '1m', 'batch': 16, 'length': 64, **TRAIN[name]}
  r = train_step.warm_agent('proprio', row['size'], batch_size=row['batch'],
                            batch_length=row['length'])
  agent, batches, carry = r['agent'], r['batches'], r['carry']
  walls, cpus = [], []
  for i in range(updates):
    w0, c0 = t_.perf_counter(), t_.process_time()
    carry, _, mets = agent.train(carry, batches[i % 2])
    walls.append(t_.perf_counter() - w0)
    cpus.append(t_.process_time() - c0)
  assert np.isfinite(mets['loss/total']), mets
  hlo = agent.compiler_ir('train', agent.init_train(row['batch']), batches[0],
                          stage='optimized_hlo')
  gflop = official_bench.hlo_flops(hlo)['matmul'] / 1e9
  return dict(row, name=name, step=float(np.median(walls)), cpu=float(np.median(cpus)),
              first=r['first'], gflop=gflop, params=mets['opt/param_count'])


def child_policy(name, calls):
  import train_step
  n = POLICY[name]
  rate = train_step.bench_policy(calls, envs=n)['rate']
  return dict(name=name, envs=n, calls_per_s=rate, steps_per_s=n * rate)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rows', default=','.join([*TRAIN, *POLICY]))
  parser.add_argument('--updates', type=int, default=8)
  parser.add_argument('--calls', type=int, default=2000)
  parser.add_argument('--json', default='')
  parser.add_argument('--child', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    fn = child_policy if args.child in POLICY else child_train
    out = fn(args.child, args.calls if args.child in POLICY else args.updates)
    print('RESULT ' + json.dumps(out))
    return
  from dreamerv3_tf.core import cpuinfo
  print(f'CPU: {cpuinfo.describe()}', flush=True)
  results = []
  for name in args.rows.split(','):
    if name not in TRAIN and name not in POLICY:
      raise SystemExit(f'--rows: unknown row {name!r}; choose from {", ".join([*TRAIN, *POLICY])}')
    load0 = os.getloadavg()[0]
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, __file__, '--child', name, '--updates', str(args.updates),
         '--calls', str(args.calls)], capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
    if proc.returncode or not lines:
      print(f'{name}: failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}')
      continue
    r = json.loads(lines[-1][7:])
    r['load'] = (load0, os.getloadavg()[0])
    results.append(r)
    if name in POLICY:
      print(f'{name:5s} {r["envs"]:3d} envs  {r["calls_per_s"]:7.0f} calls/s  '
            f'{r["steps_per_s"]:7.0f} env steps/s  load {load0:.1f}', flush=True)
    else:
      print(f'{name:5s} size {r["size"]:4s} batch {r["batch"]:3d} length {r["length"]:4d}  '
            f'{r["step"]:7.3f} s/update  {r["cpu"]:7.3f} CPU s  {r["gflop"]:7.1f} GFLOP  '
            f'{r["gflop"] / r["step"]:6.1f} GFLOP/s  first {r["first"]:5.1f} s  '
            f'load {load0:.1f}  ({time.time() - t0:.0f} s)', flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=1)


if __name__ == '__main__':
  main()
