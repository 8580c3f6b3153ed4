"""One tf.train.Checkpoint over the step counter, the agent, both replays and the loop.

Replays are not re-serialized at every save: `Replay.save(directory)` writes only the
chunks added since the last save (each once, atomically) and returns a small JSON
state naming its files; that state is what goes into the checkpoint. TensorFlow
writes a checkpoint's files first and the `checkpoint` index file last (atomically),
so a crash mid-save leaves the previous checkpoint loadable. Chunk files that no kept
checkpoint names are pruned after each save.
"""

import json

import tensorflow as tf

from dreamerv3_tf.gfile import GFILES


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be loaded; the message is one line."""


class JSONState(tf.train.experimental.PythonState):
  """Checkpoints plain Python state through `get() -> dict` and `set(dict)`."""

  def __init__(self, get, set):  # noqa: A002 - mirrors the callbacks' roles
    self._get, self._set = get, set

  def serialize(self):
    return json.dumps(self._get())

  def deserialize(self, string):
    self._set(json.loads(string))


class ReplayState(tf.train.experimental.PythonState):
  """Checkpoints a replay by reference to its chunk files in `directory`."""

  def __init__(self, replay, directory):
    self.replay = replay
    self.directory = directory

  def serialize(self):
    return json.dumps(self.replay.save(self.directory, GFILES))

  def deserialize(self, string):
    self.replay.load(self.directory, json.loads(string), GFILES)


class Checkpoint:
  """Saves and restores named trackables and replays under `directory`.

  Args:
    directory: where `ckpt-N.*` files and the replay chunk folders live.
    keep: number of checkpoints to keep.
    replays: {name: Replay}; each stores its chunks in `directory/<name>/`.
    **objects: trackables (the agent, JSONState of loop counters, ...).
  """

  def __init__(self, directory, keep=3, replays=None, **objects):
    self.directory = directory
    self.replays = dict(replays or {})
    self._states = {k: ReplayState(v, GFILES.join(directory, k))
                    for k, v in self.replays.items()}
    self._ckpt = tf.train.Checkpoint(**objects, **self._states)
    self._manager = tf.train.CheckpointManager(
        self._ckpt, directory, max_to_keep=keep)

  @property
  def latest(self):
    return self._manager.latest_checkpoint

  def save(self):
    path = self._manager.save()
    self._prune()
    return path

  def load(self, path=None):
    """Restores the latest (or the given) checkpoint; all its objects must match."""
    path = path or self.latest
    if not path:
      raise CheckpointError(f'No checkpoint found in {self.directory}')
    check_readable(path)
    try:
      status = self._ckpt.restore(path)
      status.assert_existing_objects_matched()
    except IOError as e:  # a replay chunk file is missing or corrupt
      raise CheckpointError(f'Checkpoint {path}: {_first_line(e)}') from None
    except (ValueError, AssertionError, tf.errors.OpError) as e:
      raise CheckpointError(
          f'Checkpoint {path} does not match this run: {_first_line(e)}') from None
    return path

  def load_or_save(self):
    """Resumes from the latest checkpoint, or writes the first one. -> loaded?"""
    self.remove_partial_saves()
    if self.latest:
      self.load()
      return True
    self.save()
    return False

  def remove_partial_saves(self):
    """Deletes what a save killed midway left behind; no checkpoint names it."""
    if not tf.io.gfile.isdir(self.directory):
      return
    for name in tf.io.gfile.listdir(self.directory):
      name = name.rstrip('/')
      if name.startswith('ckpt-') and name.endswith('_temp'):
        tf.io.gfile.rmtree(GFILES.join(self.directory, name))
    for name in self.replays:
      folder = GFILES.join(self.directory, name)
      if tf.io.gfile.isdir(folder):
        for file in tf.io.gfile.listdir(folder):
          if file.startswith('.') and '.tmp-' in file:
            tf.io.gfile.remove(GFILES.join(folder, file))

  def _prune(self):
    for name, replay in self.replays.items():
      states = []
      for path in self._manager.checkpoints:
        states.append(json.loads(_read_python_state(path, name)))
      replay.prune(GFILES.join(self.directory, name), states, GFILES)


def check_readable(path):
  """Raises CheckpointError (one line) if `path` is missing or unreadable."""
  if not tf.io.gfile.exists(path + '.index'):
    raise CheckpointError(f'Checkpoint {path} is missing ({path}.index not found)')
  try:
    reader = tf.train.load_checkpoint(path)
    for key in reader.get_variable_to_shape_map():
      reader.get_tensor(key)  # reads every byte: a truncated data file fails here
  except Exception as e:  # noqa: BLE001 - TF raises OpError, ValueError, IndexError...
    raise CheckpointError(f'Checkpoint {path} is corrupt: {_first_line(e)}') from None


def _read_python_state(path, name):
  value = tf.train.load_checkpoint(path).get_tensor(f'{name}/.ATTRIBUTES/py_state')
  return value.decode() if isinstance(value, bytes) else value


def _first_line(error):
  lines = [x for x in str(error).splitlines() if x.strip()]
  return lines[0] if lines else type(error).__name__
