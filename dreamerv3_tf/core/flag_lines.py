"""The lines refusing a command line absl would misread or refuse in its own
words: a flag that swallowed the next one, an unreadable --flagfile, a stray
argument, a boolean given another value, a required flag left out, a --config.KEY
whose KEY is no dotted name; and the warning for a flag given twice with other values.
"""

import contextlib
import os
import re
import sys

from dreamerv3_tf.core import errors
from dreamerv3_tf.core import path_lines


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


def restore_help_text(argv, module=None):
  """Puts back the docstring of `module` (the __main__ module) that python -OO
  (PYTHONOPTIMIZE=2) dropped, when `argv` asks for the help: absl's --help shows it,
  and listed the flags alone (export's signatures were gone). Read from its source."""
  module = module or sys.modules['__main__']
  if module.__doc__ is not None or not asked_for_help(argv):
    return
  import ast
  try:
    with open(module.__file__, encoding='utf-8') as f:
      module.__doc__ = ast.get_docstring(ast.parse(f.read()), clean=False)
  except (AttributeError, OSError, SyntaxError, ValueError):
    pass  # (no source to read: the help lists the flags alone, as it did)


def help_shown(error, argv):
  """Whether `error`, raised as absl parsed `argv`, is its exit after the help that a
  --help (--helpshort, --helpfull, --helpxml, -?) asked for: absl exits with code 1 there,
  which failed a script's `python -m dreamerv3_tf.main --help && ...`, where plot's and
  other programs' --help exit with 0."""
  return isinstance(error, SystemExit) and error.code == 1 and asked_for_help(argv)


def asked_for_help(argv):
  """Whether `argv` asks for absl's help (--help, --helpshort, --helpfull, --helpxml, -?)
  before any '--'."""
  for arg in argv[1:]:
    if arg == '--':
      return False
    if arg.lstrip('-') in ('help', 'helpshort', 'helpfull', 'helpxml', '?') and (
        arg.startswith('-')):
      return True
  return False


def help_reader_gone(error, argv):
  """Whether `error` is the broken pipe of a help whose reader stopped reading
  (`--help | head`, a pager quit early): it was a traceback from export and 'Config
  error: [Errno 32] Broken pipe' from main. It read what it wanted: the command ends
  quietly. stdout then writes to /dev/null, or the interpreter's flush at exit raised
  the same error again."""
  if not (isinstance(error, BrokenPipeError) and asked_for_help(argv)):
    return False
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, sys.stdout.fileno())
  os.close(devnull)
  return True


def swallowed_flag(argv, flag_values, config_bools=None):
  """The line refusing a flag given as '--name VALUE' whose VALUE is another flag, else
  None (`flag_values`: absl's FLAGS, passed in; a flag that is no boolean takes a
  value). absl takes that flag for the value: '--logdir $RUN --config.random_agent=True'
  with RUN unset trained in ./--config.random_agent=True, without that flag, and
  export's '--out --tflite' wrote ./--tflite. A negative number ('--config.seed -1') is
  a value. `config_bools`: the config keys that are booleans ('random_agent', ...);
  given, every other --config.KEY takes a value too (absl defines them only as the
  config loads: '--config.task $TASK --config.seed=1' set task='--config.seed=1')."""
  for arg, following in zip(argv[1:], argv[2:]):
    if arg == '--':
      return None
    name = arg.lstrip('-')
    takes_value = name in flag_values and not flag_values[name].boolean
    if config_bools is not None and name.startswith('config.') and name not in flag_values:
      # Only a flag of this command counts as swallowed: a key's value may itself look
      # like a flag ('--config.xla_flags --xla_cpu_use_fusion_emitters=false').
      theirs = following.lstrip('-').split('=')[0]
      takes_value = (name[len('config.'):] not in config_bools and (
          theirs in flag_values or theirs.startswith('config.')))
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
  undecodable = _undecodable_flagfile(argv[1:], on_command_line=True)
  if undecodable:  # (absl's UnicodeDecodeError names no file)
    return undecodable
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
    return f'a --flagfile cannot be read ({errors.one_line(cause)})'
  circular = re.search(r'circular flagfile dependency\. Ignoring flagfile: (.*)',
                       written.getvalue())
  if circular:
    return (f'--flagfile {circular.group(1).strip()} includes itself (through its '
            '--flagfile lines); include each file once')
  sys.stderr.write(written.getvalue())  # (nothing else is known to be written)
  return None


def _flagfile_names(args, on_command_line):
  """The files that the --flagfile directives of `args` name, as absl reads them:
  '--flagfile=FILE' (one dash too), and on the command line '--flagfile FILE'; in a
  flagfile (`args` its lines) every line is read, '--' too."""
  names = []
  for arg, following in zip(args, [*args[1:], '']):
    if arg == '--' and on_command_line:
      break
    name, eq, value = arg.partition('=')
    if name in ('--flagfile', '-flagfile') and (eq or on_command_line):
      value = (value if eq else following).strip()
      if value:
        names.append(os.path.expanduser(value))
  return names


def _undecodable_flagfile(args, on_command_line=False, seen=()):
  """The line naming the first flagfile of `args` (or one that it includes) whose bytes
  are no text of the encoding absl opens it with (UTF-8 in a UTF-8 locale), else None:
  absl's UnicodeDecodeError named no file, and a run's command line may give several.
  One that cannot be opened, or is read already (a circle), is left to absl."""
  for path in _flagfile_names(args, on_command_line):
    if path in seen:
      continue
    try:
      with open(path) as f:  # (as absl opens it)
        lines = [x.strip() for x in f.read().splitlines()]
    except UnicodeDecodeError as e:
      encoding = 'UTF-8' if e.encoding.replace('-', '').lower() == 'utf8' else e.encoding
      if encoding != 'UTF-8' and _is_utf8(e.object):  # (LC_ALL=C with PYTHONUTF8=0) it
        # said 'is not ascii text', of a file of UTF-8, as the user wrote it
        return (f'--flagfile {path} is UTF-8 text, and this process reads text in '
                f'{encoding} ({path_lines.locale_settings()}); {path_lines.UTF8_FIX}')
      return (f'--flagfile {path} is not {encoding} text ({e.reason} at byte offset '
              f'{e.start})')
    except OSError:
      continue
    found = _undecodable_flagfile(lines, seen=(*seen, path))
    if found:
      return found
  return None


def _is_utf8(data):
  try:
    data.decode('utf-8')
  except UnicodeDecodeError:
    return False
  return True


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


# A --config.KEY's KEY: names joined by dots, each perhaps indexed (replay.fracs['uniform']).
_CONFIG_KEY = re.compile(r'[A-Za-z_]\w*(\[[^]]*\])*(\.[A-Za-z_]\w*(\[[^]]*\])*)*')


def malformed_config_key(argv):
  """The line refusing the first --config.KEY flag of `argv` whose KEY is no dotted
  name (run..steps, run., 1, run-steps), else None: ml_collections' parse of it said
  "Could not parse 'run..steps': SyntaxError('invalid syntax', (...))", 'Config error: 1'
  or 'malformed node or string on line 1: <ast.Name object at 0x7f...>'."""
  for arg in argv[1:]:
    if arg == '--':  # absl's end of flags
      return None
    if arg.startswith(('--config.', '-config.')):
      name = arg.split('=', 1)[0]
      key = name.lstrip('-')[len('config.'):]
      if not _CONFIG_KEY.fullmatch(key):
        return (f'{name}: {key!r} is no config key; a key is names joined by dots, e.g. '
                '--config.run.steps=1000')
  return None


def stray_argument(arg, example=''):
  """The line refusing an argument the flag parser left (`example`: how a flag looks).
  One that starts with '-' came after '--', which ends absl's flags: 'flags start
  with --' was said of a flag that did."""
  if arg.startswith('-'):
    return f"unexpected argument {arg!r} after '--', which ends the flags; drop the '--'"
  return f'unexpected argument {arg!r}; flags start with --{example}'


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
