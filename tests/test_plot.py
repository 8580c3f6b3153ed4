"""dreamerv3_tf.plot and dreamerv3_tf.reference: synthetic logdirs in, PNG/SVG and a
table out; the reference band against values computed straight from the json.gz."""

import errno
import gzip
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from dreamerv3_tf import plot
from dreamerv3_tf import reference

REPO = pathlib.Path(__file__).resolve().parents[1]
TASK = 'dmc_cartpole_balance'
# Eval score of each seed in each 10K-step segment: (seed 0, seed 1).
SEGMENTS = [(100.0, 300.0), (200.0, 400.0), (250.0, 450.0), (500.0, 700.0), (600.0, 800.0)]


def make_logdir(root, seed, task=TASK, image=False, repeat=1, steps=50000):
  """A run of `steps` steps: a train episode every 1000 steps (score = step / 100 +
  seed), an eval episode at 250, 750, 1250, ... whose score is constant in each 10K
  segment [0, 10K), [10K, 20K), ..."""
  logdir = root / f'{task}-{"vision" if image else "proprio"}-{seed}'
  logdir.mkdir(parents=True)
  prefix = task.split('_')[0]
  env = {'dmc': {'image': image, 'proprio': not image, 'repeat': 1}}
  env.setdefault(prefix, {})['repeat'] = repeat
  config = {'task': task, 'seed': seed, 'env': env}
  (logdir / 'config.json').write_text(json.dumps(config))
  scores, metrics = [], []
  for step in range(250, steps + 1, 250):
    if step % 500 == 250:
      segment = min(step // 10000, len(SEGMENTS) - 1)
      line = {'step': step, 'epstats/score': SEGMENTS[segment][seed % 2],
              'epstats/length': 1000}
      scores.append(line)
      metrics.append({**line, 'train/loss': 1.0})  # other keys are ignored
    if step % 1000 == 0:
      scores.append({'step': step, 'episode/score': step / 100 + seed,
                     'episode/length': 1000})
  metrics.append({'step': steps, 'fps/env': 7.0})  # a line with neither key
  write_lines(logdir / 'scores.jsonl', scores)
  write_lines(logdir / 'metrics.jsonl', metrics)
  return logdir


def write_lines(path, records, tail=''):
  path.write_text(''.join(json.dumps(r) + '\n' for r in records) + tail)


@pytest.fixture
def runs(tmp_path):
  return [str(make_logdir(tmp_path / 'runs', seed)) for seed in (0, 1)]


def test_an_xmax_before_every_score_of_a_task_is_a_warning_line(tmp_path, capsys):
  """Its subplot drew the reference band alone, or nothing (a task the reference lacks),
  with exit code 0 and no word: --xmax 100 for a run whose first score is at step 250."""
  runs = [str(make_logdir(tmp_path, 0)), str(make_logdir(tmp_path, 0, task='dummy_disc'))]
  assert plot.main(['--logdirs', *runs, '--out', str(tmp_path / 'c.png'), '--xmax', '100']) == 0
  assert [x for x in capsys.readouterr().err.splitlines() if x.startswith('Warning')] == [
      f'Warning: --xmax 100 ends before the first score (step 250) of {task}: its curves '
      'are left out' for task in ('dmc_cartpole_balance (proprio)', 'dummy_disc')]
  assert plot.main(['--logdirs', *runs, '--out', str(tmp_path / 'c.png'), '--xmax', '250']) == 0
  assert 'Warning' not in capsys.readouterr().err


def raw_reference(suite, task):
  with gzip.open(REPO / 'dreamerv3_tf' / 'reference' / f'{suite}-dreamerv3.json.gz') as f:
    return [r for r in json.load(f) if r['task'] == task]


def test_png_and_svg(runs, tmp_path):
  out = tmp_path / 'curves.png'
  assert plot.main(['--logdirs', *runs, '--out', str(out), '--svg', '--xmax', '50000']) == 0
  data = out.read_bytes()
  assert data[:8] == b'\x89PNG\r\n\x1a\n'
  width, height = int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
  assert 300 <= width <= 3000 and 200 <= height <= 3000, (width, height)
  assert len(data) > 10000  # curves, labels and bands, not an empty canvas
  svg = (tmp_path / 'curves.svg').read_text()
  assert svg.lstrip().startswith('<?xml') and '<svg' in svg
  assert TASK in svg  # the subplot title


def test_a_tilde_the_shell_left_is_the_home_directory(tmp_path, monkeypatch, capsys):
  """--logdirs=~/run and --out=~/c.png (bash expands no ~ after '='): '~/run does not
  exist', and 'no directory ./~'."""
  monkeypatch.setenv('HOME', str(tmp_path))
  make_logdir(tmp_path, 0)
  run = f'~/{TASK}-proprio-0'
  assert plot.main([f'--logdirs={run}', '--out=~/c.png', '--table', '5000']) == 0
  assert (tmp_path / 'c.png').exists()
  assert capsys.readouterr().out.splitlines()[-1] == f'Wrote {tmp_path}/c.png'


def test_no_svg_unless_asked(runs, tmp_path):
  out = tmp_path / 'c.png'
  assert plot.main(['--logdirs', *runs, '--out', str(out)]) == 0
  assert out.exists() and not (tmp_path / 'c.svg').exists()


def test_table_equals_synthetic_means(runs, capsys):
  assert plot.main(['--logdirs', *runs, '--table', '5000,15000,35000,45000']) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[0].split()[:4] == ['task', 'kind', 'step', 'ours']
  expected = [np.mean(SEGMENTS[i]) for i in (0, 1, 3, 4)]
  for line, want in zip(lines[1:], expected):
    fields = line.split()
    assert fields[:2] == [TASK, 'proprio']
    assert float(fields[3]) == pytest.approx(want) and fields[4] == '(2)'
  rows = plot.table(plot.load_runs(runs), [5000, 15000, 35000, 45000])
  assert [r[3] for r in rows] == pytest.approx(expected)


def test_table_reference_column_matches_json(runs, capsys):
  plot.main(['--logdirs', *runs, '--table', '20000'])
  line = capsys.readouterr().out.strip().splitlines()[1]
  ys = [r['ys'][r['xs'].index(20000.0)] for r in raw_reference('dmc_proprio', TASK)]
  assert line.endswith(f'{np.mean(ys):.1f} [{min(ys):.1f}, {max(ys):.1f}]')


def test_curve_band_over_seeds(runs):
  loaded = plot.load_runs(runs)
  steps = np.array([5000.0, 45000.0])
  mean, low, high = plot.curve_band(loaded, 'eval', steps, window=1000)
  assert mean == pytest.approx([200, 700]) and low == pytest.approx([100, 600])
  assert high == pytest.approx([300, 800])
  mean, low, high = plot.curve_band(loaded, 'eval', steps, window=1000, spread='std')
  assert high - mean == pytest.approx([100, 100])
  # Train scores: step / 100 + seed, averaged over episodes 4000..6000 -> 50 and 51.
  mean, low, high = plot.curve_band(loaded, 'train', [5000.0], window=2000)
  assert (mean[0], low[0], high[0]) == pytest.approx((50.5, 50, 51))


@pytest.mark.parametrize('suite,task,steps', [
    ('dmc_proprio', 'dmc_cartpole_balance', [10000, 20000, 50000]),
    ('dmc_proprio', 'dmc_walker_walk', [100000, 490000]),
])
def test_reference_band_matches_json(suite, task, steps):
  raw = raw_reference(suite, task)
  assert len(raw) == 5
  mean, low, high = reference.reference_band(task, suite, steps)
  for i, step in enumerate(steps):
    ys = [r['ys'][r['xs'].index(float(step))] for r in raw]
    assert mean[i] == pytest.approx(np.mean(ys))
    assert (low[i], high[i]) == pytest.approx((min(ys), max(ys)))
  # Between two points (25K) a 10K window takes both neighbours of each seed.
  mean, low, high = reference.reference_band(task, suite, [15000])
  per_seed = [np.mean([r['ys'][r['xs'].index(x)] for x in (10000.0, 20000.0)]) for r in raw]
  assert mean[0] == pytest.approx(np.mean(per_seed))
  assert (low[0], high[0]) == pytest.approx((min(per_seed), max(per_seed)))


def test_reference_vision_and_atari_units():
  raw = raw_reference('dmc_vision', 'dmc_walker_walk')
  mean, low, high = reference.reference_band('dmc_walker_walk', 'dmc_vision', [24000])
  per_seed = []
  for r in raw:
    xs, ys = np.array(r['xs']), np.array(r['ys'])
    per_seed.append(ys[(xs >= 19000) & (xs <= 29000)].mean())
  assert mean[0] == pytest.approx(np.mean(per_seed))
  assert (low[0], high[0]) == pytest.approx((min(per_seed), max(per_seed)))
  # Atari 100k: our atari100k_pong at agent step s is their atari_pong at 4 s frames.
  raw = raw_reference('atari100k', 'atari_pong')
  ours = reference.reference_band('atari100k_pong', 'atari100k', [20000], window=1000)
  theirs = reference.reference_band('atari_pong', 'atari100k', [80000], window=4000,
                                    repeat=1)
  np.testing.assert_allclose(ours, theirs)
  per_seed = []
  for r in raw:
    xs, ys = np.array(r['xs']), np.array(r['ys'])
    inside = (xs >= 78000) & (xs <= 82000)
    per_seed.append(ys[inside].mean() if inside.any() else np.interp(80000, xs, ys))
  assert ours[0][0] == pytest.approx(np.mean(per_seed))


def test_reference_names_and_suites():
  assert reference.their_task('atari100k_pong') == 'atari_pong'
  assert reference.suite_for('dmc_walker_walk', image=True) == 'dmc_vision'
  assert reference.suite_for('dmc_walker_walk') == 'dmc_proprio'
  assert reference.suite_for('crafter_reward') is None
  assert 'dmc_quadruped_run' in reference.tasks('dmc_vision')
  assert 'dmc_quadruped_run' not in reference.tasks('dmc_proprio')
  with pytest.raises(KeyError, match='dmc_quadruped_run'):
    reference.reference_band('dmc_quadruped_run', 'dmc_proprio', [10000])
  with pytest.raises(ValueError, match='unknown reference suite'):
    reference.reference_band('dmc_walker_walk', 'dmc', [10000])


def test_vision_runs_use_vision_reference(tmp_path):
  logdir = make_logdir(tmp_path, 0, image=True)
  run = plot.load_run(str(logdir))
  assert (run.suite, run.kind) == ('dmc_vision', 'vision')
  rows = plot.table([run], [24000])
  want = reference.reference_band(TASK, 'dmc_vision', [24000])
  assert rows[0][5:] == pytest.approx([x[0] for x in want])


def test_a_py_task_has_the_action_repeat_of_env_gym_not_of_its_own_arguments(tmp_path):
  """env.py holds the env's own keywords: its 'repeat' was read as the action repeat,
  and one of text refused the run ('not a run's config (ValueError ...)')."""
  logdir = make_logdir(tmp_path, 0, task='py_grid:Grid')
  config = json.loads((logdir / 'config.json').read_text())
  config['env'] = {'py': {'repeat': 'every step'}, 'gym': {'repeat': 2}}
  (logdir / 'config.json').write_text(json.dumps(config))
  assert plot.load_run(str(logdir)).repeat == 2


def test_window_mean_edges():
  xs, ys = np.array([10.0, 20.0, 30.0]), np.array([1.0, 2.0, 6.0])
  got = reference.window_mean(xs, ys, [0, 10, 20, 25, 40], window=4)
  np.testing.assert_allclose(got, [np.nan, 1, 2, 4, np.nan])  # 25: interpolated
  np.testing.assert_allclose(reference.window_mean(xs, ys, [20], window=20), [3])
  assert np.isnan(reference.window_mean([], [], [1], 1)).all()


def test_binned_fills_gaps_between_filled_bins():
  xs, ys = np.array([0.0, 1.0, 10.0, 40.0]), np.array([2.0, 4.0, 6.0, 12.0])
  centers = np.arange(5) * 10.0 + 5  # bins [0, 10], [10, 20], ..., [40, 50]
  got = reference.binned(xs, ys, centers, width=10)
  # Closed bins: 10 counts in bins 0 and 1, 40 in bins 3 and 4; bin 2 is empty and
  # takes the interpolation of its neighbours' means (6 and 12).
  np.testing.assert_allclose(got, [4, 6, 9, 12, 12])
  got = reference.binned(xs, ys, [-20.0, 5.0, 100.0], width=10)
  np.testing.assert_allclose(got, [np.nan, 4, np.nan])  # no filling outside the data


def test_one_task_per_subplot_and_task_filter(tmp_path):
  logdirs = [str(make_logdir(tmp_path, s)) for s in (0, 1)]
  logdirs.append(str(make_logdir(tmp_path, 0, task='atari100k_pong', repeat=4,
                                 steps=20000)))
  logdirs.append(str(make_logdir(tmp_path, 0, task='gym_CartPole-v1', steps=5000)))
  groups = plot.group_runs(plot.load_runs(logdirs))
  assert [(t, k, len(r)) for t, k, r in groups] == [
      ('atari100k_pong', '', 1), (TASK, 'proprio', 2), ('gym_CartPole-v1', '', 1)]
  out = tmp_path / 'all.png'
  assert plot.main(['--logdirs', *logdirs, '--out', str(out)]) == 0
  assert out.stat().st_size > 10000
  only = plot.load_runs(logdirs, task='atari_pong')  # their name finds ours
  assert [r.task for r in only] == ['atari100k_pong'] and only[0].repeat == 4


def test_scores_file_preferred_and_partial_line(tmp_path):
  logdir = make_logdir(tmp_path, 0)
  # metrics.jsonl repeats the eval lines: they must not be counted twice, and a
  # half-written last line of a running job is skipped.
  with open(logdir / 'scores.jsonl', 'a') as f:
    f.write('{"step": 50500, "epstats/sco')
  run = plot.load_run(str(logdir))
  assert len(run.eval[0]) == 100 and len(run.train[0]) == 50
  # Without scores.jsonl the same curves come from metrics.jsonl (eval only there).
  os.remove(logdir / 'scores.jsonl')
  run = plot.load_run(str(logdir))
  assert len(run.eval[0]) == 100 and len(run.train[0]) == 0


def test_a_logdir_without_scores_beside_others_is_a_warning_line(runs, tmp_path, capsys):
  """It added nothing to the curves and the table, without a word: the row counted one
  run of the two given, with exit code 0."""
  empty = make_logdir(tmp_path, 2, steps=0)
  assert plot.main(['--logdirs', runs[0], str(empty), '--table', '10000']) == 0
  out, err = capsys.readouterr()
  assert err == (f"Warning: {empty} holds no scores yet (no 'episode/score' or "
                 "'epstats/score' in its scores.jsonl or metrics.jsonl): it adds no curve and "
                 'no run to the table\n')
  assert '(1)' in out  # the one run that has scores
  assert plot.main(['--logdirs', *runs, '--table', '10000']) == 0
  assert capsys.readouterr().err == ''


def test_bad_inputs(tmp_path, capsys):
  logdir = make_logdir(tmp_path, 0)
  with open(logdir / 'scores.jsonl', 'a') as f:
    f.write('garbage\n{"step": 1, "epstats/score": 1}\n')
  assert plot.main(['--logdirs', str(logdir), '--out', str(tmp_path / 'x.png')]) == 1
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and 'scores.jsonl:' in err and 'not a JSON line' in err
  empty = tmp_path / 'empty'
  empty.mkdir()
  # A logdir that is no run, or whose config cannot be read: 2, as main's and export's
  # --logdir (it was 1, as for scores that cannot be read).
  assert plot.main(['--logdirs', str(empty), '--table', '1000']) == 2
  assert 'no config.json' in capsys.readouterr().err
  (empty / 'config.json').write_text('{"task": "dmc_walker_walk"}')
  assert plot.main(['--logdirs', str(empty), '--table', '1000']) == 2
  assert "missing key 'seed'" in capsys.readouterr().err
  # Hand-edited values of the wrong type: a traceback (env null, a list), or a line
  # that named no file (a text seed).
  for text, reason in (('{"task": "dmc_walker_walk", "seed": 0, "env": null}', None),
                       ('{"task": "dmc_walker_walk", "seed": 0, "env": [1]}', 'AttributeError'),
                       ('{"task": "dmc_walker_walk", "seed": 0, "env": {"dmc": [1]}}',
                        'AttributeError'),
                       ('{"task": "dmc_walker_walk", "seed": "abc"}', 'ValueError'),
                       # Not an object: 'in' of no container, a traceback.
                       ('null', None), ('5', None)):
    (empty / 'config.json').write_text(text)
    # ('env': null reads as no env settings: then its missing scores, 1)
    code = 1 if reason is None and text not in ('null', '5') else 2
    assert plot.main(['--logdirs', str(empty), '--table', '1000']) == code
    err = capsys.readouterr().err
    assert err.count('\n') == 1, err
    if reason:
      assert err.startswith(f"Error: {empty}/config.json: not a run's config ({reason}"), err
    if text in ('null', '5'):
      assert err == (f'Error: {empty}/config.json: holds a JSON '
                     f'{"null" if text == "null" else "int"}, not a run\'s config\n'), err
  # A task that is no name: a run's curves were plotted under the title '5', 'None' or none.
  for task in ('5', 'null', '""', '"dmc_walker_walk\\nx"'):
    (empty / 'config.json').write_text(f'{{"task": {task}, "seed": 0}}')
    assert plot.main(['--logdirs', str(empty), '--table', '1000']) == 2
    assert capsys.readouterr().err == (
        f"Error: {empty}/config.json: 'task' is {task}, not a task name such as "
        'dmc_walker_walk\n')
  one = make_logdir(tmp_path / 'one', 1)
  # A --task of none of the runs: a flag value, 2 as the others (it was 1).
  assert plot.main(['--logdirs', str(one), '--task', 'dmc_nope', '--table', '1']) == 2
  assert capsys.readouterr().err == (
      "Error: --task 'dmc_nope': no run of that task; the logdirs hold: dmc_cartpole_balance\n")
  for argv, line in (
      # Counted as two seeds before ("(2)" in the table, a band of one run).
      ([str(one), f'{one}/'],
       f'{one}/ is given twice (also as {one}); its scores would count as two seeds'),
      # An unset shell variable ("--logdirs ''") said "Error: : no config.json ...".
      ([str(one), ''], '--logdirs holds an empty name; give run directories'),
      ([str(one), ' '], '--logdirs holds an empty name; give run directories'),
      # Two lines, the path cut in two ("$(ls -d runs/*)" of several runs in quotes).
      ([f'{one}\n{logdir}'], f"--logdirs='{one}\\n{logdir}' holds a line break; give one "
       'path (a command substitution that printed several lines?)'),
      # 'Error: RUN  does not exist' (exit 1), of a run that does, the space unseen.
      ([f'{one} '], f"--logdirs='{one} ' ends with a space, and no such path exists (a stray "
       f"space as it was typed or pasted?); give '{one}', or create the path to mean it")):
    # Exit code 2, as the other flag values' refusals (1 before, as for bad data).
    with pytest.raises(SystemExit) as e:
      plot.main(['--logdirs', *argv, '--table', '1000'])
    assert e.value.code == 2 and capsys.readouterr().err == f'Error: {line} (see --help)\n'
  for argv, line in (
      # Drew nothing, and wrote ' .png' into the working directory (exit code 0).
      (['--out', ''], '--out is empty; give one or leave the flag out'),
      (['--out', ' '], '--out is empty; give one or leave the flag out'),
      # As if left out: every task, and the default label.
      (['--task', ''], '--task is empty; give one or leave the flag out'),
      (['--labels', ' '], '--labels holds an empty label; give one or leave the flag out'),
      # A table row split in two at the break (exit code 0).
      (['--labels', 'ours\nv2'], "--labels 'ours\\nv2' holds a line break; give one line"),
      (['--task', 'dmc_walker_walk\n'],
       "--task 'dmc_walker_walk\\n' holds a line break; give one line"),
      # Wrote x.png beside the directory x.
      (['--out', str(tmp_path)], f'--out {tmp_path} names a directory; give the image file, '
       f'e.g. {tmp_path}/curves.png')):
    with pytest.raises(SystemExit) as e:
      plot.main(['--logdirs', str(one), '--table', '1000', *argv])
    assert e.value.code == 2 and capsys.readouterr().err == f'Error: {line} (see --help)\n'
  assert not os.path.exists(' .png') and not os.path.exists(f'{tmp_path}.png')
  for argv in (['--logdirs', str(logdir)], ['--logdirs', str(logdir), '--table', 'ten'],
               ['--logdirs', str(logdir), '--out', 'x.jpg'],
               ['--logdirs', str(logdir), '--out', 'x.png', '--xmax', '-5'],
               # nan and inf passed: a table row at step nan (exit 0), or a failure in
               # the plot in 3 lines (a numpy warning) or naming no flag (exit 1).
               ['--logdirs', str(logdir), '--table', 'nan'],
               ['--logdirs', str(logdir), '--table', '1000,inf'],
               # Read as step 150 in its row, without a word.
               ['--logdirs', str(logdir), '--table', '1000,150.5'],
               ['--logdirs', str(logdir), '--out', 'x.png', '--xmax', 'inf'],
               ['--logdirs', str(logdir), '--out', 'x.png', '--window', 'nan'],
               # 1e9 bins ran out of memory (killed); --xmax 1e308 printed 2 lines of
               # matplotlib's overflow warning; a table row printed a step of 309 digits.
               ['--logdirs', str(logdir), '--out', 'x.png', '--bins', '10001'],
               ['--logdirs', str(logdir), '--out', 'x.png', '--xmax', '1e308'],
               ['--logdirs', str(logdir), '--out', 'x.png', '--window', '2e18'],
               ['--logdirs', str(logdir), '--table', '1000,1e308'],
               # Wrote the image to a directory named with a line break, and said so
               # in two lines.
               ['--logdirs', str(logdir), '--out', f'{tmp_path}/a\nb.png']):
    with pytest.raises(SystemExit) as e:
      plot.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('Error: ') and len(err.splitlines()) == 1, err  # no usage block
  # Printed the rows of step 1000 twice (exit 0).
  with pytest.raises(SystemExit) as e:
    plot.main(['--logdirs', str(logdir), '--table', '1000,2000,1e3'])
  assert e.value.code == 2 and capsys.readouterr().err == (
      "Error: argument --table: step 1000 is given twice in '1000,2000,1e3'; give each step "
      'once (see --help)\n')


@pytest.mark.parametrize('logdir, how', [
    ('gs://bucket/run', ', e.g. gcloud storage cp -r gs://bucket/run .'),
    ('s3://bucket/run', '')])
def test_a_remote_logdir_is_one_line_saying_to_copy_it(tmp_path, capsys, logdir, how):
  assert plot.main(['--logdirs', logdir, '--table', '1000']) == 2  # a flag's value: was 1
  scheme = logdir.split('://')[0]
  assert capsys.readouterr().err == (
      f'Error: {logdir}: {scheme}:// logdirs are not read directly (plot never loads '
      f'TensorFlow, whose file systems read them); copy it to a local folder first{how}\n')


def test_a_file_url_is_read_as_its_local_folder(tmp_path, capsys):
  """file:///RUN (as a run's last line gave it) was refused as a remote logdir to copy to
  a local folder first, and an --out of file:///x too."""
  logdir = make_logdir(tmp_path, 0)
  assert plot.main(['--logdirs', f'file://{logdir}', '--table', '1000']) == 0
  assert capsys.readouterr().err == ''
  with pytest.raises(SystemExit):  # (a folder: refused as such, the path taken as local)
    plot.main(['--logdirs', str(logdir), '--out', f'file://{tmp_path}'])
  assert capsys.readouterr().err.startswith(f'Error: --out {tmp_path} names a directory')


@pytest.mark.parametrize('out, how', [
    ('gs://bucket/curves.png', ', e.g. gcloud storage cp curves.png gs://bucket/curves.png'),
    ('s3://bucket/curves.png', '')])
def test_a_remote_out_is_one_line_saying_to_copy_it(tmp_path, capsys, out, how):
  """It said '--out gs://bucket/curves.png: no directory <cwd>/gs:/bucket'."""
  logdir = make_logdir(tmp_path, 0)
  with pytest.raises(SystemExit) as e:
    plot.main(['--logdirs', str(logdir), '--out', out])
  scheme = out.split('://')[0]
  assert e.value.code == 2 and capsys.readouterr().err == (
      f'Error: --out {out}: plot writes local files only (it never loads TensorFlow, whose '
      f'file systems write {scheme}://); write it to a local file and copy that{how} '
      '(see --help)\n')


def test_a_logdir_that_is_not_there_or_a_folder_of_a_run_is_named(tmp_path, capsys):
  """Both said 'no config.json (ours) or config.yaml (official code); is this a run
  directory?': a mistyped path, and RUN/ckpt given for RUN. Exit code 2, as main's and
  export's for such a --logdir: it was 1 (main's 'holds 2 runs' was 2, plot's 1)."""
  logdir = make_logdir(tmp_path, 0)
  assert plot.main(['--logdirs', str(tmp_path / 'nosuch'), '--table', '1000']) == 2
  assert capsys.readouterr().err == f'Error: {tmp_path}/nosuch does not exist\n'
  (logdir / 'ckpt').mkdir()
  assert plot.main(['--logdirs', str(logdir / 'ckpt'), '--table', '1000']) == 2
  assert capsys.readouterr().err == (
      f'Error: {logdir}/ckpt: no config.json; it is a folder of the run {logdir}: '
      f'pass {logdir}\n')
  assert plot.main(['--logdirs', str(logdir / 'scores.jsonl'), '--table', '1000']) == 2
  assert capsys.readouterr().err == (  # said 'it is a folder of the run'
      f'Error: {logdir}/scores.jsonl: no config.json; it is a file of the run {logdir}: '
      f'pass {logdir}\n')
  # An export (SavedModel): was asked 'is this a run directory?', where export and main
  # name the export.
  (tmp_path / 'export').mkdir()
  (tmp_path / 'export' / 'saved_model.pb').write_bytes(b'')
  assert plot.main(['--logdirs', str(tmp_path / 'export'), '--table', '1000']) == 2
  assert capsys.readouterr().err == (
      f'Error: {tmp_path}/export is a SavedModel export, which holds no scores; pass the run '
      'it was exported from\n')
  (tmp_path / 'notes.txt').write_text('x')  # was asked 'is this a run directory?'
  assert plot.main(['--logdirs', str(tmp_path / 'notes.txt'), '--table', '1000']) == 2
  assert capsys.readouterr().err == f'Error: {tmp_path}/notes.txt is a file, not a run directory\n'
  # The folder of them all (~/logdir): was asked 'is this a run directory?' too.
  other = make_logdir(tmp_path, 1)
  # Another program's folder beside them (a model's config.json) was counted and shown
  # as a run ('holds 3 runs ... e.g. --logdirs .../a_model ...'), which plot then refused.
  (tmp_path / 'a_model').mkdir()
  (tmp_path / 'a_model' / 'config.json').write_text('{"model_type": "bert"}')
  assert plot.main(['--logdirs', str(tmp_path), '--table', '1000']) == 2
  assert capsys.readouterr().err == (
      f'Error: --logdirs {tmp_path} holds 2 runs ({os.path.basename(logdir)}, '
      f'{os.path.basename(other)}) and is none itself; pass the runs to plot, e.g. '
      f'--logdirs {logdir} {other}\n')  # as main and export say it (path_lines.holds_runs)


def test_out_is_checked_first_and_written_whole(runs, tmp_path, capsys, monkeypatch):
  """--out in a missing directory failed after loading and plotting, as a bare errno;
  and a failed write (a full disk) left a cut image in place of the last good one."""
  missing = tmp_path / 'nosuch' / 'x.png'
  with pytest.raises(SystemExit) as e:
    plot.main(['--logdirs', str(tmp_path / 'not_a_run'), '--out', str(missing)])
  assert e.value.code == 2  # before the logdirs are read: this one is not a run
  assert capsys.readouterr().err == (
      f'Error: --out {missing}: no directory {missing.parent} (see --help)\n')
  # 'plots/' failed after loading and plotting ("Format '' is not supported", of
  # plots/.png), naming no flag; a directory named x.png failed there too.
  (tmp_path / 'plots').mkdir()
  (tmp_path / 'plots' / 'old.png').mkdir()
  for folder in (f'{tmp_path}/plots/', f'{tmp_path}/plots/old.png'):
    with pytest.raises(SystemExit) as e:
      plot.main(['--logdirs', *runs, '--out', folder])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        f'Error: --out {folder} names a directory; give the image file, e.g. '
        f'{os.path.join(folder, "curves.png")} (see --help)\n')
  assert os.listdir(tmp_path / 'plots') == ['old.png']
  out = tmp_path / 'x.png'
  assert plot.main(['--logdirs', *runs, '--out', str(out)]) == 0
  good, listing = out.read_bytes(), sorted(os.listdir(tmp_path))
  from dreamerv3_tf.core import files

  def full_disk(self, f):  # the image's bytes were written, the disk is full on flush
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(files.LocalFiles, 'sync', full_disk)
  capsys.readouterr()
  assert plot.main(['--logdirs', *runs, '--out', str(out)]) == 1
  assert capsys.readouterr().err == f'Error: cannot write {out}: No space left on device\n'
  assert out.read_bytes() == good and sorted(os.listdir(tmp_path)) == listing  # no temp file

  def too_large(self, f):  # `ulimit -f` below the image's size: 'File too large' alone
    raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))

  import resource
  monkeypatch.setattr(files.LocalFiles, 'sync', too_large)
  limits = resource.getrlimit(resource.RLIMIT_FSIZE)
  resource.setrlimit(resource.RLIMIT_FSIZE, (2 ** 30, limits[1]))
  try:
    assert plot.main(['--logdirs', *runs, '--out', str(out)]) == 1
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, limits)
  assert capsys.readouterr().err == (
      f'Error: cannot write {out}: File too large (this process may write files of at most '
      f'{2 ** 30} bytes, ulimit -f {2 ** 20}; raise it, e.g. ulimit -f unlimited)\n')
  assert out.read_bytes() == good


def test_an_out_on_a_file_system_out_of_inodes_is_named_so(runs, tmp_path, capsys):
  """A tmpfs of few inodes (nr_inodes) has no room for the image's temporary file while
  df -h shows room: plot said 'cannot write OUT: No space left on device' alone, as
  main's line did."""
  if os.geteuid() != 0 or not shutil.which('mount'):
    pytest.skip('needs root to mount a small tmpfs')
  full = tmp_path / 'full'
  full.mkdir()
  subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m,nr_inodes=2', 'none', str(full)],
                 check=True)
  try:
    (full / 'other').write_bytes(b'')  # beside its root: no inode left
    out = full / 'curves.png'
    assert plot.main(['--logdirs', *runs, '--out', str(out)]) == 1
    assert capsys.readouterr().err == (
        f'Error: cannot write {out}: No space left on device (the file system at {full} '
        'holds 2 files and folders at most, its inodes, 0 more now, though 1.0 MiB are free: '
        f'df -i {full}; remove files you do not need there, or give it more inodes)\n')
    assert os.listdir(full) == ['other']
  finally:
    subprocess.run(['umount', '-l', str(full)], check=True)


@pytest.mark.parametrize('name', ['.png', '.PNG'])
def test_an_out_of_only_the_extension_is_refused_before_plotting(runs, tmp_path, capsys,
                                                                 name):
  """--out "$NAME.png" with NAME unset loaded and plotted, then failed with matplotlib's
  "Format '' is not supported (supported formats: ...)", naming no flag (exit 1)."""
  out = f'{tmp_path}/{name}'
  with pytest.raises(SystemExit) as e:
    plot.main(['--logdirs', *runs, '--out', out, '--svg'])
  assert e.value.code == 2 and capsys.readouterr().err == (
      f'Error: --out {out} names no file, only the extension .png (an unset shell '
      f"variable?); give the image's name, e.g. {tmp_path}/curves.png (see --help)\n")
  assert os.listdir(tmp_path) == ['runs']


def test_svg_that_cannot_be_written_is_named_before_the_png_is_replaced(runs, tmp_path,
                                                                         capsys):
  """--svg beside an x.svg that is a directory replaced x.png, then failed ('Error:
  cannot write x.svg: Is a directory', exit 1); --svg without --out drew nothing and
  said nothing (exit 0)."""
  out = tmp_path / 'x.png'
  out.write_bytes(b'old')
  (tmp_path / 'x.svg').mkdir()
  for argv, line in (
      (['--out', str(out), '--svg'], f'--svg writes {tmp_path}/x.svg, which is a '
       'directory; move it away or give another --out'),
      (['--table', '1000', '--svg'], '--svg writes the SVG beside --out; give --out')):
    with pytest.raises(SystemExit) as e:
      plot.main(['--logdirs', *runs, *argv])
    assert e.value.code == 2 and capsys.readouterr().err == f'Error: {line} (see --help)\n'
  assert out.read_bytes() == b'old'


def test_no_tensorflow_import():
  code = ('import sys, dreamerv3_tf.plot, dreamerv3_tf.reference; '
          'bad = [m for m in sys.modules if m.split(".")[0] in '
          '("tensorflow", "keras", "tensorflow_probability")]; '
          'assert not bad, bad')
  subprocess.run([sys.executable, '-c', code], check=True, cwd=REPO, timeout=60)


def test_cli_module_runs(runs, tmp_path):
  out = tmp_path / 'cli.png'
  result = subprocess.run(
      [sys.executable, '-m', 'dreamerv3_tf.plot', '--logdirs', *runs, '--out', str(out),
       '--table', '10000', '--labels', 'Läufer', 'Läufer'], cwd=REPO, capture_output=True,
      text=True, timeout=120,
      # A shell's backend the command has no use for (it writes files with Agg) stopped
      # it at matplotlib's import: "Key backend: 'nosuch' is not a valid value". A label
      # beyond the ASCII of PYTHONIOENCODING=ascii stopped it at the table: "Error:
      # 'ascii' codec can't encode character '\\xe4' in position 112: ...", exit code 1.
      env=dict(os.environ, MPLBACKEND='nosuch', PYTHONIOENCODING='ascii'))
  assert result.returncode == 0, result.stderr
  assert f'Wrote {out}' in result.stdout and out.exists()
  assert f'{TASK} [L\\xe4ufer]' in result.stdout


# The stop signal lands while the image is written (write_atomic is looked up when
# plot loads as __main__, after this patch).
STOP_DURING_WRITE = """
import os, runpy, signal, sys
from dreamerv3_tf.core import files
real, sig = files.write_atomic, getattr(signal, sys.argv.pop(1))
def stopped(*args, **kwargs):
  os.kill(os.getpid(), sig)
  return real(*args, **kwargs)
files.write_atomic = stopped
sys.argv[0] = 'plot'
runpy.run_module('dreamerv3_tf.plot', run_name='__main__')
"""


@pytest.mark.parametrize('sig, code, word', [
    ('SIGINT', 130, 'Interrupted'), ('SIGTERM', 143, 'Terminated')])
def test_a_stop_signal_is_one_line_and_keeps_out(runs, tmp_path, sig, code, word):
  """Ctrl-C printed a traceback (exit -2) and SIGTERM ended it without a word."""
  out = tmp_path / 'curves.png'
  out.write_bytes(b'old')
  result = subprocess.run(
      [sys.executable, '-c', STOP_DURING_WRITE, sig, '--logdirs', *runs, '--out', str(out)],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == code, result.stderr[-3000:]
  assert result.stderr.splitlines() == [f'{word}; --out is left as it was or written whole']
  assert out.read_bytes() == b'old' and sorted(os.listdir(tmp_path)) == ['curves.png', 'runs']


# The stop comes as the finished command exits.
STOP_AT_EXIT = """
import os, runpy, signal, sys
real_exit = sys.exit
def exit_(code=None):
  os.kill(os.getpid(), signal.SIGINT)
  real_exit(code)
sys.exit = exit_
sys.argv[0] = 'plot'
runpy.run_module('dreamerv3_tf.plot', run_name='__main__')
"""


def test_a_stop_as_the_finished_command_exits_changes_nothing(runs, tmp_path):
  """It raised outside main's handling: a traceback and exit 1 after 'Wrote ...'."""
  out = tmp_path / 'curves.png'
  result = subprocess.run(
      [sys.executable, '-c', STOP_AT_EXIT, '--logdirs', *runs, '--out', str(out)],
      cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stderr == '' and f'Wrote {out}' in result.stdout and out.exists()


def test_reference_data_in_built_wheel(tmp_path):
  """The json.gz files ship as package data: build a wheel and load from it."""
  if shutil.which('git') is None:
    pytest.skip('git not available')
  # Build from a copy of the tracked + new files only (no build dirs in the checkout).
  src = tmp_path / 'src'
  files = subprocess.run(
      ['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=REPO,
      capture_output=True, text=True, check=True).stdout.split()
  for name in files:
    if (REPO / name).is_file():
      (src / name).parent.mkdir(parents=True, exist_ok=True)
      shutil.copy2(REPO / name, src / name)
  result = subprocess.run(
      [sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
       '-w', str(tmp_path / 'dist'), str(src)], capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  wheel = next((tmp_path / 'dist').glob('*.whl'))
  with zipfile.ZipFile(wheel) as z:
    z.extractall(tmp_path / 'site')
  for suite in reference.SUITES:
    assert (tmp_path / 'site' / 'dreamerv3_tf' / 'reference' /
            f'{suite}-dreamerv3.json.gz').exists(), f'{suite} data missing from the wheel'
  code = ('import dreamerv3_tf.reference as r; '
          'assert r.__file__.startswith(%r), r.__file__; '
          'print(len(r.tasks("dmc_vision")))' % str(tmp_path / 'site'))
  result = subprocess.run([sys.executable, '-c', code], cwd=tmp_path,
                          env={**os.environ, 'PYTHONPATH': str(tmp_path / 'site')},
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stdout.strip() == '20'


def test_official_logdir_is_read_like_ours(tmp_path):
  # The official code writes config.yaml and the same scores.jsonl keys.
  logdir = tmp_path / 'official'
  logdir.mkdir()
  (logdir / 'config.yaml').write_text(
      'task: dmc_cartpole_swingup\nseed: 3\nenv:\n  dmc:\n    image: false\n    repeat: 1\n')
  write_lines(logdir / 'scores.jsonl', [
      {'step': 1001, 'episode/score': 28.5}, {'step': 2002, 'episode/score': 22.5}])
  run = plot.load_run(str(logdir))
  assert (run.task, run.seed, run.kind) == ('dmc_cartpole_swingup', 3, 'proprio')
  np.testing.assert_array_equal(run.train[0], [1001, 2002])
  np.testing.assert_array_equal(run.train[1], [28.5, 22.5])
  assert len(run.eval[0]) == 0
  (logdir / 'config.yaml').write_text('- just\n- a list\n')
  with pytest.raises(ValueError, match='expected a mapping'):
    plot.load_run(str(logdir))


def test_an_official_config_yaml_that_is_no_yaml_is_one_line(tmp_path):
  """A config.yaml cut short: yaml's error of four lines (two of them 'in "PATH", line
  1, column 7') followed 'Error:'."""
  logdir = tmp_path / 'official'
  logdir.mkdir()
  (logdir / 'config.yaml').write_text('task: [1\n')
  with pytest.raises(ValueError) as error:
    plot.load_run(str(logdir))
  assert str(error.value) == (
      f"{logdir}/config.yaml: not valid YAML (while parsing a flow sequence; expected ',' "
      "or ']', but got '<stream end>', line 2)")


def test_a_scores_file_that_is_a_directory_is_named(tmp_path):
  """It said 'neither scores.jsonl nor metrics.jsonl exists' of a run whose
  scores.jsonl is there, a directory."""
  logdir = make_logdir(tmp_path, 0)
  (logdir / 'scores.jsonl').unlink()
  (logdir / 'scores.jsonl').mkdir()
  with pytest.raises(ValueError) as error:
    plot.load_run(str(logdir))
  assert str(error.value) == f'{logdir}/scores.jsonl is a directory, not a file of scores'


@pytest.mark.parametrize('target', ['/dev/zero', 'fifo'])
@pytest.mark.parametrize('name, what', [('scores.jsonl', 'a file of scores'),
                                        ('config.json', "a run's config file")])
def test_a_run_file_that_is_a_device_or_a_pipe_is_named(tmp_path, target, name, what):
  """A link to one said 'neither scores.jsonl nor metrics.jsonl exists', or 'no
  config.json (ours) or config.yaml (official code); is this a run directory?'."""
  logdir = make_logdir(tmp_path, 0)
  if target == 'fifo':
    target = tmp_path / 'fifo'
    os.mkfifo(target)
  (logdir / name).unlink()
  (logdir / name).symlink_to(target)
  with pytest.raises(ValueError) as error:
    plot.load_run(str(logdir))
  assert str(error.value) == (
      f'{logdir}/{name} is a device, a named pipe or a socket, not {what}')


@pytest.mark.parametrize('config', [
    {'task': TASK, 'seed': 1e400},
    {'task': 'gym_CartPole-v1', 'seed': 0, 'env': {'gym': {'repeat': 1e400}}},
])
def test_an_infinite_number_in_a_config_is_named(tmp_path, config):
  """json reads 1e400 as inf: int() of it was an OverflowError, a whole traceback."""
  logdir = make_logdir(tmp_path, 0)
  (logdir / 'config.json').write_text(json.dumps(config))
  with pytest.raises(ValueError) as error:
    plot.load_run(str(logdir))
  assert str(error.value) == (
      f"{logdir}/config.json: not a run's config (OverflowError: cannot convert float "
      'infinity to integer)')


def test_an_unexpected_error_is_one_line_unless_a_traceback_is_asked_for(
    tmp_path, capsys, monkeypatch):
  """A failure no check foresaw (such as the infinite seed above was) printed a whole
  traceback; main's wording, and the traceback with DREAMERV3_TF_TRACEBACK=1."""
  run = make_logdir(tmp_path, 0)

  def broken(*args):
    raise RuntimeError('something no check foresaw')
  monkeypatch.setattr(plot, 'table', broken)
  monkeypatch.delenv('DREAMERV3_TF_TRACEBACK', raising=False)
  assert plot.main(['--logdirs', str(run), '--table', '5000']) == 1
  assert capsys.readouterr().err.splitlines() == [
      'Error: RuntimeError: something no check foresaw (unexpected: rerun with '
      'DREAMERV3_TF_TRACEBACK=1 for the full traceback)']
  monkeypatch.setenv('DREAMERV3_TF_TRACEBACK', '1')
  assert plot.main(['--logdirs', str(run), '--table', '5000']) == 1
  err = capsys.readouterr().err
  assert err.startswith('Traceback (most recent call last):')
  assert err.splitlines()[-1].startswith('Error: RuntimeError: something no check')


def test_a_traceback_asked_for_comes_with_a_foreseen_error_too(tmp_path, capsys, monkeypatch):
  """DREAMERV3_TF_TRACEBACK=1 gave no traceback for the errors plot words itself, and a
  ValueError from deeper down is one of them ('width must be positive; got 0.0')."""
  run = make_logdir(tmp_path, 0)
  (run / 'scores.jsonl').unlink()
  (run / 'scores.jsonl').mkdir()
  monkeypatch.setenv('DREAMERV3_TF_TRACEBACK', '1')
  assert plot.main(['--logdirs', str(run), '--table', '5000']) == 1
  err = capsys.readouterr().err
  assert err.startswith('Traceback (most recent call last):')
  assert err.splitlines()[-1] == f'Error: {run}/scores.jsonl is a directory, not a file of scores'


def test_scores_at_step_0_alone_plot_as_a_point(tmp_path, monkeypatch):
  """train_eval evaluates before it trains, at step 0: a run plotted before its first
  train episode ended stopped with 'Error: width must be positive; got 0.0', naming
  nothing. And a curve of one bin drew a line of one point, which shows nothing."""
  logdir = tmp_path / 'run'
  logdir.mkdir()
  (logdir / 'config.json').write_text(json.dumps({'task': 'dummy_disc_vec', 'seed': 0}))
  write_lines(logdir / 'scores.jsonl',
              [{'step': 0, 'epstats/score': 20.0, 'epstats/length': 101}])
  drawn, save = [], plot._save

  def recording(fig, path, **kwargs):
    drawn.extend((line.get_marker(), len(line.get_xdata()))
                 for ax in fig.axes for line in ax.lines)
    save(fig, path, **kwargs)
  monkeypatch.setattr(plot, '_save', recording)
  out = tmp_path / 'c.png'
  assert plot.main(['--logdirs', str(logdir), '--out', str(out)]) == 0
  assert out.is_file()
  assert drawn == [('o', 1)]


def test_a_flag_given_twice_with_other_values_is_a_warning_line(tmp_path, capsys):
  """argparse took the last silently, where main, export and the importer warn; the
  same value twice (also by an abbreviation of the flag) says nothing."""
  run = make_logdir(tmp_path, 0)
  assert plot.main(['--logdirs', str(run), '--table', '1000', '--tab=5000', '--task', TASK,
                    f'--tas={TASK}']) == 0
  out, err = capsys.readouterr()
  assert err.splitlines() == ["Warning: --table is given 2 times ('1000', '5000'); the last, "
                              "'5000', is used"]
  assert [line.split()[2] for line in out.splitlines()[1:]] == ['5000']


@pytest.mark.parametrize('flag', ['--logdirs', '--out'])
def test_a_home_of_no_user_is_named_as_in_the_other_commands(tmp_path, capsys, flag):
  """'~nosuch/run does not exist' and '--out ~nosuch/c.png: no directory ./~nosuch',
  where main, export and the importer name the user."""
  run = make_logdir(tmp_path, 0)
  argv = {'--logdirs': ['--logdirs', '~nosuchuser_plot/run', '--table', '1000'],
          '--out': ['--logdirs', str(run), '--out', '~nosuchuser_plot/c.png']}[flag]
  with pytest.raises(SystemExit) as e:
    plot.main(argv)
  path = argv[1] if flag == '--logdirs' else argv[3]
  assert e.value.code == 2 and capsys.readouterr().err == (
      f"Error: {flag} {path}: there is no user 'nosuchuser_plot' whose home ~ could name (the "
      "path would name a folder '~nosuchuser_plot' in the current directory); give a full path "
      '(see --help)\n')


@pytest.mark.parametrize('flag', ['--logdirs', '--out'])
def test_an_empty_home_is_named_not_taken_for_the_root(tmp_path, capsys, monkeypatch, flag):
  """With HOME set but empty, expanduser made ~/c.png the /c.png at the file system's
  root: plot wrote its image there (exit code 0), and read ~/run as /run."""
  run = make_logdir(tmp_path, 0)
  monkeypatch.setenv('HOME', '')
  monkeypatch.setattr(plot, 'plot', lambda runs, out, *args: pytest.fail(f'plotted to {out}'))
  argv = {'--logdirs': ['--logdirs', '~/s67_no_such_run', '--table', '1000'],
          '--out': ['--logdirs', str(run), '--out', '~/s67_never_written.png']}[flag]
  with pytest.raises(SystemExit) as e:
    plot.main(argv)
  path = argv[1] if flag == '--logdirs' else argv[3]
  assert e.value.code == 2 and capsys.readouterr().err == (
      f'Error: {flag} {path}: HOME is set but empty, so ~ names no home directory; set HOME '
      f'or give {flag} as a full path (see --help)\n')


@pytest.mark.parametrize('flag', ['--logdirs', '--out'])
def test_a_shell_variable_no_shell_expanded_is_named(tmp_path, capsys, monkeypatch, flag):
  """From a flagfile or in single quotes: '$RUNS/a does not exist', and --out=$OUT/c.png
  said 'no directory $OUT' (main and export made a folder named so)."""
  monkeypatch.setenv('RUNS', str(tmp_path))
  run = make_logdir(tmp_path, 0)
  argv = {'--logdirs': ['--logdirs', f'$RUNS/{run.name}x', '--table', '1000'],
          '--out': ['--logdirs', str(run), '--out', '$RUNS/c.png']}[flag]
  with pytest.raises(SystemExit) as e:
    plot.main(argv)
  path = argv[1] if flag == '--logdirs' else argv[3]
  assert e.value.code == 2 and capsys.readouterr().err == (
      f"Error: {flag}='{path}' holds $RUNS, which no shell expanded (single quotes, or a "
      'flagfile or launcher, which expand no variables?), and no such path exists; give the '
      f"path it stands for, '{tmp_path}{path[5:]}', or create the path to mean it (see "
      '--help)\n')


@pytest.mark.parametrize('after', [[], ['--table', '1000']])
def test_a_flag_without_its_dashes_among_the_logdirs_is_named(tmp_path, capsys, after):
  """`--logdirs RUN out=c.png`: argparse took out=c.png for a second logdir, and the line
  was 'nothing to do: give --out and/or --table' (or 'out=c.png does not exist')."""
  run = make_logdir(tmp_path, 0)
  with pytest.raises(SystemExit) as e:
    plot.main(['--logdirs', str(run), 'out=c.png', *after])
  assert e.value.code == 2 and capsys.readouterr().err == (
      "Error: unexpected argument 'out=c.png'; flags start with -- (see --help)\n")
  assert not os.path.exists('c.png') and not os.path.exists('out=c.png')


@pytest.mark.parametrize('extra, line', [
    # 'unrecognized arguments: out=c.png' and '... -- --svg', where main, export and the
    # importer say this.
    (['out=c.png'], "unexpected argument 'out=c.png'; flags start with --"),
    (['--', '--svg'], "unexpected argument '--svg' after '--', which ends the flags; drop "
     "the '--'"),
    (['--nosuch=1'], 'unrecognized arguments: --nosuch=1')])
def test_a_stray_argument_is_named_as_in_the_other_commands(tmp_path, capsys, extra, line):
  run = make_logdir(tmp_path, 0)
  with pytest.raises(SystemExit) as e:
    plot.main(['--logdirs', str(run), '--table', '1000', *extra])
  assert e.value.code == 2 and capsys.readouterr().err == f'Error: {line} (see --help)\n'
  assert plot.main(['--logdirs', str(run), '--table', '1000', '--']) == 0  # as main takes it


def test_a_traceback_variable_of_no_switch_is_refused_as_in_main(tmp_path, capsys,
                                                                 monkeypatch):
  """DREAMERV3_TF_TRACEBACK=maybe counted as on here, where main, export and the importer
  refuse it in one line with exit code 2."""
  run = make_logdir(tmp_path, 0)
  monkeypatch.setenv('DREAMERV3_TF_TRACEBACK', 'maybe')
  assert plot.main(['--logdirs', str(run), '--table', '5000']) == 2
  assert capsys.readouterr() == ('', "Error: DREAMERV3_TF_TRACEBACK='maybe' is neither on "
                                 '(1, true, yes, y, on) nor off (0, false, no, n, off or '
                                 'empty)\n')


def test_labels_draw_separate_curves(tmp_path, capsys):
  a = make_logdir(tmp_path / 'a', 0)
  b = make_logdir(tmp_path / 'b', 1)
  runs = plot.load_runs([str(a), str(b)], labels=['paired', 'official sum'])
  assert [r.label for r in runs] == ['paired', 'official sum']
  rows = plot.table(runs, [5000])
  assert [r[0] for r in rows] == [f'{TASK} [paired]', f'{TASK} [official sum]']
  assert [r[3] for r in rows] == [SEGMENTS[0][0], SEGMENTS[0][1]]  # not averaged
  assert plot.main(['--logdirs', str(a), str(b), '--labels', 'x', 'y',
                    '--out', str(tmp_path / 'p.png')]) == 0
  assert (tmp_path / 'p.png').stat().st_size > 0
  capsys.readouterr()
  with pytest.raises(SystemExit) as e:  # a flag mistake: it was exit code 1 (bad data)
    plot.main(['--logdirs', str(a), str(b), '--labels', 'x', '--table', '5000'])
  assert e.value.code == 2
  assert capsys.readouterr().err == ('Error: 1 --labels for 2 --logdirs; give one per logdir '
                                     '(see --help)\n')


def test_logdirs_and_labels_given_twice_add_up(runs, capsys):
  """--logdirs A --logdirs B plotted B alone, without a word (the table said 1 seed)."""
  assert plot.main(['--logdirs', runs[0], '--logdirs', runs[1], '--table', '5000']) == 0
  rows = capsys.readouterr().out.splitlines()[1:]
  mean = (SEGMENTS[0][0] + SEGMENTS[0][1]) / 2
  assert len(rows) == 1 and f'{mean:.1f} (2)' in rows[0], rows
  assert plot.main(['--logdirs', runs[0], '--logdirs', runs[1], '--labels', 'a', '--labels',
                    'b', '--table', '5000']) == 0
  rows = capsys.readouterr().out.splitlines()[1:]
  assert [x.split()[:2] for x in rows] == [[TASK, '[a]'], [TASK, '[b]']], rows


def test_labels_the_font_cannot_draw_are_one_warning_line(runs, tmp_path, capsys):
  """A label in CJK printed matplotlib's UserWarning and its source line for each
  character at each draw: 8 lines for a label of two characters with --svg (here,
  pytest collects them as warnings instead)."""
  import matplotlib
  # DejaVu Sans (matplotlib's own font, no CJK), whatever fonts the machine has.
  with matplotlib.rc_context({'font.family': 'DejaVu Sans'}):
    assert plot.main(['--logdirs', *runs, '--labels', '基线', '基线',
                      '--out', str(tmp_path / 'p.png'), '--svg']) == 0
  assert capsys.readouterr().err == (
      "Warning: the plot's font (DejaVu Sans) has no glyph for '基线' (of a --labels or "
      'task name); the image shows them as boxes\n')
  assert (tmp_path / 'p.png').stat().st_size > 0 and (tmp_path / 'p.svg').stat().st_size > 0


def test_logdirs_without_scores_or_with_bytes_that_are_not_utf8(tmp_path, capsys):
  """A run with empty score files wrote an empty figure with exit code 0 and
  matplotlib's legend warning on stderr; bytes that are not UTF-8 were an error that
  named no file."""
  logdir = make_logdir(tmp_path, 0)
  for name in ('scores.jsonl', 'metrics.jsonl'):
    (logdir / name).write_text('')
  out = tmp_path / 'x.png'
  assert plot.main(['--logdirs', str(logdir), '--out', str(out)]) == 1
  err = capsys.readouterr().err
  assert err == (f'Error: no scores to plot yet: the scores.jsonl and metrics.jsonl of '
                 f"{logdir} hold no 'episode/score' or 'epstats/score'\n")
  assert not out.exists()
  (logdir / 'scores.jsonl').write_bytes(b'\xff\xfe{"step": 1}\n{"step": 2, "epstats/score": 1}\n')
  assert plot.main(['--logdirs', str(logdir), '--out', str(out)]) == 1
  assert capsys.readouterr().err.startswith(f'Error: {logdir}/scores.jsonl:1: not a JSON line')
  (logdir / 'config.json').write_bytes(b'{"task": "\xff"}')
  assert plot.main(['--logdirs', str(logdir), '--table', '1000']) == 2  # (as main: was 1)
  assert capsys.readouterr().err.startswith(
      f"Error: {logdir}/config.json: not valid JSON ('utf-8' codec can't decode")


def plot_table_as(prefix, logdir):
  """plot --table of `logdir` as a process under `prefix` (unprivileged: root obeys
  file permissions there)."""
  return subprocess.run(
      [*prefix, sys.executable, '-m', 'dreamerv3_tf.plot', '--logdirs', str(logdir),
       '--table', '1000'], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_a_config_that_cannot_be_read_is_named_with_its_cause(tmp_path, capsys, unprivileged):
  """A config.json without permission was '[Errno 13] Permission denied: PATH' with exit
  code 1, and one linked to nothing 'no config.json (ours) or config.yaml (official
  code); is this a run directory?' (found by a damaged-file sweep)."""
  logdir = make_logdir(tmp_path, 0)
  config = logdir / 'config.json'
  config.chmod(0)
  result = plot_table_as(unprivileged, logdir)
  assert (result.returncode, result.stderr) == (
      2, f'Error: {config} cannot be read (Permission denied)\n')
  config.unlink()
  config.symlink_to(tmp_path / 'gone')
  assert plot.main(['--logdirs', str(logdir), '--table', '1000']) == 2
  assert capsys.readouterr().err == (
      f'Error: {config} is a symbolic link to {tmp_path}/gone, which does not exist (a disk '
      'not mounted?); mount it or fix the link\n')


@pytest.mark.parametrize('name', ['scores.jsonl', 'metrics.jsonl'])
def test_a_score_file_that_cannot_be_read_is_named_with_its_cause(
    tmp_path, capsys, unprivileged, name):
  """Without read permission: '[Errno 13] Permission denied: PATH'; linked to nothing:
  skipped without a word, its scores left out (found by a damaged-file sweep)."""
  logdir = make_logdir(tmp_path, 0)
  path = logdir / name
  path.unlink()
  path.symlink_to(tmp_path / 'gone')
  assert plot.main(['--logdirs', str(logdir), '--table', '1000']) == 1
  assert capsys.readouterr().err == (
      f'Error: {path} is a symbolic link to {tmp_path}/gone, which does not exist (a disk '
      'not mounted?); mount it or fix the link\n')
  path.unlink()
  path.write_text('{"step": 1, "epstats/score": 1}\n')
  path.chmod(0)
  result = plot_table_as(unprivileged, logdir)
  assert (result.returncode, result.stderr) == (
      1, f'Error: {path} cannot be read (Permission denied)\n')


NOT_FINITE = "expected an object with a finite numeric 'step'"


@pytest.mark.parametrize('step, problem', [
    ('NaN', NOT_FINITE), ('Infinity', NOT_FINITE), ('1e400', NOT_FINITE),
    ('-5', "'step' is -5, below 0 (env steps count from 0)")])
def test_a_step_that_is_not_finite_or_below_0_is_named(tmp_path, capsys, step, problem):
  """json reads the first three as floats: a NaN step was plotted (exit 0), an infinite one
  failed after numpy's warnings (3 lines) with 'Axis limits cannot be NaN or Inf', naming no
  file. A hand-edited -5 was drawn left of the axis: a plot without the run, exit 0."""
  logdir = make_logdir(tmp_path, 0)
  with open(logdir / 'scores.jsonl', 'a') as f:
    f.write(f'{{"step": {step}, "epstats/score": 1}}\n')
  number = len((logdir / 'scores.jsonl').read_text().splitlines())
  out = tmp_path / 'x.png'
  assert plot.main(['--logdirs', str(logdir), '--out', str(out)]) == 1
  assert capsys.readouterr().err == f'Error: {logdir}/scores.jsonl:{number}: {problem}\n'
  assert not out.exists()


def test_scores_that_are_not_finite_are_left_out_with_a_warning(tmp_path, capsys):
  """A run that diverged logs NaN scores: they were left out of the plot and the table
  without a word, and its curve just ended early."""
  logdir = make_logdir(tmp_path, 0)
  with open(logdir / 'scores.jsonl', 'a') as f:
    f.write('{"step": 1e9, "epstats/score": NaN}\n{"step": 2e9, "epstats/score": Infinity}\n')
  out = tmp_path / 'x.png'
  assert plot.main(['--logdirs', str(logdir), '--out', str(out)]) == 0
  assert capsys.readouterr().err == (
      f"Warning: {logdir}/scores.jsonl holds 2 'epstats/score' values that are not finite "
      '(NaN or inf: a run that diverged?); they are left out\n')
  assert out.exists()


def test_one_score_left_out_is_named_in_the_singular(tmp_path, capsys):
  """One NaN and one huge score: the lines read '1 ... value that are not finite ...; they
  are left out'."""
  logdir = make_logdir(tmp_path, 0)
  with open(logdir / 'scores.jsonl', 'a') as f:
    f.write('{"step": 1e9, "epstats/score": NaN}\n{"step": 2e9, "epstats/score": 1e308}\n')
  assert plot.main(['--logdirs', str(logdir), '--table', '1000']) == 0
  assert capsys.readouterr().err == (
      f"Warning: {logdir}/scores.jsonl holds 1 'epstats/score' value that is not finite "
      '(NaN or inf: a run that diverged?); it is left out\n'
      f"Warning: {logdir}/scores.jsonl holds 1 'epstats/score' value beyond ±1e100, too large "
      'to average (a run that diverged?); it is left out\n')


def test_a_step_true_is_named(tmp_path, capsys):
  """json's true is an int to Python: it was plotted as step 1, without a word."""
  logdir = make_logdir(tmp_path, 0)
  with open(logdir / 'scores.jsonl', 'a') as f:
    f.write('{"step": true, "epstats/score": 1}\n')
  number = len((logdir / 'scores.jsonl').read_text().splitlines())
  assert plot.main(['--logdirs', str(logdir), '--table', '1000']) == 1
  assert capsys.readouterr().err == (f'Error: {logdir}/scores.jsonl:{number}: expected an '
                                     "object with a finite numeric 'step'\n")


def test_scores_too_large_to_average_are_left_out_with_a_warning(tmp_path, capsys):
  """Scores of ±1e308 overflowed the sums behind the means: numpy's 'overflow
  encountered' warning (2 lines) and a table of n/a, naming no file."""
  logdir = make_logdir(tmp_path, 0)
  with open(logdir / 'scores.jsonl', 'a') as f:
    f.write('{"step": 50000, "epstats/score": 1e308}\n{"step": 50001, "epstats/score": -1e308}\n')
  assert plot.main(['--logdirs', str(logdir), '--table', '50000']) == 0
  captured = capsys.readouterr()
  assert captured.err == (
      f"Warning: {logdir}/scores.jsonl holds 2 'epstats/score' values beyond ±1e100, too large "
      'to average (a run that diverged?); they are left out\n')
  # The window around 50000 holds the last segment's eval scores (600.0), as without them.
  assert ' 600.0 (1) ' in captured.out, captured.out


def test_an_out_that_is_a_symlink_writes_its_target(runs, tmp_path):
  """The image was renamed over the link: the link was gone, its target kept the old
  image."""
  target = tmp_path / 'shared' / 'curves.png'
  target.parent.mkdir()
  target.write_bytes(b'old')
  (tmp_path / 'curves.png').symlink_to(target)
  assert plot.main(['--logdirs', *runs, '--out', str(tmp_path / 'curves.png')]) == 0
  assert (tmp_path / 'curves.png').is_symlink()
  assert target.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert os.listdir(target.parent) == ['curves.png']  # no temporary left beside it


def test_stdout_that_nothing_reads_is_one_line_and_out_is_whole(runs, tmp_path):
  """`plot --table ... | head -1`: 'Error: [Errno 32] Broken pipe' named no stream."""
  out = tmp_path / 'curves.png'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.plot', '--logdirs', *runs, '--out', str(out),
       '--table', '10000'], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  proc.stdout.close()  # the reader is gone before the first line
  stderr = proc.stderr.read()
  assert proc.wait(timeout=120) == 1, stderr[-3000:]
  assert stderr.splitlines() == [
      'Stopped: stdout is a pipe that nothing reads any more (the program after | ended); '
      '--out is left as it was or written whole']


@pytest.mark.skipif(not os.path.exists('/dev/full'),
                    reason='no /dev/full, the device whose writes fail as on a full disk '
                    '(Linux has it; macOS does not)')
def test_stdout_on_a_full_disk_is_one_line_naming_stdout(runs, tmp_path):
  """`plot ... > table.txt` on a full disk: 'Error: [Errno 28] No space left on device'
  named no file."""
  out = tmp_path / 'curves.png'
  with open('/dev/full', 'w') as full:
    result = subprocess.run(
        [sys.executable, '-m', 'dreamerv3_tf.plot', '--logdirs', *runs, '--out', str(out),
         '--table', '10000'], cwd=REPO, stdout=full, stderr=subprocess.PIPE, text=True,
        timeout=120)
  assert result.returncode == 1, result.stderr[-3000:]
  assert result.stderr.splitlines() == [
      'Stopped: cannot write to stdout (No space left on device); --out is left as it was '
      'or written whole']


def test_stdout_closed_is_no_error(runs, tmp_path):
  """`plot ... >&-`: nothing to print to, the image is written all the same."""
  out = tmp_path / 'curves.png'
  result = subprocess.run(
      [sys.executable, '-m', 'dreamerv3_tf.plot', '--logdirs', *runs, '--out', str(out),
       '--table', '10000'], cwd=REPO, stderr=subprocess.PIPE, text=True, timeout=120,
      preexec_fn=lambda: os.close(1))
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stderr == '' and out.exists()


@pytest.mark.parametrize('score, shown', [('true', 'true'), ('"12.5"', '"12.5"')])
def test_a_score_that_is_no_number_is_named(tmp_path, capsys, score, shown):
  """A hand-edited score: true counted as a score of 1, a text was skipped (exit 0)."""
  logdir = make_logdir(tmp_path, 0)
  (logdir / 'scores.jsonl').write_text(
      '{"step": 1, "epstats/score": 3.0}\n'
      f'{{"step": 2, "epstats/score": {score}}}\n{{"step": 3, "epstats/score": 4.0}}\n')
  assert plot.main(['--logdirs', str(logdir), '--table', '1000']) == 1
  assert capsys.readouterr().err == (
      f"Error: {logdir}/scores.jsonl:2: 'epstats/score' is {shown}, not a number\n")


def test_a_config_json_that_is_a_directory_is_named(tmp_path, capsys):
  """It said 'no config.json (ours) or config.yaml (official code); is this a run
  directory?'."""
  logdir = make_logdir(tmp_path, 0)
  (logdir / 'config.json').unlink()
  (logdir / 'config.json').mkdir()
  assert plot.main(['--logdirs', str(logdir), '--table', '1000']) == 2
  assert capsys.readouterr().err == (
      f"Error: {logdir}/config.json is a directory, not a run's config file\n")


def test_an_out_that_is_a_device_a_pipe_or_a_socket_is_refused(runs, tmp_path, capsys):
  """--out /dev/null wrote /dev/null.png (a file in /dev, as root); a named pipe's
  name.png was replaced by a regular file. Checked before any run is read."""
  import socket
  os.mkfifo(tmp_path / 'pipe.png')
  listener = socket.socket(socket.AF_UNIX)
  listener.bind(str(tmp_path / 'sock.png'))
  try:
    for out, path, kind in (
        (f'{tmp_path}/pipe', f'{tmp_path}/pipe.png', 'named pipe'),
        (f'{tmp_path}/pipe.png', f'{tmp_path}/pipe.png', 'named pipe'),
        (f'{tmp_path}/sock.png', f'{tmp_path}/sock.png', 'socket'),
        (os.devnull, os.devnull, 'character device')):
      with pytest.raises(SystemExit) as e:
        plot.main(['--logdirs', *runs, '--out', out])
      assert e.value.code == 2
      assert capsys.readouterr().err == (
          f"Error: --out {out}: {path} is a {kind}, not an image file; give the image's "
          'path, e.g. curves.png (for the table alone, give --table without --out) (see '
          '--help)\n')
  finally:
    listener.close()
  assert sorted(os.listdir(tmp_path)) == ['pipe.png', 'runs', 'sock.png']
  assert stat.S_ISFIFO(os.stat(tmp_path / 'pipe.png').st_mode)


def test_an_unwritable_matplotlib_config_directory_is_no_line(runs, tmp_path):
  """A read-only HOME: matplotlib printed 'mkdir -p failed for path ~/.config/matplotlib:
  ... Read-only file system' and 'Matplotlib created a temporary cache directory at
  /tmp/matplotlib-... (it is highly recommended to set the MPLCONFIGDIR ...)' before the
  plot, which it drew the same."""
  env = {k: v for k, v in os.environ.items() if k != 'MPLCONFIGDIR'}
  env.update(XDG_CONFIG_HOME='/dev/null/config', XDG_CACHE_HOME='/dev/null/cache',
             PYTHONPATH=REPO)  # (a file's folder: no user may make it)
  out = tmp_path / 'curves.png'
  result = subprocess.run(
      [sys.executable, '-m', 'dreamerv3_tf.plot', '--logdirs', *runs, '--out', str(out)],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stderr == '' and result.stdout == f'Wrote {out}\n'


def test_a_flag_without_its_value_or_with_one_it_takes_not_is_named_as_main_names_it(capsys):
  """argparse's words: 'argument --out: expected one argument' and 'argument --svg:
  ignored explicit argument 'maybe'', where main and export name the flag as given."""
  for argv, line in (
      (['--out'], 'Missing value for flag --out'),
      (['--table', '--out', 'c.png'], 'Missing value for flag --table'),
      (['--svg=maybe'], 'flag --svg=maybe: --svg takes no value; write --svg alone, or leave '
       'it out')):
    with pytest.raises(SystemExit) as e:
      plot.main(['--logdirs', 'run', *argv])
    assert e.value.code == 2 and capsys.readouterr().err == f'Error: {line} (see --help)\n'


def test_a_copy_of_a_run_is_not_counted_as_a_second_seed(tmp_path, capsys):
  run = make_logdir(tmp_path / 'runs', 0)
  copy = tmp_path / 'backup' / run.name
  shutil.copytree(run, copy)
  # A copy taken earlier: its scores stop at a step the run went past.
  lines = (copy / 'scores.jsonl').read_text().splitlines(keepends=True)
  (copy / 'scores.jsonl').write_text(''.join(lines[:len(lines) // 2]))
  # Counted as two seeds before: "(2)" in the table, a band of one run.
  assert plot.main(['--logdirs', str(run), str(copy), '--table', '1000']) == 2
  assert capsys.readouterr().err == (
      f'Error: {run} and {copy} hold seed 0 of {TASK} with the same scores, the shorter a '
      'start of the longer (a copy of one run?); they would count as two seeds: give one '
      'of them, or tell them apart with --labels\n')
  # Told apart, each is a curve of its own; a rerun of the seed with other scores counts.
  assert plot.main(['--logdirs', str(run), str(copy), '--labels', 'a', 'b',
                    '--table', '1000']) == 0
  rerun = make_logdir(tmp_path / 'rerun', 0, steps=40000)
  with open(rerun / 'scores.jsonl', 'a') as f:
    f.write(json.dumps({'step': 40250, 'epstats/score': 1.0, 'epstats/length': 1}) + '\n')
  lines = (rerun / 'scores.jsonl').read_text().splitlines(keepends=True)
  first = json.loads(lines[0])
  first['epstats/score'] += 1
  (rerun / 'scores.jsonl').write_text(json.dumps(first) + '\n' + ''.join(lines[1:]))
  capsys.readouterr()
  assert plot.main(['--logdirs', str(run), str(rerun), '--table', '1000']) == 0
  assert '(2)' in capsys.readouterr().out


def test_a_rerun_of_a_seed_whose_scores_so_far_are_the_others_counts_as_a_seed(
    tmp_path, capsys):
  """Two runs of the default seed 0 score alike until training sets them apart (the
  same env and policy seeds): one that stopped sooner, or is still early, was refused
  as a copy of the other. Their metrics.jsonl tell them apart: the first line of
  timings (fps/, usage/) is the same in a copy only."""
  run = make_logdir(tmp_path / 'runs', 0)
  rerun = make_logdir(tmp_path / 'rerun', 0, steps=20000)
  write_lines(rerun / 'metrics.jsonl', [{'step': 250, 'fps/env': 6.5}])
  assert plot.main(['--logdirs', str(run), str(rerun), '--table', '1000']) == 0
  assert '(2)' in capsys.readouterr().out
