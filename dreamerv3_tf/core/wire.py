"""Plain-data encoding without pickle: JSON for saved state, JSON + raw buffers for IPC.

Values are nested dicts (str keys), lists, tuples, None, bools, ints, floats, strings,
numpy arrays and scalars, and `Space`s. Decoding builds only those types, so reading
a message or a saved state never runs code named by the data.

  state = to_json(value); value = from_json(state)     # arrays as lists (checkpoints)
  data = dumps(value); value = loads(data)             # arrays as raw bytes (env workers)
"""

import json
import struct

import numpy as np

from dreamerv3_tf.core.spaces import Space

_HEADER = struct.Struct('<Q')


def to_json(value):
  """-> a JSON-able value; numpy arrays become lists."""
  return _encode(value, None)


def from_json(value):
  return _decode(value, None)


def dumps(value):
  """-> bytes: a length-prefixed JSON header, then each array's raw bytes."""
  arrays = []
  header = json.dumps({'value': _encode(value, arrays), 'buffers': [
      [a.dtype.str, a.shape] for a in arrays]}).encode()
  return b''.join([_HEADER.pack(len(header)), header] + [a.tobytes() for a in arrays])


def loads(data):
  data = memoryview(data)
  size, = _HEADER.unpack_from(data)
  header = json.loads(bytes(data[_HEADER.size:_HEADER.size + size]))
  buffers, offset = [], _HEADER.size + size
  for dtype, shape in header['buffers']:
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    array = np.frombuffer(data, dtype, count, offset).reshape(shape)
    buffers.append(array.copy())  # writable, and independent of the message
    offset += count * dtype.itemsize
  return _decode(header['value'], buffers)


def send(conn, value):
  """Sends `value` over a multiprocessing Connection as bytes (no pickle)."""
  conn.send_bytes(dumps(value))


def recv(conn):
  return loads(conn.recv_bytes())


def _encode(value, arrays):
  if isinstance(value, Space):
    return {'__space__': [_encode(x, arrays) for x in (
        value.dtype.str, list(value.shape), value.low, value.high)]}
  if isinstance(value, dict):
    if not all(isinstance(k, str) for k in value):
      raise TypeError(f'wire: dict keys must be strings, got {sorted(map(repr, value))}')
    return {'__dict__': [[k, _encode(v, arrays)] for k, v in value.items()]}
  if isinstance(value, (list, tuple)):
    return {'__list__': [_encode(v, arrays) for v in value], 'tuple': isinstance(value, tuple)}
  if isinstance(value, (np.ndarray, np.generic)):
    scalar = isinstance(value, np.generic)
    value = np.asarray(value)
    if arrays is None:  # the JSON form that checkpoints already hold
      return {'__array__': value.tolist(), 'dtype': value.dtype.name, 'shape': value.shape}
    if value.dtype.hasobject:
      raise TypeError('wire: numpy arrays of Python objects have no raw bytes to send')
    arrays.append(value)  # tobytes() below writes C order whatever the layout
    return {'__buffer__': len(arrays) - 1, 'scalar': scalar}
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  raise TypeError(f'wire: cannot encode {type(value).__name__} {value!r:.60}')


def _decode(value, buffers):
  if not isinstance(value, dict):
    return value
  if '__dict__' in value:
    return {k: _decode(v, buffers) for k, v in value['__dict__']}
  if '__list__' in value:
    items = [_decode(v, buffers) for v in value['__list__']]
    return tuple(items) if value['tuple'] else items
  if '__array__' in value:
    return np.array(value['__array__'], value['dtype']).reshape(value['shape'])
  if '__buffer__' in value:
    array = buffers[value['__buffer__']]
    return array[()] if value['scalar'] else array
  if '__space__' in value:
    dtype, shape, low, high = (_decode(x, buffers) for x in value['__space__'])
    return Space(dtype, tuple(shape), low, high)
  raise ValueError(f'wire: unknown encoded value with keys {sorted(value)}')
