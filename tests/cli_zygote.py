"""CLI runs for tests, forked from a process that has already imported TensorFlow.

Importing TensorFlow costs every `python -m dreamerv3_tf.main` of the suite seconds of
CPU; a forked run that goes on to train takes about 1.8 s less, and the suite 35-40 s
less wall time on 2 cores (BENCHMARKS.md, session 26). `Popen` is `subprocess.Popen`
for such a command, with one difference: the process is forked
from a zygote, a process of this test worker's that imported TensorFlow (and Keras) as
`main` does and then nothing else. The forked process takes the command's fds, cwd,
environment, argv and sys.path, and runs the module as `python -m` would (a test's
snippet as `python -c` would): our modules load anew in it (the zygote drops them), so
it runs the same code on the same inputs.

There are two zygotes, each started at its first command: one with the worker's
environment, and one with a user's shell's, which is the same without the suite's
TF_CPP_MIN_LOG_LEVEL (tests of what a user's run prints: main then sets the level).
What a fork cannot give, it does not pretend to: a command runs as a real process when
its environment differs from both zygotes' in a variable TensorFlow or the C library
reads as they load (IMPORT_TIME_ENV; PYTHONPATH may add directories in front that hold
no module the zygote may have loaded), when it is neither `python -m` of a module in
MODULES nor `python -c CODE` (alone or after `unprivileged_prefix()`, whose
capabilities the forked process drops as setpriv does), or with subprocess options the
zygote does not carry (preexec_fn, but for `file_size_limit`'s; pass_fds, user and
group changes). Tests of the start itself (its lines while TensorFlow loads, the malloc
`main` restarts with) and of the C library's end of a process (a forked one ends by
os._exit) use plain subprocesses.

The forked process is the zygote's child: its exit status reaches this process over
the zygote's socket, and poll, wait, communicate, send_signal and kill behave as for a
child of this process (pid is the real pid).
"""

import array
import atexit
import collections
import functools
import importlib.machinery
import io
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODULES = ('dreamerv3_tf.main', 'dreamerv3_tf.export', 'dreamerv3_tf.eval_only',
           'dreamerv3_tf.interop.official')
# Read while TensorFlow, XLA or the C library load (a forked process would keep the
# zygote's values): a command whose environment differs in one runs as a real process.
# Not XLA_FLAGS and TF_XLA_FLAGS: XLA and TensorFlow parse them at the first compile,
# in the forked process; nor TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS, read as
# its runtime starts its thread pools (tests/test_cli_zygote.py).
IMPORT_TIME_ENV = (
    'TF_CPP_MIN_LOG_LEVEL', 'TF_CPP_MAX_VLOG_LEVEL', 'TF_CPP_VMODULE', 'TF_ENABLE_ONEDNN_OPTS', 'ONEDNN_MAX_CPU_ISA', 'TF_USE_LEGACY_KERAS',
    'CUDA_VISIBLE_DEVICES', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'MALLOC_CONF', 'GLIBC_TUNABLES',
    'NPY_DISABLE_CPU_FEATURES', 'OPENBLAS_CORETYPE', 'OMP_NUM_THREADS', 'PYTHONHASHSEED',
    'PYTHONPATH', 'PYTHONWARNINGS', 'PYTHONDONTWRITEBYTECODE', 'KERAS_BACKEND',
    'DREAMERV3_TF_NO_ZYGOTE',
    # The interpreter's own start: its file names' and streams' encoding.
    'LC_ALL', 'LC_CTYPE', 'LANG', 'PYTHONUTF8', 'PYTHONIOENCODING')
# Packages the zygote drops before it forks: a forked process loads them anew.
FRESH = ('dreamerv3_tf', 'configs')
# Packages the zygote imported that a forked process sees only once it imports them.
HIDDEN_UNTIL_IMPORTED = ('tensorflow', 'keras', 'tf_keras', 'pybind11_abseil')


# The environment the zygote starts with: this worker's as the suite set it up, not one a
# test changed (monkeypatch) before the first forked run.
_ZYGOTE_ENV = dict(os.environ)
# Root's capabilities that override file permissions: without them it obeys them.
UNPRIVILEGED_CAPS = {'dac_override': 1, 'dac_read_search': 2}  # name: CAP_ number


def unprivileged_prefix():
  """setpriv's words that run a command without UNPRIVILEGED_CAPS (util-linux)."""
  caps = ','.join(f'-{name}' for name in UNPRIVILEGED_CAPS)
  return ['setpriv', f'--inh-caps={caps}', f'--bounding-set={caps}', '--']


def script(path, *args):
  """The argv of `python PATH ARGS` as a `python -c` the zygote forks: sys.argv[0] and
  sys.path[0] as `python PATH` sets them, and PATH run as __main__."""
  path = os.path.abspath(path)
  code = (f'import runpy, sys; sys.path[0] = {os.path.dirname(path)!r}; '
          f'sys.argv[0] = {path!r}; runpy.run_path({path!r}, run_name="__main__")')
  return [sys.executable, '-c', code, *args]


def file_size_limit(limit):
  """A preexec_fn capping the files a command writes at `limit` bytes (ulimit -f), which
  a forked command sets itself: the cap counts no write before its start."""
  return functools.partial(resource.setrlimit, resource.RLIMIT_FSIZE, (limit, limit))


def _file_size_limit_of(preexec_fn):
  """-> the (soft, hard) limit of a `file_size_limit` preexec_fn, else None."""
  if not isinstance(preexec_fn, functools.partial) or preexec_fn.keywords:
    return None
  if preexec_fn.func is not resource.setrlimit or len(preexec_fn.args) != 2:
    return None
  which, limit = preexec_fn.args
  return list(limit) if which == resource.RLIMIT_FSIZE else None


# A user's shell sets no TF_CPP_MIN_LOG_LEVEL (conftest sets one): the second zygote's.
_USER_SHELL_ENV = {k: v for k, v in _ZYGOTE_ENV.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
ZYGOTE_ENVS = {'suite': _ZYGOTE_ENV, 'user_shell': _USER_SHELL_ENV}


def _import_env(env):
  return {k: env.get(k) for k in IMPORT_TIME_ENV}


def _path_dirs(value):
  return value.split(os.pathsep) if value else []


def _imports_as_the_zygote(env, zygote_env, zygote_modules):
  """Whether a fresh process of `env` would import what a zygote of `zygote_env` imported:
  the same IMPORT_TIME_ENV, but PYTHONPATH may put directories before the zygote's (a
  test's env module) if none holds a name the zygote loaded, whose copy would win.
  zygote_modules: -> the zygote's top-level module names (it starts if not running)."""
  ours, zygote = _import_env(env), _import_env(zygote_env)
  path, zygote_path = _path_dirs(ours.pop('PYTHONPATH')), _path_dirs(zygote.pop('PYTHONPATH'))
  extra = path[:len(path) - len(zygote_path)]
  if ours != zygote or path[len(extra):] != zygote_path or '' in extra:
    return False
  # The zygote's own, not this worker's: a test that imported its env module here (the
  # README's corridor) would otherwise run every later command of it as a real process,
  # ~1.8 s of CPU more each (17 in envs/test_custom.py, session 53).
  loaded = None
  for directory in extra:
    try:
      names = {entry.split('.')[0] for entry in os.listdir(directory)}
    except OSError:  # a directory that is not there adds nothing
      continue
    loaded = zygote_modules() if loaded is None else loaded
    if names & loaded:
      return False
  return True


class _Zygote:
  """The zygote process of this test worker and the socket it serves on."""

  def __init__(self, env):
    self.dir = tempfile.mkdtemp(prefix='zygote')
    self.path = os.path.join(self.dir, 'socket')
    self.proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), self.path], cwd=ROOT, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    ready = self.proc.stdout.readline().split(' ', 1)
    if ready[0] != 'ready' or len(ready) != 2:
      raise RuntimeError(f'the zygote did not start: {ready!r}')
    self.modules = frozenset(json.loads(ready[1]))  # top-level names, FRESH left out

  def close(self):
    self.proc.kill()
    self.proc.wait()
    for name in os.listdir(self.dir):
      os.unlink(os.path.join(self.dir, name))
    os.rmdir(self.dir)


_zygotes = {}  # ZYGOTE_ENVS key -> its running _Zygote
_lock = threading.Lock()


def _get_zygote(name):
  with _lock:
    zygote = _zygotes.get(name)
    if zygote is None or zygote.proc.poll() is not None:
      zygote = _zygotes[name] = _Zygote(ZYGOTE_ENVS[name])
      atexit.register(zygote.close)
    return zygote


# What a forked process runs: `python -m module *argv` (or `python -c code *argv`, module
# None), in `env`, from ZYGOTE_ENVS[zygote], without the capabilities named in drop_caps,
# and under file_size_limit (or None).
_Request = collections.namedtuple('_Request',
                                  'module code argv env zygote drop_caps file_size_limit')


def _forkable(args, kwargs):
  """-> a _Request when `args` is `python -m MODULE ...` or `python -c CODE ...` that can be
  forked, else None."""
  if isinstance(args, (str, bytes)) or kwargs.get('shell'):
    return None
  args, drop_caps = list(args), []
  if args[:4] == unprivileged_prefix():
    args, drop_caps = args[4:], list(UNPRIVILEGED_CAPS)
  if len(args) < 3:
    return None
  if args[0] != sys.executable or args[1] not in ('-m', '-c'):
    return None
  module, code = (args[2], None) if args[1] == '-m' else (None, os.fsdecode(args[2]))
  if module is not None and module not in MODULES:
    return None
  if any(kwargs.get(k) for k in ('pass_fds', 'user', 'group', 'extra_groups',
                                 'executable')) or kwargs.get('umask', -1) != -1:
    return None
  preexec_fn, limit = kwargs.get('preexec_fn'), None
  if preexec_fn is not None:
    limit = _file_size_limit_of(preexec_fn)
    if limit is None:
      return None
  env = dict(os.environ if kwargs.get('env') is None else kwargs['env'])
  if os.environ.get('DREAMERV3_TF_NO_ZYGOTE'):
    return None
  for name, zygote_env in ZYGOTE_ENVS.items():
    if _imports_as_the_zygote(env, zygote_env, lambda name=name: _get_zygote(name).modules):
      return _Request(module, code, [os.fsdecode(a) for a in args[3:]], env, name,
                      drop_caps, limit)
  return None


class Popen(subprocess.Popen):
  """subprocess.Popen; `python -m MODULE` of MODULES forked from the zygote."""

  def __init__(self, args, **kwargs):
    self._zygote_request = _forkable(args, kwargs)
    self._zygote_conn = None
    super().__init__(args, **kwargs)

  def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env,
                     startupinfo, creationflags, shell, p2cread, p2cwrite, c2pread,
                     c2pwrite, errread, errwrite, restore_signals, gid, gids, uid, umask,
                     start_new_session, process_group):
    if self._zygote_request is None:
      return super()._execute_child(
          args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
          creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite,
          restore_signals, gid, gids, uid, umask, start_new_session, process_group)
    forked = self._zygote_request
    # Unredirected streams are this process's own, as a real child's would be.
    fds = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1,
           errwrite if errwrite != -1 else 2]
    request = {'argv': forked.argv, 'module': forked.module, 'code': forked.code,
               'env': forked.env,
               'cwd': os.fsdecode(cwd) if cwd is not None else os.getcwd(),
               'drop_caps': forked.drop_caps, 'file_size_limit': forked.file_size_limit,
               'new_session': bool(start_new_session),
               'process_group': -1 if process_group is None else process_group}
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
      conn.connect(_get_zygote(forked.zygote).path)
      conn.sendmsg([json.dumps(request).encode() + b'\n'],
                   [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))])
      self._zygote_buffer = b''
      line = self._zygote_line(conn, None)
      if not line.startswith('pid '):
        raise RuntimeError(f'the zygote did not fork: {line!r}')
      self.pid = int(line.split()[1])
      self._child_created = True
      self._zygote_conn = conn
    except BaseException:
      conn.close()
      raise
    finally:
      # The forked process has its ends; close ours as Popen does after exec.
      self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)

  def _zygote_line(self, conn, timeout):
    """The zygote's next line, waiting at most `timeout` s (None: until it comes) -> str,
    or None if it has not come; '' once the zygote closed the connection."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while b'\n' not in self._zygote_buffer:
      left = None if deadline is None else max(0.0, deadline - time.monotonic())
      if not select.select([conn], [], [], left)[0]:
        return None
      part = conn.recv(4096)
      if not part:
        return ''
      self._zygote_buffer += part
    line, self._zygote_buffer = self._zygote_buffer.split(b'\n', 1)
    return line.decode()

  def _status_from_zygote(self, timeout):
    """Reads the exit code once the zygote sent it -> returncode or None."""
    line = self._zygote_line(self._zygote_conn, timeout)
    if line is None:
      return None
    if not line.startswith('exit '):
      raise RuntimeError(f'the zygote ended before its forked process did: {line!r}')
    self.returncode = int(line.split()[1])
    self._zygote_conn.close()
    self._zygote_conn = None
    return self.returncode

  def _internal_poll(self, _deadstate=None, **kwargs):
    if self._zygote_request is None:
      return super()._internal_poll(_deadstate=_deadstate, **kwargs)
    if self.returncode is None and self._zygote_conn is not None:
      self._status_from_zygote(timeout=0)
    return self.returncode

  def _wait(self, timeout):
    if self._zygote_request is None:
      return super()._wait(timeout)
    if self.returncode is not None:
      return self.returncode
    if self._status_from_zygote(timeout) is None:
      raise subprocess.TimeoutExpired(self.args, timeout)
    return self.returncode

  def send_signal(self, sig):
    if self._zygote_request is None:
      return super().send_signal(sig)
    if self.returncode is None and self._zygote_conn is not None:
      self.poll()
      if self.returncode is None:
        try:
          os.kill(self.pid, sig)
        except ProcessLookupError:  # as Popen: it ended meanwhile
          pass


def run(*popenargs, input=None, capture_output=False, timeout=None, check=False, **kwargs):
  """subprocess.run through `Popen` above."""
  if capture_output:
    kwargs['stdout'] = kwargs['stderr'] = subprocess.PIPE
  with Popen(*popenargs, stdin=subprocess.PIPE if input is not None else kwargs.pop(
      'stdin', None), **kwargs) as process:
    try:
      stdout, stderr = process.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
      raise
    except BaseException:
      process.kill()
      raise
    retcode = process.poll()
    if check and retcode:
      raise subprocess.CalledProcessError(retcode, process.args, output=stdout, stderr=stderr)
  return subprocess.CompletedProcess(process.args, retcode, stdout, stderr)


# --- the zygote --------------------------------------------------------------------


def _serve(path):
  # What `python -m` adds before the interpreter's own paths comes from each request.
  ours = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
  base_path = [p for p in sys.path[1:] if p not in ours]  # [0]: this file's directory
  sys.path.insert(0, ROOT)
  from dreamerv3_tf import startup
  # The exit handlers the import registers are a forked process's only once it imports
  # TensorFlow.
  handlers, register = [], atexit.register  # (fn, args, kwargs) to call at the unhiding
  atexit.register = lambda fn, *a, **k: handlers.append((register, (fn, *a), k)) or fn
  from absl import app
  from absl import flags
  defined = set(flags.FLAGS)
  try:
    startup.import_tensorflow(startup.log_level())
  finally:
    atexit.register = register
  # Our modules load anew in every forked process, as in a fresh one.
  for name in [m for m in sys.modules if m.split('.')[0] in FRESH]:
    del sys.modules[name]
  # TensorFlow is out of sys.modules until the forked process imports it: code that
  # asks whether it is loaded (core/base.py) sees what a fresh process would.
  hidden = {m: sys.modules.pop(m) for m in list(sys.modules)
            if m.split('.')[0] in HIDDEN_UNTIL_IMPORTED}
  # So are the callbacks the import left for absl's app.run (one lists the devices:
  # TensorFlow's runtime then starts, and logs), and the absl flags it defined.
  handlers += [(app.call_after_init, (fn,), {}) for fn in app._init_callbacks]  # noqa: SLF001
  app._init_callbacks.clear()  # noqa: SLF001
  for name in set(flags.FLAGS) - defined:
    handlers.append((flags.FLAGS.__setitem__, (name, flags.FLAGS[name]), {}))
    delattr(flags.FLAGS, name)
  _die_with_parent()
  server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  server.bind(path)
  server.listen(16)
  # What it loaded, hidden or not: a PYTHONPATH directory in front that holds one of
  # these would give a fresh process its own copy, and a forked one the zygote's.
  loaded = {m.split('.')[0] for m in [*sys.modules, *hidden]} - set(FRESH)
  print('ready', json.dumps(sorted(loaded)), flush=True)
  while True:
    conn, _ = server.accept()
    message, ancillary, _, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(3 * 4))
    while not message.endswith(b'\n'):
      message += conn.recv(1 << 20)
    fds = array.array('i')
    for level, kind, data in ancillary:
      if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    request = json.loads(message)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
      server.close()
      conn.close()
      _child(request, list(fds), base_path, hidden, handlers)  # never returns
    for fd in fds:
      os.close(fd)
    conn.sendall(f'pid {pid}\n'.encode())
    threading.Thread(target=_report, args=(conn, pid), daemon=True).start()


def _report(conn, pid):
  """Sends the forked process's exit code once it ended, and reaps it only once the
  test has read that: until then it stays a zombie, as a child of the test's own
  would, so that a signal sent meanwhile reaches no other process that took its pid."""
  info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
  code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
  try:
    conn.sendall(f'exit {code}\n'.encode())
    conn.recv(1)  # b'' once the test closed its end (or went away)
  except OSError:
    pass
  os.waitpid(pid, 0)
  conn.close()


def _child(request, fds, base_path, hidden, handlers):
  code = 1
  try:
    for target, fd in zip((0, 1, 2), fds):
      os.dup2(fd, target)
    for fd in fds:
      if fd not in (0, 1, 2):
        os.close(fd)
    if request['new_session']:
      os.setsid()
    elif request['process_group'] >= 0:
      os.setpgid(0, request['process_group'])
    _drop_capabilities(request['drop_caps'])
    if request['file_size_limit']:
      resource.setrlimit(resource.RLIMIT_FSIZE, tuple(request['file_size_limit']))
    os.chdir(request['cwd'])
    os.environ.clear()
    os.environ.update(request['env'])
    _fresh_streams(request['env'])
    # sys.path as `python -m` sets it: the cwd, PYTHONPATH, then the interpreter's own
    # (`python -c`: '', which stands for the cwd).
    extra = [p for p in request['env'].get('PYTHONPATH', '').split(os.pathsep) if p]
    first = os.getcwd() if request['code'] is None else ''
    sys.path[:] = [first] + extra + [p for p in base_path if p not in extra]
    sys.meta_path.insert(0, _Unhide(hidden, handlers))
    if request['code'] is None:
      import runpy
      sys.argv = [request['module']] + request['argv']
      sys.orig_argv = [sys.executable, '-m', request['module']] + request['argv']
      runpy.run_module(request['module'], run_name='__main__', alter_sys=True)
    else:
      _run_code(request['code'], request['argv'])
    code = 0
  except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    if not isinstance(e.code, (int, type(None))):
      print(e.code, file=sys.stderr)
  except KeyboardInterrupt as e:  # the interpreter's way: the traceback, then death by SIGINT
    _print_traceback(e, request)
    code = -signal.SIGINT
  except BaseException as e:  # noqa: BLE001  (as the interpreter reports it)
    _print_traceback(e, request)
  _exit(code)


def _run_code(code, argv):
  """Runs `code` as `python -c code *argv` does: in a fresh __main__ of no file, its
  frames named '<string>'."""
  import builtins
  import types
  main = types.ModuleType('__main__')
  main.__builtins__ = builtins
  main.__loader__ = importlib.machinery.BuiltinImporter
  main.__annotations__ = {}
  sys.modules['__main__'] = main
  sys.argv = ['-c'] + argv
  sys.orig_argv = [sys.executable, '-c', code] + argv
  exec(compile(code, '<string>', 'exec'), main.__dict__)  # noqa: S102  (a test's own code)


def _print_traceback(error, request):
  """The traceback the interpreter prints; of `python -c`, without this file's frames,
  which a real process lacks (its first is '<string>')."""
  tb = error.__traceback__
  if request['code'] is not None:
    while tb is not None and tb.tb_frame.f_code.co_filename != '<string>':
      tb = tb.tb_next
  traceback.print_exception(type(error), error, tb or error.__traceback__)


def _fresh_streams(env):
  """sys.stdout and sys.stderr made anew for fds 1 and 2, as the interpreter makes them as
  it starts (create_stdio): the zygote's were made for its own fds, and a stream keeps
  what it found there, such as a seekable file (pytest's capture file; the command's pipe
  is none: TextIOWrapper.reconfigure failed with 'Illegal seek') or a terminal's line
  buffering. Encoding and errors stay the zygote's: the command's environment sets them
  as the zygote's did (IMPORT_TIME_ENV)."""
  unbuffered = bool(env.get('PYTHONUNBUFFERED'))
  for name, fd in (('stdout', 1), ('stderr', 2)):
    old = getattr(sys, name)
    buffer = io.open(fd, 'wb', 0 if unbuffered else -1, closefd=False)
    raw = buffer if unbuffered else buffer.raw
    raw.name = f'<{name}>'
    stream = io.TextIOWrapper(
        buffer, old.encoding, old.errors, '\n', write_through=unbuffered,
        line_buffering=not unbuffered and (fd == 2 or raw.isatty()))
    stream.mode = 'w'
    setattr(sys, name, stream)
    setattr(sys, f'__{name}__', stream)


def _drop_capabilities(names):
  """What `setpriv --inh-caps=-X --bounding-set=-X` leaves a command it execs as root: X
  out of the bounding set, and so out of the effective and permitted sets (and out of
  the inheritable set)."""
  if not names:
    return
  import ctypes
  libc = ctypes.CDLL(None, use_errno=True)
  numbers = [UNPRIVILEGED_CAPS[name] for name in names]
  for number in numbers:
    if libc.prctl(24, number, 0, 0, 0):  # PR_CAPBSET_DROP
      raise OSError(ctypes.get_errno(), f'prctl(PR_CAPBSET_DROP, {number})')
  header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
  data = (ctypes.c_uint32 * 6)()  # {effective, permitted, inheritable} of bits 0-31, 32-63
  if libc.capget(header, data):
    raise OSError(ctypes.get_errno(), 'capget')
  keep = ~sum(1 << number for number in numbers)  # numbers below 32: the first word
  for i in range(3):
    data[i] &= keep
  if libc.capset(header, data):
    raise OSError(ctypes.get_errno(), 'capset')


def _exit(code):
  """Ends the forked process as the interpreter ends: threads joined, exit handlers
  run, streams flushed."""
  try:
    threading._shutdown()  # noqa: SLF001
    atexit._run_exitfuncs()  # noqa: SLF001
    sys.stdout.flush()
    sys.stderr.flush()
  except BaseException:  # noqa: BLE001
    pass
  if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
  os._exit(code & 0xFF)


class _Unhide:
  """Puts the zygote's TensorFlow modules back into sys.modules at the first import of
  one of them, with what their import registered (exit handlers, absl callbacks): that
  import then takes no time, and returns the zygote's module."""

  def __init__(self, hidden, handlers):
    self.hidden, self.handlers = hidden, handlers

  def find_spec(self, name, path=None, target=None):
    if name not in self.hidden:
      return None
    sys.meta_path.remove(self)
    module = self.hidden.pop(name)
    sys.modules.update(self.hidden)
    for fn, args, kwargs in self.handlers:
      fn(*args, **kwargs)
    import importlib.util
    return importlib.util.spec_from_loader(name, _Existing(module))


class _Existing:
  """A loader of a module that already exists."""

  def __init__(self, module):
    self.module = module

  def create_module(self, spec):
    return self.module

  def exec_module(self, module):
    pass


def _die_with_parent():
  """The zygote ends with the test worker that started it. (Not by PR_SET_PDEATHSIG:
  that fires when the thread that started the zygote ends.)"""
  parent = os.getppid()

  def watch():
    while os.getppid() == parent:
      threading.Event().wait(0.5)
    os._exit(0)

  threading.Thread(target=watch, daemon=True).start()


if __name__ == '__main__':
  _serve(sys.argv[1])
