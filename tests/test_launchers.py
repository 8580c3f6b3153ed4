"""launchers/*.sh: --help, --dry-run output, argument errors, and real runs against
fake gcloud / python / nvidia-smi programs (nothing leaves this machine)."""

import json
import os
import pathlib
import shlex
import shutil
import stat
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
LAUNCHERS = REPO / 'launchers'
SCRIPTS = ['tpu_vm.sh', 'gpu.sh', 'multi_worker.sh']


def _fake(bindir, name, body):
  path = bindir / name
  path.write_text('#!/usr/bin/env bash\n' + body)
  path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def env(tmp_path):
  """PATH with fakes: gcloud, python, python3 and pip record a call and fail, so a
  dry run that executes any of them is caught; nvidia-smi lists two GPUs."""
  bindir = tmp_path / 'bin'
  bindir.mkdir()
  calls = tmp_path / 'calls.txt'
  for name in ('gcloud', 'python', 'python3', 'pip'):
    _fake(bindir, name, f'echo "{name} $*" >> {calls}\nexit 97\n')
  _fake(bindir, 'nvidia-smi', 'printf "0\\n1\\n"\n')
  result = dict(os.environ)
  result['PATH'] = f'{bindir}:{result["PATH"]}'
  result['TMPDIR'] = str(tmp_path)
  result.pop('CUDA_VISIBLE_DEVICES', None)
  result.pop('PYTHON', None)
  return result, calls, bindir


def _run(script, *args, env):
  return subprocess.run(
      ['bash', str(LAUNCHERS / script), *args], env=env, capture_output=True,
      text=True, timeout=30)


def _commands(stdout):
  return [shlex.split(line[2:]) for line in stdout.splitlines() if line.startswith('+ ')]


def _dry(script, *args, env):
  env, calls, _ = env
  result = _run(script, '--dry-run', *args, env=env)
  assert result.returncode == 0, result.stderr
  assert not calls.exists(), f'dry run executed: {calls.read_text()}'
  return _commands(result.stdout), result


@pytest.mark.parametrize('script', SCRIPTS)
def test_syntax_and_help(script, env):
  subprocess.run(['bash', '-n', str(LAUNCHERS / script)], check=True)
  assert os.access(LAUNCHERS / script, os.X_OK), f'{script} is not executable'
  result = _run(script, '--help', env=env[0])
  assert result.returncode == 0
  assert result.stdout.startswith(f'Usage: {script}')
  assert '--dry-run' in result.stdout
  assert not env[1].exists()


TPU = ['--name', 'dreamer-1', '--zone', 'us-central2-b', '--accelerator', 'v4-8',
       '--version', 'tpu-ubuntu2204-base', '--bucket', 'gs://my-bucket/logdir']


def test_tpu_dry_run(env):
  cmds, _ = _dry(
      'tpu_vm.sh', *TPU, '--project', 'proj', '--', '--config.task=dmc_walker_walk',
      "--config.note=it's two words", env=env)
  gcloud = [c for c in cmds if c[0] == 'gcloud']
  create, scp, install, train, tail = gcloud
  assert create[:5] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'create']
  assert create[5] == 'dreamer-1'
  for flag in ('--zone=us-central2-b', '--project=proj', '--accelerator-type=v4-8',
               '--version=tpu-ubuntu2204-base'):
    assert flag in create
  assert scp[3:5] == ['tpu-vm', 'scp'] and '--worker=all' in scp
  assert scp[6] == 'dreamer-1:dreamerv3_tf.tar.gz'
  archive = next(c for c in cmds if c[0] == 'git')
  assert 'archive' in archive and scp[5] in archive[-2] and archive[-1] == 'HEAD'
  for ssh in (install, train, tail):
    assert ssh[3:6] == ['tpu-vm', 'ssh', 'dreamer-1'] and '--zone=us-central2-b' in ssh
  assert '--worker=all' in install and '--worker=all' in train and '--worker=0' in tail
  remote = lambda c: next(x for x in c if x.startswith('--command='))[len('--command='):]
  assert 'pip install -q -e .' in remote(install)
  assert 'tensorflow-tpu==' in remote(install)
  words = shlex.split(remote(train))
  main = words.index('dreamerv3_tf.main')
  assert 'nohup' in words and words[-1] == '&'
  assert '--config.distribute=tpu' in words
  assert '--logdir=gs://my-bucket/logdir' in words
  assert '--config=configs/dmc.py:train_eval,vision' in words
  assert "--config.note=it's two words" in words[main:]  # quoting survives two shells
  assert 'tail' in remote(tail) and '-f' in remote(tail)


def test_tpu_pins_tpu_wheel_to_project_tensorflow(env):
  cmds, _ = _dry('tpu_vm.sh', *TPU, env=env)
  pin = next(
      line.strip().strip('",') for line in (REPO / 'pyproject.toml').read_text().splitlines()
      if line.strip().startswith('"tensorflow=='))
  version = pin.split('==')[1]
  install = next(c for c in cmds if '--worker=all' in c and 'pip' in ' '.join(c))
  assert f'tensorflow-tpu=={version}' in ' '.join(install)


def test_tpu_delete_and_hint(env):
  cmds, result = _dry('tpu_vm.sh', *TPU, '--no-tail', env=env)
  assert 'tpu_vm.sh --name dreamer-1 --zone us-central2-b --delete' in result.stdout
  assert not any('tail' in ' '.join(c) for c in cmds)
  cmds, _ = _dry('tpu_vm.sh', '--name', 'dreamer-1', '--zone', 'us-central2-b',
                 '--delete', env=env)
  assert cmds == [['gcloud', 'compute', 'tpus', 'tpu-vm', 'delete', 'dreamer-1',
                   '--zone=us-central2-b', '--quiet']]


def test_tpu_tree_source_and_skip_create(env):
  cmds, _ = _dry('tpu_vm.sh', *TPU, '--source', 'tree', '--skip-create', env=env)
  assert not any('create' in c for c in cmds)
  tar = next(c for c in cmds if c[0] == 'tar')
  assert '--exclude=.git' in tar and tar[-1] == '.' and tar[-2] == str(REPO)


def test_tpu_real_run_calls_gcloud_as_printed(env, tmp_path):
  environ, calls, bindir = env
  _fake(bindir, 'gcloud', '[ "$1 $2 $3" != "config get-value project" ] || { echo p; exit; }\n'
        f'echo "gcloud $*" >> {calls}\n')  # succeeds this time, with a project set
  result = _run('tpu_vm.sh', *TPU, '--no-tail', env=environ)
  assert result.returncode == 0, result.stderr
  ran = calls.read_text().splitlines()
  printed = [' '.join(c) for c in _commands(result.stdout) if c[0] == 'gcloud']
  assert ran == printed and len(ran) == 4
  assert not list(tmp_path.glob('*.tar.gz'))  # the tarball was made and removed


@pytest.mark.parametrize('dry', [False, True], ids=['real', 'dry_run'])
def test_tpu_with_a_tmpdir_that_is_no_directory_stops_before_the_vm_is_created(
    env, tmp_path, dry):
  """The VM was created (it costs money while it exists), then git archive failed to
  write the tarball there ('could not create archive file'), and no line said to
  delete the VM."""
  environ, calls, bindir = env
  _fake(bindir, 'gcloud', '[ "$1 $2 $3" != "config get-value project" ] || { echo p; exit; }\n'
        f'echo "gcloud $*" >> {calls}\n')
  missing = tmp_path / 'gone'
  result = _run('tpu_vm.sh', *(['--dry-run'] if dry else []), *TPU, '--no-tail',
                env={**environ, 'TMPDIR': str(missing)})
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'tpu_vm.sh: error: TMPDIR={missing} is not a writable directory, and the code\'s '
      'tarball is written there before it is copied to the VM; set TMPDIR to one, or unset '
      'it for /tmp'], result.stderr
  assert result.stdout == '' and not calls.exists()


def test_gpu_dry_run_two_gpus(env):
  cmds, _ = _dry('gpu.sh', '--gpus', '0,1', '--logdir', '/tmp/run', '--',
                 '--config.task=dmc_cheetah_run', env=env)
  assert cmds[0] == ['cd', str(REPO)]
  main = cmds[-1]
  assert main[0] == 'env' and 'CUDA_VISIBLE_DEVICES=0,1' in main
  assert main[main.index('-m') + 1] == 'dreamerv3_tf.main'
  for flag in ('--config.distribute=mirrored', '--config.compute_dtype=bfloat16',
               '--logdir=/tmp/run', '--config=configs/dmc.py:train_eval,vision',
               '--config.task=dmc_cheetah_run'):
    assert flag in main


def test_every_preset_of_every_config_file_passes_the_check(env):
  """The launchers read the presets from the config file's text (a dry run runs no
  Python): a preset added to configs/presets.py alone must not be refused."""
  import importlib.util
  for path in sorted((REPO / 'configs').glob('*.py')):
    spec = importlib.util.spec_from_file_location(f'config_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if 'def get_config(arg' not in path.read_text():  # base.py, presets.py: no presets
      continue
    with pytest.raises(ValueError, match='choose from: ') as error:
      module.get_config('no_such_preset')
    # In groups that hold one preset of each kind (two of one kind are refused).
    groups = []
    for name in str(error.value).split('choose from: ')[1].split(', '):
      kind = next((k for k in (('train_eval', 'train', 'eval_only'), ('proprio', 'vision'))
                   if name in k), 'size' if name.startswith('size') else name)
      group = next((g for g in groups if kind not in g), None)
      if group is None:
        groups.append(group := {})
      group[kind] = name
    for group in groups:
      names = ','.join(group.values())
      cmds, _ = _dry('gpu.sh', '--gpus', '0', '--config', f'configs/{path.name}:{names}',
                     env=env)
      assert f'--config=configs/{path.name}:{names}' in cmds[-1]


def test_gpu_one_gpu_and_detection(env):
  cmds, _ = _dry('gpu.sh', '--gpus', '3', env=env)
  assert 'CUDA_VISIBLE_DEVICES=3' in cmds[-1]
  assert '--config.distribute=default' in cmds[-1]
  cmds, _ = _dry('gpu.sh', env=env)  # the fake nvidia-smi lists 0 and 1
  assert 'CUDA_VISIBLE_DEVICES=0,1' in cmds[-1]
  assert '--config.distribute=mirrored' in cmds[-1]


def test_gpu_real_run_executes_printed_command(env, tmp_path):
  environ, _, bindir = env
  record = tmp_path / 'record.json'
  _fake(bindir, 'fakepy', (
      'printf "%s\\n" "$CUDA_VISIBLE_DEVICES" "$PWD" "$@" > ' + str(record) + '\n'))
  environ = {**environ, 'PYTHON': 'fakepy'}
  result = _run('gpu.sh', '--gpus', '0,1', '--logdir', '/tmp/x y', env=environ)
  assert result.returncode == 0, result.stderr
  lines = record.read_text().splitlines()
  assert lines[:2] == ['0,1', str(REPO)]
  assert lines[2:] == _commands(result.stdout)[-1][4:]
  assert '--logdir=/tmp/x y' in lines


@pytest.mark.parametrize('script, args', [
    ('gpu.sh', ['--gpus', '0']), ('multi_worker.sh', ['--workers', 'a,b', '--index', '0'])])
def test_a_relative_logdir_is_the_callers_and_a_full_config_path_is_taken(
    script, args, env, tmp_path):
  """main runs from the repository root: `--logdir runs/a` given in another directory
  trained in <repo>/runs/a. A full --config path was refused as 'not found in <repo>'."""
  environ, calls, _ = env
  config = f'{REPO}/configs/dmc.py:train_eval,debug'
  result = subprocess.run(
      ['bash', str(LAUNCHERS / script), '--dry-run', *args, '--logdir', 'runs/a',
       '--config', config], env=environ, cwd=tmp_path, capture_output=True, text=True,
      timeout=30)
  assert result.returncode == 0, result.stderr
  assert not calls.exists()
  main = _commands(result.stdout)[-1]
  assert f'--logdir={tmp_path}/runs/a' in main and f'--config={config}' in main
  if script == 'multi_worker.sh':  # the other workers' command names the same directory
    assert f'--logdir {tmp_path}/runs/a' in result.stdout


@pytest.mark.parametrize('script, args', [
    ('gpu.sh', ['--gpus', '0']), ('multi_worker.sh', ['--workers', 'a,b', '--index', '0'])])
def test_relative_path_flags_after_the_dashes_are_the_callers(script, args, env, tmp_path):
  """`-- --config.run.from_checkpoint=runs/old/ckpt` given in another directory was
  looked for in <repo>/runs/old/ckpt, as --logdir was; remote and empty ones stay."""
  environ, calls, _ = env
  result = subprocess.run(
      ['bash', str(LAUNCHERS / script), '--dry-run', *args, '--logdir', '/tmp/x', '--',
       '--config.run.from_checkpoint=runs/old/ckpt', '--config.run.resume_from', './r/ckpt-2',
       '--config.seed=1', '--config.logdir=gs://b/run', '--config.run.from_checkpoint=',
       # main read it from <repo>: 'cannot read the flagfile' of a file that is here
       '--flagfile=exp.flags'],
      env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=30)
  assert result.returncode == 0, result.stderr
  assert not calls.exists()
  main = _commands(result.stdout)[-1]
  assert main[-7:] == [
      f'--config.run.from_checkpoint={tmp_path}/runs/old/ckpt', '--config.run.resume_from',
      f'{tmp_path}/r/ckpt-2', '--config.seed=1', '--config.logdir=gs://b/run',
      '--config.run.from_checkpoint=', f'--flagfile={tmp_path}/exp.flags'], main


@pytest.mark.parametrize('script, args', [
    ('gpu.sh', ['--gpus', '0']), ('multi_worker.sh', ['--workers', 'a,b', '--index', '0'])])
def test_a_relative_pythonpath_is_the_callers(script, args, env, tmp_path):
  """main runs from the repository root: PYTHONPATH=myenvs (a py_ task's module) named
  <repo>/myenvs, and the run said "env module 'corridor' not found: put the directory
  that holds it on PYTHONPATH". An empty entry is the working directory to Python."""
  environ, calls, _ = env
  for given, passed in (('myenvs::/abs', f'PYTHONPATH={tmp_path}/myenvs:{tmp_path}:/abs'),
                        ('/abs', None)):
    result = subprocess.run(
        ['bash', str(LAUNCHERS / script), '--dry-run', *args, '--logdir', '/tmp/x'],
        env={**environ, 'PYTHONPATH': given}, cwd=tmp_path, capture_output=True, text=True,
        timeout=30)
    assert result.returncode == 0, result.stderr
    main = _commands(result.stdout)[-1]
    assert [x for x in main if x.startswith('PYTHONPATH=')] == ([passed] if passed else [])
  assert not calls.exists()


def test_tpu_takes_a_config_of_the_checkout_by_any_path_and_says_why_it_refuses_others(
    env, tmp_path):
  """Only the checkout is copied to the VM. A config file outside it was refused as
  'not found in <repo>', though it exists; one of the checkout given by its full path
  (or from the caller's directory) is its path in the checkout, where main runs."""
  environ, calls, _ = env
  mine = tmp_path / 'my.py'
  mine.write_text((REPO / 'configs' / 'gym.py').read_text())
  tpu = ['bash', str(LAUNCHERS / 'tpu_vm.sh'), '--dry-run', *TPU, '--config']
  result = subprocess.run([*tpu, f'{mine}:train'], env=environ, capture_output=True,
                          text=True, timeout=30)
  assert result.returncode == 2 and result.stderr == (
      f"tpu_vm.sh: error: --config file '{mine}' is outside the checkout {REPO}, and only "
      'the checkout is copied to the TPU VM; put it in the checkout (e.g. configs/) and '
      'name it from there\n'), result.stderr
  result = subprocess.run([*tpu, str(tmp_path / 'none.py')], env=environ,
                          capture_output=True, text=True, timeout=30)
  assert result.stderr == f"tpu_vm.sh: error: --config file '{tmp_path}/none.py' not found\n"
  for spec, cwd in ((f'{REPO}/configs/gym.py:train_eval,debug', tmp_path),
                    ('gym.py:train_eval,debug', REPO / 'configs')):
    result = subprocess.run([*tpu, spec], env=environ, cwd=cwd, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert ' --config=configs/gym.py:train_eval,debug ' in _commands(result.stdout)[-2][-1]
  assert not calls.exists()


def test_tpu_refuses_a_config_file_that_git_would_not_copy(env, tmp_path):
  """--source git (the default in a checkout) copies HEAD: a config file of one's own
  not yet committed was not on the VM, and main stopped there after the VM was created
  and set up. A checkout of its own: the launchers, pyproject.toml and two configs."""
  import shutil
  environ, calls, _ = env
  repo = tmp_path / 'repo'
  shutil.copytree(LAUNCHERS, repo / 'launchers')
  shutil.copy(REPO / 'pyproject.toml', repo)
  (repo / 'configs').mkdir()
  for name in ('committed.py', 'mine.py'):
    (repo / 'configs' / name).write_text('def get_config(arg):\n  pass\n')
  git = ['git', '-C', str(repo), '-c', 'user.name=t', '-c', 'user.email=t@t']
  subprocess.run([*git, 'init', '-q'], check=True)
  subprocess.run([*git, 'add', 'launchers', 'pyproject.toml', 'configs/committed.py'],
                 check=True)
  subprocess.run([*git, 'commit', '-q', '-m', 'x'], check=True)
  tpu = ['bash', str(repo / 'launchers' / 'tpu_vm.sh'), '--dry-run', *TPU, '--config']
  result = subprocess.run([*tpu, 'configs/mine.py'], env=environ, capture_output=True,
                          text=True, timeout=30)
  assert result.returncode == 2 and result.stderr == (
      "tpu_vm.sh: error: --config file 'configs/mine.py' is not committed, and --source git "
      'copies the files of HEAD only; commit it, or pass --source tree\n'), result.stderr
  for args in (['configs/committed.py'], ['configs/mine.py', '--source', 'tree']):
    result = subprocess.run([*tpu, *args], env=environ, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
  assert not calls.exists()


def test_multi_worker_tf_config(env):
  cmds, result = _dry('multi_worker.sh', '--workers', 'host1,host2:2222,host3',
                      '--index', '1', '--port', '4000', '--logdir', 'gs://b/run',
                      '--', '--config.task=dmc_cheetah_run', env=env)
  main = cmds[-1]
  tf_config = json.loads(next(x for x in main if x.startswith('TF_CONFIG='))[10:])
  assert tf_config == {
      'cluster': {'worker': ['host1:4000', 'host2:2222', 'host3:4000']},
      'task': {'type': 'worker', 'index': 1}}
  assert '--config.distribute=multi_worker' in main and '--logdir=gs://b/run' in main
  # The printed commands for the other workers differ only in --index.
  others = [shlex.split(line.split('$ ', 1)[1]) for line in result.stdout.splitlines()
            if line.startswith('  host')]
  assert [o[o.index('--index') + 1] for o in others] == ['0', '2']
  assert all(o[-1] == '--config.task=dmc_cheetah_run' for o in others)
  for other in others:  # and each of them, run dry, yields its own TF_CONFIG
    cmds, _ = _dry('multi_worker.sh', *other[1:], env=env)
    index = json.loads(next(x for x in cmds[-1] if x.startswith('TF_CONFIG='))[10:])
    assert index['task']['index'] == int(other[other.index('--index') + 1])
    assert index['cluster'] == tf_config['cluster']


def test_multi_worker_index_with_a_leading_zero_is_a_json_number(env):
  """--index 01 went into TF_CONFIG as `"index": 01`, which is not JSON."""
  cmds, result = _dry('multi_worker.sh', '--workers', 'a,b', '--index', '01',
                      '--logdir', 'x', env=env)
  tf_config = json.loads(next(x for x in cmds[-1] if x.startswith('TF_CONFIG='))[10:])
  assert tf_config['task'] == {'type': 'worker', 'index': 1}
  assert result.stdout.startswith('Worker 1 of 2 (b:12345).')


BAD = [
    ('tpu_vm.sh', ['--zone', 'z', '--bucket', 'gs://bkt/x'], '--name is required'),
    ('tpu_vm.sh', ['--name', 'Bad_Name', '--zone', 'z', '--bucket', 'gs://bkt/x'], '--name'),
    ('tpu_vm.sh', ['--name', 'abc-', '--zone', 'z', '--bucket', 'gs://bkt/x'],
     'not ending with a hyphen'),
    ('tpu_vm.sh', ['--name', 'a' * 64, '--zone', 'z', '--bucket', 'gs://bkt/x'],
     '--name must be 1 to 63 lowercase letters'),
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', '/local/dir'], 'gs://'),
    # 'must be a gs:// path such as gs://my-bucket/run1' for a gs:// path whose bucket
    # name Cloud Storage refuses (too short, capitals).
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://b/x'],
     "--bucket gs://b/x: 'b' is no Cloud Storage bucket name (3 to 63 lowercase"),
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://My-Bucket/run'],
     "'My-Bucket' is no Cloud Storage bucket name"),
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x', '--config',
                   'configs/nope.py:train'], 'nope.py'),
    ('tpu_vm.sh', ['--name', 'a', '--zone'], '--zone needs a value'),
    ('tpu_vm.sh', ['--frobnicate'], "unknown argument '--frobnicate'"),
    ('gpu.sh', ['--gpus', 'zero'], '--gpus'),
    ('gpu.sh', ['--gpus', '0', '--dtype', 'int8'], '--dtype'),
    ('gpu.sh', ['--gpus', '0', 'stray'], "unknown argument 'stray'"),
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '2', '--logdir', 'x'], 'out of range'),
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '-1', '--logdir', 'x'], '--index'),
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '0'], '--logdir is required'),
    ('multi_worker.sh', ['--workers', 'a b', '--index', '0', '--logdir', 'x'], 'bad host'),
    ('multi_worker.sh', ['--workers', 'a,a', '--index', '0', '--logdir', 'x'], 'twice'),
    ('multi_worker.sh', ['--workers', 'a', '--index', '0', '--logdir', 'x',
                         '--port', '99999'], '--port'),
    # An option without its value took the next option as the value: gpu.sh ran with a
    # logdir named --install, tpu_vm.sh blamed the bucket ("unknown argument").
    ('gpu.sh', ['--gpus', '0', '--logdir', '--install'],
     '--logdir needs a value (got the option --install)'),
    ('tpu_vm.sh', ['--name', 'a', '--zone', '--bucket', 'gs://bkt/x'],
     '--zone needs a value (got the option --bucket)'),
    ('multi_worker.sh', ['--workers', '--index', '0', '--logdir', 'x'],
     '--workers needs a value (got the option --index)'),
    # Bash's own error line (08 is no octal number) came before a wrong 'out of range'.
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '08', '--logdir', 'x'],
     '--index 8 is out of range for 2 worker(s)'),
    # A cluster of one worker (read drops the last empty field), and ports --port refuses.
    ('multi_worker.sh', ['--workers', 'a,', '--index', '0', '--logdir', 'x'],
     '--workers ends with a comma'),
    ('multi_worker.sh', ['--workers', 'a:99999', '--index', '0', '--logdir', 'x'],
     "--workers has a bad port in 'a:99999'; ports are 1 to 65535"),
    # Bash's arithmetic wraps past 2**63: this --index ran as worker 0 (the chief), these
    # ports as port 1, and this GPU was 'GPU 0 twice'.
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '18446744073709551616', '--logdir', 'x'],
     '--index 18446744073709551616 is out of range for 2 worker(s)'),
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '0', '--logdir', 'x', '--port',
                         '18446744073709551617'], '--port must be a number from 1 to 65535'),
    ('multi_worker.sh', ['--workers', 'a:18446744073709551617', '--index', '0', '--logdir', 'x'],
     "--workers has a bad port in 'a:18446744073709551617'"),
    ('gpu.sh', ['--gpus', '18446744073709551616,0'],
     "--gpus lists '18446744073709551616', which is no GPU index"),
    # Two spellings of one port were two workers on one address.
    ('multi_worker.sh', ['--workers', 'a:012345,a', '--index', '0', '--logdir', 'x'],
     '--workers lists a:12345 twice'),
    # main refused it once started (on every host); a dry run printed it as fine.
    ('gpu.sh', ['--gpus', '0', '--logdir', '/dev/null'], '--logdir /dev/null is a file, not a '
     'directory'),
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '0', '--logdir', '/dev/null'],
     '--logdir /dev/null is a file, not a directory'),
    # A GPU listed twice ran 'mirrored' over 2 replicas of one device.
    ('gpu.sh', ['--gpus', '0,1,0'], '--gpus lists GPU 0 twice'),
    # A preset the config file does not have failed only in main: tpu_vm.sh had created
    # the VM and installed the code on every worker by then.
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x', '--config',
                   'configs/dmc.py:train_eval,visoin'],
     "--config configs/dmc.py has no preset 'visoin'"),
    ('gpu.sh', ['--gpus', '0', '--config', 'configs/gym.py:size5m'],
     "--config configs/gym.py has no preset 'size5m'"),
    # main refuses a second --config: on the VM, after it was created and set up.
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x', '--',
                   '--config=configs/gym.py:train'],
     "--config=configs/gym.py:train after -- would be main's second --config, which it "
     "refuses; give it before --, as this launcher's --config"),
    ('gpu.sh', ['--gpus', '0', '--', '--config', 'configs/gym.py:train'],
     "--config after -- would be main's second --config"),
    ('multi_worker.sh', ['--workers', 'a', '--index', '0', '--logdir', 'x', '--',
                         '-config=configs/gym.py'], "-config=configs/gym.py after --"),
    # Two of one kind, which main refuses: on the VM, after it was created and set up.
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x', '--config',
                   'configs/dmc.py:train, eval_only'],
     "--config configs/dmc.py: presets 'train' and 'eval_only' both set the script, and only "
     'the last would count; give one'),
    ('gpu.sh', ['--gpus', '0', '--config', 'configs/dmc.py:size1m,vision,size12m'],
     "presets 'size1m' and 'size12m' both set the model size"),
    ('multi_worker.sh', ['--workers', 'a', '--index', '0', '--logdir', 'x', '--config',
                         'configs/dmc.py:vision,proprio'],
     "presets 'vision' and 'proprio' both set the observations"),
    # main refused it only on the VM, after tpu_vm.sh had created it and installed the code.
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x\ny'],
     '--bucket holds a line break; give one value on one line'),
    ('gpu.sh', ['--gpus', '0', '--logdir=/tmp/a\nb'], '--logdir holds a line break'),
    # main's own flags after --: it printed every step, the VM's creation first, with exit 0.
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x', '--',
                   '--config.task=a\nb'],
     "the argument '--config.task=a...' after -- holds a line break; give one value on one "
     'line'),
    ('gpu.sh', ['--gpus', '0', '--', '--config.seed=1', '--config.task=a\nb'],
     "the argument '--config.task=a...' after -- holds a line break"),
    # Not on the VM: main stopped there, after the VM was created and set up.
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x', '--',
                   '--config.run.from_checkpoint=runs/a/ckpt'],
     '--config.run.from_checkpoint=runs/a/ckpt names a local path, which the TPU VM cannot '
     'read (only the checkout is copied to it); put it on Cloud Storage and pass its gs:// '
     'path'),
    ('tpu_vm.sh', ['--name', 'a', '--zone', 'z', '--bucket', 'gs://bkt/x', '--',
                   '--config.run.resume_from', '/home/me/ckpt-3'],
     '--config.run.resume_from=/home/me/ckpt-3 names a local path'),
]


@pytest.mark.parametrize('script, args', [
    ('multi_worker.sh', ['--workers', 'a,b', '--logdir', 'x']),
    ('gpu.sh', ['--gpus', '0', '--logdir', 'x']),
])
def test_an_option_given_twice_with_other_values_is_a_warning_line(script, args, env):
  """The last was taken without a word: a host of a cluster given --index 0 and --index 1
  (a command edited by hand) ran as worker 1, as its other host did. As in main: the
  last is used, with a warning line naming both."""
  twice = ['--index', '0', '--index=1'] if script == 'multi_worker.sh' else [
      '--dtype', 'float32', '--dtype', 'float16']
  last = twice[-1].split('=')[-1]
  cmds, result = _dry(script, *args, *twice, env=env)
  first = twice[1]
  assert [x for x in result.stderr.splitlines() if 'Warning' in x] == [
      f"{script}: Warning: {twice[0]} is given twice ('{first}', then '{last}'); the last, "
      f"'{last}', is used"], result.stderr
  assert 'index": 1' in ' '.join(cmds[-1]) or f'--config.compute_dtype={last}' in cmds[-1]
  _, result = _dry(script, *args, *twice[:2], *twice[:2], env=env)  # the same value: fine
  assert 'Warning' not in result.stderr


def test_an_option_given_three_times_is_one_warning_line_with_its_values(env):
  """Each value after the first was a line 'given twice (previous, then this)'."""
  _, result = _dry('multi_worker.sh', '--workers', 'a,b', '--logdir', 'x', '--index', '0',
                   '--index=1', '--index', '1', '--logdir', 'y', env=env)
  assert [x for x in result.stderr.splitlines() if 'Warning' in x] == [
      "multi_worker.sh: Warning: --logdir is given twice ('x', then 'y'); the last, 'y', is "
      'used',
      "multi_worker.sh: Warning: --index is given 3 times ('0', '1', '1'); the last, '1', is "
      'used'], result.stderr


@pytest.mark.parametrize('script,args,message', BAD)
def test_bad_arguments(script, args, message, env):
  environ, calls, _ = env
  result = _run(script, '--dry-run', *args, env=environ)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f'{script}: error:'), result.stderr
  assert message in lines[0]
  assert not result.stdout.startswith('+') and not calls.exists()


@pytest.mark.parametrize('value, line', [
    ('-1', "CUDA_VISIBLE_DEVICES (the default of --gpus) must be comma-separated GPU indices "
     "such as 0,1 (got '-1'); pass --gpus"),
    ('GPU-8932f937-d72c', "CUDA_VISIBLE_DEVICES (the default of --gpus) must be "
     "comma-separated GPU indices such as 0,1 (got 'GPU-8932f937-d72c'); pass --gpus"),
    ('1,01', "CUDA_VISIBLE_DEVICES (the default of --gpus) lists GPU 1 twice (got '1,01'); "
     'name each GPU once'),
    # nvidia-smi's list was taken, every GPU the user had hidden used, without a word.
    ('', "CUDA_VISIBLE_DEVICES is set but empty, which hides every GPU from CUDA; pass "
     "--gpus, or unset it to use nvidia-smi's list"),
])
def test_a_cuda_visible_devices_it_cannot_take_is_named_not_gpus(env, value, line):
  """Its lines named --gpus, a flag not given (CUDA also takes UUIDs in the variable)."""
  environ, calls, _ = env
  result = _run('gpu.sh', '--dry-run', '--logdir', '/tmp/run',
                env={**environ, 'CUDA_VISIBLE_DEVICES': value})
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'gpu.sh: error: {line}'], result.stderr
  assert not calls.exists()


@pytest.mark.parametrize('home', [None, ''], ids=['unset', 'empty'])
def test_gpu_without_home_asks_for_a_logdir(env, home):
  """Unset, it was bash's 'line 93: HOME: unbound variable'; empty, the run went to
  /logdir at the file system's root."""
  environ, calls, _ = env
  environ = {k: v for k, v in environ.items() if k != 'HOME'}
  if home is not None:
    environ['HOME'] = home
  result = _run('gpu.sh', '--dry-run', '--gpus', '0', env=environ)
  assert result.returncode == 2 and not calls.exists()
  assert result.stderr.splitlines() == [
      'gpu.sh: error: HOME is not set, so the default --logdir ~/logdir/... names no '
      'directory; pass --logdir']
  assert _dry('gpu.sh', '--gpus', '0', '--logdir', '/tmp/run', env=(environ, calls, None))


def test_gpu_without_nvidia_smi_asks_for_gpus(env, tmp_path):
  environ, _, bindir = env
  (bindir / 'nvidia-smi').unlink()
  environ = {**environ, 'PATH': f'{bindir}:/usr/bin:/bin'}
  if subprocess.run(['bash', '-c', 'command -v nvidia-smi'], env=environ,
                    capture_output=True).returncode == 0:
    pytest.skip('this machine has a real nvidia-smi')
  result = _run('gpu.sh', '--dry-run', env=environ)
  assert result.returncode == 2 and 'pass --gpus' in result.stderr


def test_gpu_with_an_nvidia_smi_that_fails_names_it(env):
  """Without a driver (or a GPU) nvidia-smi exits 9 with its message on stdout: gpu.sh
  ended with exit code 9 and no line."""
  environ, calls, bindir = env
  _fake(bindir, 'nvidia-smi', "echo \"NVIDIA-SMI has failed because it couldn't communicate "
        'with the NVIDIA driver."\nexit 9\n')
  result = _run('gpu.sh', '--dry-run', env=environ)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      "gpu.sh: error: nvidia-smi failed (NVIDIA-SMI has failed because it couldn't "
      'communicate with the NVIDIA driver.); pass --gpus, or check the GPU driver']
  assert result.stdout == '' and not calls.exists()


def test_a_config_file_in_a_folder_with_a_colon_is_found_and_its_presets_checked(env, tmp_path):
  """--config was cut at its first colon: "--config file '.../a' not found", where main
  loads such a file (its split_config)."""
  path = tmp_path / 'a:b' / 'cfg.py'
  path.parent.mkdir()
  shutil.copy(REPO / 'configs' / 'dmc.py', path)
  cmds, _ = _dry('gpu.sh', '--gpus', '0', '--config', f'{path}:train_eval,debug',
                 '--logdir', str(tmp_path / 'run'), env=env)
  assert f'--config={path}:train_eval,debug' in cmds[-1]
  result = _run('gpu.sh', '--dry-run', '--gpus', '0', '--config', f'{path}:bogus', env=env[0])
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f"gpu.sh: error: --config {path} has no preset 'bogus' (see its get_config and "
      'configs/presets.py)']


@pytest.mark.parametrize('gcloud, message', [
    (None, 'gcloud not found; install the Google Cloud CLI '
     '(https://cloud.google.com/sdk/docs/install)'),
    ('exit 0\n', "no Google Cloud project: pass --project, or set one with 'gcloud config set "
     "project PROJECT'"),
])
@pytest.mark.parametrize('delete', [False, True])
def test_tpu_without_gcloud_or_a_project_is_one_line(env, gcloud, message, delete):
  """gcloud's create (or delete) failed in 6 lines ('Failed to find attribute
  [project]'); without gcloud, bash's 'command not found' after the step's heading."""
  environ, calls, bindir = env
  (bindir / 'gcloud').unlink()
  if gcloud:
    _fake(bindir, 'gcloud', gcloud)
  else:  # PATH: the fakes and the system's programs, but a gcloud it may have
    system = bindir.parent / 'system'
    system.mkdir()
    for name in os.listdir('/usr/bin'):
      if name != 'gcloud':
        (system / name).symlink_to(os.path.join('/usr/bin', name))
    environ = {**environ, 'PATH': f'{bindir}:{system}'}
  args = ['--name', 'a', '--zone', 'z', *(['--delete'] if delete else ['--bucket', 'gs://bkt/x'])]
  result = _run('tpu_vm.sh', *args, env=environ)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'tpu_vm.sh: error: {message}'], result.stderr
  assert result.stdout == ''


@pytest.mark.parametrize('script, args', [
    ('gpu.sh', ['--gpus', '0']),
    ('multi_worker.sh', ['--workers', 'a,b', '--index', '0']),
])
def test_a_python_that_is_no_program_is_one_line(script, args, env, tmp_path):
  """The command was printed, then env's "'python3.99': No such file or directory",
  exit 127."""
  environ, calls, _ = env
  result = _run(script, *args, '--logdir', str(tmp_path / 'run'),
                env={**environ, 'PYTHON': 'python3.99'})
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f"{script}: error: PYTHON 'python3.99' names no program on PATH; set PYTHON to the "
      "interpreter that has dreamerv3_tf's requirements installed"], result.stderr
  assert result.stdout == '' and not calls.exists()
