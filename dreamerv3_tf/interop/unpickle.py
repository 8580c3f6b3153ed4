"""A restricted unpickler for checkpoints of the official DreamerV3 code.

The official code saves `agent.pkl` as a pickle of plain dicts, ints and numpy
arrays. A pickle can name any importable callable and call it while loading, so a
plain `pickle.load` of a file from elsewhere runs whatever the file says. Here the
only globals a pickle may name are the few that rebuild numpy arrays and dtypes
(numpy 1.x and 2.x spellings, pickle protocols 2 to 5); everything else is refused
before anything is called. Numpy only: no TensorFlow, so the official code's own
environment can use this module too (tools/parity).

  data = loads(raw_bytes)       # dicts, lists, tuples, str, int, float, bool, None,
                                # bytes and numeric numpy arrays; else UnpickleError
"""

import codecs
import io
import pickle
import reprlib

import numpy as np


class UnpickleError(ValueError):
  """A pickle this module refuses to load; the message is one line."""


def _reconstruct(subtype, shape, dtype):
  """numpy's array constructor for pickles, for plain ndarrays only."""
  if subtype is not np.ndarray:
    raise UnpickleError(f'pickle rebuilds an array of type {subtype!r}, not numpy.ndarray')
  return np.ndarray.__new__(np.ndarray, shape, dtype)


def _frombuffer(buffer, dtype, shape, order):
  """numpy's protocol-5 array constructor (an out-of-band buffer is refused)."""
  if not isinstance(buffer, (bytes, bytearray)):
    raise UnpickleError(f'pickle gives an array buffer of type {type(buffer).__name__}')
  array = np.frombuffer(buffer, dtype=dtype)
  if order == 'F':
    return array.reshape(shape[::-1]).T.copy()
  return array.reshape(shape).copy()


def _scalar(dtype, data=None):
  """numpy's scalar constructor (np.float32(1) and the like in a pickle)."""
  if not isinstance(dtype, np.dtype) or dtype.hasobject:
    raise UnpickleError(f'pickle rebuilds a numpy scalar of dtype {dtype!r}')
  if not isinstance(data, bytes) or len(data) != dtype.itemsize:
    raise UnpickleError('pickle gives a numpy scalar without its raw bytes')
  return np.frombuffer(data, dtype)[0]


def _latin1(text, encoding):
  """`_codecs.encode`, which protocol-2 pickles use for bytes, for latin1 only."""
  if encoding != 'latin1' or not isinstance(text, str):
    raise UnpickleError(f'pickle encodes bytes with {encoding!r}, not latin1')
  return codecs.encode(text, 'latin1')


# (module, name) -> what a pickle gets for it. Nothing else can be named.
_ALLOWED = {}
for _core in ('numpy.core', 'numpy._core'):
  _ALLOWED[(f'{_core}.multiarray', '_reconstruct')] = _reconstruct
  _ALLOWED[(f'{_core}.multiarray', 'scalar')] = _scalar
  _ALLOWED[(f'{_core}.numeric', '_frombuffer')] = _frombuffer
_ALLOWED[('numpy', 'ndarray')] = np.ndarray
_ALLOWED[('numpy', 'dtype')] = np.dtype
_ALLOWED[('_codecs', 'encode')] = _latin1


class _Unpickler(pickle.Unpickler):

  def find_class(self, module, name):
    try:
      return _ALLOWED[(module, name)]
    except KeyError:
      raise UnpickleError(
          f'pickle names {module}.{name}; only numpy arrays, dtypes and plain '
          'containers are allowed') from None

  def persistent_load(self, pid):
    raise UnpickleError('pickle uses persistent ids; not allowed')


def loads(data):
  """Unpickles `data` (bytes) admitting only numpy arrays, dtypes and plain values.

  Raises:
    UnpickleError (one line) for anything else, before any of it is called; also
    for a truncated or corrupt pickle and for arrays of Python objects.
  """
  try:
    value = _Unpickler(io.BytesIO(data)).load()
  except UnpickleError:
    raise
  except Exception as e:  # noqa: BLE001 - every way a broken pickle fails
    raise UnpickleError(f'not a readable pickle ({type(e).__name__}: {e})') from None
  _check_values(value)
  return value


def _check_values(value):
  """UnpickleError unless `value` holds only what `loads` admits.

  Walks with a stack and visits each container once: a pickle's memo can nest lists
  100K deep from a few bytes (a RecursionError here) or share one list twice per
  level (2**80 visits from 80 levels: a hang)."""
  stack, seen = [(value, None)], set()
  while stack:
    value, where = stack.pop()
    if isinstance(value, np.ndarray):
      if value.dtype.hasobject:
        raise UnpickleError(
            f'{_path(where)}: array of Python objects; only numeric arrays allowed')
    elif isinstance(value, (dict, list, tuple)):
      if id(value) in seen:
        continue
      seen.add(id(value))
      if isinstance(value, dict):
        inner = [x for key, item in value.items()
                 for x in ((key, (where, key, True)), (item, (where, key, False)))]
      else:
        inner = [(item, (where, i, False)) for i, item in enumerate(value)]
      stack += reversed(inner)  # checked in order, as before
    elif not isinstance(value, (str, bytes, int, float, bool, type(None), np.generic,
                                np.dtype)):
      raise UnpickleError(f'{_path(where)}: unexpected {type(value).__name__}')


def _path(where):
  """'data[...][...]' of a (parent, key, is_key) chain of _check_values, at most ~100
  characters (a path 100K levels deep would be the whole line)."""
  labels = []
  while where is not None:
    where, key, is_key = where
    labels.append(' key' if is_key else f'[{reprlib.repr(key)}]')
  path = 'data' + ''.join(reversed(labels))
  return path if len(path) <= 100 else f'{path[:48]}...{path[-48:]}'
