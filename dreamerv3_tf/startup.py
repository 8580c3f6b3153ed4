"""A quiet, informative start for `main`: TensorFlow's start-up lines hidden, ours shown.

What TensorFlow 2.21 prints on a machine without a GPU, and what silences each line
(checked one by one; `--verbose` or a TF_CPP_MIN_LOG_LEVEL of the user's own shows them):
- absl's "WARNING: All log messages before absl::InitializeLog() is called are written
  to STDERR", oneDNN's "custom operations are on" and cudart_stub's "Could not find
  cuda drivers" (INFO), twice: static initialisers of libtensorflow_framework.so and
  _xla_ops.so log them through absl while the libraries load, before TensorFlow reads
  TF_CPP_MIN_LOG_LEVEL (they show at level 3 too), and absl's C++ log threshold has no
  environment variable. Only hiding file descriptor 2 while `import tensorflow` runs
  stops them (`import_tensorflow`).
- cpu_feature_guard's "This TensorFlow binary is optimized ..." and XLA's "service.cc
  ... initialized for platform Host" (INFO): TF_CPP_MIN_LOG_LEVEL >= 1.
- "failed call to cuInit: ... UNKNOWN ERROR (303)" (ERROR, at the first op):
  TF_CPP_MIN_LOG_LEVEL=3. CUDA_VISIBLE_DEVICES='' or -1 does not stop it.
- On starts that read the XLA cache (config.xla_cache): protobuf's "Error parsing
  text-format tensorflow.XlaSerializedCacheEntry" (the reader tries text before
  binary) and cpu_aot_loader's "Target machine feature +prefer-no-scatter is not
  supported" (a tuning flag, not an instruction set), both ERROR: level 3.
So without a user setting we use level 3 (FATAL only). Errors that stop a run reach
Python as exceptions, which this does not touch. (A crash inside `import tensorflow`
itself would lose the hidden lines: `--verbose` shows them as they come.)
"""

import functools
import os
import re
import sys
import time

from dreamerv3_tf import tfimport
from dreamerv3_tf.core import tf_lines

LEVEL_ENV = 'TF_CPP_MIN_LOG_LEVEL'
QUIET_LEVEL = 3


def say(message):
  """One progress line on stdout, stamped like the logger's lines."""
  print(time.strftime('[%H:%M:%S] ') + message, flush=True)


def log_level(verbose=False):
  """Sets TF_CPP_MIN_LOG_LEVEL unless the user set a level (or asked for verbose output).

  -> the level in force: lines of lower severity are hidden (0 INFO ... 3 FATAL).
  Must run before TensorFlow is imported: it reads the variable once.
  """
  given = os.environ.get(LEVEL_ENV)
  if not verbose and not _is_level(given):
    # TensorFlow reads a level it cannot parse as 0 and showed every line: 'abc' or
    # one set empty (unset in a shell) is taken as unset.
    if (given or '').strip():
      print(f"Warning: {LEVEL_ENV}={given!r} is no level (0 shows TensorFlow's own log "
            'lines, 1 hides its INFO lines, 2 its warnings too, 3 its errors too); they '
            'stay hidden, as when it is unset (--verbose shows them)', file=sys.stderr,
            flush=True)
    os.environ[LEVEL_ENV] = str(QUIET_LEVEL)
  try:
    return int(os.environ.get(LEVEL_ENV, '0'))
  except ValueError:
    return 0  # TensorFlow reads an unparsable level as 0 too (--verbose)


def _is_level(value):
  """Whether TF_CPP_MIN_LOG_LEVEL `value` is a number (TensorFlow's levels are 0-3)."""
  return value is not None and re.fullmatch(r'\s*[+-]?\d+\s*', value) is not None


def import_tensorflow(level):
  """Imports TensorFlow with the lines its libraries log while loading filtered by
  `level` (they ignore TF_CPP_MIN_LOG_LEVEL); every other line is passed on. The
  garbage collector pauses meanwhile, and then skips what the import made (tfimport.py)."""
  from dreamerv3_tf import tfimport
  with tf_lines.hidden(0 if 'tensorflow' in sys.modules else level):  # (nothing to hide)
    tfimport.load(owned=True)


# When our first line was printed (announce): the start that later lines count from.
_ANNOUNCED = []


def claim_start():
  """-> time.monotonic() of our first line (announce), for the run it announced,
  which counts its times from there; None when claimed already (a second run in one
  process) or in a process that printed none. (The wall clock may jump: a day ahead,
  the run's last line said '1d00h after the start'.)"""
  return _ANNOUNCED.pop() if _ANNOUNCED else None


def announce(config):
  """Our first line: what this command does and how long its start usually takes."""
  _ANNOUNCED[:] = [time.monotonic()]
  if config.script == 'eval_only':
    steps, first = 'eval', 'Loading TensorFlow (about 5 s), then building envs and'
  else:  # run/train_eval.py: the env workers start while TensorFlow loads
    steps = f'{int(config.run.steps):,} env steps'
    first = 'Building envs and loading TensorFlow (about 5 s), then'
  # The full path: --logdir=. read 'logdir .. Building', and a relative one named no place.
  logdir = config.logdir if '://' in config.logdir else os.path.abspath(config.logdir)
  say(f'{config.script} on {config.task} ({steps}), logdir {logdir}. '
      f'{first} {compile_time(config)}.')


def compile_time(config):
  """What the agent's start costs: the XLA compile on a first start, the cache later."""
  if config.random_agent or not config.jit:
    return 'the agent (nothing to compile)'
  later = (f'later starts load it from the XLA cache ({config.xla_cache}) in seconds'
           if config.xla_cache else 'config.xla_cache is off: every start compiles')
  # The warning above says why; not where TensorFlow was imported before the cache was
  # set up (the checks read the checkpoint of a finished run in a logdir they cannot
  # write): that run compiles nothing, and later starts use the cache as ever.
  refused = not tfimport.xla_cache_stores() and 'tensorflow' not in sys.modules
  if config.xla_cache and refused:
    later = 'the XLA cache stores nothing now: later starts compile again'
    if tfimport.xla_cache_directory():  # read only: a full disk, a read-only folder
      # 'later starts compile again' was false of the programs it holds, which they load.
      later += ' what it does not hold'
  return ('compiling the agent with XLA (the first start of a config: about 30 s at size1m '
          f'on 2 idle CPU cores, more on busy ones, minutes for bigger models; {later})')


def start(config, verbose=False):
  """Quiet TensorFlow (unless `verbose` or the user's TF_CPP_MIN_LOG_LEVEL) and print
  our first line -> a function that imports TensorFlow, for the run to call when its
  env workers are starting (run.main). Call after `use_xla_cache`."""
  level = log_level(verbose)
  announce(config)
  if verbose:
    from dreamerv3_tf import allocator
    say(f'malloc: {allocator.describe()} ({allocator.ENV} chooses)')
  return functools.partial(import_tensorflow, level)
