"""The start of `python -m dreamerv3_tf.main`: our first line within seconds, none of
TensorFlow's CUDA / absl / XLA lines unless asked for (startup.py lists them)."""

import io
import math
import os
import re
import subprocess
import sys
import time

import pytest

from dreamerv3_tf import allocator
from dreamerv3_tf import startup
from dreamerv3_tf import tfimport
from dreamerv3_tf.core import tf_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Any line TensorFlow, absl, CUDA or XLA print by themselves on a CPU machine.
NOISE = re.compile(
    r'^[IWEF]\d{4} |absl::InitializeLog|cuda|cuInit|oneDNN|cpu_feature_guard|'
    r'XlaSerializedCacheEntry|cpu_aot_loader', re.IGNORECASE)
FIRST = re.compile(
    r'^\[\d\d:\d\d:\d\d\] train_eval on dummy_disc_vec \((60|120) env steps\), logdir .*\. '
    r'Building envs and loading TensorFlow \(about 5 s\), then (compiling the agent with XLA '
    r'\(the first start of a config: about 30 s .*; later starts load it from the XLA cache '
    r'\(.*/xla\) in seconds\)|the agent \(nothing to compile\))\.$')


def user_env(**extra):
  """The environment of a user's shell: no TF_CPP_MIN_LOG_LEVEL (conftest sets one)."""
  # Nor the suite's shared XLA cache or its preloaded malloc (conftest.py):
  # --config.xla_cache decides here, and main preloads its malloc itself.
  drop = (startup.LEVEL_ENV, 'TF_XLA_FLAGS', 'LD_PRELOAD', allocator._STARTED)
  env = {k: v for k, v in os.environ.items() if k not in drop}
  env.update(extra)
  # The suite's XLA_FLAGS alone passed too: no check of them before the first line.
  env[tfimport.CHECKED_ENV] = tfimport.flags_of_environment(env)
  return env


def run_main(logdir, *args, env=None, steps=60):
  """-> (stdout lines with the seconds since start each arrived, stderr text)."""
  cmd = [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
         f'--logdir={logdir}', '--config.task=dummy_disc_vec', f'--config.run.steps={steps}',
         '--config.logger.outputs=terminal,jsonl', *args]
  start = time.monotonic()
  with subprocess.Popen(cmd, cwd=ROOT, env=env or user_env(), text=True,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
    try:
      lines = [(time.monotonic() - start, line.rstrip('\n')) for line in proc.stdout]
      stderr = proc.stderr.read()
      proc.wait(timeout=600)
    except BaseException:
      proc.kill()
      raise
  assert proc.returncode == 0, stderr[-3000:]
  return lines, stderr


ENVS, STEPS = (2, 3), (60, 120)  # of the two starts


@pytest.fixture(scope='module')
def two_starts(tmp_path_factory):
  """A first start (empty XLA cache), then its resume with another number of envs,
  which reads the cache; each with the number of programs in the cache after it."""
  tmp = tmp_path_factory.mktemp('starts')
  cache = tmp / 'xla'
  starts = []
  for envs, steps in zip(ENVS, STEPS):
    lines, stderr = run_main(tmp / 'run', f'--config.xla_cache={cache}',
                             f'--config.run.envs={envs}', steps=steps)
    # One folder, main's for this CPU kind (cpuinfo.kind_key: its name depends on the
    # environment's caps, e.g. NPY_DISABLE_CPU_FEATURES, and user_env drops the CPUID mask).
    [kind] = os.listdir(cache)
    starts.append((lines, stderr, len(os.listdir(cache / kind))))
  return starts


def test_lines_from_the_libraries_are_hidden_by_their_severity():
  info = 'I0000 00:00:1796152307.638246   13921 cudart_stub.cc:31] Could not find cuda'
  error = 'E0000 00:00:1796151916.868615    6527 cuda_platform.cc:52] failed call to cuInit'
  dated = 'W0507 14:03:59.123456    6527 device_compiler.h:208] retracing'
  preamble = ('WARNING: All log messages before absl::InitializeLog() is called are '
              'written to STDERR')
  assert [tf_lines.is_hidden(info, k) for k in range(4)] == [False, True, True, True]
  assert [tf_lines.is_hidden(dated, k) for k in range(4)] == [False, False, True, True]
  assert [tf_lines.is_hidden(error, k) for k in range(4)] == [False, False, False, True]
  assert [tf_lines.is_hidden(preamble, k) for k in range(4)] == [False, True, True, True]
  # A Python warning during the import is not TensorFlow's log: always shown.
  assert not tf_lines.is_hidden('UserWarning: numpy version', 3)


def test_the_first_line_names_the_logdir_by_its_full_path(tmp_path, monkeypatch, capsys):
  """--logdir=. read 'logdir .. Building envs', and a relative one named no place."""
  from configs import dmc
  from dreamerv3_tf import configuration
  monkeypatch.chdir(tmp_path)
  config = configuration.finalize(dmc.get_config('debug'))
  for given in ('.', 'runs/a', str(tmp_path / 'runs' / 'a')):
    with config.unlocked():
      config.logdir = given
    startup.announce(config)
    want = str(tmp_path / given) if given != '.' else str(tmp_path)
    assert f', logdir {want}. Building envs' in capsys.readouterr().out
  with config.unlocked():
    config.logdir = 'gs://bucket/run'
  startup.announce(config)
  assert ', logdir gs://bucket/run. Building envs' in capsys.readouterr().out
  startup.claim_start()  # (no run follows here: a later one in this process counts its own)


def test_a_run_counts_its_times_from_our_first_line_and_a_second_run_from_its_own(capsys):
  """'First update done 30 s after the start' and the last line's time count from our
  first line (announce), which for eval_only comes before TensorFlow loads."""
  from configs import dmc
  from dreamerv3_tf import configuration
  from dreamerv3_tf.run import common
  config = configuration.finalize(dmc.get_config('debug'))
  before = time.monotonic()
  startup.announce(config)
  first = common.StartupNotes(config)
  assert before <= first._start <= time.monotonic()
  time.sleep(0.05)  # (time.monotonic() moves on between the two)
  second = common.StartupNotes(config)  # another run in this process: not announced
  assert second._start > first._start
  capsys.readouterr()


@pytest.mark.parametrize('outputs, log_every, then', [
    ('terminal,jsonl', 5.0, 'Progress lines every 5s (run.log_every).'),
    # logger.outputs='' or 'jsonl' print no progress line, and the line said every 5 s.
    ('jsonl', 5.0, 'No progress lines: logger.outputs has no terminal.'),
    ('', 5.0, 'No progress lines: logger.outputs has no terminal.'),
    # It said 'every 0s' of run.log_every=0, which turns them off, and 'every -1s' of -1.
    ('terminal', 0.0, 'One progress line, at the end (run.log_every=0 turns them off).'),
    ('terminal', -1.0, 'Progress lines every 10 env steps (run.log_every=-1: at every check '
     'of the loop).'),
    # It said 'every infs' (clocks.Every fires at its first call, then never).
    ('terminal', math.inf, 'Progress lines at the first check of a new run and at the end only '
     '(run.log_every=inf: its period never passes).'),
])
def test_the_first_update_line_promises_progress_lines_only_where_they_come(capsys, outputs,
                                                                            log_every, then):
  from configs import gym
  from dreamerv3_tf import configuration
  from dreamerv3_tf.run import common
  config = configuration.finalize(gym.get_config('train_eval,debug'))
  with config.unlocked():
    config.logger.outputs = outputs
    config.run.log_every = log_every
  startup.claim_start()  # (an earlier test's first line: not this run's start)
  common.StartupNotes(config).trained()
  assert re.fullmatch(rf'\[\d\d:\d\d:\d\d\] First update done \d+ s after the start; training. '
                      rf'{re.escape(then)}\n', capsys.readouterr().out)


def test_the_last_line_of_a_run_that_run_duration_ended_says_so(capsys, monkeypatch):
  from configs import gym
  from dreamerv3_tf import configuration
  from dreamerv3_tf.run import common
  config = configuration.finalize(gym.get_config('train_eval,debug'))
  with config.unlocked():
    config.run.update(steps=100_000, duration=8)
    config.logdir = '/runs/my run'
    config.logger.outputs = 'terminal'
  startup.claim_start()  # (an earlier test's first line: not this run's start)
  common.StartupNotes(config).done(50, [9.0, 10.0], 2)
  assert re.fullmatch(
      r'\[\d\d:\d\d:\d\d\] Done: 50 env steps and 2 updates \(run.duration=8s ended it before '
      r'run.steps=100,000\), \S+ after the start; the last eval scored 9.5 \(mean of 2 '
      r'episodes\)\n', capsys.readouterr().out)  # (no jsonl: nothing for plot to read)
  with config.unlocked():
    config.logger.outputs = 'terminal,jsonl'
  common.StartupNotes(config).done(100_000, [], 7)
  assert re.search(
      r"Done: 100,000 env steps and 7 updates, \S+ after the start; its curves: python -m "
      r"dreamerv3_tf.plot --logdirs '/runs/my run' --out curves.png\n$", capsys.readouterr().out)
  # plot reads local folders only: it refused the gs:// and file:// logdirs given here.
  for logdir, command in [
      ('gs://bucket/run1', 'gcloud storage cp -r gs://bucket/run1 . && python -m '
       'dreamerv3_tf.plot --logdirs run1 --out curves.png'),
      ('file:///runs/a/', 'python -m dreamerv3_tf.plot --logdirs /runs/a/ --out curves.png')]:
    with config.unlocked():
      config.logdir = logdir
    common.StartupNotes(config).done(100_000, [], 7)
    assert capsys.readouterr().out.endswith(f'; its curves: {command}\n')
  # Under an ASCII stdout (PYTHONIOENCODING=ascii) the path was 'l\\xe4ufe' (an escape
  # as print_any_text writes), which pasted named another path; bash's $'...' names it.
  ascii_out = io.TextIOWrapper(io.BytesIO(), encoding='ascii', errors='backslashreplace')
  monkeypatch.setattr(sys, 'stdout', ascii_out)
  with config.unlocked():
    config.logdir = '/runs/läufe'
  common.StartupNotes(config).done(100_000, [], 7)
  ascii_out.flush()
  assert ascii_out.buffer.getvalue().decode('ascii').endswith(
      "--logdirs $'/runs/l\\xc3\\xa4ufe' --out curves.png\n")


def _announced_notes():
  """The start-up notes of a debug gym run whose start was announced (terminal only)."""
  from configs import gym
  from dreamerv3_tf import configuration
  from dreamerv3_tf.run import common
  config = configuration.finalize(gym.get_config('train_eval,debug'))
  with config.unlocked():
    config.logger.outputs = 'terminal'
  startup.announce(config)
  return common.StartupNotes(config)


@pytest.mark.parametrize('jump', [-3600, 86400], ids=['back_an_hour', 'ahead_a_day'])
def test_a_wall_clock_jump_is_not_time_the_run_took(capsys, monkeypatch, jump):
  """'First update done -3600 s after the start' and 'Done: ..., -1d23h after the start'
  (or 86400 s and 1d00h): the times counted the wall clock, which NTP or a hand may set."""
  notes = _announced_notes()
  real = time.time
  monkeypatch.setattr(time, 'time', lambda: real() + jump)
  notes.trained()
  notes.done(1000, [])
  monkeypatch.undo()
  lines = capsys.readouterr().out.splitlines()[-2:]
  assert re.search(r'First update done \d s after the start', lines[0]), lines[0]
  assert re.search(r'Done: 1,000 env steps, \ds after the start', lines[1]), lines[1]


def test_the_first_updates_seconds_are_counted_as_the_last_lines(capsys, monkeypatch):
  """3.6 s after the start: 'First update done 4 s' (rounded) came before 'Done: ...,
  3s' (format_duration truncates), as if the run ended before its first update."""
  notes = _announced_notes()
  start = notes._start
  monkeypatch.setattr(time, 'monotonic', lambda: start + 3.6)
  notes.trained()
  notes.done(1000, [])
  monkeypatch.undo()
  lines = capsys.readouterr().out.splitlines()[-2:]
  assert 'First update done 3 s after the start' in lines[0], lines[0]
  assert 'Done: 1,000 env steps, 3s after the start' in lines[1], lines[1]


@pytest.mark.parametrize('start', [0, 1], ids=['first_start', 'cached_resume'])
def test_start_is_quiet_and_says_what_happens(two_starts, start):
  lines, stderr, _ = two_starts[start]
  texts = [text for _, text in lines]
  noise = [x for x in texts + stderr.splitlines() if NOISE.search(x)]
  assert not noise, noise
  assert not stderr.strip(), stderr[-2000:]
  assert FIRST.match(texts[0]), texts[:3]
  # Before TensorFlow loads (seconds of imports); 30 s leaves room for a loaded machine.
  assert lines[0][0] < 30, lines[0]
  expected = [f'Building {ENVS[start]} train and 1 eval env(s) of dummy_disc_vec (each in its '
              'own process)',
              'Building the agent and compiling its policy and train step with XLA',
              'First update done']
  found = [next((i for i, x in enumerate(texts) if e in x), None) for e in expected]
  assert None not in found and found == sorted(found), (found, texts)
  assert any(f' step {STEPS[start]} / {STEPS[start]} ' in x for x in texts[found[-1]:]), texts
  assert any(x.startswith('Resumed from ') for x in texts) == (start == 1), texts
  # The last line says it is done and where to look; it ended on a table of metrics.
  done = re.compile(
      rf'^\[\d\d:\d\d:\d\d\] Done: {STEPS[start]} env steps and [1-9][0-9]* updates, \S+ '
      r'after the start(; the last eval scored \S+ \(mean of \d+ episodes?\))?; its curves: '
      r'python -m dreamerv3_tf.plot --logdirs (\S+) --out curves.png$')
  match = done.match(texts[-1])
  assert match and os.path.isfile(os.path.join(match.group(2), 'scores.jsonl')), texts[-3:]
  if start == 0:  # (the resume's 60 steps held no eval)
    assert match.group(1), texts[-1]


def test_a_resume_with_another_number_of_envs_compiles_only_their_policy(two_starts):
  # The first start cached its four programs: the policy for the train envs and for the
  # eval env, the train step and the report. The resume finds all but the first: their
  # traces are named as before (agent/stable_names.py), although restoring and its envs
  # moved TensorFlow's counter of names (with its names, this resume compiled 2 more).
  (_, _, first), (_, _, second) = two_starts
  assert (first, second) == (4, 5)


@pytest.mark.parametrize('how', ['--verbose', 'TF_CPP_MIN_LOG_LEVEL=0'])
def test_verbose_or_a_users_level_shows_tensorflows_lines(tmp_path, how):
  args, env = ['--config.random_agent=True'], user_env()
  if how == '--verbose':
    args.append(how)
  else:
    env[startup.LEVEL_ENV] = how.split('=')[1]
  lines, stderr = run_main(tmp_path / 'run', *args, env=env)
  assert FIRST.match(lines[0][1])
  # At level 0 every TensorFlow process logs INFO lines while its libraries load.
  assert any(tf_lines.is_hidden(x, 3) for x in stderr.splitlines()), stderr[-2000:]
  if how == '--verbose':  # and says which malloc main started itself with
    found = [x for _, x in lines if '] malloc: ' in x]
    name = os.path.basename(allocator.find() or '')
    want = (f"{'jemalloc' if 'jemalloc' in name else 'tcmalloc'} (" if name
            else "glibc's malloc")
    assert len(found) == 1 and f'malloc: {want}' in found[0], (found, lines[:4])


@pytest.mark.parametrize('value, warned', [('abc', True), ('', False)])
def test_a_users_level_that_is_no_number_keeps_tensorflow_quiet(tmp_path, value, warned):
  """TensorFlow reads a TF_CPP_MIN_LOG_LEVEL it cannot parse as 0: 'abc' (or one set
  empty, as unset in a shell) let its INFO and cuInit lines through, without a word."""
  env = user_env(**{startup.LEVEL_ENV: value})
  lines, stderr = run_main(tmp_path / 'run', '--config.random_agent=True', env=env)
  assert FIRST.match(lines[0][1])
  noise = [x for x in stderr.splitlines() if NOISE.search(x)]
  assert not noise, noise
  line = (f"Warning: {startup.LEVEL_ENV}='abc' is no level (0 shows TensorFlow's own log "
          'lines, 1 hides its INFO lines, 2 its warnings too, 3 its errors too); they stay '
          'hidden, as when it is unset (--verbose shows them)')
  assert stderr.splitlines() == ([line] if warned else []), stderr[-2000:]
