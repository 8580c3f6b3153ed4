"""Checks a config, and saves / compares it in a logdir.

A saved config.json holds what was set, nothing derived: sizes that follow from
it (the eval replay's capacity) are computed where their object is made
(`factories`), and checked here.
"""

import json
import math
import os
import re
import resource
import shlex
import tempfile

import ml_collections as mlc

from dreamerv3_tf import factories
from dreamerv3_tf.core import base
from dreamerv3_tf.core.files import special_file
from dreamerv3_tf.core.files import write_atomic

SCRIPTS = ('train', 'train_eval', 'eval_only')
STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
DTYPES = ('float32', 'bfloat16', 'float16')
SUITES = ('dmc', 'gym', 'atari', 'atari100k', 'crafter', 'dummy', 'py')
LOGGER_OUTPUTS = ('terminal', 'jsonl', 'tensorboard')
# The official code's suites that have no port here (its configs.yaml's env section).
OFFICIAL_ONLY_SUITES = ('dmlab', 'minecraft', 'procgen', 'loconav', 'memmaze', 'bsuite')
MAX_ENVS = 1024  # run.envs and run.eval_envs: 100000 started that many processes
FRACS = ('uniform', 'priority', 'recency')  # the replay's selectors (replay.fracs)
PRIO = ('exponent', 'initial', 'zero_on_sample', 'maxfrac')  # replay.prio: Prioritized's
PREDSUMS = ('paired', 'stable', 'official')  # agent/dists.py's (which imports TensorFlow)


# The agent's sizes and counts ('<part>.<key>': the least value it can build with).
_AGENT_SIZES = {
    **{f'rssm.{k}': 1 for k in ('deter', 'hidden', 'stoch', 'classes', 'blocks')},
    **{f'{p}.{k}': 1 for p in ('enc', 'dec') for k in ('depth', 'kernel')},
    'dec.bspace': 1,
    **{f'{p}.units': 1 for p in ('enc', 'dec', 'rewhead', 'conhead', 'policy', 'value')},
    **{f'{p}.layers': 0 for p in ('enc', 'dec', 'rewhead', 'conhead', 'policy', 'value')},
    'rssm.imglayers': 0, 'rssm.obslayers': 0, 'slowvalue.every': 1,
}

# The agent's fractions and rates ('<part>.<key>': (least, greatest, greatest included)):
# outside, the first updates were NaN (skipped), or training went on, wrong.
_AGENT_RANGES = {
    **{f'{p}.unimix': (0, 1, True) for p in ('rssm', 'policy')},
    **{f'{p}.lam': (0, 1, True) for p in ('imag_loss', 'repl_loss')},
    **{f'opt.{k}': (0, 1, False) for k in ('beta1', 'beta2')},  # Adam divides by 1 - beta
    **{f'{p}.rate': (0, 1, True) for p in ('slowvalue', 'retnorm')},
    **{f'retnorm.{k}': (0, 100, True) for k in ('perclo', 'perchi')},
}


def _weights_at_least(a):
  """{config key: weights of the layers it sizes most}, a lower bound on the agent's:
  the RSSM's block GRU with its hidden layer (4 D^2 / blocks + 4 H D, agent/rssm.py),
  its stoch layers in and out (2 H S C), and the MLPs of the heads on the latent
  features (agent/model.py), F x units for the first layer and units^2 for each one
  after it, F = deter + stoch x classes."""
  d, h, g = a.rssm.deter, a.rssm.hidden, a.rssm.blocks
  s, k = a.rssm.stoch, a.rssm.classes
  stoch = 'agent.rssm.classes' if k >= s else 'agent.rssm.stoch'
  parts = {'agent.rssm.deter': 4 * d * d // g + 4 * h * d, stoch: 2 * h * s * k}
  feat_key = stoch if s * k > d else 'agent.rssm.deter'
  for part in ('rewhead', 'conhead', 'policy', 'value'):
    units, layers = a[part].units, a[part].layers
    if layers < 1:
      continue
    first = (d + s * k) * units
    key = f'agent.{part}.units' if units >= d + s * k else feat_key
    parts[key] = parts.get(key, 0) + first
    _add_stack(parts, f'agent.{part}', 'units', units, layers)
  # The RSSM's prior and posterior layers after their first (hidden x hidden each):
  # imglayers=1e15 built layers for ever, with no line.
  _add_stack(parts, 'agent.rssm', 'hidden', h, a.rssm.imglayers, 'imglayers')
  _add_stack(parts, 'agent.rssm', 'hidden', h, a.rssm.obslayers, 'obslayers')
  return parts


def _add_stack(parts, section, units_name, units, layers, layers_name='layers'):
  """Adds a stack's layers after its first, units^2 each, to `parts`, under the key of
  its count of layers where that is the larger number (layers=1e15 of 16 units), else
  under its units' key."""
  if layers < 2:
    return
  key = f'{section}.{layers_name if layers > units else units_name}'
  parts[key] = parts.get(key, 0) + units * units * (layers - 1)


def _conv_weights_at_least(a):
  """{config key: weights} of the image encoder's and decoder's convolutions after
  their first (kernel^2 x depth^2 x mults[i - 1] x mults[i], agent/nets.py): an env
  with image observations has both."""
  parts = {}
  for part in ('enc', 'dec'):
    depth, kernel, mults = a[part].depth, a[part].kernel, tuple(a[part].mults)
    parts[f'agent.{part}.depth'] = sum(
        kernel * kernel * depth * depth * m0 * m1 for m0, m1 in zip(mults, mults[1:]))
  return parts


def _mlp_weights_at_least(a):
  """{config key: weights} of the vector encoder's and decoder's MLP layers after
  their first: an env with vector observations has both (agent.enc.layers=1e15 built
  layers for ever, with no line; agent.enc.units=1e15 was 'out of memory' once
  TensorFlow had loaded)."""
  parts = {}
  for part in ('enc', 'dec'):
    units, layers = a[part].units, a[part].layers
    if layers >= 1:  # its first layer: units x at least one input (output, decoding)
      parts[f'agent.{part}.units'] = units
    _add_stack(parts, f'agent.{part}', 'units', units, layers)
  return parts


# Step keys no encoder reads.
_NOT_ENCODED = ('reward', 'is_first', 'is_last', 'is_terminal')


def check_agent_memory(config, obs_space):
  """finalize's check of the agent's weights against the memory available, once the
  env's spaces are known (before the agent is built): with images the conv stacks
  count too (agent.enc.depth=1e8 grew until the OOM killer ended the run, no line),
  with vectors the MLPs."""
  parts = {}
  if any(s.dtype == 'uint8' and len(s.shape) == 3 for s in obs_space.values()):
    parts.update(_conv_weights_at_least(config.agent))
  if any(len(s.shape) <= 2 and k not in _NOT_ENCODED and not k.startswith('log_')
         for k, s in obs_space.items()):
    for key, n in _mlp_weights_at_least(config.agent).items():
      parts[key] = parts.get(key, 0) + n
  if parts:
    _check_agent_memory(config, parts)


def _check_agent_memory(c, more=None):
  """An agent whose weights cannot fit in the memory available: agent.rssm.deter=1e9
  grew until the OOM killer ended the run (SIGKILL, no line), once TensorFlow had loaded.
  On an accelerator the weights alone count (they live in its memory, but numpy makes
  their first values here). Training on this host's CPU also keeps the optimizer's two
  moments per weight and makes a gradient of each: deter=hidden=8192 of the debug preset
  (1.5 GiB of weights) passed, and the OOM killer ended the run at its first update with
  19 GB resident. `more`: weights of parts that only the env's spaces tell."""
  from dreamerv3_tf.envs import memory  # numpy-free; reads /proc
  available = memory.available_bytes()
  parts = _weights_at_least(c.agent)
  for key, n in (more or {}).items():
    parts[key] = parts.get(key, 0) + n
  weights = sum(parts.values())
  on_cpu = _trains_on_cpu(c)
  need = _bytes_needed(weights, on_cpu)
  if available is None or need <= available:
    return
  key = max(parts, key=parts.get)
  value = c.agent[key.split('.')[1]][key.split('.')[2]]
  what = (f'training it on this CPU takes at least {need / memory.GIB:.3g} GiB (the weights, '
          "the optimizer's two moments and the gradients)" if on_cpu else
          f'{need / memory.GIB:.3g} GiB')
  _check(False, f'{key}={value} makes an agent of at least {weights:.2g} weights, {what}, '
         f'more than the {available / memory.GIB:.1f} GiB of memory available; use a '
         f'smaller {key} or a size preset (size1m ... size400m)')


def _trains_on_cpu(c):
  return c.script != 'eval_only' and not _accelerator(c)


def _bytes_needed(weights, on_cpu):
  """Bytes of float32 `weights`, times 4 where they train on this host's CPU (the
  optimizer's two moments and the gradients)."""
  return 4 * weights * (4 if on_cpu else 1)


def _accelerator(c):
  """Whether the agent's weights will live on an accelerator, as far as can be told
  before TensorFlow loads: a TPU run, or an NVIDIA GPU that CUDA_VISIBLE_DEVICES
  leaves visible."""
  if c.distribute == 'tpu' or os.path.exists('/dev/accel0'):  # TPU VMs (v4 and later)
    return True
  return (os.path.exists('/dev/nvidiactl')
          and os.environ.get('CUDA_VISIBLE_DEVICES', '0').strip() not in ('', '-1'))


def replay_step_bytes(config, obs_space, act_space):
  """{column: bytes} of one step in the train replay (core/replay.py): the env's
  observations and actions, the policy's latent (dyn/deter, dyn/stoch, float32; none
  for the random agent) and the step's id."""
  import numpy as np
  from dreamerv3_tf.core import replay
  columns = {k: s for k, s in {**obs_space, **act_space}.items() if not base.is_log_key(k)}
  sizes = {k: np.dtype(s.dtype).itemsize * math.prod(s.shape) for k, s in columns.items()}
  if not config.random_agent:
    r = config.agent.rssm
    sizes.update({'dyn/deter': 4 * r.deter, 'dyn/stoch': 4 * r.stoch * r.classes})
  sizes['stepid'] = replay.STEPID_BYTES
  return sizes


def check_replay_memory(config, obs_space, act_space):
  """-> a warning line when the train replay, full, needs more memory than is available
  now (or than the machine has at all), else None. The replay keeps every step in memory
  up to replay.size: dmc.py's vision preset (22.6 KB a step, 1.1M steps: 23 GiB) ran for
  days until Linux's OOM killer ended it, and atari.py's (5M steps of 19.5 KB) could never
  fit in 24 GB. A warning, not an error: a run meant to be stopped long before its
  run.steps (on a CPU, atari.py's 51M steps take years) is fine, and memory_watch stops
  one that runs out with its own line."""
  from dreamerv3_tf.envs import memory  # numpy-free; reads /proc
  sizes = replay_step_bytes(config, obs_space, act_space)
  step = sum(sizes.values())
  steps = min(int(config.replay.size), int(config.run.steps))
  need, total, available = steps * step, memory.total_bytes(), memory.available_bytes()
  if total is None or available is None or need <= available:
    return None
  top = sorted(sizes.items(), key=lambda x: -x[1])[:3]
  what = ', '.join(f'{k} {_bytes(n)}' for k, n in top)
  fits = max(0, available) // step
  than = (f"the {_bytes(total)} it may ever use (RAM and swap, or its cgroup's limit)"
          if need > total else f'the {_bytes(available)} available now')
  return (f'Warning: replay.size={config.replay.size:,} and run.steps={config.run.steps:,}: '
          f'the train replay will hold {steps:,} steps of {_bytes(step)} each ({what}, ...) '
          f'in memory, {_bytes(need)}, more than {than}: the run will run out of memory once '
          f'its replay grows past about {fits:,} steps; a smaller replay.size lets it run to '
          'its end')


def _bytes(n):
  """n bytes as text: '12.3 KB', '24.8 GB'."""
  for unit, size in (('GB', 1e9), ('MB', 1e6), ('KB', 1e3)):
    if n >= size:
      return f'{n / size:.3g} {unit}'
  return f'{n} B'


class ConfigError(base.UserError, ValueError):
  """A config that cannot run; the message is one line naming the problem."""

  prefix = 'Config error'
  exit_code = 2


class LogdirError(base.UserError, OSError):
  """The logdir cannot be written (not writable, disk full); one line naming it."""


# What a task of a suite takes instead of env.py (the arguments of py_ tasks), where
# that is not env.<suite>.
_ENV_PY_INSTEAD = {
    'gym': 'use task=py_<module>:<function> for your own env, or give a gymnasium id '
           'its arguments with gymnasium.register(..., kwargs=...)'}

# What '' means for each path key (a blank one is refused).
_BLANK_MEANS = {'logdir': 'a new one under ~/logdir', 'run.from_checkpoint': 'none',
                'run.resume_from': 'the latest checkpoint', 'xla_cache': 'no cache'}


# Dicts whose keys are the user's to choose or may be partial (checked by finalize).
_FREE_FORM = ('env.py', 'replay.fracs', 'replay.prio')


def finalize(config):
  """Validates `config` in place, fills derived values, and returns it."""
  c = config
  missing = _missing_keys(c)
  # A dict given for a section (--config.agent.rssm='{"deter": 16}') replaces it whole:
  # the keys it drops were an 'unexpected' AttributeError once TensorFlow had loaded.
  section = missing and missing[0].rpartition('.')[0]
  if section.count('.') == 1 and all(k.startswith(f'{section}.') for k in missing):
    node = c
    for part in section.split('.'):
      node = node[part]
    key, value = next(iter(node.items()), (missing[0].rpartition('.')[2], '...'))
    _check(False, f'{section} lacks {len(missing)} of its keys ('
           f'{", ".join(k.rpartition(".")[2] for k in missing[:5])}'
           f'{", ..." if len(missing) > 5 else ""}): a dict given for a section replaces '
           f'it whole; set its keys one by one, e.g. --config.{section}.{key}={value}')
  _check(not missing, f"the config lacks {len(missing)} key(s) of configs/base.py's "
         f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): a config file "
         'starts from base.get_config(), as configs/dmc.py does')
  extra = _extra_keys(c)
  # A config file may add keys: c.run.eval_episodes = 4 (for eval_eps) was never read,
  # and c.agent.rssm.newkey = 1 an 'unexpected' keyword error once TensorFlow had loaded.
  _check(not extra, extra and f'the config file sets {extra[0]}, a key configs/base.py '
         f'lacks{extra[1]}: a config file sets only base\'s keys; fix its name or remove it')
  # ml_collections lets a config file set None anywhere and a bool where an int is:
  # task=None and batch_size=True were 'unexpected' errors once TensorFlow had loaded.
  wrong = _mistyped(c.to_dict(), none=True)
  _check(not wrong, wrong and f'{wrong[0]}={wrong[1]!r}, where configs/base.py has a '
         f'{wrong[2]}; give a {wrong[2]}')
  _check(c.script in SCRIPTS, f'script={c.script!r}; choose one of {SCRIPTS}')
  _check(c.distribute in STRATEGIES,
         f'distribute={c.distribute!r}; choose one of {STRATEGIES}')
  _check(c.compute_dtype in DTYPES,
         f'compute_dtype={c.compute_dtype!r}; choose one of {DTYPES}')
  suite = c.task.split('_', 1)[0]
  if '_' not in c.task or suite not in SUITES:  # (the hint only then: it may read files)
    _check(False, f'task={c.task!r}; expected <suite>_<name> with suite one of {SUITES}'
           f'{_suite_hint(c.task)}')
  for key in ('batch_size', 'batch_length', 'report_length'):
    _check(c[key] >= 1, f'{key}={c[key]} must be >= 1')
  if c.agent.repval_loss:  # its returns bootstrap from the next step of the sequence
    for key in ('batch_length', 'report_length'):
      _check(c[key] >= 2, f'{key}={c[key]} must be >= 2 with agent.repval_loss=True '
             '(the replay value loss bootstraps from the next step)')
  # Reports sample the train replay, whose sequences are batch_length long.
  _check(c.script == 'eval_only' or c.report_length <= c.batch_length,
         f'report_length={c.report_length} must be <= batch_length={c.batch_length} '
         '(reports sample the train replay\'s sequences)')
  _check(c.replay_context >= 0, f'replay_context={c.replay_context} must be >= 0')
  _check(c.seed >= 0, f'seed={c.seed} must be >= 0')
  # The agent's random streams are int64 seeds (seed * 8 + stream): a larger seed was
  # an 'unexpected' out-of-range error when the agent was built, after the envs.
  _check(c.seed < 2 ** 60, f'seed={c.seed} must be < 2**60 (the agent seeds its random '
         'streams with 64-bit integers)')
  for key in ('envs', 'eval_envs', 'eval_eps', 'report_batches', 'keep_checkpoints'):
    _check(c.run[key] >= 1, f'run.{key}={c.run[key]} must be >= 1')
  # 100000 started that many env worker processes (run.parallel=True), or built that
  # many envs here, until the machine ran out of memory or processes, without a line.
  for key in ('envs', 'eval_envs'):
    _check(c.run[key] <= MAX_ENVS, f'run.{key}={c.run[key]} must be <= {MAX_ENVS} (each env '
           'is a process of its own with run.parallel=True, and the configs use 1 to 8)')
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
  for key, path in (('logdir', c.logdir), ('run.from_checkpoint', c.run.from_checkpoint),
                    ('run.resume_from', c.run.resume_from), ('xla_cache', c.xla_cache)):
    refusal = base.path_refusal(key, path)  # its messages would be cut at a line break
    _check(not refusal, str(refusal))
    # ' ' cached into a directory named ' ' here (xla_cache), or failed after TensorFlow
    # loaded, exit code 1: 'No checkpoint found in ' (run.from_checkpoint).
    _check(str(path).strip() or not str(path),
           f"{key}={path!r} is blank; give a path, or '' for {_BLANK_MEANS[key]}")
  # ml_collections reads --config.run.from_checkpoint=None as the text 'None'.
  _check(str(c.run.from_checkpoint).lower() not in ('none', 'null', 'false')
         or os.path.exists(str(c.run.from_checkpoint)),
         f"run.from_checkpoint={c.run.from_checkpoint!r} is not a checkpoint; leave it "
         "'' (the default) to start without one")
  _check(not (c.random_agent and c.run.from_checkpoint and c.script != 'eval_only'),
         'random_agent=True acts at random and has no weights to start from; drop '
         'run.from_checkpoint or random_agent')
  try:  # was refused at the checkpoint load, with exit code 1, after TensorFlow loaded
    re.compile(c.run.from_checkpoint_regex)
  except re.error as e:
    raise ConfigError(f'run.from_checkpoint_regex={c.run.from_checkpoint_regex!r} is not '
                      f'a valid regex: {e}') from None
  _check(0 <= c.run.train_ratio < math.inf,
         f'run.train_ratio={c.run.train_ratio} must be a finite number >= 0')
  _check(c.run.steps >= 0, f'run.steps={c.run.steps} must be >= 0')
  # eval_only runs until run.steps env steps: at 0 it wrote config.json alone and ended
  # without a word (exit code 0).
  _check(c.script != 'eval_only' or c.run.steps > 0,
         'run.steps=0 with script=eval_only evaluates nothing (it runs the policy for '
         'run.steps env steps); give run.steps > 0')
  for key in ('log_every', 'report_every', 'save_every'):
    _check(not math.isnan(c.run[key]), f'run.{key} is NaN; use a number (0 never, < 0 always)')
  _check(c.run.duration >= 0, f'run.duration={c.run.duration} must be >= 0 (0: no limit)')
  _check(c.env.time_limit >= 0, f'env.time_limit={c.env.time_limit} must be >= 0 (0: the suite\'s)')
  odd = _not_plain(c.env.to_dict().get('py', {}))
  # config.json saved it as its text (so export and eval_only built the env from other
  # arguments), and env workers could not receive it: an 'unexpected' wire error that
  # printed the whole env config (run.parallel=True, any task).
  _check(odd is None, f'env.py{odd[0]}={odd[1]!r} is {odd[2]}: the env\'s arguments must '
         'be JSON data (numbers, strings, True/False/None, lists and dicts with text '
         'keys), which config.json saves and env workers receive' if odd else '')
  # Read by py_<module>:<function> tasks only: set for another task, e.g. the README's
  # Corridor by its gymnasium id, the env ran with its defaults and config.json kept it.
  _check(suite == 'py' or not c.env.py, f'env.py={c.env.to_dict().get("py")!r} holds the '
         f'arguments of a py_<module>:<function> env, but task={c.task!r} takes none from '
         f'it; {_ENV_PY_INSTEAD.get(suite, f"set env.{suite}.KEY instead")}')
  # py_ tasks take config.env.gym's options; env.py is the user's own keywords (a grid's
  # size=5 was refused as 'env.py.size=5 must be (height, width)').
  section = 'gym' if suite == 'py' else suite
  size = c.env[section].get('size') if section in c.env else None
  # (64.5, 64) ran: the suites cut it to whole pixels, and config.json kept 64.5.
  _check(size is None or (isinstance(size, (tuple, list)) and len(size) == 2 and all(
      isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in size)),
         f'env.{section}.size={size} must be (height, width), two whole numbers >= 1')
  # The suites refuse these too, but as an env that failed to start (exit code 1,
  # after TensorFlow loaded for envs in this process), naming no config key.
  repeat = c.env[section].get('repeat') if section in c.env else None
  _check(repeat is None or (_is_number(repeat) and repeat >= 1),
         f'env.{section}.repeat={repeat} must be >= 1 (env steps per agent step)')
  if suite in ('atari', 'atari100k'):
    _check_atari(c.env[suite], f'env.{suite}')
  if suite == 'dmc':  # the suite refused it as an env that failed to start (exit code 1)
    _check(c.env.dmc.get('proprio', True) or c.env.dmc.get('image', True),
           'env.dmc.proprio=False and env.dmc.image=False leave the agent nothing to see; '
           'set one of them True')
    # MuJoCo refused it at the first render, after the agent was built (exit code 1).
    camera = c.env.dmc.get('camera', -1)
    _check(not c.env.dmc.get('image', False) or (_is_number(camera) and camera >= -1),
           f"env.dmc.camera={camera} must be >= -1 (-1: the domain's own camera)")
  if suite == 'dummy':
    length = c.env.dummy.get('length')
    _check(_is_number(length) and length >= 1,
           f'env.dummy.length={length} must be >= 1 (steps per episode)')
  # inf or 1e12 overflowed the timers (an 'unexpected' OverflowError, or one blamed on the env).
  _check(0 < c.run.env_timeout <= 1e6, f'run.env_timeout={c.run.env_timeout} must be > 0 and '
         '<= 1e6 (seconds an env may take to be built or to answer one step)')
  _check(c.run.max_nonfinite_updates >= 0,
         f'run.max_nonfinite_updates={c.run.max_nonfinite_updates} must be >= 0 '
         '(0 never stops)')
  fracs = dict(c.replay.fracs)
  unknown = sorted(set(fracs) - set(FRACS))  # the selector's ValueError was 'unexpected'
  _check(not unknown, f'replay.fracs has unknown keys {unknown}; choose from {FRACS}')
  _check(all(_is_number(v) for v in fracs.values()),
         f'replay.fracs={fracs} must hold numbers')
  _check(all(v >= 0 for v in fracs.values()) and abs(sum(fracs.values()) - 1) < 1e-6,
         f'replay.fracs={fracs} must be non-negative and sum to 1')
  # The recency selector draws age a with weight 1 / (a + 1) ** recexp: a negative one
  # drew the oldest first, and at -100 its weights overflowed (numpy's warning lines).
  _check(_is_number(c.replay.recexp) and not c.replay.recexp < 0,
         f'replay.recexp={c.replay.recexp} must be >= 0 (the recency selector prefers new '
         'steps by weight 1 / (age + 1) ** recexp)')
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
  # The replay keeps the last replay.size steps of all its envs, which step in turn, and
  # a sequence takes consecutive steps of one env: replay.size=50 with run.envs=8 and
  # 9-step sequences trained 0 updates to the run's end, without a word.
  need = c.run.envs * (train_len - 1) + 1
  _check(c.script == 'eval_only' or c.replay.size >= need,  # (it keeps no replay)
         f'replay.size={c.replay.size} is too small for run.envs={c.run.envs}: the replay '
         f'keeps about {c.replay.size // c.run.envs} steps of each env, and a sequence '
         f'takes {train_len} of one env (batch_length {c.batch_length} + replay_context '
         f'{c.replay_context}), so the run would never train; give replay.size >= {need} '
         'or fewer run.envs')
  need = c.run.eval_envs * (report_len - 1) + 1
  _check(c.script != 'train_eval' or eval_size >= need,
         f'eval replay capacity {eval_size} (replay.size x eval_fraction) is too small for '
         f'run.eval_envs={c.run.eval_envs}: it keeps about {eval_size // c.run.eval_envs} '
         f'steps of each eval env, and a report sequence takes {report_len} of one env '
         f'(report_length {c.report_length} + replay_context {c.replay_context}), so no '
         f'eval report would ever run; give a capacity >= {need} or fewer run.eval_envs')
  # A chunk is allocated whole at a worker's first step: 1e12 steps failed there, after
  # the logdir was written ("Cannot allocate memory", or an 'unexpected' OverflowError).
  _check(1 <= c.replay.chunksize <= c.replay.size,
         f'replay.chunksize={c.replay.chunksize} must be >= 1 and <= replay.size='
         f'{c.replay.size} (steps per chunk, allocated at once)')
  prio = dict(c.replay.prio)  # the selector's errors were 'unexpected', and only when used
  unknown = sorted(set(prio) - set(PRIO))
  _check(not unknown, f'replay.prio has unknown keys {unknown}; choose from {PRIO}')
  _check(all(_is_number(prio.get(k, 0)) for k in ('exponent', 'initial', 'maxfrac')),
         f'replay.prio={prio} must hold numbers')
  _check(0 <= prio.get('maxfrac', 0) <= 1,
         f"replay.prio.maxfrac={prio.get('maxfrac')} must be in [0, 1]")
  _check(prio.get('exponent', 0) >= 0,
         f"replay.prio.exponent={prio.get('exponent')} must be >= 0")
  # A new step's priority: a negative one made the sampling weights NaN (numpy's
  # RuntimeWarning, and the run went on), as prioritize() refuses for later ones.
  _check(prio.get('initial', 0) >= 0,
         f"replay.prio.initial={prio.get('initial')} must be >= 0 (inf: sampled first)")
  # Segfaulted at the first render, after TensorFlow loaded (envs/dmc.py says why).
  _check(not (c.task.startswith('dmc_') and c.env.dmc.image and not c.run.parallel),
         'run.parallel=False with DMC images (env.dmc.image=True): MuJoCo rendering and '
         'TensorFlow crash in one process on machines without a GPU (Mesa\'s EGL); use '
         'run.parallel=True, the default, which renders in env worker processes')
  outputs = [x for x in c.logger.outputs.split(',') if x]
  unknown = [x for x in outputs if x not in LOGGER_OUTPUTS]
  # It named the entries alone: the official code's 'scope', or its list '[jsonl, scope]'.
  _check(not unknown, f'logger.outputs={c.logger.outputs!r} has unknown entries '
         f'{unknown}; give some of {", ".join(LOGGER_OUTPUTS)}, comma-separated without '
         'spaces, e.g. terminal,jsonl')
  _check(c.logger.fps > 0, f'logger.fps={c.logger.fps} must be > 0 (frames per second '
         'of the report videos)')
  a = c.agent
  for key, low in _AGENT_SIZES.items():
    part, name = key.split('.')
    value = a[part].get(name) if part in a else None
    _check(value is None or value >= low, f'agent.{key}={value} must be >= {low}')
  for key, (low, high, closed) in _AGENT_RANGES.items():
    part, name = key.split('.')
    value = a[part].get(name) if part in a else None
    _check(value is None or (_is_number(value) and low <= value and (
        value <= high if closed else value < high)),
        f'agent.{key}={value} must be in [{low}, {high}{"]" if closed else ")"}')
  lo, hi = a.retnorm.get('perclo', 5.0), a.retnorm.get('perchi', 95.0)  # their defaults
  _check(lo < hi, f'agent.retnorm.perclo={lo} must be < perchi={hi}')
  lo, hi = a.policy.get('minstd', 0.1), a.policy.get('maxstd', 1.0)
  _check(_is_number(lo) and _is_number(hi) and 0 < lo <= hi,
         f'agent.policy.minstd={lo} must be > 0 and <= maxstd={hi}')
  for key in ('rewhead', 'value'):  # the heads failed at their first call, 'unexpected'
    predsum = a[key].get('predsum', PREDSUMS[-1])
    _check(predsum in PREDSUMS, f'agent.{key}.predsum={predsum!r}; choose one of {PREDSUMS}')
  for part in ('enc', 'dec'):  # a flag's value that is no tuple of ints came in as text
    mults = a[part].get('mults')
    _check(isinstance(mults, (tuple, list)) and len(mults) >= 1 and all(
        isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in mults),
        f'agent.{part}.mults={mults!r} must be a tuple of integers >= 1, e.g. (2, 3, 4, 4)')
  # The agent's check (nets._check_image_size) of the suites whose images are
  # env.<suite>.size: it came once TensorFlow and the envs had loaded, and a huge size
  # never got there (its env worker, rendering it, was killed for memory: exit -9).
  images = not c.random_agent and (suite in ('atari', 'atari100k', 'crafter') or (
      suite == 'dmc' and c.env.dmc.get('image', True)) or (
      suite == 'dummy' and not c.task.endswith('_vec')))
  for part in ('enc', 'dec') if images and size is not None else ():
    height, width = size
    problem = base.image_stages_problem(height, width, a[part].mults)
    _check(not problem, f'agent.{part}.mults={tuple(a[part].mults)} does not fit images of '
           f'{height}x{width} (env.{section}.size): {problem}')
  # Weights of the losses the optimizer minimises: a negative one passed the checks and
  # the agent trained to maximise that loss (an entropy penalty, for actent).
  weights = [(f'loss_scales.{k}', v) for k, v in a.loss_scales.items()] + [
      (f'{p}.{k}', a[p].get(k, 0)) for p, k in (
          ('imag_loss', 'actent'), ('imag_loss', 'slowreg'), ('repl_loss', 'slowreg'))]
  for key, value in weights:
    _check(_is_number(value) and not value < 0,  # (NaN: named below, as everywhere)
           f'agent.{key}={value!r} must be a number >= 0 '
           '(a loss weight: a negative one maximises that loss)')
  # Advantages are divided by max(limit, the returns' percentile range), and that range
  # is near 0 before rewards come: at limit=0 a debug run's first scale was 0.01 (policy
  # loss -40), and a range of exactly 0 divides by 0.
  limit = a.retnorm.get('limit', 1.0)
  _check(_is_number(limit) and limit > 0,
         f'agent.retnorm.limit={limit!r} must be > 0 (the least scale that advantages '
         'are divided by)')
  _check(a.horizon >= 1, f'agent.horizon={a.horizon} must be >= 1 (discount 1 - 1/horizon)')
  _check(a.rssm.deter % a.rssm.blocks == 0,
         f'agent.rssm.deter={a.rssm.deter} must be divisible by blocks={a.rssm.blocks}')
  _check(a.rssm.hidden % a.rssm.blocks == 0,
         f'agent.rssm.hidden={a.rssm.hidden} must be divisible by blocks={a.rssm.blocks}')
  _check(a.imag_length >= 1, f'agent.imag_length={a.imag_length} must be >= 1')
  for key in ('rewhead', 'value'):
    _check(a[key].bins >= 2, f'agent.{key}.bins={a[key].bins} must be >= 2')
  for key in ('lr', 'agc', 'eps', 'warmup'):  # inf diverged at the first update
    _check(0 <= a.opt[key] < math.inf,
           f'agent.opt.{key}={a.opt[key]} must be a finite number >= 0')
  # The keys not checked above ran until they diverged.
  nan = [k for k, _ in _items_where(
      c.to_dict(), lambda v: isinstance(v, float) and math.isnan(v))]
  _check(not nan, f'{nan[0]}=nan is not a number; give a finite value' if nan else '')
  # agent.loss_scales.rec=inf ran until its first updates were skipped as not finite.
  inf = _items_where(a.to_dict(), lambda v: isinstance(v, float) and math.isinf(v))
  _check(not inf, f'agent.{inf[0][0]}={inf[0][1]} must be a finite number' if inf else '')
  # numpy and TensorFlow hold integers in 64 bits: agent.rssm.deter=10**25 was an
  # 'unexpected' "ValueError: Maximum allowed dimension exceeded" as the agent was built.
  huge = _items_where(c.to_dict(), lambda v: isinstance(v, int) and not -2 ** 63 <= v < 2 ** 63)
  _check(not huge, f'{huge[0][0]}={huge[0][1]} is beyond a 64-bit integer (< 2**63)'
         if huge else '')
  _check_agent_memory(c)
  _check_env_workers(c)
  return c


def _check_env_workers(c):
  """The env worker processes (run.parallel=True) must fit in the memory available and
  the processes this process may start: run.envs=1024 started 1024 interpreters, each
  importing the env's libraries, until the machine ran out of memory (the OOM killer)
  or processes, without a line. Before any worker starts."""
  if not c.run.parallel:
    return
  from dreamerv3_tf.envs import memory  # numpy-free; reads /proc
  keys = {'train': ('envs',), 'eval_only': ('eval_envs',)}.get(c.script, ('envs', 'eval_envs'))
  count = sum(c.run[k] for k in keys)
  given = ' and '.join(f'run.{k}={c.run[k]}' for k in keys)
  what = f'{given} start {count} env worker processes (run.parallel=True)'
  fix = f'use fewer {" or ".join(f"run.{k}" for k in keys)}'
  suite = c.task.partition('_')[0]
  each = memory.WORKER_BYTES.get(suite, memory.WORKER_BYTES['py'])
  available = memory.available_bytes()
  _check(available is None or count * each <= available,
         f'{what}, each of at least {each / memory.MIB:.0f} MiB for {suite} tasks: '
         f'{count * each / memory.GIB:.1f} GiB, more than the '
         f'{(available or 0) / memory.GIB:.1f} GiB of memory available; {fix}')
  room = memory.process_room()
  threads = memory.tensorflow_threads()  # in this process, which count too
  _check(room is None or count + threads <= room[0],
         f'{what}, and about {threads} threads of TensorFlow in this process: more than the '
         f'{room and room[0]} processes it may still start ({room and room[1]}); {fix}')
  # The parent holds a socket of each worker open, besides about 12 files of its own
  # (checkpoint saves and reads included): run.envs=300 under `ulimit -n 256` (1024 is
  # common) stopped with 'Error: [Errno 24] Too many open files' as the workers started.
  files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
  _check(files == resource.RLIM_INFINITY or count + FILES_BESIDE_WORKERS <= files,
         f'{what}, each holding a file open in this process, which needs about '
         f'{FILES_BESIDE_WORKERS} more: more than the {files} files it may have open '
         f'(ulimit -n {files}); raise the limit, e.g. ulimit -n '
         f'{max(4096, count + FILES_BESIDE_WORKERS)}, or {fix}')


# The files the run itself holds open beside its env workers' sockets (12 measured, with
# a save's and a resume's reads; env workers=41 ran under `ulimit -n 53`, not 52).
FILES_BESIDE_WORKERS = 16


def _missing_keys(config):
  """The keys of configs/base.py's config, at every depth ('run.steps',
  'agent.rssm.deter'), that `config` lacks, in order; the free-form dicts' own keys
  (env.py, replay.fracs, replay.prio) aside."""
  from configs import base as base_config
  have = set(dotted_keys(config.to_dict(), _FREE_FORM))
  return [k for k in dotted_keys(base_config.get_config().to_dict(), _FREE_FORM)
          if k not in have]


def dotted_items(tree, prefix=''):
  """(dotted key, value) of every leaf of dict `tree`, in order."""
  for key, value in tree.items():
    if isinstance(value, dict):
      yield from dotted_items(value, f'{prefix}{key}.')
    else:
      yield prefix + key, value


def dotted_keys(tree, skip=(), prefix=''):
  """Every key of dict `tree` at every depth, dotted ('run.steps'), in order; not
  below the dicts `skip` names."""
  for key, value in tree.items():
    yield prefix + key
    if isinstance(value, dict) and prefix + key not in skip:
      yield from dotted_keys(value, skip, f'{prefix}{key}.')


def _extra_keys(config):
  """-> (the first dotted key of `config` that configs/base.py's config lacks, '; did
  you mean ...?' or ''), else None. The free-form dicts' keys aside, and the options of
  env.<suite>, which each suite names itself."""
  import difflib
  from configs import base as base_config
  found = _first_key_beyond(
      config.to_dict(), base_config.get_config().to_dict(), '',
      skip=lambda name: name in _FREE_FORM or name.startswith('env.'))
  if not found:
    return None
  name, _, default = found
  prefix, _, key = name.rpartition('.')
  close = difflib.get_close_matches(key, [str(k) for k in default], n=1)
  return name, f' (did you mean {prefix + "." if prefix else ""}{close[0]}?)' if close else ''


def _first_key_beyond(tree, default, prefix, skip=lambda name: False):
  """-> (dotted key, its value, the dict of `default` it is missing from) of the first
  key of dict `tree` that `default` (configs/base.py's part) lacks, at any depth below
  the dicts both have but those `skip(dotted key)` names; else None."""
  for key, value in tree.items():
    name = prefix + key
    if key not in default:
      return name, value, default
    if isinstance(value, dict) and isinstance(default[key], dict) and not skip(name):
      found = _first_key_beyond(value, default[key], f'{name}.', skip)
      if found:
        return found
  return None


def _not_plain(value, where=''):
  """(where, value, what it is) of the first part of `value` that is no JSON data
  (a set, bytes, a key that is not text), else None."""
  if isinstance(value, dict):
    for key, inner in value.items():
      if not isinstance(key, str):
        return where, value, f'a dict with the key {key!r} of type {type(key).__name__}'
      found = _not_plain(inner, f'{where}[{key!r}]')
      if found:
        return found
    return None
  if isinstance(value, (list, tuple)):
    for i, inner in enumerate(value):
      found = _not_plain(inner, f'{where}[{i}]')
      if found:
        return found
    return None
  if value is None or isinstance(value, (bool, int, float, str)):
    return None
  return where, value, f'of type {type(value).__name__}'


def _is_number(value):
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_atari(env, name):
  """The Atari suite refused these as an env that failed to start (exit code 1, after
  TensorFlow loaded for envs in this process), naming 'atari lives', not the key."""
  for key, choices in (('lives', ('unused', 'discount', 'reset')),
                       ('actions', ('all', 'needed')), ('aggregate', ('max', 'mean'))):
    _check(env.get(key, choices[0]) in choices,
           f'{name}.{key}={env.get(key)!r}; choose one of {choices}')
  pooling, repeat = env.get('pooling', 1), env.get('repeat', 1)
  _check(_is_number(pooling) and 1 <= pooling <= repeat,
         f'{name}.pooling={pooling} must be >= 1 and <= {name}.repeat={repeat} (frames '
         'pooled of those each agent step repeats)')
  _check(_is_number(env.get('noops', 0)) and env.get('noops', 0) >= 0,
         f"{name}.noops={env.get('noops')} must be >= 0 (random no-op steps at each reset)")


def _items_where(tree, test, prefix=''):
  """-> (dotted key, value) of `tree`'s values that pass `test`, in order."""
  found = []
  for key, value in tree.items():
    if isinstance(value, dict):
      found += _items_where(value, test, f'{prefix}{key}.')
    elif test(value):
      found.append((f'{prefix}{key}', value))
  return found


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


# An eval or a report this long passes without a progress line: the configs play 1-3
# episodes and run 1 batch.
MANY_EVAL_EPISODES = 100
MANY_REPORT_BATCHES = 100
# Imagined steps per start: each update's imagination grows with it (the configs use 15).
MANY_IMAGINED_STEPS = 1000
# Layers of one stack (the configs use 1-3): each is built in Python, then compiled.
MANY_LAYERS = 100


def look_hung_warnings(config):
  """-> warning lines for the settings that make the run go long without a progress line
  (run.train_ratio, run.eval_eps, run.report_batches, agent.imag_length): eval_eps=1e9
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
  deep = [(k, v) for k, v in dotted_items(config.agent.to_dict(), 'agent.')
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
  return [x for x in lines if x]


# Keys a script never reads (script -> {key: what it reads instead}): set on the
# command line, they changed nothing without a word.
_UNREAD = {
    'eval_only': {
        'run.eval_eps': 'it plays run.steps env steps and scores every episode that ends in '
                        'them; give --config.run.steps to set how long it evaluates',
        'run.envs': 'its envs are run.eval_envs'},
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
  return lines


def _fits(config, key, layers):
  """Whether a stack of `layers` layers (config key `key`) may fit in memory when
  trained: one that cannot is a config error of the memory check (its warning came as a
  second line before it)."""
  from dreamerv3_tf.envs import memory
  section, name = key.split('.')[1:]
  units = config.agent[section]['hidden' if section == 'rssm' else 'units']
  available = memory.available_bytes()
  need = _bytes_needed(units * units * (layers - 1), _trains_on_cpu(config))
  return available is None or need <= available


def ignored_from_checkpoint(config):
  """-> a warning line when a resume of `config.logdir` is given another
  run.from_checkpoint than its config.json holds (the one it started from, or the last
  command's), else None. A resume loads its own checkpoint: one added to fine-tune in
  the same logdir was not read, without a word."""
  given = str(config.run.from_checkpoint or '')
  try:
    data, _ = _load_json(config.logdir, 'config.json')
    started = str(data.get('run', {}).get('from_checkpoint') or '')
  except (ConfigError, OSError, AttributeError):
    return None
  norm = lambda x: x if '://' in x else os.path.realpath(os.path.expanduser(x))
  if not given or (started and norm(started) == norm(given)):
    return None
  return (f'Warning: run.from_checkpoint={given} is not read: a resume loads its own '
          'latest checkpoint, which holds the whole agent; to start from it, use a new '
          '--logdir')


def check_logdir(config, logdir, allow_other=False):
  """Raises ConfigError (one line) unless `logdir` can hold a run of `config`. Reads only.

  The logdir must be a directory or not exist yet (below a directory), and the
  config.json a run saved there must equal `config` up to the keys that may differ
  on resume (how long to run, how often to log), unless `allow_other`.
  """
  if '://' not in logdir:
    return _check_logdir(config, logdir, allow_other)
  import tensorflow as tf
  try:
    return _check_logdir(config, logdir, allow_other)
  except tf.errors.OpError as e:  # no network, no credentials, an unknown scheme
    raise LogdirError(f'Cannot read --logdir {logdir}: {base.one_line(e)}') from None


def _check_logdir(config, logdir, allow_other):
  fs = _files(logdir)
  local = '://' not in logdir
  if local:  # first: a user who may not write / was told 'Cannot create /'
    _check_not_home(logdir)
  _check_is_directory(logdir, fs)
  official = local and base.official_run(logdir)
  given = os.path.expanduser(logdir).rstrip('/')
  # Its ckpt/ or a save folder too: the importer wrote our logdir there, among the
  # official save folders.
  # (Not abspath('.'): in a deleted current directory, 'Error: [Errno 2] No such file
  # or directory' stopped every run of a full --logdir.)
  within = official and (os.path.abspath(given) + os.sep).startswith(
      os.path.join(os.path.abspath(official), 'ckpt') + os.sep)
  if official == given or within:
    # It was 'metrics.jsonl holds the metrics of an earlier run, but ckpt holds no
    # checkpoint', or a new run among its files.
    raise ConfigError(base.official_run_line(f'--logdir {logdir}', official))
  if local:
    _check_not_inside_a_run(logdir, config.script)
    _check_not_an_export(logdir)
  _check_entries(config, logdir, fs)
  if local:
    if config.script != 'eval_only':
      _check_own_checkpoints(logdir)
    _check_not_above_runs(logdir)
  path = fs.join(logdir, 'config.json')
  saved = _saved_or_none(fs, path)
  if saved is not None:  # before its metrics: an evaluation's have no checkpoints
    _check_same_kind(config, logdir, saved)
  _check_metrics_have_checkpoints(config, logdir, fs)
  if not fs.exists(path):
    return
  try:
    with fs.open(path, 'r') as f:
      saved = json.load(f)
    if not isinstance(saved, dict):  # ('list' object has no attribute 'items')
      raise ValueError(f'it holds a JSON {_json_kind(saved)}, not an object')
    old = _comparable(saved)
  except (ValueError, AttributeError) as e:  # not JSON, or not a config's JSON
    raise ConfigError(f'{path} is not a saved config ({str(e).splitlines()[0]}); '
                      f'{_way_on(logdir, fs)}') from None
  missing = [k for k in ('task', 'agent') if k not in saved]
  if missing:  # someone else's config.json: allow_other_config would overwrite it
    raise ConfigError(f'{path} is not a saved config (no {", ".join(map(repr, missing))}); '
                      'use a new --logdir')
  diff = _diff(old, _comparable(json.loads(to_json(config))))
  if diff and not allow_other:
    raise ConfigError(
        f'logdir {logdir} belongs to another config ({"; ".join(diff[:3])}); '
        'use a new --logdir or pass --config.run.allow_other_config=True')
  if not allow_other:
    _check_same_policy(config, logdir, saved)


def _saved_or_none(fs, path):
  """The JSON object of config file `path`, or None where it is missing or no object
  (the full read names what is wrong with it)."""
  if not fs.exists(path):  # (a remote open raises TensorFlow's NotFoundError)
    return None
  try:
    with fs.open(path, 'r') as f:
      saved = json.load(f)
  except (OSError, ValueError):
    return None
  return saved if isinstance(saved, dict) else None


def _check_same_policy(config, logdir, saved):
  """An evaluation's logdir holds the episodes of the policy its run.from_checkpoint
  named: another one evaluated there added its episodes to them, without a word, and
  a plot drew both as one policy (its own runs of the same command add to them)."""
  if config.script != 'eval_only' or saved.get('script') != 'eval_only':
    return
  norm = lambda x: x if '://' in x else os.path.realpath(os.path.expanduser(x))
  old = str((saved.get('run') or {}).get('from_checkpoint') or '')
  new = str(config.run.from_checkpoint or '')
  if old and new and norm(old) != norm(new):
    raise ConfigError(
        f'logdir {logdir} holds the evaluation of {old}; evaluating {new} there would mix '
        'the episodes of both policies: use a new --logdir, or pass '
        '--config.run.allow_other_config=True to add them')


def _way_on(logdir, fs):
  """What to do about a logdir whose config.json cannot be read: when its ckpt/ holds
  checkpoints (config.json was cut short, e.g. on a full disk), a way that keeps their
  work; 'use a new --logdir' alone told to throw it away."""
  ckpt = fs.join(logdir, 'ckpt')
  if not has_checkpoints(logdir, fs):
    return 'use a new --logdir'
  return ('put back the config.json it ran with, or start a new --logdir from its agent '
          f'with --config.run.from_checkpoint={shlex.quote(ckpt)} (its latest checkpoint)')


def has_checkpoints(logdir, fs=None):
  """Whether `logdir` holds a checkpoint of its own (a resume reads that one)."""
  fs = fs or _files(logdir)
  ckpt = fs.join(logdir, 'ckpt')
  return fs.isdir(ckpt) and any(x.endswith('.index') for x in fs.listdir(ckpt))


NOTHING_TO_EVALUATE = (
    'script=eval_only evaluates the checkpoint that run.from_checkpoint names, and none is '
    "given: pass --config.run.from_checkpoint=PATH (a checkpoint, a run's ckpt directory or "
    'a SavedModel export), or --config.random_agent=True for the score of a random policy')


def nothing_to_evaluate(config):
  """Whether eval_only has no policy to load: no run.from_checkpoint, no random agent,
  and no local LOGDIR/ckpt (a logdir of a training run, which holds one, is refused;
  a remote one's read names its own errors)."""
  if config.script != 'eval_only' or config.run.from_checkpoint or config.random_agent:
    return False
  return '://' not in config.logdir and not os.path.isdir(os.path.join(config.logdir, 'ckpt'))


def check_from_checkpoint(config):
  """ConfigError unless a local run.from_checkpoint exists. Reads only; before
  TensorFlow loads (it was 'Checkpoint X is missing', exit code 1, after it).

  A resume of a training run does not read it (its own checkpoint holds the whole
  agent), so the run it started from may have been moved or deleted since."""
  given = str(config.run.from_checkpoint or '')
  if config.script != 'eval_only' and has_checkpoints(config.logdir):
    return  # a resume: it loads its own checkpoint
  if nothing_to_evaluate(config):  # it was 'Error: No checkpoint found', exit code 1, after it
    raise ConfigError(NOTHING_TO_EVALUATE)
  official = base.official_run(given)
  if official:  # it was 'a directory that holds no checkpoint', or 'No checkpoint found'
    raise ConfigError(base.official_run_line(f'run.from_checkpoint={given}', official))
  cut = base.cut_save_line(f'run.from_checkpoint={given}', given)
  if cut:
    raise ConfigError(cut)
  not_one = _file_not_a_checkpoint(given)
  if not_one:  # it was 'Error: ... is a file, not a checkpoint', exit code 1, after it
    raise ConfigError(f'run.from_checkpoint={given} is a file, not a checkpoint{not_one}')
  export = config.script != 'eval_only' and _in_an_export(given)
  if export:  # it was 'No checkpoint found in EXPORT (...)', exit code 1, after it
    what = (base.A_SAVED_MODEL if export == os.path.expanduser(given).rstrip('/')
            else f'no checkpoint of a run{base.inside_export(export)}')
    raise ConfigError(f'run.from_checkpoint={given} is {what}')
  if checkpoints_below(given):  # it was 'No checkpoint found in RUN', exit code 1, after it
    inner = os.path.join(given, 'ckpt')
    raise ConfigError(f"run.from_checkpoint={given} is a run's logdir, and its checkpoints "
                      f'are in {inner}: did you mean --config.run.from_checkpoint={inner}?')
  path = base.missing_checkpoint(given)
  empty = not path and _holds_no_checkpoint(given)
  if not (path or empty):
    return
  what = 'a SavedModel export, ' if config.script == 'eval_only' else ''
  found = ("a directory that holds no checkpoint (no 'checkpoint' file, no *.index)"
           if empty else f'no such checkpoint ({path} and {path}.index do not exist)')
  # An empty one was 'No checkpoint found in DIR' once TensorFlow had loaded and compiled.
  raise ConfigError(
      f'run.from_checkpoint={config.run.from_checkpoint}: {found}; name a checkpoint '
      f"prefix such as RUN/ckpt/ckpt-3, {what}or a run's ckpt directory")


def _file_not_a_checkpoint(path):
  """For a local file that is no checkpoint prefix (its .index does not exist), the
  hint that ends its line ' (...)', else ''. As export's --checkpoint says it."""
  path = os.path.expanduser(path)
  if not path or '://' in path or not os.path.isfile(path) or os.path.exists(path + '.index'):
    return ''
  for parent in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
    if parent and os.path.isfile(os.path.join(parent, 'saved_model.pb')):
      return base.inside_export(parent)  # saved_model.pb, variables/variables.index, ...
  prefix = base.file_prefix(path)  # of its .index or a data file
  if prefix:
    return f' (name its prefix, --config.run.from_checkpoint={prefix})'
  return f' ({base.NOT_A_PREFIX})'


def _in_an_export(path):
  """The local SavedModel export that `path` is or lies in (EXPORT, EXPORT/variables,
  its prefix EXPORT/variables/variables), else '': training needs a run's checkpoint."""
  path = os.path.expanduser(path).rstrip('/')
  if not path or '://' in path:
    return ''
  for folder in (path, os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
    if folder and os.path.isfile(os.path.join(folder, 'saved_model.pb')):
      return folder
  return ''


def checkpoints_below(path):
  """Whether local `path` is a directory that holds no checkpoint itself but a ckpt/
  that does (a run's logdir given for its ckpt directory)."""
  path = os.path.expanduser(path)
  if not path or '://' in path or not os.path.isdir(path):
    return False
  ckpt = os.path.join(path, 'ckpt')
  try:
    return (not _checkpoint_files(os.listdir(path)) and os.path.isdir(ckpt)
            and _checkpoint_files(os.listdir(ckpt)))
  except OSError:  # unreadable: the checkpoint read names it
    return False


def _checkpoint_files(names):
  """Whether a directory of `names` holds what a checkpoint read takes (state file,
  *.index) or an export (saved_model.pb)."""
  return any(n in ('checkpoint', 'saved_model.pb') or n.endswith('.index') for n in names)


def _holds_no_checkpoint(path):
  """Whether local `path` is a directory with nothing a checkpoint read could take: no
  state file, no *.index, no SavedModel, no ckpt/ (a run's logdir) below it."""
  path = os.path.expanduser(path)
  if not path or '://' in path or not os.path.isdir(path):
    return False
  names = os.listdir(path)
  return 'ckpt' not in names and not _checkpoint_files(names)


def check_resume_from(config):
  """ConfigError when run.resume_from names no checkpoint of this run by file names
  alone: not a ckpt-<N> of LOGDIR/ckpt, a run with no checkpoints yet, a ckpt-<N>
  without a file. Reads only; before TensorFlow loads for a local logdir (these were a
  checkpoint error, exit code 1, once TensorFlow and the envs had loaded). Whether one
  that exists is intact is for the checkpoint checks, which read its files. eval_only
  resumes nothing: there it names the flag that evaluates that checkpoint (it was
  ignored, and the latest checkpoint evaluated)."""
  resume_from = str(config.run.resume_from or '')
  if not resume_from:
    return
  logdir = config.logdir
  if config.script == 'eval_only':  # (a bare ckpt-N: of this logdir, as for a resume)
    path = base.named_prefix(os.path.join(logdir, 'ckpt'), resume_from)
    raise ConfigError(
        f'run.resume_from={resume_from}: eval_only resumes nothing; to evaluate that '
        f'checkpoint, give --config.run.from_checkpoint={path} instead')
  if '://' not in logdir:
    return _check_resume_from(resume_from, logdir, _files(logdir))
  import tensorflow as tf
  try:
    return _check_resume_from(resume_from, logdir, _files(logdir))
  except tf.errors.OpError as e:  # as check_logdir
    raise LogdirError(f'Cannot read --logdir {logdir}: {base.one_line(e)}') from None


def _check_resume_from(resume_from, logdir, fs):
  ckpt = fs.join(logdir, 'ckpt')
  path = base.resume_path(ckpt, resume_from, fs.join)
  if path is None:  # the wording of checkpoint_damage's, which judges a direct call
    raise ConfigError(
        f'run.resume_from={resume_from} is not a checkpoint of this run (expected '
        f'{fs.join(ckpt, "ckpt-<N>")}); run.from_checkpoint starts a new run '
        "from another run's agent")
  names = fs.listdir(ckpt) if fs.isdir(ckpt) else []
  if not any(x == 'checkpoint' or x.endswith('.index') for x in names):
    raise ConfigError(
        f'run.resume_from={resume_from}: this run has no checkpoints in {ckpt} yet; '
        'drop run.resume_from to start it')
  name = os.path.basename(path)
  if any(x == f'{name}.index' or x.startswith(f'{name}.data-') for x in names):
    return  # there: the checkpoint checks read it
  found = base.checkpoint_prefixes(names)
  if found:  # (with none, only a state file: the checkpoint checks name that damage)
    raise ConfigError(
        f'run.resume_from={resume_from}: no such checkpoint (neither {path}.index nor '
        f'its data files exist); the checkpoints in {ckpt} are {", ".join(found)}')


def check_not_in_use(logdir):
  """LogdirError if another process runs in local `logdir` (core/dirlock.py). Reads
  only; the run itself holds the lock (run/common.py's lock_logdir)."""
  if '://' in logdir:
    return
  from dreamerv3_tf.core import dirlock
  try:
    dirlock.check_free(logdir)
  except dirlock.Busy as e:
    raise in_use_error(logdir, e) from None


def in_use_error(logdir, busy):
  """The LogdirError of `logdir`'s dirlock.Busy: one line, what to do."""
  holder = f'process {busy.pid}' if busy.pid else 'another process'
  kept = ('the episodes it logged' if '://' not in logdir and _evaluated_checkpoint(
      _files(logdir), logdir) is not None else 'its checkpoints')  # an evaluation saves none
  return LogdirError(f'logdir {logdir} is in use by another run ({holder}); stop that run '
                     f'first ({kept} are kept), or pass another --logdir')


def tf_config(text=None):
  """TF_CONFIG (the cluster and task of a multi_worker run) as {'cluster': {...},
  'task': {'type', 'index'}}; {} if unset. ConfigError when it is not that JSON."""
  text = os.environ.get('TF_CONFIG', '') if text is None else text
  if not text.strip():
    return {}
  try:
    data = json.loads(text)
    task = {'type': data['task']['type'], 'index': int(data['task']['index'])}
    cluster = dict(data.get('cluster') or {})
  except (ValueError, KeyError, TypeError) as e:
    raise ConfigError(f'TF_CONFIG is not valid cluster JSON ({_what(e)}); see '
                      'launchers/multi_worker.sh') from None
  # A task that its cluster does not list ran alone to its end with exit code 0 (or
  # failed as 'unexpected' for a negative index), as did a cluster of text addresses.
  for name, addresses in cluster.items():
    if not (isinstance(addresses, list) and all(isinstance(x, str) for x in addresses)):
      raise ConfigError(f"TF_CONFIG's cluster[{name!r}] is {addresses!r}, not a list of "
                        "'host:port' addresses; see launchers/multi_worker.sh")
  kind, index = task['type'], task['index']
  count = len(cluster.get(kind) or []) if kind in ('chief', 'worker') else 0
  if not 0 <= index < count:
    raise ConfigError(
        f"TF_CONFIG's task is {kind!r} {index}, but its cluster lists {count} {kind!r} "
        "task(s) (a multi_worker run has 'chief' and 'worker' tasks, numbered from 0); "
        'see launchers/multi_worker.sh')
  return {'cluster': cluster, 'task': task}


def worker_role(text=None):
  """-> (is_chief, number of this process in the cluster); (True, 0) without a cluster.
  text: TF_CONFIG's JSON (default: this process's).

  The chief is the 'chief' task, or worker 0 when the cluster has no chief task.
  Numbers count the chief first, then the workers (TensorFlow's id_in_cluster), so
  every process has its own: it seeds this process's envs and action noise.
  """
  data = tf_config(text)
  if not data:
    return True, 0
  task_type, index = data['task']['type'], data['task']['index']
  has_chief = bool(data['cluster'].get('chief'))
  if task_type == 'chief':
    return True, 0
  return index == 0 and not has_chief, index + int(has_chief)


def check_environment(config):
  """ConfigError if this process's environment cannot run `config`; before TensorFlow
  loads (a multi_worker run without its TF_CONFIG failed after building its envs)."""
  from dreamerv3_tf import tfimport  # (TensorFlow itself is not imported)
  tfimport.check_tf_env()
  if config.distribute == 'multi_worker':
    cluster_of_this_process()
  elif config.distribute in ('default', 'mirrored'):
    # Every process of the cluster trained on its own, in the same logdir (a remote one
    # has no lock): each pruned the others' checkpoints. E.g. a cluster job whose
    # command lacked the flag; a TF_CONFIG of one process is fine.
    try:
      cluster = json.loads(os.environ.get('TF_CONFIG') or '{}').get('cluster') or {}
      count = sum(len(cluster.get(kind) or []) for kind in ('chief', 'worker'))
    except (ValueError, AttributeError, TypeError):  # not read: this run needs none
      count = 0
    _check(count <= 1, f'TF_CONFIG names a cluster of {count} processes, but '
           f'distribute={config.distribute!r} trains in this process alone: each of them '
           'would run its own training in the same --logdir; pass '
           "--config.distribute=multi_worker (see launchers/multi_worker.sh), or unset "
           'TF_CONFIG')


def cluster_of_this_process():
  """-> tf_config() of this process; ConfigError if TF_CONFIG is unset."""
  data = tf_config()
  if not data:
    raise ConfigError("distribute='multi_worker' needs the TF_CONFIG environment variable "
                      '(cluster and task); see launchers/multi_worker.sh')
  return data


def _check_same_kind(config, logdir, saved):
  """An evaluation (script=eval_only) and a training run do not share a logdir: its
  config.json, metrics and step counts would mix two runs (eval_only reads a run
  through run.from_checkpoint and writes into a logdir of its own)."""
  was = saved.get('script')
  if was in SCRIPTS and (was == 'eval_only') != (config.script == 'eval_only'):
    what = 'an evaluation (script=eval_only)' if was == 'eval_only' else 'a training run'
    raise ConfigError(
        f'logdir {logdir} holds {what}; script={config.script} needs a new --logdir'
        + (' (point run.from_checkpoint at that run)' if config.script == 'eval_only' else ''))


def _files(path):
  """File operations for `path`: os for local paths (TensorFlow not loaded yet, so
  a bad logdir fails fast), tf.io.gfile for gs:// and other remote ones."""
  if '://' not in path:
    from dreamerv3_tf.core.files import LOCAL
    return LOCAL
  from dreamerv3_tf.gfile import GFILES
  return GFILES


# Schemes of TensorFlow's file systems: 'gs:/bucket/run' (one slash) is a local path.
REMOTE_SCHEMES = ('gs', 's3', 'hdfs', 'file', 'ram', 'http', 'https', 'az')


def _check_is_directory(logdir, fs):
  """The logdir, or its nearest existing parent, must be a directory."""
  scheme = re.match(r'([A-Za-z][A-Za-z0-9+.-]*):', logdir)
  if '://' not in logdir and scheme and scheme.group(1).lower() in REMOTE_SCHEMES:
    # The run made ./gs:/bucket/run and trained there, without a word.
    rest = logdir[scheme.end():].lstrip('/')
    raise ConfigError(f'--logdir {logdir} starts like a remote path without its //; '
                      f'write {scheme.group(1)}://{rest}, or ./{logdir} for a local '
                      f"directory named '{scheme.group(1)}:'")
  if logdir.startswith('~'):  # expanduser keeps `~name` of an unknown user as it is
    raise ConfigError(base.unknown_home_refusal('--logdir', logdir))
  path = logdir.rstrip('/') or '/'
  while not fs.exists(path):
    if '://' not in logdir and os.path.islink(path):
      # exists() is False for it, and the run failed to make the logdir after
      # TensorFlow had loaded, with 'File exists' (e.g. a link to an unmounted disk).
      raise ConfigError(f'--logdir {logdir}: {path} is a symbolic link to '
                        f'{os.readlink(path)}, which does not exist or loops; fix the '
                        'link or pass another --logdir')
    parent = os.path.dirname(path)
    if '://' in logdir or parent == path:
      return
    path = parent
  if not fs.isdir(path):
    where = 'is a file' if path == logdir.rstrip('/') else f'is below {path}, which is a file'
    raise ConfigError(f'--logdir {logdir} {where}, not a directory')
  if '://' not in logdir:  # the run failed to make it after TensorFlow had loaded
    _check_names_fit(logdir, path)
    if path != logdir.rstrip('/'):
      _check_can_create(logdir, path)


def _check_can_create(logdir, existing):
  """LogdirError if local `logdir` cannot be made in `existing`, its nearest existing
  parent (another user's, a read-only disk): the run made it once TensorFlow had loaded
  and the agent compiled. Leaves `existing` as it was (an unnamed temporary file)."""
  try:
    tempfile.TemporaryFile(dir=existing).close()
  except OSError as e:
    raise LogdirError(f'Cannot create {logdir}: {base.one_line(e, cause_only=True)}') from e


# A run's own folders: a logdir in one would mix a new run's files with the run's.
RUN_FOLDERS = ('ckpt', 'tb')


def _check_not_inside_a_run(logdir, script):
  """ConfigError if local `logdir`, no run's itself, is in a run's ckpt/ or tb/:
  --logdir=RUN/ckpt (meant: resume RUN) started a new run at step 0 there, among the
  run's checkpoints."""
  path = os.path.abspath(logdir)
  if os.path.exists(os.path.join(path, 'config.json')):
    return
  below = []
  while os.path.dirname(path) != path:
    path, name = os.path.dirname(path), os.path.basename(path)
    below.insert(0, name)
    if below[0] in RUN_FOLDERS and os.path.isfile(os.path.join(path, 'config.json')):
      run = path if os.path.isabs(logdir) else os.path.relpath(path)
      what = ('use a directory outside it (point run.from_checkpoint at that run)'
              if script == 'eval_only' else
              f'pass --logdir={run} to resume it, or a directory outside it')
      raise ConfigError(
          f'--logdir {logdir} is in the {below[0]}/ folder of the run {run}; a run there '
          f"would mix its files with that run's: {what}")


def _check_not_above_runs(logdir):
  """ConfigError if local `logdir`, no run itself, holds runs (folders with a
  config.json): --logdir=~/logdir/$RUN with RUN unset started a new run at step 0 in
  ~/logdir, its files among the runs' folders, instead of resuming one."""
  if not os.path.isdir(logdir) or os.path.exists(os.path.join(logdir, 'config.json')):
    return
  runs = base.runs_in(logdir)  # (unreadable: the writability checks name it)
  if runs:
    shown = ', '.join(runs[:3]) + (', ...' if len(runs) > 3 else '')
    raise ConfigError(
        f'--logdir {logdir} holds {len(runs)} run{"s" if len(runs) > 1 else ""} ({shown}) '
        'and is none itself; a new run there would put its files among them: pass one '
        f'of them to resume it, or a new directory, e.g. --logdir={os.path.join(logdir, "NAME")}')


# What a run (or a multi_worker run's other workers) writes into its logdir.
RUN_ENTRIES = frozenset(('ckpt', 'config.json', 'metrics.jsonl', 'scores.jsonl',
                         'spaces.json', 'tb', 'workers'))


def missing_config_warning(config):
  """-> a warning line when local `config.logdir` holds checkpoints of a training run but
  no config.json (deleted, or a ckpt/ copied into a new folder), else None. The resume
  went on without a word with whatever settings were given, where a config.json of other
  ones is refused without run.allow_other_config; its checkpoints name only their task,
  spaces and agent settings, which the resume still checks."""
  logdir = config.logdir
  if ('://' in logdir or config.script == 'eval_only'
      or os.path.lexists(os.path.join(logdir, 'config.json')) or not os.path.isdir(logdir)
      or not has_checkpoints(logdir)):
    return None
  return (f'Warning: {os.path.join(logdir, "config.json")} is missing beside the checkpoints '
          "in ckpt/, so this command's settings cannot be compared with the ones they "
          'were trained with: a resume checks only their task and agent settings, and '
          'takes the rest as given')


def crowded_logdir_warning(logdir):
  """-> a warning line when local `logdir` holds no run but other things (--logdir=. in
  a source checkout put config.json, ckpt/ and the logs among its files without a word),
  else None. Not an error: a folder made for the run may hold the user's notes."""
  if '://' in logdir or os.path.exists(os.path.join(logdir, 'config.json')):
    return None
  try:
    if has_checkpoints(logdir):  # a run's without its config.json: missing_config_warning
      return None
    others = sorted(x for x in os.listdir(logdir) if x not in RUN_ENTRIES)
  except OSError:  # not there yet (the usual case), or unreadable: checked elsewhere
    return None
  if not others:
    return None
  shown = ', '.join(others[:3]) + (', ...' if len(others) > 3 else '')
  return (f'Warning: --logdir {logdir} holds no run but {len(others)} other '
          f'entr{"ies" if len(others) > 1 else "y"} ({shown}); the run puts its files '
          '(config.json, spaces.json, ckpt/, the logs) among them')


def _check_not_home(logdir):
  """ConfigError if local `logdir` is the home directory or the file system's root and
  holds no run: --logdir=~/$RUN with RUN unset put config.json, ckpt/ and the logs among
  the user's own files (a warning line, as for any folder of other things)."""
  real = os.path.realpath(os.path.expanduser(logdir))
  homes = {os.path.realpath(os.path.expanduser('~')), os.path.realpath(os.sep)}
  if real in homes and not os.path.exists(os.path.join(real, 'config.json')):
    what = 'the root of the file system' if real == os.path.realpath(os.sep) else (
        'your home directory')
    raise ConfigError(f'--logdir {logdir} is {what}; a run there would put its files among '
                      'yours (a $RUN in the path unset?): give it a folder of its own, e.g. '
                      '--logdir=~/logdir/NAME')


def _check_not_an_export(logdir):
  """ConfigError if local `logdir` holds an export (saved_model.pb): a run there put its
  files among the SavedModel's, and an export --overwrite to that folder deleted them
  with the old export."""
  if os.path.isfile(os.path.join(logdir, 'saved_model.pb')):
    raise ConfigError(
        f'--logdir {logdir} holds an export (saved_model.pb); a run there would put its '
        "files among the SavedModel's, which an export --overwrite to it deletes: give "
        'another --logdir (to evaluate the export, pass it as --config.run.from_checkpoint)')


def _check_own_checkpoints(logdir):
  """ConfigError if local `logdir`'s ckpt/ is a symbolic link into another run's folder
  (one with a config.json): its checkpoints were resumed as this run's, and this
  run's saves then pruned them. A link to a directory of no run (another disk) passes.
  So for ckpt/replay_train and ckpt/replay_eval: a new run deleted the replay files of
  the run whose folder they linked to as it pruned its own."""
  ckpt = os.path.join(logdir, 'ckpt')
  own = os.path.realpath(logdir)
  if os.path.islink(ckpt):
    other = os.path.dirname(os.path.realpath(ckpt))
    if os.path.isfile(os.path.join(other, 'config.json')) and other != own:
      raise ConfigError(
          f'{ckpt} is a symbolic link to {os.readlink(ckpt)}, in the run {other}; its saves '
          f"would prune that run's checkpoints: pass --logdir={shlex.quote(other)} to resume "
          f'it, or remove the link and start from its agent with '
          f'--config.run.from_checkpoint={shlex.quote(os.path.realpath(ckpt))}')
  for folder in ('replay_train', 'replay_eval'):
    link = os.path.join(ckpt, folder)
    if not os.path.islink(link):
      continue
    target = os.path.realpath(link)
    for other in (os.path.dirname(target), os.path.dirname(os.path.dirname(target))):
      if os.path.isfile(os.path.join(other, 'config.json')) and other != own:
        raise ConfigError(
            f'{link} is a symbolic link to {os.readlink(link)}, in the run {other}; this '
            "run's saves would prune that run's replay files: remove the link (the run "
            f'makes its own folder), or pass --logdir={shlex.quote(other)} to resume that run')


# Bytes the run's files add below its logdir, at most (ckpt/replay_train/ and a chunk's
# temporary name, tb/ and an events file named after the host).
FILES_BELOW_LOGDIR = 200


def _check_names_fit(logdir, existing):
  """The directories of local `logdir` still to be made below `existing` must have
  names the filesystem takes (NAME_MAX bytes, 255 on most), and the paths of the run's
  files a length it takes (PATH_MAX, 4096 on Linux)."""
  try:
    longest = os.pathconf(existing, 'PC_NAME_MAX')
  except (OSError, ValueError):
    longest = 255
  for name in os.path.relpath(logdir, existing).split(os.sep):
    if len(os.fsencode(name)) > longest:
      raise ConfigError(f'--logdir {logdir}: the name {name[:20]}... is '
                        f'{len(os.fsencode(name))} bytes, and the filesystem of {existing} '
                        f'takes at most {longest}')
  try:
    longest = os.pathconf(existing, 'PC_PATH_MAX')
  except (OSError, ValueError):
    longest = 4096
  size = len(os.fsencode(os.path.abspath(logdir)))
  if size + FILES_BELOW_LOGDIR > longest:
    # It failed once TensorFlow had loaded and the agent compiled: 'Cannot create ...:
    # File name too long', the directories made so far left behind.
    raise ConfigError(f'--logdir {logdir[:100]}... is {size} bytes long, and the filesystem '
                      f'of {existing} takes paths of at most {longest} bytes, with the up to '
                      f'{FILES_BELOW_LOGDIR} the run adds for its files below it; use a '
                      'shorter --logdir')


def _check_entries(config, logdir, fs):
  """What the run writes into the logdir must not be there as the other kind (a
  directory where a file goes, or a file where a directory goes): the run would
  fail on its first write of it, after config.json was saved."""
  outputs = config.logger.outputs.split(',')
  # ckpt/damaged: where a resume sets damaged checkpoints aside (checkpoint_damage.py).
  # ckpt/replay_*: the replays' chunks (a file there was named as 'N replay files are
  # missing', with a hint to resume from an earlier checkpoint that failed the same way).
  replays = ['ckpt/replay_train'] + (['ckpt/replay_eval'] if config.script == 'train_eval'
                                     else [])
  dirs = ['ckpt', 'ckpt/damaged', *replays] + (['tb'] if 'tensorboard' in outputs else [])
  files = ['config.json', 'spaces.json'] + (
      ['metrics.jsonl', 'scores.jsonl'] if 'jsonl' in outputs else [])
  for name in dirs + files:
    path = fs.join(logdir, name)
    if fs.exists(path) and fs.isdir(path) != (name in dirs):
      kind, want = ('a directory', 'file') if name in files else ('a file', 'directory')
      raise ConfigError(f'{path} is {kind}, but the run writes a {want} there; move it '
                        'away or use a new --logdir')
  # The run waited for ever opening a named pipe that nothing read; in TensorFlow's read
  # of the checkpoint state file, where not even Ctrl-C or SIGTERM could stop it.
  for name in files + ['ckpt/checkpoint']:
    special = special_file(os.path.join(logdir, name)) if '://' not in logdir else None
    if special:
      raise ConfigError(f'{os.path.join(logdir, name)} is {special}, but the run reads and '
                        'writes a file there; move it away or use a new --logdir')
  for name in dirs + files if '://' not in logdir else ():
    path = os.path.join(logdir, name)
    target = os.path.realpath(path)
    if os.path.islink(path) and not os.path.exists(os.path.dirname(target)):
      # metrics.jsonl on an unmounted disk: the resume rewrote config.json, trained, and
      # stopped at its first log row
      raise LogdirError(f'{path} is a link to {os.readlink(path)}, whose directory does not '
                        'exist (a disk not mounted?); mount it, or remove the link')
  if '://' not in logdir:
    # config.json and spaces.json are replaced through the logdir itself (one the user
    # may not write stopped the run at its config.json, once TensorFlow had loaded); the
    # others are appended to or written into in place (a read-only ckpt/ stopped the run
    # at its first save).
    _check_writable([logdir] + [os.path.join(logdir, x) for x in dirs + files
                                if x not in ('config.json', 'spaces.json')],
                    shown={logdir: os.path.join(logdir, 'config.json')})


def _check_metrics_have_checkpoints(config, logdir, fs):
  """A training run's metrics without its checkpoints (ckpt/ deleted or moved): a run
  there started again at step 0 and appended its rows to the old ones, which then
  held two runs (plots zig-zagged between them). A run writes ckpt-1 before its
  first row, so metrics with rows always had a checkpoint."""
  if config.script == 'eval_only':  # its logdir never holds checkpoints
    return
  ckpt = fs.join(logdir, 'ckpt')
  if fs.isdir(ckpt) and any(x == 'checkpoint' or x.endswith('.index')
                            for x in fs.listdir(ckpt)):
    return  # resumable (or refused, naming the damage, by the checkpoint checks)
  for name in ('metrics.jsonl', 'scores.jsonl'):
    path = fs.join(logdir, name)
    if '://' not in logdir and special_file(path):  # no rows to read; opening one waits
      continue
    if fs.exists(path) and not fs.isdir(path):
      with fs.open(path, 'rb') as f:
        if f.read(4096).strip():
          raise ConfigError(
              f'{path} holds the metrics of an earlier run, but {ckpt} holds no '
              'checkpoint to resume it from; a new run there would start at step 0 and '
              'mix its metrics with them: use a new --logdir')


def _check_writable(paths, shown=None):
  """LogdirError naming the first existing local path of `paths` that cannot be
  written (or what `shown` gives for it: the file written through a directory).
  Leaves each as it was: an unnamed temporary file, an append of nothing."""
  for path in paths:
    try:
      if os.path.isdir(path):
        tempfile.TemporaryFile(dir=path).close()
      elif os.path.exists(path):
        open(path, 'a').close()
    except OSError as e:
      named = (shown or {}).get(path, path)
      raise LogdirError(f'Cannot write {named}: {base.one_line(e, cause_only=True)}') from e


def save(config, logdir, allow_other=False):
  """Writes config.json into logdir after `check_logdir`; raises LogdirError (one
  line) when it cannot be written. Works for local and gs:// logdirs (tf.io.gfile).
  """
  check_logdir(config, logdir, allow_other)
  _write(logdir, 'config.json', to_json(config))


def _write(logdir, name, text):
  """Writes logdir/name atomically (temp name, then rename); LogdirError if it fails."""
  fs = _files(logdir)
  path = fs.join(logdir, name)
  try:
    fs.makedirs(logdir)
    write_atomic(path, text.encode(), fs)
  except Exception as e:  # noqa: BLE001 - OSError or TensorFlow's errors.OpError
    raise LogdirError(f'Cannot write {path}: {base.one_line(e, cause_only=True)}') from e


def save_spaces(logdir, obs_space, act_space):
  """Writes spaces.json: what export and eval_only need to rebuild the agent."""
  _write(logdir, 'spaces.json', json.dumps({
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
  fs = _files(logdir)
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
  return _comparable(json.loads(to_json(config))['agent'], 'agent.')


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
    raise ConfigError(f'{path} does not hold the spaces of a run ({_what(e)})') from None


def load_config(logdir):
  """-> the config a run saved in logdir/config.json; ConfigError if it has none."""
  data, path = _load_json(logdir, 'config.json')
  missing = [k for k in ('task', 'random_agent', 'agent') if k not in data]
  if missing:
    raise ConfigError(f'{path} is not a saved config (no {", ".join(map(repr, missing))})')
  wrong = _mistyped(data)
  if wrong:  # edited by hand: export failed inside the agent ('unexpected' TypeError)
    key, value, want = wrong
    raise ConfigError(f'{path} holds {key}={value!r}, where configs/base.py has a '
                      f'{want}; put back the value the run had')
  unknown = _unknown_agent_key(data.get('agent'))
  if unknown:  # export failed as the agent was built ('unexpected' ValueError), or
    # ignored a top-level one: the agent of another version, or edited by hand
    raise ConfigError(f'{path} holds {unknown[0]}={unknown[1]!r}, an agent setting this '
                      'version of dreamerv3_tf lacks (a run of a newer version, or edited '
                      'by hand?); use the version that trained the run, or remove the key')
  return from_json(json.dumps(data))


def _unknown_agent_key(agent):
  """-> (dotted key, value) of the first key of a saved config's `agent` that
  configs/base.py's lacks (the agent's modules take its sections as keywords), else
  None. No version of base.py has dropped an agent key."""
  from configs import base as base_config
  if not isinstance(agent, dict):
    return None
  found = _first_key_beyond(agent, base_config.get_config().to_dict()['agent'], 'agent.')
  return found and found[:2]


def _mistyped(data, none=False):
  """-> (dotted key, value, type name) of the first value of a saved config whose
  type differs from configs/base.py's, or a fraction where it has a whole number (an int
  where a float is, a list where a tuple is, and keys either side lacks pass; None too
  unless `none`), else None."""
  from configs import base as base_config
  kinds = {bool: 'bool', int: 'number', float: 'number', str: 'string',
           tuple: 'list', list: 'list', dict: 'dict'}
  def walk(saved, default, prefix):
    for key, want in default.items():
      if key not in saved or want is None or (saved[key] is None and not none):
        continue
      value, name = saved[key], f'{prefix}{key}'
      if kinds.get(type(value)) != kinds.get(type(want)):
        return name, value, kinds.get(type(want), type(want).__name__)
      if type(want) is int and isinstance(value, float) and not value.is_integer():
        # dict(length=30.5) in a config file: a count of 30.5 ran as 31, without a word
        return name, value, 'whole number'
      if isinstance(want, dict):
        found = walk(value, want, f'{name}.')
        if found:
          return found
    return None
  return walk(data, base_config.get_config().to_dict(), '')


def _evaluated_checkpoint(fs, logdir):
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


def _load_json(logdir, name):
  """-> (the JSON object in logdir/name, its path); ConfigError naming the file."""
  fs = _files(logdir)
  path = fs.join(logdir, name)
  if not fs.exists(path):
    run = _run_above(fs, logdir, name)
    if fs.exists(logdir) and not fs.isdir(logdir):
      # RUN/config.json said 'RUN/config.json/config.json not found: RUN/config.json is
      # a folder of the run RUN'
      raise ConfigError(f'{logdir} is a file' + (
          f' of the run {run}, not its logdir; pass --logdir={run}' if run else
          ', not the logdir of a training run'))
    if run:  # e.g. RUN/ckpt, where the checkpoints are
      raise ConfigError(f'{path} not found: {logdir} is a folder of the run {run}; '
                        f'pass --logdir={run}')
    official = base.official_run(logdir) if '://' not in logdir else None
    if official:  # it said 'not found: is X the logdir of a training run?'
      raise ConfigError(f'{path} not found: ' + base.official_run_line(logdir, official))
    # (An evaluation's config.json is there: only its other files are missing. A
    # missing config.json was named as an evaluation's logdir, in any folder.)
    evaluated = _evaluated_checkpoint(fs, logdir) if name != 'config.json' else None
    if evaluated is not None:  # an eval_only logdir: it saves episodes, no agent
      raise ConfigError(f'{path} not found: {logdir} is the logdir of an evaluation '
                        f'(eval_only), which holds no agent; use the run it evaluated'
                        f'{f" ({evaluated})" if evaluated else ""}')
    if fs.exists(fs.join(logdir, 'saved_model.pb')):  # e.g. to export it with --tflite
      raise ConfigError(f'{path} not found: {logdir} is a SavedModel export, not the logdir '
                        'of a training run; pass the run it was exported from (its '
                        '--logdir), whose checkpoints an export is made of')
    raise ConfigError(f'{path} not found: is {logdir} the logdir of a training run?')
  special = special_file(path) if '://' not in path else None
  if special:  # export waited for ever opening it
    raise ConfigError(f'{path} is {special}, not the file a run saved')
  try:
    with fs.open(path, 'r') as f:
      data = json.load(f)
  except ValueError as e:  # not JSON (json's errors and UnicodeDecodeError)
    raise ConfigError(f'{path} is not valid JSON ({_what(e)})') from None
  if not isinstance(data, dict):
    raise ConfigError(f'{path} holds a JSON {_json_kind(data)}, not an object')
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


def _json_kind(data):
  """'null', 'list', 'int'...: what a JSON file holds instead of an object."""
  return 'null' if data is None else type(data).__name__


def _what(error):
  text = base.one_line(error)
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


# What each process of a multi_worker run may set for itself (its host's cache, how its
# own envs run, what it logs); every other key must be the same in all of them.
_PER_PROCESS_KEYS = ('xla_cache', 'run.env_timeout', 'run.parallel', 'logger.outputs',
                     'run.allow_other_config')


def shared_flags(config):
  """{dotted key: value} of `config` that every process of a multi_worker run must
  share (distribute.check_same_flags), as JSON gives them back."""
  return {k: v for k, v in dotted_items(json.loads(to_json(config)))
          if k not in _PER_PROCESS_KEYS}


def _diff(old, new):
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
    return f'a group of {groups[key]} keys' if key in groups else absent
  keys = sorted((set(old) | set(new)) - inside)
  return [f"{k}: {shown(old, k, '(absent: an older version?)')} -> "
          f"{shown(new, k, '(absent: a newer version?)')}" for k in keys
          if k not in old or k not in new or old[k] != new[k]]


def _group(key, flat):
  """How many of the flattened `flat`'s keys lie under `key.`."""
  return sum(k.startswith(key + '.') for k in flat)


def _default(value):
  if isinstance(value, tuple):
    return list(value)
  return str(value)


def _suite_hint(task):
  """'; did you mean ...?' for a task written without its suite (walker_walk,
  CartPole-v1, pong) or with it misspelled in case or separator (DMC_walker_walk,
  gym:CartPole-v1), else ''."""
  match = re.fullmatch(r'([A-Za-z0-9]+)[_:./-](.+)', task)
  if match and match.group(1).lower() in SUITES:
    return f"; did you mean '{match.group(1).lower()}_{match.group(2)}'?"
  from dreamerv3_tf import reference  # (the official curves name DMC and Atari tasks)
  known = {x.split('_', 1)[1]: x for suite in ('dmc_proprio', 'dmc_vision', 'atari100k')
           for x in reference.tasks(suite)}
  if task.lower() in known:
    return f"; did you mean '{known[task.lower()]}'?"
  if re.fullmatch(r'[A-Za-z][\w.:-]*-v\d+', task):  # a gymnasium id (module:Id-v0 too)
    return f"; did you mean 'gym_{task}'?"
  if match and match.group(1).lower() in OFFICIAL_ONLY_SUITES:
    return (f'; {match.group(1).lower()} is a suite of the official DreamerV3 that is not '
            'ported here: wrap its env as your own, py_<module>:<function> (README, "Your '
            'own environment")')
  return ''


def _check(ok, message):
  if not ok:
    raise ConfigError(message)
