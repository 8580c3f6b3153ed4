"""End to end: train_eval with the RandomAgent on dummy (in-process) and dmc (main CLI)."""

import functools
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import cli_zygote
from configs import dmc
from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import configuration
from dreamerv3_tf import factories
from dreamerv3_tf.run import train_eval
from run_helpers import make_run_config as run_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVAL_OFFSET = 1000.0


class Tagged:
  """Marks every observation of eval envs, so a test can see where steps went."""

  def __init__(self, make, offset):
    self.env, self.offset = make(), offset

  def __getattr__(self, name):
    return getattr(self.env, name)

  def step(self, action):
    obs = self.env.step(action)
    return {**obs, 'vector': obs['vector'] + np.float32(self.offset)}


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def steps_of(replay):
  """All stored steps as {key: [N, ...]} in insertion order."""
  return replay.dump()


def load_replays(config, path=None):
  replays = {f'replay_{m}': factories.make_replay(config, m) for m in ('train', 'eval')}
  ckpt = checkpointing.Checkpoint(os.path.join(config.logdir, 'ckpt'), replays=replays)
  ckpt._ckpt.restore(path or ckpt.latest).expect_partial()
  return replays


@pytest.fixture(scope='module')
def dummy_run(tmp_path_factory):
  logdir = tmp_path_factory.mktemp('dummy_run')
  config = run_config(logdir, random_agent=True, steps=600, report_every=-1)
  made = []
  original_fns, original_replay = factories.env_fns, factories.make_replay

  def env_fns(config, mode):
    offset = EVAL_OFFSET if mode == 'eval' else 0.0
    return [functools.partial(Tagged, fn, offset) for fn in original_fns(config, mode)]

  def make_replay(config, mode):
    made.append((mode, original_replay(config, mode)))
    return made[-1][1]

  factories.env_fns, factories.make_replay = env_fns, make_replay
  try:
    train_eval.train_eval(config)
  finally:
    factories.env_fns, factories.make_replay = original_fns, original_replay
  return config, dict(made)


def test_logdir_holds_config_metrics_scores_and_checkpoint(dummy_run):
  config, _ = dummy_run
  files = set(os.listdir(config.logdir))
  assert {'config.json', 'metrics.jsonl', 'scores.jsonl', 'ckpt'} <= files
  saved = json.load(open(os.path.join(config.logdir, 'config.json')))
  assert saved['task'] == 'dummy_disc_vec'


def test_metrics_carry_the_prefixes(dummy_run):
  config, _ = dummy_run
  keys = set().union(*read_jsonl(os.path.join(config.logdir, 'metrics.jsonl')))
  for prefix in ('episode/', 'epstats/', 'report/', 'eval/', 'train/', 'replay/'):
    assert any(k.startswith(prefix) for k in keys), (prefix, sorted(keys))
  # What a leak hunt over a long run reads.
  assert {'usage/proc_ram_gb', 'usage/proc_fds', 'usage/proc_threads'} <= keys
  scores = read_jsonl(os.path.join(config.logdir, 'scores.jsonl'))
  assert any('epstats/score' in x for x in scores)
  assert any('episode/score' in x for x in scores)
  # The env's logging-only key reaches the episode stats (and never the agent).
  assert any(k.startswith('epstats/log/hits/') for k in keys), sorted(keys)


def test_eval_capacity_is_a_tenth_of_train(dummy_run):
  config, replays = dummy_run
  assert replays['eval'].capacity == replays['train'].capacity // 10 == 1000


def test_eval_transitions_never_enter_the_train_replay(dummy_run):
  config, replays = dummy_run
  train, evals = steps_of(replays['train']), steps_of(replays['eval'])
  assert len(train['vector']) >= 600 and len(evals['vector']) > 0
  assert np.all(train['vector'] < EVAL_OFFSET)
  assert np.all(evals['vector'] >= EVAL_OFFSET)


def test_eval_runs_whole_episodes(dummy_run):
  config, replays = dummy_run
  evals = steps_of(replays['eval'])
  # Every eval episode that was started was run to its end: eval_eps episodes per
  # report with a freshly reset driver of one env (FIFO eviction may have cut the
  # oldest one, so count from the first start on).
  start = np.argmax(evals['is_first'])
  assert evals['is_first'][start:].sum() == evals['is_last'][start:].sum() > 5
  assert evals['is_last'][-1]
  assert np.all(evals['vector'][evals['is_first']] >= EVAL_OFFSET)


def test_checkpoint_holds_both_replays(dummy_run):
  config, replays = dummy_run
  loaded = load_replays(config)
  for mode in ('train', 'eval'):
    a, b = steps_of(replays[mode]), steps_of(loaded[f'replay_{mode}'])
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_train_script_builds_no_eval_envs_replay_or_reports(tmp_path):
  config = run_config(tmp_path, random_agent=True, steps=100, report_every=-1)
  made = []
  original = factories.make_replay
  factories.make_replay = lambda config, mode: made.append(mode) or original(config, mode)
  try:
    train_eval.train_eval(config, evaluate=False)
  finally:
    factories.make_replay = original
  assert made == ['train']
  keys = set().union(*read_jsonl(os.path.join(config.logdir, 'metrics.jsonl')))
  assert any(k.startswith('report/') for k in keys)
  assert not any(k.startswith(('eval/', 'epstats/')) for k in keys), sorted(keys)
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / 'ckpt')))
  assert not any(k.startswith('replay_eval') for k in reader.get_variable_to_shape_map())


def test_a_run_that_ends_on_a_save_step_does_not_save_it_twice(tmp_path):
  """run.steps a multiple of save_every (run.clock=steps): the clock's save at the last
  step and the run's closing save were two checkpoints of that step, and the second
  rotated the oldest kept one out (keep_checkpoints=2 kept one step)."""
  config = run_config(tmp_path, random_agent=True, steps=60, clock='steps', save_every=20,
                      keep_checkpoints=2)
  train_eval.train_eval(config)
  paths = tf.train.get_checkpoint_state(str(tmp_path / 'ckpt')).all_model_checkpoint_paths
  steps = [json.loads(tf.train.load_checkpoint(p).get_tensor('loop/.ATTRIBUTES/py_state'))[
      'step'] for p in paths]
  assert steps == [40, 60]


def test_a_resume_with_fewer_keep_checkpoints_names_those_its_save_deletes(tmp_path, capsys):
  """run.keep_checkpoints may change on a resume: a smaller one made its first save
  delete every checkpoint but the new one, without a word."""
  config = run_config(tmp_path, random_agent=True, steps=60, clock='steps', save_every=20)
  train_eval.train_eval(config)
  capsys.readouterr()
  with config.unlocked():
    config.run.steps, config.run.keep_checkpoints = 80, 1
  train_eval.train_eval(config)
  assert ('Warning: run.keep_checkpoints=1 keeps fewer than the 3 checkpoints in '
          f'{tmp_path}/ckpt: the next save deletes ckpt-2, ckpt-3, ckpt-4 (pass '
          '--config.run.keep_checkpoints=3 to keep them)') in capsys.readouterr().err
  assert checkpointing.latest(str(tmp_path / 'ckpt')).endswith('ckpt-5')
  with config.unlocked():  # the usual rotation of one is no news
    config.run.steps, config.run.keep_checkpoints = 100, 1
  train_eval.train_eval(config)
  assert 'keep_checkpoints' not in capsys.readouterr().err


def test_a_resume_keeps_the_from_checkpoint_its_run_started_from(tmp_path, capsys):
  """A resume does not read run.from_checkpoint, but wrote the one given (none, in
  the same command without the flag) into config.json over the one the run started
  from: where its agent came from was lost."""
  config = run_config(tmp_path, random_agent=True, steps=20)
  train_eval.train_eval(config)
  saved = json.loads((tmp_path / 'config.json').read_text())
  saved['run'].update(from_checkpoint='/runs/a/ckpt', from_checkpoint_regex='enc/')
  (tmp_path / 'config.json').write_text(json.dumps(saved))  # as a start from it saves
  for given in ('', '/runs/b/ckpt'):
    with config.unlocked():
      config.run.steps += 10
      config.run.from_checkpoint = given
    train_eval.train_eval(config)
    run = json.loads((tmp_path / 'config.json').read_text())['run']
    assert (run['from_checkpoint'], run['from_checkpoint_regex']) == ('/runs/a/ckpt', 'enc/')
  assert 'run.from_checkpoint=/runs/b/ckpt is not read' in capsys.readouterr().err


def test_a_resume_is_warned_of_no_training_by_what_its_checkpoint_holds(
    tmp_path, capsys, monkeypatch):
  """main warned 'run.steps=N ends before training starts' by the config alone, also on
  the resume of a run that had trained or finished; a resume's warning waits for its
  checkpoint's step and replay (config_warnings.untrained_run_warning)."""
  from dreamerv3_tf import config_warnings
  calls = []
  monkeypatch.setattr(config_warnings, 'untrained_run_warning',
                      lambda c, *held: calls.append(held) or 'Warning: as held')
  config = run_config(tmp_path, random_agent=True, steps=20)
  train_eval.train_eval(config)
  assert calls == []  # a new run: main's, before TensorFlow
  items = load_replays(config)['replay_train'].items
  train_eval.train_eval(config)  # it has reached run.steps: nothing to warn of
  assert calls == [] and 'as held' not in capsys.readouterr().err
  with config.unlocked():
    config.run.steps = 30
  train_eval.train_eval(config)
  assert calls == [(20, items)] and 'Warning: as held' in capsys.readouterr().err


def test_a_run_ends_at_run_steps_not_at_the_next_ten(tmp_path):
  """The loop steps the envs 10 env steps at a time: run.steps=25 with 3 envs ran 36
  (Done: 36 env steps). Now it ends on the first round of all envs at run.steps."""
  config = run_config(tmp_path, random_agent=True, steps=25, envs=3)
  train_eval.train_eval(config)
  path = tf.train.latest_checkpoint(str(tmp_path / 'ckpt'))
  loop = json.loads(tf.train.load_checkpoint(path).get_tensor('loop/.ATTRIBUTES/py_state'))
  assert loop['step'] == 27


def test_run_duration_counts_time_the_run_ran_not_the_wall_clock(tmp_path, monkeypatch):
  """The wall clock jumping a day ahead (NTP, a host whose clock was set) at every read
  ended a run of run.duration=3600 before its first env step."""
  config = run_config(tmp_path, random_agent=True, steps=60, duration=3600, log_every=10,
                      clock='steps')
  real, jumps = time.time, []
  monkeypatch.setattr(time, 'time', lambda: real() + 86400 * len(jumps.append(0) or jumps))
  train_eval.train_eval(config)
  monkeypatch.undo()
  assert read_jsonl(tmp_path / 'metrics.jsonl')[-1]['step'] == 60


def main_cmd(logdir, *args):
  given = {x.split('=', 1)[0] for x in args}  # `args` win, given once (twice: a warning)
  defaults = ['--config.random_agent=True', '--config.logger.outputs=jsonl',
              '--config.run.log_every=1', '--config.run.report_every=2']
  return [
      sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
      f'--logdir={logdir}', *[x for x in defaults if x.split('=', 1)[0] not in given], *args]


def test_dmc_in_this_process_with_egl_loaded_ends_with_exit_0(tmp_path):
  """MuJoCo's EGL (Mesa's LLVM) and TensorFlow in one process crashed at the teardown
  after everything was saved (exit 134 or 139, "free(): invalid pointer")."""
  # A real process: a forked one ends by os._exit, without the C library's teardown.
  result = subprocess.run(
      main_cmd(tmp_path / 'run', '--config.run.parallel=False', '--config.run.steps=20'),
      cwd=ROOT, capture_output=True, text=True, timeout=240,
      env={**{k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'},
           'MUJOCO_GL': 'egl'})  # main quiets TensorFlow's lines as for a user
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  assert result.stderr == ''
  assert tf.train.latest_checkpoint(str(tmp_path / 'run' / 'ckpt'))


def test_sigkill_and_resume_on_dmc(tmp_path):
  """A run killed with SIGKILL resumes from its last checkpoint with both replays."""
  logdir = tmp_path / 'run'
  proc = cli_zygote.Popen(
      main_cmd(logdir, '--config.run.save_every=1', '--config.run.steps=1000000'),
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  ckpt_dir = logdir / 'ckpt'
  deadline = time.time() + 240
  while time.time() < deadline:
    state = tf.train.get_checkpoint_state(str(ckpt_dir)) if ckpt_dir.exists() else None
    if state and len(state.all_model_checkpoint_paths) >= 3:
      break
    assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
    time.sleep(0.1)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  config = dmc.get_config('train_eval,debug')
  config.logdir = str(logdir)
  configuration.finalize(config)
  latest = tf.train.latest_checkpoint(str(ckpt_dir))
  saved = load_replays(config, latest)
  loop = json.loads(tf.train.load_checkpoint(latest).get_tensor('loop/.ATTRIBUTES/py_state'))
  assert loop['step'] > 0
  # Resume with steps equal to the saved step: the run has finished, and is left as it is.
  before = sorted(os.listdir(ckpt_dir))
  result = cli_zygote.run(
      main_cmd(logdir, f'--config.run.steps={loop["step"]}', '--config.run.save_every=0'),
      cwd=ROOT, capture_output=True, text=True, timeout=240)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  assert f'has reached step {loop["step"]} of run.steps={loop["step"]}' in result.stdout
  assert sorted(os.listdir(ckpt_dir)) == before and tf.train.latest_checkpoint(
      str(ckpt_dir)) == latest
  # And it goes on from there, with both replays as they were saved: their steps come
  # first, in order ('dyn/*' are latents that training writes back). No eval episode
  # this time, so the eval replay (capacity 1000) evicts nothing. 50 steps: any number
  # shows it goes on; each rendered DMC step costs the workers about 20 ms.
  result = cli_zygote.run(
      main_cmd(logdir, f'--config.run.steps={loop["step"] + 50}',
               '--config.run.report_every=0'),
      cwd=ROOT, capture_output=True, text=True, timeout=240)
  assert result.returncode == 0, result.stderr[-3000:]
  assert f'Resumed from {latest} at step {loop["step"]}' in result.stdout
  resumed = load_replays(config)
  for name in ('replay_train', 'replay_eval'):
    a, b = steps_of(saved[name]), steps_of(resumed[name])
    assert len(a['reward']) > 0 or name == 'replay_eval'
    for key in a:
      if not key.startswith('dyn/'):
        np.testing.assert_array_equal(a[key], b[key][:len(a[key])], err_msg=f'{name} {key}')
  final = json.loads(tf.train.load_checkpoint(tf.train.latest_checkpoint(str(ckpt_dir))).get_tensor(
      'loop/.ATTRIBUTES/py_state'))
  assert final['step'] >= loop['step'] + 50


def test_a_resume_moves_the_rows_a_killed_run_logged_past_its_checkpoint(tmp_path):
  """Killed (kill -9) after it had logged steps past its last checkpoint, a run resumed
  from it and logged those steps again: metrics.jsonl and scores.jsonl each held two
  histories of them (plots zig-zagged)."""
  logdir = tmp_path / 'run'

  def command(steps):  # logs every iteration; saves at its start and end only
    return [sys.executable, '-m', 'dreamerv3_tf.main',
            '--config=configs/dmc.py:train_eval,debug', f'--logdir={logdir}',
            '--config.random_agent=True', '--config.task=dummy_disc',
            '--config.env.dummy.length=10', '--config.run.parallel=False',
            '--config.logger.outputs=jsonl', f'--config.run.steps={steps}',
            '--config.run.log_every=-1', '--config.run.report_every=0',
            '--config.run.save_every=0']

  def lines(name):  # whole lines (a kill may cut the last)
    text = (logdir / name).read_text()
    return [x for x in text.splitlines(keepends=True) if x.endswith('\n')]

  step = lambda line: json.loads(line)['step']
  cli_zygote.run(command(60), cwd=ROOT, check=True, capture_output=True, timeout=120)
  saved = {name: lines(name) for name in ('metrics.jsonl', 'scores.jsonl')}
  run = cli_zygote.Popen(command(10 ** 9), cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
  deadline = time.time() + 120
  while (len(lines('metrics.jsonl')) < len(saved['metrics.jsonl']) + 5  # past its checkpoint
         or len(lines('scores.jsonl')) < len(saved['scores.jsonl']) + 2):
    if run.poll() is not None or time.time() > deadline:
      run.kill()
      pytest.fail(run.communicate()[0][-3000:])
    time.sleep(0.05)
  run.send_signal(signal.SIGKILL)
  run.communicate()
  killed = {name: lines(name) for name in saved}
  result = cli_zygote.run(command(step(saved['metrics.jsonl'][-1]) + 30), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0, result.stderr[-3000:]
  resumed = int(re.search(r'Resumed from \S+ at step (\d+)\.', result.stdout).group(1))
  assert resumed == step(saved['metrics.jsonl'][-1])  # the first run's last save
  past = {name: [x for x in killed[name] if step(x) > resumed] for name in saved}
  assert len(past['metrics.jsonl']) >= 5 and past['scores.jsonl']
  assert [x for x in result.stderr.splitlines() if x.startswith('Warning')] == [
      f'Warning: the rows past step {resumed}, where this run resumes, were logged by the run '
      f'that stopped and are logged again now: moved {len(past["metrics.jsonl"])} rows of '
      f'{logdir}/metrics.jsonl to {logdir}/metrics.after-step-{resumed}.jsonl and '
      f'{len(past["scores.jsonl"])} row{"s" if len(past["scores.jsonl"]) > 1 else ""} of '
      f'{logdir}/scores.jsonl to {logdir}/scores.after-step-{resumed}.jsonl']
  for name in saved:  # one history, and the killed run's rows past it kept aside
    side = name.replace('.jsonl', f'.after-step-{resumed}.jsonl')
    assert lines(side) == past[name]
    now = lines(name)
    assert now[:len(saved[name])] == saved[name]
    assert [step(x) for x in now] == sorted(step(x) for x in now)
    assert step(now[-1]) > resumed


def test_eval_only_from_a_checkpoint_writes_epstats(dummy_run, tmp_path):
  from dreamerv3_tf.run import eval_only
  trained, _ = dummy_run
  config = run_config(tmp_path, random_agent=True, steps=200, report_every=-1)
  with config.unlocked():
    config.script = 'eval_only'
    config.run.from_checkpoint = os.path.join(trained.logdir, 'ckpt')
  eval_only.eval_only(config)
  rows = read_jsonl(os.path.join(config.logdir, 'metrics.jsonl'))
  scores = [x['epstats/score'] for x in rows if 'epstats/score' in x]
  assert len(scores) >= 200 // 31 - 1
  assert not any(k.startswith('episode/') for x in rows for k in x)


def test_eval_only_of_a_random_agent_needs_no_checkpoint(tmp_path):
  """A random policy's baseline score: refused with 'No checkpoint found in
  LOGDIR/ckpt: pass --config.run.from_checkpoint=PATH ...', though it has no weights."""
  from dreamerv3_tf.run import eval_only
  config = run_config(tmp_path, random_agent=True, steps=100, report_every=-1)
  with config.unlocked():
    config.script = 'eval_only'
  eval_only.eval_only(config)
  rows = read_jsonl(os.path.join(config.logdir, 'metrics.jsonl'))
  assert [x['epstats/score'] for x in rows if 'epstats/score' in x]
  assert not os.path.exists(os.path.join(config.logdir, 'ckpt'))


@pytest.mark.parametrize('script', ['eval_only', 'train'])
def test_a_from_checkpoint_that_does_not_exist_is_one_line_before_tensorflow(script, tmp_path):
  result = cli_zygote.run(
      main_cmd(tmp_path / 'run', f'--config.script={script}', '--config.task=dummy_disc_vec',
               f'--config.run.from_checkpoint={tmp_path}/nothing',
               f'--config.random_agent={script == "eval_only"}'),
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  export = 'a SavedModel export, ' if script == 'eval_only' else ''
  assert result.returncode == 2, result.stderr[-3000:]  # a config value
  assert result.stderr.splitlines() == [
      f'Config error: run.from_checkpoint={tmp_path}/nothing: no such checkpoint '
      f'({tmp_path}/nothing and {tmp_path}/nothing.index do not exist); name a checkpoint '
      f"prefix such as RUN/ckpt/ckpt-3, {export}or a run's ckpt directory"]
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert os.listdir(tmp_path) == []


def from_checkpoint_refused(tmp_path, script, from_checkpoint):
  """The one line of a run.from_checkpoint refused as a config value (exit code 2)
  before TensorFlow loads, having written nothing."""
  before = sorted(str(p) for p in tmp_path.rglob('*'))
  result = cli_zygote.run(
      main_cmd(tmp_path / 'run', f'--config.script={script}', '--config.task=dummy_disc_vec',
               f'--config.run.from_checkpoint={from_checkpoint}',
               f'--config.random_agent={script == "eval_only"}'),
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]  # a config value
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert sorted(str(p) for p in tmp_path.rglob('*')) == before
  lines = result.stderr.splitlines()
  assert len(lines) == 1, result.stderr[-3000:]
  return lines[0]


@pytest.mark.parametrize('script', ['eval_only', 'train'])
@pytest.mark.parametrize('given, hint', [
    ('run0/config.json', 'name a checkpoint prefix such as RUN/ckpt/ckpt-3, without .index, '
     'or a directory of checkpoints'),
    ('run0/ckpt/ckpt-3.index', 'name its prefix, --config.run.from_checkpoint='
     '{tmp}/run0/ckpt/ckpt-3'),
    ('run0/ckpt/ckpt-3.data-00000-of-00001', 'name its prefix, '
     '--config.run.from_checkpoint={tmp}/run0/ckpt/ckpt-3'),
    ('exp/saved_model.pb', 'it is inside the SavedModel export {tmp}/exp, which eval_only '
     "takes whole: --config.run.from_checkpoint={tmp}/exp; training and export need a run's "
     'checkpoint, RUN/ckpt')])
def test_a_from_checkpoint_that_is_a_file_is_one_line_before_tensorflow(
    script, given, hint, tmp_path):
  """A file that is no checkpoint prefix was 'Error: ... is a file, not a checkpoint',
  exit code 1, once TensorFlow had loaded, where one that does not exist is a config
  value (2); file names tell it, as export's --checkpoint does."""
  for name in ('run0/config.json', 'run0/ckpt/ckpt-3.index',
               'run0/ckpt/ckpt-3.data-00000-of-00001', 'exp/saved_model.pb'):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(b'')  # only their names are read
  assert from_checkpoint_refused(tmp_path, script, f'{tmp_path}/{given}') == (
      f'Config error: run.from_checkpoint={tmp_path}/{given} is a file, not a checkpoint '
      f'({hint.format(tmp=tmp_path)})')


def test_a_from_checkpoint_that_is_an_export_is_one_line_before_tensorflow_in_training(
    tmp_path):
  """An export given to a training run: 'Error: No checkpoint found in EXPORT (it is a
  SavedModel ...)', exit code 1, once TensorFlow had loaded and the envs had started."""
  (tmp_path / 'exp' / 'variables').mkdir(parents=True)
  (tmp_path / 'exp' / 'saved_model.pb').write_bytes(b'')  # only its name is read
  assert from_checkpoint_refused(tmp_path, 'train', f'{tmp_path}/exp') == (
      f'Config error: run.from_checkpoint={tmp_path}/exp is a SavedModel, an export: it '
      "holds the policy for eval_only, not the agent's weights and optimizer; name the "
      "run's ckpt directory")
  # Its variables folder, to eval_only too, which takes the export whole: 'No checkpoint
  # found in EXPORT/variables', exit code 1, once TensorFlow had loaded.
  for script in ('eval_only', 'train'):
    assert from_checkpoint_refused(tmp_path, script, f'{tmp_path}/exp/variables') == (
        f'Config error: run.from_checkpoint={tmp_path}/exp/variables is no checkpoint of a '
        f'run (it is inside the SavedModel export {tmp_path}/exp, which eval_only takes '
        f"whole: --config.run.from_checkpoint={tmp_path}/exp; training and export need a "
        "run's checkpoint, RUN/ckpt)")


@pytest.mark.parametrize('given', ['ckpt-4_temp', 'ckpt-4_temp/part-00000-of-00001'])
def test_a_from_checkpoint_in_what_a_stopped_save_left_is_one_line_before_tensorflow(
    given, tmp_path):
  """The folder a killed save left was 'No checkpoint found', exit code 1, once
  TensorFlow had loaded; its part-00000-of-00001 was loaded as a checkpoint, of whatever
  the cut save had written."""
  ckpt = tmp_path / 'run0' / 'ckpt'
  (ckpt / 'ckpt-4_temp').mkdir(parents=True)
  for name in ('checkpoint', 'ckpt-3.index', 'ckpt-4_temp/part-00000-of-00001.index'):
    (ckpt / name).write_bytes(b'')  # only their names are read
  assert from_checkpoint_refused(tmp_path, 'train', f'{ckpt}/{given}') == (
      f'Config error: run.from_checkpoint={ckpt}/{given} is in what a stopped save left '
      f'({ckpt}/ckpt-4_temp), not a checkpoint; name a saved one, such as {ckpt}/ckpt-N, or '
      f'{ckpt} for its latest')


@pytest.mark.parametrize('script', ['eval_only', 'train'])
def test_a_from_checkpoint_of_a_runs_logdir_names_its_ckpt_before_tensorflow(script, tmp_path):
  """--config.run.from_checkpoint=RUN (not RUN/ckpt): 'Error: No checkpoint found in RUN
  (did you mean ...?)', exit code 1, once TensorFlow had loaded, where a directory that
  holds no checkpoint is a config value (2) before it."""
  ckpt = tmp_path / 'run0' / 'ckpt'
  ckpt.mkdir(parents=True)
  for name in ('checkpoint', 'ckpt-3.index', 'ckpt-3.data-00000-of-00001'):
    (ckpt / name).write_bytes(b'')  # only their names are read
  (tmp_path / 'run0' / 'config.json').write_text('{}')
  assert from_checkpoint_refused(tmp_path, script, f'{tmp_path}/run0') == (
      f"Config error: run.from_checkpoint={tmp_path}/run0 is a run's logdir, and its "
      f'checkpoints are in {ckpt}: did you mean --config.run.from_checkpoint={ckpt}?')
  # file:///RUN is the same folder: it was that 'No checkpoint found', exit code 1.
  assert from_checkpoint_refused(tmp_path, script, f'file://{tmp_path}/run0') == (
      f"Config error: run.from_checkpoint={tmp_path}/run0 is a run's logdir, and its "
      f'checkpoints are in {ckpt}: did you mean --config.run.from_checkpoint={ckpt}?')


def test_eval_only_without_a_checkpoint_to_evaluate_is_one_line_before_tensorflow(tmp_path):
  """No run.from_checkpoint and no LOGDIR/ckpt: 'Error: No checkpoint found in
  LOGDIR/ckpt: pass ... or a --logdir that has one', exit code 1, once TensorFlow had
  loaded; a --logdir with a training run's checkpoints is refused for eval_only."""
  result = cli_zygote.run(
      main_cmd(tmp_path / 'run', '--config.script=eval_only', '--config.task=dummy_disc_vec',
               '--config.random_agent=False'),
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]  # a config value
  assert result.stderr.splitlines() == [
      'Config error: script=eval_only evaluates the checkpoint that run.from_checkpoint '
      "names, and none is given: pass --config.run.from_checkpoint=PATH (a checkpoint, a run's "
      'ckpt directory or a SavedModel export), or --config.random_agent=True for the score '
      'of a random policy']
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert os.listdir(tmp_path) == []

@pytest.mark.parametrize('logdir, resume_from, message', [
    ('run', '{tmp}/elsewhere/ckpt-1', 'run.resume_from={tmp}/elsewhere/ckpt-1 is not a '
     'checkpoint of this run (expected {tmp}/run/ckpt/ckpt-<N>); run.from_checkpoint starts '
     "a new run from another run's agent"),
    ('run', '{tmp}/run/ckpt/model.h5', 'run.resume_from={tmp}/run/ckpt/model.h5 is not a '
     'checkpoint of this run (expected {tmp}/run/ckpt/ckpt-<N>)'),
    ('run', 'ckpt-9', 'run.resume_from=ckpt-9: no such checkpoint (neither '
     '{tmp}/run/ckpt/ckpt-9.index nor its data files exist); the checkpoints in '
     '{tmp}/run/ckpt are ckpt-1, ckpt-2'),
    ('fresh', 'ckpt-1', 'run.resume_from=ckpt-1: this run has no checkpoints in '
     '{tmp}/fresh/ckpt yet; drop run.resume_from to start it'),
])
def test_a_resume_from_that_names_no_checkpoint_of_the_run_is_one_line_before_tensorflow(
    logdir, resume_from, message, tmp_path):
  """These were a checkpoint error (exit code 1) once TensorFlow and the envs had
  loaded; file names tell them."""
  ckpt = tmp_path / 'run' / 'ckpt'
  ckpt.mkdir(parents=True)
  for name in ('ckpt-1', 'ckpt-2'):  # only their names are read
    (ckpt / f'{name}.index').write_bytes(b'')
    (ckpt / f'{name}.data-00000-of-00001').write_bytes(b'')
  before = sorted(str(p) for p in tmp_path.rglob('*'))
  result = cli_zygote.run(
      main_cmd(tmp_path / logdir, '--config.task=dummy_disc_vec',
               f'--config.run.resume_from={resume_from.format(tmp=tmp_path)}'),
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]  # a config value
  lines = result.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      f'Config error: {message.format(tmp=tmp_path)}'), lines
  assert result.stdout == ''  # found before TensorFlow loads: no start-up line came first
  assert sorted(str(p) for p in tmp_path.rglob('*')) == before


class _ImportStops(Exception):
  """Raised by a stand-in TensorFlow import: the run stops there."""


def _children():
  """Process ids whose parent is this process (Linux /proc)."""
  found = []
  for name in os.listdir('/proc'):
    try:
      with open(f'/proc/{name}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
      continue
    if fields[0] != 'Z' and int(fields[1]) == os.getpid():  # state, parent pid
      found.append(int(name))
  return found


def test_env_workers_start_while_tensorflow_loads_and_stop_if_it_fails(tmp_path):
  from dreamerv3_tf import run
  seen = []

  def import_tensorflow():  # main's quiet import, stopped here (a Ctrl-C, say)
    seen.append(_children())
    raise _ImportStops()

  before = set(_children())
  config = run_config(tmp_path / 'run', parallel=True)
  with pytest.raises(_ImportStops):
    run.main(config, import_tensorflow)
  # 2 train and 1 eval env workers were starting when the import began ...
  assert len(set(seen[0]) - before) == 3, seen
  # ... and were stopped with the run, which wrote nothing.
  assert set(_children()) - before == set()
  assert not (tmp_path / 'run').exists()


def test_envs_in_this_process_are_built_after_tensorflow_loads(tmp_path, monkeypatch):
  """A library an env loads can crash TensorFlow's import if it comes first: dm_control
  with MUJOCO_GL=egl (Mesa's LLVM) made every run.parallel=False DMC run a segfault."""
  from dreamerv3_tf import run
  events = []
  env_fns = factories.env_fns
  monkeypatch.setattr(factories, 'env_fns', lambda config, mode: [
      lambda fn=fn: events.append('env') or fn() for fn in env_fns(config, mode)])

  def import_tensorflow():  # main's quiet import, stopped here
    events.append('tensorflow')
    raise _ImportStops()

  with pytest.raises(_ImportStops):
    run.main(run_config(tmp_path / 'run', parallel=False), import_tensorflow)
  assert events == ['tensorflow'] and not (tmp_path / 'run').exists()


def test_a_bad_task_in_this_process_stops_with_one_error_and_writes_nothing(tmp_path):
  from dreamerv3_tf import run
  from dreamerv3_tf.core import base
  # (A module without that function: the config check looks for the module only.)
  config = run_config(tmp_path / 'run', task='py_json:nosuch', parallel=False)
  with pytest.raises(base.EnvError, match="py_json:nosuch train env 0 failed to start") as info:
    run.main(config, lambda: None)
  assert info.value.exit_code == 2  # a config value: main exits 2, as for an unknown suite
  assert not (tmp_path / 'run').exists()


def test_a_remote_logdir_trains_saves_and_resumes_setting_aside_rows(tmp_path, capsys):
  """A logdir with a scheme (gs:// on a TPU VM) goes through TensorFlow's file systems:
  its config, logs, checkpoints and replay chunks. file:// takes that path on a local
  disk. A resume moves the rows past its checkpoint aside there too (a remote file was
  left with two histories of those steps)."""
  logdir = f'file://{tmp_path}/run'
  config = run_config(logdir, random_agent=True, steps=60, save_every=30)
  train_eval.train_eval(config)
  local = tmp_path / 'run'
  assert {'config.json', 'spaces.json', 'metrics.jsonl', 'ckpt'} <= set(
      os.listdir(local))
  assert checkpointing.latest(f'{logdir}/ckpt') == f'{logdir}/ckpt/ckpt-2'
  saved = (local / 'metrics.jsonl').read_text()
  last = read_jsonl(local / 'metrics.jsonl')[-1]['step']
  past = json.dumps({'step': last + 10, 'train/x': 1.0}) + '\n'  # as a killed run's
  with open(local / 'metrics.jsonl', 'a') as f:
    f.write(past)
  capsys.readouterr()
  with config.unlocked():
    config.run.steps = 90
  train_eval.train_eval(config)
  out, err = capsys.readouterr()
  assert f'Resumed from {logdir}/ckpt/ckpt-2 at step 60.' in out
  assert err.splitlines() == [
      'Warning: the rows past step 60, where this run resumes, were logged by the run that '
      f'stopped and are logged again now: moved 1 row of {logdir}/metrics.jsonl to '
      f'{logdir}/metrics.after-step-60.jsonl']
  assert (local / 'metrics.after-step-60.jsonl').read_text() == past
  now = (local / 'metrics.jsonl').read_text()
  assert now.startswith(saved) and past not in now
  assert read_jsonl(local / 'metrics.jsonl')[-1]['step'] == 90
  assert checkpointing.latest(f'{logdir}/ckpt') == f'{logdir}/ckpt/ckpt-3'
