"""Where the wall time of a real training run goes outside `agent.train` / `agent.policy`.

  python bench/loop_overhead.py                          # dmc.py:train_eval,cpu, 3000 steps
  python bench/loop_overhead.py --steps 5000 --task dmc_cartpole_balance \\
      --preset train_eval,cpu --set run.envs=2 --set logger.outputs=terminal,jsonl

Runs the real script (`dreamerv3_tf.run.main`) in this process on a fresh logdir,
with timers wrapped around the methods of the classes it uses (not a copy of the
loop). Timers nest: each section's figure excludes the timed sections inside it, so
'env stepping + driver' is the driver's own time (waiting for the env processes,
building batches of observations, episode stats), without the policy and the
train callback it calls. Only the main thread is counted: tf.data samples replay
batches on its own threads, shown separately as background work.

Target (issue): at most 10% of the wall time outside train + policy at the cpu preset.
"""

import argparse
import ast
import collections
import functools
import os
import shutil
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


class Timers:
  """Exclusive (self) time per section on the main thread; nested sections subtract.

  Also per phase: 'startup' until the first train update has returned, 'steady'
  until the first driver close, then 'shutdown'.
  """

  def __init__(self):
    self.phase = 'startup'
    self.phase_start = {'startup': time.perf_counter()}
    self.by_phase = collections.defaultdict(lambda: collections.defaultdict(float))
    self.total = collections.defaultdict(float)
    self.count = collections.defaultdict(int)
    self.first = {}
    self.background = collections.defaultdict(float)
    self.stack = []
    self.marks = {}

  def wrap(self, owner, method, name):
    fn = getattr(owner, method)
    timers = self

    @functools.wraps(fn)
    def timed(*args, **kwargs):
      if threading.current_thread() is not threading.main_thread():
        t = time.perf_counter()
        try:
          return fn(*args, **kwargs)
        finally:
          timers.background[name] += time.perf_counter() - t
      timers.marks.setdefault(f'first {name}', time.perf_counter())
      if name == 'driver close' and timers.phase == 'steady':
        timers.set_phase('shutdown')
      timers.stack.append(0.0)
      t = time.perf_counter()
      try:
        return fn(*args, **kwargs)
      finally:
        inclusive = time.perf_counter() - t
        children = timers.stack.pop()
        timers.total[name] += inclusive - children
        timers.by_phase[timers.phase][name] += inclusive - children
        timers.count[name] += 1
        timers.first.setdefault(name, inclusive - children)
        if timers.stack:
          timers.stack[-1] += inclusive
        if name == 'agent.train' and timers.phase == 'startup':
          timers.set_phase('steady')
    setattr(owner, method, timed)

  def set_phase(self, phase):
    self.phase = phase
    self.phase_start[phase] = time.perf_counter()

  def phase_walls(self, end):
    names = [p for p in ('startup', 'steady', 'shutdown') if p in self.phase_start]
    starts = [self.phase_start[p] for p in names] + [end]
    return {p: starts[i + 1] - starts[i] for i, p in enumerate(names)}


def build_config(args):
  from configs import dmc
  from dreamerv3_tf import configuration
  c = dmc.get_config(args.preset)
  c.task = args.task
  c.run.steps = args.steps
  c.logdir = args.logdir
  for item in args.set:
    key, value = item.split('=', 1)
    node = c
    *path, last = key.split('.')
    for p in path:
      node = node[p]
    old = node[last]
    if isinstance(old, str):
      node[last] = value
    else:
      node[last] = type(old)(ast.literal_eval(value))
  configuration.finalize(c)
  return c


# (module, attribute path, section name) of each timed method. Factories import the
# modules they need: TensorFlow's import time lands in make_logger's section.
SECTIONS = (
    ('dreamerv3_tf.agent.agent', 'Agent.train', 'agent.train'),
    ('dreamerv3_tf.agent.agent', 'Agent.policy', 'agent.policy'),
    ('dreamerv3_tf.agent.agent', 'Agent.report', 'agent.report'),
    ('dreamerv3_tf.agent.agent', 'Agent.__init__', 'agent construction'),
    ('dreamerv3_tf.core.driver', 'Driver.__call__', 'env stepping + driver'),
    ('dreamerv3_tf.core.driver', 'Driver.__init__', 'env processes start'),
    ('dreamerv3_tf.core.replay', 'Replay.add', 'replay.add'),
    ('dreamerv3_tf.core.replay', 'Replay.update', 'replay.update'),
    ('dreamerv3_tf.core.replay', 'Replay.sample', 'replay.sample'),
    ('dreamerv3_tf.data', 'Stream.__next__', 'stream next (batch wait)'),
    ('dreamerv3_tf.core.logger', 'Logger.add', 'logger.add'),
    ('dreamerv3_tf.core.logger', 'Logger.write', 'logger.write'),
    ('dreamerv3_tf.checkpoint', 'Checkpoint.save', 'checkpoint save'),
    ('dreamerv3_tf.checkpoint', 'inspect', 'checkpoint inspect'),
    ('dreamerv3_tf.checkpoint', 'Checkpoint.load', 'checkpoint load'),
    ('dreamerv3_tf.checkpoint', 'Checkpoint.__init__', 'checkpoint setup'),
    ('dreamerv3_tf.core.driver', 'Driver.close', 'driver close'),
    ('dreamerv3_tf.core.driver', 'Driver.reset', 'driver reset'),
    ('dreamerv3_tf.data', 'Stream.close', 'stream close'),
    ('dreamerv3_tf.core.logger', 'Logger.close', 'logger close'),
    ('dreamerv3_tf.run.common', 'Mean.add', 'train metrics mean'),
    ('dreamerv3_tf.factories', 'make_logger', 'make_logger (imports TF)'),
    ('dreamerv3_tf.factories', 'make_agent', 'make_agent (imports agent)'),
    ('dreamerv3_tf.factories', 'make_replay', 'make_replay'),
    ('dreamerv3_tf.factories', 'make_stream', 'make_stream'),
    ('dreamerv3_tf.logdir_checks', 'save', 'config save'),
    ('dreamerv3_tf.run_files', 'save_spaces', 'spaces save'),
)


def targets():
  """-> [(owner, method, name)] of SECTIONS: the class or module that holds each."""
  import importlib
  out = []
  for module, path, name in SECTIONS:
    *owners, method = path.split('.')
    owner = importlib.import_module(module)
    for attr in owners:
      owner = getattr(owner, attr)
    out.append((owner, method, name))
  return out


def instrument(timers):
  for owner, method, name in targets():
    timers.wrap(owner, method, name)


def table(timers, wall, end):
  inside = ('agent.train', 'agent.policy')
  phases = timers.phase_walls(end)
  cols = list(phases)
  head = ('section (self time, main thread)', 'calls', 'total s', '% wall', 'first s')
  rows = [head + tuple(f'{p} s' for p in cols)]
  named = {p: sum(timers.by_phase[p].values()) for p in cols}
  items = sorted(timers.total.items(), key=lambda kv: -kv[1])
  for name, sec in items:
    rows.append((name, str(timers.count.get(name, '')), f'{sec:.2f}',
                 f'{100 * sec / wall:.1f}', f'{timers.first.get(name, 0):.2f}')
                + tuple(f'{timers.by_phase[p].get(name, 0):.2f}' for p in cols))
  rest = {p: phases[p] - named[p] for p in cols}
  rows.append(('untimed rest (imports, wiring, clocks, callbacks)', '',
               f'{sum(rest.values()):.2f}', f'{100 * sum(rest.values()) / wall:.1f}', '')
              + tuple(f'{rest[p]:.2f}' for p in cols))
  rows.append(('',) * len(rows[0]))
  ins = {p: sum(timers.by_phase[p].get(k, 0.0) for k in inside) for p in cols}
  out = {p: phases[p] - ins[p] for p in cols}
  rows.append(('wall', '', f'{wall:.2f}', '100.0', '') + tuple(f'{phases[p]:.2f}' for p in cols))
  rows.append(('inside train + policy', '', f'{sum(ins.values()):.2f}',
               f'{100 * sum(ins.values()) / wall:.1f}', '')
              + tuple(f'{ins[p]:.2f}' for p in cols))
  rows.append(('OUTSIDE train + policy', '', f'{sum(out.values()):.2f}',
               f'{100 * sum(out.values()) / wall:.1f}', '')
              + tuple(f'{out[p]:.2f}' for p in cols))
  rows.append(('OUTSIDE, % of the phase', '', '', '', '')
              + tuple(f'{100 * out[p] / phases[p]:.1f}' for p in cols))
  widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
  lines = ['  '.join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in rows]
  if timers.background:
    lines.append('background threads (tf.data), CPU competing with the main thread: ' + ', '.join(
        f'{k} {v:.1f} s' for k, v in timers.background.items()))
  start = timers.marks.get('first agent.policy', timers.marks['run start'])
  lines.append(f'updates {timers.count["agent.train"]}, policy calls '
               f'{timers.count["agent.policy"]}, time to the first policy call '
               f'{start - timers.marks["run start"]:.1f} s; phases: startup ends when the '
               'first update returns, shutdown starts at the first driver close')
  total_out = sum(out.values())
  return '\n'.join(lines), dict(
      wall=wall, inside=sum(ins.values()), outside=total_out, outside_frac=total_out / wall,
      phases=phases, outside_by_phase=out,
      steady_outside_frac=out.get('steady', 0) / phases['steady'] if 'steady' in phases else None,
      sections=dict(timers.total), counts=dict(timers.count),
      background=dict(timers.background))


def main():
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
  parser.add_argument('--preset', default='train_eval,cpu', help='configs/dmc.py presets')
  parser.add_argument('--task', default='dmc_cartpole_balance')
  parser.add_argument('--steps', type=int, default=3000)
  parser.add_argument('--set', action='append', default=[],
                      help='config override key=value (repeatable), e.g. run.envs=2')
  parser.add_argument('--logdir', default='', help='default: a fresh temp dir, removed after')
  parser.add_argument('--json', default='', help='also write the figures here')
  args = parser.parse_args()
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  os.environ.setdefault('MUJOCO_GL', 'egl')
  temp = not args.logdir
  if temp:
    args.logdir = tempfile.mkdtemp(prefix='loop_overhead_')
  try:
    config = build_config(args)
    from dreamerv3_tf import run
    timers = Timers()
    t = time.perf_counter()
    instrument(timers)  # imports TensorFlow and the runtime, before the wall clock starts
    imports = time.perf_counter() - t
    timers.marks['run start'] = t = time.perf_counter()
    timers.set_phase('startup')
    run.main(config)
    end = time.perf_counter()
    wall = end - t
  finally:
    if temp:
      shutil.rmtree(args.logdir, ignore_errors=True)
  text, figures = table(timers, wall, end)
  print(f'\nconfig configs/dmc.py:{args.preset} task {args.task} steps {args.steps} '
        f'train_ratio {config.run.train_ratio} envs {config.run.envs} '
        f'outputs {config.logger.outputs}; load average {os.getloadavg()[0]:.1f}; '
        f'imports before the wall clock starts {imports:.1f} s')
  print(text)
  if args.json:
    import json
    tmp = args.json + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(figures, f, indent=1)
    os.replace(tmp, args.json)


if __name__ == '__main__':
  main()
