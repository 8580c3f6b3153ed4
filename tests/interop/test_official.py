"""The official checkpoint importer: reads, maps, refuses, and writes a logdir of ours."""

import json
import os
import pickle
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest

import cli_zygote
from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import export
from dreamerv3_tf.core import base
from dreamerv3_tf.interop import official
from dreamerv3_tf.run import eval_only

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, 'tests', 'golden', 'cont.npz')
sys.path.insert(0, os.path.join(ROOT, 'tests'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'run'))
import test_parity  # noqa: E402  (golden loading and the agent of a golden config)


def write_official(logdir, params, counters=None, config=None, done=True):
  """An official-format checkpoint: ckpt/latest -> ckpt/<folder>/agent.pkl + done."""
  folder = logdir / 'ckpt' / '20250101T000000F000000-000000000100'
  folder.mkdir(parents=True)
  (logdir / 'ckpt' / 'latest').write_text(folder.name)
  data = {'params': params, 'counters': counters or {'updates': 3, 'batches': 3,
                                                     'actions': 120}}
  (folder / 'agent.pkl').write_bytes(pickle.dumps(data))
  (folder / 'step.pkl').write_bytes(pickle.dumps(100))
  if done:
    (folder / 'done').write_bytes(b'')
  if config is not None:
    import yaml
    (logdir / 'config.yaml').write_text(yaml.safe_dump(config))
  return folder


@pytest.fixture(scope='module')
def golden():
  arrays, meta = test_parity._load(GOLDEN)
  return test_parity._sub(arrays, f'params{meta["updates"]}/'), meta


@pytest.fixture(scope='module')
def agent(golden):
  return test_parity.make_agent(golden[1])


def test_every_official_entry_maps_and_comes_back(agent, golden):
  params, _ = golden
  official.assign(agent, params, {'updates': 3, 'actions': 120})
  back = official.official_layout(agent)
  steps = set(official.STEP_COPIES)
  assert set(back) | steps == set(params)
  for name, value in back.items():
    np.testing.assert_array_equal(value, params[name], err_msg=name)
  assert int(agent.opt.step.numpy()) == int(params['opt/step/value'])
  assert int(agent.train_calls.numpy()) == 3 and int(agent.policy_calls.numpy()) == 120


def _broken(params, change):
  params = dict(params)
  change(params)
  return params


@pytest.mark.parametrize('change, message', [
    (lambda p: p.pop('dyn/obslogit/bias'), 'lacks dyn/obslogit/bias'),
    (lambda p: p.update({'enc/mlp9/kernel': np.zeros((16, 16), np.float32)}),
     'enc/mlp9/kernel .* has no place'),
    # A weight and its optimizer slots: the slot was named (opt/ sorts first), as if the
    # optimizer differed, where the model does (e.g. the checkpoint of another task).
    (lambda p: p.update({k: np.zeros(2, np.float32) for k in (
        'pol/extra/bias', 'opt/state/1/1/pol/extra/bias', 'opt/state/2/1/pol/extra/bias')}),
     r'^official pol/extra/bias \[2\] has no place'),
    (lambda p: p.update({'dec/sp2/kernel': np.zeros((32, 64), np.float32)}),
     r'dec/sp2/kernel \[32, 64\] does not fit dec.cnn.sp2.kernel \[32, 128\]'),
    (lambda p: p.update({'pol/head/action/stddev/bias': np.zeros(3, np.float32)}),
     'does not fit pol.std0.bias'),
    (lambda p: p.update({'opt/state/3/count': np.array(7, np.int32)}),
     'opt/state/3/count=7 differs'),
    # These were imported (exit code 0): text turned into numbers, the imaginary part
    # dropped with numpy's ComplexWarning, a step of 1.5 taken as 1, one of -5 as -5.
    (lambda p: p.update({'dyn/obslogit/bias': p['dyn/obslogit/bias'].astype(str)}),
     r'^official dyn/obslogit/bias holds <U32 values, not real numbers$'),
    (lambda p: p.update({'dyn/obslogit/bias': p['dyn/obslogit/bias'] + 1j}),
     r'^official dyn/obslogit/bias holds complex64 values, not real numbers$'),
    (lambda p: p.update({'opt/step/value': np.array(1.5, np.float32)}),
     r"^official opt/step/value=1.5 \(float32\) is no count of updates \(a whole number, 0 "
     r'or more\)$'),
    (lambda p: p.update({k: np.array(-5, np.int32) for k in ('opt/step/value',
                                                             *official.STEP_COPIES)}),
     r'^official opt/step/value=-5 \(int32\) is no count of updates'),
    (lambda p: p.update({'opt/state/1/0': np.zeros(3, np.int32)}),
     r'^official opt/state/1/0=\[0 0 0\] \(int32\) is no count of updates'),
    # 'Refusing to save a checkpoint: agent/... is not finite (the agent diverged)',
    # naming our variable, not the official entry.
    (lambda p: p.update({'dyn/obslogit/bias': np.full_like(p['dyn/obslogit/bias'], np.nan)}),
     r'^official dyn/obslogit/bias holds values that are not finite \(NaN or inf: a run that '
     r'diverged\?\)$'),
    # Sweep 74. Float64 beyond float32's range: numpy's 2-line RuntimeWarning, then
    # 'Refusing to save a checkpoint: agent/dyn/obslogit/bias is not finite', our name.
    (lambda p: p.update({'dyn/obslogit/bias': np.full(p['dyn/obslogit/bias'].shape, -1e300)}),
     r'^official dyn/obslogit/bias holds -1e\+300, beyond the range of float32 \(a run that '
     r'diverged\?\)$'),
    # Imported as 0/1 and as integers (the official code saves float32 weights).
    (lambda p: p.update({'dyn/obslogit/bias': p['dyn/obslogit/bias'] > 0}),
     r'^official dyn/obslogit/bias holds bool values, where dyn.obslogit.bias takes float32$'),
    (lambda p: p.update({'dyn/obslogit/bias': np.ones(p['dyn/obslogit/bias'].shape, np.int64)}),
     r'^official dyn/obslogit/bias holds int64 values, where dyn.obslogit.bias takes float32$'),
    # Taken as 1 and -3 (the slow critic's update count).
    (lambda p: p.update({'slowval_count/value': np.array(1.5, np.float32)}),
     r'^official slowval_count/value=1.5 \(float32\) is no count of slow critic updates \(a '
     r'whole number, 0 or more\)$'),
    (lambda p: p.update({'slowval_count/value': np.array(-3, np.int32)}),
     r'^official slowval_count/value=-3 \(int32\) is no count of slow critic updates'),
])
def test_refuses_a_checkpoint_that_does_not_fit(agent, golden, change, message):
  params, _ = golden
  before = agent.dec.cnn.sp2.kernel.numpy().copy()
  with pytest.raises(official.OfficialCheckpointError, match=message) as error:
    official.assign(agent, _broken(params, change))
  assert '\n' not in str(error.value)
  # All or nothing: a refused checkpoint changed no variable.
  np.testing.assert_array_equal(agent.dec.cnn.sp2.kernel.numpy(), before)


def test_reads_the_official_folder_layout(tmp_path, golden):
  params, _ = golden
  folder = write_official(tmp_path, params)
  for path in (tmp_path, tmp_path / 'ckpt', folder):
    data = official.read(path)
    assert data['folder'] == str(folder) and data['step'] == 100
    assert data['counters']['actions'] == 120
    np.testing.assert_array_equal(data['params']['dyn/dyngru/kernel'],
                                  params['dyn/dyngru/kernel'])


@pytest.mark.parametrize('step', ['100', -5, 2**70, True, np.int64(7)])
def test_a_step_file_of_no_env_step_is_left_out(tmp_path, step):
  """step.pkl only adds 'at env step N' to the import's line: text was left out, but -5
  and 2**70 were printed as env steps (sweep 74)."""
  folder = write_official(tmp_path, {'w': np.zeros(2, np.float32)})
  (folder / 'step.pkl').write_bytes(pickle.dumps(step))
  assert official.read(tmp_path)['step'] == (7 if step == 7 else None)


def test_refuses_an_incomplete_save_and_a_foreign_pickle(tmp_path, golden):
  params, _ = golden
  write_official(tmp_path / 'a', params, done=False)
  with pytest.raises(official.OfficialCheckpointError, match='incomplete'):
    official.read(tmp_path / 'a')
  folder = write_official(tmp_path / 'b', params)
  (folder / 'agent.pkl').write_bytes(pickle.dumps({'params': {'x': print}}))
  with pytest.raises(official.OfficialCheckpointError, match='builtins.print'):
    official.read(tmp_path / 'b')


@pytest.mark.parametrize('counters, shown', [
    ({'updates': 'abc'}, "{'updates': 'abc'}"), ([1, 2], '[1, 2]'),
    # 2**70: an 'unexpected' ValueError ('out-of-range integer') once the weights were
    # assigned; -3 was imported as our counters' value.
    ({'updates': 2**70}, "{'updates': 1180591620717411303424}"),
    ({'actions': -3}, "{'actions': -3}")])
def test_counters_that_are_not_integers_are_named(tmp_path, counters, shown):
  """int() of them was an 'unexpected' ValueError or AttributeError naming no file."""
  folder = write_official(tmp_path, {'w': np.zeros(2, np.float32)}, counters=counters)
  with pytest.raises(official.OfficialCheckpointError) as error:
    official.read(tmp_path)
  assert str(error.value) == (f'{folder}/agent.pkl: expected counters to map names to '
                              f'integers from 0 to 2**63-1, got {shown}')


def test_a_latest_file_that_is_not_text_is_named(tmp_path):
  """Its UnicodeDecodeError was 'unexpected' and named no file."""
  write_official(tmp_path, {'w': np.zeros(2, np.float32)})
  (tmp_path / 'ckpt' / 'latest').write_bytes(b'\xff\xfe\x00')
  with pytest.raises(official.OfficialCheckpointError) as error:
    official.read(tmp_path)
  assert str(error.value) == f'{tmp_path}/ckpt/latest: not a text file naming a save folder'


@pytest.mark.parametrize('latest, what', [('', 'is empty'), ('gone', "names the save "
                                          "folder 'gone', which is not there")])
def test_a_latest_file_that_names_no_folder_is_named(tmp_path, latest, what):
  """Both said '<logdir>/ckpt/: no agent.pkl (pass an official logdir, its ckpt/ or a
  save folder)', which the path given was."""
  folder = write_official(tmp_path, {'w': np.zeros(2, np.float32)})
  (tmp_path / 'ckpt' / 'latest').write_text(latest)
  with pytest.raises(official.OfficialCheckpointError) as error:
    official.read(tmp_path)
  assert str(error.value) == (f'{tmp_path}/ckpt/latest {what}; pass a save folder itself: '
                              f'--checkpoint={folder}')


def test_written_logdir_serves_export_eval_only_and_from_checkpoint(tmp_path, golden):
  params, meta = golden
  source = write_official(tmp_path / 'official', params)
  config = test_parity.make_agent(meta).config  # the golden config, translated
  config.jit = True
  with config.unlocked():
    config.logdir = str(tmp_path / 'ours')
    config.task = 'dummy_cont'  # any valid task; spaces come from the golden file
  agent = test_parity.make_agent(meta)
  obs_space, act_space = agent.obs_space, agent.act_space
  from dreamerv3_tf import configuration
  configuration.finalize(config)
  data, prefix = official.write_logdir(config, obs_space, act_space, source,
                                       config.logdir)
  assert data['step'] == 100 and os.path.exists(prefix + '.index')

  # run.from_checkpoint: a fresh agent takes every variable.
  fresh = test_parity.make_agent(meta)
  _, names = checkpointing.load_agent(fresh, os.path.join(config.logdir, 'ckpt'))
  assert len(names) == len(checkpointing._agent_variables(fresh))
  layout = official.official_layout(fresh)
  for name in ('dyn/dyngru/kernel', 'pol/head/action/mean/kernel',
               'opt/state/2/1/dec/conv0/kernel', 'retnorm/hi/value'):
    np.testing.assert_array_equal(layout[name], params[name], err_msg=name)
  official.assign(agent, params)

  # eval_only: the same agent behind the policy interface.
  with config.unlocked():
    config.run.from_checkpoint = os.path.join(config.logdir, 'ckpt')
  policy = eval_only.load_policy(config, obs_space, act_space)
  rng = np.random.default_rng(0)
  obs = {k: rng.integers(0, 256, (2, *s.shape), dtype=np.uint8) if s.dtype == np.uint8
         else rng.normal(0, 1, (2, *s.shape)).astype(s.dtype)
         for k, s in obs_space.items() if k not in ('reward', 'is_last', 'is_terminal')}
  obs['is_first'] = np.array([True, False])
  _, act, _ = policy.policy(policy.init_policy(2), obs, mode='eval')
  _, want, _ = agent.policy(agent.init_policy(2), obs, mode='eval')
  # jit (the loaded agent) against eager (the reference): one rounding apart.
  np.testing.assert_allclose(act['action'], want['action'], rtol=1e-5, atol=1e-6)

  # export: a SavedModel whose eval step acts the same.
  _, out = export.export_run(config.logdir, str(tmp_path / 'export'))
  saved = export.SavedPolicy(out)
  _, act, _ = saved.policy(saved.init_policy(2), obs, mode='eval')
  np.testing.assert_allclose(act['action'], want['action'], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('existing', [False, True], ids=['new_logdir', 'existing_logdir'])
def test_an_import_stopped_while_it_writes_takes_back_what_it_wrote(
    tmp_path, golden, monkeypatch, existing):
  """A stop in the checkpoint's save left config.json and spaces.json and no
  checkpoint, which main then resumed as a fresh run of random weights."""
  params, meta = golden
  source = write_official(tmp_path / 'official', params)
  agent = test_parity.make_agent(meta)
  config = agent.config
  out = tmp_path / 'ours'
  if existing:  # a folder the user made, with a file of theirs
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
  with config.unlocked():
    config.logdir = str(out)
    config.task = 'dummy_cont'
  from dreamerv3_tf import configuration
  configuration.finalize(config)

  def stopped(self, *args, **kwargs):
    raise KeyboardInterrupt()
  monkeypatch.setattr(checkpointing.Checkpoint, 'save', stopped)
  with pytest.raises(KeyboardInterrupt):
    official.write_logdir(config, agent.obs_space, agent.act_space, source, str(out))
  if existing:
    assert sorted(os.listdir(out)) == ['notes.txt'] and (out / 'notes.txt').read_text() == 'mine'
  else:
    assert not out.exists()


def test_an_import_killed_while_it_saves_is_done_by_the_same_command(
    tmp_path, golden, monkeypatch):
  """A kill (nothing takes back what it wrote) in the checkpoint's save left a
  ckpt-1_temp folder and the state file's temporary; the same command then refused its
  logdir for good: 'LOGDIR/ckpt exists and is not empty; choose a new --logdir'."""
  params, meta = golden
  source = write_official(tmp_path / 'official', params)
  agent = test_parity.make_agent(meta)
  config = agent.config
  out = tmp_path / 'ours'
  with config.unlocked():
    config.logdir = str(out)
    config.task = 'dummy_cont'
  from dreamerv3_tf import configuration
  configuration.finalize(config)

  def killed(self, *args, **kwargs):
    (out / 'ckpt' / 'ckpt-1_temp').mkdir(parents=True)
    (out / 'ckpt' / 'ckpt-1_temp' / 'part-00000-of-00001.index').write_bytes(b'cut')
    (out / 'ckpt' / 'checkpoint.tmp5f3a').write_text('cut')
    raise KeyboardInterrupt()
  with monkeypatch.context() as patch:
    patch.setattr(checkpointing.Checkpoint, 'save', killed)
    patch.setattr(official, '_remove', lambda paths: None)  # a kill runs no cleanup
    with pytest.raises(KeyboardInterrupt):
      official.write_logdir(config, agent.obs_space, agent.act_space, source, str(out))
  _, prefix = official.write_logdir(config, agent.obs_space, agent.act_space, source, str(out))
  assert prefix == f'{out}/ckpt/ckpt-1'
  assert sorted(os.listdir(out / 'ckpt')) == [
      'checkpoint', 'ckpt-1.data-00000-of-00001', 'ckpt-1.index']
  # A checkpoint there (another import's) is still refused.
  with pytest.raises(official.OfficialCheckpointError, match='exists and is not empty'):
    official.write_logdir(config, agent.obs_space, agent.act_space, source, str(out))


def test_a_checkpoint_that_names_a_file_of_the_save(tmp_path):
  """The save's agent.pkl said '<folder>/agent.pkl: no agent.pkl (pass an official
  logdir, its ckpt/ or a save folder)': its folder is meant. Another file is named."""
  folder = write_official(tmp_path, {'w': np.zeros(2, np.float32)})
  assert official.find_folder(folder / 'agent.pkl') == str(folder)
  with pytest.raises(official.OfficialCheckpointError) as error:
    official.find_folder(tmp_path / 'ckpt' / 'latest')
  assert str(error.value) == (
      f'--checkpoint {tmp_path}/ckpt/latest is a file; pass the official logdir, its ckpt/ '
      'or a save folder (the one holding agent.pkl)')


def test_a_checkpoint_that_cannot_be_read_names_the_flag():
  """A gs:// path without network or credentials was 'Error: Error executing an HTTP
  request: libcurl code 6 ...', naming neither the flag nor the path (a scheme
  TensorFlow lacks stands in for it: no network needed)."""
  with pytest.raises(official.OfficialCheckpointError) as error:
    official.find_folder('ftp://host/run')
  assert str(error.value).startswith(
      "Cannot read --checkpoint ftp://host/run: File system scheme 'ftp' not implemented"), (
          str(error.value))


def test_a_logdir_that_cannot_be_read_names_the_flag():
  """A gs:// --logdir without network or credentials was 'Error: Error executing an HTTP
  request: libcurl code 6 ...', naming neither the flag nor the path (a scheme TensorFlow
  lacks stands in for it: no network needed)."""
  from dreamerv3_tf import configuration
  with pytest.raises(configuration.LogdirError) as error:
    official.write_logdir(None, None, None, None, 'nosuchfs://bucket/run')  # (its first read)
  assert str(error.value).startswith(
      "Cannot read --logdir nosuchfs://bucket/run: File system scheme 'nosuchfs' not "
      'implemented'), str(error.value)


@pytest.mark.parametrize('name, target', [
    ('agent.pkl', 'fifo'), ('agent.pkl', '/dev/zero'), ('latest', 'fifo'),
    ('config.yaml', 'fifo')])
def test_a_save_file_that_is_a_pipe_or_a_device_is_named(tmp_path, name, target):
  """The import waited for ever reading a pipe (or read /dev/zero on for ever); SIGTERM
  then ended it with 'RuntimeError: pybind11::error_already_set: MISMATCH ...'."""
  from dreamerv3_tf.interop import official_config
  folder = write_official(tmp_path, {'w': np.zeros(2, np.float32)}, config={})
  path = {'agent.pkl': folder / 'agent.pkl', 'latest': tmp_path / 'ckpt' / 'latest',
          'config.yaml': tmp_path / 'config.yaml'}[name]
  path.unlink()
  if target == 'fifo':
    os.mkfifo(path)
    kind = 'a named pipe'
  else:
    path.symlink_to(target)
    kind = 'a character device'
  with pytest.raises((official.OfficialCheckpointError,
                      official_config.OfficialConfigError)) as error:
    if name == 'config.yaml':
      official_config.load_yaml(str(path))
    else:
      official.read(tmp_path)
  assert str(error.value) == f'{path} is {kind}, not the file the official code saved'


def test_a_checkpoint_path_that_is_missing_or_a_logdir_of_ours_is_named_so(tmp_path):
  """Both said '<path>: no agent.pkl (pass an official logdir, ...)'."""
  # (the flag's: exit code 2, test_cli_failures_are_one_line_in_a_users_shell)
  with pytest.raises(official.OfficialCheckpointError) as error:
    official.find_folder(tmp_path / 'nosuch')
  assert str(error.value) == f'--checkpoint {tmp_path}/nosuch does not exist'
  (tmp_path / 'ours' / 'ckpt').mkdir(parents=True)
  (tmp_path / 'ours' / 'config.json').write_text('{}')
  with pytest.raises(official.OfficialCheckpointError) as error:
    official.find_folder(tmp_path / 'ours')
  assert str(error.value) == (
      f'{tmp_path}/ours is a logdir of this package (config.json), not of the official '
      'code: it needs no import; export it with python -m dreamerv3_tf.export '
      f'--logdir={tmp_path}/ours')


def test_cli_refuses_in_one_line(tmp_path, golden):
  params, meta = golden
  help_text = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.interop.official', '--help'],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  # absl prints the usage to stdout (and the command exits with 0 after --help).
  assert '--checkpoint' in help_text.stdout and '--logdir' in help_text.stdout
  # The golden official config names sizes our dummy task's spaces do not fit: the
  # refusal is one line on stderr, exit code 1, and nothing is written.
  folder = write_official(tmp_path / 'official', params, config=meta['official'])
  run = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.interop.official',
       f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "ours"}',
       '--config=configs/dmc.py:train_eval', '--config.task=dummy_cont',
       '--config.run.parallel=False'],
      capture_output=True, text=True, cwd=ROOT, timeout=300)
  errors = [x for x in run.stderr.splitlines() if x.startswith('Error:')]
  assert run.returncode == 1, run.stderr[-2000:]
  assert len(errors) == 1 and ('has no place' in errors[0] or 'lacks' in errors[0]), errors
  assert errors[0].startswith(f'Error: {folder}/agent.pkl: official '), errors  # its file
  assert not (tmp_path / 'ours' / 'ckpt').exists()


@pytest.mark.parametrize('args, code, line', [
    # A traceback before (the env's error, the logdir's, ml_collections'). (A save that
    # reads: one that does not is refused first, before the env starts.)
    # (a function the env finds its module lacks: an unknown dummy task, or a module not on
    # the path, is the config check's now)
    (['--config.task=py_json:nosuch', '--checkpoint={official}/good'], 2,
     "Env error: py_json:nosuch eval env 0 failed to start: module json "),
    (['--config.task=dummy_nosuch', '--checkpoint={official}/good'], 2,
     "Config error: task='dummy_nosuch': dummy has no task 'nosuch'; valid: "),
    (['--logdir='], 2, 'Config error: --logdir is required'),
    (['--config.agent.nosuch=1'], 2, "Config error: unknown config key 'agent.nosuch'"),
    # export's flag for the folder to write: "Unknown command line flag 'out'", no hint.
    (['--out={official}/new'], 2, "Config error: --out is export's flag; the importer "
     'writes a logdir of ours: --logdir={official}/new (then export it with --out)'),
    # absl's two lines and exit code 1.
    (['--checkpoint='], 2, 'Config error: --checkpoint is required; give it a value '
     '(see --help)'),  # then absl's 'flag --checkpoint=None: Flag --checkpoint must ...'
    # 'Error: : no agent.pkl' (exit code 1), once TensorFlow had loaded.
    (['--checkpoint', ''], 2, 'Config error: --checkpoint is empty; give the official logdir'),
    (['--checkpoint= '], 2, 'Config error: --checkpoint is empty; give the official logdir'),
    # Exit code 1, once TensorFlow had loaded: a typo cost its seconds.
    (['--checkpoint=/nonexistent/official'], 2, 'Config error: --checkpoint '
     '/nonexistent/official does not exist'),
    (['--checkpoint=/dev/null'], 2, 'Config error: --checkpoint /dev/null is a file; pass the '
     'official logdir, its ckpt/ or a save folder (the one holding agent.pkl)'),
    # 'Error: /tmp/...' cut at the break, with no cause.
    (['--checkpoint=/tmp/x\ny'], 2, "Config error: --checkpoint='/tmp/x\\ny' holds a line "
     'break; give one path'),
    # Wrote a logdir marked as an evaluation's, which training then refused to use.
    (['--config.script=eval_only'], 2, 'Config error: script=eval_only: the import writes '
     'the logdir of a training run; drop eval_only from --config, then evaluate the import '
     'with --config.script=eval_only --config.run.from_checkpoint=LOGDIR/ckpt'),
    # One line, but after the 9 lines TensorFlow logs as it loads.
    ([], 1, 'Error: {official}/ckpt/x/agent.pkl: not a readable pickle (EOFError'),
    # A --checkpoint that names no official run: exit code 1, where export's --checkpoint
    # and main's run.from_checkpoint give 2 for such a path.
    (['--checkpoint={official}/ours'], 2, 'Error: {official}/ours is a logdir of this '
     'package (config.json), not of the official code'),
    (['--checkpoint={official}/ckpt/x/sub'], 2, 'Error: {official}/ckpt/x/sub: no agent.pkl '
     '(pass an official logdir, its ckpt/ or a save folder)'),
    # A save folder that `latest` names and that lost its agent.pkl: the run's, 1.
    (['--checkpoint={official}/lost'], 1, 'Error: {official}/lost/ckpt/x: no agent.pkl'),
])
def test_cli_failures_are_one_line_in_a_users_shell(tmp_path, args, code, line):
  (tmp_path / 'official' / 'ckpt' / 'x').mkdir(parents=True)
  (tmp_path / 'official' / 'ckpt' / 'latest').write_text('x')
  (tmp_path / 'official' / 'ckpt' / 'x' / 'agent.pkl').write_bytes(b'')
  (tmp_path / 'official' / 'ckpt' / 'x' / 'done').write_bytes(b'')
  (tmp_path / 'official' / 'ckpt' / 'x' / 'sub').mkdir()
  (tmp_path / 'official' / 'ours').mkdir()
  (tmp_path / 'official' / 'ours' / 'config.json').write_text('{}')
  (tmp_path / 'official' / 'lost' / 'ckpt' / 'x').mkdir(parents=True)
  (tmp_path / 'official' / 'lost' / 'ckpt' / 'latest').write_text('x')
  write_official(tmp_path / 'official' / 'good', {'w': np.zeros(2, np.float32)})
  args = [x.format(official=tmp_path / 'official') for x in args]
  flags = [f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "ours"}',
           '--config=configs/dmc.py:train_eval,debug', '--config.task=dummy_cont',
           '--config.run.parallel=False', *args]
  given = {x.split('=', 1)[0] for x in args}  # given once (twice is a warning line more)
  flags = [x for x in flags[:-len(args) or None] if x.split('=', 1)[0] not in given] + args
  if '--checkpoint=' in args:  # that case leaves the flag out
    flags = [x for x in flags if not x.startswith('--checkpoint=')]
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  # A real process: a forked one's TensorFlow was imported, and its lines shown, before.
  run = subprocess.run([sys.executable, '-m', 'dreamerv3_tf.interop.official', *flags],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
  lines = run.stderr.splitlines()
  assert run.returncode == code and len(lines) == 1, run.stderr[-2000:]
  assert lines[0].startswith(line.format(official=tmp_path / 'official')), lines[0]
  assert not (tmp_path / 'ours').exists()


# The importer with TensorFlow made unimportable: a check that needed it would fail.
WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules['tensorflow'] = None
sys.argv = ['official', *sys.argv[1:]]
runpy.run_module('dreamerv3_tf.interop.official', run_name='__main__')
"""


@pytest.mark.parametrize('checkpoint, code, line', [
    ('ours', 2, 'Error: {official}/ours is a logdir of this package (config.json), not of '
     'the official code: it needs no import; export it with python -m dreamerv3_tf.export '
     '--logdir={official}/ours'),
    ('empty', 2, 'Error: {official}/empty: no agent.pkl (pass an official logdir, its ckpt/ or '
     'a save folder)'),
    ('lost', 1, 'Error: {official}/lost/ckpt/x: no agent.pkl (pass an official logdir, its '
     'ckpt/ or a save folder)'),
    # A file it cannot read: the same line as TensorFlow's error gave.
    ('folder_latest', 1, 'Error: Cannot read --checkpoint {official}/folder_latest: '
     '{official}/folder_latest/ckpt/latest; Is a directory'),
    # Sweep 74: an agent.pkl it cannot take came once TensorFlow had loaded and the
    # task's env had started.
    ('truncated', 1, 'Error: {official}/truncated/ckpt/x/agent.pkl: not a readable pickle '
     '(EOFError: Ran out of input)'),
    ('foreign', 1, 'Error: {official}/foreign/ckpt/x/agent.pkl: pickle names posix.system; '
     'only numpy arrays, dtypes and plain containers are allowed'),
    ('no_params', 1, 'Error: {official}/no_params/ckpt/x/agent.pkl: expected a dict with '
     'params, got list'),
    ('pkl_folder', 1, 'Error: Cannot read {official}/pkl_folder/ckpt/x/agent.pkl: Is a '
     'directory')])
def test_cli_checkpoint_of_no_official_run_is_refused_before_tensorflow(tmp_path, checkpoint,
                                                                        code, line):
  """These lines came once TensorFlow had loaded (seconds), where export refuses its
  --checkpoint before."""
  (tmp_path / 'official' / 'ours').mkdir(parents=True)
  (tmp_path / 'official' / 'ours' / 'config.json').write_text('{}')
  (tmp_path / 'official' / 'empty').mkdir()
  (tmp_path / 'official' / 'lost' / 'ckpt' / 'x').mkdir(parents=True)
  (tmp_path / 'official' / 'lost' / 'ckpt' / 'latest').write_text('x')
  (tmp_path / 'official' / 'folder_latest' / 'ckpt' / 'latest').mkdir(parents=True)
  for name, content in (('truncated', b''), ('foreign', b'cposix\nsystem\n(S"true"\ntR.'),
                        ('no_params', pickle.dumps([1])), ('pkl_folder', None)):
    folder = tmp_path / 'official' / name / 'ckpt' / 'x'
    folder.mkdir(parents=True)
    (folder.parent / 'latest').write_text('x')
    (folder / 'done').write_bytes(b'')
    if content is None:
      (folder / 'agent.pkl').mkdir()
    else:
      (folder / 'agent.pkl').write_bytes(content)
  run = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW,
       f'--checkpoint={tmp_path / "official" / checkpoint}', f'--logdir={tmp_path / "out"}',
       '--config=configs/dmc.py:train_eval,debug'],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert run.returncode == code, run.stderr[-3000:]
  assert run.stderr.splitlines() == [line.format(official=tmp_path / 'official')], (
      run.stderr[-3000:])
  assert not (tmp_path / 'out').exists()


def test_cli_a_save_folder_it_may_not_read_is_named_so(tmp_path, unprivileged):
  """Sweep 74: it said '<folder>: no agent.pkl (pass an official logdir, ...)', which
  it holds."""
  folder = write_official(tmp_path / 'official', {'w': np.zeros(2, np.float32)})
  folder.chmod(0)
  try:
    run = cli_zygote.run(
        [*unprivileged, sys.executable, '-c', WITHOUT_TENSORFLOW,
         f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "out"}',
         '--config=configs/dmc.py:train_eval,debug'],
        capture_output=True, text=True, cwd=ROOT, timeout=120)
  finally:
    folder.chmod(0o755)
  assert run.returncode == 1, run.stderr[-3000:]
  assert run.stderr.splitlines() == [
      f'Error: Cannot read --checkpoint {tmp_path / "official"}: {folder}; Permission '
      'denied'], run.stderr[-3000:]
  assert not (tmp_path / 'out').exists()


@pytest.mark.parametrize('flag', ['--logdir', '--checkpoint'])
def test_cli_an_empty_home_is_named_not_taken_for_the_root(tmp_path, flag):
  """With HOME set but empty, expanduser made ~/x the /x at the file system's root: an
  import into --logdir=~/imported was written there."""
  (tmp_path / 'official' / 'ckpt' / 'x').mkdir(parents=True)
  (tmp_path / 'official' / 'ckpt' / 'latest').write_text('x')
  flags = {'--checkpoint': str(tmp_path / 'official'), '--logdir': str(tmp_path / 'out'),
           flag: '~/s67_never_written'}
  run = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, *(f'{k}={v}' for k, v in flags.items()),
       '--config=configs/dmc.py:train_eval,debug'],
      capture_output=True, text=True, cwd=ROOT, timeout=120, env={**os.environ, 'HOME': ''})
  assert run.returncode == 2, run.stderr[-3000:]
  assert run.stderr.splitlines() == [
      f'Config error: {flag} ~/s67_never_written: HOME is set but empty, so ~ names no home '
      f'directory; set HOME or give {flag} as a full path'], run.stderr[-3000:]
  assert not os.path.exists('/s67_never_written')
  assert sorted(os.listdir(tmp_path)) == ['official']


@pytest.mark.parametrize('flag, value, line', [
    # Exit code 0: imported into memory, its 'Next: ... export --logdir=ram://run' lost.
    ('--logdir', 'ram://run', "--logdir ram://run is in TensorFlow's in-memory file system "
     '(ram://), which each process starts empty and loses as it ends'),
    # '--logdir gs: starts like a remote path without its //; write gs://', its slashes dropped.
    ('--logdir', 'gs://', '--logdir gs:// names no Cloud Storage bucket; give a full path '
     'such as gs://BUCKET/run'),
    # "Cannot read --checkpoint gs:///run: GCS path doesn't contain a bucket name", exit
    # code 1, once TensorFlow had loaded.
    ('--checkpoint', 'gs:///run', '--checkpoint gs:///run names no Cloud Storage bucket'),
    # "Cannot read --checkpoint https://host/run: File system scheme 'https' not
    # implemented", exit code 1, once TensorFlow had loaded.
    ('--checkpoint', 'https://host/run', '--checkpoint https://host/run: this TensorFlow '
     'opens local, file:// and gs:// paths, not https://'),
    # file:///x is /x, checked so: the checks of a local --logdir skipped it (this one's
    # nesting; file://$HOME imported into the home directory, file:///proc/x failed once
    # TensorFlow had loaded).
    ('--logdir', 'file://{tmp}/official/ckpt', '--logdir {tmp}/official/ckpt is inside the '
     'official run {tmp}/official that --checkpoint reads')])
def test_cli_a_url_no_import_can_use_is_refused_before_tensorflow(tmp_path, flag, value, line):
  write_official(tmp_path / 'official', {'w': np.zeros(2, np.float32)})  # (a --logdir's check)
  value, line = value.format(tmp=tmp_path), line.format(tmp=tmp_path)
  flags = {'--checkpoint': str(tmp_path / 'official'), '--logdir': str(tmp_path / 'out'),
           flag: value}
  run = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, *(f'{k}={v}' for k, v in flags.items()),
       '--config=configs/dmc.py:train_eval,debug'],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert run.returncode == 2, run.stderr[-3000:]
  lines = run.stderr.splitlines()
  assert len(lines) == 1 and lines[0].startswith(f'Config error: {line}'), run.stderr[-3000:]
  assert os.listdir(tmp_path) == ['official'] and not os.path.exists(os.path.join(ROOT, 'gs:'))


@pytest.mark.parametrize('returns, what', [('None', r'None \(no return statement\?\)'),
                                           ("{'task': 'dummy_cont'}", 'dict')])
def test_cli_a_config_file_that_returns_no_config_dict_is_named(tmp_path, returns, what):
  """A None was taken for no --config: dmc.py's defaults imported (or refused the
  checkpoint, 'has no place in the agent of this config'); a dict was "Config error:
  dict' object has no attribute 'to_dict"."""
  path = tmp_path / 'my_config.py'
  path.write_text(f'def get_config():\n  return {returns}\n')
  run = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.interop.official',
       f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "ours"}',
       f'--config={path}'], capture_output=True, text=True, cwd=ROOT, timeout=300)
  lines = run.stderr.splitlines()
  assert run.returncode == 2 and len(lines) == 1, run.stderr[-2000:]
  assert re.fullmatch(f'Config error: get_config\\(\\) of the config file {re.escape(str(path))} '
                      f'returned {what}, not a ConfigDict', lines[0]), lines[0]
  assert not (tmp_path / 'ours').exists()


def test_cli_a_checkpoint_given_twice_is_a_warning_line(tmp_path):
  """absl took the last --checkpoint silently, where main warns of its own flags."""
  run = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.interop.official', f'--checkpoint={tmp_path}/a',
       f'--checkpoint={tmp_path}/b', f'--logdir={tmp_path}/ours'],
      capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert run.returncode == 2 and run.stderr.splitlines() == [
      f"Warning: --checkpoint is given 2 times ('{tmp_path}/a', '{tmp_path}/b'); the last, "
      f"'{tmp_path}/b', is used",
      f'Config error: --checkpoint {tmp_path}/b does not exist'], run.stderr[-2000:]
  assert not (tmp_path / 'ours').exists()


def test_cli_a_tf_xla_flags_tensorflow_cannot_read_is_one_line(tmp_path):
  """TensorFlow ended the import inside its hidden import: exit code 1, no line."""
  # (a save: a --checkpoint of none is refused before TensorFlow's environment is checked)
  write_official(tmp_path / 'official', {'w': np.zeros(2, np.float32)})
  flags = [f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "ours"}',
           '--config=configs/dmc.py:train_eval,debug', '--config.task=dummy_cont']
  run = cli_zygote.run([sys.executable, '-m', 'dreamerv3_tf.interop.official', *flags],
                       capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env=dict(os.environ, TF_XLA_FLAGS='--tf_xla_nosuch=1'))
  assert run.returncode == 2 and run.stderr.splitlines() == [
      "Config error: TF_XLA_FLAGS='--tf_xla_nosuch=1': TensorFlow has no flag "
      '--tf_xla_nosuch=1; TensorFlow would stop the import as it loads'], run.stderr[-2000:]
  assert not (tmp_path / 'ours').exists()


def test_cli_sigterm_while_tensorflow_loads_is_one_line(tmp_path):
  # A traceback through TensorFlow's import before, and exit code 1.
  import signal
  import time
  # (a save: a --checkpoint of none is refused before TensorFlow loads)
  write_official(tmp_path / 'official', {'w': np.zeros(2, np.float32)})
  # A real start (TensorFlow loads in it), from a user's shell: the stop, deferred while
  # TensorFlow's code runs (stop_signals), comes once the import is done, whose lines the
  # command hides unless the user's TF_CPP_MIN_LOG_LEVEL shows them (the suite's shows errors).
  proc = subprocess.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.interop.official',
       f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "ours"}',
       '--config=configs/dmc.py:train_eval,debug', '--config.task=dummy_cont'],
      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env={k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'})
  try:
    deadline = time.monotonic() + 120
    while True:  # until TensorFlow's library is mapped: the import is under way
      with open(f'/proc/{proc.pid}/maps') as f:
        if 'libtensorflow' in f.read():
          break
      assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
      time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
  finally:
    proc.kill()
  assert proc.returncode == 143, stderr[-2000:]
  assert stderr.splitlines() == ['Terminated; the import did not finish and wrote nothing']
  assert not (tmp_path / 'ours').exists()


def test_cli_writes_a_logdir_that_export_reads(tmp_path):
  # An official-format checkpoint for the dummy task's agent (our own weights under
  # the official names), imported and exported with the two commands of the README.
  from dreamerv3_tf import factories
  from run_helpers import make_run_config
  config = make_run_config(tmp_path / 'unused', task='dummy_cont')
  env = factories.make_env(config)
  obs_space, act_space = base.agent_spaces(env.obs_space, env.act_space)
  agent = factories.make_agent(config, obs_space, act_space)
  params = official.official_layout(agent)
  params.update({k: np.array(0, np.int32) for k in official.STEP_COPIES})
  params['opt/step/value'] = np.array(0, np.int32)
  write_official(tmp_path / 'official', params)
  flags = ['--config=configs/dmc.py:train_eval,debug', '--config.task=dummy_cont',
           '--config.run.parallel=False', '--config.env.dummy.length=30']
  ours = tmp_path / 'our $run'  # the command of its last line, pasted, read '$run'
  run = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.interop.official',
       f'--checkpoint={tmp_path / "official"}', f'--logdir={ours}', *flags],
      capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  assert 'Imported' in run.stdout and 'at env step 100' in run.stdout
  # The command it names, as a shell splits it (no variable expanded: single quotes).
  assert run.stdout.splitlines()[-1] == (
      f"Next: python -m dreamerv3_tf.export --logdir='{ours}' --out=EXPORT_DIR")
  assert shlex.split(run.stdout.splitlines()[-1])[4] == f'--logdir={ours}'
  # Its stdout a pipe that nothing reads (`| true`): a traceback after the import.
  proc = cli_zygote.Popen(
      [sys.executable, '-m', 'dreamerv3_tf.interop.official',
       f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "piped"}', *flags],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
  proc.stdout.close()
  stderr = proc.stderr.read()
  assert proc.wait(timeout=300) == 1, stderr[-2000:]
  assert [x for x in stderr.splitlines() if not re.match(r'[IWEF]\d{4} ', x)] == [
      'Stopped: stdout is a pipe that nothing reads any more (the program after | ended); '
      f'the import in {tmp_path / "piped"} is written whole']
  assert (tmp_path / 'piped' / 'ckpt' / 'checkpoint').exists()
  # Its stdout on a full disk (`> log`): 'Error: [Errno 28] No space left on device'.
  if os.path.exists('/dev/full'):
    with open('/dev/full', 'w') as full:
      run = cli_zygote.run(
          [sys.executable, '-m', 'dreamerv3_tf.interop.official',
           f'--checkpoint={tmp_path / "official"}', f'--logdir={tmp_path / "full"}', *flags],
          stdout=full, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]
    assert [x for x in run.stderr.splitlines() if not re.match(r'[IWEF]\d{4} ', x)] == [
        'Stopped: cannot write to stdout (No space left on device); the import in '
        f'{tmp_path / "full"} is written whole']
    assert (tmp_path / 'full' / 'ckpt' / 'checkpoint').exists()
  # Under PYTHONIOENCODING=ascii an --out beyond ASCII was exported, and then its line
  # was a traceback, exit code 1 (UnicodeEncodeError: 'ascii' codec can't encode ...).
  run = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.export', f'--logdir={ours}',
       f'--out={tmp_path / "exporté"}'], capture_output=True, text=True, cwd=ROOT,
      timeout=300, env=dict(os.environ, PYTHONIOENCODING='ascii'))
  assert run.returncode == 0, run.stderr[-2000:]
  assert f'to {tmp_path}/export\\xe9 (signatures:' in run.stdout
  saved = export.SavedPolicy(str(tmp_path / 'exporté'))
  restored = factories.make_agent(config, obs_space, act_space)
  checkpointing.load_agent(restored, str(ours / 'ckpt'))
  for name, var in checkpointing._agent_variables(agent).items():
    if not name.endswith(('_calls', 'rng_seed')):
      np.testing.assert_array_equal(
          checkpointing._agent_variables(restored)[name].numpy(), var.numpy(), err_msg=name)
  obs = {k: np.zeros((1, *s.shape), s.dtype) for k, s in env.obs_space.items()}
  obs['is_first'][:] = True
  _, act, _ = saved.policy(saved.init_policy(1), obs, mode='eval')
  _, want, _ = restored.policy(restored.init_policy(1), obs, mode='eval')
  np.testing.assert_allclose(act['action'], want['action'], rtol=1e-5, atol=1e-6)


def test_official_config_sets_our_sizes_and_refuses_what_we_lack(golden):
  from configs import base
  from dreamerv3_tf.interop import official_config
  _, meta = golden
  config = base.get_config()
  changed = official_config.apply(meta['official'], config)
  rssm = meta['official']['agent']['dyn']['rssm']
  assert config.agent.rssm.deter == rssm['deter'] and config.agent.rssm.blocks == rssm['blocks']
  assert config.agent.enc.mults == tuple(meta['official']['agent']['enc']['simple']['mults'])
  assert config.agent.policy.unimix == 0.0 and f'agent.rssm.deter={rssm["deter"]}' in changed
  strided = json.loads(json.dumps(meta['official']))
  strided['agent']['dec']['simple']['strided'] = True
  with pytest.raises(official_config.OfficialConfigError) as error:
    official_config.apply(strided, base.get_config())
  assert str(error.value) == ('official agent.dec.simple.strided=True is not implemented '
                              'here (only False)')


@pytest.mark.parametrize('content, reason', [
    (b'\xff\xfe: x\n', 'not UTF-8'),
    (b'a: [1, 2\n', 'while parsing a flow sequence'),
    (b'a: !!python/object:os.system {}\n', 'could not determine a constructor'),
])
def test_an_official_config_yaml_that_is_no_yaml_is_named(tmp_path, content, reason):
  """A config.yaml cut short, edited or of another encoding: an 'unexpected'
  UnicodeDecodeError, ParserError or ConstructorError naming no file."""
  from dreamerv3_tf.interop import official_config
  path = tmp_path / 'config.yaml'
  path.write_bytes(content)
  with pytest.raises(official_config.OfficialConfigError, match=(
      f'^{path}: not a readable YAML file \\({reason}.*\\)$')):
    official_config.load_yaml(str(path))


@pytest.mark.parametrize('value', [float('inf'), float('-inf'), float('nan')])
def test_an_official_integer_setting_that_is_no_number_is_named(value):
  """deter: .inf in config.yaml: int() of it raised an 'unexpected' OverflowError (NaN:
  ValueError, named)."""
  from configs import base
  from dreamerv3_tf.interop import official_config
  with pytest.raises(official_config.OfficialConfigError) as error:
    official_config.apply({'agent': {'dyn': {'rssm': {'deter': value}}}}, base.get_config())
  assert str(error.value) == (
      f'official agent.rssm.deter={value!r} does not fit our int setting')


@pytest.mark.parametrize('logdir, where', [
    ('official/ckpt/x/ours', 'is inside'),  # written among its saves
    ('official/ckpt', 'is inside'),  # was refused once TensorFlow had loaded, exit code 1
    ('official', 'is'),  # as 'official/ckpt' (its 'ckpt exists and is not empty')
    ('.', 'holds')])  # written around it: {tmp_path}/ckpt, config.json beside official/
def test_cli_a_logdir_in_or_around_the_official_run_is_refused_before_tensorflow(
    tmp_path, logdir, where):
  """Every one but 'official' was written (exit code 0), 'official/ckpt/x' itself refused
  once TensorFlow had loaded with a line that said to run this very importer."""
  (tmp_path / 'official' / 'ckpt' / 'x').mkdir(parents=True)
  (tmp_path / 'official' / 'ckpt' / 'latest').write_text('x')
  (tmp_path / 'official' / 'ckpt' / 'x' / 'agent.pkl').write_bytes(b'')
  (tmp_path / 'official' / 'ckpt' / 'x' / 'done').write_bytes(b'')
  out = os.path.normpath(tmp_path / logdir)
  before = sorted(str(p) for p in tmp_path.rglob('*'))
  run = cli_zygote.run(
      [sys.executable, '-c', WITHOUT_TENSORFLOW, f'--checkpoint={tmp_path / "official"}',
       f'--logdir={out}', '--config=configs/dmc.py:train_eval,debug'],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  why = ('our files would lie around it, and it inside our logdir' if where == 'holds' else
         'our files would lie among its own')
  assert run.returncode == 2, run.stderr[-3000:]
  assert run.stderr.splitlines() == [
      f'Config error: --logdir {out} {where} the official run {tmp_path / "official"} that '
      f'--checkpoint reads: {why}; choose a --logdir outside it'], run.stderr[-3000:]
  assert sorted(str(p) for p in tmp_path.rglob('*')) == before


@pytest.mark.parametrize('link_to', ['official/ckpt', 'official/ckpt/x'])
def test_a_logdir_in_the_saves_is_refused_through_a_symlinked_checkpoint(tmp_path, link_to):
  """A --checkpoint symlinked to the run's ckpt/ or a save folder in it let a --logdir
  among its saves through (the run was looked for above the link, not the folder)."""
  (tmp_path / 'official' / 'ckpt' / 'x').mkdir(parents=True)
  (tmp_path / 'official' / 'ckpt' / 'latest').write_text('x')
  (tmp_path / 'official' / 'ckpt' / 'x' / 'agent.pkl').write_bytes(b'')
  (tmp_path / 'official' / 'ckpt' / 'x' / 'done').write_bytes(b'')
  (tmp_path / 'link').symlink_to(tmp_path / link_to)
  folder = official.find_folder(str(tmp_path / 'link'))
  out = tmp_path / 'official' / 'ckpt' / 'ours'
  assert official.logdir_nesting(str(out), folder) == (
      f'--logdir {out} is inside the official run {tmp_path / "official"} that --checkpoint '
      'reads: our files would lie among its own; choose a --logdir outside it')
  assert official.logdir_nesting(str(tmp_path / 'official' / 'ours'), folder) is None
