"""A stop signal that waits for a long call into C (an XLA compile) is acknowledged at
once on stdout; one handled at once prints nothing more."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The main thread either sits in one long C call that releases the GIL and never
# looks at signals (PBKDF2 here, an XLA compile in a run) or in Python code.
SNIPPET = r'''
import hashlib, os, signal, subprocess, sys, time
from dreamerv3_tf import stop_notice
seen = []
signal.signal(signal.SIGINT, lambda *_: seen.append(time.monotonic()))
stop_notice.watch(lambda: bool(seen), delay=0.3)
start = time.monotonic()
hashlib.pbkdf2_hmac('sha256', b'x', b'y', 20000)
per_round = (time.monotonic() - start) / 20000
# From another process, half a second into the wait: a signal a process sends itself
# is handled before os.kill returns.
subprocess.Popen(['sh', '-c', f'sleep 0.5; kill -INT {os.getpid()}'])
start = time.monotonic()
if sys.argv[1] == 'c_call':
  hashlib.pbkdf2_hmac('sha256', b'x', b'y', int(2.0 / per_round))  # about 2 s in C
else:
  while time.monotonic() - start < 2.0:  # the handler runs within 10 ms
    time.sleep(0.01)
print('returned', flush=True)
time.sleep(0.5)  # time for a late notice, which must not come
print('handled' if seen else 'not handled', flush=True)
'''


@pytest.mark.parametrize('main_thread, notice', [('c_call', True), ('python', False)])
def test_a_stop_waiting_for_a_c_call_is_acknowledged_at_once(main_thread, notice):
  result = subprocess.run([sys.executable, '-c', SNIPPET, main_thread], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  assert lines[-1] == 'handled', lines
  if notice:  # printed while the call still ran, before it returned
    assert len(lines) == 3 and lines[1] == 'returned', lines
    assert lines[0].endswith('Ctrl-C received: stopping once the call TensorFlow is in '
                             'returns (an XLA compile or an update: up to minutes for big '
                             'models); a second one is ignored.'), lines
  else:
    assert lines == ['returned', 'handled'], lines
  assert not result.stderr, result.stderr[-3000:]


def test_a_wakeup_fd_someone_else_set_is_left_alone():
  snippet = ('import os, signal\nfrom dreamerv3_tf import stop_notice\n'
             'r, w = os.pipe(); os.set_blocking(w, False); signal.set_wakeup_fd(w)\n'
             'assert stop_notice.watch(lambda: True) is None\n'
             'assert signal.set_wakeup_fd(-1) == w\n')
  result = subprocess.run([sys.executable, '-c', snippet], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
  assert result.returncode == 0, result.stderr[-3000:]
