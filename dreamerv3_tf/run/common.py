"""Small pieces the scripts share: counters, metric averaging, reports, checkpoints."""

import collections
import os

import numpy as np


class Counter:
  """An integer that callbacks can increment (env steps, updates, episodes)."""

  def __init__(self, value=0):
    self.value = int(value)

  def increment(self, amount=1):
    self.value += int(amount)

  def __int__(self):
    return self.value

  def __index__(self):
    return self.value


class Mean:
  """Averages scalar metrics between two log writes."""

  def __init__(self):
    self._sums = collections.defaultdict(float)
    self._counts = collections.defaultdict(int)

  def add(self, metrics):
    for key, value in metrics.items():
      value = np.asarray(value)
      if value.size == 1 and np.issubdtype(value.dtype, np.number):
        self._sums[key] += float(value)
        self._counts[key] += 1

  def result(self):
    out = {k: self._sums[k] / self._counts[k] for k in self._sums}
    self._sums.clear()
    self._counts.clear()
    return out


def report(agent, stream, batches):
  """Runs `batches` reports on fresh batches; scalars averaged, videos of the first."""
  carry = agent.init_report(stream.batch_size)
  mean, videos = Mean(), {}
  for _ in range(batches):
    carry, metrics = agent.report(carry, next(stream))
    for key, value in metrics.items():
      value = np.asarray(value)
      if value.ndim >= 3 and key not in videos:
        videos[key] = value
    mean.add(metrics)
  return {**mean.result(), **videos}


def closing(stack, thing):
  """Registers thing.close() on `stack` (a contextlib.ExitStack) and returns thing.

  An error while closing is raised only if nothing else failed: closing a logger on
  a full disk must not hide the error that ended the run.
  """
  def exit_(exc_type, exc, tb):
    try:
      thing.close()
    except Exception:  # noqa: BLE001
      if exc_type is None:
        raise
  stack.push(exit_)
  return thing


def checkpoint_dir(config):
  return os.path.join(config.logdir, 'ckpt')
