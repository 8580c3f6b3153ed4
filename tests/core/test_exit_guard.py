"""exit_guard: an env's os._exit in this process raises Exited; every other caller
(another thread, a child process the env forked) exits as it asked. The stop signals'
handlers an env replaced are put back."""

import os
import re
import signal
import subprocess
import sys
import threading

import pytest

from dreamerv3_tf.core import exit_guard

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_guarding_thread_gets_exited_and_the_guard_is_undone():
  real = os._exit
  with pytest.raises(exit_guard.Exited, match=r'^called os\._exit\(3\)$'):
    with exit_guard.guard():
      os._exit(3)
  assert os._exit is real


def test_other_threads_exit_as_asked(monkeypatch):
  calls = []
  monkeypatch.setattr(os, '_exit', calls.append)  # the 'real' exit the guard passes on to
  with exit_guard.guard():
    thread = threading.Thread(target=os._exit, args=(5,))
    thread.start()
    thread.join()
  assert calls == [5]


def test_a_forked_child_exits_as_asked():
  with exit_guard.guard():
    pid = os.fork()
    if not pid:  # the child: it must end here, whatever the guard does
      try:
        os._exit(7)
      finally:
        os.abort()  # reached only if the guard raised in the child
  _, status = os.waitpid(pid, 0)
  assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7


def test_stop_handlers_an_env_replaced_are_put_back_with_one_warning(capsys):
  """An env that reset SIGINT to the default made Ctrl-C kill the run without a line;
  one with a handler of its own made it do nothing (the run went on to its end)."""
  def ours(signum, frame):
    del signum, frame
  saved = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
  try:
    signal.signal(signal.SIGINT, ours)
    signal.signal(signal.SIGTERM, ours)
    exit_guard._WARNED.clear()
    for _ in range(2):  # the warning is one line for the run
      with exit_guard.guard('task train env 0'):
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, lambda *_: None)  # its own shutdown
      assert signal.getsignal(signal.SIGINT) is ours
      assert signal.getsignal(signal.SIGTERM) is ours
    assert capsys.readouterr().err.splitlines() == [
        'Warning: task train env 0 set its own handler for SIGINT and SIGTERM; the run put '
        'its own back, so a stop still ends it with one line (its env.close() is called then)']
  finally:
    for number, handler in saved.items():
      signal.signal(number, handler)


def test_a_recursion_limit_an_env_lowered_is_put_back_with_one_warning(monkeypatch, capsys):
  """An env that called sys.setrecursionlimit(60) ended the run with 'Error:
  RecursionError: maximum recursion depth exceeded ... (unexpected: ...)', naming no
  env: the run's own code (TensorFlow's tracing) goes deeper."""
  monkeypatch.setattr(exit_guard, '_WARNED_DEPTH', [], raising=False)
  depth = sys.getrecursionlimit()
  try:
    for _ in range(2):  # the warning is one line for the run
      with exit_guard.guard('task train env 0'):
        sys.setrecursionlimit(60)
      assert sys.getrecursionlimit() == depth
    deep = lambda n: n and deep(n - 1)  # noqa: E731 - the run's code goes this deep
    deep(200)
  finally:
    sys.setrecursionlimit(depth)
  assert capsys.readouterr().err.splitlines() == [
      f'Warning: task train env 0 lowered the recursion limit to 60 (sys.setrecursionlimit); '
      f'the run put its own, {depth}, back']


def test_the_handlers_a_stop_left_are_no_envs_doing(monkeypatch, capsys):
  """A stop ignores further signals (stop_signals.ignore) while it lands in an env's
  step: its handlers stay, and no env is named."""
  from dreamerv3_tf import stop_signals
  saved = signal.getsignal(signal.SIGUSR1)
  try:
    signal.signal(signal.SIGUSR1, lambda *_: None)
    monkeypatch.setattr(stop_signals, '_STOPPED', [signal.SIGINT])
    with exit_guard.guard('task train env 0'):
      signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # as the stop's ignore() does
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
    assert capsys.readouterr().err == ''
  finally:
    signal.signal(signal.SIGUSR1, saved)


def test_leftovers_names_the_threads_that_are_no_daemons_and_still_run(monkeypatch):
  """Python's shutdown waits for them without end: an env's forgotten poller hung the
  program after its last line (Ctrl-C ignored, the run being done)."""
  monkeypatch.setattr(threading, '_threading_atexits', [])  # the test process's pools stay
  monkeypatch.setattr(exit_guard, 'processes_ended', lambda: '')  # and its children (the
  # CLI zygote), which are no env's
  stop = threading.Event()
  ended = threading.Thread(target=lambda: None, name='ended')
  daemon = threading.Thread(target=stop.wait, name='daemon', daemon=True)
  poller = threading.Thread(target=stop.wait, name='poller')
  for thread in (ended, daemon, poller):
    thread.start()
  try:
    assert exit_guard.leftovers(wait=0.2) == (
        "thread 'poller' still ran 0.2 s after the work was done, not a daemon: Python "
        'waits for such at exit, and the program would hang; it ends without waiting: '
        "start it with daemon=True, or end it in the env's close()")
  finally:
    stop.set()
    poller.join()
  assert exit_guard.leftovers(wait=0.2) == ''


@pytest.mark.parametrize('how', ['returns', 'raises'])
def test_a_forked_child_that_comes_back_into_the_run_is_ended(capfd, how):
  """It ran a copy of the run beside it (its logdir, its exit code), forking again at
  each step: a fork bomb of runs."""
  parent = os.getpid()
  try:
    with exit_guard.guard('task train env 0'):
      if not os.fork() and how == 'raises':  # the child: as an exec that failed
        raise FileNotFoundError(2, 'No such file or directory', 'sim')
  except FileNotFoundError:
    pass
  if os.getpid() != parent:  # the child, if the guard let it through
    os._exit(7)
  _, status = os.wait()
  assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1
  raised = (", raising FileNotFoundError: [Errno 2] No such file or directory: 'sim'"
            if how == 'raises' else '')
  assert re.fullmatch(
      r'Warning: task train env 0 forked a process \(pid \d+\) that came back into the '
      rf'run{re.escape(raised)}; it was ended \(a forked child must end with os\._exit\(\) '
      r'or exec\)\n', capfd.readouterr().err)


def test_leftovers_lets_idle_thread_pools_end_as_python_does(monkeypatch):
  """concurrent.futures' workers are no daemons, and Python's exit ends them (with the
  callback it registers in threading) before it joins threads: they were named as
  hanging, and the program ended 2 s late."""
  import concurrent.futures
  pool = concurrent.futures.ThreadPoolExecutor(1)
  pool.submit(lambda: None).result()
  # This pool's part of that callback: the real one ends every pool of the process.
  monkeypatch.setattr(threading, '_threading_atexits', [pool.shutdown])
  monkeypatch.setattr(exit_guard, 'processes_ended', lambda: '')  # (as above)
  assert exit_guard.leftovers(wait=0.2) == ''
  assert not any(t.is_alive() for t in pool._threads)


def test_a_process_that_has_just_started_is_named_by_its_command():
  """Popen returns while the child is still in its exec, before the kernel has set its
  arguments: the line named such a process '' (9% of 300 starts; the test below failed
  so in a full run)."""
  for _ in range(100):
    helper = subprocess.Popen(['sleep', '1000'])
    try:
      assert exit_guard._command(helper.pid) == 'sleep 1000'
    finally:
      helper.kill()
      helper.wait()


# A process whose env started a helper and left it running, as the run ends.
LEFT_RUNNING = """
import os, subprocess, sys
from dreamerv3_tf.core import exit_guard
helper = subprocess.Popen(['sleep', '1000'])
print(exit_guard.leftovers(wait=0.1))
print(os.path.exists(f'/proc/{helper.pid}'))  # (ended and reaped)
"""


def test_a_process_an_env_left_running_is_ended_with_one_line():
  """It outlived the run, and held its stdout open: `main ... | tail` never ended."""
  result = subprocess.run([sys.executable, '-c', LEFT_RUNNING], capture_output=True, text=True,
                          timeout=60, env={**os.environ, 'PYTHONPATH': ROOT})
  lines = result.stdout.splitlines()
  assert result.returncode == 0 and len(lines) == 2, result.stderr[-2000:]
  assert re.fullmatch(r"process 'sleep 1000' \(pid \d+\) that an env started still ran after "
                      r"the work was done; it was ended \(SIGTERM\): end it in the env's "
                      r'close\(\)', lines[0]), lines[0]
  assert lines[1] == 'False'
