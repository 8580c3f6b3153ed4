import json
import os
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import cli_zygote
import tmpfs_namespace
from configs import atari, atari100k, crafter, dmc, gym
from dreamerv3_tf import cluster_config
from dreamerv3_tf import config_memory
from dreamerv3_tf import config_warnings
from dreamerv3_tf import configuration
from dreamerv3_tf import factories
from dreamerv3_tf import logdir_checks
from dreamerv3_tf import run_files
from dreamerv3_tf.core import checkpoint_paths
from dreamerv3_tf.core import cpuinfo
from dreamerv3_tf.core import errors
from dreamerv3_tf.core import flag_lines
from dreamerv3_tf.core import path_lines

ROOT = __file__.rsplit('/tests/', 1)[0]


def run_main(*args):
  return cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', *args], cwd=ROOT,
      capture_output=True, text=True, timeout=120)


def test_warnings_made_errors_leave_the_config_file_loading_alone(tmp_path):
  """PYTHONWARNINGS=error made ml_collections' own DeprecationWarning (its loader calls
  importlib's load_module) 'Config error: the load_module() method is deprecated ...'
  for every config file; the config's own problem is named now."""
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       '--config.seed=-1', f'--logdir={tmp_path}/run'], cwd=ROOT,
      env=dict(os.environ, PYTHONWARNINGS='error'), capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.splitlines() == ['Config error: seed=-1 must be >= 0'], result.stderr


@pytest.mark.parametrize('args, variable, asked', [
    (['--config.run.stepz=1', '--traceback'], '', True),
    (['--config.run.steps=abc', '--traceback'], '', True),
    (['--config.run.stepz=1'], '1', True),
    (['--traceback', '--config.run.stepz=1', '--notraceback'], '', False),
    (['--config.run.stepz=1', '--traceback=false'], '', False),
    (['--config.run.stepz=1'], '', False)])
def test_a_flag_error_shows_its_traceback_when_asked(tmp_path, args, variable, asked):
  """--traceback (or its variable) printed nothing more for an error of the flags'
  parse, an unknown key or a value of the wrong type, as it does for every later error:
  absl sets the flag only once the flags parsed."""
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:debug',
       f'--logdir={tmp_path}/run', *args], cwd=ROOT, capture_output=True, text=True,
      env=dict(os.environ, **{errors.TRACEBACK_ENV: variable}), timeout=120)
  assert result.returncode == 2
  assert result.stderr.splitlines()[-1].startswith('Config error: '), result.stderr
  assert ('Traceback (most recent call last)' in result.stderr) == asked, result.stderr
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('module', [dmc, gym, atari, atari100k, crafter])
def test_every_suite_config_is_valid(module):
  for presets in ('', 'train_eval', 'train', 'eval_only', 'debug', 'train_eval,debug'):
    configuration.finalize(module.get_config(presets))


def test_every_config_the_readme_names_is_valid():
  """The README's commands (`--config=configs/<suite>.py:<presets>`) build and finalize."""
  import importlib
  import re
  text = open(os.path.join(ROOT, 'README.md')).read()
  found = set(re.findall(r'--config=configs/(\w+)\.py:([\w,]+)', text))
  assert ('gym', 'train_eval,quick') in found and ('dmc', 'train_eval,quick') in found
  for suite, presets in sorted(found):
    config = importlib.import_module(f'configs.{suite}').get_config(presets)
    configuration.finalize(config)
  quick = gym.get_config('train_eval,quick')
  assert quick.task == 'gym_CartPole-v1' and quick.run.clock == 'steps'


def test_presets_apply_in_order():
  c = dmc.get_config('train_eval,vision,size1m')
  assert c.script == 'train_eval'
  assert c.env.dmc.image and not c.env.dmc.proprio
  assert c.agent.rssm.deter == 512 and c.agent.enc.depth == 4
  assert dmc.get_config('cpu').run.train_ratio == 128


def test_eval_replay_is_a_tenth_of_train():
  c = configuration.finalize(dmc.get_config('train_eval'))
  assert factories.replay_capacity(c, 'eval') == c.replay.size // 10
  assert 'eval_size' not in c.replay  # derived where the replay is made, never set


@pytest.mark.parametrize('script', ['train_eval', 'train'])
def test_a_replay_too_small_for_its_envs_is_named(script):
  """The replay keeps the last replay.size steps of all envs, which step in turn, and a
  sequence takes consecutive steps of one env: replay.size=64 with run.envs=8 and
  9-step sequences trained 0 updates to the run's end, and an eval replay of 20 steps
  with 5 eval envs ran no eval report, both without a word (run through the CLI).
  Training waits for batch_size x batch_length sequences: replay.size=40 with 2 envs
  held 24 of the 32 and trained 0 updates too."""
  c = dmc.get_config(f'{script},debug')  # batch 4 x 8, report_length 4, context 1
  c.run.envs, c.replay.size = 8, 64
  with pytest.raises(configuration.ConfigError, match=re.escape(
      'replay.size=64 is too small for run.envs=8: training starts once the replay holds 32 '
      'sequences (batch_size 4 x batch_length 8), each 9 steps of one env (batch_length 8 + '
      'replay_context 1), and with the envs stepping in turn it holds at most replay.size - '
      'run.envs x 8 = 0 of them, so the run would never train; give replay.size >= 96 or '
      'fewer run.envs')):
    configuration.finalize(c)
  c.replay.size = 96  # the least that holds 32 sequences (core/replay.py; checked there)
  configuration.finalize(c)
  c = dmc.get_config(f'{script},debug')
  c.replay.size, c.replay.eval_fraction, c.replay.chunksize = 47, 1.0, 16
  held = re.escape('holds at most replay.size - run.envs x 8 = 31 of them, so the run would '
                   'never train; give replay.size >= 48 or fewer run.envs')
  with pytest.raises(configuration.ConfigError, match=held):
    configuration.finalize(c)
  c.replay.size = 48
  configuration.finalize(c)
  c = dmc.get_config('eval_only,debug')  # it keeps no replay
  c.run.envs, c.replay.size = 8, 64
  configuration.finalize(c)
  c = dmc.get_config(f'{script},debug')
  c.run.eval_envs, c.replay.size = 5, 200
  if script == 'train':  # no eval envs, no eval replay
    configuration.finalize(c)
    return
  with pytest.raises(configuration.ConfigError, match=re.escape(
      'eval replay capacity 20 (replay.size x eval_fraction) is too small for '
      'run.eval_envs=5: it keeps about 4 steps of each eval env, and a report sequence '
      'takes 5 of one env (report_length 4 + replay_context 1), so no eval report would '
      'ever run; give a capacity >= 21 or fewer run.eval_envs')):
    configuration.finalize(c)
  c.replay.size = 210
  configuration.finalize(c)


def test_the_least_replay_for_its_envs_holds_the_sequences_training_waits_for():
  """The bounds above are the replay's own: one step fewer holds one sequence fewer."""
  import numpy as np
  from dreamerv3_tf.core import replay
  cases = ((8, 9, 1, 64), (5, 5, 1, 64), (2, 3, 1, 64), (8, 9, 32, 64), (2, 9, 32, 16),
           (3, 9, 32, 5))
  for envs, length, wait, chunksize in cases:
    least = envs * (length - 1) + wait
    for capacity, held in ((least, True), (least - 1, False)):
      r = replay.Replay(length, capacity, chunksize=chunksize)
      for t in range(4 * capacity // envs + length):
        for worker in range(envs):  # in turn, as the driver steps them
          r.add({'x': np.zeros(2, np.float32), 'is_first': np.bool_(t == 0)}, worker)
      assert (r.items >= wait) == held, (envs, length, wait, capacity)


def test_impossible_combinations_are_named():
  c = dmc.get_config('debug')
  c.replay.size = 10
  with pytest.raises(configuration.ConfigError, match='replay.size=10 is smaller than one batch'):
    configuration.finalize(c)
  c = dmc.get_config('debug')
  c.replay.eval_fraction = 1e-4
  with pytest.raises(configuration.ConfigError, match='eval replay capacity 1 '):
    configuration.finalize(c)
  c = dmc.get_config('debug')
  c.task = 'nosuite_x'
  with pytest.raises(configuration.ConfigError, match="task='nosuite_x'; expected <suite>_<name> "
                     r"with suite one of \('dmc', .*\)$"):
    configuration.finalize(c)
  c = dmc.get_config('debug')
  c.run.max_nonfinite_updates = -1
  with pytest.raises(configuration.ConfigError, match='run.max_nonfinite_updates=-1 must be >= 0'):
    configuration.finalize(c)
  # multi_worker: every worker must make the same number of updates.
  c = dmc.get_config('debug')
  c.distribute, c.run.duration = 'multi_worker', 60
  with pytest.raises(configuration.ConfigError, match='run.duration=60 cannot stop'):
    configuration.finalize(c)
  c = dmc.get_config('eval_only,debug')
  c.distribute = 'multi_worker'
  with pytest.raises(configuration.ConfigError, match='script=eval_only trains nothing'):
    configuration.finalize(c)
  # A random agent made no strategy: each process ran a random run of its own, unchecked
  # against the others (flags, env spaces, the run each sees) and never meeting them.
  c = dmc.get_config('debug')
  c.distribute, c.random_agent = 'multi_worker', True
  line = ("random_agent=True with distribute='multi_worker': a random agent trains nothing "
          'for the processes to share (each would make a random run of its own, checked '
          "against none of the others); run it with distribute='default'")
  with pytest.raises(configuration.ConfigError, match=f'^{re.escape(line)}$'):
    configuration.finalize(c)


@pytest.mark.parametrize('changes, message', [
    # Each of these passed the checks and failed later, after the logdir was written.
    (dict(batch_length=1), 'batch_length=1 must be >= 2 with agent.repval_loss=True'),
    (dict(report_length=1), 'report_length=1 must be >= 2 with agent.repval_loss=True'),
    (dict(report_length=9), 'report_length=9 must be <= batch_length=8'),
    (dict(seed=-1), 'seed=-1 must be >= 0'),
    (dict(seed=10 ** 20), r'seed=100000000000000000000 must be < 2\*\*60'),  # 'unexpected'
    ({'agent.rssm.blocks': 0}, r'agent.rssm.blocks=0 must be >= 1'),
    ({'agent.rssm.classes': 0}, r'agent.rssm.classes=0 must be >= 1'),
    ({'agent.policy.units': 0}, r'agent.policy.units=0 must be >= 1'),
    ({'agent.horizon': 0}, r'agent.horizon=0 must be >= 1'),
    ({'logger.fps': 0}, r'logger.fps=0 must be > 0'),
    # Started 100000 env worker processes until the machine ran out, without a line.
    ({'run.envs': 100000}, r'run.envs=100000 must be <= 1024 \(each env is a process of its '
     r'own with run.parallel=True, and the configs use 1 to 8\)'),
    ({'run.eval_envs': 1025}, r'run.eval_envs=1025 must be <= 1024'),
    # (It said 'a process of its own with run.parallel=True' of envs in this process too.)
    ({'run.envs': 1025, 'run.parallel': False}, r'run.envs=1025 must be <= 1024 \(each env is '
     r'built in this process with run.parallel=False, '),
    # Grew until Linux's OOM killer ended the run (SIGKILL, no line), TensorFlow loaded.
    ({'agent.rssm.deter': 10 ** 9}, r'agent.rssm.deter=1000000000 makes an agent of at least '
     r'2e\+18 weights, (training it on this CPU takes at least )?[\d.e+]+ GiB.*, more than '
     r'the [\d.]+ GiB of memory available; use a smaller agent.rssm.deter or a size preset '
     r'\(size1m ... size400m\)$'),
    # eval_only keeps no optimizer: its weights alone count.
    ({'agent.policy.units': 10 ** 9, 'script': 'eval_only'}, r'agent.policy.units=1000000000 '
     r'makes an agent of at least [\d.e+]+ weights, [\d.e+]+ GiB, more than'),
    # The latent features (stoch x classes) size the heads' first layers: named, not the
    # heads' units=16.
    ({'agent.rssm.classes': 10 ** 8}, r'agent.rssm.classes=100000000 makes an agent of at '
     r'least [\d.e+]+ weights'),
    # A stack of 1e15 layers was built for ever, with no line: named by its layers,
    # not by its 16 units.
    ({'agent.rssm.imglayers': 10 ** 15}, r'agent.rssm.imglayers=1000000000000000 makes an '
     r'agent of at least [\d.e+]+ weights.*use a smaller agent.rssm.imglayers '),
    ({'agent.policy.layers': 10 ** 15}, r'agent.policy.layers=1000000000000000 makes an '
     r'agent of at least [\d.e+]+ weights.*use a smaller agent.policy.layers '),
    # 'Error: out of memory (Unable to allocate 119. GiB ...)' once TensorFlow had
    # loaded (value.bins=1e9), naming no key: the heads' outputs are units x bins.
    ({'agent.value.bins': 10 ** 12}, r'agent.value.bins=1000000000000 makes an agent of at '
     r'least 1.6e\+13 weights.*use a smaller agent.value.bins '),
    ({'run.env_timeout': 0.0}, r'run.env_timeout=0.0 must be > 0'),
    # Overflowed the timers: an 'unexpected' OverflowError, or an env error of the task.
    ({'run.env_timeout': float('inf')}, r'run.env_timeout=inf must be > 0 and <= 1e6'),
    ({'run.env_timeout': 1e12}, r'run.env_timeout=1000000000000.0 must be > 0 and <= 1e6'),
    # Allocated at a worker's first step: 'Cannot allocate memory' after the logdir was
    # written, or an 'unexpected' OverflowError.
    ({'replay.chunksize': 10 ** 12}, r'replay.chunksize=1000000000000 must be >= 1 and <= '
     r'replay.size=\d+ \(steps per chunk'),
    # --config.agent.enc.mults=(1,2,x) came in as text: "unexpected" ValueError, or none
    # at all for a task without images (and config.json saved it).
    ({'agent.enc.mults': ('(1,2,x)',)},
     r"agent.enc.mults=\('\(1,2,x\)',\) must be a tuple of integers >= 1"),
    ({'agent.dec.mults': ()}, r'agent.dec.mults=\(\) must be a tuple of integers >= 1'),
    # 'Error: ValueError: dec.bspace=3 must divide deter=16 and depth 8 (unexpected: ...)'
    # once TensorFlow had loaded, exit code 1; tasks without images never build that decoder.
    ({'task': 'dummy_disc', 'agent.dec.bspace': 3}, r"agent.dec.bspace=3 must divide "
     r"agent.rssm.deter=16 and the image decoder's top depth 8 \(agent.dec.depth=2 x the last "
     r"of agent.dec.mults, 4\): the decoder splits both into that many groups$"),
    ({'task': 'dmc_cartpole_balance', 'env.dmc.image': True, 'agent.dec.depth': 3,
      'agent.dec.bspace': 8}, r"agent.dec.bspace=8 must divide agent.rssm.deter=16 and the "
     r"image decoder's top depth 12 \(agent.dec.depth=3 x"),
    # 'unexpected' errors of the replay's selector and of the train ratio's clock.
    ({'replay.fracs': {'uniform': 1.0, 'x': 0.0}}, r"replay.fracs has unknown keys \['x'\]"),
    ({'replay.fracs': {'uniform': 'a'}}, r"replay.fracs.uniform='a', where configs/base.py has "
     'a number'),
    ({'run.train_ratio': float('inf')}, 'run.train_ratio=inf must be a finite number >= 0'),
    # Ran until the first updates diverged.
    ({'agent.opt.lr': float('inf')}, 'agent.opt.lr=inf must be a finite number >= 0'),
    # Divided 0 by 0 where a weight's gradients were 0: its weights NaN at update 2, and
    # 'Refusing to save a checkpoint: ... is not finite' at the next save (exit code 1).
    ({'agent.opt.eps': 0.0}, r"agent.opt.eps=0.0 must be a finite number >= 1.175e-38 "
     r"\(float32's least normal number: it divides the updates of weights whose gradients"),
    ({'agent.opt.eps': 1e-40}, r'agent.opt.eps=1e-40 must be a finite number >= 1.175e-38'),
    ({'agent.imag_loss.actent': float('nan')},
     'agent.imag_loss.actent=nan is not a number; give a finite value'),
    ({'run.log_every': float('nan')}, r'run.log_every is NaN; use a number'),
    ({'agent.loss_scales.rec': float('inf')}, 'agent.loss_scales.rec=inf must be a finite'),
    ({'agent.rssm.free_nats': float('-inf')}, 'agent.rssm.free_nats=-inf must be a finite'),
    # Failed at the checkpoint load with a name mismatch that did not say why.
    ({'random_agent': True, 'run.from_checkpoint': '/x/ckpt'},
     'random_agent=True acts at random and has no weights to start from'),
    # 'unexpected' ValueError at the heads' first call, after the logdir was written.
    ({'agent.rewhead.predsum': 'bogus'}, r"agent.rewhead.predsum='bogus'; choose one of"),
    # Out of range: unimix=2.0 made the first updates NaN (skipped), and the run went on.
    ({'agent.rssm.unimix': 2.0}, r'agent.rssm.unimix=2.0 must be in \[0, 1\]'),
    ({'agent.imag_loss.lam': -0.5}, r'agent.imag_loss.lam=-0.5 must be in \[0, 1\]'),
    ({'agent.opt.beta2': 1.0}, r'agent.opt.beta2=1.0 must be in \[0, 1\)'),
    # The slow critic's assert: 'Error: AssertionError: 0.7 (unexpected ...)' once
    # TensorFlow had loaded, and under PYTHONOPTIMIZE (no asserts) it trained with 0.7.
    ({'agent.slowvalue.rate': 0.7}, r'agent.slowvalue.rate=0.7 must be 1 or < 0.5 '),
    ({'agent.retnorm.perclo': 99.0}, 'agent.retnorm.perclo=99.0 must be < perchi=95.0'),
    ({'agent.policy.minstd': 0.0}, 'agent.policy.minstd=0.0 must be > 0 and <= maxstd=1.0'),
    # The entropy squares the std in float32: inf past 2**64, and a debug run of dummy_cont
    # logged train/loss/policy -inf at every update to its end (exit code 0).
    ({'agent.policy.maxstd': 1e30}, r'agent.policy.maxstd=1e\+30 must be < 2\*\*64 \(1.8e\+19\): '
     r"the policy's entropy squares the std in float32"),
    # 'unexpected' errors of the priority selector, only when replay.fracs used it.
    ({'replay.prio.maxfrac': 2.0}, r'replay.prio.maxfrac=2.0 must be in \[0, 1\]'),
    ({'replay.prio.exponant': 1.0}, r"replay.prio has unknown keys \['exponant'\]"),
    # NaN sampling weights (numpy's RuntimeWarning on stderr), and the run went on.
    ({'replay.prio.initial': -1.0}, r'replay.prio.initial=-1.0 must be >= 0'),
    # A segfault at the first render, with no line (Mesa's EGL beside TensorFlow).
    ({'task': 'dmc_cartpole_balance', 'env.dmc.image': True, 'run.parallel': False},
     r'run.parallel=False with DMC images \(env.dmc.image=True\): MuJoCo rendering and '),
    # A DMC task under configs/gym.py (parallel=False there): 'use run.parallel=True, the
    # default', which it was not, and no word of the config file of DMC tasks.
    ({'task': 'dmc_walker_walk', 'env.dmc.image': True, 'run.parallel': False},
     r'; use run.parallel=True, which renders in env worker processes \(the default of '
     r'configs/dmc.py, the config file of DMC tasks\)$'),
    # Refused at the checkpoint load, with exit code 1, after TensorFlow loaded.
    ({'run.from_checkpoint_regex': '('},
     r"run.from_checkpoint_regex='\(' is not a valid regex: missing \)"),
    # An env that failed to start (exit code 1, after TensorFlow loaded for envs in
    # this process), naming no config key.
    ({'env.dmc.repeat': 0}, r'env.dmc.repeat=0 must be >= 1 \(env steps per agent step\)'),
    ({'task': 'py_corridor:Corridor', 'env.gym.repeat': 0}, r'env.gym.repeat=0 must be >= 1'),
    ({'task': 'dummy_disc', 'env.dummy.length': 0}, r'env.dummy.length=0 must be >= 1'),
    # 'Env error: ... declared as uint8[100000x100000x1], 9,537 MiB a step ...; declare the
    # size the env returns, or resize its images' (exit code 1, no key named).
    ({'task': 'atari_pong', 'random_agent': True, 'env.atari.size': (100000, 100000)},
     r'env.atari.size=\(100000, 100000\) makes images of 100000x100000x1, 9,537 MiB a step, '
     r'more than the 256 MiB a step may hold \(the replay keeps every step\); give a smaller'),
    ({'task': 'gym_CartPole-v1', 'env.gym.image': True, 'env.gym.size': (10000, 10000)},
     r'env.gym.size=\(10000, 10000\) makes images of 10000x10000x3, 286 MiB a step'),
    ({'task': 'dummy_disc', 'random_agent': True, 'env.dummy.size': (1, 1)},
     r'env.dummy.size=\(1, 1\) must be at least \(2, 2\): its image shows the target'),
    # A key a config file adds to a suite's options: 'Env error: ... failed to start:
    # config.env.dmc has unknown options ['cam'] for dmc' (exit code 1), TensorFlow loaded.
    ({'env.dmc.cam': 1}, r'the config file sets env.dmc.cam, an option dmc tasks do not '
     r'take \(did you mean env.dmc.camera\?\); they take repeat, size, proprio, image, camera'),
    ({'task': 'crafter_reward', 'random_agent': True, 'env.crafter.size': (64, 17)},
     r'env.crafter.size=\(64, 17\) must be at least \(18, 18\): Crafter draws a 9-cell'),
    ({'task': 'dmc_cartpole_balance', 'env.dmc.proprio': False, 'env.dmc.image': False},
     'env.dmc.proprio=False and env.dmc.image=False leave the agent nothing to see'),
    ({'task': 'dmc_cartpole_balance', 'env.dmc.image': True, 'env.dmc.camera': -5},
     r"env.dmc.camera=-5 must be >= -1 \(-1: the domain's own camera\)"),
    ({'task': 'atari_pong', 'env.atari.lives': 'bogus'},
     r"env.atari.lives='bogus'; choose one of \('unused', 'discount', 'reset'\)"),
    ({'task': 'atari100k_pong', 'env.atari100k.actions': 'al'}, r"env.atari100k.actions='al'"),
    ({'task': 'atari_pong', 'env.atari.aggregate': 'min'}, r"env.atari.aggregate='min'"),
    ({'task': 'atari_pong', 'env.atari.pooling': 0}, r'env.atari.pooling=0 must be >= 1 and '
     r'<= env.atari.repeat=4'),
    ({'task': 'atari_pong', 'env.atari.noops': -1}, r'env.atari.noops=-1 must be >= 0'),
    ({'task': 'atari_pong', 'env.atari.noops': 10 ** 8}, r'env.atari.noops=100000000 must be '
     r'>= 0 and <= 108000 \(random no-op frames at each reset'),
    ({'task': 'atari_pong', 'env.atari.length': -5}, r'env.atari.length=-5 must be a whole '
     r'number >= 0 \(frames of an episode at most; 0: no limit\)'),
    # A config file's own length and autostart (base lacks them; sweep 78): inf was
    # 'OverflowError: cannot convert float infinity to integer' as the envs started (exit
    # code 1), 100.5 ran as 100, '100' was named as 100, and autostart='False' pressed FIRE.
    ({'task': 'atari_pong', 'env.atari.length': float('inf')},
     r'env.atari.length=inf must be a whole number >= 0'),
    ({'task': 'atari_pong', 'env.atari.length': 100.5}, r'env.atari.length=100.5 must be a whole'),
    ({'task': 'atari_pong', 'env.atari.length': 1e5}, r'env.atari.length=100000.0 must be a '
     r'whole number >= 0 \(frames of an episode at most; 0: no limit\); write 100000$'),
    ({'task': 'atari_pong', 'env.atari.length': '100'}, r"env.atari.length='100' must be a whole"),
    ({'task': 'atari100k_pong', 'env.atari100k.autostart': 'False'},
     r"env.atari100k.autostart='False' must be True or False \(FIRE pressed at each reset\)"),
    ({'task': 'atari_pong', 'env.atari.size': (0, 0)},
     r'env.atari.size=\(0, 0\) must be \(height, width\), two whole numbers >= 1'),
    # Ran: the suites cut it to whole pixels, and config.json kept 64.5.
    ({'task': 'dmc_cartpole_balance', 'env.dmc.size': (64.5, 64)},
     r'env.dmc.size=\(64.5, 64\) must be \(height, width\), two whole numbers >= 1'),
    # --config.run.from_checkpoint=None: "Checkpoint None is missing".
    ({'run.from_checkpoint': 'None'}, "run.from_checkpoint='None' is not a checkpoint; "
     "leave it '' .the default. to start without one"),
    # Cached compiled programs into a folder named None (or null, False) in the working
    # directory, where '' (no cache) was meant.
    ({'xla_cache': 'None'}, "xla_cache='None' is no folder of XLA's cache; give '' for no "
     'cache'),
    ({'xla_cache': 'false'}, "xla_cache='false' is no folder"),
    # 'Error: ValueError: Maximum allowed dimension exceeded (unexpected: ...)'.
    ({'agent.rssm.deter': 10 ** 25}, f'agent.rssm.deter={10 ** 25} is beyond a 64-bit integer'),
    ({'agent.value.bins': 2 ** 63}, r'agent.value.bins=9223372036854775808 is beyond a 64-bit'),
    # 'Error: Checkpoint /x/ckpt' and no cause: one_line keeps a message's first line.
    ({'run.from_checkpoint': '/x/ckpt\n'}, r"run.from_checkpoint='/x/ckpt\\n' holds a line "
     'break; give one path'),
    ({'run.from_checkpoint': '/x/\udcff'}, r"run.from_checkpoint='/x/\\udcff' is not UTF-8"),
    # Blank: 'No checkpoint found in ' (exit code 1) after TensorFlow loaded, a resume
    # that named no checkpoint, a run that cached into a directory named ' ' here.
    ({'run.from_checkpoint': ' '}, "run.from_checkpoint=' ' is blank; give a path, or '' "
     'for none'),
    ({'run.resume_from': '\t'}, r"run.resume_from='\\t' is blank; give a path, or '' for "
     'the latest checkpoint'),
    ({'xla_cache': '  '}, "xla_cache='  ' is blank; give a path, or '' for no cache"),
    ({'logdir': ' '}, "logdir=' ' is blank; give a path, or '' for a new one under ~/logdir"),
    # Started a new run in a folder 'runs/a ', and left the one meant, 'runs/a', as it was.
    ({'logdir': '/no/such/run '}, r"logdir='/no/such/run ' ends with a space, and no such "
     r"path exists \(a stray space as it was typed or pasted\?\); give '/no/such/run', or "
     'create the path to mean it'),
    ({'run.from_checkpoint': '\t/x/ckpt'}, r"run.from_checkpoint='\\t/x/ckpt' begins with "
     r"'\\t', and no such path exists"),
    # An 'unexpected' wire error naming the whole env config (env workers), or saved in
    # config.json as its text, which export and eval_only then passed to the env.
    ({'env.py': {'a': [1, {'b': {1, 2}}]}}, r"env.py\['a'\]\[1\]\['b'\]=\{1, 2\} is of type set: "
     "the env's arguments must be JSON data"),
    ({'env.py': {'a': b'x'}}, r"env.py\['a'\]=b'x' is of type bytes"),
    # Trained to maximise that loss; the recency selector drew the oldest steps first.
    ({'agent.loss_scales.dyn': -1.0}, r'agent.loss_scales.dyn=-1.0 must be a number >= 0 '
     r'\(a loss weight: a negative one maximises that loss\)'),
    ({'agent.imag_loss.actent': -3e-4}, r'agent.imag_loss.actent=-0.0003 must be a number >= 0'),
    ({'replay.recexp': -1.0}, r'replay.recexp=-1.0 must be >= 0'),
    # It wrote config.json alone and ended without a word (exit code 0).
    ({'script': 'eval_only', 'run.steps': 0},
     r'run.steps=0 with script=eval_only evaluates nothing'),
    # Divided the advantages by the returns' range, near 0 before rewards come (0.01).
    ({'agent.retnorm.limit': 0.0}, r'agent.retnorm.limit=0.0 must be > 0'),
    # Ran the env with its defaults, silently (only py_ tasks read env.py).
    ({'task': 'gym_corridor:Corridor-v0', 'env.py': {'length': 5}},
     r"env.py=\{'length': 5\} holds the arguments of a py_<module>:<function> env, but "
     r"task='gym_corridor:Corridor-v0' takes none from it; use task=py_<module>:<function> "
     r'for your own env, or give a gymnasium id its arguments with gymnasium.register'),
    ({'task': 'dmc_walker_walk', 'env.py': {'size': (32, 32)}},
     "takes none from it; set env.dmc.KEY instead"),
])
def test_values_that_failed_mid_run_are_named(changes, message):
  c = dmc.get_config('train_eval,debug')
  for key, value in changes.items():
    *parents, name = key.split('.')
    node = c
    for parent in parents:
      node = node[parent]
    node[name] = value
  with pytest.raises(configuration.ConfigError, match=message):
    configuration.finalize(c)


def test_a_path_with_an_edge_space_that_exists_is_taken_as_meant(tmp_path):
  """Only a path that does not exist is refused for its space: one made on purpose (or
  by an earlier run) resumes."""
  (tmp_path / 'run ').mkdir()
  c = dmc.get_config('train_eval,debug')
  c.logdir = f'{tmp_path}/run '
  assert configuration.finalize(c).logdir == f'{tmp_path}/run '


def test_env_workers_beyond_the_memory_or_processes_left_are_named(monkeypatch, tmp_path):
  """run.envs=1024 (the most allowed) started 1024 worker processes, each importing the
  env's libraries: in a cgroup of 4 GiB and 200 processes the run stopped with 'Error:
  [Errno 11] Resource temporarily unavailable' (no key named), and a machine without
  such limits ran out of memory (the OOM killer) for dmc's workers of 56 MiB each."""
  from dreamerv3_tf.envs import memory
  # getattr, raising=False: without the check, the test fails on its first assert.
  process_room = getattr(memory, 'process_room', None)
  monkeypatch.setattr(memory, 'available_bytes', lambda: 4 * memory.GIB)
  monkeypatch.setattr(memory, 'process_room', lambda: None, raising=False)

  def config(script='train_eval', **run):
    c = dmc.get_config(f'{script},debug')
    c.run.update(run)
    return c
  with pytest.raises(configuration.ConfigError) as error:
    configuration.finalize(config(envs=1024))
  assert str(error.value) == (
      'run.envs=1024 and run.eval_envs=1 start 1025 env worker processes (run.parallel=True), '
      'each of at least 56 MiB for dmc tasks: 56.1 GiB, more than the 4.0 GiB of memory '
      'available; use fewer run.envs or run.eval_envs')
  with pytest.raises(configuration.ConfigError, match=r'^run.eval_envs=100 start 100 env '
                     r'worker processes .*; use fewer run.eval_envs$'):
    configuration.finalize(config('eval_only', eval_envs=100))
  configuration.finalize(config(envs=64))  # 3.6 GiB
  c = config(envs=1024, parallel=False)  # no worker processes
  c.task = 'dummy_disc'  # (dmc renders in workers only)
  configuration.finalize(c)
  # The process limits: the tightest of its pids cgroup and those above it.
  (tmp_path / 'job').mkdir()
  for folder, cap, used in ((tmp_path / 'job', 'max', 3), (tmp_path, '200', 4)):
    (folder / 'pids.max').write_text(cap + '\n')
    (folder / 'pids.current').write_text(f'{used}\n')
  monkeypatch.setattr(memory, '_cgroup_dirs', lambda *_: [(str(tmp_path / 'job'), False)])
  room = process_room(root=str(tmp_path.parent), uid=0)
  assert room == (196, f'pids.max=200 of the cgroup {tmp_path}')
  monkeypatch.setattr(memory, 'process_room', lambda: room)
  monkeypatch.setattr(memory, 'available_bytes', lambda: None)  # unknown: not checked
  # (the threads this process has already, which depend on the tests it ran before, left
  # out: tensorflow_threads' own test)
  monkeypatch.setattr(memory, 'tensorflow_threads', lambda: 30)
  configuration.finalize(config(envs=165))
  with pytest.raises(configuration.ConfigError) as error:
    configuration.finalize(config(envs=166))
  assert str(error.value) == (
      'run.envs=166 and run.eval_envs=1 start 167 env worker processes (run.parallel=True), '
      'and about 30 threads of TensorFlow in this process: more than '
      f'the 196 processes it may still start (pids.max=200 of the cgroup {tmp_path}); use '
      'fewer run.envs or run.eval_envs')


def test_tensorflows_threads_are_measured_on_1_and_2_cpus_and_a_floor_beyond():
  """The peak was measured (the lowest ulimit -u that ran) on 1 and 2 CPUs only; at 7 per
  CPU a 64-CPU host would have been refused a pids.max of 400 that its run fits in."""
  from dreamerv3_tf.envs import memory
  assert [memory.tensorflow_peak_threads(n) for n in (1, 2, 64)] == [25, 32, 156]


def test_a_py_envs_own_size_and_repeat_are_its_arguments_not_the_suites(tmp_path, monkeypatch):
  """env.py={'size': 5} (a grid's size) was refused as 'env.py.size=5 must be (height,
  width)', and env.gym.size, which a py_ task's gymnasium env is resized to, went
  unchecked."""
  (tmp_path / 'grid.py').write_text('')  # a module the config check finds
  monkeypatch.syspath_prepend(str(tmp_path))
  c = gym.get_config('train_eval,debug')
  c.task = 'py_grid:Grid'
  c.env.py = {'size': 5, 'repeat': 0}
  configuration.finalize(c)
  c.env.gym.size = (0, 64)
  with pytest.raises(configuration.ConfigError, match=r'env.gym.size=\(0, 64\) must be'):
    configuration.finalize(c)


def test_the_checked_predsums_are_the_agents():
  """configuration keeps its own copy (it must not import TensorFlow)."""
  from dreamerv3_tf.agent import dists
  assert configuration.PREDSUMS == dists.PREDSUMS


def test_short_sequences_are_allowed_without_the_replay_value_loss():
  c = dmc.get_config('train_eval,debug')
  c.batch_length = c.report_length = 1
  c.agent.repval_loss = False
  configuration.finalize(c)


def test_logdir_of_another_config_is_refused(tmp_path):
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  saved = (tmp_path / 'config.json').read_text()
  c.run.steps = 5  # runtime keys may change on resume
  logdir_checks.save(c, str(tmp_path))
  c.run.max_nonfinite_updates = 7
  logdir_checks.save(c, str(tmp_path))
  c.agent.rssm.deter = 32
  with pytest.raises(configuration.ConfigError, match='agent.rssm.deter: 16 -> 32'):
    logdir_checks.save(c, str(tmp_path))
  assert json.loads((tmp_path / 'config.json').read_text())['agent']['rssm']['deter'] == 16
  logdir_checks.save(c, str(tmp_path), allow_other=True)
  assert saved != (tmp_path / 'config.json').read_text()


def test_a_resume_of_another_size_with_other_configs_is_refused_before_tensorflow(tmp_path):
  """--config.run.allow_other_config=True with another size preset was refused only as
  the checkpoint loaded, once TensorFlow had loaded (exit code 1); config.json shows it:
  the same line, a config error (2). Other agent settings (a learning rate) pass."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  (tmp_path / 'ckpt').mkdir()
  with c.unlocked():
    c.agent.opt.lr, c.logdir = 1e-5, str(tmp_path)
  bigger = configuration.finalize(dmc.get_config('debug,size1m'))
  with bigger.unlocked():
    bigger.logdir = str(tmp_path)
  logdir_checks.check_logdir(bigger, str(tmp_path), allow_other=True)  # nothing to load
  for name in ('ckpt-2.index', 'ckpt-3.index', 'ckpt-3.data-00000-of-00001'):
    (tmp_path / 'ckpt' / name).write_bytes(b'')
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(bigger, str(tmp_path), allow_other=True)
  assert str(caught.value) == (
      f'Checkpoint {tmp_path}/ckpt/ckpt-3 is of an agent with agent.conhead.units=16 (this '
      'run: 64); agent.dec.depth=2 (this run: 4); agent.dec.units=16 (this run: 64) and 7 '
      f'more ({tmp_path}/config.json); run.allow_other_config=True resumes a run with other '
      'settings, not another agent: pass those agent settings, or start a new --logdir')
  with bigger.unlocked():
    bigger.run.resume_from = 'ckpt-2'
  with pytest.raises(configuration.ConfigError, match=f'^Checkpoint {tmp_path}/ckpt/ckpt-2 '):
    logdir_checks.check_logdir(bigger, str(tmp_path), allow_other=True)
  logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)  # the same size
  with bigger.unlocked():
    bigger.random_agent = True  # holds no weights, nor loads the trained agent's
  with pytest.raises(configuration.ConfigError, match='holds a trained agent, which '):
    logdir_checks.check_logdir(bigger, str(tmp_path), allow_other=True)


@pytest.mark.parametrize('key, value, refused', [
    ('rewhead.bins', 17, True), ('rssm.stoch', 8, True), ('enc.layers', 2, True),
    ('rssm.classes', 8, True), ('dec.bspace', 1, True), ('enc.mults', (2, 3), True),
    ('value.bins', 17, True), ('rssm.imglayers', 1, True),
    ('opt.lr', 1e-5, False), ('opt.warmup', 5, False), ('rssm.unimix', 0.1, False),
    ('rewhead.outscale', 1.0, False), ('enc.symlog', False, False),
    ('value.predsum', 'paired', False), ('slowvalue.every', 2, False),
])
def test_a_resume_of_other_weight_shapes_with_other_configs_is_refused_before_tensorflow(
    tmp_path, key, value, refused):
  """--config.agent.rewhead.bins=17 --config.run.allow_other_config=True (not a size
  preset's key) was refused only as the checkpoint loaded, once TensorFlow had loaded and
  the envs started (exit code 1). The counts of the modules' settings give the weights'
  shapes; fractions, flags and the optimizer's settings do not, and pass."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  (tmp_path / 'ckpt').mkdir()
  for name in ('ckpt-3.index', 'ckpt-3.data-00000-of-00001'):
    (tmp_path / 'ckpt' / name).write_bytes(b'')
  module, name = key.split('.')
  with c.unlocked():
    c.logdir = str(tmp_path)
    c.agent[module][name] = value
  if not refused:
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)
    return
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)
  assert str(caught.value).startswith(
      f'Checkpoint {tmp_path}/ckpt/ckpt-3 is of an agent with agent.{key}='), str(caught.value)
  with c.unlocked():  # named alone: a learning rate may differ on resume
    c.agent.opt.lr = 1e-5
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'is of an agent with agent.{key}=') + r'[^;]* \(' + re.escape(
      f'this run: {value!r}) ({tmp_path}/config.json); '.replace('(2, 3)', '[2, 3]'))):
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)


def test_the_weight_modules_are_the_agent_settings_the_model_builds_weights_from():
  """logdir_checks.WEIGHT_MODULES is its own list (it must not import TensorFlow): a module
  added to model.py and not there would resume with other shapes, refused only at the load."""
  with open(os.path.join(ROOT, 'dreamerv3_tf', 'agent', 'model.py')) as f:
    built = set(re.findall(r"\*\*a\.(\w+), name='\w+', \*\*p\)", f.read()))  # its layers
  assert set(logdir_checks.WEIGHT_MODULES) == built


def test_a_resume_by_another_kind_of_agent_with_other_configs_is_refused_before_tensorflow(
    tmp_path):
  """--config.random_agent=True --config.run.allow_other_config=True on a trained run's
  logdir (sweep 77), or a trained agent on a random agent's: refused as the checkpoint
  loaded, once TensorFlow had loaded (exit code 1); config.json shows it (exit code 2)."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  with c.unlocked():
    c.logdir, c.random_agent = str(tmp_path), True
  logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)  # nothing to load
  (tmp_path / 'ckpt').mkdir()
  for name in ('ckpt-3.index', 'ckpt-3.data-00000-of-00001'):
    (tmp_path / 'ckpt' / name).write_bytes(b'')
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)
  assert str(caught.value) == (
      f'Checkpoint {tmp_path}/ckpt/ckpt-3 holds a trained agent, which random_agent=True '
      'cannot resume; drop random_agent, or start a new --logdir')
  (tmp_path / 'config.json').write_text(run_files.to_json(c))  # a random agent's run
  with c.unlocked():
    c.random_agent = False
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'Checkpoint {tmp_path}/ckpt/ckpt-3 is of a random agent (random_agent=True in ')):
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)
  with c.unlocked():
    c.script = 'eval_only'  # (refused for its own reason: a training run's logdir)
  with pytest.raises(configuration.ConfigError, match='holds a training run'):
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)


@pytest.mark.parametrize('changes, line', [
    ({'batch_length': 16}, 'batch_length=8 (this run: 16) ({logdir}/config.json); '
     'run.allow_other_config=True resumes a run with other settings, not other replay '
     'sequences: pass --config.batch_length=8, or start a new --logdir'),
    ({'replay_context': 2}, 'replay_context=1 (this run: 2) ('),
    ({'report_length': 2}, 'report_length=4 (this run: 2) ('),
    ({'batch_length': 7, 'report_length': 3, 'replay_context': 2}, None),  # the same lengths
])
def test_a_resume_of_other_replay_sequences_with_other_configs_is_refused_before_tensorflow(
    tmp_path, changes, line):
  """--config.batch_length=16 --config.run.allow_other_config=True (sweep 77): 'Checkpoint
  ... does not match this run: Replay replay_train: saved sequence length 9 != 17', once
  TensorFlow had loaded and the envs started (exit code 1); config.json shows it."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  with c.unlocked():
    c.logdir = str(tmp_path)
    c.update(changes)
  logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)  # nothing to load
  (tmp_path / 'ckpt').mkdir()
  for name in ('ckpt-3.index', 'ckpt-3.data-00000-of-00001'):
    (tmp_path / 'ckpt' / name).write_bytes(b'')
  if line is None:
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)
    return
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(c, str(tmp_path), allow_other=True)
  assert str(caught.value).startswith(
      f'Checkpoint {tmp_path}/ckpt/ckpt-3 holds replay sequences of '
      + line.format(logdir=tmp_path)), str(caught.value)


def test_env_options_of_another_suite_do_not_refuse_a_resume(tmp_path):
  """A gym run resumed with configs/dmc.py (its env.dmc.image=False, base's True under
  gym.py) was refused: 'belongs to another config (env.dmc.image: True -> False)', a key
  its env never reads."""
  c = configuration.finalize(gym.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  c.env.dmc.image = False
  c.env.atari.size = (32, 32)
  logdir_checks.check_logdir(c, str(tmp_path))
  c.env.gym.size = (32, 32)  # its own suite's still count
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'logdir {tmp_path} belongs to another config (env.gym.size: [64, 64] -> [32, 32]);')):
    logdir_checks.check_logdir(c, str(tmp_path))
  c.env.gym.size = (64, 64)
  c.task = 'py_corridor:Corridor'  # py_ tasks read env.gym too
  with pytest.raises(configuration.ConfigError, match=re.escape(
      "(task: 'gym_CartPole-v1' -> 'py_corridor:Corridor')")):
    logdir_checks.check_logdir(c, str(tmp_path))


def test_a_task_of_another_suite_is_refused_by_the_runs_own_env_options(tmp_path):
  """A gym run resumed with configs/dmc.py, its task and all: the line named
  env.dmc.image (True -> False) and asked it back (--config.env.dmc.image=True), an
  option the run's env never read (README: env.dmc.* does not count for a gym task)."""
  c = configuration.finalize(gym.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  c.task, c.env.dmc.image = 'dmc_cartpole_balance', False
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(c, str(tmp_path))
  assert str(caught.value) == (
      f"logdir {tmp_path} belongs to another config (task: 'gym_CartPole-v1' -> "
      "'dmc_cartpole_balance'); resume it with --config.task=gym_CartPole-v1, use a new "
      '--logdir or pass --config.run.allow_other_config=True')


def test_a_resume_of_another_config_names_the_flags_that_resume_it(tmp_path):
  """A resume without a flag the run was started with (--config.task, most often) was
  told to pass allow_other_config=True, which trains the run on on the other task,
  two tasks in one history. The line names the flags of the saved values first."""
  c = configuration.finalize(dmc.get_config('debug'))
  c.task, c.seed = 'dmc_cartpole_swingup', 3
  logdir_checks.save(c, str(tmp_path))
  c.task, c.seed, c.run.train_ratio = 'dmc_cartpole_balance', 0, 32.0
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(c, str(tmp_path))
  assert str(caught.value) == (
      f"logdir {tmp_path} belongs to another config (run.train_ratio: 16.0 -> 32.0; seed: "
      "3 -> 0; task: 'dmc_cartpole_swingup' -> 'dmc_cartpole_balance'); resume it with "
      '--config.run.train_ratio=16.0 --config.seed=3 --config.task=dmc_cartpole_swingup, '
      'use a new --logdir or pass --config.run.allow_other_config=True')
  c.task, c.seed, c.run.train_ratio = 'dmc_cartpole_swingup', 3, 16.0
  c.env.dmc.size = (32, 32)  # not a value a flag gives as it is shown
  with pytest.raises(configuration.ConfigError, match=re.escape(
      '(env.dmc.size: [64, 64] -> [32, 32]); use a new --logdir or pass')):
    logdir_checks.check_logdir(c, str(tmp_path))


def test_a_key_one_version_lacks_is_named_absent_not_none(tmp_path):
  """A run saved by an older version (no agent.rssm.unimix) or a newer one: the line
  read 'agent.rssm.unimix: None -> 0.01', a value the run never had."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  saved = json.loads((tmp_path / 'config.json').read_text())
  del saved['agent']['rssm']['unimix']
  saved['agent']['rssm']['newkey'] = 3
  (tmp_path / 'config.json').write_text(json.dumps(saved))
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(c, str(tmp_path))
  assert str(caught.value) == (
      f'logdir {tmp_path} belongs to another config (agent.rssm.newkey: 3 -> (absent: a '
      "newer version?); agent.rssm.unimix: (absent: an older version?) -> 0.01); use a new "
      '--logdir or pass --config.run.allow_other_config=True')


def test_an_env_option_of_the_runs_own_config_file_is_named_so(tmp_path):
  """A run of a config file that set env.atari.autostart (base lacks it) resumed with
  configs/atari.py: the line read 'env.atari.autostart: True -> (absent: a newer
  version?)' and allow_other_config=True, which it suggests, resumed without it (sweep 78)."""
  c = configuration.finalize(atari.get_config('debug'))
  c.env.atari.autostart = True
  logdir_checks.save(c, str(tmp_path))
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(configuration.finalize(atari.get_config('debug')),
                               str(tmp_path))
  assert str(caught.value) == (
      f'logdir {tmp_path} belongs to another config (env.atari.autostart: True -> (absent: '
      'configs/base.py lacks it; the config file the run started with set it)); use a new '
      '--logdir or pass --config.run.allow_other_config=True')


@pytest.mark.parametrize('script', ['train_eval', 'eval_only'])
@pytest.mark.parametrize('key', ['agent', 'run'])
def test_a_value_in_place_of_a_group_of_keys_is_named_with_the_file(tmp_path, key, script):
  """A hand-edited config.json with "agent": null read 'agent: None -> (absent: a newer
  version?)', then 'logdir ... belongs to another config (agent: None -> a group of 75
  keys)', naming neither the file nor the edit, and allow_other_config=True, which that
  line suggests, went on; "run": null the same (and export exported it without a word)."""
  c = configuration.finalize(dmc.get_config(f'{script},debug'))
  logdir_checks.save(c, str(tmp_path))
  saved = json.loads((tmp_path / 'config.json').read_text())
  saved[key] = None
  (tmp_path / 'config.json').write_text(json.dumps(saved))
  for allow_other in (False, True):
    with pytest.raises(configuration.ConfigError) as caught:
      logdir_checks.check_logdir(c, str(tmp_path), allow_other)
    assert str(caught.value) == (
        f'{tmp_path}/config.json holds {key}=None, where configs/base.py has a dict; put '
        'back the value the run had')


def test_someone_elses_config_json_is_not_taken_for_a_run(tmp_path):
  """A directory holding another program's config.json: it was 'another config'
  (agent.conhead.layers: None -> 1 ...), and allow_other_config=True, which that
  message suggests, overwrote it."""
  (tmp_path / 'config.json').write_text('{"name": "my web app", "version": 2}')
  c = configuration.finalize(dmc.get_config('debug'))
  for allow_other in (False, True):
    with pytest.raises(configuration.ConfigError, match=(
        f"^{tmp_path}/config.json is not a saved config \\(no 'task', 'agent'\\); "
        'use a new --logdir$')):
      logdir_checks.check_logdir(c, str(tmp_path), allow_other)
  assert (tmp_path / 'config.json').read_text() == '{"name": "my web app", "version": 2}'


@pytest.mark.parametrize('text, what', [('[1, 2]', 'list'), ('null', 'null')])
def test_a_config_json_that_is_no_object_is_named(tmp_path, text, what):
  """It said "'list' object has no attribute 'items'"."""
  (tmp_path / 'config.json').write_text(text)
  c = configuration.finalize(dmc.get_config('debug'))
  with pytest.raises(configuration.ConfigError, match=(
      f'^{tmp_path}/config.json is not a saved config \\(it holds a JSON {what}, not an '
      'object\\); use a new --logdir$')):
    logdir_checks.check_logdir(c, str(tmp_path))
  assert (tmp_path / 'config.json').read_text() == text


def test_a_cut_short_config_json_names_a_way_that_keeps_the_checkpoints(tmp_path):
  """config.json cut short (a full disk) beside intact checkpoints: the line said only
  'use a new --logdir', which threw the run's work away; then named a new --logdir
  from its agent (its replay lost) but not moving it away, which resumes it whole."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  text = (tmp_path / 'config.json').read_text()[:300]
  (tmp_path / 'config.json').write_text(text)
  (tmp_path / 'ckpt').mkdir()
  (tmp_path / 'ckpt' / 'ckpt-3.index').write_bytes(b'')
  with pytest.raises(configuration.ConfigError, match=(
      f'^{tmp_path}/config.json is not a saved config \\(Expecting .*\\); put back the '
      'config.json it ran with, or move it away and rerun \\(a resume without it checks '
      'only the task and agent settings of its checkpoints: it keeps their replay\\), or '
      'start a new --logdir from its agent with '
      f'--config.run.from_checkpoint={tmp_path}/ckpt \\(its latest checkpoint\\)$')):
    logdir_checks.check_logdir(c, str(tmp_path))
  assert (tmp_path / 'config.json').read_text() == text


def test_metrics_without_checkpoints_are_not_appended_to(tmp_path):
  """ckpt/ deleted while the metrics stay: a run there started at step 0 again and
  appended its rows to the old ones (two runs in one metrics.jsonl)."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  (tmp_path / 'metrics.jsonl').write_text('')  # a run stopped before its first row
  logdir_checks.check_logdir(c, str(tmp_path))
  (tmp_path / 'metrics.jsonl').write_text('{"step": 10, "episode/score": 1.0}\n')
  before = sorted(os.listdir(tmp_path))
  (tmp_path / 'ckpt').mkdir()  # empty, or not there at all
  with pytest.raises(configuration.ConfigError, match=(
      f'^{tmp_path}/metrics.jsonl holds the metrics of an earlier run, but '
      f'{tmp_path}/ckpt holds no checkpoint to resume it from; .* use a new --logdir$')):
    logdir_checks.check_logdir(c, str(tmp_path))
  (tmp_path / 'ckpt').rmdir()
  with pytest.raises(configuration.ConfigError, match='holds no checkpoint'):
    logdir_checks.check_logdir(c, str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == before
  (tmp_path / 'ckpt').mkdir()
  (tmp_path / 'ckpt' / 'checkpoint').write_text('')  # the checkpoint checks judge it
  logdir_checks.check_logdir(c, str(tmp_path))


def test_an_evaluation_is_not_appended_to_rows_of_no_run(tmp_path):
  """eval_only in a folder of another program's metrics.jsonl or scores.jsonl (no
  config.json): it wrote its config.json and appended its rows to theirs. An
  evaluation's own logdir (config.json beside its rows) is added to, as before."""
  c = configuration.finalize(gym.get_config('eval_only,debug'))
  c.run.from_checkpoint = '/x/ckpt'
  for name in ('metrics.jsonl', 'scores.jsonl'):
    (tmp_path / name).write_text('epoch,loss\n1,0.5\n')
    with pytest.raises(configuration.ConfigError, match=re.escape(
        f'{tmp_path}/{name} holds rows, but {tmp_path} has no config.json: they are not an '
        "evaluation's (another program's?), and this one would add its rows to them: use a "
        'new --logdir') + '$'):
      logdir_checks.check_logdir(c, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == [name]
    (tmp_path / name).unlink()
  (tmp_path / 'metrics.jsonl').write_text('')  # stopped before its first row
  logdir_checks.check_logdir(c, str(tmp_path))
  logdir_checks.save(c, str(tmp_path))
  (tmp_path / 'scores.jsonl').write_text('{"step": 9, "epstats/score": 8.0}\n')
  logdir_checks.check_logdir(c, str(tmp_path))


@pytest.mark.parametrize('script', ['train_eval', 'eval_only'])
def test_tensorboard_logs_of_no_run_are_not_added_to(tmp_path, script):
  """A folder holding only another program's tb/ (no config.json, no checkpoint): the run
  put its event files among theirs, without a word. A run's own tb/ (config.json beside
  it, or checkpoints whose config.json was deleted) and an empty tb/ pass."""
  c = configuration.finalize(dmc.get_config(f'{script},debug'))
  c.run.from_checkpoint = '/x/ckpt' if script == 'eval_only' else ''
  (tmp_path / 'tb').mkdir()
  logdir_checks.check_logdir(c, str(tmp_path))
  (tmp_path / 'tb' / 'events.out.tfevents.1.host.9.0.v2').write_bytes(b'x')
  (tmp_path / 'tb' / 'train').mkdir()
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'{tmp_path}/tb holds 2 entries (events.out.tfevents.1.host.9.0.v2, train), but '
      f"{tmp_path} has no config.json: they are not a run's of this package (another "
      "program's TensorBoard logs?), and this one would add its event files to them: use a "
      'new --logdir') + '$'):
    logdir_checks.check_logdir(c, str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == ['tb']
  (tmp_path / 'config.json').write_text(run_files.to_json(c))  # a run's own
  logdir_checks.check_logdir(c, str(tmp_path))
  if script != 'eval_only':
    (tmp_path / 'config.json').unlink()
    (tmp_path / 'ckpt').mkdir()
    (tmp_path / 'ckpt' / 'ckpt-1.index').write_bytes(b'')
    logdir_checks.check_logdir(c, str(tmp_path))


def test_resume_from_is_judged_by_file_names_and_passes_what_the_checkpoint_checks_read(
    tmp_path):
  """check_resume_from refuses what names no checkpoint of this run; one whose index is
  there (whole or not) passes on to the checkpoint checks, which read it. Data files
  without their index are no checkpoint (a save stopped as it wrote or pruned it): they
  passed as damaged, whose line offered a run.from_checkpoint then refused."""
  c = configuration.finalize(dmc.get_config('debug'))
  ckpt = tmp_path / 'ckpt'
  ckpt.mkdir()
  (ckpt / 'ckpt-2.index').write_bytes(b'')
  for n in (1, 3):  # a pruned leftover, and a save stopped before its index
    (ckpt / f'ckpt-{n}.data-00000-of-00001').write_bytes(b'')

  def check(resume_from, script='train_eval'):
    with c.unlocked():
      c.logdir, c.run.resume_from, c.script = str(tmp_path), resume_from, script
    logdir_checks.check_resume_from(c)

  for value in ('', 'ckpt-2', f'{ckpt}/ckpt-2', f'{ckpt}/ckpt-2.index'):
    check(value)
  for value in ('ckpt-1', f'{ckpt}/ckpt-3'):
    n = value[-1]
    with pytest.raises(configuration.ConfigError, match=(
        f'^run.resume_from={re.escape(value)}: no such checkpoint \\(only its data files are '
        f'left, without ckpt-{n}.index: a save was stopped as it wrote or deleted it\\); the '
        f'checkpoints in {ckpt} are ckpt-2$')):
      check(value)
  with pytest.raises(configuration.ConfigError, match=(
      f'^run.resume_from=ckpt-4: no such checkpoint \\(neither {ckpt}/ckpt-4.index nor its '
      f'data files exist\\); the checkpoints in {ckpt} are ckpt-2$')):
    check('ckpt-4')
  os.remove(ckpt / 'ckpt-2.index')
  with pytest.raises(configuration.ConfigError, match='this run has no checkpoints in'):
    check('ckpt-2')
  (ckpt / 'checkpoint').write_text('')  # a state file alone: the checkpoint checks judge it
  check('ckpt-4')


@pytest.mark.parametrize('resume_from, flag', [
    ('ckpt-3', '{logdir}/ckpt/ckpt-3'),
    ('{logdir}/ckpt/ckpt-3.index', '{logdir}/ckpt/ckpt-3'),
    ('/elsewhere/run/ckpt/ckpt-9', '/elsewhere/run/ckpt/ckpt-9')])
def test_eval_only_names_the_flag_that_evaluates_the_checkpoint_resume_from_names(
    tmp_path, resume_from, flag):
  """eval_only resumes nothing: it ignored run.resume_from and evaluated the latest
  checkpoint, where the user asked for another."""
  c = configuration.finalize(dmc.get_config('eval_only'))
  with c.unlocked():
    c.logdir, c.run.resume_from = str(tmp_path), resume_from.format(logdir=tmp_path)
  with pytest.raises(configuration.ConfigError, match=(
      f'^run.resume_from={re.escape(c.run.resume_from)}: eval_only resumes nothing; to '
      'evaluate that checkpoint, give '
      f'--config.run.from_checkpoint={re.escape(flag.format(logdir=tmp_path))} instead$')):
    logdir_checks.check_resume_from(c)
  assert os.listdir(tmp_path) == []


def test_eval_only_with_resume_from_alone_names_the_flag_for_that_checkpoint(tmp_path):
  """eval_only given run.resume_from and no run.from_checkpoint (the checkpoint meant as
  the one to evaluate) said only that none was given, 'pass
  --config.run.from_checkpoint=PATH': the line names the flag with that checkpoint."""
  result = run_main('--config=configs/dmc.py:eval_only,debug', f'--logdir={tmp_path}/eval',
                    '--config.run.resume_from=/elsewhere/run/ckpt/ckpt-9')
  assert result.returncode == 2, result.stderr
  assert result.stderr.splitlines() == [
      'Config error: run.resume_from=/elsewhere/run/ckpt/ckpt-9: eval_only resumes nothing; '
      'to evaluate that checkpoint, give '
      '--config.run.from_checkpoint=/elsewhere/run/ckpt/ckpt-9 instead'], result.stderr
  assert not os.path.exists(tmp_path / 'eval')


def test_an_evaluation_logdir_refuses_another_policy(tmp_path):
  """eval_only of another checkpoint into the logdir of an earlier evaluation added its
  episodes to that policy's, without a word (run.from_checkpoint is a run-time key):
  plot drew both as one. The same policy (another spelling of it) adds, as before."""
  def evaluation(path):
    c = configuration.finalize(dmc.get_config('eval_only'))
    with c.unlocked():
      c.logdir, c.run.from_checkpoint = str(tmp_path / 'eval'), path
    return c
  (tmp_path / 'run' / 'ckpt').mkdir(parents=True)
  logdir_checks.save(evaluation(f'{tmp_path}/run/ckpt'), str(tmp_path / 'eval'))
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(evaluation(f'{tmp_path}/export'), str(tmp_path / 'eval'))
  assert str(caught.value) == (
      f'logdir {tmp_path}/eval holds the evaluation of {tmp_path}/run/ckpt; evaluating '
      f'{tmp_path}/export there would mix the episodes of both policies: use a new '
      '--logdir, or pass --config.run.allow_other_config=True to add them')
  logdir_checks.check_logdir(evaluation(f'{tmp_path}/run/ckpt/'), str(tmp_path / 'eval'))
  logdir_checks.check_logdir(evaluation(f'{tmp_path}/export'), str(tmp_path / 'eval'),
                             allow_other=True)


@pytest.mark.parametrize('name, row, problem', [
    ('scores.jsonl', '{"step": 5, "epstats/score": "15"}',
     """'epstats/score' is "15", not a number"""),
    ('metrics.jsonl', 'garbage', "not a JSON line: 'garbage'"),
    ('metrics.jsonl', '{"epstats/score": 3.0}', "expected an object with a finite numeric 'step'"),
])
def test_an_evaluation_logdir_whose_scores_plot_refuses_is_named(tmp_path, name, row, problem):
  """eval_only added its episodes to a scores.jsonl whose score a hand edit made text,
  without a word; plot then refused the file naming the line (sweep 74). The line plot
  gives, before anything is evaluated; a last line cut short passes (the logger drops it)."""
  c = configuration.finalize(dmc.get_config('eval_only'))
  with c.unlocked():
    c.logdir, c.run.from_checkpoint = str(tmp_path), f'{tmp_path}/run/ckpt'
  logdir_checks.save(c, str(tmp_path))
  good = '{"step": 1, "epstats/score": 2.0}\n'
  (tmp_path / name).write_text(good + good + '{"step": 3, "epst')  # cut short: passes
  logdir_checks.check_logdir(c, str(tmp_path))
  (tmp_path / name).write_text(good + row + '\n' + good)
  with pytest.raises(configuration.ConfigError) as caught:
    logdir_checks.check_logdir(c, str(tmp_path))
  assert str(caught.value) == (
      f'{tmp_path}/{name}:2: {problem}; eval_only adds its episodes to this file, which plot '
      'refuses: fix the file (or move it away), or use a new --logdir')


@pytest.mark.parametrize('name, kind, message', [
    ('ckpt', 'file', 'ckpt is a file, but the run writes a directory there'),
    ('metrics.jsonl', 'dir', 'metrics.jsonl is a directory, but the run writes a file there'),
    ('config.json', 'dir', 'config.json is a directory, but the run writes a file there'),
])
def test_logdir_entries_of_the_wrong_kind_are_refused_before_writing(
    tmp_path, name, kind, message):
  c = configuration.finalize(dmc.get_config('debug'))
  c.logger.outputs = 'jsonl'
  if kind == 'file':
    (tmp_path / name).write_text('notes')
  else:
    (tmp_path / name).mkdir()
  with pytest.raises(configuration.ConfigError, match=message):
    logdir_checks.check_logdir(c, str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == [name]
  c.logger.outputs = 'terminal'  # no jsonl files: a directory of that name is no matter
  if name == 'metrics.jsonl':
    logdir_checks.check_logdir(c, str(tmp_path))


@pytest.mark.parametrize('name', ['metrics.jsonl', 'config.json', 'ckpt/checkpoint'])
def test_a_named_pipe_where_the_run_writes_a_file_is_refused_not_waited_on(tmp_path, name):
  """Opening it waited for its other end for ever: the run (and export) hung after the
  start line (the checks run in a thread, so that the old hang fails)."""
  c = configuration.finalize(dmc.get_config('debug'))
  c.logger.outputs = 'jsonl'
  (tmp_path / name).parent.mkdir(exist_ok=True)
  os.mkfifo(tmp_path / name)

  def check(read=lambda: logdir_checks.check_logdir(c, str(tmp_path))):
    errors = []

    def run():
      try:
        read()
      except configuration.ConfigError as e:
        errors.append(str(e))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), f'the check waits on the named pipe {name}'
    return errors

  assert check() == [f'{tmp_path}/{name} is a named pipe, but the run reads and writes a '
                     'file there; move it away or use a new --logdir']
  assert os.listdir(tmp_path) == [name.split('/')[0]]
  if name == 'metrics.jsonl':  # not written without jsonl outputs: no matter, and not read
    c.logger.outputs = 'terminal'
    assert check() == []
  if name == 'config.json':  # read by export (and the importer's checks) too
    assert check(lambda: run_files.load_config(str(tmp_path))) == [
        f'{tmp_path}/config.json is a named pipe, not the file a run saved']


@pytest.mark.parametrize('name', ['damaged', 'replay_train', 'replay_eval'])
def test_a_file_where_the_checkpoints_keep_a_directory_is_refused_before_writing(
    tmp_path, name):
  """A resume that set a damaged checkpoint aside failed on ckpt/damaged ('is not a
  directory') after it had rewritten config.json; a file ckpt/replay_train was named as
  '2 replay files are missing', with a hint to resume from an earlier checkpoint."""
  c = configuration.finalize(dmc.get_config('train_eval,debug'))
  (tmp_path / 'ckpt').mkdir()
  (tmp_path / 'ckpt' / name).write_text('notes')
  with pytest.raises(configuration.ConfigError, match=(
      f'^{tmp_path}/ckpt/{name} is a file, but the run writes a directory there')):
    logdir_checks.check_logdir(c, str(tmp_path))
  if name == 'replay_eval':  # script=train keeps no eval replay: no matter there
    c.script = 'train'
    (tmp_path / 'ckpt' / 'checkpoint').write_text('')  # the checkpoint checks judge it
    logdir_checks.check_logdir(c, str(tmp_path))


def test_logdir_under_the_home_of_no_such_user_is_refused(tmp_path):
  """`~name` of an unknown user stays as it is in expanduser: the run made a directory
  literally named `~name` in the working directory and trained there."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', f'--config={ROOT}/configs/dmc.py:train_eval,debug',
       '--logdir=~nosuchuser_dv3/run'], cwd=tmp_path, env=env, capture_output=True,
      text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.splitlines() == [
      "Config error: --logdir ~nosuchuser_dv3/run: there is no user 'nosuchuser_dv3' whose "
      "home ~ could name (the path would name a folder '~nosuchuser_dv3' in the current "
      'directory); give a full path']
  assert os.listdir(tmp_path) == []
  # Paths that are read: 'would be made' misled (nothing is made), and a --config file
  # said 'No such file or directory', naming no user.
  for args, flag in (
      ([f'--config={ROOT}/configs/dmc.py:eval_only,debug', f'--logdir={tmp_path}/ev',
        '--config.run.from_checkpoint=~nosuchuser_dv3/run/ckpt'], 'run.from_checkpoint'),
      (['--config=~nosuchuser_dv3/c.py:debug', f'--logdir={tmp_path}/ev'], '--config')):
    result = cli_zygote.run([sys.executable, '-m', 'dreamerv3_tf.main', *args], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f"Config error: {flag} ~nosuchuser_dv3/{'run/ckpt' if '.' in flag else 'c.py'}: there "
        "is no user 'nosuchuser_dv3' whose home ~ could name (the path would name a folder "
        "'~nosuchuser_dv3' in the current directory); give a full path"], result.stderr
  assert os.listdir(tmp_path) == []


def test_a_logdir_name_longer_than_the_filesystem_takes_is_refused_before_writing(tmp_path):
  """It failed after TensorFlow had loaded: 'Cannot create ...: File name too long'."""
  c = configuration.finalize(dmc.get_config('debug'))
  longest = os.pathconf(tmp_path, 'PC_NAME_MAX')  # 255 on most filesystems
  logdir = tmp_path / ('r' * (longest + 1)) / 'run'
  with pytest.raises(configuration.ConfigError, match=(
      f'^--logdir {logdir}: the name r{{20}}... is {longest + 1} bytes, and the filesystem '
      f'of {tmp_path} takes at most {longest}$')):
    logdir_checks.check_logdir(c, str(logdir))
  logdir_checks.check_logdir(c, str(tmp_path / ('r' * longest)))  # the longest it takes
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('logdir', ['/proc/x', '/proc/self/new/run', '/proc'])
def test_a_logdir_on_the_kernels_proc_file_system_is_refused_naming_it(logdir):
  """'Error: Cannot create /proc/x: No such file or directory' (the kernel's words) or
  'Cannot write /proc/config.json', exit 1, as for a full disk: a bad --logdir, exit 2."""
  c = configuration.finalize(dmc.get_config('debug'))
  with pytest.raises(configuration.ConfigError, match=(
      f"^--logdir {logdir} is in /proc, the kernel's proc file system, which holds no "
      "run's folders or files; pass a --logdir on a disk$")):
    logdir_checks.check_logdir(c, logdir)


def test_pseudo_filesystem_reads_the_mount_that_holds_the_path(tmp_path):
  info = tmp_path / 'mountinfo'
  info.write_text(
      '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n'
      '23 22 0:5 / /proc rw - proc proc rw\n'
      '24 22 0:6 / /sys rw - sysfs sysfs rw\n'
      '25 24 0:7 / /sys/a\\040b rw shared:1 - tmpfs tmpfs rw\n')  # 'a b', octal-escaped
  found = lambda path: path_lines.pseudo_filesystem(path, str(info))
  assert found('/proc/1/x') == ('/proc', 'proc') and found('/sys') == ('/sys', 'sysfs')
  assert found('/sys/a b/run') is None  # a disk's file system mounted within /sys
  assert found('/procs/run') is None and found('/home') is None
  assert path_lines.pseudo_filesystem('/proc', str(tmp_path / 'none')) is None


def test_a_logdir_path_longer_than_the_filesystem_takes_is_refused_before_writing(tmp_path):
  """Names of 250 bytes, 20 deep (a path beyond PATH_MAX, 4096 bytes): the run built its
  envs, loaded TensorFlow and compiled, then failed with 'Error: Cannot create ...: File
  name too long' (exit 1), leaving the directories it had made."""
  c = configuration.finalize(dmc.get_config('debug'))
  longest = os.pathconf(tmp_path, 'PC_PATH_MAX')  # 4096 on Linux
  logdir = os.path.join(str(tmp_path), *['p' * 250] * (longest // 251 + 1))
  with pytest.raises(configuration.ConfigError, match=(
      f'^--logdir {re.escape(logdir[:100])}\\.\\.\\. is {len(logdir)} bytes long, and the '
      f'filesystem of {tmp_path} takes paths of at most {longest} bytes, with the up to 200 '
      'the run adds for its files below it; use a shorter --logdir$')):
    logdir_checks.check_logdir(c, logdir)
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('inside', ['ckpt', 'ckpt/replay_train', 'tb', 'ckpt/new'])
def test_a_logdir_inside_a_runs_own_folders_is_refused_before_writing(tmp_path, inside):
  """--logdir=RUN/ckpt (meant: resume RUN) started a new run at step 0 there, its
  config.json, metrics and checkpoints among RUN's checkpoints (or in RUN/tb)."""
  c = configuration.finalize(dmc.get_config('debug'))
  run = tmp_path / 'run'
  for folder in ('ckpt/replay_train', 'tb'):
    (run / folder).mkdir(parents=True)
  (run / 'config.json').write_text(run_files.to_json(c))
  (run / 'ckpt' / 'checkpoint').write_text('')
  folder = inside.split('/')[0]
  with pytest.raises(configuration.ConfigError, match=(
      f'^--logdir {run}/{inside} is in the {folder}/ folder of the run {run}; a run there '
      f'would mix its files with that run\'s: pass --logdir={run} to resume it, or a '
      'directory outside it$')):
    logdir_checks.check_logdir(c, str(run / inside))
  logdir_checks.check_logdir(c, str(run))  # the run itself resumes
  logdir_checks.check_logdir(c, str(tmp_path / 'other'))


@pytest.mark.parametrize('logdir', ['gs:/bucket/run', 'gs:bucket/run', 'S3:/b/run'])
def test_a_remote_logdir_without_its_slashes_is_refused_before_writing(tmp_path, logdir):
  """gs:/bucket/run (one slash) is a local path: the run made ./gs:/bucket/run here and
  trained there, without a word."""
  c = configuration.finalize(dmc.get_config('debug'))
  scheme = logdir.split(':')[0]
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'--logdir {logdir} starts like a remote path without its //; write '
      f"{scheme.lower()}://{logdir.split(':', 1)[1].lstrip('/')}, or ./{logdir} for a local "
      f"directory named '{scheme}:'")):
    logdir_checks.check_logdir(c, logdir)
  logdir_checks.check_logdir(c, str(tmp_path / 'gs:x'))  # a local name with a colon
  logdir_checks.check_logdir(c, f'./{logdir}')


@pytest.mark.parametrize('path, line', [
    # What each line says to write is itself taken (S3:// was refused in turn).
    ('GS:/b/run', "starts like a remote path without its //; write gs://b/run, or ./GS:/b/run"),
    ('file:/tmp/run', 'starts like a remote path without its //; write file:///tmp/run,'),
    ('gs:', 'starts like a remote path without its //; write gs://BUCKET/run, or ./gs: for'),
    ('RAM://run', "is in TensorFlow's in-memory file system (ram://)"),
    ('file://', 'names nothing after file://; give a full path such as file:///PATH'),
    ('gs://b', None), ('file:///tmp/run', None), ('C:/run', None),
    ('gsx:/run', None), ('nosuchfs://b/run', None)])  # (TensorFlow's line names the last)
def test_the_url_lines_give_a_path_that_is_taken(path, line):
  refusal = path_lines.url_refusal('--logdir', path)
  assert refusal == line or refusal.startswith(f'--logdir {path} {line}'), refusal


@pytest.mark.parametrize('path', ['s3://bucket/run', 'hdfs:///run', 'https://host/run', 's3://'])
def test_a_scheme_only_tensorflow_io_provides_is_refused_where_it_is_missing(
    monkeypatch, path):
  """'Cannot read --logdir s3://bucket/run: File system scheme 's3' not implemented',
  exit code 1, once TensorFlow had loaded (s3:// named nothing after it; hdfs:// passed).
  Where tensorflow-io can be imported, TensorFlow is left to say whether it loaded."""
  scheme = path.split(':')[0]
  monkeypatch.setattr(path_lines, '_tensorflow_io_installed', lambda: False)
  assert path_lines.url_refusal('--logdir', path) == (
      f'--logdir {path}: this TensorFlow opens local, file:// and gs:// paths, not '
      f'{scheme}:// (the tensorflow-io package provides {scheme}://, and it is not '
      'installed); give a local or gs:// path')
  monkeypatch.setattr(path_lines, '_tensorflow_io_installed', lambda: True)
  assert path_lines.url_refusal('--logdir', path) in (None, (
      '--logdir s3:// names nothing after s3://; give a full path such as s3://BUCKET/run'))


@pytest.mark.parametrize('target', ['unmounted/disk', 'link'], ids=['dangling', 'loop'])
def test_logdir_through_a_broken_symlink_is_refused_before_writing(tmp_path, target):
  """A link to a disk that is not mounted, or a loop: exists() is False for it, so the
  checks passed, and the run failed to make the logdir after TensorFlow loaded, with
  'File exists'."""
  link = tmp_path / 'link'
  link.symlink_to(tmp_path / target)
  c = configuration.finalize(dmc.get_config('debug'))
  for logdir in (link, link / 'run'):
    with pytest.raises(configuration.ConfigError, match=(
        f'^--logdir {logdir}: {link} is a symbolic link to {tmp_path / target}, which does '
        'not exist or loops; fix the link or pass another --logdir$')):
      logdir_checks.check_logdir(c, str(logdir))
  assert os.listdir(tmp_path) == ['link']


@pytest.mark.parametrize('name', ['metrics.jsonl', 'ckpt'])
def test_a_file_of_the_logdir_linked_to_an_unmounted_disk_is_refused(tmp_path, name):
  """metrics.jsonl linked to a disk that is not mounted: the resume rewrote config.json,
  trained, and stopped at its first log row. A link whose directory exists is used (the
  run makes the file there)."""
  c = configuration.finalize(dmc.get_config('debug'))
  (tmp_path / name).symlink_to('/mnt/no_such_disk_dv3/' + name)
  with pytest.raises(configuration.LogdirError, match='^' + re.escape(
      f'{tmp_path / name} is a link to /mnt/no_such_disk_dv3/{name}, whose directory does '
      'not exist (a disk not mounted?); mount it, or remove the link') + '$'):
    logdir_checks.check_logdir(c, str(tmp_path))
  (tmp_path / name).unlink()
  (tmp_path / 'disk').mkdir()
  (tmp_path / 'metrics.jsonl').symlink_to(tmp_path / 'disk' / 'metrics.jsonl')
  logdir_checks.check_logdir(c, str(tmp_path))


@pytest.mark.parametrize('script', ['train_eval', 'eval_only'])
def test_a_from_checkpoint_directory_without_checkpoints_is_refused_before_tensorflow(
    tmp_path, script):
  """An empty directory, or one of other files: 'No checkpoint found in DIR' once
  TensorFlow had loaded and the agent had compiled. Directories a read may take pass."""
  c = dmc.get_config(f'{script},debug')
  c.logdir, c.run.from_checkpoint = str(tmp_path / 'run'), str(tmp_path / 'other')
  (tmp_path / 'other').mkdir()
  (tmp_path / 'other' / 'notes.txt').write_text('')
  c = configuration.finalize(c)
  what = 'a SavedModel export, ' if script == 'eval_only' else ''
  with pytest.raises(configuration.ConfigError, match='^' + re.escape(
      f"run.from_checkpoint={tmp_path / 'other'}: a directory that holds no checkpoint (no "
      "'checkpoint' file, no *.index); name a checkpoint prefix such as RUN/ckpt/ckpt-3, "
      f"{what}or a run's ckpt directory") + '$'):
    logdir_checks.check_from_checkpoint(c)
  for name in ('checkpoint', 'ckpt-1.index', 'ckpt') + (
      ('saved_model.pb',) if script == 'eval_only' else ()):  # (training's: the next test)
    (tmp_path / 'other' / name).touch()
    logdir_checks.check_from_checkpoint(c)
    (tmp_path / 'other' / name).unlink()


@pytest.mark.parametrize('script', ['train_eval', 'eval_only'])
def test_a_from_checkpoint_its_run_pruned_names_the_kept_ones(tmp_path, script):
  """RUN/ckpt/ckpt-3 of a run that trains beside, pruned since (it keeps its latest 2):
  'no such checkpoint (...ckpt-3 and ...ckpt-3.index do not exist); name a checkpoint
  prefix such as RUN/ckpt/ckpt-3', the path given. A newer number names no kept one."""
  ckpt = tmp_path / 'other' / 'ckpt'
  ckpt.mkdir(parents=True)
  for name in ('checkpoint', 'ckpt-11.index', 'ckpt-12.index'):
    (ckpt / name).write_bytes(b'')  # only their names are read
  c = dmc.get_config(f'{script},debug')
  c.logdir, c.run.from_checkpoint = str(tmp_path / 'run'), str(ckpt / 'ckpt-3')
  c = configuration.finalize(c)
  with pytest.raises(configuration.ConfigError) as error:
    logdir_checks.check_from_checkpoint(c)
  assert str(error.value) == (
      f'run.from_checkpoint={ckpt}/ckpt-3: no such checkpoint: its run keeps its latest 2 '
      f'(run.keep_checkpoints), now ckpt-11, ckpt-12; name one of them, or {ckpt} for its '
      'latest')
  c.run.from_checkpoint = str(ckpt / 'ckpt-13')
  with pytest.raises(configuration.ConfigError, match=r': no such checkpoint \('):
    logdir_checks.check_from_checkpoint(c)


@pytest.mark.parametrize('script', ['train_eval', 'train'])
def test_a_from_checkpoint_export_is_refused_in_training_before_tensorflow(tmp_path, script):
  """A SavedModel export (or its variables/ folder or prefix) given to a training run:
  'No checkpoint found in EXPORT (it is a SavedModel ...)' or '... holds no agent
  variables', exit code 1, once TensorFlow had loaded and the envs had started; export's
  --checkpoint names it before. eval_only takes the export whole (the test above)."""
  export = tmp_path / 'export'
  (export / 'variables').mkdir(parents=True)
  for name in ('saved_model.pb', 'variables/variables.index',
               'variables/variables.data-00000-of-00001'):
    (export / name).write_bytes(b'x')
  c = dmc.get_config(f'{script},debug')
  c.logdir = str(tmp_path / 'run')
  c = configuration.finalize(c)
  inside = checkpoint_paths.inside_export(str(export))
  for given, line in ((export, f'is {checkpoint_paths.A_SAVED_MODEL}'),
                      (f'{export}/', f'is {checkpoint_paths.A_SAVED_MODEL}'),
                      (export / 'variables', f'is no checkpoint of a run{inside}'),
                      (export / 'variables' / 'variables', f'is no checkpoint of a run{inside}')):
    c.run.from_checkpoint = str(given)
    with pytest.raises(configuration.ConfigError, match='^' + re.escape(
        f'run.from_checkpoint={given} {line}') + '$'):
      logdir_checks.check_from_checkpoint(c)
  assert sorted(os.listdir(tmp_path)) == ['export']  # nothing written


def test_a_logdir_that_holds_runs_is_refused_before_writing(tmp_path):
  """--logdir=~/logdir/$RUN with RUN unset started a new run at step 0 in ~/logdir,
  among the runs' folders, instead of resuming one. A run's own logdir, one holding
  only a multi_worker run's workers/, and a folder of other things pass."""
  c = configuration.finalize(dmc.get_config('debug'))
  for name in ('run1', 'run2'):
    (tmp_path / 'logdir' / name).mkdir(parents=True)
    (tmp_path / 'logdir' / name / 'config.json').write_text(run_files.to_json(c))
  # Another program's folder (a model's config.json, no task) was named a run to resume.
  (tmp_path / 'logdir' / 'a_model').mkdir()
  (tmp_path / 'logdir' / 'a_model' / 'config.json').write_text('{"model_type": "bert"}')
  before = sorted(os.listdir(tmp_path / 'logdir'))
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'--logdir {tmp_path}/logdir/ holds 2 runs (run1, run2) and is none itself; a new run '
      'there would put its files among them: pass one of them to resume it, or a new '
      f'directory, e.g. --logdir={tmp_path}/logdir/NAME') + '$'):
    logdir_checks.check_logdir(c, f'{tmp_path}/logdir/')
  assert sorted(os.listdir(tmp_path / 'logdir')) == before
  logdir_checks.check_logdir(c, str(tmp_path / 'logdir' / 'run1'))
  (tmp_path / 'other' / 'workers' / '1').mkdir(parents=True)
  (tmp_path / 'other' / 'workers' / '1' / 'config.json').write_text('{}')
  (tmp_path / 'other' / 'notes').mkdir()
  logdir_checks.check_logdir(c, str(tmp_path / 'other'))


def test_the_home_directory_or_the_root_is_refused_as_a_logdir(tmp_path, monkeypatch):
  """--logdir=~/$RUN with RUN unset started a run among the user's own files, with
  only the warning of a folder of other things."""
  c = configuration.finalize(dmc.get_config('debug'))
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))
  (tmp_path / 'home' / 'logdir').mkdir(parents=True)
  for given, what in ((f'{tmp_path}/home/', 'your home directory'), (f'{tmp_path}/home/logdir/..',
                      'your home directory'), ('/', 'the root of the file system')):
    with pytest.raises(configuration.ConfigError, match=re.escape(
        f'--logdir {given} is {what}; a run there would put its files among yours (a $RUN in '
        'the path unset?): give it a folder of its own, e.g. --logdir=~/logdir/NAME') + '$'):
      logdir_checks.check_logdir(c, given)
  assert os.listdir(tmp_path / 'home') == ['logdir']
  logdir_checks.check_logdir(c, f'{tmp_path}/home/logdir/run1')


def test_a_logdir_of_other_things_is_a_warning_line(tmp_path):
  """--logdir=. in a source checkout put config.json, ckpt/ and the logs among its files
  without a word. A new or empty folder, a run's own, and one holding only a
  multi_worker run's workers/ say nothing."""
  assert logdir_checks.crowded_logdir_warning(str(tmp_path / 'new')) is None
  assert logdir_checks.crowded_logdir_warning(str(tmp_path)) is None
  (tmp_path / 'workers' / '1').mkdir(parents=True)
  assert logdir_checks.crowded_logdir_warning(str(tmp_path)) is None
  for name in ('setup.py', 'README.md', '.git', 'src'):
    (tmp_path / name).touch()
  assert logdir_checks.crowded_logdir_warning(str(tmp_path)) == (
      f'Warning: --logdir {tmp_path} holds no run but 4 other entries (.git, README.md, '
      "setup.py, ...); the run puts its files (config.json, spaces.json, ckpt/, the logs) "
      'among them')
  (tmp_path / 'config.json').write_text('{}')  # a run's own: its files are there already
  assert logdir_checks.crowded_logdir_warning(str(tmp_path)) is None


@pytest.mark.parametrize('script', ['train_eval', 'train', 'eval_only'])
def test_checkpoints_without_a_config_json_are_a_warning_line(tmp_path, script):
  """config.json deleted (or a ckpt/ copied into a new folder): the resume went on
  without a word with other settings (batch_size, replay.size, run.train_ratio), which a
  config.json refuses without run.allow_other_config. A new logdir, a run's own and an
  evaluation's (it saves no checkpoint) say nothing."""
  c = dmc.get_config(f'{script},debug')
  c.logdir = str(tmp_path)
  c = configuration.finalize(c)
  assert logdir_checks.missing_config_warning(c) is None  # new
  (tmp_path / 'ckpt').mkdir()
  (tmp_path / 'ckpt' / 'ckpt-1.index').write_bytes(b'')
  # What a resume set aside is no other entry: 'holds no run' came first.
  (tmp_path / 'metrics.after-step-10.jsonl').write_text('')
  assert logdir_checks.crowded_logdir_warning(str(tmp_path)) is None
  if script == 'eval_only':
    assert logdir_checks.missing_config_warning(c) is None
    return
  assert logdir_checks.missing_config_warning(c) == (
      f"Warning: {tmp_path}/config.json is missing beside the checkpoints in ckpt/, so this "
      "command's settings cannot be compared with the ones they were trained with: a "
      'resume checks only their task and agent settings, and takes the rest as given')
  (tmp_path / 'config.json').write_text(run_files.to_json(c))
  assert logdir_checks.missing_config_warning(c) is None  # a run's own


def test_a_from_checkpoint_a_resume_does_not_read_is_a_warning_line(tmp_path):
  """Added to a resume (to fine-tune in the same logdir), it was not read, without a
  word. The one the run's config.json holds (the same command again) says nothing."""
  c = configuration.finalize(dmc.get_config('debug'))
  c.logdir = str(tmp_path)
  c.run.from_checkpoint = '~/other/ckpt'
  (tmp_path / 'config.json').write_text(run_files.to_json(c))
  assert run_files.ignored_from_checkpoint(c) is None
  for saved in ('', '/elsewhere/ckpt'):
    c.run.from_checkpoint = saved
    (tmp_path / 'config.json').write_text(run_files.to_json(c))
    c.run.from_checkpoint = '~/other/ckpt'
    assert run_files.ignored_from_checkpoint(c) == (
        'Warning: run.from_checkpoint=~/other/ckpt is not read: a resume loads its own '
        'latest checkpoint, which holds the whole agent; to start from it, use a new '
        '--logdir')
  c.run.from_checkpoint = ''
  assert run_files.ignored_from_checkpoint(c) is None
  # The one it started from with another regex: its variables were not loaded either.
  c.run.from_checkpoint, c.run.from_checkpoint_regex = '~/other/ckpt', '(enc|dyn)/'
  (tmp_path / 'config.json').write_text(run_files.to_json(c))
  c.run.from_checkpoint_regex = '.*'
  assert run_files.ignored_from_checkpoint(c) == (
      "Warning: run.from_checkpoint_regex='.*' is not read: a resume loads its own latest "
      "checkpoint, which holds the whole agent (this run started from '(enc|dyn)/' of it); "
      'to start from it so, use a new --logdir')


def test_a_ckpt_linked_into_another_runs_folder_is_refused_before_writing(tmp_path):
  """The other run's checkpoints were resumed as this run's, and its saves pruned them.
  A ckpt/ linked to a directory of no run (another disk), or to one in its own logdir,
  passes."""
  c = configuration.finalize(dmc.get_config('debug'))
  (tmp_path / 'a' / 'ckpt').mkdir(parents=True)
  (tmp_path / 'a' / 'config.json').write_text(run_files.to_json(c))
  (tmp_path / 'b').mkdir()
  (tmp_path / 'b' / 'ckpt').symlink_to('../a/ckpt')
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'{tmp_path}/b/ckpt is a symbolic link to ../a/ckpt, in the run {tmp_path}/a; its '
      f"saves would prune that run's checkpoints: pass --logdir={tmp_path}/a to resume it, "
      'or remove the link and start from its agent with '
      f'--config.run.from_checkpoint={tmp_path}/a/ckpt') + '$'):
    logdir_checks.check_logdir(c, str(tmp_path / 'b'))
  (tmp_path / 'disk').mkdir()
  (tmp_path / 'c').mkdir()
  (tmp_path / 'c' / 'ckpt').symlink_to(tmp_path / 'disk')
  logdir_checks.check_logdir(c, str(tmp_path / 'c'))
  (tmp_path / 'a' / 'ckpt').rename(tmp_path / 'a' / 'kept')
  (tmp_path / 'a' / 'ckpt').symlink_to('kept')
  logdir_checks.check_logdir(c, str(tmp_path / 'a'))
  c.script = 'eval_only'  # it writes no checkpoints
  logdir_checks.check_logdir(c, str(tmp_path / 'b'))


@pytest.mark.parametrize('script', ['train_eval', 'eval_only'])
def test_a_logdir_that_holds_an_export_is_refused_before_writing(tmp_path, script):
  """--logdir of an export (the folder --out wrote): the run put config.json, ckpt/ and
  its metrics among the SavedModel's files, and an export --overwrite to that folder
  then deleted them with the old export (a run's checkpoints lost)."""
  c = configuration.finalize(dmc.get_config(f'{script},debug'))
  (tmp_path / 'export' / 'variables').mkdir(parents=True)
  (tmp_path / 'export' / 'saved_model.pb').write_bytes(b'graph')
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'--logdir {tmp_path}/export holds an export (saved_model.pb); a run there would put '
      "its files among the SavedModel's, which an export --overwrite to it deletes: give "
      'another --logdir (to evaluate the export, pass it as --config.run.from_checkpoint)')
      + '$'):
    logdir_checks.check_logdir(c, str(tmp_path / 'export'))
  # One inside it (its variables/, or a new folder there) trained there: the same loss.
  for inside in ('variables', 'run2'):
    with pytest.raises(configuration.ConfigError, match=re.escape(
        f'--logdir {tmp_path}/export/{inside} is inside the export {tmp_path}/export '
        "(saved_model.pb), which an export --overwrite to it deletes, the run's files "
        'with it: give a --logdir outside it') + '$'):
      logdir_checks.check_logdir(c, str(tmp_path / 'export' / inside))
  assert sorted(os.listdir(tmp_path / 'export')) == ['saved_model.pb', 'variables']


@pytest.mark.parametrize('folder', ['replay_train', 'replay_eval'])
def test_a_replay_folder_linked_into_another_runs_is_refused_before_writing(tmp_path, folder):
  """ckpt/replay_train linked to another run's (to share its disk): a new run there
  deleted that run's replay files as it pruned its own (4 chunks of ours in their
  place). A replay folder linked to a directory of no run (another disk) passes."""
  c = configuration.finalize(dmc.get_config('debug'))
  (tmp_path / 'a' / 'ckpt' / folder).mkdir(parents=True)
  (tmp_path / 'a' / 'config.json').write_text(run_files.to_json(c))
  (tmp_path / 'b' / 'ckpt').mkdir(parents=True)
  (tmp_path / 'b' / 'ckpt' / folder).symlink_to(f'../../a/ckpt/{folder}')
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'{tmp_path}/b/ckpt/{folder} is a symbolic link to ../../a/ckpt/{folder}, in the run '
      f"{tmp_path}/a; this run's saves would prune that run's replay files: remove the "
      f'link (the run makes its own folder), or pass --logdir={tmp_path}/a to resume that '
      'run') + '$'):
    logdir_checks.check_logdir(c, str(tmp_path / 'b'))
  (tmp_path / 'disk').mkdir()
  (tmp_path / 'c' / 'ckpt').mkdir(parents=True)
  (tmp_path / 'c' / 'ckpt' / folder).symlink_to(tmp_path / 'disk')
  logdir_checks.check_logdir(c, str(tmp_path / 'c'))


def test_xla_cache_that_cannot_be_a_directory_is_a_warning_and_no_cache(tmp_path, monkeypatch):
  """It stopped the run ('Config error: xla_cache=... cannot be a directory'): the cache
  only saves compile time, so the run goes on without it."""
  from dreamerv3_tf import main
  monkeypatch.delitem(sys.modules, 'tensorflow')  # as in main, before TensorFlow loads
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  (tmp_path / 'file').write_text('x')
  (tmp_path / 'cache').mkdir()
  (tmp_path / 'cache' / cpuinfo.kind_key()).write_text('x')  # its CPU kind's folder
  # The cause was 'File exists' or 'Not a directory', naming neither the file nor what it
  # is: of a cache folder that is one, for the middle case.
  for cache, file in (('file', 'file'), ('cache', f'cache/{cpuinfo.kind_key()}'),
                      ('file/xla', 'file')):
    assert main.use_xla_cache(str(tmp_path / cache)) == (
        f'Warning: xla_cache={tmp_path}/{cache} cannot be a directory of compiled programs '
        f"({tmp_path}/{file} is a file): this run compiles without it; pass another, or '' "
        'for none')
  # A symlink loop was called 'a file'.
  os.symlink(tmp_path / 'loop2', tmp_path / 'loop1')
  os.symlink(tmp_path / 'loop1', tmp_path / 'loop2')
  assert main.use_xla_cache(str(tmp_path / 'loop1' / 'xla')) == (
      f'Warning: xla_cache={tmp_path}/loop1/xla cannot be a directory of compiled programs '
      f'({tmp_path}/loop1 is a symbolic link to {tmp_path}/loop2, which does not exist or '
      "loops): this run compiles without it; pass another, or '' for none")
  # TF_XLA_FLAGS quotes its values with '"': the cache of '.../a "q' went to '.../a '.
  assert main.use_xla_cache(str(tmp_path / 'a "q')) == (
      f'Warning: xla_cache={tmp_path}/a "q holds \'"\', which TF_XLA_FLAGS cannot carry (it '
      "quotes its values with it): this run compiles without it; pass another, or '' for none")
  assert 'TF_XLA_FLAGS' not in os.environ
  assert sorted(os.listdir(tmp_path)) == ['cache', 'file', 'loop1', 'loop2']


def test_xla_cache_with_a_space_in_its_path_is_quoted(tmp_path, monkeypatch):
  """TensorFlow splits TF_XLA_FLAGS at spaces: the cache of '.../my cache' went to
  '.../my', silently (and to the home directory itself where $HOME has a space)."""
  from dreamerv3_tf import main
  monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  main.use_xla_cache(str(tmp_path / 'my cache'))
  assert os.environ['TF_XLA_FLAGS'] == (
      f'--tf_xla_persistent_cache_directory="{tmp_path}/my cache/{cpuinfo.kind_key()}"')
  assert os.listdir(tmp_path) == ['my cache']


def test_a_relative_xla_cache_is_the_callers_directory(tmp_path, monkeypatch):
  """TF_XLA_FLAGS carried it relative: an env in this process that changes the working
  directory (os.chdir to its assets) had XLA store the programs in the env's directory
  (tried: --config.xla_cache=relcache gave /tmp/relcache), which the next start missed."""
  from dreamerv3_tf import main
  monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  monkeypatch.chdir(tmp_path)
  main.use_xla_cache('xla')
  assert os.environ['TF_XLA_FLAGS'] == (
      f'--tf_xla_persistent_cache_directory={tmp_path}/xla/{cpuinfo.kind_key()}')


def test_an_xla_cache_url_is_not_made_a_local_path(tmp_path, monkeypatch):
  """Made a full path for envs that change the working directory, gs://bucket/xla became
  '/cwd/gs:/bucket/xla' (review of sweep 65). Its folders were made locally too, as
  ./gs:/bucket/xla/<CPU kind> (sweep 80): os.makedirs reads '//' as '/'."""
  from dreamerv3_tf import main
  monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  monkeypatch.chdir(tmp_path)
  assert main.use_xla_cache('gs://bucket/xla') is None
  assert os.environ['TF_XLA_FLAGS'] == (
      f'--tf_xla_persistent_cache_directory=gs://bucket/xla/{cpuinfo.kind_key()}')
  assert os.listdir(tmp_path) == []


def test_a_multi_worker_runs_relative_from_checkpoint_stays_as_its_processes_compare_it(
    tmp_path, monkeypatch):
  """Its processes compare run.from_checkpoint as text: made a full path from each
  host's own folder, the same relative flag was 'started with other flags' on hosts
  that start elsewhere (review of sweep 65). A single process's is made full."""
  from dreamerv3_tf import main
  monkeypatch.chdir(tmp_path)
  for distribute, expected in (('multi_worker', 'old/ckpt'), ('default', f'{tmp_path}/old/ckpt')):
    c = gym.get_config('train_eval,debug')
    c.distribute, c.run.from_checkpoint = distribute, 'old/ckpt'
    main._full_checkpoint_paths(c)
    assert c.run.from_checkpoint == expected, distribute


def test_xla_cache_keeps_a_folder_per_cpu_kind(tmp_path, monkeypatch):
  """XLA loads a program compiled for CPU features this CPU lacks with a hidden error
  line only (tools/cpuid_mask.c showed it): an AVX2-only node sharing its home with an
  AVX-512 one loaded AVX-512 programs from ~/.cache/dreamerv3_tf/xla, which ends a
  run with SIGILL there. tests/test_as_avx2.py checks that the kinds' folders differ."""
  from dreamerv3_tf import main
  monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  main.use_xla_cache(str(tmp_path / 'xla'))
  kind = cpuinfo.kind_key()
  assert os.environ['TF_XLA_FLAGS'] == (
      f'--tf_xla_persistent_cache_directory={tmp_path}/xla/{kind}')
  assert os.listdir(tmp_path / 'xla') == [kind]


def test_xla_cache_writes_that_a_kill_cut_are_removed(tmp_path, monkeypatch):
  """A run killed as XLA wrote a program left its temporary (0.4-6 MB), never read and
  never removed. One a run sharing the cache writes now is left alone."""
  from dreamerv3_tf import main
  monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  kind = tmp_path / 'xla' / cpuinfo.kind_key()
  kind.mkdir(parents=True)
  program = 'xla_compile_cache__143__962__XLA_CPU_JIT.pb'
  names = [program, f'{program}vm-1d71fc6e-19921-661efd4b.tmp',
           f'{program}vm-1d71fc6e-20164-661efdbb.tmp', 'notes.tmp']
  for name in names:
    (kind / name).write_bytes(b'x')
    os.utime(kind / name, (time.time() - 7200, time.time() - 7200))
  os.utime(kind / names[2])  # being written by another run
  main.use_xla_cache(str(tmp_path / 'xla'))
  assert sorted(os.listdir(kind)) == sorted([program, names[2], 'notes.tmp'])


_USE_XLA_CACHE = ('import os, sys; from dreamerv3_tf import main; '
                  'print(main.use_xla_cache(sys.argv[1])); print(os.environ["TF_XLA_FLAGS"])')


def _read_only_lines(kind_dir, cause):
  """What `_USE_XLA_CACHE` prints for a cache that is read but never written."""
  return [f'Warning: the XLA cache {kind_dir} cannot store compiled programs ({cause}): this '
          'run loads those it holds and compiles the rest without storing them; give it room '
          "and write access, or pass another xla_cache ('' for none)",
          f'--tf_xla_persistent_cache_directory={kind_dir} '
          '--tf_xla_persistent_cache_read_only=true']


def test_xla_cache_that_cannot_be_written_is_read_only_with_a_warning(tmp_path, unprivileged):
  """An existing directory we may not write: XLA failed after the first compile,
  naming a temporary file of its own, and the run had written its logdir; then it
  stopped the run before it started. Its programs are still read."""
  cache = tmp_path / 'cache'
  (cache / cpuinfo.kind_key()).mkdir(parents=True)
  for folder in (cache / cpuinfo.kind_key(), cache):
    folder.chmod(0o555)
  env = {k: v for k, v in os.environ.items() if k != 'TF_XLA_FLAGS'}
  result = cli_zygote.run([*unprivileged, sys.executable, '-c', _USE_XLA_CACHE, str(cache)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.splitlines() == _read_only_lines(cache / cpuinfo.kind_key(),
                                                        'Permission denied')


def test_xla_cache_on_a_full_disk_is_read_only_with_a_warning(tmp_path):
  """A full disk (its HOME): the start's check wrote an empty file, which fit, and the
  run stopped at its first compile ('the XLA cache ... cannot store a compiled program
  (...tmp; No space left on device)')."""
  tmpfs_namespace.require()
  env = {k: v for k, v in os.environ.items() if k != 'TF_XLA_FLAGS'}
  result = subprocess.run(
      [*tmpfs_namespace.prefix(tmp_path, fill=True), sys.executable, '-c', _USE_XLA_CACHE,
       str(tmp_path / 'xla')], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.splitlines() == _read_only_lines(tmp_path / 'xla' / cpuinfo.kind_key(),
                                                        'No space left on device')


def test_xla_cache_with_little_room_is_read_only_with_a_warning(tmp_path, monkeypatch):
  """A disk nearly full: the first compile's program may not fit, which stopped the run."""
  from dreamerv3_tf import main
  monkeypatch.delitem(sys.modules, 'tensorflow', raising=False)
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  monkeypatch.setattr(main, 'XLA_CACHE_ROOM', 2 ** 62)  # more than any disk has
  warning = main.use_xla_cache(str(tmp_path / 'xla'))
  kind = tmp_path / 'xla' / cpuinfo.kind_key()
  assert re.fullmatch(
      f'Warning: the XLA cache {kind} cannot store compiled programs \\([0-9.]+ MiB free on '
      f'its file system, below the {2 ** 42} MiB that compiled programs may take\\): this '
      'run loads those it holds .*', warning), warning
  assert os.environ['TF_XLA_FLAGS'] == (
      f'--tf_xla_persistent_cache_directory={kind} --tf_xla_persistent_cache_read_only=true')


def test_what_reports_and_videos_look_like_may_change_on_a_resume(tmp_path):
  """run.report_batches (batches a report averages) and logger.fps (the videos' frame
  rate) change no training, as report_every does not: a resume was refused for them."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  c.run.report_batches, c.logger.fps = 4, 30
  logdir_checks.check_logdir(c, str(tmp_path))


def test_a_resume_may_compile_with_other_xla_flags(tmp_path):
  """config.xla_flags, as xla_cache and jit, changes how the steps compile, not what
  trains: a resume with the README's flag for a run short of memory was refused as
  another config (sweep 77), and so was any run saved before the key existed
  ('xla_flags: (absent: an older version?) -> \'\'')."""
  c = configuration.finalize(dmc.get_config('debug'))
  logdir_checks.save(c, str(tmp_path))
  c.xla_flags = '--xla_cpu_use_fusion_emitters=false'
  logdir_checks.check_logdir(c, str(tmp_path))
  old = json.loads(run_files.to_json(c))
  del old['xla_flags']
  (tmp_path / 'config.json').write_text(json.dumps(old))
  logdir_checks.check_logdir(c, str(tmp_path))


@pytest.mark.parametrize('key', ['max_nonfinite_updates', 'env_timeout'])
def test_logdir_saved_before_a_run_key_existed_resumes(tmp_path, key):
  c = configuration.finalize(dmc.get_config('debug'))
  old = json.loads(run_files.to_json(c))
  del old['run'][key]
  (tmp_path / 'config.json').write_text(json.dumps(old))
  logdir_checks.save(c, str(tmp_path))  # a runtime key: no ConfigError
  assert json.loads((tmp_path / 'config.json').read_text())['run'][key]


@pytest.mark.parametrize('key, value, message', [
    # Never read: the run played 1 eval episode, without a word.
    ('run.eval_episodes', 4, 'the config file sets run.eval_episodes, a key configs/base.py '
     "lacks (did you mean run.eval_eps?): a config file sets only base's keys; fix its name "
     'or remove it'),
    # "ValueError: Unrecognized keyword arguments passed to RSSM" once TensorFlow loaded.
    ('agent.rssm.newkey', 1, 'the config file sets agent.rssm.newkey, a key configs/base.py '
     'lacks:'),
    ('mykey', 'x', 'the config file sets mykey, a key configs/base.py lacks:'),
    ('env.py.length', 5, None),  # the env's own arguments (task py_...: checked there)
])
def test_a_key_a_config_file_adds_is_named(key, value, message):
  c = dmc.get_config('debug')
  node, *parts = [c, *key.split('.')]
  for part in parts[:-1]:
    node = node[part]
  node[parts[-1]] = value
  if message is None:
    with pytest.raises(configuration.ConfigError, match='env.py='):  # not its key
      configuration.finalize(c)
    return
  with pytest.raises(configuration.ConfigError) as caught:
    configuration.finalize(c)
  assert str(caught.value).startswith(message), caught.value


@pytest.mark.parametrize('args, message', [
    (['--config.run.eval_epz=4'], "unknown config key 'run.eval_epz'; did you mean \"eval_eps\""),
    (['--config.agent.nosuch=1'], "unknown config key 'agent.nosuch'"),
    # "string indices must be integers, not 'str'", naming no key, and "Attribute <class
    # 'int'>.x does not exist and the type does not support indexing. Attempting to ...".
    (['--config.task.name=x'], "Config error: unknown config key 'task.name': task is one "
     "value ('"),
    (['--config.run.steps.x=1'], "Config error: unknown config key 'run.steps.x': run.steps "
     'is one value ('),
    # "Could not parse 'run..steps': SyntaxError('invalid syntax', ('<unknown>', 1, 5, ...))"
    (['--config.run..steps=1'], "Config error: --config.run..steps: 'run..steps' is no "
     'config key; a key is names joined by dots, e.g. --config.run.steps=1000'),
    (['--config.run.eval_eps=many'], 'run.eval_eps=many'),
    (['--config.replay.size=3'], 'replay.size=3 is smaller than one batch'),
    (['--config.task=mars_rover'], "task='mars_rover'"),
    # XLA printed its ~90 lines of flags at the first compile, after config.json.
    (['--config.xla_flags=--xla_cpu_use_fusion_emitters=maybe'],
     "xla_flags='--xla_cpu_use_fusion_emitters=maybe': XLA cannot parse a value of them; "
     'XLA would stop the run at its first compile'),
    # A group of keys given one value printed ml_collections' parse error with a memory
    # address ("malformed node or string on line 1: <ast.Name object at 0x7f...>").
    (['--config.agent=small'], 'flag --config.agent=small: agent is a group of keys, not '
     'one value; set its keys one by one, e.g. --config.agent.KEY=VALUE'),
    (['--config.env.py={bad'], "flag --config.env.py={bad: env.py takes a Python dict "
     "literal, e.g. --config.env.py='{\"length\": 5}', and '{bad' is not one"),
    # These two said to set its keys one by one, --config.env.py.KEY=VALUE, which the
    # third is: 'unknown config key' alone.
    (['--config.env.py=length=5'], "flag --config.env.py=length=5: env.py takes a Python "
     "dict literal, e.g. --config.env.py='{\"length\": 5}', and 'length=5' is not one"),
    (['--config.env.py='], "flag --config.env.py=: env.py takes a Python dict literal, "
     "e.g. --config.env.py='{\"length\": 5}', and '' is not one"),
    (['--config.env.py.length=5'], "unknown config key 'env.py.length'; env.py takes your "
     "env's arguments as one Python dict literal, e.g. --config.env.py='{\"length\": "
     "VALUE}'"),
    # Its example was env.py's: "e.g. --config.agent.loss_scales='{"length": 5}'".
    (['--config.agent.loss_scales={"rec": inf}'], 'flag --config.agent.loss_scales={"rec": '
     'inf}: \'{"rec": inf}\' is not a Python dict literal; set the keys of agent.loss_scales '
     'one by one, e.g. --config.agent.loss_scales.KEY=VALUE'),
    # Said "invalid literal for int() with base 10: '1e5'".
    (['--config.run.steps=1e5'], 'flag --config.run.steps=1e5: run.steps takes an integer; '
     'write 100000'),
    (['--config.run.envs=2.5'], 'flag --config.run.envs=2.5: run.envs takes an integer'),
    # Its 5000 digits, then Python's "use sys.set_int_max_str_digits() to increase the
    # limit"; 30 digits are named as beyond 64 bits by finalize.
    (['--config.run.steps=' + '9' * 5000], 'Config error: flag --config.run.steps: its value '
     'of 5000 digits is beyond a 64-bit integer (< 2**63)'),
    # Said "could not convert string to float: ''".
    (['--config.run.train_ratio='], 'flag --config.run.train_ratio=: run.train_ratio takes '
     'a number'),
    # Said "('Non-boolean argument to boolean flag', 'yes')".
    (['--config.random_agent=yes'], 'flag --config.random_agent=yes: random_agent takes '
     'True or False'),
    # 'Error: ValueError: parallel=True needs env constructors that are picklable as plain
    # data ...' and the whole env config (exit code 1), for any task.
    (['--config.env.py={1: 2}'], "Config error: env.py={1: 2} is a dict with the key 1 of "
     "type int: the env's arguments must be JSON data"),
    # An option of a suite's env that base lacks was "unknown config key 'env.atari.autostart'"
    # alone, which no flag can set: a config file can (sweep 78).
    (['--config.env.atari.autostart=True'], "unknown config key 'env.atari.autostart': atari "
     "tasks take it, but configs/base.py's env.atari lacks it, which a flag cannot add; set "
     'c.env.atari.autostart = VALUE in your own config file'),
    # These named no option the suite takes ('resize' said 'did you mean "size"', atari has
    # no resize option: its images are resized with PIL's bilinear filter).
    (['--config.env.atari.frameskip=4'], "unknown config key 'env.atari.frameskip': "
     'atari tasks take no such option (did you mean env.atari.repeat?); they take repeat, '
     'size, gray, noops, lives, sticky, actions, length, pooling, aggregate, clip_reward, '
     'autostart'),
    (['--config.env.atari.resize=opencv'], "unknown config key 'env.atari.resize': atari "
     "tasks take no such option (images are resized with PIL's bilinear filter, the "
     "official 'pillow'); they take repeat, size, "),
    (['--config.env.atari100k.sticky_actions=True'], "unknown config key "
     "'env.atari100k.sticky_actions': atari100k tasks take no such option (did you mean "
     'env.atari100k.sticky?); they take repeat, size, '),
    (['--config.env.crafter.seed=3'], "unknown config key 'env.crafter.seed': crafter tasks "
     "take no such option (each env's seed comes from --config.seed); they take size"),
])
def test_bad_flags_fail_with_one_line(args, message, tmp_path):
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--logdir={tmp_path}', *args)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert message in lines[0], lines[0]
  assert not (tmp_path / 'config.json').exists()


@pytest.mark.parametrize('flag, key', [
    # ml_collections' parse of the key: "Could not parse 'run..steps': SyntaxError(
    # 'invalid syntax', ('<unknown>', 1, 5, 'run..steps', 1, 6))", naming no flag.
    ('--config.=1', ''), ('--config..seed=1', '.seed'), ('--config.run.=3', 'run.'),
    ('--config.run..steps=1', 'run..steps'), ('--config. seed=1', ' seed'),
    ('-config.run.=3', 'run.'),
    ('--config.1=2', '1'),  # said 'Config error: 1'
    # said 'malformed node or string on line 1: <ast.Name object at 0x7f...>'
    ('--config.run-steps=1', 'run-steps')])
def test_a_malformed_config_key_is_named(flag, key):
  name = flag.split('=', 1)[0]
  assert flag_lines.malformed_config_key(['main', '--config=configs/dmc.py:debug', flag]) == (
      f'{name}: {key!r} is no config key; a key is names joined by dots, e.g. '
      '--config.run.steps=1000')


@pytest.mark.parametrize('flag, line', [
    # "0 is not a valid index for <class 'tuple'> (in: agent.enc.mults[0])", and
    # "<class 'int'> does not support integer indexing [0]]. Attempting to lookup: ...".
    ('--config.agent.enc.mults[0]=3', "unknown config key 'agent.enc.mults[0]': "
     'agent.enc.mults is one value ((2, 3, 4, 4)), not a group of keys'),
    ('--config.run.steps[0]=1', "unknown config key 'run.steps[0]': run.steps is one value "
     '(1000), not a group of keys'),
    ("--config.replay.fracs['uniform']=1.0", None),  # ml_collections' index into a dict
    # said "unknown config key '0'"
    ('--config.run[0]=1', "unknown config key 'run[0]': run is a group of keys, named "
     "run.KEY (or run['KEY'])"),
    ("--config.replay.fracs['x']=1.0", "unknown config key \"replay.fracs['x']\": "
     "replay.fracs is a group of keys, named replay.fracs.KEY (or replay.fracs['KEY'])")])
def test_an_index_into_a_key_of_one_value_is_named(flag, line):
  from dreamerv3_tf import main
  c = dmc.get_config('train_eval,debug')
  assert main._key_below_a_value(c, ['main', flag]) == line


def test_well_formed_config_keys_pass_the_key_check():
  # (an index into a dict is ml_collections' own syntax, and a value may hold anything)
  argv = ['main', '--config=configs/dmc.py:debug', "--config.replay.fracs['uniform']=1.0",
          '--config.run.steps', '1..2', '--config.task=a..b', '--logdir=.x', '--config.seed=1']
  assert flag_lines.malformed_config_key(argv) is None


def test_a_flag_given_twice_with_other_values_is_a_warning_line(tmp_path):
  """absl took the last silently; launchers put their flags before the user's, so it
  is told, not refused. The same value twice, and a bare boolean, say nothing."""
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--logdir={tmp_path}/a',
                    '--config.run.steps=1000', '--config.seed', '3', '--config.seed=3',
                    '--config.random_agent', '--config.random_agent=True',
                    f'--logdir={tmp_path}/b', '--config.run.steps', '5',
                    '--config.task=walker_walk')  # a config error ends it before TensorFlow
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 3, result.stderr
  assert lines[0] == (f"Warning: --logdir is given 2 times ('{tmp_path}/a', '{tmp_path}/b'); "
                      f"the last, '{tmp_path}/b', is used"), lines
  assert lines[1] == ("Warning: --config.run.steps is given 2 times ('1000', '5'); the last, "
                      "'5', is used"), lines
  assert lines[2].startswith('Config error: task='), lines


def test_h_is_help(tmp_path):
  """`-h` was "Config error: Unknown command line flag 'h'" in main, export and the
  importer: a newcomer's first try at help."""
  asked, help_ = run_main('-h'), run_main('--help')
  assert (asked.returncode, asked.stdout, asked.stderr) == (
      help_.returncode, help_.stdout, help_.stderr)
  assert 'python -m dreamerv3_tf.main --config=' in asked.stdout, asked.stdout
  # Help asked for is no failure: absl's exit code 1 failed `main --help && ...`.
  assert asked.returncode == 0 and asked.stderr == ''
  for module in ('dreamerv3_tf.main', 'dreamerv3_tf.interop.official'):
    result = cli_zygote.run([sys.executable, '-m', module, '--helpfull'], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and '--config' in result.stdout, result.stderr[-2000:]
  # A value given as '--name VALUE', and anything after '--', stay as they are.
  for argv in (['main', '--logdir', '-h'], ['main', '--', '-h']):
    assert flag_lines.help_alias(argv) == argv
  assert flag_lines.help_alias(['export', '--out=x', '-h']) == ['export', '--out=x', '--help']


@pytest.mark.parametrize('module, text', [
    ('dreamerv3_tf.main', 'python -m dreamerv3_tf.main --config='),
    ('dreamerv3_tf.export', 'step_eval(obs_<key> <[B, ...]>, obs_is_first <bool>[B]'),
    ('dreamerv3_tf.interop.official', 'python -m dreamerv3_tf.interop.official --checkpoint=')])
def test_the_help_keeps_its_text_where_python_drops_docstrings(module, text):
  """PYTHONOPTIMIZE=2 (python -OO) drops docstrings, where absl's --help takes its text:
  only the flags were listed (export's signatures, which the README says its help lists,
  were gone). A real process: the zygote's interpreter keeps its docstrings."""
  result = subprocess.run([sys.executable, '-m', module, '--help'], cwd=ROOT,
                          env=dict(os.environ, PYTHONOPTIMIZE='2'), capture_output=True,
                          text=True, timeout=120)
  assert (result.returncode, result.stderr) == (0, ''), result.stderr[-2000:]
  assert text in result.stdout, result.stdout[:2000]


@pytest.mark.parametrize('module', [
    'dreamerv3_tf.main', 'dreamerv3_tf.export', 'dreamerv3_tf.interop.official'])
def test_a_help_whose_reader_stopped_reading_ends_quietly(module):
  """`--help | head` (or a pager quit early) was a traceback from export, ending with
  BrokenPipeError, and 'Config error: [Errno 32] Broken pipe' (exit code 2) from main,
  depending on when head closed the pipe. Here the pipe has no reader from the start."""
  read, write = os.pipe()
  os.close(read)
  try:
    result = cli_zygote.run([sys.executable, '-m', module, '--help'], cwd=ROOT, stdout=write,
                            stderr=subprocess.PIPE, text=True, timeout=120)
  finally:
    os.close(write)
  assert (result.returncode, result.stderr) == (0, ''), result.stderr[-2000:]


def test_a_logdir_given_as_both_flags_is_a_warning_line(tmp_path):
  """--logdir wins over --config.logdir, in whichever order: the other was ignored
  without a word."""
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--config.logdir={tmp_path}/b',
                    f'--logdir={tmp_path}/a', '--config.task=walker_walk')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 2, result.stderr
  assert lines[0] == (f"Warning: --logdir and --config.logdir are both given ('{tmp_path}/a', "
                      f"'{tmp_path}/b'); --logdir's, '{tmp_path}/a', is used"), lines
  assert lines[1].startswith('Config error: task='), lines


@pytest.mark.parametrize('args, flag, following', [
    # '--logdir $RUN --config...' with RUN unset: absl took the next flag for the logdir,
    # and the run trained in ./--config.run.eval_eps=2 without that flag. (The bad task
    # stops the old code before it writes.)
    (['--config.task=walker_walk', '--logdir', '--config.run.eval_eps=2'], '--logdir',
     '--config.run.eval_eps=2'),
    (['--config', '--config.task=walker_walk'], '--config', '--config.task=walker_walk'),
    # A config key's: 'task='--config.run.eval_eps=2'; expected <suite>_<name> ...', and
    # 'run.from_checkpoint=--logdir=x: no such checkpoint ...'.
    (['--config.task', '--config.run.eval_eps=2'], '--config.task', '--config.run.eval_eps=2'),
    (['--config.run.from_checkpoint', '--logdir=x', '--config.task=walker_walk'],
     '--config.run.from_checkpoint', '--logdir=x'),
])
def test_a_flag_where_a_value_goes_is_refused(tmp_path, args, flag, following):
  if flag != '--config':
    args = ['--config=configs/dmc.py:train_eval,debug', *args]
  result = cli_zygote.run([sys.executable, '-m', 'dreamerv3_tf.main', *args], cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'Config error: {flag} takes a value, but the next argument is the flag {following} '
      f"(an unset shell variable, as in '{flag} $VAR'?); give it one, e.g. {flag}=VALUE"
      ], result.stderr
  assert os.listdir(tmp_path) == []
  result = run_main('--config=configs/dmc.py:train_eval,debug', '--config.seed', '-1',
                    f'--logdir={tmp_path}')  # a negative number is a value
  assert result.stderr.splitlines() == ['Config error: seed=-1 must be >= 0'], result.stderr
  # A boolean key takes no value: the next flag is its own.
  result = run_main('--config=configs/dmc.py:train_eval,debug', '--config.random_agent',
                    '--config.seed=-1', f'--logdir={tmp_path}')
  assert result.stderr.splitlines() == ['Config error: seed=-1 must be >= 0'], result.stderr


@pytest.mark.parametrize('given', [['--log_dir=RUN'], ['--log_dir', 'RUN']])
def test_absls_log_dir_flag_is_refused_naming_logdir(tmp_path, given):
  """absl defines --log_dir (for its log files, never written here): given for --logdir,
  the run trained in ~/logdir/<time>, without a word. (The bad task ends a run that
  took it before anything is written.)"""
  given = [x.replace('RUN', f'{tmp_path}/a') for x in given]
  result = run_main('--config=configs/dmc.py:train_eval,debug', *given,
                    '--config.task=walker_walk')
  assert result.returncode == 2, result.stderr
  assert result.stderr.splitlines() == [
      "Config error: --log_dir is absl's folder for its log files, not the run's; give the "
      f'run directory as --logdir={tmp_path}/a'], result.stderr


def test_a_train_ratio_that_would_look_hung_is_a_warning_line(tmp_path):
  """1e9 made about 3e7 updates between two env steps, and no line after the first."""
  (tmp_path / 'file').write_text('')
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--logdir={tmp_path}/file',
                    '--config.run.train_ratio=1e9')  # the logdir's refusal ends it
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 2, result.stderr
  assert lines[0].startswith('Warning: run.train_ratio=1e+09 makes 31,250,000 updates per '
                             'env step'), lines
  assert lines[1].startswith('Config error: --logdir '), lines
  for ratio, warned in ((3200, False), (3201, True)):  # debug: batch 4 x length 8
    c = dmc.get_config('debug')
    c.run.train_ratio = ratio
    assert bool(config_warnings.train_ratio_warning(c)) == warned


def test_a_run_too_short_to_train_is_a_warning_line(tmp_path):
  """run.steps=46 of the debug preset ended 'Done: 46 env steps and 0 updates' without a
  word (sweep 63): training waits for 32 sequences of 9 steps, 48 env steps of 2 envs."""
  (tmp_path / 'file').write_text('')
  result = run_main('--config=configs/gym.py:train_eval,debug', f'--logdir={tmp_path}/file',
                    '--config.run.steps=46')  # the logdir's refusal ends it
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 2, result.stderr
  assert lines[0] == (
      'Warning: run.steps=46 ends before training starts, so the run makes no update: '
      'training waits for 32 sequences in the replay (batch_size 4 x batch_length 8) of 9 '
      'steps of one env each, which 2 env(s) hold after 48 env steps; give run.steps >= 48 '
      'to train'), lines
  assert lines[1].startswith('Config error: --logdir '), lines
  # 3 envs wait for 32 + 3 x 8 = 56 steps; a run ends on a whole round (55: 57 steps).
  for steps, envs, changes, warned in (
      (47, 2, {}, False), (46, 2, {}, True), (55, 3, {}, False), (54, 3, {}, True),
      (46, 2, {'script': 'eval_only'}, False), (46, 2, {'random_agent': True}, False),
      (46, 2, {'run.train_ratio': 0.0}, False),  # no update asked for
      (48, 2, {'replay_context': 2}, True), (49, 2, {'replay_context': 2}, False)):
    c = gym.get_config('train_eval,debug')
    c.run.steps, c.run.envs = steps, envs
    for key, value in changes.items():
      section, _, name = key.rpartition('.')
      (c[section] if section else c)[name] = value
    assert bool(config_warnings.untrained_run_warning(c)) == warned, (steps, envs, changes)


def test_a_resume_is_warned_of_a_run_too_short_to_train_only_where_it_is_true(tmp_path):
  """The warning came by the config alone, also on the resume of a run that had trained
  (its replay full) or reached run.steps: main leaves a resume's to its checkpoint's load,
  which knows the step and the replay's sequences (run/train_eval.py)."""
  (tmp_path / 'run' / 'ckpt').mkdir(parents=True)
  (tmp_path / 'run' / 'ckpt' / 'ckpt-1.index').write_bytes(b'')
  (tmp_path / 'run' / 'spaces.json').mkdir()  # the logdir's refusal ends it
  result = run_main('--config=configs/gym.py:train_eval,debug', f'--logdir={tmp_path}/run',
                    '--config.run.steps=46')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr
  assert lines[0].startswith('Config error: '), lines
  c = gym.get_config('train_eval,debug')  # 32 sequences of 9 steps, 2 envs: 48 steps
  c.run.steps = 46
  for step, items, warned in ((46, 0, False), (100, 200, False), (40, 32, False),
                              (20, 10, False), (20, 4, True), (0, 0, True)):
    assert bool(config_warnings.untrained_run_warning(c, step, items)) == warned, (step, items)
  assert config_warnings.untrained_run_warning(c, 20, 4) == (
      'Warning: run.steps=46 ends before training starts, so the run makes no update: '
      'training waits for 32 sequences in the replay (batch_size 4 x batch_length 8) of 9 '
      'steps of one env each; the replay of its checkpoint (env step 20) holds 4, and 2 '
      'env(s) add the rest by env step 48 at the earliest; give run.steps >= 48 to train')
  c.run.steps = 47  # 2 envs step from 20 to 48 (a run ends on a whole round of its envs)
  assert config_warnings.untrained_run_warning(c, 20, 4) is None


def test_an_action_repeat_that_would_look_hung_is_a_warning_line(tmp_path):
  """env.gym.repeat=1e9 on an env whose episodes never end stayed in its first step
  until run.env_timeout (120 s, up to 1e6) stopped the run, naming only the timeout."""
  (tmp_path / 'file').write_text('')
  result = run_main('--config=configs/gym.py:train_eval,debug', f'--logdir={tmp_path}/file',
                    '--config.env.gym.repeat=1000000000')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 2, result.stderr
  assert lines[0] == (
      'Warning: env.gym.repeat=1,000,000,000 makes every agent step up to 1,000,000,000 env '
      'steps (fewer where an episode ends); the configs repeat 1-4, and a step of an env '
      'whose episodes do not end soon outlasts run.env_timeout=120s, which then stops the '
      'run (or restarts the env, in a worker), so the run may look hung until then'), lines
  assert lines[1].startswith('Config error: --logdir '), lines
  for task, key, repeat, warned in (
      ('dmc_walker_walk', 'dmc', 1000, False), ('dmc_walker_walk', 'dmc', 1001, True),
      ('atari_pong', 'atari', 4000, True), ('gym_CartPole-v1', 'dmc', 5000, False)):
    c = dmc.get_config('debug')
    c.task, c.env[key].repeat = task, repeat
    assert len(config_warnings.look_hung_warnings(c)) == warned, (task, key, repeat)


def test_agent_values_far_beyond_the_configs_are_a_warning_line_each(tmp_path):
  """opt.lr=1e30 stopped after 100 skipped updates naming no key; rssm.free_nats=1e30 (the
  KL losses off) and opt.agc=1e30 (clipping off) ran to the end without a word."""
  (tmp_path / 'file').write_text('')
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--logdir={tmp_path}/file',
                    '--config.agent.opt.lr=1e30', '--config.agent.rssm.free_nats=1e30',
                    '--config.agent.opt.agc=1e30')  # the logdir's refusal ends it
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 4, result.stderr
  assert lines[0] == (
      'Warning: agent.opt.lr=1e+30 is far beyond the values the configs use: LaProp moves '
      'every weight by about lr per update, so past 1 training diverges (the configs use '
      '4e-05)'), lines
  assert lines[1].startswith('Warning: agent.opt.agc=1e+30 is far beyond the values the '
                             'configs use: it turns gradient clipping off'), lines
  assert lines[2] == (  # debug: 4 categoricals of 4 classes, unimix 0.01
      'Warning: agent.rssm.free_nats=1e+30 is far beyond the values the configs use: it '
      'turns the KL losses (dyn and rep) off: each is at most agent.rssm.stoch x '
      'log(classes / unimix) = 4 x log(4 / 0.01) = 23.97 nats, and free nats clip them '
      'from below, so they are constant and train nothing (the configs use 1)'), lines
  assert lines[3].startswith('Config error: --logdir '), lines
  c = dmc.get_config('train_eval,debug')
  assert config_warnings.far_out_warnings(c) == []
  c.agent.opt.update(lr=1.0, agc=1e6)
  c.agent.rssm.free_nats = 23.9  # (just under the bound)
  c.agent.loss_scales.rew = 1e6
  c.agent.imag_loss.actent = 1e6
  assert config_warnings.far_out_warnings(c) == []
  c.agent.loss_scales.rew = 1e30
  c.agent.imag_loss.actent = 2e6
  assert config_warnings.divergence_suspects(c) == [
      'agent.loss_scales.rew=1e+30', 'agent.imag_loss.actent=2e+06']
  c.agent.rssm.unimix = 0.0  # the KL has no bound then
  c.agent.rssm.free_nats = 1e30
  assert len(config_warnings.far_out_warnings(c)) == 2
  c.random_agent = True  # trains nothing
  assert config_warnings.far_out_warnings(c) == []


@pytest.mark.parametrize('key, value', [
    ('enc.layers', 10 ** 15), ('dec.layers', 10 ** 15), ('enc.units', 10 ** 15),
    ('dec.units', 10 ** 15)])
def test_a_vector_mlp_too_big_for_memory_is_named_before_it_is_built(key, value):
  """agent.enc.layers=1e15 on a vector task built layers for ever, with no line;
  agent.enc.units=1e15 was 'out of memory' once TensorFlow had loaded."""
  from dreamerv3_tf.core import spaces
  c = configuration.finalize(dmc.get_config('train_eval,debug'))
  section, name = key.split('.')
  with c.unlocked():
    c.agent[section][name] = value
  obs_space = {'vector': spaces.Space('float32', (4,)), 'reward': spaces.Space('float32', ())}
  with pytest.raises(configuration.ConfigError, match=(
      rf'^agent.{key}={value} makes an agent of at least [\d.e+]+ weights, .*use a smaller '
      rf'agent.{key} or a size preset')):
    config_memory.check_agent_memory(c, obs_space)
  config_memory.check_agent_memory(c, {'image': spaces.Space('uint8', (64, 64, 3))})


def test_a_decoder_bspace_that_does_not_divide_is_named_once_the_spaces_show_images():
  """gym and py_ tasks show their images only in their spaces: agent.dec.bspace=3 was an
  'unexpected' ValueError as the decoder was built; a task without images never builds it."""
  from dreamerv3_tf.core import spaces
  c = gym.get_config('train_eval,debug')
  c.agent.dec.bspace = 3
  c = configuration.finalize(c)  # (its images are env.gym.image's, False)
  configuration.check_image_decoder(c, {'vector': spaces.Space('float32', (4,))})
  with pytest.raises(configuration.ConfigError, match=r'^agent.dec.bspace=3 must divide '):
    configuration.check_image_decoder(c, {'image': spaces.Space('uint8', (64, 64, 3))})


def test_an_eval_or_report_that_would_look_hung_is_a_warning_line(tmp_path):
  """eval_eps=1e9 played episodes for ever after the first report, and report_batches=1e5
  stayed in its first report, without a line (sweep 35)."""
  (tmp_path / 'file').write_text('')
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--logdir={tmp_path}/file',
                    '--config.run.eval_eps=1000000000', '--config.run.report_batches=100000')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 3, result.stderr
  assert lines[0].startswith('Warning: run.eval_eps=1,000,000,000 makes every eval '), lines
  assert lines[1].startswith('Warning: run.report_batches=100,000 makes every report '), lines
  assert lines[2].startswith('Config error: --logdir '), lines
  for script, eps, batches, every, warned in (
      ('train_eval', 100, 100, 300, 0), ('train_eval', 101, 101, 300, 2),
      ('train', 101, 101, 300, 1),  # no eval
      ('train_eval', 101, 101, 0, 0),  # no reports, no evals
      ('eval_only', 101, 101, 300, 0)):  # its episodes are its output
    c = dmc.get_config('debug')
    c.script, c.run.eval_eps, c.run.report_batches, c.run.report_every = (
        script, eps, batches, every)
    assert len(config_warnings.look_hung_warnings(c)) == warned, (script, eps, batches, every)
  c = dmc.get_config('debug')  # imag_length=100000 ran for minutes without a line
  c.agent.imag_length = 1000
  assert config_warnings.look_hung_warnings(c) == []
  c.agent.imag_length = 100000
  assert config_warnings.look_hung_warnings(c) == [
      'Warning: agent.imag_length=100,000 makes every update imagine 100,000 steps from each '
      'start; the configs imagine 15, and the first update may take minutes, so the run may '
      'look hung']
  # enc.layers=1e5 of 16 units fits in memory and built layers for an hour; a stack that
  # cannot fit is the memory check's config error alone (the warning came before it).
  c = dmc.get_config('debug')
  c.agent.enc.layers = 100
  assert config_warnings.look_hung_warnings(c) == []
  c.agent.enc.layers = 100000
  assert config_warnings.look_hung_warnings(c) == [
      'Warning: agent.enc.layers=100,000 makes that many layers; the configs use 1-3, and '
      'building and compiling them may take hours, so the run may look hung']
  c.agent.enc.layers = 10 ** 15
  assert config_warnings.look_hung_warnings(c) == []


@pytest.mark.parametrize('task, meant', [
    ('walker_walk', 'dmc_walker_walk'), ('ball_in_cup_catch', 'dmc_ball_in_cup_catch'),
    ('CartPole-v1', 'gym_CartPole-v1'), ('corridor:Corridor-v0', 'gym_corridor:Corridor-v0'),
    ('pong', 'atari_pong'), ('DMC_walker_walk', 'dmc_walker_walk'),
    ('gym:CartPole-v1', 'gym_CartPole-v1'),
    # The whole task in capitals: the suite's name was lowered, not the task's, and the
    # line meant 'dummy_DISC_VEC', which the suite then refused; gymnasium ids keep theirs.
    ('DUMMY_DISC_VEC', 'dummy_disc_vec'), ('DMC_WALKER_WALK', 'dmc_walker_walk'),
    ('GYM_CartPole-v1', 'gym_CartPole-v1'), ('DM_CONTROL_CHEETAH_RUN', 'dmc_cheetah_run'),
    # The libraries' own names: 'gymnasium_CartPole-v1' was told "did you mean
    # 'gym_gymnasium_CartPole-v1'?", which is no task either.
    ('gymnasium_CartPole-v1', 'gym_CartPole-v1'), ('Gymnasium:Acrobot-v1', 'gym_Acrobot-v1'),
    ('dm_control_walker_walk', 'dmc_walker_walk'), ('dmcontrol_cheetah_run', 'dmc_cheetah_run')])
def test_a_task_without_its_suite_names_the_one_meant(task, meant):
  """A task written as the env's own name, or with its suite in capitals or after a
  colon: the line listed the suites and left the user to guess the spelling."""
  c = dmc.get_config('debug')
  c.task = task
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f"task={task!r}; expected <suite>_<name> with suite one of {configuration.SUITES}; "
      f"did you mean '{meant}'?") + '$'):
    configuration.finalize(c)


@pytest.mark.parametrize('task', ['dmlab_rooms_collect_good_objects_train',
                                  'minecraft_diamond', 'procgen_coinrun', 'loconav_ant_maze_m'])
def test_a_task_of_a_suite_only_the_official_code_has_says_so(task):
  """The line listed our suites, as for a typo, and left a user of the official code to
  guess whether DMLab or Minecraft could run here."""
  c = dmc.get_config('debug')
  c.task = task
  suite = task.split('_')[0]
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f"task={task!r}; expected <suite>_<name> with suite one of {configuration.SUITES}; "
      f'{suite} is a suite of the official DreamerV3 that is not ported here: wrap its env '
      'as your own, py_<module>:<function> (README, "Your own environment")') + '$'):
    configuration.finalize(c)


@pytest.mark.parametrize('task, line', [
    ('atari_pnog', "task='atari_pnog': ale-py has no game 'pnog'; did you mean 'pong'"),
    ('atari100k_nosuchgame', "task='atari100k_nosuchgame': ale-py has no game 'nosuchgame'; "
     'valid: adventure, '),
    ('atari_combat', 'ale-py {version} ships combat.bin but plays no single-player game of it '
     '(loading it fails): pick another game'),
    ('crafter_rewards', "task='crafter_rewards': crafter has no task 'rewards'; did you mean "
     "'reward' or 'noreward'? (2 are valid)"),
    ('crafter_nosuch', "task='crafter_nosuch': crafter has no task 'nosuch'; valid: reward, "
     'noreward'),
])
def test_an_unknown_atari_game_or_crafter_task_is_refused_by_the_config_check(task, line):
  """--config.task=atari_nosuchgame or crafter_nosuch was refused once the env workers
  started (some 5-15 s, its TensorFlow loading beside them): ale-py's ROM list and
  crafter's tasks are known to the config check."""
  import ale_py
  c = (crafter if task.startswith('crafter') else atari).get_config('debug')
  c.task = task
  with pytest.raises(configuration.ConfigError) as caught:
    configuration.finalize(c)
  assert str(caught.value).startswith(line.format(version=ale_py.__version__)), caught.value
  assert '\n' not in str(caught.value)
  for task in ('atari_james_bond', 'atari_pong', 'crafter_noreward'):  # (an alias of jamesbond)
    c.task = task
    configuration.finalize(c)


@pytest.mark.parametrize('task, line', [
    ('dmc_walker_wlk', "task='dmc_walker_wlk': dm_control suite has no task 'walker_wlk'; "
     "did you mean 'walker_walk'"),
    ('dmc_Walker_Walk', "task='dmc_Walker_Walk': dm_control suite has no task 'Walker_Walk'; "
     "did you mean 'walker_walk'"),
    ('dmc_nosuch_task', "task='dmc_nosuch_task': dm_control suite has no task 'nosuch_task'; "
     'valid: acrobot_swingup, '),
    ('dmc_cartpole', "task='dmc_cartpole': dm_control suite has no task 'cartpole': it is a "
     'domain; give one of its tasks: cartpole_balance, cartpole_balance_sparse, '),
    ('dmc_cup', "task='dmc_cup': dm_control suite has no task 'cup': it is a domain; give "
     'one of its tasks: ball_in_cup_catch'),
    # The official code's domains of dm_control.manipulation and dm_control.locomotion.
    ('dmc_manip_reach_site', "task='dmc_manip_reach_site': dm_control suite has no task "
     "'manip_reach_site': manip is a domain of the official DreamerV3 that is not ported "
     'here (dm_control.manipulation); wrap its env as your own, py_<module>:<function> '
     '(README, "Your own environment")'),
    ('dmc_locom_rodent_escape_bowl', "task='dmc_locom_rodent_escape_bowl': dm_control suite "
     "has no task 'locom_rodent_escape_bowl': locom is a domain of the official DreamerV3 "
     'that is not ported here (dm_control.locomotion)'),
])
def test_an_unknown_dmc_task_is_refused_by_the_config_check(task, line):
  """It was refused once the env workers started (some 8 s, TensorFlow loading beside
  them): the config check reads the tasks dm_control's suite registers."""
  c = dmc.get_config('debug')
  c.task = task
  with pytest.raises(configuration.ConfigError) as caught:
    configuration.finalize(c)
  assert str(caught.value).startswith(line), caught.value
  assert '\n' not in str(caught.value)
  # The official code's spelling of ball_in_cup (cup_catch) is the env's too.
  for task in ('dmc_walker_walk', 'dmc_cup_catch', 'dmc_ball_in_cup_catch', 'dmc_lqr_lqr_2_1'):
    c.task = task
    configuration.finalize(c)


def test_dmc_tasks_that_cannot_be_read_are_left_to_the_env(monkeypatch):
  """Without dm_control, or files it reads in no way the check knows, the env names it."""
  from dreamerv3_tf.envs import dmc as dmc_env
  monkeypatch.setattr(dmc_env, 'suite_tasks', lambda: None)
  c = dmc.get_config('debug')
  c.task = 'dmc_nosuch_task'
  configuration.finalize(c)


@pytest.mark.parametrize('task, line', [
    ('dummy_nosuch', "task='dummy_nosuch': dummy has no task 'nosuch'; valid: disc, disc_vec, "
     'disc_img, cont, cont_vec, cont_img'),
    ('dummy_disc_vector', "task='dummy_disc_vector': dummy has no task 'disc_vector'; did you "
     "mean 'disc_vec'")])
def test_an_unknown_dummy_task_is_refused_by_the_config_check(task, line):
  """As the others: it was refused once the env workers started."""
  c = dmc.get_config('debug')
  c.task = task
  with pytest.raises(configuration.ConfigError) as caught:
    configuration.finalize(c)
  assert str(caught.value).startswith(line), caught.value


@pytest.mark.parametrize('task, line', [
    ('gym_NoSuchEnv-v0', "task='gym_NoSuchEnv-v0': gymnasium has no env 'NoSuchEnv-v0' "
     '(Environment `NoSuchEnv` doesn\'t exist.)'),
    ('gym_cartpole-v1', "task='gym_cartpole-v1': gymnasium has no env 'cartpole-v1' "
     "(Environment `cartpole` doesn't exist. Did you mean: `CartPole`?)"),
    ('gym_CartPole-v9', "task='gym_CartPole-v9': gymnasium has no env 'CartPole-v9' "
     '(Environment version `v9` for environment `CartPole` doesn\'t exist.'),
    ('gym_Taxi-v3', "task='gym_Taxi-v3': gymnasium has no env 'Taxi-v3' any more (Environment "
     'version v3 for `Taxi` is deprecated. Please use `Taxi-v4` instead.)'),
    ('gym_Cart Pole-v1', "task='gym_Cart Pole-v1': gymnasium has no env 'Cart Pole-v1' "
     '(Malformed environment ID'),
    ('gym_Nosuch/Env-v0', "task='gym_Nosuch/Env-v0': gymnasium has no env 'Nosuch/Env-v0' "),
])
def test_an_unknown_gym_id_is_refused_by_the_config_check(task, line):
  """It was refused once the env workers started (its line is the env's); an id of a
  module (module:Id-v0) is left to the env, which imports the user's module."""
  import warnings
  c = gym.get_config('debug')
  c.task = task
  with pytest.raises(configuration.ConfigError) as caught:
    configuration.finalize(c)
  assert str(caught.value).startswith(line), caught.value
  assert '\n' not in str(caught.value)
  with warnings.catch_warnings(record=True) as said:  # gymnasium's are the env's to show
    warnings.simplefilter('always')
    for task in ('gym_CartPole-v1', 'gym_CartPole'):
      c.task = task
      configuration.finalize(c)
  assert [str(w.message) for w in said] == []


@pytest.mark.parametrize('task, line', [
    ('gym_:Id-v0', "task='gym_:Id-v0': ':Id-v0' names no module before its colon "
     '(<module>:<Id-v0>)'),
    ('gym_myenvs/corridor:Corridor-v0', "task='gym_myenvs/corridor:Corridor-v0': "
     "'myenvs/corridor:Corridor-v0' names a file ('myenvs/corridor'), not a module"),
    ('gym_nosuchmodule:Env-v0', "task='gym_nosuchmodule:Env-v0': gymnasium could not import "
     "'nosuchmodule' (No module named 'nosuchmodule'): put the directory that holds it on "
     'PYTHONPATH'),
])
def test_a_gym_id_of_no_module_is_refused_by_the_config_check(task, line, tmp_path,
                                                              monkeypatch):
  """As py_ tasks: the module is looked for, not imported (it registers the id)."""
  c = gym.get_config('debug')
  c.task = task
  with pytest.raises(configuration.ConfigError) as caught:
    configuration.finalize(c)
  assert str(caught.value).startswith(line), caught.value
  # A relative module: gymnasium's TypeError, the env's to name. (Python's finder gives
  # None for '', its top-level name, where pytest's import hook raises ValueError.)
  import importlib.util
  find_spec = importlib.util.find_spec
  with monkeypatch.context() as patch:
    patch.setattr(importlib.util, 'find_spec', lambda name: None if name == '' else
                  find_spec(name))
    c.task = 'gym_.rel:Env-v0'
    configuration.finalize(c)
  (tmp_path / 'myownenv.py').write_text('raise RuntimeError("imported")\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  for task in ('gym_myownenv:Env-v0', 'gym_myownenv.sub:NoSuch-v0'):
    c.task = task
    configuration.finalize(c)
  assert 'myownenv' not in sys.modules


@pytest.mark.parametrize('task, line', [
    ('py_corridor', 'task py_corridor: expected py_<module>:<function>, e.g. '
     'py_corridor:Corridor'),
    ('py_:Corridor', 'task py_:Corridor: expected py_<module>:<function>'),
    ('py_myenvs/corridor:Corridor', "task py_myenvs/corridor:Corridor names a file "
     "('myenvs/corridor'), not a module; put the file's directory on PYTHONPATH and name its "
     'module: py_corridor:Corridor'),
    ('py_nosuchmodule.py:Corridor', "task py_nosuchmodule.py:Corridor names a file "
     "('nosuchmodule.py'), not a module"),
    ('py_nosuchmodule:make', "task='py_nosuchmodule:make': env module 'nosuchmodule' not "
     'found: put the directory that holds it on PYTHONPATH (or run from there)'),
    ('py_nosuchpackage.envs:make', "task='py_nosuchpackage.envs:make': env module "
     "'nosuchpackage.envs' not found: put the directory"),
])
def test_a_py_task_of_no_module_is_refused_by_the_config_check(task, line, tmp_path,
                                                               monkeypatch):
  """It was refused once the env workers started. The module is looked for on sys.path
  (which the workers take), not imported: that runs the user's code, left to the env."""
  c = gym.get_config('debug')
  c.task = task
  with pytest.raises(configuration.ConfigError) as caught:
    configuration.finalize(c)
  assert str(caught.value).startswith(line), caught.value
  (tmp_path / 'myownenv.py').write_text('raise RuntimeError("imported")\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  for task in ('py_myownenv:make', 'py_myownenv.sub:make', 'py_myownenv:NoSuch'):
    c.task = task
    configuration.finalize(c)
  assert 'myownenv' not in sys.modules


@pytest.mark.parametrize('config, task, line', [
    ('atari', 'atari_nosuchgame', "ale-py has no game 'nosuchgame'; "),
    ('dmc', 'dmc_walker_wlk',
     "dm_control suite has no task 'walker_wlk'; did you mean 'walker_walk'"),
])
def test_an_unknown_task_stops_the_run_before_its_envs(tmp_path, config, task, line):
  """Exit code 2 as before, but before TensorFlow and the env workers (it took 6 s for
  Atari, 8 s for DMC)."""
  result = run_main(f'--config=configs/{config}.py:debug', f'--config.task={task}',
                    f'--logdir={tmp_path}/run')
  assert result.returncode == 2, result.stderr
  assert not (tmp_path / 'run').exists()
  assert result.stderr.startswith(f"Config error: task='{task}': {line}"), result.stderr


def test_an_integer_written_as_a_huge_float_gets_no_digits_to_write(tmp_path):
  """1e30 is no float that is an integer written exactly: the line suggested writing
  1000000000000000019884624838656."""
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--logdir={tmp_path}',
                    '--config.seed=1e30')
  assert result.returncode == 2
  assert result.stderr == 'Config error: flag --config.seed=1e30: seed takes an integer\n'


@pytest.mark.parametrize('tf_config, message', [
    # Failed after TensorFlow loaded and the envs were built, as 'unexpected'.
    (None, "distribute='multi_worker' needs the TF_CONFIG environment variable"),
    ('{bad', 'TF_CONFIG is not valid cluster JSON (Expecting property name'),
    ('{"cluster": {"worker": ["localhost:1"]}}',
     "TF_CONFIG is not valid cluster JSON (KeyError: 'task')"),
    # A task its cluster does not list ran alone to its end (exit code 0), as did a
    # cluster of text addresses; a negative index was 'unexpected' (exit code 1).
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 5}}',
     "TF_CONFIG's task is 'worker' 5, but its cluster lists 1 'worker' task(s)"),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": -1}}',
     "TF_CONFIG's task is 'worker' -1, but its cluster lists 1 'worker' task(s)"),
    # It said the cluster listed 0 'ps' tasks, also of a cluster that lists one.
    ('{"cluster": {"worker": ["localhost:1"], "ps": ["localhost:2"]}, "task": {"type": "ps", '
     '"index": 0}}',
     "TF_CONFIG's task type is 'ps', which a multi_worker run does not have (its tasks are "
     "'chief' and 'worker', numbered from 0)"),
    ('{"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG's cluster['worker'] is 'localhost:1', not a list of 'host:port' addresses"),
])
def test_multi_worker_without_its_cluster_is_one_line_before_tensorflow(
    tf_config, message, tmp_path):
  env = {k: v for k, v in os.environ.items() if k != 'TF_CONFIG'}
  if tf_config is not None:
    env['TF_CONFIG'] = tf_config
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train,debug',
       f'--logdir={tmp_path}/run', '--config.distribute=multi_worker'],
      cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith(f'Config error: {message}'), lines[0]
  assert result.stdout == '' and os.listdir(tmp_path) == []  # before TensorFlow loads


@pytest.mark.parametrize('text, message', [
    # '(TypeError: list indices must be integers or slices, not str)'
    ('[]', "TF_CONFIG is not valid cluster JSON (a JSON array, where an object of 'cluster' "
     "and 'task' goes)"),
    # '(TypeError: string indices must be integers, not 'str')'
    ('{"cluster": {"worker": ["a:1"]}, "task": "worker"}', "TF_CONFIG is not valid cluster "
     """JSON (its task is "worker", not an object such as {"type": "worker", "index": 0})"""),
    # '(dictionary update sequence element #0 has length 1; 2 is required)'
    ('{"cluster": ["a:1"], "task": {"type": "worker", "index": 0}}', 'TF_CONFIG is not valid '
     """cluster JSON (its cluster is ["a:1"], not an object such as {"worker": ["host1:12345", """
     """"host2:12345"]})"""),
    # No port: 'IndexError: list index out of range' (unexpected) after the waiting line;
    # a port beyond 65535: bind()'s OverflowError; one address twice waited for ever.
    ('{"cluster": {"worker": ["127.0.0.1", "127.0.0.1:2"]}, "task": {"type": "worker", '
     '"index": 0}}', "TF_CONFIG's cluster['worker'][0] is '127.0.0.1', no 'host:port' address "
     "(a port from 1 to 65535 after the last ':')"),
    ('{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG's cluster['worker'][0] is 'a:99999', no 'host:port' address"),
    ('{"cluster": {"chief": ["a:1"], "worker": ["b:2", "a:1"]}, "task": {"type": "worker", '
     '"index": 0}}', "TF_CONFIG's cluster lists 'a:1' twice (chief 0 and worker 1); each "
     'process needs an address of its own'),
])
def test_a_tf_config_of_another_shape_is_named_so(text, message):
  with pytest.raises(configuration.ConfigError) as error:
    cluster_config.tf_config(text)
  assert message in str(error.value) and '\n' not in str(error.value)


def test_a_cluster_in_tf_config_without_multi_worker_is_one_line(tmp_path, monkeypatch):
  """Each process of the cluster trained on its own in the same logdir (exit code 0),
  and pruned the others' checkpoints. A cluster of one, or a TF_CONFIG that is no
  cluster (not read without multi_worker), passes."""
  env = dict(os.environ, TF_CONFIG='{"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, '
             '"task": {"type": "worker", "index": 0}}')
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train,debug',
       f'--logdir={tmp_path}/run'], cwd=ROOT, capture_output=True, text=True, timeout=120,
      env=env)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      "Config error: TF_CONFIG names a cluster of 2 processes, but distribute='default' "
      'trains in this process alone: each of them would run its own training in the same '
      '--logdir; pass --config.distribute=multi_worker (see launchers/multi_worker.sh), or '
      'unset TF_CONFIG'], result.stderr[-2000:]
  assert os.listdir(tmp_path) == []
  c = configuration.finalize(dmc.get_config('debug'))
  for text in ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}',
               'garbage', '[1]'):
    monkeypatch.setenv('TF_CONFIG', text)
    cluster_config.check_environment(c)


@pytest.mark.parametrize('name, value, refused', [
    # 'Check failed: num_threads >= 1 (-1 vs. 1)' and a C++ stack trace at the first op
    # (exit 134), after config.json was written; 100000 hung under a process limit.
    ('TF_NUM_INTRAOP_THREADS', '-1', '-1: TensorFlow takes a count of threads (0: its own '
     'choice) and ends the process at its first op on a negative one'),
    ('TF_NUM_INTRAOP_THREADS', '100000', '100000: TensorFlow would start that many threads'),
    ('TF_NUM_INTEROP_THREADS', '100000', '100000: TensorFlow would start that many threads'),
    # What TensorFlow ignores, or takes: no refusal.
    ('TF_NUM_INTEROP_THREADS', '-1', None), ('TF_NUM_INTRAOP_THREADS', '0', None),
    ('TF_NUM_INTRAOP_THREADS', 'all', None), ('TF_NUM_INTRAOP_THREADS', ' 8', None),
    ('TF_NUM_INTRAOP_THREADS', '-9999999999', None),  # not a 32-bit number: ignored
    # 'Check failed: tsl::ReadBoolFromEnvVar' and a C++ stack trace at the first compile,
    # after the logdir was written; empty too (a script's unset variable).
    ('TF_DETERMINISTIC_OPS', 'yes', "'yes': TensorFlow takes 1, 0, true or false, and ends "
     'the process at its first compile on anything else'),
    ('TF_DETERMINISTIC_OPS', '', "'': TensorFlow takes 1, 0, true or false"),
    ('TF_DETERMINISTIC_OPS', 'True', None), ('TF_DETERMINISTIC_OPS', '0', None),
])
def test_tensorflows_environment_values_it_fails_on_are_refused(monkeypatch, name, value, refused):
  c = configuration.finalize(dmc.get_config('debug'))
  monkeypatch.setenv(name, value)
  if refused is None:
    cluster_config.check_environment(c)
    return
  with pytest.raises(configuration.ConfigError) as caught:
    cluster_config.check_environment(c)
  assert str(caught.value).startswith(f'{name}={refused}'), caught.value


@pytest.mark.parametrize('name, value, warned', [
    ('TF_NUM_INTRAOP_THREADS', 'all', True), ('TF_NUM_INTEROP_THREADS', 'abc', True),
    ('TF_NUM_INTRAOP_THREADS', '-9999999999', True),  # beyond 32 bits
    ('TF_NUM_INTRAOP_THREADS', ' 8', False), ('TF_NUM_INTEROP_THREADS', '-1', False),
    ('TF_NUM_INTRAOP_THREADS', '', False)])
def test_a_thread_count_tensorflow_cannot_read_is_a_warning_line(monkeypatch, capsys, name,
                                                                 value, warned):
  """TensorFlow ignores it and picks its own count: the user's setting had no effect,
  without a word (a count it takes, or ignores by its rules, as -1 for interop, passes)."""
  c = configuration.finalize(dmc.get_config('debug'))
  monkeypatch.setenv(name, value)
  cluster_config.check_environment(c)
  assert capsys.readouterr().err == (
      f'Warning: {name}={value!r} is no whole number that TensorFlow can read; it ignores it '
      'and picks its own count of threads\n' if warned else '')


@pytest.mark.parametrize('args, message', [
    # Ignored before: a flag without its dashes, a stray word.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', 'config.run.steps=5'],
     "unexpected argument 'config.run.steps=5'; flags start with --"),
    # After '--', which ends absl's flags, a flag is a stray word: the line said 'flags
    # start with --' of one that did.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--',
      '--config.run.steps=5'],
     "unexpected argument '--config.run.steps=5' after '--', which ends the flags; drop "
     "the '--'"),
    # absl said "The flag 'config.task' is defined twice. First from absl.flags._flag".
    (['--config=configs/dmc.py:debug', '--config', 'configs/gym.py:debug',
      '--config.task=dummy_disc_vec'],
     '--config is given 2 times (configs/dmc.py:debug, configs/gym.py:debug)'),
    # From a flagfile or in single quotes: a new run in a folder named '$RUN' here.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=${RUN}/a'],
     "--logdir='${RUN}/a' holds ${RUN}, which no shell expanded (single quotes, or a "
     'flagfile or launcher, which expand no variables?), and no such path exists; RUN is '
     'not set here either; give the path itself, or create the path to mean it'),
    # A new run under ~/logdir/<time> before (e.g. --logdir=$RUN with RUN unset).
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir='],
     '--logdir is empty'),
    # "Configuration is not available because of an earlier failure to load: ...".
    (['--config=configs'], 'cannot load the config file configs: Is a directory'),
    # "... Path to config file is an empty string", and "the config file  : Is a directory".
    (['--config='], "--config='' names no config file; give one and its presets"),
    (['--config= :debug'], "--config=' :debug' names no config file"),
    # Two lines: 'Config error: cannot load the config file /tmp/a' and 'b.py: No such ...'.
    (['--config=/tmp/a\nb.py:debug'], "--config='/tmp/a\\nb.py' holds a line break; give "
     'one path'),
    # "flag --traceback=maybe: ('Non-boolean argument to boolean flag', 'maybe')".
    (['--config=configs/dmc.py:debug', '--traceback=maybe'], 'flag --traceback=maybe: '
     '--traceback takes true or false (--traceback alone is true, --notraceback false)'),
    # Every line naming the task was cut at the break: 'Env error: dmc_walker', exit 2.
    (['--config=configs/dmc.py:debug', '--config.task=dmc_walker\nwalk'],
     "task='dmc_walker\\nwalk' holds a line break; give one task, e.g. dmc_walker_walk"),
    # Every line naming the logdir was cut at the break: 'Config error: --logdir /tmp/a'.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=/tmp/a\nb'],
     "--logdir='/tmp/a\\nb' holds a line break; give one path"),
    # A name made under another locale (byte 0xff): an 'unexpected' UnicodeEncodeError of
    # TensorFlow's file functions.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=/tmp/a\udcffb'],
     "--logdir='/tmp/a\\udcffb' is not UTF-8 text (a name made under another locale?)"),
    # TensorFlow reads a checkpoint's path as a file pattern: the run saved its first
    # checkpoint, then stopped with 'Checkpoint .../ckpt-1 was saved but cannot be read
    # back: ... Failed to find any matching files' (exit 1).
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=/tmp/exp[1]'],
     "--logdir='/tmp/exp[1]' holds '[', which TensorFlow reads in a file pattern (the "
     "checkpoints there could not be read back); give a path without '[', '*', '?' or '\\'"),
    (['--config=configs/dmc.py:debug', '--config.task=dummy_disc_vec', '--logdir=/tmp/x',
      '--config.run.from_checkpoint=/tmp/a\\b/ckpt'],
     "run.from_checkpoint='/tmp/a\\\\b/ckpt' holds '\\\\', which TensorFlow reads in a "
     'file pattern'),
    # A shell pattern that matched nothing ('runs/exp*' left as it was): the run pruned
    # its ckpt-1 by TensorFlow's pattern, which deleted the ckpt-1 of the runs it
    # matched too (runs/exp1/ckpt/ckpt-1.index and .data gone, data loss).
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=/tmp/exp*'],
     "--logdir='/tmp/exp*' holds '*', which TensorFlow reads in a file pattern (where it "
     'matches other paths too: a run there deleted the checkpoints of the runs it matched '
     "as it pruned its own; a shell pattern that matched nothing?); give a path without "
     "'[', '*', '?' or '\\'"),
    (['--config=configs/dmc.py:debug', '--config.task=dummy_disc_vec', '--logdir=/tmp/x',
      '--config.run.from_checkpoint=/tmp/run?/ckpt'],
     "run.from_checkpoint='/tmp/run?/ckpt' holds '?', which TensorFlow reads in a file "
     'pattern'),
    # 'get_config() takes 0 positional arguments but 1 was given', naming no file.
    (['--config=configs/base.py:debug', '--logdir=/tmp/x'],
     "the config file configs/base.py takes no presets (its get_config() has no "
     "parameter), and --config gives 'debug'; configs/base.py holds the defaults, and the "
     'suite files their presets, e.g. --config=configs/dmc.py:debug'),
    # absl: "Unknown command line flag 'config.task'. Did you mean: config ?".
    (['--config.task=dmc_walker_walk', '--logdir=/tmp/x'], '--config.task sets a key of a '
     'config file, and no --config names one; give it first, e.g. '
     '--config=configs/dmc.py:train_eval'),
    # 'cannot load the config file dmc.py: No such file or directory', and no more.
    (['--config=dmc.py:debug'], 'cannot load the config file dmc.py: No such file or '
     'directory; did you mean --config=configs/dmc.py:debug?'),
    (['--config=configs/gym'], 'cannot load the config file configs/gym: No such file or '
     'directory; did you mean --config=configs/gym.py?'),
    # In other case: no hint.
    (['--config=configs/Gym.py:debug'], 'cannot load the config file configs/Gym.py: No such '
     'file or directory; did you mean --config=configs/gym.py:debug?'),
    (['--config=DMC.py'], 'cannot load the config file DMC.py: No such file or directory; '
     'did you mean --config=configs/dmc.py?'),
    # With a --config.KEY flag: a traceback of 30 lines and exit code 1.
    (['--config=myconfigs/nosuch.py:debug', '--config.run.steps=10'], 'cannot load the '
     'config file myconfigs/nosuch.py: No such file or directory'),
    # URLs no run can use (sweep 80), refused before TensorFlow loads. One slash: made a
    # full path at the start, it trained in ./gs:/bucket/run, exit code 0.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=gs:/bucket/run'],
     '--logdir gs:/bucket/run starts like a remote path without its //; write '
     "gs://bucket/run, or ./gs:/bucket/run for a local directory named 'gs:'"),
    # 'Error: Error executing an HTTP request: ...' (no path named) or 'Cannot read --logdir
    # gs:///run: GCS path doesn't contain a bucket name', exit code 1, once TensorFlow loaded.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=gs://'],
     '--logdir gs:// names no Cloud Storage bucket; give a full path such as gs://BUCKET/run'),
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=gs:///run'],
     '--logdir gs:///run names no Cloud Storage bucket'),
    # "Cannot read --logdir GS://b/run: File system scheme 'GS' not implemented", exit 1.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=GS://b/run'],
     "--logdir GS://b/run: TensorFlow's file system schemes are lower case, and it has no "
     'GS://; write gs://b/run'),
    # It trained, then stopped at its first save: 'Checkpoint ram://run/ckpt/ckpt-1 was
    # saved but cannot be read back'; a checkpoint there was 'missing' once built.
    # "Cannot read --logdir s3://b/run: File system scheme 's3' not implemented", exit 1.
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=s3://b/run'],
     '--logdir s3://b/run: this TensorFlow opens local, file:// and gs:// paths, not s3://'),
    (['--config=configs/dmc.py:debug', '--config.task=dummy_disc_vec', '--logdir=/tmp/x',
      '--config.run.from_checkpoint=hdfs://nn/run/ckpt'],
     'run.from_checkpoint=hdfs://nn/run/ckpt: this TensorFlow opens local, file:// and '
     'gs:// paths, not hdfs:// (the tensorflow-io package provides hdfs://'),
    (['--config=configs/dmc.py:debug', '--config.task=nosuite_x', '--logdir=ram://run'],
     "--logdir ram://run is in TensorFlow's in-memory file system (ram://), which each "
     'process starts empty and loses as it ends: nothing there outlives this command'),
    (['--config=configs/dmc.py:debug', '--config.task=dummy_disc_vec', '--logdir=/tmp/x',
      '--config.run.from_checkpoint=ram://run/ckpt'],
     "run.from_checkpoint=ram://run/ckpt is in TensorFlow's in-memory file system"),
    # file:///x is /x, checked so: 'Cannot create file:///proc/x: No such file or
    # directory', exit code 1, once TensorFlow had loaded (file://$HOME trained in HOME).
    (['--config=configs/dmc.py:debug', '--config.task=dummy_disc_vec', '--logdir=file:///proc/x'],
     "--logdir /proc/x is in /proc, the kernel's proc file system"),
])
def test_misused_command_lines_fail_with_one_line(args, message, tmp_path):
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', *args], cwd=ROOT, capture_output=True,
      text=True, timeout=120, env={**os.environ, 'HOME': str(tmp_path)})
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith(f'Config error: {message}'), lines[0]
  assert result.stdout == '' and os.listdir(tmp_path) == []  # nothing under ~/logdir


@pytest.mark.parametrize('accelerator', [False, True])
def test_an_agent_whose_optimizer_cannot_fit_is_refused_when_it_trains_on_the_cpu(
    monkeypatch, accelerator):
  """deter=hidden=8192 of the debug preset: its weights (1.5 GiB) passed, and training on
  the CPU, with two moments and a gradient per weight, reached 19 GB at its first update,
  where the OOM killer ended it (no line). On a GPU or TPU host the weights alone count."""
  from dreamerv3_tf.envs import memory
  c = dmc.get_config('train_eval,debug')
  c.agent.rssm.update(deter=8192, hidden=8192)
  weights = sum(config_memory._weights_at_least(c.agent).values())
  monkeypatch.setattr(memory, 'available_bytes', lambda: 8 * weights)  # 2x the weights' bytes
  monkeypatch.setattr(config_memory, '_accelerator', lambda config: accelerator)
  if accelerator:
    configuration.finalize(c)
    return
  with pytest.raises(configuration.ConfigError, match=(
      r"^agent.rssm.deter=8192 makes an agent of at least 4.7e\+08 weights, training it on "
      r"this CPU takes at least 7.01 GiB \(the weights, the optimizer's two moments and the "
      r'gradients\), more than the 3.5 GiB of memory available; use a smaller '
      r'agent.rssm.deter or a size preset')):
    configuration.finalize(c)
  c.script = 'eval_only'  # no optimizer
  configuration.finalize(c)


@pytest.mark.parametrize('presets', [':train_eval,debug', ''])
def test_a_config_file_in_a_folder_with_a_colon_in_its_name_loads(tmp_path, presets):
  """ml_collections cut --config at its first colon: 'cannot load the config file
  .../a'. The file loads, its presets and --config.KEY flags apply (the task's line is
  the config's own check, made before anything is written)."""
  path = tmp_path / 'a:b' / 'my:cfg.py'
  path.parent.mkdir()
  path.write_text('from configs import dmc\n\n'
                  "def get_config(presets='train_eval,debug'):\n"
                  '  return dmc.get_config(presets)\n')
  result = run_main(f'--config={path}{presets}', f'--logdir={tmp_path}/run',
                    '--config.task=nosuch')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith("Config error: task='nosuch'; expected <suite>_<name>"), lines


def test_the_readme_command_run_outside_the_checkout_names_its_config_file(tmp_path):
  # Said 'cannot load the config file configs/gym.py: No such file or directory', with
  # no way on: configs/ is relative to the directory the command runs from.
  # PYTHONPATH: this checkout's package, installed or not (as in the tests beside it).
  env = dict(os.environ, PYTHONPATH=ROOT)
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:train_eval,quick',
       f'--logdir={tmp_path}/quick'], cwd=tmp_path, env=env, capture_output=True, text=True,
      timeout=120)
  assert result.returncode == 2 and result.stdout == '', result.stderr[-2000:]
  assert result.stderr.splitlines() == [
      'Config error: cannot load the config file configs/gym.py: No such file or directory; '
      f'did you mean --config={ROOT}/configs/gym.py:train_eval,quick?']
  assert os.listdir(tmp_path) == []


def test_an_empty_home_is_one_line_not_a_logdir_at_the_root():
  # expanduser turned ~/logdir into /logdir: a run at the file system's root.
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:debug'],
      cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, 'HOME': ''})
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith('Config error: --logdir ~/logdir/'), lines[0]
  assert 'HOME is set but empty' in lines[0], lines[0]
  assert result.stdout == ''


CONFIG_FILES = [
    ('def get_config(preset=None):\n  raise ValueError("no such robot")\n',
     'raised ValueError: no such robot'),  # its message alone before: no file named
    ('x = (\n', r"raised SyntaxError \(line 1\): '\(' was never closed"),
    ('import no_such_module_here\n',
     "raised ModuleNotFoundError: No module named 'no_such_module_here'"),
    ('', r'has no get_config\(\) function'),  # was "module 'config_config' has no ..."
    ('def get_config():\n  return 3\n',
     r'get_config\(\) of the config file .* returned int, not a ConfigDict'),  # was "'int' object has no attribute 'to_dict'"
    # ml_collections' warning in two lines, then 'Config error: --config is required'.
    ('def get_config():\n  c = 3\n', r'get_config\(\) of the config file .* returned None '
     r'\(no return statement\?\), not a ConfigDict$'),
    # Not built on configs/base.py: an 'unexpected' AttributeError 'script' before.
    ('import ml_collections\ndef get_config():\n  return ml_collections.ConfigDict('
     "{'task': 'dummy_disc'})\n", "the config lacks .* key.s. of configs/base.py's"),
    # Ended the program silently with its own code, and with a bare traceback.
    # 'raised TypeError: get_config() missing 1 required positional argument: 'preset''.
    ('def get_config(preset):\n  pass\n', r"needs presets \(its get_config\(\) has no "
     r"default for 'preset'\), and --config gives none; give them after a colon, "
     r'--config=.*my_config.py:PRESETS'),
    ('import sys\ndef get_config():\n  sys.exit(3)\n', 'raised SystemExit: 3 '),
    ('def get_config():\n  raise KeyboardInterrupt\n', 'raised KeyboardInterrupt '),
    # ml_collections takes None anywhere and a bool for an int: 'unexpected' errors
    # ('NoneType' object has no attribute 'split'; an integer is required), exit 1.
    ('from configs import dmc\ndef get_config():\n  c = dmc.get_config("debug")\n'
     '  c.task = None\n  return c\n', '^Config error: task=None, where configs/base.py '
     'has a string; give a string$'),
    ('from configs import dmc\ndef get_config():\n  c = dmc.get_config("debug")\n'
     '  c.batch_size = True\n  return c\n', '^Config error: batch_size=True, where '
     'configs/base.py has a number; give a number$'),
    # 'Config error: FrozenConfigDict is immutable. Cannot call lock().' (no file named).
    ('import ml_collections\nfrom configs import dmc\ndef get_config():\n  return '
     'ml_collections.FrozenConfigDict(dmc.get_config("debug"))\n', r'get_config\(\) of '
     'the config file .* returned a FrozenConfigDict; return a ConfigDict, which '
     '--config.KEY=VALUE can change$'),
    # A dict replaces a section whole, types and all: a length of 30.5 ran as 31 (exit 0).
    ('from configs import dmc\ndef get_config():\n  c = dmc.get_config("debug")\n'
     '  c.env.dummy = dict(length=30.5, size=(64, 64))\n  return c\n', r'^Config error: '
     r'env.dummy.length=30.5, where configs/base.py has a whole number; give a whole '
     'number$'),
    # A whole float passed: 'Error: TypeError: 'float' object cannot be interpreted as an
    # integer (unexpected: ...)', exit code 1, once TensorFlow and the envs had loaded.
    ('from configs import dmc\ndef get_config():\n  c = dmc.get_config("debug")\n'
     '  c.agent.rssm = dict(c.agent.rssm, deter=16.0)\n  return c\n', r'^Config error: '
     r'agent.rssm.deter=16.0, where configs/base.py has a whole number; write 16$'),
]


@pytest.mark.parametrize('text, message', CONFIG_FILES,
                         ids=['raises', 'syntax', 'import', 'empty', 'int', 'no_return',
                              'partial', 'presets',
                              'exit',
                              'interrupt', 'none', 'bool', 'frozen', 'fraction',
                              'whole_float'])
def test_a_users_config_file_that_fails_is_named_in_one_line(tmp_path, text, message):
  path = tmp_path / 'my_config.py'
  path.write_text(text)
  result = run_main(f'--config={path}', f'--logdir={tmp_path}/run')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith('Config error: '), lines[0]
  if 'lacks' not in message and 'base.py has' not in message:
    assert f'config file {path}' in lines[0], lines[0]
  assert re.search(message, lines[0]), lines[0]
  assert not (tmp_path / 'run').exists()


def test_a_config_file_under_a_tilde_the_shell_left_is_found(tmp_path):
  """A shell leaves the ~ of --config=~/x.py (after '=', not an assignment): 'cannot
  load the config file ~/myconfigs/x.py: No such file or directory' of a file that
  exists, where --logdir=~/... is expanded."""
  (tmp_path / 'myconfigs').mkdir()
  (tmp_path / 'myconfigs' / 'x.py').write_text(
      'from configs import dmc\ndef get_config(presets):\n  return dmc.get_config(presets)\n')
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=~/myconfigs/x.py:debug',
       '--config.seed=-1', f'--logdir={tmp_path}/run'], cwd=ROOT, capture_output=True,
      text=True, timeout=120, env={**os.environ, 'HOME': str(tmp_path)})
  assert result.returncode == 2
  assert result.stderr.splitlines() == ['Config error: seed=-1 must be >= 0'], result.stderr
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('config', [['-config=configs/dmc.py:train_eval,debug'],
                                    ['-config', 'configs/dmc.py:train_eval,debug']])
def test_a_config_flag_of_one_dash_takes_overrides(tmp_path, config):
  """absl takes -config as --config, but its overrides were refused: '--config.seed
  sets a key of a config file, and no --config names one'."""
  result = run_main(*config, '--config.seed=-1', f'--logdir={tmp_path}/run')
  assert result.returncode == 2
  assert result.stderr.splitlines() == ['Config error: seed=-1 must be >= 0'], result.stderr
  assert not (tmp_path / 'run').exists()


def test_a_flagfile_is_read_as_the_command_line(tmp_path):
  """The checks of the command line saw only its own flags: a --config in a --flagfile,
  with a --config.KEY beside it, was '--config.seed sets a key of a config file, and no
  --config names one'; and a second --config there, absl's 'The flag 'config.seed' is
  defined twice. First from absl.flags._flag, ...'."""
  flagfile = tmp_path / 'run.flags'
  flagfile.write_text(f'--config=configs/dmc.py:train_eval,debug\n--logdir={tmp_path}/run\n')
  result = run_main(f'--flagfile={flagfile}', '--config.seed=-1')
  assert result.returncode == 2
  assert result.stderr.splitlines() == ['Config error: seed=-1 must be >= 0'], result.stderr
  result = run_main(f'--flagfile={flagfile}', '--config=configs/gym.py:debug', '--config.seed=1')
  assert result.returncode == 2 and result.stderr.splitlines() == [
      'Config error: --config is given 2 times (configs/dmc.py:train_eval,debug, '
      'configs/gym.py:debug); give one file and its presets, e.g. '
      '--config=configs/dmc.py:train_eval,debug'], result.stderr
  assert os.listdir(tmp_path) == ['run.flags']


@pytest.mark.parametrize('module', ['dreamerv3_tf.main', 'dreamerv3_tf.interop.official'])
def test_a_config_file_of_a_flagfile_is_named_by_its_path(tmp_path, module):
  """'get_config() of the config file None returned dict': the line looked for the
  --config on the command line only."""
  path = tmp_path / 'my_config.py'
  path.write_text('def get_config():\n  return {}\n')
  (tmp_path / 'run.flags').write_text(f'--config={path}\n--logdir={tmp_path}/run\n')
  checkpoint = [f'--checkpoint={tmp_path}'] if module.endswith('official') else []
  result = cli_zygote.run([sys.executable, '-m', module, f'--flagfile={tmp_path}/run.flags',
                           *checkpoint], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'Config error: get_config() of the config file {path} returned dict, not a '
      'ConfigDict'], result.stderr[-2000:]
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('module', ['dreamerv3_tf.main', 'dreamerv3_tf.interop.official'])
def test_a_flagfile_it_cannot_read_is_one_line(tmp_path, module):
  """ml_collections reads --flagfile as main defines --config, at import: a missing one,
  one not UTF-8 and a directory were a traceback of 30 lines (exit 1), one that
  includes itself absl's warning 5 times before 'Config error: --config is required'."""
  (tmp_path / 'latin1.flags').write_bytes(b'--config=configs/gym.py:debug\n# \xe9t\xe9\n')
  (tmp_path / 'self.flags').write_text(f'--flagfile={tmp_path}/self.flags\n')
  # One it includes (absl reads them in turn), named too.
  (tmp_path / 'outer.flags').write_text(f'# runs\n  --flagfile={tmp_path}/latin1.flags\n')
  for name, line in (
      ('missing.flags', '--flagfile {path}: cannot read it (No such file or directory)'),
      ('', '--flagfile {path}: cannot read it (Is a directory)'),
      # 'a --flagfile is not UTF-8 text (...)': which of them, it did not say.
      ('latin1.flags', '--flagfile {path} is not UTF-8 text (invalid continuation byte at '
       'byte offset 32)'),
      ('outer.flags', f'--flagfile {tmp_path}/latin1.flags is not UTF-8 text (invalid '
       'continuation byte at byte offset 32)'),
      ('self.flags', '--flagfile {path} includes itself (through its --flagfile lines); '
       'include each file once')):
    path = os.path.join(tmp_path, name)
    result = cli_zygote.run([sys.executable, '-m', module, f'--flagfile={path}'], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f'Config error: {line.format(path=path)}'], result.stderr[-3000:]
  # absl ignores an empty one: --flagfile=$FLAGS with FLAGS unset ran without its flags.
  result = cli_zygote.run([sys.executable, '-m', module, '--flagfile=',
                           '--config=configs/dmc.py:debug', f'--logdir={tmp_path}/run'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2 and result.stderr.splitlines() == [
      'Config error: --flagfile is empty (an unset shell variable?); give a file of flags, '
      'or leave the flag out'], result.stderr[-3000:]
  # One of UTF-8 where this process reads ASCII: 'is not ascii text (ordinal not in
  # range(128) at byte offset 19)', of the file as the user wrote it.
  (tmp_path / 'utf8.flags').write_bytes('--config.task=dmc_wälk\n'.encode())
  result = cli_zygote.run([sys.executable, '-m', module, f'--flagfile={tmp_path}/utf8.flags'],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, LC_ALL='C', PYTHONUTF8='0'))
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'Config error: --flagfile {tmp_path}/utf8.flags is UTF-8 text, and this process reads '
      'text in ascii (LC_ALL=C, PYTHONUTF8=0); set PYTHONUTF8=1 or a UTF-8 locale '
      '(LC_ALL=C.UTF-8)'], result.stderr[-3000:]
  assert sorted(os.listdir(tmp_path)) == ['latin1.flags', 'outer.flags', 'self.flags',
                                          'utf8.flags']


@pytest.mark.parametrize('returns, what', [
    # "Attribute <class 'NoneType'>.run does not exist ...", after ml_collections' 2 lines
    ('None', r'None \(no return statement\?\)'),
    ("{'task': 'dummy_disc'}", 'dict')])  # "unknown config key 'run'"
def test_a_config_file_that_returns_no_config_dict_is_named_with_overrides_too(
    tmp_path, returns, what):
  """With a --config.KEY, the override failed on what get_config() returned, and the
  line named only the key."""
  path = tmp_path / 'my_config.py'
  path.write_text(f'def get_config():\n  return {returns}\n')
  result = run_main(f'--config={path}', '--config.run.envs=2', f'--logdir={tmp_path}/run')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert re.fullmatch(f'Config error: get_config\\(\\) of the config file {re.escape(str(path))} '
                      f'returned {what}, not a ConfigDict', lines[0]), lines[0]
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('flag, section', [
    ('--config.agent.rssm={"deter": 16}', 'agent.rssm'),
    ('--config.env.dummy={"length": 10}', 'env.dummy'),
])
def test_a_dict_for_a_section_that_drops_its_keys_is_one_line(tmp_path, flag, section):
  """A dict given for a section replaces it whole: agent.rssm={"deter": 16} left the
  rssm without blocks, an 'unexpected' AttributeError "'blocks'" once TensorFlow had
  loaded and the envs had started."""
  result = run_main('--config=configs/dmc.py:train_eval,debug', '--config.task=dummy_disc',
                    '--config.run.parallel=False', f'--logdir={tmp_path}/run', flag)
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith(f'Config error: {section} lacks '), lines[0]
  assert f'set its keys one by one, e.g. --config.{section}.' in lines[0], lines[0]
  assert result.stdout == ''  # before TensorFlow loads: no start-up line
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('task, flag, size', [
    ('dummy_disc', '--config.env.dummy.size=(512,512)', '512x512'),
    ('dmc_cartpole_balance', '--config.env.dmc.size=(480,640)', '480x640'),
])
def test_an_image_size_the_agent_cannot_take_is_a_config_line_before_tensorflow(
    tmp_path, task, flag, size):
  """Found by the agent as it was built, after TensorFlow and the envs had loaded; and
  env.dmc.size=(100000, 100000) never got there: its env worker, rendering 30 GB, was
  killed by the OOM killer ('failed to start: process died (exit code -9)')."""
  result = run_main('--config=configs/dmc.py:train_eval,debug', f'--config.task={task}',
                    '--config.env.dmc.image=True', f'--logdir={tmp_path}/run', flag)
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith(
      f'Config error: agent.enc.mults=(2, 3, 4, 4) does not fit images of {size} '
      f'({flag[len("--config."):].split("=")[0]}): its 4 stages divide their size by 16'), lines[0]
  assert result.stdout == ''  # before TensorFlow loads: no start-up line
  assert not (tmp_path / 'run').exists()


def test_a_binary_file_as_config_is_named(tmp_path):
  """--config=/bin/ls (or a .py that holds null bytes): 'Config error: source code string
  cannot contain null bytes', naming no file."""
  path = tmp_path / 'c.py'
  path.write_bytes(b'\x7fELF\x00\x01')
  result = run_main(f'--config={path}:debug', f'--logdir={tmp_path}/run')
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'Config error: the config file {path} is no Python source (it holds null bytes: a '
      'binary file?); give a config file such as configs/dmc.py'], result.stderr[-2000:]
  assert not (tmp_path / 'run').exists()


def test_a_config_file_that_is_a_broken_link_is_named(tmp_path):
  """'cannot load the config file my.py: No such file or directory', of a file that is
  there, as a link to one that is not (moved, or a relative link made elsewhere)."""
  (tmp_path / 'my.py').symlink_to(tmp_path / 'gone.py')
  result = run_main(f'--config={tmp_path}/my.py:debug', f'--logdir={tmp_path}/run')
  assert result.returncode == 2 and result.stderr.splitlines() == [
      f'Config error: cannot load the config file {tmp_path}/my.py: it is a symbolic link to '
      f'{tmp_path}/gone.py, which does not exist or loops'], result.stderr[-2000:]
  assert not (tmp_path / 'run').exists()


def test_a_runs_saved_config_json_as_config_is_named_for_what_it_is(tmp_path):
  """--config=RUN/config.json (to run a saved config again): Python ran the JSON and
  the line said 'raised NameError: name 'true' is not defined'."""
  path = tmp_path / 'config.json'
  path.write_text(json.dumps({'task': 'dummy_disc', 'run': {'parallel': True}}))
  result = run_main(f'--config={path}:debug', f'--logdir={tmp_path}/run')
  lines = result.stderr.splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0] == (
      f"Config error: --config={path} is a JSON file (a run's saved config.json?); "
      '--config takes a Python config file with get_config(), e.g. configs/dmc.py, and '
      "a run's own config.json is what resuming its --logdir reads")
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('suite, preset, hint', [
    # The list of choices gave no hint: a preset in capitals, or of another suite file.
    (gym, 'DEBUG', " (did you mean 'debug'?)"), (gym, 'size1M', " (did you mean 'size1m'?)"),
    (atari, 'size_12m', " (did you mean 'size12m'?)"),
    (dmc, 'visoin', " (did you mean 'vision'?)"),
    (gym, 'proprio', ' (a preset of configs/dmc.py only)'),
    (atari, 'quick', ' (a preset of configs/dmc.py and configs/gym.py only)'),
    (crafter, 'huge', '')])
def test_an_unknown_preset_names_the_one_meant(suite, preset, hint):
  with pytest.raises(ValueError) as e:
    suite.get_config(f'train_eval,{preset}')
  assert str(e.value).startswith(f'Unknown preset {preset!r}{hint}; choose from: '), str(e.value)


def test_the_presets_of_one_suite_file_are_as_other_suites_are_told():
  from configs import presets
  for name, files in presets.SUITE_PRESETS.items():
    for suite in (atari, atari100k, crafter, dmc, gym):
      file = f'configs/{suite.__name__.split(".")[-1]}.py'
      try:
        suite.get_config(name)
      except ValueError:
        assert file not in files, (name, file)
      else:
        assert file in files, (name, file)


def test_unknown_preset_fails_with_one_line():
  result = run_main('--config=configs/dmc.py:train_eval,huge')
  lines = result.stderr.strip().splitlines()
  assert result.returncode != 0 and len(lines) == 1, result.stderr
  assert "Unknown preset 'huge'" in lines[0]


@pytest.mark.parametrize('presets, first, second, what', [
    ('eval_only,debug,train', 'eval_only', 'train', 'the script'),  # it trained
    ('size1m,size12m', 'size1m', 'size12m', 'the model size'),  # it built size12m
    ('proprio,vision', 'proprio', 'vision', 'the observations')])
def test_two_presets_of_one_kind_are_one_line(tmp_path, presets, first, second, what):
  """The last won silently; presets of other kinds still follow one (vision,size1m)."""
  result = run_main(f'--config=configs/dmc.py:{presets}', f'--logdir={tmp_path}/run')
  assert result.returncode == 2 and result.stderr == (
      f"Config error: presets '{first}' and '{second}' both set {what}, and only the last "
      'would count; give one\n'), result.stderr
  assert not (tmp_path / 'run').exists()


def test_xla_flags_are_appended_once(monkeypatch):
  from dreamerv3_tf import main
  monkeypatch.setenv('XLA_FLAGS', '--xla_dump_to=/tmp/x')
  main.use_xla_flags('  --xla_cpu_use_fusion_emitters=false ')
  main.use_xla_flags('--xla_cpu_use_fusion_emitters=false')
  assert os.environ['XLA_FLAGS'] == (
      '--xla_dump_to=/tmp/x --xla_cpu_use_fusion_emitters=false')
  main.use_xla_flags('')
  assert os.environ['XLA_FLAGS'].count('fusion_emitters') == 1


@pytest.mark.parametrize('flags, message', [
    # XLA ended the run at its first compile, after the logdir was written, with a line
    # of its own ("F0000 ... Unknown flag in XLA_FLAGS") that named no config key.
    ('--xla_nosuch=1', r"xla_flags='--xla_nosuch=1': XLA has no flag --xla_nosuch=1; "),
    # XLA took it for a file of flags when first (one line, at the compile), else
    # ignored it.
    ('--xla_dump_to=/tmp/x xla_cpu_use_fusion_emitters=false',
     'xla_cpu_use_fusion_emitters=false does not start with --; '),
    ('--xla_cpu_use_fusion_emitters=false', None),
])
def test_xla_flags_that_xla_refuses_are_a_config_error(flags, message, monkeypatch):
  from dreamerv3_tf import main
  from dreamerv3_tf import tfimport
  if tfimport._framework_library():  # (Linux x86-64) XLA's own parse answers, no compile
    monkeypatch.setattr(tfimport, '_compile_with_flags', None)
  if message is None:
    main.check_xla_flags(flags)
    return
  with pytest.raises(configuration.ConfigError, match=message):
    main.check_xla_flags(flags)


@pytest.mark.parametrize('closed, flags, message', [
    ('no_library', '--xla_nosuch=1',
     "xla_flags='--xla_nosuch=1': XLA has no flag --xla_nosuch=1; "),
    ('no_symbol', '--xla_cpu_use_fusion_emitters=maybe', 'XLA cannot parse a value of them; ')])
def test_xla_flags_are_checked_by_a_compile_where_xlas_parse_cannot_be_asked(
    closed, flags, message, monkeypatch):
  """Without TensorFlow's framework library where it is looked for, or without the symbol
  of XLA's parse in it (another build of TensorFlow), the check compiles once after
  TensorFlow's import: the same outcome, seconds later."""
  from dreamerv3_tf import main
  from dreamerv3_tf import tfimport
  if closed == 'no_library':
    monkeypatch.setattr(tfimport, '_framework_library', lambda: None)
  else:
    monkeypatch.setattr(tfimport, '_XLA_OPTIONS_SYMBOL', '_ZN3xla13NoSuchOptionsEv')
  compiles, compile_with_flags = [], tfimport._compile_with_flags
  monkeypatch.setattr(tfimport, '_compile_with_flags',
                      lambda env: compiles.append(env) or compile_with_flags(env))
  with pytest.raises(configuration.ConfigError, match=message):
    main.check_xla_flags(flags)
  assert len(compiles) == 1


def test_xla_flags_cannot_go_with_a_file_of_flags(monkeypatch):
  from dreamerv3_tf import main
  monkeypatch.setenv('XLA_FLAGS', '/home/me/flags.txt')
  with pytest.raises(configuration.ConfigError, match=(
      r"xla_flags='--xla_cpu_use_fusion_emitters=false': XLA_FLAGS names a file of flags "
      r"\(/home/me/flags.txt\), and XLA then reads no others; put them in that file")):
    main.check_xla_flags('--xla_cpu_use_fusion_emitters=false')


@pytest.mark.parametrize('name, value, message', [
    # XLA ended the run at its first compile, after config.json, spaces.json and the
    # first checkpoint were written: with its own line naming no config key, or with
    # its list of all its flags (some 90 lines) for a value it cannot parse.
    ('XLA_FLAGS', '{suite} --xla_nosuch=1', 'XLA has no flag --xla_nosuch=1'),
    ('XLA_FLAGS', '{suite} --xla_dump_hlo_as_text=maybe', 'XLA cannot parse a value of them'),
    ('XLA_FLAGS', '/no/such/flags.txt',
     'XLA reads a value that does not start with -- as a file of flags, and cannot open'),
    # TensorFlow ended the run while its import hid stderr: no line at all, exit code 1.
    ('TF_XLA_FLAGS', 'garbage',
     'XLA reads a value that does not start with -- as a file of flags, and cannot open'),
    ('TF_XLA_FLAGS', '--tf_xla_nosuch=1', 'TensorFlow has no flag --tf_xla_nosuch=1'),
])
def test_xla_flags_of_the_environment_that_xla_refuses_are_one_line(
    name, value, message, tmp_path):
  value = value.format(suite=os.environ.get('XLA_FLAGS', ''))
  env = dict(os.environ, **{name: value})
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:train,debug',
       f'--logdir={tmp_path}/run', '--config.task=dummy_disc_vec'],
      cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith(f'Config error: {name}={value!r}: {message}'), lines[0]
  assert lines[0].endswith('; XLA would stop the run at its first compile'), lines[0]
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('name', ['XLA_FLAGS', 'xla_flags'])
def test_an_xla_dump_folder_xla_cannot_make_is_one_line(name, tmp_path):
  """--xla_dump_to=DIR where XLA cannot make DIR (read-only, under a file): the run
  trained and dumped nothing, XLA's 'Could not create directory' lines hidden (shown by
  --verbose alone, 4 at each compile)."""
  (tmp_path / 'notes').write_text('')
  flag = f'--xla_dump_to={tmp_path}/notes/dump'
  env = dict(os.environ)
  args = [f'--config.xla_flags={flag}'] if name == 'xla_flags' else []
  if name == 'XLA_FLAGS':
    env['XLA_FLAGS'] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:train,debug',
       f'--logdir={tmp_path}/run', '--config.task=dummy_disc_vec', *args],
      cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
  value = env['XLA_FLAGS'] if name == 'XLA_FLAGS' else flag
  assert (result.returncode, result.stderr) == (2, (
      f'Config error: {name}={value!r}: XLA cannot make its dump folder {tmp_path}/notes/dump '
      f'({tmp_path}/notes is a file), and would dump nothing without a word; give a folder '
      'it can write, or leave out --xla_dump_to\n')), result.stderr[-2000:]
  assert os.listdir(tmp_path) == ['notes']


@pytest.mark.parametrize('script, message', [
    ('eval_only', r'spaces.json not found: {d} is the logdir of an evaluation \(eval_only\), '
                  r'which holds no agent; use the run it evaluated \(/runs/a/ckpt\)$'),
    ('train_eval', r'spaces.json not found beside the config.json of the training run in {d} '
                   r'\(deleted\?\); put it back, or resume the run \(its training command, '
                   r'with a larger --config.run.steps if it has finished\), which writes it '
                   r'again from its env$')])
def test_the_logdir_of_an_evaluation_is_named_where_a_run_is_meant(tmp_path, script, message):
  """export --logdir=<an eval_only logdir> asked 'is it the logdir of a training run?';
  so did one of a training run that lost its spaces.json, which its config.json shows."""
  (tmp_path / 'config.json').write_text(json.dumps(
      {'script': script, 'run': {'from_checkpoint': '/runs/a/ckpt'}}))
  with pytest.raises(configuration.ConfigError, match=message.format(d=re.escape(str(tmp_path)))):
    run_files.load_spaces(str(tmp_path))


def test_spaces_json_holds_an_even_bound_once_and_reads_older_files(tmp_path):
  """An image's bounds were written value by value (593 KB for DMC's 64x64x3); those
  files still load, and to spaces equal to the env's."""
  from dreamerv3_tf.core import spaces
  obs = {'image': spaces.Space(np.uint8, (64, 64, 3), 0, 255),
         'vector': spaces.Space(np.float32, (3,), [-1, 0, -np.inf], 1),
         'empty': spaces.Space(np.float32, (0,)), 'reward': spaces.Space(np.float32)}
  act = {'action': spaces.Space(np.int32, (), 0, 4)}
  run_files.save_spaces(str(tmp_path), obs, act)
  assert (tmp_path / 'spaces.json').stat().st_size < 2000
  saved = json.loads((tmp_path / 'spaces.json').read_text())
  assert saved['obs_space']['image']['low'] == 0 and saved['obs_space']['image']['high'] == 255
  assert saved['obs_space']['vector']['low'] == [-1, 0, -np.inf]
  for key, space in obs.items():  # an older version's file: every value listed
    saved['obs_space'][key].update(low=space.low.tolist(), high=space.high.tolist())
  for data in (None, saved):
    if data:
      (tmp_path / 'spaces.json').write_text(json.dumps(data))
    loaded = run_files.load_spaces(str(tmp_path))
    assert run_files.spaces_difference(str(tmp_path), *loaded) is None
    assert all(loaded[0][k] == v for k, v in obs.items()) and loaded[1]['action'] == act['action']


@pytest.mark.parametrize('outputs, unknown', [
    ('jsonl,scope', "['scope']"), ('[jsonl, scope]', "['[jsonl', ' scope]']")])
def test_unknown_logger_outputs_name_the_ones_there_are(outputs, unknown):
  """The line named the entries alone: the official code's 'scope', or its YAML list."""
  c = dmc.get_config('debug')
  c.logger.outputs = outputs
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'logger.outputs={outputs!r} has unknown entries {unknown}; give some of terminal, '
      'jsonl, tensorboard, comma-separated without spaces, e.g. terminal,jsonl') + '$'):
    configuration.finalize(c)


def test_a_folder_without_config_json_is_not_named_an_evaluation(tmp_path):
  """export --logdir=<any folder without config.json> said it was the logdir of an
  evaluation (eval_only), which holds no agent."""
  with pytest.raises(configuration.ConfigError, match=re.escape(
      f'{tmp_path}/config.json not found: is {tmp_path} the logdir of a training run?') + '$'):
    run_files.load_config(str(tmp_path))


def make_official_run(root):
  """An official run's files as its code leaves them: ckpt/latest names the save folder."""
  folder = root / 'ckpt' / '20261205T000000'
  folder.mkdir(parents=True)
  (root / 'ckpt' / 'latest').write_text('20261205T000000')
  (folder / 'agent.pkl').write_bytes(b'')
  (folder / 'done').touch()
  (root / 'config.yaml').write_text('task: dmc_walker_walk\n')
  (root / 'metrics.jsonl').write_text('{"step": 1000, "episode/score": 3.0}\n')
  return root


@pytest.mark.parametrize('where', ['logdir', 'from_checkpoint', 'eval_only', 'export'])
def test_an_official_run_given_for_ours_names_the_importer(tmp_path, where):
  """An official run's logdir given as --logdir was 'metrics.jsonl holds the metrics of
  an earlier run, but ckpt holds no checkpoint'; as run.from_checkpoint 'a directory
  that holds no checkpoint' or 'No checkpoint found' once TensorFlow had loaded; to
  export 'config.json not found: ... is the logdir of an evaluation'."""
  run = make_official_run(tmp_path / 'official')
  before = sorted(str(x) for x in tmp_path.rglob('*'))
  importer = (f'belongs to a run of the official DreamerV3 ({run}/ckpt/latest), which this '
              'package reads only through its importer: python -m '
              f'dreamerv3_tf.interop.official --checkpoint={run} --logdir=NEW_LOGDIR, then '
              'use NEW_LOGDIR (README, "Official checkpoints")')
  c = configuration.finalize(dmc.get_config('eval_only,debug' if where == 'eval_only'
                                            else 'debug'))
  c.logdir = str(tmp_path / 'new')
  if where == 'logdir':
    # Its ckpt/ and a save folder too: the importer wrote our files there, among the
    # official saves.
    for given in (run, run / 'ckpt', run / 'ckpt' / 'imported', run / 'ckpt' / '20261205T000000'):
      c.logdir = str(given)
      with pytest.raises(configuration.ConfigError, match=re.escape(
          f'--logdir {given} {importer}') + '$'):
        logdir_checks.check_logdir(c, c.logdir)
    c.logdir = str(run / 'imported')  # beside its ckpt/: none of its files
    logdir_checks.check_logdir(c, c.logdir)
  elif where == 'export':
    with pytest.raises(configuration.ConfigError, match=re.escape(
        f'{run}/config.json not found: {run} {importer}') + '$'):
      run_files.load_config(str(run))
  else:
    for given in (run, run / 'ckpt', run / 'ckpt' / '20261205T000000'):
      c.run.from_checkpoint = str(given)
      with pytest.raises(configuration.ConfigError, match=re.escape(
          f'run.from_checkpoint={given} {importer}') + '$'):
        logdir_checks.check_from_checkpoint(c)
  assert sorted(str(x) for x in tmp_path.rglob('*')) == before


@pytest.mark.parametrize('script, kept', [
    ('eval_only', 'the episodes it logged are kept'), ('train_eval', 'its checkpoints are kept')])
def test_a_logdir_in_use_says_what_the_other_run_keeps(tmp_path, script, kept):
  """An evaluation's logdir in use said its checkpoints were kept: it saves none."""
  from dreamerv3_tf.core import dirlock
  (tmp_path / 'config.json').write_text(json.dumps({'script': script, 'run': {}}))
  error = logdir_checks.in_use_error(str(tmp_path), dirlock.Busy(str(tmp_path), 42))
  assert str(error) == (f'logdir {tmp_path} is in use by another run (process 42); stop that '
                        f'run first ({kept}), or pass another --logdir')


def test_spaces_json_of_older_runs_loads_as_agent_spaces(tmp_path):
  from dreamerv3_tf.envs import make_env
  env = make_env('dummy_disc', {'dummy': {'length': 5}}, 0)
  # Runs before the agent-facing spaces were saved wrote the env's own.
  run_files.save_spaces(str(tmp_path), env.obs_space, env.act_space)
  obs_space, act_space = run_files.load_spaces(str(tmp_path))
  assert 'log/hits' in env.obs_space and 'log/hits' not in obs_space
  assert sorted(act_space) == ['action'] and 'image' in obs_space


def test_a_resume_whose_env_changed_its_spaces_is_refused(tmp_path):
  """The same config, another env behind it (e.g. a custom env edited between runs):
  the checkpoint and replay hold steps of the old spaces. It failed inside the replay
  with an 'unexpected' error, or, for actions, trained on and rewrote spaces.json."""
  import numpy as np
  from dreamerv3_tf.core import base
  from dreamerv3_tf.core.spaces import Space
  obs = {'vector': Space(np.float32, (3,)), **{k: v for k, v in base.agent_spaces(
      {'reward': Space(np.float32), 'is_first': Space(bool), 'is_last': Space(bool),
       'is_terminal': Space(bool)}, {})[0].items()}}
  act = {'action': Space(np.int32, (), 0, 2)}
  run_files.check_spaces(str(tmp_path), obs, act)  # a new logdir: nothing to compare
  run_files.save_spaces(str(tmp_path), obs, act)
  saved = (tmp_path / 'spaces.json').read_text()
  run_files.check_spaces(str(tmp_path), dict(obs), dict(act))
  with pytest.raises(configuration.ConfigError, match=(
      r"holds a run whose env had action 'action' Space\(int32, shape=\(\), low=0, high=2\), "
      r"the env now has Space\(int32, shape=\(\), low=0, high=3\); use a new --logdir")):
    run_files.check_spaces(str(tmp_path), obs, {'action': Space(np.int32, (), 0, 3)})
  with pytest.raises(configuration.ConfigError, match=r"had obs 'vector' Space\(float32, "
                     r"shape=\(3,\).*now has Space\(float32, shape=\(4,\)"):
    run_files.check_spaces(str(tmp_path), {**obs, 'vector': Space(np.float32, (4,))}, act)
  with pytest.raises(configuration.ConfigError, match=r"had obs 'extra' \(none\)"):
    run_files.check_spaces(str(tmp_path), {**obs, 'extra': Space(np.float32, (1,))}, act)
  # Bounds of each joint: numpy's text of them wrapped at 75 characters, and the error's
  # one line ended inside the first (a notebook's precision=1 showed -1.25 as -1.2).
  joints = Space(np.float32, (20,), -np.arange(1, 21) / 4, np.arange(1, 21))
  with np.printoptions(precision=1):
    with pytest.raises(configuration.ConfigError) as caught:
      run_files.check_spaces(str(tmp_path), {**obs, 'vector': joints}, act)
    line = errors.describe(caught.value)
    assert line.endswith("Space(float32, shape=(20,), low=[-0.25 -0.5 -0.75 -1.0 -1.25 "
                         "-1.5 -1.75 -2.0 -2.25 -2.5 -2.75 -3.0 -3.25 -3.5 -3.75 -4.0 -4.25 "
                         "-4.5 -4.75 -5.0], high=[1.0 2.0 3.0 4.0 5.0 6.0 7.0 8.0 9.0 10.0 "
                         "11.0 12.0 13.0 14.0 15.0 16.0 17.0 18.0 19.0 20.0]); use a new "
                         "--logdir (run.from_checkpoint starts it from that run's agent)"), line
    # More than numpy's 1000 values: its first and last 3 at each level, as it shows them.
    big = Space(np.float32, (2, 600), np.arange(1200).reshape(2, 600), 2000)
    assert repr(big).startswith('Space(float32, shape=(2, 600), low=[[0.0 1.0 2.0 ... 597.0 '
                                '598.0 599.0] [600.0 601.0 602.0 ... 1197.0 1198.0 1199.0]], ')
  assert (tmp_path / 'spaces.json').read_text() == saved
  # Cut short (a full disk): the line named no way on; the run rewrites a missing one.
  (tmp_path / 'spaces.json').write_text(saved[:100])
  with pytest.raises(configuration.ConfigError, match=(
      r'spaces.json is not valid JSON \(.*\); if the env is the one that run had, move it '
      r'away and rerun \(the run writes it again\)$')):
    run_files.check_spaces(str(tmp_path), obs, act)
  assert (tmp_path / 'spaces.json').read_text() == saved[:100]


def test_config_json_round_trip_keeps_tuples():
  c = configuration.finalize(dmc.get_config('debug'))
  back = run_files.from_json(run_files.to_json(c))
  assert back.agent.enc.mults == c.agent.enc.mults and isinstance(back.agent.enc.mults, tuple)
  assert back.env.dmc.size == (64, 64)


def test_evaluation_and_training_do_not_share_a_logdir(tmp_path):
  """eval_only in a training run's logdir would rewrite its config.json and append to
  its metrics at steps 0..N; a training run in an evaluation's logdir likewise."""
  train = configuration.finalize(dmc.get_config('train_eval,debug'))
  logdir_checks.save(train, str(tmp_path / 'run'))
  saved = (tmp_path / 'run' / 'config.json').read_text()
  evaluation = configuration.finalize(dmc.get_config('eval_only,debug'))
  with pytest.raises(configuration.ConfigError,
                     match='holds a training run; script=eval_only needs a new --logdir'):
    logdir_checks.save(evaluation, str(tmp_path / 'run'))
  assert (tmp_path / 'run' / 'config.json').read_text() == saved
  logdir_checks.save(evaluation, str(tmp_path / 'eval'))
  with pytest.raises(configuration.ConfigError, match='holds an evaluation'):
    logdir_checks.check_logdir(train, str(tmp_path / 'eval'), allow_other=True)
  # Once it has logged its episodes, as every evaluation has: the line said its
  # metrics.jsonl 'holds the metrics of an earlier run, but ckpt holds no checkpoint'.
  (tmp_path / 'eval' / 'metrics.jsonl').write_text('{"step": 10, "epstats/score": 1.0}\n')
  for allow_other in (False, True):
    with pytest.raises(configuration.ConfigError, match=re.escape(
        f"logdir {tmp_path / 'eval'} holds an evaluation (script=eval_only); "
        'script=train_eval needs a new --logdir') + '$'):
      logdir_checks.check_logdir(train, str(tmp_path / 'eval'), allow_other=allow_other)
  # A training run may switch between train and train_eval.
  logdir_checks.save(configuration.finalize(dmc.get_config('train,debug')), str(tmp_path / 'run'))


def test_eval_envs_beyond_eval_eps_are_a_warning_line(tmp_path):
  """train_eval with run.eval_envs=3 and run.eval_eps=1 built 3 eval envs (worker
  processes) of which 2 never step, without a word. (A --logdir that is a file stops it
  before TensorFlow loads.)"""
  (tmp_path / 'file').write_text('')
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:train_eval,debug',
       f'--logdir={tmp_path}/file', '--config.run.eval_envs=3', '--config.run.eval_eps=1'],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.splitlines()[0] == (
      'Warning: run.eval_envs=3 builds 3 eval envs, but an eval of run.eval_eps=1 episode '
      'steps only 1 of them (each env plays its share of the episodes; one of no share '
      'never steps): give --config.run.eval_envs=1, or more run.eval_eps'), result.stderr
  c = configuration.finalize(dmc.get_config('train_eval,debug'))
  c.run.eval_envs = c.run.eval_eps = 2
  assert config_warnings.idle_eval_envs_warning(c) is None
  c.run.eval_envs, c.script = 3, 'eval_only'  # its envs play run.steps, all of them
  assert config_warnings.idle_eval_envs_warning(c) is None


def test_env_options_of_another_suite_are_named_when_given():
  """An atari100k task reads env.atari100k: --config.env.atari.sticky=True (the Atari
  suite's name) changed nothing, and a dmc task took env.atari.noops=-1, without a word."""
  c = configuration.finalize(atari100k.get_config('train_eval,debug'))
  assert config_warnings.unread_keys_warnings(
      c, {'env.atari.sticky', 'env.atari100k.gray', 'env.time_limit', 'seed'}) == [
      'Warning: env.atari.sticky=True is not read by task=atari100k_pong, whose env reads '
      'env.atari100k; give --config.env.atari100k.sticky']
  c = configuration.finalize(dmc.get_config('train_eval,debug'))
  c.env.atari.noops = -1  # (unchecked: no atari task reads it)
  assert config_warnings.unread_keys_warnings(c, {'env.atari.noops', 'env.dmc.camera'}) == [
      'Warning: env.atari.noops=-1 is not read by task=dmc_cartpole_balance, whose env reads '
      'env.dmc (dmc tasks take no noops)']
  c.env.atari.lives = 'a\nb'  # one line still
  assert config_warnings.unread_keys_warnings(c, {'env.atari.lives'}) == [
      "Warning: env.atari.lives='a\\nb' is not read by task=dmc_cartpole_balance, whose env "
      'reads env.dmc (dmc tasks take no lives)']
  c.task = 'py_corridor:Corridor'  # py_ tasks read env.gym's options and env.py
  assert config_warnings.unread_keys_warnings(c, {'env.gym.repeat', 'env.py'}) == []


def test_a_from_checkpoint_regex_nothing_reads_is_named_when_given():
  """run.from_checkpoint_regex picks what a new training run takes from
  run.from_checkpoint: given without one (a new run, or a resume: sweep 77) or to
  eval_only (which loads the whole agent), it changed nothing, without a word."""
  c = configuration.finalize(dmc.get_config('train_eval,debug'))
  c.run.from_checkpoint_regex = 'enc/'
  assert config_warnings.unread_keys_warnings(c, {'run.from_checkpoint_regex'}) == [
      "Warning: run.from_checkpoint_regex='enc/' is not read without run.from_checkpoint: "
      'it picks the variables a new run takes from that checkpoint']
  c.run.from_checkpoint = '/some/run/ckpt'  # read (a resume's own warning names it)
  assert config_warnings.unread_keys_warnings(c, {'run.from_checkpoint_regex'}) == []
  c.script = 'eval_only'
  assert config_warnings.unread_keys_warnings(c, {'run.from_checkpoint_regex'}) == [
      'Warning: run.from_checkpoint_regex=enc/ is not read by script=eval_only: it '
      'evaluates the whole agent of run.from_checkpoint']
  assert config_warnings.unread_keys_warnings(c, set()) == []  # (the default: quiet)


def test_keys_eval_only_never_reads_are_named_when_given(tmp_path):
  """eval_only plays run.steps env steps with run.eval_envs envs: --config.run.eval_eps=2
  evaluated 29 episodes of CartPole in 300 steps, and --config.run.envs=8 one env, without
  a word. (A missing checkpoint stops it before TensorFlow loads.)"""
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:eval_only,debug',
       f'--logdir={tmp_path}/eval', f'--config.run.from_checkpoint={tmp_path}/nosuch',
       '--config.run.eval_eps=2', '--config.run.envs', '8', '--config.run.steps=300'],
      cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.splitlines()[:2] == [
      'Warning: run.eval_eps=2 is not read by script=eval_only: it plays run.steps env steps '
      'and scores every episode that ends in them; give --config.run.steps to set how long it '
      'evaluates',
      'Warning: run.envs=8 is not read by script=eval_only: its envs are run.eval_envs']
  c = configuration.finalize(dmc.get_config('train_eval,debug'))  # read there: quiet
  assert config_warnings.unread_keys_warnings(c, {'run.eval_eps', 'run.envs'}) == []
  # Given in a --flagfile: no word, where the command line's got one.
  (tmp_path / 'eval.flags').write_text('--config.run.eval_eps=2\n')
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/dmc.py:eval_only,debug',
       f'--logdir={tmp_path}/eval', f'--config.run.from_checkpoint={tmp_path}/nosuch',
       f'--flagfile={tmp_path}/eval.flags'], cwd=ROOT, capture_output=True, text=True,
      timeout=120)
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.splitlines()[0].startswith(
      'Warning: run.eval_eps=2 is not read by script=eval_only'), result.stderr[-3000:]


@pytest.mark.parametrize('script, task, warning', [
    ('atari100k', 'atari_pong', "Warning: task=atari_pong reads env.atari (actions='all', "
     "gray=True, size=(96, 96), sticky=True), not env.atari100k of "
     'configs/atari100k.py, whose benchmark is task=atari100k_pong'),
    ('atari', 'atari100k_breakout', 'Warning: task=atari100k_breakout reads env.atari100k '
     "(actions='needed', gray=False, size=(64, 64), sticky=False), not env.atari of "
     'configs/atari.py, whose tasks are atari_breakout'),
    ('atari100k', 'atari100k_breakout', None)])
def test_an_atari_task_of_the_other_atari_file_is_named(tmp_path, script, task, warning):
  """configs/atari100k.py with --config.task=atari_pong ran Atari's 96x96 gray frames with
  sticky actions, not the benchmark's, without a word (sweep 78). (A logdir that is a file
  stops it before TensorFlow loads.)"""
  (tmp_path / 'file').write_text('')
  result = run_main(f'--config=configs/{script}.py:train,debug', f'--logdir={tmp_path}/file',
                    f'--config.task={task}')
  assert result.returncode == 2, result.stderr[-3000:]
  lines = [x for x in result.stderr.splitlines() if 'reads env.atari' in x]
  assert lines == ([warning] if warning else []), result.stderr
