"""Exact resume: N steps straight == N/2 steps, SIGKILL after a save, resume to N."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

import cli_zygote
from configs import dmc
from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import factories
from dreamerv3_tf.core import logger as logging

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Training starts at step ~46 and then updates once per 2 steps: the kill comes after
# the save at step 60 (~7 updates), the resumed run trains ~30 updates more. Each
# report (from step 60) logs every key of the terminal table.
STEPS = 120
FLAGS = {
    'task': 'dummy_disc_vec', 'env.dummy.length': 20, 'run.parallel': False,
    'run.deterministic': True, 'run.clock': 'steps', 'run.log_every': 30,
    'run.report_every': 30, 'run.save_every': 30, 'logger.outputs': 'jsonl',
    'run.keep_checkpoints': 20}


def command(logdir, steps):
  return [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
          f'--logdir={logdir}', f'--config.run.steps={steps}'] + [
              f'--config.{k}={v}' for k, v in FLAGS.items()]


def loop_step(path):
  state = tf.train.load_checkpoint(path).get_tensor('loop/.ATTRIBUTES/py_state')
  return json.loads(state)['step']


def final_state(logdir):
  path = tf.train.latest_checkpoint(os.path.join(logdir, 'ckpt'))
  reader = tf.train.load_checkpoint(path)
  weights = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
             if k.startswith('agent/') and k.endswith('.ATTRIBUTES/VARIABLE_VALUE')}
  config = dmc.get_config('train_eval,debug')
  config.update_from_flattened_dict({**FLAGS, 'logdir': str(logdir)})
  configuration.finalize(config)
  replays = {f'replay_{m}': factories.make_replay(config, m) for m in ('train', 'eval')}
  checkpointing.Checkpoint(os.path.join(logdir, 'ckpt'), replays=replays).load(path)
  contents = {name: {k: v for k, v in r.dump().items() if k != 'stepid'}
              for name, r in replays.items()}
  return loop_step(path), weights, contents


def test_killed_and_resumed_run_ends_like_a_straight_run(tmp_path):
  straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
  run_a = cli_zygote.Popen(command(straight, STEPS), cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  # Run B starts once A has compiled: it loads A's programs from the XLA cache.
  head = []
  for line in run_a.stdout:
    head.append(line)
    if 'First update done' in line:
      break
  assert run_a.poll() is None, ''.join(head)[-3000:]
  # Run B: kill it with SIGKILL once a checkpoint from halfway on exists.
  run_b = cli_zygote.Popen(command(resumed, 10 ** 9), cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  ckpt_dir = str(resumed / 'ckpt')
  deadline = time.time() + 300
  while time.time() < deadline:
    latest = os.path.isdir(ckpt_dir) and tf.train.latest_checkpoint(ckpt_dir)
    if latest and loop_step(latest) >= STEPS // 2:
      break
    assert run_b.poll() is None, run_b.stdout.read()[-3000:]
    time.sleep(0.02)
  run_b.send_signal(signal.SIGKILL)
  run_b.wait()
  saved = loop_step(tf.train.latest_checkpoint(ckpt_dir))
  assert STEPS // 2 <= saved < STEPS
  result = cli_zygote.run(command(resumed, STEPS), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'at step {saved}.' in result.stdout
  output = ''.join(head) + run_a.communicate(timeout=300)[0]
  assert run_a.returncode == 0, output[-3000:]

  # Every key pattern of the terminal table names keys the run logs.
  keys = set().union(*map(json.loads, open(straight / 'metrics.jsonl')))
  for pattern in logging.TERMINAL_PATTERNS:
    assert any(re.search(pattern, k) for k in keys), (pattern, sorted(keys))

  step_a, weights_a, replays_a = final_state(straight)
  step_b, weights_b, replays_b = final_state(resumed)
  assert step_a == step_b == STEPS
  assert weights_a.keys() == weights_b.keys() and len(weights_a) > 50
  for key in weights_a:
    np.testing.assert_array_equal(weights_a[key], weights_b[key], err_msg=key)
  for name in replays_a:
    assert replays_a[name].keys() == replays_b[name].keys()
    for key in replays_a[name]:
      np.testing.assert_array_equal(replays_a[name][key], replays_b[name][key],
                                    err_msg=f'{name} {key}')


def test_a_deterministic_resume_with_another_number_of_envs_says_it_is_not_exact(
    tmp_path, capsys):
  """run.envs is a runtime key: the checkpoint's driver state of 2 envs restored nothing
  into 3 (every env started anew), and the exact resume that run.deterministic=True
  promises was not, without a word."""
  from dreamerv3_tf.run import train_eval
  from run_helpers import make_run_config
  run = dict(deterministic=True, clock='steps', save_every=20)
  train_eval.train_eval(make_run_config(tmp_path, random_agent=True, steps=40, **run))
  capsys.readouterr()
  train_eval.train_eval(make_run_config(tmp_path, random_agent=True, steps=60, **run))
  assert 'Warning' not in capsys.readouterr().err  # the same envs: exact, quiet
  train_eval.train_eval(make_run_config(tmp_path, random_agent=True, steps=80, envs=3,
                                        **run))
  assert capsys.readouterr().err.splitlines() == [
      'Warning: run.deterministic=True, but the checkpoint holds the state of 2 train envs '
      'and run.envs=3: each env starts a new episode, so this resume is not exact (give '
      '--config.run.envs=2 to resume exactly)']
