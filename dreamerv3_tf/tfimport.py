"""Imports TensorFlow with Python's garbage collector paused.

`import tensorflow` makes about 370K objects (modules, op wrappers, protobuf
descriptors, Keras) that live as long as the process. With the collector on, its
collections scan them again and again while the import runs: the import took 3.4-4.3 s
with it and 2.5-2.9 s without (BENCHMARKS.md, session 9). The import leaves almost
no garbage: a full collection right after it freed 4,446 objects of 369,224.

Keras, which the import loads, also imports matplotlib's pyplot when it is installed, for
its image-gallery helpers: 0.4-0.5 s of every start (session 10); and IPython when it is
installed, to tell whether it runs in a notebook: 0.37 s on average (session 18). A program
that owns its process hides both for that moment; Keras guards those imports and goes on
without them, and they import as usual afterwards.

XLA's CPU copy insertion is told to use region analysis (`XLA_DEFAULTS`): the backward
of a scan zeroes one step of its gradient lists per iteration in place, and without it
XLA copies each whole list twice around that update, 64 times per size1m update. With
it 6 of the 16 large copies go, updates take 4-5% less time, and the results are the
same bit for bit (BENCHMARKS.md, session 15). A flag the user sets in XLA_FLAGS wins.
"""

import gc
import json
import os
import re
import sys

XLA_DEFAULTS = ('--xla_cpu_copy_insertion_use_region_analysis=true',)
# TensorFlow's CPU allocator is its BFC pool where oneDNN is on by default (CPUs with
# AVX-512 VNNI, BF16 or AMX) and malloc elsewhere. XLA takes each compiled step's buffer
# table from it (about 530 MB at size1m), so on AVX2-only CPUs every update allocated and
# freed it anew: 0.394 s per size1m update against 0.329 from the pool (capped to AVX2 on a
# Zen 4), with the same results bit for bit (BENCHMARKS.md, session 33). The user's wins.
ENV_DEFAULTS = {'TF_CPU_ALLOCATOR_USE_BFC': '1'}
# The XLA_FLAGS and TF_XLA_FLAGS (`flags_of_environment`) that a check of them
# (`check_xla_flags`, a child process: seconds) found XLA accepts. Whoever checked
# them sets it: the test suite marks its own, so its many starts of `main` skip that.
CHECKED_ENV = 'DREAMERV3_TF_XLA_FLAGS_CHECKED'
# Packages Keras imports if it can, which a program that owns its process never uses.
HIDDEN = ('matplotlib', 'IPython')
# Keras runs on one backend per process, chosen at its import by KERAS_BACKEND or
# ~/.keras/keras.json; our layers hold TensorFlow's variables and ops. A user's jax or
# torch there stopped every command with "Error: No module named 'jax'" (or built the
# layers on jax where it is installed).
KERAS_BACKEND = 'tensorflow'


def is_flag_file(value):
  """Whether XLA reads `value` (of XLA_FLAGS or TF_XLA_FLAGS) as the name of a file
  of flags: it does when the value does not start with --."""
  return bool(value.strip()) and not value.strip().startswith('--')


def flags_of_environment(environ=os.environ):
  """The XLA_FLAGS and TF_XLA_FLAGS of `environ`, as CHECKED_ENV holds them."""
  return json.dumps([environ.get('XLA_FLAGS', ''), environ.get('TF_XLA_FLAGS', '')])


def xla_cache_directory(environ=os.environ):
  """The directory of compiled programs TF_XLA_FLAGS names (main.use_xla_cache sets
  it from config.xla_cache), or None."""
  match = re.search(r'--tf_xla_persistent_cache_directory=("[^"]*"|\S+)',
                    environ.get('TF_XLA_FLAGS', ''))
  return match.group(1).strip('"') if match else None


# In TF_XLA_FLAGS: XLA reads the cache and never writes to it (main.use_xla_cache sets it
# where the cache cannot store programs).
XLA_CACHE_READ_ONLY = '--tf_xla_persistent_cache_read_only=true'


def xla_cache_stores(environ=os.environ):
  """Whether XLA stores the programs it compiles: TF_XLA_FLAGS names a cache that it
  does not make read-only."""
  flags = environ.get('TF_XLA_FLAGS', '').split()
  return xla_cache_directory(environ) is not None and XLA_CACHE_READ_ONLY not in flags


# TensorFlow's thread counts of the environment, read as it makes its CPU device (at the
# first op): TF_NUM_INTRAOP_THREADS=-1 ended the process there ('Check failed: num_threads
# >= 1' and a C++ stack trace, exit 134), and 100000 of either hung starting that many
# threads under a process limit. Above this many is no count of cores.
MAX_THREADS = 4096


# TensorFlow's switches of the environment that it reads as true or false, and ends the
# process on anything else: TF_DETERMINISTIC_OPS=yes (or set empty) aborted at the first
# XLA compile ('Check failed: tsl::ReadBoolFromEnvVar', a C++ stack trace, exit 134),
# after the logdir was written.
BOOL_ENV = ('TF_DETERMINISTIC_OPS',)


def check_tf_env(environ=os.environ):
  """Raises ConfigError naming the first variable of the environment whose value
  TensorFlow would end the process on (or hang on): its thread counts and switches."""
  from dreamerv3_tf import configuration
  for name in BOOL_ENV:
    if name in environ and environ[name].lower() not in ('0', '1', 'true', 'false'):
      raise configuration.ConfigError(
          f'{name}={environ[name]!r}: TensorFlow takes 1, 0, true or false, and ends the '
          'process at its first compile on anything else; set one, or unset it')
  _check_thread_env(environ)
  _check_temp_dir()
  _check_thread_room()
  _check_address_space()


# The address space a run's process maps at its peak (TensorFlow's libraries, its thread
# pools' stacks, XLA's compile; VmPeak 2.3 GB for gym's and dmc's debug configs): under
# `ulimit -v` below it the run stopped with 'Error: ImportError: libtensorflow_cc.so.2:
# failed to map segment from shared object (unexpected ...)' at 1 GB, 'Env error: ...
# train env 0 failed to start: MemoryError' at 1.5, a segfault at 2 (2.5 ran).
ADDRESS_SPACE_BYTES = 5 * 2 ** 29  # 2.5 GiB


def _check_address_space():
  """TensorFlow must be able to map its libraries and threads: ConfigError if the
  soft RLIMIT_AS (`ulimit -v`) is below ADDRESS_SPACE_BYTES."""
  import resource
  from dreamerv3_tf import configuration
  soft = resource.getrlimit(resource.RLIMIT_AS)[0]
  if soft != resource.RLIM_INFINITY and soft < ADDRESS_SPACE_BYTES:
    raise configuration.ConfigError(
        f'ulimit -v {soft // 1024} lets this process map {soft / 2 ** 30:.1f} GiB of address '
        f'space, and TensorFlow maps about {ADDRESS_SPACE_BYTES / 2 ** 30:.1f} GiB as it loads '
        'and compiles (its libraries and thread stacks; more for bigger models); raise it, '
        'e.g. ulimit -v unlimited')


def _check_thread_room():
  """TensorFlow must be able to start its threads: under a low `ulimit -u` (or a
  cgroup's pids.max) a run of gym's config (its envs in this process) aborted at its
  first compile, 'Check failed: ret == 0 (11 vs. 0) Thread tf_XLAEigen creation via
  pthread_create() failed', a C++ stack trace and exit code 134."""
  from dreamerv3_tf import configuration
  from dreamerv3_tf.envs import memory  # numpy-free; reads /proc
  room, threads = memory.process_room(), memory.tensorflow_threads()
  if room is not None and threads > room[0]:
    raise configuration.ConfigError(
        f'TensorFlow starts about {threads} more threads in this process, more than the '
        f'{room[0]} processes it may still start ({room[1]}); raise the limit, or run on '
        'fewer CPUs (TensorFlow sizes its thread pools by them: taskset -c 0 ...)')


def _check_temp_dir():
  """TensorFlow's import needs a writable temporary directory (absl's test module,
  which it imports, asks for one): where none is (a container whose root, /tmp too,
  is read-only), every command stopped with 'Error: [Errno 2] No usable temporary
  directory found in [...]', naming neither TMPDIR nor TensorFlow."""
  import tempfile
  from dreamerv3_tf import configuration
  if tempfile.tempdir is not None:  # found before (or set): Python keeps it
    return
  try:
    tempfile.gettempdir()
  except OSError as e:
    where = str(e.strerror or e).rpartition(' found in ')[2]  # TMPDIR's first, if set
    raise configuration.ConfigError(
        f'no temporary directory is writable (Python tried {where}), and '
        'TensorFlow needs one as it loads; set TMPDIR to a writable directory') from e


def _check_thread_env(environ):
  """check_tf_env's part for TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS.
  TensorFlow reads each as a 32-bit integer and ignores one that is not (as it does
  0: its own choice); a negative interop count is ignored too."""
  from dreamerv3_tf import configuration
  for name, least in (('TF_NUM_INTRAOP_THREADS', 0), ('TF_NUM_INTEROP_THREADS', None)):
    text = environ.get(name, '')
    if not re.fullmatch(r'\s*[+-]?[0-9]+\s*', text) or not -2 ** 31 <= int(text) < 2 ** 31:
      if text.strip():  # ignored without a word: the user's setting had no effect
        print(f'Warning: {name}={text!r} is no whole number that TensorFlow can read; it '
              'ignores it and picks its own count of threads', file=sys.stderr, flush=True)
      continue
    value = int(text)
    if least is not None and value < least:
      raise configuration.ConfigError(
          f'{name}={text}: TensorFlow takes a count of threads (0: its own choice) and ends '
          'the process at its first op on a negative one; set a count, or unset it')
    if value > MAX_THREADS:
      raise configuration.ConfigError(
          f'{name}={text}: TensorFlow would start that many threads at its first op (more '
          f'than {MAX_THREADS}, no count of cores); set a count up to the cores you have, or '
          'unset it')


def check_xla_flags(flags='', names=('XLA_FLAGS', 'TF_XLA_FLAGS'),
                    outcome='XLA would stop the run at its first compile'):
  """Raises ConfigError unless XLA accepts `flags` (config.xla_flags) and the
  XLA_FLAGS and TF_XLA_FLAGS of the environment.

  XLA reads them at its first compile, after the logdir was written, and a flag it
  does not know ends the process there: with a line that names no config key, or
  with its list of all its flags (some 90 lines) for a value it cannot parse; a bad
  TF_XLA_FLAGS ended it while TensorFlow's import hid stderr, without a word. So a
  child process has XLA parse them first, unless none is set or the environment's
  passed before (CHECKED_ENV): XLA's parse alone (`_parse_xla_flags`, a tenth of a
  second) where TF_XLA_FLAGS needs no check, else a compile after TensorFlow's import
  (seconds).

  names: the variables of the environment to check (the others are left out of the
  child); outcome: what they would do, the end of the message.
  """
  from dreamerv3_tf import configuration
  flags = ' '.join(str(flags).split())
  loose = [x for x in flags.split() if not x.startswith('--')]
  if loose:  # XLA took it for a file of flags when first, else ignored it
    raise configuration.ConfigError(
        f"xla_flags={flags!r}: {loose[0]} does not start with --; XLA's flags look like "
        '--xla_cpu_use_fusion_emitters=false')
  user = {k: os.environ[k] for k in names if os.environ.get(k)}
  if 'XLA_FLAGS' in names:
    _check_dump_folder(flags, user.get('XLA_FLAGS', ''))
  if set(user.get('XLA_FLAGS', '').split()) <= set(XLA_DEFAULTS):
    user.pop('XLA_FLAGS', None)  # only ours: a parent process loaded the agent
  if flags and is_flag_file(user.get('XLA_FLAGS', '')):
    raise configuration.ConfigError(
        f"xla_flags={flags!r}: XLA_FLAGS names a file of flags "
        f"({user['XLA_FLAGS'].strip()}), and XLA then reads no others; put them in that file")
  if not flags and (not user or os.environ.get(CHECKED_ENV) == flags_of_environment()):
    return
  env = {k: v for k, v in os.environ.items() if k not in ('XLA_FLAGS', 'TF_XLA_FLAGS')}
  env.update(user, TF_CPP_MIN_LOG_LEVEL='3',
             XLA_FLAGS=f'{user.get("XLA_FLAGS", "")} {flags}'.strip())
  result = None
  if 'TF_XLA_FLAGS' not in user or _tf_xla_flags_checked():
    result = _parse_xla_flags(env)  # None: no library to ask here
  if result is None or (result.returncode != 0 and not _is_flag_error(result.stderr)):
    result = _compile_with_flags(env)  # (also where the parse failed otherwise: no symbol)
  if result.returncode == 0:
    return
  text = result.stderr
  unknown = re.search(_UNKNOWN_FLAG, text)
  no_file = re.search(_NO_FLAG_FILE, text)
  usage = re.search(r'^usage: (.*)$', text, re.M)  # what XLA failed to parse
  if unknown:
    var, flag = unknown.groups()
    reason = f"{'TensorFlow' if var == 'TF_XLA_FLAGS' else 'XLA'} has no flag {flag}"
    named = ['xla_flags'] if var == 'XLA_FLAGS' and flag in flags.split() else [var]
  elif no_file:
    reason = ('XLA reads a value that does not start with -- as a file of flags, and '
              f'cannot open {no_file.group(1)}')
    named = [no_file.group(2)]
  elif _BAD_VALUE in text:
    reason = 'XLA cannot parse a value of them'
    tf_flags = user.get('TF_XLA_FLAGS', '').strip()
    if tf_flags and usage and usage.group(1).strip() == tf_flags:
      named = ['TF_XLA_FLAGS']
    else:  # either could hold it
      named = [k for k, v in (('XLA_FLAGS', user.get('XLA_FLAGS', '').strip()),
                              ('xla_flags', flags)) if v]
  else:  # not XLA's flags (memory, a signal): the run itself shows it
    return
  values = dict(user, xla_flags=flags)
  raise configuration.ConfigError(
      f"{', '.join(f'{k}={values.get(k, str())!r}' for k in named)}: {reason}; {outcome}")


# XLA parses XLA_FLAGS once, where a program first asks for its options: in a child that
# loads TensorFlow's framework library alone and asks (0.12 s of CPU), not in one that
# imports TensorFlow and compiles (2.5 s). The options come back through a pointer to
# memory the caller provides, as x86-64's C++ ABI returns a class; the child exits without
# freeing them. It reads no TF_XLA_FLAGS (TensorFlow parses those as it imports).
_XLA_OPTIONS_SYMBOL = '_ZN3xla24GetDebugOptionsFromFlagsEv'  # xla::GetDebugOptionsFromFlags()
_PARSE_CODE = (
    'import ctypes, os, sys\n'
    'parse = getattr(ctypes.CDLL(sys.argv[1]), sys.argv[2])\n'
    'parse.restype, parse.argtypes = None, [ctypes.c_void_p]\n'
    'parse(ctypes.create_string_buffer(1 << 20))\n'  # (the options take a few KB)
    'os._exit(0)\n')


def _tf_xla_flags_checked():
  """Whether the environment's TF_XLA_FLAGS are those a check passed (CHECKED_ENV)."""
  try:
    checked = json.loads(os.environ.get(CHECKED_ENV, ''))
  except ValueError:
    return False
  return (isinstance(checked, list) and len(checked) == 2
          and checked[1] == os.environ.get('TF_XLA_FLAGS', ''))


def _framework_library():
  """TensorFlow's framework library, or None: in the package an import would find first
  on sys.path, looked up without importing anything."""
  import platform
  if sys.platform != 'linux' or platform.machine() != 'x86_64':  # (the ABI above)
    return None
  for folder in sys.path:
    package = os.path.join(folder or os.curdir, 'tensorflow')
    if os.path.isfile(os.path.join(package, '__init__.py')):
      path = os.path.join(package, 'libtensorflow_framework.so.2')
      return path if os.path.isfile(path) else None
  return None


def _parse_xla_flags(env):
  """XLA's parse of env's XLA_FLAGS in a child -> its CompletedProcess (one that failed
  without XLA's lines where the symbol is not found), or None where TensorFlow's
  framework library is not."""
  import subprocess
  library = _framework_library()
  if library is None:
    return None
  return subprocess.run([sys.executable, '-c', _PARSE_CODE, library, _XLA_OPTIONS_SYMBOL],
                        env=env, capture_output=True, text=True, check=False)


def _compile_with_flags(env):
  """A child that imports TensorFlow and compiles once with env's flags -> its
  CompletedProcess."""
  import subprocess
  # Imported as `load` does (collector paused, no matplotlib or IPython for Keras): the
  # check took 2.7 s of CPU instead of 4.2.
  code = (f'import gc, sys; gc.disable(); sys.modules.update(dict.fromkeys({HIDDEN!r})); '
          'import tensorflow as tf; '
          'tf.function(lambda: tf.constant(1.0) + 1, jit_compile=True)()')
  return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                        text=True, check=False)


# XLA's lines for a flag it does not know, a file of flags it cannot open, and a value it
# cannot parse.
_UNKNOWN_FLAG = r'Unknown flag in (\w+): (\S+)'
_NO_FLAG_FILE = r'Could not open file "(.*)" to read flags for environment variable "(\w+)"'
_BAD_VALUE = 'Flag parsing failed'


def _is_flag_error(text):
  """Whether a check's stderr `text` holds one of XLA's lines for a flag it refuses."""
  return bool(re.search(_UNKNOWN_FLAG, text) or re.search(_NO_FLAG_FILE, text)
              or _BAD_VALUE in text)


def _check_dump_folder(flags, xla_flags):
  """ConfigError if --xla_dump_to (of config.xla_flags `flags`, else of XLA_FLAGS) names
  a folder XLA cannot make: under a file, a read-only or another user's folder. The run
  trained and dumped nothing, XLA's 'Could not create directory' lines hidden by the
  quiet start (--verbose alone showed them, 4 at each compile)."""
  from dreamerv3_tf import configuration
  for name, value in (('xla_flags', flags), ('XLA_FLAGS', xla_flags)):
    found = re.findall(r'--xla_dump_to=("[^"]*"|\S*)', value)
    if not found:
      continue
    folder = found[-1].strip('"')  # (XLA takes the last)
    if folder in ('', 'sponge', 'test_undeclared_outputs_dir'):  # none; a test's folder
      return
    reason = _unmakeable(os.path.abspath(folder))  # (as XLA reads it: no ~)
    if reason:
      raise configuration.ConfigError(
          f'{name}={value!r}: XLA cannot make its dump folder {folder} ({reason}), and '
          'would dump nothing without a word; give a folder it can write, or leave out '
          '--xla_dump_to')
    return


def _unmakeable(path):
  """Why no directory can be made at `path` (nothing is made), else None."""
  existing = path
  while not os.path.lexists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    return f'{existing} is a file' if existing != path else 'it is a file'
  if not os.access(existing, os.W_OK | os.X_OK):
    return f'{existing} is not writable' if existing != path else 'it is not writable'
  return None


def add_xla_flags(flags, environ=os.environ):
  """Appends each of `flags` to XLA_FLAGS unless that flag is set there already (the
  caller's value wins) -> the ones added.

  XLA reads XLA_FLAGS at its first compile, so this works until then, even after the
  import. A file of flags named there is left as it is: XLA took 'FILE --flag' for the
  name of a file, and stopped the run at its first compile.
  """
  now = environ.get('XLA_FLAGS', '')
  if is_flag_file(now):
    return []
  added = [f for f in flags if f.split('=')[0] not in now]
  if added:
    environ['XLA_FLAGS'] = ' '.join([now, *added]).strip()
  return added


def load(owned=False):
  """Imports TensorFlow once, with the collector paused -> the module.

  owned: the program owns its process (`main`, test workers). Then every object alive
  after the import moves into the collector's permanent generation (`gc.freeze`), so
  that later full collections skip them, and Keras loads without matplotlib and IPython
  (`HIDDEN`). In a host program (a notebook) the first would keep its cycles too, and
  the second would leave its Keras without the gallery plots and its notebook check.
  """
  add_xla_flags(XLA_DEFAULTS)
  for key, value in ENV_DEFAULTS.items():
    os.environ.setdefault(key, value)  # read when TensorFlow makes its CPU device
  if 'keras' not in sys.modules:
    os.environ['KERAS_BACKEND'] = KERAS_BACKEND
  if 'tensorflow' in sys.modules:
    _check_keras_backend()
    return sys.modules['tensorflow']
  hidden = [name for name in HIDDEN if owned and name not in sys.modules]
  for name in hidden:
    sys.modules[name] = None  # `import matplotlib...` raises ImportError
  enabled = gc.isenabled()
  gc.disable()
  try:
    import tensorflow
    import keras  # noqa: F401  (what imports pyplot; TensorFlow may load it lazily)
  finally:
    for name in hidden:
      del sys.modules[name]
    if owned:
      gc.freeze()
    if enabled:
      gc.enable()
  _check_keras_backend()
  return tensorflow


def _check_keras_backend():
  """ImportError (one line) if a host program imported Keras on another backend first."""
  keras = sys.modules.get('keras')
  backend = keras and getattr(keras, 'backend', None)
  name = backend.backend() if backend and hasattr(backend, 'backend') else KERAS_BACKEND
  if name != KERAS_BACKEND:
    raise ImportError(
        f'Keras was imported on its {name} backend before dreamerv3_tf, whose models need '
        f'it on TensorFlow: set KERAS_BACKEND={KERAS_BACKEND} before the first import of keras')
