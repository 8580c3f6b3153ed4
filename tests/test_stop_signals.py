"""stop_signals: Ctrl-C or SIGTERM while a command starts, before its own handlers are in
place (numpy, absl, matplotlib, the flags), is one line and exit 130 / 143, and writes
nothing. It printed a traceback, and SIGTERM ended the command without a word. main's
own case is in run/test_errors.py (there the config file is what is slow to load)."""

import os
import subprocess
import sys

import pytest

import cli_zygote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The signal comes once the command's module runs, before its flags are parsed: the
# function each command calls first is replaced by one that sends it.
FIRST_CALL = {
    'dreamerv3_tf.export': 'from dreamerv3_tf import export_checks as owner; name = "entry"',
    'dreamerv3_tf.interop.official': 'from absl import app as owner; name = "run"',
    'dreamerv3_tf.plot': ('import argparse; owner = argparse.ArgumentParser; '
                          'name = "parse_known_args"'),
}
SCRIPT = """
import os, runpy, signal, sys
{first_call}
setattr(owner, name, lambda *args, **kwargs: os.kill(os.getpid(), getattr(signal, sys.argv[1])))
runpy.run_module({module!r}, run_name='__main__')
"""


@pytest.mark.parametrize('module', FIRST_CALL, ids=lambda m: m.split('.')[-1])
@pytest.mark.parametrize('sig, code, word', [
    ('SIGINT', 130, 'Interrupted'), ('SIGTERM', 143, 'Terminated'),
    # The terminal closed: it ended the command without a word.
    ('SIGHUP', 129, 'Hung up (SIGHUP: its terminal closed)'),
    # A scheduler's notice (SLURM's --signal=USR2@60): exit 140 without a word.
    ('SIGUSR2', 140, "Stopped by SIGUSR2 (a scheduler's notice of a job's end?)")])
def test_a_stop_signal_while_a_command_starts_is_one_line(tmp_path, module, sig, code, word):
  script = SCRIPT.format(first_call=FIRST_CALL[module], module=module)
  result = subprocess.run([sys.executable, '-c', script, sig], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, 'PYTHONPATH': ROOT})
  assert result.returncode == code, result.stderr[-3000:]
  assert result.stderr.splitlines() == [f'{word} while starting; nothing was written']
  assert os.listdir(tmp_path) == []


# Both signals come while the main thread is in one C call (an XLA compile), so both
# are pending when Python next looks: it runs SIGINT's handler first, which ignores the
# rest, and then found SIGTERM pending with no handler ('OSError: Signal 15 ignored due
# to race condition' and a traceback on stderr, from the interpreter).
TWO_AT_ONCE = """
import os, signal
from dreamerv3_tf import stop_signals
stop_signals.take_over()
signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals.SIGNALS)  # as in a C call
os.kill(os.getpid(), signal.SIGTERM)
os.kill(os.getpid(), signal.SIGINT)
try:
  signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals.SIGNALS)
  for _ in range(1000):
    pass
except KeyboardInterrupt as stop:
  for _ in range(1000):  # the stop's cleanup: the SIGTERM still pending is looked at
    pass
  print(stop_signals.word_and_code(stop)[0])
"""


def test_two_kinds_of_stop_signal_at_once_are_one_stop_without_a_traceback():
  result = subprocess.run([sys.executable, '-c', TWO_AT_ONCE], capture_output=True,
                          text=True, timeout=60, env={**os.environ, 'PYTHONPATH': ROOT})
  assert (result.returncode, result.stderr) == (0, ''), result.stderr[-3000:]
  # One stop: Python runs pending handlers by signal number, so its word may be the
  # later signal's (SIGINT < SIGTERM).
  assert result.stdout.splitlines() in (['Interrupted'], ['Terminated'])


# SIGTERM, then Ctrl-C, while the main thread is in one call that releases the GIL (an
# XLA compile; here a sleep with the signals held in the main thread): another thread's
# C-level handler takes both as they come, and Python then runs their handlers by number.
# Sent back to back, two threads may take one each, and the second's C-level handler may
# note its signal first (a busy machine, the suite's environment: 'Interrupted' for
# 'Terminated', 130 for 143): the second is sent once the first is noted, as a user's
# second signal comes (within 0.5 s, inside the call's 1 s, whatever first_arrived says).
TAKEN = """
def taken(number):
  for _ in range(50):
    if stop_signals.first_arrived(None) == number:
      return
    time.sleep(0.01)
"""
FIRST_OF_TWO = """
import os, signal, threading, time
"""+TAKEN+"""from dreamerv3_tf import stop_notice, stop_signals
stop_signals.take_over()
stop_notice.watch(lambda: True)
def send():
  time.sleep(0.2)  # (once the main thread is in the call)
  os.kill(os.getpid(), signal.SIGTERM)
  taken(signal.SIGTERM)
  os.kill(os.getpid(), signal.SIGINT)
sender = threading.Thread(target=send)
signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals.SIGNALS)  # (the other threads take them)
try:
  sender.start()
  time.sleep(1.0)  # the call: both come meanwhile
  for _ in range(1000):
    pass
except KeyboardInterrupt as stop:
  print(stop_signals.word_and_code(stop)[0])
"""


def test_of_two_stop_signals_in_one_call_the_first_received_is_reported():
  """It said 'Interrupted' (exit 130) for a SIGTERM that came first: SIGINT's number is
  lower."""
  result = subprocess.run([sys.executable, '-c', FIRST_OF_TWO], capture_output=True,
                          text=True, timeout=60, env={**os.environ, 'PYTHONPATH': ROOT})
  assert (result.returncode, result.stderr, result.stdout) == (0, '', 'Terminated\n'), (
      result.stderr[-3000:])


# A stop that C code turned into a SystemError and printed through sys.excepthook
# (PyErr_Print), as TensorFlow's nest did with a SIGXCPU; then an error of its own.
PRINTED_BY_C = """
import signal, sys
from dreamerv3_tf import stop_signals
stop_signals.take_over()
try:
  signal.raise_signal(signal.SIGXCPU)
except KeyboardInterrupt as stop:
  try:
    raise SystemError('returned a result with an exception set')
  except SystemError as error:
    sys.excepthook(type(error), error, error.__traceback__)
  try:
    stop_signals.raise_again()
  except stop_signals.CpuLimit:
    print('raised again')
  error = ValueError('not a stop')
  sys.excepthook(type(error), error, None)
"""


def test_a_stop_printed_where_it_landed_is_not_printed_and_is_raised_again():
  """A stop's exception swallowed where it landed (a weakref's callback, C code that
  prints it) printed its traceback beside the stop's line; the run raises it again
  (core/driver, tests/run/test_errors.py) and prints only what it did not come from."""
  result = subprocess.run([sys.executable, '-c', PRINTED_BY_C], capture_output=True,
                          text=True, timeout=60, env={**os.environ, 'PYTHONPATH': ROOT})
  assert result.stdout == 'raised again\n', result.stderr[-3000:]
  assert result.stderr == 'ValueError: not a stop\n'


# Each command's first call once its handlers are in place (inside its `try`), and the
# arguments that get it there.
CALL_IN_COMMAND = {
    'dreamerv3_tf.export': ('from dreamerv3_tf import export_checks as owner; name = "normalize"',
                            ['--logdir=run', '--out=export'],
                            'Terminated; an unfinished export leaves --out as it was'),
    'dreamerv3_tf.interop.official': (
        'from dreamerv3_tf import tfimport as owner; name = "check_tf_env"',
        ['--checkpoint=.', '--logdir=imported'],
        'Terminated; the import did not finish and wrote nothing'),
    'dreamerv3_tf.plot': ('from dreamerv3_tf.core import path_lines as owner; name = "runs_in"',
                          ['--logdirs', '.', '--table', '10000'],
                          'Terminated; --out is left as it was or written whole'),
}
# As FIRST_OF_TWO, within the command: the call is replaced by one that takes SIGTERM,
# then Ctrl-C, while the main thread holds them.
IN_COMMAND = """
import os, runpy, signal, sys, threading, time
"""+TAKEN+"""from dreamerv3_tf import stop_signals
{call}
def send():
  time.sleep(0.2)
  os.kill(os.getpid(), signal.SIGTERM)
  taken(signal.SIGTERM)
  os.kill(os.getpid(), signal.SIGINT)
def call(*args, **kwargs):
  signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals.SIGNALS)
  threading.Thread(target=send).start()
  time.sleep(1.0)
  signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals.SIGNALS)
  for _ in range(1000):
    pass
  raise AssertionError('no stop came')
setattr(owner, name, call)
runpy.run_module(sys.argv.pop(1), run_name='__main__')
"""


@pytest.mark.parametrize('module', CALL_IN_COMMAND, ids=lambda m: m.split('.')[-1])
def test_of_two_stop_signals_in_a_commands_call_the_first_received_is_reported(tmp_path, module):
  """export, plot and the official importer said 'Interrupted' (exit 130) for a SIGTERM
  that came first, as main did."""
  call, args, line = CALL_IN_COMMAND[module]
  if module == 'dreamerv3_tf.interop.official':  # its --checkpoint=. is looked at first
    (tmp_path / 'ckpt' / 'x').mkdir(parents=True)
    (tmp_path / 'ckpt' / 'latest').write_text('x')
    for name in ('agent.pkl', 'done'):
      (tmp_path / 'ckpt' / 'x' / name).write_bytes(b'')
  result = subprocess.run([sys.executable, '-c', IN_COMMAND.format(call=call), module, *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, 'PYTHONPATH': ROOT})
  assert (result.returncode, result.stderr.splitlines()) == (143, [line]), result.stderr[-3000:]


# A stop that lands in Python code TensorFlow's C++ calls back: here `Context._handle`,
# which EagerTensor's constructor reads for every tensor made from a Python value. The
# property is replaced by one that sends SIGTERM first.
IN_TENSORFLOWS_CALLBACK = """
import os, signal, sys, traceback
import tensorflow as tf
from tensorflow.python.eager import context
from dreamerv3_tf import stop_signals
variable = tf.Variable(0, dtype=tf.int64)
real, deferred = context.Context._handle, []
def handle(self):
  context.Context._handle = real  # once
  os.kill(os.getpid(), signal.SIGTERM)
  deferred.append(not stop_signals.raised())  # (the handler ran before this line)
  return real.fget(self)
stop_signals.take_over()
context.Context._handle = property(handle)
def step():
  variable.assign_add(1)
  return 'the step after the stop'
try:
  step()
  print('no stop')
except stop_signals.Terminated as e:
  where = [x for x in traceback.extract_tb(e.__traceback__) if 'stop_signals' not in x.filename][-1]
  print(deferred, int(variable.numpy()), where.filename, not stop_signals.raised())
"""


def test_a_stop_in_code_tensorflow_calls_back_is_raised_once_it_returned():
  """A stop raised inside such a callback reached C++ that did not check for it: the run
  died by SIGSEGV (exit -11), without its line and without the final save."""
  result = cli_zygote.run([sys.executable, '-c', IN_TENSORFLOWS_CALLBACK], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  # Deferred where it landed; raised in this code (as the step returned), after the update
  # it landed in.
  assert result.stdout == '[True] 1 <string> False\n', result.stderr[-3000:]


# A stop that lands in TensorFlow's code as it calls code of ours is raised once TensorFlow's
# code returned, not in ours, which C++ may have called. The modules stand for TensorFlow's
# and ours by their names.
FAKE_TENSORFLOW_MODULE = """
import os, signal
def call(fn):
  os.kill(os.getpid(), signal.SIGTERM)
  return fn()
"""
CALLED_BACK = """
import sys
from dreamerv3_tf import stop_signals
modules, ran = {}, []
for name in ('tensorflow.fake', 'dreamerv3_tf.fake'):
  sys.modules[name] = modules[name] = type(sys)(name)
exec(sys.argv[1], modules['tensorflow.fake'].__dict__)
modules['dreamerv3_tf.fake'].step = lambda: ran.append(1)
stop_signals.take_over()
try:
  modules['tensorflow.fake'].call(modules['dreamerv3_tf.fake'].step)
  print('no stop')
except stop_signals.Terminated:
  print('raised after', ran, sys.getprofile())
for _ in range(3):
  len([])
print('once')
"""


def test_a_stop_in_tensorflows_code_is_raised_once_it_returned_not_in_ours_it_calls():
  result = subprocess.run([sys.executable, '-c', CALLED_BACK, FAKE_TENSORFLOW_MODULE],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
  assert result.stdout == 'raised after [1] None\nonce\n', result.stderr[-3000:]
