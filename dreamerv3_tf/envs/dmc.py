"""DeepMind Control Suite tasks, e.g. task=dmc_walker_walk, dmc_ball_in_cup_catch.

Obs: each dm_control observation entry as a flat <float32>[D] vector (scalars
become [1]) when `proprio`, and 'image' <uint8>[H, W, 3] when `image`. Action:
'action' <float32>[A] with the bounds of the action spec. Episodes end by the
suite's time limit (discount 1: is_last only); discount 0 marks is_terminal.
"""

import functools
import os
import re
import sys
import warnings

import numpy as np

from dreamerv3_tf.core import base
from dreamerv3_tf.core import errors
from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.core.spaces import step_spaces
from dreamerv3_tf.envs.wrappers import TaskError
from dreamerv3_tf.envs.wrappers import UnknownTaskError

DEFAULT_CAMERAS = {'quadruped': 2}
ALIASES = {'cup': 'ball_in_cup'}  # Short names used by the official configs.
# The official code's domains of dm_control packages other than its suite (manipulation
# and the rodent of locomotion), which are not ported.
OFFICIAL_DOMAINS = {'manip': 'dm_control.manipulation', 'locom': 'dm_control.locomotion'}


def split_name(name, all_tasks):
  """'ball_in_cup_catch' -> ('ball_in_cup', 'catch'), using the suite's task list."""
  head, sep, rest = name.partition('_')
  given = name
  if head in ALIASES:
    name = ALIASES[head] + sep + rest
  for domain, task in all_tasks:
    if f'{domain}_{task}' == name:
      return domain, task
  what = f'dm_control suite has no task {given!r}'
  if head in OFFICIAL_DOMAINS:
    raise UnknownTaskError(
        f'{what}: {head} is a domain of the official DreamerV3 that is not ported here '
        f'({OFFICIAL_DOMAINS[head]}); wrap its env as your own, py_<module>:<function> '
        '(README, "Your own environment")')
  own = [f'{d}_{t}' for d, t in all_tasks if d == name]
  if own:  # the suite's close names were other domains' tasks too
    raise UnknownTaskError(f'{what}: it is a domain; give one of its tasks: {", ".join(own)}')
  raise UnknownTaskError.naming(
      'dm_control suite has no task', name, [f'{d}_{t}' for d, t in all_tasks])


# A task of a domain file of dm_control's suite, as dm_control 1.0 registers them.
_TASK_DEF = re.compile(r'^@SUITE\.add\([^)]*\)\n(?:@.*\n)*def (\w+)\(', re.M)


def suite_tasks(root=None):
  """-> the (domain, task) pairs of dm_control's suite in the order of its ALL_TASKS,
  read from the files of the package at `root` (the installed one) without importing it,
  or None where they cannot be read so. The import takes 0.7-1.1 s (MuJoCo, scipy) and
  picks a renderer: the config check reads the files (some 4 ms, once a process) to name
  an unknown task before TensorFlow loads. A suite that finds or registers them in
  another way is None, left to the env (tests/envs/test_dmc.py compares the two)."""
  return _installed_tasks() if root is None else _read_tasks(root)


@functools.lru_cache(maxsize=None)
def _installed_tasks():
  import importlib.util
  try:
    spec = importlib.util.find_spec('dm_control')  # (imports nothing of it)
  except (ImportError, ValueError):
    return None
  if spec is None or not spec.submodule_search_locations:
    return None
  return _read_tasks(list(spec.submodule_search_locations)[0])


def _read_tasks(root):
  """suite_tasks of the dm_control package at `root`."""
  import ast
  folder = os.path.join(root, 'suite')
  try:
    init = _read(os.path.join(folder, '__init__.py'))
    # Its domains: the modules it imports that hold a SUITE.
    if ("hasattr(module, 'SUITE')" not in init
        or 'ALL_TASKS = _get_tasks(tag=None)' not in init):
      return None
    modules = {}
    for node in ast.parse(init).body:
      if isinstance(node, ast.ImportFrom) and (
          node.level or (node.module or '').startswith('dm_control.suite.')):
        return None  # (a domain of a subpackage, not read)
      if isinstance(node, ast.ImportFrom) and node.module == 'dm_control.suite':
        modules.update((x.asname or x.name, x.name) for x in node.names)
    pairs = []
    for domain in sorted(modules):
      path = os.path.join(folder, modules[domain])
      tasks = _domain_tasks(_read(path + '.py' if os.path.isfile(path + '.py')
                                  else os.path.join(path, '__init__.py')))
      if tasks is None:
        return None
      pairs += [(domain, task) for task in tasks]
  except (OSError, SyntaxError, ValueError):  # (UnicodeDecodeError is a ValueError)
    return None
  return tuple(pairs) or None


def _read(path):
  with open(path, encoding='utf-8') as f:
    return f.read()


def _domain_tasks(text):
  """-> the tasks a module of the suite registers in order ([] for no domain), or None
  if it may register or hold others than by a top-level `@SUITE.add(...)` on a def."""
  uses = len(re.findall(r'\bSUITE\b', text))
  if re.search(r'^from .* import \*', text, re.M):
    return None  # its SUITE may come from there
  if not uses:
    return []
  tasks = _TASK_DEF.findall(text)
  if not re.search(r'^SUITE = ', text, re.M) or uses != 1 + len(tasks):
    return None
  return list(dict.fromkeys(tasks))


# dm_control's renderers (MUJOCO_GL values that load a library).
RENDERERS = ('glfw', 'egl', 'osmesa')


def _select_renderer(image):
  """Sets MUJOCO_GL before dm_control is imported: EGL only if images are rendered.

  Mesa's EGL and TensorFlow do not share a process on CPU machines: rendering
  segfaults, and even a loaded EGL backend aborts at exit. Envs therefore run in
  the driver's worker processes (run.parallel=True), which never import TensorFlow.
  """
  if not os.environ.get('MUJOCO_GL'):  # set but empty was dm_control's GLFW: 6 warnings
    os.environ.pop('MUJOCO_GL', None)
  no_display = not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))
  if not image:
    # Nothing renders, but dm_control loads the renderer a user's MUJOCO_GL names all
    # the same: GLFW without a display printed 2 lines of GLFWError per env ('The DISPLAY
    # environment variable is missing'), and EGL (Mesa and its LLVM) beside TensorFlow,
    # run.parallel=False, crashed XLA's first compile (a segfault, no line). A value that
    # names no renderer is left for _import_suite to refuse.
    if os.environ.get('MUJOCO_GL', 'glfw') in RENDERERS:
      os.environ['MUJOCO_GL'] = 'disable'
    return
  if os.environ.get('MUJOCO_GL', 'disable') in ('disable', 'disabled', 'off', 'false', '0'):
    os.environ['MUJOCO_GL'] = 'egl'
  if os.environ['MUJOCO_GL'] == 'glfw' and no_display:
    # Its first render failed as 'an OpenGL platform library has not been loaded',
    # after GLFW's warnings and dm_control's tracebacks at exit (15 lines per env).
    raise RuntimeError(
        'MUJOCO_GL=glfw renders in a window, and this process has no display (DISPLAY '
        'is not set); set MUJOCO_GL=egl (the default for images)')
  if os.environ['MUJOCO_GL'] == 'glfw':
    _check_glfw_starts()
  if 'tensorflow' in sys.modules:
    warnings.warn(
        'Rendering DMC images in a process that imported TensorFlow can crash '
        '(EGL and TF clash on CPU-only machines); use run.parallel=True.')


def _check_glfw_starts():
  """RuntimeError naming the display if GLFW cannot start on it (a DISPLAY of no
  reachable X server: a closed ssh -X session's). dm_control starts GLFW as it loads
  and warns (GLFWError, 4 lines an env), and the run stopped at the first render with
  'an OpenGL platform library has not been loaded', naming neither."""
  try:
    import glfw
  except Exception:  # noqa: BLE001 - missing or broken: _import_suite names it
    return
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')  # (also under PYTHONWARNINGS=error)
    try:
      started, said = glfw.init(), []
    except glfw.GLFWError as e:  # (raised, where glfw.ERROR_REPORTING says so)
      started, said = False, [e]
  if started:
    return  # dm_control's own glfw.init() is then a no-op
  # Each reads "(65550) b'X11: Failed to open display :99'".
  said = [str(w.message) for w in caught] + [str(e) for e in said]
  why = '; '.join(re.sub(r"^\(\d+\) b?'(.*)'$", r'\1', x) for x in said)
  shown = ', '.join(f'{k}={os.environ[k]!r}' for k in ('DISPLAY', 'WAYLAND_DISPLAY')
                    if os.environ.get(k))
  raise RuntimeError(
      f"MUJOCO_GL=glfw renders in a window, and GLFW could not start on this process's "
      f"display ({shown}: {why or 'glfw.init() failed'}); set MUJOCO_GL=egl (the default "
      'for images)')


def _import_suite():
  """dm_control.suite; a renderer it cannot load is named by its MUJOCO_GL (dm_control
  loads it on import: MUJOCO_GL=osmesa without libOSMesa failed as "'NoneType' object
  has no attribute 'glGetError'")."""
  try:
    from dm_control import suite
  except Exception as e:  # noqa: BLE001 - PyOpenGL fails with whatever it hits
    if isinstance(e, ImportError) and (e.name or '').startswith('dm_control'):
      raise  # dm_control itself is missing: its own message says so
    gl = os.environ.get('MUJOCO_GL', '')
    known = re.search(r'must be one of (\[.*?\])', str(e))
    if known:  # a value, not a renderer to install: said 'install it', exit code 1
      raise TaskError(
          f'MUJOCO_GL={gl!r} names no renderer of dm_control (it takes one of {known[1]}); '
          'set MUJOCO_GL=egl, the default for images, or unset it') from None
    platform = os.environ.get('PYOPENGL_PLATFORM')
    if platform and 'PYOPENGL_PLATFORM' in str(e):  # a value of the shell, not a library
      # (said 'install it, or set MUJOCO_GL=egl' where MUJOCO_GL was egl)
      raise TaskError(
          f'PYOPENGL_PLATFORM={platform!r} names another OpenGL platform than the renderer '
          f'MUJOCO_GL={gl}, and dm_control needs them to agree; unset PYOPENGL_PLATFORM, or '
          f'set it to {gl}') from None
    raise RuntimeError(
        f'dm_control could not load its renderer MUJOCO_GL={gl} '
        f'({type(e).__name__}: {errors.one_line(e)}); install it, or set MUJOCO_GL=egl '
        '(the default for images)') from e
  return suite


class DMC:
  """A dm_control suite task with action repeat and optional rendering."""

  def __init__(
      self, task, repeat=1, size=(64, 64), proprio=True, image=True, camera=-1,
      seed=None):
    _select_renderer(bool(image))
    suite = _import_suite()
    if not (proprio or image):
      raise ValueError('dmc needs proprio=True or image=True (or both)')
    if int(repeat) < 1:
      raise ValueError(f'dmc repeat must be >= 1, got {repeat}')
    domain, name = split_name(task, suite.ALL_TASKS)
    seed = None if seed is None else int(seed) % (2 ** 32)
    self._env = suite.load(domain, name, task_kwargs={'random': seed})
    self._repeat = int(repeat)
    self._size = tuple(int(x) for x in size)
    self._proprio = bool(proprio)
    self._image = bool(image)
    self._camera = DEFAULT_CAMERAS.get(domain, 0) if camera == -1 else int(camera)
    cameras = self._env.physics.model.ncam
    if self._image and not 0 <= self._camera < cameras:
      # Checked here, not at the first render: that failed as an env error (exit 1).
      raise TaskError(
          f'env.dmc.camera={camera}: dmc_{task} has {cameras} cameras; valid: -1 '
          f"(the domain's own) or 0 to {cameras - 1}")
    frame = self._env.physics.model.vis.global_  # the model's offscreen framebuffer
    if self._image and (self._size[0] > frame.offheight or self._size[1] > frame.offwidth):
      # MuJoCo refused it at the first render (exit 1, naming no key); (100000, 100000)
      # had its worker killed for memory (exit -9).
      raise TaskError(
          f'env.dmc.size={self._size}: dmc_{task} renders images of at most '
          f'{frame.offheight}x{frame.offwidth} (height x width, its model\'s offscreen '
          'framebuffer); give a size within it')
    self._keys = {}  # dm_control key -> our key, for non-empty entries.
    for key, spec in self._env.observation_spec().items():
      if int(np.prod(spec.shape)) == 0:
        continue
      ours = key.replace('/', '_')
      if ours in base.OBS_META_KEYS or ours == 'image':
        ours = f'obs_{ours}'
      self._keys[key] = (ours, max(1, int(np.prod(spec.shape))))
    spec = self._env.action_spec()
    self._act_dtype = spec.dtype
    self._act_space = Space(np.float32, spec.shape, spec.minimum, spec.maximum)
    self._done = True

  @property
  def obs_space(self):
    spaces = {}
    if self._proprio:
      for ours, size in self._keys.values():
        spaces[ours] = Space(np.float32, (size,))
    if self._image:
      spaces['image'] = Space(np.uint8, self._size + (3,))
    spaces.update(step_spaces())
    return spaces

  @property
  def act_space(self):
    return {'action': self._act_space, 'reset': Space(bool)}

  def step(self, action):
    if action.get('reset', False) or self._done:
      self._done = False
      time_step = self._env.reset()
      return self._obs(time_step, 0.0, is_first=True)
    act = np.asarray(action['action'], self._act_dtype)
    if not np.all(np.isfinite(act)):
      raise ValueError(f"dmc action: expected finite values, got {act.tolist()}")
    reward = 0.0
    for _ in range(self._repeat):
      time_step = self._env.step(act)
      reward += time_step.reward or 0.0
      if time_step.last():
        break
    self._done = time_step.last()
    terminal = time_step.last() and time_step.discount == 0
    return self._obs(time_step, reward, is_last=self._done, is_terminal=terminal)

  def render(self):
    """<uint8>[H, W, 3] from the task's camera."""
    return self._env.physics.render(*self._size, camera_id=self._camera)

  def close(self):
    self._env.close()

  def _obs(self, time_step, reward, is_first=False, is_last=False, is_terminal=False):
    obs = {}
    if self._proprio:
      for key, (ours, _) in self._keys.items():
        obs[ours] = np.asarray(time_step.observation[key], np.float32).reshape(-1)
    if self._image:
      # Only here: a render costs ~100x a physics step.
      obs['image'] = self.render()
    obs.update(
        reward=np.float32(reward), is_first=is_first, is_last=bool(is_last),
        is_terminal=bool(is_terminal))
    return obs
