"""DeepMind Control Suite env: proprio episodes, rendering, names, seeding."""

import functools
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('dm_control')

from configs import base  # noqa: E402
from dreamerv3_tf.core import base as base_runtime  # noqa: E402
from dreamerv3_tf.core.driver import Driver  # noqa: E402
from dreamerv3_tf.envs import make_env  # noqa: E402
from dreamerv3_tf.envs import dmc as dmc_env  # noqa: E402
from dreamerv3_tf.envs.dmc import DMC  # noqa: E402
from dreamerv3_tf.envs.wrappers import TaskError  # noqa: E402


def env_config(**dmc):
  c = base.get_config().env
  c.dmc.update(dict(proprio=True, image=False, size=(16, 16)), **dmc)
  return c


def test_proprio_episode_ends_by_time_limit_not_terminal():
  # cartpole episodes last 1000 physics steps: 125 agent steps at repeat 8.
  env = make_env('dmc_cartpole_balance', env_config(repeat=8), seed=0)
  assert set(env.obs_space) == {
      'position', 'velocity', 'reward', 'is_first', 'is_last', 'is_terminal'}
  assert env.obs_space['position'].shape == (3,)
  assert env.act_space['action'].shape == (1,)
  rng = np.random.default_rng(0)
  obs = env.step({'reset': True, 'action': np.zeros(1, np.float32)})
  assert obs['is_first'] and obs['position'].dtype == np.float32
  steps, total = 0, 0.0
  while not obs['is_last']:
    action = rng.uniform(-1, 1, 1).astype(np.float32)
    obs = env.step({'reset': False, 'action': action})
    steps += 1
    total += float(obs['reward'])
  assert steps == 125
  assert not obs['is_terminal']
  assert 0 < total <= 8 * 125  # Rewards are summed over the repeated steps.
  obs = env.step({'reset': False, 'action': np.zeros(1, np.float32)})
  assert obs['is_first']  # Stepped after is_last: a new episode.


def test_scalar_obs_become_vectors_and_time_limit_applies():
  c = env_config()
  c.time_limit = 5
  env = make_env('dmc_walker_walk', c, seed=1)
  assert env.obs_space['height'].shape == (1,)
  assert env.obs_space['orientations'].shape == (14,)
  action = np.zeros(6, np.float32)
  obs = [env.step({'reset': i == 0, 'action': action}) for i in range(7)]
  assert [bool(o['is_last']) for o in obs] == [0, 0, 0, 0, 0, 1, 0]
  assert not obs[5]['is_terminal'] and obs[6]['is_first']


def test_proprio_steps_are_the_suites_with_summed_rewards():
  """What the official FromDM + ActionRepeat give: each observation entry of the suite's
  time step (float32; a scalar as [1]), the first step's reward 0, later ones the sum
  over the repeat, is_terminal only at discount 0."""
  ours = DMC('walker_walk', repeat=2, image=False, seed=7)
  from dm_control import suite  # (after DMC chose no renderer: GLFW warned without one)
  bare = suite.load('walker', 'walk', task_kwargs={'random': 7})
  obs, step = ours.step({'reset': True}), bare.reset()
  assert obs['is_first'] and obs['reward'] == 0 and not obs['is_terminal']
  rng = np.random.default_rng(0)
  for _ in range(5):
    for key, value in step.observation.items():
      np.testing.assert_array_equal(obs[key], np.asarray(value, np.float32).reshape(-1))
    action = rng.uniform(-1, 1, 6).astype(np.float32)
    obs = ours.step({'reset': False, 'action': action})
    first, step = bare.step(action), bare.step(action)
    assert obs['reward'] == np.float32(first.reward + step.reward)
    assert not obs['is_first'] and not obs['is_last'] and not obs['is_terminal']


def test_the_chain_is_the_officials_wrap_env():
  """dreamerv3/main.py's wrap_env, outermost first: ClipAction, CheckSpaces, UnifyDtypes,
  NormalizeAction: an action beyond [-1, 1] is clipped before it is checked."""
  from dreamerv3_tf.envs import wrappers
  env = make_env('dmc_cartpole_balance', env_config(), seed=0)
  chain, inner = [], env
  while isinstance(inner, wrappers.Wrapper):
    chain.append(type(inner).__name__)
    inner = inner.env
  assert chain == ['ClipAction', 'CheckSpaces', 'UnifyDtypes', 'NormalizeAction']
  assert isinstance(inner, DMC)
  sent, step = [], inner.step
  inner.step = lambda action: (sent.append(action), step(action))[1]
  env.step({'reset': True, 'action': np.zeros(1, np.float32)})
  obs = env.step({'reset': False, 'action': np.array([1.5], np.float32)})
  np.testing.assert_array_equal(sent[-1]['action'], [1.0])
  assert obs['reward'].dtype == np.float32 and obs['position'].dtype == np.float32


def test_vision_step_renders_image():
  # Rendering runs in a driver worker process, as in training: EGL and TensorFlow
  # (which other tests load into this process) do not share a process.
  make = functools.partial(
      make_env, 'dmc_reacher_easy',
      env_config(proprio=False, image=True, size=(32, 24)).to_dict(), 0)
  seen = []
  with Driver([make], parallel=True) as driver:
    assert set(driver.obs_space) == {'image', 'reward', 'is_first', 'is_last', 'is_terminal'}
    driver.on_step(lambda tran, worker: seen.append(tran['image']))
    policy = lambda carry, obs: (carry, {'action': np.ones((1, 2), np.float32)}, {})
    driver(policy, steps=2)
  assert seen[-1].shape == (32, 24, 3) and seen[-1].dtype == np.uint8
  assert seen[-1].std() > 0  # A scene, not a blank buffer.


RENDERS_AS_THE_OFFICIAL = r'''
import numpy as np
from dreamerv3_tf.envs.dmc import DMC
ours = DMC('quadruped_walk', size=(24, 32), proprio=False, seed=0)
from dm_control import suite  # (after DMC chose EGL)
bare = suite.load('quadruped', 'walk', task_kwargs={'random': 0})
images = [ours.step({'reset': True})['image']]
bare.reset()
expected = [bare.physics.render(24, 32, camera_id=2)]
action = np.full(12, 0.5, np.float32)
images.append(ours.step({'reset': False, 'action': action})['image'])
bare.step(action)
expected.append(bare.physics.render(24, 32, camera_id=2))
print(all(np.array_equal(a, b) for a, b in zip(images, expected)), images[0].shape)
'''


def test_images_are_the_official_render_from_the_domains_camera():
  """The official DMC image: physics.render(height, width) from camera -1's choice, the
  domain's own (quadruped's 2), on the reset step too. In a fresh process: EGL and the
  TensorFlow other tests load do not share one."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  run = subprocess.run([sys.executable, '-c', RENDERS_AS_THE_OFFICIAL], capture_output=True,
                       text=True, timeout=120, cwd=root,
                       env={**os.environ, 'PYTHONPATH': root, 'MUJOCO_GL': 'egl'})
  assert run.stdout.strip() == 'True (24, 32, 3)', run.stderr[-2000:]


def test_no_rendering_without_image():
  env = DMC('cartpole_swingup', image=False, seed=0)

  def fail(*args, **kwargs):
    raise AssertionError('rendered although image=False')
  env._env.physics.render = fail
  env.step({'reset': True})
  obs = env.step({'reset': False, 'action': np.zeros(1, np.float32)})
  assert 'image' not in obs


def test_task_names_and_cameras():
  env = DMC('ball_in_cup_catch', image=False)
  assert 'position' in env.obs_space
  assert DMC('cup_catch', image=False).act_space['action'].shape == (2,)
  assert DMC('quadruped_walk', image=False)._camera == 2
  assert DMC('walker_walk', image=False)._camera == 0
  with pytest.raises(ValueError, match=r"Unknown task 'dmc_walker_fly'.*Valid suites"):
    make_env('dmc_walker_fly', env_config(), seed=0)
  with pytest.raises(ValueError, match='proprio=True or image=True'):
    DMC('walker_walk', proprio=False, image=False)
  # A typo names the closest tasks, not all of them; no close one lists them all.
  with pytest.raises(ValueError, match=(
      r"has no task 'cartpole_balanse'; did you mean 'cartpole_balance'.*\? \(\d+ are valid\)$")):
    DMC('cartpole_balanse', image=False)
  with pytest.raises(ValueError, match=r"has no task 'zzz_qqq'; valid: acrobot_swingup, "):
    DMC('zzz_qqq', image=False)


def test_the_tasks_read_from_dm_controls_files_are_those_its_import_registers():
  """The config check reads them from suite/*.py (the import costs 0.7-1.1 s, before
  TensorFlow): a dm_control that registers its tasks otherwise must not drift from it."""
  from dm_control import suite
  assert dmc_env.suite_tasks() == suite.ALL_TASKS


def write_suite(root, domain):
  """A dm_control package at `root` of one domain, cartpole, whose file reads `domain`."""
  (root / 'suite').mkdir(parents=True)
  (root / '__init__.py').write_text('')
  (root / 'suite' / '__init__.py').write_text(
      'from dm_control.suite import base\nfrom dm_control.suite import cartpole\n'
      "_DOMAINS = {name: module for name, module in locals().items()\n"
      "            if inspect.ismodule(module) and hasattr(module, 'SUITE')}\n"
      'ALL_TASKS = _get_tasks(tag=None)\n')
  (root / 'suite' / 'base.py').write_text('class Task:\n  pass\n')
  (root / 'suite' / 'cartpole.py').write_text(domain)


@pytest.mark.parametrize('domain, tasks', [
    ("SUITE = containers.TaggedTasks()\n\n@SUITE.add('benchmarking')\ndef balance(x=1):\n"
     '  pass\n\n@SUITE.add()\n@other\ndef two_poles():\n  pass\n',
     (('cartpole', 'balance'), ('cartpole', 'two_poles'))),
    # Registered otherwise than by a top-level decorator: not read, left to the env.
    ("SUITE = containers.TaggedTasks()\n\n@SUITE.add()\ndef balance():\n  pass\n\n"
     'SUITE.add()(swingup)\n', None),
    ("SUITE = containers.TaggedTasks()\nif True:\n  @SUITE.add()\n  def balance():\n"
     '    pass\n', None),
    ('from elsewhere import SUITE\n', None),
    (b'\xff\xfe', None)])
def test_tasks_registered_in_no_way_the_reading_knows_are_left_to_the_env(
    tmp_path, domain, tasks):
  """None (the config check passes the task on to the env, which imports the suite)
  rather than a list that would refuse a task dm_control has."""
  write_suite(tmp_path / 'dm_control', '')
  path = tmp_path / 'dm_control' / 'suite' / 'cartpole.py'
  path.write_bytes(domain) if isinstance(domain, bytes) else path.write_text(domain)
  assert dmc_env.suite_tasks(str(tmp_path / 'dm_control')) == tasks
  path.unlink()  # a domain file it cannot read
  assert dmc_env.suite_tasks(str(tmp_path / 'dm_control')) is None


def test_a_camera_the_model_lacks_is_a_config_error_at_the_build(monkeypatch):
  """camera=99 with images failed at the first render, as an env error (exit 1); the
  number of cameras is known once the model loads, so the build refuses it."""
  # The check needs the model, not a renderer: EGL loaded here aborts pytest at exit.
  monkeypatch.setenv('MUJOCO_GL', 'disable')
  monkeypatch.setattr(dmc_env, '_select_renderer', lambda image: None)
  with pytest.raises(TaskError) as error:
    make_env('dmc_cartpole_balance', env_config(image=True, camera=2), seed=0)
  assert str(error.value) == (
      "env.dmc.camera=2: dmc_cartpole_balance has 2 cameras; valid: -1 (the domain's "
      'own) or 0 to 1')
  assert base_runtime.exit_code(error.value) == 2
  # Without images the camera is unused; the last valid one builds.
  make_env('dmc_cartpole_balance', env_config(camera=99), seed=0)
  DMC('cartpole_balance', image=True, camera=1)


def test_an_image_size_beyond_the_models_framebuffer_is_a_config_error_at_the_build(
    monkeypatch):
  """(2048, 2048) failed at the first render ('Image width 2048 > framebuffer width
  640', exit 1, naming no key); (100000, 100000) had its worker killed (exit -9)."""
  monkeypatch.setenv('MUJOCO_GL', 'disable')  # as above: the check needs no renderer
  monkeypatch.setattr(dmc_env, '_select_renderer', lambda image: None)
  with pytest.raises(TaskError) as error:
    make_env('dmc_cartpole_balance', env_config(image=True, size=(481, 64)), seed=0)
  assert str(error.value) == (
      'env.dmc.size=(481, 64): dmc_cartpole_balance renders images of at most 480x640 '
      "(height x width, its model's offscreen framebuffer); give a size within it")
  assert base_runtime.exit_code(error.value) == 2
  DMC('cartpole_balance', image=True, size=(480, 640))  # the framebuffer's own size
  make_env('dmc_cartpole_balance', env_config(size=(4096, 4096)), seed=0)  # no images


def test_seed_controls_initial_state():
  def first(seed):
    env = make_env('dmc_cartpole_swingup', env_config(), seed=seed)
    return env.step({'reset': True, 'action': np.zeros(1, np.float32)})['position']
  np.testing.assert_array_equal(first(3), first(3))
  assert not np.array_equal(first(3), first(4))


def test_action_is_normalized_to_spec_bounds():
  env = make_env('dmc_cartpole_balance', env_config(), seed=0)
  space = env.act_space['action']
  assert space.dtype == np.float32
  np.testing.assert_array_equal(space.low, [-1])
  np.testing.assert_array_equal(space.high, [1])
  env.step({'reset': True, 'action': np.zeros(1, np.float32)})
  with pytest.raises(ValueError, match="Env action 'action': expected finite"):
    env.step({'reset': False, 'action': np.array([np.nan], np.float32)})


RENDERER_FAILS = r'''
import sys
class Fails:  # dm_control.suite's import fails as PyOpenGL does without libOSMesa
  def find_spec(self, name, path=None, target=None):
    if name == 'dm_control.suite':
      raise AttributeError("'NoneType' object has no attribute 'glGetError'")
sys.meta_path.insert(0, Fails())
from dreamerv3_tf.envs.dmc import DMC
try:
  DMC('walker_walk', image=True)
except RuntimeError as e:
  print(e)
'''


def test_a_renderer_that_cannot_load_is_named_by_its_mujoco_gl():
  """MUJOCO_GL=osmesa without its library failed as "'NoneType' object has no
  attribute 'glGetError'", naming neither the renderer nor the variable."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run(
      [sys.executable, '-c', RENDERER_FAILS], capture_output=True, text=True, timeout=120,
      cwd=root, env={**os.environ, 'MUJOCO_GL': 'osmesa', 'PYTHONPATH': root})
  assert result.stdout.strip() == (
      "dm_control could not load its renderer MUJOCO_GL=osmesa (AttributeError: 'NoneType' "
      "object has no attribute 'glGetError'); install it, or set MUJOCO_GL=egl (the default "
      'for images)'), result.stderr[-2000:]


def _an_image_env_with_glfw(before='', **display):
  """The run of a fresh process that makes an image DMC env under MUJOCO_GL=glfw, with
  `display` its display variables (none by default), and prints its RuntimeError."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  code = (f'{before}from dreamerv3_tf.envs.dmc import DMC\n'
          'try:\n'
          '  DMC("cartpole_balance", image=True, size=(16, 16))\n'
          'except RuntimeError as e:\n'
          '  print(e)\n')
  env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
  return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        timeout=120, cwd=root,
                        env={**env, 'MUJOCO_GL': 'glfw', 'PYTHONPATH': root, **display})


def test_glfw_without_a_display_is_named_before_it_renders():
  """MUJOCO_GL=glfw on a machine without a display, with images: each env worker
  printed 4 GLFWError warnings and 2 tracebacks of dm_control's MjrContext.__del__
  (31 lines for 2 envs), then the run stopped with 'an OpenGL platform library has not
  been loaded into this process', which named neither MUJOCO_GL nor the display."""
  result = _an_image_env_with_glfw()
  assert result.stdout.strip() == (
      'MUJOCO_GL=glfw renders in a window, and this process has no display (DISPLAY is not '
      'set); set MUJOCO_GL=egl (the default for images)'), result.stderr[-2000:]
  assert result.stderr == ''


@pytest.mark.parametrize('reporting', ['warn', 'raise'])  # glfw's default, and its other
def test_glfw_with_a_display_it_cannot_open_is_named_before_it_renders(reporting):
  """MUJOCO_GL=glfw with a DISPLAY that names no reachable X server (a closed ssh -X
  session's, a stale tmux's): each env worker printed 4 lines of GLFWError warnings, and
  the run stopped with 'an OpenGL platform library has not been loaded into this
  process' at the first step, naming neither MUJOCO_GL nor the display."""
  result = _an_image_env_with_glfw(f'import glfw; glfw.ERROR_REPORTING = {reporting!r}\n',
                                   DISPLAY=':4242')
  assert result.stdout.strip() == (
      "MUJOCO_GL=glfw renders in a window, and GLFW could not start on this process's "
      "display (DISPLAY=':4242': X11: Failed to open display :4242); set MUJOCO_GL=egl (the "
      'default for images)'), result.stdout + result.stderr[-2000:]
  assert result.stderr == ''


@pytest.mark.parametrize('renderer', ['glfw', 'egl'])
def test_without_images_no_renderer_is_loaded(renderer):
  """A proprio task renders nothing, but the renderer MUJOCO_GL named was loaded all the
  same. GLFW without a display printed 2 lines of GLFWError per env ('The DISPLAY
  environment variable is missing'), 6 for the debug config. EGL (MUJOCO_GL=egl in the
  shell, as images need) loaded Mesa's LLVM, and with run.parallel=False the run
  segfaulted at XLA's first compile, without a line."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  code = ('import os; from dreamerv3_tf.envs.dmc import DMC; '
          'env = DMC("cartpole_balance", image=False); env.step({"action": env.act_space['
          '"action"].sample(), "reset": True}); print(os.environ["MUJOCO_GL"]); '
          'print(any(x in open("/proc/self/maps").read() for x in ("libEGL", "libglfw", '
          '"libGL.", "libOSMesa")))')
  env = {k: v for k, v in os.environ.items() if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120, cwd=root,
                          env={**env, 'MUJOCO_GL': renderer, 'PYTHONPATH': root})
  assert result.returncode == 0 and result.stderr == '', result.stderr[-2000:]
  assert result.stdout.split() == ['disable', 'False']


def _refused_in_a_fresh_process(image, unset=(), **env):
  """The run of a fresh process, with `env` set and `unset` removed, that makes a DMC env
  (images or not) and prints the exit code and line of its error."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  code = ('from dreamerv3_tf.core import base; from dreamerv3_tf.envs.dmc import DMC\n'
          'try:\n'
          f'  DMC("cartpole_balance", image={image}, size=(16, 16))\n'
          'except Exception as e:\n'
          '  print(base.exit_code(e), e)\n')
  kept = {k: v for k, v in os.environ.items() if k not in unset}
  return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                        timeout=120, cwd=root, env={**kept, 'PYTHONPATH': root, **env})


@pytest.mark.parametrize('image', [False, True])
def test_a_mujoco_gl_of_no_renderer_is_a_value_error_with_exit_code_2(image):
  """MUJOCO_GL=bogus (or EGL) said 'install it' as a renderer that failed to load, exit 1."""
  result = _refused_in_a_fresh_process(image, MUJOCO_GL='EGL')
  assert result.stdout.startswith(
      "2 MUJOCO_GL='EGL' names no renderer of dm_control (it takes one of ['', "), result.stdout
  assert result.stdout.strip().endswith(
      "set MUJOCO_GL=egl, the default for images, or unset it"), result.stdout


def test_a_pyopengl_platform_of_another_renderer_is_named_with_its_fix():
  """PYOPENGL_PLATFORM=glx in the shell (another tool's) with images: 'dm_control could
  not load its renderer MUJOCO_GL=egl (ImportError: ... PYOPENGL_PLATFORM ...); install
  it, or set MUJOCO_GL=egl', advice that changed nothing, exit code 1."""
  result = _refused_in_a_fresh_process(True, unset=('MUJOCO_GL',), PYOPENGL_PLATFORM='glx')
  assert result.stdout.strip() == (
      "2 PYOPENGL_PLATFORM='glx' names another OpenGL platform than the renderer "
      'MUJOCO_GL=egl, and dm_control needs them to agree; unset PYOPENGL_PLATFORM, or set '
      'it to egl'), result.stdout + result.stderr[-2000:]


@pytest.mark.parametrize('image', [False, True])
def test_an_empty_mujoco_gl_is_taken_as_unset(image):
  """MUJOCO_GL='' (set but empty) was dm_control's GLFW: without a display, 2 lines of
  GLFWError per env on stderr, with or without images."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  code = ('import os; from dreamerv3_tf.envs.dmc import DMC; '
          f'DMC("cartpole_balance", image={image}, size=(16, 16)); '
          'print(os.environ["MUJOCO_GL"])')
  env = {k: v for k, v in os.environ.items() if k != 'DISPLAY'}
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120, cwd=root, env={**env, 'MUJOCO_GL': '', 'PYTHONPATH': root})
  assert result.returncode == 0 and 'GLFW' not in result.stderr, result.stderr[-2000:]
  assert result.stdout.split() == ['egl' if image else 'disable']
