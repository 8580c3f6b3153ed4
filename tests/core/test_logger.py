"""Logger: jsonl content, scores file, terminal line, value handling; usage stats."""

import io
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from dreamerv3_tf.core import logger as logging
from dreamerv3_tf.core import usage


class Step:

  def __init__(self):
    self.value = 0

  def __int__(self):
    return self.value


def read(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


@pytest.mark.parametrize('jump', [-3600, 86400], ids=['back_an_hour', 'ahead_a_day'])
def test_fps_counts_time_the_run_took_not_wall_clock_jumps(monkeypatch, jump):
  """A wall clock set back an hour between two writes logged no fps/step (the terminal's
  line had no fps nor ETA), one set a day ahead a rate near 0 ('0 fps | ETA 3d04h')."""
  step, written = Step(), []
  logger = logging.Logger(step, [written.extend])
  step.value = 10
  logger.add({'loss': 1.0})
  logger.write()
  real = time.time
  monkeypatch.setattr(time, 'time', lambda: real() + jump)
  step.value = 20
  logger.add({'loss': 1.0})
  logger.write()
  monkeypatch.undo()
  fps = [value for _, name, value in written if name == 'fps/step']
  assert len(fps) == 1 and fps[0] > 1  # (10 steps in under 10 s)


def test_jsonl_metrics_and_scores(tmp_path):
  step = Step()
  logdir = str(tmp_path / 'run')
  outputs = [
      logging.TerminalOutput(total_steps=1000, file=io.StringIO()),
      logging.JSONLOutput(logdir, 'metrics.jsonl'),
      logging.JSONLOutput(logdir, 'scores.jsonl', pattern=logging.SCORES)]
  logger = logging.Logger(step, outputs, multiplier=2)
  step.value = 10
  logger.add({'score': 5.0, 'length': 100}, prefix='episode')
  step.value = 20
  logger.add({'loss': np.float32(1.5), 'grad': np.array([1.0, 3.0])}, prefix='train')
  logger.add({'score': 7.0, 'length': 90}, prefix='episode')
  logger.add({'score': 9.0, 'length': 80}, prefix='episode')  # same step, other env
  logger.scalar('replay/size', 123)
  logger.add({'nan': float('nan'), 'text': 'hello'}, prefix='train')
  logger.video('report/openloop', np.zeros((4, 8, 8, 3), np.uint8))
  logger.write()
  metrics = read(tmp_path / 'run' / 'metrics.jsonl')
  assert metrics[0] == {'step': 20, 'episode/score': 5.0, 'episode/length': 100.0}
  assert metrics[1] == {
      'step': 40, 'train/loss': 1.5, 'train/grad': 2.0, 'episode/score': 7.0,
      'episode/length': 90.0, 'replay/size': 123.0, 'train/nan': None}
  assert metrics[2] == {'step': 40, 'episode/score': 9.0, 'episode/length': 80.0}
  assert len(metrics) == 3  # no video, no text
  scores = read(tmp_path / 'run' / 'scores.jsonl')
  assert [s['episode/score'] for s in scores] == [5.0, 7.0, 9.0]
  assert all(set(s) == {'step', 'episode/score', 'episode/length'} for s in scores)

  # A second write appends; fps/step appears from the second write on.
  step.value = 30
  logger.add({'loss': 1.0}, prefix='train')
  logger.write()
  metrics = read(tmp_path / 'run' / 'metrics.jsonl')
  assert len(metrics) == 4
  assert metrics[-1]['step'] == 60 and metrics[-1]['train/loss'] == 1.0
  assert metrics[-1]['fps/step'] > 0
  assert len(read(tmp_path / 'run' / 'scores.jsonl')) == 3  # nothing new matched
  # A write at the same step (a run's last, after its last progress line) logs no fps:
  # it logged a row of 0, and its progress line said '0 fps'.
  logger.add({'score': 3.0}, prefix='epstats')
  logger.write()
  assert read(tmp_path / 'run' / 'metrics.jsonl')[-1] == {'step': 60, 'epstats/score': 3.0}
  logger.close()


def test_jsonl_drops_a_line_a_stopped_run_left_cut(tmp_path, capsys):
  """A run stopped in the middle of a write (a full disk, a machine that went down)
  left a cut last line; the resumed run's rows continued it, and `plot`, which skips
  only a cut last line, then refused the file ('metrics.jsonl:3: not a JSON line')."""
  path = tmp_path / 'metrics.jsonl'
  path.write_text('{"step": 10, "a": 1.0}\n{"step": 20, "a": 2.0, "b": ')
  output = logging.JSONLOutput(str(tmp_path))
  output([(20, 'a', 3.0)])
  output([(30, 'a', 4.0)])
  assert read(path) == [{'step': 10, 'a': 1.0}, {'step': 20, 'a': 3.0}, {'step': 30, 'a': 4.0}]
  assert capsys.readouterr().err.splitlines() == [
      f'Warning: {path} ended in a cut line (a run stopped while writing it); dropped '
      """it: '{"step": 20, "a": 2.0, "b": '"""]
  whole = tmp_path / 'whole'
  whole.mkdir()
  (whole / 'metrics.jsonl').write_text('{"step": 10, "a": 1.0}\n')
  logging.JSONLOutput(str(whole))([(20, 'a', 3.0)])
  assert read(whole / 'metrics.jsonl') == [{'step': 10, 'a': 1.0}, {'step': 20, 'a': 3.0}]
  (whole / 'scores.jsonl').write_text('')
  logging.JSONLOutput(str(whole), 'scores.jsonl')([(20, 'a', 3.0)])
  assert read(whole / 'scores.jsonl') == [{'step': 20, 'a': 3.0}]
  assert capsys.readouterr().err == ''


def rows(*steps, key='a'):
  return ''.join(json.dumps({'step': s, key: float(s)}) + '\n' for s in steps)


def test_a_resume_moves_the_rows_past_its_step_into_side_files(tmp_path, capsys):
  """A run killed after its last checkpoint had logged steps past it, which the resumed
  run logged again: each file held two histories of those steps (plots zig-zagged)."""
  metrics, scores = tmp_path / 'metrics.jsonl', tmp_path / 'scores.jsonl'
  # Step 18: an episode that ended before the checkpoint at 20, written after it (the
  # resume does not log it again); then a line the kill cut.
  metrics.write_text(rows(10, 20, 30) + rows(18, key='episode/score') + rows(40)
                     + '{"step": 50, "a"')
  scores.write_text(rows(18, 35, key='episode/score'))
  step = Step()
  step.value = 10
  logger = logging.Logger(step, [
      logging.TerminalOutput(file=io.StringIO()), logging.JSONLOutput(str(tmp_path)),
      logging.JSONLOutput(str(tmp_path), 'scores.jsonl', pattern=logging.SCORES)],
      multiplier=2)  # the rows' steps are the logged ones
  logger.resume()
  assert metrics.read_text() == rows(10, 20) + rows(18, key='episode/score')
  assert (tmp_path / 'metrics.after-step-20.jsonl').read_text() == rows(30, 40)
  assert scores.read_text() == rows(18, key='episode/score')
  assert (tmp_path / 'scores.after-step-20.jsonl').read_text() == rows(
      35, key='episode/score')
  err = capsys.readouterr().err.splitlines()
  assert err[0].startswith(f'Warning: {metrics} ended in a cut line') and err[1:] == [
      'Warning: the rows past step 20, where this run resumes, were logged by the run that '
      f'stopped and are logged again now: moved 2 rows of {metrics} to '
      f'{tmp_path}/metrics.after-step-20.jsonl and 1 row of {scores} to '
      f'{tmp_path}/scores.after-step-20.jsonl']
  step.value = 15
  logger.add({'a': 30.0})
  logger.write()  # the resumed run's rows follow the kept ones
  assert metrics.read_text() == rows(10, 20) + rows(18, key='episode/score') + rows(30)
  before = sorted(os.listdir(tmp_path))
  logging.JSONLOutput(str(tmp_path)).set_aside_after(30)  # nothing past: left as it is
  assert sorted(os.listdir(tmp_path)) == before and capsys.readouterr().err == ''


def test_a_damaged_line_inside_the_log_is_a_warning_at_resume(tmp_path, capsys):
  """A line damaged in the middle of scores.jsonl (a bad disk, a hand edit) passed every
  resume without a word, and plot refused the file later."""
  path = tmp_path / 'metrics.jsonl'
  path.write_text(rows(10) + 'garbage\n' + rows(20) + '[1, 2]\n' + rows(30))
  logging.JSONLOutput(str(tmp_path)).set_aside_after(20)
  assert capsys.readouterr().err.splitlines()[0] == (
      f'Warning: {path}:2 is no row of the log (not a JSON object with a step: damaged?), and '
      '1 more such line; plot refuses the file until it is fixed or removed')
  assert path.read_text() == rows(10) + 'garbage\n' + rows(20) + '[1, 2]\n'  # kept


def test_a_damaged_line_is_a_warning_at_the_first_append_to_a_file(tmp_path, capsys):
  """eval_only adding episodes to an evaluation's damaged scores.jsonl (no resume, so
  no set_aside_after): no word, and plot refused the file later (found by a damaged-file
  sweep). The warning comes once, at the first write."""
  path = tmp_path / 'scores.jsonl'
  path.write_text(rows(10) + 'garbage\n')
  output = logging.JSONLOutput(str(tmp_path), 'scores.jsonl')
  output([(20, 'a', 20.0)])
  output([(30, 'a', 30.0)])
  assert capsys.readouterr().err == (
      f'Warning: {path}:2 is no row of the log (not a JSON object with a step: damaged?); '
      'plot refuses the file until it is fixed or removed\n')
  assert path.read_text() == rows(10) + 'garbage\n' + rows(20, 30)


def test_a_stop_while_rows_are_set_aside_loses_none(tmp_path, monkeypatch):
  """Killed between the two renames: the old file and a copy of its rows in the side
  file, which the next resume finds equal and takes; a side file of other rows (an
  earlier stopped run resumed at the same step) is never written over."""
  metrics = tmp_path / 'metrics.jsonl'
  metrics.write_text(rows(10, 20, 30))
  write_atomic = logging.write_atomic

  def stopped(path, data, *args):
    if path == str(metrics):  # a kill just before the file is replaced
      raise KeyboardInterrupt()
    write_atomic(path, data, *args)

  monkeypatch.setattr(logging, 'write_atomic', stopped)
  with pytest.raises(KeyboardInterrupt):
    logging.JSONLOutput(str(tmp_path)).set_aside_after(10)
  assert metrics.read_text() == rows(10, 20, 30)
  monkeypatch.setattr(logging, 'write_atomic', write_atomic)
  output = logging.JSONLOutput(str(tmp_path))
  assert output.set_aside_after(10) == (
      str(metrics), 2, f'{tmp_path}/metrics.after-step-10.jsonl')
  assert sorted(os.listdir(tmp_path)) == ['metrics.after-step-10.jsonl', 'metrics.jsonl']
  metrics.write_text(rows(10, 25))
  assert logging.JSONLOutput(str(tmp_path)).set_aside_after(10)[2] == (
      f'{tmp_path}/metrics.after-step-10.2.jsonl')
  assert (tmp_path / 'metrics.after-step-10.jsonl').read_text() == rows(20, 30)
  assert (tmp_path / 'metrics.after-step-10.2.jsonl').read_text() == rows(25)
  assert metrics.read_text() == rows(10)


def test_a_resume_keeps_a_metrics_file_that_is_a_link(tmp_path):
  """metrics.jsonl a symlink (to a disk with room): the resume replaced the link with a
  file, so the run logged on into the logdir and the linked file kept the rows moved."""
  (tmp_path / 'run').mkdir()
  target, link = tmp_path / 'm.jsonl', tmp_path / 'run' / 'metrics.jsonl'
  target.write_text(rows(10, 20, 30))
  link.symlink_to(target)
  output = logging.JSONLOutput(str(tmp_path / 'run'))
  assert output.set_aside_after(10) == (
      str(link), 2, f'{tmp_path}/run/metrics.after-step-10.jsonl')
  assert link.is_symlink() and target.read_text() == rows(10)
  assert (tmp_path / 'run' / 'metrics.after-step-10.jsonl').read_text() == rows(20, 30)
  assert sorted(os.listdir(tmp_path)) == ['m.jsonl', 'run']  # no temporary file left


def test_jsonl_uses_injected_opener(tmp_path):
  calls = []

  def opener(path, mode):
    calls.append((path, mode))
    return open(path, mode)

  made = []
  output = logging.JSONLOutput(
      'remote/dir', opener=opener, makedirs=made.append)
  output.path = str(tmp_path / 'm.jsonl')  # stand-in for the remote file
  output([(1, 'a', 1.0)])
  assert made == ['remote/dir']
  assert calls == [(str(tmp_path / 'm.jsonl'), 'a')]
  assert read(tmp_path / 'm.jsonl') == [{'step': 1, 'a': 1.0}]


def test_no_eta_from_the_rate_before_training_starts():
  """The quick command's line read 'ETA 4s' at 1,000 env steps, before its first update,
  and the run took 9 more minutes: the rate was of env steps alone."""
  step, out = [0], io.StringIO()
  logger = logging.Logger(lambda: step[0], [logging.TerminalOutput(
      total_steps=5000, file=out, eta_after='train/updates')])
  logger.write()  # the fps baseline
  for step[0], updates in ((500, 0), (1000, 0), (1500, 120), (2000, 0)):
    logger.add({'updates': updates}, prefix='train')
    logger.write()
  heads = [x for x in out.getvalue().splitlines() if x.startswith('[')]
  assert len(heads) == 4, out.getvalue()
  assert all('ETA once training runs' in x for x in heads[:2]), heads
  # Once training ran, the rate holds it (a later 0, e.g. a key left out, changes nothing).
  assert all(re.search(r'\| ETA \d', x) for x in heads[2:]), heads


def test_terminal_eta_says_nothing_of_training_in_a_write_without_its_rows():
  """A stop's last progress line holds the episodes since the last log, not the train
  rows: DMC's quick command stopped a minute after 'First update done ...; training.'
  printed 'ETA once training runs'. Such a line gives no ETA: the rate is of env steps
  alone, and whether training runs it cannot tell."""
  step, out = [0], io.StringIO()
  logger = logging.Logger(lambda: step[0], [logging.TerminalOutput(
      total_steps=30000, file=out, eta_after='train/updates')])
  logger.write()  # the fps baseline
  step[0] = 1000
  logger.add({'updates': 0}, prefix='train')
  logger.write()
  step[0] = 1200
  logger.add({'score': 11.5}, prefix='episode')
  logger.write()
  heads = [x for x in out.getvalue().splitlines() if x.startswith('[')]
  assert len(heads) == 2, out.getvalue()
  assert 'ETA once training runs' in heads[0], heads
  assert 'ETA' not in heads[1] and 'fps' in heads[1], heads


def test_terminal_line_and_compact_table():
  step = [0]
  out = io.StringIO()
  terminal = logging.TerminalOutput(total_steps=1_000_000, file=out, limit=5)
  logger = logging.Logger(lambda: step[0], [terminal])
  logger.write()  # establishes the fps baseline (nothing to print)
  assert out.getvalue() == ''
  step[0] = 100_000
  logger.add({'score': 512.25}, prefix='episode')
  logger.add({'score': 601.0}, prefix='epstats')
  logger.add({f'loss/{k}': 1.0 for k in 'abcdefg'}, prefix='train')
  logger.add({f'metric{i}': 2.0 for i in range(200)}, prefix='train')
  logger.write()
  text = out.getvalue()
  head, *table = text.strip().split('\n')
  assert 'step 100,000 / 1,000,000 (10.0%)' in head
  assert 'fps' in head and 'ETA' in head
  assert 'train 512.2' in head and 'eval 601' in head
  assert any('train/loss/a 1' in line for line in table)
  assert 'metric7' not in text  # filtered: only the main keys are shown
  assert len(table) <= 3
  assert 'more keys not shown' in table[-1]
  # The last scores stay on the line when no episode ended since.
  step[0] = 200_000
  logger.add({'loss/a': 0.5}, prefix='train')
  logger.write()
  last = out.getvalue().strip().split('\n')
  assert any('train 512.2' in line and 'step 200,000' in line for line in last)
  step[0] = 1_100_000  # the driver's last call went past the total: it said 110.0%
  logger.write()
  assert 'step 1,100,000 / 1,000,000 (100.0%)' in out.getvalue()


def test_values_are_checked_and_normalized():
  records = []
  logger = logging.Logger(7, [records.extend])
  logger.add({'a': True, 'b': np.int64(3), 'c': np.ones((2, 2)), 'd': np.zeros(0)})
  logger.add({'v': np.zeros((2, 3, 4, 4, 3), np.uint8)})
  logger.write()
  values = {name: value for _, name, value in records}
  assert values['a'] == 1.0 and values['b'] == 3.0 and values['c'] == 1.0
  assert 'd' not in values  # empty arrays are dropped
  assert values['v'].shape == (2, 3, 4, 4, 3)
  assert all(step == 7 for step, _, _ in records)
  with pytest.raises(ValueError, match="Scalar 'x' has shape \\(2,\\)"):
    logger.scalar('x', [1, 2])
  with pytest.raises(ValueError, match="Video 'y' has dtype float32"):
    logger.video('y', np.zeros((2, 4, 4, 3), np.float32))
  with pytest.raises(ValueError, match="Metric 'z' has dtype object"):
    logger.add({'z': np.array([object()])})


def test_a_flush_writes_the_files_rows_and_the_terminal_gets_them_at_the_next_write(tmp_path):
  """A save flushes the rows logged so far (a kill after it lost them): into the files,
  without an fps row, and no extra progress line: the terminal's next write has them."""
  step, printed = Step(), []
  jsonl = logging.JSONLOutput(str(tmp_path))
  logger = logging.Logger(step, [jsonl, printed.append])
  logger.write()
  step.value = 10
  logger.add({'score': 1.0}, prefix='episode')
  logger.flush()
  assert read(tmp_path / 'metrics.jsonl') == [{'step': 10, 'episode/score': 1.0}]
  assert printed == []
  step.value = 20
  logger.add({'loss': 2.0}, prefix='train')
  logger.write()
  assert [r['step'] for r in read(tmp_path / 'metrics.jsonl')] == [10, 20]
  assert [sorted(n for _, n, _ in x) for x in printed] == [
      ['episode/score', 'fps/step', 'train/loss']]


def test_a_close_after_a_flush_adds_no_row_to_the_files(tmp_path):
  """A run stopped (SIGTERM) right after a save: its close wrote an fps row of the save's
  step, a second row of a step the files held (the terminal still gets the rows)."""
  step, printed = Step(), []
  logger = logging.Logger(step, [logging.JSONLOutput(str(tmp_path)), printed.append])
  logger.write()
  step.value = 10
  logger.add({'score': 1.0}, prefix='episode')
  logger.flush()
  logger.close()
  assert read(tmp_path / 'metrics.jsonl') == [{'step': 10, 'episode/score': 1.0}]
  assert [[n for _, n, _ in x] for x in printed] == [['episode/score']]


def test_close_writes_pending_and_closes_outputs():
  closed = []

  class Output:

    def __call__(self, records):
      closed.append(('write', len(records)))

    def close(self):
      closed.append('close')

  with logging.Logger(0, [Output()]) as logger:
    logger.scalar('a', 1)
  assert closed == [('write', 1), 'close']


def test_usage_stats_include_children():
  tracker = usage.Usage()
  child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
  try:
    stats = tracker.stats()
    stats = tracker.stats()
  finally:
    child.kill()
    child.wait()
  assert stats['children_count'] >= 1 and stats['children_ram_gb'] > 0
  assert stats['proc_ram_gb'] > 0 and stats['total_cpu_count'] >= 1
  assert all(isinstance(v, float) and math.isfinite(v) for v in stats.values())


@pytest.mark.parametrize('encoding', ['iso-8859-1', 'ascii'])
def test_the_table_prints_under_a_locale_without_box_drawing(encoding):
  """Under a locale of another encoding than UTF-8 (LANG=de_DE, ISO-8859-1 on Debian;
  PYTHONIOENCODING=ascii), the first progress line stopped the run with 'Error:
  UnicodeEncodeError: 'latin-1' codec can't encode character '\\u2502' (unexpected ...)'.
  Its columns are then divided by '|'."""
  raw = io.BytesIO()
  out = io.TextIOWrapper(raw, encoding=encoding, write_through=True)
  logger = logging.Logger(lambda: 1, [logging.TerminalOutput(file=out)])
  logger.add({f'loss/{k}': 1.0 for k in 'abcd'}, prefix='train')
  logger.write()
  table = raw.getvalue().decode(encoding).splitlines()[1:]
  assert table and all(' | ' in line for line in table[:1]), table
  out = io.StringIO()  # (UTF-8 and str streams keep the box drawing)
  logger = logging.Logger(lambda: 1, [logging.TerminalOutput(file=out)])
  logger.add({'loss/a': 1.0, 'loss/b': 2.0}, prefix='train')
  logger.write()
  assert ' \u2502 ' in out.getvalue()
