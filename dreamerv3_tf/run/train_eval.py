"""train_eval: train on train envs, and at each report interval evaluate on separate
eval envs with the eval-mode policy.

  python -m dreamerv3_tf.main --config=configs/dmc.py:train_eval --logdir=~/logdir/run1

Order of a start or resume (why it is this way): nothing is written into the logdir
before every check passed, so a run that stops leaves it as it was.
1. The logdir and its config.json are checked (logdir_checks.check_logdir), and the
   logdir is locked for this run (core/dirlock.py: a second run in it stops), then
   the env workers start, TensorFlow is imported while they build their envs (its
   import and theirs overlap: about 1 s of a DMC start, BENCHMARKS.md session 18),
   and the envs are waited for: a bad logdir or task fails before any compile. Envs
   in this process (run.parallel=False) are built after TensorFlow loads (see there).
2. The checkpoints are checked (checkpointing.inspect: a damaged latest one stops
   the run with the flag that resumes from the newest intact one, `run.resume_from`).
3. Agent and replays are built, then loaded before any env step: a fresh run loads
   `run.from_checkpoint`'s agent variables, a resume its own latest checkpoint, which
   holds everything (the official code loads both, the other run's first; the result
   is the same, and the other run may be gone).
   A checkpoint that does not fit stops the run, and one that has reached run.steps
   ends it, as it was (a finished run is not saved again). Then the envs take their first step
   (Driver.begin), so an env that builds but cannot step stops the run here too.
4. Only then the run writes (a new logdir is created and locked first): config.json,
   spaces.json, the logger's files, damaged checkpoints set aside (Checkpoint.tidy),
   a resume's rows of metrics.jsonl and scores.jsonl past its checkpoint moved into
   side files (Logger.resume), a fresh run's step-0 eval (as the official loop's first
   check), and its first checkpoint (the only save of a start, with from_checkpoint's
   variables in it).
Then the save clock is registered, so a resumed run does not immediately write a
redundant checkpoint. `script=train` is the same loop without the eval envs, eval
replay and eval reports; a resume of it saves on the eval replay state its checkpoint
holds (its files untouched), for a later train_eval resume.
"""

import contextlib
import os
import sys
import time

from dreamerv3_tf import config_memory
from dreamerv3_tf import config_warnings
from dreamerv3_tf import configuration
from dreamerv3_tf import factories
from dreamerv3_tf import logdir_checks
from dreamerv3_tf import run_files
from dreamerv3_tf.core import base
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import clocks
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import usage
from dreamerv3_tf.run import common
from dreamerv3_tf.run import nonfinite


def train_eval(config, evaluate=True, load_tensorflow=None, done=None):
  """load_tensorflow: imports TensorFlow (run.main's); called while the env workers
  start. This module imports none itself, so that the two overlap. done: called once
  the run has written everything, before its envs close (common.when_done)."""
  me = common.worker(config)
  if '://' in config.logdir and load_tensorflow:
    # A remote logdir is read through TensorFlow's file systems: a plain import by
    # check_logdir printed TensorFlow's start-up lines, which this one hides.
    load_tensorflow()
    load_tensorflow = None
  logdir_checks.check_logdir(config, config.logdir, config.run.allow_other_config)
  logdir_checks.check_resume_from(config)
  with contextlib.ExitStack() as cleanup:  # closes what was built, however it ends
    common.lock_logdir(cleanup, me.logdir)  # one run per logdir, held from here
    _train_eval(config, evaluate, me, cleanup, load_tensorflow,
                new_run=me.chief and not _has_config(config.logdir), done=done)


def _check_eval_spaces(task, spaces, driver_eval):
  """EnvError unless the eval envs have the train envs' agent-facing spaces: one agent
  acts in both. Before, an eval obs of another shape was an 'unexpected' ValueError of
  the policy at the first eval, and an eval env with more actions never got the others."""
  eval_spaces = base.agent_spaces(driver_eval.obs_space, driver_eval.act_space)
  for what, train, evals in zip(('obs', 'action'), spaces, eval_spaces):
    for key in sorted(set(train) | set(evals)):
      if train.get(key) != evals.get(key):
        raise base.EnvError(
            f'{task} eval envs have other spaces than its train envs: {what} {key!r} is '
            f'{train.get(key) or "(none)"} in train, {evals.get(key) or "(none)"} in eval; '
            "one agent acts in both (does the env build another for mode='eval'?)")


def _has_config(logdir):
  return '://' not in logdir and os.path.exists(os.path.join(logdir, 'config.json'))


def _train_eval(config, evaluate, me, cleanup, load_tensorflow, new_run, done):
  step, updates = common.Counter(), common.Counter()
  notes = common.StartupNotes(config)
  notes.envs(evaluate)
  modes = ('train', 'eval') if evaluate else ('train',)
  launch = lambda: [common.closing(cleanup, factories.launch_driver(config, m)) for m in modes]
  # Env workers build their envs while TensorFlow loads. Envs in this process are built
  # after it: a native library an env loads first can crash its import (dm_control
  # with MUJOCO_GL=egl loads Mesa's LLVM, which collides with TensorFlow's: a segfault).
  launches = launch() if config.run.parallel else None
  if load_tensorflow:
    load_tensorflow()
  launches = launches or launch()
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import checkpoint_damage
  driver_train = launches[0].driver()
  driver_eval = launches[1].driver() if evaluate else None
  replay_modes = {'replay_train': 'train', 'replay_eval': 'eval'} if evaluate else {
      'replay_train': 'train'}
  ckpt_dir = common.checkpoint_dir(config)
  if me.chief:
    plan = checkpointing.inspect(ckpt_dir, ['replay_train'], config.run.resume_from,
                                 expendable=['replay_eval'])
    warning = plan.path and run_files.ignored_from_checkpoint(config)
    if warning:  # (read before this run rewrites config.json)
      print(warning, file=sys.stderr, flush=True)
  else:
    # The others only read the chief's checkpoints, and look the latest up before the
    # first collective (building the agent), which the chief cannot pass before this
    # process is up: no save of this run can be newer. The one run.resume_from names, if
    # given (they loaded the latest, newer than the chief's: a damaged one it sets aside).
    plan = checkpointing.Plan(checkpointing.read_only_resume(
        ckpt_dir, config.run.resume_from), [], [])
  obs_space, act_space = base.agent_spaces(driver_train.obs_space, driver_train.act_space)
  if driver_eval:
    _check_eval_spaces(config.task, (obs_space, act_space), driver_eval)
  # A resume of the same config whose env changed (or spaces.json): before the agent is
  # built.
  common.check_spaces_file(config, plan.path, obs_space, act_space)
  if plan.path:  # and that its checkpoint was made for these spaces (a ckpt/ copied in)
    common.check_made_for(config, plan.path, obs_space, act_space)
  # Each process's replay would outgrow its machine's memory: before anything is written.
  warning = config_memory.check_replay_memory(config, obs_space, act_space)
  if warning:
    print(warning, file=sys.stderr, flush=True)
  notes.agent()
  agent = factories.make_agent(config, obs_space, act_space, plan.path)  # (seen alike)
  watch = nonfinite.Watch(  # counts, names and stops non-finite updates
      config.run.max_nonfinite_updates, getattr(agent, 'loss_terms', ()),
      suspects=config_warnings.divergence_suspects(config))
  # Replay locks each of its methods: the streams sample on their own threads while
  # the driver adds steps here (tests/test_data.py checks it without a lock around).
  replays = {k: factories.make_replay(config, mode) for k, mode in replay_modes.items()}
  for replay in replays.values():  # a resume refuses replay files of values it cannot hold
    replay.spaces = {**obs_space, **act_space}
  stream = lambda name, mode: common.closing(
      cleanup, factories.make_stream(config, replays[name], mode))
  replay_train = replays['replay_train']
  stream_train = stream('replay_train', 'train')
  stream_report = stream('replay_train', 'report')
  if evaluate:
    replay_eval, stream_eval = replays['replay_eval'], stream('replay_eval', 'eval')

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
  if evaluate:
    driver_eval.on_step(replay_eval.add)

  clocks_ = {'train': should_train, 'log': should_log, 'report': should_report,
             'save': should_save}
  drivers = {'train': driver_train, 'eval': driver_eval} if evaluate else {
      'train': driver_train}

  made_for = common.made_for(config, obs_space, act_space)

  def get_loop():
    return {'made_for': made_for, 'step': int(step), 'updates': int(updates),
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
        # Of another number of envs (a runtime key) it restores nothing: every env
        # starts anew, and a resume of run.deterministic=True was not exact, silently.
        if not drivers[k].load(v) and config.run.deterministic:
          key = 'run.envs' if k == 'train' else 'run.eval_envs'
          print(f"Warning: run.deterministic=True, but the checkpoint holds the state of "
                f"{len(v['envs'])} {k} envs and {key}={drivers[k].length}: each env "
                f"starts a new episode, so this resume is not exact (give "
                f"--config.{key}={len(v['envs'])} to resume exactly)",
                file=sys.stderr, flush=True)

  loop = checkpointing.JSONState(get_loop, set_loop)
  # script=train saves on the eval replay of the checkpoint it resumed, so that a later
  # train_eval resume finds it (it started empty, its chunk files pruned).
  ckpt = checkpointing.Checkpoint(
      ckpt_dir, config.run.keep_checkpoints, replays=replays, carry=['replay_eval'],
      expendable=['replay_eval'], agent=agent, loop=loop)
  driver_train.reset(agent.init_policy)  # a loaded checkpoint overrides the carry
  if config.run.from_checkpoint and not plan.path:
    # Another run's agent, for a fresh start. A resume loads its own checkpoint, which
    # holds the whole agent: that run may have been moved or deleted since.
    path, names = common.load_agent(
        agent, config.run.from_checkpoint, obs_space, act_space,
        'start from it on the task it was trained on, or narrow '
        'run.from_checkpoint_regex to the parts that fit', config.run.from_checkpoint_regex,
        config=config)
    print(f'Loaded {len(names)} agent variables matching '
          f'{config.run.from_checkpoint_regex!r} from {path}.')
  # Every worker resumes from the chief's checkpoint, so all start from the same
  # weights, counters and clocks (the others' replays then start as copies of the
  # chief's, and their envs from a reset).
  if plan.path:
    try:
      ckpt.load(plan.path)
    except checkpointing.CheckpointError as e:
      other = common.other_agent(config, plan.path)  # allow_other_config let it run
      if not other:
        raise
      raise checkpointing.CheckpointError(other) from e
    if int(step) >= config.run.steps:
      # Running on would log its last row again and save once more, which rotates the
      # oldest kept checkpoint out: a finished run is left as it is.
      # The warning of a damaged earlier one said it is set aside: that is a write.
      # Only those older than the resumed one had a warning, and not what a stopped
      # prune left, data without its index; those past run.resume_from had none.
      number = checkpoint_paths.checkpoint_number
      warned = [x for x in plan.damaged if (number(x) or 0) < (number(plan.path) or 0)
                and not checkpoint_damage.pruned_midway(x)]
      names = ', '.join(os.path.basename(x) for x in warned)
      verb = 'stay' if len(warned) > 1 else 'stays'
      kept = (f', so the damaged {names} named above {verb} in {ckpt_dir} until the run '
              'trains on') if warned else ''
      print(f'The run in {config.logdir} has reached step {int(step)} of run.steps='
            f'{config.run.steps}; nothing was written{kept}. To train on, pass a larger '
            '--config.run.steps.', flush=True)
      return
  if me.chief and (plan.path or '://' in config.logdir):  # (main warns a new local run)
    warning = config_warnings.untrained_run_warning(config, int(step), replay_train.items)
    if warning:
      print(warning, file=sys.stderr, flush=True)
  # The envs' first step, taken now: an env that builds but cannot step (an asset it
  # cannot load) fails before anything is written. The driver keeps the observations.
  for driver in drivers.values():
    driver.begin()

  # Every check passed: from here on the run writes into its logdir (the chief; the
  # others only their logs under workers/).
  common.lock_logdir(cleanup, me.logdir, create=True)  # a new logdir: held from its start
  if new_run and _has_config(config.logdir):
    # The same command started twice: the other run made this logdir after our checks
    # (and has ended, or the lock would have stopped us). Starting at step 0 here would
    # save over its checkpoints.
    raise configuration.LogdirError(
        f'logdir {config.logdir} was started by another run while this one started; '
        'nothing was written: run the command again to resume it')
  if me.chief:
    logdir_checks.save(run_files.resumed_config(config) if plan.path else config,
                       config.logdir, config.run.allow_other_config)
    run_files.save_spaces(config.logdir, obs_space, act_space)
  last_eval = []  # the scores of the latest evaluation's episodes, for the last line
  if me.chief:  # (runs after `done`: a stop once everything is written is ignored)
    common.when_done(cleanup, lambda: notes.done(int(step), last_eval, int(updates)))
  common.when_done(cleanup, done)  # once the logger's close, the last write, is behind
  logger = common.closing_logger(
      cleanup, factories.make_logger(config, step, me.logdir), me.logdir)
  driver_train.on_episode(lambda stats, worker: logger.add(stats, prefix='episode'))
  if evaluate:
    driver_eval.on_episode(lambda stats, worker: logger.add(stats, prefix='epstats'))
    driver_eval.on_episode(lambda stats, worker: last_eval.append(stats['score']))
  saved = [None]  # the step of this run's last save

  def save():
    # First the rows logged so far (a report's, episodes'): the resume of a run killed
    # after this save starts past them and never logs them again.
    common.write_logs(logger, me.logdir, flush=True)
    if me.chief:  # only the chief saves
      try:
        ckpt.save()
      except checkpointing.CheckpointError:
        common.check_still_there(me.logdir)  # moved while it saved: the real cause
        raise
    saved[0] = int(step)
  policy_train = lambda carry, obs: agent.policy(carry, obs, mode='train')
  policy_eval = lambda carry, obs: agent.policy(carry, obs, mode='eval')

  def report():
    if stream_report.ready():
      logger.add(common.report(agent, stream_report, config.run.report_batches),
                 prefix='report')
    if evaluate:
      driver_eval.reset(agent.init_policy)
      last_eval.clear()
      driver_eval(policy_eval, episodes=config.run.eval_eps)
      if stream_eval.ready():
        logger.add(common.report(agent, stream_eval, config.run.report_batches),
                   prefix='eval')

  if me.chief:
    ckpt.tidy(plan)
  if plan.path:
    print(f'Resumed from {plan.path} at step {int(step)}.')
    held, pruned = ckpt.beyond_keep() if me.chief else (0, [])
    if pruned:
      names = ', '.join(os.path.basename(x) for x in pruned)
      print(f'Warning: run.keep_checkpoints={config.run.keep_checkpoints} keeps fewer than '
            f'the {held} checkpoints in {ckpt_dir}: the next save deletes {names} (pass '
            f'--config.run.keep_checkpoints={held} to keep them)', file=sys.stderr, flush=True)
    with errors.file_errors():  # worded as write_logs' errors
      logger.resume()  # the rows a stopped run logged past it: logged again from here
  else:
    # A new run's first report check comes before its first env step, as the official
    # loop's (at its top): the eval of the untrained (or from_checkpoint's) policy is
    # logged at step 0. Before the save, so a resume from it neither repeats its rows
    # nor evaluates again (the loaded clock has fired). A resume asks after its steps.
    if evaluate and int(step) < config.run.steps and should_report(int(step)):
      report()
    save()  # a resume continues from here (from_checkpoint's agent included)
  should_save.mark(int(step))  # just loaded or saved: no save right away

  logged = [None]  # the step of the last train/ row

  def log():
    logger.add(watch.result(), prefix='train')
    logger.add(train_metrics.result(), prefix='train')
    logger.add(replay_train.stats(), prefix='replay')
    logger.add({'updates': int(updates)}, prefix='train')
    logger.add(usage_.stats(), prefix='usage')
    common.write_logs(logger, me.logdir)
    logged[0] = int(step)

  start = time.monotonic()  # (the wall clock may jump: NTP, a clock set by hand)
  while int(step) < config.run.steps:
    if config.run.duration and time.monotonic() - start > config.run.duration:
      break
    driver_train(policy_train, steps=common.steps_until_check(config, step))
    if should_report(int(step)):
      report()
    # The last step's log before its save: after it, the save's flush of that step's
    # rows split them into two rows.
    if should_log(int(step)) or int(step) >= config.run.steps:
      log()
    if should_save(int(step)):
      save()
  if logged[0] != int(step):
    log()  # the last stretch's metrics: a run seldom ends on a log step
  if saved[0] != int(step):
    # Once more at a step the clock saved (run.steps a multiple of save_every) rotated
    # the oldest kept checkpoint out for a copy of the latest.
    save()
  common.write_logs(logger, me.logdir)
