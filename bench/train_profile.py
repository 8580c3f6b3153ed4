"""The train step's time by phase, from the TF profiler's trace of XLA's CPU thunks.

  python bench/train_profile.py                       # size1m proprio, 16 x 64
  python bench/train_profile.py --size 12m --kind vision --steps 2
  python bench/train_profile.py --top 25              # also the 25 costliest ops

XLA's CPU runtime records every thunk it runs (a fusion, a dot, a copy) as an event
on the thread that ran it. This script profiles a few `Agent.train` calls, sums each
HLO instruction's time over both threads, and files it under a phase by where the
instruction sits in the optimized HLO: inside which while loop (the observe scan, its
backward, the imagination, the return scans) or, outside the loops, under which name
scope (`wm/`, `imag/`, `repl/` forward, `gradient_tape/...` backward, `opt/`; see
Model.loss and Model.train_step). Per phase it prints the thread time per update and
how much of it is matmul (dot, convolution), fused element-wise work, or layout
(copy, transpose). Wall time per update and the host boundary come from the calls.
"""

import argparse
import collections
import glob
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

import train_step  # noqa: E402

# (pattern on the op_name of the enclosing while loop, or of the op itself, phase).
LOOP_PHASES = [
    (r'^gradient_tape/wm/', 'observe scan, backward'),
    (r'^wm/', 'observe scan'),
    (r'^imag/scan/', 'imagination scan'),
    (r'^imag/', 'imagined returns scan'),
    (r'^repl/', 'replay returns scan'),
]
OP_PHASES = [
    (r'^opt/', 'optimizer'),
    (r'^gradient_tape/wm/', 'world model backward (outside the scan)'),
    (r'^gradient_tape/imag/', 'actor-critic backward'),
    (r'^gradient_tape/repl/', 'replay value backward'),
    (r'^gradient_tape/', 'backward, other'),
    (r'^wm/', 'world model forward (outside the scan)'),
    (r'^imag/', 'actor-critic forward (outside the scan)'),
    (r'^repl/', 'replay value forward'),
]


def parse_hlo(text):
  """-> instrs {name: (computation, opcode, op_name)}, callers {computation: instr}."""
  instrs, callers = {}, {}
  comp = None
  for line in text.splitlines():
    head = re.match(r'^(?:ENTRY )?%([\w.\-]+) .*\{\s*$', line)
    if head and not line.startswith(' '):
      comp = head.group(1)
      continue
    m = re.match(r'^\s*(?:ROOT )?%([\w.\-]+) = (.*)$', line)
    if not m or comp is None:
      continue
    name, rest = m.groups()
    if rest.startswith('('):   # a tuple type: skip to its closing parenthesis
      depth = 0
      for i, ch in enumerate(rest):
        depth += ch == '('
        depth -= ch == ')'
        if depth == 0:
          break
      rest = rest[i + 1:].lstrip()
    else:
      rest = rest.split(' ', 1)[1] if ' ' in rest else ''
    opcode = re.match(r'([\w\-]+)', rest).group(1) if rest else '?'
    op_name = re.search(r'op_name="([^"]*)"', line)
    instrs[name] = (comp, opcode, op_name.group(1) if op_name else '')
    for callee in re.findall(r'(?:calls|body|condition|to_apply)=%([\w.\-]+)', line):
      callers[callee] = name
  return instrs, callers


def phase_of(name, instrs, callers):
  """-> (phase, kind) of HLO instruction `name` ('?' when it is not in the HLO)."""
  if name not in instrs:
    return 'not in the HLO dump (runtime)', 'other'
  comp, opcode, op_name = instrs[name]
  kind = ('matmul' if opcode in ('dot', 'convolution', 'custom-call') else
          'layout' if opcode in ('copy', 'transpose') or name.startswith(('copy', 'transpose'))
          else 'fused element-wise' if opcode == 'fusion' else opcode)
  loop = None
  while comp in callers:     # walk out to the outermost enclosing while loop
    caller = callers[comp]
    if instrs[caller][1] == 'while':
      loop = caller
    comp = instrs[caller][0]
  if loop is not None:
    loop_name = instrs[loop][2]
    for pattern, phase in LOOP_PHASES:
      if re.search(pattern, loop_name):
        return phase, kind
    return f'loop {loop_name}', kind
  for pattern, phase in OP_PHASES:
    if re.search(pattern, op_name):
      return phase, kind
  return 'other (seeds, metrics, outputs)', kind


def profile_events(fn, calls, logdir):
  """Runs fn() `calls` times under the profiler -> ({op: thread s}, {op: count})."""
  import tensorflow as tf
  from tensorflow.tsl.profiler.protobuf import xplane_pb2
  tf.profiler.experimental.start(logdir)
  for _ in range(calls):
    fn()
  tf.profiler.experimental.stop()
  path = max(glob.glob(os.path.join(logdir, '**', '*.xplane.pb'), recursive=True),
             key=os.path.getmtime)
  space = xplane_pb2.XSpace()
  with open(path, 'rb') as f:
    space.ParseFromString(f.read())
  total, count = collections.Counter(), collections.Counter()
  for plane in space.planes:
    for line in plane.lines:
      if 'Eigen' not in line.name:    # XLA's intra-op threads run the thunks
        continue
      for ev in line.events:
        name = plane.event_metadata[ev.metadata_id].name
        if '::' in name:    # the executor's and thread pool's own events
          continue
        total[name] += ev.duration_ps * 1e-12
        count[name] += 1
  return total, count


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--kind', default='proprio', help='proprio | vision')
  parser.add_argument('--size', default='1m')
  parser.add_argument('--steps', type=int, default=5, help='profiled updates')
  parser.add_argument('--top', type=int, default=0, help='also list the N costliest ops')
  args = parser.parse_args()
  if args.steps < 1:  # 0 divided by zero in the rates, or timed nothing
    parser.error('--steps must be 1 or more')
  from dreamerv3_tf.core import cpuinfo
  print(f'CPU: {cpuinfo.describe()}; load {os.getloadavg()[0]:.2f}', flush=True)

  r = train_step.warm_agent(args.kind, args.size)
  agent, batches, state = r['agent'], r['batches'], {'carry': r['carry'], 'i': 0}
  instrs, callers = parse_hlo(agent.compiler_ir(
      'train', state['carry'], batches[0], stage='optimized_hlo'))

  def update():
    state['carry'], _, _ = agent.train(state['carry'], batches[state['i'] % 2])
    state['i'] += 1

  walls = []
  for _ in range(args.steps):
    t0 = time.perf_counter()
    update()
    walls.append(time.perf_counter() - t0)
  wall = float(np.median(walls))
  logdir = tempfile.mkdtemp(prefix='train_profile_')
  try:
    total, count = profile_events(update, args.steps, logdir)
  finally:
    shutil.rmtree(logdir, ignore_errors=True)

  n = args.steps
  phases = collections.defaultdict(collections.Counter)
  for name, secs in total.items():
    phase, kind = phase_of(name, instrs, callers)
    phases[phase][kind] += secs / n
  thread = sum(sum(c.values()) for c in phases.values())
  print(f'\n{args.size} {args.kind}: {wall * 1e3:.1f} ms wall per update (median of {n}, '
        f'unprofiled); {thread * 1e3:.1f} ms of op time on the threads per update')
  kinds = ['matmul', 'fused element-wise', 'layout']
  print(f'{"phase":42s} {"ms":>7s} {"share":>6s}  ' + '  '.join(f'{k:>18s}' for k in kinds)
        + '  other')
  for phase, c in sorted(phases.items(), key=lambda kv: -sum(kv[1].values())):
    t = sum(c.values())
    other = t - sum(c[k] for k in kinds)
    print(f'{phase:42s} {t * 1e3:7.1f} {t / thread:6.1%}  '
          + '  '.join(f'{c[k] * 1e3:18.1f}' for k in kinds) + f'  {other * 1e3:5.1f}')
  if args.top:
    print('\ncostliest ops (thread ms per update, calls per update):')
    for name, secs in total.most_common(args.top):
      phase, kind = phase_of(name, instrs, callers)
      comp, opcode, op_name = instrs.get(name, ('', '', ''))
      print(f'  {secs / n * 1e3:7.2f} {count[name] / n:6.0f}  {name:32s} {phase:28s} '
            f'{op_name[:60]}')
  print(f'load after {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
  main()
