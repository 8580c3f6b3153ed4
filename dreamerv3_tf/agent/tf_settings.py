"""Process-wide TensorFlow settings of a host program, scoped away where they would
change what our code computes or saves (a notebook sets them before it uses us).

`own_semantics()`: TensorFlow's default dtype promotion and compiled tf.functions.
  `tf.experimental.numpy.experimental_enable_numpy_behavior(dtype_conversion_mode=
  'all')` (or 'safe') stopped the agent's first policy call and every export with
  "OverflowError: Python int ... too large to convert to np.int32" (a seed's
  constant), and its default 'legacy' mode put some 1160 casts in an export's graph.
  `tf.config.run_functions_eagerly(True)` ran the steps of a `config.jit=True` agent
  eagerly: other random draws than its compiled steps (the debug config's first update
  lost 0.66 more) and many times slower; `config.jit=False` is our switch for that.
`check_eager(what)`: what cannot be scoped: eager execution turned off for good
  (`tf.compat.v1.disable_eager_execution()` or `disable_v2_behavior()`, a host's TF1
  code), or a graph's scope: refused in one line.
`without_op_callbacks()`: the calling thread's op callbacks
  (`tf.debugging.enable_check_numerics`, `tf.debugging.experimental.
  enable_dump_debug_info`) go into every op traced: an export made under them held
  1143 CheckNumerics ops, or 4514 DebugIdentityV2 ops that wrote tfdbg files wherever
  the export ran.
"""

import contextlib
import threading

import tensorflow as tf
from tensorflow.python.eager import context
from tensorflow.python.framework import op_callbacks
from tensorflow.python.framework import ops

from dreamerv3_tf.core import base

# Both settings are globals of the process: the outermost scope of any thread saves
# and restores them, so a scope ending on one thread leaves another's in force.
_LOCK = threading.Lock()
_STATE = {'depth': 0, 'saved': None}


@contextlib.contextmanager
def own_semantics():
  """TensorFlow's default dtype promotion, and tf.functions run as functions, inside."""
  with _LOCK:
    if not _STATE['depth']:
      _STATE['saved'] = (ops.get_dtype_conversion_mode(), tf.config.functions_run_eagerly())
      ops.set_dtype_conversion_mode('off')
      tf.config.run_functions_eagerly(False)
    _STATE['depth'] += 1
  try:
    yield
  finally:
    with _LOCK:
      _STATE['depth'] -= 1
      if not _STATE['depth']:
        mode, eagerly = _STATE['saved']
        ops.set_dtype_conversion_mode(ops.promo_mode_enum_to_string(mode))
        tf.config.run_functions_eagerly(eagerly)


@contextlib.contextmanager
def without_op_callbacks():
  """None of this thread's op callbacks inside (they are its own: thread-local)."""
  callbacks = list(context.context().op_callbacks)
  for callback in callbacks:
    op_callbacks.remove_op_callback(callback)
  try:
    yield
  finally:
    for callback in callbacks:
      op_callbacks.add_op_callback(callback)


class HostSettingError(base.UserError, RuntimeError):
  """A host program's TensorFlow setting that our code cannot work under."""


def check_eager(what):
  """HostSettingError unless TensorFlow executes eagerly here. Without it the agent was
  built of graph tensors, and its first policy call (a SavedPolicy's init_policy)
  stopped with "AttributeError: 'SymbolicTensor' object has no attribute 'numpy'"."""
  if not tf.executing_eagerly():
    raise HostSettingError(
        f'{what} takes and returns numpy arrays, and TensorFlow does not execute eagerly '
        'here: tf.compat.v1.disable_eager_execution() or disable_v2_behavior() was called '
        'in this process (for good), or this runs inside a graph (with '
        'tf.Graph().as_default(), a tf.function); use it in a process that leaves eager '
        'execution on, outside graphs')
