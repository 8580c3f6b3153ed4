"""A run about to be ended by Linux's OOM killer stops with one line of its own
(dreamerv3_tf/memory_watch.py). Before, size400m on a 24 GB machine was killed at its
first update: "Killed" in the shell, nothing in a scheduler's log."""

import os
import re
import subprocess
import sys
import threading
import uuid

import pytest

from dreamerv3_tf import memory_watch
from dreamerv3_tf.envs import memory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_margin_is_a_hundredth_of_the_memory_within_bounds():
  assert memory_watch.margin(24 * 10 ** 9) == 24 * 10 ** 7
  assert memory_watch.margin(10 ** 9) == 128 * 2 ** 20
  assert memory_watch.margin(10 ** 12) == 512 * 2 ** 20


def test_the_victim_is_the_process_of_the_highest_oom_score_among_those_that_count(tmp_path):
  proc = tmp_path / 'proc'
  for pid, score in ((10, 300), (11, 900), (12, 100)):
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / 'oom_score').write_text(f'{score}\n')
  (proc / 'self').mkdir()  # not a process of its own
  assert not memory_watch.is_the_victim(pid=10, proc=proc)  # 11 is bigger
  assert memory_watch.is_the_victim(pid=11, proc=proc)
  # Where a cgroup's limit runs out, the kernel chooses among its processes only.
  cgroup = tmp_path / 'cgroup'
  (cgroup / 'child').mkdir(parents=True)
  (cgroup / 'cgroup.procs').write_text('10\n')
  (cgroup / 'child' / 'cgroup.procs').write_text('12\n')
  assert memory_watch.is_the_victim(cgroup=str(cgroup), pid=10, proc=proc)
  (cgroup / 'child' / 'cgroup.procs').write_text('12\n11\n')
  assert not memory_watch.is_the_victim(cgroup=str(cgroup), pid=10, proc=proc)


def test_zfs_cache_above_its_floor_counts_as_left(tmp_path):
  """MemAvailable leaves ZFS's ARC out, which the kernel shrinks before it kills."""
  arcstats = tmp_path / 'arcstats'
  arcstats.write_text('13 1 0x01 123 33456 12345 67890\nname    type data\nhits    4    123\n'
                      'size    4    9000000000\nc_min    4    1000000000\n')
  assert memory_watch.zfs_reclaimable(str(arcstats)) == 8 * 10 ** 9
  assert memory_watch.zfs_reclaimable(str(tmp_path / 'none')) == 0


@pytest.mark.parametrize('victim, zfs', [(True, 0), (False, 0), (True, 10 ** 9)])
def test_the_watch_stops_the_run_with_one_line_only_as_the_victim(
    monkeypatch, capfd, victim, zfs):
  monkeypatch.setattr(memory, 'total_bytes', lambda: 10 ** 10)
  monkeypatch.setattr(memory, 'left_bytes', lambda: (5 * 10 ** 7, None))
  monkeypatch.setattr(memory_watch, 'is_the_victim', lambda cgroup: victim)
  monkeypatch.setattr(memory_watch, 'zfs_reclaimable', lambda: zfs)
  victim = victim and not zfs
  codes, done = [], threading.Event()
  thread = memory_watch.watch(
      lambda: '; checkpoints saved so far are kept', poll=0.01,
      exit=lambda code: (codes.append(code), done.set()))
  # Waits for the exit; without one, 0.5 s are 50 polls that found memory short.
  done.wait(30 if victim else 0.5)
  thread.stop()
  thread.join(5)
  err = capfd.readouterr().err
  if not victim:  # the kernel would end the bigger process, and the run goes on
    assert codes == [] and err == ''
    return
  assert codes == [137]
  assert re.fullmatch(
      r'Out of memory: the run holds [\d.]+ GB, and 0\.1 GB is left of the 10\.0 GB it may '
      r"use \(RAM and swap, or its cgroup's limit\), so Linux's OOM killer would end it now, "
      r'without a line; a smaller model \(a size preset, agent\.\*\) or replay\.size needs '
      r'less; checkpoints saved so far are kept\n', err), err


HOG = '''
import time

import numpy as np
import dreamerv3_tf.envs.dummy as _dummy

_kept = []


class Hog(_dummy.Dummy):
  """Keeps 16 MB more at every step, at most 0.6 GB/s: the watch polls every 50 ms,
  and the margin is 128 MiB here (a faster hog could pass it between two polls)."""

  def step(self, action):
    _kept.append(np.ones(2 * 2 ** 20))
    time.sleep(0.02)
    return super().step(action)


def make(seed=None, mode='train'):
  return Hog('disc_vec', length=50, seed=seed)
'''


def memory_cgroup(limit):
  """A new memory cgroup of `limit` bytes (v1, or v2 with its memory controller) ->
  its directory, or None where this process cannot make one (not root, no cgroup file
  system there)."""
  name = f'dreamerv3_tf_test_{uuid.uuid4().hex[:8]}'
  for base, limit_file in (('/sys/fs/cgroup/memory', 'memory.limit_in_bytes'),
                           ('/sys/fs/cgroup', 'memory.max')):
    directory = os.path.join(base, name)
    try:
      os.mkdir(directory)
    except OSError:
      continue
    # A cgroup file system makes cgroup.procs itself (a plain directory, as on a
    # tmpfs mounted there, limits nothing).
    if os.path.exists(os.path.join(directory, 'cgroup.procs')):
      try:
        with open(os.path.join(directory, limit_file), 'w') as f:
          f.write(str(limit))
        return directory
      except OSError:
        pass
    try:
      os.rmdir(directory)
    except OSError:
      pass
  return None


def test_a_run_that_runs_out_of_memory_in_a_cgroup_stops_with_one_line(tmp_path):
  """A real run in a memory cgroup of 1.5 GB, its env keeping 16 MB a step: the kernel
  would kill it (SIGKILL: returncode -9); the watch stops it first."""
  cgroup = memory_cgroup(1536 * 2 ** 20)
  if cgroup is None:
    pytest.skip('no memory cgroup can be made here (needs root and a cgroup file system)')
  (tmp_path / 'hog.py').write_text(HOG)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
  env.pop('TF_CPP_MIN_LOG_LEVEL', None)  # as in a user's shell: TensorFlow's lines hidden
  procs = os.path.join(cgroup, 'cgroup.procs')

  def join_cgroup():
    with open(procs, 'w') as f:
      f.write(str(os.getpid()))

  try:
    result = subprocess.run(
        [sys.executable, '-m', 'dreamerv3_tf.main',
         f'--config={ROOT}/configs/gym.py:train_eval,debug', '--config.task=py_hog:make', '--config.random_agent=True',
         '--config.run.parallel=False', '--config.run.steps=100000',
         '--config.logger.outputs=jsonl', f'--logdir={tmp_path}/run'],
        cwd=tmp_path, env=env, preexec_fn=join_cgroup, capture_output=True, text=True,
        timeout=300)
  finally:
    os.rmdir(cgroup)
  assert result.returncode == 137, (result.returncode, result.stderr[-3000:])
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and re.match(
      r'Out of memory: the run holds [\d.]+ GB, and 0\.\d GB is left of the 1\.6 GB it may '
      r'use .*; checkpoints saved so far are kept, and the same command resumes from the '
      r'latest in ', lines[0]), result.stderr[-3000:]


@pytest.mark.parametrize('hybrid', [False, True])
def test_the_v2_cgroup_is_read_where_it_is_mounted(tmp_path, hybrid):
  """A hybrid system mounts v2 at /sys/fs/cgroup/unified, beside v1's hierarchies (as
  here): its limits were looked for at /sys/fs/cgroup, where v1's tmpfs holds none."""
  with open('/proc/self/cgroup') as f:
    v2 = [line.split(':', 2)[2] for line in f.read().splitlines() if line.startswith('0::')]
  if not hybrid:
    (tmp_path / 'cgroup.controllers').write_text('memory pids\n')
  found = [d for d, is_v2 in memory._cgroup_dirs('memory', root=str(tmp_path)) if is_v2]
  where = tmp_path / 'unified' if hybrid else tmp_path
  assert found == [os.path.join(str(where), path.lstrip('/')) for path in v2]
