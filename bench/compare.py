"""Our agent against the official JAX DreamerV3 on this machine (prints a table).

  python bench/compare.py                       # sizes 1m,12m, 2 rounds
  python bench/compare.py --sizes 1m --rounds 3 --json /tmp/compare.json
  python bench/compare.py --official_python /work/official/venv/bin/python \\
      --official_src /work/official/src
  python bench/compare.py --official_malloc      # the official code with our malloc too

Our side runs with the malloc `main` takes (dreamerv3_tf/allocator.py: jemalloc or
TCMalloc if installed, DREAMERV3_TF_MALLOC=system for glibc's); the official side with
glibc's, as its own command runs, unless --official_malloc. Each side reports its malloc.

Each measurement runs in a fresh process, ours and the official one alternating
(ours, official, ours, official, ...), so both see the same machine load. Size 1m
uses DMC-proprio-like inputs (vectors 5 + 4, one continuous action) and also times
the policy for one env; size 12m uses a 64x64x3 image. Batch 16 x (64 + 1).

Figures per implementation (median over rounds; each round's step figure is the
median of `--updates` timed updates after one warm-up update):
  s/update, updates/s     train step incl. numpy -> device -> numpy at the boundary
  first update            from process start to the first update done (imports,
                          agent construction, trace, XLA compile, first run)
  policy calls/s          one env, size 1m, mode=train
  peak RSS                of the whole process after training and policy calls;
                          its parts at the peak (sampled every 20 ms until the first
                          update): own memory (RssAnon) and mapped files (RssFile:
                          shared libraries, clean pages the kernel can drop)
  GFLOP/update, GFLOP/s   dot + convolution FLOPs counted in each implementation's
                          own optimized HLO with loop bodies times their trip count
                          (official_bench.hlo_flops; XLA's cost analysis counts a
                          loop body once), divided by s/update
  % of peak               against 2 cores x FLOP/cycle x the TSC clock (lscpu), and
                          against an XLA f32 matmul measured in the same run
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(1, ROOT)

import official_bench  # noqa: E402  (standard library only at import time)
from dreamerv3_tf import allocator  # noqa: E402  (no TensorFlow)
from dreamerv3_tf.core import cpuinfo  # noqa: E402  (no TensorFlow)

KIND = {'1m': 'proprio', '12m': 'vision'}


# --- our side (runs in a child process) ----------------------------------------


def bench_ours(kind, size, updates, policy_calls, flops):
  """Our train (and policy) step; the same fields as official_bench.bench."""
  t = time.time()
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  import numpy as np
  from dreamerv3_tf import startup
  # As `main` imports it: this process is ours (gc.freeze after the import, Keras
  # without pyplot and IPython; tfimport.py). A plain import cost 0.9 s more here.
  startup.import_tensorflow(startup.log_level())
  from dreamerv3_tf.agent.agent import Agent
  import tensorflow as tf
  from configs import base
  from configs import presets
  import train_step
  out = dict(impl='ours', kind=kind, size=size, tf=tf.__version__,
             imports=time.time() - t, rss_imports=official_bench.peak_rss_mb(),
             malloc=allocator.describe())

  c = base.get_config()
  presets.size(size)(c)
  obs, act = train_step.make_spaces(kind)
  parts = official_bench.PeakParts()  # until the first update: the peak comes with its compile
  t = time.time()
  agent = Agent(obs, act, c)
  out['construct'] = time.time() - t
  out['rss_construct'] = official_bench.peak_rss_mb()
  out['params'] = int(sum(int(np.prod(v.shape)) for v in agent.model.trainable_weights))
  B, T = c.batch_size, c.batch_length + c.replay_context
  rng = np.random.default_rng(0)
  batches = [train_step.make_batch(obs, act, c, B, T, rng) for _ in range(2)]
  carry = agent.init_train(B)

  # Trace apart from compiling; the first call then compiles and runs.
  t = time.time()
  agent.trace('train', carry, batches[0])
  out['trace'] = time.time() - t

  t = time.time()
  carry, _, mets = agent.train(carry, batches[0])
  out['first_call'] = time.time() - t
  out['first'] = out.get('trace', 0.0) + out['first_call']
  out['to_first_update'] = official_bench.process_age()
  out['rss_first'] = official_bench.peak_rss_mb()
  out.update(parts.stop())
  out['traces'] = agent.trace_counts.get('train')
  carry, _, mets = agent.train(carry, batches[1])  # warm
  times = []
  for i in range(updates):
    t = time.time()
    carry, _, mets = agent.train(carry, batches[i % 2])
    times.append(time.time() - t)
  out['step_times'] = times
  out['step'] = float(np.median(times))
  assert np.isfinite(mets['loss/total']), mets
  out['rss_train'] = official_bench.peak_rss_mb()

  if policy_calls:
    o = {k: np.stack([s.sample(rng)]) for k, s in obs.items()}
    for k in ('position', 'velocity'):
      if k in o:
        o[k] = o[k].clip(-1, 1)
    out['policy_first'], out['policy_rate'] = official_bench.time_policy(agent, o, policy_calls)
  out['rss'] = official_bench.peak_rss_mb()

  if flops:
    # Compiles the train step once more (after all timings and RSS readings).
    t = time.time()
    hlo = agent.compiler_ir('train', agent.init_train(B), batches[0], stage='optimized_hlo')
    out['flops'] = official_bench.hlo_flops(hlo)
    out['flops_seconds'] = time.time() - t
  return out


def matmul_roof(n=1024, reps=12):
  """GFLOP/s of one XLA-compiled f32 [n, n] x [n, n] matmul (TensorFlow): best, median."""
  import numpy as np
  import tensorflow as tf
  a = tf.constant(np.random.default_rng(0).random((n, n), np.float32))
  f = tf.function(lambda x: tf.matmul(x, x), jit_compile=True)
  f(a).numpy()
  ts = []
  for _ in range(reps):
    t = time.time()
    f(a).numpy()
    ts.append(time.time() - t)
  return dict(best=2 * n ** 3 / min(ts) / 1e9, median=2 * n ** 3 / statistics.median(ts) / 1e9)


# --- machine facts ---------------------------------------------------------------


def cpu_peak():
  """Theoretical f32 peak from /proc/cpuinfo: cores x FLOP/cycle x TSC clock."""
  info = open('/proc/cpuinfo').read()
  flags = set(re.search(r'^flags\s*:\s*(.*)$', info, re.M).group(1).split())
  model = re.search(r'^model name\s*:\s*(.*)$', info, re.M).group(1).strip()
  family = int(re.search(r'^cpu family\s*:\s*(\d+)', info, re.M).group(1))
  vendor = re.search(r'^vendor_id\s*:\s*(\S+)', info, re.M).group(1)
  cores = os.cpu_count()
  mhz = float(re.search(r'^cpu MHz\s*:\s*([\d.]+)', info, re.M).group(1))
  bogo = float(re.search(r'^bogomips\s*:\s*([\d.]+)', info, re.M).group(1))
  ghz = max(mhz, bogo / 2) / 1000
  # Two FMA pipes per core; their width: AMD Zen 5 (family 26) runs AVX-512 at
  # full 512 bits, Zen 4 (family 25) splits it into two 256-bit halves.
  capped = cpuinfo.cap()
  if capped:  # tools/as_avx2.sh: XLA generates no AVX-512 code
    flags -= {f for f in flags if f.startswith('avx512')}
  if 'avx512f' in flags and not (vendor == 'AuthenticAMD' and family < 26):
    width, isa = 16, 'AVX-512 (2 x 512-bit FMA)'
  elif 'fma' in flags:
    width, isa = 8, 'AVX2 (2 x 256-bit FMA)'
  else:
    width, isa = 4, 'SSE'
  per_cycle = 2 * 2 * width  # pipes x (mul + add) x f32 lanes
  return dict(model=model, family=family, isa=isa, cores=cores, ghz=ghz,
              flop_per_cycle=per_cycle, peak=cores * per_cycle * ghz)


def official_env(environ, src, malloc=False):
  """The official side's environment: its code on PYTHONPATH, JAX on the CPU, and
  glibc's malloc as its own command runs (ours with `malloc`). Of LD_PRELOAD only
  tools/as_avx2.sh's CPUID mask stays, which caps jaxlib's ISA as it caps ours; jaxlib
  0.4.33 stops at --xla_cpu_max_isa (an unknown flag there), so that flag is dropped."""
  env = dict(environ, PYTHONPATH=src, JAX_PLATFORMS='cpu')
  env['XLA_FLAGS'] = re.sub(r'\s*--xla_cpu_max_isa=\S+', '', env.get('XLA_FLAGS', '')).strip()
  mask = [x for x in env.get('LD_PRELOAD', '').split() if cpuinfo.masked({'LD_PRELOAD': x})]
  env.pop('LD_PRELOAD', None)
  if mask:
    env['LD_PRELOAD'] = ' '.join(mask)
  return allocator.preload_env(env) if malloc else env


def load_average():
  return os.getloadavg()


# --- parent ----------------------------------------------------------------------


def run_child(cmd, env, timeout):
  t = time.time()
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
  lines = [x for x in proc.stdout.splitlines() if x.startswith('{')]
  if proc.returncode or not lines:
    tail = '\n'.join(proc.stderr.strip().splitlines()[-15:])
    raise RuntimeError(f'child failed ({proc.returncode}): {" ".join(cmd)}\n{tail}')
  out = json.loads(lines[-1])
  out['wall'] = time.time() - t
  return out


def official_ready(python, src):
  if not (os.path.isfile(python) and os.path.isfile(os.path.join(src, 'dreamerv3', 'agent.py'))):
    return False, (
        f'official code not found (python {python}, src {src}). Install it outside the repo:\n'
        '  mkdir -p /work/official/src && git -C <bare dreamerv3 repo> archive HEAD \\\n'
        '      | tar -x -C /work/official/src\n'
        '  python -m venv /work/official/venv\n'
        '  /work/official/venv/bin/pip install "jax[cpu]==0.4.33" "numpy<2" chex einops \\\n'
        '      "elements>=3.19.1" "granular>=0.20.3" "ninjax>=3.5.1" optax "portal>=3.5.0" \\\n'
        '      "scope>=0.4.4" jaxtyping tqdm colored_traceback psutil\n'
        '(see bench/README.md)')
  return True, ''


def fmt(x, spec):
  return '-' if x is None else format(x, spec)


def summarize(results, peak, roof):
  """Rows of the comparison table from a list of child results."""
  rows = [('size', 'figure', 'ours', 'official', 'ours/official')]
  for size in sorted({r['size'] for r in results}, key=lambda s: float(s[:-1])):
    by = {impl: [r for r in results if r['size'] == size and r['impl'] == impl]
          for impl in ('ours', 'official')}

    def med(impl, key, fn=lambda v: v):
      vals = [fn(r[key]) for r in by[impl] if isinstance(r.get(key), (int, float))]
      return statistics.median(vals) if vals else None

    def row(name, key, spec, fn=lambda v: v):
      o, f = med('ours', key, fn), med('official', key, fn)
      ratio = f'{o / f:.2f}' if o is not None and f else '-'
      rows.append((size, name, fmt(o, spec), fmt(f, spec), ratio))

    def flops(impl):
      vals = [r['flops']['matmul'] for r in by[impl] if isinstance(r.get('flops'), dict)]
      return vals[0] if vals else None

    row('updates/s', 'step', '.3f', lambda v: 1 / v)
    row('s/update (median)', 'step', '.3f')
    row('first update from process start, s', 'to_first_update', '.1f')
    row('  imports, s', 'imports', '.1f')
    row('  agent construction, s', 'construct', '.1f')
    row('  trace (lower), s', 'trace', '.1f')
    o_c = med('ours', 'first_call')
    f_c = [r['compile'] + r['first_call'] for r in by['official'] if 'compile' in r]
    f_c = statistics.median(f_c) if f_c else None
    rows.append((size, '  compile + first run, s', fmt(o_c, '.1f'), fmt(f_c, '.1f'),
                 f'{o_c / f_c:.2f}' if o_c and f_c else '-'))
    if any('policy_rate' in r for r in by['ours'] + by['official']):
      row('policy calls/s (1 env)', 'policy_rate', '.0f')
    row('peak RSS, MB', 'rss', '.0f')
    row('  at the peak: own memory (RssAnon), MB', 'rss_anon', '.0f')
    row('  at the peak: mapped files, libraries (RssFile), MB', 'rss_file', '.0f')
    row('  after imports, MB', 'rss_imports', '.0f')
    row('  after agent construction, MB', 'rss_construct', '.0f')
    row('  after first update, MB', 'rss_first', '.0f')
    row('model parameters, M', 'params', '.3f', lambda v: v / 1e6)
    fo, ff = flops('ours'), flops('official')
    so, sf = med('ours', 'step'), med('official', 'step')
    rows.append((size, 'GFLOP/update (dot+conv, HLO)', fmt(fo and fo / 1e9, '.1f'),
                 fmt(ff and ff / 1e9, '.1f'), f'{fo / ff:.2f}' if fo and ff else '-'))
    go = fo / so / 1e9 if fo and so else None
    gf = ff / sf / 1e9 if ff and sf else None
    rows.append((size, 'effective GFLOP/s', fmt(go, '.1f'), fmt(gf, '.1f'),
                 f'{go / gf:.2f}' if go and gf else '-'))
    rows.append((size, f'% of peak {peak["peak"]:.0f} GFLOP/s', fmt(go and 100 * go / peak['peak'], '.1f'),
                 fmt(gf and 100 * gf / peak['peak'], '.1f'), ''))
    if roof:
      rows.append((size, f'% of XLA matmul {roof:.0f} GFLOP/s', fmt(go and 100 * go / roof, '.1f'),
                   fmt(gf and 100 * gf / roof, '.1f'), ''))
    rows.append((size, 'rounds', str(len(by['ours'])), str(len(by['official'])), ''))
  rows = [r for r in rows if r]
  widths = [max(len(r[i]) for r in rows) for i in range(5)]
  return '\n'.join('  '.join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in rows)


def main():
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
  parser.add_argument('--sizes', default='1m,12m', help='comma list of 1m, 12m')
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--vision_rounds', type=int, default=1,
                      help='rounds for 12m (the official vision update is slow)')
  parser.add_argument('--updates', type=int, default=20, help='timed updates at 1m')
  parser.add_argument('--vision_updates', type=int, default=3, help='timed updates at 12m')
  parser.add_argument('--policy_calls', type=int, default=2000)
  parser.add_argument('--official_python', default='/work/official/venv/bin/python')
  parser.add_argument('--official_src', default='/work/official/src')
  parser.add_argument('--official_malloc', action='store_true',
                      help="preload our malloc (allocator.py) in the official runs too")
  parser.add_argument('--ours_xla_flags', default='',
                      help='appended to XLA_FLAGS in our runs only (the official XLA is older '
                           'and stops at flags it does not know)')
  parser.add_argument('--timeout', type=float, default=1800, help='per child, seconds')
  parser.add_argument('--json', default='', help='also write all raw results here')
  parser.add_argument('--child', default='', help=argparse.SUPPRESS)
  parser.add_argument('--size', default='1m', help=argparse.SUPPRESS)
  parser.add_argument('--flops', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()

  if args.child == 'ours':
    sys.path.insert(0, ROOT)
    size = args.size
    updates = args.updates if size == '1m' else args.vision_updates
    out = bench_ours(KIND[size], size, updates,
                     args.policy_calls if size == '1m' else 0, args.flops)
    print(json.dumps(out))
    return
  if args.child == 'roof':
    print(json.dumps(matmul_roof()))
    return

  sizes = [s.strip() for s in args.sizes.split(',') if s.strip()]
  bad = [s for s in sizes if s not in KIND]
  if bad:
    raise SystemExit(f'--sizes: unknown {bad}; choose from {sorted(KIND)}')
  have_official, why = official_ready(args.official_python, args.official_src)
  if not have_official:
    print(why)
  env = allocator.preload_env(dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  if args.ours_xla_flags:
    env['XLA_FLAGS'] = f'{env.get("XLA_FLAGS", "")} {args.ours_xla_flags}'.strip()
    print(f'ours: XLA_FLAGS={env["XLA_FLAGS"]!r}')
  off_env = official_env(os.environ, args.official_src, args.official_malloc)
  print(f'malloc: ours {env.get("LD_PRELOAD") or "glibc"}, official '
        f'{off_env.get("LD_PRELOAD") or "glibc"}')
  ours_cap, official_cap = cpuinfo.cap(env), cpuinfo.cap(off_env)
  if ours_cap or official_cap:
    print(f'ISA cap: ours {ours_cap or "none"}, official {official_cap or "none"}'
          f'{" (CPUID mask)" if cpuinfo.masked(off_env) else ""}')
  if ours_cap != official_cap:
    print('Warning: the two sides run under different ISA caps; run compare.py under '
          'tools/as_avx2.sh on a CPU with CPUID faulting to cap both')
  peak = cpu_peak()
  print(f'CPU: {cpuinfo.describe()}')
  print(f'peak: {peak["isa"]}, {peak["flop_per_cycle"]} f32 FLOP/cycle/core x '
        f'{peak["ghz"]:.2f} GHz (TSC) x {peak["cores"]} cores = {peak["peak"]:.0f} GFLOP/s',
        flush=True)

  results, loads = [], []
  roofs = []
  me = os.path.abspath(__file__)
  for size in sizes:
    rounds = args.rounds if size == '1m' else min(args.rounds, args.vision_rounds)
    for i in range(rounds):
      jobs = [('ours', [sys.executable, me, '--child', 'ours', '--size', size,
                        '--updates', str(args.updates),
                        '--vision_updates', str(args.vision_updates),
                        '--policy_calls', str(args.policy_calls)]
               + (['--flops'] if i == 0 else []), env)]
      if have_official:
        updates = args.updates if size == '1m' else args.vision_updates
        jobs.append(('official', [
            args.official_python, os.path.join(HERE, 'official_bench.py'), '--quiet',
            '--kind', KIND[size], '--size', size, '--updates', str(updates),
            '--policy_calls', str(args.policy_calls if size == '1m' else 0)], off_env))
      if i % 2:
        jobs.reverse()  # alternate who goes first
      for impl, cmd, e in jobs:
        before = load_average()[0]
        r = run_child(cmd, e, args.timeout)
        r['round'], r['load_before'], r['load_after'] = i, before, load_average()[0]
        results.append(r)
        loads.append(r['load_after'])
        # The spread within the round: a Zen 4 VM ran the same step ~25% slower for
        # stretches of seconds (BENCHMARKS.md, session 30), which a median hides.
        times, spread = r.get('step_times') or [], ''
        if len(times) > 1:
          deciles = statistics.quantiles(times, n=10)
          spread = f' (p10-p90 {deciles[0]:.3f}-{deciles[-1]:.3f})'
        print(f'  {size} round {i} {impl:8s} {r["step"]:.3f} s/update{spread}, first update '
              f'{r["to_first_update"]:.1f} s, RSS {r["rss"]:.0f} MB, load '
              f'{before:.1f}->{r["load_after"]:.1f}, wall {r["wall"]:.0f} s', flush=True)
      roofs.append(run_child([sys.executable, me, '--child', 'roof'], env, 300))

  if args.json:
    tmp = args.json + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(dict(peak=peak, roofs=roofs, results=results), f, indent=1)
    os.replace(tmp, args.json)
  roof = statistics.median(r['median'] for r in roofs) if roofs else None
  print()
  print(summarize(results, peak, roof))
  versions = {r['impl']: r.get('tf') or r.get('jax') for r in results}
  print(f'\nversions: ours tensorflow {versions.get("ours")}, official jax '
        f'{versions.get("official", "-")}; 1-min load average during runs '
        f'{min(loads):.1f}..{max(loads):.1f}; XLA matmul roof (median of rounds) '
        f'{fmt(roof, ".0f")} GFLOP/s, best {max(r["best"] for r in roofs):.0f}')
  for r in results:
    if isinstance(r.get('flops'), dict) and (r['flops']['guessed_trips'] or r['flops']['custom_calls']):
      print(f'note: {r["impl"]} {r["size"]} HLO: {r["flops"]["guessed_trips"]} loops with '
            f'guessed trip counts, uncounted custom calls {r["flops"]["custom_calls"]}')


if __name__ == '__main__':
  main()
