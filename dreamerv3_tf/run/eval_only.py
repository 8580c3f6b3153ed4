"""eval_only: runs the eval-mode policy of a trained agent and logs episode stats.

  python -m dreamerv3_tf.main --config=configs/dmc.py:eval_only \
      --config.run.from_checkpoint=~/logdir/run1/ckpt --logdir=~/logdir/run1_eval

`run.from_checkpoint` names a checkpoint file prefix or a run's ckpt directory (its
latest checkpoint is used); only the agent is restored from it.
"""

import os

import tensorflow as tf

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import factories
from dreamerv3_tf.core import clocks
from dreamerv3_tf.run import common


def eval_only(config):
  configuration.save(config, config.logdir, config.run.allow_other_config)
  step = common.Counter()
  logger = factories.make_logger(config, step)
  driver = factories.make_driver(config, 'eval')
  act_space = {k: v for k, v in driver.act_space.items() if k != 'reset'}
  agent = factories.make_agent(config, driver.obs_space, act_space)
  path = resolve_checkpoint(config.run.from_checkpoint or common.checkpoint_dir(config))
  checkpointing.check_readable(path)
  tf.train.Checkpoint(agent=agent).restore(path).expect_partial()
  print(f'Loaded agent from {path}.')
  should_log = clocks.Every(config.run.log_every)
  driver.on_step(lambda tran, worker: step.increment())
  driver.on_episode(lambda stats, worker: logger.add(stats, prefix='epstats'))
  policy = lambda carry, obs: agent.policy(carry, obs, mode='eval')
  driver.reset(agent.init_policy)
  try:
    while int(step) < config.run.steps:
      driver(policy, steps=10)
      if should_log():
        logger.write()
    logger.write()
  finally:
    driver.close()
    logger.close()


def resolve_checkpoint(path):
  """A checkpoint prefix from a prefix or a directory holding checkpoints."""
  path = os.path.expanduser(path)
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if not latest:
      raise checkpointing.CheckpointError(f'No checkpoint found in {path}')
    return latest
  return path
