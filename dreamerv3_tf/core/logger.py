"""Logger: collects metrics between writes and hands them to outputs.

  logger = Logger(step, [TerminalOutput(total_steps=1e6), JSONLOutput(logdir),
                         JSONLOutput(logdir, 'scores.jsonl', pattern=SCORES)])
  logger.add({'loss': 1.2}, prefix='train')
  logger.write()

Values: scalars (numbers, 0-d arrays) are stored as floats; videos are uint8 arrays
<uint8>[T, H, W, C] or [B, T, H, W, C] with C in (1, 3, 4); strings are passed on as
text; any other numeric array is summarized by its mean (empty ones are dropped).
Each value is stamped with the logger step at `add` time.

An output is a callable `output(records)` taking a list of (step, name, value) and may
have `close()`. The TensorBoard output lives in `dreamerv3_tf/tensorboard.py` (it
imports TensorFlow; this module does not).

Scores: `scores.jsonl` is a second JSONLOutput with `pattern=SCORES` (the run's
outputs are made in `factories.make_logger`), so a learning curve is one small file.
"""

import collections
import functools
import io
import json
import math
import os
import re
import sys
import time

import numpy as np

from dreamerv3_tf.core import files
from dreamerv3_tf.core.files import write_atomic

SCORES = r'(^|/)(score|length)$'

# Keys shown in the terminal table when no pattern is given: the few a person watches
# (each pattern matches keys that run/train_eval logs; tests/run checks it).
TERMINAL_PATTERNS = (
    r'^(episode|epstats)/(score|length)$', r'^train/loss/', r'^(report|eval)/loss/total$',
    r'^fps/step$', r'^replay/(items|chunks)$', r'^usage/(proc_ram_gb|proc_cpu_frac)$',
    r'^train/updates$')
TERMINAL_KEYS = '|'.join(TERMINAL_PATTERNS)


class Logger:
  """Buffers metrics and writes them to every output on `write()`.

  Args:
    step: the step source: an int-like counter (`int(step)`) or a callable.
    outputs: list of outputs (callables taking a list of (step, name, value)).
    multiplier: logged step = step * multiplier (e.g. the action repeat).
  """

  def __init__(self, step, outputs, multiplier=1):
    self._step_source = step
    self.outputs = list(outputs)
    self.multiplier = multiplier
    self._records = []
    self._unsent = []  # flushed to the outputs that keep rows, not yet to the others
    self._last = None  # (step, time) of the previous write, for fps

  @property
  def step(self):
    source = self._step_source
    value = int(source) if hasattr(source, '__int__') else int(source())
    return value * self.multiplier

  def add(self, metrics, prefix=None):
    """Adds a dict of metrics; names become `prefix/name`."""
    step = self.step
    for name, value in dict(metrics).items():
      if not isinstance(name, str) or not name:
        raise ValueError(f'Metric names must be non-empty strings, got {name!r}.')
      name = f'{prefix}/{name}' if prefix else name
      value = _normalize(name, value)
      if value is not None:
        self._records.append((step, name, value))

  def scalar(self, name, value):
    array = np.asarray(value)
    if array.ndim != 0:
      raise ValueError(f"Scalar '{name}' has shape {array.shape}, expected ().")
    self.add({name: value})

  def video(self, name, value):
    """Adds a video <uint8>[T, H, W, C] or [B, T, H, W, C]."""
    array = np.asarray(value)
    if not _is_video(array):
      raise ValueError(
          f"Video '{name}' has dtype {array.dtype} and shape {array.shape}, expected "
          'uint8 [T, H, W, C] or [B, T, H, W, C] with C in (1, 3, 4).')
    self.add({name: value})

  def write(self):
    """Adds 'fps/step' (logged steps per second since the last write that was at an
    earlier step) and flushes. A write at the step of the last one adds none: a run's
    last write, at the step of its last progress line, logged a row of 0 fps."""
    step, now = self.step, time.monotonic()  # (the wall clock may jump)
    if self._last is None or step > self._last[0]:
      if self._last is not None and now > self._last[1]:
        fps = (step - self._last[0]) / (now - self._last[1])
        self._records.append((step, 'fps/step', float(fps)))
      self._last = (step, now)
    records, unsent = self._records, self._unsent
    self._records, self._unsent = [], []
    for output in self.outputs:
      mine = records if _keeps_rows(output) else unsent + records
      if mine:
        output(mine)

  def flush(self):
    """Writes what is pending to the outputs that keep rows (files), not to the others
    (the terminal's progress lines get it at the next write), and adds no fps: a save's,
    so that a run killed after it has the rows of the steps it resumes past."""
    records, self._records = self._records, []
    for output in self.outputs:
      if _keeps_rows(output) and records:
        output(records)
    self._unsent += records

  def resume(self):
    """At a resume, before the first write: the outputs that keep rows (JSONLOutput)
    move those past this logger's step, where the run resumes, into side files; one
    warning line names them. The stopped run logged those steps and this one logs them
    again: each file held two histories of them (plots zig-zagged)."""
    step = self.step
    moved = [x for x in (output.set_aside_after(step) for output in self.outputs
                         if _keeps_rows(output)) if x]
    if moved:
      # (TensorBoardOutput's are events of a directory)
      what = ' and '.join(f'{count} {(unit or ["row"])[0]}{"s" if count > 1 else ""} of '
                          f'{path} to {side}' for path, count, side, *unit in moved)
      print(f'Warning: the rows past step {step}, where this run resumes, were logged by '
            f'the run that stopped and are logged again now: moved {what}',
            file=sys.stderr, flush=True)

  def close(self):
    """Writes what is pending and closes the outputs."""
    if self._records:
      self.write()
    elif self._unsent:  # in the files already: the terminal's alone, and no fps row
      unsent, self._unsent = self._unsent, []
      for output in self.outputs:
        if not _keeps_rows(output):
          output(unsent)
    for output in self.outputs:
      if hasattr(output, 'close'):
        output.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def _keeps_rows(output):
  """Whether `output` keeps rows that a resume moves past its step (a file's)."""
  return hasattr(output, 'set_aside_after')


class TerminalOutput:
  """Prints one progress line and a compact table of the main scalars per write.

    [12:00:01] step 120,000 / 1,000,000 (12.0%) | 350 fps | ETA 41m | train 512.3
      episode/score 512.3      │ fps/step 350             │ train/loss/dyn 1.02
      (182 more keys not shown)

  Args:
    total_steps: the run length in logged steps (env steps x multiplier), for ETA.
    pattern: regex of scalar keys to show (default TERMINAL_KEYS).
    limit: at most this many keys in the table.
    train_score, eval_score: keys of the episode scores shown in the line; the last
      value seen is kept across writes.
    file: where to print (default sys.stdout at print time).
    eta_after: a scalar key (e.g. 'train/updates'): no ETA until a write has it above
      0. Until then the rate is of the cheap part alone (env steps before training
      starts), so the quick command read 'ETA 4s' and took 9 more minutes. A write
      that has it at 0 says 'ETA once training runs'; one without it, none.
  """

  def __init__(
      self, total_steps=None, pattern=None, limit=24, train_score='episode/score',
      eval_score='epstats/score', file=None, columns=3, eta_after=None):
    self.total_steps = int(total_steps) if total_steps else None
    self._eta_after = eta_after
    self._eta_ready = not eta_after
    self._pattern = re.compile(pattern or TERMINAL_KEYS)
    self._limit = limit
    self._score_keys = {'train': train_score, 'eval': eval_score}
    self._scores = {}
    self._file = file
    self._columns = columns

  def __call__(self, records):
    step = max(s for s, _, _ in records)
    scalars = {n: v for _, n, v in records if isinstance(v, float)}
    for label, key in self._score_keys.items():
      values = [v for _, n, v in records if n == key and isinstance(v, float)]
      if values:
        self._scores[label] = float(np.mean(values))
    parts = [time.strftime('[%H:%M:%S]') + ' step ' + _count(step, self.total_steps)]
    self._eta_ready = self._eta_ready or scalars.get(self._eta_after, 0) > 0
    fps = scalars.get('fps/step')
    if fps is not None:
      parts.append(f'{fps:,.0f} fps')
      if self.total_steps and fps > 0:
        if self._eta_ready:
          parts.append('ETA ' + format_duration(max(0, self.total_steps - step) / fps))
        elif self._eta_after in scalars:  # at 0: training has not started
          parts.append('ETA once training runs')
        # (a write without that key, such as a stop's last, cannot tell whether it has)
    for label in ('train', 'eval'):
      if label in self._scores:
        parts.append(f'{label} {format_number(self._scores[label])}')
    lines = [' | '.join(parts)]
    shown = sorted(k for k in scalars if self._pattern.search(k))
    hidden = len(scalars) - min(len(shown), self._limit)
    shown = shown[:self._limit]
    file = self._file or sys.stdout
    if shown:
      cells = [f'{k} {format_number(scalars[k])}' for k in shown]
      width = max(len(c) for c in cells)
      divider = _divider(file)
      for i in range(0, len(cells), self._columns):
        row = cells[i:i + self._columns]
        lines.append('  ' + divider.join(c.ljust(width) for c in row).rstrip())
    if hidden > 0:
      lines.append(f'  ({hidden} more keys not shown)')
    print('\n'.join(lines), file=file, flush=True)


def _divider(file):
  """' │ ' where `file` can print it, else ' | ': under a locale of another encoding
  (LANG=de_DE, ISO-8859-1 on Debian; PYTHONIOENCODING=ascii) the first table stopped
  the run with an 'unexpected' UnicodeEncodeError."""
  try:
    ' │ '.encode(getattr(file, 'encoding', None) or 'utf-8')
  except (UnicodeEncodeError, LookupError):
    return ' | '
  return ' │ '


class JSONLOutput:
  """Appends one JSON line per logged step: {"step": s, name: value, ...}.

  Records of one write usually share a step (one line); values added at other
  steps (e.g. an episode that ended earlier) get their own line, and a name repeated
  at the same step goes to an extra line of that step, so no episode score is lost.
  Only scalars are written; non-finite values become null. Each write is a single
  append of whole lines.

  Args:
    logdir: directory of the file (created).
    filename: file name inside logdir.
    pattern: regex; only matching names are written, lines with none are skipped.
    opener: file open function, `opener(path, 'a')` (e.g. tf.io.gfile.GFile).
    makedirs: directory maker (e.g. tf.io.gfile.makedirs); default os.makedirs.
    fs: the files a resume reads and rewrites the file through (`set_aside_after`):
      core.files.LOCAL, or for a remote logdir dreamerv3_tf.gfile.GFILES.
  """

  def __init__(
      self, logdir, filename='metrics.jsonl', pattern=None, opener=open,
      makedirs=None, fs=files.LOCAL):
    self._pattern = pattern and re.compile(pattern)
    self._opener = opener
    self._fs = fs
    (makedirs or functools.partial(os.makedirs, exist_ok=True))(logdir)
    self.path = os.path.join(logdir, filename)
    self._tail_checked = False

  def __call__(self, records):
    lines = collections.defaultdict(list)  # step -> list of dicts
    for step, name, value in records:
      if not isinstance(value, float):
        continue
      if self._pattern and not self._pattern.search(name):
        continue
      value = value if math.isfinite(value) else None
      rows = lines[step]
      # The first row of this step without the name takes it; a repeated name (two
      # episodes ending at the same step) opens another row.
      row = next((r for r in rows if name not in r), None)
      if row is None:
        row = {}
        rows.append(row)
      row[name] = value
    text = ''.join(
        json.dumps({'step': step, **row}) + '\n'
        for step in sorted(lines) for row in lines[step])
    if text:
      if not self._tail_checked:  # (a resume checked it in set_aside_after)
        self._drop_cut_line()
        if os.path.isfile(self.path):  # eval_only adding to an evaluation's file
          with open(self.path, 'rb') as f:
            self._warn_bad_rows(f.readlines())
        self._tail_checked = True
      with self._opener(self.path, 'a') as f:
        f.write(text)

  def set_aside_after(self, step):
    """Moves the rows past logged step `step` (where a resume starts: the stopped run
    logged them, and this one logs those steps again) into NAME.after-step-STEP.jsonl
    beside the file, kept there. -> (path, rows moved, side file), or None if none.

    The side file, then the file without them, are written under temporary names and
    renamed: a stop at any point leaves the old file or the new one, and every row in
    one of them (a side file that a stop left beside the old file is found equal and
    taken). A remote file too (a gs:// logdir: it was left with both histories)."""
    self._drop_cut_line()  # first, as at a first append: a cut line holds no row
    self._tail_checked = True
    fs, remote = self._fs, '://' in self.path
    if not (fs.exists(self.path) and not fs.isdir(self.path) if remote
            else os.path.isfile(self.path)):
      return None
    with fs.open(self.path, 'rb') as f:
      lines = io.BytesIO(f.read()).readlines()  # split on b'\n' alone, as before
    self._warn_bad_rows(lines)
    rows = [x for x in lines if _row_step(x) > step]
    if not rows:
      return None
    kept = b''.join(x for x in lines if not _row_step(x) > step)
    moved = b''.join(rows)
    stem = self.path[:-len('.jsonl')] if self.path.endswith('.jsonl') else self.path
    side, number = f'{stem}.after-step-{step}.jsonl', 1
    exists = fs.exists if remote else os.path.lexists
    while exists(side) and not _holds(fs, side, moved):  # never over another
      number += 1
      side = f'{stem}.after-step-{step}.{number}.jsonl'
    if not exists(side):
      write_atomic(side, moved, fs)
    # Through a link (metrics.jsonl linked to another disk): the link stays, and so the
    # run's appends go on into the file it names.
    write_atomic(self.path if remote else os.path.realpath(self.path), kept, fs)
    return self.path, len(rows), side

  def _warn_bad_rows(self, lines):
    """One warning line for the `lines` of the file that are no row (kept, but plot
    refuses the file: it passed every resume, and every eval_only adding to it, without
    a word)."""
    bad = [i for i, x in enumerate(lines) if x.strip() and _row_step(x) == -math.inf]
    if bad:
      print(f'Warning: {self.path}:{bad[0] + 1} is no row of the log (not a JSON object with '
            f'a step: damaged?){_more(len(bad) - 1)}; '
            'plot refuses the file until it is fixed or removed', file=sys.stderr, flush=True)

  def _drop_cut_line(self):
    """Drops a last line that a stopped run left cut (a full disk, a machine that went
    down in a write): the rows appended next would continue it into a line that is
    not JSON, no longer the last, which `plot` refuses. It holds no whole record, and
    the resumed run logs its steps again. Local files only (a remote file is written
    whole)."""
    if '://' in self.path or not os.path.isfile(self.path):
      return
    with open(self.path, 'rb+') as f:
      end = f.seek(0, os.SEEK_END)
      if not end:
        return
      start = end
      while start > 0:  # back to the last newline, in blocks
        block = min(start, 1 << 16)
        f.seek(start - block)
        data = f.read(block)
        if start == end and data.endswith(b'\n'):
          return  # whole lines
        newline = data.rfind(b'\n')
        if newline >= 0:
          start = start - block + newline + 1
          break
        start -= block
      f.seek(start)
      cut = f.read(80).decode('utf-8', 'replace')
      f.truncate(start)
    print(f'Warning: {self.path} ended in a cut line (a run stopped while writing it); '
          f'dropped it: {cut!r}', file=sys.stderr, flush=True)


def _more(n):
  return f', and {n} more such line{"s" * (n > 1)}' if n else ''


def _row_step(line):
  """The step of a metrics row (bytes), or -inf for a line that is no row (kept)."""
  try:
    step = json.loads(line).get('step')
  except (ValueError, AttributeError):  # not JSON, or not an object
    return -math.inf
  return step if isinstance(step, (int, float)) and not isinstance(step, bool) else -math.inf


def _holds(fs, path, data):
  """Whether file `path` holds exactly bytes `data`."""
  try:
    with fs.open(path, 'rb') as f:
      return f.read() == data
  except Exception:  # noqa: BLE001 - OSError, or TensorFlow's OpError for a remote file
    return False


def _normalize(name, value):
  """-> float (scalar), uint8 video array, str, or None (empty array: dropped)."""
  if isinstance(value, str):
    return value
  if isinstance(value, (bool, int, float)):
    return float(value)
  try:
    array = np.asarray(value)
  except Exception as e:
    raise ValueError(f"Metric '{name}': cannot convert {type(value)} to numpy.") from e
  if array.dtype.kind in 'US':
    return str(array) if array.ndim == 0 else ' '.join(map(str, array.ravel()))
  if array.dtype.kind not in 'biuf':
    raise ValueError(
        f"Metric '{name}' has dtype {array.dtype}; expected numbers, strings or a "
        'uint8 video.')
  if array.ndim == 0:
    return float(array)
  if _is_video(array):
    return array.copy()  # the caller may reuse its buffer before write()
  if array.size == 0:
    return None
  return float(array.mean())


def _is_video(array):
  return (
      array.dtype == np.uint8 and array.ndim in (4, 5) and array.shape[-1] in (1, 3, 4))


def format_number(value):
  """A scalar as the progress lines show it: 169.3, 5,000, 1.2e-05."""
  if not math.isfinite(value):
    return str(value)
  size = abs(value)
  if size >= 1e15:
    return f'{value:.3e}'
  if size >= 1e5 or value == int(value):
    return f'{value:,.0f}'
  if size >= 1e-3:
    return f'{value:.4g}'
  return f'{value:.2e}'


def _count(step, total):
  if not total:
    return f'{step:,}'
  # The driver steps all envs a few times per call, so a run ends a little past its
  # total: 'step 10 / 1 (1000.0%)' for run.steps=1.
  return f'{step:,} / {total:,} ({min(100.0, 100 * step / total):.1f}%)'


def format_duration(seconds):
  """Seconds as the progress lines show them: 41s, 9m16s, 2h05m, 3d04h."""
  seconds = int(seconds)
  days, seconds = divmod(seconds, 86400)
  hours, seconds = divmod(seconds, 3600)
  minutes, seconds = divmod(seconds, 60)
  if days:
    return f'{days}d{hours:02d}h'
  if hours:
    return f'{hours}h{minutes:02d}m'
  if minutes:
    return f'{minutes}m{seconds:02d}s'
  return f'{seconds}s'
