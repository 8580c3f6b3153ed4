"""TensorFlow's own start-up lines: which a log level hides, and imports that hide them.

Its libraries log while they load (absl's "WARNING: All log messages before
absl::InitializeLog() ...", oneDNN's and cudart_stub's INFO lines, twice), before
TensorFlow reads TF_CPP_MIN_LOG_LEVEL: only hiding file descriptor 2 while `import
tensorflow` runs stops them (startup.py lists every line and what silences it). `main`
imports TensorFlow through `hidden`; an env worker whose env imports it does so through
`quiet_imports`. This module imports no TensorFlow.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

_SEVERITY = {'I': 0, 'W': 1, 'E': 2, 'F': 3}
# glog's prefix as absl prints it, 'I0507 14:03:59.123456  6527 port.cc:153] ', or before
# absl::InitializeLog with an unset date: 'I0000 00:00:1796151916.868615  6527 port.cc:153] '
_GLOG = re.compile(r'^([IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [^ \]]+:\d+\] ')
_ABSL_PREAMBLE = 'WARNING: All log messages before absl::InitializeLog() is called'


def is_hidden(line, level):
  """Whether TensorFlow's own level `level` would hide this start-up line."""
  if line.startswith(_ABSL_PREAMBLE):
    return level >= 1  # says where INFO lines go; nothing to read at a higher level
  match = _GLOG.match(line)
  return bool(match) and _SEVERITY[match.group(1)] < level


@contextlib.contextmanager
def hidden(level):
  """While the block runs, file descriptor 2 goes to a file; then every line of it that
  `level` does not hide is printed. Nothing is hidden at level 0 or without a stderr."""
  sys.stderr.flush()
  try:
    saved = os.dup(2) if level > 0 else None
  except OSError:  # no stderr to hide
    saved = None
  if saved is None:
    yield
    return
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      lines = captured.read().decode('utf-8', 'replace').splitlines()
      kept = [x for x in lines if not is_hidden(x, level)]
      if kept:
        print('\n'.join(kept), file=sys.stderr, flush=True)


def environment_level():
  """The TF_CPP_MIN_LOG_LEVEL of this process's environment (main sets 3 unless the user
  chose one or --verbose); 0, TensorFlow's own reading, if unset or no number."""
  try:
    return int(os.environ.get('TF_CPP_MIN_LOG_LEVEL', '0'))
  except ValueError:
    return 0


class _Quiet(importlib.abc.MetaPathFinder):
  """Runs the first `import tensorflow` of the process inside `hidden(level)`."""

  def __init__(self, level):
    self.level = level

  def find_spec(self, name, path=None, target=None):
    if name != 'tensorflow':
      return None
    sys.meta_path.remove(self)  # once: its own lookup below, and later imports, go on
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.loader is not None:
      run = spec.loader.exec_module
      def exec_module(module):
        with hidden(self.level):
          run(module)
      spec.loader.exec_module = exec_module
    return spec


def quiet_imports(level=None):
  """Makes a later `import tensorflow` in this process (an env's own, in its worker)
  hide the lines `level` (default: the environment's) hides: each worker printed them,
  six lines, where `main` printed none."""
  level = environment_level() if level is None else level
  if level > 0 and 'tensorflow' not in sys.modules:
    sys.meta_path.insert(0, _Quiet(level))
