"""How a failure reaches the user: one line naming its cause (`describe`, `fail`),
a traceback only when asked for (DREAMERV3_TF_TRACEBACK, --traceback).
"""

import contextlib
import os
import re
import resource
import sys

from dreamerv3_tf.core.base import UserError
from dreamerv3_tf.core.base import WriteError


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


def print_traceback_if_asked():
  """Prints the traceback of the error being handled if asked for (wants_traceback);
  -> whether it did. Call it inside the `except` block of the error."""
  if not wants_traceback():
    return False
  import traceback
  traceback.print_exc()
  return True


def fail(message, code):
  """Prints the traceback only if asked for (wants_traceback), then the one line,
  and exits with `code`. Call it inside the `except` block of the error."""
  if print_traceback_if_asked():
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


STR_FAILED = '<its str() raised '  # flat_text's text for an error without one


def flat_text(error):
  """An error's whole message on one line; what its str() raised if that fails (an
  env's or user module's own __str__: the line named that error instead, and a worker
  died printing its tracebacks)."""
  try:
    return ' '.join(str(error).split())
  except Exception as e:  # noqa: BLE001 - the error's own __str__
    return f'{STR_FAILED}{type(e).__name__}>'


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
