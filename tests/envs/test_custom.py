"""Your own env (envs/custom.py, README "Your own environment"): the README's example
trained end to end from the command line, both task names in and out of worker
processes, and one line naming what to fix for every way a constructor can fail."""

import json
import os
import re
import shlex
import sys
import warnings

import numpy as np
import pytest

import cli_zygote
from configs import gym as gym_config
from dreamerv3_tf import envs
from dreamerv3_tf import factories
from dreamerv3_tf.core.base import EnvSpaceError
from dreamerv3_tf.core.base import exit_code
from dreamerv3_tf.envs import memory
from dreamerv3_tf.envs.wrappers import EnvSetupError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def readme_example():
  """(module source, command words) of the README's section, as a user copies them."""
  with open(os.path.join(ROOT, 'README.md')) as f:
    section = f.read().split('## Your own environment', 1)[1].split('\n## ', 1)[0]
  source = re.search(r'```python\n(.*?)```', section, re.S).group(1)
  command = re.search(r'```sh\n(.*?)```', section, re.S).group(1).replace('\\\n', ' ')
  return source, shlex.split(command)


# More constructors in the module, for the error cases and the other interfaces.
EXTRA = '''
import dreamerv3_tf.envs.dummy as _dummy

def raises(length=5):
  return {}['missing']

def not_an_env():
  return 42

def unprintable():
  class Unprintable(Exception):
    def __str__(self):
      raise RuntimeError('no text')
  raise Unprintable()

def hangs():
  import time
  time.sleep(600)

def tuple_obs():
  env = Corridor()
  env.observation_space = gym.spaces.Tuple((env.observation_space,))
  return env

def step_dict_env(seed=None, mode='train'):
  return _dummy.Dummy('disc_vec', length=7 if mode == 'train' else 3, seed=seed)

class NoClose:  # what custom._adapt takes: obs_space, act_space and step(), no close()
  def __init__(self):
    env = _dummy.Dummy('disc_vec', length=7)
    self.obs_space, self.act_space, self.step = env.obs_space, env.act_space, env.step

def vector_env():  # gymnasium's vector env, returned by mistake for one env
  return gym.vector.SyncVectorEnv([Corridor] * 2)

def wrong_spaces():
  return type('Wrong', (), {'obs_space': {'x': gym.spaces.Discrete(2)},
                            'act_space': {}, 'step': None})()

gym.register('Corridor-v0', entry_point=Corridor)
'''


@pytest.fixture(scope='module')
def user_dir(tmp_path_factory):
  """A directory outside the repo holding corridor.py: the README's code and EXTRA."""
  path = tmp_path_factory.mktemp('myenvs')
  source, _ = readme_example()
  (path / 'corridor.py').write_text(source + EXTRA)
  sys.path.insert(0, str(path))  # for the in-process envs; workers get sys.path too
  yield path
  sys.path.remove(str(path))
  sys.modules.pop('corridor', None)


def env_config(**py):
  c = gym_config.get_config('train_eval,debug')
  c.env.py = py
  return c.env


def test_readme_command_trains_with_env_workers(user_dir, tmp_path):
  _, words = readme_example()
  assert words[0].startswith('PYTHONPATH=') and words[1:4] == ['python', '-m', 'dreamerv3_tf.main']
  args = [w for w in words[4:] if not w.startswith('--logdir=')]
  args = [w + ',debug' if w.startswith('--config=') else w for w in args]
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['PYTHONPATH'] = f'{user_dir}{os.pathsep}{ROOT}'  # as a user's shell, set by hand
  logdir = tmp_path / 'corridor'
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', *args, f'--logdir={logdir}',
       '--config.run.parallel=True', '--config.run.steps=150',
       # Intervals in steps: the debug preset logs every 5 s, and a run on a warm XLA
       # cache finished 300 steps within 5 s of its first log, before any update.
       # 150 steps: 75 a worker, more than the 51 of the longest episode.
       '--config.run.clock=steps', '--config.run.log_every=50',
       '--config.run.report_every=75', '--config.run.save_every=75',
       '--config.logger.outputs=jsonl'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
  with open(logdir / 'config.json') as f:
    config = json.load(f)
  assert config['task'] == 'py_corridor:Corridor' and config['env']['py'] == {'length': 5}
  assert config['run']['parallel'] is True
  with open(logdir / 'metrics.jsonl') as f:
    rows = [json.loads(x) for x in f]
  assert max(r.get('train/updates', 0) for r in rows) > 0
  lengths = [r['episode/length'] for r in rows if 'episode/length' in r]
  # Episodes end at the goal (6 observations at the least) or after 50 steps.
  assert lengths and all(6 <= x <= 51 for x in lengths), lengths


@pytest.mark.parametrize('parallel', [False, True], ids=['in_process', 'workers'])
@pytest.mark.parametrize('task', ['py_corridor:Corridor', 'gym_corridor:Corridor-v0',
                                  'py_corridor:step_dict_env'])
def test_both_task_names_step_in_and_out_of_process(user_dir, task, parallel):
  config = gym_config.get_config('train_eval,debug')
  config.task, config.run.parallel, config.env.py = task, parallel, {}
  if task == 'py_corridor:Corridor':
    config.env.py = {'length': 2}
  driver = factories.make_driver(config, 'train')
  try:
    assert driver.act_space['action'].discrete
    rights = lambda carry, obs: (carry, {'action': np.ones(driver.length, np.int32)}, {})
    scores = []
    driver.on_episode(lambda stats, worker: scores.append(stats))
    driver.reset()
    driver(rights, steps=2 * 12)
  finally:
    driver.close()
  if task == 'py_corridor:step_dict_env':  # the dummy env: 7 steps, whatever we do
    assert {s['length'] for s in scores} == {8}
  else:  # always right: the goal after `length` steps, reward 1
    length = 2 if task.startswith('py_') else 5
    assert scores and all(s['length'] == length + 1 and s['score'] == 1 for s in scores)


def test_seed_and_mode_reach_the_constructor_when_it_takes_them(user_dir):
  def targets(seed, mode='train'):
    env = envs.make_env('py_corridor:step_dict_env', env_config(), seed=seed, mode=mode)
    obs = [env.step({'reset': True, 'action': np.int32(0)})]
    while not obs[-1]['is_last']:
      obs.append(env.step({'reset': False, 'action': np.int32(0)}))
    return np.stack([o['vector'] for o in obs])
  assert len(targets(3)) == 8 and len(targets(3, 'eval')) == 4
  np.testing.assert_array_equal(targets(3), targets(3))
  assert not np.array_equal(targets(3), targets(4))  # 8 targets of 4 kinds: 4^-8 to fail


@pytest.mark.parametrize('task, py, message', [
    ('py_nomodule:make', {}, "env module 'nomodule' not found: put the directory that holds "
                             'it on PYTHONPATH'),
    ('py_corridor:Coridor', {}, r"module corridor \(.*corridor.py\) has no 'Coridor'; its own "
                                'functions and classes: Corridor, NoClose, hangs, not_an_env, raises, '
                                'step_dict_env, tuple_obs, unprintable, vector_env, '
                                'wrong_spaces'),
    ('py_corridor', {}, 'task py_corridor: expected py_<module>:<function>'),
    ('py_corridor:Corridor', {'lenght': 5}, r"config.env.py sets \['lenght'\], which "
                                            'corridor:Corridor does not take; it takes: length'),
    ('py_corridor:Corridor', {'seed': 1}, r"config.env.py sets \['seed'\]: the run passes"),
    ('py_corridor:raises', {}, r"corridor:raises\(\) raised KeyError: 'missing' "
                               r'\(corridor.py, line \d+\)'),
    # Its str() raised: the line named that error, 'failed to start: RuntimeError: no text'.
    ('py_corridor:unprintable', {}, r'corridor:unprintable\(\) raised Unprintable: <its str\(\) '
                                    r'raised RuntimeError> \(corridor.py, line \d+\)'),
    ('py_corridor:not_an_env', {}, 'corridor:not_an_env returned int, not an env: return a '
                                   'gymnasium.Env or an object with obs_space'),
    # A vector env was told 'it has observation_space: a gym env? port it to gymnasium.Env'.
    ('py_corridor:vector_env', {}, r'corridor:vector_env returned SyncVectorEnv, not an env '
                                   r'\(a vector env of 2 envs: return one env; the run makes '
                                   r'run.envs of them, and run.parallel=True steps them in '
                                   r'parallel\)'),
    ('py_corridor:tuple_obs', {}, "corridor:tuple_obs: gym obs 'vector': unsupported space "
                                  r'Tuple\(.*\); use Box, Discrete or a Dict of them'),
    ('py_corridor:wrong_spaces', {}, r"corridor:wrong_spaces: env.obs_space\['x'\] is a "
                                     'Discrete; expected a dreamerv3_tf.core.spaces.Space'),
    # (gymnasium's own sentence after 'No module named ...' is left out)
    ('gym_nomodule:Corridor-v0', {}, r"gymnasium could not import 'nomodule' \(No module named "
                                     r"'nomodule'\): put the directory that holds it on "
                                     'PYTHONPATH'),
    ('gym_corridor:Other-v0', {}, 'gymnasium has no env .*; does corridor call '
                                  'gymnasium.register for it'),
])
@pytest.mark.parametrize('capped', [False, True], ids=['glibc', 'capped'])
def test_bad_constructors_name_what_to_fix(user_dir, task, py, message, capped, monkeypatch):
  # Capped (another allocator loaded, as TensorFlow's import may do in this process):
  # each error is also asked whether it ran out of memory, which read an unprintable
  # error's str() and raised its RuntimeError, in the suite's order alone.
  monkeypatch.setattr(memory.malloc, 'loaded', lambda: capped)
  with pytest.raises(EnvSetupError, match=message) as info:
    envs.make_env(task, env_config(**py), seed=0)
  assert '\n' not in str(info.value)
  # A task naming no module or function is a config value's error, as gym's unknown
  # ids (exit code 2; py's were 1, as a constructor that raised).
  names_none = task in ('py_nomodule:make', 'py_corridor:Coridor', 'py_corridor',
                        'gym_nomodule:Corridor-v0', 'gym_corridor:Other-v0')
  # So is a config.env.py key the constructor does not take (was 1 too).
  assert exit_code(info.value) == (2 if names_none or py else 1), task


FORWARDS = '''
from corridor import Corridor

def make(**kwargs):  # passes config.env.py on: only the call tells a wrong key
  return Corridor(**kwargs)

def bug(**kwargs):  # a TypeError of its own, naming no key of config.env.py
  return Corridor(width=2, **kwargs)
'''


@pytest.mark.parametrize('function, py, message, code', [
    # Was 'raised TypeError: ... unexpected keyword argument', exit code 1.
    ('make', {'lenght': 3}, r"^config.env.py sets 'lenght', which "
     r"forwards:make does not take: Corridor.__init__\(\) got an unexpected keyword "
     r"argument 'lenght' \(forwards.py, line 5\)$", 2),
    ('bug', {'length': 3}, r"^forwards:bug\(length=3\) raised TypeError: Corridor.__init__"
     r"\(\) got an unexpected keyword argument 'width' \(forwards.py, line 8\)$", 1),
])
def test_a_config_key_a_forwarding_constructor_does_not_take_is_a_config_error(
    user_dir, function, py, message, code):
  (user_dir / 'forwards.py').write_text(FORWARDS)
  with pytest.raises(EnvSetupError) as info:
    envs.make_env(f'py_forwards:{function}', env_config(**py), seed=0)
  assert re.match(message, str(info.value)), str(info.value)
  assert exit_code(info.value) == code


def test_a_builtin_function_that_raises_names_no_file_of_ours():
  """py_math:sqrt, a function of no Python file: its line ended '(custom.py, line 54)',
  this package's call, which is no place to fix."""
  with pytest.raises(EnvSetupError) as info:
    envs.make_env('py_math:sqrt', env_config(), seed=0)
  assert re.match(r'^math:sqrt\(\) raised TypeError: .*\(0 given\)$', str(info.value)), (
      str(info.value))


@pytest.mark.parametrize('module', ['corridor.py', 'myenvs/corridor', '{dir}/corridor.py',
                                    '../corridor'])
def test_a_module_named_by_its_file_says_to_name_the_module(user_dir, module):
  """py_corridor.py:Corridor, its directory on PYTHONPATH: 'env module 'corridor.py' not
  found: put the directory that holds it on PYTHONPATH', which it was; a relative path
  was 'importing ../corridor raised TypeError: the 'package' argument is required'."""
  module = module.format(dir=user_dir)
  with pytest.raises(EnvSetupError) as info:
    envs.make_env(f'py_{module}:Corridor', env_config(), seed=0)
  assert str(info.value) == (
      f"task py_{module}:Corridor names a file ({module!r}), not a module; put the file's "
      'directory on PYTHONPATH and name its module: py_corridor:Corridor')
  assert exit_code(info.value) == 2


@pytest.mark.parametrize('module', ['corridor.py', '{dir}/corridor'])
def test_a_gym_module_named_by_its_file_says_to_name_the_module(user_dir, module):
  """gym_corridor.py:Corridor-v0, its directory on PYTHONPATH: 'gymnasium could not
  import 'corridor.py' (...): put the directory that holds it on PYTHONPATH', which it was."""
  module = module.format(dir=user_dir)
  with pytest.raises(EnvSetupError, match=re.escape(
      f"'{module}:Corridor-v0' names a file ({module!r}), not a module; put the file's "
      'directory on PYTHONPATH and name its module: gym_corridor:Corridor-v0')) as info:
    envs.make_env(f'gym_{module}:Corridor-v0', env_config(), seed=0)
  assert exit_code(info.value) == 2


@pytest.mark.parametrize('source, message', [
    ('def make(:\n', r"importing badimport_0 raised SyntaxError: .*\(badimport_0.py, line 1\)$"),
    ("import json\nCONFIG = json.loads('{bad')\n",
     r'importing badimport_1 raised JSONDecodeError: .* \(badimport_1.py, line 2\)$'),
])
def test_a_module_that_fails_to_import_names_its_own_line(user_dir, source, message):
  """Not a frame of importlib or of a library the module called."""
  name = f'badimport_{"json" in source:d}'
  (user_dir / f'{name}.py').write_text(source)
  with pytest.raises(EnvSetupError, match=message) as info:
    envs.make_env(f'py_{name}:make', env_config(), seed=0)
  assert 'frozen' not in str(info.value) and '\n' not in str(info.value)


# What these runs check is the env's doing: a random agent steps it as the agent does,
# without building a model (seconds of tracing in every run).
RANDOM_AGENT = '--config.random_agent=True'


def run_main(user_dir, tmp_path, *flags):
  """`python -m dreamerv3_tf.main` on gym.py's debug preset from a user's shell."""
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  env['PYTHONPATH'] = f'{user_dir}{os.pathsep}{ROOT}'
  return cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:train_eval,debug',
       f'--logdir={tmp_path}/run', RANDOM_AGENT, *flags],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_a_bad_constructor_in_a_worker_is_one_line_from_the_command(user_dir, tmp_path):
  result = run_main(user_dir, tmp_path, '--config.task=py_corridor:raises',
                    '--config.run.parallel=True')
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert re.fullmatch(r"Env error: py_corridor:raises train env 0 failed to start: "
                      r"corridor:raises\(\) raised KeyError: 'missing' "
                      r'\(corridor.py, line \d+\)\n', result.stderr), result.stderr[-2000:]


def test_an_env_that_hangs_in_this_process_is_one_line_from_the_command(user_dir, tmp_path):
  # run.parallel=False (gym.py's default): no worker to rebuild, so the run stops.
  result = run_main(user_dir, tmp_path, '--config.task=py_corridor:hangs',
                    '--config.run.parallel=False', '--config.run.env_timeout=2')
  assert result.returncode == 1
  assert result.stderr == (
      'Env error: py_corridor:hangs train env 0 failed to start: no answer within 2s (it '
      'runs in this process, run.parallel=False, where a hung env cannot be restarted; '
      'run.env_timeout sets the limit)\n'), result.stderr[-2000:]


LEFTOVERS = '''
import multiprocessing, threading, time
import gymnasium as gym, numpy as np

STARTED = []

class Env(gym.Env):  # starts a poller thread and a helper process, neither a daemon
  def __init__(self):
    self.action_space = gym.spaces.Discrete(2)
    self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
    if not STARTED:  # one of each in this process
      STARTED.append(threading.Thread(target=time.sleep, args=(3600,), name='poller'))
      STARTED.append(multiprocessing.Process(target=time.sleep, args=(3600,), name='helper'))
      for started in STARTED:
        started.start()
  def reset(self, seed=None, options=None):
    return np.zeros(2, np.float32), {}
  def step(self, action):
    return np.zeros(2, np.float32), 0.0, False, True, {}
'''


def test_threads_and_processes_an_env_leaves_running_do_not_hang_the_end(user_dir, tmp_path):
  """Python waits for them at exit: the run printed its last line and then hung for good,
  with Ctrl-C and SIGTERM ignored (the run was done), until a kill -9."""
  (user_dir / 'leftovers.py').write_text(LEFTOVERS)
  result = run_main(user_dir, tmp_path, '--config.task=py_leftovers:Env',
                    '--config.run.parallel=False', '--config.run.steps=20')
  assert result.returncode == 0, result.stderr[-2000:]
  match = re.fullmatch(
      r"Warning: thread 'poller' and multiprocessing process 'helper' \(pid (\d+)\) still "
      r'ran 2 s after the work was done, no daemons: Python waits for such at exit, and '
      r'the program would hang; it ends without waiting \(the processes killed\): start '
      r"them with daemon=True, or end them in the env's close\(\)\n", result.stderr)
  assert match, result.stderr[-2000:]
  assert not os.path.exists(f'/proc/{match.group(1)}')  # killed, and reaped


CHDIR = '''
import os
import gymnasium as gym, numpy as np

class Env(gym.Env):  # loads its assets from its own directory, as some simulators do
  def __init__(self):
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    self.action_space = gym.spaces.Discrete(2)
    self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
  def reset(self, seed=None, options=None):
    return np.zeros(2, np.float32), {}
  def step(self, action):
    return np.zeros(2, np.float32), 0.0, False, True, {}
'''


def test_an_env_that_changes_the_working_directory_leaves_a_relative_logdir_whole(
    user_dir, tmp_path):
  """Its later writes went to the env's directory: 'Error: Cannot write
  run/metrics.jsonl: No such file or directory while starting; nothing was written',
  with config.json and a checkpoint written in the logdir."""
  (user_dir / 'chdir_env.py').write_text(CHDIR)
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  env['PYTHONPATH'] = f'{user_dir}{os.pathsep}{ROOT}'
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main',
       f'--config={ROOT}/configs/gym.py:train_eval,debug', '--logdir=run', RANDOM_AGENT,
       '--config.task=py_chdir_env:Env', '--config.run.parallel=False',
       '--config.run.steps=20'],
      cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
  assert (result.returncode, result.stderr) == (0, ''), result.stderr[-2000:]
  assert (tmp_path / 'run/metrics.jsonl').exists() and not (user_dir / 'run').exists()


def test_an_env_that_changes_the_working_directory_reads_relative_checkpoint_paths(
    user_dir, tmp_path):
  """run.resume_from and run.from_checkpoint given relative were read after the env had
  moved the working directory: 'run.resume_from=run/ckpt/ckpt-2 is not a checkpoint of
  this run' and 'Checkpoint run/ckpt is missing (run/ckpt.index not found)'."""
  (user_dir / 'chdir_env.py').write_text(CHDIR)
  env = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  env['PYTHONPATH'] = f'{user_dir}{os.pathsep}{ROOT}'

  def main(*flags):
    return cli_zygote.run(
        [sys.executable, '-m', 'dreamerv3_tf.main',
         f'--config={ROOT}/configs/gym.py:train_eval,debug', '--config.task=py_chdir_env:Env',
         '--config.run.parallel=False', *flags],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
  result = main('--logdir=run', RANDOM_AGENT, '--config.run.steps=20')
  assert result.returncode == 0, result.stderr[-2000:]
  latest = os.path.basename(tf_latest(tmp_path / 'run' / 'ckpt'))
  result = main('--logdir=run', RANDOM_AGENT, '--config.run.steps=40',
                f'--config.run.resume_from=run/ckpt/{latest}')
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'Resumed from {tmp_path}/run/ckpt/{latest} at step' in result.stdout
  result = main('--logdir=run2', '--config.run.from_checkpoint=run/ckpt')
  assert result.stderr.splitlines()[-1] == (  # found: no weights (a random agent's)
      f'Error: Checkpoint {tf_latest(tmp_path / "run" / "ckpt")} is of a random agent '
      '(random_agent=True): it holds no weights to load')


def tf_latest(directory):
  """The latest checkpoint the state file names (read without TensorFlow)."""
  with open(directory / 'checkpoint') as f:
    return os.path.join(directory, f.readline().split('"')[1])


HUMAN = '''
import gymnasium as gym

def cartpole():  # as gymnasium's examples make it, to watch it
  return gym.make('CartPole-v1', render_mode='human')
'''


@pytest.mark.parametrize('display, why', [
    ({}, 'this machine has no display'),
    # A display no server answers at (a closed ssh -X session's): the same crash.
    ({'DISPLAY': ':4242'}, "DISPLAY=':4242' cannot be opened"),
    ({'WAYLAND_DISPLAY': 'wayland-4242'}, "WAYLAND_DISPLAY='wayland-4242' cannot be opened")])
def test_an_env_made_to_render_for_humans_runs_headless_with_one_warning(
    user_dir, tmp_path, display, why):
  """On a machine without a display, SDL's own choice of video driver crashed the run
  beside TensorFlow at the first reset (a segfault, exit 139), with 'error:
  XDG_RUNTIME_DIR is invalid or not set' before it."""
  (user_dir / 'human.py').write_text(HUMAN)
  env = {k: v for k, v in os.environ.items() if k not in (
      'TF_CPP_MIN_LOG_LEVEL', 'DISPLAY', 'WAYLAND_DISPLAY', 'XDG_RUNTIME_DIR',
      'SDL_VIDEODRIVER')}
  env.update(display)
  env['PYTHONPATH'] = f'{user_dir}{os.pathsep}{ROOT}'
  result = cli_zygote.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/gym.py:train_eval,debug',
       f'--logdir={tmp_path}/run', RANDOM_AGENT, '--config.task=py_human:cartpole',
       '--config.run.parallel=False', '--config.run.steps=20'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert (result.returncode, result.stderr) == (0, (
      "Warning: gym env made with render_mode='human': it draws every step offscreen "
      f'({why}) and waits for its render_fps, at most 50 steps a '
      'second per env; make it without render_mode to train (config.env.gym image=True '
      'gives the agent its frames)\n')), result.stderr[-2000:]


SINGLETON = '''
import gymnasium as gym

ENV = gym.make('CartPole-v1')

def make():  # one env for every call
  return ENV

def wrapped():  # new wrappers, one env beneath them
  return gym.wrappers.TimeLimit(ENV.unwrapped, 100)
'''


def test_a_constructor_that_returns_the_same_env_twice_is_named(user_dir):
  """The run's envs in this process stepped that one env in turn, each resetting it amid
  the others' episodes, and the run went on (exit 0) without a word."""
  (user_dir / 'singleton.py').write_text(SINGLETON)
  first = envs.make_env('py_singleton:make', env_config(), seed=0)
  try:
    with pytest.raises(EnvSetupError, match=(
        r'^singleton:make returned the TimeLimit object it had returned for another env of '
        r'this process, which would step it in turn, mixing their episodes; return a new '
        r'env at each call$')):
      envs.make_env('py_singleton:make', env_config(), seed=1)
    with pytest.raises(EnvSetupError, match=(
        r'^singleton:wrapped returned the CartPoleEnv object it had returned for another env')):
      envs.make_env('py_singleton:wrapped', env_config(), seed=1)
  finally:
    first.close()


DEL_RAISES = '''
import gymnasium as gym, numpy as np

class Handle:  # a simulator handle whose __del__ fails
  def __del__(self):
    raise RuntimeError('handle lost')

class Env(gym.Env):
  def __init__(self):
    self.action_space = gym.spaces.Discrete(2)
    self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
  def reset(self, seed=None, options=None):
    return np.zeros(2, np.float32), {}
  def step(self, action):
    Handle()  # dropped at once: Python ignores its error, and reports it
    return np.zeros(2, np.float32), 0.0, False, True, {}

class Broken(Env):
  def __init__(self):
    raise ValueError('no assets')
  def __del__(self):  # before __init__ set what it closes
    self.sim.close()
'''


@pytest.mark.parametrize('parallel', [False, True], ids=['in_process', 'workers'])
def test_errors_python_ignores_are_one_warning_line(user_dir, tmp_path, parallel):
  """Python reported each with its traceback: 5 lines at every step (in this process),
  and a traceback per worker before the line naming a constructor's failure."""
  (user_dir / 'delraises.py').write_text(DEL_RAISES)
  result = run_main(user_dir, tmp_path, '--config.task=py_delraises:Env',
                    f'--config.run.parallel={parallel}', '--config.run.steps=20')
  assert result.returncode == 0, result.stderr[-2000:]
  assert re.fullmatch(
      r'Warning: Exception ignored in: <function Handle.__del__ at 0x\w+>: RuntimeError: '
      r'handle lost \(delraises.py, line 6\) \(Python ignores it; --traceback shows it\)\n',
      result.stderr), result.stderr[-2000:]
  result = run_main(user_dir, tmp_path / 'broken', '--config.task=py_delraises:Broken',
                    f'--config.run.parallel={parallel}')
  assert result.returncode == 1
  assert re.fullmatch(r'Env error: py_delraises:Broken train env 0 failed to start: '
                      r'delraises:Broken\(\) raised ValueError: no assets \(delraises.py, '
                      r'line \d+\)\n', result.stderr), result.stderr[-2000:]


THREAD_RAISES = '''
import threading
import gymnasium as gym, numpy as np

def poll():  # a simulator's telemetry thread whose server is gone
  raise ConnectionError('telemetry server went away')

class Env(gym.Env):
  def __init__(self):
    thread = threading.Thread(target=poll, name='telemetry', daemon=True)
    thread.start()
    thread.join()
    self.action_space = gym.spaces.Discrete(2)
    self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
  def reset(self, seed=None, options=None):
    return np.zeros(2, np.float32), {}
  def step(self, action):
    return np.zeros(2, np.float32), 0.0, False, True, {}
'''


@pytest.mark.parametrize('parallel', [False, True], ids=['in_process', 'workers'])
def test_an_error_in_a_thread_an_env_started_is_one_warning_line(user_dir, tmp_path, parallel):
  """Python's threading reported it with its traceback, 9 lines per env (3 envs, the
  lines of two interleaved), and the run went on: Python ignores it, as it does an
  error in __del__ (above)."""
  (user_dir / 'threadraises.py').write_text(THREAD_RAISES)
  result = run_main(user_dir, tmp_path, '--config.task=py_threadraises:Env',
                    f'--config.run.parallel={parallel}', '--config.run.steps=20')
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stderr == (
      "Warning: Exception in thread 'telemetry': ConnectionError: telemetry server went away "
      '(threadraises.py, line 6) (Python ignores it: the thread ended; --traceback shows '
      'it)\n'), result.stderr[-2000:]


TF_ENV = '''
import gymnasium as gym, numpy as np

class Env(gym.Env):  # an env built on TensorFlow ops; the eval env imports none
  def __init__(self, mode):
    if mode == 'train':
      import tensorflow
    self.action_space = gym.spaces.Discrete(2)
    self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
  def reset(self, seed=None, options=None):
    self.t = 0
    return np.zeros(2, np.float32), {}
  def step(self, action):
    self.t += 1
    return np.zeros(2, np.float32), 0.0, False, self.t == 5, {}
'''


def test_an_env_that_imports_tensorflow_in_a_worker_prints_none_of_its_lines(user_dir, tmp_path):
  """Each worker printed TensorFlow's six start-up lines (absl's preamble, oneDNN's and
  cudart_stub's INFO lines, twice), which main hides as it imports TensorFlow itself."""
  (user_dir / 'tfenv.py').write_text(TF_ENV)
  # One train worker: each that imports TensorFlow costs the suite seconds of CPU.
  result = run_main(user_dir, tmp_path, '--config.task=py_tfenv:Env', '--config.run.envs=1',
                    '--config.run.parallel=True', '--config.run.steps=20')
  assert (result.returncode, result.stderr) == (0, ''), result.stderr[-2000:]


OLD_API = '''
import gymnasium as gym, numpy as np

class Env(gym.Env):
  def __init__(self, old):
    self.old, self.action_space = old, gym.spaces.Discrete(2)
    self.observation_space = gym.spaces.Box(0, 1, (2,), np.float32)
  def reset(self, seed=None, options=None):
    obs = np.zeros(2, np.float32)
    return obs if self.old == 'reset' else (obs, {})
  def step(self, action):
    return np.zeros(2, np.float32), 0.0, False, {}  # gym's 4-tuple

gym.register('OldReset-v0', entry_point=Env, kwargs={'old': 'reset'})
gym.register('OldStep-v0', entry_point=Env, kwargs={'old': 'step'})

def made(old):  # gymnasium.make's env, as a py_ constructor may return it
  return gym.make(f'Old{old.title()}-v0')
'''


@pytest.mark.parametrize('how', ['py', 'gym', 'py_made'])
@pytest.mark.parametrize('old, message', [
    # An obs of shape (2,) unpacked into "obs, info": a wrong obs shape was named before.
    ('reset', r'Env reset\(\) returned ndarray; gymnasium envs return \(obs, info\)'),
    ('step', r'Env step\(\) returned 4 values; gymnasium envs return \(obs, reward, '
             r'terminated, truncated, info\) \(an env of the old gym API'),
])
def test_an_env_of_the_old_gym_api_is_named(user_dir, old, message, how):
  """gym_ tasks and envs of gymnasium.make too: its env checker printed its warnings
  in two lines each (with terminal colours) before ours, and raised 'ValueError: not
  enough values to unpack (expected 5, got 4)' for a 4-tuple, which a worker
  restarted 3 times."""
  (user_dir / 'oldapi.py').write_text(OLD_API)
  if how.startswith('py'):
    env = envs.make_env(f'py_oldapi:{"made" if how == "py_made" else "Env"}',
                        env_config(old=old), seed=0)
  else:
    env = envs.make_env(f'gym_oldapi:Old{old.title()}-v0', env_config(), seed=0)
  with warnings.catch_warnings():
    warnings.simplefilter('error')  # none of gymnasium's lines either
    with pytest.raises(EnvSpaceError, match=message):
      env.step({'reset': True, 'action': np.int32(0)})
      env.step({'reset': False, 'action': np.int32(1)})


def test_a_step_dict_env_is_checked_like_every_env(user_dir):
  env = envs.make_env('py_corridor:step_dict_env', env_config(), seed=0)
  with pytest.raises(EnvSpaceError, match="Env action 'action'"):
    env.step({'reset': False, 'action': np.int32(99)})


def test_a_step_dict_env_without_close_closes(user_dir):
  """Its run trained to the end, saved everything, then exited 1: 'Env error: ...
  failed to close: AttributeError: 'NoClose' object has no attribute 'close'."""
  env = envs.make_env('py_corridor:NoClose', env_config(), seed=0)
  env.step({'reset': True, 'action': np.int32(0)})
  env.close()


FLAGS = '''
import numpy as np
import dreamerv3_tf.envs.dummy as _dummy

class Env(_dummy.Dummy):
  """The dummy env, but step 3 of an episode breaks the episode flags: `flag`."""
  def __init__(self, flag):
    super().__init__('disc_vec', length=7)
    self.flag = flag
  def step(self, action):
    obs = super().step(action)
    if self._count == 3:
      obs = {**obs, self.flag: True, 'reward': np.float32(0)}
    return obs
'''


@pytest.mark.parametrize('parallel', [False, True], ids=['in_process', 'workers'])
def test_a_step_dict_env_that_breaks_the_episode_flags_is_named(user_dir, parallel):
  """is_first mid-episode was taken silently: a new episode's carry, the replay's two
  episodes as one. The line names the env, in this process and in a worker alike."""
  message = "obs 'is_first': True mid-episode, without a reset action"
  (user_dir / 'flags.py').write_text(FLAGS)
  config = gym_config.get_config('train_eval,debug')
  config.task, config.run.parallel, config.run.envs = 'py_flags:Env', parallel, 1
  config.env.py = {'flag': 'is_first'}
  driver = factories.make_driver(config, 'train')
  try:
    policy = lambda carry, obs: (carry, {'action': np.zeros(driver.length, np.int32)}, {})
    driver.reset()
    with pytest.raises(EnvSpaceError) as info:
      driver(policy, steps=10)
  finally:
    driver.close()
  assert str(info.value).startswith(f'py_flags:Env train env 0: {message}'), str(info.value)
  assert '\n' not in str(info.value)


NO_SPACES = '''
import gymnasium as gym, numpy as np

class Env(gym.Env):
  def __init__(self, which='obs'):
    self.which, self._act = which, gym.spaces.Discrete(2)
    self._obs = gym.spaces.Box(0, 1, (1,), np.float32)
  @property
  def observation_space(self):
    if self.which == 'obs':
      raise RuntimeError('no spaces yet')
    return self._obs
  @property
  def action_space(self):
    if self.which == 'act':
      raise RuntimeError('no spaces yet')
    return self._act
  def reset(self, seed=None, options=None):
    return np.zeros(1, np.float32), {}
  def step(self, action):
    return np.zeros(1, np.float32), 0.0, False, False, {}

gym.register('NoSpaces-v0', entry_point=Env)
gym.register('NoActSpace-v0', entry_point=Env, kwargs={'which': 'act'})
'''


@pytest.mark.parametrize('task, which, message', [
    ('py_nospaces:Env', 'obs', r'^nospaces:Env: env.observation_space raised RuntimeError: '
                               r'no spaces yet \(nospaces.py, line 11\)$'),
    ('py_nospaces:Env', 'act', r'^nospaces:Env: env.action_space raised RuntimeError: '
                               r'no spaces yet \(nospaces.py, line 16\)$'),
    # Read as the env is wrapped (gymnasium.make runs no env checker, which read them),
    # named by the id made.
    ('gym_nospaces:NoSpaces-v0', None,
     r"^gymnasium.make\('nospaces:NoSpaces-v0'\): env.observation_space raised "
     r'RuntimeError: no spaces yet \(nospaces.py, line 11\)$'),
    ('gym_nospaces:NoActSpace-v0', None,
     r"^gymnasium.make\('nospaces:NoActSpace-v0'\): env.action_space raised "
     r'RuntimeError: no spaces yet \(nospaces.py, line 16\)$'),
])
def test_a_gym_env_whose_spaces_cannot_be_read_is_named(user_dir, task, which, message):
  """Was 'failed to start: RuntimeError: no spaces yet', naming neither the property
  nor the file."""
  (user_dir / 'nospaces.py').write_text(NO_SPACES)
  with pytest.raises(EnvSetupError, match=message):
    envs.make_env(task, env_config(**({'which': which} if which else {})), seed=0)


def test_a_directory_without_init_is_named_as_a_directory(user_dir):
  """A namespace package has no file: the line said 'module nsdir (None) has no ...'."""
  (user_dir / 'nsdir').mkdir(exist_ok=True)
  with pytest.raises(EnvSetupError, match=(
      f"^module nsdir \\(the directory {user_dir}/nsdir\\) has no 'make'; its own "
      'functions and classes: none$')):
    envs.make_env('py_nsdir:make', env_config(), seed=0)


RESERVES = '''
import mmap
from corridor import Corridor

NORESERVE = 0x4000  # Linux's MAP_NORESERVE (mmap names it from Python 3.13)

def make(gib):
  # What numpy's np.full of a huge declared Box did under jemalloc (MAP_NORESERVE):
  # the mapping succeeded, and filling it brought the OOM killer. Never touched here.
  flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | NORESERVE
  keep = mmap.mmap(-1, gib * 2 ** 30, flags=flags)
  env = Corridor()
  env.keep = keep
  return env
'''


def test_a_constructor_that_reserves_more_than_the_memory_available_is_named(
    user_dir, monkeypatch):
  """A gymnasium Box of 100000x100000x3 uint8: with jemalloc (main preloads it) its
  arrays were reserved, numpy filled them, and the OOM killer ended the run, no line."""
  from dreamerv3_tf.core import malloc

  # As under main's jemalloc (this process may run glibc's malloc, which needs no cap).
  monkeypatch.setattr(malloc, 'loaded', lambda: '/usr/lib/libjemalloc.so.2')
  (user_dir / 'reserves.py').write_text(RESERVES)
  gib = int(memory.total_bytes() / memory.GIB) + 2
  with pytest.raises(EnvSetupError, match=(
      r'^reserves:make\(gib=\d+\) raised OSError: \[Errno 12\] Cannot allocate memory '
      r'\(reserves.py, line \d+\); building the env needs more memory than the [\d.]+ GiB '
      r'this machine has, swap included \(an observation space too large\?; its address '
      r'space was capped there while it was built: DREAMERV3_TF_MALLOC=system builds it '
      r'without a cap\)$')):
    envs.make_env('py_reserves:make', env_config(gib=gib), seed=0)
  assert envs.make_env('py_corridor:Corridor', env_config(), seed=0) is not None
  with open('/proc/sys/vm/overcommit_memory') as f:
    if f.read().strip() == '2':  # strict accounting refuses the reservation itself
      return
  # The cap is the constructor's only: the same reservation works after it.
  import mmap
  mmap.mmap(-1, gib * 2 ** 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000).close()
  # Under glibc's malloc, which refuses such an allocation itself, nothing is capped (a
  # CUDA context reserves address space it does not use).
  monkeypatch.setattr(malloc, 'loaded', lambda: None)
  assert envs.make_env('py_reserves:make', env_config(gib=gib), seed=0) is not None


@pytest.mark.parametrize('source, task, message', [
    ('import sys\nsys.exit(0)\n', 'py_exits_0:make',
     r'^importing exits_0 called sys.exit\(0\) \(exits_0.py, line 2\): a module that runs as '
     r'a script at import \(no `if __name__ == "__main__":` guard\?\)$'),
    ('def make():\n  raise SystemExit("no display")\n', 'py_exits_1:make',
     r"^exits_1:make\(\) called sys.exit\('no display'\) \(exits_1.py, line 2\); an env "
     r'constructor must return an env \(or raise\)$'),
    ('import gymnasium, sys\ngymnasium.register("E-v0", entry_point="exits_2:E")\n'
     'sys.exit(3)\n', 'gym_exits_2:E-v0',
     r"^gymnasium.make\('exits_2:E-v0'\): importing exits_2 called sys.exit\(3\), which must "
     r'not end the run \(a module that runs as a script at import\?\)$'),
])
def test_a_module_or_constructor_that_calls_sys_exit_is_named(user_dir, source, task, message):
  """It read 'failed to start: SystemExit: 0', naming neither what exited nor where."""
  name = task.split('_', 1)[1].split(':')[0]
  (user_dir / f'{name}.py').write_text(source)
  with pytest.raises(EnvSetupError, match=message) as info:
    envs.make_env(task, env_config(), seed=0)
  assert exit_code(info.value) == 1


HUGE_SPACE = '''
import numpy as np
import dreamerv3_tf.envs.dummy as _dummy
from dreamerv3_tf.core.spaces import Space

class Env:  # a step-dict env declaring one image just over 256 MiB a step
  def __init__(self, side):
    self.inner, self.side = _dummy.Dummy('disc_vec', length=7), side
  @property
  def obs_space(self):
    return {**self.inner.obs_space, 'image': Space(np.uint8, (self.side, self.side, 4))}
  @property
  def act_space(self):
    return self.inner.act_space
  def step(self, action):
    return {**self.inner.step(action), 'image': np.zeros((self.side,) * 2 + (4,), np.uint8)}
'''


def test_a_space_too_large_for_a_step_is_named_before_its_bounds_are_read(user_dir):
  """uint8[100000, 100000, 3]: its bounds (broadcast scalars) were made whole by the
  first comparison, and Linux's OOM killer ended the run without a line."""
  (user_dir / 'hugespace.py').write_text(HUGE_SPACE)
  with pytest.raises(EnvSetupError, match=(
      r"^Env obs 'image' is declared as uint8\[8193x8193x4\], 256 MiB a step \(256 MiB with "
      r'the other obs keys\), more than the 256 MiB a step may hold \(the replay keeps every '
      r'step\); declare the size the env returns, or resize its images$')) as info:
    envs.make_env('py_hugespace:Env', env_config(side=8193), seed=0)
  assert exit_code(info.value) == 1
  env = envs.make_env('py_hugespace:Env', env_config(side=64), seed=0)  # 16 KiB: fine
  assert env.step({'reset': True, 'action': np.int32(0)})['image'].shape == (64, 64, 4)


ODD_SPACES = '''
import numpy as np
import dreamerv3_tf.envs.dummy as _dummy
from dreamerv3_tf.core.spaces import Space

class Env:
  def __init__(self, kind):
    self.inner, self.kind = _dummy.Dummy('disc_vec', length=7), kind
  @property
  def obs_space(self):
    if self.kind == 'raises':
      raise RuntimeError('no spaces before reset')
    return {**self.inner.obs_space, 'text': Space(np.str_, (3,))}
  @property
  def act_space(self):
    return self.inner.act_space
  def step(self, action):
    return self.inner.step(action)
'''


@pytest.mark.parametrize('kind, message', [
    # 'RuntimeError: no spaces before reset', naming neither the env nor the property.
    ('raises', r'^oddspaces:Env: env.obs_space raised RuntimeError: no '
               r'spaces before reset \(oddspaces.py, line \d+\)$'),
    # "ValueError: Invalid integer data type 'U'.", numpy's, of the Space's default bounds.
    ('text', r'^oddspaces:Env: env.obs_space raised ValueError: Space of '
             r'dtype str: a space holds bool, integer or float values \(oddspaces.py, line '
             r'\d+\)$'),
])
def test_a_step_dict_env_whose_spaces_cannot_be_read_is_named(user_dir, kind, message):
  (user_dir / 'oddspaces.py').write_text(ODD_SPACES)
  with pytest.raises(EnvSetupError, match=message):
    envs.make_env('py_oddspaces:Env', env_config(kind=kind), seed=0)
