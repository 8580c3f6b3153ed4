"""policy.json in an eval_only logdir: which policy its episodes are of.

A run's ckpt directory given as run.from_checkpoint resolves to its latest checkpoint,
so the same eval_only command evaluated a newer policy once the run had saved again,
and added its episodes to the older one's without a word (their scores, plot and the
last line's mean then mixed both). The record names the checkpoint file that was
loaded, the SavedModel export, or the random policy, with the SHA-256 of the
checkpoint's .index (an export's variables/variables.index): it lists every value's
CRC32C, so a checkpoint saved over one of the same name (a resume from an earlier
one writes the next number again) or an export made anew tells apart, and a copy of
the same one does not. A file of its own, not a key of config.json: that holds what
was set (run_files), this what it resolved to. Imports no TensorFlow: main reads it
before TensorFlow loads (remote paths are read through it, once it has).
"""

import hashlib
import json
import os
import re

from dreamerv3_tf import run_files
from dreamerv3_tf.configuration import ConfigError
from dreamerv3_tf.core import errors
from dreamerv3_tf.core.streams import quote_for_paste

FILE = 'policy.json'
RANDOM = {'kind': 'random'}


def of_checkpoint(prefix, step=None):
  """The record of checkpoint `prefix` (step: the env step it was saved at, if known)."""
  return {'kind': 'checkpoint', 'path': _full(prefix), 'step': step,
          'sha256': _sha256(prefix + '.index')}


def of_saved_model(path):
  """The record of SavedModel export `path` (one without variables: its graph's hash)."""
  path = _full(path)
  index = _join(path, 'variables', 'variables.index')
  return {'kind': 'saved_model', 'path': path, 'sha256': _sha256(
      index if run_files.file_ops(path).exists(index) else _join(path, 'saved_model.pb'))}


def expected(config):
  """The record of the policy that eval_only's `config` loads, from local files alone,
  before TensorFlow does; None where they do not tell (a remote path, a state file
  this cannot parse, a checkpoint without its .index: the load names that)."""
  if config.random_agent and not config.run.from_checkpoint:
    return RANDOM
  source = str(config.run.from_checkpoint or os.path.join(config.logdir, 'ckpt'))
  source = os.path.expanduser(source)
  if '://' in source:
    return None
  try:
    if os.path.isfile(os.path.join(source, 'saved_model.pb')):
      return of_saved_model(source)
    prefix = _latest(source) if os.path.isdir(source) else source
    return of_checkpoint(prefix) if prefix and os.path.isfile(prefix + '.index') else None
  except OSError:  # unreadable: the load names it
    return None


def _latest(directory):
  """The latest checkpoint the state file of `directory` names, as checkpoint_damage
  reads it (the last of its list, the latest added if missing); None if it cannot tell."""
  try:
    with open(os.path.join(directory, 'checkpoint'), encoding='utf-8') as f:
      text = f.read()
  except (OSError, ValueError):
    return None
  latest, listed = (re.findall(rf'^{name}: "([^"\\]*)"\s*$', text, re.M)
                    for name in ('model_checkpoint_path', 'all_model_checkpoint_paths'))
  if len(latest) != 1:
    return None
  paths = listed + ([] if latest[0] in listed else latest)
  return os.path.join(directory, paths[-1])  # (an absolute one stays itself)


def recorded(logdir):
  """-> the policies logdir's policy.json records, oldest first; None where it has no
  such file (a new logdir, or an evaluation of a version before the record)."""
  fs = run_files.file_ops(logdir)
  path = fs.join(logdir, FILE)
  if not fs.exists(path):
    return None
  try:
    with fs.open(path, 'r') as f:
      data = json.load(f)
    policies = data['policies']
    if not (isinstance(policies, list) and policies and all(
        isinstance(x, dict) and x.get('kind') in ('checkpoint', 'saved_model', 'random')
        for x in policies)):
      raise ValueError('no list of policies')
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ConfigError(f'{path} is not the record of the policy evaluated there '
                      f'({errors.one_line(e)}); put back the one eval_only wrote, or use a '
                      'new --logdir') from None
  return policies


def check_before_loading(config):
  """`check` of the policy eval_only's `config` resolves to by local files alone, before
  TensorFlow loads and the agent is built (where they cannot tell, once it is loaded)."""
  if config.script != 'eval_only' or '://' in config.logdir or recorded(config.logdir) is None:
    return
  check(config.logdir, expected(config), config.run.from_checkpoint,
        config.run.allow_other_config)


def check(logdir, policy, given, allow_other=False):
  """ConfigError (one line) when logdir's record names other policies than `policy`
  (a record; None: not known yet). `given`: run.from_checkpoint. Reads only; an
  evaluation of a version before the record passes, and so does any with `allow_other`
  (run.allow_other_config), once the record is known to be readable."""
  policies = recorded(logdir)
  if policy is None or policies is None or allow_other or any(
      same(policy, x) for x in policies):
    return
  last = policies[-1]
  now = describe(policy)
  if given and policy.get('path') and _full(given) != policy['path']:
    now = f'run.from_checkpoint={given} now gives {now}'
  still = _still_there(last)
  if last.get('path') and last.get('path') == policy.get('path'):
    now = f'{now}, which has been {_replaced(last)} since'
  elif still is False:
    now = f'{now}; {describe(last)} is gone or {_replaced(last)} since'
  way = (f'pass --config.run.from_checkpoint={quote_for_paste(last["path"])} to evaluate '
         'that one further, or ' if still else '')
  raise ConfigError(
      f'logdir {logdir} holds the episodes of {describe(last)}; this evaluation would add '
      f'those of another policy to them ({now}): {way}use a new --logdir, or pass '
      '--config.run.allow_other_config=True to add them')


def record(logdir, policy):
  """Adds `policy` to logdir's record, atomically, unless it is there: before the first
  episode is logged. An evaluation of a version before the record gets one (its
  episodes so far were of what the same run.from_checkpoint gave then)."""
  policies = recorded(logdir) or []
  if any(same(policy, x) for x in policies):
    return
  run_files.write_file(logdir, FILE, json.dumps({'policies': policies + [policy]}, indent=2))


def same(a, b):
  """Whether records `a` and `b` are of one policy: the same files, wherever they are."""
  return a.get('kind') == b.get('kind') and a.get('sha256') == b.get('sha256')


def describe(policy):
  if policy['kind'] == 'random':
    return 'a random policy (random_agent=True)'
  if policy['kind'] == 'saved_model':
    return f'the SavedModel {policy["path"]}'
  step = policy.get('step')
  return policy['path'] + (f' (step {step:,})' if isinstance(step, int) else '')


def _still_there(policy):
  """True if the files of `policy` are there as recorded, False if not, None where a
  read fails (a remote path without network) or it has none (the random policy)."""
  if policy['kind'] == 'random' or not policy.get('path'):
    return None
  try:
    now = (of_saved_model if policy['kind'] == 'saved_model' else of_checkpoint)(
        policy['path'])
  except OSError as e:
    return False if isinstance(e, FileNotFoundError) else None
  except Exception:  # noqa: BLE001 - TensorFlow's errors for a remote one: no flag offered
    return None
  return same(now, policy)


def _replaced(policy):
  return 'exported anew' if policy['kind'] == 'saved_model' else 'saved over'


def _sha256(path):
  fs = run_files.file_ops(path)
  digest = hashlib.sha256()
  with fs.open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _full(path):
  path = str(path)
  return path.rstrip('/') if '://' in path else os.path.abspath(os.path.expanduser(path))


def _join(*parts):
  return run_files.file_ops(parts[0]).join(*parts)
