"""Where a train step's time goes: its phases compiled and timed one by one.

  python bench/train_phases.py                    # size1m proprio, batch 16 x 64
  python bench/train_phases.py --size 12m --kind vision --reps 3
  python bench/train_phases.py --json /tmp/phases.json

Each row is its own XLA program (jit_compile, like the train step) built from the
model's own methods on one fixed batch, so a row's time is that part of the step
alone; differences between rows give the parts that cannot run alone (a backward
pass needs its forward). The rows:

  observe fwd       encoder + the posterior scan over T steps (RSSM.observe)
  observe fwd+bwd   the same and its gradient (a loss reading every output)
  world model fwd   observe + prior, KL, decoder, reward and continue heads, losses
  world model f+b   the same and the gradient of the world model's loss terms
  imagine fwd       the prior rollout: H steps from all B*T posterior states, the
                    policy sampled inside (no gradients: it runs outside the tape)
  actor-critic f+b  imagine + heads on the dreams, returns, and the gradient of
                    the policy and value losses (the imagination is not recorded)
  loss + grads      Model.train_grads: every loss and the whole gradient
  optimizer         Model.opt.apply on fixed gradients + the slow critic update
  train step        the agent's own compiled train step, called with tensors
  Agent.train       the same through Agent.train (numpy in, checks, numpy out):
                    the difference to the row above is the host boundary

Each row reports the median wall and CPU time over `--reps` calls after two warm
ones, and its matmul/convolution FLOPs counted in the optimized HLO.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import official_bench  # noqa: E402
import train_step  # noqa: E402


def timed(fn, reps, warm=2):
  """-> (median wall s, median CPU s) of `reps` calls after `warm` calls."""
  for _ in range(warm):
    out = fn()
  walls, cpus = [], []
  for _ in range(reps):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    _block(out)
    walls.append(time.perf_counter() - t0)
    cpus.append(time.process_time() - c0)
  return float(np.median(walls)), float(np.median(cpus))


def _block(out):
  import tensorflow as tf
  for x in tf.nest.flatten(out):
    if hasattr(x, 'numpy'):
      x.numpy()


def phases(kind, size, reps, flops):
  import tensorflow as tf
  from dreamerv3_tf.agent import dists

  r = train_step.warm_agent(kind, size)
  agent, batch, carry = r['agent'], r['batches'][0], r['carry']
  model = agent.model
  carry_np, data_np = agent.step_inputs('train', carry, batch)
  conv = lambda x: tf.nest.map_structure(tf.convert_to_tensor, x)
  carry_t, data_t = conv(carry_np), conv(data_np)
  seed = tf.constant([3, 7], tf.int64)
  weights = lambda mods: [v for m in mods for v in m.trainable_weights]
  wm_mods = [model.enc, model.dyn, model.dec, model.rew, model.con]
  ac_mods = [model.pol, model.val]

  def observe(carry, data, seed):
    start, obs, prevact, _, _ = model._split_context(carry, data)
    tokens = model.enc({k: obs[k] for k in model.dec.obs_space})
    T = tokens.shape[1]
    return model.dyn.observe(*start, tokens, prevact, obs['is_first'], dists.split(seed, T))

  def observe_grad(carry, data, seed):
    vs = weights([model.enc, model.dyn])
    with tf.GradientTape() as tape:
      deter, stoch, logits = observe(carry, data, seed)
      loss = tf.reduce_mean(deter ** 2) + tf.reduce_mean(logits ** 2)
    return tape.gradient(loss, vs)

  def wm_loss(carry, data, seed):
    start, obs, prevact, _, _ = model._split_context(carry, data)
    losses, _, post = model._world_model_loss(start, obs, prevact, seed)
    return tf.add_n([tf.reduce_mean(v) for v in losses.values()]), post

  def wm_fwd(carry, data, seed):
    return wm_loss(carry, data, seed)[0]

  def wm_grad(carry, data, seed):
    vs = weights(wm_mods)
    with tf.GradientTape() as tape:
      loss, _ = wm_loss(carry, data, seed)
    return tape.gradient(loss, vs)

  # Posterior states to imagine from: one forward pass, then fixed inputs.
  deter, stoch, _ = tf.function(observe, jit_compile=True)(carry_t, data_t, seed)

  def imagine(deter, stoch, seed):
    return model.imagine(deter, stoch, seed)

  def ac_grad(deter, stoch, seed):
    vs = weights(ac_mods)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
      tape.watch([v.value for v in vs])
      losses, _, _ = model._imagination_loss(deter, stoch, seed, tape)
      loss = tf.add_n([tf.reduce_mean(v) for v in losses.values()])
    return tape.gradient(loss, [v.value for v in vs])

  def train_grads(carry, data, seed):
    return model.train_grads(carry, data, seed)[0]

  grads = [tf.convert_to_tensor(g) for g in
           tf.function(train_grads, jit_compile=True)(carry_t, data_t, seed)]

  def optimizer(grads):
    mets = model.opt.apply(grads, model.trainable_weights)
    model._s.slow.update()
    return mets

  rows = [
      ('observe fwd', observe, (carry_t, data_t, seed)),
      ('observe fwd+bwd', observe_grad, (carry_t, data_t, seed)),
      ('world model fwd', wm_fwd, (carry_t, data_t, seed)),
      ('world model f+b', wm_grad, (carry_t, data_t, seed)),
      ('imagine fwd', imagine, (deter, stoch, seed)),
      ('actor-critic f+b', ac_grad, (deter, stoch, seed)),
      ('loss + grads', train_grads, (carry_t, data_t, seed)),
      ('optimizer', optimizer, (grads,)),
  ]
  out = []
  for name, fn, args in rows:
    f = tf.function(fn, jit_compile=True, autograph=False)
    wall, cpu = timed(lambda: f(*args), reps)
    row = dict(phase=name, wall=wall, cpu=cpu)
    if flops:
      row['gflop'] = official_bench.hlo_flops(
          f.experimental_get_compiler_ir(*args)(stage='optimized_hlo'))['matmul'] / 1e9
    out.append(row)
    print(_fmt(row), flush=True)

  train_fn = agent._s.fns['train']
  wall, cpu = timed(lambda: train_fn(carry_t, data_t), reps)
  row = dict(phase='train step', wall=wall, cpu=cpu)
  if flops:
    row['gflop'] = official_bench.hlo_flops(agent.compiler_ir(
        'train', carry, batch, stage='optimized_hlo'))['matmul'] / 1e9
  out.append(row)
  print(_fmt(row), flush=True)
  state = {'carry': carry}

  def python_train():
    state['carry'], _, mets = agent.train(state['carry'], batch)
    return mets
  wall, cpu = timed(python_train, reps)
  out.append(dict(phase='Agent.train', wall=wall, cpu=cpu))
  print(_fmt(out[-1]), flush=True)
  return out


def _fmt(row):
  g = row.get('gflop')
  extra = f'  {g:7.2f} GFLOP  {g / row["wall"]:6.1f} GFLOP/s' if g else ''
  return f'{row["phase"]:18s} {row["wall"] * 1e3:9.1f} ms wall {row["cpu"] * 1e3:9.1f} ms CPU{extra}'


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--kind', default='proprio', help='proprio | vision')
  parser.add_argument('--size', default='1m')
  parser.add_argument('--reps', type=int, default=10)
  parser.add_argument('--no_flops', action='store_true')
  parser.add_argument('--json', default='')
  args = parser.parse_args()
  if args.reps < 1:  # 0 divided by zero in the rates, or timed nothing
    parser.error('--reps must be 1 or more')
  from dreamerv3_tf.core import cpuinfo
  print(f'CPU: {cpuinfo.describe()}; {os.cpu_count()} cores; '
        f'load {os.getloadavg()[0]:.2f}', flush=True)
  out = phases(args.kind, args.size, args.reps, not args.no_flops)
  by = {r['phase']: r['wall'] for r in out}
  print('\nderived:')
  derived = {
      'backward through observe': by['observe fwd+bwd'] - by['observe fwd'],
      'world model minus observe (fwd)': by['world model fwd'] - by['observe fwd'],
      'world model backward': by['world model f+b'] - by['world model fwd'],
      'actor-critic minus imagine': by['actor-critic f+b'] - by['imagine fwd'],
      'train step minus (loss+grads, optimizer)':
          by['train step'] - by['loss + grads'] - by['optimizer'],
      'host boundary (Agent.train minus train step)': by['Agent.train'] - by['train step'],
  }
  for k, v in derived.items():
    print(f'  {k:45s} {v * 1e3:8.1f} ms')
  print(f'load after {os.getloadavg()[0]:.2f}')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(dict(rows=out, derived=derived), f, indent=1)


if __name__ == '__main__':
  main()
