"""Gymnasium env: discrete and continuous control, dict and image observations."""

import os
import re

import numpy as np
import pytest

gymnasium = pytest.importorskip('gymnasium')

from configs import base  # noqa: E402
from dreamerv3_tf.core.base import EnvSpaceError  # noqa: E402
from dreamerv3_tf.core.base import exit_code  # noqa: E402
from dreamerv3_tf.envs import make_env  # noqa: E402
from dreamerv3_tf.envs.gym import Gym  # noqa: E402
from dreamerv3_tf.envs.wrappers import TaskError  # noqa: E402


def env_config(**gym):
  c = base.get_config().env
  c.gym.update(gym)
  return c


def test_cartpole_discrete_terminates():
  env = make_env('gym_CartPole-v1', env_config(), seed=0)
  assert set(env.obs_space) == {'vector', 'reward', 'is_first', 'is_last', 'is_terminal'}
  assert env.obs_space['vector'].shape == (4,)
  action = env.act_space['action']
  assert action.dtype == np.int32 and action.shape == () and action.classes == 2
  obs = env.step({'reset': True, 'action': np.int32(0)})
  assert obs['is_first'] and obs['vector'].dtype == np.float32
  steps = 0
  while not obs['is_last']:  # Always pushing left: the pole falls within ~10 steps.
    obs = env.step({'reset': False, 'action': np.int32(0)})
    steps += 1
    assert obs['reward'] == 1.0
  assert obs['is_terminal'] and 5 <= steps < 100
  assert env.step({'reset': False, 'action': np.int32(0)})['is_first']


def test_cartpole_seeded_and_repeat():
  def first(seed):
    return make_env('gym_CartPole-v1', env_config(), seed=seed).step(
        {'reset': True, 'action': 0})['vector']
  np.testing.assert_array_equal(first(1), first(1))
  assert not np.array_equal(first(1), first(2))
  env = make_env('gym_CartPole-v1', env_config(repeat=3), seed=0)
  env.step({'reset': True, 'action': 0})
  assert env.step({'reset': False, 'action': np.int32(1)})['reward'] == 3.0


def test_pendulum_continuous_truncates_without_terminal():
  env = make_env('gym_Pendulum-v1', env_config(repeat=2), seed=0)
  space = env.act_space['action']
  assert space.dtype == np.float32 and space.shape == (1,)
  np.testing.assert_array_equal(space.low, [-1])
  np.testing.assert_array_equal(space.high, [1])
  obs = env.step({'reset': True, 'action': np.zeros(1, np.float32)})
  assert obs['vector'].shape == (3,)
  obs = env.step({'reset': False, 'action': np.ones(1, np.float32)})
  # [-1, 1] maps onto the torque bounds [-2, 2].
  assert env.gym_env.unwrapped.last_u == pytest.approx(2.0)
  steps = 1
  while not obs['is_last']:
    obs = env.step({'reset': False, 'action': np.full(1, -0.5, np.float32)})
    steps += 1
  assert env.gym_env.unwrapped.last_u == pytest.approx(-1.0)
  assert steps == 100 and not obs['is_terminal']  # 200-step limit at repeat 2.


class IntegerBoxActions(gymnasium.Env):
  """Box actions of integers and bools, which the agent chooses as floats."""

  def __init__(self):
    spaces = gymnasium.spaces
    self.observation_space = spaces.Box(-1, 1, (2,), np.float32)
    self.action_space = spaces.Dict({
        'count': spaces.Box(0, 5, (3,), np.int64), 'switch': spaces.Box(0, 1, (2,), bool)})
    self.received = []

  def reset(self, seed=None, options=None):
    return np.zeros(2, np.float32), {}

  def step(self, action):
    self.received.append(action)
    return np.zeros(2, np.float32), 0.0, False, False, {}


def test_integer_and_bool_box_actions_take_the_nearest_value():
  """The cast truncated: 4.6 became 4 (5 only at exactly 5.0), and a bool any value but
  exactly 0 became True."""
  env = Gym(IntegerBoxActions())
  assert env.act_space['count'].dtype == np.float32  # what the agent chooses
  env.step({'reset': True})
  env.step({'reset': False, 'count': np.array([0.9, 2.2, 4.6], np.float32),
            'switch': np.array([0.2, 0.8], np.float32)})
  action = env.gym_env.received[0]
  assert action['count'].dtype == np.int64 and action['count'].tolist() == [1, 2, 5]
  assert action['switch'].dtype == bool and action['switch'].tolist() == [False, True]


class DictImageEnv(gymnasium.Env):
  """Dict obs with a 2D gray image, a nested vector and a Discrete(start=1)."""

  def __init__(self):
    spaces = gymnasium.spaces
    self.observation_space = spaces.Dict({
        'pixels': spaces.Box(0, 255, (20, 30), np.uint8),
        'state': spaces.Dict({'pos': spaces.Box(-1, 1, (2, 2), np.float64)}),
        'mode': spaces.Discrete(3, start=1),
        'reward': spaces.Box(-1, 1, (), np.float64)})
    self.action_space = spaces.Discrete(2, start=5)
    self.received = []

  def _obs(self):
    return {
        'pixels': np.full((20, 30), 200, np.uint8),
        'state': {'pos': np.arange(4.0).reshape(2, 2) / 4},
        'mode': 3, 'reward': np.array(0.5)}

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    return self._obs(), {}

  def step(self, action):
    self.received.append(action)
    return self._obs(), 1.0, False, len(self.received) >= 2, {}


gymnasium.register('DreamerTestDictImage-v0', entry_point=DictImageEnv)


@pytest.mark.parametrize('make', [
    lambda: Gym('DreamerTestDictImage-v0', size=(8, 8)),
    lambda: Gym(DictImageEnv(), size=(8, 8))])
def test_dict_and_image_obs(make):
  env = make()
  assert env.obs_space['pixels'].shape == (8, 8, 1)
  assert env.obs_space['state_pos'].shape == (4,)
  assert env.obs_space['mode'].classes == 3
  assert 'obs_reward' in env.obs_space  # Renamed: 'reward' is taken.
  obs = env.step({'reset': True})
  assert obs['pixels'].shape == (8, 8, 1) and obs['pixels'].dtype == np.uint8
  assert obs['pixels'].min() == 200
  np.testing.assert_allclose(obs['state_pos'], [0, 0.25, 0.5, 0.75])
  assert obs['mode'] == 2 and obs['obs_reward'] == 0.5
  obs = env.step({'reset': False, 'action': np.int32(1)})
  assert env.gym_env.unwrapped.received == [6]  # Index 1 of Discrete(2, start=5).
  obs = env.step({'reset': False, 'action': np.int32(0)})
  assert obs['is_last'] and not obs['is_terminal']


class LastActionEnv(gymnasium.Env):
  """A Dict obs that holds the last action under the key 'action'."""

  def __init__(self):
    self.observation_space = gymnasium.spaces.Dict({
        'pos': gymnasium.spaces.Box(-1, 1, (2,), np.float32),
        'action': gymnasium.spaces.Discrete(3), 'reset': gymnasium.spaces.Discrete(2)})
    self.action_space = gymnasium.spaces.Discrete(3)

  def reset(self, seed=None, options=None):
    return {'pos': np.zeros(2, np.float32), 'action': 0, 'reset': 1}, {}

  def step(self, action):
    return {'pos': np.zeros(2, np.float32), 'action': int(action), 'reset': 0}, 0.0, False, \
        False, {}


def test_obs_keys_named_like_actions_get_a_prefix():
  """'Env obs and act spaces share keys ['action']' stopped the run: the key clashed
  with the name we give a gymnasium env's action, not with anything of the env's."""
  env = make_env('gym_DreamerTestLastAction-v0', env_config(), seed=0)
  assert {'obs_action', 'obs_reset', 'pos', 'action'} <= set(env.obs_space) | set(
      env.act_space)
  env.step({'reset': True, 'action': np.int32(0)})
  obs = env.step({'reset': False, 'action': np.int32(2)})
  assert obs['obs_action'] == 2 and obs['obs_reset'] == 0


gymnasium.register('DreamerTestLastAction-v0', entry_point=LastActionEnv)


class BigDiscreteEnv(gymnasium.Env):
  """A Discrete obs or action of 2**40 values."""

  def __init__(self, where):
    big, box = gymnasium.spaces.Discrete(2 ** 40), gymnasium.spaces.Box(-1, 1, (1,))
    self.observation_space = big if where == 'obs' else box
    self.action_space = big if where == 'action' else gymnasium.spaces.Discrete(2)


@pytest.mark.parametrize('where, key', [('obs', 'vector'), ('action', 'action')])
def test_a_discrete_beyond_int32_is_named(where, key):
  """'OverflowError: Python integer 1099511627776 out of bounds for int32', naming no key."""
  with pytest.raises(EnvSpaceError) as error:
    Gym(BigDiscreteEnv(where))
  assert str(error.value) == (
      f"gym {where} {key!r}: Discrete(1099511627776) has more values than int32 holds (at "
      'most 2147483647); use a smaller Discrete, or a Box')


class RenderEnv(gymnasium.Env):
  """Vector obs; renders a 40x50 RGBA frame whose left half is white."""

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, render_mode=None):
    self.render_mode = render_mode
    self.observation_space = gymnasium.spaces.Box(-1, 1, (3,), np.float32)
    self.action_space = gymnasium.spaces.Box(-1, 1, (2,), np.float32)

  def reset(self, seed=None, options=None):
    super().reset(seed=seed)
    return np.zeros(3, np.float32), {}

  def step(self, action):
    return np.zeros(3, np.float32), 0.0, True, False, {}

  def render(self):
    frame = np.zeros((40, 50, 4), np.uint8)
    frame[:, :25] = 255
    return frame


def test_render_image_option():
  env = Gym(RenderEnv(render_mode='rgb_array'), size=(16, 24), image=True)
  assert env.obs_space['image'].shape == (16, 24, 3)
  obs = env.step({'reset': True})
  assert obs['image'].shape == (16, 24, 3) and obs['image'].dtype == np.uint8
  assert obs['image'][:, :10].min() == 255 and obs['image'][:, 14:].max() == 0
  obs = env.step({'reset': False, 'action': np.zeros(2, np.float32)})
  assert obs['is_terminal'] and obs['is_last'] and 'image' in obs
  with pytest.raises(ValueError, match="render_mode='rgb_array'"):
    Gym(RenderEnv(), image=True)


class BadRenderEnv(RenderEnv):
  """Renders `frame` (set per test)."""

  frame = None

  def render(self):
    return self.frame


@pytest.mark.parametrize('frame, got', [
    # "AttributeError: 'NoneType' object has no attribute 'id'" (an env of no spec).
    (None, 'None'),
    # Cut to a black image without a word.
    (np.full((40, 50, 3), 0.5, np.float32), 'float32[40, 50, 3]'),
    # Sliced to its first 3 columns.
    (np.zeros((40, 50), np.uint8), 'uint8[40, 50]'),
])
def test_a_frame_that_is_no_rgb_array_is_named(frame, got):
  env = BadRenderEnv(render_mode='rgb_array')
  env.frame = frame
  with pytest.raises(EnvSpaceError) as error:
    Gym(env, size=(16, 24), image=True).step({'reset': True})
  assert str(error.value) == (
      f'Env render() returned {got}; config.env.gym image=True needs rgb_array frames, '
      'uint8[H, W, 3] (or 4 channels)')


def test_render_image_option_cartpole():
  pytest.importorskip('pygame')  # gymnasium's classic-control renderer.
  env = make_env('gym_CartPole-v1', env_config(image=True, size=(16, 24)), seed=0)
  obs = env.step({'reset': True, 'action': 0})
  assert obs['image'].shape == (16, 24, 3) and obs['image'].dtype == np.uint8


def test_unknown_gym_id():
  with pytest.raises(ValueError, match=r"Unknown task 'gym_NoSuchEnv-v0'.*Valid suites"):
    make_env('gym_NoSuchEnv-v0', env_config(), seed=0)


@pytest.mark.parametrize('task, message', [
    ('gym_CartPole-v1 ', r"gymnasium has no env 'CartPole-v1 ' \(Malformed environment ID"),
    ('gym_Cart Pole-v1', r"gymnasium has no env 'Cart Pole-v1' \(Malformed environment ID"),
    ('gym_:Id-v0', r"':Id-v0' names no module before its colon \(<module>:<Id-v0>\)"),
    ('gym_Nosuch/Env-v0', r"gymnasium has no env 'Nosuch/Env-v0' \(.*\); its package registers"
     r" the namespace as it is imported: task=gym_<its package>:Nosuch/Env-v0\. Valid suites")])
def test_a_gym_id_of_no_env_shape_is_an_unknown_task(task, message):
  """Exit code 1 before, as an env whose constructor raised ('Malformed environment ID',
  'ValueError: Empty module name'): a task name of no env is a config value's (2)."""
  with pytest.raises(TaskError, match=f"^Unknown task '{re.escape(task)}': {message}") as e:
    make_env(task, env_config(), seed=0)
  assert exit_code(e.value) == 2


def test_a_deprecated_version_is_an_unknown_task_without_gymnasiums_warning():
  """gym_Taxi-v3: gymnasium's DeprecationWarning (two lines, with terminal colours) came
  above the line that names it, and that read 'failed to start ... raised DeprecatedEnv'
  with exit code 1, as a constructor's failure."""
  import warnings
  with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter('always')
    with pytest.raises(TaskError, match=(
        r"^Unknown task 'gym_Taxi-v3': gymnasium has no env 'Taxi-v3' any more \(Environment "
        r'version v3 for `Taxi` is deprecated. Please use `Taxi-v4` instead.\)')) as e:
      make_env('gym_Taxi-v3', env_config(), seed=0)
  assert exit_code(e.value) == 2
  assert [str(w.message) for w in said] == []


def test_an_env_made_with_a_warning_still_shows_it():
  gymnasium.register('DreamerTestWarns-v0', entry_point=_warns)
  with pytest.warns(UserWarning, match='this env warns'):
    make_env('gym_DreamerTestWarns-v0', env_config(), seed=0)


def test_an_envs_own_warning_is_shown_once_as_python_shows_it(monkeypatch):
  """Shown again for every env made (warn_explicit of each recorded warning), where
  Python shows a warning of one place once."""
  import warnings
  from dreamerv3_tf.envs import gym as gym_env
  monkeypatch.setattr(gym_env, '_SHOWN', set(), raising=False)
  gymnasium.register('DreamerTestWarnsOnce-v0', entry_point=_warns_once)
  with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter('default')
    for seed in (0, 1, 2):
      make_env('gym_DreamerTestWarnsOnce-v0', env_config(), seed=seed)
  assert [str(w.message) for w in said] == ['this env warns once']


def _warns_once():
  import warnings
  warnings.warn('this env warns once')
  return gymnasium.make('CartPole-v1')


def _warns():
  import warnings
  warnings.warn('this env warns')
  return gymnasium.make('CartPole-v1')


def test_rendered_tasks_print_nothing_on_a_headless_machine():
  """SDL (pygame renders CartPole) printed 'error: XDG_RUNTIME_DIR is invalid or not set
  in the environment.' on the run's stderr when the machine had no display session."""
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  code = ('from dreamerv3_tf.envs.gym import Gym\n'
          "env = Gym('CartPole-v1', image=True, seed=0)\n"
          "obs = env.step({'action': 0, 'reset': True})\n"
          "assert obs['image'].shape == (64, 64, 3) and obs['image'].std() > 0\n"
          'env.close()\n')
  env = {k: v for k, v in os.environ.items()
         if k not in ('XDG_RUNTIME_DIR', 'SDL_VIDEODRIVER')}
  result = subprocess.run([sys.executable, '-c', code], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
  assert result.returncode == 0 and result.stderr == '', result.stderr[-2000:]


HUMAN_STEP = ('import gymnasium\n'
              'from dreamerv3_tf.envs.gym import Gym\n'
              "env = Gym(gymnasium.make('CartPole-v1', render_mode='human'), seed=0)\n"
              'try:\n'
              "  env.step({'action': 0, 'reset': True})\n"
              "  print('drew')\n"
              'except Exception as e:\n'
              "  print(f'{type(e).__name__}: {e}')\n"
              'env.close()\n')
HUMAN_WARNING = ("Warning: gym env made with render_mode='human': it draws every step {} and "
                 'waits for its render_fps, at most 50 steps a second per env; make it without '
                 'render_mode to train (config.env.gym image=True gives the agent its frames)\n')


@pytest.mark.parametrize('driver, drawn, where', [
    # pygame took it for a driver of its own choice: 'error: windows not available'.
    ('', 'drew', 'offscreen (this machine has no display)'),
    # 'error: nosuch not available', after the line that it drew offscreen.
    ('nosuch', "EnvSetupError: SDL_VIDEODRIVER='nosuch' names no video driver SDL can open "
     "here (pygame: nosuch not available), and the gym env made with render_mode='human' "
     'draws with it; unset it (without a display the env draws offscreen) or make the env '
     'without render_mode', "through SDL_VIDEODRIVER='nosuch'")])
def test_an_sdl_video_driver_of_the_users_is_named_headless(driver, drawn, where):
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
  env.update(SDL_VIDEODRIVER=driver, PYTHONPATH=root)
  result = subprocess.run([sys.executable, '-c', HUMAN_STEP], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
  assert (result.returncode, result.stdout, result.stderr) == (
      0, f'{drawn}\n', HUMAN_WARNING.format(where)), result.stderr[-2000:]


def test_an_offscreen_sdl_video_driver_is_named_beside_a_display(monkeypatch):
  """SDL_VIDEODRIVER=dummy where a display answers: the line said 'in a window'."""
  import gymnasium
  from dreamerv3_tf.envs import gym as gym_env
  noted = []
  monkeypatch.setattr(gym_env.display, 'unusable', lambda: None)
  monkeypatch.setattr(gym_env.workers, 'note', lambda key, text: noted.append(text))
  monkeypatch.setenv('SDL_VIDEODRIVER', 'dummy')
  gym_env._human_render(gymnasium.make('CartPole-v1', render_mode='human'))
  assert noted == [HUMAN_WARNING.format("offscreen (SDL_VIDEODRIVER='dummy')")[
      len('Warning: '):-1]]


def test_a_display_counts_where_a_server_answers_at_its_socket(tmp_path):
  """envs/display: a window opens where DISPLAY or WAYLAND_DISPLAY names a server that
  accepts a connection; one that names none is no display (SDL crashed beside
  TensorFlow trying it: test_custom's render_for_humans test)."""
  import socket
  from dreamerv3_tf.envs import display
  with socket.socket() as x11, socket.socket(socket.AF_UNIX) as wayland:
    x11.bind(('127.0.0.1', 0))  # an ephemeral port, above 6000: display number port - 6000
    x11.listen()
    wayland.bind(str(tmp_path / 'wayland-0'))
    wayland.listen()
    number = x11.getsockname()[1] - 6000
    assert display.unusable({'DISPLAY': f'127.0.0.1:{number}.0'}) is None
    assert display.unusable({'WAYLAND_DISPLAY': 'wayland-0',
                             'XDG_RUNTIME_DIR': str(tmp_path)}) is None
    assert display.unusable({'WAYLAND_DISPLAY': str(tmp_path / 'wayland-0'),
                             'DISPLAY': ':4242'}) is None
  assert display.unusable({}) == 'this machine has no display'
  assert display.unusable({'DISPLAY': f'127.0.0.1:{number}'}) == (  # closed now
      f"DISPLAY='127.0.0.1:{number}' cannot be opened")
  assert display.unusable({'DISPLAY': ':4242', 'WAYLAND_DISPLAY': 'wayland-0'}) == (
      "DISPLAY=':4242' and WAYLAND_DISPLAY='wayland-0' cannot be opened")  # no runtime dir


class HugeBoundsEnv(gymnasium.Env):
  """Actions in a float64 Box whose bounds float32 cannot hold (1e39)."""

  def __init__(self):
    self.observation_space = gymnasium.spaces.Box(-1, 1, (1,), np.float32)
    self.action_space = gymnasium.spaces.Box(-1e39, 1e39, (2,), np.float64)


def test_action_bounds_beyond_float32_are_unbounded_without_a_warning():
  """Space's cast printed numpy's 'RuntimeWarning: overflow encountered in cast' and
  its source line, twice, on stderr; the bounds are the inf they become."""
  import warnings
  from dreamerv3_tf.envs import wrappers
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    space = wrappers.NormalizeAction(Gym(HugeBoundsEnv())).act_space['action']
  assert space.dtype == np.float32
  np.testing.assert_array_equal(space.low, [-np.inf, -np.inf])
  np.testing.assert_array_equal(space.high, [np.inf, np.inf])


class BigFrameEnv(gymnasium.Env):
  """Image obs of 1024x1040 (gym.BIG_FRAME_PIXELS and more): 260 times env.gym.size=64x64."""

  metadata = {'render_modes': ['rgb_array']}

  def __init__(self, render_mode=None):
    self.render_mode = render_mode
    self.observation_space = gymnasium.spaces.Box(0, 255, (1024, 1040, 3), np.uint8)
    self.action_space = gymnasium.spaces.Discrete(2)

  def reset(self, seed=None, options=None):
    return self.render(), {}

  def step(self, action):
    return self.render(), 0.0, False, False, {}

  def render(self):
    return np.zeros((1024, 1040, 3), np.uint8)


def big_frames():
  """A worker's constructor (module-level: the worker imports this file)."""
  return Gym(BigFrameEnv(), size=(64, 64))


WARNING = re.compile(
    r"^Warning: gym obs 'image': the env's frames are 1024x1040, 260 times the pixels of "
    r'env.gym.size=64x64, and each is resized at every step of every env \(the first took '
    r'[\d.]+ s\); set env.gym.size nearer, or make the env emit smaller frames$')


def test_frames_far_larger_than_the_size_are_one_warning_line(monkeypatch, capfd):
  """10000x10000 frames were resized to 64x64 at every step (0.7 s each here) without a
  line: the run crawled. One line names it, whatever the number of envs and workers;
  frames of fewer pixels cost little (gymnasium renders 400x600)."""
  from dreamerv3_tf.core import workers
  monkeypatch.setattr(workers, '_SHOWN', set(), raising=False)
  env = big_frames()
  for reset in (True, False, True):
    env.step({'reset': reset, 'action': np.int32(0)})
  big_frames().step({'reset': True})  # another env of the run
  lines = capfd.readouterr().err.splitlines()
  assert len(lines) == 1 and WARNING.match(lines[0]), lines
  monkeypatch.setattr(workers, '_SHOWN', set(), raising=False)
  remote = workers.start([big_frames, big_frames], timeout=60)
  try:
    for env in remote:
      env.step({'reset': True, 'action': np.int32(0)})
  finally:
    for env in remote:
      env.close()
  lines = capfd.readouterr().err.splitlines()
  assert len(lines) == 1 and WARNING.match(lines[0]), lines  # printed by this process
  monkeypatch.setattr(workers, '_SHOWN', set(), raising=False)
  Gym(BigFrameEnv(), size=(256, 260)).step({'reset': True})  # 16 times: without a word
  Gym(RenderEnv(render_mode='rgb_array'), size=(4, 4), image=True).step({'reset': True})
  assert capfd.readouterr().err == ''  # 125 times, but 40x50 pixels
  # A rendered frame (image=True).
  Gym(BigFrameRender(render_mode='rgb_array'), size=(64, 64), image=True).step({'reset': True})
  assert "the env's frames are 1024x1040, 260 times the pixels" in capfd.readouterr().err


def test_an_unversioned_id_is_one_warning_line_for_the_run(monkeypatch, capfd):
  """gym_CartPole (no version): gymnasium's UserWarning that it takes CartPole-v1 came
  as two lines with terminal colours per env made, six for debug's three envs."""
  from dreamerv3_tf.core import workers
  monkeypatch.setattr(workers, '_SHOWN', set(), raising=False)
  for seed in (0, 1):
    env = make_env('gym_CartPole', env_config(), seed=seed)
    assert env.act_space['action'].classes == 2  # CartPole-v1's, made as before
  assert capfd.readouterr().err.splitlines() == [
      'Warning: gymnasium: Using the latest versioned environment `CartPole-v1` instead of '
      'the unversioned environment `CartPole`.']


def test_a_missing_dependency_names_no_frame_of_pythons_importer():
  """gym_LunarLander-v3 without Box2D: its line ended '(<frozen importlib._bootstrap>,
  line 241)', Python's importer, the only frame outside gymnasium and this package."""
  gymnasium.register('DreamerTestNeedsDependency-v0', entry_point=_needs_dependency)
  with pytest.raises(Exception, match=r"raised DependencyNotInstalled: no Box2D here "
                     r"\(test_gym.py, line \d+\)$"):  # the deepest frame of the env's
    make_env('gym_DreamerTestNeedsDependency-v0', env_config(), seed=0)


def _needs_dependency():
  # As gymnasium's box2d envs fail where Box2D is missing: inside an import.
  code = compile('raise DependencyNotInstalled("no Box2D here")',
                 '<frozen importlib._bootstrap>', 'exec')
  exec(code, {'DependencyNotInstalled': gymnasium.error.DependencyNotInstalled})


class Float64Bounds(gymnasium.Env):
  """A Box of float32 with float64 bounds: gymnasium warns as the space is made."""

  def __init__(self):
    self.observation_space = gymnasium.spaces.Box(np.zeros(2), np.ones(2), dtype=np.float32)
    self.action_space = gymnasium.spaces.Discrete(2)


def test_gymnasiums_warnings_as_an_env_is_made_are_one_line_each(monkeypatch, capfd):
  """'Box low's precision lowered by casting to float32' came as two lines with terminal
  colours for each bound and env made (12 in a debug run), by id and as a py_ task."""
  import sys
  from dreamerv3_tf.core import workers
  gymnasium.register('DreamerTestFloat64-v0', entry_point=Float64Bounds)
  monkeypatch.setattr(workers, '_SHOWN', set(), raising=False)
  monkeypatch.setitem(sys.modules, 'float64_bounds', sys.modules[__name__])
  for task in ('gym_DreamerTestFloat64-v0', 'gym_DreamerTestFloat64-v0',
               'py_float64_bounds:Float64Bounds'):
    make_env(task, env_config(), seed=0)
  assert capfd.readouterr().err.splitlines() == [
      f"Warning: gymnasium: Box {bound}'s precision lowered by casting to float32, current "
      f'{bound}.dtype=float64' for bound in ('low', 'high')]


class SilencesAWarning(gymnasium.Env):
  """Sets a warnings filter as it is made, as an env whose library warns at each step."""

  def __init__(self):
    import warnings
    warnings.filterwarnings('ignore', message='a warning this env silenced')
    self.observation_space = gymnasium.spaces.Box(0, 1, (2,), np.float32)
    self.action_space = gymnasium.spaces.Discrete(2)


def test_a_warnings_filter_an_env_sets_as_it_is_made_is_kept(monkeypatch):
  """warnings_once put the filters back as they were before the env was made: the filter
  a py_ env's constructor set was undone, and the warning it silenced was shown."""
  import sys
  import warnings
  monkeypatch.setitem(sys.modules, 'silences_a_warning', sys.modules[__name__])
  with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter('default')
    make_env('py_silences_a_warning:SilencesAWarning', env_config(), seed=0)
    warnings.warn('a warning this env silenced')
  assert [str(w.message) for w in said] == []


class BigFrameRender(RenderEnv):
  def render(self):
    return np.zeros((1024, 1040, 3), np.uint8)


def test_close_frees_the_gymnasium_env_while_the_run_still_holds_ours():
  """A run holds its envs until the interpreter exits. A native env still alive then
  (ale_py's ALEInterface, through task=gym_ale_py:ALE/Pong-v5) made nanobind print some
  30 lines of 'leaked instance' warnings after the run's last line."""
  import weakref
  env = Gym('CartPole-v1')
  env.step({'action': np.int32(0), 'reset': True})
  inner = weakref.ref(env.gym_env.unwrapped)
  env.close()
  assert inner() is None
  env.close()  # a second close, as a worker's end after the driver's, is no error


def test_the_ale_namespace_names_its_package_and_our_atari_suite(monkeypatch):
  """ale-py is installed, but gymnasium 1.x knows the ALE namespace only once ale_py is
  imported (here it may be, by another test: its envs are taken out of the registry)."""
  import gymnasium
  registry = gymnasium.envs.registration.registry
  for key in [k for k in registry if k.startswith('ALE/')]:
    monkeypatch.delitem(registry, key)
  with pytest.raises(TaskError, match=(
      r"^Unknown task 'gym_ALE/Pong-v5': gymnasium has no env 'ALE/Pong-v5' \(Namespace ALE "
      r"not found.*\); its package registers the namespace as it is imported: "
      r"task=gym_ale_py:ALE/Pong-v5, or this project's Atari suite: task=atari_pong\. ")):
    make_env('gym_ALE/Pong-v5', env_config(), seed=0)


class SpacesEnv(gymnasium.Env):
  """Only spaces: the obs keys are classified as the env is wrapped."""

  def __init__(self, observation_space):
    self.observation_space = observation_space
    self.action_space = gymnasium.spaces.Discrete(2)


def test_pixels_of_no_uint8_are_one_warning_line_naming_the_key(monkeypatch, capfd):
  """A float32 Box of shape (64, 64, 3) became a 12288-value vector without a word:
  the agent trained an MLP on pixels (only uint8 images reach its conv net)."""
  from dreamerv3_tf.core import workers
  monkeypatch.setattr(workers, '_SHOWN', set(), raising=False)
  box = gymnasium.spaces.Box
  pixels = box(0.0, 1.0, (64, 64, 3), np.float32)
  for _ in range(2):  # two envs of the run: one line
    Gym(SpacesEnv(pixels))
  assert capfd.readouterr().err.splitlines() == [
      "Warning: gym obs 'vector' is float32[64, 64, 3], shaped as an image, but the agent "
      'takes only uint8 images as images: it learns from these 12288 values as one vector '
      '(an MLP, no conv net); if they are pixels, declare it Box(0, 255, (64, 64, 3), '
      'np.uint8) and return uint8 frames (floats in [0, 1] times 255)']
  Gym(SpacesEnv(gymnasium.spaces.Dict({
      'depth': box(0, 255, (32, 32, 1), np.int64), 'rgb': box(0, 255, (8, 8, 3), np.uint8)})))
  err = capfd.readouterr().err
  assert err.startswith("Warning: gym obs 'depth' is int64[32, 32, 1], shaped as an image")
  assert err.count('\n') == 1, err
  Gym(SpacesEnv(gymnasium.spaces.Dict({  # no image's shape, or too small: features
      'board': box(0, 1, (3, 3, 3), np.float32), 'grid': box(0, 1, (64, 64, 5), np.float32),
      'map': box(0, 1, (64, 64), np.float32), 'flags': box(0, 1, (64, 64, 3), bool)})))
  assert capfd.readouterr().err == ''


class _Unprintable(Exception):
  def __str__(self):
    raise RuntimeError('no text')


def _raises_unprintable():
  raise _Unprintable()


def test_a_constructor_raising_an_error_whose_text_fails_is_named():
  """Its str() raised inside our line: that RuntimeError came out, naming no env."""
  import gymnasium as gym
  from dreamerv3_tf.envs.wrappers import EnvSetupError
  gym.register('Unprintable-v0', entry_point=_raises_unprintable)
  try:
    with pytest.raises(EnvSetupError, match=(
        r"^gymnasium\.make\('Unprintable-v0'\) raised _Unprintable: <its str\(\) raised "
        r"RuntimeError> \(test_gym\.py, line \d+\)$")):
      Gym('Unprintable-v0')
  finally:
    gym.registry.pop('Unprintable-v0')


def test_a_space_property_raising_an_error_whose_text_fails_is_named():
  """Its str() raised inside our line: that RuntimeError came out, naming no property."""
  import gymnasium as gym
  from dreamerv3_tf.envs.wrappers import EnvSetupError

  class Env(gym.Env):
    action_space = gym.spaces.Discrete(2)

    @property
    def observation_space(self):
      raise _Unprintable()

  with pytest.raises(EnvSetupError, match=(
      r"^env\.observation_space raised _Unprintable: <its str\(\) raised RuntimeError> "
      r"\(test_gym\.py, line \d+\)$")):
    Gym(Env())
