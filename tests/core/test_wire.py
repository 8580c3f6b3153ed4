"""core.wire: what the env workers send, and the JSON state of checkpoints, without pickle."""

import json

import numpy as np
import pytest

from dreamerv3_tf.core import wire
from dreamerv3_tf.core.spaces import Space


def test_raw_round_trip_keeps_types_values_and_dtypes():
  value = {
      'image': np.arange(48, dtype=np.uint8).reshape(4, 4, 3),
      'reward': np.float32(1.5), 'is_first': np.bool_(True), 'count': 3,
      'none': None, 'text': 'x', 'pair': (1, [2.0, 'b']), 'empty': np.zeros((0, 2)),
      'space': Space(np.int32, (), 0, 4)}
  out = wire.loads(wire.dumps(value))
  assert list(out) == list(value)
  np.testing.assert_array_equal(out['image'], value['image'])
  assert out['image'].dtype == np.uint8 and out['image'].flags.writeable
  assert type(out['reward']) is np.float32 and out['reward'] == 1.5
  assert type(out['is_first']) is np.bool_
  assert out['pair'] == (1, [2.0, 'b']) and isinstance(out['pair'], tuple)
  assert out['empty'].shape == (0, 2) and out['none'] is None
  space = out['space']
  assert (space.dtype, space.shape, int(space.low), int(space.high)) == (np.int32, (), 0, 4)


def test_json_form_is_plain_json():
  value = {'acts': {'action': np.array([[1, 2]], np.int32)}, 'carry': [np.float32(2)]}
  text = json.dumps(wire.to_json(value))
  out = wire.from_json(json.loads(text))
  np.testing.assert_array_equal(out['acts']['action'], [[1, 2]])
  assert out['acts']['action'].dtype == np.int32


@pytest.mark.parametrize('bad', [object(), {1: 'x'}, np.array([object()])])
def test_values_that_are_not_plain_data_are_refused(bad):
  with pytest.raises(TypeError, match='wire'):
    wire.dumps({'key': bad})
