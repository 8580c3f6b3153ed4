"""Replay -> batches of [B, T] sequences, prefetched in the background.

Two views of the same stream: iterating a `Stream` yields numpy batches prepared by
a background thread (what the training loop uses: the agent takes numpy, and the
thread stops at once on `close`), and `Stream.dataset()` is the same sampling as a
prefetched `tf.data.Dataset` for code that wants one (e.g.
`strategy.experimental_distribute_dataset`). Dropping a generator-backed tf.data
iterator can block for many seconds, which is why the loop does not use it.
"""

import queue
import threading

import numpy as np
import tensorflow as tf


class Stream:
  """Iterates batches `{key: <[B, T, ...]>}` sampled from a replay.

  Args:
    replay: an object with `sample(batch_size, length, mode) -> dict` and `items`,
      safe to call from another thread while steps are added (core.replay.Replay
      locks each of its methods, so no lock is needed around it).
    batch_size, length: the batch shape [B, T].
    mode: 'train' consumes the replay's online queue and counts towards its
      replay ratio; 'report' does neither.
    prefetch: batches prepared ahead of time; 0 samples each batch when it is
      asked for, on the calling thread (reproducible: deterministic runs use it).
    min_items: sequences the replay must hold before `ready()` (the training
      stream waits for batch_size * batch_length, like the official code).
  """

  def __init__(self, replay, batch_size, length, mode='train', prefetch=2, min_items=1):
    self.replay = replay
    self.min_items = max(1, int(min_items))
    self.mode = mode
    self.batch_size = batch_size
    self.length = length
    self.prefetch = prefetch
    self._queue = queue.Queue(maxsize=max(1, prefetch))
    self._stop = threading.Event()
    self._thread = None

  def ready(self):
    """Whether the replay holds `min_items` complete sequences to sample from."""
    return self.replay.items >= self.min_items

  def __iter__(self):
    return self

  def __next__(self):
    if not self.prefetch:
      return self._sample()
    if self._thread is None:
      self._thread = threading.Thread(target=self._fill, daemon=True, name='stream')
      self._thread.start()
    item = self._queue.get()
    if isinstance(item, BaseException):
      raise item
    return item

  def dataset(self):
    """The stream as a prefetched tf.data.Dataset (signature from a first sample)."""
    first = self._sample()
    signature = {
        k: tf.TensorSpec(v.shape, tf.as_dtype(v.dtype), name=k.replace('/', '_'))
        for k, v in first.items()}

    def generate():
      yield first
      while True:
        yield self._sample()

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return dataset.prefetch(max(1, self.prefetch))

  def close(self, timeout=10.0):
    """Stops the prefetch thread (it finishes at most the batch it is sampling).

    Its puts time out and see the stop flag, so nothing here touches the queue: a
    Ctrl-C inside `Queue.get` can leave the queue's lock held, and the (daemon)
    thread then never ends; `timeout` bounds the wait for it.
    """
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout)
      self._thread = None

  def _fill(self):
    while not self._stop.is_set():
      try:
        item = self._sample()
      except Exception as e:  # noqa: BLE001 - re-raised on the consumer's thread
        item = e
      while not self._stop.is_set():
        try:
          self._queue.put(item, timeout=0.1)
          break
        except queue.Full:
          continue
      if isinstance(item, BaseException):
        return

  def _sample(self):
    batch = self.replay.sample(self.batch_size, self.length, mode=self.mode)
    return {k: np.asarray(v) for k, v in batch.items()}
