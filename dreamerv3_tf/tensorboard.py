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

import numpy as np
import tensorflow as tf
from PIL import Image


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

  def close(self):
    if self._writer is not None:
      self._writer.flush()
      self._writer.close()
      self._writer = None


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
