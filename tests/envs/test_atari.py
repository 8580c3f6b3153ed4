"""Atari through ale-py: spaces, preprocessing, seeding, episode flags."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('ale_py')

from configs import base  # noqa: E402
from dreamerv3_tf.envs import make_env  # noqa: E402
from dreamerv3_tf.envs.atari import Atari  # noqa: E402


def test_atari100k_pong_reset_and_steps():
  env = make_env('atari100k_pong', base.get_config().env, seed=0)
  assert env.obs_space['image'].shape == (64, 64, 3)
  assert env.act_space['action'].classes == 6  # The minimal action set.
  obs = env.step({'reset': True, 'action': np.int32(0)})
  assert obs['is_first'] and obs['reward'] == 0
  assert obs['image'].shape == (64, 64, 3) and obs['image'].dtype == np.uint8
  assert obs['image'].std() > 0
  for i in range(10):
    obs = env.step({'reset': False, 'action': np.int32(i % 6)})
    assert obs['image'].shape == (64, 64, 3) and not obs['is_last']


def test_atari_gray_full_action_set_and_config_sizes():
  c = base.get_config().env
  c.atari.size = (32, 40)
  env = make_env('atari_pong', c, seed=0)
  assert env.obs_space['image'].shape == (32, 40, 1)
  assert env.act_space['action'].classes == 18
  obs = env.step({'reset': True, 'action': np.int32(0)})
  assert obs['image'].shape == (32, 40, 1) and obs['image'].dtype == np.uint8


def test_gray_is_the_official_weighted_sum_truncated():
  """The official's gray: (image * [0.299, 0.587, 1 - (0.299 + 0.587)]).sum(-1) cast to
  uint8. Truncation moves a pixel one level for another blue weight (0.114 is 1e-16 off)
  or summation order: (0, 72, 24) is 45 there, 44 by `image @ [0.299, 0.587, 0.114]`."""
  env = Atari('pong', gray=True, size=(210, 160), noops=0, seed=0)
  pixels = np.random.default_rng(0).integers(0, 256, (210, 160, 3)).astype(np.uint8)
  pixels[0, 0] = (0, 72, 24)
  for frame in env._frames:  # both pooled frames: their max is `pixels`
    np.copyto(frame, pixels)
  image = env._obs(0.0)['image']  # (210, 160): PIL's resize keeps it as is
  weighted = pixels * np.array([0.299, 0.587, 1 - (0.299 + 0.587)])
  expected = weighted.sum(-1).astype(np.uint8)[..., None]
  assert image[0, 0, 0] == 45
  np.testing.assert_array_equal(image, expected)


def reference_screens(env, game, actions, sticky):
  """The screens of a bare ALE of `env`'s seed, per agent step those of each of its
  `env._repeat` frames. The sticky probability is set before the ROM loads: ALE reads it
  at loadROM (set after it, as the official code does, ALE keeps its default 0.25)."""
  import ale_py
  from dreamerv3_tf.envs.atari import game_rom
  ale = ale_py.ALEInterface()
  ale.setInt('random_seed', env._ale.getInt('random_seed'))
  ale.setFloat('repeat_action_probability', 0.25 if sticky else 0.0)
  ale.loadROM(game_rom(game))
  ale.reset_game()  # as the env's first step
  steps = [[ale.getScreenRGB()]]
  for index in actions:
    steps.append([])
    for _ in range(env._repeat):
      ale.act(env._actions[index])
      steps[-1].append(ale.getScreenRGB())
  return steps


@pytest.mark.parametrize('sticky', [False, True])
def test_each_image_is_the_max_of_the_last_two_frames_of_its_repeat(sticky):
  """The official rule: `repeat` frames per step, the image the pixelwise max of the last
  two; the reset step's image is its one screen. At the screen's size PIL's resize keeps
  the image, so it is compared exactly."""
  env = Atari('breakout', size=(210, 160), gray=False, noops=0, actions='needed',
              sticky=sticky, seed=3)
  actions = np.random.default_rng(0).integers(0, len(env._actions), 25)
  images = [env.step({'reset': True})['image']]
  images += [env.step({'reset': False, 'action': a})['image'] for a in actions]
  steps = reference_screens(env, 'breakout', actions, sticky)
  np.testing.assert_array_equal(images[0], steps[0][0])
  for image, frames in zip(images[1:], steps[1:]):
    np.testing.assert_array_equal(image, np.maximum(frames[-1], frames[-2]))


@pytest.mark.parametrize('suite', ['atari', 'atari100k'])
def test_images_follow_the_official_pipeline_at_the_configs_sizes(suite):
  """The official order: max of the last two frames, PIL bilinear resize of the RGB
  image to the config's size, then (atari) the weighted gray cast to uint8."""
  from PIL import Image
  options = dict(base.get_config().env[suite], noops=0)  # (the reference plays none)
  env = Atari('breakout', **options, seed=4)
  actions = np.random.default_rng(1).integers(0, len(env._actions), 12)
  images = [env.step({'reset': True})['image']]
  images += [env.step({'reset': False, 'action': a})['image'] for a in actions]
  steps = reference_screens(env, 'breakout', actions, options['sticky'])
  for image, frames in zip(images, steps):
    pooled = np.maximum(frames[-1], frames[-2]) if len(frames) > 1 else frames[0]
    expected = np.asarray(Image.fromarray(pooled).resize(options['size'], Image.BILINEAR))
    if options['gray']:
      weighted = expected * np.array([0.299, 0.587, 1 - (0.299 + 0.587)])
      expected = weighted.sum(-1).astype(np.uint8)[..., None]
    np.testing.assert_array_equal(image, expected)


def test_reset_plays_the_officials_noops_of_the_same_seed():
  """The official draws from default_rng(seed) the ALE's seed, integers(0, 2 ** 31), then
  at each reset integers(noops + 1) NOOP frames: a seed plays the same starts."""
  import ale_py
  from dreamerv3_tf.envs.atari import game_rom
  env = Atari('freeway', size=(210, 160), gray=False, noops=30, sticky=False, seed=9)
  rng = np.random.default_rng(9)
  ale = ale_py.ALEInterface()
  ale.setInt('random_seed', int(rng.integers(0, 2 ** 31)))
  ale.setFloat('repeat_action_probability', 0.0)
  ale.loadROM(game_rom('freeway'))  # (its screen changes every NOOP frame)
  for _ in range(3):
    ale.reset_game()
    for _ in range(rng.integers(31)):
      ale.act(ale_py.Action.NOOP)
    np.testing.assert_array_equal(env.step({'reset': True})['image'], ale.getScreenRGB())


def test_sticky_actions_take_effect():
  """sticky=True plays other frames than sticky=False of the same seed: the probability
  reached the game (ALE's getFloat reports the setting even where the game ignores it)."""
  def images(sticky):
    env = Atari('breakout', size=(210, 160), gray=False, noops=0, actions='needed',
                sticky=sticky, seed=3)
    env.step({'reset': True})
    return np.stack([env.step({'reset': False, 'action': i % 4})['image']
                     for i in range(25)])
  assert not np.array_equal(images(True), images(False))


def test_same_seed_same_frames():
  def frames(seed):
    env = Atari('pong', size=(16, 16), gray=False, actions='needed', noops=30,
                sticky=False, seed=seed)
    obs = [env.step({'reset': True})]
    obs += [env.step({'reset': False, 'action': 2}) for _ in range(30)]
    return np.stack([o['image'] for o in obs])
  np.testing.assert_array_equal(frames(5), frames(5))


def test_frame_limit_sets_last_not_terminal():
  env = Atari('pong', size=(16, 16), repeat=4, length=20, noops=0, seed=0)
  env.step({'reset': True})
  flags = [env.step({'reset': False, 'action': 0}) for _ in range(5)]
  assert [o['is_last'] for o in flags] == [False] * 4 + [True]
  assert not flags[-1]['is_terminal']
  assert env.step({'reset': False, 'action': 0})['is_first']


@pytest.mark.parametrize('mode, lives, last_at_life_loss', [
    ('train', 'reset', True), ('train', 'discount', False),
    ('eval', 'reset', None)])
def test_lives(mode, lives, last_at_life_loss):
  # Breakout: FIRE launches the ball, the unmoved paddle soon misses it.
  env = Atari('breakout', size=(16, 16), lives=lives, actions='needed', noops=0,
              seed=0, mode=mode)
  env.step({'reset': True})
  for _ in range(2000):
    obs = env.step({'reset': False, 'action': 1})
    if obs['is_terminal'] or obs['is_last']:
      break
  if last_at_life_loss is None:  # Eval ignores lives: the whole game is played.
    assert obs['is_last'] and obs['is_terminal'] and env._ale.game_over()
  else:
    assert obs['is_terminal'] and not env._ale.game_over()
    assert bool(obs['is_last']) == last_at_life_loss


def test_a_life_lost_under_discount_passes_the_env_checks():
  """lives='discount' marks a lost life is_terminal without is_last, and the game goes
  on (as the official's, which marks nothing: its is_terminal is is_last): the wrapper
  chain's checks take it."""
  c = base.get_config().env
  c.atari.update(lives='discount', actions='needed', noops=0, size=(16, 16))
  env = make_env('atari_breakout', c, seed=0)
  env.step({'reset': True, 'action': np.int32(0)})
  for _ in range(2000):
    obs = env.step({'reset': False, 'action': np.int32(1)})
    if obs['is_terminal'] or obs['is_last']:
      break
  assert obs['is_terminal'] and not obs['is_last']
  assert not env.step({'reset': False, 'action': np.int32(1)})['is_first']


def test_sticky_actions_are_set():
  assert Atari('pong', sticky=True)._ale.getFloat('repeat_action_probability') == 0.25
  assert Atari('pong', sticky=False)._ale.getFloat('repeat_action_probability') == 0.0


def test_options_validated_and_unknown_game():
  with pytest.raises(ValueError, match='lives'):
    Atari('pong', lives='sometimes')
  with pytest.raises(ValueError, match='pooling'):
    Atari('pong', repeat=1, pooling=2)
  with pytest.raises(ValueError, match='atari noops must be >= 0, got -5'):
    Atari('pong', noops=-5)  # was numpy's 'high <= 0' at the first step
  with pytest.raises(ValueError, match=r"Unknown task 'atari_notagame'.*Valid suites"):
    make_env('atari_notagame', base.get_config().env, seed=0)
  env = Atari('pong', actions='needed', seed=0)
  env.step({'reset': True})
  with pytest.raises(ValueError, match=r'expected int in \[0, 6\), got 6'):
    env.step({'reset': False, 'action': 6})


@pytest.mark.parametrize('where', ['missing', 'empty_folder', 'a_file'])
def test_an_ale_rom_path_without_the_rom_is_named(tmp_path, monkeypatch, where):
  """It was "Unknown task 'atari_pong': ale-py has no game 'pong'; did you mean 'pong'
  ...?": ale-py has it, but ALE_ROM_PATH replaces ale-py's own ROMs."""
  from dreamerv3_tf.envs.wrappers import TaskError
  folder = tmp_path / where
  if where == 'empty_folder':
    folder.mkdir()
  elif where == 'a_file':
    folder.write_text('')
  monkeypatch.setenv('ALE_ROM_PATH', str(folder))
  what = 'is no directory' if where != 'empty_folder' else 'holds no pong.bin'
  with pytest.raises(TaskError) as error:
    Atari('pong')
  assert str(error.value) == (
      f"ALE_ROM_PATH={folder} {what}; while it is set, ROMs are read from there, not from "
      "ale-py's own: put pong.bin there, or unset it")
  assert error.value.exit_code == 2


@pytest.fixture
def no_load(monkeypatch):
  """ALE's loadROM fails the test: the ROMs these tests give it hang it for good or end
  the process (pytest's with it), should the check before it miss them."""
  import ale_py

  def load(self, path):
    raise AssertionError(f'loadROM({path}) was reached')
  monkeypatch.setattr(ale_py.ALEInterface, 'loadROM', load)


@pytest.mark.parametrize('content, what', [
    (bytes(range(256)) * 8, 'is no ROM ale-py {version} plays (it knows them by MD5)'),
    (b'', 'is empty'),
    ('breakout', 'is the ROM of breakout, not of pong')], ids=['junk', 'empty', 'breakout'])
def test_a_junk_rom_under_ale_rom_path_is_named(
    tmp_path, monkeypatch, no_load, content, what):
  """ALE runs a ROM of unknown MD5 as the game its file name says: junk bytes hung
  loadROM for good, an empty file ended in ALE's C++ error text (3 lines), another
  game's ROM was played as pong."""
  import ale_py
  from ale_py import roms
  from dreamerv3_tf.envs.wrappers import TaskError
  path = tmp_path / 'pong.bin'
  path.write_bytes(content if isinstance(content, bytes) else
                   open(roms.get_rom_path(content), 'rb').read())
  monkeypatch.setenv('ALE_ROM_PATH', str(tmp_path))
  with pytest.raises(TaskError) as error:
    Atari('pong')
  assert str(error.value) == (
      f'ALE_ROM_PATH file {path} {what.format(version=ale_py.__version__)}: put the '
      'ROM of pong there as ale-py ships it, or unset ALE_ROM_PATH')


def test_a_game_ale_py_ships_but_does_not_play_is_named(no_load):
  """atari_combat (and joust, maze_craze, warlords: multi-player ROMs) ended the process
  inside ALE ('Attempt to wrap ROM ... failed', 6 lines), exit code 1."""
  import ale_py
  from dreamerv3_tf.envs.wrappers import TaskError
  with pytest.raises(TaskError) as error:
    make_env('atari_combat', base.get_config().env, seed=0)
  assert str(error.value) == (
      f'ale-py {ale_py.__version__} ships combat.bin but plays no single-player game of it '
      '(loading it fails): pick another game')


def test_a_rom_of_ale_py_under_ale_rom_path_plays(tmp_path, monkeypatch):
  from ale_py import roms
  (tmp_path / 'pong.bin').write_bytes(open(roms.get_rom_path('pong'), 'rb').read())
  monkeypatch.setenv('ALE_ROM_PATH', str(tmp_path))
  assert Atari('pong', size=(16, 16)).step({'reset': True})['is_first']


def test_a_directory_named_as_the_rom_is_named(tmp_path, monkeypatch):
  """It was 'holds no pong.bin', with a pong.bin there."""
  from dreamerv3_tf.envs.wrappers import TaskError
  (tmp_path / 'pong.bin').mkdir()
  monkeypatch.setenv('ALE_ROM_PATH', str(tmp_path))
  with pytest.raises(TaskError, match=r' holds a directory pong\.bin, not a ROM file; '):
    Atari('pong')


def test_an_atari_run_says_nothing_on_stderr(tmp_path):
  """ALE's banner ('A.L.E: Arcade Learning Environment ...', 2 lines) came with the
  first env of every process, and the envs of a run in this process (atari100k's
  default) made nanobind print some 20 lines of 'leaked instance' warnings at its
  exit, after everything was saved."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run(
      [sys.executable, '-m', 'dreamerv3_tf.main', '--config=configs/atari100k.py:train,debug',
       f'--logdir={tmp_path}/run', '--config.random_agent=True', '--config.run.steps=20',
       '--config.run.envs=1', '--config.logger.outputs=jsonl'],
      cwd=root, env={k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'},
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0 and result.stderr == '', result.stderr[-3000:]
