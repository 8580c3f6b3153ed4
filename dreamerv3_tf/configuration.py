"""Checks a config, and saves / compares it in a logdir.

A saved config.json holds what was set, nothing derived: sizes that follow from
it (the eval replay's capacity) are computed where their object is made
(`factories`), and checked here.
"""

import json

import ml_collections as mlc

from dreamerv3_tf import factories

SCRIPTS = ('train', 'train_eval', 'eval_only')
STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
DTYPES = ('float32', 'bfloat16', 'float16')
SUITES = ('dmc', 'gym', 'atari', 'atari100k', 'crafter', 'dummy', 'py')


class ConfigError(ValueError):
  """A config that cannot run; the message is one line naming the problem."""


def finalize(config):
  """Validates `config` in place, fills derived values, and returns it."""
  c = config
  _check(c.script in SCRIPTS, f'script={c.script!r}; choose one of {SCRIPTS}')
  _check(c.distribute in STRATEGIES,
         f'distribute={c.distribute!r}; choose one of {STRATEGIES}')
  _check(c.compute_dtype in DTYPES,
         f'compute_dtype={c.compute_dtype!r}; choose one of {DTYPES}')
  suite = c.task.split('_', 1)[0]
  _check('_' in c.task and suite in SUITES,
         f'task={c.task!r}; expected <suite>_<name> with suite one of {SUITES}')
  for key in ('batch_size', 'batch_length', 'report_length'):
    _check(c[key] >= 1, f'{key}={c[key]} must be >= 1')
  _check(c.replay_context >= 0, f'replay_context={c.replay_context} must be >= 0')
  for key in ('envs', 'eval_envs', 'eval_eps', 'report_batches', 'keep_checkpoints'):
    _check(c.run[key] >= 1, f'run.{key}={c.run[key]} must be >= 1')
  _check(c.run.clock in ('seconds', 'steps'),
         f"run.clock={c.run.clock!r}; choose 'seconds' or 'steps'")
  _check(not c.run.deterministic or c.run.clock == 'steps',
         "run.deterministic=True needs run.clock='steps' (wall-clock intervals are not "
         'reproducible)')
  if c.distribute == 'multi_worker':
    # Every worker must make the same number of updates (each is a collective).
    _check(not c.run.duration,
           f'run.duration={c.run.duration} cannot stop the workers of a multi_worker run '
           'after the same update; limit the run with run.steps instead')
    _check(c.script != 'eval_only',
           "script=eval_only trains nothing; run it with distribute='default'")
  _check(c.run.train_ratio >= 0, f'run.train_ratio={c.run.train_ratio} must be >= 0')
  _check(c.run.steps >= 0, f'run.steps={c.run.steps} must be >= 0')
  _check(c.run.max_nonfinite_updates >= 0,
         f'run.max_nonfinite_updates={c.run.max_nonfinite_updates} must be >= 0 '
         '(0 never stops)')
  fracs = dict(c.replay.fracs)
  _check(all(v >= 0 for v in fracs.values()) and abs(sum(fracs.values()) - 1) < 1e-6,
         f'replay.fracs={fracs} must be non-negative and sum to 1')
  _check(0 < c.replay.eval_fraction <= 1,
         f'replay.eval_fraction={c.replay.eval_fraction} must be in (0, 1]')
  train_len = c.batch_length + c.replay_context
  report_len = c.report_length + c.replay_context
  _check(c.replay.size >= c.batch_size * train_len,
         f'replay.size={c.replay.size} is smaller than one batch '
         f'(batch_size {c.batch_size} x (batch_length {c.batch_length} + '
         f'replay_context {c.replay_context}))')
  eval_size = factories.replay_capacity(c, 'eval')
  _check(eval_size >= report_len,
         f'eval replay capacity {eval_size} (replay.size x eval_fraction) '
         f'is shorter than one report sequence ({report_len} steps)')
  _check(c.replay.chunksize >= 1, f'replay.chunksize={c.replay.chunksize} must be >= 1')
  outputs = [x for x in c.logger.outputs.split(',') if x]
  unknown = set(outputs) - {'terminal', 'jsonl', 'tensorboard'}
  _check(not unknown, f'logger.outputs has unknown entries {sorted(unknown)}')
  a = c.agent
  _check(a.rssm.deter % a.rssm.blocks == 0,
         f'agent.rssm.deter={a.rssm.deter} must be divisible by blocks={a.rssm.blocks}')
  _check(a.rssm.hidden % a.rssm.blocks == 0,
         f'agent.rssm.hidden={a.rssm.hidden} must be divisible by blocks={a.rssm.blocks}')
  _check(a.imag_length >= 1, f'agent.imag_length={a.imag_length} must be >= 1')
  return c


def save(config, logdir, allow_other=False):
  """Writes config.json into logdir; refuses a logdir that belongs to another config.

  The keys that may differ on resume (how long to run, how often to log) are
  ignored in the comparison. Works for local and gs:// logdirs (tf.io.gfile).
  """
  from dreamerv3_tf.gfile import GFILES as fs
  check_saved(config, logdir, allow_other)
  path = fs.join(logdir, 'config.json')
  fs.makedirs(logdir)
  tmp = path + '.tmp'
  with fs.open(tmp, 'w') as f:
    f.write(to_json(config))
  fs.replace(tmp, path)


def check_saved(config, logdir, allow_other=False):
  """Raises ConfigError if logdir's config.json (if any) is another config."""
  from dreamerv3_tf.gfile import GFILES as fs
  path = fs.join(logdir, 'config.json')
  if not fs.exists(path):
    return
  with fs.open(path, 'r') as f:
    old = json.load(f)
  diff = _diff(_comparable(old), _comparable(json.loads(to_json(config))))
  if diff and not allow_other:
    raise ConfigError(
        f'logdir {logdir} belongs to another config ({"; ".join(diff[:3])}); '
        'use a new --logdir or pass --config.run.allow_other_config=True')


def save_spaces(logdir, obs_space, act_space):
  """Writes spaces.json: what export and eval_only need to rebuild the agent."""
  from dreamerv3_tf.gfile import GFILES as fs
  text = json.dumps({
      'obs_space': {k: v.to_dict() for k, v in obs_space.items()},
      'act_space': {k: v.to_dict() for k, v in act_space.items()}}, indent=2)
  path = fs.join(logdir, 'spaces.json')
  with fs.open(path + '.tmp', 'w') as f:
    f.write(text)
  fs.replace(path + '.tmp', path)


def load_spaces(logdir):
  """-> the agent-facing (obs_space, act_space) from a logdir's spaces.json.

  Older runs saved the env's spaces ('log/' keys, 'reset'): the same function
  turns those into the agent's.
  """
  from dreamerv3_tf.core import base
  from dreamerv3_tf.core.spaces import Space
  from dreamerv3_tf.gfile import GFILES as fs
  path = fs.join(logdir, 'spaces.json')
  if not fs.exists(path):
    raise ConfigError(f'{path} not found: is {logdir} the logdir of a training run?')
  with fs.open(path, 'r') as f:
    data = json.load(f)
  return base.agent_spaces(*({k: Space.from_dict(v) for k, v in data[key].items()}
                             for key in ('obs_space', 'act_space')))


def to_json(config):
  return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=_default)


def from_json(text):
  """The config of a config.json; its lists become tuples again, as in configs/."""
  return mlc.ConfigDict(_tuples(json.loads(text)))


def _tuples(tree):
  if isinstance(tree, dict):
    return {k: _tuples(v) for k, v in tree.items()}
  if isinstance(tree, list):
    return tuple(_tuples(v) for v in tree)
  return tree


_RUNTIME_KEYS = {
    'run.steps', 'run.duration', 'run.log_every', 'run.report_every', 'run.save_every',
    'run.eval_eps', 'run.parallel', 'run.allow_other_config', 'run.from_checkpoint',
    'run.from_checkpoint_regex', 'logger.outputs', 'logdir', 'run.clock',
    'run.max_nonfinite_updates',
    'script', 'jit', 'run.envs', 'run.eval_envs', 'run.keep_checkpoints',
    # Keys that older versions saved and this one no longer has.
    'replay.eval_size', 'run.log_video_every'}


def _comparable(tree, prefix=''):
  flat = {}
  for key, value in tree.items():
    name = f'{prefix}{key}'
    if isinstance(value, dict):
      flat.update(_comparable(value, name + '.'))
    elif name not in _RUNTIME_KEYS:
      flat[name] = value
  return flat


def _diff(old, new):
  keys = sorted(set(old) | set(new))
  return [f'{k}: {old.get(k)!r} -> {new.get(k)!r}' for k in keys
          if old.get(k) != new.get(k)]


def _default(value):
  if isinstance(value, tuple):
    return list(value)
  return str(value)


def _check(ok, message):
  if not ok:
    raise ConfigError(message)
