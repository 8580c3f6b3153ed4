"""Imports TensorFlow with Python's garbage collector paused.

`import tensorflow` makes about 370K objects (modules, op wrappers, protobuf
descriptors, Keras) that live as long as the process. With the collector on, its
collections scan them again and again while the import runs: the import took 3.4-4.3 s
with it and 2.5-2.9 s without (BENCHMARKS.md, session 9). The import leaves almost
no garbage: a full collection right after it freed 4,446 objects of 369,224.
"""

import gc
import sys


def load(freeze=False):
  """Imports TensorFlow once, with the collector paused -> the module.

  freeze: also move every object alive now into the collector's permanent generation
  (`gc.freeze`), so that later full collections skip them. Only for programs that own
  their process (`main`, test workers): it would keep a host program's cycles too.
  """
  if 'tensorflow' in sys.modules:
    return sys.modules['tensorflow']
  enabled = gc.isenabled()
  gc.disable()
  try:
    import tensorflow
  finally:
    if freeze:
      gc.freeze()
    if enabled:
      gc.enable()
  return tensorflow
