"""TensorFlow's import with the garbage collector paused (tfimport.py) leaves the
collector as it found it, and freezes only when asked."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = ('import gc, sys; from dreamerv3_tf import tfimport; {before}; '
         'tf = tfimport.load(freeze={freeze}); '
         'print(tf is sys.modules["tensorflow"], gc.isenabled(), gc.get_freeze_count() > 0)')


@pytest.mark.parametrize('before, freeze, expected', [
    ('pass', False, 'True True False'),
    ('pass', True, 'True True True'),
    ('gc.disable()', False, 'True False False'),  # a host program's choice stays
])
def test_the_collector_is_left_as_it_was(before, freeze, expected):
  code = PROBE.format(before=before, freeze=freeze)
  out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.split('\n')[-2] == expected
