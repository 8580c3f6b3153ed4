"""train_eval: train on train envs, and at each report interval evaluate on separate
eval envs with the eval-mode policy.

  python -m dreamerv3_tf.main --config=configs/dmc.py:train_eval --logdir=~/logdir/run1

Order of a start (as in the official code): the agent variables named by
`run.from_checkpoint` are loaded first; then this run's own latest checkpoint is
loaded over everything (a resume continues from it, not from the other run), or,
on a fresh start, the first checkpoint is written (with those variables in it);
then the save clock is registered. All before any env step, and at most one save.
`script=train` is the same loop without the eval envs, eval replay and reports.
"""

import time

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import factories
from dreamerv3_tf.core import base
from dreamerv3_tf.core import clocks
from dreamerv3_tf.core import usage
from dreamerv3_tf.run import common
from dreamerv3_tf.run import nonfinite


def train_eval(config, evaluate=True):
  me = common.worker(config)
  resume = None
  if me.chief:
    configuration.save(config, config.logdir, config.run.allow_other_config)
  else:  # the others only read the run's logdir
    configuration.check_saved(config, config.logdir, config.run.allow_other_config)
    # Looked up before the first collective (building the agent), which the chief
    # cannot pass before this process is up: no save of this run can be newer.
    resume = checkpointing.latest(common.checkpoint_dir(config))
  step, updates = common.Counter(), common.Counter()
  notes = common.StartupNotes(config)
  logger = factories.make_logger(config, step, me.logdir)
  notes.envs(evaluate)
  driver_train = factories.make_driver(config, 'train')
  driver_eval = factories.make_driver(config, 'eval') if evaluate else None
  obs_space, act_space = base.agent_spaces(driver_train.obs_space, driver_train.act_space)
  if me.chief:
    configuration.save_spaces(config.logdir, obs_space, act_space)
  notes.agent()
  agent = factories.make_agent(config, obs_space, act_space)
  watch = nonfinite.Watch(  # counts, names and stops non-finite updates
      config.run.max_nonfinite_updates, getattr(agent, 'loss_terms', ()))
  # Replay locks each of its methods: the streams sample on their own threads while
  # the driver adds steps here (tests/test_data.py checks it without a lock around).
  replay_train = factories.make_replay(config, 'train')
  replays = {'replay_train': replay_train}
  stream_train = factories.make_stream(config, replay_train, 'train')
  stream_report = factories.make_stream(config, replay_train, 'report')
  streams = [stream_train, stream_report]
  if evaluate:
    replay_eval = replays['replay_eval'] = factories.make_replay(config, 'eval')
    stream_eval = factories.make_stream(config, replay_eval, 'eval')
    streams.append(stream_eval)

  batch_steps = config.batch_size * config.batch_length
  should_train = clocks.Ratio(config.run.train_ratio / batch_steps)
  every = lambda seconds_or_steps: clocks.Every(seconds_or_steps, config.run.clock)
  should_log = every(config.run.log_every)
  should_report = every(config.run.report_every)
  should_save = every(config.run.save_every)
  train_metrics = common.Mean()
  usage_ = usage.Usage()  # RSS, fds, threads: a leak shows over a long run
  carry_train = [agent.init_train(config.batch_size)]

  def train(tran, worker):
    if not stream_train.ready():
      return
    for _ in range(should_train(int(step))):
      batch = next(stream_train)
      carry, outs, metrics = agent.train(carry_train[0], batch)
      updates.increment()
      if watch.skipped(int(updates), metrics, batch):
        continue  # its latents may be NaN: the carry and the replay keep theirs
      carry_train[0] = carry
      if 'replay' in outs:
        replay_train.update(outs['replay'])
      train_metrics.add(metrics)
      notes.trained()

  driver_train.on_step(replay_train.add)
  driver_train.on_step(lambda tran, worker: step.increment())
  driver_train.on_step(train)
  driver_train.on_episode(lambda stats, worker: logger.add(stats, prefix='episode'))
  if evaluate:
    driver_eval.on_step(replay_eval.add)
    driver_eval.on_episode(lambda stats, worker: logger.add(stats, prefix='epstats'))

  clocks_ = {'train': should_train, 'log': should_log, 'report': should_report,
             'save': should_save}
  drivers = {'train': driver_train, 'eval': driver_eval} if evaluate else {
      'train': driver_train}

  def get_loop():
    return {'step': int(step), 'updates': int(updates),
            'skipped_updates': watch.total,
            'clocks': {k: v.save() for k, v in clocks_.items()},
            'drivers': {k: v.save() for k, v in drivers.items()}}

  def set_loop(state):
    step.value, updates.value = state['step'], state['updates']
    watch.total = state.get('skipped_updates', 0)  # older checkpoints lack it
    for k, v in state['clocks'].items():
      clocks_[k].load(v)  # a loaded clock counts as triggered: no redundant save
    for k, v in state['drivers'].items():
      if k in drivers and me.chief:  # the saved envs are the chief's own
        drivers[k].load(v)

  loop = checkpointing.JSONState(get_loop, set_loop)
  ckpt = checkpointing.Checkpoint(
      common.checkpoint_dir(config), config.run.keep_checkpoints,
      replays=replays, agent=agent, loop=loop)
  driver_train.reset(agent.init_policy)  # a loaded checkpoint overrides the carry
  if config.run.from_checkpoint:  # another run's agent; this run's checkpoint wins
    path, names = checkpointing.load_agent(
        agent, config.run.from_checkpoint, config.run.from_checkpoint_regex)
    print(f'Loaded {len(names)} agent variables matching '
          f'{config.run.from_checkpoint_regex!r} from {path}.')
  # Only the chief saves; every worker resumes from the chief's checkpoint, so all
  # start from the same weights, counters and clocks (the others' replays then
  # start as copies of the chief's, and their envs from a reset).
  save = ckpt.save if me.chief else lambda: None
  resumed = ckpt.load_or_save() if me.chief else bool(resume and ckpt.load(resume))
  if resumed:
    print(f'Resumed from {ckpt.latest if me.chief else resume} at step {int(step)}.')
  should_save.mark(int(step))  # just loaded or saved: no save right away

  policy_train = lambda carry, obs: agent.policy(carry, obs, mode='train')
  policy_eval = lambda carry, obs: agent.policy(carry, obs, mode='eval')
  start = time.time()
  try:
    while int(step) < config.run.steps:
      if config.run.duration and time.time() - start > config.run.duration:
        break
      driver_train(policy_train, steps=10)
      if should_report(int(step)):
        if stream_report.ready():
          logger.add(common.report(agent, stream_report, config.run.report_batches),
                     prefix='report')
        if evaluate:
          driver_eval.reset(agent.init_policy)
          driver_eval(policy_eval, episodes=config.run.eval_eps)
          if stream_eval.ready():
            logger.add(common.report(agent, stream_eval, config.run.report_batches),
                       prefix='eval')
      if should_log(int(step)):
        logger.add(watch.result(), prefix='train')
        logger.add(train_metrics.result(), prefix='train')
        logger.add(replay_train.stats(), prefix='replay')
        logger.add({'updates': int(updates)}, prefix='train')
        logger.add(usage_.stats(), prefix='usage')
        logger.write()
      if should_save(int(step)):
        save()
    save()
    logger.write()
  finally:
    for stream in streams:
      stream.close()
    driver_train.close()
    if evaluate:
      driver_eval.close()
    logger.close()
