"""Published learning curves of the official DreamerV3 (JAX), to compare runs against.

  from dreamerv3_tf import reference
  mean, low, high = reference.reference_band('dmc_cartpole_balance', 'dmc_proprio',
                                             [10000, 25000, 50000])

Data files (package data, `<suite>-dreamerv3.json.gz`): a gzip JSON list of runs
`{task, method, seed, xs, ys}` with one point per episode (`dmc_proprio`: one point per
10K frames); suites `dmc_proprio` (18 tasks x 5 seeds), `dmc_vision` (20 tasks x ~10
seeds) and `atari100k` (26 games x 5 seeds).

Units: `xs` count environment frames (Atari 100k ends at 400K = 100K agent steps x
action repeat 4), while our logged step counts agent steps; so a reference point at x
frames sits at our step x / repeat (repeat 1 for our DMC configs, 4 for atari100k).

Names: our `dmc_<domain>_<task>` equals theirs; our `atari100k_<game>` is their
`atari_<game>`. Our DMC proprio and vision runs differ in the config
(`env.dmc.image`), not in the task name: pick the suite with `suite_for`.

numpy only: no TensorFlow, no matplotlib.
"""

import functools
import gzip
import importlib.resources
import json
import warnings

import numpy as np

SUITES = ('dmc_proprio', 'dmc_vision', 'atari100k')
# Our default action repeat per suite: frames per logged step.
REPEATS = {'dmc_proprio': 1, 'dmc_vision': 1, 'atari100k': 4}
# Default averaging window, in frames: one proprio point (every 10K frames), one or two
# vision eval groups (8 episodes every ~8K frames), a few Atari episodes.
WINDOW_FRAMES = 10000


def path(suite):
  """The data file of `suite` as an importlib.resources Traversable."""
  _check_suite(suite)
  return importlib.resources.files(__name__) / f'{suite}-dreamerv3.json.gz'


@functools.lru_cache(maxsize=None)
def load(suite):
  """-> dict task -> list of (seed, xs <float64>[N], ys <float64>[N]), xs ascending."""
  with path(suite).open('rb') as f:
    runs = json.loads(gzip.decompress(f.read()))
  tasks = {}
  for run in runs:
    xs = np.asarray(run['xs'], np.float64)
    ys = np.asarray(run['ys'], np.float64)
    order = np.argsort(xs, kind='stable')
    tasks.setdefault(run['task'], []).append((run['seed'], xs[order], ys[order]))
  for value in tasks.values():
    value.sort(key=lambda item: item[0])
  return tasks


def tasks(suite):
  """Sorted task names (their naming) of `suite`."""
  return sorted(load(suite))


def their_task(task):
  """Our task name -> the reference's: `atari100k_pong` -> `atari_pong`."""
  if task.startswith('atari100k_'):
    return 'atari_' + task[len('atari100k_'):]
  return task


def suite_for(task, image=False):
  """Reference suite of one of our tasks, or None when there is none.

  Args:
    task: our task name, e.g. `dmc_walker_walk`, `atari100k_pong`.
    image: whether the run sees pixels (config `env.dmc.image`), for DMC only.
  """
  if task.startswith('dmc_'):
    return 'dmc_vision' if image else 'dmc_proprio'
  if task.startswith('atari100k_'):
    return 'atari100k'
  return None


def has(task, suite):
  return suite in SUITES and their_task(task) in load(suite)


def window_mean(xs, ys, steps, window):
  """Score of one run at each of `steps`: the mean of its points within the window.

  A point counts for step s when s - window/2 <= x <= s + window/2. A step with no
  point in its window but inside the run's x range takes the linear interpolation of
  the neighbouring points; a step outside the range is NaN.

  Args:
    xs: <float>[N] steps (any order); ys: <float>[N] scores.
    steps: <float>[S] where to evaluate; window: width in the units of xs.
  Returns:
    <float64>[S].
  """
  xs, ys, steps = _curve(xs, ys, steps, window, 'window')
  out = np.full(steps.shape, np.nan)
  if not len(xs):
    return out
  order = np.argsort(xs, kind='stable')
  xs, ys = xs[order], ys[order]
  cumsum = np.concatenate([[0.0], np.cumsum(ys)])
  lo = np.searchsorted(xs, steps - window / 2, side='left')
  hi = np.searchsorted(xs, steps + window / 2, side='right')
  count = hi - lo
  filled = count > 0
  out[filled] = (cumsum[hi] - cumsum[lo])[filled] / count[filled]
  inside = ~filled & (steps >= xs[0]) & (steps <= xs[-1])
  out[inside] = np.interp(steps[inside], xs, ys)
  return out


def _curve(xs, ys, at, size, name):
  """Checked float64 arrays (xs, ys, at) for a curve evaluated at `at`."""
  xs = np.asarray(xs, np.float64)
  ys = np.asarray(ys, np.float64)
  if xs.shape != ys.shape or xs.ndim != 1:
    raise ValueError(f'xs and ys must be 1-D of one length; got {xs.shape} and {ys.shape}')
  if not size > 0:
    raise ValueError(f'{name} must be positive; got {size}')
  return xs, ys, np.atleast_1d(np.asarray(at, np.float64))


def binned(xs, ys, centers, width):
  """One run's curve at bin `centers`: bin means, with gaps filled linearly.

  Bin c holds the points with c - width/2 <= x <= c + width/2 (closed, so that a
  point at exactly --xmax, like a final eval, lands in the last bin). An empty bin between
  two filled ones takes the linear interpolation of their means (so sparse data such
  as the 10K-spaced proprio points draws as a line, not as steps); empty bins before
  the first or after the last filled one are NaN.

  Args:
    xs: <float>[N] steps; ys: <float>[N] scores; centers: <float>[S] ascending;
    width: bin width in the units of xs.
  Returns:
    <float64>[S].
  """
  xs, ys, centers = _curve(xs, ys, centers, width, 'width')
  out = np.full(centers.shape, np.nan)
  order = np.argsort(xs, kind='stable')
  xs, ys = xs[order], ys[order]
  cumsum = np.concatenate([[0.0], np.cumsum(ys)])
  lo = np.searchsorted(xs, centers - width / 2, side='left')
  hi = np.searchsorted(xs, centers + width / 2, side='right')
  filled = hi > lo
  out[filled] = (cumsum[hi] - cumsum[lo])[filled] / (hi - lo)[filled]
  if filled.sum() >= 2:
    first, last = np.flatnonzero(filled)[[0, -1]]
    gaps = ~filled & (np.arange(len(centers)) > first) & (np.arange(len(centers)) < last)
    out[gaps] = np.interp(centers[gaps], centers[filled], out[filled])
  return out


def band(curves, spread='minmax'):
  """Mean and spread over runs of <float>[R, S] curves (NaN = run has no value).

  Returns:
    (mean, low, high), each <float64>[S]; `spread` is 'minmax' (low/high are the min
    and max over runs) or 'std' (mean -/+ one standard deviation).
  """
  curves = np.asarray(curves, np.float64)
  if curves.ndim != 2:
    raise ValueError(f'curves must be [runs, steps]; got shape {curves.shape}')
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)  # all-NaN columns stay NaN
    mean = np.nanmean(curves, 0)
    if spread == 'minmax':
      return mean, np.nanmin(curves, 0), np.nanmax(curves, 0)
    if spread == 'std':
      std = np.nanstd(curves, 0)
      return mean, mean - std, mean + std
  raise ValueError(f"spread must be 'minmax' or 'std'; got {spread!r}")


def reference_band(task, suite, steps, window=None, repeat=None, spread='minmax'):
  """Official DreamerV3 score at our `steps`: mean and min/max over seeds.

  Args:
    task: our name (`dmc_cartpole_balance`, `atari100k_pong`) or theirs (`atari_pong`).
    suite: 'dmc_proprio', 'dmc_vision' or 'atari100k'; None picks `suite_for(task)`.
    steps: <float>[S] our env steps (agent steps).
    window: averaging width in our steps (default WINDOW_FRAMES / repeat).
    repeat: frames per our step (default REPEATS[suite]).
    spread: 'minmax' or 'std' (see `band`).
  Returns:
    (mean, low, high), each <float64>[S]; NaN where no seed has data.
  Raises:
    KeyError naming the task and the suite when the reference does not have it.
  """
  suite, runs, repeat = _runs(task, suite, repeat)
  window = WINDOW_FRAMES / repeat if window is None else window
  curves = [window_mean(xs / repeat, ys, steps, window) for _, xs, ys in runs]
  return band(curves, spread)


def reference_bins(task, suite, centers, width, repeat=None, spread='minmax'):
  """Like `reference_band`, but each seed binned with `binned` (for plots)."""
  suite, runs, repeat = _runs(task, suite, repeat)
  curves = [binned(xs / repeat, ys, centers, width) for _, xs, ys in runs]
  return band(curves, spread)


def _runs(task, suite, repeat):
  suite = suite or suite_for(task)
  _check_suite(suite)
  runs = load(suite)
  name = their_task(task)
  if name not in runs:
    raise KeyError(
        f'no reference curve for task {task!r} in {suite}; it has: {", ".join(sorted(runs))}')
  return suite, runs[name], REPEATS[suite] if repeat is None else repeat


def seeds(task, suite):
  """Number of reference seeds of `task` in `suite`."""
  return len(load(suite)[their_task(task)])


def _check_suite(suite):
  if suite not in SUITES:
    raise ValueError(f'unknown reference suite {suite!r}; expected one of {", ".join(SUITES)}')
