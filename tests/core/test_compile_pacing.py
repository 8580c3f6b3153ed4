"""core/compile_pacing.py: a compiling call yields the CPU to the helpers it starts,
returns or raises as it would, and a stop during it is handled when it returns."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from dreamerv3_tf.core import compile_pacing

pytestmark = pytest.mark.skipif(not compile_pacing.supported(), reason='Linux only')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def nice_of(tid):
  return os.getpriority(os.PRIO_PROCESS, tid)


def spin(seconds):
  """Uses `seconds` of this thread's CPU."""
  end = time.thread_time() + seconds
  while time.thread_time() < end:
    pass


@pytest.mark.parametrize('release', [None, lambda: None])
def test_the_call_yields_once_a_helper_it_started_is_busy(release):
  seen = {}

  def compile_like():
    me = threading.get_native_id()
    seen['start'] = nice_of(me)
    helper = threading.Thread(target=spin, args=(3 * compile_pacing.BUSY,))
    helper.start()
    helper.join()
    time.sleep(5 * compile_pacing.POLL)  # the watcher's next look
    seen['end'], seen['thread'] = nice_of(me), me
    return 'compiled'

  caller = threading.get_native_id()
  before = nice_of(caller)
  assert compile_pacing.run(compile_like, release=release) == 'compiled'
  assert seen['thread'] != caller
  assert seen['start'] == before
  assert seen['end'] == min(19, before + compile_pacing.NICE)
  assert nice_of(caller) == before  # the lowered thread ended with the call


def test_a_busy_thread_from_before_the_call_or_an_idle_new_one_changes_nothing():
  stop = threading.Event()

  def busy():
    while not stop.is_set():
      spin(0.01)

  old = threading.Thread(target=busy)
  old.start()
  try:
    def idle_helpers():
      helpers = [threading.Thread(target=time.sleep, args=(0.05,)) for _ in range(4)]
      for h in helpers:
        h.start()
      for h in helpers:
        h.join()
      time.sleep(10 * compile_pacing.POLL)
      return nice_of(threading.get_native_id())

    assert compile_pacing.run(idle_helpers) == nice_of(threading.get_native_id())
  finally:
    stop.set()
    old.join()


def test_the_heap_is_released_while_the_call_runs_and_not_after():
  # What a compile frees goes back to the OS during it, not only after: the first
  # run's buffers then add to a smaller heap (BENCHMARKS.md, session 28).
  released = []

  def compile_like():
    time.sleep(10 * compile_pacing.RELEASE)  # no helper: the priority stays
    return len(released)

  during = compile_pacing.run(compile_like, release=lambda: released.append(1))
  assert during >= 2  # about 10; at least 2 however late the watcher's thread runs
  after_return = len(released)
  time.sleep(3 * compile_pacing.RELEASE)
  assert len(released) == after_return  # the watcher ended with the call


def test_errors_are_raised_on_the_caller():
  def fails():
    raise ValueError('bad shape')

  with pytest.raises(ValueError, match='bad shape'):
    compile_pacing.run(fails)


def test_without_proc_the_call_runs_on_the_caller(monkeypatch):
  monkeypatch.setattr(compile_pacing, 'supported', lambda: False)
  assert compile_pacing.run(threading.get_native_id) == threading.get_native_id()


@pytest.mark.parametrize('name', ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGXCPU'])
def test_a_stop_during_the_call_is_handled_when_it_returns(name):
  """Every stop signal (exit_guard.STOP_SIGNALS): SIGXCPU was left out, so it
  interrupted the caller's wait and the run exited with the compile still running on
  its thread, which then aborted the process ('FATAL: exception not rethrown', exit
  -6) after the stop's line. In a process of its own: a main thread's handler, and a
  real signal."""
  code = textwrap.dedent(f'''
      import os, signal, sys, time
      from dreamerv3_tf.core import compile_pacing
      events = []
      signal.signal(signal.{name}, lambda *_: events.append('handler'))
      def call():
        os.kill(os.getpid(), signal.{name})
        time.sleep(0.3)
        events.append('returned')
        return 7
      result = compile_pacing.run(call)
      events.append('after')
      print(result, *events)
  ''')
  proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                        text=True, timeout=60, check=False)
  assert proc.returncode == 0, proc.stderr
  assert proc.stdout.split() == ['7', 'returned', 'handler', 'after']


# A stop whose signal comes as run() starts the call's thread: the main thread blocks it,
# so it comes to a thread from before (TensorFlow's pools), and the main thread's handler
# runs at its next Python call, before its wait.
STOP_AS_THE_CALL_STARTS = '''
import os, signal, threading, time
from dreamerv3_tf import stop_notice
from dreamerv3_tf.core import compile_pacing

def stop(*_):  # as the run's handler does (stop_signals.stop)
  handled.append(True)
  raise KeyboardInterrupt

handled = []
signal.signal(signal.SIGTERM, stop)
stop_notice.watch(lambda: bool(handled), delay=0.1)
threading.Thread(target=threading.Event().wait, daemon=True).start()  # signals unblocked
start = threading.Thread.start

def start_then_stop(self):
  start(self)
  if self.name == 'compile-call':
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # (another thread takes it; the handler runs once this returns)

threading.Thread.start = start_then_stop
events = []

def call():
  events.append('began')
  time.sleep(1.0)
  events.append('returned')

try:
  compile_pacing.run(call)
except KeyboardInterrupt:
  events.append('stopped')
time.sleep(1.0)  # a call left running returns meanwhile
print(*events)
'''


def stop_as_the_call_starts():
  """-> (the lines the snippet printed before its last, its last line's words)."""
  proc = subprocess.run([sys.executable, '-c', STOP_AS_THE_CALL_STARTS], cwd=ROOT,
                        capture_output=True, text=True, timeout=60, check=False)
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  return lines[:-1], lines[-1].split()


def test_a_stop_as_the_call_starts_still_waits_for_the_call():
  """The run exited with the compile still running on its thread, which aborted the
  process ('FATAL: exception not rethrown', exit -6) after the stop's line: a SIGTERM
  40 ms after 'First update done' came as the report step's compile started."""
  _, events = stop_as_the_call_starts()
  # (or the call never began: it does not start once the stop came)
  assert events in (['began', 'returned', 'stopped'], ['stopped'])


def test_a_stop_as_the_call_starts_that_waits_for_it_says_so():
  """Its handler had run, so stop_notice took it for handled: a stop that waits for the
  whole compile (30 s and more at size1m) said nothing meanwhile."""
  notices, events = stop_as_the_call_starts()
  if events == ['stopped']:  # the call never began: nothing to wait for
    assert notices == []
  else:
    assert len(notices) == 1 and 'SIGTERM received: stopping once the call TensorFlow is in ' \
        'returns' in notices[0], notices
