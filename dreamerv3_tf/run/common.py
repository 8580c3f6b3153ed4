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
  """Runs `batches` reports on fresh batches; scalars averaged, videos of the first.

  The open-loop predictions of the report ('openloop/<key>/true' and '/pred') are
  logged as one video 'openloop/<key>' (see `openloop_video`).
  """
  carry = agent.init_report(stream.batch_size)
  mean, videos = Mean(), {}
  for _ in range(batches):
    carry, metrics = agent.report(carry, next(stream))
    for key, value in metrics.items():
      name = key[:-len('/true')]
      if key.startswith('openloop/') and key.endswith('/true') and name not in videos:
        videos[name] = openloop_video(value, metrics[f'{name}/pred'])
    mean.add(metrics)
  return {**mean.result(), **videos}


def openloop_video(true, pred):
  """Truth, prediction and error of RB sequences side by side, as one video.

  Args:
    true, pred: <uint8>[RB, T, H, W, C]; the first T // 2 predictions are
      reconstructions of observed steps, the rest imagined (Model.report_step).
  Returns:
    <uint8>[T, 3 H + 4, RB (W + 4), C]: rows truth, prediction, error (mid-grey is
    none); a green border on observed steps, red on imagined ones.
  """
  true, pred = np.asarray(true), np.asarray(pred)
  RB, T, H, W, C = true.shape
  error = ((pred.astype(np.int32) - true.astype(np.int32) + 255) // 2).astype(np.uint8)
  green = np.array([0, 255, 0] if C == 3 else [255] * C, np.uint8)
  red = np.array([255, 0, 0] if C == 3 else [128] * C, np.uint8)
  border = np.stack([green if t < T // 2 else red for t in range(T)])   # [T, C]
  video = np.empty((RB, T, 3 * H + 4, W + 4, C), np.uint8)
  video[:] = border[None, :, None, None, :]
  video[:, :, 2:-2, 2:-2] = np.concatenate([true, pred, error], 2)
  video = video.transpose(1, 2, 0, 3, 4)                   # [T, 3H+4, RB, W+4, C]
  return video.reshape(T, 3 * H + 4, RB * (W + 4), C)


def checkpoint_dir(config):
  return os.path.join(config.logdir, 'ckpt')
