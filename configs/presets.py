"""Presets shared by the suite files; each is a function applied in the order given.

`get_config('train_eval,proprio,size1m')` calls train_eval(c), proprio(c), size('1m')(c).
"""

import difflib

from configs import base

# The presets of some suite files only (tests/test_configuration.py checks this table):
# another suite's file listed its own presets and gave no hint.
SUITE_PRESETS = {'proprio': ('configs/dmc.py',), 'vision': ('configs/dmc.py',),
                 'cpu': ('configs/dmc.py',), 'quick': ('configs/dmc.py', 'configs/gym.py')}


def size(name):
  def apply(c):
    s = base.SIZES[name]
    a = c.agent
    a.rssm.deter, a.rssm.hidden, a.rssm.classes = s['deter'], s['hidden'], s['classes']
    a.enc.depth = a.dec.depth = s['depth']
    for key in ('enc', 'dec', 'rewhead', 'conhead', 'policy', 'value'):
      a[key].units = s['units']
  return apply


def official_envs(c, envs=16):
  """The official run.envs (16 by default) and run.eval_envs (4). Our eval plays exactly
  run.eval_eps episodes, shared out over the eval envs, so one each: the official's eval
  of 4 envs that start together logs all 4 where episodes have one length (DMC)."""
  c.run.envs, c.run.eval_envs, c.run.eval_eps = envs, 4, 4


def script(name):
  def apply(c):
    c.script = name
  return apply


def debug(c):
  """A tiny agent and short intervals: the whole loop in seconds, for tests."""
  c.batch_size = 4
  c.batch_length = 8
  c.report_length = 4
  c.replay.size = 10000
  c.replay.chunksize = 64
  c.run.envs = 2
  c.run.eval_envs = 1
  c.run.eval_eps = 1
  c.run.train_ratio = 16.0
  c.run.log_every = 5.0
  c.run.report_every = 10.0
  c.run.save_every = 15.0
  c.run.steps = 1000
  c.logger.fps = 10
  a = c.agent
  a.rssm.update(deter=16, hidden=8, stoch=4, classes=4, blocks=2)
  a.enc.update(depth=2, layers=1, units=16)
  a.dec.update(depth=2, layers=1, units=16, bspace=2)
  for key in ('rewhead', 'conhead', 'policy', 'value'):
    a[key].update(layers=1, units=16)
  a.rewhead.bins = a.value.bins = 15
  a.imag_length = 4
  a.opt.warmup = 10


def _preset_hint(name, table):
  """' (did you mean ...?)' for a near miss of a preset in `table` (a case or a '_'
  away), ' (a preset of FILE only)' for one of another suite file, else ''."""
  def plain(x):
    return x.lower().replace('_', '').replace('-', '')
  known = {plain(x): x for x in table}
  close = difflib.get_close_matches(plain(name), known, n=1, cutoff=0.75)
  if close:  # (an exact match first: its ratio is 1)
    return f' (did you mean {known[close[0]]!r}?)'
  if name in SUITE_PRESETS:
    return f" (a preset of {' and '.join(SUITE_PRESETS[name])} only)"
  return ''


def names(arg):
  """The preset names of `arg` ('train_eval, vision' -> ['train_eval', 'vision'])."""
  return [x.strip() for x in (arg or '').split(',') if x.strip()]


def apply_presets(c, arg, suite_presets):
  """Applies the comma-separated presets in `arg` in order; unknown names fail."""
  common = {
      'train_eval': script('train_eval'), 'train': script('train'),
      'eval_only': script('eval_only'), 'debug': debug,
      **{f'size{k}': size(k) for k in base.SIZES}}
  table = {**common, **suite_presets}
  given = names(arg)
  for name in given:
    if name not in table:
      raise ValueError(
          f'Unknown preset {name!r}{_preset_hint(name, table)}; '
          f'choose from: {", ".join(sorted(table))}')
  # Two of one kind: the last won silently (eval_only,train trained; size1m,size12m
  # built size12m). Other kinds may follow one (vision,size1m: vision's obs at size1m).
  for what, kind in (('the script', ('train_eval', 'train', 'eval_only')),
                     ('the model size', tuple(f'size{k}' for k in base.SIZES)),
                     ('the observations', ('proprio', 'vision'))):
    kinds = [x for x in dict.fromkeys(given) if x in kind]
    if len(kinds) > 1:
      raise ValueError(f'presets {kinds[0]!r} and {kinds[1]!r} both set {what}, and only '
                       f'the last would count; give one')
  for name in given:
    table[name](c)
  return c
