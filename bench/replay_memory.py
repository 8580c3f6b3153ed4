"""Replay memory and speed: a full buffer's memory vs the raw bytes of its steps.

Run: python bench/replay_memory.py            (every config, each in a fresh process)
     python bench/replay_memory.py 50000 4    (one config: capacity, workers)

Each step holds a 64x64x3 uint8 image, an 8-float vector, a 6-float action and the
reward/flags. The buffer is filled to 1.5x capacity (so eviction runs), then:
  raw      = len(replay) * bytes of one step (including the 20-byte stepid)
  rss      = growth of the process' resident memory since before the replay existed
  arrays   = bytes allocated by the chunk arrays (including unfilled rows)
Also times sample(16, 65) for this image buffer and for a proprio-only one.
"""

import gc
import os
import subprocess
import sys
import time

import numpy as np
import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dreamerv3_tf.core import replay as replaylib  # noqa: E402

CONFIGS = [(50_000, 1), (50_000, 4), (100_000, 4), (100_000, 16)]


def make_step(t, image=True):
  step = {
      'vector': np.full(8, t, np.float32), 'action': np.zeros(6, np.float32),
      'reward': np.float32(0), 'is_first': np.bool_(t % 500 == 0),
      'is_last': np.bool_(t % 500 == 499), 'is_terminal': np.bool_(False)}
  if image:
    step['image'] = np.full((64, 64, 3), t % 256, np.uint8)
  return step


def time_sample(replay, n=100):
  replay.sample(16, mode='report')
  start = time.perf_counter()
  for _ in range(n):
    replay.sample(16)
  return (time.perf_counter() - start) / n * 1e3


def measure(capacity, workers):
  process = psutil.Process()
  gc.collect()
  rss0 = process.memory_info().rss
  replay = replaylib.Replay(length=65, capacity=capacity, chunksize=1024)
  steps = [make_step(t) for t in range(256)]  # reused: the fill measures the replay
  start = time.perf_counter()
  total = int(1.5 * capacity)
  for i in range(total // workers):
    for w in range(workers):
      replay.add(steps[i % 256], w)
  add_us = (time.perf_counter() - start) / (total // workers * workers) * 1e6
  gc.collect()
  rss = process.memory_info().rss - rss0 - sum(
      sum(v.nbytes for v in s.values()) for s in steps)
  step_bytes = sum(np.asarray(v).nbytes for v in steps[0].values()) + 20
  raw = len(replay) * step_bytes
  arrays = sum(c.nbytes for c in replay._chunks.values())
  sample_ms = time_sample(replay)
  print(
      f'{capacity:>8} {workers:>3} {len(replay):>8} {raw / 2**20:>9.1f} '
      f'{rss / 2**20:>9.1f} {100 * (rss / raw - 1):>+7.2f}% '
      f'{arrays / 2**20:>9.1f} {100 * (arrays / raw - 1):>+7.2f}% '
      f'{add_us:>7.1f} {sample_ms:>8.2f}', flush=True)


def proprio_sample():
  replay = replaylib.Replay(length=65, capacity=100_000, chunksize=1024)
  for t in range(20_000):
    replay.add(make_step(t, image=False), t % 4)
  print(f'proprio buffer (8+6 floats/step): sample(16, 65) {time_sample(replay, 500):.3f} ms')


def main():
  args = sys.argv[1:]
  if len(args) == 2 and all(a.isdigit() and int(a) > 0 for a in args):
    measure(int(args[0]), int(args[1]))
    return
  if args == ['proprio']:
    proprio_sample()
    return
  if args in (['-h'], ['--help']):  # it, or a typo, ran the whole benchmark (minutes)
    print(__doc__ or 'python bench/replay_memory.py [CAPACITY WORKERS | proprio]')
    return
  if args:
    sys.exit(f'Error: expected no arguments, CAPACITY WORKERS or proprio; got {" ".join(args)}')
  print('Replay memory, full buffer (filled to 1.5x capacity), chunksize 1024, '
        'image 64x64x3 uint8 + 14 floats + flags; sample(16, 65) with images')
  print(f'{"capacity":>8} {"wrk":>3} {"steps":>8} {"raw MiB":>9} {"RSS MiB":>9} '
        f'{"RSS ovh":>8} {"arr MiB":>9} {"arr ovh":>8} {"add us":>7} {"samp ms":>8}')
  for capacity, workers in CONFIGS:
    subprocess.run([sys.executable, __file__, str(capacity), str(workers)], check=True)
  subprocess.run([sys.executable, __file__, 'proprio'], check=True)


if __name__ == '__main__':
  main()
