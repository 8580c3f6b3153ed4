"""Checkpoint paths read by their names only, before TensorFlow loads: a run's
ckpt-N prefixes, a cut save (ckpt-N_temp), an official run, an export.
"""

import os
import re

from dreamerv3_tf.core import path_lines
from dreamerv3_tf.core.streams import quote_for_paste


def official_run(path):
  """-> the logdir of a run of the official DreamerV3 that local `path` is, or whose
  ckpt/ or save folder it is, else None: its ckpt/latest names the save folder (which
  holds agent.pkl), and it has no config.json of ours."""
  path = os.path.expanduser(str(path or '')).rstrip('/')
  if not path or '://' in path:
    return None
  for run in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
    if (os.path.isfile(os.path.join(run, 'ckpt', 'latest'))
        and not os.path.exists(os.path.join(run, 'config.json'))):
      return run
  return None


def official_run_line(what, run):
  """The one line for `what` (e.g. '--logdir X') of official run `run`."""
  latest = os.path.join(run, 'ckpt', 'latest')
  return (f'{what} belongs to a run of the official DreamerV3 ({latest}), which this package '
          'reads only through its importer: python -m dreamerv3_tf.interop.official '
          f'--checkpoint={quote_for_paste(run)} --logdir=NEW_LOGDIR, then use NEW_LOGDIR '
          '(README, "Official checkpoints")')


# What a checkpoint path that names no checkpoint is told: the command's check before
# TensorFlow loads (export_checks) and the load's own (checkpoint.py) say it alike.
NOT_A_PREFIX = ('name a checkpoint prefix such as RUN/ckpt/ckpt-3, without .index, or a '
                'directory of checkpoints')


def inside_export(export):
  """The hint for a path inside SavedModel `export`: eval_only takes the export whole."""
  return (f' (it is inside the SavedModel export {export}, which eval_only takes whole: '
          f'--config.run.from_checkpoint={quote_for_paste(export)}; training and export need '
          "a run's checkpoint, RUN/ckpt)")


def in_an_export(path):
  """The local SavedModel export that `path` is or lies in (EXPORT, EXPORT/variables,
  its prefix EXPORT/variables/variables), else '': training needs a run's checkpoint."""
  path = os.path.expanduser(path).rstrip('/')
  if not path or '://' in path:
    return ''
  for folder in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
    if folder and os.path.isfile(os.path.join(folder, 'saved_model.pb')):
      return folder
  return ''


def export_words(export, path):
  """What `path`, which is or lies in SavedModel `export` (in_an_export), is: the words
  after 'X is' in the line refusing it as a checkpoint."""
  if export == os.path.expanduser(path).rstrip('/'):
    return A_SAVED_MODEL
  return f'no checkpoint of a run{inside_export(export)}'


A_SAVED_MODEL = ("a SavedModel, an export: it holds the policy for eval_only, not the "
                 "agent's weights and optimizer; name the run's ckpt directory")


def missing_checkpoint(path):
  """`path` with ~ expanded if it is local and names no checkpoint at all (neither a
  file or directory nor a prefix with its .index), else None: the commands refuse it
  before TensorFlow loads."""
  path = os.path.expanduser(path)
  if not path or '://' in path or os.path.exists(path) or os.path.exists(path + '.index'):
    return None
  return path


def cut_save(path):
  """The ckpt-N_temp folder a stopped save left that local `path` is or lies in, else
  None. Its part-00000-of-00001 was loaded as a checkpoint (whatever the cut save had
  written), and the folder itself was 'No checkpoint found', exit code 1, once
  TensorFlow had loaded."""
  path = os.path.normpath(os.path.expanduser(path)) if path else ''
  if not path or '://' in path:
    return None
  for folder in (path, os.path.dirname(path)):
    if re.fullmatch(r'ckpt-\d+_temp', os.path.basename(folder)):
      return folder
  return None


def cut_save_line(given, path):
  """The line refusing `path` (`given`: its flag and value as the command names them)
  if cut_save finds its folder, else None."""
  folder = cut_save(path)
  if not folder:
    return None
  saves = os.path.dirname(folder) or '.'
  return (f'{given} is in what a stopped save left ({folder}), not a checkpoint; name a '
          f'saved one, such as {saves}/ckpt-N, or {saves} for its latest')


def checkpoint_number(path):
  """N of a checkpoint prefix named ckpt-N (a run's own), else None."""
  match = re.fullmatch(r'ckpt-(\d+)', os.path.basename(path))
  return int(match.group(1)) if match else None


def checkpoint_prefixes(names):
  """The ckpt-N prefixes that a listing of a checkpoint directory holds an index file
  of, by number."""
  prefixes = [x[:-len('.index')] for x in names if x.endswith('.index')]
  return sorted((x for x in prefixes if checkpoint_number(x) is not None),
                key=checkpoint_number)


def file_prefix(path):
  """The checkpoint prefix whose file `path` names (its .index or a data file,
  PREFIX.data-00000-of-00001), else None; names only."""
  match = re.fullmatch(r'(.+)\.(index|data-\d+-of-\d+)', path, re.S)
  return match.group(1) if match else None


def named_prefix(directory, name, join=os.path.join):
  """The checkpoint prefix that `name` (a prefix, one of its files, or a bare file name
  in `directory`) stands for; names only."""
  path = os.path.expanduser(name)
  path = file_prefix(path) or path  # a shell completes 'ckpt-3.' to the data file first
  return path if os.path.dirname(path) else join(directory, path)


def resume_path(directory, resume_from, join=os.path.join):
  """The prefix `directory`/ckpt-N that run.resume_from names (that prefix, its .index
  file, or just 'ckpt-N'), or None if it names no ckpt-N of `directory`. Reads only
  names: the pre-TensorFlow checks and checkpoint_damage read it the same way."""
  path = named_prefix(directory, resume_from, join)
  if checkpoint_number(path) is None or not path_lines.same_dir(os.path.dirname(path), directory):
    return None
  return join(directory, os.path.basename(path))


def pruned_line(path, names=None):
  """Why checkpoint `path` (ckpt-N) is not among `names`, a listing of its directory
  (None: listed here, a local one), when checkpoints numbered after it are: 'its run
  keeps ...' (it pruned `path`), else ''. A reader beside a training run names the kept
  ones: it said 'no such checkpoint; name a checkpoint prefix such as RUN/ckpt/ckpt-3',
  of RUN/ckpt/ckpt-3."""
  if names is None:
    try:
      names = os.listdir(os.path.dirname(path) or '.')
    except OSError:  # none, or not readable: no checkpoint is known to be kept
      names = []
  number = checkpoint_number(path)
  if number is None or f'{os.path.basename(path)}.index' in names:
    return ''
  kept = [x for x in checkpoint_prefixes(names) if checkpoint_number(x) > number]
  if not kept:
    return ''
  directory = os.path.dirname(path) or '.'
  return (f'its run keeps its latest {len(kept)} (run.keep_checkpoints), now '
          f'{", ".join(kept)}; name one of them, or {directory} for its latest')
