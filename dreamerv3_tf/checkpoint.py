"""One tf.train.Checkpoint over the step counter, the agent, both replays and the loop.

Replays are not re-serialized at every save: `Replay.save(directory)` writes only the
chunks added since the last save (each once, atomically) and returns a small JSON
state naming its files; that state is what goes into the checkpoint. TensorFlow
writes a checkpoint's files first and the `checkpoint` index file last (atomically),
so a crash mid-save leaves the previous checkpoint loadable. Chunk files that no kept
checkpoint names are pruned after each save.

Damaged checkpoints (an unreadable or truncated file, a missing replay chunk):
`inspect` finds them before a run writes anything. A damaged latest checkpoint stops
the run with one line naming the flag that resumes from the newest intact one
(`run.resume_from`); a damaged earlier one is reported in one warning line, and
`Checkpoint.tidy` moves its files into `damaged/` and drops it from the `checkpoint`
state file, so it is never read again and never stops a save or a prune.
"""

import collections
import contextlib
import json
import os
import re
import shlex
import sys
import time

import tensorflow as tf
from tensorflow.python.training import checkpoint_state_pb2
from google.protobuf import text_format

from dreamerv3_tf.core import base
from dreamerv3_tf.gfile import GFILES

RESUME_FLAG = '--config.run.resume_from'
DAMAGED_DIR = 'damaged'


class CheckpointError(base.UserError, RuntimeError):
  """A checkpoint that cannot be loaded or saved; the message is one line."""


class Plan(collections.namedtuple('Plan', 'path keep damaged')):
  """What `inspect` found: the checkpoint to resume from (None: a fresh run), the
  intact ones to keep managing (oldest first, ending with `path`) and the damaged
  ones to set aside."""


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
    self._keep = keep
    self._states = {k: ReplayState(v, GFILES.join(directory, k))
                    for k, v in self.replays.items()}
    self._ckpt = tf.train.Checkpoint(**objects, **self._states)
    self._manager = self._make_manager()

  def _make_manager(self):
    with _quiet_tf():  # an unreadable state file is reported by `inspect`
      return tf.train.CheckpointManager(self._ckpt, self.directory, max_to_keep=self._keep)

  @property
  def latest(self):
    return self._manager.latest_checkpoint

  def save(self):
    """Writes a new checkpoint and prunes old ones; a failure leaves earlier ones
    loadable and raises CheckpointError (one line: the directory and the cause)."""
    check_finite(self._ckpt, self.latest)
    try:
      path = self._manager.save()
      self._prune()
    except (OSError, tf.errors.OpError) as e:  # disk full, not writable, ...
      raise CheckpointError(
          f'Could not save a checkpoint in {self.directory}: '
          f'{base.one_line(e, cause_only=True)} (the checkpoints saved before are kept)') from e
    return path

  def load(self, path=None):
    """Restores the latest (or the given) checkpoint; all its objects must match.

    Reads only. A damaged checkpoint raises CheckpointError naming the flag that
    resumes from the newest intact earlier one.
    """
    path = path or self.latest
    if not path:
      raise CheckpointError(f'No checkpoint found in {self.directory}')
    check_readable(path)
    try:
      status = self._ckpt.restore(path)
      status.assert_existing_objects_matched()
    except IOError as e:  # a replay chunk file is missing or corrupt
      raise CheckpointError(
          f'Checkpoint {path} is damaged: {base.one_line(e)}'
          f'{_resume_hint(self.directory, path, list(self.replays))}') from None
    except (ValueError, AssertionError, tf.errors.OpError) as e:
      reason = re.sub(r'\s*Showing \d+ of \d+ unmatched objects.*', '', base.one_line(e))
      raise CheckpointError(f'Checkpoint {path} does not match this run: {reason}') from None
    return path

  def tidy(self, plan):
    """Once the checks passed and the run may write: deletes what a save killed
    midway left behind, and moves the damaged checkpoints of `plan` into `damaged/`
    (dropped from the state file, so they are never read again)."""
    self.remove_partial_saves()
    if not plan.damaged and (not plan.path or plan.path == self.latest):
      return
    for path in plan.damaged:
      _set_aside(self.directory, path)
    _write_state(self.directory, plan.keep)
    self._manager = self._make_manager()

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
    if not self.replays:
      return
    states = {}
    for path in self._manager.checkpoints:
      try:
        states[path] = [json.loads(_read_python_state(path, name)) for name in self.replays]
      except Exception as e:  # noqa: BLE001 - damaged since the run began
        if path == self.latest:
          raise CheckpointError(
              f'Checkpoint {path} was saved but cannot be read back: {base.one_line(e)}') from e
        _warn_damaged(path, base.one_line(e))
        _set_aside(self.directory, path)
    if len(states) < len(self._manager.checkpoints):
      _write_state(self.directory, list(states))
      self._manager = self._make_manager()
    for i, (name, replay) in enumerate(self.replays.items()):
      replay.prune(GFILES.join(self.directory, name), [x[i] for x in states.values()], GFILES)


def inspect(directory, replay_names=(), resume_from=''):
  """Checks the checkpoints of a run before it writes anything (reads only). -> Plan.

  Every listed checkpoint is read whole, and the replay files it names must exist.
  Raises CheckpointError (one line) when the latest one is damaged, naming the flag
  that resumes from the newest intact earlier one, or when `resume_from` is not
  an intact checkpoint of `directory` older only than damaged ones. A damaged
  earlier checkpoint is reported in one warning line and listed in `Plan.damaged`.

  Args:
    directory: the run's checkpoint directory (may not exist yet).
    replay_names: names of the replays saved with the checkpoints.
    resume_from: '' for the latest checkpoint, else a checkpoint of `directory`
      (its prefix, e.g. DIR/ckpt-4, or just 'ckpt-4') to resume from instead.
  """
  if resume_from:
    return _plan_resume_from(directory, replay_names, resume_from)
  listed = _intact_latest(directory, replay_names, RESUME_FLAG)
  if not listed:
    return Plan(None, [], [])
  damaged = _damaged_among(listed[:-1], replay_names)
  return Plan(listed[-1], [p for p in listed if p not in damaged], damaged)


def _intact_latest(directory, replay_names, flag):
  """-> the checkpoints the state file lists, oldest first ([]: none), after
  checking that the latest is intact; else CheckpointError with a hint to `flag`."""
  listed = _listed(directory)
  if listed is None or (not listed and _found(directory)):
    state = GFILES.join(directory, 'checkpoint')
    raise CheckpointError(
        f'The checkpoint state file {state} is {"damaged" if listed is None else "missing"}'
        f', so the latest checkpoint is unknown{_resume_hint(directory, None, replay_names, flag)}')
  reason = listed and _damage(listed[-1], replay_names)
  if reason:
    raise CheckpointError(
        f'The latest checkpoint {listed[-1]} is damaged ({reason})'
        f'{_resume_hint(directory, listed[-1], replay_names, flag)}')
  return listed


def _plan_resume_from(directory, replay_names, resume_from):
  known = _listed(directory) or _found(directory)  # by file names if no state file
  path = os.path.expanduser(resume_from)
  path = path[:-len('.index')] if path.endswith('.index') else path
  if not os.path.dirname(path):
    path = GFILES.join(directory, path)
  if _number(path) is None or not _same_dir(os.path.dirname(path), directory):
    raise CheckpointError(
        f'run.resume_from={resume_from} is not a checkpoint of this run (expected '
        f'{GFILES.join(directory, "ckpt-<N>")}); run.from_checkpoint starts a new run '
        "from another run's agent")
  path = GFILES.join(directory, os.path.basename(path))
  newer = [p for p in known if _number(p) > _number(path)]
  intact = [p for p in newer if not _damage(p, replay_names)]
  if intact:
    raise CheckpointError(
        f'run.resume_from={path} is older than the intact checkpoint {intact[-1]}; '
        'drop run.resume_from to resume from the latest checkpoint')
  reason = _damage(path, replay_names)
  if reason:
    raise CheckpointError(
        f'run.resume_from={path} is not usable ({reason})'
        f'{_resume_hint(directory, path, replay_names)}')
  older = [p for p in known if _number(p) < _number(path)]
  damaged = _damaged_among(older, replay_names)
  keep = [p for p in older if p not in damaged] + [path]
  return Plan(path, keep, newer + damaged)


def _damaged_among(paths, replay_names):
  damaged = []
  for path in paths:
    reason = _damage(path, replay_names)
    if reason:
      # Without its index it was being pruned by a save that was interrupted before
      # it rewrote the state file (TensorFlow lists the new checkpoint, deletes the
      # oldest, index first, then lists again): no warning for that.
      if tf.io.gfile.exists(path + '.index'):
        _warn_damaged(path, reason)
      damaged.append(path)
  return damaged


def _warn_damaged(path, reason):
  print(f'WARNING: checkpoint {path} is damaged ({reason}); it is set aside in '
        f'{DAMAGED_DIR}/ and not read again.', file=sys.stderr, flush=True)


def _damage(path, replay_names=()):
  """-> why checkpoint `path` cannot be loaded (one line), or None if it is intact."""
  if not tf.io.gfile.exists(path + '.index'):
    return f'{os.path.basename(path)}.index is missing'
  try:
    reader = _read_all(path)
  except Exception as e:  # noqa: BLE001 - TF raises OpError, ValueError, IndexError...
    return base.one_line(e)
  keys = reader.get_variable_to_shape_map()
  for name in replay_names:
    key = f'{name}/.ATTRIBUTES/py_state'
    if key not in keys:
      continue  # a checkpoint of another run layout: `Checkpoint.load` names that
    try:
      value = reader.get_tensor(key)
      files = json.loads(value.decode() if isinstance(value, bytes) else value)['files']
    except (ValueError, KeyError, TypeError) as e:
      return f'its {name} state is unreadable: {base.one_line(e)}'
    folder = GFILES.join(os.path.dirname(path), name)
    present = set(GFILES.listdir(folder)) if tf.io.gfile.isdir(folder) else set()
    missing = [f for f in files if f not in present]
    if missing:
      return (f'{len(missing)} replay file{"s are" if len(missing) > 1 else " is"} '
              f'missing, e.g. {name}/{missing[0]}')
  return None


def _read_all(path):
  reader = tf.train.load_checkpoint(path)
  for key in reader.get_variable_to_shape_map():
    reader.get_tensor(key)  # reads every byte: a truncated data file fails here
  return reader


def _resume_hint(directory, damaged, replay_names, flag=RESUME_FLAG):
  """'; resume from the newest intact one with FLAG=PATH', for a damaged `damaged`
  (None: the latest is unknown), or why that is impossible."""
  candidates = _listed(directory) or _found(directory)
  for path in sorted(candidates, key=_number, reverse=True):
    if damaged and _number(path) >= _number(damaged):
      continue
    if not _damage(path, replay_names):
      verb = 'resume from' if flag == RESUME_FLAG else 'use'
      return (f'; to {verb} the newest intact checkpoint, {os.path.basename(path)}, '
              f'rerun with {flag}={shlex.quote(path)}')
  return '; no earlier checkpoint is intact: start again with a new --logdir'


def _listed(directory):
  """Checkpoints named by the `checkpoint` state file, oldest first ([] if there is
  no such file, None if it cannot be read)."""
  if not tf.io.gfile.exists(GFILES.join(directory, 'checkpoint')):
    return []
  try:
    with _quiet_tf():
      state = tf.train.get_checkpoint_state(directory)
  except Exception:  # noqa: BLE001 - a state file without a latest checkpoint
    return None
  if state is None:
    return None
  paths = list(state.all_model_checkpoint_paths)
  if state.model_checkpoint_path not in paths:
    paths.append(state.model_checkpoint_path)
  return paths


def _found(directory):
  """Checkpoint prefixes in `directory` with an index file, by number."""
  if not tf.io.gfile.isdir(directory):
    return []
  names = [x[:-len('.index')] for x in GFILES.listdir(directory) if x.endswith('.index')]
  return sorted((GFILES.join(directory, x) for x in names if _number(x) is not None),
                key=_number)


def _number(path):
  match = re.fullmatch(r'ckpt-(\d+)', os.path.basename(path))
  return int(match.group(1)) if match else None


def _same_dir(a, b):
  if '://' in a or '://' in b:
    return a.rstrip('/') == b.rstrip('/')
  return os.path.realpath(a) == os.path.realpath(b)


def _set_aside(directory, path):
  """Moves the files of checkpoint `path` into DIR/damaged/ (kept for inspection)."""
  target = GFILES.join(directory, DAMAGED_DIR)
  tf.io.gfile.makedirs(target)
  name = os.path.basename(path)
  suffix = ''
  while tf.io.gfile.glob(GFILES.join(target, name + suffix) + '.*'):
    suffix = f'.{time.time_ns()}'  # the same number was damaged before
  for file in tf.io.gfile.glob(path + '.*'):
    rest = os.path.basename(file)[len(name):]
    tf.io.gfile.rename(file, GFILES.join(target, name + suffix + rest))


def _write_state(directory, paths):
  """Rewrites the `checkpoint` state file to manage exactly `paths` (oldest first),
  keeping their save times so that CheckpointManager still prunes them in order."""
  old = None
  with contextlib.suppress(Exception), _quiet_tf():
    old = tf.train.get_checkpoint_state(directory)
  stamps = dict(zip(old.all_model_checkpoint_paths, old.all_model_checkpoint_timestamps)
                ) if old else {}
  times = [stamps.get(p) or tf.io.gfile.stat(p + '.index').mtime_nsec / 1e9 for p in paths]
  # The manager only manages checkpoints saved after the last preserved one.
  preserved = min(times) - 1
  if old:
    preserved = min(preserved, old.last_preserved_timestamp)
  state = checkpoint_state_pb2.CheckpointState(
      model_checkpoint_path=os.path.basename(paths[-1]),
      all_model_checkpoint_paths=[os.path.basename(p) for p in paths],
      all_model_checkpoint_timestamps=times, last_preserved_timestamp=preserved)
  file = GFILES.join(directory, 'checkpoint')
  with tf.io.gfile.GFile(file + '.tmp', 'w') as f:
    f.write(text_format.MessageToString(state))
  tf.io.gfile.rename(file + '.tmp', file, overwrite=True)


@contextlib.contextmanager
def _quiet_tf():
  """Silences TensorFlow's Python warnings (e.g. about an unreadable state file)."""
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel('ERROR')
  try:
    yield
  finally:
    logger.setLevel(level)


def check_readable(path):
  """Raises CheckpointError (one line) if `path` is missing or unreadable."""
  if not tf.io.gfile.exists(path + '.index'):
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
      raise CheckpointError(
          f'{path} is a file, not a checkpoint (name a checkpoint prefix such as '
          'RUN/ckpt/ckpt-3, without .index, or a directory of checkpoints)')
    raise CheckpointError(f'Checkpoint {path} is missing ({path}.index not found)')
  try:
    _read_all(path)
  except Exception as e:  # noqa: BLE001 - TF raises OpError, ValueError, IndexError...
    raise CheckpointError(f'Checkpoint {path} is corrupt: {base.one_line(e)}') from None


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


def load_agent(agent, path, regex='.*', flag='--config.run.from_checkpoint'):
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
    flag: the option that names `path`, for the hint when a directory's latest
      checkpoint is damaged.
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
  path = _resolve(path, flag)
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


def _resolve(path, flag):
  """A checkpoint prefix from a prefix or a directory holding checkpoints."""
  path = os.path.expanduser(path)
  if not tf.io.gfile.isdir(path):
    return path
  listed = _intact_latest(path, (), flag)
  if not listed:
    inner = GFILES.join(path, 'ckpt')  # a logdir instead of its ckpt directory
    hint = f' (did you mean {flag}={inner}?)' if _listed(inner) else ''
    raise CheckpointError(f'No checkpoint found in {path}{hint}')
  return listed[-1]


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
