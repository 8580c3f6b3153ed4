"""The official code's config.yaml -> the settings of our config that shape the agent.

The official code saves its whole config as `LOGDIR/config.yaml`. `apply` copies the
values that decide the agent's variables and math (sizes, heads, losses, optimizer,
task and env settings) onto our ConfigDict, and refuses official options we do not
implement, naming the first. Used by the checkpoint importer and the parity test.
"""

import os

from dreamerv3_tf.core import base
from dreamerv3_tf.core import errors

# Official dotted key -> ours. Only keys present on both sides are copied.
SAME = {
    'task': 'task', 'seed': 'seed', 'batch_size': 'batch_size',
    'batch_length': 'batch_length', 'report_length': 'report_length',
    'replay_context': 'replay_context', 'run.train_ratio': 'run.train_ratio',
    'agent.imag_length': 'agent.imag_length', 'agent.horizon': 'agent.horizon',
    'agent.contdisc': 'agent.contdisc', 'agent.repval_loss': 'agent.repval_loss',
}
for _k in ('deter', 'hidden', 'stoch', 'classes', 'unimix', 'blocks', 'imglayers',
           'obslayers', 'free_nats'):
  SAME[f'agent.dyn.rssm.{_k}'] = f'agent.rssm.{_k}'
for _k in ('depth', 'mults', 'layers', 'units', 'kernel', 'symlog'):
  SAME[f'agent.enc.simple.{_k}'] = f'agent.enc.{_k}'
for _k in ('depth', 'mults', 'layers', 'units', 'kernel', 'bspace'):
  SAME[f'agent.dec.simple.{_k}'] = f'agent.dec.{_k}'
for _head, _keys in (('rewhead', ('layers', 'units', 'bins', 'outscale')),
                     ('conhead', ('layers', 'units', 'outscale')),
                     ('policy', ('layers', 'units', 'minstd', 'maxstd', 'outscale')),
                     ('value', ('layers', 'units', 'bins', 'outscale'))):
  for _k in _keys:
    SAME[f'agent.{_head}.{_k}'] = f'agent.{_head}.{_k}'
for _k in ('rec', 'rew', 'con', 'dyn', 'rep', 'policy', 'value', 'repval'):
  SAME[f'agent.loss_scales.{_k}'] = f'agent.loss_scales.{_k}'
for _k in ('lr', 'agc', 'eps', 'beta1', 'beta2', 'warmup'):
  SAME[f'agent.opt.{_k}'] = f'agent.opt.{_k}'
for _k in ('lam', 'actent', 'slowreg'):
  SAME[f'agent.imag_loss.{_k}'] = f'agent.imag_loss.{_k}'
for _k in ('lam', 'slowreg'):
  SAME[f'agent.repl_loss.{_k}'] = f'agent.repl_loss.{_k}'
for _k in ('rate', 'every'):
  SAME[f'agent.slowvalue.{_k}'] = f'agent.slowvalue.{_k}'
for _k in ('rate', 'limit', 'perclo', 'perchi'):
  SAME[f'agent.retnorm.{_k}'] = f'agent.retnorm.{_k}'

# Official dotted key -> the one value we implement (absent keys are not checked).
REQUIRED = {
    'agent.dyn.typ': 'rssm', 'agent.enc.typ': 'simple', 'agent.dec.typ': 'simple',
    'agent.dyn.rssm.outscale': 1.0, 'agent.dyn.rssm.dynlayers': 1,
    'agent.dyn.rssm.absolute': False, 'agent.enc.simple.outer': False,
    'agent.enc.simple.strided': False, 'agent.dec.simple.outer': False,
    'agent.dec.simple.strided': False, 'agent.dec.simple.symlog': True,
    'agent.dec.simple.outscale': 1.0,
    'agent.rewhead.output': 'symexp_twohot', 'agent.value.output': 'symexp_twohot',
    'agent.conhead.output': 'binary', 'agent.policy_dist_disc': 'categorical',
    'agent.policy_dist_cont': 'bounded_normal', 'agent.imag_last': 0,
    'agent.ac_grads': False, 'agent.reward_grad': True, 'agent.repval_grad': True,
    'agent.imag_loss.slowtar': False, 'agent.repl_loss.slowtar': False,
    'agent.retnorm.impl': 'perc', 'agent.retnorm.debias': False,
    'agent.valnorm.impl': 'none', 'agent.advnorm.impl': 'none',
    'agent.opt.momentum': True, 'agent.opt.nesterov': False, 'agent.opt.wd': 0.0,
    'agent.opt.schedule': 'const',
    # A replayed sequence is one update (and one report), and no gradient norms are
    # reported: a checkpoint of other values was trained and reported otherwise.
    'consec_train': 1, 'consec_report': 1, 'agent.report_gradnorms': False,
}
for _part in ('dyn.rssm', 'enc.simple', 'dec.simple', 'rewhead', 'conhead', 'policy',
              'value'):
  REQUIRED[f'agent.{_part}.act'] = 'silu'
  REQUIRED[f'agent.{_part}.norm'] = 'rms'
  REQUIRED[f'agent.{_part}.winit'] = 'trunc_normal_in'


class OfficialConfigError(base.UserError, ValueError):
  """An official setting we do not implement; the message is one line."""


def _get(tree, key):
  for part in key.split('.'):
    if not isinstance(tree, dict) or part not in tree:
      return None, False
    tree = tree[part]
  return tree, True


def _coerce(value, like, key):
  """`value` (from YAML) as the type of our current value `like`."""
  try:
    if isinstance(like, bool):
      if not isinstance(value, bool):
        raise ValueError
      return value
    if isinstance(like, int):
      if float(value) != int(float(value)):
        raise ValueError
      return int(float(value))
    if isinstance(like, float):
      return float(value)
    if isinstance(like, (tuple, list)):
      return tuple(value)
    return type(like)(value)
  except (TypeError, ValueError, OverflowError):  # (int() of an infinity overflows)
    raise OfficialConfigError(
        f'official {key}={value!r} does not fit our {type(like).__name__} setting') from None


def apply(official, config):
  """Copies the agent-shaping settings of `official` (dict) onto `config`.

  `config` must be unlocked for new values of existing keys. -> ['ours=value', ...]
  of the settings that changed. Raises OfficialConfigError for an option we do not
  implement.
  """
  for key, want in REQUIRED.items():
    value, found = _get(official, key)
    if found and value != want and not (isinstance(want, float) and _num(value) == want):
      raise OfficialConfigError(
          f'official {key}={value!r} is not implemented here (only {want!r})')
  changed = []

  def put(ours, value):
    *parents, leaf = ours.split('.')
    node = config
    for part in parents:
      node = node[part]
    value = _coerce(value, node[leaf], ours)
    if node[leaf] != value:
      node[leaf] = value
      changed.append(f'{ours}={value!r}')

  for key, ours in SAME.items():
    value, found = _get(official, key)
    if found:
      put(ours, value)
  # The official discrete policy is a plain categorical: its unimix setting is unused.
  put('agent.policy.unimix', 0.0)
  suite = str(config.task).split('_', 1)[0]
  env, found = _get(official, f'env.{suite}')
  if found and suite in config.env:
    for key in config.env[suite]:
      if key in env:
        put(f'env.{suite}.{key}', env[key])
  return changed


def _num(value):
  try:
    return float(value)
  except (TypeError, ValueError):
    return None


def find_yaml(*paths):
  """The official config.yaml next to a logdir, its ckpt/ or a save folder; or None."""
  import tensorflow as tf
  for path in paths:
    path = os.path.expanduser(str(path)).rstrip('/')
    for folder in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
      candidate = os.path.join(folder, 'config.yaml')
      if tf.io.gfile.exists(candidate):
        return candidate
  return None


def load_yaml(path):
  import tensorflow as tf
  import yaml
  from dreamerv3_tf.interop.official import check_plain
  check_plain(path, OfficialConfigError)  # a pipe was read for ever
  with tf.io.gfile.GFile(path, 'rb') as f:
    raw = f.read()
  try:  # these were 'unexpected' errors naming no file
    data = yaml.safe_load(raw.decode('utf-8'))
  except UnicodeDecodeError:
    raise OfficialConfigError(f'{path}: not a readable YAML file (not UTF-8)') from None
  except yaml.YAMLError as e:
    raise OfficialConfigError(
        f'{path}: not a readable YAML file ({errors.yaml_problem(e)})') from None
  if not isinstance(data, dict):
    raise OfficialConfigError(f'{path}: not a config (expected a mapping)')
  return data
