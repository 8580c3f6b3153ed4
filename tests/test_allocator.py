"""Which malloc `main` runs with (allocator.py): jemalloc or TCMalloc when installed,
chosen by DREAMERV3_TF_MALLOC, taken in by running the program again once."""

import os
import subprocess
import sys

import pytest

from dreamerv3_tf import allocator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALLED = allocator.find()


def libs(directory, *names):
  """A library directory holding empty files of these names -> search dirs."""
  directory.mkdir(exist_ok=True)
  for name in names:
    (directory / name).write_bytes(b'')
  return [str(directory)]


def test_auto_prefers_jemalloc_then_tcmalloc(tmp_path):
  both = libs(tmp_path / 'a', 'libtcmalloc_minimal.so.4', 'libjemalloc.so.2')
  assert allocator.choose({}, both) == os.path.join(both[0], 'libjemalloc.so.2')
  assert allocator.choose({allocator.ENV: 'auto'}, both) == os.path.join(both[0], 'libjemalloc.so.2')
  tc = libs(tmp_path / 'b', 'libtcmalloc_minimal.so.4')
  assert allocator.choose({}, tc) == os.path.join(tc[0], 'libtcmalloc_minimal.so.4')
  assert allocator.choose({}, libs(tmp_path / 'c')) is None  # none installed: glibc's


def test_system_or_a_path_is_taken_as_given(tmp_path):
  lib = libs(tmp_path, 'libjemalloc.so.2')
  assert allocator.choose({allocator.ENV: 'system'}, lib) is None
  mine = tmp_path / 'libmymalloc.so'
  mine.write_bytes(b'\x7fELF\x02\x01\x01')  # (the start of) a shared library
  assert allocator.choose({allocator.ENV: str(mine)}, lib) == str(mine)
  with pytest.raises(allocator.Error, match=r'DREAMERV3_TF_MALLOC=/no/such\.so: no such file'):
    allocator.choose({allocator.ENV: '/no/such.so'}, lib)
  with pytest.raises(allocator.Error, match=r'=.*: is a directory, not a library file'):
    allocator.choose({allocator.ENV: str(tmp_path)}, lib)


def test_loaded_reads_the_mapped_files(tmp_path):
  maps = tmp_path / 'maps'
  maps.write_text(
      '7f00-7f01 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n'
      '7f02-7f03 rw-p 00000000 00:00 0 \n'
      '7f04-7f05 r-xp 00000000 08:01 456 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n')
  assert allocator.loaded(str(maps)) == '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'
  maps.write_text('7f00-7f01 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n')
  assert allocator.loaded(str(maps)) is None
  assert allocator.loaded(str(tmp_path / 'absent')) is None


def test_a_path_that_is_no_library_is_refused(tmp_path):
  """ld.so printed 'ERROR: ld.so: object ... cannot be preloaded (file too short):
  ignored.' in the program and in every env worker, and the run went on with
  glibc's malloc."""
  text = tmp_path / 'notes.txt'
  text.write_text('not a library\n')
  with pytest.raises(allocator.Error, match=(
      rf'DREAMERV3_TF_MALLOC={text}: not a shared library \(no ELF header\); give a '
      'malloc library such as libjemalloc.so.2')):
    allocator.choose({allocator.ENV: str(text)})
  empty = tmp_path / 'libempty.so'
  empty.write_bytes(b'')
  with pytest.raises(allocator.Error, match='not a shared library'):
    allocator.choose({allocator.ENV: str(empty)})


def plain_env(**extra):
  """A user's shell: nothing preloaded (conftest preloads the suite's processes)."""
  env = {k: v for k, v in os.environ.items() if k not in ('LD_PRELOAD', allocator._STARTED)}
  env.update(extra)
  return env


# Prints the PID, the malloc mapped in, the arguments, and a child's malloc.
PROBE = ('import os, subprocess, sys; from dreamerv3_tf import allocator; '
         'allocator.reexec(); '
         'child = subprocess.run([sys.executable, "-c", "from dreamerv3_tf import allocator; '
         'print(allocator.loaded())"], capture_output=True, text=True).stdout.strip(); '
         'print(os.getpid(), allocator.loaded(), sys.argv[1:], child)')


def probe(env):
  proc = subprocess.Popen([sys.executable, '-c', PROBE, 'a b', '--c=d'], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  out, err = proc.communicate(timeout=60)
  assert proc.returncode == 0, err
  pid, loaded, rest = out.split(' ', 2)
  args, child = rest.rsplit(' ', 1)
  return proc.pid, int(pid), loaded, args, child.strip()


@pytest.mark.skipif(not sys.platform.startswith('linux') or not INSTALLED,
                    reason='no jemalloc or TCMalloc installed (apt install libjemalloc2)')
def test_the_program_restarts_itself_once_with_the_library_in():
  popen_pid, pid, loaded, args, child = probe(plain_env())
  assert pid == popen_pid  # exec: the same process, so signals and PIDs stay true
  assert loaded == INSTALLED
  assert args == "['a b', '--c=d']"
  assert child == INSTALLED  # children inherit it
  popen_pid, pid, loaded, args, child = probe(plain_env(**{allocator.ENV: 'system'}))
  assert (loaded, child, args) == ('None', 'None', "['a b', '--c=d']")


# Starts as main does, then a child: prints the LD_PRELOAD the child was given.
PRELOAD_PROBE = ('import subprocess, sys; from dreamerv3_tf import allocator; '
                 'allocator.reexec(); '
                 'child = subprocess.run([sys.executable, "-c", "import os; '
                 'print(os.environ.get(\'LD_PRELOAD\'))"], capture_output=True, text=True); '
                 'print(child.stdout.strip()); sys.stderr.write(child.stderr)')


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason="LD_PRELOAD and its ld.so lines are Linux's dynamic loader's")
@pytest.mark.parametrize('malloc', ['auto', 'system'])
def test_a_preload_that_did_not_load_is_said_once_and_not_passed_on(tmp_path, malloc):
  """ld.so said 'ERROR: ld.so: object ... cannot be preloaded ...: ignored.' in main,
  again in its restart with jemalloc, and in every process it started (a debug run with 2
  env workers: 5 times). The first is ld.so's, before Python starts."""
  missing = tmp_path / 'libmissing.so'
  proc = subprocess.run(
      [sys.executable, '-c', PRELOAD_PROBE], cwd=ROOT, capture_output=True, text=True,
      timeout=60, env=plain_env(LD_PRELOAD=f'{missing}:libc.so.6', **{allocator.ENV: malloc}))
  assert proc.returncode == 0, proc.stderr
  ld_so = f"ERROR: ld.so: object '{missing}' from LD_PRELOAD cannot be preloaded"
  lines = proc.stderr.splitlines()
  assert [x for x in lines if x.startswith('ERROR: ld.so')][0].startswith(ld_so), lines
  assert lines[1:] == [
      f"Warning: LD_PRELOAD names {missing}, which the dynamic loader could not load (its "
      "'ERROR: ld.so: ...' line above); this run's other processes start without it, so "
      'that each does not say so again'], lines
  kept = proc.stdout.split()  # libc.so.6 loaded (by its name, as ld.so finds it): kept
  assert str(missing) not in kept and 'libc.so.6' in kept, proc.stdout


def test_a_bad_choice_is_one_line_before_anything_runs(tmp_path):
  logdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:train_eval,debug',
       f'--logdir={logdir}'], cwd=ROOT, env=plain_env(**{allocator.ENV: '/no/such.so'}),
      capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "Config error: DREAMERV3_TF_MALLOC=/no/such.so: no such file; give a malloc library "
      "such as libjemalloc.so.2, or 'system' for glibc's malloc"]
  assert not logdir.exists()


@pytest.mark.skipif(not sys.platform.startswith('linux') or 'jemalloc' not in (INSTALLED or ''),
                    reason='no jemalloc installed (apt install libjemalloc2)')
def test_a_malloc_conf_jemalloc_cannot_read_is_one_line_before_anything_runs(tmp_path):
  """jemalloc, which main preloads unasked, reads MALLOC_CONF: one it cannot read was
  '<jemalloc>: Conf string ends with key' twice from each process (each env worker too),
  naming neither the variable nor who loaded jemalloc, and the run went on."""
  logdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:train_eval,debug',
       f'--logdir={logdir}'], cwd=ROOT, env=plain_env(MALLOC_CONF='junk'),
      capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
      "Config error: MALLOC_CONF='junk': jemalloc, which main preloads, cannot read it "
      "('<jemalloc>: Conf string ends with key'); fix it, unset it, or set "
      'DREAMERV3_TF_MALLOC=system for glibc\'s malloc'], proc.stderr
  assert not logdir.exists()
  # One it reads is taken: the new start has jemalloc, and says nothing.
  popen_pid, pid, loaded, args, child = probe(plain_env(MALLOC_CONF='narenas:2'))
  assert (loaded, child) == (INSTALLED, INSTALLED)


@pytest.mark.skipif(not sys.platform.startswith('linux') or not INSTALLED,
                    reason='no jemalloc or TCMalloc installed (apt install libjemalloc2)')
def test_a_run_started_with_stdout_closed_trains(tmp_path):
  """`main ... >&-` (a job whose stdout was closed): Python has no sys.stdout then, and
  the restart with jemalloc failed on flushing it, with a traceback."""
  logdir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={logdir}', '--config.task=dummy_disc_vec', '--config.random_agent=True',
       '--config.run.steps=200', '--config.logger.outputs=terminal,jsonl'],
      cwd=ROOT, env=plain_env(), stderr=subprocess.PIPE, text=True, timeout=120,
      preexec_fn=lambda: os.close(1))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert (logdir / 'ckpt' / 'checkpoint').exists()
