"""Damaged checkpoints: found before a run writes anything, then set aside.

A checkpoint is damaged when a file of it is missing, truncated or unreadable, or a
file of its train replay is missing (a damaged eval replay only starts empty: see
`Checkpoint.load`). `inspect` reads every checkpoint the `checkpoint` state file
lists (reads only). A damaged latest one stops the run with one line
naming the flag that resumes from the newest intact one (`run.resume_from`); a
damaged earlier one is reported in one warning line, and `set_aside` moves its files
into `damaged/` while `write_state` drops it from the state file, so it is never read
again and never stops a save or a prune.
"""

import collections
import contextlib
import json
import os
import sys
import time

import tensorflow as tf
from tensorflow.python.training import checkpoint_state_pb2
from google.protobuf import text_format

from dreamerv3_tf import stop_signals
from dreamerv3_tf.checkpoint_errors import CheckpointError  # noqa: F401 (re-exported)
from dreamerv3_tf.checkpoint_errors import ResumeFromError
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import chunks as chunklib
from dreamerv3_tf.core import errors
from dreamerv3_tf.core.files import special_file
from dreamerv3_tf.core.streams import quote_for_paste
from dreamerv3_tf.gfile import GFILES

RESUME_FLAG = '--config.run.resume_from'
DAMAGED_DIR = 'damaged'


class Plan(collections.namedtuple('Plan', 'path keep damaged')):
  """What `inspect` found: the checkpoint to resume from (None: a fresh run), the
  intact ones to keep managing (oldest first, ending with `path`) and the damaged
  ones to set aside."""


def inspect(directory, replay_names=(), resume_from='', expendable=()):
  """Checks the checkpoints of a run before it writes anything (reads only). -> Plan.

  Every listed checkpoint is read whole, and the replay files it names must exist
  (but those of the `expendable` replays, which `Checkpoint.load` starts empty).
  Raises CheckpointError (one line) when the latest one is damaged, naming the flag
  that resumes from the newest intact earlier one, or when `resume_from` is not
  an intact checkpoint of `directory` older only than damaged ones. A damaged
  earlier checkpoint is reported in one warning line and listed in `Plan.damaged`.

  Args:
    directory: the run's checkpoint directory (may not exist yet).
    replay_names: names of the replays saved with the checkpoints.
    expendable: names of other replays saved with them, whose damage leaves the
      checkpoint intact (the eval replay: see `Checkpoint`).
    resume_from: '' for the latest checkpoint, else a checkpoint of `directory`
      (its prefix, e.g. DIR/ckpt-4, or just 'ckpt-4') to resume from instead.
  """
  _check_no_folder_named_as_a_checkpoint(directory)
  if resume_from:
    return _plan_resume_from(directory, replay_names, resume_from)
  cut = _cut_first_save(directory, [*replay_names, *expendable])
  if cut:
    return Plan(None, [], [cut])
  _check_state_is_ours(directory, replay_names)
  listed = intact_latest(directory, replay_names, RESUME_FLAG)
  if not listed:
    return Plan(None, [], [])
  _check_ours(directory, listed[-1], replay_names)
  check_no_later_save_unlisted(directory, listed[-1], replay_names)
  damaged = _damaged_among(listed[:-1], replay_names)
  return Plan(listed[-1], [p for p in listed if p not in damaged], damaged)


def intact_latest(directory, replay_names, flag):
  """-> the checkpoints the state file lists, oldest first ([]: none), after
  checking that the latest is intact; else CheckpointError with a hint to `flag`."""
  listed = listed_checkpoints(directory)
  # Only the listed ones: a read (export, run.from_checkpoint) saves none.
  _check_no_folder_named_as_a_checkpoint(directory, [os.path.basename(x) for x in listed or []])
  _check_listed_are_here(directory, listed)
  if listed is None:
    _check_state_is_a_file(directory, lambda: resume_hint(directory, None, replay_names, flag))
  if listed is None or (not listed and found_checkpoints(directory)):
    state = GFILES.join(directory, 'checkpoint')
    what = 'is missing'
    if listed is None:
      unreadable = _read_error(state)  # e.g. no permission: 'damaged' misled
      what = f'cannot be read ({unreadable})' if unreadable else 'is damaged'
    raise CheckpointError(
        f'The checkpoint state file {state} {what}, so the latest checkpoint is '
        f'unknown{resume_hint(directory, None, replay_names, flag)}')
  link = listed and dangling_link(listed[-1])
  if link:  # no damage: it was 'is damaged (ckpt-3.index is missing)'
    raise CheckpointError(
        f'The latest checkpoint {listed[-1]} cannot be read: {link}; mount it or fix '
        f'the link{resume_hint(directory, listed[-1], replay_names, flag)}')
  reason = listed and _damage(listed[-1], replay_names)
  if reason:
    raise CheckpointError(
        f'The latest checkpoint {listed[-1]} is damaged ({reason})'
        f'{resume_hint(directory, listed[-1], replay_names, flag)}')
  return listed


def _check_no_folder_named_as_a_checkpoint(directory, names=None):
  """CheckpointError if `directory` holds a directory named ckpt-<N> (one of `names`, if
  given): TensorFlow reads a checkpoint prefix that is a directory as a directory of
  checkpoints, so checkpoint ckpt-N (its files ckpt-N.index, ckpt-N.data-*) could be
  neither read nor saved. An intact one was called damaged (and set aside, if not the
  latest); a save of that number stopped the run after it had trained and pruned."""
  if not tf.io.gfile.isdir(directory):
    return
  for name in sorted(GFILES.listdir(directory), key=lambda x: _number(x) or 0):
    if (_number(name) is not None and (names is None or name in names)
        and tf.io.gfile.isdir(GFILES.join(directory, name))):
      raise CheckpointError(
          f'{GFILES.join(directory, name)} is a directory named as the checkpoint {name} '
          f'of this run, whose files are {name}.index and {name}.data-*: TensorFlow reads '
          f'that directory for them; move it out of {directory} (nothing was written)')


def _cut_first_save(directory, replay_names):
  """-> ckpt-1 if it is what a new run's first save left when it was killed (SIGKILL,
  the OOM killer) before the state file: damaged, the only files of `directory`,
  in a logdir with a config.json and no row logged (rows come after that save, which
  writes no replay file either). The same command then said to start a new logdir;
  now ckpt-1 is set aside in damaged/ and the run starts anew. Else None."""
  logdir = os.path.dirname(directory.rstrip('/'))
  if (not tf.io.gfile.isdir(directory)
      or tf.io.gfile.exists(GFILES.join(directory, 'checkpoint'))
      or not tf.io.gfile.exists(GFILES.join(logdir, 'config.json'))):
    return None
  for name in GFILES.listdir(directory):
    if name in replay_names:
      folder = GFILES.join(directory, name)
      if any(not x.startswith('.') for x in GFILES.listdir(folder)):
        return None  # a replay file: a later save's (temporaries start with '.')
    elif name != DAMAGED_DIR and not name.startswith(('ckpt-1.', 'ckpt-1_temp')):
      return None  # (damaged/: an earlier first save killed too, e.g. by the OOM killer)
  for name in ('metrics.jsonl', 'scores.jsonl'):
    path = GFILES.join(logdir, name)
    if tf.io.gfile.exists(path) and tf.io.gfile.stat(path).length:
      return None
  path = GFILES.join(directory, 'ckpt-1')
  reason = tf.io.gfile.exists(path + '.index') and _damage(path, replay_names)
  if not reason:
    return None  # whole: the state file's absence is named, with resume_from
  print(f'Warning: checkpoint {path}, the first save of this run, is damaged ({reason}) '
        'and no state file names it (the save was killed); it is set aside in '
        f'{DAMAGED_DIR}/ and the run starts anew from step 0.', file=sys.stderr, flush=True)
  return path


def check_no_later_save_unlisted(directory, latest, replay_names, flag=RESUME_FLAG):
  """CheckpointError if an intact checkpoint numbered after `latest` is beside it and
  the state file was written after it (edited, or an older copy put back): the resume
  went back to `latest` without a word, and its first save overwrote that checkpoint;
  a read (`flag` another than RESUME_FLAG: export, eval_only, run.from_checkpoint)
  took `latest` without a word. One written after the state file is what a save
  killed before the state file left: its next save replaces it, as it would have. Only
  the file times tell the two apart (their files are the same), so a copy that did not
  keep them (cp -r) may be refused too, and one line names both ways on."""
  state = GFILES.join(directory, 'checkpoint')
  written = tf.io.gfile.stat(state).mtime_nsec
  later = [p for p in found_checkpoints(directory) if _number(p) > _number(latest)]
  for path in sorted(later, key=_number, reverse=True):
    if tf.io.gfile.stat(path + '.index').mtime_nsec < written and not _damage(
        path, replay_names):
      name, last = os.path.basename(path), os.path.basename(latest)
      if flag != RESUME_FLAG:
        raise CheckpointError(
            f'The checkpoint state file {state} names {last} as the latest, but {name}, '
            'an intact checkpoint of a later save, is beside it, and the state file was '
            'written after it (edited, an older copy put back, or the folder copied '
            'without its file times, as cp -r does; cp -a keeps them), so which one to '
            f'read is unclear; to read {name}, rerun with {flag}={quote_for_paste(path)}; '
            f'to read {last}, with {flag}={quote_for_paste(latest)}')
      raise CheckpointError(
          f'The checkpoint state file {state} names {last} as the latest, but {name}, an '
          'intact checkpoint of a later save, is beside it, and the state file was written '
          'after it (edited, an older copy put back, or the folder copied without its file '
          f'times, as cp -r does; cp -a keeps them): a save would overwrite {name}; '
          f'to resume from it, rerun with {RESUME_FLAG}={quote_for_paste(path)}; to resume '
          f'from {last}, move the files of {name} out of {directory}')


def _check_listed_are_here(directory, listed):
  """CheckpointError if the state file names a checkpoint in another directory (full
  paths: TF1's Saver wrote them, or a hand-edited or copied file): the resume loaded
  it, and the run's saves then pruned that run's checkpoints away, deleting them."""
  def where(path):
    path = path.rstrip('/')
    return os.path.normpath(path) if '://' in path else os.path.realpath(path)
  for path in reversed(listed or []):
    if where(os.path.dirname(path)) != where(directory):
      raise CheckpointError(
          f'The checkpoint state file {GFILES.join(directory, "checkpoint")} names {path}, '
          f"outside {directory}: a resume would read it and then delete that run's "
          'checkpoints as it prunes; put back the state file this run wrote, or start a '
          f'new --logdir from that checkpoint with '
          f'--config.run.from_checkpoint={quote_for_paste(path)}')


def _check_state_is_ours(directory, replay_names):
  """CheckpointError if the state file is another program's: it names checkpoints not
  called ckpt-<N>, or it is no state file and nothing of a run is beside it (its
  checkpoints, its config.json); 'damaged' misled for either. Without a state file, the
  newest ckpt-<N> must be a run's: the line naming the state file missing said to resume
  from it."""
  listed = listed_checkpoints(directory)
  _check_listed_are_ours(directory, listed)
  found = [] if listed else found_checkpoints(directory)
  if found and not _damage(found[-1]):  # (a damaged one: the checks name its damage)
    _check_ours(directory, found[-1], replay_names)
  state = GFILES.join(directory, 'checkpoint')
  logdir = os.path.dirname(directory.rstrip('/'))
  if listed is None and not (found or tf.io.gfile.isdir(state)
                             or tf.io.gfile.exists(GFILES.join(logdir, 'config.json'))
                             or _read_error(state)):
    _foreign(directory, 'checkpoint', "is not a run's checkpoint state file, and neither "
             "a run's checkpoint nor its config.json is beside it")


def _check_listed_are_ours(directory, listed):
  """CheckpointError if the state file names a checkpoint not called ckpt-<N>: another
  program's (tf.train.CheckpointManager's of checkpoint_name='model.ckpt'). The resume
  failed on it with 'TypeError: '<' not supported between instances of 'NoneType' and
  'NoneType'', or read it as a damaged run's."""
  for path in reversed(listed or []):
    if _number(path) is None:
      _foreign(directory, 'checkpoint', f"names {os.path.basename(path)}, not a run's "
               "checkpoint (a run's are ckpt-<N>)")


def _check_ours(directory, path, replay_names):
  """CheckpointError if intact checkpoint `path` holds neither an agent nor a loop state
  nor a replay of `replay_names`: another program's, named as a run's are
  (CheckpointManager's default ckpt-<N>). The resume failed with TensorFlow's 'Found 2
  Python objects that were not bound to checkpointed values'."""
  keys = tf.train.load_checkpoint(path).get_variable_to_shape_map()
  if not any(k.split('/')[0] in ('agent', 'loop', *replay_names) for k in keys):
    _foreign(directory, os.path.basename(path), "holds no agent, so it is not a run's "
             'checkpoint')


def _foreign(directory, name, what):
  """Raises the line for a file of another program in a run's checkpoint directory;
  the run would resume it, or its saves overwrite or prune it."""
  raise CheckpointError(
      f'{GFILES.join(directory, name)} {what}: {directory} holds another program\'s files; '
      'move them out of it (nothing was written), or use a new --logdir')


def _read_error(path):
  """The cause that keeps file `path` from being read ('Permission denied'), or None."""
  try:
    with tf.io.gfile.GFile(path, 'rb') as f:
      f.read(1)
  except (OSError, tf.errors.OpError) as e:
    return errors.one_line(e, cause_only=True)
  return None


def _check_state_is_a_file(directory, hint):
  """Raises CheckpointError if the state file is a directory: a resume's or save's
  rewrite cannot replace it ('checkpoint.tmp; Is a directory', its temporary left)."""
  state = GFILES.join(directory, 'checkpoint')
  if tf.io.gfile.isdir(state):
    raise CheckpointError(
        f'The checkpoint state file {state} is a directory: move it away{hint()}')


def _plan_resume_from(directory, replay_names, resume_from):
  _check_state_is_a_file(directory, lambda: ', then rerun')
  listed = listed_checkpoints(directory)
  _check_listed_are_here(directory, listed)
  _check_listed_are_ours(directory, listed)
  known = listed or found_checkpoints(directory)  # by file names if no state file
  # logdir_checks.check_resume_from refuses these first (before TensorFlow loads, for a
  # local logdir); these lines are for a direct call.
  path = checkpoint_paths.resume_path(directory, resume_from, GFILES.join)
  if path is None:
    raise ResumeFromError(
        f'run.resume_from={resume_from} is not a checkpoint of this run (expected '
        f'{GFILES.join(directory, "ckpt-<N>")}); run.from_checkpoint starts a new run '
        "from another run's agent")
  if not known:
    raise ResumeFromError(
        f'run.resume_from={resume_from}: this run has no checkpoints in {directory} yet; '
        'drop run.resume_from to start it')
  newer = [p for p in known if _number(p) > _number(path)]
  reasons = {p: _damage(p, replay_names) for p in newer}
  intact = [p for p in newer if not reasons[p]]
  if intact:
    raise ResumeFromError(
        f'run.resume_from={path} is older than the intact checkpoint {intact[-1]}; '
        'drop run.resume_from to resume from the latest checkpoint, or go back to it in a '
        f'new --logdir: --config.run.from_checkpoint={quote_for_paste(path)} (its agent)')
  reason = _damage(path, replay_names)
  if reason:
    raise CheckpointError(
        f'run.resume_from={path} is not usable ({reason})'
        f'{resume_hint(directory, path, replay_names)}')
  _check_ours(directory, path, replay_names)
  # The damaged ones it goes back over are set aside as the older ones are, with their
  # line: a stray ckpt-9.index moved into damaged/ without a word.
  for p in newer:
    warn_damaged(p, reasons[p])
  older = [p for p in known if _number(p) < _number(path)]
  damaged = _damaged_among(older, replay_names)
  keep = [p for p in older if p not in damaged] + [path]
  return Plan(path, keep, newer + damaged)


def _damaged_among(paths, replay_names):
  damaged = []
  for path in paths:
    reason = _damage(path, replay_names)
    if reason:
      if not pruned_midway(path):  # (no warning for that: Checkpoint.tidy deletes it)
        warn_damaged(path, reason)
      damaged.append(path)
  return damaged


def pruned_midway(path):
  """Whether checkpoint `path` lacks its index: it was being pruned by a save that was
  interrupted before it rewrote the state file (TensorFlow lists the new checkpoint,
  deletes the oldest, index first, then lists again). An index linked to nothing is
  damage (a disk not mounted)."""
  return not (tf.io.gfile.exists(path + '.index') or os.path.islink(path + '.index'))


def warn_damaged(path, reason):
  print(f'Warning: checkpoint {path} is damaged ({reason}); it is set aside in '
        f'{DAMAGED_DIR}/ and not read again.', file=sys.stderr, flush=True)


def replay_state_key(name):
  """The checkpoint key of replay `name`'s state (its JSON, a tf.train.Checkpoint
  PythonState)."""
  return f'{name}/.ATTRIBUTES/py_state'


def _damage(path, replay_names=()):
  """-> why checkpoint `path` cannot be loaded (one line), or None if it is intact.
  A cause that is no damage of it (the limit on open files) raises CheckpointError."""
  reason = _damage_or_limit(path, replay_names)
  if reason:
    not_damage(path, reason)
  return reason


def not_damage(path, reason, error=CheckpointError):
  """Raises CheckpointError if `reason`, why checkpoint `path` could not be read, is
  this process's limit on open files (ulimit -n), not the checkpoint's damage: under
  a low limit a resume set intact checkpoints aside in damaged/ ('is damaged (...;
  Too many open files)'), or took the latest for damaged. Raises the stop's exception
  again if a stop signal landed in the read: TensorFlow's C++ (pybind11) made a
  RuntimeError of it, 'ORIGINAL NotFoundError REPLACED BY UserSignal', and an intact
  checkpoint was set aside as damaged."""
  stop_signals.raise_again()
  if errors.is_open_files_limit(reason):
    raise error(f'Cannot read checkpoint {path}: {errors.TOO_MANY_FILES}')


def dangling_link(path):
  """'FILE is a symbolic link to TARGET, which does not exist (...)' for the first file
  of local checkpoint `path` (its .index, its data files) that is a link to nothing (a
  file on a disk not mounted), else None."""
  if '://' in path:
    return None
  folder, prefix = os.path.split(path)
  try:
    names = sorted(x for x in os.listdir(folder or '.') if x == f'{prefix}.index' or
                   x.startswith(f'{prefix}.data-'))
  except OSError:
    return None
  for name in names:
    file = os.path.join(folder, name)
    if os.path.islink(file) and not os.path.exists(file):
      return (f'{file} is a symbolic link to {os.readlink(file)}, which does not exist '
              '(a disk not mounted?)')
  return None


def _damage_or_limit(path, replay_names):
  link = dangling_link(path)
  if link:  # an earlier checkpoint's warning line names it, and why
    return link
  if not tf.io.gfile.exists(path + '.index'):
    return f'{os.path.basename(path)}.index is missing'
  special = special_files(path)
  if special:
    return special
  try:
    reader = read_all(path)
  except Exception as e:  # noqa: BLE001 - TF raises OpError, ValueError, IndexError...
    return errors.one_line(e)
  for name in replay_names:
    reason = replay_damage(path, reader, name)
    if reason:
      return reason
  return None


def replay_damage(path, reader, name):
  """-> why the state of replay `name` in checkpoint `path` (read by `reader`) cannot
  be loaded: it is unreadable, or a replay file it names is missing or cut short; else
  None, also where the checkpoint holds no state of it (another run layout:
  `Checkpoint.load` names that)."""
  key = replay_state_key(name)
  if not reader.has_tensor(key):
    return None
  try:
    value = reader.get_tensor(key)
    files = json.loads(value.decode() if isinstance(value, bytes) else value)['files']
  except (ValueError, KeyError, TypeError) as e:
    return f'its {name} state is unreadable: {errors.one_line(e)}'
  folder = GFILES.join(os.path.dirname(path), name)
  present = set(GFILES.listdir(folder)) if tf.io.gfile.isdir(folder) else set()
  missing = [f for f in files if f not in present]
  if missing:
    return (f'{len(missing)} replay file{"s are" if len(missing) > 1 else " is"} '
            f'missing, e.g. {name}/{missing[0]}')
  for file in files:
    reason = _cut_short(folder, file)
    if reason:
      return f'replay file {name}/{file} is corrupt ({reason})'
  return None


def special_files(path):
  """-> '<file> is a named pipe' for a file of local checkpoint `path` (its .index or a
  data file) that is one, else None: TensorFlow's read of it waited for ever, holding
  the interpreter (not even Ctrl-C or SIGTERM stopped the run)."""
  if '://' in path:
    return None
  folder, name = os.path.split(path)
  for file in sorted(os.listdir(folder or '.')):
    if file == name + '.index' or file.startswith(name + '.data-'):
      special = special_file(os.path.join(folder, file))
      if special:
        return f'{file} is {special}'
  return None


_WHOLE = set()  # (path, size, mtime) of replay files found whole: kept checkpoints share most


def _cut_short(folder, file):
  """-> why local replay file `file` cannot be read (a file cut short), else None. A
  remote one (gs://) is not opened: its objects are written whole, and the checks would
  make a request per file and checkpoint."""
  if '://' in folder:
    return None
  path = os.path.join(folder, file)
  special = special_file(path)
  if special:  # opening it waited for ever
    return f'it is {special}'
  try:
    stat = os.stat(path)
  except OSError as e:
    return errors.one_line(e, cause_only=True)
  key = (path, stat.st_size, stat.st_mtime_ns)
  if key in _WHOLE:
    return None
  reason = chunklib.npz_damage(folder, file)
  if not reason:
    _WHOLE.add(key)
  return reason


def read_all(path):
  reader = tf.train.load_checkpoint(path)
  for key in reader.get_variable_to_shape_map():
    reader.get_tensor(key)  # reads every byte: a truncated data file fails here
  return reader


def resume_hint(directory, damaged, replay_names, flag=RESUME_FLAG):
  """'; resume from the newest intact one with FLAG=PATH', for a damaged `damaged`
  (None: the latest is unknown), or why that is impossible."""
  # Those on disk too: a state file naming only a checkpoint that is not there (a copy
  # of a running run's logdir) said no earlier one was intact, beside ckpt-1 and ckpt-2.
  candidates = sorted(
      set(listed_checkpoints(directory) or []) | set(found_checkpoints(directory)), key=_number)
  for path in sorted(candidates, key=_number, reverse=True):
    if damaged and _number(path) >= _number(damaged):
      continue
    if not _damage(path, replay_names):
      verb = 'resume from' if flag == RESUME_FLAG else 'use'
      # Only replay files lost (ckpt/replay_train deleted for room): the first save,
      # ckpt-1, holds no replay file and so stayed 'intact', and this named it alone:
      # the untrained agent of step 0, beside the trained one of the damaged latest.
      agent = _agent_hint([damaged], replay_names) if damaged and flag == RESUME_FLAG else ''
      return (f'; to {verb} the newest intact checkpoint, {os.path.basename(path)}, '
              f'rerun with {flag}={quote_for_paste(path)}'
              f'{f"; or start again with a new --logdir{agent}" if agent else ""}')
  if flag != RESUME_FLAG:  # a read (export, eval_only, run.from_checkpoint): a new
    # --logdir was no answer, the one given being the run read or a new run already
    first = [_number(x) for x in candidates] == [1]
    why = ' (a run killed in its first save: its training command starts it anew)'
    return (f'; no checkpoint in {directory} is intact, so there is none to load'
            f'{why if first else ""}')
  return ('; no earlier checkpoint is intact: start again with a new --logdir'
          f'{_agent_hint(candidates, replay_names)}')


def _agent_hint(candidates, replay_names):
  """', from the agent of PATH ...' naming the newest checkpoint whose own files are
  whole, when only replay files are lost: its agent is not, and a new run starts from it
  (run.from_checkpoint reads no replay). '' if there is none."""
  if not replay_names:  # then whole files are an intact checkpoint, named above
    return ''
  for path in sorted(candidates, key=_number, reverse=True):
    if not _damage(path):
      return (f', from the agent of {path} (its own files are whole) with '
              f'--config.run.from_checkpoint={quote_for_paste(path)}')
  return ''


def listed_checkpoints(directory):
  """Checkpoints named by the `checkpoint` state file, oldest first ([] if there is
  no such file, None if it cannot be read)."""
  if not tf.io.gfile.exists(GFILES.join(directory, 'checkpoint')):
    return []
  try:
    with quiet_tf():
      state = tf.train.get_checkpoint_state(directory)
  except Exception:  # noqa: BLE001 - a state file without a latest checkpoint
    return None
  if state is None:
    return None
  paths = list(state.all_model_checkpoint_paths)
  if state.model_checkpoint_path not in paths:
    paths.append(state.model_checkpoint_path)
  return paths


def found_checkpoints(directory):
  """Checkpoint prefixes in `directory` with an index file, by number."""
  if not tf.io.gfile.isdir(directory):
    return []
  return [GFILES.join(directory, x)
          for x in checkpoint_paths.checkpoint_prefixes(GFILES.listdir(directory))]


_number = checkpoint_paths.checkpoint_number


def set_aside(directory, path):
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


def write_state(directory, paths):
  """Rewrites the `checkpoint` state file to manage exactly `paths` (oldest first),
  keeping their save times so that CheckpointManager still prunes them in order."""
  old = None
  with contextlib.suppress(Exception), quiet_tf():
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
  # A local one keeps the old file's time: it names no checkpoint saved later, and
  # check_no_later_save_unlisted reads a state file newer than an unlisted later
  # checkpoint (a killed save's) as one put back (a resume that set a damaged one aside
  # and was stopped before its first save was refused the next time). (gs:// cannot.)
  stamp = None
  if '://' not in file and os.path.isfile(file):
    stamp = os.stat(file).st_mtime_ns
  with tf.io.gfile.GFile(file + '.tmp', 'w') as f:
    f.write(text_format.MessageToString(state))
  tf.io.gfile.rename(file + '.tmp', file, overwrite=True)
  if stamp is not None:
    os.utime(file, ns=(time.time_ns(), stamp))


@contextlib.contextmanager
def quiet_tf():
  """Silences TensorFlow's Python warnings (e.g. about an unreadable state file)."""
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel('ERROR')
  try:
    yield
  finally:
    logger.setLevel(level)
