"""TensorBoardOutput: scalars and GIF videos land in event files TensorBoard reads."""

import glob
import io
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dreamerv3_tf import tensorboard
from dreamerv3_tf.core import base
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import logger as logging


def read_events(logdir):
  values = []
  for path in sorted(glob.glob(f'{logdir}/events.out.tfevents.*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        values.append((event.step, value))
  return values


def test_scalars_videos_and_text(tmp_path):
  logdir = str(tmp_path / 'tb')
  step = [10]
  output = tensorboard.TensorBoardOutput(logdir, fps=10)
  logger = logging.Logger(lambda: step[0], [output])
  rng = np.random.default_rng(0)
  video = rng.integers(0, 255, (6, 8, 10, 3), dtype=np.uint8)
  batch = rng.integers(0, 255, (3, 5, 8, 10, 1), dtype=np.uint8)
  logger.add({'loss': 1.5, 'note': 'hello'}, prefix='train')
  logger.video('report/openloop', video)
  logger.add({'eval/openloop': batch})
  logger.write()
  # Flushed on write: readable before close.
  assert any(v.tag == 'train/loss' for _, v in read_events(logdir))
  step[0] = 20
  logger.add({'loss': 0.5}, prefix='train')
  logger.close()
  values = read_events(logdir)
  scalars = [(s, v.simple_value) for s, v in values if v.tag == 'train/loss']
  assert scalars == [(10, 1.5), (20, 0.5)]
  images = {v.tag: v.image for _, v in values if v.HasField('image')}
  gif = images['report/openloop']
  assert gif.encoded_image_string[:6] == b'GIF89a'
  assert (gif.height, gif.width, gif.colorspace) == (8, 10, 3)
  frames = Image.open(io.BytesIO(gif.encoded_image_string))
  assert frames.n_frames == 6 and frames.size == (10, 8)
  assert frames.info['duration'] == 100 and frames.info['loop'] == 0
  tiled = images['eval/openloop']
  assert (tiled.height, tiled.width, tiled.colorspace) == (8, 30, 1)
  frames = Image.open(io.BytesIO(tiled.encoded_image_string))
  assert frames.n_frames == 5 and frames.size == (30, 8)
  # Grayscale frames round-trip exactly; the batch is tiled left to right.
  frames.seek(2)
  np.testing.assert_array_equal(
      np.asarray(frames.convert('L')), np.concatenate(list(batch[:, 2, ..., 0]), 1))
  texts = [v for _, v in values if v.tag == 'train/note']
  assert texts and texts[0].metadata.plugin_data.plugin_name == 'text'
  assert tf.make_ndarray(texts[0].tensor) == b'hello'


def test_tensorboard_reads_gif_as_image_if_installed(tmp_path):
  # tensorboard (the viewer) is not a dependency; the proto test above covers the format.
  event_accumulator = pytest.importorskip(
      'tensorboard.backend.event_processing.event_accumulator')
  output = tensorboard.TensorBoardOutput(str(tmp_path))
  output([(5, 'video', np.zeros((3, 4, 4, 3), np.uint8)), (5, 'x', 2.0)])
  output.close()
  acc = event_accumulator.EventAccumulator(str(tmp_path))
  acc.Reload()
  assert 'video' in acc.Tags()['images'] and 'x' in acc.Tags()['scalars']
  assert acc.Images('video')[0].encoded_image_string[:6] == b'GIF89a'
  assert acc.Scalars('x')[0].value == 2.0


def scalar_steps(logdir, tag):
  return [step for step, value in read_events(logdir) if value.tag == tag]


def test_a_resume_moves_the_events_past_its_step_beside_tb(tmp_path, capsys):
  """A run killed after its last checkpoint had written events past it, which the
  resumed run wrote again: TensorBoard drew both histories of those steps, one after
  the other (a zig-zag), as metrics.jsonl did before its rows were set aside."""
  logdir = tmp_path / 'tb'
  first = tensorboard.TensorBoardOutput(str(logdir))
  video = np.zeros((2, 4, 4, 3), np.uint8)
  first([(10, 'train/loss', 3.0), (20, 'train/loss', 2.0)])
  first([(30, 'train/loss', 1.0), (30, 'report/openloop', video), (40, 'train/loss', 0.5)])
  first.close()
  [name] = [x.name for x in logdir.iterdir()]
  step = [20]
  resumed = tensorboard.TensorBoardOutput(str(logdir))
  logger = logging.Logger(lambda: step[0], [resumed])
  logger.resume()
  side = tmp_path / 'tb.after-step-20'
  # Steps 30 and 40: a step's values are one event.
  assert capsys.readouterr().err.splitlines() == [
      'Warning: the rows past step 20, where this run resumes, were logged by the run that '
      f'stopped and are logged again now: moved 2 events of {logdir} to {side}']
  assert [x.name for x in logdir.iterdir()] == [name]  # the run writes no file before
  assert scalar_steps(logdir, 'train/loss') == [10, 20]
  assert [(s, v.tag) for s, v in read_events(side)] == [
      (30, 'train/loss'), (30, 'report/openloop'), (40, 'train/loss')]  # kept there
  assert resumed.set_aside_after(20) is None  # nothing past: left as it is
  step[0] = 30
  logger.add({'loss': 1.5}, prefix='train')
  logger.close()
  assert scalar_steps(logdir, 'train/loss') == [10, 20, 30]  # one history
  assert [v.simple_value for _, v in read_events(logdir)][-1] == 1.5


def test_an_event_file_a_resume_cannot_read_is_a_warning_not_a_stop(tmp_path, capsys):
  """An event file linked to nothing (a disk not mounted) or without read permission
  stopped the resume with 'Cannot write PATH: No such file or directory; ... the same
  command resumes', as the next one did: a resume writes event files of its own, and
  reads the old ones only to set aside the steps it logs again (found by a damaged-file
  sweep)."""
  logdir = tmp_path / 'tb'
  first = tensorboard.TensorBoardOutput(str(logdir))
  first([(10, 'train/loss', 1.0), (30, 'train/loss', 0.5)])
  first.close()
  link = logdir / 'events.out.tfevents.1.gone.0.v2'
  link.symlink_to(tmp_path / 'gone')
  resumed = tensorboard.TensorBoardOutput(str(logdir))
  assert resumed.set_aside_after(20) == (str(logdir), 1, f'{logdir}.after-step-20', 'event')
  assert capsys.readouterr().err == (
      f'Warning: {link} cannot be read (No such file or directory), so the events past step '
      '20 that it may hold stay in it\n')
  link.unlink()  # (TensorFlow's reader of the test fails on it)
  assert scalar_steps(logdir, 'train/loss') == [10]


def test_the_steps_a_resume_reads_from_each_events_head_are_the_events_steps(tmp_path):
  """A resume reads only each event's first bytes for its step (tb/ of a long run with
  videos holds gigabytes); a last event cut short by a kill is none."""
  output = tensorboard.TensorBoardOutput(str(tmp_path))
  output([(0, 'a', 1.0), (1, 'a', 2.0), (300, 'a', 3.0), (2 ** 40, 'a', 4.0)])
  output([(7, 'video', np.zeros((2, 4, 4, 3), np.uint8))])
  output.close()
  [path] = tmp_path.iterdir()
  steps = [event.step for event in tf.compat.v1.train.summary_iterator(str(path))]
  assert steps == [0, 0, 1, 300, 2 ** 40, 7]  # file_version's first
  with open(path, 'rb') as f:
    assert tensorboard._steps(f) == steps
  os.truncate(path, os.path.getsize(path) - 3)
  with open(path, 'rb') as f:
    assert tensorboard._steps(f) == steps[:-1]
  assert tensorboard._event(b'\0' * 12 + b'\xff\xff' + b'\0' * 4) is None  # damaged: kept


def test_a_tb_folder_a_full_file_system_refuses_is_one_clean_line(tmp_path):
  """TensorFlow's error for the summary writer's folder ends in its eager op's ' name: ':
  a run on a tmpfs out of inodes stopped with 'Error: Cannot write LOGDIR/tb: No space
  left on device  name: ; checkpoints saved so far are kept, ...'."""
  if os.geteuid() != 0 or not shutil.which('mount'):
    pytest.skip('needs root to mount a small tmpfs')
  subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k,nr_inodes=2', 'none',
                  str(tmp_path)], check=True)
  try:
    (tmp_path / 'other').write_bytes(b'')  # beside its root: no inode left for tb/
    logger = logging.Logger(lambda: 1, [tensorboard.TensorBoardOutput(tmp_path / 'tb')])
    logger.add({'loss': 1.5}, prefix='train')
    with pytest.raises(base.WriteError) as caught:
      with errors.file_errors():  # as the run writes its logs (run.common.write_logs)
        logger.write()
    assert errors.describe(caught.value) == (
        f'Error: Cannot write {tmp_path}/tb: No space left on device (the file system at '
        f'{tmp_path} holds 2 files and folders at most, its inodes, 0 more now, though 0.1 '
        f'MiB are free: df -i {tmp_path}; remove files you do not need there, or give it more '
        'inodes)')
  finally:
    subprocess.run(['umount', '-l', str(tmp_path)], check=True)
