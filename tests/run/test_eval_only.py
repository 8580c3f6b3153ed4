"""eval_only from a run's checkpoint and from its SavedModel export (dummy env)."""

import functools
import json
import os
import re
import shutil

import numpy as np
import pytest

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import evaluated_policy
from dreamerv3_tf import export
from dreamerv3_tf import logdir_checks
from dreamerv3_tf.core import logger
from dreamerv3_tf.run import eval_only
from dreamerv3_tf.run import train_eval
from run_helpers import make_run_config
from run_helpers import snapshot

# The real debug-sized agent; train_ratio 0 so only the policy compiles.
run_config = functools.partial(make_run_config, steps=100, train_ratio=0.0)


def scores(logdir):
  with open(os.path.join(logdir, 'metrics.jsonl')) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  assert not any(k.startswith('episode/') for x in rows for k in x)
  return [x['epstats/score'] for x in rows if 'epstats/score' in x]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A train_eval logdir (seed 0) and the SavedModel exported from it."""
  root = tmp_path_factory.mktemp('eval_only')
  config = run_config(root / 'run')
  train_eval.train_eval(config)
  _, out = export.export_run(config.logdir, str(root / 'export'))
  return config.logdir, out


def evaluate(tmp_path, source, steps=240, **kw):
  # Another seed than the training run: an agent that was not restored would act
  # differently; the envs are the same for every call (same seed).
  config = run_config(tmp_path, seed=1, steps=steps, **kw)
  with config.unlocked():
    config.script = 'eval_only'
    config.run.from_checkpoint = source
  eval_only.eval_only(config)
  return scores(config.logdir)


def test_checkpoint_and_saved_model_give_the_same_episodes(trained, tmp_path):
  logdir, out = trained
  from_ckpt = evaluate(tmp_path / 'ckpt', os.path.join(logdir, 'ckpt'))
  from_export = evaluate(tmp_path / 'export', out)
  assert len(from_ckpt) >= 240 // 31 - 1
  assert from_ckpt == from_export
  # The eval-mode policy is deterministic: a fresh run repeats every episode.
  assert evaluate(tmp_path / 'again', out) == from_export


def test_saved_model_for_another_env_fails_with_one_line(trained, tmp_path):
  """The line named no SavedModel, where a checkpoint's names its path."""
  _, out = trained
  with pytest.raises(checkpointing.CheckpointError) as error:
    evaluate(tmp_path, out, task='dummy_cont_vec')
  assert str(error.value) == (
      f"{out}: action 'action': the policy has dtype/shape ('int32', ()), "
      "the env ('float32', (2,)); evaluate it on the task it was trained on")


def test_a_directory_without_a_checkpoint_fails_with_one_line(tmp_path):
  os.makedirs(tmp_path / 'nothing')
  with pytest.raises(checkpointing.CheckpointError,
                     match=f'^No checkpoint found in {tmp_path}/nothing$'):
    evaluate(tmp_path / 'run', str(tmp_path / 'nothing'))


def test_a_checkpoint_of_another_task_names_the_spaces(trained, tmp_path):
  """It said only that variable names differ ('opt/mu/logits_action.Sbias' ...), and
  then not which task that was, which its config.json names."""
  logdir, _ = trained
  for source in (os.path.join(logdir, 'ckpt'), checkpointing.inspect(
      os.path.join(logdir, 'ckpt'), ['replay_train', 'replay_eval']).path):
    with pytest.raises(checkpointing.CheckpointError, match=(
        f"^{source} is of a run whose env had action 'action' Space\\(int32, shape=\\(\\), "
        r'low=0, high=4\), the env now has Space\(float32, shape=\(2,\), low=-1.0, '
        r'high=1.0\); evaluate it on the task it was trained on, '
        r'--config.task=dummy_disc_vec$')):
      evaluate(tmp_path / 'run', source, task='dummy_cont_vec')
    assert not (tmp_path / 'run').exists()


def test_a_checkpoint_of_another_agent_size_names_the_settings(trained, tmp_path):
  """eval_only without the run's size preset said only that one variable's shapes
  differ ("Checkpoint .../ckpt-N: 'con/mlp/layer0/linear/kernel' is float32[32, 16]
  there but float32[48, 16] in this agent"); a training run's from_checkpoint named
  the settings."""
  logdir, _ = trained
  config = run_config(tmp_path / 'run', seed=1)
  with config.unlocked():
    config.script = 'eval_only'
    config.run.from_checkpoint = os.path.join(logdir, 'ckpt')
    config.agent.rssm.deter = 32
  with pytest.raises(checkpointing.CheckpointError) as error:
    eval_only.eval_only(config)
  assert str(error.value) == (
      f'{logdir}/ckpt is of a run whose agent had agent.rssm.deter=16 (this run: 32); '
      'evaluate it with the agent settings it was trained with (its size preset)')
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('steps, warned', [(20, True), (25, True), (100, False)])
def test_an_evaluation_that_ends_no_episode_says_so(tmp_path, capsys, steps, warned):
  """run.steps below an episode's length (30 steps here): exit code 0 and no word,
  with no score logged. A random agent: nothing to compile. It ends at run.steps: 25
  played on to step 30, in rounds of 10 ('Done: 30 env steps')."""
  config = run_config(tmp_path, steps=steps, random_agent=True)
  with config.unlocked():
    config.script = 'eval_only'
  eval_only.eval_only(config)
  out, err = capsys.readouterr()
  assert bool(scores(config.logdir)) != warned
  line = (f'Warning: no episode ended within run.steps={steps} env steps (1 env), so no '
          'score was logged; raise run.steps above the length of an episode\n')
  assert (line in err) == warned, err
  # The last line: the mean score of every episode (the 30-step episodes here).
  last, logged = out.splitlines()[-1], scores(config.logdir)
  assert re.match(rf'^\[\d\d:\d\d:\d\d\] Done: {steps} env steps, \S+ after the start', last), last
  mean = logger.format_number(float(np.mean(logged))) if logged else None
  assert (f'; the evaluation scored {mean} (mean of {len(logged)} episodes); their scores '
          f'are in {config.logdir}/scores.jsonl' in last) != warned, last


def test_a_checkpoint_that_cannot_be_read_names_the_flag(tmp_path):
  """A gs:// path without network or credentials was 'Error: Error executing an HTTP
  request: libcurl code 6 ...', naming neither the flag nor the path (a scheme
  TensorFlow lacks stands in for it: no network needed)."""
  with pytest.raises(checkpointing.CheckpointError) as error:
    evaluate(tmp_path / 'run', 'ftp://host/ckpt')
  assert str(error.value).startswith(
      "Cannot read --config.run.from_checkpoint ftp://host/ckpt: File system scheme 'ftp' "
      'not implemented'), str(error.value)
  assert not (tmp_path / 'run').exists()  # nothing written


def test_a_remote_logdir_without_a_checkpoint_to_evaluate_is_a_config_error(tmp_path):
  """No run.from_checkpoint and no LOGDIR/ckpt on a gs:// logdir (file:// stands in for
  it) was 'Checkpoint gs://b/run/ckpt is missing (gs://b/run/ckpt.index not found)',
  exit code 1, where a local logdir gets this line."""
  with pytest.raises(configuration.ConfigError) as error:
    evaluate(f'file://{tmp_path}/run', '')
  assert str(error.value) == logdir_checks.NOTHING_TO_EVALUATE
  assert not (tmp_path / 'run').exists()  # nothing written


def test_a_saved_model_with_random_agent_is_refused(trained, tmp_path):
  """The export was evaluated, silently, as if random_agent were not set (a checkpoint
  with random_agent=True is refused: test_checkpoint.py)."""
  _, out = trained
  with pytest.raises(checkpointing.CheckpointError) as error:
    evaluate(tmp_path / 'run', out, random_agent=True)
  assert str(error.value) == (
      f'{out} is a SavedModel export of a trained policy, but random_agent=True acts at '
      'random and loads no weights; drop random_agent to evaluate it, or '
      'run.from_checkpoint for a random baseline')
  assert not (tmp_path / 'run').exists()


def test_an_evaluation_goes_on_only_with_the_checkpoint_it_began_with(trained, tmp_path):
  """The same eval_only of RUN/ckpt, once RUN had saved again, evaluated the newer
  checkpoint and added its episodes to the older one's: nothing recorded which policy
  they were of, and their scores mixed two. It is refused before the agent is built,
  EVAL left as it was, naming the flag that goes on with the first; that adds to them.
  RUN's checkpoints are the ones it saved (ckpt-1 at its start, ckpt-2 at its end),
  ckpt-2 set aside and the state file naming ckpt-1 alone until "RUN saves" it."""
  logdir, _ = trained
  run, evaluation = tmp_path / 'run', tmp_path / 'eval'
  shutil.copytree(logdir, run)
  ckpt = run / 'ckpt'
  state = (ckpt / 'checkpoint').read_text()
  assert 'model_checkpoint_path: "ckpt-2"' in state, state
  newer = {x: (ckpt / x).read_bytes() for x in os.listdir(ckpt) if x.startswith('ckpt-2.')}
  for name in newer:
    os.remove(ckpt / name)
  (ckpt / 'checkpoint').write_text(
      'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n')
  first = evaluate(evaluation, str(ckpt), steps=40)
  assert len(first) == 1
  for name, data in newer.items():  # RUN saves ckpt-2
    (ckpt / name).write_bytes(data)
  (ckpt / 'checkpoint').write_text(state)
  before = snapshot(evaluation)
  with pytest.raises(configuration.ConfigError) as error:
    evaluate(evaluation, str(ckpt), steps=40)
  assert str(error.value) == (
      f'logdir {evaluation} holds the episodes of {ckpt}/ckpt-1 (step 0); this evaluation '
      f'would add those of another policy to them (run.from_checkpoint={ckpt} now gives '
      f'{ckpt}/ckpt-2): pass --config.run.from_checkpoint={ckpt}/ckpt-1 to evaluate that '
      'one further, or use a new --logdir, or pass --config.run.allow_other_config=True to '
      'add them')
  assert snapshot(evaluation) == before
  # A path whose files are not read before the load (a remote one; file:// stands in
  # for it): refused once the policy is loaded, before anything is written.
  with pytest.raises(configuration.ConfigError, match=(
      f'holds the episodes of {ckpt}/ckpt-1 \\(step 0\\); this evaluation would add those of '
      f'another policy to them \\(run.from_checkpoint=file://{ckpt} now gives '
      f'file://{ckpt}/ckpt-2 \\(step 100\\)\\): pass')):
    evaluate(evaluation, f'file://{ckpt}', steps=40)
  assert snapshot(evaluation) == before
  # The flag it names: the same policy, whose episodes are added.
  assert evaluate(evaluation, f'{ckpt}/ckpt-1', steps=40) == first + first
  assert [x['path'] for x in evaluated_policy.recorded(str(evaluation))] == [f'{ckpt}/ckpt-1']
