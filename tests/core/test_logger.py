"""Logger: jsonl content, scores file, terminal line, value handling; usage stats."""

import io
import json
import math
import subprocess
import sys

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
