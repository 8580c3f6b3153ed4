"""One tf.train.Checkpoint over the step counter, the agent, both replays and the loop.

Replays are not re-serialized at every save: `Replay.save(directory)` writes only the
chunks added since the last save (each once, atomically) and returns a small JSON
state naming its files; that state is what goes into the checkpoint. TensorFlow
writes a checkpoint's files first and the `checkpoint` index file last (atomically),
so a crash mid-save leaves the previous checkpoint loadable. Chunk files that no kept
checkpoint names are pruned after each save.
"""

import collections
import json
import os
import re

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
    check_finite(self._ckpt, self.latest)
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


def latest(directory):
  """The newest complete checkpoint in `directory`, or None."""
  return tf.train.latest_checkpoint(directory) if tf.io.gfile.isdir(directory) else None


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


def check_finite(root, latest=None):
  """Raises CheckpointError (one line) if a float variable under `root` holds NaN or
  inf: a diverged agent must never replace the intact checkpoints."""
  for name, var in _agent_variables(root).items():
    if tf.as_dtype(var.dtype).is_floating and not bool(
        tf.reduce_all(tf.math.is_finite(var))):
      kept = f'; the latest checkpoint {latest} is kept' if latest else ''
      raise CheckpointError(
          f'Refusing to save a checkpoint: {name} is not finite (the agent diverged){kept}')


def _read_python_state(path, name):
  value = tf.train.load_checkpoint(path).get_tensor(f'{name}/.ATTRIBUTES/py_state')
  return value.decode() if isinstance(value, bytes) else value


def _first_line(error):
  lines = [x for x in str(error).splitlines() if x.strip()]
  return lines[0] if lines else type(error).__name__


def load_agent(agent, path, regex='.*'):
  """Assigns the agent variables whose names match `regex` from another checkpoint.

  For starting a run from another run's agent (`run.from_checkpoint`), for export
  and for eval_only. Only the agent is read; the step counter, loop state and replays
  in that checkpoint are ignored. A name is the variable's path below the agent in
  the checkpoint, e.g. 'enc/mlp/layer0/linear/kernel', 'opt/step', 'rng_seed';
  `regex` must match its start (`re.match`, like the official code). Every matched
  name must exist on both sides with the same shape and dtype.

  Args:
    agent: the trackable saved as `agent` (its variables exist already).
    path: a checkpoint prefix, or a directory whose latest checkpoint is used.
    regex: which variables to load; '.*' loads all (weights, optimizer, counters).
  Returns:
    (checkpoint prefix, sorted list of the names loaded).
  Raises:
    CheckpointError (one line) for a missing/corrupt checkpoint, names on one side
    only, a shape or dtype mismatch, or a regex that matches nothing.
  """
  try:
    pattern = re.compile(regex)
  except re.error as e:
    raise CheckpointError(f'from_checkpoint_regex {regex!r} is not a valid regex: {e}') from None
  path = _resolve(path)
  check_readable(path)
  reader = tf.train.load_checkpoint(path)
  suffix = '/.ATTRIBUTES/VARIABLE_VALUE'
  stored = {k[len('agent/'):-len(suffix)]: k for k in reader.get_variable_to_shape_map()
            if k.startswith('agent/') and k.endswith(suffix)}
  if not stored:
    raise CheckpointError(f'Checkpoint {path} holds no agent variables')
  ours = _agent_variables(agent)
  names = sorted(n for n in set(stored) | set(ours) if pattern.match(n))
  if not names:
    raise CheckpointError(
        f'from_checkpoint_regex {regex!r} matches no agent variable of {path} '
        f'(names look like {sorted(stored)[0]!r})')
  only_ckpt = [n for n in names if n not in ours]
  only_agent = [n for n in names if n not in stored]
  if only_ckpt or only_agent:
    raise CheckpointError(
        f'Checkpoint {path} does not match this agent for regex {regex!r}: '
        f'{len(only_ckpt)} names only in the checkpoint {only_ckpt[:3]}, '
        f'{len(only_agent)} only in the agent {only_agent[:3]}')
  values = {}
  for name in names:
    value = reader.get_tensor(stored[name])
    var = ours[name]
    dtype = tf.as_dtype(var.dtype)  # Keras variables name their dtype as a string
    if tuple(value.shape) != tuple(var.shape) or value.dtype != dtype.as_numpy_dtype:
      raise CheckpointError(
          f'Checkpoint {path}: {name!r} is {value.dtype.name}{list(value.shape)} there '
          f'but {dtype.name}{list(var.shape)} in this agent')
    values[name] = value
  for name, value in values.items():  # nothing is assigned unless all of them fit
    ours[name].assign(value)
  return path, names


def _resolve(path):
  """A checkpoint prefix from a prefix or a directory holding checkpoints."""
  path = os.path.expanduser(path)
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise CheckpointError(f'No checkpoint found in {path}')
    return latest
  return path


def _agent_variables(agent):
  """{name: variable} with the names tf.train.Checkpoint(agent=agent) writes.

  Walks the object graph breadth-first like the checkpoint writer, so an object
  reachable on several paths gets the name of its first one; local names are
  escaped like in checkpoint keys ('/' -> '.S', '.' -> '..').
  """
  import keras  # here: the runtime imports this module without the agent
  view = tf.train.TrackableView(agent)
  out, seen = {}, {id(agent)}
  queue = collections.deque([(agent, '')])
  while queue:
    obj, prefix = queue.popleft()
    for name, child in view.children(obj).items():
      if id(child) in seen:
        continue
      seen.add(id(child))
      name = prefix + name.replace('.', '..').replace('/', '.S')
      if isinstance(child, (tf.Variable, keras.Variable)):
        out[name] = child
      else:
        queue.append((child, name + '/'))
  return out
