"""Warnings of settings that are legal but likely a mistake: a run that ends before it
trains, one that goes long without a progress line (it looks hung), keys its script
never reads, eval envs that never step, agent values far beyond any the configs use. A
line each, printed as the run starts; the run goes on.
"""

import math
import os

from dreamerv3_tf import config_memory
from dreamerv3_tf import configuration
from dreamerv3_tf import factories


# Updates per env step beyond which a run is warned: the shipped configs make at most 1
# (train_ratio 32-1024 over batch_size x batch_length 1024; debug 16 over 32), and
# high update-to-data work uses up to about 20. At 1e9 a run made about 3e7 updates
# between two env steps and printed nothing more: it looked hung.
MANY_UPDATES_PER_STEP = 100


def train_ratio_warning(config):
  """-> a warning line when run.train_ratio asks for more than MANY_UPDATES_PER_STEP
  updates per env step, else None."""
  per_step = config.run.train_ratio / (config.batch_size * config.batch_length)
  if config.script == 'eval_only' or per_step <= MANY_UPDATES_PER_STEP:
    return None
  return (f'Warning: run.train_ratio={config.run.train_ratio:g} makes {per_step:,.0f} '
          f'updates per env step (train_ratio / (batch_size x batch_length) = '
          f'{config.run.train_ratio:g} / {config.batch_size * config.batch_length}); the '
          'configs make at most 1 (train_ratio 32-1024), and progress lines come between '
          'env steps, so the run may look hung')


def steps_before_training(config):
  """-> env steps after which the train replay first holds the sequences training waits
  for: each env's first train_len - 1 steps start none (a sequence is train_len steps of
  one env), every later step one, and the envs step in turn."""
  train_len = config.batch_length + config.replay_context
  return factories.sequences_before_training(config) + config.run.envs * (train_len - 1)


def untrained_run_warning(config, step=0, items=0):
  """-> a warning line when the run ends before training starts, else None: run.steps=46
  of the debug preset ended with 'Done: 46 env steps and 0 updates' and no word why. A
  warning, not an error: a short run without updates is a cheap check of an env or a
  logdir, and a resume with a larger run.steps trains on its replay.

  A resume's `step` and `items`, the env step its checkpoint holds and the sequences of
  its train replay, are known once the checkpoint loads (run/train_eval.py; main warns
  a new run before TensorFlow): one that has reached run.steps writes nothing, one whose
  replay holds enough trains at once, and both were warned before they loaded. Its envs
  then add at most one sequence per env step to its replay."""
  c = config
  if c.script == 'eval_only' or c.random_agent or c.run.train_ratio == 0:
    return None  # nothing to train, or asked for none
  wanted, envs = factories.sequences_before_training(c), c.run.envs
  if step >= c.run.steps or items >= wanted:
    return None
  need = step + wanted - items if step else steps_before_training(c)
  if step + -(-(c.run.steps - step) // envs) * envs >= need:  # it ends on a whole round
    return None
  train_len = c.batch_length + c.replay_context
  held = (f'; the replay of its checkpoint (env step {step:,}) holds {items:,}, and '
          f'{envs} env(s) add the rest by env step {need:,} at the earliest' if step else
          f', which {envs} env(s) hold after {need:,} env steps')
  return (f'Warning: run.steps={c.run.steps:,} ends before training starts, so the run '
          f'makes no update: training waits for {wanted:,} sequences in the replay '
          f'(batch_size {c.batch_size} x batch_length {c.batch_length}) of {train_len} '
          f'steps of one env each{held}; give run.steps >= {need:,} to train')


# An eval or a report this long passes without a progress line: the configs play 1-3
# episodes and run 1 batch.
MANY_EVAL_EPISODES = 100
MANY_REPORT_BATCHES = 100
# Imagined steps per start: each update's imagination grows with it (the configs use 15).
MANY_IMAGINED_STEPS = 1000
# Layers of one stack (the configs use 1-3): each is built in Python, then compiled.
MANY_LAYERS = 100
# Env steps per agent step (the configs repeat 1-4): an env whose episodes never end took
# 1e9 of them in one step, which only run.env_timeout ended.
MANY_REPEATS = 1000


def look_hung_warnings(config):
  """-> warning lines for the settings that make the run go long without a progress line
  (run.train_ratio, run.eval_eps, run.report_batches, agent.imag_length, the env's
  repeat): eval_eps=1e9
  played episodes for ever after the first report, and report_batches=1e5 stayed in its
  first report, each without a word."""
  lines = [train_ratio_warning(config)]
  reports = config.script != 'eval_only' and config.run.report_every != 0  # 0: never
  if reports and config.script == 'train_eval' and config.run.eval_eps > MANY_EVAL_EPISODES:
    lines.append(f'Warning: run.eval_eps={config.run.eval_eps:,} makes every eval (each '
                 f'run.report_every) play {config.run.eval_eps:,} whole episodes before '
                 'training goes on; the configs play 1-3, and no progress line comes '
                 'meanwhile, so the run may look hung')
  if reports and config.run.report_batches > MANY_REPORT_BATCHES:
    lines.append(f'Warning: run.report_batches={config.run.report_batches:,} makes every '
                 f'report (each run.report_every) run {config.run.report_batches:,} batches '
                 'before training goes on; the configs run 1, and no progress line comes '
                 'meanwhile, so the run may look hung')
  deep = [(k, v) for k, v in configuration.dotted_items(config.agent.to_dict(), 'agent.')
           if k.endswith('layers') and v > MANY_LAYERS and _fits(config, k, v)]
  if deep:  # enc.layers=1e5 of 16 units fits in memory, and built layers for an hour
    key, value = deep[0]
    lines.append(f'Warning: {key}={value:,} makes that many layers; the configs use 1-3, '
                 'and building and compiling them may take hours, so the run may look hung')
  if config.script != 'eval_only' and config.agent.imag_length > MANY_IMAGINED_STEPS:
    # imag_length=100000 ran for minutes without a line until timeout stopped it
    lines.append(f'Warning: agent.imag_length={config.agent.imag_length:,} makes every '
                 f'update imagine {config.agent.imag_length:,} steps from each start; the '
                 'configs imagine 15, and the first update may take minutes, so the run may '
                 'look hung')
  suite = config.task.split('_', 1)[0]
  section = 'gym' if suite == 'py' else suite  # (py_ tasks take env.gym's options)
  repeat = config.env[section].get('repeat') if section in config.env else None
  if configuration.is_number(repeat) and repeat > MANY_REPEATS:
    lines.append(f'Warning: env.{section}.repeat={repeat:,} makes every agent step up to '
                 f'{repeat:,} env steps (fewer where an episode ends); the configs repeat 1-4, '
                 'and a step of an env whose episodes do not end soon outlasts '
                 f'run.env_timeout={config.run.env_timeout:g}s, which then stops the run (or '
                 'restarts the env, in a worker), so the run may look hung until then')
  return [x for x in lines if x]


def idle_eval_envs_warning(config):
  """-> a warning line when train_eval builds more eval envs than an eval has episodes,
  else None: each eval env plays its share of run.eval_eps, and one of no share never
  steps, so eval_envs=3 with eval_eps=1 built 2 env workers that did nothing, without a
  word. (Building only eval_eps of them would change the env count with eval_eps, a
  run-time key, which a deterministic resume's saved env states depend on.)"""
  run = config.run
  if config.script != 'train_eval' or run.eval_envs <= run.eval_eps:
    return None
  episodes = f'{run.eval_eps} episode' + ('s' if run.eval_eps > 1 else '')
  return (f'Warning: run.eval_envs={run.eval_envs} builds {run.eval_envs} eval envs, but an '
          f'eval of run.eval_eps={episodes} steps only {run.eval_eps} of them (each env '
          'plays its share of the episodes; one of no share never steps): give '
          f'--config.run.eval_envs={run.eval_eps}, or more run.eval_eps')


# Agent values far beyond the configs' (a warning each; lr 1e30 and a loss weight of 1e30
# skipped every update as not finite, free_nats=1e30 and agc=1e30 ran to the end, each
# without naming the key). LaProp moves every weight by about lr per update (the configs:
# 4e-5), so past 1 training diverges.
MAX_LR = 1.0
# It divides out a common scale of the losses, so only their ratios matter (the configs
# weigh them 3e-4 to 1): one beyond 1e6 drowns the others, and past about 1e18 the
# gradient's sum of squares overflows float32 (an update skipped as not finite).
MAX_LOSS_WEIGHT = 1e6
# AGC clips a tensor's gradient to agc x its weights' norm (floored at 1e-3); the configs'
# 0.3 clipped half the tensors of a debug run's first updates, of gradient norm 6-9 in all.
MAX_AGC = 1e6


def far_out_values(config):
  """-> [(key, value, why, may diverge)] the agent values far beyond the configs', each
  with the phrase why it is pointless or harmful, and whether it may make updates
  non-finite (those the stop line of a diverged run names). None for eval_only or a
  random agent, which train nothing."""
  if config.script == 'eval_only' or config.random_agent:
    return []
  a, out = config.agent, []
  if a.opt.lr > MAX_LR:
    out.append(('agent.opt.lr', a.opt.lr, 'LaProp moves every weight by about lr per '
                f'update, so past {MAX_LR:g} training diverges (the configs use 4e-05)', True))
  for key, value in configuration.loss_weights(a):
    if value > MAX_LOSS_WEIGHT:
      out.append((f'agent.{key}', value, 'the optimizer divides out a common scale of the '
                  'losses, so this weight only drowns the others (the configs weigh them '
                  "3e-4 to 1), and past about 1e18 the gradient's squares overflow float32, "
                  'skipping every update as not finite', True))
  if a.opt.agc > MAX_AGC:
    out.append(('agent.opt.agc', a.opt.agc, 'it turns gradient clipping off: AGC clips only '
                "a gradient whose norm exceeds agc x its weights' norm (at least 1e-3); the "
                'configs use 0.3, and agc=0 turns clipping off on purpose', False))
  most = kl_bound(a.rssm)
  # (no tolerance: one just under the bound leaves the KL losses nearly off as well)
  if most is not None and a.rssm.free_nats >= most:
    r = a.rssm
    out.append(('agent.rssm.free_nats', r.free_nats, 'it turns the KL losses (dyn and rep) '
                f'off: each is at most agent.rssm.stoch x log(classes / unimix) = {r.stoch} x '
                f'log({r.classes} / {r.unimix:g}) = {most:.4g} nats, and free nats clip them '
                'from below, so they are constant and train nothing (the configs use 1)',
                False))
  return out


def kl_bound(rssm):
  """-> the most either KL loss can be, in nats, else None (unimix 0: no bound). Each of
  the `stoch` categoricals' KL is at most log(1 / the prior's least probability), and
  unimix mixes unimix / classes into every one (agent/rssm.py kl_losses)."""
  if not rssm.unimix > 0:
    return None
  return rssm.stoch * math.log(rssm.classes / rssm.unimix)


def far_out_warnings(config):
  """-> a warning line for each of far_out_values."""
  return [f'Warning: {key}={value:g} is far beyond the values the configs use: {why}'
          for key, value, why, _ in far_out_values(config)]


def divergence_suspects(config):
  """-> ['key=value', ...] the far-out values that may make every update non-finite."""
  return [f'{key}={value:g}' for key, value, _, diverges in far_out_values(config)
          if diverges]


# Keys a script never reads (script -> {key: what it reads instead}): set on the
# command line, they changed nothing without a word.
_UNREAD = {
    'eval_only': {
        'run.eval_eps': 'it plays run.steps env steps and scores every episode that ends in '
                        'them; give --config.run.steps to set how long it evaluates',
        'run.envs': 'its envs are run.eval_envs',
        'run.from_checkpoint_regex': 'it evaluates the whole agent of run.from_checkpoint'},
}


def unread_keys_warnings(config, given):
  """-> a warning line for each key of `given` (those the command line set) that
  config.script never reads: eval_only with --config.run.eval_eps=5 evaluated
  run.steps env steps (29 episodes of CartPole in 300), and run.envs=8 one env."""
  lines = []
  for key, instead in _UNREAD.get(config.script, {}).items():
    section, name = key.split('.')
    if key in given:
      lines.append(f'Warning: {key}={config[section][name]} is not read by '
                   f'script={config.script}: {instead}')
  if ('run.from_checkpoint_regex' in given and not config.run.from_checkpoint
      and config.script != 'eval_only'):  # (a resume given both: ignored_from_checkpoint)
    lines.append(f'Warning: run.from_checkpoint_regex={config.run.from_checkpoint_regex!r} '
                 'is not read without run.from_checkpoint: it picks the variables a new run '
                 'takes from that checkpoint')
  return lines + _other_suite_warnings(config, given)


# Our Atari files, named as their sections: the same games under either task prefix.
_ATARI_FILES = ('atari', 'atari100k')


def other_atari_file_warning(config, path):
  """-> a warning line for a task of one Atari section under our config file of the
  other (configs/atari100k.py with task=atari_pong ran env.atari's sticky 96x96 gray
  frames, not the benchmark's, without a word), else None. `path`: the --config file."""
  ours = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
  name = os.path.splitext(os.path.basename(path or ''))[0]
  suite, _, game = config.task.partition('_')
  if (name not in _ATARI_FILES or suite not in _ATARI_FILES or suite == name
      or os.path.dirname(os.path.abspath(path)) != ours):
    return None
  read, meant = config.env[suite], config.env[name]
  differ = ', '.join(f'{k}={tuple(v) if isinstance(v, list) else v!r}'
                     for k, v in read.items() if meant.get(k) != v)
  whose = (f'whose benchmark is task=atari100k_{game}' if name == 'atari100k' else
           f'whose tasks are atari_{game}')
  return (f'Warning: task={config.task} reads env.{suite} ({differ}), not env.{name} of '
          f'configs/{name}.py, {whose}')


def _other_suite_warnings(config, given):
  """A warning line for each env.<section>.KEY of `given` that the task's env does not
  read: an atari100k task reads env.atari100k, and --config.env.atari.sticky=True (the
  Atari suite's name) changed nothing, without a word."""
  from dreamerv3_tf.envs import registry  # numpy only
  suite = config.task.split('_', 1)[0]
  own = 'gym' if suite == 'py' else registry.SUITES[suite][2]  # (a checked task)
  unread = {x[2] for x in registry.SUITES.values()} - registry.sections_read(config.task)
  lines = []
  for key in sorted(given):
    parts = key.split('.')
    if len(parts) != 3 or parts[0] != 'env' or parts[1] not in unread:
      continue
    name = parts[2]
    hint = (f'; give --config.env.{own}.{name}' if name in config.env[own] else
            f' ({suite} tasks take no {name})')
    lines.append(f'Warning: {key}={config.env[parts[1]][name]!r} is not read by '  # (!r: one line)
                 f'task={config.task}, whose env reads env.{own}{hint}')
  return lines


def _fits(config, key, layers):
  """Whether a stack of `layers` layers (config key `key`) may fit in memory when
  trained: one that cannot is a config error of the memory check (its warning came as a
  second line before it)."""
  from dreamerv3_tf.envs import memory
  section, name = key.split('.')[1:]
  units = config.agent[section]['hidden' if section == 'rssm' else 'units']
  available = memory.available_bytes()
  need = config_memory.bytes_needed(units * units * (layers - 1),
                                    config_memory.trains_on_cpu(config))
  return available is None or need <= available
