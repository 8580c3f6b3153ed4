"""Every failure a user can cause ends in one line, through the real CLI (issue 16).

Each CLI case asserts: a non-zero exit code, exactly one line of ours on stderr
naming the cause, no traceback unless asked for, and the logdir's files as they
were. TensorFlow's native log lines (printed when it loads, beyond our control) are
left out of the count.
"""

import contextlib
import errno
import functools
import glob
import json
import os
import pty
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import cli_zygote
from configs import dmc
import faulty_env
import tmpfs_namespace
from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import config_memory
from dreamerv3_tf import configuration
from dreamerv3_tf import factories
from dreamerv3_tf import logdir_checks
from dreamerv3_tf import main
from dreamerv3_tf import run_files
from dreamerv3_tf import stop_signals
from dreamerv3_tf.core import base
from dreamerv3_tf.core import cpuinfo
from dreamerv3_tf.core import errors
from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.run import common
from dreamerv3_tf.run import train_eval
from run_helpers import make_run_config
from run_helpers import snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPLAYS = ['replay_train', 'replay_eval']
TF_NATIVE_LOG = re.compile(
    r'[IWEF]\d{4} |WARNING: All log messages before absl::InitializeLog|To enable the '
    'following instructions')


def run_flags(task='dummy_disc_vec', parallel=False, report_every=0):
  """The flags that give the CLI the config of make_run_config(random_agent=True)."""
  return [
      f'--config.task={task}', '--config.random_agent=True',
      # (a py_ task reads no env.dummy: its warning line would be among ours)
      *(['--config.env.dummy.length=30'] if task.startswith('dummy_') else []),
      f'--config.run.parallel={parallel}', '--config.logger.outputs=jsonl',
      '--config.run.log_every=0', f'--config.run.report_every={report_every}']


RUN_FLAGS = run_flags()


def overridden(flags, args):
  """`flags` without those `args` give again: a flag given twice with another value
  is a warning line more (main._warn_repeated)."""
  given = {x.split('=', 1)[0] for x in args}
  return [x for x in flags if x.split('=', 1)[0] not in given]
SAVED_STEPS = 200


def cli(logdir, *args, run=cli_zygote.run, **kwargs):
  return run(
      [*kwargs.pop('prefix', []), sys.executable, '-m', 'dreamerv3_tf.main',
       '--config=configs/dmc.py:train_eval,debug', f'--logdir={logdir}', *args],
      cwd=ROOT, capture_output=True, text=True, timeout=300, **kwargs)


def our_lines(stderr):
  return [x for x in stderr.splitlines() if x.strip() and not TF_NATIVE_LOG.match(x)]


def one_line(result):
  """The single line a failed run printed; asserts the rest of the contract."""
  assert result.returncode != 0, result.stdout[-2000:] + result.stderr[-2000:]
  lines = our_lines(result.stderr)
  assert len(lines) == 1, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
  return lines[0]


def loop_step(path):
  return json.loads(tf.train.load_checkpoint(path).get_tensor('loop/.ATTRIBUTES/py_state'))['step']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A logdir with 3 checkpoints of a short random-agent run, copied by each test."""
  logdir = tmp_path_factory.mktemp('trained') / 'run'
  train_eval.train_eval(make_run_config(
      logdir, random_agent=True, steps=SAVED_STEPS, save_every=-1, log_every=0,
      keep_checkpoints=3))
  return logdir


@pytest.fixture
def logdir(trained, tmp_path):
  return shutil.copytree(trained, tmp_path / 'run')  # copy2: mtimes too


def test_logdir_that_is_a_file_is_one_line(tmp_path):
  path = tmp_path / 'notes.txt'
  path.write_text('not a logdir')
  before = snapshot(tmp_path)
  result = cli(path, *RUN_FLAGS)
  assert one_line(result) == f'Config error: --logdir {path} is a file, not a directory'
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert snapshot(tmp_path) == before
  config = make_run_config(path / 'run')
  with pytest.raises(configuration.ConfigError, match=f'is below {path}, which is a file'):
    logdir_checks.check_logdir(config, config.logdir)


def test_a_remote_logdir_hides_tensorflows_start_up_lines(tmp_path):
  """A logdir such as gs://... is read through TensorFlow: its check imported it before
  the quiet import, and TensorFlow's 6 start-up lines came before our line (in a
  user's shell, without TF_CPP_MIN_LOG_LEVEL)."""
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  # A real process: a forked one's TensorFlow was imported, and its lines shown, before.
  result = cli('nosuchfs://bucket/run', *RUN_FLAGS, env=env, run=subprocess.run)
  assert result.returncode == 1
  assert result.stderr.splitlines() == [
      "Error: Cannot read --logdir nosuchfs://bucket/run: File system scheme 'nosuchfs' not "
      "implemented (file: 'nosuchfs://bucket/run')"]


def test_an_xla_cache_url_that_cannot_be_read_is_one_line_naming_it(tmp_path):
  """gs:// without network: the first compile stopped the run with 'Error: Error
  executing an HTTP request: ...', naming neither the key nor the path, after the
  logdir was written (a scheme TensorFlow lacks stands in for it)."""
  from dreamerv3_tf import run
  config = make_run_config(tmp_path / 'run', random_agent=True, steps=20)
  with config.unlocked():
    config.xla_cache = 'nosuchfs://bucket/xla'
  with pytest.raises(configuration.LogdirError) as error:
    run.main(config)
  assert str(error.value).startswith(
      "Cannot read xla_cache nosuchfs://bucket/xla: File system scheme 'nosuchfs' not "
      'implemented'), str(error.value)
  assert not (tmp_path / 'run').exists()


def test_a_damaged_or_full_xla_cache_is_one_line_naming_it(tmp_path):
  """A compiled program of config.xla_cache cut short (a disk that filled, a copy
  stopped midway) or garbled: the first compile read it and the run stopped with
  'Error: Read less bytes than requested', which named no file."""
  from dreamerv3_tf import tfimport
  cache = tmp_path / 'xla'
  # This cache, not the suite's shared one (which main leaves to whoever set it).
  env = dict(os.environ, TF_XLA_FLAGS='')
  env[tfimport.CHECKED_ENV] = tfimport.flags_of_environment(env)
  flags = ['--config.task=dummy_disc_vec', '--config.env.dummy.length=30',
           '--config.run.steps=20', '--config.run.parallel=False',  # the policy alone
           '--config.run.train_ratio=0',  # (so no warning that it never trains)
           '--config.logger.outputs=jsonl', '--config.run.report_every=0',
           f'--config.xla_cache={cache}']
  result = cli(tmp_path / 'fill', *flags, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert os.listdir(cache) == [cpuinfo.kind_key()]  # a folder per CPU kind
  cache = cache / cpuinfo.kind_key()  # (named so in the lines below)
  entries = sorted(cache.iterdir())
  assert entries
  # A cache that cannot take a program (a full disk, here a file size limit between
  # a checkpoint's size and a program's): the run stopped with 'Error: DIR/xla_compile_
  # cache__...pbvm-...tmp; No space left on device', which named no config key.
  limit = min(x.stat().st_size for x in entries) // 2
  assert limit > max(x.stat().st_size for x in (tmp_path / 'fill/ckpt').iterdir() if x.is_file())
  # A write failure, as the others: its line ended at the cause, not saying that the
  # checkpoints of a run that had saved some were kept (here the resume of 'fill').
  full = tmp_path / 'full'
  saved = snapshot(tmp_path / 'fill/ckpt')
  limited = dict(preexec_fn=cli_zygote.file_size_limit(limit))
  longer = [x.replace('steps=20', 'steps=40') for x in flags[:-1]]
  line = one_line(cli(tmp_path / 'fill', *longer, f'--config.xla_cache={full}', env=env,
                      **limited))
  assert snapshot(tmp_path / 'fill/ckpt') == saved
  full = full / cpuinfo.kind_key()
  assert re.match(
      f'Error: the XLA cache {full} cannot store a compiled program \\({full}/\\S+\\.tmp; '
      "File too large\\); give it room and write access, or run with --config.xla_cache='' "
      f"\\(this process may write files of at most {limit} bytes, ulimit -f {limit // 1024}; "
      "raise it, e.g. ulimit -f unlimited\\); checkpoints saved so far are kept, and the same "
      f"command resumes from the latest in {tmp_path}/fill/ckpt$", line), line
  assert not list(full.glob('*.tmp'))  # what it wrote of the program (it stayed an hour)
  for entry in entries:
    entry.write_bytes(entry.read_bytes()[:entry.stat().st_size // 2])
  line = one_line(cli(tmp_path / 'cut', *flags, env=env))
  assert line.startswith(
      f'Error: the XLA cache {cache} holds a damaged or unreadable compiled program (Read '
      f"less bytes than requested); delete {cache} (the next start compiles again), or "
      "run with --config.xla_cache=''"), line
  for entry in entries:
    entry.write_bytes(b'garbled ' * 8)
  line = one_line(cli(tmp_path / 'garbled', *flags, env=env))
  assert re.match(
      f'Error: the XLA cache {cache} holds a damaged or unreadable compiled program '
      rf"\(Can't parse {cache}/\S+ as binary proto\); delete {cache}/\S+ \(the next start "
      r"compiles again\), or run with --config.xla_cache=''", line), line


def test_a_run_whose_xla_cache_disk_is_full_trains_on_reading_it_only(tmp_path):
  """config.xla_cache on a full disk (its HOME): the start's check wrote an empty file,
  which fit, and the run stopped at its first compile with 'Error: the XLA cache ...
  cannot store a compiled program (...tmp; No space left on device)'. The cache only
  saves compile time: one warning, and the run goes on without storing programs."""
  tmpfs_namespace.require()
  from dreamerv3_tf import tfimport
  disk = tmp_path / 'disk'
  disk.mkdir()
  env = dict(os.environ, TF_XLA_FLAGS='')  # this cache, not the suite's shared one
  env[tfimport.CHECKED_ENV] = tfimport.flags_of_environment(env)
  result = cli(tmp_path / 'run', '--config.task=dummy_disc_vec', '--config.run.steps=20',
               '--config.run.train_ratio=0',  # the policy alone, and no warning for it
               '--config.env.dummy.length=30', '--config.run.parallel=False',
               '--config.logger.outputs=jsonl', '--config.run.report_every=0',
               f'--config.xla_cache={disk}/xla', env=env,
               prefix=tmpfs_namespace.prefix(disk, fill=True))
  assert result.returncode == 0, result.stderr[-3000:]
  kind = disk / 'xla' / cpuinfo.kind_key()
  assert our_lines(result.stderr) == [
      f'Warning: the XLA cache {kind} cannot store compiled programs (No space left on '
      'device): this run loads those it holds and compiles the rest without storing them; '
      "give it room and write access, or pass another xla_cache ('' for none)"]
  # It loads the programs the cache holds, as later starts do: they do not compile all.
  assert ('the XLA cache stores nothing now: later starts compile again what it does not '
          'hold).') in result.stdout
  assert result.stdout.splitlines()[-1].split('] ', 1)[1].startswith('Done: 20 env steps')


@pytest.mark.parametrize('how', ['flag', 'env'])
def test_traceback_only_when_asked(tmp_path, how):
  if how == 'flag':  # our own traceback
    (tmp_path / 'file').write_text('x')
    result = cli(tmp_path / 'file', '--traceback')
    last, where = f'Config error: --logdir {tmp_path}/file is a file', 'logdir_checks.py'
  else:  # and the env worker's
    # (a camera the model lacks: known once the env loads it; an unknown task is the
    # config check's now)
    result = cli(tmp_path / 'run', '--config.task=dmc_cartpole_balance',
                 '--config.env.dmc.image=True', '--config.env.dmc.camera=9',
                 env={**os.environ, errors.TRACEBACK_ENV: '1'})
    last = 'Env error: dmc_cartpole_balance train env 0 failed to start: env.dmc.camera=9'
    where = 'registry.py'
  assert result.returncode != 0
  assert 'Traceback (most recent call last)' in result.stderr and where in result.stderr
  assert our_lines(result.stderr)[-1].startswith(last)


@pytest.mark.parametrize('value, wanted', [
    ('1', True), ('yes', True), ('', False), ('0', False), ('False', False),
    ('off', False), (' OFF', False), ('n', False)])  # 'off' and 'n' were on
def test_the_traceback_variable_reads_as_a_switch(monkeypatch, value, wanted):
  monkeypatch.setenv(errors.TRACEBACK_ENV, value)
  assert errors.wants_traceback() == wanted


@pytest.mark.parametrize('command, flags, line', [
    ('dreamerv3_tf.main', ['--config=configs/dmc.py:debug'], 'Config error: '),
    ('dreamerv3_tf.export', ['--out={tmp}/out'], 'Error: '),
    ('dreamerv3_tf.interop.official', ['--checkpoint={tmp}/official'], 'Config error: ')])
def test_a_traceback_variable_of_no_switch_word_is_one_line(tmp_path, command, flags, line):
  """'maybe' counted as on: each command refuses it first, writing nothing."""
  result = cli_zygote.run(
      [sys.executable, '-m', command, f'--logdir={tmp_path}/run',
       *[x.format(tmp=tmp_path) for x in flags]],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, errors.TRACEBACK_ENV: 'maybe'})
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f"{line}{errors.TRACEBACK_ENV}='maybe' is neither on (1, true, yes, y, on) nor off "
      '(0, false, no, n, off or empty)'], result.stderr[-2000:]
  assert os.listdir(tmp_path) == []
  for value in ('1', ' Off', 'YES', ''):  # the words of a switch pass
    with pytest.MonkeyPatch.context() as patch:
      patch.setenv(errors.TRACEBACK_ENV, value)
      assert errors.traceback_refusal() is None


def resume_read_only(path, logdir, unprivileged):
  """The resume of `logdir` (400 steps), run as a user who may not write into `path`."""
  os.chmod(path, 0o555)
  try:
    return cli(logdir, *RUN_FLAGS, '--config.run.steps=400', prefix=unprivileged)
  finally:
    os.chmod(path, 0o755)


def test_unwritable_logdir_is_one_line_and_unchanged(logdir, unprivileged):
  before = snapshot(logdir)
  result = resume_read_only(logdir, logdir, unprivileged)
  assert one_line(result) == f'Error: Cannot write {logdir}/config.json: Permission denied'
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert snapshot(logdir) == before


@pytest.mark.parametrize('flags, code', [([], 0), (['--config.batch_size=3'], 2)])
def test_a_finished_run_in_a_read_only_logdir_writes_nothing_and_says_so(logdir, unprivileged,
                                                                         flags, code):
  """The same command again after a run ended, its logdir read-only (chmod -R a-w: an
  archive, another user's): 'Cannot write LOGDIR/config.json: Permission denied', exit
  code 1, though a finished run writes nothing. Another config is refused as before."""
  before = snapshot(logdir)
  step = loop_step(tf.train.latest_checkpoint(str(logdir / 'ckpt')))
  folders = [folder for folder, _, _ in os.walk(logdir)]
  for folder in folders:
    os.chmod(folder, 0o555)
  try:
    result = cli(logdir, *RUN_FLAGS, f'--config.run.steps={SAVED_STEPS}', *flags,
                 prefix=unprivileged)
  finally:
    for folder in folders:
      os.chmod(folder, 0o755)
  if code:
    assert one_line(result).startswith(f'Config error: logdir {logdir} belongs to another '
                                       'config (batch_size: ')
  else:
    assert (result.returncode, our_lines(result.stderr)) == (0, []), result.stderr[-2000:]
    assert (f'The run in {logdir} has reached step {step} of run.steps={SAVED_STEPS}; '
            'nothing was written.') in result.stdout
  assert result.returncode == code
  assert snapshot(logdir) == before


@pytest.mark.parametrize('steps', [SAVED_STEPS, 2 * SAVED_STEPS])  # finished, and not
def test_a_bad_tf_xla_flags_in_a_read_only_logdir_is_one_line(logdir, unprivileged, steps):
  """The checks of a logdir the run cannot write import TensorFlow to read its checkpoint
  (finished or not), before main checked TF_XLA_FLAGS: a flag TensorFlow does not know
  ended the process inside that import, exit code 1 and not a word."""
  before = snapshot(logdir)
  env = dict(os.environ, TF_XLA_FLAGS='--nosuch_flag=1')
  folders = [folder for folder, _, _ in os.walk(logdir)]
  for folder in folders:
    os.chmod(folder, 0o555)
  try:
    result = cli(logdir, *RUN_FLAGS, f'--config.run.steps={steps}', env=env,
                 prefix=unprivileged)
  finally:
    for folder in folders:
      os.chmod(folder, 0o755)
  assert one_line(result) == (
      "Config error: TF_XLA_FLAGS='--nosuch_flag=1': TensorFlow has no flag --nosuch_flag=1; "
      'XLA would stop the run at its first compile')
  assert result.returncode == 2
  assert snapshot(logdir) == before


def test_a_finished_read_only_run_tells_no_false_xla_cache_line(agent_ckpt, tmp_path,
                                                                unprivileged):
  """The checks of a finished run in a logdir it cannot write read its checkpoint, so
  TensorFlow was imported before the XLA cache was set up: the first line said 'the
  XLA cache stores nothing now: later starts compile again' with no warning, of a cache
  that later starts use as ever (this one compiles nothing)."""
  from dreamerv3_tf import tfimport
  logdir = shutil.copytree(os.path.dirname(agent_ckpt), tmp_path / 'run')
  before = snapshot(logdir)
  env = dict(os.environ, TF_XLA_FLAGS='')  # this cache, not the suite's shared one
  env[tfimport.CHECKED_ENV] = tfimport.flags_of_environment(env)
  folders = [folder for folder, _, _ in os.walk(logdir)]
  for folder in folders:
    os.chmod(folder, 0o555)
  try:
    result = cli(logdir, *overridden(RUN_FLAGS, ['--config.random_agent']),
                 '--config.jit=True', '--config.run.steps=30', '--config.run.train_ratio=0.0',
                 f'--config.xla_cache={tmp_path}/xla', env=env, prefix=unprivileged)
  finally:
    for folder in folders:
      os.chmod(folder, 0o755)
  assert (result.returncode, our_lines(result.stderr)) == (0, []), result.stderr[-2000:]
  assert f'later starts load it from the XLA cache ({tmp_path}/xla) in seconds' in result.stdout
  assert f'The run in {logdir} has reached step 30 of run.steps=30' in result.stdout
  assert snapshot(logdir) == before


# Another process of a user's: holds a logdir the way a run holds its own.
HOLD = ('import sys, time\nfrom dreamerv3_tf.core import dirlock\n'
        'with dirlock.hold(sys.argv[1]):\n  print("held", flush=True)\n  time.sleep(600)\n')


def test_a_second_run_in_a_logdir_in_use_is_one_line_and_changes_nothing(logdir):
  """The same command started twice, or a job restarted while its old process still
  ran: both resumed, saved, and pruned or set aside each other's checkpoints."""
  other = cli_zygote.Popen([sys.executable, '-c', HOLD, str(logdir)], cwd=ROOT,
                           stdout=subprocess.PIPE, text=True)
  try:
    assert other.stdout.readline() == 'held\n'
    before = snapshot(logdir)
    line = (f'logdir {logdir} is in use by another run (process {other.pid}); stop that '
            'run first (its checkpoints are kept), or pass another --logdir')
    result = cli(logdir, *RUN_FLAGS, '--config.run.steps=400')
    assert one_line(result) == f'Error: {line}'
    assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
    # A start that passed that check before the other run took the logdir: the run
    # itself stops, before it builds or writes anything.
    config = make_run_config(logdir, random_agent=True, steps=400)
    with pytest.raises(configuration.LogdirError, match=f'^{re.escape(line)}$'):
      train_eval.train_eval(config)
    # file:// names the same folder: a run there took no lock and trained beside the other.
    config = make_run_config(f'file://{logdir}', random_agent=True, steps=400)
    held = re.escape(f'logdir {config.logdir} is in use by another run (process {other.pid})')
    with pytest.raises(configuration.LogdirError, match=f'^{held}'):
      train_eval.train_eval(config)
    assert snapshot(logdir) == before
  finally:
    other.kill()  # SIGKILL: the kernel drops its lock
    other.wait()
  train_eval.train_eval(make_run_config(  # and the logdir is free again
      logdir, random_agent=True, steps=SAVED_STEPS + 20, save_every=-1))
  assert loop_step(tf.train.latest_checkpoint(str(logdir / 'ckpt'))) == SAVED_STEPS + 20


def test_a_relative_logdir_in_a_deleted_directory_is_one_line(tmp_path):
  """Started from a directory deleted meanwhile (another shell removed it): it said
  'Error: [Errno 2] No such file or directory', naming neither."""
  gone = tmp_path / 'gone'
  gone.mkdir()

  def start_in_gone():
    os.chdir(gone)
    os.rmdir(gone)

  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main',
       f'--config={ROOT}/configs/dmc.py:train_eval,debug', '--logdir=run', *RUN_FLAGS],
      preexec_fn=start_in_gone, capture_output=True, text=True, timeout=120,
      env={**os.environ, 'PYTHONPATH': ROOT})
  assert one_line(result) == (
      'Config error: --logdir run is relative, but the current directory was deleted; cd '
      'into one that exists or give --logdir as a full path')
  assert result.returncode == 2 and sorted(os.listdir(tmp_path)) == []


def test_a_deleted_current_directory_stops_only_relative_paths(tmp_path, logdir):
  """A run with a full --logdir, started from a deleted directory, stopped with 'Error:
  [Errno 2] No such file or directory' (a check of the logdir took abspath('.')); so did
  export with a relative --out or --logdir, and plot's relative --out was a traceback."""
  def start_in_gone():
    (tmp_path / 'gone').mkdir()
    os.chdir(tmp_path / 'gone')
    os.rmdir(tmp_path / 'gone')

  def command(*args):
    return cli_zygote.run([sys.executable, '-m', *args], preexec_fn=start_in_gone,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'PYTHONPATH': ROOT})

  result = command('dreamerv3_tf.main', f'--config={ROOT}/configs/dmc.py:train_eval,debug',
                   f'--logdir={tmp_path / "fresh"}', *RUN_FLAGS, '--config.run.steps=20')
  assert result.returncode == 0, result.stderr[-3000:]
  assert (tmp_path / 'fresh/ckpt/checkpoint').exists()
  for flag, value, args in (
      ('--out', 'policy', ('dreamerv3_tf.export', f'--logdir={logdir}', '--out=policy')),
      ('--logdir', 'run', ('dreamerv3_tf.export', '--logdir=run', f'--out={tmp_path / "p"}')),
      ('--out', 'curves.png', ('dreamerv3_tf.plot', '--logdirs', str(logdir),
                               '--out=curves.png'))):
    line = one_line(command(*args))
    assert line.startswith(
        f'Error: {flag} {value} is relative, but the current directory was deleted; cd into '
        f'one that exists or give {flag} as a full path'), line
  assert sorted(os.listdir(tmp_path)) == ['fresh', 'run']  # (run: the fixture's)


@pytest.mark.skipif(bool(glob.glob('/dev/accel*') or glob.glob('/dev/vfio/[0-9]*')),
                    reason='a TPU may be attached here (/dev/accel*, /dev/vfio): '
                    "distribute='tpu' would find it and train")
def test_tpu_strategy_without_a_tpu_is_one_line(tmp_path):
  """TensorFlow's line went on about a missing 'ConfigureDistributedTPU' kernel."""
  result = cli(tmp_path / 'run', '--config.task=dummy_disc_vec', '--config.run.parallel=False',
               '--config.distribute=tpu')  # a random agent builds no strategy
  assert one_line(result) == (
      "Error: distribute='tpu' found no TPU here (TPUs not found in the cluster); run it on "
      "a TPU VM (launchers/tpu_vm.sh), or use distribute='default'")
  assert not (tmp_path / 'run').exists()


def test_read_only_checkpoints_stop_the_resume_before_it_trains(logdir, unprivileged):
  """It trained until its first save and stopped there, its steps since lost."""
  before = snapshot(logdir)
  result = resume_read_only(logdir / 'ckpt', logdir, unprivileged)
  assert one_line(result) == f'Error: Cannot write {logdir}/ckpt: Permission denied'
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert snapshot(logdir) == before


def test_a_new_logdir_in_a_directory_that_cannot_be_written_stops_before_tensorflow(
    tmp_path, unprivileged):
  """A new --logdir below a directory the user may not write (another user's, a
  read-only disk): the run built its envs, loaded TensorFlow and compiled the agent
  (minutes for a big one), and only then stopped with 'Cannot create LOGDIR'."""
  parent = tmp_path / 'shared'
  parent.mkdir()
  logdir = parent / 'runs' / 'run'
  os.chmod(parent, 0o555)
  try:
    result = cli(logdir, *RUN_FLAGS, prefix=unprivileged)
  finally:
    os.chmod(parent, 0o755)
  assert result.returncode == 1
  assert one_line(result) == f'Error: Cannot create {logdir}: Permission denied'
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert os.listdir(parent) == []


def test_a_leftover_of_a_stopped_save_that_cannot_be_removed_says_what_is_kept(
    logdir, unprivileged):
  """A save killed midway leaves ckpt-N_temp/, which a resume removes before it trains.
  One it cannot remove (read-only, another user's) stopped it with TensorFlow's
  'Error: PATH; Permission denied', which said neither what was kept nor what next."""
  ckpt = logdir / 'ckpt'
  leftover = ckpt / 'ckpt-9_temp'
  leftover.mkdir()
  (leftover / 'part').write_bytes(b'x')
  before = snapshot(ckpt)
  result = resume_read_only(leftover, logdir, unprivileged)
  assert result.returncode == 1
  assert one_line(result) == (
      f'Error: Cannot remove {leftover}/part (left by a save that was stopped): Permission '
      f'denied; checkpoints saved so far are kept, and the same command resumes from the '
      f'latest in {ckpt}')
  assert snapshot(ckpt) == before


def test_an_unreadable_checkpoint_state_file_is_named_so(logdir, unprivileged):
  """ckpt/checkpoint without read permission (copied as another user): the line
  called it damaged."""
  state = logdir / 'ckpt' / 'checkpoint'
  before = snapshot(logdir)
  os.chmod(state, 0)
  try:
    result = cli(logdir, *RUN_FLAGS, '--config.run.steps=400', prefix=unprivileged)
  finally:
    os.chmod(state, 0o644)
  latest = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  assert one_line(result) == (
      f'Error: The checkpoint state file {state} cannot be read (Permission denied), so the '
      'latest checkpoint is unknown; to resume from the newest intact checkpoint, '
      f'{os.path.basename(latest)}, rerun with --config.run.resume_from={latest}')
  assert snapshot(logdir) == before


def test_an_unreadable_config_json_is_named_so(logdir, unprivileged):
  """config.json without read permission: '[Errno 13] Permission denied: PATH', exit
  code 1, where export and plot give a config error (found by a damaged-file sweep)."""
  config = logdir / 'config.json'
  before = snapshot(logdir)
  os.chmod(config, 0)
  try:
    result = cli(logdir, *RUN_FLAGS, '--config.run.steps=400', prefix=unprivileged)
  finally:
    os.chmod(config, 0o644)
  assert one_line(result) == f'Config error: {config} cannot be read (Permission denied)'
  assert result.returncode == 2
  assert snapshot(logdir) == before


def test_full_disk_on_save_is_one_line_and_keeps_checkpoints(logdir):
  ckpt = logdir / 'ckpt'
  latest = tf.train.latest_checkpoint(str(ckpt))
  # Files may grow to just above config.json: the run starts, its next save cannot.
  limit = max(os.path.getsize(logdir / x) for x in ('config.json', 'spaces.json')) + 512
  assert os.path.getsize(latest + '.data-00000-of-00001') > limit
  before = snapshot(ckpt)
  result = cli(logdir, *RUN_FLAGS, '--config.run.steps=400', '--config.run.save_every=-1',
               preexec_fn=cli_zygote.file_size_limit(limit))
  assert one_line(result) == (
      f'Error: Could not save a checkpoint in {ckpt}: File too large (this process may '
      f'write files of at most {limit} bytes, ulimit -f {limit // 1024}; raise it, e.g. ulimit '
      f'-f unlimited); checkpoints saved so far are kept, and the same command resumes from '
      f'the latest in {ckpt}')
  after = snapshot(ckpt)
  assert {k: after[k] for k in before} == before
  assert checkpointing.inspect(str(ckpt), REPLAYS).path == latest


def test_a_resume_on_a_disk_with_no_room_says_the_checkpoints_are_kept(logdir, tmp_path):
  """Its first write, config.json, failed: 'Error: Cannot write LOGDIR/config.json: No
  space left on device', which did not say what the other lines of a failed write say."""
  tmpfs_namespace.require()
  disk, after = tmp_path / 'disk', tmp_path / 'after'
  disk.mkdir()
  size = sum(len(data) for data, _ in snapshot(logdir).values()) + 2 ** 20
  # The logdir copied onto a tmpfs that a filler file then fills; copied back out after
  # the run (the tmpfs is this command's own).
  result = cli(disk / 'run', *RUN_FLAGS, '--config.run.steps=400',
               prefix=tmpfs_namespace.prefix(
                   disk, f'size={size}', fill=True, before=f'cp -a {logdir} {disk}/run',
                   after=f'cp -a {disk}/run {after}'))
  assert result.returncode != tmpfs_namespace.MOUNT_FAILED, result.stderr[-2000:]
  ckpt = disk / 'run' / 'ckpt'
  assert one_line(result) == (
      f'Error: Cannot write {disk}/run/config.json: No space left on device; checkpoints '
      f'saved so far are kept, and the same command resumes from the latest in {ckpt}')
  assert {k: v[0] for k, v in snapshot(after).items()} == {
      k: v[0] for k, v in snapshot(logdir).items()}


def test_an_evaluation_on_a_full_disk_says_none_of_its_episodes_is_logged(agent_ckpt, tmp_path):
  """eval_only into a new logdir on a full disk: its first write, config.json, failed
  with '...; the episodes that ended so far are logged in LOGDIR, and the same command
  evaluates anew from step 0, adding its episodes to them', of an empty folder."""
  tmpfs_namespace.require()
  disk = tmp_path / 'disk'
  disk.mkdir()
  result = cli_zygote.run(
      [*tmpfs_namespace.prefix(disk, fill=True),
       *eval_only_cmd(disk / 'eval', agent_ckpt, '--config.run.steps=60')],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode != tmpfs_namespace.MOUNT_FAILED, result.stderr[-2000:]
  assert one_line(result) == (
      f'Error: Cannot write {disk}/eval/config.json: No space left on device; no episode was '
      f'logged yet in {disk}/eval, so the same command evaluates anew from step 0')


def test_damaged_earlier_checkpoint_warns_once_and_never_stops_saving(logdir, capsys):
  ckpt = logdir / 'ckpt'
  # Not the oldest: the next save prunes that one before anything reads it.
  middle = tf.train.get_checkpoint_state(str(ckpt)).all_model_checkpoint_paths[1]
  os.truncate(middle + '.index', 20)
  damaged = {x: open(middle + x, 'rb').read() for x in ('.index', '.data-00000-of-00001')}
  steps = SAVED_STEPS + 100
  result = cli(logdir, *RUN_FLAGS, f'--config.run.steps={steps}', '--config.run.save_every=-1')
  assert result.returncode == 0, result.stderr[-3000:]
  assert our_lines(result.stderr) == [
      f'Warning: checkpoint {middle} is damaged (file is too short to be an sstable); '
      'it is set aside in damaged/ and not read again.']
  # It saved past it and pruned: three newer checkpoints, all whole.
  paths = list(tf.train.get_checkpoint_state(str(ckpt)).all_model_checkpoint_paths)
  assert len(paths) == 3 and middle not in paths and loop_step(paths[-1]) >= steps
  assert checkpointing.inspect(str(ckpt), REPLAYS).damaged == []
  # Its files are kept for inspection, out of the way, and nothing reads them again.
  name = os.path.basename(middle)
  assert {x: (ckpt / 'damaged' / (name + x)).read_bytes() for x in damaged} == damaged
  assert not [x for x in os.listdir(ckpt) if x.startswith(name + '.')]
  capsys.readouterr()
  checkpointing.inspect(str(ckpt), REPLAYS)
  assert capsys.readouterr().err == ''


def test_a_finished_run_says_its_damaged_earlier_checkpoint_stays(logdir):
  """The warning says a damaged earlier checkpoint is set aside in damaged/, which the
  run does as it starts writing; a run that has reached run.steps writes nothing, and
  its line said only 'nothing was written', the checkpoint left where it was."""
  ckpt = logdir / 'ckpt'
  middle = tf.train.get_checkpoint_state(str(ckpt)).all_model_checkpoint_paths[1]
  os.truncate(middle + '.index', 20)
  before = snapshot(logdir)
  result = cli(logdir, *RUN_FLAGS, f'--config.run.steps={SAVED_STEPS}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.splitlines()[-1] == (
      f'The run in {logdir} has reached step {SAVED_STEPS} of run.steps={SAVED_STEPS}; '
      f'nothing was written, so the damaged {os.path.basename(middle)} named above stays in '
      f'{ckpt} until the run trains on. To train on, pass a larger --config.run.steps.')
  assert snapshot(logdir) == before


def test_a_finished_run_names_no_damage_for_what_a_stopped_prune_left(logdir):
  """The data of the oldest checkpoint without its index, which a save stopped as it
  pruned it leaves, gets no warning (a resume that writes deletes it): a finished run's
  line still said 'the damaged ckpt-N named above stays', naming a line that was not
  there and calling damaged what was being deleted."""
  oldest = tf.train.get_checkpoint_state(str(logdir / 'ckpt')).all_model_checkpoint_paths[0]
  os.remove(oldest + '.index')  # TensorFlow deletes the index first, then the data
  before = snapshot(logdir)
  result = cli(logdir, *RUN_FLAGS, f'--config.run.steps={SAVED_STEPS}')
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.splitlines()[-1] == (
      f'The run in {logdir} has reached step {SAVED_STEPS} of run.steps={SAVED_STEPS}; '
      'nothing was written. To train on, pass a larger --config.run.steps.')
  assert 'damaged' not in result.stdout + result.stderr
  assert snapshot(logdir) == before


def test_a_finished_run_resumed_from_an_earlier_checkpoint_names_no_line_not_given(logdir):
  """run.resume_from of the checkpoint before a damaged latest one, as that one's line
  says, sets the latest aside without a warning (the user asked to go back): a run that
  had reached run.steps there said 'the damaged ckpt-N named above stays' all the same."""
  state = tf.train.get_checkpoint_state(str(logdir / 'ckpt'))
  *_, middle, latest = state.all_model_checkpoint_paths
  os.truncate(latest + '.index', 20)
  before = snapshot(logdir)
  result = cli(logdir, *RUN_FLAGS, '--config.run.steps=1', f'--config.run.resume_from={middle}')
  assert result.returncode == 0, result.stderr[-3000:]
  last = result.stdout.splitlines()[-1]
  assert last.startswith(f'The run in {logdir} has reached step '), last
  assert last.endswith(' of run.steps=1; nothing was written. To train on, pass a larger '
                       '--config.run.steps.'), last
  assert snapshot(logdir) == before


def test_damaged_latest_checkpoint_stops_with_the_flag_and_writes_nothing(logdir):
  ckpt = logdir / 'ckpt'
  *_, previous, latest = tf.train.get_checkpoint_state(str(ckpt)).all_model_checkpoint_paths
  os.truncate(latest + '.index', 20)
  before = snapshot(logdir)
  line = one_line(cli(logdir, *RUN_FLAGS, '--config.run.steps=400'))
  assert line == (
      f'Error: The latest checkpoint {latest} is damaged (file is too short to be an '
      f'sstable); to resume from the newest intact checkpoint, {os.path.basename(previous)}, '
      f'rerun with --config.run.resume_from={previous}')
  assert snapshot(logdir) == before  # config.json included
  # The flag it names resumes, and the damaged checkpoint is set aside.
  result = cli(logdir, *RUN_FLAGS, '--config.run.steps=400', line.rsplit(' ', 1)[-1])
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'Resumed from {previous} at step {loop_step(previous)}.' in result.stdout
  # The damaged one is set aside with its line (its files moved without one), and the
  # rows logged past the earlier step are set aside, and said so.
  assert [x.split(', where')[0] for x in our_lines(result.stderr)] == [
      f'Warning: checkpoint {latest} is damaged (file is too short to be an sstable); it is '
      'set aside in damaged/ and not read again.',
      f'Warning: the rows past step {loop_step(previous)}']
  assert (ckpt / 'damaged' / (os.path.basename(latest) + '.index')).stat().st_size == 20
  assert loop_step(tf.train.latest_checkpoint(str(ckpt))) >= 400


def test_a_lost_eval_replay_file_resumes_the_latest_with_that_replay_empty(tmp_path):
  """A chunk file of the eval replay deleted by hand (for room): the latest checkpoint
  was damaged, and the line's ways on lost the training since an older checkpoint, or
  the train replay (a new logdir from its agent). The eval replay feeds only eval/."""
  logdir = tmp_path / 'run'
  train_eval.train_eval(make_run_config(  # (evaluates at every step: eval chunks saved)
      logdir, random_agent=True, steps=SAVED_STEPS, save_every=-1, report_every=-1))
  ckpt = logdir / 'ckpt'
  latest = tf.train.latest_checkpoint(str(ckpt))

  def state(path, name):
    return json.loads(tf.train.load_checkpoint(path).get_tensor(
        f'{name}/.ATTRIBUTES/py_state'))

  lost = state(latest, 'replay_eval')['files'][0]
  os.remove(ckpt / 'replay_eval' / lost)
  saved, train = loop_step(latest), state(latest, 'replay_train')  # (pruned by the resume)
  steps = SAVED_STEPS + 100
  result = cli(logdir, *RUN_FLAGS, f'--config.run.steps={steps}', '--config.run.save_every=-1')
  assert result.returncode == 0, result.stderr[-3000:]
  assert our_lines(result.stderr) == [
      f'Warning: the replay_eval state of checkpoint {latest} is damaged (1 replay file is '
      f'missing, e.g. replay_eval/{lost}): this resume starts it empty and loads the rest']
  assert f'Resumed from {latest} at step {saved}.' in result.stdout
  path = tf.train.latest_checkpoint(str(ckpt))
  assert loop_step(path) >= steps and not (ckpt / 'damaged').exists()
  # The train replay went on from the one saved; the new eval replay is whole.
  keys = lambda state: {c['key'] for c in state['chunks']}  # noqa: E731
  assert keys(train) <= keys(state(path, 'replay_train'))
  assert lost not in state(path, 'replay_eval')['files']
  assert checkpointing.inspect(str(ckpt), REPLAYS).path == path


def test_a_resume_from_older_than_the_intact_latest_is_a_config_error(logdir):
  """It was 'Error: ...', exit code 1, where the other run.resume_from values that name
  no checkpoint to resume are config errors (2): the checkpoint is fine, the value not."""
  ckpt = logdir / 'ckpt'
  first, *_, latest = tf.train.get_checkpoint_state(str(ckpt)).all_model_checkpoint_paths
  before = snapshot(logdir)
  result = cli(logdir, *RUN_FLAGS, '--config.run.steps=400',
               f'--config.run.resume_from={first}')
  assert one_line(result) == (
      f'Config error: run.resume_from={first} is older than the intact checkpoint {latest}; '
      'drop run.resume_from to resume from the latest checkpoint, or go back to it in a new '
      f'--logdir: --config.run.from_checkpoint={first} (its agent)')
  assert result.returncode == 2
  assert snapshot(logdir) == before


def test_a_resume_from_naming_a_checkpoints_data_file_resumes_it(logdir):
  """Its .index file names the checkpoint, and so does its data file now: a shell
  completes 'ckpt-22.' to it first, and it read 'is not a checkpoint of this run'."""
  latest = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  result = cli(logdir, *RUN_FLAGS, '--config.run.steps=400',
               f'--config.run.resume_from={latest}.data-00000-of-00001')
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'Resumed from {latest} at step {loop_step(latest)}.' in result.stdout
  assert our_lines(result.stderr) == []


def test_resume_with_another_number_of_envs_starts_new_episodes(logdir):
  """run.envs and run.eval_envs may change on a resume: the saved per-env state
  (pending actions, policy carry) is for the old count, so every env starts afresh."""
  steps = SAVED_STEPS + 60
  train_eval.train_eval(make_run_config(
      logdir, random_agent=True, steps=steps, log_every=0, envs=3, eval_envs=2))
  assert loop_step(tf.train.latest_checkpoint(str(logdir / 'ckpt'))) >= steps


# TensorFlow's error for the failed load holds the repr of every unmatched object, and
# Keras 3.15's variable repr converts its value in a way numpy 2 deprecates.
@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')
def test_a_resume_of_another_agent_that_other_configs_let_run_names_it(logdir):
  """run.allow_other_config=True let a real agent resume a random agent's logdir (or
  one of another size): the load failed with TensorFlow's 'Found 179 Python objects
  that were not bound to checkpointed values, likely due to changes in the Python
  program', naming no setting. Its config.json tells before TensorFlow loads (sweep 77)."""
  before = snapshot(logdir)
  latest = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  with pytest.raises(configuration.ConfigError) as error:
    train_eval.train_eval(make_run_config(
        logdir, steps=SAVED_STEPS + 60, allow_other_config=True))
  assert str(error.value) == (
      f'Checkpoint {latest} is of a random agent (random_agent=True in {logdir}/config.json) '
      'and holds no weights for this agent; run.allow_other_config=True resumes a run with '
      'other settings, not another agent: start a new --logdir')
  assert snapshot(logdir) == before
  # A trained agent's logdir resumed by a random agent, or by an agent of another size.
  saved = make_run_config(logdir)
  (logdir / 'config.json').write_text(run_files.to_json(saved))
  assert common.other_agent(make_run_config(logdir, random_agent=True), 'ckpt-9') == (
      'Checkpoint ckpt-9 holds a trained agent, which random_agent=True cannot resume; '
      'drop random_agent, or start a new --logdir')
  config = make_run_config(logdir)
  with config.unlocked():
    config.agent.rssm.deter = 2 * saved.agent.rssm.deter
  assert common.other_agent(config, 'ckpt-9') == (
      f'Checkpoint ckpt-9 is of an agent with agent.rssm.deter={saved.agent.rssm.deter} '
      f'(this run: {config.agent.rssm.deter}) ({logdir}/config.json); '
      'run.allow_other_config=True resumes a run with other settings, not another agent: '
      'pass those agent settings, or start a new --logdir')
  assert common.other_agent(saved, 'ckpt-9') is None  # the same agent: TensorFlow's line


def test_a_spaces_json_whose_action_count_was_edited_is_named_at_a_resume(logdir):
  """A discrete action's high edited in spaces.json (4 -> 6): the resume blamed the env
  ('holds a run whose env had ... high=6, the env now has ... high=4; use a new
  --logdir'), though the env and the checkpoints were the run's. The checkpoint records
  the action's count; an env that changed keeps its line."""
  data = json.loads((logdir / 'spaces.json').read_text())
  data['act_space']['action']['high'] = 6
  (logdir / 'spaces.json').write_text(json.dumps(data))
  before = snapshot(logdir)
  latest = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  config = make_run_config(logdir, random_agent=True, steps=SAVED_STEPS + 60)
  with pytest.raises(configuration.ConfigError) as error:
    train_eval.train_eval(config)
  assert str(error.value) == (
      f'{logdir}/spaces.json does not hold the spaces checkpoint {latest} was made for, '
      "which the env has (its action 'action' is one of 4 values, spaces.json's one of 6): "
      'edited or replaced? put back the one the run wrote, or move it away, and the run '
      'writes it again from its env')
  assert snapshot(logdir) == before
  # An env whose count changed too (the checkpoint's is not the env's): the env's line.
  obs_space, act_space = run_files.load_spaces(str(logdir))
  with pytest.raises(configuration.ConfigError, match='holds a run whose env had'):
    common.check_spaces_file(config, latest, obs_space, {'action': Space(np.int32, (), 0, 5)})


def test_a_ckpt_copied_into_a_run_of_another_task_names_that_task(logdir, tmp_path):
  """A ckpt/ of dummy_disc_vec copied into a new logdir of dummy_cont_vec (no config.json
  nor spaces.json there to tell): the resume loaded it, and an agent's load failed with
  TensorFlow's 'Received incompatible tensor with shape (4, 8) when attempting to restore
  variable with shape (2, 8)' (a random agent's passed, and the env failed on the saved
  action). The checkpoint records what it was made for."""
  other = tmp_path / 'other'
  other.mkdir()
  shutil.copytree(logdir / 'ckpt', other / 'ckpt')
  before = snapshot(other)
  latest = tf.train.latest_checkpoint(str(other / 'ckpt'))
  with pytest.raises(configuration.ConfigError) as error:
    train_eval.train_eval(make_run_config(
        other, task='dummy_cont_vec', random_agent=True, steps=SAVED_STEPS + 60))
  assert str(error.value) == (
      f'Checkpoint {latest} was made for another task, dummy_disc_vec, not dummy_cont_vec '
      "(its action 'action' is int32[], this run's float32[2]): pass "
      '--config.task=dummy_disc_vec to resume it, or use a new --logdir for dummy_cont_vec')
  assert snapshot(other) == before
  # A config.json naming this run's task (edited by hand, spaces.json deleted) refuses
  # --config.task=dummy_disc_vec alone: the line gave that flag, and the next start
  # said the logdir belongs to another config.
  (other / 'config.json').write_text(run_files.to_json(
      make_run_config(other, task='dummy_cont_vec', random_agent=True)))
  before = snapshot(other)
  with pytest.raises(configuration.ConfigError) as error:
    train_eval.train_eval(make_run_config(
        other, task='dummy_cont_vec', random_agent=True, steps=SAVED_STEPS + 60))
  assert str(error.value).endswith(
      'pass --config.task=dummy_disc_vec --config.run.allow_other_config=True to resume '
      'it, or use a new --logdir for dummy_cont_vec')
  assert snapshot(other) == before
  # Older checkpoints record nothing: their replay's columns tell the spaces.
  env = factories.make_env(make_run_config(other, task='dummy_cont_vec'))
  obs_space, act_space = base.agent_spaces(env.obs_space, env.act_space)
  columns = {'vector': 'float32[4]', 'action': 'int32[]', 'dyn/deter': 'float32[16]',
             'stepid': 'uint8[20]', 'reward': 'float32[]', 'is_first': 'bool[]',
             'is_last': 'bool[]', 'is_terminal': 'bool[]'}
  assert common._spaces_difference({'columns': columns}, obs_space, act_space) == (
      "its action 'action' is int32[], this run's float32[2]")
  columns['action'] = 'float32[2]'
  assert common._spaces_difference({'columns': columns}, obs_space, act_space) is None
  assert common._spaces_difference({}, obs_space, act_space) is None  # nothing recorded


@pytest.mark.parametrize('config_json', [False, True])
def test_a_ckpt_copied_into_a_run_of_another_agent_names_its_settings(
    agent_ckpt, tmp_path, config_json):
  """As above, for an agent of other settings: TensorFlow's line named one variable's
  shapes, and no config.json was there to name the settings. Copied over the ckpt/ of
  a run of this agent, whose config.json stays, the settings alone were then refused
  ('belongs to another config'): the line names the override they need too."""
  logdir = tmp_path / 'run'
  logdir.mkdir()
  shutil.copytree(agent_ckpt, logdir / 'ckpt')
  latest = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  config = make_run_config(logdir, steps=60, train_ratio=0.0)
  with config.unlocked():
    config.jit = False
    config.agent.rssm.deter = 32
  if config_json:
    logdir_checks.save(config, str(logdir))
  with pytest.raises(checkpointing.CheckpointError) as error:
    train_eval.train_eval(config)
  override = ' with --config.run.allow_other_config=True' if config_json else ''
  assert str(error.value) == (
      f'Checkpoint {latest} was made for an agent with agent.rssm.deter=16 (this run: 32): '
      f'pass those agent settings (its size preset){override} to resume it, or use a new '
      '--logdir')


def test_a_ckpt_of_a_random_agent_copied_over_a_trained_runs_names_the_override(
    logdir, agent_ckpt, tmp_path):
  """A random agent's ckpt/ copied over a trained run's (its config.json staying), and
  the other way round: the line said to pass (or drop) random_agent, which the logdir's
  config.json then refused ('belongs to another config (random_agent: False -> True)')."""
  random_ckpt = tf.train.latest_checkpoint(str(logdir / 'ckpt'))  # a random agent's run
  (logdir / 'config.json').write_text(run_files.to_json(make_run_config(logdir)))
  assert common.other_agent(make_run_config(logdir), random_ckpt) == (
      f'Checkpoint {random_ckpt} was made by a random agent (random_agent=True) and holds '
      'no weights for this agent: pass --config.random_agent=True with '
      '--config.run.allow_other_config=True to resume it, or use a new --logdir')
  trained = tf.train.latest_checkpoint(agent_ckpt)
  random_run = make_run_config(tmp_path / 'random', random_agent=True)
  os.makedirs(random_run.logdir)
  (tmp_path / 'random' / 'config.json').write_text(run_files.to_json(random_run))
  assert common.other_agent(random_run, trained) == (
      f'Checkpoint {trained} holds a trained agent, which random_agent=True cannot resume; '
      'drop random_agent with --config.run.allow_other_config=True, or use a new --logdir')


def test_a_ckpt_of_other_env_settings_copied_over_a_runs_names_the_override(logdir):
  """A ckpt/ of the same task with other env settings copied over a run's ckpt/, its
  config.json staying: 'pass the env settings it was made with', which that config.json
  then refused ('belongs to another config')."""
  latest = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  config = make_run_config(logdir, random_agent=True)
  (logdir / 'config.json').write_text(run_files.to_json(config))
  env = factories.make_env(make_run_config(logdir, task='dummy_cont_vec'))
  obs_space, act_space = base.agent_spaces(env.obs_space, env.act_space)
  with pytest.raises(configuration.ConfigError) as error:
    common.check_made_for(config, latest, obs_space, act_space)
  assert str(error.value) == (
      f'Checkpoint {latest} was made for dummy_disc_vec with other spaces (its action '
      "'action' is int32[], this run's float32[2]): pass the env settings it was made with "
      '(with --config.run.allow_other_config=True), or use a new --logdir')


def test_a_finished_run_resumed_is_left_as_it_was(logdir, capsys):
  """The same command again after a run ended: it logged its last row a second time and
  saved once more at the same step, which rotated the oldest checkpoint out."""
  before = snapshot(logdir)
  train_eval.train_eval(make_run_config(
      logdir, random_agent=True, steps=SAVED_STEPS, save_every=-1, log_every=0,
      keep_checkpoints=3))
  out = capsys.readouterr().out
  assert f'has reached step {loop_step(tf.train.latest_checkpoint(str(logdir / "ckpt")))} ' \
      f'of run.steps={SAVED_STEPS}; nothing was written' in out, out
  assert snapshot(logdir) == before


def test_a_train_run_resumes_as_train_eval_with_an_empty_eval_replay(tmp_path, capsys):
  """script may change on a resume; a run of script=train saved no eval replay."""
  logdir = tmp_path / 'run'
  config = make_run_config(logdir, random_agent=True, steps=100, save_every=-1)
  config.script = 'train'
  train_eval.train_eval(config, evaluate=False)
  capsys.readouterr()
  steps = 160
  train_eval.train_eval(make_run_config(
      logdir, random_agent=True, steps=steps, save_every=-1, report_every=-1))
  # Saved on: the train-only checkpoints were neither refused nor set aside as damaged.
  assert capsys.readouterr().err == ''
  ckpt = logdir / 'ckpt'
  assert not (ckpt / 'damaged').exists()
  plan = checkpointing.inspect(str(ckpt), REPLAYS)
  assert loop_step(plan.path) >= steps and plan.damaged == []
  eval_state = json.loads(tf.train.load_checkpoint(plan.path).get_tensor(
      'replay_eval/.ATTRIBUTES/py_state'))
  assert eval_state['files'] and all((ckpt / 'replay_eval' / f).exists()
                                     for f in eval_state['files'])


def test_a_train_resume_carries_the_eval_replay_to_a_later_train_eval_resume(tmp_path, capsys):
  """train_eval, then script=train, then train_eval again on one logdir: the train run's
  checkpoints held no eval replay, so the third run's started empty and its saves pruned
  the first run's eval chunk files."""
  logdir = tmp_path / 'run'
  ckpt = logdir / 'ckpt'

  def eval_state(path):
    return json.loads(tf.train.load_checkpoint(path).get_tensor(
        'replay_eval/.ATTRIBUTES/py_state'))

  def run(steps):
    return make_run_config(logdir, random_agent=True, steps=steps, save_every=-1,
                           report_every=-1, keep_checkpoints=2)

  train_eval.train_eval(run(100))
  first = eval_state(tf.train.latest_checkpoint(str(ckpt)))
  assert first['count'] > 0
  config = run(200)
  config.script = 'train'
  train_eval.train_eval(config, evaluate=False)  # saves often: the first run's rotate out
  carried = eval_state(tf.train.latest_checkpoint(str(ckpt)))
  assert carried == first
  assert all((ckpt / 'replay_eval' / f).exists() for f in first['files'])
  train_eval.train_eval(run(300))
  capsys.readouterr()
  last = eval_state(tf.train.latest_checkpoint(str(ckpt)))
  # Continued: the first run's chunks are in it (the last one grown), and counted.
  assert {c['key'] for c in first['chunks']} <= {c['key'] for c in last['chunks']}
  assert last['count'] > first['count']
  assert all((ckpt / 'replay_eval' / f).exists() for f in last['files'])
  assert checkpointing.inspect(str(ckpt), REPLAYS).damaged == []


@pytest.mark.parametrize('parallel, mode, fault, message', [
    (False, 'train', 'nan_vector',
     "train env 1: obs 'vector': expected finite float32[4], got 4 non-finite (nan)"),
    (True, 'train', 'inf_reward',
     "train env 1: obs 'reward': expected finite float32[], got 1 non-finite (inf)"),
    (False, 'eval', 'float_image',
     "eval env 0: obs 'image': expected uint8[64, 64, 3], got float32[64, 64, 3]"),
    (True, 'eval', 'short_vector',
     "eval env 0: obs 'vector': expected float32[4], got float32[3]"),
])
def test_env_outputs_outside_their_spaces_are_one_line(tmp_path, parallel, mode, fault, message):
  config = make_run_config(tmp_path / 'run', task='dummy_disc', random_agent=True,
                           steps=300, report_every=-1, parallel=parallel)
  undo = faulty_env.inject(fault, mode)
  try:
    with pytest.raises(base.EnvSpaceError) as error:
      train_eval.train_eval(config)
  finally:
    undo()
  assert main.describe(error.value) == f'Env error: dummy_disc {message}'


def test_a_model_too_big_for_memory_is_named_not_unexpected():
  """size400m under a 5 GB limit: 'MemoryError: Unable to allocate 504. MiB ... (unexpected:
  rerun with --traceback ...)' from numpy as the agent was built; TensorFlow's is alike."""
  with pytest.raises(MemoryError) as error:
    np.zeros((2 ** 40, 2 ** 20), np.float32)
  # TensorFlow's own (a real one takes 10 s of its allocator's retries).
  oom = tf.errors.ResourceExhaustedError(None, None, 'OOM when allocating tensor with shape[9]')
  for error in (error.value, oom):
    line = main.describe(error)
    assert line.startswith('Error: out of memory (') and 'unexpected' not in line, line
    assert line.endswith('use a smaller model (a size preset), batch_size or batch_length, '
                         'or a machine with more memory'), line


def test_a_conv_stack_too_big_for_memory_is_named_before_it_is_built(tmp_path):
  """agent.enc.depth=1e8 on an image task: the config holds no image size, and the agent
  grew until Linux's OOM killer ended the run (SIGKILL, no line)."""
  from configs import dmc
  c = dmc.get_config('train_eval,debug')
  c.task, c.logdir = 'dummy_disc', str(tmp_path / 'run')
  c.agent.enc.depth = 10 ** 8
  config = configuration.finalize(c)  # no image key known yet: nothing to count
  env = factories.make_env(config)
  obs_space, act_space = base.agent_spaces(env.obs_space, env.act_space)
  env.close()
  with pytest.raises(configuration.ConfigError, match=(
      r'^agent.enc.depth=100000000 makes an agent of at least [\d.e+]+ weights, (training it '
      r'on this CPU takes at least )?[\d.e+]+ GiB.*, more than the [\d.]+ GiB of memory '
      r'available; use a smaller '
      r'agent.enc.depth or a size preset')):
    factories.make_agent(config, obs_space, act_space)


@pytest.mark.parametrize('parallel, mode', [(False, 'train'), (True, 'eval')])
def test_an_env_that_builds_but_cannot_step_writes_nothing(tmp_path, parallel, mode):
  """A bad camera fails at the env's first step, not its build: the run stops before
  config.json or a first checkpoint exists, so the corrected command is a new run."""
  config = make_run_config(tmp_path / 'run', task='dummy_disc', random_agent=True,
                           steps=300, report_every=-1, parallel=parallel)
  undo = faulty_env.inject('cannot_step', mode)
  try:
    with pytest.raises(base.EnvError, match='camera_id=99 is invalid'):
      train_eval.train_eval(config)
  finally:
    undo()
  assert not (tmp_path / 'run').exists()


def test_a_replay_that_cannot_fit_in_memory_is_a_warning_as_the_run_starts(
    tmp_path, monkeypatch, capsys):
  """The replay keeps every step in memory up to replay.size: dmc.py's vision preset
  (22.6 KB a step over 1.1M steps) ran until Linux's OOM killer ended it, no line. The
  machine's memory is made small here: 300 steps of a 64x64x3 image and the rest. The
  run goes on (one meant to stop early is fine)."""
  from dreamerv3_tf.envs import memory
  config = make_run_config(tmp_path / 'run', task='dummy_disc', random_agent=True,
                           steps=300, report_every=-1)
  monkeypatch.setattr(memory, 'total_bytes', lambda: 2_000_000)
  monkeypatch.setattr(memory, 'available_bytes', lambda: 1_000_000)
  train_eval.train_eval(config)
  assert capsys.readouterr().err == (
      'Warning: replay.size=10,000 and run.steps=300: the train replay will hold 300 steps '
      'of 12.3 KB each (image 12.3 KB, stepid 20 B, vector 16 B, ...) in memory, 3.7 MB, '
      "more than the 2 MB it may ever use (RAM and swap, or its cgroup's limit): the run "
      'will run out of memory once its replay grows past about 81 steps; a smaller '
      'replay.size lets it run to its end\n')
  assert (tmp_path / 'run' / 'config.json').exists()


def test_a_replay_that_outgrows_the_memory_available_now_is_a_warning():
  from dreamerv3_tf.core.spaces import Space
  from dreamerv3_tf.envs import memory
  c = dmc.get_config('train_eval,vision,size12m')  # 1.1M steps of a 64x64x3 image
  obs = {'image': Space(np.uint8, (64, 64, 3)), 'reward': Space(np.float32),
         **{k: Space(bool) for k in ('is_first', 'is_last', 'is_terminal')}}
  act = {'action': Space(np.float32, (6,), -1, 1)}
  sizes = config_memory.replay_step_bytes(c, obs, act)
  assert sizes == {'image': 12288, 'reward': 4, 'is_first': 1, 'is_last': 1,
                   'is_terminal': 1, 'action': 24, 'dyn/deter': 4 * 2048,
                   'dyn/stoch': 4 * 32 * 16, 'stepid': 20}
  need = 1_100_000 * sum(sizes.values())
  with monkeypatch_memory(memory, total=2 * need, available=need // 2):
    warning = config_memory.check_replay_memory(c, obs, act)
  assert warning.startswith('Warning: replay.size=5,000,000 and run.steps=1,100,000: the '
                            'train replay will hold 1,100,000 steps of 22.6 KB each (image '
                            '12.3 KB, dyn/deter 8.19 KB, dyn/stoch 2.05 KB, ...)'), warning
  assert warning.endswith('more than the 12.4 GB available now: the run will run out of '
                          'memory once its replay grows past about 550,000 steps; a smaller '
                          'replay.size lets it run to its end'), warning
  with monkeypatch_memory(memory, total=2 * need, available=need):
    assert config_memory.check_replay_memory(c, obs, act) is None


@contextlib.contextmanager
def monkeypatch_memory(memory, total, available):
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(memory, 'total_bytes', lambda: total)
    patch.setattr(memory, 'available_bytes', lambda: available)
    yield


def test_eval_envs_of_other_spaces_than_the_train_envs_write_nothing(tmp_path, monkeypatch):
  """One agent acts in both pools. An eval obs of another shape was an 'unexpected'
  ValueError of the policy at the first eval, after the logdir was written, and an eval
  env with more actions ran to the end without ever being sent the others."""
  config = make_run_config(tmp_path / 'run', task='dummy_disc', random_agent=True,
                           steps=300, report_every=-1, parallel=False)
  fns = factories.env_fns
  monkeypatch.setattr(factories, 'env_fns', lambda config, mode: [  # eval: another task
      functools.partial(fn.func, 'dummy_disc_vec', *fn.args[1:]) if mode == 'eval' else fn
      for fn in fns(config, mode)])
  with pytest.raises(base.EnvError) as error:
    train_eval.train_eval(config)
  assert main.describe(error.value) == (
      "Env error: dummy_disc eval envs have other spaces than its train envs: obs 'image' "
      'is Space(uint8, shape=(64, 64, 3), low=0, high=255) in train, (none) in eval; one '
      "agent acts in both (does the env build another for mode='eval'?)")
  assert not (tmp_path / 'run').exists()


def test_a_run_that_made_the_logdir_while_this_one_started_is_left_as_it_was(
    tmp_path, monkeypatch):
  """The same command started twice in a new logdir: one run checked the logdir (not
  there yet), and the other made it and ended before the first got to write. The
  first then started at step 0 over the other's checkpoints; now it stops in one line."""
  from dreamerv3_tf import factories
  config = make_run_config(tmp_path / 'run', random_agent=True, steps=60, save_every=-1)
  make_agent = factories.make_agent

  def other_run_meanwhile(*args, **kwargs):
    monkeypatch.setattr(factories, 'make_agent', make_agent)
    train_eval.train_eval(config)
    before.update(snapshot(tmp_path / 'run'))
    return make_agent(*args, **kwargs)

  before = {}
  monkeypatch.setattr(factories, 'make_agent', other_run_meanwhile)
  with pytest.raises(configuration.LogdirError) as error:
    train_eval.train_eval(config)
  assert str(error.value) == (
      f"logdir {tmp_path / 'run'} was started by another run while this one started; "
      'nothing was written: run the command again to resume it')
  assert before and snapshot(tmp_path / 'run') == before


def test_env_output_error_through_the_cli(tmp_path):
  code = ('import faulty_env, sys; faulty_env.inject("inf_reward", "eval"); '
          'from dreamerv3_tf import main; main.entry()')
  result = cli_zygote.run(
      [sys.executable, '-c', code, '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={tmp_path}/run', *run_flags('dummy_disc', parallel=True, report_every=-1)],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, 'PYTHONPATH': os.pathsep.join(
          [os.path.dirname(__file__), ROOT, os.environ.get('PYTHONPATH', '')])})
  assert one_line(result) == (
      "Env error: dummy_disc eval env 0: obs 'reward': expected finite float32[], "
      'got 1 non-finite (inf)')


def resumed_and_training(logdir, *args):
  """`main` resuming `logdir` for endless steps, once it has saved a checkpoint of its own."""
  saved = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  proc = cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={logdir}', *overridden(RUN_FLAGS, args), '--config.run.steps=100000000',
       *args],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while tf.train.latest_checkpoint(str(logdir / 'ckpt')) == saved:
    if proc.poll() is not None or time.time() > deadline:
      proc.kill()
      pytest.fail(proc.communicate()[1][-3000:])
    time.sleep(0.1)
  return proc


@pytest.mark.parametrize('sig, code, word, repeated', [
    (signal.SIGINT, 130, 'Interrupted', False), (signal.SIGTERM, 143, 'Terminated', False),
    # Ctrl-C pressed again and again until the run is gone: a repeat landed in the stop's
    # cleanup (a traceback) or in the interpreter's shutdown (killed by SIGINT, exit -2).
    (signal.SIGINT, 130, 'Interrupted', True),
    # The terminal closed (an ssh session dropped): it ended without a word, also in
    # the log file its output went to.
    (signal.SIGHUP, 129, 'Hung up (SIGHUP: its terminal closed)', False),
    # A scheduler's notice ahead of a job's end (SLURM's --signal=USR1@90): it ended the
    # run with exit 138 and no line.
    (signal.SIGUSR1, 138, "Stopped by SIGUSR1 (a scheduler's notice of a job's end?)", False)],
    ids=['ctrl_c', 'sigterm', 'ctrl_c_held', 'sighup', 'sigusr1'])
def test_ctrl_c_or_kill_is_one_line_and_keeps_checkpoints(
    logdir, capsys, sig, code, word, repeated):
  ckpt = logdir / 'ckpt'
  proc = resumed_and_training(logdir, '--config.run.save_every=-1')
  deadline = time.time() + 240
  try:
    proc.send_signal(sig)
    while repeated and proc.poll() is None and time.time() < deadline:
      time.sleep(0.02)
      proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
  finally:  # a run the signal did not stop trains on, saving after every 10 steps
    proc.kill()
  assert proc.returncode == code, stderr[-3000:]
  assert our_lines(stderr) == [
      f'{word}; checkpoints saved so far are kept, and the same command resumes '
      f'from the latest in {ckpt}']
  assert 'Traceback' not in stderr
  # The latest is whole and resumes; the interrupt may have landed in a save, which
  # TensorFlow then left listing a checkpoint it had already pruned: not a warning.
  capsys.readouterr()
  plan = checkpointing.inspect(str(ckpt), REPLAYS)
  assert loop_step(plan.path) > SAVED_STEPS and capsys.readouterr().err == ''


# An env of the user's whose library resets the stop signals to their default as it is
# built, as some simulators' do.
RESETS_SIGNALS = '''
import signal
from dreamerv3_tf.envs import dummy

def make(seed=None):
  signal.signal(signal.SIGINT, signal.SIG_DFL)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)
  return dummy.Dummy('disc_vec', length=30, seed=seed)
'''


def test_a_stop_still_ends_a_run_whose_env_reset_the_signal_handlers(tmp_path):
  """SIGTERM (or Ctrl-C) killed the run without a line: the env's constructor had put
  the default handlers back."""
  (tmp_path / 'resetsig.py').write_text(RESETS_SIGNALS)
  logdir = tmp_path / 'run'
  proc = cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={logdir}', *overridden(run_flags('py_resetsig:make'), ['--config.logger.outputs=']),
       '--config.logger.outputs=terminal,jsonl', '--config.run.steps=100000'],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env={**os.environ, 'PYTHONPATH': f'{tmp_path}{os.pathsep}{ROOT}'})
  try:
    for line in proc.stdout:  # training: the envs are built
      if 'First update done' in line:
        break
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
  finally:
    proc.kill()
  assert proc.returncode == 143, stderr[-3000:]
  assert our_lines(stderr) == [
      'Warning: py_resetsig:make train env 0 set its own handler for SIGINT and SIGTERM; the '
      'run put its own back, so a stop still ends it with one line (its env.close() is called '
      'then)',
      'Terminated; checkpoints saved so far are kept, and the same command resumes from the '
      f'latest in {logdir}/ckpt']


def test_stdout_a_pipe_that_nothing_reads_is_one_line_and_keeps_the_logdir(logdir):
  """`main ... | head -1`: the run stopped with 'Error: [Errno 32] Broken pipe', which
  named neither stdout nor the checkpoints kept."""
  before = snapshot(logdir)
  proc = cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={logdir}', *RUN_FLAGS], cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
  assert proc.stdout.readline().startswith('[')  # our first line; then `head -1` ends
  end_the_pipe_and_check_the_line(proc, logdir)
  assert snapshot(logdir) == before


def end_the_pipe_and_check_the_line(proc, logdir):
  """Closes the reading end of `proc`'s stdout, as `| head` does when it has its lines;
  asserts the run's one line."""
  proc.stdout.close()
  stderr = proc.stderr.read()
  proc.wait(timeout=120)
  assert proc.returncode == 1, stderr[-3000:]
  assert our_lines(stderr) == [
      'Stopped: stdout is a pipe that nothing reads any more (the program after | ended); '
      'checkpoints saved so far are kept, and the same command resumes from the latest '
      f'in {logdir}/ckpt']


def test_stdout_a_pipe_whose_reader_ends_mid_run_is_the_same_line(tmp_path):
  """`main ... | head -50` ending once the progress lines came: the logger's write
  failed inside its file checks, 'Error: [Errno 32] Broken pipe; ...' naming no stream."""
  logdir = tmp_path / 'run'
  proc = cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={logdir}', *overridden(RUN_FLAGS, ['--config.run.log_every=',
                                                    '--config.logger.outputs=']),
       '--config.run.log_every=0.1', '--config.logger.outputs=terminal,jsonl',
       '--config.run.steps=100000'],  # ends within a minute should stdout never fail
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  for line in proc.stdout:  # from the first update on, stdout takes progress lines only
    if 'First update done' in line:
      break
  end_the_pipe_and_check_the_line(proc, logdir)


# An env of the user's that closes sys.stdout (in this process: run.parallel=False).
CLOSES_STDOUT = '''
import sys
from dreamerv3_tf.envs import dummy

class Env(dummy.Dummy):
  def step(self, action):
    if not action['reset']:
      sys.stdout.close()
    return super().step(action)

def make(seed=None):
  return Env('disc_vec', length=30, seed=seed)
'''


def test_stdout_closed_by_an_env_in_this_process_is_named(tmp_path):
  """It was 'Error: ValueError: I/O operation on closed file. (unexpected: rerun with
  --traceback ...)', naming no stream."""
  (tmp_path / 'closesout.py').write_text(CLOSES_STDOUT)
  logdir = tmp_path / 'run'
  result = cli(logdir, *overridden(run_flags('py_closesout:make'), ['--config.logger.outputs=']),
               '--config.logger.outputs=terminal,jsonl', '--config.run.steps=100000',
               env={**os.environ, 'PYTHONPATH': f'{tmp_path}{os.pathsep}{ROOT}'})
  assert result.returncode == 1
  assert one_line(result).startswith(
      'Stopped: cannot write to stdout (sys.stdout was closed by code in this process); ')


def test_a_closed_terminal_stops_the_run_with_exit_129_and_keeps_checkpoints(logdir):
  """A run whose output went to a terminal that closed (an ssh session dropped): its
  line could not be written there (EIO), which ended it with exit code 1."""
  saved = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  pid, terminal = pty.fork()  # the child's controlling terminal: closing it sends SIGHUP
  if pid == 0:
    os.chdir(ROOT)
    os.execv(sys.executable, [
        sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
        f'--logdir={logdir}', *RUN_FLAGS, '--config.run.steps=100000000',
        '--config.run.save_every=-1'])
  output, deadline = b'', time.time() + 240
  while tf.train.latest_checkpoint(str(logdir / 'ckpt')) == saved:  # it resumed and trains
    assert time.time() < deadline, output[-3000:]
    if select.select([terminal], [], [], 0.1)[0]:
      output += os.read(terminal, 4096)
  os.close(terminal)
  _, status = os.waitpid(pid, 0)
  assert os.waitstatus_to_exitcode(status) == 129, output[-3000:]
  plan = checkpointing.inspect(str(logdir / 'ckpt'), REPLAYS)
  assert plan.path != saved and loop_step(plan.path) > SAVED_STEPS


def moved_logdir_line(logdir):
  return (f'Error: logdir {logdir} was deleted, renamed or replaced while this run ran; it '
          'stops without writing there (a renamed logdir resumes under its new name)')


def test_a_logdir_renamed_while_the_run_runs_stops_it_and_is_not_made_again(logdir):
  """`mv run run_old` (or `rm -rf run`) while it trained: its next save made run/ckpt
  anew and it went on there, without config.json and without its lock."""
  # Saves 2 s apart: the move lands between two, as a user's does between saves
  # minutes apart. One under way may still make run/ckpt anew (README).
  proc = resumed_and_training(logdir, '--config.run.save_every=2')
  try:
    moved = logdir.rename(logdir.parent / 'moved')
    _, stderr = proc.communicate(timeout=60)
  finally:
    proc.kill()
  assert proc.returncode == 1, stderr[-3000:]
  assert our_lines(stderr) == [moved_logdir_line(logdir)]
  assert not logdir.exists()
  assert loop_step(checkpointing.inspect(str(moved / 'ckpt'), REPLAYS).path) > SAVED_STEPS


def test_a_log_file_that_cannot_be_written_midway_says_what_is_kept(logdir):
  """metrics.jsonl made unwritable while the run trains (here: replaced by a directory;
  a full disk is the same): the line was 'Error: PATH; Is a directory', which said
  neither what was kept nor how to go on."""
  ckpt = logdir / 'ckpt'
  proc = resumed_and_training(
      logdir, '--config.run.save_every=-1', '--config.run.log_every=-1')
  try:
    (logdir / 'metrics.jsonl').unlink()
    (logdir / 'metrics.jsonl').mkdir()
    _, stderr = proc.communicate(timeout=60)
  finally:
    proc.kill()
  assert proc.returncode == 1, stderr[-3000:]
  assert our_lines(stderr) == [
      f'Error: Cannot write {logdir}/metrics.jsonl: Is a directory; checkpoints saved so far '
      f'are kept, and the same command resumes from the latest in {ckpt}']
  assert loop_step(checkpointing.inspect(str(ckpt), REPLAYS).path) > SAVED_STEPS


def test_a_log_file_that_cannot_be_written_as_the_run_ends_is_a_write_error(tmp_path):
  """The logger's close writes the rows still pending; a file it could not write there
  ended the run with TensorFlow's 'Error: PATH; CAUSE', not the line of a write that
  fails midway (main adds what is kept to a WriteError's line: the test above)."""
  from dreamerv3_tf.core import logger as logging
  from dreamerv3_tf.run import common
  output = logging.JSONLOutput(str(tmp_path), opener=tf.io.gfile.GFile)  # as the runs'
  with pytest.raises(base.WriteError) as info:
    with contextlib.ExitStack() as stack:
      logger = common.closing_logger(
          stack, logging.Logger(common.Counter(5), [output]), str(tmp_path))
      logger.add({'score': 1.0}, prefix='episode')
      (tmp_path / 'metrics.jsonl').mkdir()  # a full disk or a read-only file: the same
  assert str(info.value) == f'Cannot write {tmp_path}/metrics.jsonl: Is a directory'


@pytest.fixture(scope='module')
def agent_ckpt(tmp_path_factory):
  """The ckpt/ of a short run of the debug agent (eager, no updates): eval_only's
  source (a random agent's checkpoint holds no weights to evaluate)."""
  config = make_run_config(tmp_path_factory.mktemp('agent') / 'run', steps=30, train_ratio=0.0)
  with config.unlocked():
    config.jit = False
  train_eval.train_eval(config)
  return os.path.join(config.logdir, 'ckpt')


def eval_only_cmd(logdir, ckpt, *args):
  return [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:eval_only,debug',
          f'--logdir={logdir}', f'--config.run.from_checkpoint={ckpt}', '--config.jit=False',
          *overridden(RUN_FLAGS, ['--config.random_agent', *args]), *args]


def test_an_eval_only_logdir_renamed_while_it_runs_stops_it_and_is_not_made_again(
    agent_ckpt, tmp_path):
  """eval_only lacked train_eval's check: its logger went on writing wherever the
  logdir's path led (a new directory at that path, or failed writes). Episodes of 10
  steps: each write has some, which the logger's close wrote into the new directory."""
  logdir = tmp_path / 'eval'
  proc = cli_zygote.Popen(
      eval_only_cmd(logdir, agent_ckpt, '--config.run.steps=100000000',
                    '--config.run.log_every=-1', '--config.env.dummy.length=10'),
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    deadline = time.time() + 240
    while not (logdir / 'metrics.jsonl').exists():  # it evaluates and logs
      assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
      time.sleep(0.1)
    moved = logdir.rename(tmp_path / 'moved')
    logdir.mkdir()  # replaced: the writes went on into this one
    _, stderr = proc.communicate(timeout=60)
  finally:
    proc.kill()
  assert proc.returncode == 1, stderr[-3000:]
  assert our_lines(stderr) == [moved_logdir_line(logdir)]
  assert os.listdir(logdir) == []
  assert (moved / 'metrics.jsonl').exists()


def test_ctrl_c_as_eval_only_ends_is_never_a_kill(agent_ckpt, tmp_path):
  """Ctrl-C held while eval_only ends (its last log written): one that landed in the
  interpreter's shutdown, which puts Python's handlers back to the default, killed it
  (exit -2, no line). It ends as it would have (0), or stops with its line (130)."""
  codes = []
  for attempt in range(3):  # the kill came on the first attempt before the fix
    logdir = tmp_path / f'eval{attempt}'
    proc = cli_zygote.Popen(
        eval_only_cmd(logdir, agent_ckpt, '--config.run.steps=60'),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
      deadline = time.time() + 240
      while not (logdir / 'metrics.jsonl').exists():  # its one log: written at its end
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.005)
      time.sleep(0.03 * attempt)  # into its cleanup, main's return, the shutdown
      while proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
      _, stderr = proc.communicate(timeout=60)
    finally:
      proc.kill()
    codes.append(proc.returncode)
    assert proc.returncode in (0, 130), (codes, stderr[-3000:])
    assert our_lines(stderr) == ([
        f'Interrupted; the episodes that ended so far are logged in {logdir}, and the same '
        'command evaluates anew from step 0, adding its episodes to them']
        if proc.returncode else [])


# An env of the user's whose close() takes a Ctrl-C: one pressed as the run closes its
# envs, after its last write, lands there every time.
CTRL_C_AT_CLOSE = '''
import os, signal, time
from dreamerv3_tf.envs import dummy

class Env(dummy.Dummy):
  def close(self):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.5)  # its handler runs here
    super().close()

def make(seed=None):
  return Env('disc_vec', length=30, seed=seed)
'''


def test_ctrl_c_once_the_run_wrote_everything_is_ignored(tmp_path):
  """A Ctrl-C after the run's last write but before main ignored further ones (while
  the envs closed) ended a run that had saved and logged everything with 130 and
  'Interrupted'; stops are ignored from its last write on (run/common.when_done)."""
  (tmp_path / 'ctrlc.py').write_text(CTRL_C_AT_CLOSE)
  result = cli(tmp_path / 'run', *run_flags('py_ctrlc:make'), '--config.run.steps=30',
               env={**os.environ, 'PYTHONPATH': f'{tmp_path}{os.pathsep}{ROOT}'})
  assert result.returncode == 0, result.stderr[-3000:]
  assert our_lines(result.stderr) == []
  assert loop_step(tf.train.latest_checkpoint(str(tmp_path / 'run' / 'ckpt'))) == 30


# An env of the user's whose close() raises, as the run closes its envs after its last write.
CLOSE_RAISES = '''
from dreamerv3_tf.envs import dummy

class Env(dummy.Dummy):
  def close(self):
    raise RuntimeError('lost the device')

def make(seed=None):
  return Env('disc_vec', length=30, seed=seed)
'''


def test_an_env_whose_close_raises_after_the_last_write_says_everything_is_saved(tmp_path):
  """'Env error: ... failed to close: RuntimeError: lost the device' alone read as a run
  that failed midway; it had saved and logged everything."""
  (tmp_path / 'closefail.py').write_text(CLOSE_RAISES)
  logdir = tmp_path / 'run'
  result = cli(logdir, *run_flags('py_closefail:make'), '--config.run.steps=30',
               env={**os.environ, 'PYTHONPATH': f'{tmp_path}{os.pathsep}{ROOT}'})
  assert result.returncode == 1
  assert one_line(result) == (
      'Env error: py_closefail:make eval env 0 failed to close: RuntimeError: lost the '
      f'device (after the run had ended: everything it did is saved in {logdir})')
  assert loop_step(tf.train.latest_checkpoint(str(logdir / 'ckpt'))) == 30


@pytest.mark.parametrize('parallel', [False, True], ids=['this_process', 'workers'])
def test_an_env_whose_close_raises_keyboard_interrupt_is_named(tmp_path, parallel):
  """No Ctrl-C came: in this process the run that had saved everything said
  'Interrupted' with code 130; a worker printed its traceback on the run's stderr."""
  (tmp_path / 'closekbi.py').write_text(
      CLOSE_RAISES.replace("raise RuntimeError('lost the device')", 'raise KeyboardInterrupt'))
  logdir = tmp_path / 'run'
  result = cli(logdir, *run_flags('py_closekbi:make', parallel=parallel),
               '--config.run.steps=30',
               env={**os.environ, 'PYTHONPATH': f'{tmp_path}{os.pathsep}{ROOT}'})
  assert result.returncode == 1
  where = f' at {tmp_path / "closekbi.py"}:6, in its own code (no Ctrl-C or stop signal came)'
  assert one_line(result) == (
      'Env error: py_closekbi:make eval env 0 failed to close: '
      f'{"KeyboardInterrupt" if parallel else "it raised KeyboardInterrupt" + where} '
      f'(after the run had ended: everything it did is saved in {logdir})')
  assert loop_step(tf.train.latest_checkpoint(str(logdir / 'ckpt'))) == 30


@pytest.mark.skipif(not os.path.exists('/dev/full'),
                    reason='no /dev/full, the device whose writes fail as on a full disk '
                    '(Linux has it; macOS does not)')
def test_stdout_on_a_full_disk_is_one_line_naming_stdout(logdir):
  """`main ... > log` on a full disk: 'Error: [Errno 28] No space left on device' named
  no file."""
  before = snapshot(logdir)
  with open('/dev/full', 'w') as full:
    result = cli_zygote.run(
        [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
         f'--logdir={logdir}', *RUN_FLAGS], cwd=ROOT, stdout=full, stderr=subprocess.PIPE,
        text=True, timeout=300)
  assert one_line(result) == (
      'Stopped: cannot write to stdout (No space left on device); checkpoints saved so far '
      f'are kept, and the same command resumes from the latest in {logdir}/ckpt')
  assert snapshot(logdir) == before


@pytest.mark.parametrize('existing, script', [
    (False, 'train_eval'), (True, 'train_eval'), (False, 'eval_only'), (True, 'eval_only')])
def test_a_stop_without_a_checkpoint_says_what_it_kept(
    tmp_path, capsys, existing, script):
  """Ctrl-C while the env workers start or TensorFlow loads pointed at the checkpoints
  'saved so far' in a logdir that did not exist, and at 'the latest' in one that held
  none (made beforehand, or stopped between its config.json and its first save).
  eval_only's line, once it wrote, was a bare 'Interrupted': what it keeps is its
  episodes, and the same command evaluates anew."""
  logdir = tmp_path / 'run'
  if existing:
    logdir.mkdir()
  config = make_run_config(logdir)
  with config.unlocked():
    config.script = script
  with pytest.raises(SystemExit) as exit_:
    main._interrupted(config, KeyboardInterrupt())
  assert exit_.value.code == 130
  # (an empty logdir: eval_only's line said its episodes were logged in it)
  kept = (f'no episode was logged yet in {logdir}, so the same command evaluates anew from '
          'step 0' if script == 'eval_only'
          else f'no checkpoint was saved yet in {logdir}/ckpt, so the same command starts '
          'the run anew')
  assert capsys.readouterr().err.splitlines() == (
      [f'Interrupted; {kept}'] if existing else
      ['Interrupted while starting; nothing was written'])


def test_a_stop_of_eval_only_before_its_first_episode_says_none_was_logged(tmp_path, capsys):
  """Its policy.json (evaluated_policy.py) is written with its config.json, before any
  episode: a stop then said 'the episodes that ended so far are logged'."""
  config = make_run_config(tmp_path)
  with config.unlocked():
    config.script = 'eval_only'
  (tmp_path / 'config.json').write_text('{}')
  (tmp_path / 'policy.json').write_text('{"policies": [{"kind": "random"}]}')
  with pytest.raises(SystemExit):
    main._interrupted(config, KeyboardInterrupt())
  assert capsys.readouterr().err.splitlines() == [
      f'Interrupted; no episode was logged yet in {tmp_path}, so the same command evaluates '
      'anew from step 0']


def test_an_error_that_ctrl_c_caused_still_ends_as_an_interrupt():
  """A signal that lands in a C extension can come out as another exception; cleanup
  that fails while Ctrl-C unwinds the run replaces it. Both still mean: interrupted."""
  def raised(fn):
    try:
      fn()
    except Exception as e:  # noqa: BLE001
      return e

  def cleanup_fails():
    try:
      raise stop_signals.Terminated()
    except KeyboardInterrupt:
      raise OSError('Broken pipe')

  def extension_fails():
    raise SystemError('<built-in function x> returned a result with an exception set') \
        from KeyboardInterrupt()

  assert isinstance(main.interrupt_behind(raised(cleanup_fails)), stop_signals.Terminated)
  assert type(main.interrupt_behind(raised(extension_fails))) is KeyboardInterrupt
  assert main.interrupt_behind(raised(lambda: int('x'))) is None
  # Or nothing in the chain says so (pybind11 drops the KeyboardInterrupt itself and says
  # "error_already_set: ... REPLACED BY KeyboardInterrupt"): the signal's arrival does.
  handlers = {s: signal.getsignal(s) for s in main._STOP_SIGNALS}
  hooks = sys.excepthook, sys.unraisablehook  # which the stop replaces
  try:
    with pytest.raises(stop_signals.Terminated):
      main._on_signal(signal.SIGTERM, None)
    assert isinstance(main._signalled(), stop_signals.Terminated)
    # The stop under way ignores further stop signals (Ctrl-C held down).
    assert all(signal.getsignal(s) == signal.SIG_IGN for s in main._STOP_SIGNALS)
  finally:  # this process's, and its later children's (ignoring is inherited)
    main._SIGNALS.clear()
    stop_signals._STOPPED.clear()  # a later driver here steps and closes its envs
    for number, handler in handlers.items():
      signal.signal(number, handler)
    sys.excepthook, sys.unraisablehook = hooks
  assert main._signalled() is None


SLOW_CONFIG = '''
import os, pathlib, time
def get_config(presets=''):
  pathlib.Path(os.environ['CUE']).write_text('loading')  # the test's cue: stop us now
  # Short sleeps: a signal that lands on another thread (numpy's, say) sets Python's
  # flag but does not cut the main thread's sleep short; its handler runs after it.
  for _ in range(6000):
    time.sleep(0.01)
'''


@pytest.mark.parametrize('sig, code, word', [
    (signal.SIGINT, 130, 'Interrupted'), (signal.SIGTERM, 143, 'Terminated')])
def test_a_stop_signal_while_starting_is_one_line(tmp_path, sig, code, word):
  """Before main's own handlers are in place (imports, flags, the config file) Ctrl-C
  printed a traceback and SIGTERM ended the program without a word."""
  (tmp_path / 'slow.py').write_text(SLOW_CONFIG)
  cue = tmp_path / 'cue'
  proc = cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.main', f'--config={tmp_path}/slow.py',
       f'--logdir={tmp_path}/run'], cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True, env={**os.environ, 'PYTHONPATH': ROOT, 'CUE': str(cue)})
  deadline = time.time() + 60
  while not cue.exists():
    assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
    time.sleep(0.01)
  proc.send_signal(sig)
  _, stderr = proc.communicate(timeout=60)
  assert proc.returncode == code, stderr[-3000:]
  assert stderr.splitlines() == [f'{word} while starting; nothing was written']
  assert not (tmp_path / 'run').exists()


def test_a_stop_signal_held_across_the_malloc_restart_is_one_line(tmp_path):
  """main restarts itself with jemalloc (allocator.reexec) with the stop signals held;
  the new start takes one that came meanwhile once its handlers are in place. Before,
  a SIGTERM there ended the program without a word while its interpreter loaded."""
  code = ('import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM}); '
          'os.kill(os.getpid(), signal.SIGTERM); '
          'os.execv(sys.executable, [sys.executable, "-m", "dreamerv3_tf.main", *sys.argv[1:]])')
  result = cli_zygote.run(
      [sys.executable, '-c', code, '--config=configs/nosuch.py', f'--logdir={tmp_path}/run'],
      cwd=ROOT, capture_output=True, text=True, timeout=60,
      env={**os.environ, 'PYTHONPATH': ROOT, 'DREAMERV3_TF_MALLOC': 'system'})
  assert result.returncode == 143, result.stderr[-3000:]
  assert result.stderr.splitlines() == ['Terminated while starting; nothing was written']


def test_env_workers_beyond_the_open_files_limit_are_one_line(tmp_path):
  """Each env worker holds a socket open in the run's process: run.envs=300 under
  `ulimit -n 256` stopped with 'Error: [Errno 24] Too many open files' as the
  workers started, naming neither the limit nor run.envs."""
  # 32 files: the fewest env workers that show both sides of the limit (each costs 0.2 s
  # of CPU to start; the suite started 41 for this test at 64).
  limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
  result = cli(tmp_path / 'run', *run_flags(parallel=True), '--config.run.envs=16',
               preexec_fn=limit)
  assert result.returncode == 2
  assert one_line(result) == (
      'Config error: run.envs=16 and run.eval_envs=1 start 17 env worker processes '
      '(run.parallel=True), each holding a file open in this process, which needs about 16 '
      'more: more than the 32 files it may have open (ulimit -n 32); raise the limit, e.g. '
      'ulimit -n 4096, or use fewer run.envs or run.eval_envs')
  assert not (tmp_path / 'run').exists()
  result = cli(tmp_path / 'run', *run_flags(parallel=True), '--config.run.envs=15',
               '--config.run.steps=100', preexec_fn=limit)  # 16 + 16 fit, at the edge
  assert result.returncode == 0, result.stderr[-3000:]
  # Any other place that runs out: the line names the limit and the fix.
  error = OSError(errno.EMFILE, os.strerror(errno.EMFILE))
  hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
  more = hard if 512 < hard <= 1 << 20 else 4096  # as far as a user may raise it
  with limits(resource.RLIMIT_NOFILE, 512):
    assert errors.describe(error) == (
        'Error: Too many open files (this process may have 512 files open at once, '
        f'ulimit -n 512; raise it, e.g. ulimit -n {more})')


@contextlib.contextmanager
def limits(which, soft):
  before = resource.getrlimit(which)
  resource.setrlimit(which, (soft, before[1]))
  try:
    yield
  finally:
    resource.setrlimit(which, before)


def test_no_writable_temporary_directory_is_one_line(tmp_path):
  """TensorFlow's import needs a temporary directory: with /tmp read-only and TMPDIR
  unset (a container of a read-only root) every run stopped with 'Error: [Errno 2] No
  usable temporary directory found in [...]', naming neither TMPDIR nor the fix."""
  if os.geteuid() != 0 or not shutil.which('unshare'):
    pytest.skip('needs root for a mount namespace of read-only temporary directories')
  # /tmp, /var/tmp and the current directory (Python's last resort) read-only, in this
  # process's own mount namespace only.
  script = ('mount --make-rprivate / && for d in /tmp /var/tmp "$PWD"; do '
            'mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" || exit 99; done; '
            f'mount -t tmpfs none {tmp_path} || exit 99; exec "$@"')  # the logdir's, writable
  env = {k: v for k, v in os.environ.items() if k != 'TMPDIR'}
  result = subprocess.run(
      ['unshare', '-m', 'sh', '-c', script, 'sh', sys.executable, '-m', 'dreamerv3_tf.main',
       '--config=configs/dmc.py:train_eval,debug', f'--logdir={tmp_path / "run"}', *RUN_FLAGS],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-3000:]
  assert one_line(result) == (
      "Config error: no temporary directory is writable (Python tried ['/tmp', '/var/tmp', "
      f"'/usr/tmp', '{ROOT}']), and TensorFlow needs one as it loads; set TMPDIR to a "
      'writable directory')


def test_a_path_beyond_ascii_under_a_locale_of_another_encoding_is_one_line(tmp_path):
  """Python names files in its locale's encoding, TensorFlow in UTF-8: under ISO-8859-1
  (LANG=de_DE on Debian) --logdir=läufe put config.json in 'läufe' and the checkpoints in
  'lÃ¤ufe'; under ASCII (LC_ALL=C with PYTHONUTF8=0) the name, UTF-8, was called 'not
  UTF-8 text (a name made under another locale?)' and the fix was to rename it."""
  env = dict(os.environ, LC_ALL='C', PYTHONUTF8='0')
  result = cli(tmp_path / 'läufe', *RUN_FLAGS, env=env)
  assert result.returncode == 2
  assert one_line(result) == (
      f"Config error: --logdir='{tmp_path}/l\\xe4ufe' holds characters beyond ASCII, and this "
      'process names files in ascii (LC_ALL=C, PYTHONUTF8=0), where TensorFlow names them '
      'in UTF-8: they would name other files (a run wrote into two folders); set '
      'PYTHONUTF8=1 or a UTF-8 locale (LC_ALL=C.UTF-8), or give an ASCII path')
  assert os.listdir(tmp_path) == []


# An env of the user's that prints beyond ASCII as it starts, then fails (the file ASCII).
TALKS_THEN_FAILS = r"""
def make(seed=None):
  print('Zur\u00fccksetzen \u2713', flush=True)
  raise ValueError('Strecke f\u00fcr L\u00e4ufer fehlt')
"""


def test_text_beyond_the_encoding_of_stdout_and_stderr_is_printed_escaped(tmp_path):
  """Under PYTHONIOENCODING=ascii (or latin-1) a character the stream's encoding lacks
  raised UnicodeEncodeError: --logdir=läufe stopped the run at its first line with
  "Error: UnicodeEncodeError: 'ascii' codec can't encode character '\\xe4' ... (unexpected:
  ...)", exit code 1, naming nothing, and an env (in a worker) that printed 'Zurücksetzen'
  failed with it. Under LC_ALL=C with PYTHONUTF8=0 a value typed beyond ASCII came back
  as 'w\\udcc3\\udca4', not as typed."""
  (tmp_path / 'talks.py').write_text(TALKS_THEN_FAILS)
  logdir = tmp_path / 'läufe'
  result = cli(logdir, *run_flags('py_talks:make', parallel=True), env={
      **os.environ, 'PYTHONIOENCODING': 'ascii', 'PYTHONPATH': f'{tmp_path}{os.pathsep}{ROOT}'})
  assert result.returncode == 1, result.stderr[-3000:]
  assert f'logdir {tmp_path}/l\\xe4ufe. ' in result.stdout
  assert 'Zur\\xfccksetzen \\u2713\n' in result.stdout
  assert one_line(result) == (
      'Env error: py_talks:make train env 0 failed to start: talks:make() raised ValueError: '
      'Strecke f\\xfcr L\\xe4ufer fehlt (talks.py, line 4)')
  assert not os.path.exists(logdir)
  result = cli(tmp_path / 'run', '--config.seed=wä',
               env=dict(os.environ, LC_ALL='C', PYTHONUTF8='0'))
  assert result.returncode == 2
  assert one_line(result) == 'Config error: flag --config.seed=wä: seed takes an integer'


def test_too_few_processes_for_tensorflows_threads_is_one_line(tmp_path):
  """Under a low `ulimit -u` or a cgroup's pids.max, a run with its envs in this process
  (gym's default) aborted at its first compile: 'Check failed: ret == 0 (11 vs. 0)
  Thread tf_XLAEigen creation via pthread_create() failed', a C++ stack trace, exit 134.
  (The check for env worker processes counted TensorFlow's threads, this none.)"""
  cgroup = f'/sys/fs/cgroup/pids/dreamerv3_tf_test_{os.getpid()}'
  try:
    os.mkdir(cgroup)
    with open(os.path.join(cgroup, 'pids.max'), 'w') as f:
      f.write('12\n')
  except OSError:
    pytest.skip('no pids cgroup can be made here (needs root and cgroup v1)')

  def join_cgroup():
    with open(os.path.join(cgroup, 'cgroup.procs'), 'w') as f:
      f.write(str(os.getpid()))

  try:
    result = cli(tmp_path / 'run', *RUN_FLAGS, preexec_fn=join_cgroup)
  finally:
    os.rmdir(cgroup)
  assert result.returncode == 2, result.stderr[-3000:]
  assert re.fullmatch(
      r'Config error: TensorFlow starts about \d+ more threads in this process, more than '
      rf'the \d+ processes it may still start \(pids.max=12 of the cgroup {cgroup}\); raise '
      r'the limit, or run on fewer CPUs \(TensorFlow sizes its thread pools by them: taskset '
      r'-c 0 \.\.\.\)', one_line(result)), result.stderr
  assert not (tmp_path / 'run').exists()


def test_an_address_space_limit_below_tensorflows_is_one_line(tmp_path):
  """Under `ulimit -v` below what TensorFlow maps: 'Error: ImportError: libtensorflow_
  cc.so.2: failed to map segment from shared object (unexpected ...)' at 1 GiB, 'Env
  error: ... train env 0 failed to start: MemoryError' at 1.5 (blaming the env), a
  segfault at 2."""
  limit = 3 * 2 ** 29  # 1.5 GiB
  result = cli(tmp_path / 'run', *RUN_FLAGS, preexec_fn=lambda: resource.setrlimit(
      resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY)))
  assert result.returncode == 2
  assert one_line(result) == (
      f'Config error: ulimit -v {limit // 1024} lets this process map 1.5 GiB of address '
      'space, and TensorFlow maps about 2.5 GiB as it loads and compiles (its libraries and '
      'thread stacks; more for bigger models); raise it, e.g. ulimit -v unlimited')
  assert not (tmp_path / 'run').exists()


def test_a_thread_the_system_refuses_mid_run_names_the_limit(monkeypatch):
  """Other processes used up the room a run's start found (ulimit -u, pids.max): Python's
  RuntimeError reached the user as 'unexpected'. The real error, from a process of a user
  that may start no more (not root, whom the kernel lets past ulimit -u)."""
  code = ('import resource, threading, os\n'
          'os.setgid(65534); os.setuid(65534)\n'
          'resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))\n'
          'threading.Thread(target=print).start()\n')
  if os.geteuid() == 0:
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=60)
    assert result.stderr.strip().endswith("RuntimeError: can't start new thread"), result.stderr
  # (the limit read, not set: this process's threads must not be refused meanwhile)
  real = resource.getrlimit
  monkeypatch.setattr(resource, 'getrlimit', lambda which: (
      (40, 40) if which == resource.RLIMIT_NPROC else real(which)))
  assert errors.describe(RuntimeError("can't start new thread")) == (
      "Error: can't start new thread: the processes and threads this user or its cgroup "
      "may run are used up (ulimit -u 40); end some, or raise the limit (a cgroup's "
      'pids.max, ulimit -u)')


def test_out_of_memory_under_an_address_space_limit_names_it():
  """A bigger model under a `ulimit -v` above TensorFlow's own: 'out of memory (...);
  use a smaller model ..., or a machine with more memory', where the machine had plenty."""
  error = MemoryError('Unable to allocate 3.2 GiB')
  with limits(resource.RLIMIT_AS, 2 ** 40):
    assert errors.describe(error) == (
        f'Error: out of memory (Unable to allocate 3.2 GiB) within ulimit -v {2 ** 30} (1024.0 '
        'GiB of address space); raise it, e.g. ulimit -v unlimited, or use a smaller model (a '
        'size preset), batch_size or batch_length')
  assert errors.describe(error).endswith('or a machine with more memory')  # (no limit here)


def test_the_cpu_time_limit_is_a_stop_with_one_line(logdir):
  """The kernel sends SIGXCPU as the CPU time passes its soft limit (`ulimit -S -t`, a
  batch system's): the run dumped core, exit 152 without a line, and lost what it did
  since its last save (the hard limit's SIGKILL comes later). A limit of 2 CPU seconds:
  the line is the same whether it comes as the resume starts or once it trains."""
  ckpt = logdir / 'ckpt'
  limit = (2, resource.getrlimit(resource.RLIMIT_CPU)[1])
  result = cli(logdir, *RUN_FLAGS, '--config.run.steps=100000000',
               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CPU, limit))
  # Its head too: a run of the suite died here once by SIGSEGV (BENCHMARKS, session 51),
  # and the fault handler's first lines, which name the thread that faulted, were cut.
  assert result.returncode == 128 + signal.SIGXCPU, (
      result.stderr[:3000] + '\n...\n' + result.stderr[-3000:])
  assert one_line(result) == (
      'Stopped by SIGXCPU (its CPU time reached the limit that ulimit -t sets); checkpoints '
      f'saved so far are kept, and the same command resumes from the latest in {ckpt}')
  assert loop_step(checkpointing.inspect(str(ckpt), REPLAYS).path) >= SAVED_STEPS  # intact


# An env whose step, once, lets a SIGTERM land in a weakref's callback: Python prints an
# exception raised there and drops it, as it did a SIGXCPU that landed in importlib's
# module-lock callback (CI: the CPU time limit's test above hung for 300 s).
STOP_IN_WEAKREF_CALLBACK = '''
import os, signal, time, weakref
from dreamerv3_tf.envs import dummy

_DONE = []

class Env(dummy.Dummy):
  def step(self, action):
    if not _DONE and self._count == 20:
      _DONE.append(True)
      thing = type('Thing', (), {})()
      def callback(ref):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # its handler runs here, and raises into the callback
      ref = weakref.ref(thing, callback)
      del thing
    return super().step(action)

def make(seed=None):
  return Env('disc_vec', length=30, seed=seed)
'''


def test_a_stop_that_lands_where_python_drops_exceptions_still_stops(logdir, tmp_path):
  """A stop's exception that the code it landed in swallowed (a weakref's callback,
  C code that prints an error and goes on) left the run training with every further
  stop ignored: SIGXCPU's test hung until killed. The run's next step raises it again."""
  (tmp_path / 'weakstop.py').write_text(STOP_IN_WEAKREF_CALLBACK)
  result = cli(logdir, *run_flags('py_weakstop:make'), f'--config.run.steps={SAVED_STEPS * 5}',
               '--config.run.allow_other_config=True',
               env={**os.environ, 'PYTHONPATH': f'{tmp_path}{os.pathsep}{ROOT}'})
  assert result.returncode == 143, result.stderr[-3000:]
  assert one_line(result) == (
      'Terminated; checkpoints saved so far are kept, and the same command resumes from the '
      f'latest in {logdir / "ckpt"}')
  assert loop_step(checkpointing.inspect(str(logdir / 'ckpt'), REPLAYS).path) >= SAVED_STEPS


@pytest.mark.parametrize('limit, after', [
    ((25, 25), (15, 25)), ((20, 20), (20, 20)), ((5, 25), (5, 25))])
def test_a_cpu_time_limit_without_a_notice_gets_one(limit, after):
  """Where both limits are one (`ulimit -t N`), the kernel sent SIGKILL alone: 'Killed',
  exit -9, no line. Taking the stop signals over lowers the soft limit 10 CPU seconds
  below the hard one, so SIGXCPU (the test above) comes first; a limit that leaves no
  room, or a soft one of its own, is kept. In a process of its own: the hard limit
  cannot be raised again."""
  code = ('import resource; from dreamerv3_tf import stop_signals; '
          f'resource.setrlimit(resource.RLIMIT_CPU, {limit}); stop_signals.take_over(); '
          'print(resource.getrlimit(resource.RLIMIT_CPU))')
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
  assert result.stdout.strip() == str(after), result.stderr[-2000:]


def test_a_home_that_tilde_cannot_name_is_one_line(tmp_path):
  """expanduser keeps '~' where HOME is unset and the user has no passwd entry (a
  container of another UID), and '~user' of an unknown user: a run with a full --logdir
  made a directory named '~' in the current directory for its XLA cache (xla_cache's
  default is ~/.cache/dreamerv3_tf/xla), and export --out=~user/x exported into one."""
  def command(*args):
    return cli_zygote.run([sys.executable, '-m', *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env={**os.environ, 'PYTHONPATH': ROOT})
  result = command('dreamerv3_tf.main', f'--config={ROOT}/configs/dmc.py:train_eval,debug',
                   f'--logdir={tmp_path / "run"}', *RUN_FLAGS,
                   '--config.xla_cache=~nosuchuser_xla/cache')
  assert result.returncode == 2
  assert one_line(result) == (
      "Config error: xla_cache ~nosuchuser_xla/cache: there is no user 'nosuchuser_xla' whose "
      "home ~ could name (the path would name a folder '~nosuchuser_xla' in the current "
      'directory); give a full path')
  result = command('dreamerv3_tf.export', f'--logdir={tmp_path / "run"}',
                   '--out=~nosuchuser_xla/export')
  assert one_line(result) == (
      "Error: --out ~nosuchuser_xla/export: there is no user 'nosuchuser_xla' whose home ~ "
      "could name (the path would name a folder '~nosuchuser_xla' in the current directory); "
      'give a full path')
  assert os.listdir(tmp_path) == []
