"""Constructors from a config: the scripts receive these, never configs to pick apart."""

import functools

import numpy as np

MODES = ('train', 'eval')


def env_seed(config, mode, index):
  """Independent seeds for every (mode, env index): train and eval never share one.

  The processes of a multi_worker run each add their number, so they collect
  different data (worker 0 keeps the seeds of a one-process run).
  """
  entropy = [int(config.seed), MODES.index(mode), int(index)]
  worker = worker_number(config)
  if worker:
    entropy.append(worker)
  return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def worker_number(config):
  """This process's number in a multi_worker cluster (TF_CONFIG); 0 otherwise."""
  if config.distribute != 'multi_worker':
    return 0
  from dreamerv3_tf import cluster_config
  return cluster_config.worker_role()[1]


def env_fns(config, mode):
  """Constructors the driver can send to env workers: functools.partial of a module
  function with plain-data arguments (no pickle)."""
  from dreamerv3_tf import envs
  count = config.run.envs if mode == 'train' else config.run.eval_envs
  env_config = config.env.to_dict()
  return [
      functools.partial(envs.make_env, config.task, env_config, env_seed(config, mode, i), mode)
      for i in range(count)]


def make_env(config, mode='train', index=0):
  return env_fns(config, mode)[index]()


def make_driver(config, mode):
  return launch_driver(config, mode).driver()


def launch_driver(config, mode):
  """-> core.driver.Launch: the env workers of `mode` start now, `.driver()` waits."""
  from dreamerv3_tf.core import driver
  return driver.Launch(env_fns(config, mode), parallel=config.run.parallel,
                       timeout=config.run.env_timeout, name=f'{config.task} {mode} env')


def replay_capacity(config, mode):
  """Steps the replay of `mode` holds: the eval replay a fraction of the train one."""
  if mode == 'train':
    return int(config.replay.size)
  return max(1, int(config.replay.size * config.replay.eval_fraction))


def make_replay(config, mode):
  from dreamerv3_tf.core import replay
  from dreamerv3_tf.core import selectors
  capacity = replay_capacity(config, mode)
  # The eval replay only feeds reports, so its sequences are report-long.
  length = config.batch_length if mode == 'train' else config.report_length
  length += config.replay_context
  selector = selectors.make_selector(
      dict(config.replay.fracs), dict(config.replay.prio), config.replay.recexp,
      seed=env_seed(config, mode, 1 << 16))
  return replay.Replay(
      length=length, capacity=int(capacity), chunksize=config.replay.chunksize,
      online=config.replay.online and mode == 'train', selector=selector,
      seed=env_seed(config, mode, 1 << 17), name=f'replay_{mode}',
      save_updates=config.replay.save_updates or config.run.deterministic)


def make_stream(config, replay, mode):
  """mode: 'train' (batch_length) or 'report' / 'eval' (report_length).

  Training starts once the replay holds batch_size * batch_length sequences, as
  in the official code (earlier, the first updates would see a few sequences many
  times, during the learning-rate warm-up); reports need one sequence.
  """
  from dreamerv3_tf import data
  length = config.batch_length if mode == 'train' else config.report_length
  return data.Stream(
      replay, config.batch_size, length + config.replay_context,
      mode='train' if mode == 'train' else 'report',
      prefetch=0 if config.run.deterministic else 2,
      min_items=sequences_before_training(config) if mode == 'train' else 1)


def sequences_before_training(config):
  """Sequences the train replay holds before the first update (as the official code)."""
  return config.batch_size * config.batch_length


def make_agent(config, obs_space, act_space, checkpoint=None):
  """checkpoint: the one the run resumes (None: none), which every process of a
  multi_worker run must see alike (distribute.check_same_flags)."""
  if config.random_agent:
    from dreamerv3_tf.agent import random
    return random.RandomAgent(obs_space, act_space, config)
  from dreamerv3_tf import config_memory
  from dreamerv3_tf import configuration
  # Before any weight is made: a conv stack too big was found by the OOM killer.
  config_memory.check_agent_memory(config, obs_space)
  configuration.check_image_decoder(config, obs_space)
  from dreamerv3_tf import distribute
  from dreamerv3_tf.agent import agent
  strategy = distribute.make_strategy(config.distribute)
  distribute.check_same_flags(  # (multi_worker)
      strategy, config, obs_space, act_space, checkpoint)
  # Built in the strategy's scope: variables are mirrored, `train` runs per replica.
  with strategy.scope():
    return agent.Agent(obs_space, act_space, config)


def make_logger(config, step, logdir=None):
  """A Logger writing to the outputs named in config.logger.outputs, in `logdir`
  (default config.logdir)."""
  import tensorflow as tf
  from dreamerv3_tf.core import logger as logging
  logdir = logdir or config.logdir
  files = dict(opener=tf.io.gfile.GFile, makedirs=tf.io.gfile.makedirs)  # gs:// too
  if '://' in logdir:  # (a resume rewrites the files through them)
    from dreamerv3_tf.gfile import GFILES
    files['fs'] = GFILES
  outputs = []
  names = [x for x in config.logger.outputs.split(',') if x]
  if 'terminal' in names:
    trains = config.script != 'eval_only' and config.run.train_ratio > 0
    outputs.append(logging.TerminalOutput(
        total_steps=int(config.run.steps), eta_after='train/updates' if trains else None))
  if 'jsonl' in names:
    outputs.append(logging.JSONLOutput(logdir, 'metrics.jsonl', **files))
    outputs.append(logging.JSONLOutput(
        logdir, 'scores.jsonl', pattern='score|length', **files))
  if 'tensorboard' in names:
    from dreamerv3_tf import tensorboard
    outputs.append(tensorboard.TensorBoardOutput(
        logdir.rstrip('/') + '/tb', fps=config.logger.fps))
  return logging.Logger(step, outputs)
