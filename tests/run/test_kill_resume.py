"""SIGKILL at random moments, many of them during saves: every resume must succeed."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

import cli_zygote
from configs import dmc
from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import factories

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILLS = 6  # half wait for a save in progress, half kill at a random moment


def command(logdir, steps=100000000):
  return [
      sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
      f'--logdir={logdir}', '--config.random_agent=True', '--config.task=dummy_disc',
      '--config.run.parallel=False', '--config.logger.outputs=jsonl',
      f'--config.run.steps={steps}', '--config.run.save_every=-1',  # save all the time
      '--config.run.log_every=1', '--config.run.report_every=1',
      '--config.replay.size=3000', '--config.replay.chunksize=32']


def loop_state(path):
  value = tf.train.load_checkpoint(path).get_tensor('loop/.ATTRIBUTES/py_state')
  return json.loads(value)


def load_replays(config, path):
  replays = {f'replay_{m}': factories.make_replay(config, m) for m in ('train', 'eval')}
  checkpointing.Checkpoint(os.path.join(config.logdir, 'ckpt'), replays=replays).load(path)
  return {k: v.dump() for k, v in replays.items()}


def test_sigkill_at_random_moments_always_resumes(tmp_path):
  rng = random.Random(0)
  logdir = tmp_path / 'run'
  config = dmc.get_config('train_eval,debug')
  config.update_from_flattened_dict({
      'logdir': str(logdir), 'task': 'dummy_disc', 'random_agent': True,
      'replay.size': 3000, 'replay.chunksize': 32})
  configuration.finalize(config)
  previous, interrupted = None, 0
  for kill in range(KILLS):
    proc = cli_zygote.Popen(
        command(logdir), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Wait until it resumed (or started) and saved at least once more, then kill
    # at a random moment: with saves every iteration, many kills land in a save.
    ckpt_dir = logdir / 'ckpt'
    deadline = time.time() + 120
    while time.time() < deadline:
      state = tf.train.get_checkpoint_state(str(ckpt_dir)) if ckpt_dir.exists() else None
      if state and state.model_checkpoint_path != previous:
        break
      assert proc.poll() is None, proc.stdout.read()[-3000:]
      time.sleep(0.05)
    if kill % 2:
      assert kill_during_a_save(proc, ckpt_dir, timeout=60), 'no save seen in 60 s'
    else:
      # An iteration (20 env steps at ~440/s, and a save) takes ~50 ms: 0.5 s spans ~10.
      time.sleep(rng.uniform(0.0, 0.5))
      proc.send_signal(signal.SIGKILL)
    output = proc.communicate()[0]
    if previous:
      assert f'Resumed from {previous} at step' in output, output[-3000:]
    interrupted += bool(partial_saves(ckpt_dir))
    latest = tf.train.latest_checkpoint(str(ckpt_dir))
    assert latest and latest != previous
    # The last complete checkpoint loads whole: every replay file it names exists
    # and is intact, whatever the kill interrupted.
    replays = load_replays(config, latest)
    # A fresh run saves once at step 0, before its first env step: on a slow machine the
    # first kill can come before the next save, and that checkpoint's replay is empty.
    stored = replays['replay_train'].get('reward', ())
    assert len(stored) == min(loop_state(latest)['step'], 3000)
    previous = latest
  assert loop_state(previous)['step'] > 0  # the replays above were not all empty
  print(f'{interrupted} of {KILLS} kills interrupted a save')
  assert interrupted >= KILLS // 2
  # The next start removes what the interrupted saves left behind (one that has steps
  # to run: a finished run is left as it is).
  cli_zygote.run(command(logdir, steps=loop_state(previous)['step'] + 1), cwd=ROOT,
                 check=True, capture_output=True, timeout=120)
  assert not partial_saves(ckpt_dir)


def kill_during_a_save(proc, ckpt_dir, timeout):
  """SIGKILLs `proc` while a save is in progress; -> whether one was.

  A save's temporary files exist for milliseconds, less than a kill takes to land
  on a loaded machine. So: freeze the process (SIGSTOP) when they show, look
  again once it is frozen, and kill it if they are still there; else let it go on.
  """
  deadline = time.time() + timeout
  while time.time() < deadline:
    if not partial_saves(ckpt_dir):
      continue
    proc.send_signal(signal.SIGSTOP)
    while stat_state(proc.pid) != 'T':
      time.sleep(0.001)
    if partial_saves(ckpt_dir):
      proc.send_signal(signal.SIGKILL)
      return True
    proc.send_signal(signal.SIGCONT)
  proc.send_signal(signal.SIGKILL)
  return False


def stat_state(pid):
  """The process state letter from /proc/PID/stat ('T' once stopped)."""
  with open(f'/proc/{pid}/stat') as f:
    return f.read().rsplit(')', 1)[1].split()[0]


def partial_saves(ckpt_dir):
  try:
    found = [x for x in os.listdir(ckpt_dir) if x.endswith('_temp')]
    for name in ('replay_train', 'replay_eval'):
      found += [x for x in os.listdir(ckpt_dir / name) if '.tmp-' in x]
  except FileNotFoundError:  # a folder renamed away while we looked
    return []
  return found


class Killed(BaseException):
  """Stands for a SIGKILL: nothing after it runs or is written."""


@pytest.mark.parametrize('killed_at', [0, 30])
def test_a_kill_right_after_a_save_loses_no_row_logged_before_it(
    tmp_path, monkeypatch, killed_at):
  """A save at a step with no log write (report_every=save_every=30, log_every=20) held
  the report's and eval episode's rows of that step in memory: killed before the next
  write, the resume loaded that save, whose clocks had reported already, and those rows
  were never written (scores.jsonl lacked the eval episode of step 30). Step 0: a new
  run's eval comes before its first save, which a resume neither repeats nor loses."""
  from dreamerv3_tf.core import logger as logger_lib
  from dreamerv3_tf.run import train_eval
  from run_helpers import make_run_config

  def rows(logdir):
    out = {}
    for name in ('metrics.jsonl', 'scores.jsonl'):
      lines = (logdir / name).read_text().splitlines()
      out[name] = [(r['step'], sorted({k.split('/')[0] for k in r} - {'step', 'fps'}))
                   for r in map(json.loads, lines)]
    return out

  run = dict(random_agent=True, steps=60, clock='steps', log_every=20, report_every=30,
             save_every=30)
  train_eval.train_eval(make_run_config(tmp_path / 'whole', **run))
  real_save = checkpointing.Checkpoint.save

  def save(self):
    path = real_save(self)
    if checkpointing.saved_step(path) == killed_at:  # dies here: no later write reaches a file
      monkeypatch.setattr(logger_lib.JSONLOutput, '__call__', lambda self, records: None)
      raise Killed()
    return path

  monkeypatch.setattr(checkpointing.Checkpoint, 'save', save)
  config = make_run_config(tmp_path / 'killed', **run)
  with pytest.raises(Killed):
    train_eval.train_eval(config)
  monkeypatch.undo()
  train_eval.train_eval(config)
  assert rows(tmp_path / 'killed') == rows(tmp_path / 'whole')
