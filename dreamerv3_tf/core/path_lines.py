"""The lines refusing a path a command is given before anything is written: a
line break, a locale that names files otherwise than TensorFlow, an unknown ~,
a stray space, a shell variable no shell expanded, a deleted current directory,
TensorFlow's pattern characters, a URL no command can use (gs:/x, gs://, ram://, s3://
without tensorflow-io).
"""

import os
import re
import sys


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
  return (f'{flag}={typed} holds characters beyond ASCII, and this process names files '
          f'in {encoding} ({locale_settings()}), where TensorFlow names them '
          f'in UTF-8: they would name other files (a run wrote into two folders); {UTF8_FIX}, '
          'or give an ASCII path')


# What makes Python read and name files in UTF-8 whatever the locale.
UTF8_FIX = 'set PYTHONUTF8=1 or a UTF-8 locale (LC_ALL=C.UTF-8)'


def locale_settings():
  """The variables that set this process's encoding, as given ('LC_ALL=C, PYTHONUTF8=0'),
  or 'its locale' when none is set."""
  locale = [k for k in ('LC_ALL', 'LC_CTYPE', 'LANG') if os.environ.get(k)][:1]  # the first rules
  names = [f'{k}={os.environ[k]}' for k in (*locale, 'PYTHONUTF8') if os.environ.get(k)]
  return ', '.join(names) or 'its locale'


def unknown_home_refusal(flag, path):
  """The line refusing a path of `~` or `~user` that expanduser keeps as it is (HOME
  unset and this user not in /etc/passwd, as in a container of another UID; or an
  unknown user), or one of `~` while HOME is set but empty, else None: a directory
  named '~' was made in the current directory (xla_cache's default,
  ~/.cache/dreamerv3_tf/xla, for every run), which a later `rm -rf ~` there would take
  for the home."""
  path = str(path)
  if (path == '~' or path.startswith('~/')) and os.environ.get('HOME') == '':
    # expanduser made ~/x the /x at the file system's root: an export, an import or a
    # plot was written there, a run's checkpoint read from there.
    return (f'{flag} {path}: HOME is set but empty, so ~ names no home directory; set HOME '
            f'or give {flag} as a full path')
  if not path.startswith('~') or not os.path.expanduser(path).startswith('~'):
    return None
  user = path[1:].split('/')[0]
  fix = 'set HOME or give a full path' if not user else 'give a full path'
  # (Not 'a directory named ~... would be made here': most such paths are read.)
  return (f'{flag} {path}: there is no user {user!r} whose home ~ could name (the path '
          f"would name a folder '~{user}' in the current directory); {fix}")


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


# A shell variable as a shell would expand it: $NAME or ${NAME}.
_VARIABLE = re.compile(r'\$([A-Za-z_]\w*|\{[A-Za-z_]\w*\})')


def unexpanded_variable_refusal(flag, path):
  """The line refusing a local path that holds a shell variable ($HOME, ${RUN}) and does
  not exist, else None: a flagfile, a launcher's YAML or single quotes pass it as it is,
  and --logdir=$HOME/runs/a trained in a new folder named '$HOME' in the current
  directory (export's --out too). Only a variable that begins a name or is set counts
  ('our $run' may be meant), and a folder that exists with its '$' is taken as meant."""
  path = str(path)
  if '://' in path:
    return None
  for found in _VARIABLE.finditer(path):  # the first whose folder is not there
    name = found.group(1).strip('{}')
    end = path.find('/', found.end())
    begins = found.start() == 0 or path[found.start() - 1] == '/'
    folder = path[:end] if end >= 0 else path
    if (begins or name in os.environ) and not os.path.lexists(os.path.expanduser(folder)):
      break
  else:
    return None
  meant = os.path.expanduser(os.path.expandvars(path))
  fix = (f'give the path it stands for, {meant!r}' if name in os.environ
         else f'{name} is not set here either; give the path itself')
  return (f'{flag}={path!r} holds {found.group(0)}, which no shell expanded (single quotes, '
          'or a flagfile or launcher, which expand no variables?), and no such path '
          f'exists; {fix}, or create the path to mean it')


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


# Schemes TensorFlow lacks (2.21: 'File system scheme 's3' not implemented', exit code 1
# once it had loaded) that the file system plugins of the tensorflow-io package provide
# (its tensorflow_io/core/filesystems/filesystem_plugins.cc, loaded as it is imported).
TENSORFLOW_IO_SCHEMES = ('s3', 'hdfs', 'viewfs', 'har', 'az', 'http', 'https', 'oss')
# Schemes of TensorFlow's file systems: 'gs:/bucket/run' (one slash) is a local path.
REMOTE_SCHEMES = ('gs', 'file', 'ram', *TENSORFLOW_IO_SCHEMES)


def url_refusal(flag, path):
  """The line refusing a path that is a URL no command can use, else None (no network
  needed, no TensorFlow): a remote scheme without its // ('gs:/bucket/run', a local
  path: a run trained in ./gs:/bucket/run), one in upper case ('GS://b/x': TensorFlow
  said 'File system scheme 'GS' not implemented' once loaded), 'gs://' or 'gs:///run',
  which name no bucket (export --out=gs:// wrote its SavedModel into ./gs:, its
  trailing slashes dropped), and ram://, TensorFlow's in-memory file system, which
  nothing outlives (a run there stopped at its first save: 'cannot be read back'), and
  a scheme only tensorflow-io provides where it is not installed (s3://, hdfs://)."""
  path = str(path)
  named = f'{flag} {path}' if flag.startswith('--') else f'{flag}={path}'
  scheme = re.match(r'([A-Za-z][A-Za-z0-9+.-]*):(/*)', path)
  if not scheme or scheme.group(1).lower() not in REMOTE_SCHEMES:
    return None
  name, slashes, rest = scheme.group(1), scheme.group(2), path[scheme.end():]
  lower = name.lower()
  example = {'gs': 'gs://BUCKET/run', 's3': 's3://BUCKET/run', 'file': 'file:///PATH'}.get(
      lower, f'{lower}://HOST/run')
  if len(slashes) < 2:
    meant = f"{lower}://{'/' * (lower == 'file')}{rest}" if rest else example
    return (f'{named} starts like a remote path without its //; write {meant}, or '
            f"./{path} for a local directory named '{name}:'")
  if lower in TENSORFLOW_IO_SCHEMES and not _tensorflow_io_installed():
    return (f'{named}: this TensorFlow opens local, file:// and gs:// paths, not {lower}:// '
            f'(the tensorflow-io package provides {lower}://, and it is not installed); '
            'give a local or gs:// path')
  if lower == 'ram':
    return (f'{named} is in TensorFlow\'s in-memory file system (ram://), which each '
            'process starts empty and loses as it ends: nothing there outlives this '
            'command; give a local or gs:// path')
  if name != lower:
    return (f"{named}: TensorFlow's file system schemes are lower case, and it has no "
            f'{name}://; write {lower}://{rest}')
  if not rest.strip('/') or (name == 'gs' and len(slashes) > 2):
    what = 'no Cloud Storage bucket' if name == 'gs' else f'nothing after {name}://'
    return f'{named} names {what}; give a full path such as {example}'
  return None


def _tensorflow_io_installed():
  """Whether the tensorflow-io package can be imported (found, not loaded: no TensorFlow)."""
  import importlib.util
  return importlib.util.find_spec('tensorflow_io') is not None


def path_refusal(flag, path):
  """line_break_in's line, else one refusing a path that is not UTF-8 (a name made
  under another locale: '\\udcff' in Python's text) or that holds '[', '*', '?' or '\\'
  (read in TensorFlow's file patterns), else None. TensorFlow's file functions encode paths as
  UTF-8: an 'unexpected' UnicodeEncodeError before. url_refusal's too."""
  refusal = (line_break_in(flag, path) or _locale_refusal(flag, path)
             or url_refusal(flag, path)
             or unknown_home_refusal(flag, path) or deleted_cwd_refusal(flag, path)
             or edge_space_refusal(flag, path) or unexpanded_variable_refusal(flag, path))
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


def local_path(path):
  """The local path that `path` names: itself, or /x for file:///x; None for a remote
  URL (gs://...)."""
  path = str(path)
  if path.startswith('file:///'):
    return path[len('file://'):]
  return None if '://' in path else path


def same_dir(a, b):
  # file:///x is the local /x (export --logdir=/x --checkpoint=file:///x/ckpt was 'of the
  # run file:///x, not of --logdir /x').
  a, b = (local_path(x) or x for x in (a, b))
  if '://' in a or '://' in b:
    return a.rstrip('/') == b.rstrip('/')
  return os.path.realpath(a) == os.path.realpath(b)


def name_and_path_max(folder):
  """-> (NAME_MAX, PATH_MAX) in bytes of the filesystem holding existing `folder`; Linux's
  usual 255 and 4096 where it does not say."""
  limits = []
  for key, default in (('PC_NAME_MAX', 255), ('PC_PATH_MAX', 4096)):
    try:
      limits.append(os.pathconf(folder, key))
    except (OSError, ValueError):
      limits.append(default)
  return tuple(limits)


def runs_in(directory, marks=('config.json',)):
  """Names of the folders of local `directory` that are runs (hold one of `marks`),
  sorted; a multi_worker run's `workers` folder is none. [] if it cannot be read."""
  try:
    names = sorted(os.listdir(directory))
  except OSError:
    return []
  return [x for x in names if x != 'workers' and any(
      _marks_a_run(os.path.join(directory, x, mark)) for mark in marks)]


def holds_runs(flag, directory, runs, way):
  """The line for a `flag` directory that holds `runs` (runs_in) and is none itself, as
  main, export and plot say it (each said it its own way, export not at all); `way`: what
  to pass instead."""
  shown = ', '.join(runs[:3]) + (', ...' if len(runs) > 3 else '')
  return (f'{flag} {directory} holds {len(runs)} run{"s" if len(runs) > 1 else ""} '
          f'({shown}) and is none itself; {way}')


def _marks_a_run(path):
  """Whether file `path` marks its folder as a run. Another program's config.json (a
  model's, no 'task') was named a run to pass or resume, which was then refused; one
  that cannot be read may be a run's cut short, whose line names it."""
  if not os.path.isfile(path):
    return False
  if os.path.basename(path) != 'config.json':
    return True
  import json
  try:
    with open(path) as f:
      config = json.load(f)
  except (OSError, ValueError):
    return True
  return not isinstance(config, dict) or 'task' in config


# File systems of the kernel's own state: no folder of a user's can be made there.
PSEUDO_FILESYSTEMS = frozenset((
    'proc', 'sysfs', 'cgroup', 'cgroup2', 'debugfs', 'tracefs', 'securityfs', 'configfs',
    'pstore', 'bpf', 'efivarfs', 'binfmt_misc', 'fusectl', 'devpts', 'mqueue'))


def pseudo_filesystem(path, mountinfo='/proc/self/mountinfo'):
  """(mount point, type) of the kernel pseudo file system (/proc, /sys) that holds
  existing local `path`, else None (also where the mounts cannot be read)."""
  path = os.path.realpath(path)
  best = None
  try:
    with open(mountinfo, encoding='utf-8', errors='replace') as f:
      for line in f:
        fields, _, rest = line.partition(' - ')
        fields = fields.split()
        if len(fields) < 5 or not rest.split():
          continue
        # Mount points escape space, tab, newline and backslash as octal (\040).
        point = re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), fields[4])
        inside = path == point or path.startswith(point.rstrip('/') + '/')
        if inside and (best is None or len(point) >= len(best[0])):
          best = (point, rest.split()[0])  # the last of equal points is the one seen
  except OSError:
    return None
  return best if best and best[1] in PSEUDO_FILESYSTEMS else None
