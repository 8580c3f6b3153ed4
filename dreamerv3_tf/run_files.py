"""config.json and spaces.json in a logdir: written, read back, compared.

A saved config.json holds what was set, nothing derived: sizes that follow from
it (the eval replay's capacity) are computed where their object is made
(`factories`). A read of a hand-edited or damaged file ends in one line naming
the file and the key.
"""

import json
import os

import ml_collections as mlc

from dreamerv3_tf import configuration
from dreamerv3_tf.configuration import ConfigError
from dreamerv3_tf.core import base
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import errors
from dreamerv3_tf.core.files import special_file
from dreamerv3_tf.core.files import write_atomic
from dreamerv3_tf.core.streams import quote_for_paste


def ignored_from_checkpoint(config):
  """-> a warning line when a resume of `config.logdir` is given another
  run.from_checkpoint than its config.json holds (the one it started from), else None.
  A resume loads its own checkpoint: one added to fine-tune in the same logdir was not
  read, without a word."""
  given = str(config.run.from_checkpoint or '')
  try:
    data, _ = _load_json(config.logdir, 'config.json')
    started = str(data.get('run', {}).get('from_checkpoint') or '')
    regex = str(data.get('run', {}).get('from_checkpoint_regex', '.*'))
  except (ConfigError, OSError, AttributeError):
    return None
  norm = lambda x: x if '://' in x else os.path.realpath(os.path.expanduser(x))
  if not given:
    return None
  if started and norm(started) == norm(given):
    if config.run.from_checkpoint_regex == regex:
      return None
    # The one it started from with other variables (all of them, say): not read either.
    return (f'Warning: run.from_checkpoint_regex={config.run.from_checkpoint_regex!r} is '
            f'not read: a resume loads its own latest checkpoint, which holds the whole '
            f'agent (this run started from {regex!r} of it); to start from it so, use a new '
            '--logdir')
  return (f'Warning: run.from_checkpoint={given} is not read: a resume loads its own '
          'latest checkpoint, which holds the whole agent; to start from it, use a new '
          '--logdir')


def resumed_config(config):
  """-> a copy of `config` for the config.json of a resume of `config.logdir`: with
  the run.from_checkpoint and run.from_checkpoint_regex its config.json holds, which a
  resume does not read (the given ones, none in a plain resume, replaced where the
  run's agent came from). `config` itself when that file cannot be read."""
  try:
    data, _ = _load_json(config.logdir, 'config.json')
    started = {k: v for k, v in data['run'].items()
               if k in ('from_checkpoint', 'from_checkpoint_regex')}
  except (ConfigError, OSError, KeyError, AttributeError):
    return config
  copy = from_json(to_json(config))
  copy.run.update(started)
  return copy


def file_ops(path):
  """File operations for `path`: os for local paths (TensorFlow not loaded yet, so
  a bad logdir fails fast), tf.io.gfile for gs:// and other remote ones."""
  if '://' not in path:
    from dreamerv3_tf.core.files import LOCAL
    return LOCAL
  from dreamerv3_tf.gfile import GFILES
  return GFILES


def write_file(logdir, name, text):
  """Writes logdir/name atomically (temp name, then rename); LogdirWriteError if it fails."""
  fs = file_ops(logdir)
  path = fs.join(logdir, name)
  try:
    fs.makedirs(logdir)
    write_atomic(path, text.encode(), fs)
  except Exception as e:  # noqa: BLE001 - OSError or TensorFlow's errors.OpError
    raise configuration.LogdirWriteError(
        f'Cannot write {path}: {errors.one_line(e, cause_only=True)}') from e


def save_spaces(logdir, obs_space, act_space):
  """Writes spaces.json: what export and eval_only need to rebuild the agent."""
  write_file(logdir, 'spaces.json', json.dumps({
      'obs_space': {k: v.to_dict() for k, v in obs_space.items()},
      'act_space': {k: v.to_dict() for k, v in act_space.items()}}, indent=2))


def check_spaces(logdir, obs_space, act_space):
  """Raises ConfigError (one line) if a run saved other spaces in logdir/spaces.json
  than the agent-facing `obs_space` and `act_space` of the env now: its checkpoints
  and replay hold steps of the old ones (the env changed between runs). Reads only."""
  try:
    difference = spaces_difference(logdir, obs_space, act_space)
  except ConfigError as e:  # cut short (a full disk): the run writes it from its env
    raise ConfigError(f'{e}; if the env is the one that run had, move it away and rerun '
                      '(the run writes it again)') from None
  if difference:
    raise ConfigError(
        f'logdir {logdir} holds a run whose env had {difference}; use a new --logdir '
        '(run.from_checkpoint starts it from that run\'s agent)')


def spaces_difference(logdir, obs_space, act_space):
  """-> "obs 'x' <saved space>, the env now has <space>" for the first key whose
  space differs from logdir/spaces.json; None if none differs or there is no file."""
  fs = file_ops(logdir)
  if not fs.exists(fs.join(logdir, 'spaces.json')):
    return None
  saved = load_spaces(logdir)
  for what, old, new in zip(('obs', 'action'), saved, (obs_space, act_space)):
    for key in sorted(set(old) | set(new)):
      if old.get(key) != new.get(key):
        return (f'{what} {key!r} {old.get(key) or "(none)"}, the env now has '
                f'{new.get(key) or "(none)"}')
  return None


def agent_difference(logdir, config):
  """-> ['agent.key=<saved> (this run: <now>)', ...] for the agent settings of
  logdir/config.json that differ from `config`'s; [] if none or no readable file."""
  try:
    saved = agent_settings(load_config(logdir))
  except ConfigError:
    return []
  return settings_difference(saved, config)


def agent_settings(config):
  """-> {'agent.key': value} of `config`, as JSON gives them back (what a checkpoint
  records of its agent, see run/common.made_for)."""
  return comparable(json.loads(to_json(config))['agent'], 'agent.')


def settings_difference(saved, config):
  """-> ['agent.key=<saved> (this run: <now>)', ...] for the agent_settings `saved`
  that differ from `config`'s."""
  now = agent_settings(config)
  return [f'{k}={saved.get(k)!r} (this run: {now.get(k)!r})'
          for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]


def load_spaces(logdir):
  """-> the agent-facing (obs_space, act_space) from a logdir's spaces.json.

  Older runs saved the env's spaces ('log/' keys, 'reset'): the same function
  turns those into the agent's. A missing or unreadable file raises ConfigError.
  """
  from dreamerv3_tf.core.spaces import Space
  data, path = _load_json(logdir, 'spaces.json')
  try:
    return base.agent_spaces(*({k: Space.from_dict(v) for k, v in data[key].items()}
                               for key in ('obs_space', 'act_space')))
  except Exception as e:  # noqa: BLE001 - KeyError, TypeError, ValueError, ...
    raise ConfigError(f'{path} does not hold the spaces of a run ({error_text(e)})') from None


def load_config(logdir):
  """-> the config a run saved in logdir/config.json; ConfigError if it has none."""
  data, path = _load_json(logdir, 'config.json')
  missing = [k for k in ('task', 'random_agent', 'agent') if k not in data]
  if missing:
    raise ConfigError(f'{path} is not a saved config (no {", ".join(map(repr, missing))})')
  check_types(data, path)
  unknown = _unknown_agent_key(data.get('agent'))
  if unknown:  # export failed as the agent was built ('unexpected' ValueError), or
    # ignored a top-level one: the agent of another version, or edited by hand
    raise ConfigError(f'{path} holds {unknown[0]}={unknown[1]!r}, an agent setting this '
                      'version of dreamerv3_tf lacks (a run of a newer version, or edited '
                      'by hand?); use the version that trained the run, or remove the key')
  return from_json(json.dumps(data))


def check_types(data, path):
  """ConfigError naming `path` and the key when the saved config `data` holds a value
  of another type than configs/base.py's (configuration.mistyped), as one edited by hand
  does: export failed inside the agent ('unexpected' TypeError), and "run": null was
  exported, and refused at a resume as another config (run: None -> a group of 2 keys)."""
  wrong = configuration.mistyped(data)
  if wrong:
    key, value, want = wrong
    raise ConfigError(f'{path} holds {key}={value!r}, where configs/base.py has a '
                      f'{want}; put back the value the run had')


def _unknown_agent_key(agent):
  """-> (dotted key, value) of the first key of a saved config's `agent` that
  configs/base.py's lacks (the agent's modules take its sections as keywords), else
  None. No version of base.py has dropped an agent key."""
  from configs import base as base_config
  if not isinstance(agent, dict):
    return None
  defaults = base_config.get_config().to_dict()['agent']
  found = configuration.first_key_beyond(agent, defaults, 'agent.')
  return found and found[:2]


def evaluated_checkpoint(fs, logdir):
  """-> the run.from_checkpoint ('' if none) that logdir's config.json names when it is an
  eval_only logdir, else None."""
  try:
    with fs.open(fs.join(logdir, 'config.json'), 'r') as f:
      data = json.load(f)
    if data.get('script') == 'eval_only':
      return str(data.get('run', {}).get('from_checkpoint') or '')
  except (OSError, ValueError, AttributeError):
    pass
  return None


def _script(fs, logdir):
  """-> the script logdir's config.json names, or None where it has none to read."""
  try:
    with fs.open(fs.join(logdir, 'config.json'), 'r') as f:
      return json.load(f).get('script')
  except (OSError, ValueError, AttributeError):
    return None


def _load_json(logdir, name):
  """-> (the JSON object in logdir/name, its path); ConfigError naming the file."""
  fs = file_ops(logdir)
  path = fs.join(logdir, name)
  if '://' not in path and os.path.islink(path) and not os.path.exists(path):
    # It asked whether the folder was a training run's, or said the file was deleted.
    raise ConfigError(f'{path} is a symbolic link to {os.readlink(path)}, which does not '
                      'exist (a disk not mounted?); mount it or fix the link')
  if not fs.exists(path):
    run = _run_above(fs, logdir, name)
    if fs.exists(logdir) and not fs.isdir(logdir):
      # RUN/config.json said 'RUN/config.json/config.json not found: RUN/config.json is
      # a folder of the run RUN'
      raise ConfigError(f'{logdir} is a file' + (
          f' of the run {run}, not its logdir; pass --logdir={quote_for_paste(run)}' if run else
          ', not the logdir of a training run'))
    if run:  # e.g. RUN/ckpt, where the checkpoints are
      raise ConfigError(f'{path} not found: {logdir} is a folder of the run {run}; '
                        f'pass --logdir={quote_for_paste(run)}')
    if not fs.exists(logdir):  # a typo asked 'is X the logdir of a training run?'; plot's
      raise ConfigError(f'{logdir} does not exist')  # and the importer's line say this
    official = checkpoint_paths.official_run(logdir) if '://' not in logdir else None
    if official:  # it said 'not found: is X the logdir of a training run?'
      raise ConfigError(
          f'{path} not found: ' + checkpoint_paths.official_run_line(logdir, official))
    # (An evaluation's config.json is there: only its other files are missing. A
    # missing config.json was named as an evaluation's logdir, in any folder.)
    evaluated = evaluated_checkpoint(fs, logdir) if name != 'config.json' else None
    if evaluated is not None:  # an eval_only logdir: it saves episodes, no agent
      raise ConfigError(f'{path} not found: {logdir} is the logdir of an evaluation '
                        f'(eval_only), which holds no agent; use the run it evaluated'
                        f'{f" ({evaluated})" if evaluated else ""}')
    if name == 'spaces.json' and _script(fs, logdir) in ('train', 'train_eval'):
      # It asked 'is RUN the logdir of a training run?', which its config.json shows.
      raise ConfigError(
          f'{path} not found beside the config.json of the training run in {logdir} '
          '(deleted?); put it back, or resume the run (its training command, with a larger '
          '--config.run.steps if it has finished), which writes it again from its env')
    if fs.exists(fs.join(logdir, 'saved_model.pb')):  # e.g. to export it with --tflite
      raise ConfigError(f'{path} not found: {logdir} is a SavedModel export, not the logdir '
                        'of a training run; pass the run it was exported from (its '
                        '--logdir), whose checkpoints an export is made of')
    raise ConfigError(f'{path} not found: is {logdir} the logdir of a training run?')
  special = special_file(path) if '://' not in path else None
  if special:  # export waited for ever opening it
    raise ConfigError(f'{path} is {special}, not the file a run saved')
  if fs.isdir(path):  # it was '[Errno 21] Is a directory: PATH', exit code 1
    raise ConfigError(f'{path} is a directory, not the file a run saved')
  try:
    with fs.open(path, 'r') as f:
      data = json.load(f)
  except ValueError as e:  # not JSON (json's errors and UnicodeDecodeError)
    raise ConfigError(f'{path} is not valid JSON ({error_text(e)})') from None
  except OSError as e:  # no permission: '[Errno 13] Permission denied: PATH', exit code 1
    raise ConfigError(f'{path} cannot be read ({errors.one_line(e, cause_only=True)})'
                      ) from None
  if not isinstance(data, dict):
    raise ConfigError(f'{path} holds a JSON {json_kind(data)}, not an object')
  return data, path


def _run_above(fs, logdir, name):
  """The logdir's parent if that holds `name` (a run's file), else None."""
  parent = os.path.dirname(logdir.rstrip('/'))
  if parent in ('', '/') or parent.endswith(':') or parent.endswith(':/'):
    return None  # no parent, or only a URL scheme (gs://bucket)
  try:
    return parent if fs.exists(fs.join(parent, name)) else None
  except Exception:  # noqa: BLE001 - only a hint: the error without it still holds
    return None


def json_kind(data):
  """'null', 'list', 'int'...: what a JSON file holds instead of an object."""
  return 'null' if data is None else type(data).__name__


def error_text(error):
  text = errors.one_line(error)
  return f'{type(error).__name__}: {text}' if isinstance(error, (KeyError, TypeError,
                                                                 AttributeError)) else text


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
    'run.resume_from', 'xla_cache', 'run.max_nonfinite_updates', 'run.env_timeout',
    'xla_flags',  # how the steps compile (as jit, xla_cache), not what trains
    'script', 'jit', 'run.envs', 'run.eval_envs', 'run.keep_checkpoints',
    'run.report_batches', 'logger.fps',  # what reports and videos show, as report_every
    # Keys that older versions saved and this one no longer has.
    'replay.eval_size', 'run.log_video_every'}


def comparable(tree, prefix=''):
  flat = {}
  for key, value in tree.items():
    name = f'{prefix}{key}'
    if isinstance(value, dict):
      flat.update(comparable(value, name + '.'))
    elif name not in _RUNTIME_KEYS:
      flat[name] = value
  return flat


# What each process of a multi_worker run may set for itself (its host's cache, how its
# own envs run, what it logs, where its host mounts the run: same_run.py compares the
# run each sees there); every other key must be the same in all of them.
_PER_PROCESS_KEYS = ('xla_cache', 'run.env_timeout', 'run.parallel', 'logger.outputs',
                     'run.allow_other_config', 'logdir', 'run.resume_from')


def shared_flags(config):
  """{dotted key: value} of `config` that every process of a multi_worker run must
  share (distribute.check_same_flags), as JSON gives them back."""
  return {k: v for k, v in configuration.dotted_items(json.loads(to_json(config)))
          if k not in _PER_PROCESS_KEYS}


def diff(old, new):
  """['key: saved -> now', ...]; a key one side lacks is named so (it read 'None', a
  value neither had: a run of another version of base.py's keys). A key that is a value
  on one side and a group of keys on the other (a hand-edited `"agent": null`) is named
  once: it read 'agent: None -> (absent: a newer version?)', then each key of the group
  as absent from an older version."""
  groups = {k: _group(k, old if k in new else new) for k in set(old) ^ set(new)}
  groups = {k: n for k, n in groups.items() if n}
  inside = {k for k in set(old) | set(new) if any(k.startswith(g + '.') for g in groups)}

  def shown(tree, key, absent):
    if key in tree:
      return repr(tree[key])
    if key in groups:
      return f'a group of {groups[key]} keys'
    if _env_option_beyond_base(key):  # (atari's length, autostart: config files set them)
      return ('(absent: configs/base.py lacks it; ' + (
          'the config file the run started with set it)' if tree is new else
          'the run did not set it)'))
    return absent
  keys = sorted((set(old) | set(new)) - inside)
  return [f"{k}: {shown(old, k, '(absent: an older version?)')} -> "
          f"{shown(new, k, '(absent: a newer version?)')}" for k in keys
          if k not in old or k not in new or old[k] != new[k]]


def _env_option_beyond_base(key):
  """Whether dotted `key` is env.<section>.<option> of an option its suite's env takes
  that configs/base.py lacks, which only a config file sets."""
  from configs import base as base_config
  from dreamerv3_tf.envs import registry  # numpy only
  parts = key.split('.')
  suite = len(parts) == 3 and parts[0] == 'env' and registry.suite_of_section(parts[1])
  return bool(suite) and parts[2] in registry.suite_options(suite) and (
      parts[2] not in base_config.get_config().env[parts[1]])


def _group(key, flat):
  """How many of the flattened `flat`'s keys lie under `key.`."""
  return sum(k.startswith(key + '.') for k in flat)


def _default(value):
  if isinstance(value, tuple):
    return list(value)
  return str(value)
