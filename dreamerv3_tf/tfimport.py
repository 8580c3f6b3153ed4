"""Imports TensorFlow with Python's garbage collector paused.

`import tensorflow` makes about 370K objects (modules, op wrappers, protobuf
descriptors, Keras) that live as long as the process. With the collector on, its
collections scan them again and again while the import runs: the import took 3.4-4.3 s
with it and 2.5-2.9 s without (BENCHMARKS.md, session 9). The import leaves almost
no garbage: a full collection right after it freed 4,446 objects of 369,224.

Keras, which the import loads, also imports matplotlib's pyplot when it is installed, for
its image-gallery helpers: 0.4-0.5 s of every start (session 10). A program that owns its
process hides matplotlib for that moment; Keras guards that import and goes on without it,
and matplotlib imports as usual afterwards.
"""

import gc
import sys


def load(owned=False):
  """Imports TensorFlow once, with the collector paused -> the module.

  owned: the program owns its process (`main`, test workers). Then every object alive
  after the import moves into the collector's permanent generation (`gc.freeze`), so
  that later full collections skip them, and Keras loads without matplotlib. In a host
  program (a notebook) the first would keep its cycles too, and the second would leave
  its Keras without the gallery plots.
  """
  if 'tensorflow' in sys.modules:
    return sys.modules['tensorflow']
  hidden = owned and 'matplotlib' not in sys.modules
  if hidden:
    sys.modules['matplotlib'] = None  # `import matplotlib...` raises ImportError
  enabled = gc.isenabled()
  gc.disable()
  try:
    import tensorflow
    import keras  # noqa: F401  (what imports pyplot; TensorFlow may load it lazily)
  finally:
    if hidden:
      del sys.modules['matplotlib']
    if owned:
      gc.freeze()
    if enabled:
      gc.enable()
  return tensorflow
