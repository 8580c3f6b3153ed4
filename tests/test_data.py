import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf import data
from dreamerv3_tf.core.replay import Replay


def filled_replay(steps=50):
  replay = Replay(length=5, capacity=1000, chunksize=16)
  for i in range(steps):
    replay.add({'x': np.float32(i), 'reward': np.float32(0), 'is_first': np.bool_(i == 0),
                'is_last': np.bool_(False), 'is_terminal': np.bool_(False)})
  return replay


@pytest.mark.parametrize('prefetch', [0, 2])
def test_batches_are_consecutive_sequences(prefetch):
  stream = data.Stream(filled_replay(), 3, 5, prefetch=prefetch)
  for _ in range(4):
    batch = next(stream)
    assert batch['x'].shape == (3, 5) and isinstance(batch['x'], np.ndarray)
    np.testing.assert_array_equal(np.diff(batch['x'], axis=1), 1)
  stream.close()


def test_close_returns_while_the_thread_waits():
  stream = data.Stream(filled_replay(), 3, 5, prefetch=2)
  next(stream)
  time.sleep(0.2)  # the queue is full, the thread blocks on put
  # close() must not wait for the blocked producer for ever (no timing asserted: 60 s
  # only tells a hang from a loaded machine).
  closer = threading.Thread(target=stream.close)
  closer.start()
  closer.join(60)
  assert not closer.is_alive()
  assert not any(t.name == 'stream' and t.is_alive() for t in threading.enumerate())


def test_sampling_errors_reach_the_consumer():
  empty = Replay(length=5, capacity=1000)
  empty.add({'x': np.float32(0), 'reward': np.float32(0), 'is_first': np.bool_(True),
             'is_last': np.bool_(False), 'is_terminal': np.bool_(False)})
  stream = data.Stream(empty, 2, 5, prefetch=2)
  assert not stream.ready()
  with pytest.raises(ValueError, match='no complete sequence'):
    next(stream)
  stream.close()


def test_dataset_view_yields_the_same_structure():
  stream = data.Stream(filled_replay(), 3, 5, prefetch=2)
  batch = next(iter(stream.dataset()))
  assert isinstance(batch['x'], tf.Tensor) and batch['x'].shape == (3, 5)
  assert batch['stepid'].dtype == tf.uint8
  stream.close()


def test_streams_sample_safely_while_the_loop_adds_updates_and_saves(tmp_path):
  """The pattern of run/train_eval with no lock around the replay: two prefetching
  streams sample on their threads while this thread adds steps of two workers
  (evicting old ones), writes latents back and saves. Replay's own lock must keep
  every batch whole: consecutive steps of one worker, updates seen whole or not.
  Threads switch every microsecond here, so races show: with Replay's lock
  replaced by a no-op this test fails (a sample reads a chunk evicted meanwhile)."""
  replay = Replay(length=6, capacity=120, chunksize=8, online=True)

  def add(t, w):
    replay.add({'x': np.float32(t), 'w': np.int32(w), 'reward': np.float32(0),
                'is_first': np.bool_(t == 0), 'is_last': np.bool_(False),
                'is_terminal': np.bool_(False)}, worker=w)

  for t in range(10):
    add(t, 0), add(t, 1)
  train = data.Stream(replay, 4, 6, mode='train', prefetch=2)
  report = data.Stream(replay, 4, 6, mode='report', prefetch=2)
  batches = []
  interval = sys.getswitchinterval()
  sys.setswitchinterval(1e-6)
  try:
    for t in range(10, 1500):
      add(t, 0), add(t, 1)
      if t % 5 == 0:
        batch = next(train)
        batches.append(batch)
        # The latents of a step: 2 x its x, written back after a train step.
        replay.update({'stepid': batch['stepid'], 'lat': 2 * batch['x'][..., None]})
      if t % 7 == 0:
        batches.append(next(report))
      if t % 300 == 0:
        replay.save(str(tmp_path / 'replay'))
  finally:
    sys.setswitchinterval(interval)
    train.close(), report.close()
  assert len(batches) > 400
  for batch in batches:
    np.testing.assert_array_equal(np.diff(batch['x'], axis=1), 1)
    assert (batch['w'] == batch['w'][:, :1]).all()
    if 'lat' in batch:
      lat = batch['lat'][..., 0]
      assert ((lat == 0) | (lat == 2 * batch['x'])).all()
  assert (replay.sample(64)['lat'][..., 0] != 0).any()
  restored = Replay(length=6, capacity=120, chunksize=8, online=True)
  restored.load(str(tmp_path / 'replay'), replay.save(str(tmp_path / 'replay')))
  for key, value in replay.dump().items():
    np.testing.assert_array_equal(restored.dump()[key], value, err_msg=key)


def test_training_waits_for_batch_size_times_batch_length_sequences():
  # As the official code: train only once len(replay) >= batch_size * batch_length;
  # reports need one sequence.
  from configs import dmc
  from dreamerv3_tf import factories
  config = dmc.get_config('train_eval,debug')  # batch 4 x 8, sequences of 8 + 1
  replay = factories.make_replay(config, 'train')
  train = factories.make_stream(config, replay, 'train')
  report = factories.make_stream(config, replay, 'report')
  steps = 0
  while not train.ready():
    replay.add({'x': np.float32(steps), 'reward': np.float32(0),
                'is_first': np.bool_(steps == 0), 'is_last': np.bool_(False),
                'is_terminal': np.bool_(False)})
    steps += 1
    assert report.ready() == (replay.items >= 1)
  assert replay.items == 4 * 8 and steps == 4 * 8 + 8
  train.close()
  report.close()
