"""Checks a config: its keys, types and values, and the processes it starts.

What it makes in memory is `config_memory`; the warnings of settings that are legal but
likely a mistake `config_warnings`; the run's files (config.json, spaces.json) are
`run_files`; its paths (logdir, checkpoints to resume or load from) `logdir_checks`;
TF_CONFIG `cluster_config`.
"""

import importlib
import math
import os
import re
import resource

from dreamerv3_tf import factories
from dreamerv3_tf.core import base
from dreamerv3_tf.core import path_lines


SCRIPTS = ('train', 'train_eval', 'eval_only')
STRATEGIES = ('default', 'mirrored', 'multi_worker', 'tpu')
DTYPES = ('float32', 'bfloat16', 'float16')
SUITES = ('dmc', 'gym', 'atari', 'atari100k', 'crafter', 'dummy', 'py')
LOGGER_OUTPUTS = ('terminal', 'jsonl', 'tensorboard')
# The official code's suites that have no port here (its configs.yaml's env section).
OFFICIAL_ONLY_SUITES = ('dmlab', 'minecraft', 'procgen', 'loconav', 'memmaze', 'bsuite')
# A suite written as its library's name ('gymnasium_CartPole-v1' was told "did you mean
# 'gym_gymnasium_CartPole-v1'?", no task either).
SUITE_ALIASES = {'gymnasium': 'gym', 'dm_control': 'dmc', 'dmcontrol': 'dmc'}
FLOAT32_TINY = 2.0 ** -126  # float32's least normal number; smaller ones flush to 0
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


def has_images(obs_space):
  """Whether the env's observations hold an image, which the conv encoder and decoder
  take."""
  return any(s.dtype == 'uint8' and len(s.shape) == 3 for s in obs_space.values())


def decoder_bspace_problem(agent):
  """Why the image decoder cannot split agent.rssm.deter and its top depth (dec.depth x
  the last of dec.mults) into agent.dec.bspace groups of channels (agent/nets.py), else
  None: agent.dec.bspace=3 was an 'unexpected' ValueError once TensorFlow had loaded."""
  deter, bspace = agent.rssm.deter, agent.dec.bspace
  depth, last = agent.dec.depth, tuple(agent.dec.mults)[-1]
  if deter % bspace == 0 and depth * last % bspace == 0:
    return None
  return (f'agent.dec.bspace={bspace} must divide agent.rssm.deter={deter} and the image '
          f"decoder's top depth {depth * last} (agent.dec.depth={depth} x the last of "
          f'agent.dec.mults, {last}): the decoder splits both into that many groups')


def check_image_decoder(config, obs_space):
  """make_agent's check of decoder_bspace_problem once the env's spaces are known, for
  envs whose images finalize cannot foresee (gym, py_ tasks): before the agent is built."""
  problem = has_images(obs_space) and decoder_bspace_problem(config.agent)
  ensure(not problem, problem)


class ConfigError(base.UserError, ValueError):
  """A config that cannot run; the message is one line naming the problem."""

  prefix = 'Config error'
  exit_code = 2


class LogdirError(base.UserError, OSError):
  """The logdir cannot be written (not writable, disk full); one line naming it."""


class LogdirWriteError(LogdirError, base.WriteError):
  """A file of the logdir (config.json, spaces.json) the run could not write once its
  checks passed, e.g. on a full disk: main's line adds what is kept, as for its other
  writes (it named only the file)."""


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
  """Validates `config` in place, fills derived values, and returns it. The checks run
  in this order, and a config with several problems is refused for the first."""
  c = config
  _check_keys(c)
  _check_top_level(c)
  _check_run(c)
  _check_paths(c)
  _check_run_length(c)
  _check_env(c)
  _check_env_section(c)
  _check_run_limits(c)
  _check_replay_sampling(c)
  _check_replay_size(c)
  _check_replay_prio(c)
  _check_rendering(c)
  _check_logger(c)
  _check_agent(c)
  _check_agent_images(c)
  _check_agent_learning(c)
  _check_finite(c)
  from dreamerv3_tf import config_memory  # (here: it imports this module's ensure)
  config_memory.check_weights_fit(c)
  _check_env_workers(c)
  return c


def _check_keys(c):
  """The config's keys are configs/base.py's, with its types."""
  missing = _missing_keys(c)
  # A dict given for a section (--config.agent.rssm='{"deter": 16}') replaces it whole:
  # the keys it drops were an 'unexpected' AttributeError once TensorFlow had loaded.
  section = missing and missing[0].rpartition('.')[0]
  if section.count('.') == 1 and all(k.startswith(f'{section}.') for k in missing):
    node = c
    for part in section.split('.'):
      node = node[part]
    key, value = next(iter(node.items()), (missing[0].rpartition('.')[2], '...'))
    ensure(False, f'{section} lacks {len(missing)} of its keys ('
           f'{", ".join(k.rpartition(".")[2] for k in missing[:5])}'
           f'{", ..." if len(missing) > 5 else ""}): a dict given for a section replaces '
           f'it whole; set its keys one by one, e.g. --config.{section}.{key}={value}')
  ensure(not missing, f"the config lacks {len(missing)} key(s) of configs/base.py's "
         f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): a config file "
         'starts from base.get_config(), as configs/dmc.py does')
  extra = _extra_keys(c)
  # A config file may add keys: c.run.eval_episodes = 4 (for eval_eps) was never read,
  # and c.agent.rssm.newkey = 1 an 'unexpected' keyword error once TensorFlow had loaded.
  ensure(not extra, extra and f'the config file sets {extra[0]}, a key configs/base.py '
         f'lacks{extra[1]}: a config file sets only base\'s keys; fix its name or remove it')
  extra = _extra_env_option(c)
  # Each suite takes its own options, some base lacks (atari's length); any other was an
  # env that failed to start (exit code 1, after TensorFlow loaded for envs in this process).
  ensure(not extra, extra and f'the config file sets env.{extra[0]}, an option {extra[1]} '
         f'tasks do not take{extra[2]}; they take {", ".join(extra[3])}')
  # ml_collections lets a config file set None anywhere and a bool where an int is:
  # task=None and batch_size=True were 'unexpected' errors once TensorFlow had loaded.
  wrong = mistyped(c.to_dict(), strict=True)
  if wrong:
    key, value, want = wrong
    whole = isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53
    ensure(False, f'{key}={value!r}, where configs/base.py has a {want}; '
           + (f'write {int(value)}' if whole else f'give a {want}'))


def _check_top_level(c):
  """The top-level keys: script, distribute, compute_dtype, task, the batch's
  sizes, seed."""
  ensure(c.script in SCRIPTS, f'script={c.script!r}; choose one of {SCRIPTS}')
  ensure(c.distribute in STRATEGIES,
         f'distribute={c.distribute!r}; choose one of {STRATEGIES}')
  ensure(c.compute_dtype in DTYPES,
         f'compute_dtype={c.compute_dtype!r}; choose one of {DTYPES}')
  # A break cut every line that names the task: 'Env error: dmc_walker', no cause.
  ensure(c.task.splitlines() in ([], [c.task]),
         f'task={c.task!r} holds a line break; give one task, e.g. dmc_walker_walk')
  suite = c.task.split('_', 1)[0]
  if '_' not in c.task or suite not in SUITES:  # (the hint only then: it may read files)
    ensure(False, f'task={c.task!r}; expected <suite>_<name> with suite one of {SUITES}'
           f'{_suite_hint(c.task)}')
  for key in ('batch_size', 'batch_length', 'report_length'):
    ensure(c[key] >= 1, f'{key}={c[key]} must be >= 1')
  if c.agent.repval_loss:  # its returns bootstrap from the next step of the sequence
    for key in ('batch_length', 'report_length'):
      ensure(c[key] >= 2, f'{key}={c[key]} must be >= 2 with agent.repval_loss=True '
             '(the replay value loss bootstraps from the next step)')
  # Reports sample the train replay, whose sequences are batch_length long.
  ensure(c.script == 'eval_only' or c.report_length <= c.batch_length,
         f'report_length={c.report_length} must be <= batch_length={c.batch_length} '
         '(reports sample the train replay\'s sequences)')
  ensure(c.replay_context >= 0, f'replay_context={c.replay_context} must be >= 0')
  ensure(c.seed >= 0, f'seed={c.seed} must be >= 0')
  # The agent's random streams are int64 seeds (seed * 8 + stream): a larger seed was
  # an 'unexpected' out-of-range error when the agent was built, after the envs.
  ensure(c.seed < 2 ** 60, f'seed={c.seed} must be < 2**60 (the agent seeds its random '
         'streams with 64-bit integers)')


def _check_run(c):
  """The run's env counts, its clock, and what a multi_worker run can do."""
  for key in ('envs', 'eval_envs', 'eval_eps', 'report_batches', 'keep_checkpoints'):
    ensure(c.run[key] >= 1, f'run.{key}={c.run[key]} must be >= 1')
  # 100000 started that many env worker processes (run.parallel=True), or built that
  # many envs here, until the machine ran out of memory or processes, without a line.
  # (The setting the run has: gym.py's envs run in this process, and the line said each
  # was a process.)
  where = ('is a process of its own with run.parallel=True' if c.run.parallel else
           'is built in this process with run.parallel=False')
  for key in ('envs', 'eval_envs'):
    ensure(c.run[key] <= MAX_ENVS, f'run.{key}={c.run[key]} must be <= {MAX_ENVS} (each env '
           f'{where}, and the configs use 1 to 8)')
  ensure(c.run.clock in ('seconds', 'steps'),
         f"run.clock={c.run.clock!r}; choose 'seconds' or 'steps'")
  ensure(not c.run.deterministic or c.run.clock == 'steps',
         "run.deterministic=True needs run.clock='steps' (wall-clock intervals are not "
         'reproducible)')
  if c.distribute == 'multi_worker':
    # Every worker must make the same number of updates (each is a collective).
    ensure(not c.run.duration,
           f'run.duration={c.run.duration} cannot stop the workers of a multi_worker run '
           'after the same update; limit the run with run.steps instead')
    ensure(c.script != 'eval_only',
           "script=eval_only trains nothing; run it with distribute='default'")
    # make_agent builds a random agent without a strategy: the processes never met, and
    # compared nothing (flags, env spaces, the run each sees; distribute.check_same_flags).
    ensure(not c.random_agent,
           "random_agent=True with distribute='multi_worker': a random agent trains nothing "
           'for the processes to share (each would make a random run of its own, checked '
           "against none of the others); run it with distribute='default'")


def _check_paths(c):
  """The paths a run is given, and the checkpoint it starts from."""
  for key, path in (('logdir', c.logdir), ('run.from_checkpoint', c.run.from_checkpoint),
                    ('run.resume_from', c.run.resume_from), ('xla_cache', c.xla_cache)):
    refusal = path_lines.path_refusal(key, path)  # its messages would be cut at a line break
    ensure(not refusal, str(refusal))
    # ' ' cached into a directory named ' ' here (xla_cache), or failed after TensorFlow
    # loaded, exit code 1: 'No checkpoint found in ' (run.from_checkpoint).
    ensure(str(path).strip() or not str(path),
           f"{key}={path!r} is blank; give a path, or '' for {_BLANK_MEANS[key]}")
  # ml_collections reads --config.run.from_checkpoint=None as the text 'None'.
  ensure(str(c.run.from_checkpoint).lower() not in ('none', 'null', 'false')
         or os.path.exists(str(c.run.from_checkpoint)),
         f"run.from_checkpoint={c.run.from_checkpoint!r} is not a checkpoint; leave it "
         "'' (the default) to start without one")
  # The same for xla_cache: it cached into a folder named None in the working directory.
  ensure(str(c.xla_cache).lower() not in ('none', 'null', 'false')
         or os.path.exists(os.path.expanduser(str(c.xla_cache))),
         f"xla_cache={c.xla_cache!r} is no folder of XLA's cache; give '' for no cache")
  ensure(not (c.random_agent and c.run.from_checkpoint and c.script != 'eval_only'),
         'random_agent=True acts at random and has no weights to start from; drop '
         'run.from_checkpoint or random_agent')
  try:  # was refused at the checkpoint load, with exit code 1, after TensorFlow loaded
    re.compile(c.run.from_checkpoint_regex)
  except re.error as e:
    raise ConfigError(f'run.from_checkpoint_regex={c.run.from_checkpoint_regex!r} is not '
                      f'a valid regex: {e}') from None


def _check_run_length(c):
  """How much the run trains, and how long and how often it logs and saves."""
  ensure(0 <= c.run.train_ratio < math.inf,
         f'run.train_ratio={c.run.train_ratio} must be a finite number >= 0')
  ensure(c.run.steps >= 0, f'run.steps={c.run.steps} must be >= 0')
  # eval_only runs until run.steps env steps: at 0 it wrote config.json alone and ended
  # without a word (exit code 0).
  ensure(c.script != 'eval_only' or c.run.steps > 0,
         'run.steps=0 with script=eval_only evaluates nothing (it runs the policy for '
         'run.steps env steps); give run.steps > 0')
  for key in ('log_every', 'report_every', 'save_every'):
    ensure(not math.isnan(c.run[key]), f'run.{key} is NaN; use a number (0 never, < 0 always)')
  ensure(c.run.duration >= 0, f'run.duration={c.run.duration} must be >= 0 (0: no limit)')


def _check_env(c):
  """The keys of every task's env: env.time_limit, env.py."""
  suite = c.task.split('_', 1)[0]
  ensure(c.env.time_limit >= 0, f'env.time_limit={c.env.time_limit} must be >= 0 (0: the suite\'s)')
  odd = _not_plain(c.env.to_dict().get('py', {}))
  # config.json saved it as its text (so export and eval_only built the env from other
  # arguments), and env workers could not receive it: an 'unexpected' wire error that
  # printed the whole env config (run.parallel=True, any task).
  ensure(odd is None, f'env.py{odd[0]}={odd[1]!r} is {odd[2]}: the env\'s arguments must '
         'be JSON data (numbers, strings, True/False/None, lists and dicts with text '
         'keys), which config.json saves and env workers receive' if odd else '')
  # Read by py_<module>:<function> tasks only: set for another task, e.g. the README's
  # Corridor by its gymnasium id, the env ran with its defaults and config.json kept it.
  ensure(suite == 'py' or not c.env.py, f'env.py={c.env.to_dict().get("py")!r} holds the '
         f'arguments of a py_<module>:<function> env, but task={c.task!r} takes none from '
         f'it; {_ENV_PY_INSTEAD.get(suite, f"set env.{suite}.KEY instead")}')


def _check_env_section(c):
  """The options of the task's suite, env.<suite>."""
  suite, section, size = _env_section(c)
  # (64.5, 64) ran: the suites cut it to whole pixels, and config.json kept 64.5.
  ensure(size is None or (isinstance(size, (tuple, list)) and len(size) == 2 and all(
      isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in size)),
         f'env.{section}.size={size} must be (height, width), two whole numbers >= 1')
  # The suites refuse these too, but as an env that failed to start (exit code 1,
  # after TensorFlow loaded for envs in this process), naming no config key.
  repeat = c.env[section].get('repeat') if section in c.env else None
  ensure(repeat is None or (is_number(repeat) and repeat >= 1),
         f'env.{section}.repeat={repeat} must be >= 1 (env steps per agent step)')
  if suite in ('atari', 'atari100k'):
    _check_atari(c.env[suite], f'env.{suite}')
  _check_task_name(c.task, suite)
  if suite == 'dmc':  # the suite refused it as an env that failed to start (exit code 1)
    ensure(c.env.dmc.get('proprio', True) or c.env.dmc.get('image', True),
           'env.dmc.proprio=False and env.dmc.image=False leave the agent nothing to see; '
           'set one of them True')
    # MuJoCo refused it at the first render, after the agent was built (exit code 1).
    # One past the model's cameras is refused by the env's build (exit code 2, nothing
    # written, before TensorFlow compiles): their number is the loaded model's (dog's
    # differ by task), and dm_control's import here would cost every start that sets a
    # camera 0.8 s and load MuJoCo into the process TensorFlow runs in.
    camera = c.env.dmc.get('camera', -1)
    ensure(not c.env.dmc.get('image', False) or (is_number(camera) and camera >= -1),
           f"env.dmc.camera={camera} must be >= -1 (-1: the domain's own camera)")
  # The suites refused smaller ones as an env that failed to start (exit code 1).
  least, why = _least_image_size(suite)
  ensure(size is None or min(size) >= least, f'env.{section}.size={size} must be at least '
         f'({least}, {least}): {why}')
  channels = _size_image_channels(c, suite)
  if channels and size is not None:  # the env's check named no key (exit code 1)
    from dreamerv3_tf.envs import memory, wrappers  # numpy only
    step = size[0] * size[1] * channels
    ensure(step <= wrappers.MAX_STEP_BYTES, f'env.{section}.size={size} makes images of '
           f'{size[0]}x{size[1]}x{channels}, {step / memory.MIB:,.0f} MiB a step, more than '
           f'the {wrappers.MAX_STEP_BYTES // memory.MIB} MiB a step may hold (the replay keeps '
           'every step); give a smaller size')
  if suite == 'dummy':
    length = c.env.dummy.get('length')
    ensure(is_number(length) and length >= 1,
           f'env.dummy.length={length} must be >= 1 (steps per episode)')


def _env_section(c):
  """-> (the task's suite, the section of env its options are in, env.<section>.size
  or None)."""
  suite = c.task.split('_', 1)[0]
  # py_ tasks take config.env.gym's options; env.py is the user's own keywords (a grid's
  # size=5 was refused as 'env.py.size=5 must be (height, width)').
  section = 'gym' if suite == 'py' else suite
  size = c.env[section].get('size') if section in c.env else None
  return suite, section, size


def _check_run_limits(c):
  """How long an env may take, and how many non-finite updates the run takes."""
  # inf or 1e12 overflowed the timers (an 'unexpected' OverflowError, or one blamed on the env).
  ensure(0 < c.run.env_timeout <= 1e6, f'run.env_timeout={c.run.env_timeout} must be > 0 and '
         '<= 1e6 (seconds an env may take to be built or to answer one step)')
  ensure(c.run.max_nonfinite_updates >= 0,
         f'run.max_nonfinite_updates={c.run.max_nonfinite_updates} must be >= 0 '
         '(0 never stops)')


def _check_replay_sampling(c):
  """The replay's selectors: replay.fracs, replay.recexp."""
  fracs = dict(c.replay.fracs)
  unknown = sorted(set(fracs) - set(FRACS))  # the selector's ValueError was 'unexpected'
  ensure(not unknown, f'replay.fracs has unknown keys {unknown}; choose from {FRACS}')
  ensure(all(is_number(v) for v in fracs.values()),
         f'replay.fracs={fracs} must hold numbers')
  ensure(all(v >= 0 for v in fracs.values()) and abs(sum(fracs.values()) - 1) < 1e-6,
         f'replay.fracs={fracs} must be non-negative and sum to 1')
  # The recency selector draws age a with weight 1 / (a + 1) ** recexp: a negative one
  # drew the oldest first, and at -100 its weights overflowed (numpy's warning lines).
  ensure(is_number(c.replay.recexp) and not c.replay.recexp < 0,
         f'replay.recexp={c.replay.recexp} must be >= 0 (the recency selector prefers new '
         'steps by weight 1 / (age + 1) ** recexp)')


def _check_replay_size(c):
  """The replay's sizes, against the sequences training and reports take."""
  ensure(0 < c.replay.eval_fraction <= 1,
         f'replay.eval_fraction={c.replay.eval_fraction} must be in (0, 1]')
  train_len = c.batch_length + c.replay_context
  report_len = c.report_length + c.replay_context
  ensure(c.replay.size >= c.batch_size * train_len,
         f'replay.size={c.replay.size} is smaller than one batch '
         f'(batch_size {c.batch_size} x (batch_length {c.batch_length} + '
         f'replay_context {c.replay_context}))')
  eval_size = factories.replay_capacity(c, 'eval')
  ensure(eval_size >= report_len,
         f'eval replay capacity {eval_size} (replay.size x eval_fraction) '
         f'is shorter than one report sequence ({report_len} steps)')
  # The replay keeps the last replay.size steps of all its envs, which step in turn, and
  # a sequence takes consecutive steps of one env, so it holds at most replay.size -
  # envs x (train_len - 1) sequences; training waits for batch_size x batch_length of
  # them: replay.size=40 of the debug preset (2 envs, 9-step sequences, 32 to wait for)
  # ran 0 updates to the run's end, its progress lines saying 'ETA once training runs'.
  wait, held = factories.sequences_before_training(c), c.replay.size - c.run.envs * (train_len - 1)
  ensure(c.script == 'eval_only' or held >= wait,  # (it keeps no replay)
         f'replay.size={c.replay.size} is too small for run.envs={c.run.envs}: training '
         f'starts once the replay holds {wait} sequences (batch_size {c.batch_size} x '
         f'batch_length {c.batch_length}), each {train_len} steps of one env (batch_length '
         f'{c.batch_length} + replay_context {c.replay_context}), and with the envs stepping '
         f'in turn it holds at most replay.size - run.envs x {train_len - 1} = {max(0, held)} '
         f'of them, so the run would never train; give replay.size >= '
         f'{c.replay.size - held + wait} or fewer run.envs')
  need = c.run.eval_envs * (report_len - 1) + 1
  ensure(c.script != 'train_eval' or eval_size >= need,
         f'eval replay capacity {eval_size} (replay.size x eval_fraction) is too small for '
         f'run.eval_envs={c.run.eval_envs}: it keeps about {eval_size // c.run.eval_envs} '
         f'steps of each eval env, and a report sequence takes {report_len} of one env '
         f'(report_length {c.report_length} + replay_context {c.replay_context}), so no '
         f'eval report would ever run; give a capacity >= {need} or fewer run.eval_envs')
  # A chunk is allocated whole at a worker's first step: 1e12 steps failed there, after
  # the logdir was written ("Cannot allocate memory", or an 'unexpected' OverflowError).
  ensure(1 <= c.replay.chunksize <= c.replay.size,
         f'replay.chunksize={c.replay.chunksize} must be >= 1 and <= replay.size='
         f'{c.replay.size} (steps per chunk, allocated at once)')


def _check_replay_prio(c):
  """The prioritized selector's options, replay.prio."""
  prio = dict(c.replay.prio)  # the selector's errors were 'unexpected', and only when used
  unknown = sorted(set(prio) - set(PRIO))
  ensure(not unknown, f'replay.prio has unknown keys {unknown}; choose from {PRIO}')
  ensure(all(is_number(prio.get(k, 0)) for k in ('exponent', 'initial', 'maxfrac')),
         f'replay.prio={prio} must hold numbers')
  ensure(0 <= prio.get('maxfrac', 0) <= 1,
         f"replay.prio.maxfrac={prio.get('maxfrac')} must be in [0, 1]")
  ensure(prio.get('exponent', 0) >= 0,
         f"replay.prio.exponent={prio.get('exponent')} must be >= 0")
  # A new step's priority: a negative one made the sampling weights NaN (numpy's
  # RuntimeWarning, and the run went on), as prioritize() refuses for later ones.
  ensure(prio.get('initial', 0) >= 0,
         f"replay.prio.initial={prio.get('initial')} must be >= 0 (inf: sampled first)")


def _check_rendering(c):
  """Where DMC renders its images."""
  # Segfaulted at the first render, after TensorFlow loaded (envs/dmc.py says why).
  ensure(not (c.task.startswith('dmc_') and c.env.dmc.image and not c.run.parallel),
         'run.parallel=False with DMC images (env.dmc.image=True): MuJoCo rendering and '
         'TensorFlow crash in one process on machines without a GPU (Mesa\'s EGL); use '
         'run.parallel=True, which renders in env worker processes (the default of '
         'configs/dmc.py, the config file of DMC tasks)')


def _check_logger(c):
  """The logger's outputs and videos."""
  outputs = [x for x in c.logger.outputs.split(',') if x]
  unknown = [x for x in outputs if x not in LOGGER_OUTPUTS]
  # It named the entries alone: the official code's 'scope', or its list '[jsonl, scope]'.
  ensure(not unknown, f'logger.outputs={c.logger.outputs!r} has unknown entries '
         f'{unknown}; give some of {", ".join(LOGGER_OUTPUTS)}, comma-separated without '
         'spaces, e.g. terminal,jsonl')
  ensure(c.logger.fps > 0, f'logger.fps={c.logger.fps} must be > 0 (frames per second '
         'of the report videos)')


def _check_agent(c):
  """The agent's sizes, fractions and choices."""
  a = c.agent
  for key, low in _AGENT_SIZES.items():
    part, name = key.split('.')
    value = a[part].get(name) if part in a else None
    ensure(value is None or value >= low, f'agent.{key}={value} must be >= {low}')
  for key, (low, high, closed) in _AGENT_RANGES.items():
    part, name = key.split('.')
    value = a[part].get(name) if part in a else None
    ensure(value is None or (is_number(value) and low <= value and (
        value <= high if closed else value < high)),
        f'agent.{key}={value} must be in [{low}, {high}{"]" if closed else ")"}')
  # SlowCritic's own limit (an assert, as the official code's): 0.7 was an 'unexpected'
  # AssertionError once TensorFlow had loaded, and under PYTHONOPTIMIZE it trained on.
  rate = a.slowvalue.get('rate', 0.02)
  ensure(not is_number(rate) or rate == 1 or rate < 0.5,
         f'agent.slowvalue.rate={rate} must be 1 or < 0.5 (the share of the critic that '
         'the slow critic mixes in each time; 1 copies it)')
  lo, hi = a.retnorm.get('perclo', 5.0), a.retnorm.get('perchi', 95.0)  # their defaults
  ensure(lo < hi, f'agent.retnorm.perclo={lo} must be < perchi={hi}')
  lo, hi = a.policy.get('minstd', 0.1), a.policy.get('maxstd', 1.0)
  ensure(is_number(lo) and is_number(hi) and 0 < lo <= hi,
         f'agent.policy.minstd={lo} must be > 0 and <= maxstd={hi}')
  # 2**64 squared is float32's limit: past it the entropy was inf, each update's policy
  # loss -inf, and the run went on.
  ensure(hi < 2.0 ** 64, f'agent.policy.maxstd={hi} must be < 2**64 ({2.0 ** 64:.2g}): '
         "the policy's entropy squares the std in float32, where a larger one's square is inf")
  for key in ('rewhead', 'value'):  # the heads failed at their first call, 'unexpected'
    predsum = a[key].get('predsum', PREDSUMS[-1])
    ensure(predsum in PREDSUMS, f'agent.{key}.predsum={predsum!r}; choose one of {PREDSUMS}')
  for part in ('enc', 'dec'):  # a flag's value that is no tuple of ints came in as text
    mults = a[part].get('mults')
    ensure(isinstance(mults, (tuple, list)) and len(mults) >= 1 and all(
        isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in mults),
        f'agent.{part}.mults={mults!r} must be a tuple of integers >= 1, e.g. (2, 3, 4, 4)')


def _check_agent_images(c):
  """The image encoder's and decoder's fit to the images of env.<suite>.size."""
  a = c.agent
  suite, section, size = _env_section(c)
  channels = _size_image_channels(c, suite)
  # The agent's check (nets._check_image_size) of the suites whose images are
  # env.<suite>.size: it came once TensorFlow and the envs had loaded, and a huge size
  # never got there (its env worker, rendering it, was killed for memory: exit -9).
  # (gym's images are checked once its spaces are known: check_image_decoder)
  images = not c.random_agent and suite != 'gym' and bool(channels)
  for part in ('enc', 'dec') if images and size is not None else ():
    height, width = size
    problem = base.image_stages_problem(height, width, a[part].mults)
    ensure(not problem, f'agent.{part}.mults={tuple(a[part].mults)} does not fit images of '
           f'{height}x{width} (env.{section}.size): {problem}')
  problem = images and decoder_bspace_problem(a)
  ensure(not problem, problem)


def _check_agent_learning(c):
  """The agent's loss weights, horizon and optimizer."""
  a = c.agent
  # A negative loss weight passed the checks and the agent trained to maximise that loss
  # (an entropy penalty, for actent).
  for key, value in loss_weights(a):
    ensure(is_number(value) and not value < 0,  # (NaN: named below, as everywhere)
           f'agent.{key}={value!r} must be a number >= 0 '
           '(a loss weight: a negative one maximises that loss)')
  # Advantages are divided by max(limit, the returns' percentile range), and that range
  # is near 0 before rewards come: at limit=0 a debug run's first scale was 0.01 (policy
  # loss -40), and a range of exactly 0 divides by 0.
  limit = a.retnorm.get('limit', 1.0)
  ensure(is_number(limit) and limit > 0,
         f'agent.retnorm.limit={limit!r} must be > 0 (the least scale that advantages '
         'are divided by)')
  ensure(a.horizon >= 1, f'agent.horizon={a.horizon} must be >= 1 (discount 1 - 1/horizon)')
  ensure(a.rssm.deter % a.rssm.blocks == 0,
         f'agent.rssm.deter={a.rssm.deter} must be divisible by blocks={a.rssm.blocks}')
  ensure(a.rssm.hidden % a.rssm.blocks == 0,
         f'agent.rssm.hidden={a.rssm.hidden} must be divisible by blocks={a.rssm.blocks}')
  ensure(a.imag_length >= 1, f'agent.imag_length={a.imag_length} must be >= 1')
  for key in ('rewhead', 'value'):
    ensure(a[key].bins >= 2, f'agent.{key}.bins={a[key].bins} must be >= 2')
  for key in ('lr', 'agc', 'warmup'):  # inf diverged at the first update
    ensure(0 <= a.opt[key] < math.inf,
           f'agent.opt.{key}={a.opt[key]} must be a finite number >= 0')
  # eps divides the update of a weight whose gradients are all 0 so far (0 / eps): eps=0,
  # or one under float32's least normal number (XLA flushes it to 0), made those weights
  # NaN at the first updates, and the run stopped at its next save, exit code 1.
  ensure(FLOAT32_TINY <= a.opt.eps < math.inf,
         f'agent.opt.eps={a.opt.eps} must be a finite number >= {FLOAT32_TINY:.4g} (float32\'s '
         'least normal number: it divides the updates of weights whose gradients are 0)')


def loss_weights(agent):
  """-> [(key under agent., value)] the weights of the losses the optimizer minimises."""
  return [(f'loss_scales.{k}', v) for k, v in agent.loss_scales.items()] + [
      (f'{p}.{k}', agent[p].get(k, 0)) for p, k in (
          ('imag_loss', 'actent'), ('imag_loss', 'slowreg'), ('repl_loss', 'slowreg'))]


def _check_finite(c):
  """Every value is finite, and every integer fits in 64 bits."""
  a = c.agent
  # The keys not checked above ran until they diverged.
  nan = [k for k, _ in _items_where(
      c.to_dict(), lambda v: isinstance(v, float) and math.isnan(v))]
  ensure(not nan, f'{nan[0]}=nan is not a number; give a finite value' if nan else '')
  # agent.loss_scales.rec=inf ran until its first updates were skipped as not finite.
  inf = _items_where(a.to_dict(), lambda v: isinstance(v, float) and math.isinf(v))
  ensure(not inf, f'agent.{inf[0][0]}={inf[0][1]} must be a finite number' if inf else '')
  # numpy and TensorFlow hold integers in 64 bits: agent.rssm.deter=10**25 was an
  # 'unexpected' "ValueError: Maximum allowed dimension exceeded" as the agent was built.
  huge = _items_where(c.to_dict(), lambda v: isinstance(v, int) and not -2 ** 63 <= v < 2 ** 63)
  ensure(not huge, f'{huge[0][0]}={huge[0][1]} is beyond a 64-bit integer (< 2**63)'
         if huge else '')


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
  ensure(available is None or count * each <= available,
         f'{what}, each of at least {each / memory.MIB:.0f} MiB for {suite} tasks: '
         f'{count * each / memory.GIB:.1f} GiB, more than the '
         f'{(available or 0) / memory.GIB:.1f} GiB of memory available; {fix}')
  room = memory.process_room()
  threads = memory.tensorflow_threads()  # in this process, which count too
  ensure(room is None or count + threads <= room[0],
         f'{what}, and about {threads} threads of TensorFlow in this process: more than the '
         f'{room and room[0]} processes it may still start ({room and room[1]}); {fix}')
  # The parent holds a socket of each worker open, besides about 12 files of its own
  # (checkpoint saves and reads included): run.envs=300 under `ulimit -n 256` (1024 is
  # common) stopped with 'Error: [Errno 24] Too many open files' as the workers started.
  files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
  ensure(files == resource.RLIM_INFINITY or count + FILES_BESIDE_WORKERS <= files,
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
  found = first_key_beyond(
      config.to_dict(), base_config.get_config().to_dict(), '',
      skip=lambda name: name in _FREE_FORM or name.startswith('env.'))
  if not found:
    return None
  name, _, default = found
  prefix, _, key = name.rpartition('.')
  close = difflib.get_close_matches(key, [str(k) for k in default], n=1)
  return name, f' (did you mean {prefix + "." if prefix else ""}{close[0]}?)' if close else ''


def _extra_env_option(config):
  """-> (section.key, suite, '; did you mean ...?' or '', the suite's options) of the
  first key of an env.<suite> section that its env's constructor does not take, else None."""
  from dreamerv3_tf.envs import registry  # numpy only; the suites' libraries load in envs
  for suite, (_, _, section) in registry.SUITES.items():
    if suite == 'py' or section not in config.env:
      continue
    options = registry.suite_options(suite)
    for key in config.env[section]:
      if key not in options:
        return (f'{section}.{key}', suite, _option_hint(suite, section, key, options),
                options)
  return None


def _option_hint(suite, section, name, options):
  """-> ' (...)' on what `name`, no option of `suite`'s env, likely means (a gymnasium
  Atari name such as frameskip, a close spelling, a key the run sets), else ''."""
  import difflib
  from dreamerv3_tf.envs import registry
  module = importlib.import_module(f'dreamerv3_tf.envs.{registry.SUITES[suite][0]}')
  why = {**_RUN_SETS, **getattr(module, 'NO_OPTION', {})}.get(name)
  if why:
    return f' ({why})'
  close = difflib.get_close_matches(name, options, n=1)
  meant = getattr(module, 'OTHER_NAMES', {}).get(name) or (close[0] if close else None)
  return f' (did you mean env.{section}.{meant}?)' if meant else ''


# Options of every env the run sets itself, not env.<suite>.
_RUN_SETS = {'seed': "each env's seed comes from --config.seed",
             'mode': 'train and eval envs are told their mode by the run'}


def env_flag_hint(key):
  """-> ': ...' saying what a --config.env.<section>.<name> flag that base lacks can be
  instead (the suite's options, or a config file for one base lacks), else None."""
  from dreamerv3_tf.envs import registry  # numpy only; the suites' libraries load in envs
  parts = key.split('.')
  suite = len(parts) == 3 and parts[0] == 'env' and registry.suite_of_section(parts[1])
  if not suite:
    return None
  _, section, name = parts
  options = registry.suite_options(suite)
  if name in options:  # (ml_collections cannot add a key by a flag)
    return (f": {suite} tasks take it, but configs/base.py's env.{section} lacks it, which "
            f'a flag cannot add; set c.env.{section}.{name} = VALUE in your own config file')
  return (f': {suite} tasks take no such option{_option_hint(suite, section, name, options)}'
          f'; they take {", ".join(options)}')


def first_key_beyond(tree, default, prefix, skip=lambda name: False):
  """-> (dotted key, its value, the dict of `default` it is missing from) of the first
  key of dict `tree` that `default` (configs/base.py's part) lacks, at any depth below
  the dicts both have but those `skip(dotted key)` names; else None."""
  for key, value in tree.items():
    name = prefix + key
    if key not in default:
      return name, value, default
    if isinstance(value, dict) and isinstance(default[key], dict) and not skip(name):
      found = first_key_beyond(value, default[key], f'{name}.', skip)
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


def is_number(value):
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _size_image_channels(c, suite):
  """-> the channels of the images env.<suite>.size sizes, else None (the task has none)."""
  env = c.env
  if suite in ('atari', 'atari100k'):
    return 1 if env[suite].get('gray', True) else 3
  images = suite == 'crafter' or (suite == 'dmc' and env.dmc.get('image', True)) or (
      suite == 'dummy' and not c.task.endswith('_vec')) or (
      suite == 'gym' and env.gym.get('image', False))
  return 3 if images else None


def _least_image_size(suite):
  """-> (the least height and width `suite`'s env takes, why) ((1, '') if any)."""
  from dreamerv3_tf.envs import crafter, dummy  # numpy only; crafter itself loads in the env
  return {
      'crafter': (crafter.MIN_SIZE, 'Crafter draws a 9-cell wide view with cells of 2 '
                  'pixels or more'),
      'dummy': (dummy.MIN_SIZE, 'its image shows the target by quadrant or position'),
  }.get(suite, (1, ''))


def _check_task_name(task, suite):
  """An Atari game, Crafter, DMC, dummy task, gymnasium id or py_ module the suite lacks:
  refused as the envs started, some 5-15 s on and beside TensorFlow loading ('failed to
  start: Unknown task ...'). Atari's are the ROMs ale-py ships and plays
  (envs/atari.game_rom: it imports ale_py, some 70 ms; the env names its absence, or a
  ROM that cannot be read); DMC's are read from dm_control's files (envs/dmc.suite_tasks:
  its import takes 0.7-1.1 s); gymnasium's registry is looked up (envs/gym.check_id), a
  py_ module on sys.path (envs/custom.check_name)."""
  name = task.split('_', 1)[1]
  from dreamerv3_tf.envs.wrappers import TaskError, UnknownTaskError  # numpy only
  try:
    if suite in ('crafter', 'dummy'):  # numpy only; crafter itself loads in the env
      tasks = importlib.import_module(f'dreamerv3_tf.envs.{suite}').TASKS
      if name not in tasks:
        raise UnknownTaskError.naming(f'{suite} has no task', name, tasks)
    elif suite in ('atari', 'atari100k'):
      from dreamerv3_tf.envs import atari
      atari.game_rom(name)
    elif suite == 'dmc':
      from dreamerv3_tf.envs import dmc  # numpy only; dm_control itself loads in the env
      tasks = dmc.suite_tasks()  # read from its files (None: left to the env)
      if tasks is not None:
        dmc.split_name(name, tasks)
    elif suite == 'gym':
      from dreamerv3_tf.envs import gym  # imports gymnasium, some 90 ms
      gym.check_id(name)
    elif suite == 'py':
      from dreamerv3_tf.envs import custom  # imports none of the user's modules
      try:
        custom.check_name(name)
      except TaskError as e:  # (the lines of a name's shape name the task)
        raise ConfigError(str(e) if str(e).startswith('task ') else f'task={task!r}: {e}'
                          ) from None
  except UnknownTaskError as e:
    raise ConfigError(f'task={task!r}: {e}') from None
  except TaskError as e:  # a game ale-py does not play; a ROM of ALE_ROM_PATH's
    raise ConfigError(str(e)) from None
  except (ImportError, OSError):  # no ale_py or gymnasium; a ROM ale-py cannot read
    pass


def _check_atari(env, name):
  """The Atari suite refused these as an env that failed to start (exit code 1, after
  TensorFlow loaded for envs in this process), naming 'atari lives', not the key."""
  for key, choices in (('lives', ('unused', 'discount', 'reset')),
                       ('actions', ('all', 'needed')), ('aggregate', ('max', 'mean'))):
    ensure(env.get(key, choices[0]) in choices,
           f'{name}.{key}={env.get(key)!r}; choose one of {choices}')
  pooling, repeat = env.get('pooling', 1), env.get('repeat', 1)
  ensure(is_number(pooling) and 1 <= pooling <= repeat,
         f'{name}.pooling={pooling} must be >= 1 and <= {name}.repeat={repeat} (frames '
         'pooled of those each agent step repeats)')
  from dreamerv3_tf.envs import atari  # numpy only; ale_py loads in the env
  # A config file's own length and autostart (base lacks them, so no type check has): a
  # length below 0 ended every episode at its first step, inf failed as the envs started,
  # 100.5 ran as 100; autostart='False' pressed FIRE.
  length = env.get('length', atari.LENGTH)
  ensure(isinstance(length, int) and not isinstance(length, bool) and length >= 0,
         f'{name}.length={length!r} must be a whole number >= 0 (frames of an episode at '
         'most; 0: no limit)' + (f'; write {int(length)}' if isinstance(length, float)
                                 and length.is_integer() and length >= 0 else ''))
  autostart = env.get('autostart', False)
  ensure(isinstance(autostart, bool), f'{name}.autostart={autostart!r} must be True or False '
         '(FIRE pressed at each reset)')
  length = length or atari.LENGTH
  # 1e8 stayed in its first reset ('no answer within 120s (run.env_timeout)'), and more
  # no-op frames than an episode's replay whole games; 108000 take about 3 s.
  ensure(is_number(env.get('noops', 0)) and 0 <= env.get('noops', 0) <= length,
         f"{name}.noops={env.get('noops')} must be >= 0 and <= {length} (random no-op "
         'frames at each reset, at most the frames of an episode)')


def _items_where(tree, test, prefix=''):
  """-> (dotted key, value) of `tree`'s values that pass `test`, in order."""
  found = []
  for key, value in tree.items():
    if isinstance(value, dict):
      found += _items_where(value, test, f'{prefix}{key}.')
    elif test(value):
      found.append((f'{prefix}{key}', value))
  return found


def mistyped(data, strict=False):
  """-> (dotted key, value, type name) of the first value of a config whose type differs
  from configs/base.py's, or a fraction where it has a whole number (an int where a float
  is, a list where a tuple is, and keys either side lacks pass), else None. A saved
  config's None and whole floats pass; with `strict` (finalize's config, about to run)
  they do not: a dict given for a section keeps its types, and dict(deter=16.0) was an
  'unexpected' TypeError once TensorFlow had loaded. A section's None never passes: a
  config.json of "run": null was exported without a word."""
  from configs import base as base_config
  kinds = {bool: 'bool', int: 'number', float: 'number', str: 'string',
           tuple: 'list', list: 'list', dict: 'dict'}

  def walk(saved, default, prefix):
    for key, want in default.items():
      if key not in saved or want is None or (
          saved[key] is None and not strict and not isinstance(want, dict)):
        continue
      value, name = saved[key], f'{prefix}{key}'
      if kinds.get(type(value)) != kinds.get(type(want)):
        return name, value, kinds.get(type(want), type(want).__name__)
      float_for_int = isinstance(value, float) and (strict or not value.is_integer())
      if type(want) is int and float_for_int:
        # dict(length=30.5) in a config file: a count of 30.5 ran as 31, without a word
        return name, value, 'whole number'
      if isinstance(want, dict):
        found = walk(value, want, f'{name}.')
        if found:
          return found
    return None
  return walk(data, base_config.get_config().to_dict(), '')


def _suite_hint(task):
  """'; did you mean ...?' for a task written without its suite (walker_walk,
  CartPole-v1, pong) or with it misspelled in case or separator (DMC_walker_walk,
  gym:CartPole-v1), else ''."""
  for alias, suite in SUITE_ALIASES.items():
    named = re.fullmatch(re.escape(alias) + r'[_:./-](.+)', task, re.IGNORECASE)
    if named:
      return f"; did you mean '{suite}_{_cased(suite, named.group(1))}'?"
  match = re.fullmatch(r'([A-Za-z0-9]+)[_:./-](.+)', task)
  if match and match.group(1).lower() in SUITES:
    suite = match.group(1).lower()
    return f"; did you mean '{suite}_{_cased(suite, match.group(2))}'?"
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


def _cased(suite, name):
  """A task's name as its suite spells it: gymnasium ids and Python names keep their case,
  the other suites' names are all lower case ('DUMMY_DISC_VEC' was told "did you mean
  'dummy_DISC_VEC'?", which that suite refused in turn)."""
  return name if suite in ('gym', 'py') else name.lower()


def ensure(ok, message):
  if not ok:
    raise ConfigError(message)
