"""The restricted unpickler: official checkpoint pickles load, anything else is refused."""

import os
import pickle

import numpy as np
import pytest

from dreamerv3_tf.interop import unpickle


def official_like():
  return {'params': {'enc/mlp0/kernel': np.arange(6, dtype=np.float32).reshape(2, 3),
                     'opt/step/value': np.array(3, np.int32)},
          'counters': {'updates': 3, 'batches': 3, 'actions': 100}}


def assert_same(a, b):
  assert a.keys() == b.keys()
  for k in a:
    if isinstance(a[k], dict):
      assert_same(a[k], b[k])
    elif isinstance(a[k], np.ndarray):
      assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
      np.testing.assert_array_equal(a[k], b[k])
    else:
      assert a[k] == b[k]


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_loads_arrays_and_plain_containers(protocol):
  data = official_like()
  data['extra'] = [1.5, 'text', None, True, (b'raw', np.float32(2.0))]
  assert_same(unpickle.loads(pickle.dumps(data, protocol=protocol)), data)


def test_loads_numpy_1_pickles():
  # The official venv pins numpy<2, whose pickles name numpy.core (numpy 2: numpy._core).
  raw = pickle.dumps(official_like(), protocol=2)
  raw = raw.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
  assert b'numpy.core.multiarray' in raw
  assert_same(unpickle.loads(raw), official_like())


class Exploit:
  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (os.system, (f'touch {self.path}',))


def test_refuses_a_pickle_that_would_run_a_command(tmp_path):
  marker = tmp_path / 'pwned'
  raw = pickle.dumps({'params': {'x': Exploit(marker)}})
  pickle.loads(raw)  # the plain unpickler runs it (the reason for this module) ...
  assert marker.exists()
  marker.unlink()
  with pytest.raises(unpickle.UnpickleError) as error:
    unpickle.loads(raw)  # ... this one does not
  assert not marker.exists()
  message = str(error.value)
  assert '\n' not in message and 'system' in message


@pytest.mark.parametrize('value', [
    {1, 2},                                  # a builtins.set global (protocol 2)
    np.array(['a', 1], dtype=object),        # an array of Python objects
    np.ma.masked_array([1.0, 2.0]),          # an ndarray subclass
])
def test_refuses_other_objects(value):
  with pytest.raises(unpickle.UnpickleError) as error:
    unpickle.loads(pickle.dumps({'params': {'x': value}}, protocol=2))
  assert '\n' not in str(error.value)


def test_refuses_broken_bytes():
  raw = pickle.dumps(official_like())
  with pytest.raises(unpickle.UnpickleError, match='not a readable pickle'):
    unpickle.loads(raw[:len(raw) // 2])


def test_nesting_and_shared_references_are_checked_once_without_recursion():
  """The checks recursed once per level and walked a shared list once per reference: a
  pickle of lists 100K deep (200 KB) was an 'unexpected' RecursionError naming no
  file, one whose list holds itself never ended in one, and 80 levels of a list held
  twice by the next (2 KB) were 2**80 visits: the importer hung."""
  deep = 100_000
  value = unpickle.loads(b'\x80\x02' + b']' * deep + b'a' * (deep - 1) + b'.')
  for _ in range(deep - 1):
    value, = value
  assert value == []
  looped = [1.0]
  looped.append(looped)
  value = unpickle.loads(pickle.dumps({'params': {}, 'x': looped}))
  assert value['x'][1] is value['x']
  shared = [np.zeros(2, np.float32)]
  for _ in range(80):
    shared = [shared, shared]
  value = unpickle.loads(pickle.dumps({'params': {}, 'x': shared}))
  assert value['x'][0] is value['x'][1]
  # What the checks refuse is still named, deep down too (the path cut to one line).
  bad = {'params': {'x': [[[np.array(['a', 1], dtype=object)]]]}}
  with pytest.raises(unpickle.UnpickleError, match=r"^data\['params'\]\['x'\]\[0\]\[0\]\[0\]: "
                     'array of Python objects'):
    unpickle.loads(pickle.dumps(bad))
  bad = [np.array(['a'], dtype=object)]
  for _ in range(200):
    bad = [bad]
  with pytest.raises(unpickle.UnpickleError) as error:
    unpickle.loads(pickle.dumps(bad))
  path, reason = str(error.value).split(': ', 1)
  assert path.startswith('data[0][0]') and '...' in path and len(path) <= 100, path
  assert path.endswith('[0][0]') and reason.startswith('array of Python objects')
