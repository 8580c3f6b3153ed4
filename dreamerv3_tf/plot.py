"""Learning curves of runs, over the official DreamerV3 band where there is one.

  python -m dreamerv3_tf.plot --logdirs ~/logdir/run1 ~/logdir/run2 --out curves.png
  python -m dreamerv3_tf.plot --logdirs ~/logdir/* --out curves.png --svg --xmax 50000 \
      --table 10000,25000,50000

Each logdir holds `config.json` (task, seed, env settings) and the JSON lines of
`scores.jsonl` / `metrics.jsonl`: `episode/score` (train episodes) and `epstats/score`
(eval episodes) against `step` (agent steps). Runs of one task (and, for DMC, one input
kind: proprio or vision) share a subplot: the mean over seeds with a min-max (or std)
band, for eval and train episodes, over the official curve binned the same way.

Plots: each run is binned (`--bins` bins up to `--xmax`, mean per bin, gaps filled
linearly; `reference.binned`), then mean and spread are taken over runs. Tables: each
run's mean within a 10K-frame window around each step (`reference.window_mean`), for
ours and the reference alike. Imports matplotlib
(Agg) and numpy, never TensorFlow. Remote (gs://) logdirs: copy them first
(`gcloud storage cp -r gs://bucket/run .`).
"""

import os
import signal
import sys

if __name__ == '__main__':  # first: the imports below take a moment (matplotlib)
  from dreamerv3_tf import stop_signals
  stop_signals.install()
  from dreamerv3_tf.core import streams
  streams.print_any_text()
  # The command writes files with Agg: a shell's MPLBACKEND of a backend matplotlib lacks
  # stopped it at matplotlib's import ("Key backend: 'x' is not a valid value").
  os.environ.pop('MPLBACKEND', None)

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from dreamerv3_tf import reference  # noqa: E402
from dreamerv3_tf import stop_signals  # noqa: E402
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import flag_lines
from dreamerv3_tf.core import path_lines
from dreamerv3_tf.core import score_rows
from dreamerv3_tf.core.files import special_file  # noqa: E402
from dreamerv3_tf.core.files import write_atomic  # noqa: E402
from dreamerv3_tf.core.streams import quote_for_paste  # noqa: E402

TRAIN_KEY = score_rows.TRAIN_KEY
EVAL_KEY = score_rows.EVAL_KEY
reference_band = reference.reference_band  # re-exported: the public entry point


class LogdirError(ValueError):
  """A --logdirs name that is no run (missing, a file, the folder of runs, a folder of a
  run) or whose config file cannot be read, or a --task of none of them: the command's
  exit code 2, as main and export give for such a --logdir (it was 1, as for a run whose
  scores cannot be read)."""


@dataclasses.dataclass
class Run:
  """One logdir: its task, seed, suite and score curves (steps <float64>[N], scores [N])."""
  logdir: str
  task: str
  seed: int
  suite: str | None      # reference suite ('dmc_proprio', ...) or None
  kind: str              # 'proprio' / 'vision' for DMC, '' otherwise
  repeat: int            # frames per step (the env's action repeat)
  train: tuple
  eval: tuple
  label: str = 'ours'    # runs with one label are seeds of one curve

  @property
  def group(self):
    return (self.task, self.kind)


def load_run(logdir, label=None):
  """Reads config.json (or the official code's config.yaml) and the scores into a Run.

  label: the curve it belongs to; default 'ours', or 'official code' for config.yaml.
  """
  if '://' in logdir:  # (any other scheme was said not to exist)
    scheme = logdir.split('://', 1)[0]
    how = f', e.g. gcloud storage cp -r {logdir} .' if scheme == 'gs' else ''
    raise LogdirError(
        f'{logdir}: {scheme}:// logdirs are not read directly (plot never loads '
        f'TensorFlow, whose file systems read them); copy it to a local folder first{how}')
  config_path = os.path.join(logdir, 'config.json')
  official_path = os.path.join(logdir, 'config.yaml')
  if os.path.isfile(config_path):
    try:
      with open(config_path) as f:
        config = json.load(f)
    except ValueError as e:  # JSONDecodeError, or UnicodeDecodeError (not UTF-8)
      raise LogdirError(f'{config_path}: not valid JSON ({e})') from e
    except OSError as e:  # no permission: '[Errno 13] Permission denied: PATH', exit code 1
      raise LogdirError(f'{config_path} cannot be read ({e.strerror or e})') from e
  elif os.path.isfile(official_path):
    # A logdir of the official JAX code: same task names and score files.
    config_path = official_path
    label = label or 'official code'
    import yaml  # a dependency of ml_collections
    with open(official_path) as f:
      try:
        config = yaml.safe_load(f)
      except yaml.YAMLError as e:  # (its text is four lines)
        raise LogdirError(f'{official_path}: not valid YAML ({errors.yaml_problem(e)})') from e
      except ValueError as e:  # not UTF-8
        raise LogdirError(f'{official_path}: not valid YAML ({e})') from e
    if not isinstance(config, dict):
      raise LogdirError(f'{official_path}: expected a mapping of config keys')
  elif not os.path.exists(logdir):
    raise LogdirError(f'{logdir} does not exist')
  elif os.path.islink(config_path) and not os.path.exists(config_path):
    # It asked 'no config.json (ours) or config.yaml (official code); is this a run directory?'
    raise LogdirError(f'{config_path} is a symbolic link to {os.readlink(config_path)}, '
                      'which does not exist (a disk not mounted?); mount it or fix the link')
  elif os.path.isdir(config_path):  # it said 'no config.json ...; is this a run directory?'
    raise LogdirError(f"{config_path} is a directory, not a run's config file")
  elif os.path.exists(config_path):  # a pipe or a device (a link to one): the same line
    raise LogdirError(
        f"{config_path} is a device, a named pipe or a socket, not a run's config file")
  else:
    parent = os.path.dirname(logdir.rstrip('/'))
    if parent and os.path.isfile(os.path.join(parent, 'config.json')):  # e.g. RUN/ckpt
      # RUN/config.json (a shell's tab completion) was named a folder too.
      what = 'folder' if os.path.isdir(logdir) else 'file'
      raise LogdirError(f'{logdir}: no config.json; it is a {what} of the run {parent}: '
                        f'pass {parent}')
    if not os.path.isdir(logdir):  # was asked 'is this a run directory?'
      raise LogdirError(f'{logdir} is a file, not a run directory')
    if os.path.isfile(os.path.join(logdir, 'saved_model.pb')):  # as export and main name it
      raise LogdirError(f'{logdir} is a SavedModel export, which holds no scores; pass the run '
                        'it was exported from')
    runs = path_lines.runs_in(logdir, ('config.json', 'config.yaml'))
    if runs:  # ~/logdir, the folder of them all: was asked 'is this a run directory?'
      shown = ' '.join(quote_for_paste(os.path.join(logdir, x)) for x in runs[:3])
      raise LogdirError(path_lines.holds_runs(
          '--logdirs', logdir, runs, f'pass the runs to plot, e.g. --logdirs {shown}'
          f'{" ..." if len(runs) > 3 else ""}'))
    raise LogdirError(
        f'{logdir}: no config.json (ours) or config.yaml (official code); '
        f'is this a run directory?')
  if not isinstance(config, dict):  # e.g. null: a traceback ('in' of no container)
    what = 'null' if config is None else type(config).__name__
    raise LogdirError(f'{config_path}: holds a JSON {what}, not a run\'s config')
  for key in ('task', 'seed'):
    if key not in config:
      raise LogdirError(f"{config_path}: missing key '{key}'")
  task = config['task']
  # A hand-edited 5, null or "" was plotted under the title '5', 'None' or none.
  if not isinstance(task, str) or not task.strip() or '\n' in task:
    raise LogdirError(f"{config_path}: 'task' is {json.dumps(task)}, not a task name such as "
                      "dmc_walker_walk")
  prefix = task.split('_', 1)[0]
  try:  # a hand-edited file: `env: null` was a traceback, a text seed a line without a path
    seed = int(config['seed'])
    env = config.get('env') or {}
    image = bool((env.get('dmc') or {}).get('image', False)) if prefix == 'dmc' else False
    # py_ tasks take env.gym's repeat; env.py holds their own arguments (a 'repeat' of
    # theirs was read as the action repeat, or refused: 'not a run's config').
    section = 'gym' if prefix == 'py' else prefix
    repeat = int((env.get(section) or {}).get('repeat', 1) or 1)
  except (TypeError, ValueError, AttributeError, OverflowError) as e:  # (a seed of 1e400)
    raise LogdirError(
        f'{config_path}: not a run\'s config ({type(e).__name__}: {e})') from None
  suite = reference.suite_for(task, image)
  kind = ('vision' if image else 'proprio') if prefix == 'dmc' else ''
  curves = read_scores(logdir)
  return Run(logdir, task, seed, suite, kind, repeat,
             curves[TRAIN_KEY], curves[EVAL_KEY], label or 'ours')


def read_scores(logdir, keys=(TRAIN_KEY, EVAL_KEY)):
  """-> dict key -> (steps <float64>[N], scores <float64>[N]), sorted by step.

  For each key, scores.jsonl is used when it has that key, else metrics.jsonl (the
  logger writes score lines to both, so reading both would count them twice).
  """
  files = [os.path.join(logdir, name) for name in ('scores.jsonl', 'metrics.jsonl')]
  for path in files:  # was skipped, or named as missing
    if os.path.isdir(path):
      raise ValueError(f'{path} is a directory, not a file of scores')
    if os.path.islink(path) and not os.path.exists(path):  # was skipped: its scores unseen
      raise ValueError(f'{path} is a symbolic link to {os.readlink(path)}, which does not '
                       'exist (a disk not mounted?); mount it or fix the link')
    # A named pipe or a device (a link to one) was 'neither ... exists'; it is not read:
    # a pipe waits for a writer, /dev/zero never ends.
    if os.path.exists(path) and not os.path.isfile(path):
      raise ValueError(f'{path} is a device, a named pipe or a socket, not a file of scores')
  parsed = [score_rows.read_points(path, keys) for path in files if os.path.isfile(path)]
  if not parsed:
    raise ValueError(f'{logdir}: neither scores.jsonl nor metrics.jsonl exists')
  out = {}
  for key in keys:
    points = next((p[key] for p in parsed if p[key]), [])
    points.sort(key=lambda point: point[0])
    steps = np.array([p[0] for p in points], np.float64)
    scores = np.array([p[1] for p in points], np.float64)
    out[key] = (steps, scores)
  return out


def logdirs_refusal(logdirs):
  """The one line refusing the names in `logdirs` (the command's exit code 2, as for
  its other flag values: these were 1, as for a run that cannot be read), else None."""
  seen = {}  # a logdir given twice (a shell glob and its own name) counted as two seeds
  for logdir in logdirs:
    if not logdir.strip():  # "--logdirs ''" (an unset shell variable) said "Error: : no ..."
      return '--logdirs holds an empty name; give run directories'
    refusal = (path_lines.line_break_in('--logdirs', logdir)  # two lines, the path cut in two
               or path_lines.deleted_cwd_refusal('--logdirs', logdir)
               # '~nosuch/run does not exist', where the other commands name the user
               or path_lines.unknown_home_refusal('--logdirs', logdir)
               # 'Error: runs/a  does not exist', the space unseen (pasted, a quoted $VAR)
               or path_lines.edge_space_refusal('--logdirs', logdir)
               or path_lines.unexpanded_variable_refusal('--logdirs', logdir))
    if refusal:
      return refusal
    key = logdir if '://' in logdir else os.path.realpath(os.path.expanduser(logdir))
    if key in seen:
      return f'{logdir} is given twice (also as {seen[key]}); its scores would count as two seeds'
    seen[key] = logdir
  return None


def load_runs(logdirs, task=None, labels=None):
  """Loads every logdir; keeps those of `task` (ours or the reference's name) if given.

  labels: one curve label per logdir (default: see load_run).
  """
  if labels is not None and len(labels) != len(logdirs):
    raise ValueError(f'{len(labels)} labels for {len(logdirs)} logdirs; give one per logdir')
  labels = labels or [None] * len(logdirs)
  refusal = logdirs_refusal(logdirs)
  if refusal:
    raise ValueError(refusal)
  runs = [load_run(logdir, label) for logdir, label in zip(logdirs, labels)]
  if task:
    kept = [r for r in runs if task in (r.task, reference.their_task(r.task))]
    if not kept:
      found = ', '.join(sorted({r.task for r in runs}))
      # exit code 2, as for the command's other flag values (it was 1, as for scores
      # that cannot be read)
      raise LogdirError(f'--task {task!r}: no run of that task; the logdirs hold: {found}')
    runs = kept
  refusal = copied_run_refusal(runs)
  if refusal:
    raise LogdirError(refusal)
  return runs


def copied_run_refusal(runs):
  """The line refusing two runs of one curve (label, task, kind) with the same seed whose
  scores are one history, the shorter a start of the longer, and whose metrics.jsonl
  open with the same timings: a run and its copy (a backup, a copy resumed elsewhere).
  Each was counted as a seed, so the band and the table's seed count showed one run as
  two. Else None."""
  seen = {}
  for run in runs:
    key = (run.label, run.group, run.seed)
    for other in seen.get(key, []):
      if _one_history(other, run) and _first_timings(other) == _first_timings(run):
        return (f'{other.logdir} and {run.logdir} hold seed {run.seed} of {run.task} with '
                'the same scores, the shorter a start of the longer (a copy of one run?); '
                'they would count as two seeds: give one of them, or tell them apart with '
                '--labels')
    seen.setdefault(key, []).append(run)
  return None


def _one_history(a, b):
  """True if every score curve of `a` and `b` agrees on its common start, at least one
  holding a point (copies read the same numbers from the same lines: exact)."""
  points = 0
  for (steps_a, scores_a), (steps_b, scores_b) in ((a.train, b.train), (a.eval, b.eval)):
    n = min(len(steps_a), len(steps_b))
    if not (np.array_equal(steps_a[:n], steps_b[:n])
            and np.array_equal(scores_a[:n], scores_b[:n])):
      return False
    points += n
  return points > 0


def _first_timings(run):
  """The first line of `run`'s metrics.jsonl holding timings (fps/, usage/), else None.
  A copy has the other's; a rerun of the seed, whose scores match until training sets
  them apart (the same env and policy seeds), has its own."""
  try:
    with open(os.path.join(run.logdir, 'metrics.jsonl'), 'rb') as f:
      return next((x for x in f if b'"fps/' in x or b'"usage/' in x), None)
  except OSError:
    return None


def has_scores(run):
  """Whether `run` holds a train or an eval score."""
  return bool(len(run.eval[0]) or len(run.train[0]))


def group_runs(runs):
  """-> list of (task, kind, [runs]) in a stable order (by task, then kind)."""
  groups = {}
  for run in runs:
    groups.setdefault(run.group, []).append(run)
  return [(task, kind, groups[(task, kind)]) for task, kind in sorted(groups)]


def curve_band(runs, which, steps, window, spread='minmax', bins=False):
  """Mean, low, high over runs of their `which` ('train' or 'eval') scores at steps.

  Each run is `reference.window_mean` at the steps, or with bins=True
  `reference.binned` with bins of width `window` centred at the steps.
  """
  fn = reference.binned if bins else reference.window_mean
  curves = [fn(*getattr(run, which), steps, window) for run in runs]
  return reference.band(curves, spread)


def run_reference(runs, steps, window, spread='minmax', bins=False):
  """The official band for a group's task, aggregated like `curve_band` (None when
  the reference lacks the task)."""
  run = runs[0]
  if not run.suite or not reference.has(run.task, run.suite):
    return None
  fn = reference.reference_bins if bins else reference.reference_band
  return fn(run.task, run.suite, steps, window, repeat=run.repeat, spread=spread)


def plot(runs, out, xmax=None, bins=40, window=None, spread='minmax', svg=False):
  """Draws one subplot per (task, kind) and writes `out` (and out.svg when svg).

  Returns the list of written paths.
  """
  import logging
  # A config directory it cannot write (a read-only HOME) printed 2 lines as it loaded
  # ('mkdir -p failed for path ~/.config/matplotlib: [Errno 30] Read-only file system',
  # 'Matplotlib created a temporary cache directory at /tmp/matplotlib-...'): it uses
  # that one, removed at exit, and the plot is the same.
  log = logging.getLogger('matplotlib')
  level = log.level
  log.setLevel(logging.ERROR)
  try:
    try:
      import matplotlib
    except ImportError:
      raise ValueError("plotting needs matplotlib: pip install -e '.[plot]'") from None
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    from matplotlib import ticker
  finally:
    log.setLevel(level)

  if not any(map(has_scores, runs)):
    raise ValueError(  # an empty figure, with exit code 0, before
        f'no scores to plot yet: the scores.jsonl and metrics.jsonl of '
        f'{", ".join(r.logdir for r in runs)} hold no {TRAIN_KEY!r} or {EVAL_KEY!r}')
  groups = group_runs(runs)
  cols = min(3, len(groups))
  rows = math.ceil(len(groups) / cols)
  fig, axes = plt.subplots(
      rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
  for ax in axes.flat[len(groups):]:
    ax.set_visible(False)
  cut = []  # subplots --xmax leaves without our curves: they drew nothing, without a word
  for ax, (task, kind, members) in zip(axes.flat, groups):
    limit = xmax or _last_step(members)
    first = min((getattr(r, w)[0].min() for r in members for w in ('eval', 'train')
                 if len(getattr(r, w)[0])), default=None)
    if xmax and first is not None and first > xmax:
      cut.append(f'Warning: --xmax {_number(xmax)} ends before the first score (step '
                 f'{_number(first)}) of {task}{f" ({kind})" if kind else ""}: its curves '
                 'are left out')
    width = limit / bins
    steps = (np.arange(bins) + 0.5) * width
    win = window or width
    ref = run_reference(members, steps, win, spread, bins=True)
    if ref is not None:
      n = reference.seeds(members[0].task, members[0].suite)
      _draw(ax, steps, ref, 'DreamerV3 official', '0.45', f'{n} seeds', dashed=True)
    labels = list(dict.fromkeys(r.label for r in members))
    for i, label in enumerate(labels):
      for which, color in (('eval', f'C{2 * i}'), ('train', f'C{2 * i + 1}')):
        with_data = [r for r in members if r.label == label and len(getattr(r, which)[0])]
        if with_data:
          seeds = len(with_data)
          curve = curve_band(with_data, which, steps, win, spread, bins=True)
          _draw(ax, steps, curve, f'{label}, {which}', color,
                f'{seeds} seed{"s" * (seeds > 1)}')
    title = task + (f' ({kind})' if kind else '')
    ax.set_title(title, fontsize=11)
    ax.set_xlim(0, limit)
    ax.set_xlabel('env steps')
    ax.set_ylabel('episode score')
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(_steps_label))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # else matplotlib warns on stderr
      ax.legend(fontsize=8, loc='best', frameon=False)
  paths = [out]
  # A label or task in a script the font lacks (CJK, emoji) printed 2 lines of
  # matplotlib's UserWarning per character and per draw (8 for a label of two): one
  # line of ours names them all.
  with warnings.catch_warnings(record=True) as caught:  # (the filters stay)
    fig.tight_layout()
    _save(fig, out, dpi=110)
    if svg:
      paths.append(os.path.splitext(out)[0] + '.svg')
      _save(fig, paths[-1])
  plt.close(fig)
  missing = {}
  for w in caught:
    glyph = re.match(r'Glyph (\d+) .*missing from (?:font\(s\) (.*)\.|current font)',
                     str(w.message))
    if glyph:
      missing.setdefault(chr(int(glyph.group(1))), glyph.group(2) or 'the current font')
    else:  # as it would have been shown
      warnings.showwarning(w.message, w.category, w.filename, w.lineno)
  for line in cut:
    print(line, file=sys.stderr, flush=True)
  if missing:
    print(f"Warning: the plot's font ({next(iter(missing.values()))}) has no glyph for "
          f"{''.join(missing)!r} (of a --labels or task name); the image shows them as "
          'boxes', file=sys.stderr, flush=True)
  return paths


def _number(x):
  """A step as written: 250, not 250.0."""
  return str(int(x)) if float(x).is_integer() else str(x)


def _save(fig, path, **kwargs):
  """Writes `fig` to `path` atomically: an interrupted write keeps the old image."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format=os.path.splitext(path)[1][1:], **kwargs)
  try:
    # Into a symlink's target: renaming over the link replaced it with a file of its own.
    write_atomic(os.path.realpath(path) if os.path.islink(path) else path, buffer.getvalue())
  except OSError as e:
    cause = e.strerror or str(e)
    if cause == errors.FILE_TOO_LARGE:  # (named no limit)
      cause += errors.file_size_hint()
    elif cause == errors.DISK_FULL[0]:  # (out of inodes, with room left)
      cause += errors.no_inodes_hint(path)
    raise OSError(f'cannot write {path}: {cause}') from None


def _draw(ax, steps, curve, label, color, seeds, dashed=False):
  mean, low, high = curve
  valid = np.isfinite(mean)
  if not valid.any():
    return
  # A curve of one bin (a run's first eval, so far) drew a line of one point: nothing.
  ax.plot(steps[valid], mean[valid], color=color, lw=1.8, ls='--' if dashed else '-',
          marker='o' if valid.sum() == 1 else None, label=f'{label} ({seeds})')
  if (high[valid] > low[valid]).any():
    ax.fill_between(steps[valid], low[valid], high[valid], color=color, alpha=0.18, lw=0)


def _last_step(runs):
  last = [xs[-1] for run in runs for xs, _ in (run.train, run.eval) if len(xs)]
  # Scores at step 0 alone (train_eval's eval before training) made bins of width 0:
  # 'Error: width must be positive; got 0.0', naming nothing.
  return max(last) if last and max(last) > 0 else 1.0


def _steps_label(value, _):
  if abs(value) >= 1e6:
    return f'{value / 1e6:g}M'
  if abs(value) >= 1e3:
    return f'{value / 1e3:g}K'
  return f'{value:g}'


def table(runs, steps, window=None, spread='minmax'):
  """Rows (task, kind, step, ours eval mean, seeds, ref mean, ref low, ref high).

  Ours: the mean over seeds of each run's eval episodes in the window around the step
  (window default: reference.WINDOW_FRAMES frames, like the reference). NaN = no data.
  Runs labelled other than 'ours' get rows of their own, named 'task [label]'.
  """
  rows = []
  steps = np.asarray(steps, np.float64)
  for task, kind, group in group_runs(runs):
    for label in dict.fromkeys(r.label for r in group):
      members = [r for r in group if r.label == label]
      name = task if label == 'ours' else f'{task} [{label}]'
      rows += _table_rows(name, kind, members, steps, window, spread)
  return rows


def _table_rows(name, kind, members, steps, window, spread):
  win = window or reference.WINDOW_FRAMES / max(r.repeat for r in members)
  with_eval = [r for r in members if len(r.eval[0])]
  if with_eval:
    ours = curve_band(with_eval, 'eval', steps, win, spread)[0]
  else:
    ours = np.full(steps.shape, np.nan)
  ref = run_reference(members, steps, win, spread)
  if ref is None:
    ref = (np.full(steps.shape, np.nan),) * 3
  return [(name, kind, float(step), float(ours[i]), len(with_eval),
           float(ref[0][i]), float(ref[1][i]), float(ref[2][i]))
          for i, step in enumerate(steps)]


def format_table(rows):
  header = f'{"task":<30} {"kind":<8} {"step":>9}  {"ours eval":>10}  reference mean [min, max]'
  lines = [header]
  for task, kind, step, ours, seeds, mean, low, high in rows:
    ours_text = f'{ours:.1f} ({seeds})' if math.isfinite(ours) else 'n/a'
    ref_text = (f'{mean:.1f} [{low:.1f}, {high:.1f}]' if math.isfinite(mean) else 'n/a')
    lines.append(f'{task:<30} {kind or "-":<8} {step:>9.0f}  {ours_text:>10}  {ref_text}')
  return '\n'.join(lines)


def _parse_steps(text):
  try:
    steps = [float(x) for x in text.split(',') if x.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated steps such as 10000,25000; got {text!r}') from None
  # nan and inf passed (nan < 0 is False) and printed a row of step nan.
  if not steps or not all(0 <= s < math.inf for s in steps):
    raise argparse.ArgumentTypeError(f'expected non-negative steps; got {text!r}')
  if max(steps) > MAX_STEP:  # printed a step of 309 digits in its row
    raise argparse.ArgumentTypeError(f'expected steps up to {MAX_STEP:g}; got {text!r}')
  part = [s for s in steps if s != int(s)]
  if part:  # 150.5 was read as 150 in the table's row, without a word
    raise argparse.ArgumentTypeError(f'step {part[0]:g} in {text!r} is no whole number of '
                                     'env steps')
  twice = [s for i, s in enumerate(steps) if s in steps[:i]]
  if twice:  # printed the same rows again, once per copy
    raise argparse.ArgumentTypeError(f'step {twice[0]:g} is given twice in {text!r}; give '
                                     'each step once')
  return steps


# Bounds of the flags: 1e9 bins ran out of memory (killed, with no word of ours), and
# --xmax 1e308 printed 2 lines of matplotlib's overflow warning. No image has 10,000
# pixels across, nor a run 1e18 env steps (a year at 30 billion steps a second).
MAX_BINS = 10_000
MAX_STEP = 1e18


def _positive(kind, most):
  def parse(text):
    try:
      value = kind(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f'expected a positive number; got {text!r}') from None
    # nan passed (nan <= 0 is False), as did inf: both failed in the plot, or not at all.
    if not 0 < value < math.inf:
      raise argparse.ArgumentTypeError(f'expected a positive number; got {text!r}')
    if value > most:
      raise argparse.ArgumentTypeError(f'expected a positive number up to {most:g}; '
                                       f'got {text!r}')
    return value
  return parse


# Two flag mistakes in argparse's words ('ignored explicit argument', 'expected one
# argument') in those of main and export, which name the flag as given.
_ARGPARSE_WORDING = (
    (re.compile(r"argument (--[\w-]+): ignored explicit argument '(.*)'$"),
     r'flag \1=\2: \1 takes no value; write \1 alone, or leave it out'),
    (re.compile(r'argument (--[\w-]+): expected one argument$'),
     r'Missing value for flag \1'),
)


class _Parser(argparse.ArgumentParser):
  def error(self, message):  # one line, not argparse's usage block
    for pattern, meaning in _ARGPARSE_WORDING:
      message = pattern.sub(meaning, message)
    self.exit(2, f'Error: {message} (see --help)\n')


class _Kept(argparse.Action):
  """argparse's store, which also keeps the text of each value given (in the namespace's
  `given`, by the flag's full name): a flag given twice with other values gets main's
  warning line, where argparse took the last without a word."""

  def __init__(self, *args, convert=str, **kwargs):
    super().__init__(*args, **kwargs)
    self.convert = convert  # (argparse's `type`, run here to see the text)

  def __call__(self, parser, namespace, text, option_string=None):
    try:
      value = self.convert(text)
    except argparse.ArgumentTypeError as e:  # argparse's own line for a `type`'s error
      raise argparse.ArgumentError(self, str(e)) from None
    setattr(namespace, self.dest, value)
    vars(namespace).setdefault('given', {}).setdefault(self.option_strings[0], []).append(text)


def make_parser():
  parser = _Parser(
      prog='python -m dreamerv3_tf.plot',
      description='Plot score vs env steps of runs, over the official DreamerV3 band.')
  # extend: a second --logdirs (--logdirs $RUN1 --logdirs $RUN2) replaced the first,
  # without a word (the table's seed count the only sign).
  parser.add_argument('--logdirs', nargs='+', action='extend', required=True,
                      help='run directories')
  parser.add_argument('--out', action=_Kept,
                      help='image to write (.png); needed unless --table only')
  parser.add_argument('--labels', nargs='+', action='extend',
                      help='one curve label per logdir (same label = seeds of one curve; '
                           "default 'ours', or 'official code' for the official's logdirs)")
  parser.add_argument('--svg', action='store_true', help='also write the .svg beside --out')
  parser.add_argument('--task', action=_Kept,
                      help='plot only this task, e.g. dmc_cartpole_balance')
  parser.add_argument('--xmax', action=_Kept, convert=_positive(float, MAX_STEP),
                      help='last env step on the x axis (default: the last logged step)')
  parser.add_argument('--bins', action=_Kept, convert=_positive(int, MAX_BINS), default=40,
                      help='points per curve (default: 40, at most 10000)')
  parser.add_argument('--window', action=_Kept, convert=_positive(float, MAX_STEP),
                      help='plot: bin width; table: averaging window, in env steps '
                           '(default: xmax / bins; table: 10K frames)')
  parser.add_argument('--spread', action=_Kept, choices=('minmax', 'std'), default='minmax',
                      help='band over seeds: min-max or mean -/+ std (default: minmax)')
  parser.add_argument('--table', action=_Kept, convert=_parse_steps,
                      help='print our eval mean and the reference at these steps, '
                           'e.g. 10000,25000,50000')
  return parser


def main(argv=None):
  """CLI; returns the exit code (0 ok, 1 bad data, 2 bad arguments or a logdir that is no
  run)."""
  refusal = errors.traceback_refusal()
  if refusal:  # first, as in main: it decides how each error is shown ('maybe' was on)
    print(f'Error: {refusal}', file=sys.stderr)
    return 2
  parser = make_parser()
  args, extra = parser.parse_known_args(argv)
  ended = extra.index('--') if '--' in extra else len(extra)  # ('--' alone: as in main)
  unknown = [x for x in extra[:ended] if x.startswith('-')]
  if unknown:
    parser.error(f'unrecognized arguments: {" ".join(unknown)}')  # (argparse's own line)
  stray = extra[:ended] + extra[ended + 1:]
  if stray:  # 'unrecognized arguments: out=c.png', where the other commands say this
    parser.error(flag_lines.stray_argument(stray[0]))
  # The same after --logdirs, which took it for a run ('nothing to do: give --out ...').
  names = {a.dest for a in parser._actions}
  stray = [x for x in args.logdirs if x.split('=', 1)[0] in names and '=' in x
           and not os.path.lexists(x)]
  if stray:
    parser.error(flag_lines.stray_argument(stray[0]))
  for line in flag_lines.repeated_flag_warnings(getattr(args, 'given', {})):
    print(line, file=sys.stderr, flush=True)
  # Before they are expanded: with HOME set but empty, ~/c.png became /c.png.
  for flag, values in (('--logdirs', args.logdirs), ('--out', [args.out or ''])):
    for value in values:
      if path_lines.unknown_home_refusal(flag, value):
        parser.error(path_lines.unknown_home_refusal(flag, value))
  # A ~ the shell leaves (--out=~/c.png, quoted): '~/run does not exist', and 'no
  # directory ./~'; main and export expand it.
  # file:///x is the local /x (it was refused as a remote logdir to copy first).
  args.logdirs = [path_lines.local_path(x) or x for x in args.logdirs]
  args.logdirs = [x if '://' in x else os.path.expanduser(x) for x in args.logdirs]
  args.out = args.out and os.path.expanduser(path_lines.local_path(args.out) or args.out)
  # Given but blank ("--out=$OUT" unset): --out '' drew nothing, ' ' wrote ' .png' here,
  # --task '' and --labels '' were as if left out.
  for flag, values in (('--out', [args.out]), ('--task', [args.task]),
                       ('--labels', args.labels or [])):
    if any(value is not None and not value.strip() for value in values):
      parser.error(f"{flag} {'holds an empty label' if flag == '--labels' else 'is empty'}; "
                   'give one or leave the flag out')
  for flag, values in (('--task', [args.task or '']), ('--labels', args.labels or [])):
    broken = [value for value in values if value.splitlines() not in ([], [value])]
    if broken:  # a label's break split its table row in two (a name the table cannot hold)
      parser.error(f'{flag} {broken[0]!r} holds a line break; give one line')
  if not args.out and not args.table:
    parser.error('nothing to do: give --out and/or --table')
  if args.labels and len(args.labels) != len(args.logdirs):  # was exit code 1 (bad data)
    parser.error(f'{len(args.labels)} --labels for {len(args.logdirs)} --logdirs; give one '
                 'per logdir')
  refusal = logdirs_refusal(args.logdirs) or (
      args.out and (path_lines.line_break_in('--out', args.out)
                    or path_lines.unknown_home_refusal('--out', args.out)  # 'no directory
                    # ./~nosuch', where the other commands name the user
                    or path_lines.deleted_cwd_refusal('--out', args.out)
                    # 'no directory $OUT', naming no variable
                    or path_lines.unexpanded_variable_refusal('--out', args.out)))
  if refusal:  # an --out with a line break: it wrote there, and said so in two lines
    parser.error(refusal)
  if args.out and '://' in args.out:  # was 'no directory <cwd>/gs:/bucket'
    scheme = args.out.split('://', 1)[0]
    how = f', e.g. gcloud storage cp curves.png {args.out}' if scheme == 'gs' else ''
    parser.error(f'--out {args.out}: plot writes local files only (it never loads '
                 f'TensorFlow, whose file systems write {scheme}://); write it to a local '
                 f'file and copy that{how}')
  if args.out and os.path.splitext(args.out)[1].lower() not in ('.png', ''):
    parser.error(f'--out must be a .png file; got {args.out!r} (use --svg for SVG)')
  if args.out and (args.out.endswith(os.sep) or os.path.isdir(args.out) or
                   os.path.isdir(_png(args.out))):
    # 'plots/' failed after loading and plotting: "Format '' is not supported" (of
    # plots/.png), naming no flag; 'plots' wrote plots.png beside the directory.
    parser.error(f'--out {args.out} names a directory; give the image file, e.g. '
                 f'{os.path.join(args.out, "curves.png")}')
  if args.out and os.path.basename(args.out).lower() == '.png':
    # "--out $NAME.png" with NAME unset: it loaded and plotted, then failed with
    # matplotlib's "Format '' is not supported" (splitext takes '.png' for a name).
    parser.error(f'--out {args.out} names no file, only the extension .png (an unset '
                 'shell variable?); give the image\'s name, e.g. '
                 f'{os.path.join(os.path.dirname(args.out), "curves.png")}')
  if args.svg and not args.out:  # drew nothing and said nothing (exit code 0)
    parser.error('--svg writes the SVG beside --out; give --out')
  svg = args.out and args.svg and os.path.splitext(_png(args.out))[0] + '.svg'
  if svg and os.path.isdir(svg):  # failed after --out's image had replaced the old one
    parser.error(f'--svg writes {svg}, which is a directory; move it away or give another '
                 '--out')
  for path in dict.fromkeys(x for x in (args.out, args.out and _png(args.out), svg) if x):
    kind = special_file(path, devices=True)
    if kind:  # /dev/null wrote /dev/null.png (a file in /dev, as root); a pipe's name
      # .png was replaced by a regular file
      parser.error(f'--out {args.out}: {path} is {kind}, not an image file; give the '
                   "image's path, e.g. curves.png (for the table alone, give --table "
                   'without --out)')
  folder = os.path.dirname(os.path.abspath(args.out)) if args.out else ''
  if folder and not os.path.isdir(folder):  # found after loading and plotting before
    parser.error(f'--out {args.out}: no directory {folder}')
  command = signal.getsignal(signal.SIGTERM) is stop_signals.stopped_while_starting
  if command:  # not main() called from Python
    stop_signals.take_over()
  try:
    runs = load_runs(args.logdirs, args.task, args.labels)
    empty = [r.logdir for r in runs if not has_scores(r)]
    if len(empty) < len(runs):  # (all empty: plot's one line says so) It added nothing,
      # without a word: a table row counted one run of the two given.
      for logdir in empty:
        print(f'Warning: {logdir} holds no scores yet (no {TRAIN_KEY!r} or {EVAL_KEY!r} in '
              'its scores.jsonl or metrics.jsonl): it adds no curve and no run to the table',
              file=sys.stderr, flush=True)
    if args.table:
      print(format_table(table(runs, args.table, args.window, args.spread)))
    if args.out:
      for path in plot(runs, _png(args.out), args.xmax, args.bins, args.window, args.spread,
                       args.svg):
        print(f'Wrote {path}')
    if sys.stdout:  # (None when started with stdout closed, `>&-`)
      sys.stdout.flush()  # here: a failure at the exit's flush was a second traceback
    if command:  # done: a stop from here on (the exit) has nothing left to stop; it
      # raised outside this try (a traceback), or killed the exiting interpreter (-2)
      stop_signals.ignore()
  except LogdirError as e:
    print(f'Error: {e}', file=sys.stderr)
    return 2
  except (ValueError, OSError) as e:
    stdout = stop_signals.stdout_failed(e)  # `| head`, `> table.txt` on a full disk
    if stdout:
      print(f'{stdout}; --out is left as it was or written whole', file=sys.stderr)
      return 1
    errors.print_traceback_if_asked()  # also where the line is expected
    print(f'Error: {e}', file=sys.stderr)
    return 1
  except Exception as e:  # noqa: BLE001 - one no check foresaw: a line, as main's (it
    errors.print_traceback_if_asked()  # printed a whole traceback)
    print(errors.describe(e, rerun=f'with {errors.TRACEBACK_ENV}=1'), file=sys.stderr,
          flush=True)
    return 1
  except KeyboardInterrupt as e:  # its images are written whole or not at all
    word, code = stop_signals.word_and_code(e)
    print(f'{word}; --out is left as it was or written whole', file=sys.stderr, flush=True)
    return code
  return 0


def _png(out):
  return out if out.lower().endswith('.png') else out + '.png'


if __name__ == '__main__':
  sys.exit(main())
