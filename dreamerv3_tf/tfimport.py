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
# The XLA_FLAGS and TF_XLA_FLAGS (`flags_of_environment`) that main's check of them
# (main.check_xla_flags, a child process: seconds) found XLA accepts. Whoever checked
# them sets it: the test suite marks its own, so its many starts of `main` skip that.
CHECKED_ENV = 'DREAMERV3_TF_XLA_FLAGS_CHECKED'
# Packages Keras imports if it can, which a program that owns its process never uses.
HIDDEN = ('matplotlib', 'IPython')


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
  if 'tensorflow' in sys.modules:
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
  return tensorflow
