"""A user of the official DreamerV3 runs `python dreamerv3/main.py --configs crafter
size50m --run.train_ratio 32`. Here that was absl's "Unknown command line flag 'configs'.
Did you mean: config ?" (and 'run.train_ratio'), and `python dreamerv3_tf/main.py`
"No module named 'dreamerv3_tf'" where the package was not installed from this checkout;
`python -m dreamerv3_tf` was "No module named dreamerv3_tf.__main__"."""

import os
import subprocess
import sys

import pytest

from dreamerv3_tf import official_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = {'config', 'logdir', 'traceback', 'verbose', 'v', 'help'}
USE = "is the official DreamerV3's flag; here --config names a config file and its presets"


@pytest.mark.parametrize('args, line', [
    (['--configs', 'crafter', 'size50m', '--run.train_ratio', '32'],
     f'--configs crafter size50m {USE}: --config=configs/crafter.py:size50m'),
    (['--configs', 'dmc_vision', '--logdir', 'x'], f'--configs dmc_vision {USE}: '
     '--config=configs/dmc.py:vision'),
    (['--configs=atari100k,debug'], f'--configs=atari100k,debug {USE}: '
     '--config=configs/atari100k.py:debug'),
    (['--configs', 'crafter'], f'--configs crafter {USE}: --config=configs/crafter.py:train_eval'),
    (['--configs', 'minecraft'], f'--configs minecraft {USE}, e.g. '
     '--config=configs/dmc.py:train_eval (the files: atari, atari100k, crafter, dmc, gym; '
     'README lists the presets)'),
    (['--config=configs/dmc.py:debug', '--run.train_ratio', '32'],
     '--run.train_ratio is a config key, which takes --config. before it here: '
     '--config.run.train_ratio=32'),
    (['--config=configs/dmc.py:debug', '--seed=3'],
     '--seed is a config key, which takes --config. before it here: --config.seed=3'),
    (['--jax.platform', 'cpu'],
     "--jax.platform is the official DreamerV3's flag; TensorFlow here trains on a GPU or "
     'TPU it finds (--config.distribute for several), and CUDA_VISIBLE_DEVICES= (empty) '
     'keeps it on the CPU'),
    (['--jax.compute_dtype', 'float32'],
     "--jax.compute_dtype is the official DreamerV3's flag; here it is "
     '--config.compute_dtype=float32'),
    (['--jax.prealloc=False'], '--jax.prealloc is a JAX setting of the official DreamerV3, '
     'which has none here'),
    (['--config=configs/dmc.py:debug', '--task'],
     '--task is a config key, which takes --config. before it here: --config.task=VALUE'),
    # Options of the suites' envs that base lacks, or that ours lack: absl's "Unknown
    # command line flag 'env.atari.autostart'" (sweep 78).
    (['--config=configs/atari.py:debug', '--env.atari.autostart', 'True'],
     "--env.atari.autostart: atari tasks take it, but configs/base.py's env.atari lacks it, "
     'which a flag cannot add; set c.env.atari.autostart = VALUE in your own config file'),
    (['--config=configs/crafter.py:debug', '--env.crafter.logs=True'],
     '--env.crafter.logs: crafter tasks take no such option; they take size'),
])
def test_official_flags_name_ours(args, line):
  assert official_flags.refusal(['main', *args], OURS) == line


@pytest.mark.parametrize('args', [
    ['--config=configs/dmc.py:debug', '--config.seed=3', '--logdir=x', '-v', '1'],
    ['--config=configs/dmc.py:debug', '--nosuch=3'],  # absl's own line names it
    ['--config=configs/dmc.py:debug', '--', '--seed=3'],  # after '--': not flags
])
def test_our_flags_and_others_pass(args):
  assert official_flags.refusal(['main', *args], OURS) is None


@pytest.mark.parametrize('how', ['script', 'package'])
def test_the_official_way_to_start_runs_ours(tmp_path, how):
  """Outside the checkout, with no PYTHONPATH for the script: its own folder is all
  Python put on the path."""
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  if how == 'script':
    cmd = [sys.executable, os.path.join(ROOT, 'dreamerv3_tf', 'main.py')]
  else:
    cmd, env['PYTHONPATH'] = [sys.executable, '-m', 'dreamerv3_tf'], ROOT
  result = subprocess.run(
      [*cmd, '--configs', 'crafter', f'--logdir={tmp_path}/run'], cwd=tmp_path, env=env,
      capture_output=True, text=True, timeout=120)
  assert (result.returncode, result.stderr) == (
      2, f'Config error: --configs crafter {USE}: --config=configs/crafter.py:train_eval\n')
  assert not (tmp_path / 'run').exists()


def test_timestamp_in_the_logdir_is_the_time(tmp_path):
  """The official README's --logdir ~/logdir/dreamer/{timestamp} made a folder named
  '{timestamp}', which every later run resumed, where each run gets a new folder there."""
  import re
  import cli_zygote
  (tmp_path / 'file').touch()  # a logdir below a file: refused, naming the logdir
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:debug',
       f'--logdir={tmp_path}/file/{{timestamp}}'], cwd=ROOT, capture_output=True, text=True,
      timeout=120)
  assert result.returncode == 2
  assert re.fullmatch(
      rf'Config error: --logdir {tmp_path}/file/\d{{8}}T\d{{6}} is below {tmp_path}/file, '
      r'which is a file, not a directory\n', result.stderr), result.stderr
  # Each worker of a cluster would take its own start's time: another folder.
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:debug',
       f'--logdir={tmp_path}/{{timestamp}}', '--config.distribute=multi_worker'], cwd=ROOT,
      capture_output=True, text=True, timeout=120)
  assert (result.returncode, result.stderr) == (2, (
      f'Config error: --logdir {tmp_path}/{{timestamp}} holds {{timestamp}}, and with '
      'distribute=multi_worker every worker must name the same folder while each would '
      "take its own start's time; give the folder itself\n"))
  # So would they without --logdir: each process went on to its own ~/logdir/<time>.
  from dreamerv3_tf import distribute
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:debug',
       '--config.distribute=multi_worker'], cwd=ROOT, capture_output=True, text=True,
      timeout=120, env={**os.environ, 'HOME': str(tmp_path),
                        'TF_CONFIG': distribute.local_cluster(2)[0]})
  assert (result.returncode, result.stderr) == (2, (
      'Config error: no --logdir is given (the default is ~/logdir/<start time>), and with '
      'distribute=multi_worker every worker must name the same folder while each would '
      "take its own start's time; give the folder itself\n"))
  assert os.listdir(tmp_path) == ['file']
