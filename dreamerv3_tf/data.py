"""Replay -> tf.data.Dataset of [B, T] batches, prefetched in the background.

The element signature comes from the first sample, so the stream needs no knowledge
of which agent outputs (latents, priorities) the replay happens to store.
"""

import threading

import numpy as np
import tensorflow as tf


class Stream:
  """Iterates batches `{key: <[B, T, ...]>}` sampled from a replay.

  Args:
    replay: an object with `sample(batch_size, length) -> dict` and `__len__`.
    batch_size, length: the batch shape [B, T].
    mode: 'train' consumes the replay's online queue and counts towards its
      replay ratio; 'report' does neither.
    lock: a lock shared with whoever writes to the replay (sampling happens on
      tf.data's threads while the driver adds steps on the main thread).
    prefetch: batches prepared ahead of time; 0 samples each batch when it is
      asked for, on the calling thread (reproducible: deterministic runs use it).
  """

  def __init__(self, replay, batch_size, length, mode='train', lock=None, prefetch=2):
    self.replay = replay
    self.mode = mode
    self.batch_size = batch_size
    self.length = length
    self.lock = lock or threading.Lock()
    self.prefetch = prefetch
    self._iterator = None

  def ready(self):
    """Whether the replay holds a complete sequence to sample from."""
    return self.replay.items > 0

  def dataset(self):
    first = self._sample()
    signature = {
        k: tf.TensorSpec(v.shape, tf.as_dtype(v.dtype), name=k.replace('/', '_'))
        for k, v in first.items()}

    def generate():
      yield first
      while True:
        yield self._sample()

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return dataset.prefetch(self.prefetch)

  def __iter__(self):
    return self

  def __next__(self):
    if not self.prefetch:
      return self._sample()
    if self._iterator is None:
      self._iterator = iter(self.dataset())
    return next(self._iterator)

  def close(self):
    """Drops the iterator; a generator dataset alive at interpreter exit crashes it."""
    self._iterator = None

  def _sample(self):
    with self.lock:
      batch = self.replay.sample(self.batch_size, self.length, mode=self.mode)
    return {k: np.asarray(v) for k, v in batch.items()}
