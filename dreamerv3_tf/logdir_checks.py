"""Checks of the paths a run is given, before it writes anything: its logdir (a new
one, or a run of the same config to resume), run.from_checkpoint and
run.resume_from, and whether another process uses the logdir.
"""

import json
import os
import tempfile

from dreamerv3_tf import configuration
from dreamerv3_tf import evaluated_policy
from dreamerv3_tf import run_files
from dreamerv3_tf.configuration import ConfigError
from dreamerv3_tf.configuration import LogdirError
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import path_lines
from dreamerv3_tf.core.files import special_file
from dreamerv3_tf.core.streams import quote_for_paste


def check_logdir(config, logdir, allow_other=False):
  """Raises ConfigError (one line) unless `logdir` can hold a run of `config`. Reads only.

  The logdir must be a directory or not exist yet (below a directory), and the
  config.json a run saved there must equal `config` up to the keys that may differ
  on resume (how long to run, how often to log), unless `allow_other`.
  """
  if '://' not in logdir:
    return _check_logdir(config, logdir, allow_other)
  import tensorflow as tf
  try:
    return _check_logdir(config, logdir, allow_other)
  except tf.errors.OpError as e:  # no network, no credentials, an unknown scheme
    raise LogdirError(f'Cannot read --logdir {logdir}: {errors.one_line(e)}') from None


def _check_logdir(config, logdir, allow_other):
  fs = run_files.file_ops(logdir)
  local = '://' not in logdir
  if local:  # first: a user who may not write / was told 'Cannot create /'
    _check_not_home(logdir)
  _check_is_directory(logdir, fs)
  official = local and checkpoint_paths.official_run(logdir)
  given = os.path.expanduser(logdir).rstrip('/')
  # Its ckpt/ or a save folder too: the importer wrote our logdir there, among the
  # official save folders.
  # (Not abspath('.'): in a deleted current directory, 'Error: [Errno 2] No such file
  # or directory' stopped every run of a full --logdir.)
  within = official and (os.path.abspath(given) + os.sep).startswith(
      os.path.join(os.path.abspath(official), 'ckpt') + os.sep)
  if official == given or within:
    # It was 'metrics.jsonl holds the metrics of an earlier run, but ckpt holds no
    # checkpoint', or a new run among its files.
    raise ConfigError(checkpoint_paths.official_run_line(f'--logdir {logdir}', official))
  if local:
    _check_not_inside_a_run(logdir, config.script)
    _check_not_an_export(logdir)
  _check_entries(config, logdir, fs)
  if local:
    if config.script != 'eval_only':
      _check_own_checkpoints(logdir)
    _check_not_above_runs(logdir)
  path = fs.join(logdir, 'config.json')
  saved = _saved_or_none(fs, path)
  if saved is not None:  # before its metrics: an evaluation's have no checkpoints
    _check_same_kind(config, logdir, saved)
  _check_metrics_have_checkpoints(config, logdir, fs)
  _check_tb_of_a_run(logdir, fs)
  if not fs.exists(path):
    return
  try:
    with fs.open(path, 'r') as f:
      saved = json.load(f)
    if not isinstance(saved, dict):  # ('list' object has no attribute 'items')
      raise ValueError(f'it holds a JSON {run_files.json_kind(saved)}, not an object')
    old = run_files.comparable(saved)
  except (ValueError, AttributeError) as e:  # not JSON, or not a config's JSON
    raise ConfigError(f'{path} is not a saved config ({str(e).splitlines()[0]}); '
                      f'{_way_on(logdir, fs)}') from None
  except OSError as e:  # no permission: it was '[Errno 13] Permission denied: PATH', exit 1
    raise ConfigError(f'{path} cannot be read ({errors.one_line(e, cause_only=True)})'
                      ) from None
  missing = [k for k in ('task', 'agent') if k not in saved]
  if missing:  # someone else's config.json: allow_other_config would overwrite it
    raise ConfigError(f'{path} is not a saved config (no {", ".join(map(repr, missing))}); '
                      'use a new --logdir')
  run_files.check_types(saved, path)  # (allow_other_config too: its agent is compared)
  new = run_files.comparable(json.loads(run_files.to_json(config)))
  old, new = _unread_env_options_dropped(old, new, saved.get('task'))
  diff = run_files.diff(old, new)
  if diff and not allow_other:
    flags = _resume_flags(old, new)
    raise ConfigError(
        f'logdir {logdir} belongs to another config ({"; ".join(diff[:3])}); '
        f'{f"resume it with {flags}, " if flags else ""}'
        'use a new --logdir or pass --config.run.allow_other_config=True')
  if not allow_other:
    _check_same_policy(config, logdir, saved)
  elif local:
    _check_agent_of_size(config, logdir)
  if local and config.script == 'eval_only':
    _check_score_rows(logdir)


def _check_score_rows(logdir):
  """An evaluation's score files, which eval_only adds its episodes to, must hold rows
  plot takes (its check, score_rows): a score edited into text ("15") was added to
  without a word, and plot then refused the file, naming the line."""
  from dreamerv3_tf.core import score_rows
  for name in ('scores.jsonl', 'metrics.jsonl'):
    path = os.path.join(logdir, name)
    if not os.path.isfile(path):
      continue
    try:
      score_rows.read_points(path, warn=False)
    except ValueError as e:
      raise ConfigError(f'{e}; eval_only adds its episodes to this file, which plot refuses: '
                        'fix the file (or move it away), or use a new --logdir') from None


# The agent settings model.py builds its weights from (configs/base.py: their keys are
# the modules' constructor keywords); opt, retnorm and slowvalue hold no shaped weights.
WEIGHT_MODULES = ('enc', 'rssm', 'dec', 'rewhead', 'conhead', 'policy', 'value')


def shape_keys(old, new):
  """-> the dotted agent settings ('agent.rssm.stoch') that differ between the
  agent_settings `old` and `new` and give the weights other shapes, which no checkpoint
  of the other can load: the counts of WEIGHT_MODULES (units, layers, bins, blocks,
  kernel, mults, the size presets' keys). Their fractions (unimix, outscale), flags and
  names do not."""
  def count(x):
    items = x if isinstance(x, (list, tuple)) else [x]
    return all(isinstance(i, int) and not isinstance(i, bool) for i in items)
  return sorted(k for k in set(old) | set(new)
                if old.get(k) != new.get(k) and k.split('.')[1] in WEIGHT_MODULES
                and count(old.get(k, new.get(k))))


def _check_agent_of_size(config, logdir):
  """run.allow_other_config=True resumes a run with other settings, not an agent of
  another size or kind (random_agent): the resume failed to load its checkpoint once
  TensorFlow had loaded and
  the envs started (exit code 1). config.json tells, where a checkpoint is to be
  resumed: the line the load's failure gives (run/common.other_agent), exit code 2."""
  ckpt = os.path.join(logdir, 'ckpt')
  resume_from = str(config.run.resume_from or '')
  found = checkpoint_paths.checkpoint_prefixes(os.listdir(ckpt) if os.path.isdir(ckpt) else [])
  path = (checkpoint_paths.resume_path(ckpt, resume_from) if resume_from
          else found and os.path.join(ckpt, found[-1]))
  if config.script == 'eval_only' or not path:  # (a new start may change it)
    return
  try:
    saved = run_files.load_config(logdir)
  except ConfigError:  # (its checks above name what is wrong with it)
    return
  _check_replay_lengths(config, saved, path)
  other_kind = saved.random_agent != config.random_agent
  # A random agent holds no weights: a trained agent's checkpoint it cannot resume,
  # and other agent settings than the run's do not matter to it.
  # Other weight shapes failed the load, naming one variable (rewhead.bins, rssm.stoch).
  shapes = not config.random_agent and shape_keys(run_files.agent_settings(saved),
                                                  run_files.agent_settings(config))
  if other_kind or shapes:
    from dreamerv3_tf.run import common
    line = common.other_agent(config, path)
    if line:
      raise ConfigError(line)


def _check_replay_lengths(config, saved, path):
  """The replays of checkpoint `path` hold sequences of the lengths its run's config
  (`saved`) gave them; other ones failed the load once TensorFlow had loaded and the
  envs started ('saved sequence length 9 != 17', exit code 1; sweep 77)."""
  keys = ('batch_length', 'report_length', 'replay_context')
  lengths = lambda c: (c.batch_length + c.replay_context, c.report_length + c.replay_context)
  try:
    if lengths(saved) == lengths(config):
      return
  except (AttributeError, KeyError, TypeError):  # (one an older version lacked: the load names it)
    return
  differ = [k for k in keys if saved.get(k) != config[k]]
  flags = ' '.join(f'--config.{k}={saved[k]}' for k in differ)
  settings = ', '.join(f'{k}={saved[k]} (this run: {config[k]})' for k in differ)
  where = os.path.join(config.logdir, 'config.json')
  raise ConfigError(
      f'Checkpoint {path} holds replay sequences of {settings} ({where}); '
      'run.allow_other_config=True resumes a run with other settings, not other replay '
      f'sequences: pass {flags}, or start a new --logdir')


def _saved_or_none(fs, path):
  """The JSON object of config file `path`, or None where it is missing or no object
  (the full read names what is wrong with it)."""
  if not fs.exists(path):  # (a remote open raises TensorFlow's NotFoundError)
    return None
  try:
    with fs.open(path, 'r') as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return None
  return saved if isinstance(saved, dict) else None


def _check_same_policy(config, logdir, saved):
  """An evaluation's logdir holds the episodes of the policy its run.from_checkpoint
  named: another one evaluated there added its episodes to them, without a word, and
  a plot drew both as one policy (its own runs of the same command add to them). Its
  policy.json names the policy the path resolved to, which evaluated_policy compares;
  the path alone is compared for an evaluation of a version before that record."""
  if config.script != 'eval_only' or saved.get('script') != 'eval_only':
    return
  if evaluated_policy.recorded(logdir) is not None:
    return  # it names the policy: compared with what run.from_checkpoint resolves to
  norm = lambda x: x if '://' in x else os.path.realpath(os.path.expanduser(x))
  old = str((saved.get('run') or {}).get('from_checkpoint') or '')
  new = str(config.run.from_checkpoint or '')
  if old and new and norm(old) != norm(new):
    raise ConfigError(
        f'logdir {logdir} holds the evaluation of {old}; evaluating {new} there would mix '
        'the episodes of both policies: use a new --logdir, or pass '
        '--config.run.allow_other_config=True to add them')


def _way_on(logdir, fs):
  """What to do about a logdir whose config.json cannot be read: when its ckpt/ holds
  checkpoints (config.json was cut short, e.g. on a full disk), a way that keeps their
  work; 'use a new --logdir' alone told to throw it away."""
  ckpt = fs.join(logdir, 'ckpt')
  if not has_checkpoints(logdir, fs):
    return 'use a new --logdir'
  # Moved away, it is a missing config.json: the resume goes on with a warning line.
  return ('put back the config.json it ran with, or move it away and rerun (a resume '
          'without it checks only the task and agent settings of its checkpoints: it keeps '
          'their replay), or start a new --logdir from its agent with '
          f'--config.run.from_checkpoint={quote_for_paste(ckpt)} (its latest checkpoint)')


def has_checkpoints(logdir, fs=None):
  """Whether `logdir` holds a checkpoint of its own (a resume reads that one)."""
  fs = fs or run_files.file_ops(logdir)
  ckpt = fs.join(logdir, 'ckpt')
  return fs.isdir(ckpt) and any(x.endswith('.index') for x in fs.listdir(ckpt))


NOTHING_TO_EVALUATE = (
    'script=eval_only evaluates the checkpoint that run.from_checkpoint names, and none is '
    "given: pass --config.run.from_checkpoint=PATH (a checkpoint, a run's ckpt directory or "
    'a SavedModel export), or --config.random_agent=True for the score of a random policy')


def nothing_to_evaluate(config):
  """Whether eval_only has no policy to load: no run.from_checkpoint, no random agent,
  and no LOGDIR/ckpt (a logdir of a training run, which holds one, is refused). A
  remote logdir is read through TensorFlow: eval_only asks once it has loaded (its
  line was 'Checkpoint gs://b/run/ckpt is missing (... .index not found)', exit code 1)."""
  if config.script != 'eval_only' or config.run.from_checkpoint or config.random_agent:
    return False
  fs = run_files.file_ops(config.logdir)
  return not fs.isdir(fs.join(config.logdir, 'ckpt'))


def check_from_checkpoint(config):
  """ConfigError unless a local run.from_checkpoint exists. Reads only; before
  TensorFlow loads (it was 'Checkpoint X is missing', exit code 1, after it).

  A resume of a training run does not read it (its own checkpoint holds the whole
  agent), so the run it started from may have been moved or deleted since."""
  given = str(config.run.from_checkpoint or '')
  if config.script != 'eval_only' and has_checkpoints(config.logdir):
    return  # a resume: it loads its own checkpoint
  if nothing_to_evaluate(config):  # it was 'Error: No checkpoint found', exit code 1, after it
    raise ConfigError(NOTHING_TO_EVALUATE)
  official = checkpoint_paths.official_run(given)
  if official:  # it was 'a directory that holds no checkpoint', or 'No checkpoint found'
    raise ConfigError(checkpoint_paths.official_run_line(f'run.from_checkpoint={given}', official))
  cut = checkpoint_paths.cut_save_line(f'run.from_checkpoint={given}', given)
  if cut:
    raise ConfigError(cut)
  not_one = _file_not_a_checkpoint(given)
  if not_one:  # it was 'Error: ... is a file, not a checkpoint', exit code 1, after it
    raise ConfigError(f'run.from_checkpoint={given} is a file, not a checkpoint{not_one}')
  export = checkpoint_paths.in_an_export(given)
  what = export and checkpoint_paths.export_words(export, given)
  if export and (config.script != 'eval_only' or what != checkpoint_paths.A_SAVED_MODEL):
    # It was 'No checkpoint found in EXPORT (...)', exit code 1, after it; for eval_only,
    # which takes an export whole, of a folder inside one (EXPORT/variables) too.
    raise ConfigError(f'run.from_checkpoint={given} is {what}')
  if checkpoints_below(given):  # it was 'No checkpoint found in RUN', exit code 1, after it
    inner = os.path.join(given, 'ckpt')
    raise ConfigError(f"run.from_checkpoint={given} is a run's logdir, and its checkpoints "
                      f'are in {inner}: did you mean '
                      f'--config.run.from_checkpoint={quote_for_paste(inner)}?')
  path = checkpoint_paths.missing_checkpoint(given)
  kept = path and checkpoint_paths.pruned_line(path)
  if kept:  # a checkpoint of a run that trains: its saves pruned it
    raise ConfigError(f'run.from_checkpoint={config.run.from_checkpoint}: no such checkpoint: '
                      f'{kept}')
  empty = not path and _holds_no_checkpoint(given)
  if not (path or empty):
    return
  what = 'a SavedModel export, ' if config.script == 'eval_only' else ''
  found = ("a directory that holds no checkpoint (no 'checkpoint' file, no *.index)"
           if empty else f'no such checkpoint ({path} and {path}.index do not exist)')
  # An empty one was 'No checkpoint found in DIR' once TensorFlow had loaded and compiled.
  raise ConfigError(
      f'run.from_checkpoint={config.run.from_checkpoint}: {found}; name a checkpoint '
      f"prefix such as RUN/ckpt/ckpt-3, {what}or a run's ckpt directory")


def _file_not_a_checkpoint(path):
  """For a local file that is no checkpoint prefix (its .index does not exist), the
  hint that ends its line ' (...)', else ''. As export's --checkpoint says it."""
  path = os.path.expanduser(path)
  if not path or '://' in path or not os.path.isfile(path) or os.path.exists(path + '.index'):
    return ''
  for parent in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
    if parent and os.path.isfile(os.path.join(parent, 'saved_model.pb')):
      # (saved_model.pb, variables/variables.index, ...)
      return checkpoint_paths.inside_export(parent)
  prefix = checkpoint_paths.file_prefix(path)  # of its .index or a data file
  if prefix:
    return f' (name its prefix, --config.run.from_checkpoint={quote_for_paste(prefix)})'
  return f' ({checkpoint_paths.NOT_A_PREFIX})'


def checkpoints_below(path):
  """Whether local `path` is a directory that holds no checkpoint itself but a ckpt/
  that does (a run's logdir given for its ckpt directory)."""
  path = os.path.expanduser(path)
  if not path or '://' in path or not os.path.isdir(path):
    return False
  ckpt = os.path.join(path, 'ckpt')
  try:
    return (not _checkpoint_files(os.listdir(path)) and os.path.isdir(ckpt)
            and _checkpoint_files(os.listdir(ckpt)))
  except OSError:  # unreadable: the checkpoint read names it
    return False


def _checkpoint_files(names):
  """Whether a directory of `names` holds what a checkpoint read takes (state file,
  *.index) or an export (saved_model.pb)."""
  return any(n in ('checkpoint', 'saved_model.pb') or n.endswith('.index') for n in names)


def _holds_no_checkpoint(path):
  """Whether local `path` is a directory with nothing a checkpoint read could take: no
  state file, no *.index, no SavedModel, no ckpt/ (a run's logdir) below it."""
  path = os.path.expanduser(path)
  if not path or '://' in path or not os.path.isdir(path):
    return False
  names = os.listdir(path)
  return 'ckpt' not in names and not _checkpoint_files(names)


def check_resume_from(config):
  """ConfigError when run.resume_from names no checkpoint of this run by file names
  alone: not a ckpt-<N> of LOGDIR/ckpt, a run with no checkpoints yet, a ckpt-<N>
  without a file. Reads only; before TensorFlow loads for a local logdir (these were a
  checkpoint error, exit code 1, once TensorFlow and the envs had loaded). Whether one
  that exists is intact is for the checkpoint checks, which read its files. eval_only
  resumes nothing: there it names the flag that evaluates that checkpoint (it was
  ignored, and the latest checkpoint evaluated)."""
  resume_from = str(config.run.resume_from or '')
  if not resume_from:
    return
  logdir = config.logdir
  if config.script == 'eval_only':  # (a bare ckpt-N: of this logdir, as for a resume)
    path = checkpoint_paths.named_prefix(os.path.join(logdir, 'ckpt'), resume_from)
    raise ConfigError(
        f'run.resume_from={resume_from}: eval_only resumes nothing; to evaluate that '
        f'checkpoint, give --config.run.from_checkpoint={quote_for_paste(path)} instead')
  if '://' not in logdir:
    return _check_resume_from(resume_from, logdir, run_files.file_ops(logdir))
  import tensorflow as tf
  try:
    return _check_resume_from(resume_from, logdir, run_files.file_ops(logdir))
  except tf.errors.OpError as e:  # as check_logdir
    raise LogdirError(f'Cannot read --logdir {logdir}: {errors.one_line(e)}') from None


def _check_resume_from(resume_from, logdir, fs):
  ckpt = fs.join(logdir, 'ckpt')
  path = checkpoint_paths.resume_path(ckpt, resume_from, fs.join)
  if path is None:  # the wording of checkpoint_damage's, which judges a direct call
    raise ConfigError(
        f'run.resume_from={resume_from} is not a checkpoint of this run (expected '
        f'{fs.join(ckpt, "ckpt-<N>")}); run.from_checkpoint starts a new run '
        "from another run's agent")
  names = fs.listdir(ckpt) if fs.isdir(ckpt) else []
  if not any(x == 'checkpoint' or x.endswith('.index') for x in names):
    raise ConfigError(
        f'run.resume_from={resume_from}: this run has no checkpoints in {ckpt} yet; '
        'drop run.resume_from to start it')
  name = os.path.basename(path)
  if f'{name}.index' in names:
    return  # there: the checkpoint checks read it
  found = checkpoint_paths.checkpoint_prefixes(names)
  if found:  # (with none, only a state file: the checkpoint checks name that damage)
    raise ConfigError(
        f'run.resume_from={resume_from}: no such checkpoint ({_not_there(path, names)}); '
        f'the checkpoints in {ckpt} are {", ".join(found)}')


def _not_there(path, names):
  """Why checkpoint `path`, whose index `names` lacks, is none. Data files without their
  index are what a save stopped as it wrote or pruned that checkpoint left: it passed on
  as damaged, whose line offered a run.from_checkpoint that was then 'no such
  checkpoint'."""
  name = os.path.basename(path)
  if any(x.startswith(f'{name}.data-') for x in names):
    return (f'only its data files are left, without {name}.index: a save was stopped as it '
            'wrote or deleted it')
  return f'neither {path}.index nor its data files exist'


def check_not_in_use(logdir):
  """LogdirError if another process runs in local `logdir` (core/dirlock.py). Reads
  only; the run itself holds the lock (run/common.py's lock_logdir)."""
  local = path_lines.local_path(logdir)  # (file:///x is /x)
  if local is None:
    return
  from dreamerv3_tf.core import dirlock
  try:
    dirlock.check_free(local)
  except dirlock.Busy as e:
    raise in_use_error(logdir, e) from None


def in_use_error(logdir, busy):
  """The LogdirError of `logdir`'s dirlock.Busy: one line, what to do."""
  holder = f'process {busy.pid}' if busy.pid else 'another process'
  evaluation = '://' not in logdir and run_files.evaluated_checkpoint(  # (saves none)
      run_files.file_ops(logdir), logdir) is not None
  kept = 'the episodes it logged' if evaluation else 'its checkpoints'
  return LogdirError(f'logdir {logdir} is in use by another run ({holder}); stop that run '
                     f'first ({kept} are kept), or pass another --logdir')


def _check_same_kind(config, logdir, saved):
  """An evaluation (script=eval_only) and a training run do not share a logdir: its
  config.json, metrics and step counts would mix two runs (eval_only reads a run
  through run.from_checkpoint and writes into a logdir of its own)."""
  was = saved.get('script')
  if was in configuration.SCRIPTS and (was == 'eval_only') != (config.script == 'eval_only'):
    what = 'an evaluation (script=eval_only)' if was == 'eval_only' else 'a training run'
    raise ConfigError(
        f'logdir {logdir} holds {what}; script={config.script} needs a new --logdir'
        + (' (point run.from_checkpoint at that run)' if config.script == 'eval_only' else ''))


def _check_is_directory(logdir, fs):
  """The logdir, or its nearest existing parent, must be a directory."""
  refusal = path_lines.url_refusal('--logdir', logdir)  # gs:/bucket/run: trained in ./gs:
  if refusal:
    raise ConfigError(refusal)
  if logdir.startswith('~'):  # expanduser keeps `~name` of an unknown user as it is
    raise ConfigError(path_lines.unknown_home_refusal('--logdir', logdir))
  path = logdir.rstrip('/') or '/'
  while not fs.exists(path):
    if '://' not in logdir and os.path.islink(path):
      # exists() is False for it, and the run failed to make the logdir after
      # TensorFlow had loaded, with 'File exists' (e.g. a link to an unmounted disk).
      raise ConfigError(f'--logdir {logdir}: {path} is a symbolic link to '
                        f'{os.readlink(path)}, which does not exist or loops; fix the '
                        'link or pass another --logdir')
    parent = os.path.dirname(path)
    if '://' in logdir or parent == path:
      return
    path = parent
  if not fs.isdir(path):
    where = 'is a file' if path == logdir.rstrip('/') else f'is below {path}, which is a file'
    raise ConfigError(f'--logdir {logdir} {where}, not a directory')
  if '://' not in logdir:  # the run failed to make it after TensorFlow had loaded
    pseudo = path_lines.pseudo_filesystem(path)
    if pseudo:  # the user's path, not a disk's state: exit 2 (was 1, 'Cannot create
      # /proc/x: No such file or directory', or 'Cannot write /proc/config.json')
      raise ConfigError(
          f"--logdir {logdir} is in {pseudo[0]}, the kernel's {pseudo[1]} file system, "
          "which holds no run's folders or files; pass a --logdir on a disk")
    _check_names_fit(logdir, path)
    if path != logdir.rstrip('/'):
      _check_can_create(logdir, path)


def _check_can_create(logdir, existing):
  """LogdirError if local `logdir` cannot be made in `existing`, its nearest existing
  parent (another user's, a read-only disk): the run made it once TensorFlow had loaded
  and the agent compiled. Leaves `existing` as it was (an unnamed temporary file)."""
  try:
    tempfile.TemporaryFile(dir=existing).close()
  except OSError as e:
    raise LogdirError(f'Cannot create {logdir}: {errors.one_line(e, cause_only=True)}') from e


# A run's own folders: a logdir in one would mix a new run's files with the run's.
RUN_FOLDERS = ('ckpt', 'tb')


def _resume_flags(old, new):
  """-> '--config.KEY=VALUE ...' setting the saved values of the (at most 3) keys whose
  values differ, e.g. the --config.task a resume lacks; '' when one is not a plain value
  on both sides (absent from a version, a list): allow_other_config, the way the line
  named alone, trained a run of one task on another in its history."""
  keys = sorted(k for k in set(old) | set(new) if k not in old or k not in new
                or old[k] != new[k])
  plain = (str, int, float, bool)
  if len(keys) > 3 or not all(k in new and isinstance(old.get(k), plain) for k in keys):
    return ''
  return ' '.join(quote_for_paste(f'--config.{k}={old[k]}') for k in keys)


def _unread_env_options_dropped(old, new, old_task):
  """`old`, `new` (flat configs) without the env.<suite> options the run's task
  (`old_task`) does not read: a gym run resumed with configs/dmc.py was refused for
  env.dmc.image, and with dmc.py's task too the line asked env.dmc.image back, which
  resuming the run as it ran (its task, hence its env) does not need."""
  from dreamerv3_tf.envs import registry
  read = registry.sections_read(old_task)
  if read is None:  # a task of no suite: every key counts
    return old, new

  def kept(flat):
    return {k: v for k, v in flat.items() if not (
        k.startswith('env.') and k.count('.') >= 2 and k.split('.')[1] not in read)}
  return kept(old), kept(new)


def _check_not_inside_a_run(logdir, script):
  """ConfigError if local `logdir`, no run's itself, is in a run's ckpt/ or tb/:
  --logdir=RUN/ckpt (meant: resume RUN) started a new run at step 0 there, among the
  run's checkpoints."""
  path = os.path.abspath(logdir)
  if os.path.exists(os.path.join(path, 'config.json')):
    return
  below = []
  while os.path.dirname(path) != path:
    path, name = os.path.dirname(path), os.path.basename(path)
    below.insert(0, name)
    if below[0] in RUN_FOLDERS and os.path.isfile(os.path.join(path, 'config.json')):
      run = path if os.path.isabs(logdir) else os.path.relpath(path)
      what = ('use a directory outside it (point run.from_checkpoint at that run)'
              if script == 'eval_only' else
              f'pass --logdir={quote_for_paste(run)} to resume it, or a directory outside it')
      raise ConfigError(
          f'--logdir {logdir} is in the {below[0]}/ folder of the run {run}; a run there '
          f"would mix its files with that run's: {what}")


def _check_not_above_runs(logdir):
  """ConfigError if local `logdir`, no run itself, holds runs (folders with a
  config.json): --logdir=~/logdir/$RUN with RUN unset started a new run at step 0 in
  ~/logdir, its files among the runs' folders, instead of resuming one."""
  if not os.path.isdir(logdir) or os.path.exists(os.path.join(logdir, 'config.json')):
    return
  runs = path_lines.runs_in(logdir)  # (unreadable: the writability checks name it)
  if runs:
    raise ConfigError(path_lines.holds_runs(
        '--logdir', logdir, runs, 'a new run there would put its files among them: pass one '
        'of them to resume it, or a new directory, e.g. '
        f'--logdir={quote_for_paste(os.path.join(logdir, "NAME"))}'))


# What a run (or a multi_worker run's other workers) writes into its logdir.
RUN_ENTRIES = frozenset(('ckpt', 'config.json', 'metrics.jsonl', 'policy.json',
                         'scores.jsonl', 'spaces.json', 'tb', 'workers'))


def missing_config_warning(config):
  """-> a warning line when local `config.logdir` holds checkpoints of a training run but
  no config.json (deleted, or a ckpt/ copied into a new folder), else None. The resume
  went on without a word with whatever settings were given, where a config.json of other
  ones is refused without run.allow_other_config; its checkpoints name only their task,
  spaces and agent settings, which the resume still checks."""
  logdir = config.logdir
  if ('://' in logdir or config.script == 'eval_only'
      or os.path.lexists(os.path.join(logdir, 'config.json')) or not os.path.isdir(logdir)
      or not has_checkpoints(logdir)):
    return None
  return (f'Warning: {os.path.join(logdir, "config.json")} is missing beside the checkpoints '
          "in ckpt/, so this command's settings cannot be compared with the ones they "
          'were trained with: a resume checks only their task and agent settings, and '
          'takes the rest as given')


def crowded_logdir_warning(logdir):
  """-> a warning line when local `logdir` holds no run but other things (--logdir=. in
  a source checkout put config.json, ckpt/ and the logs among its files without a word),
  else None. Not an error: a folder made for the run may hold the user's notes."""
  if '://' in logdir or os.path.exists(os.path.join(logdir, 'config.json')):
    return None
  try:
    if has_checkpoints(logdir):  # a run's without its config.json: missing_config_warning
      return None
    others = sorted(x for x in os.listdir(logdir) if x not in RUN_ENTRIES)
  except OSError:  # not there yet (the usual case), or unreadable: checked elsewhere
    return None
  if not others:
    return None
  shown = ', '.join(others[:3]) + (', ...' if len(others) > 3 else '')
  return (f'Warning: --logdir {logdir} holds no run but {len(others)} other '
          f'entr{"ies" if len(others) > 1 else "y"} ({shown}); the run puts its files '
          '(config.json, spaces.json, ckpt/, the logs) among them')


def _check_not_home(logdir):
  """ConfigError if local `logdir` is the home directory or the file system's root and
  holds no run: --logdir=~/$RUN with RUN unset put config.json, ckpt/ and the logs among
  the user's own files (a warning line, as for any folder of other things)."""
  real = os.path.realpath(os.path.expanduser(logdir))
  homes = {os.path.realpath(os.path.expanduser('~')), os.path.realpath(os.sep)}
  if real in homes and not os.path.exists(os.path.join(real, 'config.json')):
    what = 'the root of the file system' if real == os.path.realpath(os.sep) else (
        'your home directory')
    raise ConfigError(f'--logdir {logdir} is {what}; a run there would put its files among '
                      'yours (a $RUN in the path unset?): give it a folder of its own, e.g. '
                      '--logdir=~/logdir/NAME')


def _check_not_an_export(logdir):
  """ConfigError if local `logdir` holds an export (saved_model.pb) or lies inside one:
  a run there put its files among the SavedModel's, and an export --overwrite to that
  folder deleted them with the old export."""
  if os.path.isfile(os.path.join(logdir, 'saved_model.pb')):
    raise ConfigError(
        f'--logdir {logdir} holds an export (saved_model.pb); a run there would put its '
        "files among the SavedModel's, which an export --overwrite to it deletes: give "
        'another --logdir (to evaluate the export, pass it as --config.run.from_checkpoint)')
  folder = os.path.dirname(os.path.abspath(logdir))
  while True:  # one inside an export (its variables/, a folder made there) trained there
    if os.path.isfile(os.path.join(folder, 'saved_model.pb')):
      shown = folder if os.path.isabs(logdir) else os.path.relpath(folder)
      raise ConfigError(
          f'--logdir {logdir} is inside the export {shown} (saved_model.pb), which an '
          "export --overwrite to it deletes, the run's files with it: give a --logdir "
          'outside it')
    if os.path.dirname(folder) == folder:
      return
    folder = os.path.dirname(folder)


def _check_own_checkpoints(logdir):
  """ConfigError if local `logdir`'s ckpt/ is a symbolic link into another run's folder
  (one with a config.json): its checkpoints were resumed as this run's, and this
  run's saves then pruned them. A link to a directory of no run (another disk) passes.
  So for ckpt/replay_train and ckpt/replay_eval: a new run deleted the replay files of
  the run whose folder they linked to as it pruned its own."""
  ckpt = os.path.join(logdir, 'ckpt')
  own = os.path.realpath(logdir)
  if os.path.islink(ckpt):
    other = os.path.dirname(os.path.realpath(ckpt))
    if os.path.isfile(os.path.join(other, 'config.json')) and other != own:
      raise ConfigError(
          f'{ckpt} is a symbolic link to {os.readlink(ckpt)}, in the run {other}; its saves '
          f"would prune that run's checkpoints: pass --logdir={quote_for_paste(other)} to resume "
          f'it, or remove the link and start from its agent with '
          f'--config.run.from_checkpoint={quote_for_paste(os.path.realpath(ckpt))}')
  for folder in ('replay_train', 'replay_eval'):
    link = os.path.join(ckpt, folder)
    if not os.path.islink(link):
      continue
    target = os.path.realpath(link)
    for other in (os.path.dirname(target), os.path.dirname(os.path.dirname(target))):
      if os.path.isfile(os.path.join(other, 'config.json')) and other != own:
        raise ConfigError(
            f'{link} is a symbolic link to {os.readlink(link)}, in the run {other}; this '
            "run's saves would prune that run's replay files: remove the link (the run "
            f'makes its own folder), or pass --logdir={quote_for_paste(other)} to resume that run')


# Bytes the run's files add below its logdir, at most (ckpt/replay_train/ and a chunk's
# temporary name, tb/ and an events file named after the host).
FILES_BELOW_LOGDIR = 200


def _check_names_fit(logdir, existing):
  """The directories of local `logdir` still to be made below `existing` must have
  names the filesystem takes (NAME_MAX bytes, 255 on most), and the paths of the run's
  files a length it takes (PATH_MAX, 4096 on Linux)."""
  name_max, path_max = path_lines.name_and_path_max(existing)
  for name in os.path.relpath(logdir, existing).split(os.sep):
    if len(os.fsencode(name)) > name_max:
      raise ConfigError(f'--logdir {logdir}: the name {name[:20]}... is '
                        f'{len(os.fsencode(name))} bytes, and the filesystem of {existing} '
                        f'takes at most {name_max}')
  size = len(os.fsencode(os.path.abspath(logdir)))
  if size + FILES_BELOW_LOGDIR > path_max:
    # It failed once TensorFlow had loaded and the agent compiled: 'Cannot create ...:
    # File name too long', the directories made so far left behind.
    raise ConfigError(f'--logdir {logdir[:100]}... is {size} bytes long, and the filesystem '
                      f'of {existing} takes paths of at most {path_max} bytes, with the up to '
                      f'{FILES_BELOW_LOGDIR} the run adds for its files below it; use a '
                      'shorter --logdir')


def _check_entries(config, logdir, fs):
  """What the run writes into the logdir must not be there as the other kind (a
  directory where a file goes, or a file where a directory goes): the run would
  fail on its first write of it, after config.json was saved."""
  outputs = config.logger.outputs.split(',')
  # ckpt/damaged: where a resume sets damaged checkpoints aside (checkpoint_damage.py).
  # ckpt/replay_*: the replays' chunks (a file there was named as 'N replay files are
  # missing', with a hint to resume from an earlier checkpoint that failed the same way).
  replays = ['ckpt/replay_train'] + (['ckpt/replay_eval'] if config.script == 'train_eval'
                                     else [])
  dirs = ['ckpt', 'ckpt/damaged', *replays] + (['tb'] if 'tensorboard' in outputs else [])
  files = ['config.json', 'spaces.json'] + (
      ['metrics.jsonl', 'scores.jsonl'] if 'jsonl' in outputs else []) + (
      ['policy.json'] if config.script == 'eval_only' else [])
  for name in dirs + files:
    path = fs.join(logdir, name)
    if fs.exists(path) and fs.isdir(path) != (name in dirs):
      kind, want = ('a directory', 'file') if name in files else ('a file', 'directory')
      raise ConfigError(f'{path} is {kind}, but the run writes a {want} there; move it '
                        'away or use a new --logdir')
  # The run waited for ever opening a named pipe that nothing read; in TensorFlow's read
  # of the checkpoint state file, where not even Ctrl-C or SIGTERM could stop it.
  for name in files + ['ckpt/checkpoint']:
    special = special_file(os.path.join(logdir, name)) if '://' not in logdir else None
    if special:
      raise ConfigError(f'{os.path.join(logdir, name)} is {special}, but the run reads and '
                        'writes a file there; move it away or use a new --logdir')
  for name in dirs + files if '://' not in logdir else ():
    path = os.path.join(logdir, name)
    target = os.path.realpath(path)
    if os.path.islink(path) and not os.path.exists(os.path.dirname(target)):
      # metrics.jsonl on an unmounted disk: the resume rewrote config.json, trained, and
      # stopped at its first log row
      raise LogdirError(f'{path} is a link to {os.readlink(path)}, whose directory does not '
                        'exist (a disk not mounted?); mount it, or remove the link')
  if '://' not in logdir:
    # config.json and spaces.json are replaced through the logdir itself (one the user
    # may not write stopped the run at its config.json, once TensorFlow had loaded); the
    # others are appended to or written into in place (a read-only ckpt/ stopped the run
    # at its first save).
    try:
      _check_writable([logdir] + [os.path.join(logdir, x) for x in dirs + files
                                  if x not in ('config.json', 'spaces.json')],
                      shown={logdir: os.path.join(logdir, 'config.json')})
    except LogdirError:
      if not finished(config, logdir):
        raise


def _check_metrics_have_checkpoints(config, logdir, fs):
  """A training run's metrics without its checkpoints (ckpt/ deleted or moved): a run
  there started again at step 0 and appended its rows to the old ones, which then
  held two runs (plots zig-zagged between them). A run writes ckpt-1 before its
  first row, so metrics with rows always had a checkpoint; an evaluation writes its
  config.json before its first row."""
  ckpt = fs.join(logdir, 'ckpt')
  if config.script == 'eval_only':  # its logdir never holds checkpoints
    if fs.exists(fs.join(logdir, 'config.json')):
      return  # an evaluation's (the kind and the checkpoint are checked with it)
  elif fs.isdir(ckpt) and any(x == 'checkpoint' or x.endswith('.index')
                              for x in fs.listdir(ckpt)):
    return  # resumable (or refused, naming the damage, by the checkpoint checks)
  for name in ('metrics.jsonl', 'scores.jsonl'):
    path = fs.join(logdir, name)
    if '://' not in logdir and special_file(path):  # no rows to read; opening one waits
      continue
    if fs.exists(path) and not fs.isdir(path):
      with fs.open(path, 'rb') as f:
        rows = f.read(4096).strip()
      if rows and config.script == 'eval_only':
        # Another program's rows: it wrote its config.json and appended to them.
        raise ConfigError(
            f'{path} holds rows, but {logdir} has no config.json: they are not an '
            "evaluation's (another program's?), and this one would add its rows to them: "
            'use a new --logdir')
      if rows:
        raise ConfigError(
            f'{path} holds the metrics of an earlier run, but {ckpt} holds no '
            'checkpoint to resume it from; a new run there would start at step 0 and '
            'mix its metrics with them: use a new --logdir')


def _check_tb_of_a_run(logdir, fs):
  """ConfigError if `logdir` has no config.json and no checkpoint, but its tb/ holds
  something: a run writes config.json before anything else, so that is another
  program's TensorBoard logs, among which the run put its event files without a word
  (one TensorBoard run of both)."""
  tb = fs.join(logdir, 'tb')
  if fs.exists(fs.join(logdir, 'config.json')) or not fs.isdir(tb) or has_checkpoints(logdir, fs):
    return
  try:
    names = sorted(x.rstrip('/') for x in fs.listdir(tb))
  except OSError:  # unreadable: the writability checks name it
    return
  if names:
    shown = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
    raise ConfigError(
        f'{tb} holds {len(names)} entr{"ies" if len(names) > 1 else "y"} ({shown}), but '
        f"{logdir} has no config.json: they are not a run's of this package (another "
        "program's TensorBoard logs?), and this one would add its event files to them: use "
        'a new --logdir')


def finished(config, logdir):
  """Whether the checkpoint a resume of `config` in local `logdir` loads has reached
  run.steps: the run then writes nothing (run/train_eval.py), so a logdir it may not
  write (an archive, another user's) is no reason to stop it; it stopped with 'Cannot
  write LOGDIR/config.json', exit code 1. TensorFlow reads the checkpoint: imported
  here, as quietly as for the run, only for a logdir that cannot be written."""
  ckpt = os.path.join(logdir, 'ckpt')
  if config.script == 'eval_only' or not os.path.isfile(os.path.join(ckpt, 'checkpoint')):
    return False
  from dreamerv3_tf import startup
  startup.import_tensorflow(startup.log_level())
  from dreamerv3_tf import checkpoint
  resume_from = str(config.run.resume_from or '')
  try:
    path = (checkpoint_paths.resume_path(ckpt, resume_from) if resume_from
            else checkpoint.latest(ckpt))
  except Exception:  # noqa: BLE001 - an unreadable state file: the checks name it
    return False
  step = checkpoint.saved_step(path) if path else None
  return step is not None and step >= config.run.steps


def _check_writable(paths, shown=None):
  """LogdirError naming the first existing local path of `paths` that cannot be
  written (or what `shown` gives for it: the file written through a directory).
  Leaves each as it was: an unnamed temporary file, an append of nothing."""
  for path in paths:
    try:
      if os.path.isdir(path):
        tempfile.TemporaryFile(dir=path).close()
      elif os.path.exists(path):
        open(path, 'a').close()
    except OSError as e:
      named = (shown or {}).get(path, path)
      raise LogdirError(f'Cannot write {named}: {errors.one_line(e, cause_only=True)}') from e


def save(config, logdir, allow_other=False):
  """Writes config.json into logdir after `check_logdir`; raises LogdirError (one
  line) when it cannot be written. Works for local and gs:// logdirs (tf.io.gfile).
  """
  check_logdir(config, logdir, allow_other)
  run_files.write_file(logdir, 'config.json', run_files.to_json(config))
