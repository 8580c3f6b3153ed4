"""The policy step's host boundary, paid once per batch size instead of every call.

A size1m policy step computes for well under a millisecond; what a call costs on
the host is Python: tf.function's dispatch over nested arguments (about 1 ms on
2 cores), numpy-to-tensor conversion, and the checks. Per batch size and mode,
`PolicySpec` holds the expected keys, shapes and dtypes, and `FlatProgram` the
program already traced for them, called with a flat list of tensors
(bench/policy_profile.py times each part). The traced program is the agent's own
(`Agent._s.fns['policy']`): nothing is traced or compiled twice, and the math is
the same program's. The input checks (`check_inputs`, `check_carry`) are the
train and report steps' too.
"""

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops


def _host_tensor(x, dtype):
  """A numpy array as a host EagerTensor: 2 µs, where tf.constant takes 16 (it also
  runs an op to place the copy on the default device; the call places it anyway)."""
  return ops.EagerTensor(x, None, dtype)


def _kind(space):
  """The dtype an input of `space` is cast to (uint8 must come as uint8)."""
  if space.dtype == np.uint8:
    return np.uint8
  if space.dtype == bool:
    return bool
  return np.int32 if space.discrete else np.float32


def input_spec(keys, spaces, lead):
  """[(key, expected shape, dtype to cast to)] of inputs `keys` with leading dims `lead`."""
  return [(k, (*lead, *spaces[k].shape), _kind(spaces[k])) for k in keys]


def check_inputs(data, spec, what):
  """{key: array} of `data` checked and cast against `spec` (see `input_spec`).

  Raises ValueError naming `what`, the key and the problem.
  """
  out = {}
  for k, shape, kind in spec:
    if k not in data:
      raise ValueError(f'{what}: missing key {k!r}; got {sorted(data)}')
    x = np.asarray(data[k])
    if x.shape != shape:
      raise ValueError(f'{what}[{k!r}]: expected shape {shape}, got {x.shape}')
    if kind is np.uint8:
      if x.dtype != np.uint8:
        raise ValueError(f'{what}[{k!r}]: expected dtype uint8, got {x.dtype}')
    elif x.dtype != kind:
      x = x.astype(kind)
    out[k] = x
  return out


def check_carry(carry, shapes):
  """{key: float32 array} of `carry` checked against `shapes` {key: full shape}."""
  if not isinstance(carry, dict) or carry.keys() != shapes.keys():
    raise ValueError(f'carry: expected keys {sorted(shapes)}, got '
                     f'{sorted(carry) if isinstance(carry, dict) else type(carry)}')
  out = {}
  for k, shape in shapes.items():
    x = np.asarray(carry[k], np.float32)
    if x.shape != shape:
      raise ValueError(f'carry[{k!r}]: expected shape {shape}, got {x.shape}')
    out[k] = x
  return out


class PolicySpec:
  """The checks of one policy call's carry and obs for batch size B, built once."""

  def __init__(self, B, obs_space, act_space, obs_keys, carry_shapes):
    self.B = B
    self.obs = input_spec(obs_keys, {**act_space, **obs_space}, (B,))
    self.carry = {k: (B, *shape) for k, shape in carry_shapes.items()}

  def check_carry(self, carry):
    return check_carry(carry, self.carry)

  def check_obs(self, data, what='policy obs'):
    return check_inputs(data, self.obs, what)


class FlatProgram:
  """One traced policy program, called with its inputs flattened.

  `concrete`: the tf.function's concrete function for one input signature. Its
  atomic function is called directly with the flat tensors and the captured
  variable handles (TensorFlow's own call path after binding the arguments; the
  binding is what costs). TensorFlow is pinned (pyproject.toml); without that
  private attribute the public concrete call is used.
  """

  def __init__(self, concrete):
    self._concrete = concrete
    self._atomic = getattr(concrete, '_inference_function', None)
    self._captured = list(concrete.captured_inputs)
    self._outputs = concrete.structured_outputs
    self._dtypes = [spec.dtype.as_datatype_enum
                    for spec in tf.nest.flatten(concrete.structured_input_signature[0])]

  def __call__(self, args):
    """args: the step's structured numpy/tensor arguments -> structured EagerTensors."""
    if self._atomic is None:
      return self._concrete(*args)
    flat = [x if isinstance(x, tf.Tensor) else _host_tensor(x, dtype)
            for x, dtype in zip(tf.nest.flatten(args), self._dtypes)]
    outs = self._atomic.call_flat(*flat, *self._captured)
    return tf.nest.pack_sequence_as(self._outputs, outs)
