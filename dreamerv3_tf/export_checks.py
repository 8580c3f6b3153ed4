"""What an export needs that can be checked without TensorFlow, and its command line.

`python -m dreamerv3_tf.export` runs `command()` before export.py imports TensorFlow
(5-7 s on a slow machine): a missing flag, an --out that is taken or would replace
the run, and a logdir without a trained run's files are one line at once. The export
itself (export.py) checks the same again, for callers of `export_run`.
"""

import os
import sys
import tempfile

from dreamerv3_tf import stop_notice
from dreamerv3_tf import stop_signals
from dreamerv3_tf.checkpoint_errors import CheckpointError
from dreamerv3_tf.core import base
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import files
from dreamerv3_tf.core import flag_lines
from dreamerv3_tf.core import path_lines
from dreamerv3_tf.core.streams import quote_for_paste


class ExportError(CheckpointError):
  """An export that cannot be made or loaded; the message is one line."""


class FlagError(ExportError):
  """A flag's value the command cannot take (exit code 2, as for absl's flag errors and
  main's config values, docs/ERRORS.md: an --out taken or a --logdir of no policy too;
  it was 1, as for a run or an export that cannot be read)."""

  exit_code = 2


def normalize(logdir, out, checkpoint=None):
  """-> (logdir, out) with ~ expanded and no trailing slash; empty ones refused, and
  an empty or broken --checkpoint (given: None is the latest)."""
  for flag, value in (('--logdir', logdir), ('--out', out), ('--checkpoint', checkpoint)):
    if flag == '--checkpoint' and value is None:
      continue
    if not str(value or '').strip():  # '' would name the working directory's files
      # (--checkpoint='', an unset shell variable, exported the latest; ' ' failed
      # after TensorFlow loaded: 'Checkpoint   is missing')
      raise FlagError(f'{flag} is empty; give a directory' if flag != '--checkpoint' else
                      f'{flag} is empty; give a checkpoint, or leave the flag out for '
                      'the latest in LOGDIR/ckpt')
    refusal = path_lines.path_refusal(flag, value)  # its one line would be cut at a break
    if refusal:
      raise FlagError(refusal)
  return (os.path.expanduser(logdir).rstrip('/') or '/',
          os.path.expanduser(out).rstrip('/') or '/')


# What a run writes into its logdir (and an export never holds).
RUN_FILES = ('ckpt', 'config.json', 'metrics.jsonl', 'scores.jsonl', 'spaces.json', 'tb')
# What an export holds: TensorFlow's SavedModel (fingerprint.pb since TF 2.12,
# keras_metadata.pb in Keras' own saves) and our TFLite file (export.TFLITE_FILE).
EXPORT_FILES = ('assets', 'assets.extra', 'fingerprint.pb', 'keras_metadata.pb',
                'saved_model.pb', 'saved_model.pbtxt', 'variables', 'policy.tflite')


def check_out(out, overwrite, isdir=os.path.isdir, exists=os.path.exists,
              listdir=os.listdir):
  """--out must be free (or --overwrite) and not below a file. Remote paths pass
  their own file functions (tf.io.gfile's)."""
  if exists(out):
    if not isdir(out):  # (exit code 1 before, where main's --logdir gives 2; 'exists and
      # is not a directory', where main's says this)
      raise FlagError(f'--out {out} is a file, not a directory')
    if listdir(out) and not overwrite:
      raise FlagError(
          f'--out {out} exists and is not empty; choose another or pass --overwrite')
    # --overwrite deletes --out as a whole: a directory that is no export (another
    # run's logdir, a home directory) was deleted with everything in it.
    if listdir(out) and not exists(os.path.join(out, 'saved_model.pb')):
      raise FlagError(
          f'--out {out} is not empty and holds no export (no saved_model.pb); '
          '--overwrite replaces only an earlier export: choose another --out')
    # A run started in the export's folder (--logdir=OUT by mistake) went with it.
    names = {x.rstrip('/') for x in listdir(out)}
    run = sorted(names & set(RUN_FILES))
    if run:
      raise FlagError(
          f"--out {out} holds a run's files beside its export ({', '.join(run)}); "
          '--overwrite would delete them with it: move them away or choose another --out')
    # Another export made inside it (--out=OUT/v2), or notes beside it, went with it too.
    other = sorted(names - set(EXPORT_FILES))
    # A run started in its variables/ (--logdir=OUT/variables) went with it: only
    # TensorFlow's variables.index and variables.data-* belong there.
    if 'variables' in names and isdir(os.path.join(out, 'variables')):
      other += sorted(f'variables/{x.rstrip("/")}' for x in listdir(os.path.join(out, 'variables'))
                      if not x.startswith(('variables.index', 'variables.data-')))
    if other:
      shown = ', '.join(other[:5]) + (f' and {len(other) - 5} more' if len(other) > 5 else '')
      raise FlagError(
          f"--out {out} holds files that are not its export's ({shown}); --overwrite "
          'would delete them with it: move them away or choose another --out')
  if '://' in out:
    return
  # An export made inside another (--out=EXP/v2) was accepted; that export's next
  # --overwrite is refused for it, and deleting EXP by hand took it along.
  above = os.path.dirname(os.path.abspath(out))
  while os.path.dirname(above) != above:
    if os.path.isfile(os.path.join(above, 'saved_model.pb')):
      raise FlagError(f'--out {out} is inside the export {above}, which holds only its own '
                      'files (an --overwrite of it refuses others): choose a folder '
                      'outside it')
    above = os.path.dirname(above)
  if os.path.islink(out) and not os.path.exists(out):  # the rename onto it failed at the
    raise FlagError(  # end, naming only the temporary ('OUT.tmp-<pid>; Not a directory')
        f'--out {out} is a symlink to {os.readlink(out)}, which does not exist; remove the '
        'link or choose another --out')
  # The export is written beside --out under a temporary name, then renamed: its
  # nearest existing directory must be one (not a file) that can be written in (a
  # read-only one failed once TensorFlow had loaded, naming only the temporary).
  parent = os.path.dirname(os.path.abspath(out))
  while not os.path.exists(parent) and os.path.dirname(parent) != parent:
    if os.path.islink(parent):  # 'Error: OUT.tmp-<pid>; Too many levels of symbolic
      # links', exit code 1, once TensorFlow had loaded
      raise FlagError(f'--out {out}: {parent} is a symbolic link to {os.readlink(parent)}, '
                      'which does not exist or loops; fix the link or choose another --out')
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):  # (a FlagError, as main's --logdir there: exit code 2)
    raise FlagError(f'--out {out} is below {parent}, which is a file, not a directory')
  pseudo = path_lines.pseudo_filesystem(parent)
  if pseudo:  # the user's path, not a disk's state: exit code 2, as main's --logdir there
    # (it was 1: '--out /proc/x: cannot write in /proc (No such file or directory)')
    raise FlagError(f"--out {out} is in {pseudo[0]}, the kernel's {pseudo[1]} file system, "
                    "which holds no export's files; give an --out on a disk")
  try:
    tempfile.TemporaryFile(dir=parent).close()
  except OSError as e:
    # (exit code 1, as main's logdir it may not write: the file system's, not the flag's)
    raise ExportError(f'--out {out}: cannot write in {parent} ({e.strerror or e})') from None
  _check_names_fit(out, parent)


# Bytes the export's temporary names add to --out's ('.tmp-<pid>', '.old-<pid>'; Linux's
# pids have at most 7 digits).
TEMPORARY_SUFFIX = 12
# Bytes the export's files add below its temporary name, at most (TensorFlow's save
# writes variables/variables_temp/part-00000-of-00001.data-00000-of-00001, 65).
FILES_BELOW_OUT = 100


def _check_names_fit(out, parent):
  """The names of local `out` below its existing directory `parent` must be ones the
  filesystem takes (NAME_MAX bytes, 255 on most), the last with its temporary's suffix:
  a longer one failed once TensorFlow had loaded and the agent was built, naming only
  the temporary ('OUT.tmp-6272; File name too long'). A FlagError, exit code 2, as main's
  --logdir and a too long path below (it was 1)."""
  name_max, path_max = path_lines.name_and_path_max(parent)
  names = os.path.relpath(os.path.abspath(out), parent).split(os.sep)
  for name in names[:-1]:
    if len(os.fsencode(name)) > name_max:
      raise FlagError(f'--out {out}: the name {name[:20]}... is {len(os.fsencode(name))} '
                      f'bytes, and the filesystem of {parent} takes at most {name_max}')
  size, room = len(os.fsencode(names[-1])), name_max - TEMPORARY_SUFFIX
  if size > room:
    raise FlagError(
        f'--out {out}: its name is {size} bytes, and the filesystem of {parent} takes names '
        f'of at most {name_max}, with the {TEMPORARY_SUFFIX} the export adds for its '
        f"temporary name beside it ('.tmp-<pid>'); give a name of at most {room} bytes")
  size = len(os.fsencode(os.path.abspath(out)))
  if size + TEMPORARY_SUFFIX + FILES_BELOW_OUT > path_max:
    # 'Error: OUT.tmp-<pid>/...; File name too long', exit code 1, once TensorFlow had
    # loaded, and the folders made for it left behind (exit code 2, as main's --logdir)
    raise FlagError(
        f'--out {out[:100]}... is {size} bytes long, and the filesystem of {parent} takes '
        f'paths of at most {path_max} bytes, with the up to '
        f'{TEMPORARY_SUFFIX + FILES_BELOW_OUT} the export adds for its files below it; use '
        'a shorter --out')


def check_checkpoint(checkpoint, logdir=''):
  """A local --checkpoint must exist (as a directory, a file or a prefix's .index):
  it was 'Checkpoint X is missing', exit code 1, once TensorFlow had loaded."""
  _check_checkpoint_kind(checkpoint or '')
  path = checkpoint_paths.missing_checkpoint(checkpoint or '')
  if not path:
    _check_checkpoint_run_by_path(checkpoint or '', logdir)
    return
  # A bare ckpt-N (as run.resume_from takes) names one of --logdir's checkpoints.
  meant = logdir and checkpoint_paths.named_prefix(os.path.join(logdir, 'ckpt'), path)
  if meant and meant != path and os.path.exists(meant + '.index'):
    raise FlagError(f'--checkpoint {checkpoint}: no such checkpoint in the current '
                    f'directory; did you mean --checkpoint={quote_for_paste(meant)}, of --logdir?')
  kept = checkpoint_paths.pruned_line(path)
  if kept:  # a checkpoint of a run that trains: its saves pruned it
    raise FlagError(f'--checkpoint {checkpoint}: no such checkpoint: {kept}')
  raise FlagError(f'--checkpoint {checkpoint}: no such checkpoint ({path} and {path}.index '
                  "do not exist); name a checkpoint prefix such as RUN/ckpt/ckpt-3, or a "
                  "run's ckpt directory")


def check_checkpoint_run(checkpoint, prefix, logdir, fs):
  """FlagError when checkpoint `prefix` (what --checkpoint `checkpoint` resolved to) is
  in the ckpt/ of another run than `logdir` (a folder with a config.json): one whose
  variables fit this run's agent was exported with --logdir's config and spaces,
  without a word. Checkpoints outside any run (a backup of the run's) pass."""
  run = os.path.dirname(os.path.dirname(prefix.rstrip('/')))
  if not run or path_lines.same_dir(run, logdir) or not fs.exists(fs.join(run, 'config.json')):
    return
  raise FlagError(
      f'--checkpoint {checkpoint} is of the run {run}, not of --logdir {logdir}: its '
      f'weights would be exported with {fs.join(logdir, "config.json")}; pass '
      f'--logdir={quote_for_paste(run)} to export that run')


def _check_checkpoint_run_by_path(checkpoint, logdir):
  """check_checkpoint_run for a local --checkpoint by its path alone, before TensorFlow
  loads (the refusal came after its import, seconds): a directory's checkpoints lie in
  it. The check after the load stays, for a state file that names a prefix elsewhere."""
  path = os.path.normpath(os.path.expanduser(checkpoint)) if checkpoint else ''
  if not path or not logdir or '://' in path + logdir:
    return
  prefix = os.path.join(path, 'ckpt-0') if os.path.isdir(path) else path
  check_checkpoint_run(checkpoint, prefix, logdir, files.LOCAL)


def _check_checkpoint_kind(checkpoint):
  """FlagError for a local --checkpoint that exists but is no checkpoint: a file, or a
  SavedModel. These were exit code 1 once TensorFlow had loaded, where a missing one is 2."""
  path = os.path.expanduser(checkpoint)
  if not path or '://' in path:
    return
  export = checkpoint_paths.in_an_export(path)
  if export:  # a folder or file inside one (EXPORT/variables) was exit code 1, after the load
    raise FlagError(f'--checkpoint {checkpoint} is {checkpoint_paths.export_words(export, path)}')
  official = checkpoint_paths.official_run(path)
  if official:  # 'No checkpoint found in OFFICIAL', exit code 1, once TensorFlow had loaded
    raise FlagError(checkpoint_paths.official_run_line(f'--checkpoint {checkpoint}', official))
  cut = checkpoint_paths.cut_save_line(f'--checkpoint {checkpoint}', path)
  if cut:
    raise FlagError(cut)
  from dreamerv3_tf import logdir_checks
  if logdir_checks.checkpoints_below(path):  # (run.from_checkpoint's test)
    # It was 'Error: No checkpoint found in RUN (did you mean ...)', exit code 1, once
    # TensorFlow had loaded; run.from_checkpoint names it before, as a flag's value.
    inner = os.path.join(checkpoint, 'ckpt')
    raise FlagError(f"--checkpoint {checkpoint} is a run's logdir, and its checkpoints are "
                    f'in {inner}: did you mean --checkpoint={quote_for_paste(inner)}?')
  if os.path.isfile(path) and not os.path.exists(path + '.index'):
    prefix = checkpoint_paths.file_prefix(path)  # of its .index or a data file
    hint = (f'name its prefix, --checkpoint={quote_for_paste(prefix)}' if prefix
            else checkpoint_paths.NOT_A_PREFIX)
    raise FlagError(f'--checkpoint {checkpoint} is a file, not a checkpoint ({hint})')


def check_out_beside_run(out, logdir):
  """--out must not be the run, hold it, or lie in its checkpoints: --overwrite
  replaces --out as a whole, which would delete what the run saved."""
  def parts(path):
    path = path if '://' in path else os.path.realpath(path)
    return [x for x in path.split('/') if x]
  out_parts, run = parts(out), parts(logdir)
  if run[:len(out_parts)] == out_parts:
    raise FlagError(f'--out {out} is the run directory {logdir} or holds it; exporting '
                    'there would replace the run; choose a directory outside it')
  if out_parts[:len(run) + 1] == run + ['ckpt']:
    raise FlagError(f'--out {out} is in the run\'s checkpoints ({logdir}/ckpt); '
                    'choose a directory outside them')


def check_run(logdir):
  """-> (config, obs_space, act_space) of the trained run in local `logdir`."""
  from dreamerv3_tf import run_files
  runs = (not os.path.lexists(os.path.join(logdir, 'config.json'))
          and path_lines.runs_in(logdir))
  if runs:  # (~/logdir: it asked 'LOGDIR/config.json not found: is LOGDIR the logdir of
    # a training run?', where main and plot named the runs in it)
    raise FlagError(path_lines.holds_runs(
        '--logdir', logdir, runs, f'pass {"it" if len(runs) == 1 else "one of them"} to '
        f'export, e.g. --logdir={quote_for_paste(os.path.join(logdir, runs[0]))}'))
  config = run_files.load_config(logdir)
  if config.random_agent:
    raise FlagError(
        f'{logdir} trained a random agent (random_agent=True): no policy to export')
  return (config, *run_files.load_spaces(logdir))


def command(argv):
  """The command (flags parsed): local checks, then TensorFlow and the export."""
  from absl import flags
  from absl import logging
  FLAGS = flags.FLAGS
  if FLAGS.traceback:
    os.environ[errors.TRACEBACK_ENV] = '1'
  stop_signals.take_over()  # a held Ctrl-C left the temporary export beside --out
  stop_notice.watch(stop_signals.raised)  # a stop waiting for TensorFlow's save says so
  logging.set_verbosity(logging.WARNING)  # not tf.saved_model's "Assets written to"
  try:
    if len(argv) > 1:  # e.g. out=DIR without its dashes: never ignored
      raise FlagError(flag_lines.stray_argument(argv[1]))
    for name in ('logdir', 'out', 'checkpoint'):  # file:///x is /x, checked as a local path
      # (the checks skip URLs: --out=file:///proc/x was 'Error: file:///proc/x.tmp-<pid>; No
      # such file or directory' once TensorFlow had loaded)
      if isinstance(FLAGS[name].value, str):
        FLAGS[name].value = path_lines.local_path(FLAGS[name].value) or FLAGS[name].value
    logdir, out = normalize(FLAGS.logdir, FLAGS.out, FLAGS.checkpoint)
    if '://' not in logdir + out:  # remote ones: export_run checks them through TensorFlow
      check_out_beside_run(out, logdir)  # first: the more precise line for the run itself
      check_out(out, FLAGS.overwrite)
      check_run(logdir)
      check_checkpoint(FLAGS.checkpoint, logdir)
    # TensorFlow's start-up lines (9 on a machine without a GPU) came before the one
    # line of a failure: hidden as main hides them (TF_CPP_MIN_LOG_LEVEL shows them).
    # A TF_XLA_FLAGS TensorFlow cannot read ended the export inside that hidden import,
    # without a word (exit code 1). (The export compiles nothing with XLA_FLAGS.)
    from dreamerv3_tf import tfimport
    tfimport.check_tf_env()  # TensorFlow aborts or hangs on some
    tfimport.check_xla_flags(names=('TF_XLA_FLAGS',),
                             outcome='TensorFlow would stop the export as it loads')
    from dreamerv3_tf import startup
    from dreamerv3_tf.core import gce_check
    gce_check.prepare([FLAGS.logdir, FLAGS.out, FLAGS.checkpoint])  # (main's reason)
    startup.import_tensorflow(startup.log_level())
    from dreamerv3_tf import export
    prefix, out = export.export_run(
        FLAGS.logdir, FLAGS.out, FLAGS.checkpoint, FLAGS.overwrite, FLAGS.tflite)
  except KeyboardInterrupt as e:
    word, code = stop_signals.word_and_code(e)
    errors.fail(f'{word}; an unfinished export leaves --out as it was', code)
  except Exception as e:  # noqa: BLE001 - every failure ends in one line
    line = errors.describe(e)
    if isinstance(e, base.UserError):  # ours: one prefix for every cause, as before
      line = f'Error: {errors.one_line(e)}'
    stdout = stop_signals.stdout_failed(e)  # `| head`, `> log` on a full disk
    if stdout:
      line = f'{stdout}; an unfinished export leaves --out as it was'
    # Each error's own code, as in main: a ConfigError (TF_NUM_INTEROP_THREADS=100000, a
    # --logdir that is a file or holds runs) was 1 here and 2 in main and the importer.
    errors.fail(line, base.exit_code(e))
  try:
    print(f'Exported the policy of {prefix} to {out} '
          f'(signatures: {", ".join(export.SIGNATURES)}).', flush=True)
    if FLAGS.tflite:
      # Its static batch: initial_state(batch_size=2) gave 2 rows, and the step then
      # failed in the runtime ('XNNPack delegate failed to reshape runtime'), which
      # no TFLite builtin can check with a message of ours.
      batch = export.TFLITE_BATCH
      print(f'TensorFlow Lite: {os.path.join(out, export.TFLITE_FILE)} '
            f'(signatures: {", ".join(export.TFLITE_SIGNATURES)}; a batch of {batch} only: '
            f'initial_state(batch_size={batch}), one interpreter per env).', flush=True)
  except OSError as e:  # a traceback, after the export was written
    stdout = stop_signals.stdout_failed(e)  # `| head`, `> log` on a full disk
    if not stdout:
      raise
    errors.fail(f'{stdout}; the export in {out} is written whole', 1)


def _mains_config_flag(text):
  """The line for absl's "Unknown command line flag 'config'" (or 'config.KEY'): main's
  flags given to export, which said nothing of where its config comes from; else None."""
  import re
  unknown = re.match(r"Unknown command line flag '(config(\.[^']*)?)'", text)
  if not unknown:
    return None
  return (f'--{unknown.group(1)} is a flag of main; export takes the config the run saved, '
          'LOGDIR/config.json (see --help)')


def _parse_flags(argv):
  """A bad or missing flag is one line (exit code 2), as in main."""
  from absl import flags
  if errors.traceback_refusal():  # first: it decides how each error after it is shown
    print(f'Error: {errors.traceback_refusal()}', file=sys.stderr)
    sys.exit(2)
  swallowed = flag_lines.swallowed_flag(argv, flags.FLAGS)
  if swallowed:  # absl took the next flag for its value: '--out --tflite' wrote ./--tflite
    print(f'Error: {swallowed}', file=sys.stderr)
    sys.exit(2)
  flagfile = flag_lines.flagfile_refusal(argv, flags.FLAGS)
  if flagfile:  # one not UTF-8 was a traceback; absl's own line said 'ERROR::' in it
    print(f'Error: {flagfile}', file=sys.stderr)
    sys.exit(2)
  flag_lines.restore_help_text(flag_lines.help_alias(argv))
  try:
    rest = flags.FLAGS(flag_lines.help_alias(argv))
  except BrokenPipeError as e:
    if flag_lines.help_reader_gone(e, flag_lines.help_alias(argv)):  # `--help | head`
      sys.exit(0)
    raise
  except SystemExit as e:
    if flag_lines.help_shown(e, flag_lines.help_alias(argv)):  # absl's exit code 1 after the help
      sys.exit(0)
    raise
  except flags.Error as e:
    # absl names each missing required flag on a line of its own (no flag at all: two).
    refusal = (flag_lines.boolean_flag_refusal(str(e))  # absl's is a tuple's repr
               or flag_lines.missing_flags_refusal(str(e))  # absl's said 'other than None'
               or _mains_config_flag(str(e)))
    lines = [refusal] if refusal else [x.strip() for x in str(e).splitlines() if x.strip()]
    print(f"Error: {'; '.join([x.rstrip('.') for x in lines[:-1]] + lines[-1:])}",
          file=sys.stderr)
    sys.exit(2)
  for line in flag_lines.repeated_flag_warnings(flag_lines.given_flags(argv, flags.FLAGS)):
    print(line, file=sys.stderr, flush=True)  # as main: absl took the last silently
  return rest


def entry():
  from absl import app
  from absl import flags
  # Defined for the main module (absl's --help lists its flags only; defined here, the
  # help showed the docstring and none of them).
  main = {'module_name': sys.argv[0]}
  flags.DEFINE_string('logdir', None, 'Logdir of a training run (config.json, '
                      'spaces.json, ckpt/).', required=True, **main)
  flags.DEFINE_string('out', None, 'SavedModel directory to write.', required=True, **main)
  flags.DEFINE_string('checkpoint', None, 'Checkpoint prefix or directory '
                      '(default: the latest in LOGDIR/ckpt).', **main)
  flags.DEFINE_bool('overwrite', False, 'Replace an earlier export at --out.', **main)
  flags.DEFINE_bool('tflite', False, 'Also write OUT/policy.tflite: step_eval and '
                    'initial_state for TensorFlow Lite.', **main)
  flags.DEFINE_bool('traceback', False, 'On an error, print the full traceback (as '
                    'DREAMERV3_TF_TRACEBACK=1 does).', **main)
  app.run(command, flags_parser=_parse_flags)
