"""Non-finite training: skipped updates are counted, named, stopped, and never saved."""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import cli_zygote
from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import factories
from dreamerv3_tf.run import nonfinite
from dreamerv3_tf.run import train_eval
from run_helpers import make_run_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERMS = ('dyn', 'rep', 'vector', 'rew', 'con', 'policy', 'value', 'repval')


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def train_metrics(**losses):
  """Train metrics of one update: every term 1.0 unless given, skipped if any is not."""
  metrics = {f'loss/{k}': losses.get(k, 1.0) for k in (*TERMS, 'rec', 'total')}
  bad = not all(np.isfinite(v) for v in metrics.values())
  metrics.update({'opt/grad_norm': np.nan if bad else 3.0, 'opt/grad_nonfinite': float(bad)})
  return metrics


# --- naming and counting, on metrics alone ---------------------------------------

def test_cause_names_the_first_term_in_computation_order():
  metrics = train_metrics(policy=np.inf, rew=np.nan, total=np.nan)
  assert nonfinite.cause(metrics, TERMS) == (
      "loss 'rew' is not finite (nan), and so is 1 later term")
  # Without an order: the terms alphabetically, the total last.
  metrics = train_metrics(value=-np.inf, total=np.nan)
  assert nonfinite.cause(metrics).startswith("loss 'value' is not finite (-inf)")
  assert nonfinite.cause(train_metrics(total=np.inf)) == "loss 'total' is not finite (inf)"


def test_cause_names_the_gradient_norm_when_every_loss_is_finite():
  metrics = {**train_metrics(), 'opt/grad_norm': np.inf, 'opt/grad_nonfinite': 1.0}
  assert nonfinite.cause(metrics, TERMS) == (
      'the gradient norm is not finite (inf) while every loss term is finite')


def test_cause_names_the_batch_keys_that_hold_nan_or_inf():
  batch = {'vector': np.array([[0.0, np.inf]], np.float32),
           'dyn/deter': np.full((1, 2), np.nan, np.float32),
           'reward': np.zeros(2, np.float32), 'image': np.zeros((2, 2), np.uint8)}
  text = nonfinite.cause(train_metrics(dyn=np.nan), TERMS, batch)
  assert text.endswith("; the batch holds NaN or inf in 'dyn/deter', 'vector'")


def test_watch_counts_warns_once_per_streak_and_stops_at_the_limit(capsys):
  watch = nonfinite.Watch(3, TERMS, total=5)
  good, bad = train_metrics(), train_metrics(dyn=np.nan)
  assert [watch.skipped(u, m) for u, m in enumerate([good, bad, bad, good, bad], 1)] == [
      False, True, True, False, True]
  assert watch.result() == {'skipped_updates': 3, 'skipped_updates_total': 8}
  assert watch.result() == {'skipped_updates': 0, 'skipped_updates_total': 8}
  assert watch.skipped(6, bad)
  with pytest.raises(nonfinite.NonfiniteError) as error:
    watch.skipped(7, bad)
  message = str(error.value)
  assert '\n' not in message and message.startswith(
      'training diverged: 3 updates in a row were skipped as not finite (updates 5-7); '
      "at the first, loss 'dyn' is not finite (nan)")
  assert 'run.max_nonfinite_updates=3' in message
  warnings = capsys.readouterr().err.strip().splitlines()
  assert warnings == [f"Warning: update {u} skipped: loss 'dyn' is not finite (nan)"
                      for u in (2, 5)]


def test_the_stop_line_names_the_config_values_that_likely_made_the_run_diverge():
  """agent.opt.lr=1e30 stopped after 100 skipped updates with a line naming no key."""
  watch = nonfinite.Watch(2, TERMS, suspects=['agent.opt.lr=1e+30'])
  watch.skipped(1, train_metrics(total=np.inf))
  with pytest.raises(nonfinite.NonfiniteError) as error:
    watch.skipped(2, train_metrics(total=np.inf))
  assert str(error.value) == (
      'training diverged: 2 updates in a row were skipped as not finite (updates 1-2); at '
      "the first, loss 'total' is not finite (inf); likely from agent.opt.lr=1e+30, far "
      'beyond the values the configs use (the warning at the start says why). Stopped by '
      'run.max_nonfinite_updates=2 (0 never stops)')


def test_limit_zero_never_stops():
  watch = nonfinite.Watch(0)
  assert all(watch.skipped(u, train_metrics(total=np.nan)) for u in range(1, 1001))
  assert watch.result()['skipped_updates_total'] == 1000


# --- train_eval with the real (debug) agent --------------------------------------

class PoisonedStream:
  """Puts NaN into one 'vector' observation of the batches of the chosen updates."""

  def __init__(self, stream, bad):
    self.stream, self.bad, self.calls = stream, bad, 0

  def __getattr__(self, name):
    return getattr(self.stream, name)

  def __next__(self):
    batch = next(self.stream)
    self.calls += 1
    if self.bad(self.calls):
      batch = {**batch, 'vector': batch['vector'].copy()}
      batch['vector'][0, -1, 0] = np.nan
    return batch


@pytest.fixture(scope='module')
def patched():
  """One compiled agent for every run of this module; train streams poisoned on demand.

  Sets `hooks['bad'](update) -> bool` for the train stream of the next run, and keeps
  the agent and the train replay of the last run.
  """
  hooks = {'bad': lambda update: False}
  made = {}
  make_agent, make_stream, make_replay = (
      factories.make_agent, factories.make_stream, factories.make_replay)

  def shared_agent(config, obs_space, act_space, checkpoint=None):
    if 'agent' not in made:
      made['agent'] = make_agent(config, obs_space, act_space, checkpoint)
    return made['agent']

  def stream(config, replay, mode):
    made_stream = make_stream(config, replay, mode)
    if mode != 'train':
      return made_stream
    made['stream'] = PoisonedStream(made_stream, hooks['bad'])
    return made['stream']

  def replay(config, mode):
    made[f'replay_{mode}'] = make_replay(config, mode)
    return made[f'replay_{mode}']

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(factories, 'make_agent', shared_agent)
    patch.setattr(factories, 'make_stream', stream)
    patch.setattr(factories, 'make_replay', replay)
    yield hooks, made


def agent_values(path):
  reader = tf.train.load_checkpoint(path)
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if k.startswith('agent/') and k.endswith('.ATTRIBUTES/VARIABLE_VALUE')}


def test_skipped_updates_are_counted_named_and_leave_no_nan(patched, tmp_path, capfd):
  hooks, made = patched
  hooks['bad'] = lambda update: update in (3, 4, 9)
  config = make_run_config(tmp_path, steps=120, max_nonfinite_updates=3)
  train_eval.train_eval(config)
  assert made['stream'].calls > 12
  warnings = [x for x in capfd.readouterr().err.splitlines() if x.startswith('Warning:')]
  assert warnings == [
      f"Warning: update {u} skipped: loss 'dyn' is not finite (nan), and so are 7 later "
      "terms; the batch holds NaN or inf in 'vector'" for u in (3, 9)]
  rows = [x for x in read_jsonl(tmp_path / 'metrics.jsonl') if 'train/updates' in x]
  assert sum(x['train/skipped_updates'] for x in rows) == 3
  assert rows[-1]['train/skipped_updates_total'] == 3
  assert rows[-1]['train/updates'] == made['stream'].calls
  # The losses logged are those of the applied updates; nothing NaN reached the
  # replay's latents (written back from each update) or the saved agent.
  losses = [v for x in rows for k, v in x.items() if k.startswith('train/loss/')]
  assert losses and np.all(np.isfinite(losses))
  stored = made['replay_train'].dump()
  assert np.isfinite(stored['dyn/deter']).all() and np.isfinite(stored['dyn/stoch']).all()
  for name, value in agent_values(tf.train.latest_checkpoint(tmp_path / 'ckpt')).items():
    assert np.isfinite(value).all(), name


def test_the_last_stretch_is_logged_when_the_run_ends(patched, tmp_path, capfd):
  """A run seldom ends on a log step: what its last stretch trained and skipped is
  logged at its end, not lost."""
  hooks, made = patched
  hooks['bad'] = lambda update: update == 2
  # One log at the start (before any update), then none until the end.
  config = make_run_config(tmp_path, steps=120, log_every=10 ** 6)
  train_eval.train_eval(config)
  rows = [x for x in read_jsonl(tmp_path / 'metrics.jsonl') if 'train/updates' in x]
  assert rows[0]['train/updates'] == 0
  assert rows[-1]['step'] == 120
  assert rows[-1]['train/updates'] == made['stream'].calls > 2
  assert rows[-1]['train/skipped_updates_total'] == 1
  assert 'Warning: update 2 skipped' in capfd.readouterr().err


def test_consecutive_skipped_updates_stop_the_run(patched, tmp_path):
  hooks, made = patched
  hooks['bad'] = lambda update: update >= 5
  config = make_run_config(tmp_path, steps=300, max_nonfinite_updates=4)
  with pytest.raises(nonfinite.NonfiniteError) as error:
    train_eval.train_eval(config)
  assert made['stream'].calls == 8
  assert str(error.value).startswith(
      'training diverged: 4 updates in a row were skipped as not finite (updates 5-8); '
      "at the first, loss 'dyn' is not finite (nan)")


def test_a_nonfinite_agent_is_never_saved(patched, tmp_path):
  hooks, made = patched
  saved = {}
  ckpt_dir = str(tmp_path / 'ckpt')

  def poison(update):
    if update == 12:  # what a diverged agent looks like: a weight full of NaN
      saved['latest'] = tf.train.latest_checkpoint(ckpt_dir)
      saved['kernel'] = made['agent'].model.rew.trainable_weights[0]
      saved['value'] = saved['kernel'].numpy()
      saved['kernel'].assign(np.full_like(saved['value'], np.nan))
    return False

  hooks['bad'] = poison
  config = make_run_config(tmp_path, steps=300, clock='steps', save_every=10,
                           max_nonfinite_updates=0)
  try:
    with pytest.raises(checkpointing.CheckpointError) as error:
      train_eval.train_eval(config)
  finally:
    if 'value' in saved:
      saved['kernel'].assign(saved['value'])  # the agent is shared with the other tests
  assert saved['latest'] and not saved['latest'].endswith('ckpt-1')  # one after training
  message = str(error.value)
  assert message.startswith('Refusing to save a checkpoint: agent/rew/') and (
      f'is not finite (the agent diverged); the latest checkpoint {saved["latest"]} '
      'is kept') in message
  assert tf.train.latest_checkpoint(ckpt_dir) == saved['latest']
  for name, value in agent_values(saved['latest']).items():
    assert np.isfinite(value).all(), name


def test_cli_stops_with_one_line_after_consecutive_nonfinite_updates(tmp_path):
  """Exploding gradients (a reward loss scale of 1e30): every update is skipped."""
  logdir = tmp_path / 'run'
  result = cli_zygote.run([
      sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
      f'--logdir={logdir}', '--config.task=dummy_disc_vec', '--config.run.parallel=False',
      '--config.logger.outputs=jsonl', '--config.jit=False', '--config.run.save_every=0',
      '--config.run.report_every=0', '--config.agent.loss_scales.rew=1e30',
      '--config.run.max_nonfinite_updates=3'],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 1, result.stderr[-3000:]
  assert 'Traceback' not in result.stderr
  errors = [x for x in result.stderr.splitlines() if x.startswith('Error:')]
  assert errors == [
      'Error: training diverged: 3 updates in a row were skipped as not finite (updates '
      '1-3); at the first, the gradient norm is not finite (inf) while every loss term is '
      'finite; likely from agent.loss_scales.rew=1e+30, far beyond the values the configs '
      'use (the warning at the start says why). Stopped by run.max_nonfinite_updates=3 (0 '
      'never stops)'], result.stderr
  assert 'Warning: agent.loss_scales.rew=1e+30 is far beyond the values' in result.stderr
  # The first checkpoint (written before training) is the only one, and intact.
  latest = tf.train.latest_checkpoint(str(logdir / 'ckpt'))
  assert latest.endswith('ckpt-1')
  assert all(np.isfinite(v).all() for v in agent_values(latest).values())
