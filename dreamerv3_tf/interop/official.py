"""Checkpoints of the official DreamerV3 code (github danijar/dreamerv3) -> ours.

  python -m dreamerv3_tf.interop.official --checkpoint=OFFICIAL_LOGDIR --logdir=OUT \\
      [--config=configs/dmc.py:train_eval] [--config.task=dmc_cartpole_swingup]
  python -m dreamerv3_tf.export --logdir=OUT --out=SAVED_MODEL

The official code keeps its latest save in `LOGDIR/ckpt/<folder>/` (named by the text
file `LOGDIR/ckpt/latest`, complete once the folder holds `done`); `agent.pkl` there is
a pickle of {'params': {name: array}, 'counters': {...}}, read here with the restricted
unpickler (`interop.unpickle`). Every official parameter goes to one of our variables
through `TABLE`; a checkpoint that does not fit the agent of the given config is
refused with one line naming the first name or shape that differs. When
`OFFICIAL_LOGDIR/config.yaml` exists, its model settings are applied to the config
first (`interop.official_config`), so the agent is built the way it was trained.

OUT becomes a logdir of ours: config.json, spaces.json (from the task's env) and
ckpt/ with the agent (weights, optimizer slots and step, return normalizer, slow
critic). `dreamerv3_tf.export --logdir=OUT`, `--config.script=eval_only
--config.run.from_checkpoint=OUT/ckpt` and `--config.run.from_checkpoint=OUT/ckpt`
(a new run starting from these weights) accept it.
"""

if __name__ == '__main__':  # first: a stop while the imports below load is one line
  from dreamerv3_tf import stop_signals
  stop_signals.install()
  from dreamerv3_tf.core import streams
  streams.print_any_text()

import os  # noqa: E402
import reprlib  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from dreamerv3_tf.core import base
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import files
from dreamerv3_tf.core import gce_check
from dreamerv3_tf.core import path_lines
from dreamerv3_tf.core.streams import quote_for_paste
from dreamerv3_tf.interop import unpickle  # noqa: E402

# (official parameter name, our variable as an attribute path from the agent), one to
# one, same shapes and layouts (no transposes):
#   {i}     a layer index: 0, 1, ... while our path exists (the official index is the same)
#   {r}     the official index of a reversed stack: n - 1 - i (the image decoder's convs)
#   {head}  each of the MLP heads
#   {vec}   the decoder's vector observation keys: the key name there, its index in
#           sorted order here
#   {cont}, {disc}  continuous / discrete action keys: the key name there, its index
#           in sorted order here
# The optimizer slots of every trainable row follow from it (see `_slot_rows`).
TABLE = (
    ('enc/mlp{i}/kernel', 'enc.mlp.layer{i}.linear.kernel'),
    ('enc/mlp{i}/bias', 'enc.mlp.layer{i}.linear.bias'),
    ('enc/mlp{i}norm/scale', 'enc.mlp.layer{i}.norm.scale'),
    ('enc/cnn{i}/kernel', 'enc.cnn.conv{i}.kernel'),
    ('enc/cnn{i}/bias', 'enc.cnn.conv{i}.bias'),
    ('enc/cnn{i}norm/scale', 'enc.cnn.norm{i}.scale'),
    ('dyn/dynin{i}/kernel', 'dyn.dynin{i}.linear.kernel'),
    ('dyn/dynin{i}/bias', 'dyn.dynin{i}.linear.bias'),
    ('dyn/dynin{i}norm/scale', 'dyn.dynin{i}.norm.scale'),
    ('dyn/dynhid0/kernel', 'dyn.dynhid.kernel'),
    ('dyn/dynhid0/bias', 'dyn.dynhid.bias'),
    ('dyn/dynhid0norm/scale', 'dyn.dynhidnorm.scale'),
    ('dyn/dyngru/kernel', 'dyn.dyngru.kernel'),
    ('dyn/dyngru/bias', 'dyn.dyngru.bias'),
    ('dyn/obs{i}/kernel', 'dyn.obs{i}.linear.kernel'),
    ('dyn/obs{i}/bias', 'dyn.obs{i}.linear.bias'),
    ('dyn/obs{i}norm/scale', 'dyn.obs{i}.norm.scale'),
    ('dyn/obslogit/kernel', 'dyn.obslogit.kernel'),
    ('dyn/obslogit/bias', 'dyn.obslogit.bias'),
    ('dyn/prior{i}/kernel', 'dyn.prior{i}.linear.kernel'),
    ('dyn/prior{i}/bias', 'dyn.prior{i}.linear.bias'),
    ('dyn/prior{i}norm/scale', 'dyn.prior{i}.norm.scale'),
    ('dyn/priorlogit/kernel', 'dyn.priorlogit.kernel'),
    ('dyn/priorlogit/bias', 'dyn.priorlogit.bias'),
    ('dec/mlp/linear{i}/kernel', 'dec.mlp.layer{i}.linear.kernel'),
    ('dec/mlp/linear{i}/bias', 'dec.mlp.layer{i}.linear.bias'),
    ('dec/mlp/norm{i}/scale', 'dec.mlp.layer{i}.norm.scale'),
    ('dec/vec/{vec}/pred/kernel', 'dec.vecout{vec}.kernel'),
    ('dec/vec/{vec}/pred/bias', 'dec.vecout{vec}.bias'),
    ('dec/sp0/kernel', 'dec.cnn.sp0.kernel'),
    ('dec/sp0/bias', 'dec.cnn.sp0.bias'),
    ('dec/sp1/kernel', 'dec.cnn.sp1.linear.kernel'),
    ('dec/sp1/bias', 'dec.cnn.sp1.linear.bias'),
    ('dec/sp1norm/scale', 'dec.cnn.sp1.norm.scale'),
    ('dec/sp2/kernel', 'dec.cnn.sp2.kernel'),
    ('dec/sp2/bias', 'dec.cnn.sp2.bias'),
    ('dec/spnorm/scale', 'dec.cnn.spnorm.scale'),
    ('dec/conv{r}/kernel', 'dec.cnn.conv{i}.kernel'),
    ('dec/conv{r}/bias', 'dec.cnn.conv{i}.bias'),
    ('dec/conv{r}norm/scale', 'dec.cnn.norm{i}.scale'),
    ('dec/imgout/kernel', 'dec.cnn.out.kernel'),
    ('dec/imgout/bias', 'dec.cnn.out.bias'),
    ('{head}/mlp/linear{i}/kernel', '{head}.mlp.layer{i}.linear.kernel'),
    ('{head}/mlp/linear{i}/bias', '{head}.mlp.layer{i}.linear.bias'),
    ('{head}/mlp/norm{i}/scale', '{head}.mlp.layer{i}.norm.scale'),
    ('rew/head/logits/kernel', 'rew.out.kernel'),
    ('rew/head/logits/bias', 'rew.out.bias'),
    ('con/head/logit/kernel', 'con.out.kernel'),
    ('con/head/logit/bias', 'con.out.bias'),
    ('val/head/logits/kernel', 'val.out.kernel'),
    ('val/head/logits/bias', 'val.out.bias'),
    ('slowval/head/logits/kernel', 'slowval.out.kernel'),
    ('slowval/head/logits/bias', 'slowval.out.bias'),
    ('pol/head/{cont}/mean/kernel', 'pol.mean{cont}.kernel'),
    ('pol/head/{cont}/mean/bias', 'pol.mean{cont}.bias'),
    ('pol/head/{cont}/stddev/kernel', 'pol.std{cont}.kernel'),
    ('pol/head/{cont}/stddev/bias', 'pol.std{cont}.bias'),
    ('pol/head/{disc}/logits/kernel', 'pol.logits{disc}.kernel'),
    ('pol/head/{disc}/logits/bias', 'pol.logits{disc}.bias'),
    ('retnorm/lo/value', 'retnorm.lo'),
    ('retnorm/hi/value', 'retnorm.hi'),
    ('slowval_count/value', 'slowval_updates'),
    ('opt/step/value', 'opt.step'),
)
HEADS = ('rew', 'con', 'val', 'slowval', 'pol')
# Official copies of the update count (LaProp's two bias corrections, the LR
# schedule); ours derive all three from opt.step, so they must equal it.
STEP_COPIES = ('opt/state/1/0', 'opt/state/2/0', 'opt/state/3/count')
NU, MU = 'opt/state/1/1/', 'opt/state/2/1/'


class OfficialCheckpointError(base.UserError, ValueError):
  """An official checkpoint that cannot be read or does not fit; one line."""


class CheckpointFlagError(OfficialCheckpointError):
  """A --checkpoint that names no official run (missing, a file, a logdir of ours, a folder
  without one): exit code 2, as export's --checkpoint and main's run.from_checkpoint give
  for such a path (it was 1 once TensorFlow had loaded)."""

  exit_code = 2


# --- reading ------------------------------------------------------------------


def check_plain(path, error=None):
  """OfficialCheckpointError (or `error`) if local `path` is a named pipe, a socket or
  a device: the import waited for ever reading one (a pipe), or read on for ever
  (/dev/zero), and SIGTERM then ended it with a garbled 'pybind11' line."""
  special = files.special_file(path, devices=True) if '://' not in path else None
  if special:
    raise (error or OfficialCheckpointError)(
        f'{path} is {special}, not the file the official code saved')


def find_folder(path):
  """The save folder (with agent.pkl) named by an official logdir, ckpt dir or folder.

  A local path is looked at without TensorFlow, so the command checks its --checkpoint
  before TensorFlow loads (a typo, or a logdir of ours, cost its seconds)."""
  path = os.path.expanduser(str(path)).rstrip('/')
  if '://' not in path:
    try:
      return _find_folder(files.LOCAL, path)
    except OSError as e:  # an unreadable folder or file: the flag, the file and the cause
      file, cause = errors.path_and_cause(e)
      raise OfficialCheckpointError(
          f'Cannot read --checkpoint {path}: {file}; {cause}' if file else
          f'Cannot read --checkpoint {path}: {cause}') from None
  import tensorflow as tf
  from dreamerv3_tf import gfile
  try:
    return _find_folder(gfile.GFILES, path)
  except tf.errors.OpError as e:  # no network, no credentials: 'Error: Error executing
    # an HTTP request: libcurl code 6 ...', naming neither the flag nor the path
    raise OfficialCheckpointError(
        f'Cannot read --checkpoint {path}: {errors.one_line(e)}') from None


def _find_folder(fs, path):
  """find_folder on `fs` (core.files.LOCAL, or gfile.GFILES for a remote path)."""
  if not fs.exists(path):  # a typo was 'no agent.pkl', as if it were a folder
    raise CheckpointFlagError(f'--checkpoint {path} does not exist')
  if not fs.isdir(path):
    # The save's own agent.pkl was 'ckpt/x/agent.pkl: no agent.pkl (pass an official
    # logdir, its ckpt/ or a save folder)'; its folder is what it means.
    if os.path.basename(path) != 'agent.pkl':
      raise CheckpointFlagError(
          f'--checkpoint {path} is a file; pass the official logdir, its ckpt/ or a save '
          'folder (the one holding agent.pkl)')
    path = os.path.dirname(path) or '.'
  given = path
  for ckpt in (os.path.join(path, 'ckpt'), path):
    latest = os.path.join(ckpt, 'latest')
    if fs.exists(latest):
      check_plain(latest)
      with fs.open(latest, 'rb') as f:
        raw = f.read()
      try:
        name = raw.decode().strip()
      except UnicodeDecodeError:  # was an 'unexpected' error naming no file
        raise OfficialCheckpointError(
            f'{latest}: not a text file naming a save folder') from None
      # An empty file, or a folder since deleted, was '<ckpt>/: no agent.pkl (pass an
      # official logdir, ...)', which the path given was.
      if not name or not fs.isdir(os.path.join(ckpt, name)):
        folders = sorted(x.rstrip('/') for x in fs.listdir(ckpt) if fs.exists(
            os.path.join(ckpt, x.rstrip('/'), 'agent.pkl')))
        what = 'is empty' if not name else f'names the save folder {name!r}, which is not there'
        newest = os.path.join(ckpt, folders[-1]) if folders else None
        hint = (f'pass a save folder itself: --checkpoint={quote_for_paste(newest)}'
                if folders else f'{ckpt} holds no save folder with an agent.pkl')
        raise OfficialCheckpointError(f'{latest} {what}; {hint}')
      path = os.path.join(ckpt, name)
      break
  if not fs.exists(os.path.join(path, 'agent.pkl')) and fs.exists(
      os.path.join(given, 'config.json')):  # a run of ours: 'no agent.pkl' told no more
    raise CheckpointFlagError(
        f'{given} is a logdir of this package (config.json), not of the official code: it '
        f'needs no import; export it with python -m dreamerv3_tf.export '
        f'--logdir={quote_for_paste(given)}')
  if not fs.exists(os.path.join(path, 'agent.pkl')):
    # A folder it may not read was 'no agent.pkl' too: listing it names the cause.
    listed = 'agent.pkl' in [x.rstrip('/') for x in fs.listdir(path)]
    if listed:
      raise OfficialCheckpointError(
          f'{path}/agent.pkl cannot be opened (a link to nothing, or no permission to '
          f'search {path})')
    # A folder without a run (no ckpt/latest either) is the flag's; a save folder that
    # `latest` names and that lost its agent.pkl, the run's (exit code 1).
    kind = CheckpointFlagError if path == given else OfficialCheckpointError
    raise kind(f'{path}: no agent.pkl (pass an official logdir, its ckpt/ or a save folder)')
  if not fs.exists(os.path.join(path, 'done')):
    raise OfficialCheckpointError(f'{path}: the save is incomplete (no done marker)')
  return path


def read(path):
  """-> {'folder', 'params': {name: ndarray}, 'counters': {name: int}, 'step': int|None}.

  A local `path` is read without TensorFlow: the command refuses a file it cannot take
  before TensorFlow loads and the task's env starts (it cost their seconds)."""
  folder = find_folder(path)
  if '://' in folder:
    from dreamerv3_tf import gfile
    fs = gfile.GFILES
  else:
    fs = files.LOCAL

  def load(name):
    file = os.path.join(folder, name)
    check_plain(file)
    try:
      with fs.open(file, 'rb') as f:
        raw = f.read()
    except OSError as e:  # (a remote path's errors are TensorFlow's, one line each)
      raise OfficialCheckpointError(f'Cannot read {file}: {e.strerror or e}') from None
    try:
      return unpickle.loads(raw)
    except unpickle.UnpickleError as e:
      raise OfficialCheckpointError(f'{folder}/{name}: {e}') from None

  data = load('agent.pkl')
  if not (isinstance(data, dict) and isinstance(data.get('params'), dict)):
    raise OfficialCheckpointError(
        f'{folder}/agent.pkl: expected a dict with params, got '
        f'{sorted(data) if isinstance(data, dict) else type(data).__name__}')
  params = data['params']
  bad = [k for k, v in params.items() if not (isinstance(k, str) and isinstance(v, np.ndarray))]
  if bad:
    raise OfficialCheckpointError(f'{folder}/agent.pkl: params[{bad[0]!r}] is not an array')
  counters = data.get('counters') or {}
  # The official counters are ints; others were an 'unexpected' error naming no file.
  # (2**70 failed as our int64 counters took it, an 'unexpected' error; -3 was kept)
  if not (isinstance(counters, dict) and all(
      isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 2**63
      for v in counters.values())):
    raise OfficialCheckpointError(
        f'{folder}/agent.pkl: expected counters to map names to integers from 0 to '
        f'2**63-1, got {reprlib.repr(counters)}')
  step = None
  if fs.exists(os.path.join(folder, 'step.pkl')):
    value = load('step.pkl')
    # Only for the line it prints ('at env step N'): what is no env step is left out.
    if (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        and 0 <= value < 2**63):
      step = int(value)
  return {'folder': folder, 'params': params, 'step': step,
          'counters': {k: int(v) for k, v in counters.items()}}


# --- the mapping ----------------------------------------------------------------


def _resolve(agent, path):
  obj = agent
  for part in path.split('.'):
    if not hasattr(obj, part):
      return None
    obj = getattr(obj, part)
  return obj


def _expand(agent, official, ours):
  """One table row -> [(official name, our path)] for this agent's structure."""
  if '{head}' in ours:
    return [x for h in HEADS for x in _expand(
        agent, official.replace('{head}', h), ours.replace('{head}', h))]
  if '{i}' in ours:
    stem = ours[:ours.index('{i}') + 3]
    count = 0
    while _resolve(agent, stem.replace('{i}', str(count))) is not None:
      count += 1
    out = []
    for i in range(count):
      name = official.replace('{i}', str(i)).replace('{r}', str(count - 1 - i))
      out += _expand(agent, name, ours.replace('{i}', str(i)))
    return out
  for kind in ('vec', 'cont', 'disc'):
    if '{' + kind + '}' in ours:
      return [x for idx, k in enumerate(_keys(agent, kind))
              if k is not None
              for x in _expand(agent, official.replace('{' + kind + '}', k),
                               ours.replace('{' + kind + '}', str(idx)))]
  if _resolve(agent, ours) is None:
    return []  # a module this agent does not have (e.g. no image keys)
  return [(official, ours)]


def _keys(agent, kind):
  """Keys in sorted order (None at the positions of the other kind of action)."""
  if kind == 'vec':
    return list(getattr(agent.dec, 'veckeys', []))
  pol = agent.pol
  return [k if pol.discrete[k] == (kind == 'disc') else None for k in pol.keys]


def rows(agent):
  """-> [(official name, our path, our variable)] for every row of TABLE."""
  out = []
  for official, ours in TABLE:
    for name, path in _expand(agent, official, ours):
      out.append((name, path, _resolve(agent, path)))
  return out


def _slot_rows(agent, table_rows):
  """Optimizer slots: [(official name, 'opt.nu[...]', slot variable)] per trainable row."""
  out = []
  for name, path, var in table_rows:
    slots = agent.opt.slots(var)  # by identity: Keras paths repeat
    if slots is None:
      continue
    mu, nu = slots
    out.append((NU + name, f'opt.nu[{path}]', nu))
    out.append((MU + name, f'opt.mu[{path}]', mu))
  return out


def values_for(agent, params):
  """Maps official `params` onto `agent`'s variables: -> [(variable, value)].

  Checks everything before anything is assigned. Raises OfficialCheckpointError
  naming the first official name that has no place in this agent, the first
  variable of ours with no official entry, or the first shape that differs.
  """
  table = rows(agent)
  covered = {id(v) for _, _, v in table}
  trainable = agent.model.trainable_weights + list(agent.slowval.weights)
  missing = [v.path for v in trainable if id(v) not in covered]
  if missing:  # the table is incomplete for this agent: a bug here, not in the checkpoint
    raise OfficialCheckpointError(f'the import table has no row for our variable {missing[0]}')
  table += _slot_rows(agent, table)
  expected = {name for name, _, _ in table} | set(STEP_COPIES)
  # The model's names first: a weight of another task was named by its optimizer slot
  # (opt/ sorts first), as if the optimizer differed.
  for name in sorted(params, key=lambda n: (n.startswith('opt/'), n)):
    if name not in expected:
      raise OfficialCheckpointError(
          f'official {name} {list(params[name].shape)} has no place in the agent of this '
          'config (other sizes, keys or layers?)')
  out = []
  for name, path, var in table:
    if name not in params:
      raise OfficialCheckpointError(
          f'official checkpoint lacks {name}, which the agent of this config has '
          f'({path}): other sizes, keys or layers?')
    value = np.asarray(params[name])
    shape = tuple(var.shape)
    if value.shape != shape:
      raise OfficialCheckpointError(
          f'official {name} {list(value.shape)} does not fit {path} {list(shape)} '
          'of this config')
    # Assigned with astype, text became numbers and complex lost its imaginary part;
    # NaN was refused only at the save, naming our variable ('the agent diverged').
    if value.dtype.kind not in 'biuf':
      raise OfficialCheckpointError(f'official {name} holds {value.dtype} values, not real '
                                    'numbers')
    if value.dtype.kind == 'f' and not np.isfinite(value).all():
      raise OfficialCheckpointError(f'official {name} holds values that are not finite (NaN '
                                    'or inf: a run that diverged?)')
    want = np.dtype(getattr(var.dtype, 'name', var.dtype))
    if want.kind == 'f':  # (integer variables are counts, checked below)
      if value.dtype.kind != 'f':  # the official code saves float32 weights: bool
        # kernels were imported as 0/1, ints as they were
        raise OfficialCheckpointError(
            f'official {name} holds {value.dtype} values, where {path} takes {want}')
      with np.errstate(over='ignore'):
        beyond = ~np.isfinite(value.astype(want))
      if beyond.any():  # float64 values assigned as inf, refused at the save by our name
        raise OfficialCheckpointError(
            f'official {name} holds {value[beyond].flat[0]:g}, beyond the range of {want} '
            '(a run that diverged?)')
    out.append((var, value))
  counts = [(name, 'updates') for name in ('opt/step/value', *STEP_COPIES)]
  counts.append(('slowval_count/value', 'slow critic updates'))
  for name, what in counts:  # int() took 1.5 as 1, and -5 as is
    value = np.asarray(params.get(name, 0))
    if not (value.dtype.kind in 'iu' and value.size == 1 and 0 <= int(value) < 2**63):
      raise OfficialCheckpointError(
          f'official {name}={value} ({value.dtype}) is no count of {what} (a whole number, '
          '0 or more)')
  step = int(params['opt/step/value'])
  for name in STEP_COPIES:
    if int(params.get(name, step)) != step:
      raise OfficialCheckpointError(
          f'official {name}={int(params[name])} differs from opt/step/value={step} '
          '(a run with skipped updates?); cannot map it onto one step counter')
  return out


def official_layout(agent):
  """Our variables under the official names: -> {official name: ndarray}.

  The inverse of `values_for`: the model, the slow critic, the optimizer slots and
  step, and the return normalizer (not the official step copies).
  """
  table = rows(agent)
  table += _slot_rows(agent, table)
  return {name: np.asarray(var.numpy()) for name, _, var in table}


def assign(agent, params, counters=None):
  """Loads official `params` (and `counters`) into `agent`, all or nothing."""
  import tensorflow as tf
  values = values_for(agent, params)
  for var, value in values:
    var.assign(np.asarray(value).astype(tf.as_dtype(var.dtype).as_numpy_dtype))
  counters = counters or {}
  # Our RNG counters: continue where the official run's streams were.
  agent.train_calls.assign(int(counters.get('updates', params['opt/step/value'])))
  agent.policy_calls.assign(int(counters.get('actions', 0)))
  agent.opt.skipped.assign(0)


# --- writing a logdir of ours ------------------------------------------------------


def logdir_nesting(logdir, folder):
  """The line refusing local `logdir` where it meets the official run of save folder
  `folder`, else None: the run's folder itself or its saves (ckpt/) took our files among
  theirs, and a logdir above the run held it. (Beside the saves, LOGDIR/ours, stays
  allowed, as main allows training there.)"""
  if '://' in logdir:
    return None
  out = os.path.realpath(os.path.expanduser(logdir))
  # The run is looked for above the folder itself: above a symlink to it (or to ckpt/)
  # it was not found, and a --logdir among its saves passed.
  folder = os.path.realpath(folder)
  run = checkpoint_paths.official_run(folder) or folder
  saves = os.path.join(run, 'ckpt') if os.path.isdir(os.path.join(run, 'ckpt')) else run
  if out == run or os.path.commonpath([out, saves]) == saves:
    where, why = ('is' if out == run else 'is inside'), 'our files would lie among its own'
  elif os.path.commonpath([out, run]) == out:
    where, why = 'holds', 'our files would lie around it, and it inside our logdir'
  else:
    return None
  return (f'--logdir {logdir} {where} the official run {run} that --checkpoint reads: '
          f'{why}; choose a --logdir outside it')


def write_logdir(config, obs_space, act_space, checkpoint, out, data=None):
  """Builds our agent, assigns the official checkpoint, writes logdir `out`.

  data: what read(checkpoint) gave, if it was read already. -> (data, prefix)."""
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import factories
  from dreamerv3_tf import logdir_checks
  from dreamerv3_tf import run_files
  import tensorflow as tf
  ckpt_dir = os.path.join(out, 'ckpt')
  # What an import killed midway left is no checkpoint (the saver removes it): the
  # same command refused its own logdir for good.
  try:
    taken = tf.io.gfile.exists(ckpt_dir) and [
        n for n in tf.io.gfile.listdir(ckpt_dir) if not checkpointing.partial_save(n.rstrip('/'))]
  except tf.errors.OpError as e:  # gs:// without network: 'Error: Error executing an HTTP
    # request: ...', naming no path (main names its --logdir so)
    from dreamerv3_tf.configuration import LogdirError
    raise LogdirError(f'Cannot read --logdir {out}: {errors.one_line(e)}') from None
  if taken:
    raise OfficialCheckpointError(f'{ckpt_dir} exists and is not empty; choose a new --logdir')
  data = data or read(checkpoint)
  agent = factories.make_agent(config, obs_space, act_space)
  try:
    assign(agent, data['params'], data['counters'])
  except OfficialCheckpointError as e:  # its line named no file
    raise OfficialCheckpointError(f'{data["folder"]}/agent.pkl: {e}') from None
  # What this import makes, so that a stop or a failed write takes it back: a logdir
  # with config.json and no checkpoint was resumed by main as a fresh run of random
  # weights.
  made = [path for path in (out, os.path.join(out, 'config.json'),
                            os.path.join(out, 'spaces.json'), ckpt_dir)
          if not tf.io.gfile.exists(path)]
  try:
    logdir_checks.save(config, out, config.run.allow_other_config)
    run_files.save_spaces(out, obs_space, act_space)
    saver = checkpointing.Checkpoint(ckpt_dir, keep=1, agent=agent)
    saver.remove_partial_saves()
    return data, saver.save()
  except BaseException:
    _remove(made)
    raise


def _remove(paths):
  """Removes `paths` (files or folders) that exist, the deepest first."""
  import tensorflow as tf
  for path in sorted(paths, key=len, reverse=True):
    try:
      if tf.io.gfile.isdir(path):
        tf.io.gfile.rmtree(path)
      elif tf.io.gfile.exists(path):
        tf.io.gfile.remove(path)
    except tf.errors.OpError:
      pass  # the error that stopped the import is the one to report


# --- command line ---------------------------------------------------------------


def _spaces(config):
  from dreamerv3_tf import factories
  driver = factories.make_driver(config, 'eval')
  try:
    return base.agent_spaces(driver.obs_space, driver.act_space)
  finally:
    driver.close()


def main(argv):
  del argv
  from absl import flags
  from absl import logging
  from ml_collections import config_flags
  from dreamerv3_tf import main as cli
  from dreamerv3_tf import startup
  from dreamerv3_tf import stop_notice
  from dreamerv3_tf import stop_signals
  FLAGS = flags.FLAGS
  logging.set_verbosity(logging.INFO if FLAGS.verbose else logging.WARNING)  # as main
  if FLAGS.traceback:
    os.environ[errors.TRACEBACK_ENV] = '1'
  stop_signals.take_over()
  stop_notice.watch(stop_signals.raised)  # a stop waiting for TensorFlow says so
  # A get_config() that returned None was taken for no --config (dmc.py's defaults: an
  # import of another agent, or a mismatch blamed on the checkpoint), a dict was
  # "Config error: dict' object has no attribute 'to_dict": main's line names the file.
  refusal = cli._LOADED and cli._not_a_config_dict(cli._LOADED[0], sys.argv)
  if refusal:
    cli._usage_error(refusal)
  try:  # the config file loads lazily: its errors are main's one line (exit code 2)
    config = FLAGS.config
    if config is not None:
      config.to_dict()
  except Exception as e:  # noqa: BLE001 - every load error is a user error here
    cli._usage_error(cli._one_line(e, sys.argv))
  if not (FLAGS.logdir or '').strip():  # '' failed with a traceback
    cli._usage_error('--logdir is required: the new logdir of ours to write')
  if config is not None and config.get('script') == 'eval_only':
    # It wrote a logdir marked as an evaluation's, which training then refused to use
    # ('holds an evaluation (script=eval_only); script=train_eval needs a new --logdir').
    cli._usage_error(
        'script=eval_only: the import writes the logdir of a training run; drop eval_only '
        'from --config, then evaluate the import with --config.script=eval_only '
        '--config.run.from_checkpoint=LOGDIR/ckpt')
  if not FLAGS.checkpoint.strip():  # 'Error: : no agent.pkl' once TensorFlow had loaded
    cli._usage_error('--checkpoint is empty; give the official logdir, its ckpt/ or a '
                     'save folder')
  for flag, path in (('--checkpoint', FLAGS.checkpoint), ('--logdir', FLAGS.logdir)):
    if path_lines.path_refusal(flag, path):  # 'Error: /tmp/x', cut at the break, no cause
      cli._usage_error(path_lines.path_refusal(flag, path))
  # file:///x is /x, checked as a local path (the checks skip URLs: --logdir=file://$HOME
  # imported into the home directory).
  FLAGS.checkpoint = path_lines.local_path(FLAGS.checkpoint) or FLAGS.checkpoint
  FLAGS.logdir = path_lines.local_path(FLAGS.logdir) or FLAGS.logdir
  # A typo, or a file of the save, was find_folder's line with exit code 1 once
  # TensorFlow had loaded (seconds); export refuses its --checkpoint so before it.
  local = os.path.expanduser(FLAGS.checkpoint).rstrip('/') or '/'
  if '://' not in local and not os.path.exists(local):
    cli._usage_error(f'--checkpoint {local} does not exist')
  if '://' not in local and not os.path.isdir(local) and os.path.basename(local) != 'agent.pkl':
    cli._usage_error(f'--checkpoint {local} is a file; pass the official logdir, its ckpt/ or '
                     'a save folder (the one holding agent.pkl)')
  try:
    # A local --checkpoint that holds no official run (a logdir of ours, a folder without
    # agent.pkl or ckpt/latest) was refused once TensorFlow had loaded (seconds).
    folder = find_folder(FLAGS.checkpoint) if '://' not in local else None
    nesting = folder and logdir_nesting(FLAGS.logdir, folder)
    if nesting:
      cli._usage_error(nesting)
    # A TF_XLA_FLAGS TensorFlow cannot read ended the import inside the hidden import
    # below, without a word (exit code 1). (It compiles nothing with XLA_FLAGS.)
    from dreamerv3_tf import tfimport
    tfimport.check_tf_env()  # TensorFlow aborts or hangs on some
    tfimport.check_xla_flags(names=('TF_XLA_FLAGS',),
                             outcome='TensorFlow would stop the import as it loads')
    # An agent.pkl it cannot take was named once TensorFlow had loaded and the env had
    # started (seconds); its mapping onto the agent waits for both.
    data = read(folder) if folder else None
    # TensorFlow's start-up lines (9 on a machine without a GPU) came before the one
    # line of a refusal: hidden as main hides them (--verbose shows them).
    gce_check.prepare([FLAGS.checkpoint, FLAGS.logdir])  # (main's reason)
    startup.import_tensorflow(startup.log_level(FLAGS.verbose))
    from dreamerv3_tf import configuration
    from dreamerv3_tf.interop import official_config
    overrides = {}
    if config is None:
      from configs import dmc
      config = dmc.get_config('train_eval')
    else:
      overrides = config_flags.get_override_values(FLAGS['config'])
    out = os.path.expanduser(FLAGS.logdir).rstrip('/') or '/'
    folder = folder or find_folder(FLAGS.checkpoint)
    yaml_path = official_config.find_yaml(FLAGS.checkpoint, folder)
    with config.unlocked():
      config.logdir = out
      if yaml_path:
        changed = official_config.apply(official_config.load_yaml(yaml_path), config)
        # Values given as --config.<key>=... win over the official config.yaml.
        config.update_from_flattened_dict(overrides)
        print(f'Applied {len(changed)} settings of {yaml_path}: '
              + ', '.join(changed[:12]) + (' ...' if len(changed) > 12 else ''))
    configuration.finalize(config)
    obs_space, act_space = _spaces(config)
    data, prefix = write_logdir(config, obs_space, act_space, folder, out, data)
  except KeyboardInterrupt as e:
    word, code = stop_signals.word_and_code(e)
    errors.fail(f'{word}; the import did not finish and wrote nothing', code)
  except Exception as e:  # noqa: BLE001 - every failure ends in one line: an env that
    # cannot start and a logdir that cannot be written printed a traceback
    stdout = not isinstance(e, base.UserError) and stop_signals.stdout_failed(e)
    if stdout:  # `| head`, `> log` on a full disk
      errors.fail(f'{stdout}; the import did not finish and wrote nothing', 1)
    errors.fail(errors.describe(e), base.exit_code(e))
  step = f' at env step {data["step"]}' if data['step'] is not None else ''
  try:
    print(f'Imported {data["folder"]}{step} ({len(data["params"])} official entries, '
          f'{int(data["params"]["opt/step/value"])} updates) into {prefix}.', flush=True)
    # Quoted, as main's last line quotes its plot command: a --logdir with a space or a
    # $ gave a command that, pasted, exported another path or failed.
    print(f'Next: python -m dreamerv3_tf.export --logdir={quote_for_paste(out)} --out=EXPORT_DIR',
          flush=True)
  except OSError as e:  # a traceback, after the import was written
    stdout = stop_signals.stdout_failed(e)  # `| head`, `> log` on a full disk
    if not stdout:
      raise
    errors.fail(f'{stdout}; the import in {out} is written whole', 1)


def entry():
  from absl import app
  from absl import flags
  # main's flags (--config, --logdir, --traceback, --verbose) and its parser: a bad
  # flag or config key is its one line with exit code 2 (a traceback, or absl's two
  # lines with exit code 1, before).
  from dreamerv3_tf import main as cli
  flags.FLAGS['config'].help = (
      'Our config file and presets for the task, e.g. configs/dmc.py:train_eval '
      "(default); the official run's config.yaml, when found next to its ckpt/, sets "
      'the model sizes.')
  flags.FLAGS['logdir'].help = ('Logdir of ours to write (config.json, spaces.json, '
                                'ckpt/); its ckpt/ must not exist yet.')
  for name in ('config', 'logdir', 'traceback', 'verbose'):
    flags.declare_key_flag(name)  # listed by --help, as the flags of this command
  flags.DEFINE_string('checkpoint', None, 'Official logdir, its ckpt/ folder, or one '
                      'save folder holding agent.pkl and done.', required=True)
  app.run(main, flags_parser=lambda argv: _parse_flags(argv, cli))


def _parse_flags(argv, cli):
  """main's parser, after the line for export's --out, which the importer's user may give
  for the folder to write ("Unknown command line flag 'out'" named no flag of its own).
  cli: the module dreamerv3_tf.main."""
  for i, arg in enumerate(argv[1:], 1):
    if arg == '--':
      break
    name, eq, value = arg.partition('=')
    if name in ('--out', '-out'):
      if not eq and i + 1 < len(argv) and not argv[i + 1].startswith('-'):
        value = argv[i + 1]
      cli._usage_error(
          f"{name} is export's flag; the importer writes a logdir of ours: "
          f'--logdir={quote_for_paste(value) if value else "LOGDIR"} (then export it '
          'with --out)')
  return cli._parse_flags(argv)


if __name__ == '__main__':
  entry()
