"""Benchmark of the agent's compiled steps (not a test; prints a table).

  python bench/train_step.py                 # all rows
  python bench/train_step.py --only proprio  # one row: proprio | vision | policy
  python bench/train_step.py --only proprio --check_hlo /tmp/hlo   # + loop-invariance check
  python bench/train_step.py --only proprio --dtype bfloat16       # mixed precision
  python bench/train_step.py --compare_dtypes float32,bfloat16      # interleaved, medians

Rows: updates/s of `agent.train` at batch 16 x 64 for DMC-proprio-like observations
(vectors of 5 + 4 dims, one continuous action dim) at size1m and for 64x64x3 images
at size12m; time to first update (trace + XLA compile); policy calls/s for one env
at size1m; peak RSS of the process.
"""

import argparse
import glob
import os
import re
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import numpy as np  # noqa: E402

from configs import base  # noqa: E402
from configs import presets  # noqa: E402
from dreamerv3_tf.core.spaces import Space  # noqa: E402


def make_spaces(kind):
  obs = {'reward': Space(np.float32), 'is_first': Space(bool),
         'is_last': Space(bool), 'is_terminal': Space(bool)}
  if kind == 'proprio':
    obs['position'] = Space(np.float32, (5,))
    obs['velocity'] = Space(np.float32, (4,))
  else:
    obs['image'] = Space(np.uint8, (64, 64, 3))
  act = {'action': Space(np.float32, (1,), -1.0, 1.0)}
  return obs, act


def make_batch(obs_space, act_space, config, B, T, rng):
  batch = {}
  for k, s in {**obs_space, **act_space}.items():
    if s.dtype == np.uint8:
      batch[k] = rng.integers(0, 256, (B, T, *s.shape), dtype=np.uint8)
    elif s.dtype == bool:
      batch[k] = np.zeros((B, T), bool)
    else:
      batch[k] = rng.uniform(-1, 1, (B, T, *s.shape)).astype(np.float32)
  batch['is_first'][:, 0] = True
  r = config.agent.rssm
  batch['stepid'] = np.zeros((B, T, 20), np.uint8)
  batch['dyn/deter'] = np.zeros((B, T, r.deter), np.float32)
  batch['dyn/stoch'] = np.zeros((B, T, r.stoch, r.classes), np.float32)
  return batch


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def check_hlo(dump_dir, agent):
  """Scans the optimized train HLO: no while-loop tuple may hold a weight-shaped
  array with a time (loop) dimension in front, i.e. no weight read per iteration.

  Returns (number of while loops, list of offending shapes).
  """
  files = glob.glob(os.path.join(dump_dir, '*train*after_optimizations.txt'))
  assert files, f'no train HLO dump in {dump_dir}'
  text = open(max(files, key=os.path.getsize)).read()
  weights = {tuple(v.shape) for v in agent.model.trainable_weights if len(v.shape) >= 2}
  loops, bad = 0, []
  for line in text.splitlines():
    m = re.search(r'= \((.*)\) while\(', line)
    if not m:
      continue
    loops += 1
    for dims in re.findall(r'f32\[([\d,]+)\]', m.group(1)):
      dims = tuple(int(x) for x in dims.split(','))
      if len(dims) >= 3 and dims[1:] in weights:
        bad.append(dims)
  return loops, bad


def warm_agent(kind, size, dtype='float32', batch_size=None, batch_length=None):
  """An agent after its first two updates (compile, then one warm update).

  batch_size, batch_length: the config's unless given.
  -> dict(agent, batches (2), carry, build=s, first=s (the first update)).
  """
  from dreamerv3_tf.agent.agent import Agent
  c = base.get_config()
  presets.size(size)(c)
  c.compute_dtype = dtype
  c.batch_size = batch_size or c.batch_size
  c.batch_length = batch_length or c.batch_length
  obs, act = make_spaces(kind)
  t0 = time.time()
  agent = Agent(obs, act, c)
  build = time.time() - t0
  rng = np.random.default_rng(0)
  B, T = c.batch_size, c.batch_length + c.replay_context
  batches = [make_batch(obs, act, c, B, T, rng) for _ in range(2)]
  carry = agent.init_train(B)
  t0 = time.time()
  carry, _, _ = agent.train(carry, batches[0])
  first = time.time() - t0
  carry, _, _ = agent.train(carry, batches[1])
  return dict(agent=agent, batches=batches, carry=carry, build=build, first=first)


def bench_train(kind, size, updates, hlo_dir='', dtype='float32'):
  r = warm_agent(kind, size, dtype)
  agent, batches, carry = r['agent'], r['batches'], r['carry']
  t0 = time.time()
  for i in range(updates):
    carry, _, mets = agent.train(carry, batches[i % 2])
  dt = (time.time() - t0) / updates
  assert np.isfinite(mets['loss/total']), mets
  out = dict(build=r['build'], first=r['first'], step=dt, params=mets['opt/param_count'])
  if hlo_dir:
    out['hlo'] = check_hlo(hlo_dir, agent)
  return out


def bench_dtypes(kind, size, updates, dtypes):
  """Agents of each compute dtype in one process, their updates interleaved.

  On a shared machine, alternating one update of each keeps other jobs' load the
  same for all of them; the median of each dtype's updates is its figure.
  -> {dtype: dict(step=median s/update, cpu=median CPU s/update, first=s)}.
  """
  runs = {d: dict(warm_agent(kind, size, d), wall=[], cpu=[]) for d in dtypes}
  for i in range(updates):
    for r in runs.values():
      t0, cpu0 = time.time(), time.process_time()
      r['carry'], _, mets = r['agent'].train(r['carry'], r['batches'][i % 2])
      r['wall'].append(time.time() - t0)
      r['cpu'].append(time.process_time() - cpu0)
      assert np.isfinite(mets['loss/total']), mets
  return {d: dict(step=float(np.median(r['wall'])), cpu=float(np.median(r['cpu'])),
                  first=r['first']) for d, r in runs.items()}


def bench_policy(calls, envs=1):
  """Policy calls/s at size1m for `envs` envs (mode=train), after 20 warm calls."""
  from dreamerv3_tf.agent.agent import Agent
  c = base.get_config()
  presets.size('1m')(c)
  obs, act = make_spaces('proprio')
  agent = Agent(obs, act, c)
  rng = np.random.default_rng(0)
  o = {k: np.stack([s.sample(rng) for _ in range(envs)]) for k, s in obs.items()}
  o['position'] = o['position'].clip(-1, 1)
  o['velocity'] = o['velocity'].clip(-1, 1)
  carry = agent.init_policy(envs)
  t0 = time.time()
  carry, a, out = agent.policy(carry, o)
  first = time.time() - t0
  for _ in range(20):
    carry, a, out = agent.policy(carry, o)
  t0 = time.time()
  for _ in range(calls):
    carry, a, out = agent.policy(carry, o, mode='train')
  return dict(first=first, rate=calls / (time.time() - t0))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--only', default='', help='proprio | vision | policy')
  parser.add_argument('--updates', type=int, default=20)
  parser.add_argument('--vision_updates', type=int, default=4)
  parser.add_argument('--calls', type=int, default=2000)
  parser.add_argument('--check_hlo', default='', help='dump dir; proprio row only')
  parser.add_argument('--dtype', default='float32', help='compute dtype of the train rows')
  parser.add_argument('--compare_dtypes', default='',
                      help='e.g. float32,bfloat16: proprio size1m updates interleaved')
  args = parser.parse_args()
  # 0 divided by zero in the rates, or timed nothing
  if min(args.updates, args.vision_updates, args.calls) < 1:
    parser.error('--updates, --vision_updates, --calls must be 1 or more')
  if args.check_hlo:
    # Must be set before TensorFlow initialises XLA.
    os.environ['XLA_FLAGS'] = (
        f'{os.environ.get("XLA_FLAGS", "")} --xla_dump_to={args.check_hlo} '
        '--xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*train.*').strip()
  rows = []
  if args.compare_dtypes:
    for dtype, r in bench_dtypes(
        'proprio', '1m', args.updates, args.compare_dtypes.split(',')).items():
      rows.append((f'train proprio size1m 16x64 {dtype} (interleaved)',
                   f'{r["step"]:.3f} s/update', f'{r["cpu"]:.3f} CPU s/update',
                   f'first update {r["first"]:.1f} s', 'medians'))
    args.only = 'none'
  if args.only in ('', 'proprio'):
    r = bench_train('proprio', '1m', args.updates, args.check_hlo, args.dtype)
    if args.check_hlo:
      loops, bad = r['hlo']
      rows.append(('HLO while loops (train)', f'{loops} loops',
                   f'{len(bad)} per-step weight copies', str(bad[:3]) if bad else 'ok', ''))
    rows.append((f'train proprio size1m 16x64 {args.dtype}', f'{1 / r["step"]:.2f} updates/s',
                 f'{r["step"]:.3f} s/update', f'first update {r["first"]:.1f} s',
                 f'{r["params"] / 1e6:.2f}M params'))
  if args.only in ('', 'vision'):
    r = bench_train('vision', '12m', args.vision_updates, dtype=args.dtype)
    rows.append((f'train vision size12m 16x64 {args.dtype}', f'{1 / r["step"]:.2f} updates/s',
                 f'{r["step"]:.3f} s/update', f'first update {r["first"]:.1f} s',
                 f'{r["params"] / 1e6:.2f}M params'))
  if args.only in ('', 'policy'):
    r = bench_policy(args.calls)
    rows.append(('policy size1m, 1 env', f'{r["rate"]:.0f} calls/s',
                 f'{1e3 / r["rate"]:.2f} ms/call', f'first call {r["first"]:.1f} s', ''))
  rows.append(('peak RSS', f'{peak_rss_mb():.0f} MB', '', '', ''))
  widths = [max(len(r[i]) for r in rows) for i in range(5)]
  for r in rows:
    print('  '.join(x.ljust(w) for x, w in zip(r, widths)))


if __name__ == '__main__':
  from dreamerv3_tf import startup
  startup.import_tensorflow(startup.log_level())  # as `main` does (compare.py)
  main()
