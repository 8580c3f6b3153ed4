"""Times the official DreamerV3 (JAX) train and policy steps; prints one JSON line.

Runs inside the official code's own venv, never ours (see bench/README.md):

  PYTHONPATH=/work/official/src /work/official/venv/bin/python \\
      bench/official_bench.py --kind proprio --size 1m --updates 20

Same shapes as bench/train_step.py: batch 16 x (64 + 1 context), DMC-proprio-like
vectors (position 5, velocity 4) or a 64x64x3 image, one continuous action in
[-1, 1]; configs dmc_proprio|dmc_vision + size1m|size12m, jax platform cpu,
compute_dtype float32. The train step is lowered and compiled the way the official
agent's `precompile` does (report is not compiled: our agent compiles it lazily too).

The module top level imports only the standard library: `hlo_flops` is shared with
bench/compare.py, which runs under our interpreter.
"""

import argparse
import json
import os
import re
import resource
import sys
import time

_T0 = time.time()


def process_age():
  """Seconds since this process was created (from /proc), else since module load."""
  try:
    with open('/proc/self/stat') as f:
      start_ticks = int(f.read().rsplit(')', 1)[1].split()[19])
    with open('/proc/uptime') as f:
      uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf('SC_CLK_TCK')
  except (OSError, ValueError, IndexError):
    return time.time() - _T0


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakParts:
  """What the resident set is made of at its peak: a thread reads /proc/self/status
  every `period` seconds until `stop()`, keeping the reading of largest VmRSS.

  RssAnon is the process's own memory (heaps, compiled code); RssFile the pages of
  mapped files, mostly shared libraries: clean, shared with other processes and
  dropped by the kernel under memory pressure. Linux only; elsewhere stop() -> {}.
  """

  def __init__(self, period=0.02):
    import threading
    self._best, self._done = {}, threading.Event()
    self._thread = threading.Thread(target=self._run, args=(period,), daemon=True)
    self._thread.start()

  def _run(self, period):
    while not self._done.is_set():
      try:
        with open('/proc/self/status') as f:
          now = {k: int(v.split()[0]) / 1024 for k, _, v in
                 (line.partition(':') for line in f) if k in ('VmRSS', 'RssAnon', 'RssFile')}
      except (OSError, ValueError, IndexError):
        return
      if now.get('VmRSS', 0) > self._best.get('VmRSS', 0):
        self._best = now
      self._done.wait(period)

  def stop(self):
    """-> {'rss_anon': MB, 'rss_file': MB} at the largest VmRSS seen (sampled)."""
    self._done.set()
    self._thread.join()
    if 'RssAnon' not in self._best:
      return {}
    return {'rss_anon': self._best['RssAnon'], 'rss_file': self._best['RssFile']}


# --- FLOP count from optimized HLO text -----------------------------------------
# XLA's own cost analysis (jax `.cost_analysis()`) counts a while-loop body once,
# whatever its trip count (checked: a 10-step scan of a matmul reports 1 step),
# and DreamerV3 is mostly loops (RSSM over 64 steps, imagination over 15). This
# counter walks the call graph and multiplies loop bodies by their trip counts. It
# reads the same HLO text dialect from jaxlib and TensorFlow, so both agents are
# counted the same way.

_COMP_RE = re.compile(r'^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s*\(.*\)\s*->\s*.*\{\s*$')
_INSTR_RE = re.compile(r'^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.*?)\s+([a-z][\w\-]*)\((.*)$')
_SHAPE_RE = re.compile(r'\b(pred|s4|s8|s16|s32|s64|u4|u8|u16|u32|u64|f16|bf16|f32|f64|c64|c128)'
                       r'\[([\d,]*)\]')
_ELEMENTWISE = {
    'add', 'subtract', 'multiply', 'divide', 'maximum', 'minimum', 'exponential',
    'exponential-minus-one', 'log', 'log-plus-one', 'tanh', 'logistic', 'sqrt',
    'rsqrt', 'power', 'negate', 'abs', 'sign', 'floor', 'ceil', 'round-nearest-even',
    'cosine', 'sine', 'atan2', 'erf', 'cbrt', 'remainder', 'compare', 'select',
    'clamp', 'and', 'or', 'xor', 'not'}


def _dims(text):
  m = _SHAPE_RE.search(text)
  if not m:
    return None
  return [int(x) for x in m.group(2).split(',') if x]


def _prod(xs):
  out = 1
  for x in xs:
    out *= x
  return out


def _attr(rest, name):
  m = re.search(r'\b' + name + r'=\{([^}]*)\}', rest)
  return [int(x) for x in m.group(1).split(',') if x.strip()] if m else []


def _parse_hlo(text):
  """-> ({computation: [(name, shape text, op, rest)]}, entry name)."""
  comps, cur, entry = {}, None, None
  for line in text.splitlines():
    m = _COMP_RE.match(line)
    if m and not line.startswith(' '):
      cur = m.group(1)
      comps[cur] = []
      if line.startswith('ENTRY'):
        entry = cur
      continue
    if cur is not None and line.strip() == '}':
      cur = None
      continue
    m = _INSTR_RE.match(line) if cur is not None else None
    if m:
      comps[cur].append(m.groups())
  if entry is None:
    raise ValueError('hlo_flops: no ENTRY computation in the HLO text')
  return comps, entry


def _operands(rest):
  """[(inline shape text or '', name)] of an instruction's operand list."""
  return re.findall(r'(?:(\w+\[[\d,]*\])(?:\{[^}]*\})?\s+)?%?([\w.\-]+)',
                    rest.split('),')[0])


def _called(rest, key):
  m = re.search(r'\b' + key + r'=%?([\w.\-]+)', rest)
  return m.group(1) if m else None


def _constants(comps, name, seen=None):
  """Integer scalar constants in a computation and the ones it calls."""
  seen = set() if seen is None else seen
  if name in seen or name not in comps:
    return []
  seen.add(name)
  out = []
  for _, shape, op, rest in comps[name]:
    if op == 'constant' and re.match(r'\s*[su]\d+\[\]', shape):
      out.append(int(rest.split(')')[0]))
    for callee in re.findall(r'\bcalls=%?([\w.\-]+)', rest):
      out += _constants(comps, callee, seen)
  return out


def _trip_count(comps, comp, rest, known):
  """Trip count of a while instruction: (n, how) with how in known|bound|guess.

  XLA records `known_trip_count` for most loops. Otherwise the loop's bound is read
  from the data flow: an element of the initial tuple that the condition reads and
  that is a constant, or the final counter of an earlier loop (TF's gradient loops
  run as many steps as their forward loop and get that count as a loop input).
  Last resort: the largest integer constant in the condition.
  """
  m = re.search(r'known_trip_count[^0-9]*(\d+)', rest)
  if m:
    return int(m.group(1)), 'known'
  cond = _called(rest, 'condition')
  instrs = {x[0]: x for x in comps[comp]}
  init = _operands(rest)[0][1]
  idxs = {int(i) for _, _, op, r in comps.get(cond, []) if op == 'get-tuple-element'
          for i in re.findall(r'index=(\d+)', r)}
  ind = re.search(r'known_induction_variable[^0-9]*(\d+)', rest)
  idxs -= {int(ind.group(1))} if ind else set()
  bounds = []
  if init in instrs and instrs[init][2] == 'tuple':
    elems = [n for _, n in _operands(instrs[init][3])]
    for i in idxs:
      src = instrs.get(elems[i]) if i < len(elems) else None
      while src and src[2] in ('copy', 'bitcast', 'convert'):
        src = instrs.get(_operands(src[3])[0][1])
      if src and src[2] == 'constant' and re.match(r'\s*[su]\d+\[\]', src[1]):
        bounds.append(int(src[3].split(')')[0]))
      elif src and src[2] == 'get-tuple-element':
        loop = _operands(src[3])[0][1]
        if (comp, loop) in known:
          bounds.append(known[(comp, loop)])
  if bounds and max(bounds) > 0:  # a counter's start value (0) is no bound
    return max(bounds), 'bound'
  consts = _constants(comps, cond)
  return (max(consts), 'guess') if consts else (1, 'guess')


def time_policy(agent, obs, calls):
  """-> (seconds of the first call, calls/s after 20 warm-up calls) of a batch-1 policy.

  Both agents share the interface policy(carry, obs, mode) -> carry, act, out;
  `obs` <[1, ...]> is reused with is_first True only for the first call.
  """
  obs['is_first'][:] = True
  carry = agent.init_policy(1)
  t = time.time()
  carry, _, _ = agent.policy(carry, obs, mode='train')
  first = time.time() - t
  obs['is_first'][:] = False
  for _ in range(20):
    carry, _, _ = agent.policy(carry, obs, mode='train')
  t = time.time()
  for _ in range(calls):
    carry, _, _ = agent.policy(carry, obs, mode='train')
  return first, calls / (time.time() - t)


def hlo_flops(text):
  """Counts FLOPs in an optimized HLO module's text, loops times trip count.

  Returns dict(matmul=<dot + convolution FLOPs, 2 per multiply-add, padding taps
  included>, elementwise=<output elements of elementwise arithmetic>,
  loops=<while loops>, guessed_trips=<loops whose count came from the largest
  constant in their condition>, custom_calls=<custom-call targets, not counted>).
  """
  comps, entry = _parse_hlo(text)
  memo, known = {}, {}
  stats = dict(loops=0, guessed_trips=0, custom_calls=set())

  def walk(name, stack=()):
    if name in memo:
      return memo[name]
    if name in stack or name not in comps:
      return (0, 0)
    shapes, mm, ew = {}, 0, 0
    for iname, oshape, op, rest in comps[name]:
      odims = None if oshape.lstrip().startswith('(') else _dims(oshape)
      if odims is not None:
        shapes[iname] = odims
      operands = _operands(rest)

      def operand_dims(i):
        if i >= len(operands):
          return None
        inline, ref = operands[i]
        return _dims(inline) if inline else shapes.get(ref)

      if op == 'dot' and odims is not None:
        lhs = operand_dims(0)
        k = _prod(lhs[d] for d in _attr(rest, 'lhs_contracting_dims')) if lhs else 1
        mm += 2 * _prod(odims) * k
      elif op == 'convolution' and odims is not None:
        kernel = operand_dims(1)
        labels = re.search(r'dim_labels=\w+_(\w+)->', rest)
        if kernel and labels and 'o' in labels.group(1):
          per_out = _prod(kernel) // kernel[labels.group(1).index('o')]
          mm += 2 * _prod(odims) * per_out
      elif op == 'custom-call':
        t = re.search(r'custom_call_target="([^"]+)"', rest)
        stats['custom_calls'].add(t.group(1) if t else '?')
      elif op in _ELEMENTWISE and odims is not None:
        ew += _prod(odims)
      if op == 'while':
        n, how = _trip_count(comps, name, rest, known)
        known[(name, iname)] = n
        stats['loops'] += 1
        stats['guessed_trips'] += how == 'guess'
        b = walk(_called(rest, 'body'), stack + (name,))
        mm, ew = mm + n * b[0], ew + n * b[1]
      elif op == 'conditional':
        m = (re.search(r'branch_computations=\{([^}]*)\}', rest)
             or re.search(r'(true_computation=\S+ false_computation=\S+)', rest))
        names = re.findall(r'%?([\w.\-]+)', m.group(1)) if m else []
        costs = [walk(b, stack + (name,)) for b in names if b in comps]
        if costs:
          best = max(costs)
          mm, ew = mm + best[0], ew + best[1]
      else:
        callees = re.findall(r'\bcalls=%?([\w.\-]+)', rest)
        if op in ('call', 'async-start'):
          callees += re.findall(r'\bto_apply=%?([\w.\-]+)', rest)
        for callee in callees:
          c = walk(callee, stack + (name,))
          mm, ew = mm + c[0], ew + c[1]
    memo[name] = (mm, ew)
    return memo[name]

  mm, ew = walk(entry)
  return dict(matmul=mm, elementwise=ew, loops=stats['loops'],
              guessed_trips=stats['guessed_trips'],
              custom_calls=sorted(stats['custom_calls']))


# --- the official agent -------------------------------------------------------


def make_agent(kind, size, logdir):
  """Builds the official Agent with dmc_proprio|dmc_vision + size config on CPU."""
  import elements
  import numpy as np
  import ruamel.yaml as yaml
  from dreamerv3 import agent as agent_mod

  src = os.path.dirname(os.path.abspath(agent_mod.__file__))
  configs = yaml.YAML(typ='safe').load(
      open(os.path.join(src, 'configs.yaml')).read())
  # Agent options the yaml does not list (embodied.jax.agent.Options).
  configs['defaults']['jax'].update(precompile=False, profiler=False)
  config = elements.Config(configs['defaults'])
  for name in ('dmc_proprio' if kind == 'proprio' else 'dmc_vision', f'size{size}'):
    config = config.update(configs[name])
  config = config.update({
      'logdir': logdir, 'jax.platform': 'cpu', 'jax.compute_dtype': 'float32',
      'jax.prealloc': False})
  obs = {'reward': elements.Space(np.float32), 'is_first': elements.Space(bool),
         'is_last': elements.Space(bool), 'is_terminal': elements.Space(bool)}
  if kind == 'proprio':
    obs['position'] = elements.Space(np.float32, (5,))
    obs['velocity'] = elements.Space(np.float32, (4,))
  else:
    obs['image'] = elements.Space(np.uint8, (64, 64, 3))
  act = {'action': elements.Space(np.float32, (1,), -1.0, 1.0)}
  agent = agent_mod.Agent(obs, act, elements.Config(
      **config.agent, logdir=logdir, seed=config.seed, jax=config.jax,
      batch_size=config.batch_size, batch_length=config.batch_length,
      replay_context=config.replay_context, report_length=config.report_length,
      replica=0, replicas=1))
  return agent, config


def make_batch(agent, B, T, rng):
  """Random observations/actions, zero latents: like bench/train_step.make_batch."""
  import numpy as np
  batch = {}
  for k, s in agent.spaces.items():
    shape = (B, T, *s.shape)
    if s.dtype == np.uint8 and k == 'image':
      batch[k] = rng.integers(0, 256, shape, dtype=np.uint8)
    elif s.dtype == bool:
      batch[k] = np.zeros(shape, bool)
    elif np.issubdtype(s.dtype, np.floating) and not k.startswith(('dyn/', 'enc/', 'dec/')):
      batch[k] = rng.uniform(-1, 1, shape).astype(s.dtype)
    else:
      batch[k] = np.zeros(shape, s.dtype)
  batch['is_first'][:, 0] = True
  return batch


def bench(kind, size, updates, policy_calls, logdir):
  import tempfile
  t = time.time()
  import jax
  import numpy as np
  from dreamerv3 import agent as _  # noqa: F401  (official package + embodied)
  from embodied.jax import internal
  out = dict(impl='official', kind=kind, size=size, jax=jax.__version__,
             imports=time.time() - t, rss_imports=peak_rss_mb())

  logdir = logdir or tempfile.mkdtemp(prefix='official_bench_')
  parts = PeakParts()  # until the first update: the peak comes with its compile
  t = time.time()
  agent, config = make_agent(kind, size, logdir)
  out['construct'] = time.time() - t
  out['rss_construct'] = peak_rss_mb()
  # Model weights only (agent.params also holds optimizer slots and the slow critic).
  model = ('enc/', 'dyn/', 'dec/', 'rew/', 'con/', 'pol/', 'val/')
  out['params'] = int(sum(v.size for k, v in agent.params.items() if k.startswith(model)))
  B, T = config.batch_size, config.batch_length + config.replay_context
  rng = np.random.default_rng(0)
  batches = [make_batch(agent, B, T, rng) for _ in range(2)]
  counter = [0]

  def put(batch):
    # What the official stream's prefetch does, here inside the timed step.
    data = internal.device_put(batch, agent.train_sharded)
    data['seed'] = agent._seeds(counter[0], agent.train_mirrored)
    counter[0] += 1
    return data

  # Lower + compile the train step exactly as Agent._compile_train does.
  with agent.train_mesh:
    carry = agent.init_train(B)
    data = put(batches[0])
    seed = data.pop('seed')
    allo = {k: v for k, v in agent.params.items() if k in agent.policy_keys}
    dona = {k: v for k, v in agent.params.items() if k not in agent.policy_keys}
    t = time.time()
    lowered = agent._train.lower(dona, allo, seed, carry, data)
    out['trace'] = time.time() - t
    t = time.time()
    agent._train = lowered.compile()
    out['compile'] = time.time() - t

  def step(batch, carry):
    carry, _, mets = agent.train(carry, put(batch))
    jax.block_until_ready((agent.params, carry))
    return carry, mets

  t = time.time()
  carry, _ = step(batches[0], carry)
  out['first_call'] = time.time() - t
  out['first'] = out['trace'] + out['compile'] + out['first_call']
  out['to_first_update'] = process_age()
  out['rss_first'] = peak_rss_mb()
  out.update(parts.stop())
  carry, _ = step(batches[1], carry)  # warm
  times = []
  for i in range(updates):
    t = time.time()
    carry, mets = step(batches[i % 2], carry)
    times.append(time.time() - t)
  out['step_times'] = times
  out['step'] = float(np.median(times))
  # Metrics come back one call late (fetched asynchronously by the agent).
  assert np.isfinite(mets['loss/image' if kind == 'vision' else 'loss/position']), mets
  out['rss_train'] = peak_rss_mb()

  if policy_calls:
    obs = {k: np.zeros((1, *s.shape), s.dtype) for k, s in agent.obs_space.items()}
    for k in ('position', 'velocity'):
      if k in obs:
        obs[k] = rng.uniform(-1, 1, obs[k].shape).astype(np.float32)
    out['policy_first'], out['policy_rate'] = time_policy(agent, obs, policy_calls)
  out['rss'] = peak_rss_mb()

  hlo = agent._train.as_text()
  out['flops'] = hlo_flops(hlo)
  try:
    cost = agent._train.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    out['xla_cost_flops'] = float(cost['flops'])  # loop bodies counted once
  except Exception as e:  # noqa: BLE001  (differs across jaxlib versions)
    out['xla_cost_flops'] = f'unavailable: {type(e).__name__}'
  return out


def main():
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
  parser.add_argument('--kind', default='proprio', choices=('proprio', 'vision'))
  parser.add_argument('--size', default='1m', choices=('1m', '12m'))
  parser.add_argument('--updates', type=int, default=20)
  parser.add_argument('--policy_calls', type=int, default=0)
  parser.add_argument('--logdir', default='')
  parser.add_argument('--quiet', action='store_true',
                      help='send the agent\'s own prints to stderr')
  args = parser.parse_args()
  import importlib.util  # one line, not ModuleNotFoundError's traceback, outside its venv
  missing = [n for n in ('jax', 'elements', 'dreamerv3', 'embodied')
             if importlib.util.find_spec(n) is None]
  if missing:
    parser.exit(2, f'Error: {missing[0]} cannot be imported by {sys.executable}: run this '
                "with the official code's venv and PYTHONPATH (bench/README.md)\n")
  os.environ.setdefault('JAX_PLATFORMS', 'cpu')
  real_stdout = sys.stdout
  if args.quiet:
    sys.stdout = sys.stderr
  out = bench(args.kind, args.size, args.updates, args.policy_calls, args.logdir)
  sys.stdout = real_stdout
  print(json.dumps(out))


if __name__ == '__main__':
  main()
