"""RemoteEnv: an env in a worker process behind the Env contract."""

import functools
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dreamerv3_tf.core import base
from dreamerv3_tf.core import workers
from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.envs import make_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DUMMY = functools.partial(make_env, 'dummy_disc_vec', {'dummy': {'length': 5}}, 3)


def act(reset, action=1):
  return {'action': np.int32(action), 'reset': np.bool_(reset)}


def test_steps_like_the_env_in_this_process():
  local = DUMMY()
  remote = workers.RemoteEnv(0, DUMMY)
  try:
    assert isinstance(remote, base.Env)
    assert remote.obs_space.keys() == local.obs_space.keys()
    assert remote.act_space.keys() == local.act_space.keys()
    for t in range(8):
      a, b = remote.step(act(t == 0, t % 4)), local.step(act(t == 0, t % 4))
      assert a.keys() == b.keys()
      for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  finally:
    remote.close()
    local.close()


def test_state_round_trip_and_close():
  remote = workers.RemoteEnv(0, DUMMY)
  remote.step(act(True))
  remote.step(act(False))
  state = remote.get_state()
  after = [remote.step(act(False, i))['vector'] for i in range(3)]
  remote.set_state(state)
  again = [remote.step(act(False, i))['vector'] for i in range(3)]
  np.testing.assert_array_equal(after, again)
  pid = remote.pid
  remote.close()
  remote.close()  # twice is fine
  with pytest.raises(ProcessLookupError):  # exited and reaped
    os.kill(pid, 0)


def worker_environ(pid):
  with open(f'/proc/{pid}/environ', 'rb') as f:
    return dict(x.split(b'=', 1) for x in f.read().split(b'\0') if b'=' in x)


@pytest.mark.parametrize('users', [None, '3'])
def test_a_worker_uses_one_blas_thread_unless_the_user_chose(monkeypatch, users):
  """Each worker would otherwise start an OpenBLAS thread per core for its one env."""
  if users is None:
    monkeypatch.delenv('OPENBLAS_NUM_THREADS', raising=False)
  else:
    monkeypatch.setenv('OPENBLAS_NUM_THREADS', users)
  remote = workers.RemoteEnv(0, DUMMY)
  try:
    remote.step(act(True))
    assert worker_environ(remote.pid).get(b'OPENBLAS_NUM_THREADS') == (users or '1').encode()
  finally:
    remote.close()


def test_a_killed_worker_is_rebuilt_and_starts_an_episode(capsys):
  remote = workers.RemoteEnv(0, DUMMY, timeout=30)
  try:
    remote.step(act(True))
    remote.step(act(False))
    old = remote.pid
    os.kill(old, 9)
    obs = remote.step(act(False))
    assert obs['is_first'] and remote.restarts == 1 and remote.pid != old
    assert not remote.step(act(False))['is_first']
    # (it said 'process died (exit code -9)', Popen's way to say killed by signal 9)
    assert ('Warning: env 0 failed (process killed by signal 9 (SIGKILL, as the OOM killer '
            'ends a process when memory runs out)); restarting it') in capsys.readouterr().err
  finally:
    remote.close()


@pytest.mark.parametrize('sig', ['SIGKILL', 'SIGSTOP'])
def test_a_worker_that_died_or_hung_idle_saves_no_state_and_is_rebuilt_at_its_step(
    capsys, sig):
  """An idle worker (an eval env between evals) that the OOM killer ended stopped the
  run at its next save: 'Could not save a checkpoint in LOGDIR/ckpt: Broken pipe';
  one stopped (SIGSTOP) hung the save for good."""
  remote = workers.RemoteEnv(0, DUMMY, timeout=30, name='dummy eval env 0')  # a busy start
  try:
    remote.step(act(True))
    remote.timeout = 1  # how long a save waits for the stopped one
    os.kill(remote.pid, getattr(signal, sig))
    assert remote.get_state() is None  # its env starts a new episode after a resume
    assert remote.get_state() is None  # (each save until its next step)
    remote.timeout = 30  # for the rebuild, on a busy machine
    obs = remote.step(act(False))
    assert obs['is_first'] and remote.restarts == 1
    cause = 'process killed by signal 9' if sig == 'SIGKILL' else 'no answer within 1s'
    assert f'Warning: dummy eval env 0 failed ({cause}' in capsys.readouterr().err
    assert remote.get_state() is not None
  finally:
    remote.close()


def test_a_save_that_waits_for_a_stopped_worker_says_so(capsys, monkeypatch):
  """A save waited up to run.env_timeout (120 s) for a SIGSTOPped idle worker without a
  word."""
  monkeypatch.setattr(workers, 'STATE_NOTICE_SECONDS', 0.1, raising=False)
  remote = workers.RemoteEnv(0, DUMMY, timeout=30, name='dummy eval env 0')  # a busy start
  try:
    remote.step(act(True))
    remote.timeout = 0.6
    os.kill(remote.pid, signal.SIGSTOP)
    pid = remote.pid
    assert remote.get_state() is None
    assert capsys.readouterr().err.splitlines() == [
        f'Warning: dummy eval env 0 has not sent its state for the checkpoint in 0.1s (its '
        f'worker, pid {pid}, is stopped: SIGSTOP or SIGTSTP; kill -CONT {pid} resumes it); '
        'waiting up to run.env_timeout (0.6s), then the run goes on without it and rebuilds '
        'the env at its next step']
  finally:
    remote.close()


def test_a_worker_stopped_past_its_timeout_is_named_stopped_in_its_one_line(capsys):
  """A worker stopped alone (SIGSTOP, a debugger) is rebuilt as a hung one, and its line
  said 'no answer within 1s' only: an env that hangs, for its author to fix."""
  remote = workers.RemoteEnv(0, DUMMY, timeout=30, name='dummy eval env 0')  # a busy start
  try:
    remote.step(act(True))
    remote.timeout = 1  # how long a save waits for the stopped one
    pid = remote.pid
    os.kill(pid, signal.SIGSTOP)
    assert remote.get_state() is None
    remote.timeout = 30  # for the rebuild, on a busy machine
    assert remote.step(act(False))['is_first'] and remote.restarts == 1
    assert capsys.readouterr().err.splitlines() == [
        f'Warning: dummy eval env 0 failed (no answer within 1s (run.env_timeout); its worker, '
        f'pid {pid}, was stopped: SIGSTOP or SIGTSTP); restarting it (attempt 1), its partial '
        'episode is discarded.']
  finally:
    remote.close()


def spawning_env(pid_file):
  """The dummy env, which starts a helper process and never ends it (its worker's code)."""
  env = DUMMY()
  env.helper = subprocess.Popen(['sleep', '1000'])
  with open(pid_file, 'w') as f:
    f.write(str(env.helper.pid))
  return env


def test_a_process_the_env_of_a_worker_left_running_is_ended_with_one_line(capsys, tmp_path):
  """Orphaned as its worker ended, it outlived the run."""
  pid_file = tmp_path / 'helper.pid'
  remote = workers.RemoteEnv(0, functools.partial(spawning_env, str(pid_file)), timeout=30)
  remote.step(act(True))
  remote.close()
  pid = int(pid_file.read_text())
  assert capsys.readouterr().err.splitlines() == [
      f"Warning: process 'sleep 1000' (pid {pid}) that an env started still ran after the "
      "work was done; it was ended (SIGTERM): end it in the env's close()"]
  with pytest.raises(ProcessLookupError):
    os.kill(pid, 0)


def test_step_all_overlaps_workers_and_steps_local_envs_too():
  names = ['dummy 0', 'dummy 1', 'local 2']
  envs = workers.start([DUMMY, DUMMY], names=names[:2]) + [DUMMY()]
  try:
    obs = workers.step_all(envs, [act(True)] * 3, names)
    assert all(o['is_first'] for o in obs)
    obs = workers.step_all(envs, [act(False, 2)] * 3, names)
    for o in obs[1:]:
      np.testing.assert_array_equal(o['vector'], obs[0]['vector'])
    with pytest.raises(base.EnvSpaceError, match="^local 2: action is missing the key 'reset'"):
      workers.step_all(envs, [act(False), act(False), {}], names)
  finally:
    for env in envs:
      env.close()


class _Unprintable(Exception):
  def __str__(self):
    raise RuntimeError('no text')


class _FailsAfterReset:
  """The dummy env, but every step that is not a reset raises (or calls sys.exit)."""

  def __init__(self, how):
    self.env, self.how = DUMMY(), how
    self.obs_space, self.act_space = self.env.obs_space, self.env.act_space

  def step(self, action):
    if not action['reset']:
      raise {'exit': SystemExit(3), 'raise': ZeroDivisionError('step'),
             'unprintable': _Unprintable()}[self.how]
    return self.env.step(action)

  def close(self):
    self.env.close()


def fails_after_reset(how):
  return _FailsAfterReset(how)


def stops_after_3_restarts(make, steps):
  """Steps a worker of `make` until it stops: 3 restarts without a finished episode."""
  remote = workers.RemoteEnv(0, make, timeout=30)
  try:
    remote.step(act(True))
    with pytest.raises(base.EnvError, match='failed 3 restarts in a row without finishing'):
      for _ in range(steps):
        remote.step(act(False))
  finally:
    remote.close()


@pytest.mark.parametrize('how', ['raise', 'exit'])
def test_an_env_that_fails_each_first_step_after_a_rebuild_stops(capsys, how):
  """Its rebuilds answer the reset, then fail again: 3 restarts in a row, not forever;
  sys.exit in the env is reported like an exception, with no traceback on stderr."""
  stops_after_3_restarts(functools.partial(fails_after_reset, how), steps=6)
  err = capsys.readouterr().err
  assert 'Traceback' not in err
  assert ('raised SystemExit: 3' if how == 'exit' else 'raised ZeroDivisionError: step') in err


class _FailsMidEpisode(_FailsAfterReset):
  """The dummy env (episodes of 5 steps), failing at the third step of every episode
  (`every=1`) or of every other one (`every=2`, counted across rebuilds in a file)."""

  def __init__(self, every, counter):
    super().__init__('raise')
    self.every, self.counter, self.t = every, counter, 0

  def step(self, action):
    if action['reset']:
      self.t = 0
      with open(self.counter, 'a') as f:
        f.write('.')
    self.t += 1
    with open(self.counter) as f:
      episode = len(f.read())
    if self.t == 3 and episode % self.every == 0:
      raise ZeroDivisionError('mid-episode')
    return self.env.step(action)


def fails_mid_episode(every, counter):
  return _FailsMidEpisode(every, counter)


def test_an_env_that_fails_within_every_episode_stops_and_one_that_finishes_some_goes_on(
    tmp_path, capsys):
  """A failure at the same step of every episode is not a crash to restart forever:
  3 restarts with no finished episode between them stop the run. An env that also
  finishes episodes is restarted as often as it fails."""
  stops_after_3_restarts(functools.partial(fails_mid_episode, 1, str(tmp_path / 'always')),
                         steps=30)
  sometimes = workers.RemoteEnv(0, functools.partial(
      fails_mid_episode, 2, str(tmp_path / 'sometimes')), timeout=30)
  try:
    obs = sometimes.step(act(True))
    for _ in range(40):
      obs = sometimes.step(act(bool(obs['is_last'])))
    assert sometimes.restarts >= 4
  finally:
    sometimes.close()
  assert 'Traceback' not in capsys.readouterr().err


def interrupted_constructor():
  raise KeyboardInterrupt()


def test_a_constructor_raising_keyboard_interrupt_is_one_error_without_traceback(capfd):
  """SIGINT is ignored in a worker, so this is the env's own code: the build caught
  only Exception, and the worker died printing its traceback on the run's stderr."""
  with pytest.raises(base.EnvError, match='^env 0 failed to start: KeyboardInterrupt$'):
    workers.RemoteEnv(0, interrupted_constructor, timeout=30)
  assert 'Traceback' not in capfd.readouterr().err


def test_an_error_whose_text_fails_is_named_in_and_out_of_process(capfd):
  """An env's exception whose str() raises: the line was 'Error: RuntimeError: no text
  (unexpected ...)' in this process, and a worker died printing 288 lines of tracebacks."""
  named = 'raised _Unprintable: <its str() raised RuntimeError>'
  with pytest.raises(base.EnvError, match=f'^my env {re.escape(named)}$'):
    workers.step_all([_FailsAfterReset('unprintable')], [act(False)], ['my env'])
  stops_after_3_restarts(functools.partial(fails_after_reset, 'unprintable'), steps=6)
  err = capfd.readouterr().err
  assert 'Traceback' not in err and named in err, err[-2000:]


def test_sys_exit_of_an_env_in_this_process_is_named():
  with pytest.raises(base.EnvError, match='^my env raised SystemExit: 3$'):
    workers.step_all([_FailsAfterReset('exit')], [act(False)], ['my env'])


class _Interrupts(base.Env):
  """Raises `error` (a KeyboardInterrupt) in its step, as its own code."""

  def __init__(self, error):
    self.error = error

  def step(self, action):
    raise self.error


def test_an_env_in_this_process_raising_keyboard_interrupt_is_named_not_a_ctrl_c():
  """An env's own KeyboardInterrupt (no signal came) read as the user's Ctrl-C:
  'Interrupted; checkpoints saved so far are kept', exit 130. A command's handler raises
  a stop signal as stop_signals.Signalled, so the other kind is the env's."""
  import signal
  from dreamerv3_tf import stop_signals
  from dreamerv3_tf.core import driver
  with pytest.raises(KeyboardInterrupt):  # Python's own Ctrl-C handler: no telling apart
    workers.step_all([_Interrupts(KeyboardInterrupt())], [act(False)], ['my env'])
  handler = signal.signal(signal.SIGINT, stop_signals.stop)  # as main's run has it
  try:
    with pytest.raises(base.EnvError) as error:
      workers.step_all([_Interrupts(KeyboardInterrupt())], [act(False)], ['my env'])
    assert re.fullmatch(
        r'my env raised KeyboardInterrupt at .*/test_workers.py:\d+, in its own code \(no '
        r'Ctrl-C or stop signal came\)', str(error.value)), str(error.value)
    assert error.value.__context__ is None and 'raise self.error' in error.value.details
    for stop in (stop_signals.exception(signal.SIGINT), stop_signals.Terminated()):
      with pytest.raises(KeyboardInterrupt) as error:  # a signal's: the user stops
        workers.step_all([_Interrupts(stop)], [act(False)], ['my env'])
      assert error.value is stop
    with pytest.raises(base.EnvError, match=r'^env 0 failed to start: its constructor '
                       r'raised KeyboardInterrupt at .*test_workers.py:\d+, in its own code'):
      driver.Driver([interrupted_constructor])
  finally:
    signal.signal(signal.SIGINT, handler)


@pytest.mark.parametrize('sig', ['SIGINT', 'SIGUSR1', 'SIGUSR2'])
def test_ctrl_c_while_a_worker_starts_is_no_traceback(monkeypatch, capfd, sig):
  """Ctrl-C reaches the whole process group: one landing while a worker's interpreter
  starts (before _serve ignores SIGINT) killed it with a traceback on the run's stderr.
  So may a scheduler's SIGUSR1 or SIGUSR2 (SLURM's --signal), whose default killed the
  worker, there or later: the parent stops on them and decides when workers stop."""
  import signal
  import subprocess
  popen = subprocess.Popen
  number = getattr(signal, sig)

  def interrupted_at_birth(*args, **kwargs):
    proc = popen(*args, **kwargs)
    os.kill(proc.pid, number)  # before its interpreter has loaded anything
    return proc

  monkeypatch.setattr(workers.subprocess, 'Popen', interrupted_at_birth)
  remote = workers.RemoteEnv(0, DUMMY, timeout=30)
  try:
    assert remote.step(act(True))['is_first']
    pid = remote.pid
    os.kill(pid, number)  # once it serves
    assert not remote.step(act(False))['is_first'] and remote.pid == pid
  finally:
    remote.close()
  assert 'Traceback' not in capfd.readouterr().err


class HangsAtItsFirstStep(base.Env):
  """Built at once; its first step never returns."""
  obs_space = {'reward': Space(np.float32), 'is_first': Space(bool), 'is_last': Space(bool),
               'is_terminal': Space(bool)}
  act_space = {'action': Space(np.int32, (), 0, 2), 'reset': Space(bool)}

  def step(self, action):
    time.sleep(600)


# A run in miniature: a worker busy in a hung step, then this process is killed.
KILLED_PARENT = '''
import sys, time
sys.path[:0] = sys.argv[1:]
import numpy as np
from dreamerv3_tf.core import workers
from test_workers import HangsAtItsFirstStep
env = workers.RemoteEnv(0, HangsAtItsFirstStep)
env.submit({'action': np.int32(0), 'reset': np.bool_(True)})
print(env.pid, flush=True)
time.sleep(600)
'''


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG is Linux')
def test_a_worker_busy_in_a_hung_step_ends_with_the_run_killed():
  """A run killed with SIGKILL (the OOM killer, kill -9) left the worker behind until
  its step returned, if ever, with its memory and CPU."""
  here = os.path.dirname(os.path.abspath(__file__))
  proc = subprocess.Popen(
      [sys.executable, '-c', KILLED_PARENT, here, ROOT], stdout=subprocess.PIPE, text=True)
  try:
    pid = int(proc.stdout.readline())
  finally:
    proc.kill()
    proc.wait()
  deadline = time.monotonic() + 30
  while not _ended(pid) and time.monotonic() < deadline:
    time.sleep(0.05)
  assert _ended(pid), 'the worker outlived the killed run'


def _ended(pid):
  try:
    with open(f'/proc/{pid}/stat') as f:
      return f.read().rsplit(') ', 1)[1].split()[0] == 'Z'  # ended, not yet reaped
  except FileNotFoundError:
    return True


class _Forks:
  """The dummy env, forking at every step a child that returns into the caller (as one
  whose exec failed, or that forgot os._exit)."""

  def __init__(self):
    self.env = DUMMY()
    self.obs_space, self.act_space = self.env.obs_space, self.env.act_space

  def step(self, action):
    os.fork()
    return self.env.step(action)

  def close(self):
    self.env.close()


def forks():
  return _Forks()


def test_a_child_an_env_forks_in_a_worker_is_ended_with_one_line(capfd):
  """It answered on the worker's pipe beside it: garbled replies, tracebacks of both
  processes, and the run stopped with 'Error: TypeError: Object of type ndarray is not
  JSON serializable (unexpected: ...)'."""
  remote = workers.RemoteEnv(0, forks, timeout=30)
  lines = []
  try:
    for t in range(8):
      obs = remote.step(act(t == 0))
      assert obs['is_first'] == (t in (0, 6))  # episodes of 5 steps
    # Each child writes its line as it ends, after its step's answer: the close would
    # end the last one first, as a process the env left (it did once, beside busy tests).
    deadline = time.monotonic() + 30
    while len(lines) < 8 and time.monotonic() < deadline:
      lines += capfd.readouterr().err.splitlines()
      time.sleep(0.02)
  finally:
    remote.close()
  lines += capfd.readouterr().err.splitlines()
  assert len(lines) == 8 and all(re.fullmatch(
      r'Warning: an env forked a process \(pid \d+\) that came back into the run; it was '
      r'ended \(a forked child must end with os\._exit\(\) or exec\)', x) for x in lines), lines


def test_an_ignored_error_whose_text_fails_is_one_warning_line(capfd):
  """In __del__ or an env's thread: the hook's own str() raised, and Python printed
  'Exception ignored in sys.unraisablehook' (or in threading.excepthook) with tracebacks."""
  import threading
  import types
  error = _Unprintable()
  workers.unraisable(types.SimpleNamespace(
      exc_value=error, exc_traceback=None, err_msg=None, object='handle'))
  workers.thread_exception(types.SimpleNamespace(
      exc_type=_Unprintable, exc_value=error, exc_traceback=None,
      thread=threading.Thread(name='poller')))
  err = capfd.readouterr().err
  assert err.splitlines() == [
      "Warning: Exception ignored in: 'handle': _Unprintable: <its str() raised RuntimeError> "
      '(Python ignores it; --traceback shows it)',
      "Warning: Exception in thread 'poller': _Unprintable: <its str() raised RuntimeError> "
      '(Python ignores it: the thread ended; --traceback shows it)'], err


def test_a_value_error_whose_text_fails_is_named_by_its_type():
  """A ValueError's line is its message alone: '<its str() raised RuntimeError>' named
  no error at all."""
  class BadValue(ValueError):
    def __str__(self):
      raise RuntimeError('no text')
  assert workers.error_summary(BadValue()) == 'BadValue: <its str() raised RuntimeError>'
  assert workers.error_summary(ValueError('no task x')) == 'no task x'
