"""eval_only: runs the eval-mode policy of a trained agent and logs episode stats.

  python -m dreamerv3_tf.main --config=configs/dmc.py:eval_only \
      --config.run.from_checkpoint=~/logdir/run1/ckpt --logdir=~/logdir/run1_eval

`run.from_checkpoint` names a checkpoint file prefix, a run's ckpt directory (its
latest checkpoint is used; only the agent is restored from it), or a SavedModel
directory written by `dreamerv3_tf.export` (it holds saved_model.pb; its step_eval
signature is the policy, and no agent is built). Episode stats go to `epstats/`;
policy.json records the policy they are of, and a later evaluation there of another
is refused (evaluated_policy.py).
"""

import contextlib
import sys

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import evaluated_policy
from dreamerv3_tf import export
from dreamerv3_tf import factories
from dreamerv3_tf import logdir_checks
from dreamerv3_tf import run_files
from dreamerv3_tf.core import base
from dreamerv3_tf.core import clocks
from dreamerv3_tf.core import errors
from dreamerv3_tf.run import common


def eval_only(config, done=None):
  """done: called once the evaluation has written everything, before its envs close
  (common.when_done)."""
  # Nothing is written into the logdir before the env took its first step and the
  # policy loaded.
  logdir_checks.check_logdir(config, config.logdir, config.run.allow_other_config)
  logdir_checks.check_resume_from(config)
  evaluated_policy.check_before_loading(config)  # (main's too: a call in-process)
  step = common.Counter()
  notes = common.StartupNotes(config)
  with contextlib.ExitStack() as cleanup:
    common.lock_logdir(cleanup, config.logdir)  # one run per logdir
    driver = common.closing(cleanup, factories.make_driver(config, 'eval'))
    agent, loaded = _load(config, *base.agent_spaces(driver.obs_space, driver.act_space))
    # What run.from_checkpoint resolved to (a run's latest checkpoint: it may have saved
    # since this logdir's episodes were logged) against the record of their policy.
    evaluated_policy.check(config.logdir, loaded, config.run.from_checkpoint,
                           config.run.allow_other_config)
    driver.begin()  # the envs' first step: one that cannot step fails before any write
    common.lock_logdir(cleanup, config.logdir, create=True)
    logdir_checks.save(config, config.logdir, config.run.allow_other_config)
    evaluated_policy.record(config.logdir, loaded)  # before the first episode is logged
    scores = []  # every episode's, for the last line
    # (runs after `done`: a stop once everything is written is ignored)
    common.when_done(cleanup, lambda: notes.done(int(step), scores, what='the evaluation'))
    common.when_done(cleanup, done)  # once the logger's close, the last write, is behind
    logger = common.closing_logger(
        cleanup, factories.make_logger(config, step), config.logdir)
    should_log = clocks.Every(config.run.log_every, config.run.clock)
    driver.on_step(lambda tran, worker: step.increment())
    driver.on_episode(lambda stats, worker: logger.add(stats, prefix='epstats'))
    driver.on_episode(lambda stats, worker: scores.append(stats['score']))
    policy = lambda carry, obs: agent.policy(carry, obs, mode='eval')
    driver.reset(agent.init_policy)
    while int(step) < config.run.steps:
      driver(policy, steps=common.steps_until_check(config, step))
      if should_log(int(step)):
        common.write_logs(logger, config.logdir)
    common.write_logs(logger, config.logdir)
    if not scores:  # exit code 0 and no word, though nothing was evaluated
      print(f'Warning: no episode ended within run.steps={config.run.steps:,} env steps '
            f'({driver.length} env{"s" * (driver.length > 1)}), so no score was logged; '
            'raise run.steps above the length of an episode', file=sys.stderr, flush=True)


def load_policy(config, obs_space, act_space):
  """The policy named by run.from_checkpoint (default: this logdir's ckpt/).

  obs_space, act_space: the agent-facing spaces (core.base.agent_spaces).
  -> an object with init_policy(B) and policy(carry, obs, mode): the agent restored
  from a checkpoint, or an export.SavedPolicy for a SavedModel directory, or with
  random_agent=True and no run.from_checkpoint, a random agent.
  """
  return _load(config, obs_space, act_space)[0]


def _load(config, obs_space, act_space):
  """-> (load_policy's policy, its evaluated_policy record)."""
  if config.random_agent and not config.run.from_checkpoint:
    # A random policy's baseline has no weights to load: it was refused with 'No
    # checkpoint found in LOGDIR/ckpt: pass --config.run.from_checkpoint=PATH ...'.
    print('Evaluating a random policy (random_agent=True): no checkpoint to load.')
    return factories.make_agent(config, obs_space, act_space), evaluated_policy.RANDOM
  if logdir_checks.nothing_to_evaluate(config):  # (main refuses a local logdir's before TensorFlow)
    raise configuration.ConfigError(logdir_checks.NOTHING_TO_EVALUATE)
  source = config.run.from_checkpoint or common.checkpoint_dir(config)
  if _is_saved_model(source):
    if config.random_agent:  # the export was evaluated, silently: a checkpoint is refused
      raise checkpointing.CheckpointError(
          f'{source} is a SavedModel export of a trained policy, but random_agent=True acts '
          'at random and loads no weights; drop random_agent to evaluate it, or '
          'run.from_checkpoint for a random baseline')
    policy = export.SavedPolicy(source)
    try:
      policy.check_spaces(obs_space, act_space)
    except export.ExportError as e:  # named like a checkpoint of another task
      raise export.ExportError(
          f'{source}: {e}; evaluate it on the task it was trained on') from None
    print(f'Loaded the policy from SavedModel {source}.')
    return policy, _recorded(evaluated_policy.of_saved_model, source)
  agent = factories.make_agent(config, obs_space, act_space)
  # With `config`, a checkpoint of another size names the settings that differ (it named
  # one variable's shapes: "'con/mlp/layer0/linear/kernel' is float32[32, 16] there").
  path, names = common.load_agent(
      agent, source, obs_space, act_space, _on_its_task(source, config.task),
      config=config, agent_hint='evaluate it with the agent settings it was trained with '
      '(its size preset)')
  print(f'Loaded the agent from {path} ({len(names)} variables).')
  return agent, _recorded(
      lambda x: evaluated_policy.of_checkpoint(x, checkpointing.saved_step(x)), path)


def _recorded(record_of, path):
  """record_of(path), its read error one line (a run that trains pruned it since the
  load, say: nothing is written yet)."""
  import tensorflow as tf
  try:
    return record_of(path)
  except (OSError, tf.errors.OpError) as e:
    raise checkpointing.CheckpointError(
        f'Cannot read {path} again to record it as the policy evaluated '
        f'({errors.one_line(e, cause_only=True)}); run the command again') from None


def _on_its_task(source, task):
  """The hint for a checkpoint of another env, with the task its run's config.json
  names if that is another (the line left the user to find it)."""
  hint = 'evaluate it on the task it was trained on'
  try:
    trained = run_files.load_config(common.run_of(source)).task
  except Exception:  # noqa: BLE001 - none, unreadable (a gs:// one too): the hint alone
    return hint
  return hint if trained == task else f'{hint}, --config.task={trained}'


def _is_saved_model(source):
  """export.is_saved_model, its file error one line naming the flag (a gs:// path
  without network was 'Error: Error executing an HTTP request: ...')."""
  import tensorflow as tf
  try:
    return export.is_saved_model(source)
  except tf.errors.OpError as e:
    raise checkpointing.CheckpointError(
        f'Cannot read --config.run.from_checkpoint {source}: {errors.one_line(e)}') from None
