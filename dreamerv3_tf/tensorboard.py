"""TensorBoard output for `core.logger.Logger`: scalars, GIF videos and text.

  logger = Logger(step, [..., TensorBoardOutput(os.path.join(logdir, 'tb'), fps=15)])

Everything is written as classic `Summary` protos through
`tf.summary.experimental.write_raw_pb`: scalars as `simple_value`, videos as an
image value holding an animated GIF (encoded with PIL). TensorBoard reads both
without the `tensorboard` Python package being installed here (`tf.summary.scalar`
needs that package; this output does not). Videos show in the Images tab, animated.
"""

import collections
import io
import struct
import sys

import numpy as np
import tensorflow as tf
from google.protobuf import message
from PIL import Image

from dreamerv3_tf.core import errors
from dreamerv3_tf.core import files
from dreamerv3_tf.gfile import GFILES


class TensorBoardOutput:
  """Writes Logger records to an event file; flushes after every write.

  Args:
    logdir: event file directory (local or any tf.io.gfile path, e.g. gs://).
    fps: frames per second of video GIFs.
    max_queue: summaries buffered before the writer flushes on its own.

  Videos are <uint8>[T, H, W, C] or [B, T, H, W, C] (the batch is tiled
  horizontally into one [T, H, B * W, C] video), with C in (1, 3, 4).
  """

  def __init__(self, logdir, fps=15, max_queue=1000):
    self._logdir = str(logdir)
    self._fps = float(fps)
    self._max_queue = max_queue
    self._writer = None

  def __call__(self, records):
    if self._writer is None:  # lazily: constructing the output touches no files
      self._writer = tf.summary.create_file_writer(
          self._logdir, max_queue=self._max_queue, flush_millis=10_000)
    bystep = collections.defaultdict(tf.compat.v1.Summary)
    for step, name, value in records:
      summary = bystep[step]
      if isinstance(value, str):
        summary.value.add(tag=name, tensor=tf.make_tensor_proto(value), metadata=_TEXT)
      elif isinstance(value, np.ndarray):
        summary.value.add(tag=name, image=video_summary(value, self._fps))
      else:
        summary.value.add(tag=name, simple_value=float(value))
    # The writer is made default only inside this call, so the output works from
    # any thread and leaves no global state behind.
    with self._writer.as_default():
      for step in sorted(bystep):
        tf.summary.experimental.write_raw_pb(bystep[step].SerializeToString(), step)
    self._writer.flush()

  def set_aside_after(self, step):
    """Moves the events past logged step `step` (where a resume starts: the stopped run
    wrote them, and this one writes those steps again) out of the event files in this
    output's directory into files of the same names in DIR.after-step-STEP beside it
    (`tb.after-step-20/`), kept there. TensorBoard drew both histories of those steps,
    one after the other. -> (directory, events moved, side directory, 'event'), or None
    if none. Each file is written under a temporary name and renamed, the side file
    first, as `JSONLOutput.set_aside_after` does; before this output's first write."""
    assert self._writer is None, 'set_aside_after comes before the first write'
    directory = self._logdir.rstrip('/')
    fs = GFILES if '://' in directory else files.LOCAL  # local files are synced
    if not fs.isdir(directory):
      return None
    side, moved = f'{directory}.after-step-{step}', 0
    for name in sorted(fs.listdir(directory)):
      path = fs.join(directory, name)
      if 'tfevents' not in name or fs.isdir(path):
        continue
      try:
        records = _records_if_past(fs, path, step)
      except OSError as e:  # a link to nothing, no permission: this run writes its own
        # event files, so it goes on; it stopped with 'Cannot write PATH'
        print(f'Warning: {path} cannot be read ({errors.one_line(e, cause_only=True)}), '
              f'so the events past step {step} that it may hold stay in it',
              file=sys.stderr, flush=True)
        continue
      if records is None:  # the usual resume: nothing past it
        continue
      events = [_event(x) for x in records]
      steps = [e.step if e else _head_step(x[12:36]) for x, e in zip(records, events)]
      past = [x for x, s in zip(records, steps) if s > step]
      if not past:
        continue
      header = [x for x, e in zip(records, events) if e and e.HasField('file_version')]
      fs.makedirs(side)
      files.write_atomic(fs.join(side, name), b''.join(header[:1] + past), fs)
      files.write_atomic(path, b''.join(x for x, s in zip(records, steps) if not s > step),
                         fs)
      moved += len(past)
    return (directory, moved, side, 'event') if moved else None

  def close(self):
    if self._writer is not None:
      self._writer.flush()
      self._writer.close()
      self._writer = None


def _records_if_past(fs, path, step):
  """-> the framed records of event file `path` if one is past `step`, else None."""
  with fs.open(path, 'rb') as f:
    if max(_steps(f), default=step) <= step:
      return None
    f.seek(0)
    return _framed_records(f.read())


def _steps(f):
  """The steps of the whole events in event file `f`, from each one's first bytes: a
  resume looks at every file of tb/, which its videos can make gigabytes."""
  f.seek(0, 2)
  size, at, steps = f.tell(), 0, []
  while at + 12 <= size:  # a TFRecord: length, its checksum, the Event, its checksum
    f.seek(at)
    length = struct.unpack('<Q', f.read(12)[:8])[0]
    end = at + 12 + length + 4
    if end > size:  # cut short (a run killed as it wrote): no event
      break
    steps.append(_head_step(f.read(min(length, 24))))
    at = end
  return steps


def _head_step(head):
  """The step of a serialized Event from its first bytes: wall_time (field 1, a double)
  comes first, then step (field 2, a varint), which proto3 leaves out when it is 0."""
  at = 9 if head[:1] == b'\x09' else 0
  if head[at:at + 1] != b'\x10':
    return 0
  value = 0
  for i, byte in enumerate(head[at + 1:at + 11]):
    value |= (byte & 0x7f) << (7 * i)
    if byte < 0x80:
      break
  return value - (1 << 64) if value >= 1 << 63 else value


def _framed_records(data):
  """The TFRecords of an event file's bytes, each with its length and checksums as
  written (so they are written back unchanged); a last one cut short is left out."""
  records, at = [], 0
  while at + 12 <= len(data):
    end = at + 12 + struct.unpack('<Q', data[at:at + 8])[0] + 4
    if end > len(data):
      break
    records.append(data[at:end])
    at = end
  return records


def _event(record):
  """The Event proto of a framed TFRecord, or None if it is none (damaged bytes)."""
  try:
    return tf.compat.v1.Event.FromString(record[12:-4])
  except message.DecodeError:
    return None


def video_summary(video, fps):
  """<uint8>[T, H, W, C] or [B, T, H, W, C] -> Summary.Image holding a GIF."""
  video = np.asarray(video)
  if video.dtype != np.uint8 or video.ndim not in (4, 5) or video.shape[-1] not in (
      1, 3, 4):
    raise ValueError(
        f'Video must be uint8 [T, H, W, C] or [B, T, H, W, C] with C in (1, 3, 4), '
        f'got {video.dtype} {video.shape}.')
  if video.ndim == 5:
    B, T, H, W, C = video.shape
    video = video.transpose(1, 2, 0, 3, 4).reshape(T, H, B * W, C)
  T, H, W, C = video.shape
  return tf.compat.v1.Summary.Image(
      height=H, width=W, colorspace=C, encoded_image_string=encode_gif(video, fps))


def encode_gif(frames, fps):
  """<uint8>[T, H, W, C] -> bytes of an animated, looping GIF."""
  if frames.shape[-1] == 1:
    images = [Image.fromarray(f[..., 0], 'L') for f in frames]
  else:
    # Alpha is dropped. Fast octree quantization to a 256-colour palette per frame is
    # ~40x faster than Pillow's default median cut on 2 cores, at slightly more error.
    images = [
        Image.fromarray(np.ascontiguousarray(f[..., :3]), 'RGB').quantize(
            256, method=Image.Quantize.FASTOCTREE) for f in frames]
  buffer = io.BytesIO()
  images[0].save(
      buffer, format='GIF', save_all=True, append_images=images[1:],
      duration=max(20, round(1000 / fps)), loop=0)
  return buffer.getvalue()


_TEXT = tf.compat.v1.SummaryMetadata(
    plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name='text'))
