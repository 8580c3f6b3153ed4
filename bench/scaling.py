"""How data parallelism scales on this machine: s/update of the size1m proprio agent
(bench/train_step.py's model, batch x 64 (+1 context), float32) per strategy.

  python bench/scaling.py                    # every row, each in fresh processes, in turn
  python bench/scaling.py --rows mw2_16      # some rows (names below)
  python bench/scaling.py --updates 10 --json /tmp/scaling.json

Rows (global batch = rows per update over all replicas):
  mirrored1_16        MirroredStrategy over 1 CPU device: the one-device XLA program
  mirrored1_graph_16  the same replica function as with 2 replicas (TF graph, no XLA),
                      forced on 1 replica: the baseline that isolates the replica count
  mirrored2_16/_32    2 logical CPU devices in one process, global batch 16 / 32
  mw2_16/_32          MultiWorkerMirroredStrategy, 2 processes on 127.0.0.1, 8 / 16
                      rows each (config.batch_size is per process)

Each measurement runs alone (nothing else of ours runs meanwhile) and prints the
1-minute load average before and after it: the machine may be shared. Besides the
wall time it prints the CPU time per update (all threads of all its processes);
both are medians over the timed updates.
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

import numpy as np  # noqa: E402

# name: (strategy, replicas in the process, processes, global batch, force graph)
ROWS = {
    'mirrored1_16': ('mirrored', 1, 1, 16, False),
    'mirrored1_graph_16': ('mirrored', 1, 1, 16, True),
    'mirrored2_16': ('mirrored', 2, 1, 16, False),
    'mirrored2_32': ('mirrored', 2, 1, 32, False),
    'mw2_16': ('multi_worker', 1, 2, 16, False),
    'mw2_32': ('multi_worker', 1, 2, 32, False),
}


def child(name, updates):
  """Runs in a fresh process: builds the agent for row `name`, times `updates` updates."""
  strategy, replicas, processes, batch, graph = ROWS[name]
  import tensorflow as tf
  cpu = tf.config.list_physical_devices('CPU')[0]
  if replicas > 1:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
  from configs import base
  from configs import presets
  from dreamerv3_tf import cluster_config
  from dreamerv3_tf import distribute
  from dreamerv3_tf import factories
  import train_step
  if graph:  # the replicated program (plain graph on CPU) on one replica
    distribute.is_distributed = lambda strategy: True
  c = base.get_config()
  presets.size('1m')(c)
  c.distribute, c.batch_size = strategy, batch // processes
  obs, act = train_step.make_spaces('proprio')
  agent = factories.make_agent(c, obs, act)
  rng = np.random.default_rng(cluster_config.worker_role()[1])  # each worker its own data
  T = c.batch_length + c.replay_context
  batches = [train_step.make_batch(obs, act, c, c.batch_size, T, rng) for _ in range(2)]
  carry = agent.init_train(c.batch_size)
  t0 = time.time()
  carry, _, mets = agent.train(carry, batches[0])
  first = time.time() - t0
  carry, _, mets = agent.train(carry, batches[1])
  walls, cpus = [], []  # medians: robust to bursts of other jobs' load
  for i in range(updates):
    t0, cpu0 = time.time(), time.process_time()
    carry, _, mets = agent.train(carry, batches[i % 2])
    walls.append(time.time() - t0)
    cpus.append(time.process_time() - cpu0)  # all threads of this process
  step, cpu = float(np.median(walls)), float(np.median(cpus))
  assert np.isfinite(mets['loss/total']), mets
  replicas_in_sync = agent.strategy.num_replicas_in_sync
  print(json.dumps(dict(row=name, step=step, cpu=cpu, first=first,
                        replicas=replicas_in_sync, batch=batch)), flush=True)


def measure(name, updates):
  """Runs row `name` in fresh processes; -> the chief's result with the load averages."""
  from dreamerv3_tf import distribute
  processes = ROWS[name][2]
  tf_configs = distribute.local_cluster(processes)
  procs = []
  load_before = os.getloadavg()[0]
  try:
    for index in range(processes):
      env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', CUDA_VISIBLE_DEVICES='')
      if processes > 1:
        env['TF_CONFIG'] = tf_configs[index]
      procs.append(subprocess.Popen(
          [sys.executable, os.path.abspath(__file__), '--child', name,
           '--updates', str(updates)], env=env, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=3600) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  for p, (out, err) in zip(procs, outs):
    if p.returncode:
      raise SystemExit(f'{name}: a process exited {p.returncode}: {err[-2000:]}')
  results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
  result = results[0]  # the chief's; the updates are in lockstep
  result.update(cpu=sum(r['cpu'] for r in results), load_before=load_before,
                load_after=os.getloadavg()[0])
  return result


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--rows', default=','.join(ROWS))
  parser.add_argument('--updates', type=int, default=10)
  parser.add_argument('--json', default='')
  parser.add_argument('--child', default='', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    return child(args.child, args.updates)
  results = []
  for name in args.rows.split(','):
    if name not in ROWS:
      raise SystemExit(f'--rows: unknown row {name!r}; choose from {", ".join(ROWS)}')
    r = measure(name, args.updates)
    results.append(r)
    print(f'{name:20s} replicas {r["replicas"]}  global batch {r["batch"]:3d}  '
          f'{r["step"]:.3f} s/update  {r["cpu"]:.3f} CPU s/update  '
          f'{r["batch"] * 64 / r["step"]:6.0f} replayed steps/s  '
          f'first update {r["first"]:.1f} s  load {r["load_before"]:.2f} -> '
          f'{r["load_after"]:.2f}', flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(results, f, indent=1)


if __name__ == '__main__':
  main()
