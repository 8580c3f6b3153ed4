"""The suite's forked CLI runs (tests/cli_zygote.py) print and exit as real processes do.

A fork keeps what the zygote's TensorFlow import left in the process: a difference
there (an absl callback that started TensorFlow's runtime, absl flags TensorFlow
defines, exit handlers) showed as extra lines at a config error."""

import os
import subprocess
import sys

import pytest

import cli_zygote
from dreamerv3_tf.core import cpuinfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def needs_forks():
  """Skips a test of what a forked run does: DREAMERV3_TF_NO_ZYGOTE=1 runs every command
  as a real process, so there is no forked run to compare or look at."""
  if os.environ.get('DREAMERV3_TF_NO_ZYGOTE'):
    pytest.skip('DREAMERV3_TF_NO_ZYGOTE=1 runs every command as a real process: no forked '
                'run to compare or look at')


COMMANDS = {
    # Fails after absl's app.run ran its init callbacks: a TensorFlow line came first.
    'config_error': ['--config=configs/gym.py:debug', '--logdir=/tmp/a\nb'],
    'flag_error': ['--config=configs/gym.py:debug', '--config.nosuch=1'],
    # Lists every absl flag: TensorFlow's own were there before it loaded.
    'helpfull': ['--config=configs/gym.py:debug', '--helpfull'],
}


@pytest.mark.parametrize('name, zygote', [
    *[(name, 'suite') for name in COMMANDS],
    # The zygote of a user's shell (no TF_CPP_MIN_LOG_LEVEL): main sets TensorFlow's level.
    ('config_error', 'user_shell')])
def test_a_forked_run_prints_and_exits_as_a_real_one(name, zygote):
  cmd = [sys.executable, '-m', 'dreamerv3_tf.main', *COMMANDS[name]]
  env = cli_zygote.ZYGOTE_ENVS[zygote]
  forkable = cli_zygote._forkable(cmd, {'env': env})  # noqa: SLF001
  if forkable is None:
    pytest.skip('DREAMERV3_TF_NO_ZYGOTE=1 runs every command as a real process: no forked '
                'run to compare')
  assert forkable.zygote == zygote
  real = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
  forked = cli_zygote.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert (forked.returncode, forked.stdout, forked.stderr) == (
      real.returncode, real.stdout, real.stderr)


# What `python -c` sets up for its code (argv, sys.path[0], a __main__ of no file), and
# how it reports an error: a traceback of '<string>' frames only.
SNIPPET = ("import sys; print(sys.argv, repr(sys.path[0]), __name__, sorted(globals()), __spec__, "
           "__loader__, type(__builtins__).__name__, 'tensorflow' in sys.modules, "
           "sys.orig_argv[1:])\ndef f():\n  raise ValueError('no')\nf()\n")


def test_a_forked_python_c_runs_and_fails_as_a_real_one(tmp_path):
  """`python -c` snippets (export's stop scripts, its DMC episode) forked too: 2-3 s of
  CPU less each that imports TensorFlow."""
  cmd = [sys.executable, '-c', SNIPPET, 'a', '--b=1']
  forkable = cli_zygote._forkable(cmd, {})  # noqa: SLF001
  needs_forks()
  assert forkable is not None and (forkable.module, forkable.code) == (None, SNIPPET)
  real = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
  forked = cli_zygote.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=60)
  assert real.returncode == 1 and real.stderr.splitlines()[1:] == [
      '  File "<string>", line 4, in <module>', '  File "<string>", line 3, in f',
      'ValueError: no'], real.stderr
  assert (forked.returncode, forked.stdout, forked.stderr) == (
      real.returncode, real.stdout, real.stderr)


SCRIPT = "import sys; print(sys.argv, repr(sys.path[0]), __name__, __file__); sys.exit(3)\n"


def test_a_script_run_through_python_c_sees_what_python_path_gives_it(tmp_path):
  """cli_zygote.script: `python PATH ARGS` as a `python -c` the zygote forks (the
  multi_worker story's and test_distribute's processes)."""
  path = tmp_path / 'script.py'
  path.write_text(SCRIPT)
  cmd = cli_zygote.script(path, 'a', '--b=1')
  needs_forks()
  assert cli_zygote._forkable(cmd, {}) is not None  # noqa: SLF001
  real = subprocess.run([sys.executable, str(path), 'a', '--b=1'], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
  forked = cli_zygote.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert real.returncode == 3 and real.stdout == (
      f"['{path}', 'a', '--b=1'] '{tmp_path}' __main__ {path}\n"), real.stdout
  assert (forked.returncode, forked.stdout, forked.stderr) == (
      real.returncode, real.stdout, real.stderr)


THREADS = ("import os, tensorflow as tf\n"
           "tf.linalg.matmul(tf.ones([8, 8]), tf.ones([8, 8]))\n"
           "print(len(os.listdir('/proc/self/task')))\n")


def test_thread_counts_a_test_sets_reach_the_forked_process():
  """TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS fork (cli_zygote.IMPORT_TIME_ENV):
  TensorFlow reads them as its runtime starts its pools, at the first op."""
  needs_forks()
  threads = {}
  for n in (1, 4):
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS=str(n), TF_NUM_INTEROP_THREADS=str(n))
    cmd = [sys.executable, '-c', THREADS]
    assert cli_zygote._forkable(cmd, {'env': env}) is not None  # noqa: SLF001
    result = cli_zygote.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    threads[n] = int(result.stdout)
  # 3 more threads in each of the two pools (the zygote's values would give the same).
  assert threads[4] - threads[1] == 6, threads


def test_a_command_it_cannot_fork_faithfully_runs_as_a_real_process():
  env_change = cli_zygote._forkable(  # noqa: SLF001
      [sys.executable, '-m', 'dreamerv3_tf.main'], {'env': {'TF_CPP_MIN_LOG_LEVEL': '0'}})
  script = cli_zygote._forkable([sys.executable, 'tests/recorded_run.py'], {})  # noqa: SLF001
  same = cli_zygote._forkable([sys.executable, '-m', 'dreamerv3_tf.main'], {})  # noqa: SLF001
  assert env_change is None and script is None
  assert (same is None) == bool(os.environ.get('DREAMERV3_TF_NO_ZYGOTE'))
  # setpriv forks only as the `unprivileged` fixture words it: the capabilities it drops.
  main = [sys.executable, '-m', 'dreamerv3_tf.main']
  other_caps = ['setpriv', '--inh-caps=-chown', '--bounding-set=-chown', '--', *main]
  assert cli_zygote._forkable(other_caps, {}) is None  # noqa: SLF001
  dropping = cli_zygote._forkable([*cli_zygote.unprivileged_prefix(), *main], {})  # noqa: SLF001
  if same is not None:
    assert (dropping.module, dropping.argv, dropping.drop_caps) == (
        'dreamerv3_tf.main', [], ['dac_override', 'dac_read_search'])
  # A preexec_fn forks only as file_size_limit's, a limit the forked process sets itself.
  other_fn = cli_zygote._forkable(main, {'preexec_fn': os.getpid})  # noqa: SLF001
  limited = cli_zygote._forkable(  # noqa: SLF001
      main, {'preexec_fn': cli_zygote.file_size_limit(4096)})
  assert other_fn is None
  if same is not None:
    assert limited.file_size_limit == [4096, 4096]


def test_a_pythonpath_with_directories_in_front_forks_unless_one_shadows_a_module(
    tmp_path, monkeypatch):
  """A test's env module on PYTHONPATH (tests/run/faulty_env.py, the README's custom env)
  forks; a directory with a module the zygote loaded would give it the zygote's copy."""
  monkeypatch.delenv('DREAMERV3_TF_NO_ZYGOTE', raising=False)  # the rule, not this run's
  own = cli_zygote._ZYGOTE_ENV.get('PYTHONPATH')  # noqa: SLF001
  for name, module in (('envs', 'corridor.py'), ('shadow', 'numpy.py')):
    (tmp_path / name).mkdir()
    (tmp_path / name / module).write_text('')

  def forkable(*dirs):
    path = os.pathsep.join([str(tmp_path / d) for d in dirs] + ([own] if own else []))
    return cli_zygote._forkable(  # noqa: SLF001
        [sys.executable, '-m', 'dreamerv3_tf.main'],
        {'env': dict(cli_zygote._ZYGOTE_ENV, PYTHONPATH=path)})  # noqa: SLF001

  assert forkable('envs') is not None and forkable('nosuch', 'envs') is not None
  assert forkable('shadow') is None and forkable('envs', 'shadow') is None


def test_xla_flags_a_test_sets_reach_the_forked_process(tmp_path):
  """XLA_FLAGS and TF_XLA_FLAGS fork (cli_zygote.IMPORT_TIME_ENV): they are parsed at
  the first compile, in the forked process, not at the zygote's TensorFlow import."""
  from dreamerv3_tf import tfimport
  needs_forks()
  dump, cache = tmp_path / 'dump', tmp_path / 'xla'
  env = dict(os.environ, XLA_FLAGS=f'{os.environ.get("XLA_FLAGS", "")} --xla_dump_to={dump}',
             TF_XLA_FLAGS='--tf_xla_persistent_cache_prefix=forked')
  env[tfimport.CHECKED_ENV] = tfimport.flags_of_environment(env)  # no probe process
  cmd = [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:debug',
         '--config.task=dummy_disc_vec', f'--logdir={tmp_path}/run', '--config.run.steps=8',
         '--config.logger.outputs=jsonl', '--config.run.report_every=0',
         f'--config.xla_cache={cache}']
  assert cli_zygote._forkable(cmd, {'env': env}) is not None  # noqa: SLF001
  result = cli_zygote.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  cache = cache / cpuinfo.kind_key()  # main's folder for this CPU kind
  assert os.listdir(dump) and os.listdir(cache)
  assert all(name.startswith('forked') for name in os.listdir(cache)), os.listdir(cache)
