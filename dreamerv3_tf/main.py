"""Entry point: python -m dreamerv3_tf.main --config=configs/dmc.py:train_eval --logdir=DIR

Parses the config, checks it, and calls one script from `dreamerv3_tf.run`.
Any bad flag or config value, and any failure a user can cause (env, logdir,
checkpoint), ends the program with one line naming it and a non-zero exit code;
--traceback (or DREAMERV3_TF_TRACEBACK=1) prints the full traceback too.
"""

import os
import signal
import sys

if __name__ == '__main__' and not __package__:
  # `python dreamerv3_tf/main.py`, as the official code runs (python dreamerv3/main.py):
  # Python put this file's folder on the path, not the checkout's, and the package did
  # not import ("No module named 'dreamerv3_tf'") or came from another install. Run as
  # `python -m dreamerv3_tf.main` from the checkout runs.
  import runpy
  sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  runpy.run_module('dreamerv3_tf.main', run_name='__main__', alter_sys=True)
  sys.exit()

from dreamerv3_tf import stop_signals
from dreamerv3_tf.core import streams

_STOP_SIGNALS = set(stop_signals.SIGNALS)

if __name__ == '__main__':  # first: the imports below take up to a second
  stop_signals.install()
  streams.print_any_text()
  signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # held by use_fast_malloc

import atexit
import datetime
import glob
import re
import tempfile
import threading
import warnings

from absl import app
from absl import flags
from absl import logging
import ml_collections
from ml_collections import config_flags

from dreamerv3_tf import allocator
from dreamerv3_tf import memory_watch
from dreamerv3_tf import official_flags
from dreamerv3_tf import startup
from dreamerv3_tf import stop_notice
from dreamerv3_tf.core import base
from dreamerv3_tf.core import cpuinfo
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import exit_guard
from dreamerv3_tf.core import flag_lines
from dreamerv3_tf.core import gce_check
from dreamerv3_tf.core import path_lines

# ml_collections loads a config file with importlib's deprecated load_module(): under
# PYTHONWARNINGS=error (or -W error) its warning was 'Config error: the load_module()
# method is deprecated ...', for every config file. The rest of a run passes -W error.
warnings.filterwarnings('ignore', message=r'the load_module\(\) method is deprecated',
                        category=DeprecationWarning)

# (read by the definition below)
_FLAGFILE_REFUSAL = flag_lines.flagfile_refusal(sys.argv, flags.FLAGS)
if _FLAGFILE_REFUSAL:
  print(f'Config error: {_FLAGFILE_REFUSAL}', file=sys.stderr)
  sys.exit(2)
_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file and presets (required), e.g. '
    'configs/dmc.py:train_eval,debug',
    lock_config=True)
_LOGDIR = flags.DEFINE_string('logdir', None, 'Run directory; reused means resume.')

# What the --config file's get_config() returned, kept as the flag is parsed: absl
# drops it when an override fails, and an override of a key of a None (no return
# statement) or a dict failed naming only the key ("Attribute <class 'NoneType'>.run
# does not exist ...", "unknown config key 'run'").
_LOADED = []


def _keeping_what_it_returned(parse):
  def keep(argument):
    path, colon, presets = split_config(argument)
    # ml_collections cuts the value at its first colon: a file in a folder named with
    # one is loaded here.
    config = _load_config(path, presets if colon else None) if ':' in path else parse(argument)
    _LOADED[:] = [config]
    return config
  return keep


flags.FLAGS['config'].parser.parse = _keeping_what_it_returned(
    flags.FLAGS['config'].parser.parse)
# ml_collections' own warning for a None, with absl's 'Logging before flag parsing' line:
# two lines more before ours, which names it.
logging.get_absl_logger().addFilter(
    lambda record: 'did you forget a return statement' not in str(record.msg))
_TRACEBACK = flags.DEFINE_bool(
    'traceback', False,
    f'On an error, print the full traceback (as {errors.TRACEBACK_ENV}=1 does).')
_VERBOSE = flags.DEFINE_bool(
    'verbose', False, "Show TensorFlow's own log lines (CUDA probing, oneDNN, XLA).")


_ARGS = []  # the command's arguments, its --flagfile files' lines in place


def _parse_flags(argv):
  # Flag errors (an unknown key, a wrong type, an unknown preset) become one line.
  # The lines of --flagfile files in their place, as absl reads them: the checks below
  # saw only the command line ('--config.seed sets a key of a config file, and no
  # --config names one' of a --config in the file). (Unreadable ones stopped at import.)
  argv = _expanded(argv)
  argv = [_with_home(x) for x in flag_lines.help_alias(argv)]
  _ARGS[:] = argv  # (--traceback may come from a --flagfile)
  flag_lines.restore_help_text(argv)
  if errors.traceback_refusal():  # first: it decides how each error after it is shown
    _usage_error(errors.traceback_refusal())
  swallowed = flag_lines.swallowed_flag(argv, flags.FLAGS, _config_bools())
  if swallowed:  # absl would take the next flag for its value
    _usage_error(swallowed)
  official = official_flags.refusal(argv, flags.FLAGS)
  if official:  # absl: "Unknown command line flag 'configs'. Did you mean: config ?"
    _usage_error(official)
  configs = _config_values(argv)
  if len(configs) > 1:  # with overrides, absl says 'config.task is defined twice'
    _usage_error(f'--config is given {len(configs)} times ({", ".join(configs)}); give '
                 'one file and its presets, e.g. --config=configs/dmc.py:train_eval,debug')
  if configs and not split_config(configs[0])[0].strip():
    # ml_collections said 'Path to config file is an empty string' (''), or that ' '
    # 'Is a directory'.
    _usage_error(f'--config={configs[0]!r} names no config file; give one and its '
                 'presets, e.g. --config=configs/dmc.py:train_eval,debug')
  path = split_config(configs[0])[0] if configs else ''
  if path_lines.line_break_in('--config', path):  # its line was two: 'cannot load the
    # config file /tmp/a' and 'b.py: No such file or directory'
    _usage_error(path_lines.line_break_in('--config', path))
  overrides = _overrides(argv)
  if not configs and overrides:  # absl: "Unknown command line flag 'config.task'"
    _usage_error(f'{overrides[0]} sets a key of a config file, and no --config names one; '
                 'give it first, e.g. --config=configs/dmc.py:train_eval')
  if flag_lines.malformed_config_key(argv):
    _usage_error(flag_lines.malformed_config_key(argv))
  if path_lines.unknown_home_refusal('--config', path):  # 'cannot load ...: No such file'
    _usage_error(path_lines.unknown_home_refusal('--config', path))
  if path and os.path.islink(path) and not os.path.exists(path):  # 'No such file or
    # directory', of a file that is there
    _usage_error(f'cannot load the config file {path}: it is a symbolic link to '
                 f'{os.readlink(path)}, which does not exist or loops')
  meant = _config_file_meant(path)
  if meant:  # said 'cannot load the config file dmc.py: No such file or directory'
    _usage_error(f'cannot load the config file {path}: No such file or directory; did you '
                 f'mean --config={meant}{configs[0][len(path):]}?')
  log_dir = _absl_log_dir(argv)
  if log_dir is not None:  # absl's own flag: the run went to ~/logdir/<time>, no word
    _usage_error(f"--log_dir is absl's folder for its log files, not the run's; give the "
                 f'run directory as --logdir{"=" + log_dir if log_dir else ""}')
  if path.lower().endswith('.json'):  # Python ran it: "raised NameError: name 'true' ..."
    _usage_error(f"--config={path} is a JSON file (a run's saved config.json?); --config "
                 'takes a Python config file with get_config(), e.g. configs/dmc.py, and '
                 "a run's own config.json is what resuming its --logdir reads")
  try:
    rest = flags.FLAGS(argv)
  except BrokenPipeError as e:
    if flag_lines.help_reader_gone(e, argv):  # `--help | head`: it read what it wanted
      sys.exit(0)
    raise
  except (SystemExit, KeyboardInterrupt) as e:
    if flag_lines.help_shown(e, argv):  # absl's exit code 1 after the help it printed
      sys.exit(0)
    if not (path and _raised_in(e, path)):
      raise  # a real Ctrl-C while starting never gets here
    # sys.exit() in the file ended the program silently with its code, a raised
    # KeyboardInterrupt with a bare traceback.
    code = isinstance(e, SystemExit) and e.code is not None and ' '.join(str(e.code).split())
    code = f': {code}' if code else ''
    _usage_error(f'the config file {path} raised {type(e).__name__}{code} (it must return '
                 'a config from get_config(), not end the program)')
  except Exception as e:  # noqa: BLE001 - every parse error is a user error here
    _usage_error((_LOADED and (_not_a_config_dict(_LOADED[0], argv)
                               or _key_below_a_value(_LOADED[0], argv)))
                 or _one_line(e, argv))
  if len(rest) > 1:  # e.g. config.run.steps=5 without its dashes: never ignored
    _usage_error(flag_lines.stray_argument(rest[1], ', e.g. --config.run.steps=1000'))
  _warn_repeated(argv)
  return rest


def _resumes(config):
  """Whether the run may resume a checkpoint of its logdir (a remote one's are read with
  TensorFlow): what its checkpoint holds decides whether it trains."""
  from dreamerv3_tf import logdir_checks
  if '://' in config.logdir:
    return True
  try:
    return logdir_checks.has_checkpoints(config.logdir)
  except OSError:  # (an unreadable ckpt/: the logdir checks name it)
    return False


def _full_checkpoint_paths(config):
  """run.from_checkpoint and run.resume_from as full paths, as the logdir is made one: an
  env in this process that changes the working directory (os.chdir to its assets) made
  relative ones name nothing ('Checkpoint run/ckpt is missing'). A bare 'ckpt-4' names a
  checkpoint in the run's own ckpt/ and stays. run.from_checkpoint of a multi_worker
  run stays as given: its processes compare it as text (distribute.check_same_flags),
  and hosts that start in other folders or mount the storage elsewhere gave the same
  relative one. file:///x is /x: its checks before TensorFlow loads are a local path's
  (they skip URLs: a run's logdir given for its ckpt/ was 'No checkpoint found', exit
  code 1, once TensorFlow had loaded)."""
  with config.unlocked():
    for key in ('from_checkpoint', 'resume_from'):
      value = config.run[key]
      if isinstance(value, str) and value.startswith('file:///'):
        value = config.run[key] = path_lines.local_path(value)
      if not isinstance(value, str) or not value or '://' in value:
        continue
      if key == 'from_checkpoint' and config.distribute == 'multi_worker':
        continue
      path = os.path.expanduser(value)
      if key == 'resume_from' and not os.path.dirname(path):
        continue
      config.run[key] = os.path.abspath(path)


def _with_timestamp(logdir):
  """`logdir` with '{timestamp}' replaced by the time, as the official code does (its
  README's --logdir ~/logdir/dreamer/{timestamp}: a folder of that name, resumed by the
  next run, where each run there gets a new one)."""
  return logdir.replace('{timestamp}', datetime.datetime.now().strftime('%Y%m%dT%H%M%S'))


def _absl_log_dir(argv):
  """The value of a --log_dir flag in `argv` ('' if none follows), else None. absl
  defines it for its log files, which this program never writes: --log_dir=DIR (as
  Keras' TensorBoard calls its folder) started a run in ~/logdir/<time> instead."""
  for i, arg in enumerate(argv[1:], 1):
    if arg == '--':
      return None
    name, eq, value = arg.partition('=')
    if name in ('--log_dir', '-log_dir'):
      return value if eq else (argv[i + 1] if i + 1 < len(argv) else '')
  return None


def split_config(spec):
  """(file, ':' or '', presets) of a --config value, as str.partition gives them. It is
  cut at its first colon, as ml_collections cuts it, unless that names no file and a
  later colon, or none, does: --config=runs/a:b/cfg.py:debug was 'cannot load the config
  file runs/a'."""
  path, colon, presets = spec.partition(':')
  if colon and not os.path.isfile(os.path.expanduser(path)):
    cuts = [i for i, x in enumerate(spec) if x == ':'][1:] + [len(spec)]
    for cut in cuts:
      if os.path.isfile(os.path.expanduser(spec[:cut])):
        return spec[:cut], spec[cut:cut + 1], spec[cut + 1:]
  return path, colon, presets


def _load_config(path, presets):
  """get_config(presets) of the config file at `path`, locked, as ml_collections' parser
  returns it (its errors worded as that parser words them, which _one_line reads)."""
  import importlib.util
  import traceback
  spec = importlib.util.spec_from_file_location('config_config', path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    config = module.get_config(*([] if presets is None else [presets]))
  except (TypeError, ValueError) as e:  # (absl rewords these; ml_collections adds the trace)
    raise type(e)('Error whilst parsing config file:\n\n' + traceback.format_exc()) from None
  if isinstance(config, ml_collections.ConfigDict):
    config.lock()
  return config


def _warn_repeated(argv):
  """One warning line for each --config.KEY or --logdir given twice with other values
  (the importer's own flags too: it parses with this module), and for --logdir and
  --config.logdir of other values (--logdir wins)."""
  values = flag_lines.given_flags(argv, flags.FLAGS, lambda name: name not in (
      '--config', '--traceback', '--verbose'))  # (--config twice is refused)
  for line in flag_lines.repeated_flag_warnings(values):
    print(line, file=sys.stderr, flush=True)
  flag, key = values.get('--logdir'), values.get('--config.logdir')
  if flag and key and key[-1] != flag[-1]:  # --logdir wins in either order: one ignored
    print(f'Warning: --logdir and --config.logdir are both given ({flag[-1]!r}, '
          f"{key[-1]!r}); --logdir's, {flag[-1]!r}, is used", file=sys.stderr, flush=True)


def _usage_error(text):
  """Exits 2 with the line; under --traceback (or its variable) an error that raised
  shows its traceback first, as every later error does: absl sets the flag only after
  the flags parsed, so an unknown key's or a bad value's was never shown."""
  if sys.exc_info()[1] is not None and _traceback_asked(_ARGS or sys.argv):
    import traceback
    traceback.print_exc()
  print(f'Config error: {text}', file=sys.stderr)
  sys.exit(2)


def _traceback_asked(argv):
  """Whether the environment's variable or --traceback in `argv` asks for tracebacks
  (the last of --traceback, --traceback=BOOL and --notraceback wins, as in absl)."""
  asked = False
  for arg in argv[1:]:
    if arg == '--':
      break
    name, given, value = arg.lstrip('-').partition('=')
    if arg.startswith('-') and name == 'traceback':
      asked = not given or value.strip().lower() in ('true', 't', '1')
    elif arg.startswith('-') and name == 'notraceback' and not given:
      asked = False
  return asked or errors.wants_traceback()


def _one_line(error, argv=()):
  text = str(error).replace('\\n', '\n').replace("\\'", "'")
  missing = re.search(r'Attempted \[[^]]*\]:\s*(\S+)\s*\[Errno \d+\] ([^:]+)', text)
  if missing:  # ml_collections lists every path it tried
    return f'cannot load the config file {missing.group(1)}: {missing.group(2)}'
  unreadable = re.search(r"\[Errno \d+\] ([^:]+): '([^']*)'", text)
  if unreadable:  # e.g. a directory
    return f'cannot load the config file {unreadable.group(2)}: {unreadable.group(1)}'
  group = re.match(r'flag (--config\.([\w.]+)=(.*?)): Failed to parse .* as a ConfigDict',
                   text, re.S)
  if group:  # ml_collections' own line shows an ast node's memory address
    flag, key, value = group.groups()
    if key == 'env.py':  # the env's own kwargs: any value, as 'env.py.KEY' is unknown
      # ('length=5', '' were told to set its keys one by one, which is refused)
      return (f"flag {flag}: {key} takes a Python dict literal, e.g. --config.{key}="
              f"'{{\"length\": 5}}', and {value!r} is not one")
    if value.lstrip().startswith('{'):  # its example was env.py's '{"length": 5}'
      return (f'flag {flag}: {value!r} is not a Python dict literal; set the keys of '
              f'{key} one by one, e.g. --config.{key}.KEY=VALUE')
    return (f'flag {flag}: {key} is a group of keys, not one value; '
            f'set its keys one by one, e.g. --config.{key}.KEY=VALUE')
  digits = re.match(r'flag --config\.([\w.]+)=.*: Exceeds the limit \(\d+ digits\) for '
                    r'integer string conversion(?:: value has (\d+) digits)?', text, re.S)
  if digits:  # all its digits, then "use sys.set_int_max_str_digits()", a Python call
    many = f'of {digits.group(2)} digits ' if digits.group(2) else ''
    return (f'flag --config.{digits.group(1)}: its value {many}is beyond a 64-bit integer '
            '(< 2**63)')
  integer = re.match(r"flag (--config\.([\w.]+)=(.*?)): invalid literal for int\(\) with "
                     r"base 10: ", text, re.S)
  if integer:  # e.g. run.steps=1e6, as papers write step counts
    flag, key, value = integer.groups()
    try:
      number = float(value)
    except ValueError:
      number = None
    # Only where the float is the integer written (1e30 suggested 10000...19884624838656).
    hint = (f'; write {int(number)}' if number is not None and abs(number) < 2 ** 53
            and number == int(number) else '')
    return f'flag {flag}: {key} takes an integer{hint}'
  number = re.match(r'flag (--config\.([\w.]+)=.*?): could not convert string to float',
                    text, re.S)
  if number:  # e.g. an empty value: "could not convert string to float: ''"
    return f'flag {number.group(1)}: {number.group(2)} takes a number'
  boolean = flag_lines.boolean_flag_refusal(text) or flag_lines.missing_flags_refusal(text)
  if boolean:
    return boolean
  lines = [x.strip() for x in text.splitlines() if x.strip()]
  path = _config_path(argv)
  if path and 'cannot contain null bytes' in text:  # Python's compile; named no file
    return (f'the config file {path} is no Python source (it holds null bytes: a binary '
            'file?); give a config file such as configs/dmc.py')
  presets = _presets_refusal(text, path, argv)
  if presets:
    return presets
  if any(x.startswith('Traceback') for x in lines):
    lines = lines[-1:]  # a config file raised: its own message is the last line
    if path and not _is_ours(path):  # ours say what is wrong (e.g. an unknown preset)
      return f'the config file {path} raised {lines[0]}'
  elif "has no attribute 'get_config'" in text:
    return f'the config file {path} has no get_config() function'
  elif 'FrozenConfigDict is immutable' in text and path:  # (its lock(), named no file)
    return (f'get_config() of the config file {path} returned a FrozenConfigDict; return '
            'a ConfigDict, which --config.KEY=VALUE can change')
  elif path and _raised_in(error, path):  # while its module ran (not a flag's error)
    where = f' (line {error.lineno})' if isinstance(error, SyntaxError) and error.lineno else ''
    message = error.msg if isinstance(error, SyntaxError) else errors.one_line(error)
    return f'the config file {path} raised {type(error).__name__}{where}: {message}'
  text = re.sub(r'^\w+(Error|Exception): ', '', ' '.join(lines))
  if len(text) > 1 and text[0] == text[-1] and text[0] in '\'"':
    text = text[1:-1]  # KeyError quotes its key
  match = re.match(r"^'?([\w.]+)'?\s*(Did you mean .*)?$", text)
  if match and (isinstance(error, (AttributeError, KeyError)) or match.group(2)):
    hint = f'; {match.group(2)[0].lower()}{match.group(2)[1:]}' if match.group(2) else ''
    key = _key_path(match.group(1), argv)
    if key.startswith('env.py.'):  # its keys are the env's own: one dict sets them
      name = key[len('env.py.'):]
      hint = (f"; env.py takes your env's arguments as one Python dict literal, e.g. "
              f"--config.env.py='{{\"{name}\": VALUE}}'")
    # ml_collections' own hint ('resize': did you mean "size") named no option of the env.
    from dreamerv3_tf import configuration  # (no TensorFlow)
    hint = configuration.env_flag_hint(key) or hint
    text = f'unknown config key {key!r}{hint}'
  return text


def _not_a_config_dict(config, argv):
  """The line for a get_config() that returned `config`, no ConfigDict, else None."""
  # (ml_collections' _ErrorConfig stands in for a file that failed to load.)
  if isinstance(config, ml_collections.ConfigDict) or type(config).__name__ == '_ErrorConfig':
    return None
  what = 'None (no return statement?)' if config is None else type(config).__name__
  return (f'get_config() of the config file {_config_path(argv)} returned {what}, not a '
          'ConfigDict')


def _key_below_a_value(config, argv):
  """The line for a --config.KEY of `argv` below a key of `config` that holds one value
  (--config.run.steps.x=1, or an index into it: run.steps[0]), else None.
  ml_collections' own lines named no key ('string indices must be integers, not 'str''
  of task.a.b) or Python's types ("Attribute <class 'int'>.x does not exist and the type
  does not support indexing ...")."""
  if not isinstance(config, ml_collections.ConfigDict):  # a file that failed to load: a
    return None  # look at a key raised its error again, a traceback
  for flag in _overrides(argv):
    parts = flag[len('--config.'):].split('.')
    node = config
    for i, part in enumerate(parts):
      # (run.steps[0]: an index, which said "0 is not a valid index for <class 'int'> ...")
      name, indexed = part.split('[', 1)[0], '[' in part
      if (i == len(parts) - 1 and not indexed) or name not in node:  # unknown: its own line
        break
      node = node[name]
      index = part[len(name) + 1:].split(']')[0]
      if indexed and isinstance(node, (ml_collections.ConfigDict, dict)):
        if index[:1] in ('"', "'") and index[1:-1] in node:  # run['steps']: ml_collections'
          break
        dotted = '.'.join([*parts[:i], name])  # (run[0] said "unknown config key '0'")
        return (f"unknown config key {'.'.join(parts[:i + 1])!r}: {dotted} is a group of "
                f"keys, named {dotted}.KEY (or {dotted}['KEY'])")
      if not isinstance(node, (ml_collections.ConfigDict, dict)):
        return (f"unknown config key {'.'.join(parts[:i + 1 + (not indexed)])!r}: "
                f"{'.'.join([*parts[:i], name])} is one value ({node!r}), not a group of keys")
  return None


def _presets_refusal(text, path, argv):
  """The line for a config file called with presets its get_config() does not take, or
  without those it needs (a TypeError at ml_collections' call, not inside the file):
  'get_config() takes 0 positional arguments but 1 was given' named no file for ours
  (configs/base.py:debug)."""
  call = re.search(r"TypeError: get_config\(\) (takes 0 positional arguments but 1 was "
                   r"given|missing 1 required positional argument: '(\w+)')\s*$", text)
  if not (call and path) or re.search(
      r'File "[^"]*' + re.escape(os.path.basename(path)) + '"', text):
    return None  # raised inside the file, by a call of its own
  if call.group(2):
    return (f'the config file {path} needs presets (its get_config() has no default for '
            f'{call.group(2)!r}), and --config gives none; give them after a colon, '
            f'--config={path}:PRESETS')
  given = split_config(_config_values(_expanded(argv))[0])[2]
  line = (f'the config file {path} takes no presets (its get_config() has no parameter), '
          f'and --config gives {given!r}')
  if _is_ours(path):  # configs/base.py: the defaults
    return (f'{line}; {path} holds the defaults, and the suite files their presets, e.g. '
            '--config=configs/dmc.py:debug')
  return f'{line}; drop them: --config={path}'


def _overrides(argv):
  """The --config.KEY flags of `argv` ('--config.run.envs' of '--config.run.envs=8' or
  '--config.run.envs 8'; of '-config.run.envs=8' too, as absl takes one dash), in order."""
  return ['--' + x.lstrip('-').split('=', 1)[0] for x in argv[1:]
          if x.startswith(('--config.', '-config.'))]


def _config_values(argv):
  """The values of every --config flag in `argv` ('--config=X' or '--config X'; absl
  takes '-config' too: its overrides were refused as given without a --config)."""
  return [_with_home(x).split('=', 1)[1] if '=' in x else next_arg
          for x, next_arg in zip(argv[1:], [*argv[2:], ''])
          if x in ('--config', '-config') or x.startswith(('--config=', '-config='))]


def _with_home(arg):
  """`arg` with the ~ of a '--config=~/x.py' expanded where that names a file: a shell
  expands ~ after '=' only in assignments, and ml_collections read it as a folder named
  '~' ('cannot load the config file ~/x.py: No such file or directory'), where --logdir's
  is expanded."""
  flag, eq, value = arg.partition('=')
  if not (eq and flag in ('--config', '-config') and value.startswith('~')):
    return arg
  path, colon, presets = split_config(value)
  if not os.path.isfile(os.path.expanduser(path)):  # (left as given: its line names it)
    return arg
  return f'{flag}={os.path.expanduser(path)}{colon}{presets}'


def _config_bools():
  """The dotted config keys of configs/base.py that are booleans (a --config.KEY of
  them takes no value), or None if the configs package cannot be imported."""
  try:
    from configs import base as base_config
  except ImportError:
    return None

  def walk(tree, prefix):
    for key, value in tree.items():
      if isinstance(value, dict):
        yield from walk(value, f'{prefix}{key}.')
      elif isinstance(value, bool):
        yield prefix + key
  return set(walk(base_config.get_config().to_dict(), ''))


def _config_file_meant(path):
  """The existing config file a missing `path` likely meant (dmc.py, configs/dmc: of
  configs/ or without .py; configs/dmc.py run from outside the checkout: its own), or
  None."""
  if not path or os.path.exists(path):
    return None
  # The checkout's, or with `pip install .` the installed configs package's parent.
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for candidate in (path, path + '.py', os.path.join('configs', path),
                    os.path.join('configs', path + '.py')):
    candidate = _in_its_case(candidate)  # configs/Gym.py, DMC.py: no hint
    if os.path.isfile(candidate):
      return candidate
    theirs = _in_its_case(os.path.join(here, candidate))
    if os.path.isfile(theirs) and candidate.startswith('configs'):
      return theirs
  return None


def _in_its_case(path):
  """`path` with its file name as its directory spells it, if only its case differs
  (one match), else `path`."""
  folder, name = os.path.split(path)
  try:
    same = [x for x in os.listdir(folder or '.') if x.lower() == name.lower()]
  except OSError:
    return path
  return os.path.join(folder, same[0]) if len(same) == 1 else path


def _expanded(argv):
  """`argv` with the lines of its --flagfile files in their place, as absl reads them."""
  try:
    return flags.FLAGS.read_flags_from_files(argv, force_gnu=False)
  except Exception:  # noqa: BLE001 - unreadable: refused at import (flagfile_refusal)
    return list(argv)


def _config_path(argv):
  """The file of the --config flag in `argv` (its presets cut off), or None."""
  values = _config_values(_expanded(argv))  # ('None' for a --config in a --flagfile)
  return (split_config(values[0])[0] or None) if values else None


def _raised_in(error, path):
  """Whether `error` came from the code of the file at `path` (or is its syntax error)."""
  import traceback
  path = os.path.abspath(path)
  if isinstance(error, SyntaxError) and error.filename:
    return os.path.abspath(error.filename) == path
  return any(os.path.abspath(frame.filename) == path
             for frame in traceback.extract_tb(error.__traceback__))


def _is_ours(path):
  """Whether `path` is one of the config files that come with this package."""
  ours = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
  return os.path.dirname(os.path.abspath(path)) == ours


def _key_path(key, argv):
  """The dotted path of `key` in the first --config.<path>=... flag that holds it
  ('agent.rsm' for 'rsm' of --config.agent.rsm.deter=3), else `key`."""
  for arg in argv:
    if arg.startswith('--config.'):
      parts = arg[len('--config.'):].split('=', 1)[0].split('.')
      if key in parts:
        return '.'.join(parts[:parts.index(key) + 1])
  return key


def main(argv):
  del argv
  if _TRACEBACK.value:
    os.environ[errors.TRACEBACK_ENV] = '1'  # env workers and the driver read it too
  if not errors.wants_traceback():  # an env's __del__ that raises: one line, not a traceback
    from dreamerv3_tf.core import workers
    sys.unraisablehook = workers.unraisable
    threading.excepthook = workers.thread_exception  # (an env's thread that raises)
  logging.set_verbosity(logging.INFO if _VERBOSE.value else logging.WARNING)
  # Imported here so that flag errors are reported before TensorFlow loads.
  from dreamerv3_tf import cluster_config
  from dreamerv3_tf import config_warnings
  from dreamerv3_tf import configuration
  from dreamerv3_tf import evaluated_policy
  from dreamerv3_tf import logdir_checks
  from dreamerv3_tf import run
  try:
    config = _CONFIG.value
    # (A None returned was taken for no --config: 'Config error: --config is required'.)
    refusal = _LOADED and _not_a_config_dict(_LOADED[0], sys.argv)
    if refusal:
      print(f'Config error: {refusal}', file=sys.stderr)
      sys.exit(2)
    if config is not None:
      config.to_dict()  # the file loads lazily: a missing one fails here
  except Exception as e:  # noqa: BLE001
    errors.fail(f'Config error: {_one_line(e, sys.argv)}', 2)
  if config is None:
    print('Config error: --config is required, e.g. --config=configs/dmc.py:train_eval',
          file=sys.stderr)
    sys.exit(2)
  if _LOGDIR.value is not None and not _LOGDIR.value.strip():
    # e.g. --logdir=$RUN with RUN unset: a new run under ~/logdir would not resume
    print('Config error: --logdir is empty; give a directory (or leave the flag out '
          'for a new one under ~/logdir)', file=sys.stderr)
    sys.exit(2)
  given = _LOGDIR.value or config.get('logdir')
  distribute = config.get('distribute')  # (not checked yet: a config file may lack it)
  if distribute in ('multi_worker', 'tpu') and '{timestamp}' in (given or '{timestamp}'):
    # Without --logdir each worker took its own start's time as well: the workers of a
    # multi_worker run then stopped as started with other flags (logdir=...).
    held = f'--logdir {given} holds {{timestamp}}' if given else (
        'no --logdir is given (the default is ~/logdir/<start time>)')
    print(f'Config error: {held}, and with distribute={distribute} every worker must name '
          "the same folder while each would take its own start's time; give the folder "
          'itself', file=sys.stderr)
    sys.exit(2)
  logdir = _with_timestamp(given or '~/logdir/{timestamp}')
  refusal = path_lines.path_refusal('--logdir', logdir)  # a line break would cut each line
  if refusal:
    print(f'Config error: {refusal}', file=sys.stderr)
    sys.exit(2)
  # file:///x is /x, checked as a local logdir (the checks skip URLs: file://$HOME trained
  # in the home directory, and file:///proc/x failed after TensorFlow loaded), and locked.
  logdir = os.path.expanduser(path_lines.local_path(logdir) or logdir)
  with config.unlocked():
    # A full path: an env in this process that changes the working directory (os.chdir
    # to its assets) sent a relative logdir's later writes elsewhere ('Cannot write
    # run/metrics.jsonl: No such file or directory while starting; nothing was written',
    # with config.json and a checkpoint written).
    config.logdir = logdir if '://' in logdir else os.path.abspath(logdir)
  stop_signals.take_over(_on_signal)
  # A stop waiting for a long XLA call, or to leave TensorFlow's code, says so.
  stop_notice.watch(stop_signals.raised)
  # Out of memory: one line of ours, not the OOM killer's SIGKILL without one.
  memory_watch.watch(lambda: _kept(config))
  try:
    configuration.finalize(config)
    _full_checkpoint_paths(config)
    # Without credentials TensorFlow's first gs:// read asked a metadata server that does
    # not answer 10 times (~10 s); the checks below may be that first read.
    gce_check.prepare([config.logdir, config.run.from_checkpoint, config.run.resume_from,
                       config.xla_cache])
    given = {x[len('--config.'):] for x in _overrides(_expanded(sys.argv))}  # (its files too)
    # A resume's is known once its checkpoint loads (run/train_eval.py).
    for warning in [None if _resumes(config) else
                    config_warnings.untrained_run_warning(config),
                    config_warnings.idle_eval_envs_warning(config),
                    *config_warnings.look_hung_warnings(config),
                    *config_warnings.far_out_warnings(config),
                    *config_warnings.unread_keys_warnings(config, given),
                    config_warnings.other_atari_file_warning(config, _config_path(sys.argv))]:
      if warning:
        print(warning, file=sys.stderr, flush=True)
    cluster_config.check_environment(config)
    # Before the logdir checks: those of a logdir the run cannot write import TensorFlow
    # (logdir_checks.finished), and a TF_XLA_FLAGS it does not know ended the process in
    # that import, exit code 1 without a word.
    check_xla_flags(config.xla_flags)
    if '://' not in config.logdir:  # a local logdir is checked before TensorFlow loads
      logdir_checks.check_logdir(config, config.logdir, config.run.allow_other_config)
      warning = logdir_checks.crowded_logdir_warning(config.logdir)
      if warning:
        print(warning, file=sys.stderr, flush=True)
      # (resume_from first: eval_only's line for it names the from_checkpoint meant, which
      # from_checkpoint's own check, given none, could only ask for)
      logdir_checks.check_resume_from(config)
      logdir_checks.check_from_checkpoint(config)
      # (after it: a path it refuses is named as such, not as another policy)
      evaluated_policy.check_before_loading(config)
      if config.distribute != 'multi_worker':  # (its other workers log in workers/<n>)
        logdir_checks.check_not_in_use(config.logdir)  # another run there: stop now
      warning = logdir_checks.missing_config_warning(config)  # once the run goes on
      if warning:
        print(warning, file=sys.stderr, flush=True)
    warning = use_xla_cache(config.xla_cache)
    if warning:  # the run goes on: the cache only saves compile time
      print(warning, file=sys.stderr, flush=True)
    use_xla_flags(config.xla_flags)
    # Quiets TensorFlow and says what comes; the run imports it once its envs start.
    # Done once the run's last write is behind it (before its envs close): a stop from
    # then on has nothing left to stop. One in the envs' close ended a run that had
    # written everything with 130; one in the interpreter's shutdown, which puts
    # Python's handlers back to the default, killed it (exit -2).
    run.main(config, startup.start(config, _VERBOSE.value), done=_wrote_everything)
    stop_signals.ignore()  # also after a run that wrote nothing (it had reached run.steps)
  except KeyboardInterrupt as e:
    _interrupted(config, e)
  except Exception as e:  # noqa: BLE001 - every failure ends in one line
    interrupt = interrupt_behind(e) or _signalled()
    if interrupt:  # e.g. a failure that Ctrl-C caused inside a C extension
      _interrupted(config, interrupt)
    # e.g. `| head` ended, or `> log` on a full disk: the run stops, as a program whose
    # output goes nowhere does ('[Errno 32] Broken pipe', '[Errno 28] No space left on
    # device' named neither stdout nor the resume).
    stdout = stop_signals.stdout_failed(_unwrapped(e))
    if stdout:
      _fail(f'{stdout}{_kept(config)}', 1)
    if isinstance(e, base.WriteError):  # midway: what the interrupt lines say is kept
      _fail(f'{describe(e)}{_kept(config)}', 1)
    _fail(f'{describe(e)}{_after_the_end(config)}', base.exit_code(e))


def _unwrapped(error):
  """`error`, or for a UserError the OSError naming no file that a WriteError wraps
  (the logger's progress lines go to stdout, and its writes are all file errors): a
  `| head` that ended mid-run said 'Error: [Errno 32] Broken pipe', a `> log` that
  filled its disk '[Errno 28] No space left on device', naming no stream."""
  if not isinstance(error, base.UserError):
    return error
  cause = error.__cause__
  if isinstance(error, base.WriteError) and isinstance(cause, OSError) and not cause.filename:
    return cause
  return None


# Set once the run has written everything (run/common.when_done), before its envs close.
_WROTE_EVERYTHING = []


def _wrote_everything():
  _WROTE_EVERYTHING.append(True)
  stop_signals.ignore()  # a stop from then on has nothing left to stop


def _after_the_end(config):
  """The end of the line of a failure after the run's last write: an env whose close()
  raised was named alone, and the run seemed to have failed midway."""
  if not _WROTE_EVERYTHING:
    return ''
  return f' (after the run had ended: everything it did is saved in {config.logdir})'


def _interrupted(config, interrupt):
  word, code = stop_signals.word_and_code(interrupt)
  _fail(f'{word}{_kept(config)}', code)


def _kept(config):
  """What a run stopped midway leaves: the end of its one line."""
  if '://' not in config.logdir and not os.path.exists(config.logdir):
    # A new logdir is made only once every check passed (envs, TensorFlow, checkpoints):
    # it held no checkpoints to keep or resume from.
    return ' while starting; nothing was written'
  if config.script == 'eval_only':  # it saves no checkpoints: its episodes are its output
    from dreamerv3_tf import logdir_checks
    logs = [os.path.join(config.logdir, x)  # (policy.json: written before any episode)
            for x in logdir_checks.RUN_ENTRIES - {'config.json', 'policy.json'}]
    if '://' not in config.logdir and not any(os.path.exists(x) for x in logs):
      # Its config.json, its first write, failed (a full disk): 'the episodes that ended
      # so far are logged in LOGDIR' named an empty folder.
      return (f'; no episode was logged yet in {config.logdir}, so the same command '
              'evaluates anew from step 0')
    return (f'; the episodes that ended so far are logged in {config.logdir}, and the same '
            'command evaluates anew from step 0, adding its episodes to them')
  ckpt = os.path.join(config.logdir, 'ckpt')
  if '://' not in ckpt and not glob.glob(os.path.join(glob.escape(ckpt), 'ckpt-*.index')):
    # Stopped before the first save (or in a logdir made beforehand): 'resumes from the
    # latest' named checkpoints that did not exist.
    return f'; no checkpoint was saved yet in {ckpt}, so the same command starts the run anew'
  return ('; checkpoints saved so far are kept, and the same command resumes from the '
          f'latest in {ckpt}')


def interrupt_behind(error):
  """The Ctrl-C or SIGTERM that `error` was raised while handling, or from, if any.

  A signal can land inside a C extension that turns it into another exception
  (SystemError "returned a result with an exception set") or in a `finally` whose
  cleanup then fails: the user still stopped the run."""
  return stop_signals.behind(error, KeyboardInterrupt)


# The signals that stopped this run, in the order they came.
_SIGNALS = []


def _on_signal(signum, frame):
  _SIGNALS.append(stop_signals.first_arrived(signum))
  stop_signals.stop(signum, frame)


def _signalled():
  """The first stop signal as the exception it raised (None if none came): a failure
  after it reports the stop, e.g. one that pybind11 made of a Ctrl-C landing in a
  checkpoint read ("error_already_set: ... REPLACED BY KeyboardInterrupt")."""
  if not _SIGNALS:
    return None
  return stop_signals.exception(_SIGNALS[0])


describe = errors.describe  # the one line that reports an error


_fail = errors.fail


def use_xla_cache(directory):
  """Persists compiled XLA programs, so a second start skips most compiling.

  Must run before TensorFlow initialises XLA (it reads TF_XLA_FLAGS once). Cache
  hits need the same traced function names, which a run's fixed tracing order gives.
  Returns a warning line where the cache cannot be used as asked, else None: the run
  goes on without it (a file of its name) or only reads it (a full disk, a read-only
  one), as it saves compile time only.
  """
  flags_now = os.environ.get('TF_XLA_FLAGS', '')
  if not directory or 'tf_xla_persistent_cache_directory' in flags_now:
    return None
  if 'tensorflow' in sys.modules:
    # Too late to take effect. As main, only the checks of a finished run in a logdir it
    # cannot write import it first (logdir_checks.finished), and that run ends before its
    # first compile: no word of its cache, broken or not, which the next start that
    # compiles checks (and names) here.
    return None
  # A full path: XLA reads it at each compile, after an env may have changed the working
  # directory (os.chdir to its assets), which put a relative cache in the env's folder.
  # A URL (gs://) stays as given: abspath made it '/cwd/gs:/bucket/...'.
  given = directory if '://' in directory else os.path.abspath(os.path.expanduser(directory))
  if '"' in given:  # TF_XLA_FLAGS quotes its values with it: the cache of '/tmp/a "q'
    # went to '/tmp/a ', without its CPU kind's folder
    return (f'Warning: xla_cache={given} holds \'"\', which TF_XLA_FLAGS cannot carry (it '
            "quotes its values with it): this run compiles without it; pass another, or '' "
            'for none')
  # XLA loads a program compiled for CPU features this CPU lacks with a hidden error
  # line only ('Target machine feature +avx512f is not supported on the host machine',
  # under tools/cpuid_mask.c): on an AVX2-only CPU sharing a home directory with an
  # AVX-512 one (a cluster's nodes), such a program ends the run with SIGILL, no line.
  directory = os.path.join(given, cpuinfo.kind_key())
  refusal = None
  if '://' not in given:  # (a URL's folders XLA makes through TensorFlow's file systems:
    # os.makedirs made ./gs:/bucket/xla here, reading '//' as '/')
    try:
      os.makedirs(given, exist_ok=True)  # (named first: a file of that name)
      os.makedirs(directory, exist_ok=True)
    except OSError as e:  # a file of that name, no permission, a full disk, ...
      # It stopped the run ('Config error: xla_cache=... cannot be a directory').
      return (f'Warning: xla_cache={given} cannot be a directory of compiled programs '
              f'({_file_in_the_way(directory) or errors.one_line(e, cause_only=True)}): this '
              "run compiles without it; pass another, or '' for none")
    # XLA writes only after the first compile, and then stopped the run naming a
    # temporary file of its own: a full disk (its HOME), a read-only one.
    refusal = _cache_write_refusal(directory)
    _remove_cut_cache_writes(directory)
  flags = f'--tf_xla_persistent_cache_directory={directory}'
  if any(x.isspace() for x in directory):
    # TensorFlow splits TF_XLA_FLAGS at spaces: the cache of '/tmp/my cache' went to
    # '/tmp/my'. Double quotes keep the path whole.
    flags = f'--tf_xla_persistent_cache_directory="{directory}"'
  if refusal:
    from dreamerv3_tf import tfimport
    flags += f' {tfimport.XLA_CACHE_READ_ONLY}'  # XLA then never writes there
  os.environ['TF_XLA_FLAGS'] = f'{flags_now} {flags}'.strip()
  if refusal:
    return (f'Warning: the XLA cache {directory} cannot store compiled programs ({refusal}): '
            'this run loads those it holds and compiles the rest without storing them; give '
            "it room and write access, or pass another xla_cache ('' for none)")
  return None


def _file_in_the_way(path):
  """'P is a file' for the nearest existing P of `path` and its parents if it is no
  directory, else None: the cause was 'File exists' or 'Not a directory', naming
  neither P nor what it is (a file in the cache folder named as its CPU kind's)."""
  while not os.path.lexists(path) and os.path.dirname(path) != path:
    path = os.path.dirname(path)
  if os.path.islink(path) and not os.path.exists(path):  # (it said 'is a file' of a loop)
    return f'{path} is a symbolic link to {os.readlink(path)}, which does not exist or loops'
  return None if os.path.isdir(path) else f'{path} is a file'


# Free room below which the cache takes no more programs: a size1m run stores 4-6 of
# 0.4-6 MB each, bigger models bigger ones, and one that could not be stored stopped it.
XLA_CACHE_ROOM = 64 * 2 ** 20
_PROBE_BYTES = 4096  # a page: a full disk, a quota, a read-only one refuse it


def _cache_write_refusal(directory):
  """Why `directory` cannot store compiled programs (its error's cause, or how little
  room is left), else None."""
  try:
    with tempfile.TemporaryFile(dir=directory) as probe:
      probe.write(b'\0' * _PROBE_BYTES)
      probe.flush()  # (writes again after a short write, which raises then)
    stat = os.statvfs(directory)
  except OSError as e:
    return errors.one_line(e, cause_only=True)
  free = stat.f_bavail * stat.f_frsize
  if free < XLA_CACHE_ROOM:
    return (f'{free / 2 ** 20:.1f} MiB free on its file system, below the '
            f'{XLA_CACHE_ROOM // 2 ** 20} MiB that compiled programs may take')
  return None


# No write of a compiled program takes this long: an older temporary is a killed one's.
_CUT_WRITE_AGE = 3600


def _remove_cut_cache_writes(directory):
  """Removes the temporaries of compiled programs (PROGRAM.pb<host>-<pid>-<time>.tmp)
  whose writer was killed before its rename: never read, 0.4-6 MB each, they stayed for
  good. Runs sharing the cache write theirs for milliseconds; only old ones go."""
  import time
  try:
    names = os.listdir(directory)
  except OSError:
    return
  for name in names:
    if '.pb' in name and name.endswith('.tmp'):
      path = os.path.join(directory, name)
      try:
        if time.time() - os.path.getmtime(path) > _CUT_WRITE_AGE:
          os.remove(path)
      except OSError:  # gone meanwhile, or not ours to remove: only room is lost
        pass


def check_xla_flags(flags):
  """Raises ConfigError unless XLA accepts `flags` (config.xla_flags) and the
  environment's XLA_FLAGS and TF_XLA_FLAGS (tfimport.check_xla_flags)."""
  from dreamerv3_tf import tfimport
  tfimport.check_xla_flags(flags)


def use_xla_flags(flags):
  """Appends `flags` (config.xla_flags) to XLA_FLAGS; XLA reads it at its first compile.

  E.g. '--xla_cpu_use_fusion_emitters=false' lowers the peak RSS of the size1m
  train step's compile from about 1.45 to 1.3 GB (2.05 unpaced) for updates 14-20%
  slower (BENCHMARKS.md).
  """
  flags = ' '.join(str(flags).split())
  if not flags:
    return
  now = os.environ.get('XLA_FLAGS', '')
  if flags not in now:
    os.environ['XLA_FLAGS'] = f'{now} {flags}'.strip()


def entry():
  try:
    app.run(main, flags_parser=_parse_flags)
  except SystemExit as e:
    # An env's thread that is no daemon, still running, hung the exit for good.
    left = exit_guard.leftovers()
    if left:
      try:
        print(f'Warning: {left}', file=sys.stderr, flush=True)
      except (AttributeError, OSError, ValueError):  # stderr closed (by an env)
        pass
    if left or ('tensorflow' in sys.modules and 'mujoco' in sys.modules):
      exit_before_native_teardown(e.code)
    raise


def exit_before_native_teardown(code):
  """Ends the process as `sys.exit(code)` would, Python's exit handlers included, but
  without the C++ libraries' static destructors.

  MuJoCo rendering through EGL in this process (run.parallel=False) loads Mesa, whose
  LLVM clashes with TensorFlow's at that teardown: after the run had saved everything,
  it crashed ("free(): invalid pointer", exit 134 or 139)."""
  if code is None:
    status = 0
  elif isinstance(code, int):
    status = code
  else:  # sys.exit('message') prints the message and exits 1
    print(code, file=sys.stderr)
    status = 1
  atexit._run_exitfuncs()  # noqa: SLF001 - what the interpreter runs at exit
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except (AttributeError, OSError, ValueError):  # closed (None) or a closed pipe
      pass
  os._exit(status)


def use_fast_malloc():
  """Starts this program again with jemalloc or TCMalloc preloaded, if installed
  (allocator.py; DREAMERV3_TF_MALLOC=system keeps glibc's malloc)."""
  # A stop signal while the new start's interpreter loads, before the handlers at the
  # top of this module, would end it without a word: it is held (blocked, which exec
  # keeps) until they are in place there, or here if there is no new start.
  held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
  try:
    allocator.reexec()
  except allocator.Error as e:
    print(f'Config error: {e}', file=sys.stderr)
    sys.exit(2)
  finally:
    signal.pthread_sigmask(signal.SIG_SETMASK, held)


if __name__ == '__main__':
  use_fast_malloc()  # first: before a flag is read or a file touched
  entry()
