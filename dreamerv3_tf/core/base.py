"""The contracts between the runtime and the learner.

Key conventions (a transition is a flat dict of numpy arrays):
  observation keys  e.g. 'image' <uint8>[H, W, C], 'position' <float32>[D]
  'reward'          <float32>[]
  'is_first'        <bool>[]   first step of an episode (its reward is 0)
  'is_last'         <bool>[]   last step of an episode (terminal or truncated)
  'is_terminal'     <bool>[]   the episode ended for real (no bootstrap); a time
                               limit sets is_last without is_terminal
  'log/...'         extra per-step values for logging only: episode statistics
                    get them; the agent and replay never see them
An action is a dict of the action keys plus 'reset' <bool>[]. Integer actions hold
the index; the agent one-hots them internally. Continuous actions lie in [-1, 1]
after `NormalizeAction`.

The agent sees the env's spaces without 'log/' keys and 'reset' (`agent_spaces`,
computed once by the scripts); the driver steps the envs with 'reset' and passes
the policy observations without 'log/' keys (`split_logs`).

Batched versions carry a leading batch axis [B, ...] (driver, policy) or [B, T, ...]
(replay batches for train and report).
"""

import contextlib
import os
import re
import resource
import sys

import numpy as np

OBS_META_KEYS = ('reward', 'is_first', 'is_last', 'is_terminal')
RESET = 'reset'       # the action key that starts a new episode (the driver's, not the agent's)
LOG_PREFIX = 'log/'   # observation keys for logging only (not the agent's, not replayed)


def is_log_key(key):
  return key.startswith(LOG_PREFIX)


def split_logs(obs):
  """-> (obs without 'log/' keys, the 'log/' keys)."""
  logs = {k: v for k, v in obs.items() if is_log_key(k)}
  return {k: v for k, v in obs.items() if not is_log_key(k)}, logs


def reset_actions(act_space, n):
  """Actions for n envs <[n, ...]> that start new episodes: zeros, 'reset' True."""
  acts = {k: np.zeros((n,) + s.shape, s.dtype) for k, s in act_space.items() if k != RESET}
  acts[RESET] = np.ones(n, bool)
  return acts


def get_env_state(env):
  """The env's saved state (see Env), or None if it cannot save one."""
  try:
    return env.get_state() if hasattr(env, 'get_state') else None
  except NotImplementedError:
    return None


def agent_spaces(obs_space, act_space):
  """The env's spaces as the agent sees them: no 'log/' keys, no 'reset' action.

  Computed once by the scripts from the driver's spaces and passed on (agent,
  spaces.json, export); the agent checks them with `check_agent_spaces`.
  """
  return (split_logs(obs_space)[0],
          {k: v for k, v in act_space.items() if k != RESET})


def check_agent_spaces(obs_space, act_space):
  """Raises ValueError (one line) unless these are spaces from `agent_spaces`."""
  missing = [k for k in OBS_META_KEYS if k not in obs_space]
  if missing:
    raise ValueError(f'Agent: obs_space lacks {missing}; got {sorted(obs_space)}')
  logs = sorted(k for k in obs_space if is_log_key(k))
  if logs or RESET in act_space:
    raise ValueError(
        f'Agent: got the env spaces ({logs or [RESET]} are not for the agent); '
        'pass core.base.agent_spaces(obs_space, act_space)')
  if not act_space:
    raise ValueError('Agent: act_space has no action keys')

# Set to 1 (or pass --traceback to main) to see full tracebacks of user errors and
# of env workers; without it each failure a user can cause is one line.
TRACEBACK_ENV = 'DREAMERV3_TF_TRACEBACK'


_OFF = ('', '0', 'false', 'no', 'n', 'off')  # 'off' and 'n' printed tracebacks once
_ON = ('1', 'true', 'yes', 'y', 'on')


def wants_traceback():
  return os.environ.get(TRACEBACK_ENV, '').strip().lower() not in _OFF


def traceback_refusal():
  """The one line refusing TRACEBACK_ENV's value if it is no word of a switch (the
  commands check it before anything else), else None: 'maybe' counted as on."""
  value = os.environ.get(TRACEBACK_ENV, '')
  if value.strip().lower() in _ON + _OFF:
    return None
  return (f'{TRACEBACK_ENV}={value!r} is neither on ({", ".join(_ON)}) nor off '
          f'({", ".join(_OFF[1:])} or empty)')


# The causes of a file error that TensorFlow raises as ResourceExhaustedError, as it
# does running out of memory ('PATH; CAUSE').
DISK_FULL = ('No space left on device', 'Disk quota exceeded')


# The cause of a file error that is this process's limit on open files (EMFILE), not
# the file's: TensorFlow and Python name it so.
TOO_MANY_FILES = 'Too many open files'


def is_open_files_limit(text):
  """Whether `text` (an error's line or cause) names this process's limit on open files
  as its cause (EMFILE; not ENFILE's 'Too many open files in system')."""
  return TOO_MANY_FILES in text and f'{TOO_MANY_FILES} in system' not in text


def open_files_hint():
  """What ends a line whose cause is the limit on open files: the limit and the fix."""
  soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
  more = hard if soft < hard <= 1 << 20 else max(4096, 2 * soft)
  return (f' (this process may have {soft} files open at once, ulimit -n {soft}; '
          f'raise it, e.g. ulimit -n {more})')


def describe(error, rerun='with --traceback'):
  """The one line that reports `error` to the user (main, export and plot print it);
  `rerun` says how to ask for the traceback of an unexpected one. One whose cause is
  the limit on open files names it: 'Error: [Errno 24] Too many open files' (ulimit -n
  below what env workers need) said neither the limit nor the fix."""
  line = _described(error, rerun)
  if is_open_files_limit(line) and 'ulimit -n' not in line:
    line = line.replace('[Errno 24] ', '') + open_files_hint()
  if FILE_TOO_LARGE in line and 'ulimit -f' not in line:
    line += file_size_hint()
  if DISK_FULL[0] in line and 'df -i' not in line:
    line += no_inodes_hint(written_path(error))
  return line


# Free inodes below this after a 'No space left on device' name them as its cause: the
# failed write's own cleanup (a save's temporary files) may free a few again.
_FEW_INODES = 64


def no_inodes_hint(path):
  """What ends a 'No space left on device' line when the file system of local `path`
  has (nearly) no free inodes left, whatever room it has: the line alone sent users to
  `df -h`, which showed room (a tmpfs of few nr_inodes, a disk of many small files);
  '' otherwise."""
  directory = existing_directory(path) if path and '://' not in path else None
  try:
    st = os.statvfs(directory) if directory else None
  except OSError:
    return ''
  if not st or not st.f_files or st.f_ffree >= _FEW_INODES:  # f_files 0: no inode limit
    return ''
  free = st.f_bavail * st.f_frsize / 2 ** 20
  mount = mount_point(directory)  # not the folder: removing a run's files damages it
  return (f' (the file system at {mount} holds {st.f_files} files and folders at most, its '
          f'inodes, {st.f_ffree} more now, though {free:.1f} MiB are free: df -i {mount}; '
          'remove files you do not need there, or give it more inodes)')


def existing_directory(path):
  """`path` if it is a directory, else its nearest ancestor that is one, or None."""
  while not os.path.isdir(path):
    parent = os.path.dirname(path)
    if parent == path:
      return None
    path = parent
  return path


def mount_point(directory):
  """The directory that the file system of local `directory` is mounted at."""
  directory = os.path.abspath(directory)
  while not os.path.ismount(directory):
    directory = os.path.dirname(directory)
  return directory


def written_path(error):
  """The path of the file error `error` is, or was raised from (a WriteError or a
  SaveError from an OSError or TensorFlow's 'PATH; CAUSE'), else ''."""
  tf_errors = sys.modules.get('tensorflow.python.framework.errors_impl')
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and isinstance(error.filename, (str, bytes)):
      return os.fsdecode(error.filename)
    if tf_errors and isinstance(error, tf_errors.OpError):
      return path_and_cause(error)[0]
    error = error.__cause__ or error.__context__
  return ''


# The cause of a write beyond RLIMIT_FSIZE (EFBIG; Python ignores SIGXFSZ), or beyond
# what the file system holds in one file.
FILE_TOO_LARGE = 'File too large'


def file_size_hint():
  """What ends a line whose cause is 'File too large': the limit on a file's size and
  the fix ('Could not save a checkpoint in DIR: File too large' named neither); '' where
  no limit is set (the file system's own, e.g. FAT32's 4 GiB)."""
  soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
  if soft == resource.RLIM_INFINITY:
    return ''
  return (f' (this process may write files of at most {soft} bytes, ulimit -f '
          f'{soft // 1024}; raise it, e.g. ulimit -f unlimited)')


def _described(error, rerun):
  if isinstance(error, UserError):
    return f'{error.prefix}: {one_line(error)}'
  if isinstance(error, OSError):  # e.g. "[Errno 28] No space left on device: 'PATH'"
    return f'Error: {one_line(error)}'
  # TensorFlow's file errors name the path; looked up, never imported here.
  tf_errors = sys.modules.get('tensorflow.python.framework.errors_impl')
  if tf_errors and isinstance(error, tf_errors.ResourceExhaustedError):
    path, cause = path_and_cause(error)
    if path and cause in DISK_FULL:  # TensorFlow's code for ENOSPC and EDQUOT too: an
      # export to a full disk said 'out of memory ...; use a smaller model'
      return f'Error: Cannot write {path}: {cause}'
    if path and is_open_files_limit(cause):  # and EMFILE: 'out of memory' too
      return f'Error: Cannot open {path}: {cause}'
  if isinstance(error, MemoryError) or (
      tf_errors and isinstance(error, tf_errors.ResourceExhaustedError)):
    # A size400m agent or a huge batch on a small machine: the user's to fix, not
    # 'unexpected' (Linux's OOM killer may end such a run with SIGKILL instead).
    soft = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft != resource.RLIM_INFINITY:  # the machine may have plenty: it said 'use a
      # machine with more memory' only
      return (f'Error: out of memory ({one_line(error)}) within ulimit -v {soft // 1024} '
              f'({soft / 2 ** 30:.1f} GiB of address space); raise it, e.g. ulimit -v '
              'unlimited, or use a smaller model (a size preset), batch_size or batch_length')
    return (f'Error: out of memory ({one_line(error)}); use a smaller model (a size '
            'preset), batch_size or batch_length, or a machine with more memory')
  if isinstance(error, RuntimeError) and str(error) == "can't start new thread":
    # Python's words when the system refuses a thread (EAGAIN): other processes used up
    # the room a run's start found ('unexpected' before).
    soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    limit = '' if soft == resource.RLIM_INFINITY else f' (ulimit -u {soft})'
    return (f"Error: can't start new thread: the processes and threads this user or its "
            f"cgroup may run are used up{limit}; end some, or raise the limit (a cgroup's "
            'pids.max, ulimit -u)')
  if tf_errors and isinstance(error, tf_errors.OpError):
    path, cause = path_and_cause(error)
    if path and cause == FILE_TOO_LARGE:  # was 'Error: PATH; File too large' (export)
      return f'Error: Cannot write {path}: {cause}'
    return f'Error: {one_line(error)}'
  return (f'Error: {type(error).__name__}: {one_line(error)} (unexpected: rerun '
          f'{rerun} for the full traceback)')


def fail(message, code):
  """Prints the traceback only if asked for (wants_traceback), then the one line,
  and exits with `code`. Call it inside the `except` block of the error."""
  if wants_traceback():
    import traceback
    traceback.print_exc()
    details = getattr(sys.exc_info()[1], 'details', '')
    if details:  # an env worker's own traceback
      print(details, file=sys.stderr)
  try:
    print(message, file=sys.stderr, flush=True)
  except (OSError, ValueError):  # e.g. EIO: its terminal closed (SIGHUP)
    # Nothing can be said; the exit code still says why. The streams go to /dev/null,
    # else the interpreter's last flush failed too and made the exit code 120.
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
      os.dup2(null, fd)
  sys.exit(code)


def path_and_cause(error):
  """(path, cause) of a file error: an OSError's file name and reason, or TensorFlow's
  'PATH; CAUSE'; path is '' when the error names none."""
  if isinstance(error, OSError) and error.filename:
    return str(error.filename), error.strerror or one_line(error)
  path, _, cause = one_line(error).rpartition('; ')
  return path, cause


@contextlib.contextmanager
def file_errors(line='Cannot write {path}: {cause}', error=None, directory=''):
  """Raises a file error of the block (OSError, TensorFlow's file errors, looked up,
  never imported here) as `error` (default WriteError) with `line`, its {path} (else
  `directory`) and {cause} filled in, or the cause alone when neither names a path:
  'Error: PATH; CAUSE' said neither what was kept nor what to do next (main's line for
  a WriteError adds both). Our own errors pass unchanged."""
  tf_errors = sys.modules.get('tensorflow.python.framework.errors_impl')
  kinds = (OSError, tf_errors.OpError) if tf_errors else OSError
  try:
    yield
  except UserError:
    raise
  except kinds as e:
    path, cause = path_and_cause(e)
    path = path or directory
    raise (error or WriteError)(line.format(path=path, cause=cause) if path else cause) from e


def help_alias(argv):
  """`argv` with `-h` as `--help`, which absl does not know ("Unknown command line flag
  'h'"); not after '--', nor as the value of a flag given as '--name VALUE'."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg == '--':
      break
    value_of = i > 1 and out[i - 1].startswith('--') and '=' not in out[i - 1]
    if arg == '-h' and not value_of:
      out[i] = '--help'
  return out


def help_shown(error, argv):
  """Whether `error`, raised as absl parsed `argv`, is its exit after the help that a
  --help (--helpshort, --helpfull, --helpxml, -?) asked for: absl exits with code 1 there,
  which failed a script's `python -m dreamerv3_tf.main --help && ...`, where plot's and
  other programs' --help exit with 0."""
  if not (isinstance(error, SystemExit) and error.code == 1):
    return False
  for arg in argv[1:]:
    if arg == '--':
      return False
    if arg.lstrip('-') in ('help', 'helpshort', 'helpfull', 'helpxml', '?') and (
        arg.startswith('-')):
      return True
  return False


def swallowed_flag(argv, flag_values):
  """The line refusing a flag given as '--name VALUE' whose VALUE is another flag, else
  None (`flag_values`: absl's FLAGS, passed in; a flag that is no boolean takes a
  value). absl takes that flag for the value: '--logdir $RUN --config.random_agent=True'
  with RUN unset trained in ./--config.random_agent=True, without that flag, and
  export's '--out --tflite' wrote ./--tflite. A negative number ('--config.seed -1') is
  a value."""
  for arg, following in zip(argv[1:], argv[2:]):
    if arg == '--':
      return None
    name = arg.lstrip('-')
    takes_value = name in flag_values and not flag_values[name].boolean
    if (arg.startswith('-') and '=' not in arg and name and takes_value
        and re.match(r'--?[^\W\d]', following)):
      return (f'{arg} takes a value, but the next argument is the flag {following} (an '
              f'unset shell variable, as in \'{arg} $VAR\'?); give it one, e.g. '
              f'{arg}=VALUE')
  return None


def flagfile_refusal(argv, flag_values):
  """The line refusing a --flagfile of `argv` that absl cannot read (missing, a
  directory, not UTF-8, one that includes itself), else None (`flag_values`: absl's
  FLAGS, passed in). main's --config flag reads them as it is defined, at import: a
  traceback of 30 lines, exit 1; a circular one, absl's warning once per read (5 lines)."""
  for arg, following in zip(argv[1:], [*argv[2:], None]):
    if arg == '--':
      break
    name, eq, value = arg.partition('=')
    if name in ('--flagfile', '-flagfile') and not (value if eq else following or '').strip():
      # absl ignores an empty one: --flagfile=$FLAGS with FLAGS unset ran without them.
      return ('--flagfile is empty (an unset shell variable?); give a file of flags, or '
              'leave the flag out')
  import io
  written = io.StringIO()
  try:
    with contextlib.redirect_stderr(written):  # absl's warning of a circular one
      flag_values.read_flags_from_files(argv, force_gnu=False)
  except Exception as e:  # noqa: BLE001 - absl's CantOpenFlagFileError, a decode error
    cause = e.__context__ if isinstance(e.__context__, OSError) else e
    if isinstance(cause, OSError) and cause.filename:
      return f'--flagfile {cause.filename}: cannot read it ({cause.strerror or cause})'
    if isinstance(cause, UnicodeDecodeError):  # (it names no file)
      return f'a --flagfile is not UTF-8 text ({cause.reason} at byte offset {cause.start})'
    return f'a --flagfile cannot be read ({one_line(cause)})'
  circular = re.search(r'circular flagfile dependency\. Ignoring flagfile: (.*)',
                       written.getvalue())
  if circular:
    return (f'--flagfile {circular.group(1).strip()} includes itself (through its '
            '--flagfile lines); include each file once')
  sys.stderr.write(written.getvalue())  # (nothing else is known to be written)
  return None


def given_flags(argv, flag_values, wanted=lambda name: True):
  """{'--name': [value, ...]} of each flag of `argv` that `flag_values` (absl's FLAGS,
  passed in) defines and `wanted(name)` accepts, in the order given; a boolean's is
  'True' or 'False'. --flagfile is left out: absl reads every one."""
  values = {}
  for arg, next_arg in zip(argv[1:], [*argv[2:], '']):
    if arg == '--':
      break
    name, eq, value = arg.partition('=')
    if (not name.startswith('--') or name[2:] not in flag_values or name == '--flagfile'
        or not wanted(name)):
      continue
    flag = flag_values[name[2:]]
    if not eq:  # '--config.random_agent' alone is True; other flags take the next argument
      value = 'True' if flag.boolean else next_arg
    elif flag.boolean:  # '--tflite' and '--tflite=true' are one value
      value = str(value.lower() in ('true', 't', '1'))
    values.setdefault(name, []).append(value)
  return values


def repeated_flag_warnings(values):
  """A warning line for each flag of `values` (from `given_flags`) given twice with other
  values: absl takes the last silently. Not refused: launchers/ put their own flags
  before the user's (`-- --config.compute_dtype=float32`), as scripts that override do."""
  return [f'Warning: {name} is given {len(given)} times ({", ".join(map(repr, given))}); '
          f'the last, {given[-1]!r}, is used'
          for name, given in values.items() if len(set(given)) > 1]


def stray_argument(arg, example=''):
  """The line refusing an argument the flag parser left (`example`: how a flag looks).
  One that starts with '-' came after '--', which ends absl's flags: 'flags start
  with --' was said of a flag that did."""
  if arg.startswith('-'):
    return f"unexpected argument {arg!r} after '--', which ends the flags; drop the '--'"
  return f'unexpected argument {arg!r}; flags start with --{example}'


def line_break_in(flag, path):
  """The one line refusing `path`, the value of `flag` (or of a config key), if it holds
  a line break, else None. Each message names its path, and a break cut it (one_line
  keeps the first line: 'Config error: --logdir /tmp/a', no cause) or made it two; such
  a path is a shell's mistake ("$(ls -d runs/*)" of several lines), not one meant."""
  if str(path).splitlines() in ([], [str(path)]):
    return None
  return (f'{flag}={str(path)!r} holds a line break; give one path (a command '
          'substitution that printed several lines?)')


def _locale_refusal(flag, path):
  """The line refusing a path beyond ASCII where Python's file names are of another
  encoding than UTF-8 (a locale such as de_DE, ISO-8859-1 on Debian; LC_ALL=C with
  PYTHONUTF8=0), which TensorFlow's are: under ISO-8859-1 --logdir=läufe put config.json
  in 'läufe' and the checkpoints in 'lÃ¤ufe', and the run stopped at its next write; under
  ASCII it was called 'not UTF-8 text', though it was."""
  import codecs
  encoding = codecs.lookup(sys.getfilesystemencoding()).name
  if encoding == 'utf-8' or str(path).isascii():
    return None
  # As typed (the same in any encoding the line is printed in): '/runs/l\xe4ufe'.
  typed = ascii(os.fsencode(str(path)).decode('utf-8', 'replace'))
  locale = [k for k in ('LC_ALL', 'LC_CTYPE', 'LANG') if os.environ.get(k)][:1]  # the first rules
  names = [f'{k}={os.environ[k]}' for k in (*locale, 'PYTHONUTF8') if os.environ.get(k)]
  return (f'{flag}={typed} holds characters beyond ASCII, and this process names files '
          f'in {encoding} ({", ".join(names) or "its locale"}), where TensorFlow names them '
          'in UTF-8: they would name other files (a run wrote into two folders); set '
          'PYTHONUTF8=1 or a UTF-8 locale (LC_ALL=C.UTF-8), or give an ASCII path')


def unknown_home_refusal(flag, path):
  """The line refusing a path of `~` or `~user` that expanduser keeps as it is (HOME
  unset and this user not in /etc/passwd, as in a container of another UID; or an
  unknown user), else None: a directory named '~' was made in the current directory
  (xla_cache's default, ~/.cache/dreamerv3_tf/xla, for every run), which a later
  `rm -rf ~` there would take for the home."""
  path = str(path)
  if not path.startswith('~') or not os.path.expanduser(path).startswith('~'):
    return None
  user = path[1:].split('/')[0]
  fix = 'set HOME or give a full path' if not user else 'give a full path'
  return (f'{flag} {path}: there is no user {user!r} whose home ~ could name (a directory '
          f'named ~... would be made here); {fix}')


def edge_space_refusal(flag, path):
  """The line refusing a path that begins or ends with white space and does not exist,
  else None: --logdir='runs/a ' (pasted, or a quoted variable with its space) started a
  new run in a folder named 'runs/a ', and the run meant to resume, 'runs/a', was left as
  it was, without a word. A path that exists with its space is taken as meant."""
  path = str(path)
  kept = path.strip()
  if kept == path or not kept or '://' in path or os.path.lexists(os.path.expanduser(path)):
    return None  # (a blank one has its own line)
  where, char = ('ends', path[-1]) if path[-1].isspace() else ('begins', path[0])
  space = 'a space' if char == ' ' else repr(char)
  return (f'{flag}={path!r} {where} with {space}, and no such path exists (a stray space '
          f'as it was typed or pasted?); give {kept!r}, or create the path to mean it')


def deleted_cwd_refusal(flag, path):
  """The line refusing a relative local `path` where the current directory was deleted
  (a shell left in a folder removed meanwhile), else None: it was 'Error: [Errno 2] No
  such file or directory', naming no path (export --out, the importer's flags), or
  plot's traceback."""
  path = os.path.expanduser(str(path))
  if not path or '://' in path or os.path.isabs(path):  # ('': a key left unset)
    return None
  try:
    os.getcwd()
  except FileNotFoundError:
    return (f'{flag} {path} is relative, but the current directory was deleted; cd into '
            f'one that exists or give {flag} as a full path')
  return None


def path_refusal(flag, path):
  """line_break_in's line, else one refusing a path that is not UTF-8 (a name made
  under another locale: '\\udcff' in Python's text) or that holds '[', '*', '?' or '\\'
  (read in TensorFlow's file patterns), else None. TensorFlow's file functions encode paths as
  UTF-8: an 'unexpected' UnicodeEncodeError before."""
  refusal = (line_break_in(flag, path) or _locale_refusal(flag, path)
             or unknown_home_refusal(flag, path) or deleted_cwd_refusal(flag, path)
             or edge_space_refusal(flag, path))
  if refusal:
    return refusal
  try:
    str(path).encode('utf-8')
  except UnicodeEncodeError:
    return (f'{flag}={str(path)!r} is not UTF-8 text (a name made under another '
            'locale?), and TensorFlow opens only UTF-8 paths; rename it')
  # TensorFlow finds a checkpoint's files by a pattern of its path, where '[...]' is a
  # set of characters and '\' an escape: a run there saved its first checkpoint, then
  # stopped ('was saved but cannot be read back: ... Failed to find any matching files').
  # '*' and '?' match other paths: a run in 'runs/exp*' (a shell pattern that matched
  # nothing) pruned its ckpt-1 by that pattern, deleting runs/exp1's ckpt-1 as well.
  special = [x for x in ('[', '*', '?', '\\') if x in str(path)]
  if special:
    why = ('where it matches other paths too: a run there deleted the checkpoints of the '
           'runs it matched as it pruned its own; a shell pattern that matched nothing?'
           if special[0] in '*?' else
           'the checkpoints there could not be read back')
    return (f'{flag}={str(path)!r} holds {special[0]!r}, which TensorFlow reads in a file '
            f"pattern ({why}); give a path without '[', '*', '?' or '\\'")
  return None


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
          f'--checkpoint={run} --logdir=NEW_LOGDIR, then use NEW_LOGDIR (README, "Official '
          'checkpoints")')


# What a checkpoint path that names no checkpoint is told: the command's check before
# TensorFlow loads (export_checks) and the load's own (checkpoint.py) say it alike.
NOT_A_PREFIX = ('name a checkpoint prefix such as RUN/ckpt/ckpt-3, without .index, or a '
                'directory of checkpoints')


def inside_export(export):
  """The hint for a path inside SavedModel `export`: eval_only takes the export whole."""
  return (f' (it is inside the SavedModel export {export}, which eval_only takes whole: '
          f"--config.run.from_checkpoint={export}; training and export need a run's "
          'checkpoint, RUN/ckpt)')


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
  if checkpoint_number(path) is None or not same_dir(os.path.dirname(path), directory):
    return None
  return join(directory, os.path.basename(path))


def same_dir(a, b):
  if '://' in a or '://' in b:
    return a.rstrip('/') == b.rstrip('/')
  return os.path.realpath(a) == os.path.realpath(b)


def runs_in(directory, marks=('config.json',)):
  """Names of the folders of local `directory` that are runs (hold one of `marks`),
  sorted; a multi_worker run's `workers` folder is none. [] if it cannot be read."""
  try:
    names = sorted(os.listdir(directory))
  except OSError:
    return []
  return [x for x in names if x != 'workers' and any(
      os.path.isfile(os.path.join(directory, x, mark)) for mark in marks)]


def image_stages_problem(height, width, mults):
  """Why the agent's image encoder and decoder of `mults` (one 2x stage each) cannot
  take height x width images, or None. Checked by the config before TensorFlow loads
  and by the networks (agent/nets.py)."""
  factor = 2 ** len(mults)
  if height % factor or width % factor or not 3 <= height // factor <= 16:
    return (f'its {len(mults)} stages divide their size by {factor}, which must leave a '
            'whole number from 3 to 16')
  return None


def boolean_flag_refusal(text):
  """absl's error for a boolean flag given another value, "flag --x=maybe:
  ('Non-boolean argument to boolean flag', 'maybe')" (a tuple's repr), as a line naming
  what the flag takes; None for another error."""
  match = re.match(r'flag (--(config\.)?([\w.]+)=.*?): .*Non-boolean argument', text, re.S)
  if not match:
    return None
  flag, config, name = match.groups()
  if config:
    return f'flag {flag}: {name} takes True or False'
  return f'flag {flag}: --{name} takes true or false (--{name} alone is true, --no{name} false)'


def missing_flags_refusal(text):
  """absl's error for required flags left out or empty ("flag --out=None: Flag --out
  must have a value other than None.", one per flag) as one line naming them; None for
  another error."""
  names = re.findall(r'Flag (--\w+) must have a value other than None', text)
  if not names:
    return None
  names = list(dict.fromkeys(names))
  what = (f'{names[0]} is required' if len(names) == 1 else
          f'{", ".join(names[:-1])} and {names[-1]} are required')
  return f'{what}; give {"it" if len(names) == 1 else "each"} a value (see --help)'


def yaml_problem(error):
  """A yaml.YAMLError in one line: what and where ("while parsing a flow sequence;
  expected ',' or ']', but got '<stream end>', line 2"); its own text is four lines."""
  what = '; '.join(x for x in (getattr(error, 'context', None),
                               getattr(error, 'problem', None)) if x)
  mark = getattr(error, 'problem_mark', None)
  return (what or one_line(error)) + (f', line {mark.line + 1}' if mark else '')


def undecorated(text):
  """TensorFlow's error text without its op decorations ({{function_node ...}},
  [Op:SaveV2], and the ' name: ' eager ops add after it: the summary writer of a run's
  tb/ on a full disk read 'No space left on device  name:')."""
  return re.sub(r'\{\{[^}]*\}\}|\[Op:\w+\](?: name: [^\s;]*)?', '', text)


def one_line(error, cause_only=False):
  """The first line of an error's message, without TensorFlow's op decorations.

  cause_only: for a file error, only its cause ('Permission denied', 'No space
  left on device'), where the caller names the path itself.
  """
  if cause_only and isinstance(error, OSError) and error.strerror:
    return error.strerror
  text = undecorated(str(getattr(error, 'message', None) or error))
  lines = [x.strip() for x in text.splitlines() if x.strip()]
  text = lines[0] if lines else type(error).__name__
  return text.rsplit('; ', 1)[-1] if cause_only and '; ' in text else text


class UserError(Exception):
  """A failure the user can cause and fix; its message is one line naming the cause.

  `prefix` starts the line main prints ('Error: ...', 'Env error: ...'), and
  `exit_code` is the program's.
  """

  prefix = 'Error'
  exit_code = 1


class WriteError(UserError):
  """A write into the logdir failed once the run was under way (a full disk, a file
  made unwritable); main ends its line with what was kept and how to resume."""


class EnvSpaceError(UserError, ValueError):
  """An env broke its declared spaces: a bug in the env, so it is not restarted.

  Messages start with 'Env '; the driver replaces that word by the env's name
  ('dmc_walker_walk train env 2: obs ...').
  """

  prefix = 'Env error'


class EnvError(UserError, RuntimeError):
  """An env could not be built or kept failing; names the env and the cause.

  `details` holds the env's own traceback (shown when tracebacks are asked for);
  `exit_code` is that of the env's own error (2 for an unknown task: a config value).
  """

  prefix = 'Env error'

  def __init__(self, message, details='', exit_code=1):
    super().__init__(message)
    self.details = details
    self.exit_code = exit_code


def exit_code(error):
  """The program's exit code for `error`: its own if it is a UserError, else 1."""
  return error.exit_code if isinstance(error, UserError) else 1


class Agent:
  """What the runtime needs from a learner. Numpy in, numpy out.

  Attributes:
    obs_space, act_space: dicts of Space, from `agent_spaces`.
  """

  def init_policy(self, batch_size):
    """-> carry for `policy`, for a batch of `batch_size` envs."""
    raise NotImplementedError

  def init_train(self, batch_size):
    """-> carry for `train`."""
    raise NotImplementedError

  def init_report(self, batch_size):
    """-> carry for `report`."""
    raise NotImplementedError

  def policy(self, carry, obs, mode='train'):
    """(carry, obs <[B, ...]>, mode 'train'|'eval') -> carry, act, out.

    `act` holds every action key <[B, ...]>; `out` holds extra per-step values to
    store in replay (e.g. the latent 'deter'/'stoch' for replay_context), keyed
    without clashing with obs or act keys.
    """
    raise NotImplementedError

  def train(self, carry, batch):
    """(carry, batch <[B, T, ...]>) -> carry, outs, metrics.

    `batch` holds obs and act keys plus 'stepid' <uint8>[B, T, 20] (replay ids) and,
    with replay_context, the stored latents of the first `context` steps. `outs`
    may hold 'replay': {key: [B, T, ...]} with fresh latents to write back through
    `Replay.update` and 'stepid' naming the rows. `metrics` are float scalars;
    'opt/grad_nonfinite' = 1 marks an update skipped as not finite (its carry and
    outs are then dropped), and 'loss/<name>' the loss terms, whose order of
    computation an agent may give as `loss_terms`.
    """
    raise NotImplementedError

  def report(self, carry, batch):
    """(carry, batch) -> carry, metrics.

    Metrics are scalars, and may hold open-loop predictions of image keys:
    'openloop/<key>/true' and '/pred' <uint8>[RB, T, H, W, C], the first T // 2
    steps observed (the run logs them as one video, run.common.openloop_video).
    """
    raise NotImplementedError


class Env:
  """A single environment. `step({'reset': True, ...})` starts an episode."""

  @property
  def obs_space(self):
    """dict of Space; includes reward, is_first, is_last, is_terminal."""
    raise NotImplementedError

  @property
  def act_space(self):
    """dict of Space; includes 'reset' <bool>[]."""
    raise NotImplementedError

  def step(self, action):
    """dict action -> dict observation (numpy values matching obs_space)."""
    raise NotImplementedError

  def close(self):
    pass

  # Optional, for exact resume: envs that can save their state mid-episode define
  # get_state() -> JSON-able dict and set_state(dict). Without them, a resumed run
  # starts new episodes.
