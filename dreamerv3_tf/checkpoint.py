"""One tf.train.Checkpoint over the step counter, the agent, both replays and the loop.

Replays are not re-serialized at every save: `Replay.save(directory)` writes only the
chunks added since the last save (each once, atomically) and returns a small JSON
state naming its files; that state is what goes into the checkpoint. TensorFlow
writes a checkpoint's files first and the `checkpoint` index file last (atomically),
so a crash mid-save leaves the previous checkpoint loadable. The run's chunk files that
no kept checkpoint names are pruned after each save; files it did not write (another
run's copied in) are left alone.

Damaged checkpoints are found by `inspect` before a run writes anything, and set
aside by `Checkpoint.tidy` (see checkpoint_damage.py).
"""

import collections
import contextlib
import json
import os
import re
import sys

import numpy as np
import tensorflow as tf

from dreamerv3_tf import checkpoint_damage as damage
from dreamerv3_tf import stop_signals
from dreamerv3_tf.checkpoint_damage import CheckpointError, Plan, inspect  # noqa: F401
from dreamerv3_tf.checkpoint_errors import SaveError
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import replay as replay_lib
from dreamerv3_tf.gfile import GFILES


# Reads of a directory whose run saves and prunes meanwhile: each try reads the latest.
READ_TRIES = 5


class JSONState(tf.train.experimental.PythonState):
  """Checkpoints plain Python state through `get() -> dict` and `set(dict)`."""

  def __init__(self, get, set):  # noqa: A002 - mirrors the callbacks' roles
    self._get, self._set = get, set

  def serialize(self):
    return json.dumps(self._get())

  def deserialize(self, string):
    self._set(json.loads(string))


class ReplayState(tf.train.experimental.PythonState):
  """Checkpoints a replay by reference to its chunk files in `directory`. Why its load
  failed (a file missing or wrong, a state that does not fit) is kept in `failed`, the
  replay left as it was, for `Checkpoint.load` to name: raised through TensorFlow's
  restore, it lost the restore's status, which warned of its unrestored values after
  the run's line."""

  def __init__(self, replay, directory):
    self.replay = replay
    self.directory = directory
    self.failed = None

  def serialize(self):
    return json.dumps(self.replay.save(self.directory, GFILES))

  def deserialize(self, string):
    self.failed = None
    try:
      self.replay.load(self.directory, json.loads(string), GFILES)
    except (IOError, ValueError) as e:  # (IOError: chunks.ChunkFileError)
      self.failed = e


class CarriedState(tf.train.experimental.PythonState):
  """The saved state of a replay the run does not use, saved again unchanged: a run
  of script=train carries a train_eval run's eval replay (its chunk files, which
  only a run with that replay prunes, stay) on to a later resume that uses it."""

  def __init__(self, string):
    self.string = string

  def serialize(self):
    return self.string

  def deserialize(self, string):
    self.string = string


def partial_save(name):
  """'folder' or 'file' if `name` in a checkpoint directory is what a save killed
  midway left behind, else None."""
  if name.startswith('ckpt-') and name.endswith('_temp'):
    return 'folder'
  if name.startswith('checkpoint.tmp'):  # the state file's, written before its rename
    return 'file'
  return None


class Checkpoint:
  """Saves and restores named trackables and replays under `directory`.

  Args:
    directory: where `ckpt-N.*` files and the replay chunk folders live.
    keep: number of checkpoints to keep.
    replays: {name: Replay}; each stores its chunks in `directory/<name>/`.
    carry: names of replays the run does not use: a state of one in the checkpoint
      it loads is saved on with each of its checkpoints (CarriedState).
    expendable: names of replays of `replays` whose damaged state in the checkpoint
      it loads starts them empty, with a warning line, instead of stopping the run.
    **objects: trackables (the agent, JSONState of loop counters, ...).
  """

  def __init__(self, directory, keep=3, replays=None, carry=(), expendable=(), **objects):
    self.directory = directory
    self.replays = dict(replays or {})
    self._expendable = [k for k in expendable if k in self.replays]
    self._keep = keep
    self._states = {k: ReplayState(v, GFILES.join(directory, k))
                    for k, v in self.replays.items()}
    self._carry = [k for k in carry if k not in self.replays]
    # What the replay states of this run's checkpoints marked as its files (replay.marks),
    # and the checkpoints read for it: a prune deletes no other file.
    self._held = {k: set() for k in self.replays}
    self._read = set()
    self._objects = objects
    self._ckpt = tf.train.Checkpoint(**objects, **self._states)
    self._manager = self._make_manager()

  def _make_manager(self):
    with damage.quiet_tf():  # an unreadable state file is reported by `inspect`
      try:
        return tf.train.CheckpointManager(self._ckpt, self.directory, max_to_keep=self._keep)
      except UnicodeDecodeError:  # a state file of bytes that are not UTF-8, which
        return None  # TensorFlow does not ignore as one it cannot parse: `tidy` rewrites it

  @property
  def latest(self):
    return self._manager.latest_checkpoint if self._manager else None

  def beyond_keep(self):
    """-> (how many checkpoints are kept, those the next save deletes) when they are
    more than `keep` (a resume given a smaller run.keep_checkpoints: its save deleted
    all but the newest `keep - 1` without a word), else (that count, [])."""
    paths = list(self._manager.checkpoints) if self._manager else []
    return len(paths), paths[:len(paths) + 1 - self._keep] if len(paths) > self._keep else []

  def save(self):
    """Writes a new checkpoint and prunes old ones; a failure leaves earlier ones
    loadable and raises CheckpointError (one line: the directory and the cause)."""
    check_finite(self._ckpt, self.latest)
    before = self._identity()
    # The first save of a run: what it leaves if it fails is taken back (a full disk
    # as TensorFlow merged its index left a cut ckpt-1 and no state file, Ctrl-C before
    # the state file a whole one, and the resume refused the logdir for either).
    first = None if self.latest else set(self._listdir())
    try:
      if self._manager is None:
        self._manager = self._make_manager()
      if self._manager is None:
        raise OSError(f'its state file {GFILES.join(self.directory, "checkpoint")} is not '
                      'UTF-8; move it away')
      self._hold(self._manager.checkpoints)  # (before the save rotates one out)
      # A checkpoint the manager rotates out that is gone already (the logdir renamed
      # under the run) was a 'WARNING:tensorflow:Hit NotFoundError when deleting' line
      # before the run's own one line.
      with damage.quiet_tf():
        try:
          path = self._manager.save()
        except BaseException:  # a full disk, or Ctrl-C between its writes
          if first is not None and not damage.listed_checkpoints(self.directory):
            self._take_back(first)  # (once the state file names it, it was saved)
          raise
      self._prune(before)
    except (OSError, tf.errors.OpError) as e:  # disk full, not writable, ...
      raise SaveError(  # main's line adds what is kept
          f'Could not save a checkpoint in {self.directory}: '
          f'{errors.one_line(e, cause_only=True)}') from e
    return path

  def load(self, path=None):
    """Restores the latest (or the given) checkpoint; all its objects must match.

    Reads only. A damaged checkpoint raises CheckpointError naming the flag that
    resumes from the newest intact earlier one; a damaged state of an `expendable`
    replay leaves it empty, named in a warning line once the rest has loaded.
    """
    path = path or self.latest
    if not path:
      raise CheckpointError(f'No checkpoint found in {self.directory}')
    check_readable(path)
    # A replay the checkpoint has no state of starts empty: `script` may change on a
    # resume, and a run of script=train saved no eval replay.
    reader = tf.train.load_checkpoint(path)
    absent = [k for k in self._states if not reader.has_tensor(damage.replay_state_key(k))]
    # An expendable one damaged starts empty too. The eval replay feeds only the eval/
    # reports and refills as the run evaluates: a chunk file of it deleted by hand
    # stopped the resume, whose ways on lost the training since an older checkpoint,
    # or the train replay (a new logdir from its agent).
    lost = self._damaged_states(path, reader, self._expendable)  # (said once it loaded)
    absent += list(lost)
    ckpt = self._ckpt if not absent else tf.train.Checkpoint(
        **self._objects, **{k: v for k, v in self._states.items() if k not in absent})
    status = None
    try:
      status = ckpt.restore(path)
      status.assert_existing_objects_matched()
    except (ValueError, AssertionError, tf.errors.OpError) as e:
      damage.not_damage(path, errors.one_line(e))
      reason = re.sub(r'\s*Showing \d+ of \d+ unmatched objects.*', '', errors.one_line(e))
      raise CheckpointError(f'Checkpoint {path} does not match this run: {reason}') from None
    finally:
      # Values of the file that no object of the run takes (a replay another script
      # saved; a failed load's rest) are left by design: TensorFlow warned of them
      # when the status was collected, after the run's own line.
      if status is not None:
        status.expect_partial()
    for name, state in self._states.items():
      if name in absent or not state.failed:
        continue
      reason = errors.one_line(state.failed)
      damage.not_damage(path, reason)
      if not isinstance(state.failed, IOError):
        raise CheckpointError(f'Checkpoint {path} does not match this run: {reason}')
      if name not in self._expendable:  # a replay chunk file missing or corrupt
        raise CheckpointError(
            f'Checkpoint {path} is damaged: {reason}{self._load_hint(path, state.failed)}')
      lost[name] = reason
    for name, reason in lost.items():
      _warn_left_behind(name, path, reason, 'this resume starts it empty and loads the rest')
    carried = self._carried(path, reader)
    if carried:  # saved on by every later save of this run
      self._ckpt = tf.train.Checkpoint(**self._objects, **self._states, **carried)
      self._manager = self._make_manager()
    if ckpt is not self._ckpt:  # the next save continues the numbering
      self._ckpt.save_counter.assign(ckpt.save_counter)
    return path

  def _carried(self, path, reader):
    """{name: CarriedState} of the replays of `carry` whose state checkpoint `path`
    holds intact. A damaged one (a replay file deleted by hand) is left behind with a
    warning: carried, it made every checkpoint of this run damaged for a resume that
    uses it, which then had no intact checkpoint to resume from."""
    damaged = self._damaged_states(path, reader, self._carry)
    for name, reason in damaged.items():
      _warn_left_behind(name, path, reason, "this run's checkpoints do not hold it, and a "
                        'later resume that uses it starts it empty')
    return {name: CarriedState(_json_string(reader.get_tensor(damage.replay_state_key(name))))
            for name in self._carry
            if name not in damaged and reader.has_tensor(damage.replay_state_key(name))}

  @staticmethod
  def _damaged_states(path, reader, names):
    """-> {name: why} for the replays of `names` whose state in checkpoint `path` is
    damaged (a file missing or cut short)."""
    damaged = {}
    for name in names:
      reason = damage.replay_damage(path, reader, name)
      if reason:
        damage.not_damage(path, reason)  # (the limit on open files: no damage)
        damaged[name] = reason
    return damaged

  def _load_hint(self, path, error):
    """What to do about a replay file the load found wrong. One that is there (whole,
    but another chunk's or wrong inside) passed the resume's checks, which would take
    this checkpoint for intact and refuse run.resume_from of an earlier one; moved
    away, it is a missing file, which they find."""
    file = getattr(error, 'path', None)
    if file and tf.io.gfile.exists(file):
      return f'; move {file} away and rerun: the checks then name the newest checkpoint without it'
    return damage.resume_hint(
        self.directory, path, [k for k in self.replays if k not in self._expendable])

  def tidy(self, plan):
    """Once the checks passed and the run may write: deletes what a save killed
    midway left behind, and moves the damaged checkpoints of `plan` into `damaged/`
    (dropped from the state file, so they are never read again), but for the rest of
    one a stopped save was pruning, which it deletes. A file it cannot
    remove or write raises SaveError naming it (main's line adds what is kept)."""
    with errors.file_errors('Cannot remove {path} (left by a save that was stopped): {cause}',
                            SaveError, self.directory):
      self.remove_partial_saves()
    keep = list(dict.fromkeys(plan.keep))  # (a state file may list one twice)
    # A state file without save times (written by hand): the manager manages none of
    # its checkpoints and would keep them all for ever; rewritten, it manages them.
    untimed = self._manager is not None and len(self._manager.checkpoints) < len(keep)
    if not plan.damaged and not untimed and (not plan.path or plan.path == self.latest):
      return
    with errors.file_errors('Cannot set the damaged checkpoints aside: {path}: {cause}',
                            SaveError, self.directory):
      number = checkpoint_paths.checkpoint_number
      for path in plan.damaged:
        # One older than the resumed one without its index: its data alone, unreadable
        # (damaged/ kept it for good). The prune finishes.
        if (plan.path and (number(path) or 0) < (number(plan.path) or 0)
            and damage.pruned_midway(path)):
          for file in tf.io.gfile.glob(path + '.*'):
            tf.io.gfile.remove(file)
        else:
          damage.set_aside(self.directory, path)
      if keep:  # none: a cut first save set aside, and no state file to rewrite
        damage.write_state(self.directory, keep)
    self._manager = self._make_manager()

  def remove_partial_saves(self):
    """Deletes what a save killed midway left behind; no checkpoint names it."""
    if not tf.io.gfile.isdir(self.directory):
      return
    for name in tf.io.gfile.listdir(self.directory):
      name = name.rstrip('/')
      kind = partial_save(name)
      if kind == 'folder':
        tf.io.gfile.rmtree(GFILES.join(self.directory, name))
      elif kind == 'file':
        tf.io.gfile.remove(GFILES.join(self.directory, name))
    for name in self.replays:
      folder = GFILES.join(self.directory, name)
      if tf.io.gfile.isdir(folder):
        for file in tf.io.gfile.listdir(folder):
          if file.startswith('.') and '.tmp-' in file:
            tf.io.gfile.remove(GFILES.join(folder, file))

  def _listdir(self):
    try:
      return [x.rstrip('/') for x in tf.io.gfile.listdir(self.directory)]
    except tf.errors.NotFoundError:
      return []

  def _take_back(self, before):
    """Removes the checkpoint files made since `before` (names in the directory), so
    that no checkpoint is left that no state file names (best effort: main's line says
    what is kept by the files left)."""
    for name in set(self._listdir()) - before:
      if name.startswith(('ckpt-', 'checkpoint')):
        path = GFILES.join(self.directory, name)
        with contextlib.suppress(OSError, tf.errors.OpError):
          if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
          else:
            tf.io.gfile.remove(path)

  def _identity(self):
    """(device, inode) of the local directory, else None: a logdir renamed or deleted
    while a save ran shows as a change (the save may have made the path anew)."""
    if '://' in self.directory:
      return None
    try:
      stat = os.stat(self.directory)
    except OSError:
      return None
    return stat.st_dev, stat.st_ino

  def _hold(self, paths):
    """Adds the marks of the replay states of checkpoints `paths` not read yet (the
    ones a resume found: a later save rotates them out). One that cannot be read marks
    nothing; the checks and the prune name its damage."""
    for path in paths:
      if path in self._read or not self.replays:
        continue
      try:
        self._add_held(_read_replay_states(path, list(self.replays)))
      except Exception:  # noqa: BLE001 - damage: the checks and the prune name it
        stop_signals.raise_again()  # (a stop that landed in the read: no damage)
      self._read.add(path)

  def _unmanaged_states(self, managed):
    """-> the replay states of the checkpoints beside the managed ones that the manager
    does not manage (a state file written by hand, without save times, manages none of
    those it names): TensorFlow keeps their files, so the prune keeps theirs. It
    deleted them, the resumed checkpoint's included, leaving them unloadable. One that
    cannot be read names no file to keep."""
    names = {os.path.basename(p) for p in managed}
    out = []
    for path in damage.found_checkpoints(self.directory):
      if os.path.basename(path) not in names:
        try:
          out.append(_read_replay_states(path, list(self.replays)))
        except Exception:  # noqa: BLE001 - damage: it names no file to keep
          stop_signals.raise_again()  # (a stop in the read: its files were pruned)
    return out

  def _add_held(self, states):
    for name, state in zip(self.replays, states):
      if state is not None:
        self._held[name] |= replay_lib.marks(state)

  def _prune(self, before):
    if not self.replays:
      return
    states = {}
    for path in self._manager.checkpoints:
      try:
        states[path] = _read_replay_states(path, list(self.replays))
        self._add_held(states[path])
        self._read.add(path)
      except Exception as e:  # noqa: BLE001 - damaged since the run began
        damage.not_damage(path, errors.one_line(e), SaveError)  # (from the save's read-back)
        if path == self.latest:
          raise CheckpointError(
              f'Checkpoint {path} was saved but cannot be read back: {errors.one_line(e)}') from e
        if before is not None and self._identity() != before:  # moved: none is damaged
          raise CheckpointError(
              f'{self.directory} was moved while a checkpoint was saved: '
              f'{errors.one_line(e)}') from e
        damage.warn_damaged(path, errors.one_line(e))
        damage.set_aside(self.directory, path)
    if len(states) < len(self._manager.checkpoints):
      damage.write_state(self.directory, list(states))
      self._manager = self._make_manager()
    kept = list(states.values()) + self._unmanaged_states(states)
    for i, (name, replay) in enumerate(self.replays.items()):
      keep = [x[i] for x in kept if x[i] is not None]
      replay.prune(GFILES.join(self.directory, name), keep, self._held[name], GFILES)
      # The rest named files the prune just deleted: held, they grew with every save.
      self._held[name] = set().union(*map(replay_lib.marks, keep))
    self._read = set(states)


def _warn_left_behind(name, path, reason, then):
  print(f'Warning: the {name} state of checkpoint {path} is damaged ({reason}): {then}',
        file=sys.stderr, flush=True)


def latest(directory):
  """The newest complete checkpoint in `directory`, or None."""
  return tf.train.latest_checkpoint(directory) if tf.io.gfile.isdir(directory) else None


def read_only_resume(directory, resume_from=''):
  """The checkpoint of `directory` that a process which only reads it (the other workers
  of a multi_worker run) resumes: the one run.resume_from names (checked by
  logdir_checks.check_resume_from), else the latest; None if none."""
  if resume_from:
    return checkpoint_paths.resume_path(directory, resume_from, GFILES.join)
  return latest(directory)


def _inside_export(path):
  """' (it is inside the SavedModel export DIR: ...)' for a file or directory of an
  export (saved_model.pb, variables/, variables/variables): was 'is a file, not a
  checkpoint (name ... a directory of checkpoints)', 'No checkpoint found' or 'holds no
  agent variables', none of which said that eval_only takes the export itself."""
  path = os.path.expanduser(path).rstrip('/')  # no normpath: it made gs://b one slash
  for parent in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
    try:
      found = parent and tf.io.gfile.exists(GFILES.join(parent, 'saved_model.pb'))
    except Exception:  # noqa: BLE001 - only a hint: the error it adds to says enough
      found = False
    if found:
      return checkpoint_paths.inside_export(parent)
  return ''


def check_readable(path):
  """Raises CheckpointError (one line) if `path` is missing or unreadable."""
  if not tf.io.gfile.exists(path + '.index'):
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
      raise CheckpointError(
          f'{path} is a file, not a checkpoint' + (
              _inside_export(path) or f' ({checkpoint_paths.NOT_A_PREFIX})'))
    raise CheckpointError(f'Checkpoint {path} is missing ({path}.index not found)')
  special = damage.special_files(path)
  if special:  # TensorFlow's read waited for ever (export --checkpoint=RUN/ckpt/ckpt-4)
    raise CheckpointError(f'Checkpoint {path} cannot be read: {special}')
  try:
    damage.read_all(path)
  except Exception as e:  # noqa: BLE001 - TF raises OpError, ValueError, IndexError...
    damage.not_damage(path, errors.one_line(e))
    raise CheckpointError(f'Checkpoint {path} is corrupt: {errors.one_line(e)}') from None


def check_finite(root, latest=None):
  """Raises CheckpointError (one line) if a float variable under `root` holds NaN or
  inf: a diverged agent must never replace the intact checkpoints."""
  for name, var in _agent_variables(root).items():
    if tf.as_dtype(var.dtype).is_floating and not bool(
        tf.reduce_all(tf.math.is_finite(var))):
      kept = f'; the latest checkpoint {latest} is kept' if latest else ''
      raise CheckpointError(
          f'Refusing to save a checkpoint: {name} is not finite (the agent diverged){kept}')


def _read_replay_states(path, names):
  """-> the states of replays `names` in checkpoint `path` (its index read once);
  None for one it has no state of (a checkpoint of script=train has no eval replay)."""
  reader = tf.train.load_checkpoint(path)
  states = []
  for name in names:
    if not reader.has_tensor(damage.replay_state_key(name)):
      states.append(None)
      continue
    states.append(json.loads(_json_string(reader.get_tensor(damage.replay_state_key(name)))))
  return states


def _json_string(value):
  """A PythonState's value as a checkpoint reader returns it (bytes) -> str."""
  return value.decode() if isinstance(value, bytes) else value


def saved_step(path):
  """-> the env step checkpoint `path` was saved at (its loop state's), or None when
  it holds none or cannot be read (its damage is for the checkpoint checks to name)."""
  try:
    loop = tf.train.load_checkpoint(path).get_tensor(damage.replay_state_key('loop'))
    return int(json.loads(_json_string(loop))['step'])
  except Exception:  # noqa: BLE001 - TF raises OpError, ValueError, RuntimeError...
    return None


def made_for(path):
  """-> what checkpoint `path` records of the run that saved it: the 'made_for' of its
  loop state (task, spaces, agent settings; run/common.made_for), or for a checkpoint
  saved before it had one, {'columns': {key: 'float32[4]'}} of its train replay (none
  while that was empty); {} when it holds neither or cannot be read (its damage is
  for the checkpoint checks to name)."""
  try:
    reader = tf.train.load_checkpoint(path)
    loop = reader.get_tensor(damage.replay_state_key('loop'))
    loop = json.loads(_json_string(loop))
    if isinstance(loop.get('made_for'), dict):
      return loop['made_for']
    state = reader.get_tensor(damage.replay_state_key('replay_train'))
    columns = json.loads(_json_string(state))['columns']
    return {'columns': {k: f'{np.dtype(v["dtype"]).name}{list(v["shape"])}'
                        for k, v in columns.items()}} if columns else {}
  except Exception:  # noqa: BLE001 - only a better line: without it, TensorFlow's
    return {}


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
  local = os.path.expanduser(path)
  directory = local if _quietly(tf.io.gfile.isdir, local) else os.path.dirname(local)
  for _ in range(READ_TRIES):
    before = _quietly(damage.listed_checkpoints, directory)
    try:
      return _load_agent(agent, path, pattern, regex, flag)
    except CheckpointError:
      if before is None or _quietly(damage.listed_checkpoints, directory) == before:
        raise  # no save came meanwhile (or none can be known): what it found is so
      if directory != local:  # the prefix given, pruned by its run as this read it?
        lost = checkpoint_paths.pruned_line(path, GFILES.listdir(directory))
        if lost:
          raise CheckpointError(f'Checkpoint {path} was pruned as this read it: {lost}') from None
        raise
      # Its run saved (and pruned) as this read its latest: read the new latest.
  raise CheckpointError(
      f'The run in {directory} saved {READ_TRIES} times as this read its latest checkpoint, '
      'and pruned it each time before the read was done; read it again when the run saves '
      'less often or has ended, or copy one of its checkpoints elsewhere and read that')


def _quietly(read, path):
  """read(path), or None when it fails (no network for gs://): the read names that."""
  try:
    return read(path)
  except Exception:  # noqa: BLE001 - TF raises OpError, ValueError...
    return None


def _load_agent(agent, path, pattern, regex, flag):
  """load_agent's read of `path` once; assigns nothing unless every variable fits."""
  given = path
  try:
    path = _resolve(path, flag)
    check_readable(path)
    reader = tf.train.load_checkpoint(path)
  except tf.errors.OpError as e:  # a gs:// path without network or credentials was
    # 'Error: Error executing an HTTP request: ...', naming neither flag nor path
    raise CheckpointError(f'Cannot read {flag} {given}: {errors.one_line(e)}') from None
  suffix = '/.ATTRIBUTES/VARIABLE_VALUE'
  stored = {k[len('agent/'):-len(suffix)]: k for k in reader.get_variable_to_shape_map()
            if k.startswith('agent/') and k.endswith(suffix)}
  if not stored:
    raise CheckpointError(f'Checkpoint {path} holds no agent variables{_inside_export(path)}')
  ours = _agent_variables(agent)
  names = sorted(n for n in set(stored) | set(ours) if pattern.match(n))
  if not names:
    raise CheckpointError(
        f'from_checkpoint_regex {regex!r} matches no agent variable of {path} '
        f'(names look like {sorted(stored)[0]!r})')
  only_ckpt = [n for n in names if n not in ours]
  only_agent = [n for n in names if n not in stored]
  if (only_ckpt or only_agent) and set(stored) == {'calls'}:
    # RandomAgent's only variable (a random agent loads it): 'does not match' said less.
    raise CheckpointError(f'Checkpoint {path} is of a random agent (random_agent=True): '
                          'it holds no weights to load')
  if (only_ckpt or only_agent) and set(ours) == {'calls'}:
    # A RandomAgent loading a trained agent: '179 names only in the checkpoint' said less.
    raise CheckpointError(f'Checkpoint {path} holds a trained agent, but random_agent=True '
                          'acts at random and loads no weights; drop random_agent to use it')
  if only_ckpt or only_agent:
    raise CheckpointError(
        f'Checkpoint {path} does not match this agent'
        f'{"" if regex == ".*" else f" for regex {regex!r}"}: '
        f'{len(only_ckpt)} names only in the checkpoint {only_ckpt[:3]}, '
        f'{len(only_agent)} only in the agent {only_agent[:3]}')
  values = {}
  for name in names:
    try:  # (TensorFlow opens the data file here: its run may have pruned it since)
      value = reader.get_tensor(stored[name])
    except tf.errors.OpError as e:
      raise CheckpointError(f'Cannot read checkpoint {path}: {errors.one_line(e)}') from None
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
  listed = damage.intact_latest(path, (), flag)
  if listed:
    damage.check_no_later_save_unlisted(path, listed[-1], (), flag)
  if not listed:
    inner = GFILES.join(path, 'ckpt')  # a logdir instead of its ckpt directory
    hint = f' (did you mean {flag}={inner}?)' if damage.listed_checkpoints(inner) else ''
    if tf.io.gfile.exists(GFILES.join(path, 'saved_model.pb')):
      hint = f' (it is {checkpoint_paths.A_SAVED_MODEL})'
    raise CheckpointError(f'No checkpoint found in {path}{hint or _inside_export(path)}')
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
