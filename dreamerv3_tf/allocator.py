"""A faster malloc for `main`: jemalloc (else TCMalloc) when the machine has one.

TensorFlow's tracing and XLA's compiler (MLIR, LLVM) make millions of small
allocations, and glibc's malloc spent about 11% of a size1m start's CPU time in them
(perf, BENCHMARKS.md, session 9). With jemalloc the first update came 10-25% sooner
and a policy call ran 1.2-1.9x as fast; updates took the same time.

A process picks its malloc when it starts, so `main` runs itself again, once,
with LD_PRELOAD naming the library (`reexec`): same PID, same arguments, same
descriptors, before it reads a flag or touches a file. Env workers and other
children inherit it. `DREAMERV3_TF_MALLOC` chooses:
  auto      (default) jemalloc, else TCMalloc, else glibc's malloc
  system    glibc's malloc; no second start
  PATH      this malloc library
On Debian and Ubuntu, `apt install libjemalloc2` provides jemalloc.
"""

import os
import platform
import sys

from dreamerv3_tf.core.malloc import FAST as _FAST
from dreamerv3_tf.core.malloc import loaded  # noqa: F401  (allocator.loaded: the startup's)

ENV = 'DREAMERV3_TF_MALLOC'
# Set in the second start (to the library); it keeps that start from running a third.
_STARTED = 'DREAMERV3_TF_MALLOC_STARTED'
# Best first: jemalloc was the fastest to the first update, TCMalloc next (session 9).
LIBRARIES = ('libjemalloc.so.2', 'libjemalloc.so.1', 'libjemalloc.so',
             'libtcmalloc_minimal.so.4', 'libtcmalloc.so.4')


class Error(Exception):
  """DREAMERV3_TF_MALLOC names no usable library."""


def search_dirs():
  """Where Debian, Red Hat, conda and /usr/local keep shared libraries."""
  arch = platform.machine()
  dirs = [f'/usr/lib/{arch}-linux-gnu', f'/lib/{arch}-linux-gnu', '/usr/lib64',
          '/usr/lib', '/usr/local/lib']
  if os.environ.get('CONDA_PREFIX'):
    dirs.insert(0, os.path.join(os.environ['CONDA_PREFIX'], 'lib'))
  return dirs


def find(dirs=None):
  """The path of the best malloc library installed, or None."""
  for name in LIBRARIES:
    for d in dirs or search_dirs():
      path = os.path.join(d, name)
      if os.path.isfile(path):
        return path
  return None


def choose(environ=None, dirs=None):
  """The library DREAMERV3_TF_MALLOC asks for: a path, or None for glibc's malloc."""
  value = (environ if environ is not None else os.environ).get(ENV, 'auto').strip()
  if value.lower() in ('', 'auto'):
    return find(dirs)
  if value.lower() in ('system', 'glibc', 'none', '0', 'off'):
    return None
  hint = "give a malloc library such as libjemalloc.so.2, or 'system' for glibc's malloc"
  if os.path.isdir(value):
    raise Error(f'{ENV}={value}: is a directory, not a library file; {hint}')
  if not os.path.isfile(value):
    raise Error(f'{ENV}={value}: no such file; {hint}')
  # ld.so skips a preload it cannot load with an 'ERROR: ld.so: ... ignored.' line in
  # this program and in every env worker, and the run went on with glibc's malloc.
  try:
    with open(value, 'rb') as f:
      elf = f.read(4) == b'\x7fELF'
  except OSError as e:
    raise Error(f'{ENV}={value}: cannot be read ({e.strerror}); {hint}') from e
  if not elf:
    raise Error(f'{ENV}={value}: not a shared library (no ELF header); {hint}')
  return os.path.abspath(value)


def describe():
  """The malloc in use, for the start's lines: 'jemalloc (PATH)' or "glibc's malloc"."""
  path = loaded()
  if not path:
    return "glibc's malloc"
  name = next(x for x in _FAST if x in os.path.basename(path))
  return f'{name} ({path})'


def reexec(environ=None):
  """Runs this program again with the chosen malloc preloaded; returns if none is
  needed (a fast one is in already, 'system', nothing installed, not Linux) or if
  the second start could not be made. Call first thing, as `__main__` only: it
  replays the interpreter's own command line (`sys.orig_argv`). Drops the LD_PRELOAD
  entries that did not load first (drop_unloaded_preloads)."""
  environ = os.environ if environ is None else environ
  if not sys.platform.startswith('linux'):
    return
  dropped = drop_unloaded_preloads(environ)
  if dropped:
    print(f"Warning: LD_PRELOAD names {' '.join(dropped)}, which the dynamic loader could "
          "not load (its 'ERROR: ld.so: ...' line above); this run's other processes start "
          'without it, so that each does not say so again', file=sys.stderr, flush=True)
  if environ.get(_STARTED) or loaded():
    return
  env = preload_env(environ)
  if not env.get(_STARTED):
    return  # nothing chosen or installed
  _check_malloc_conf(env)
  for stream in (sys.stdout, sys.stderr):
    if stream is not None:  # None: started with that descriptor closed (`>&-`)
      stream.flush()
  try:
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
  except OSError:
    return  # e.g. no exec permission in a sandbox: go on with glibc's malloc


def drop_unloaded_preloads(environ):
  """Removes from environ's LD_PRELOAD the entries this process has not loaded, and
  returns them: ld.so skips one it cannot load with an 'ERROR: ld.so: ... ignored.' line
  in each process that inherits it (40 in a debug run with 2 env workers: the restart
  with jemalloc, each worker, the helpers). One with a $ token ($LIB, $ORIGIN) is kept,
  unjudged: dlopen would read it for another object than the program."""
  import ctypes
  value = environ.get('LD_PRELOAD', '')
  entries = value.replace(':', ' ').split()  # ld.so's separators
  dropped = []
  for entry in entries:
    if '$' in entry:
      continue
    try:  # finds the library ld.so would have loaded, and loads nothing new
      ctypes.CDLL(entry, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
    except OSError:
      dropped.append(entry)
  if dropped:
    kept = ' '.join(x for x in entries if x not in dropped)
    if kept:
      environ['LD_PRELOAD'] = kept
    else:
      del environ['LD_PRELOAD']
  return dropped


def _check_malloc_conf(env):
  """Error if jemalloc, preloaded in `env`, cannot read its MALLOC_CONF: it said so
  ('<jemalloc>: Conf string ends with key', twice) in each process, env workers too,
  naming neither the variable nor who loaded it, and went on without it."""
  conf = env.get('MALLOC_CONF')
  if not conf or 'jemalloc' not in os.path.basename(env[_STARTED]):
    return
  import shutil
  import subprocess
  true = shutil.which('true')
  if not true:
    return  # (no program to ask: jemalloc's own lines then say it)
  try:  # a program of a few milliseconds, with the same preload and conf
    said = subprocess.run([true], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=10).stderr
  except (OSError, subprocess.SubprocessError):
    return
  lines = said.decode('utf-8', 'replace').splitlines()
  said = next((x.strip() for x in lines if x.startswith('<jemalloc>')), None)
  if said:
    raise Error(f'MALLOC_CONF={conf!r}: jemalloc, which main preloads, cannot read it '
                f"({said!r}); fix it, unset it, or set {ENV}=system for glibc's malloc")


def preload_env(environ=None):
  """A copy of `environ` with the chosen malloc in LD_PRELOAD, for a process of ours
  (main's second start, benchmarks, tests); unchanged if none is chosen or found."""
  environ = dict(os.environ if environ is None else environ)
  library = choose(environ)
  if library and library not in environ.get('LD_PRELOAD', ''):
    environ['LD_PRELOAD'] = f'{library} {environ.get("LD_PRELOAD", "")}'.strip()
    environ[_STARTED] = library
  return environ
