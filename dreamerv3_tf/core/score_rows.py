"""The rows of a run's score files (scores.jsonl, metrics.jsonl) as `plot` reads them.

plot draws their scores; eval_only, which adds its episodes to an evaluation's files,
checks them first with the same reading (logdir_checks): it added them without a word to
a file plot then refused.
"""

import json
import math
import sys

TRAIN_KEY = 'episode/score'
EVAL_KEY = 'epstats/score'

# Scores beyond it are left out: the sums behind the means overflowed (1e308: numpy's
# 'overflow encountered' warning, and the table's mean 'n/a'). No benchmark comes near.
LARGEST_SCORE = 1e100


def read_points(path, keys=(TRAIN_KEY, EVAL_KEY), warn=True):
  """-> {key: [(step, score), ...]} of the JSON lines of file `path` (a last line that
  is not JSON is taken for one still being written, and skipped). ValueError naming the
  file and line of one that holds no row or a `keys` value that is no number; with
  `warn`, a warning line for the values left out (not finite, or too large)."""
  points, dropped, huge = {key: [] for key in keys}, {}, {}
  # Bytes that are not UTF-8 become U+FFFD: their line is then named as not JSON
  # (a UnicodeDecodeError named no file).
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      lines = f.read().split('\n')
  except OSError as e:  # no permission: it was '[Errno 13] Permission denied: PATH'
    raise ValueError(f'{path} cannot be read ({e.strerror or e})') from None
  last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
  for number, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      if number == last:
        continue  # a line still being written by a running job
      raise ValueError(f'{path}:{number + 1}: not a JSON line: {line[:80]!r}') from None
    # json reads NaN, Infinity and 1e400 as floats: a NaN step was plotted (exit 0), an
    # infinite one failed in the plot ("Axis limits cannot be NaN or Inf") naming no file.
    # (json's true is an int to Python: a step `true` was plotted as step 1)
    step = record.get('step') if isinstance(record, dict) else None
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step):
      raise ValueError(f"{path}:{number + 1}: expected an object with a finite numeric 'step'")
    if step < 0:  # (no run logs one) it was drawn left of the axis: a plot of nothing, exit 0
      raise ValueError(f"{path}:{number + 1}: 'step' is {json.dumps(step)}, below 0 (env steps "
                       'count from 0)')
    for key in keys:
      value = record.get(key)
      if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        # A hand-edited or foreign file: true counted as a score of 1, a text was skipped.
        raise ValueError(f"{path}:{number + 1}: '{key}' is {json.dumps(value)[:40]}, not a "
                         'number')
      if isinstance(value, (int, float)) and abs(value) <= LARGEST_SCORE:
        points[key].append((float(step), float(value)))
      elif isinstance(value, float) and not math.isfinite(value):  # NaN or inf: a run
        dropped[key] = dropped.get(key, 0) + 1  # that diverged left them out silently
      elif value is not None:
        huge[key] = huge.get(key, 0) + 1
  for key, count in dropped.items() if warn else ():
    values, are, they = ('values', 'are', 'they') if count > 1 else ('value', 'is', 'it')
    print(f"Warning: {path} holds {count} '{key}' {values} that {are} not finite "
          f'(NaN or inf: a run that diverged?); {they} {are} left out', file=sys.stderr,
          flush=True)
  for key, count in huge.items() if warn else ():
    values, are, they = ('values', 'are', 'they') if count > 1 else ('value', 'is', 'it')
    print(f"Warning: {path} holds {count} '{key}' {values} beyond "
          f'±1e100, too large to average (a run that diverged?); {they} {are} left out',
          file=sys.stderr, flush=True)
  return points
