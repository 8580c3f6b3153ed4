"""Replay save cost as the buffer grows: an incremental save must stay flat.

Run: python bench/replay_save.py [--steps 10000,100000,1000000] [--delta 5000]

At each size the buffer (4 workers, chunksize 1024, 8 floats + reward/flags per
step) is saved once (a catch-up save of everything not yet on disk), `delta`
more steps are added, and the next save is timed: its time, files and bytes
written and the size of the JSON state. Load time of the whole buffer is shown
for reference (loading reads every chunk, so it grows with the buffer).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dreamerv3_tf.core import replay as replaylib  # noqa: E402


def make_steps(n=1000):
  return [{
      'vector': np.full(8, t, np.float32), 'reward': np.float32(t),
      'is_first': np.bool_(t % 500 == 0), 'is_last': np.bool_(t % 500 == 499),
      'is_terminal': np.bool_(False)} for t in range(n)]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--steps', default='10000,100000,1000000')
  parser.add_argument('--delta', type=int, default=5000)
  parser.add_argument('--workers', type=int, default=4)
  args = parser.parse_args()
  try:
    sizes = [int(x) for x in args.steps.split(',')]
  except ValueError:
    sizes = []
  # Each size is filled to --delta below it, saved, then filled up: a size below --delta
  # or less than --delta above the one before failed an assertion after the fill.
  if (args.delta < 1 or args.workers < 1 or not sizes or sizes[0] < args.delta
      or any(b - a < args.delta for a, b in zip(sizes, sizes[1:]))):
    parser.error(f'--steps {args.steps}: give ascending step counts, the first at least '
                 f'--delta ({args.delta}) and each at least --delta above the one before '
                 '(--delta and --workers at least 1)')
  directory = tempfile.mkdtemp(prefix='replay_save_')
  steps = make_steps()
  replay = replaylib.Replay(length=65, capacity=max(sizes) + 10 * args.delta,
                            chunksize=1024)
  added = 0

  def add(n):
    nonlocal added
    for _ in range(n):
      replay.add(steps[added % len(steps)], added % args.workers)
      added += 1

  print(f'{args.workers} workers, chunksize 1024, {args.delta} new steps between saves')
  print(f'{"stored":>9} {"save ms":>8} {"files":>6} {"KiB written":>12} '
        f'{"state KiB":>10} {"catch-up ms":>12} {"load s":>7}')
  try:
    for size in sizes:
      add(size - args.delta - added)
      start = time.perf_counter()
      replay.save(directory)
      catchup = time.perf_counter() - start
      add(args.delta)
      start = time.perf_counter()
      state = replay.save(directory)
      duration = time.perf_counter() - start
      written = replay.last_save
      state_kib = len(json.dumps(state)) / 1024
      fresh = replaylib.Replay(replay.length, replay.capacity, replay.chunksize)
      start = time.perf_counter()
      fresh.load(directory, state)
      load = time.perf_counter() - start
      assert len(fresh) == len(replay) == size, (len(fresh), len(replay), size)
      print(f'{len(replay):>9} {duration * 1e3:>8.1f} {written["files"]:>6} '
            f'{written["bytes"] / 1024:>12.1f} {state_kib:>10.1f} '
            f'{catchup * 1e3:>12.1f} {load:>7.2f}', flush=True)
      del fresh
  finally:
    shutil.rmtree(directory)


if __name__ == '__main__':
  main()
