"""The loop's train schedule against the official code's (danijar/dreamerv3 e3f0224).

Official: embodied/run/train_eval.py:37-38 `Ratio(train_ratio / (batch_size *
batch_length))`; :93-96 no update while `len(replay) < batch_size * batch_length`
(items: start positions with `batch_length + replay_context` steps of one env,
embodied/core/replay.py:108-112), then `should_train(step)` after each transition;
elements/when.py Ratio: the first call gives 1 and starts counting there, then
`int((step - prev) * ratio)` with `prev` advanced by what it handed out.
The official does that in floats: with ratio 3/8 its `prev` after 8 updates is a hair
above 77 1/3, so the 9th update came one env step late (81, not 80); restated here in
exact fractions, as ours counts (core/clocks.Ratio).
"""

import fractions
import json
import os

import pytest

from dreamerv3_tf import factories
from dreamerv3_tf.agent import random as random_agent
from dreamerv3_tf.run import train_eval
from run_helpers import make_run_config


def official_schedule(steps, envs, batch_size, batch_length, context, train_ratio):
  """-> the env step (1-based) of each update, by the official rules restated."""
  length = batch_length + context
  ratio = fractions.Fraction(train_ratio) / (batch_size * batch_length)
  per_env = [0] * envs
  prev, step, out = None, 0, []
  while step < steps:
    for worker in range(envs):  # the driver calls back env by env
      step += 1
      per_env[worker] += 1
      if sum(max(0, n - length + 1) for n in per_env) < batch_size * batch_length:
        continue
      if prev is None:
        prev, count = step, 1
      else:
        count = int((step - prev) * ratio)
        prev += count / ratio
      out += [step] * count
  return out


@pytest.mark.parametrize('train_ratio', [32.0, 16.0, 12.0])
def test_updates_come_at_the_env_steps_the_official_loop_gives(tmp_path, monkeypatch,
                                                               train_ratio):
  # batch 4 x 8 (+1 context): updates per env step 1 (train_ratio = B * T, as the
  # official dmc_proprio's 1024 / 1024), 1/2 and 3/8; 3 envs fill the replay unevenly.
  config = make_run_config(tmp_path, random_agent=True, steps=300, envs=3,
                           train_ratio=train_ratio, report_every=0)
  replays, at = [], []
  make_replay = factories.make_replay

  def capture(config, mode):
    replays.append(make_replay(config, mode))
    return replays[-1]

  def train(self, carry, batch):
    at.append(len(replays[0]))  # steps added to the train replay so far = env step
    return carry, {}, {}

  monkeypatch.setattr(factories, 'make_replay', capture)
  monkeypatch.setattr(random_agent.RandomAgent, 'train', train)
  train_eval.train_eval(config)
  want = official_schedule(300, 3, config.batch_size, config.batch_length,
                           config.replay_context, train_ratio)
  assert at == want


def _eval_steps(logdir):
  with open(os.path.join(logdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return ([r['step'] for r in rows if 'epstats/score' in r],
          [r['step'] for r in rows if any(k.startswith('eval/') for k in r)])


@pytest.mark.parametrize('clock, every, want', [
    ('seconds', 1e6, [0]), ('steps', 20, [0, 20, 40])])
def test_a_new_run_evaluates_before_its_first_env_step(tmp_path, clock, every, want):
  # Official embodied/run/train_eval.py:129-143: the loop asks should_report (a clock
  # whose first call fires, elements/when.py Clock) at its top, before
  # driver_train(steps=10): the untrained policy's eval episodes are logged at step 0.
  config = make_run_config(tmp_path, random_agent=True, steps=40, clock=clock,
                           report_every=every)
  train_eval.train_eval(config)
  assert _eval_steps(tmp_path) == (want, want)
