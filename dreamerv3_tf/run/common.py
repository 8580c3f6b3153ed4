"""Small pieces the scripts share: counters, metric averaging, reports, checkpoints."""

import collections
import math
import os
import time
from typing import NamedTuple

import numpy as np

from dreamerv3_tf import startup
from dreamerv3_tf.core import errors
from dreamerv3_tf.core.streams import quote_for_paste


class Counter:
  """An integer that callbacks can increment (env steps, updates, episodes)."""

  def __init__(self, value=0):
    self.value = int(value)

  def increment(self, amount=1):
    self.value += int(amount)

  def __int__(self):
    return self.value

  def __index__(self):
    return self.value


class Mean:
  """Averages scalar metrics between two log writes."""

  def __init__(self):
    self._sums = collections.defaultdict(float)
    self._counts = collections.defaultdict(int)

  def add(self, metrics):
    for key, value in metrics.items():
      value = np.asarray(value)
      if value.size == 1 and np.issubdtype(value.dtype, np.number):
        self._sums[key] += float(value)
        self._counts[key] += 1

  def result(self):
    out = {k: self._sums[k] / self._counts[k] for k in self._sums}
    self._sums.clear()
    self._counts.clear()
    return out


def report(agent, stream, batches):
  """Runs `batches` reports on fresh batches; scalars averaged, videos of the first.

  The open-loop predictions of the report ('openloop/<key>/true' and '/pred') are
  logged as one video 'openloop/<key>' (see `openloop_video`).
  """
  carry = agent.init_report(stream.batch_size)
  mean, videos = Mean(), {}
  for _ in range(batches):
    carry, metrics = agent.report(carry, next(stream))
    for key, value in metrics.items():
      name = key[:-len('/true')]
      if key.startswith('openloop/') and key.endswith('/true') and name not in videos:
        videos[name] = openloop_video(value, metrics[f'{name}/pred'])
    mean.add(metrics)
  return {**mean.result(), **videos}


def openloop_video(true, pred):
  """Truth, prediction and error of RB sequences side by side, as one video.

  Args:
    true, pred: <uint8>[RB, T, H, W, C]; the first T // 2 predictions are
      reconstructions of observed steps, the rest imagined (Model.report_step).
  Returns:
    <uint8>[T, 3 H + 4, RB (W + 4), C]: rows truth, prediction, error (mid-grey is
    none); a green border on observed steps, red on imagined ones.
  """
  true, pred = np.asarray(true), np.asarray(pred)
  RB, T, H, W, C = true.shape
  error = ((pred.astype(np.int32) - true.astype(np.int32) + 255) // 2).astype(np.uint8)
  green = np.array([0, 255, 0] if C == 3 else [255] * C, np.uint8)
  red = np.array([255, 0, 0] if C == 3 else [128] * C, np.uint8)
  border = np.stack([green if t < T // 2 else red for t in range(T)])   # [T, C]
  video = np.empty((RB, T, 3 * H + 4, W + 4, C), np.uint8)
  video[:] = border[None, :, None, None, :]
  video[:, :, 2:-2, 2:-2] = np.concatenate([true, pred, error], 2)
  video = video.transpose(1, 2, 0, 3, 4)                   # [T, 3H+4, RB, W+4, C]
  return video.reshape(T, 3 * H + 4, RB * (W + 4), C)


def closing(stack, thing):
  """Registers thing.close() on `stack` (a contextlib.ExitStack) and returns thing.

  An error while closing is raised only if nothing else failed: closing a logger on
  a full disk must not hide the error that ended the run.
  """
  def exit_(exc_type, exc, tb):
    try:
      thing.close()
    except Exception:  # noqa: BLE001
      if exc_type is None:
        raise
  stack.push(exit_)
  return thing


def plot_command(logdir):
  """The command that draws `logdir`'s curves. plot reads local folders only: it
  refused the gs:// and file:// logdirs this line gave it."""
  from dreamerv3_tf.core import path_lines
  local = path_lines.local_path(logdir)
  plot = 'python -m dreamerv3_tf.plot --logdirs {} --out curves.png'
  if local is not None:
    return plot.format(quote_for_paste(local))
  name = logdir.rstrip('/').rsplit('/', 1)[-1]
  if logdir.startswith('gs://'):
    return (f'gcloud storage cp -r {quote_for_paste(logdir)} . && '
            + plot.format(quote_for_paste(name)))
  return f'copy {logdir} to a local folder, then ' + plot.format('FOLDER')


def lock_logdir(stack, logdir, create=False):
  """Holds local `logdir` for this run until `stack` closes (core/dirlock.py), so that
  a second run started in it stops with one line (LogdirError). A logdir that does not
  exist yet is held once the run creates it (`create`: now, as its first write).
  file:///x holds /x: a run there and one in /x both ran, each pruning the other's
  checkpoints."""
  from dreamerv3_tf import configuration
  from dreamerv3_tf import logdir_checks
  from dreamerv3_tf.core import dirlock
  from dreamerv3_tf.core import path_lines
  local = path_lines.local_path(logdir)
  if local is None:  # gs://: no lock to take
    return
  try:
    if create:
      os.makedirs(local, exist_ok=True)
    if os.path.isdir(local):
      stack.enter_context(dirlock.hold(local))
  except dirlock.Busy as e:
    raise logdir_checks.in_use_error(logdir, e) from None
  except OSError as e:
    raise configuration.LogdirError(
        f'Cannot create {logdir}: {errors.one_line(e, cause_only=True)}') from e


def check_still_there(logdir):
  """Raises LogdirError if `logdir` (held by lock_logdir) was deleted, renamed or
  replaced while the run ran. Call before each write: a save made its folders anew
  (makedirs), and the run went on in a new logdir that had no config.json and no
  lock, where a second run could start too."""
  from dreamerv3_tf.core import dirlock
  from dreamerv3_tf.core import path_lines
  local = path_lines.local_path(logdir)
  if local is not None and dirlock.replaced(local):
    from dreamerv3_tf import configuration
    raise configuration.LogdirError(
        f'logdir {logdir} was deleted, renamed or replaced while this run ran; it stops '
        'without writing there (a renamed logdir resumes under its new name)')


def write_logs(logger, logdir, flush=False):
  """logger.write() (flush=True: logger.flush()) into `logdir`, checked first
  (check_still_there). A file it cannot write (a full disk, metrics.jsonl made
  read-only or a directory) raises base.WriteError naming the file and the cause:
  main's line adds what is kept and how to resume ('Error: PATH; CAUSE' said neither)."""
  check_still_there(logdir)
  with errors.file_errors():
    if flush:
      logger.flush()
    else:
      logger.write()


def when_done(stack, done):
  """Registers `done()` on `stack` (an ExitStack), to run once what is registered
  after it closed without an error. Register it just before the logger, whose close
  is a run's last write: `done` then runs as the work is done, before the envs close
  (main's ignores stop signals: a Ctrl-C there stopped a run that had written
  everything, exit 130)."""
  if done is None:
    return

  def exit_(exc_type, exc, tb):
    if exc_type is None:
      done()
  stack.push(exit_)


def closing_logger(stack, logger, logdir):
  """closing() for a Logger writing into `logdir`: its close writes what is pending,
  which is dropped when the logdir was moved or replaced (check_still_there): it went
  into whatever the path named then. Register after lock_logdir (it closes first)."""
  from dreamerv3_tf.core import dirlock

  class Guard:
    def close(self):
      if '://' in logdir or not dirlock.replaced(logdir):
        with errors.file_errors():  # it writes what is pending: worded as write_logs' errors
          logger.close()

  closing(stack, Guard())
  return logger


# Env steps the loops take between their checks (log, report, save, run.duration), as
# the official code does.
STEPS_PER_CHECK = 10


def steps_until_check(config, step):
  """Env steps for the driver's next call: STEPS_PER_CHECK, fewer where run.steps comes
  first. The driver steps every env once per round, so a run ends on the first round at
  or past run.steps (10 at a time before: run.steps=5 ran 10 steps, and 85 with 3 envs
  96)."""
  return min(STEPS_PER_CHECK, config.run.steps - int(step))


def checkpoint_dir(config):
  return os.path.join(config.logdir, 'ckpt')


class StartupNotes:
  """The start's progress lines after main's first one (startup.announce, which says
  how long each part usually takes), each printed once, and how long it took."""

  def __init__(self, config):
    self._config = config
    self._start = startup.claim_start() or time.monotonic()  # our first line's time
    self._trained = False

  def envs(self, evaluate):
    run = self._config.run
    count = f'{run.envs} train' + (f' and {run.eval_envs} eval' if evaluate else '')
    where = 'each in its own process' if run.parallel else 'in this process'
    startup.say(f'Building {count} env(s) of {self._config.task} ({where}).')

  def agent(self):
    c = self._config
    if c.random_agent or not c.jit:
      what = 'random agent' if c.random_agent else 'jit=False: eager agent'
      startup.say(f'Building the agent ({what}, nothing to compile).')
      return
    startup.say('Building the agent and compiling its policy and train step with XLA.')

  def done(self, steps, scores, updates=None, what='the last eval'):
    """The run's last line, once it has written everything: how far it got, how
    long this start took, the mean score of `scores` (the episodes of `what`), and
    where to look next. Before, a finished run ended on its last table of metrics."""
    from dreamerv3_tf.core import logger
    c = self._config
    parts = [f'Done: {steps:,} env steps']
    if updates is not None:
      parts[0] += f' and {updates:,} updates'
    if steps < c.run.steps:  # run.duration ended it
      parts[0] += f' (run.duration={c.run.duration:g}s ended it before run.steps={c.run.steps:,})'
    parts[0] += f', {logger.format_duration(time.monotonic() - self._start)} after the start'
    if scores:
      mean = logger.format_number(float(sum(scores) / len(scores)))
      episodes = f'{len(scores)} episode{"s" * (len(scores) > 1)}'
      parts.append(f'{what} scored {mean} (mean of {episodes})')
    if 'jsonl' in c.logger.outputs.split(','):  # the files plot reads
      if c.script == 'eval_only':
        if scores:
          parts.append(f'their scores are in {os.path.join(c.logdir, "scores.jsonl")}')
      else:
        parts.append(f'its curves: {plot_command(c.logdir)}')
    startup.say('; '.join(parts))

  def trained(self):
    """Call after each train step; the first one says that training runs."""
    if self._trained:
      return
    self._trained = True
    run = self._config.run
    unit = 's' if run.clock == 'seconds' else ' env steps'
    if 'terminal' in self._config.logger.outputs.split(','):
      then = f'Progress lines every {run.log_every:g}{unit} (run.log_every).'
      # (Every's 0, inf and < 0: the line said 'every 0s', 'every infs' and 'every -1s')
      if run.log_every == 0:
        then = 'One progress line, at the end (run.log_every=0 turns them off).'
      elif run.log_every == math.inf:  # (clocks.Every fires at its first call, then never)
        then = ('Progress lines at the first check of a new run and at the end only '
                '(run.log_every=inf: its period never passes).')
      elif run.log_every < 0:
        then = (f'Progress lines every {STEPS_PER_CHECK} env steps (run.log_every='
                f'{run.log_every:g}: at every check of the loop).')
    else:  # (it promised progress lines, and none came)
      then = 'No progress lines: logger.outputs has no terminal.'
    # Whole seconds cut as the last line's (logger.format_duration): rounded, 3.6 s read
    # 'First update done 4 s' above 'Done: ..., 3s'.
    startup.say(f'First update done {int(time.monotonic() - self._start)} s after the start; '
                f'training. {then}')


class Worker(NamedTuple):
  """This process's part in a run.

  chief: writes the run's logdir (config.json, spaces.json, checkpoints, logs).
  number: 0 for the chief, 1... for the other processes of a multi_worker run.
  logdir: where this process writes its logs (the run's logdir for the chief,
    `<logdir>/workers/<number>` for the others, which write nothing else).
  """
  chief: bool
  number: int
  logdir: str


def worker(config):
  """-> Worker of this process (the chief of a one-process run)."""
  if config.distribute != 'multi_worker':
    return Worker(True, 0, config.logdir)
  from dreamerv3_tf import cluster_config
  chief, number = cluster_config.worker_role()
  logdir = config.logdir if chief else os.path.join(config.logdir, 'workers', str(number))
  return Worker(chief, number, logdir)


def _first_three(differences):
  """'a; b; c and 2 more': the settings a line names."""
  more = f' and {len(differences) - 3} more' if len(differences) > 3 else ''
  return '; '.join(differences[:3]) + more


def _described(spaces):
  """{key: 'float32[4]'}: what decides whether a checkpoint's agent and replay fit."""
  return {k: f'{np.dtype(v.dtype).name}{list(v.shape)}' for k, v in spaces.items()}


def _action_counts(act_space):
  """{key: n} of the discrete actions (0 .. n - 1): n sizes the agent's policy and its
  dynamics' input as much as a shape does."""
  return {k: int(np.max(v.high)) for k, v in act_space.items()
          if v.discrete and v.dtype != bool and v.shape == ()}


def made_for(config, obs_space, act_space):
  """What each checkpoint records of its run (in its loop state), so that a resume can
  name what it was made for when the logdir's config.json and spaces.json do not tell:
  a ckpt/ copied into another logdir, a config.json replaced. 'act_counts' (newer
  checkpoints): a discrete action's high edited in spaces.json (4 -> 6) named one
  variable's shapes at export and blamed the env at a resume."""
  from dreamerv3_tf import run_files
  return {'task': config.task, 'random_agent': bool(config.random_agent),
          'obs': _described(obs_space), 'act': _described(act_space),
          'act_counts': _action_counts(act_space), 'agent': run_files.agent_settings(config)}


def _spaces_difference(saved, obs_space, act_space, name="this run's"):
  """-> "its action 'action' is int32[], this run's float32[2]" for the first key whose
  dtype or shape differs between checkpoint.made_for's `saved` and the spaces now, else
  "its action 'action' is one of 4 values, this run's one of 6" for the first discrete
  action whose number of values differs (where `saved` records them)."""
  difference = _shapes_difference(saved, obs_space, act_space, name)
  if difference:
    return difference
  counts = _action_counts(act_space)
  for key, count in sorted(saved.get('act_counts', {}).items()):
    if key in counts and counts[key] != count:
      return (f'its action {key!r} is one of {count} values, {name} one of {counts[key]}')
  return None


def _shapes_difference(saved, obs_space, act_space, name):
  """_spaces_difference of the dtypes and shapes alone."""
  spaces = {('obs', k): v for k, v in _described(obs_space).items()}
  spaces.update({('action', k): v for k, v in _described(act_space).items()})
  if 'obs' in saved:
    old = {('obs', k): v for k, v in saved['obs'].items()}
    old.update({('action', k): v for k, v in saved.get('act', {}).items()})
  else:  # an older checkpoint: its replay's columns, agent outputs ('dyn/deter') left out
    kind = lambda k: 'action' if k in act_space else 'obs'
    old = {(kind(k), k): v for k, v in saved.get('columns', {}).items()
           if k in obs_space or k in act_space or not ('/' in k or k == 'stepid')}
    if not old:
      return None
  for what, key in sorted(set(old) | set(spaces), key=lambda x: (x[0] != 'obs', x[1])):
    if old.get((what, key)) != spaces.get((what, key)):
      return (f'its {what} {key!r} is {old.get((what, key)) or "(none)"}, {name} '
              f'{spaces.get((what, key)) or "(none)"}')
  return None


def check_spaces_file(config, path, obs_space, act_space):
  """run_files.check_spaces of a resume, whose checkpoint `path` (None: a new run) tells
  which of the logdir's spaces.json and the env changed: a spaces.json that checkpoint
  disagrees with, while the env has the spaces it was made for, was edited (a discrete
  action's high changed by hand was 'holds a run whose env had ...; use a new --logdir',
  though the env and the run were as they had been)."""
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import configuration
  from dreamerv3_tf import run_files
  try:
    run_files.check_spaces(config.logdir, obs_space, act_space)
  except configuration.ConfigError as error:
    saved = checkpointing.made_for(path) if path else {}
    if not saved or _spaces_difference(saved, obs_space, act_space):
      raise
    try:
      edited = _spaces_difference(saved, *run_files.load_spaces(config.logdir),
                                  name="spaces.json's")
    except configuration.ConfigError:
      raise error from None
    if not edited:
      raise
    raise configuration.ConfigError(
        f'{os.path.join(config.logdir, "spaces.json")} does not hold the spaces checkpoint '
        f'{path} was made for, which the env has ({edited}): edited or replaced? put back '
        'the one the run wrote, or move it away, and the run writes it again from its '
        'env') from None


def check_made_for(config, path, obs_space, act_space):
  """ConfigError (one line) when checkpoint `path`, which a resume is to load, was made
  for an env of other spaces: its agent's shapes and its replay's columns do not fit.
  It was TensorFlow's 'Received incompatible tensor with shape (4, 8) when attempting
  to restore variable with shape (2, 8)' (a random agent's load passed, and the env
  failed on the saved action)."""
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import configuration
  saved = checkpointing.made_for(path)
  difference = _spaces_difference(saved, obs_space, act_space)
  if not difference:
    return
  task = saved.get('task')
  if task and task != config.task:
    # A config.json naming this run's task (edited by hand, or spaces.json deleted)
    # refuses --config.task=TASK alone: the flag that resumes needs the override too.
    override = (' --config.run.allow_other_config=True'
                if _saved_task(config.logdir) == config.task else '')
    raise configuration.ConfigError(
        f'Checkpoint {path} was made for another task, {task}, not {config.task} '
        f'({difference}): pass --config.task={task}{override} to resume it, or use a new '
        f'--logdir for {config.task}')
  if task:  # the same task name: env.* settings, or the env's code, changed
    # (env.* settings other than config.json's are refused without the override)
    override = (' (with --config.run.allow_other_config=True)'
                if _saved_task(config.logdir) and not config.run.allow_other_config else '')
    raise configuration.ConfigError(
        f'Checkpoint {path} was made for {task} with other spaces ({difference}): pass '
        f'the env settings it was made with{override}, or use a new --logdir')
  raise configuration.ConfigError(
      f'Checkpoint {path} was made for another task or env ({difference}): resume it '
      f'with the task it was made for, or use a new --logdir for {config.task}')


def _saved_task(logdir):
  """-> the task logdir/config.json names, or None where there is no readable one."""
  from dreamerv3_tf import configuration
  from dreamerv3_tf import run_files
  try:
    return run_files.load_config(logdir).task
  except configuration.ConfigError:
    return None


def other_agent(config, path):
  """The line for a resume whose checkpoint `path` does not fit this run's agent because
  the logdir's config.json had another (run.allow_other_config=True let it run), or the
  checkpoint records another (a ckpt/ copied from another run), else None. TensorFlow's
  line named no setting: 'Found 179 Python objects that were not bound to checkpointed
  values' (a random agent's), or one variable's shapes."""
  from dreamerv3_tf import configuration
  from dreamerv3_tf import run_files
  try:
    saved = run_files.load_config(config.logdir)
  except configuration.ConfigError:
    saved = None
  line = saved and _other_agent_of_config(config, path, saved)
  return line or _other_agent_of_checkpoint(config, path, saved is not None)


def _other_agent_of_checkpoint(config, path, config_json=False):
  """`config_json`: the logdir's config.json has this run's agent, which refuses the
  checkpoint's settings alone ('belongs to another config'; a ckpt/ copied over a run's)."""
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import run_files
  saved = checkpointing.made_for(path)
  if 'agent' not in saved:
    return None
  override = (' with --config.run.allow_other_config=True'
              if config_json and not config.run.allow_other_config else '')
  if saved.get('random_agent') and not config.random_agent:
    return (f'Checkpoint {path} was made by a random agent (random_agent=True) and holds '
            f'no weights for this agent: pass --config.random_agent=True{override} to resume '
            'it, or use a new --logdir')
  if config.random_agent and not saved.get('random_agent'):
    return (f'Checkpoint {path} holds a trained agent, which random_agent=True cannot '
            f'resume; drop random_agent{override}, or use a new --logdir')
  difference = run_files.settings_difference(saved['agent'], config)
  if not difference:
    return None
  return (f'Checkpoint {path} was made for an agent with {_first_three(difference)}: '
          f'pass those agent settings (its size preset){override} to resume it, or use a new '
          '--logdir')


def _other_agent_of_config(config, path, saved):
  from dreamerv3_tf import run_files
  where = os.path.join(config.logdir, 'config.json')
  if saved.random_agent and not config.random_agent:
    return (f'Checkpoint {path} is of a random agent (random_agent=True in {where}) and '
            'holds no weights for this agent; run.allow_other_config=True resumes a run '
            'with other settings, not another agent: start a new --logdir')
  if config.random_agent and not saved.random_agent:
    return (f'Checkpoint {path} holds a trained agent, which random_agent=True cannot '
            'resume; drop random_agent, or start a new --logdir')
  difference = run_files.agent_difference(config.logdir, config)
  if not difference:
    return None
  from dreamerv3_tf import logdir_checks
  shapes = set(logdir_checks.shape_keys(run_files.agent_settings(saved),
                                        run_files.agent_settings(config)))
  # Those alone where they differ: a learning rate named first was asked back for nothing.
  difference = [x for x in difference if x.split('=')[0] in shapes] or difference
  return (f'Checkpoint {path} is of an agent with {_first_three(difference)} '
          f'({where}); run.allow_other_config=True resumes a run with other settings, not '
          'another agent: pass those agent settings, or start a new --logdir')


def run_of(source):
  """The logdir of checkpoint `source` (a run's ckpt/ directory or a checkpoint's
  prefix in it)."""
  return os.path.dirname(source.rstrip('/') if os.path.isdir(source) else
                         os.path.dirname(source))


def load_agent(agent, source, obs_space, act_space, hint, regex='.*',
               flag='--config.run.from_checkpoint', config=None, agent_hint=None,
               spaces_file=None):
  """checkpoint.load_agent; when the checkpoint does not fit the agent and its run's
  spaces.json shows another env, the error names the space that differs (a checkpoint
  of another task failed on variable names only, e.g. 'opt/mu/logits_action'); with
  `config`, else the agent settings of its run's config.json that differ, then
  `agent_hint` (else: use the same settings or narrow run.from_checkpoint_regex).
  `spaces_file`: the spaces.json that `obs_space` and `act_space` were read from, named
  when the checkpoint records other spaces (edited by hand: the line named one
  variable's shapes in the checkpoint)."""
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import configuration
  from dreamerv3_tf import run_files
  try:
    return checkpointing.load_agent(agent, source, regex, flag)
  except checkpointing.CheckpointError as e:
    run = run_of(source)
    try:
      difference = run_files.spaces_difference(run, obs_space, act_space)
    except configuration.ConfigError:
      difference = None  # no readable spaces.json: the error as it was
    agent_difference = [] if difference or config is None else (
        run_files.agent_difference(run, config))
    if agent_difference:  # e.g. another size: one variable's shapes said less
      raise checkpointing.CheckpointError(
          f'{source} is of a run whose agent had {_first_three(agent_difference)}; '
          + (agent_hint or 'pass the same agent settings (its size preset), or narrow '
             'run.from_checkpoint_regex to the parts that fit')) from e
    if not difference and spaces_file:
      from dreamerv3_tf import checkpoint_damage
      # (the state file read quietly: TensorFlow's reader logs its parse errors)
      listed = checkpoint_damage.listed_checkpoints(source) if os.path.isdir(source) else [
          source]
      prefix = listed[-1] if listed else None
      made = prefix and _spaces_difference(checkpointing.made_for(prefix), obs_space,
                                           act_space, name="spaces.json's")
      if made:
        raise checkpointing.CheckpointError(
            f'{spaces_file} does not hold the spaces checkpoint {prefix} was made for '
            f'({made}): edited or replaced? put back the one the run wrote, or resume the '
            'run, which writes it again from its env') from e
    if not difference:
      raise
    raise checkpointing.CheckpointError(
        f'{source} is of a run whose env had {difference}; {hint}') from e
