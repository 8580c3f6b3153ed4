"""run.from_checkpoint: a fresh run starts from the agent variables of another run."""

import functools
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import run_files
from dreamerv3_tf.agent.agent import Agent
from dreamerv3_tf.run import common
from dreamerv3_tf.run import train_eval
from run_helpers import make_run_config

# The real debug-sized agent; train_ratio 0 so only the policy compiles.
run_config = functools.partial(make_run_config, steps=50, train_ratio=0.0)

SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'


def agent_values(logdir, name=None):
  """{name below agent/: value} of a run's latest (or named) checkpoint."""
  path = os.path.join(logdir, 'ckpt', name) if name else tf.train.latest_checkpoint(
      os.path.join(logdir, 'ckpt'))
  reader = tf.train.load_checkpoint(path)
  return {k[len('agent/'):-len(SUFFIX)]: reader.get_tensor(k)
          for k in reader.get_variable_to_shape_map()
          if k.startswith('agent/') and k.endswith(SUFFIX)}


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory):
  config = run_config(tmp_path_factory.mktemp('pretrained'), seed=0)
  train_eval.train_eval(config)
  return config.logdir


def test_a_from_checkpoint_that_cannot_be_read_stops_before_the_agent_is_built(
    tmp_path, capsys):
  """gs:// without network: 'Cannot read --config.run.from_checkpoint ...' came once the
  agent was built and compiled (30 s and more on a first start). A scheme TensorFlow
  lacks stands in for it."""
  from dreamerv3_tf import run
  config = run_config(tmp_path / 'run', from_checkpoint='nosuchfs://bucket/ckpt')
  with pytest.raises(checkpointing.CheckpointError, match=(
      "^Cannot read --config.run.from_checkpoint nosuchfs://bucket/ckpt: File system "
      "scheme 'nosuchfs' not implemented")):
    run.main(config)
  assert 'Building the agent' not in capsys.readouterr().out
  assert not (tmp_path / 'run').exists()


def test_fresh_run_loads_matching_variables_and_saves_them(
    pretrained, tmp_path, tmp_path_factory, capsys):
  source = shutil.copytree(os.path.join(pretrained, 'ckpt'),
                           tmp_path_factory.mktemp('source') / 'ckpt')
  config = run_config(tmp_path, seed=1, from_checkpoint=str(source),
                       from_checkpoint_regex='(enc|dyn)/')
  train_eval.train_eval(config)
  old, new = agent_values(pretrained), agent_values(tmp_path)
  loaded = sorted(k for k in new if k.startswith(('enc/', 'dyn/')))
  assert len(loaded) > 10
  assert f'Loaded {len(loaded)} agent variables matching' in capsys.readouterr().out
  for k in loaded:
    np.testing.assert_array_equal(new[k], old[k], err_msg=k)
  # The rest keeps this run's own initialisation (another seed).
  assert not np.array_equal(new['pol/mlp/layer0/linear/kernel'],
                            old['pol/mlp/layer0/linear/kernel'])
  assert new['rng_seed'] == 1 and old['rng_seed'] == 0
  # One save at the start, already holding the loaded variables, and one at the end.
  assert saved(tmp_path) == ['ckpt-1', 'ckpt-2']
  first = agent_values(tmp_path, 'ckpt-1')
  for k in loaded:
    np.testing.assert_array_equal(first[k], old[k], err_msg=k)
  # A resume continues from this run's own checkpoint, which holds the whole agent,
  # and saves nothing at its start. The run it started from may be gone by then
  # (it failed with 'Checkpoint .../source is missing').
  shutil.rmtree(source)
  latest = tf.train.latest_checkpoint(os.path.join(tmp_path, 'ckpt'))
  config = run_config(tmp_path, seed=1, from_checkpoint=str(source), steps=60)
  train_eval.train_eval(config)
  assert f'Resumed from {latest}' in capsys.readouterr().out
  assert saved(tmp_path) == ['ckpt-1', 'ckpt-2', 'ckpt-3']
  resumed = agent_values(tmp_path, 'ckpt-3')
  np.testing.assert_array_equal(resumed['pol/mlp/layer0/linear/kernel'],
                                new['pol/mlp/layer0/linear/kernel'])


def saved(logdir):
  state = tf.train.get_checkpoint_state(os.path.join(logdir, 'ckpt'))
  return [os.path.basename(p) for p in state.all_model_checkpoint_paths]


def test_regex_that_matches_nothing_is_one_line(pretrained, tmp_path):
  config = run_config(tmp_path, seed=1, from_checkpoint=os.path.join(pretrained, 'ckpt'),
                       from_checkpoint_regex='decoder/')
  with pytest.raises(checkpointing.CheckpointError) as error:
    train_eval.train_eval(config)
  assert str(error.value).startswith(
      "from_checkpoint_regex 'decoder/' matches no agent variable of ")
  assert '\n' not in str(error.value)
  with pytest.raises(checkpointing.CheckpointError, match=r"regex 'enc/\(' is not a valid"):
    checkpointing.load_agent(None, pretrained, 'enc/(')


def bigger_agent(pretrained):
  """-> (config, agent, obs_space, act_space): `pretrained`'s run with deter 32, not 16."""
  config = run_config(pretrained, seed=2)
  config.agent.rssm.deter = 32
  config.jit = False
  obs_space, act_space = run_files.load_spaces(pretrained)
  return config, Agent(obs_space, act_space, config), obs_space, act_space


def test_shape_mismatch_names_the_variable_and_assigns_nothing(pretrained):
  _, agent, _, _ = bigger_agent(pretrained)
  before = agent.enc.mlp.layer0.linear.kernel.numpy()
  with pytest.raises(checkpointing.CheckpointError,
                     match=r"ckpt-2: 'con/mlp/layer0/linear/kernel' is float32\[32, 16\] "
                           r'there but float32\[48, 16\] in this agent$'):
    checkpointing.load_agent(agent, os.path.join(pretrained, 'ckpt'))
  np.testing.assert_array_equal(agent.enc.mlp.layer0.linear.kernel.numpy(), before)
  # The matching part loads.
  _, names = checkpointing.load_agent(agent, os.path.join(pretrained, 'ckpt'), 'enc/')
  assert names and all(n.startswith('enc/') for n in names)
  assert not np.array_equal(agent.enc.mlp.layer0.linear.kernel.numpy(), before)


def test_a_checkpoint_of_another_agent_size_names_the_settings(pretrained):
  """It named one variable's two shapes, not the setting of the runs that differs."""
  config, agent, obs_space, act_space = bigger_agent(pretrained)
  source = os.path.join(pretrained, 'ckpt')
  with pytest.raises(checkpointing.CheckpointError) as error:
    common.load_agent(agent, source, obs_space, act_space, 'HINT', config=config)
  assert str(error.value) == (
      f'{source} is of a run whose agent had agent.rssm.deter=16 (this run: 32); pass '
      'the same agent settings (its size preset), or narrow run.from_checkpoint_regex to '
      'the parts that fit')


def test_a_checkpoint_of_another_task_names_the_spaces(pretrained, tmp_path):
  """It said only that variable names differ ('opt/mu/logits_action.Sbias' ...)."""
  source = os.path.join(pretrained, 'ckpt')
  config = run_config(tmp_path / 'run', task='dummy_cont_vec', from_checkpoint=source)
  with pytest.raises(checkpointing.CheckpointError, match=(
      f"^{source} is of a run whose env had action 'action' Space\\(int32, shape=\\(\\), "
      r'low=0, high=4\), the env now has Space\(float32, shape=\(2,\), low=-1.0, '
      r'high=1.0\); start from it on the task it was trained on, or narrow '
      r'run.from_checkpoint_regex to the parts that fit$')):
    train_eval.train_eval(config)
  assert not (tmp_path / 'run').exists()
