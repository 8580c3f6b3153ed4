import os

import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf.core import replay as replay_lib


def make_replay(capacity=500):
  return replay_lib.Replay(length=4, capacity=capacity, chunksize=16)


def fill(replay, steps, start=0, worker=0):
  for i in range(start, start + steps):
    replay.add({
        'vector': np.full(3, i, np.float32), 'reward': np.float32(i),
        'is_first': np.bool_(i % 20 == 0), 'is_last': np.bool_(i % 20 == 19),
        'is_terminal': np.bool_(False), 'action': np.int32(i % 4)}, worker)


def make(directory, replay, step=None):
  step = step if step is not None else tf.Variable(0, dtype=tf.int64)
  ckpt = checkpointing.Checkpoint(
      directory, keep=2, replays={'replay_train': replay}, step=step)
  return ckpt, step


def test_round_trip_restores_step_and_replay(tmp_path):
  replay = make_replay()
  fill(replay, 100)
  ckpt, step = make(str(tmp_path), replay)
  step.assign(7)
  ckpt.save()
  fresh = make_replay()
  ckpt2, step2 = make(str(tmp_path), fresh)
  assert ckpt2.load_or_save()
  assert int(step2.numpy()) == 7
  a, b = replay.dump(), fresh.dump()
  assert a.keys() == b.keys() and len(a['reward']) == 100
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_first_run_saves_and_reports_not_loaded(tmp_path):
  ckpt, _ = make(str(tmp_path), make_replay())
  assert not ckpt.load_or_save()
  assert ckpt.latest


def test_missing_and_corrupt_checkpoints_fail_with_one_line(tmp_path):
  ckpt, _ = make(str(tmp_path), make_replay())
  with pytest.raises(checkpointing.CheckpointError, match='No checkpoint found'):
    ckpt.load()
  fill(ckpt.replays['replay_train'], 50)
  path = ckpt.save()
  with open(path + '.index', 'r+b') as f:
    f.seek(0)
    f.write(b'\0garbage\0' * 8)
  before = sorted(os.listdir(tmp_path))
  with pytest.raises(checkpointing.CheckpointError) as error:
    make(str(tmp_path), make_replay())[0].load()
  assert '\n' not in str(error.value)
  assert sorted(os.listdir(tmp_path)) == before  # nothing touched


def test_incompatible_checkpoint_is_named(tmp_path):
  ckpt, step = make(str(tmp_path), make_replay())
  ckpt.save()
  other = checkpointing.Checkpoint(
      str(tmp_path), replays={'replay_train': make_replay()},
      step=tf.Variable(tf.zeros([3])))
  with pytest.raises(checkpointing.CheckpointError, match='does not match'):
    other.load()


def test_old_chunks_are_pruned_but_kept_ones_stay(tmp_path):
  replay = make_replay(capacity=64)
  ckpt, _ = make(str(tmp_path), replay)
  for i in range(6):
    fill(replay, 50, start=50 * i)
    ckpt.save()
  # Only the files of the 2 kept checkpoints remain, and both load.
  for path in ckpt._manager.checkpoints:
    fresh = make_replay(capacity=64)
    make(str(tmp_path), fresh)[0].load(path)
    assert len(fresh) > 0
  files = os.listdir(tmp_path / 'replay_train')
  assert len(files) < 6 * 4


def test_truncated_data_file_fails_with_one_line(tmp_path):
  replay = make_replay()
  fill(replay, 50)
  ckpt, _ = make(str(tmp_path), replay)
  path = ckpt.save()
  data = path + '.data-00000-of-00001'
  os.truncate(data, 10)
  with pytest.raises(checkpointing.CheckpointError, match='is corrupt') as error:
    make(str(tmp_path), make_replay())[0].load()
  assert '\n' not in str(error.value)
  assert os.path.getsize(data) == 10


def test_missing_replay_chunk_fails_with_one_line(tmp_path):
  replay = make_replay()
  fill(replay, 50)
  ckpt, _ = make(str(tmp_path), replay)
  ckpt.save()
  folder = tmp_path / 'replay_train'
  os.remove(folder / sorted(os.listdir(folder))[0])
  fresh = make_replay()
  with pytest.raises(checkpointing.CheckpointError, match='Replay file is missing') as error:
    make(str(tmp_path), fresh)[0].load()
  assert '\n' not in str(error.value)
  assert len(fresh) == 0  # the replay was left as it was


def test_a_nonfinite_variable_is_never_saved(tmp_path):
  replay = make_replay()
  fill(replay, 50)
  weights = tf.Variable(np.ones(3, np.float32))
  ckpt = checkpointing.Checkpoint(
      str(tmp_path), keep=2, replays={'replay_train': replay}, agent=tf.Module(),
      weights=weights)
  good = ckpt.save()
  files = sorted(os.listdir(tmp_path))
  weights.assign([1.0, np.inf, 2.0])
  with pytest.raises(checkpointing.CheckpointError) as error:
    ckpt.save()
  assert str(error.value) == (
      'Refusing to save a checkpoint: weights is not finite (the agent diverged); '
      f'the latest checkpoint {good} is kept')
  assert ckpt.latest == good and sorted(os.listdir(tmp_path)) == files
  assert tf.train.load_checkpoint(good).get_tensor(
      'weights/.ATTRIBUTES/VARIABLE_VALUE').tolist() == [1.0, 1.0, 1.0]
