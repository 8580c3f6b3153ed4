"""Atari 2600 games through ale-py, with the DreamerV3 preprocessing.

task=atari_pong (config.env.atari) or atari100k_pong (config.env.atari100k).
Obs 'image' <uint8>[H, W, 1 if gray else 3]; action 'action' <int32>[] indexing
the full (18) or minimal action set. Per agent step: `repeat` frames with the
same action, the last `pooling` frames max- (or mean-) pooled, resized with PIL
bilinear, then optionally grayscaled. Resets add 0..noops random NOOP frames.
Episodes end at game over (is_terminal) or after `length` frames (is_last only;
the official marks that is_terminal too: README, 'Where we differ').
Lives: 'unused'; 'discount' marks a life loss is_terminal without ending the
episode; 'reset' ends the episode at a life loss. In eval mode lives are always
'unused' so eval scores cover whole games.
"""

import os
import threading

import numpy as np

from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.core.spaces import step_spaces
from dreamerv3_tf.envs.wrappers import TaskError
from dreamerv3_tf.envs.wrappers import UnknownTaskError

# ALE's ROM loading is not thread-safe (threaded drivers build envs in parallel).
_LOCK = threading.Lock()
# The official's weights (its blue is 1 - (0.299 + 0.587), 1e-16 off 0.114) summed in its
# order: the cast truncates, so either difference moved 3770 of the 2^24 colours a level.
_GRAY = np.array([0.299, 0.587, 1 - (0.299 + 0.587)])
ALIASES = {'james_bond': 'jamesbond'}
LENGTH = 108000  # frames of an episode at most: 30 minutes at 60 frames/s, as the official
# The options of ale-py's gymnasium envs and of gymnasium's AtariPreprocessing: ours.
OTHER_NAMES = {
    'frameskip': 'repeat', 'frame_skip': 'repeat', 'repeat_action_probability': 'sticky',
    'sticky_actions': 'sticky', 'full_action_space': 'actions', 'grayscale_obs': 'gray',
    'noop_max': 'noops', 'screen_size': 'size', 'terminal_on_life_loss': 'lives',
    'max_num_frames_per_episode': 'length'}
# Options of the official Atari env that are no choice here: why.
NO_OPTION = {'resize': "images are resized with PIL's bilinear filter, the official 'pillow'"}


def game_rom(name):
  """-> the path of the ROM of game `name` (or its alias), one that ale-py ships and plays
  or one of ALE_ROM_PATH it knows by MD5; else TaskError (UnknownTaskError for a game
  ale-py has no ROM of), one line. Imports ale_py (some 70 ms), loads no ROM: the config
  check calls it, so that a game of no ROM is named before the envs start."""
  import ale_py
  from ale_py import roms
  name = ALIASES.get(name, name)
  path = Atari._rom_path(name, roms)
  Atari._check_rom(path, name, ale_py, own=not os.environ.get('ALE_ROM_PATH'))
  return path


class Atari:
  """One ALE game; `step` follows the Env contract of dreamerv3_tf.core.base."""

  def __init__(
      self, name, repeat=4, size=(84, 84), gray=True, noops=0, lives='unused',
      sticky=True, actions='all', length=LENGTH, pooling=2, aggregate='max',
      clip_reward=False, autostart=False, seed=None, mode='train'):
    import ale_py
    if lives not in ('unused', 'discount', 'reset'):
      raise ValueError(f"atari lives must be unused|discount|reset, got {lives!r}")
    if actions not in ('all', 'needed'):
      raise ValueError(f"atari actions must be all|needed, got {actions!r}")
    if aggregate not in ('max', 'mean'):
      raise ValueError(f"atari aggregate must be max|mean, got {aggregate!r}")
    if not 1 <= int(pooling) <= int(repeat):
      raise ValueError(f'atari needs 1 <= pooling <= repeat, got {pooling}, {repeat}')
    if int(noops) < 0:  # else numpy's 'high <= 0' at the first reset
      raise ValueError(f'atari noops must be >= 0, got {noops}')
    if mode not in ('train', 'eval'):
      raise ValueError(f"atari mode must be train|eval, got {mode!r}")
    path = game_rom(name)
    self._repeat = int(repeat)
    self._size = tuple(int(x) for x in size)
    self._gray = bool(gray)
    self._noops = int(noops)
    self._lives = 'unused' if mode == 'eval' else lives
    self._length = int(length) if length else None
    self._pooling = int(pooling)
    self._aggregate = aggregate
    self._clip_reward = bool(clip_reward)
    self._autostart = bool(autostart)
    self._rng = np.random.default_rng(seed)
    # Static, and set before the first ALEInterface: that prints ALE's 2-line banner
    # on stderr at Info level, once per process.
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    self._ale = ale_py.ALEInterface()
    self._ale.setInt('random_seed', int(self._rng.integers(0, 2 ** 31)))
    # Settings take effect when the ROM is loaded, so set them before (the official sets
    # this one after: its game keeps ALE's default 0.25, test_atari measures ours).
    self._ale.setFloat('repeat_action_probability', 0.25 if sticky else 0.0)
    with _LOCK:
      self._ale.loadROM(path)
    if actions == 'all':
      self._actions = list(self._ale.getLegalActionSet())
    else:
      self._actions = list(self._ale.getMinimalActionSet())
    self._Action = ale_py.Action
    height, width = self._ale.getScreenDims()
    # Ring of the last `pooling` screens; index 0 is the newest.
    self._frames = [np.zeros((height, width, 3), np.uint8) for _ in range(self._pooling)]
    self._lives_left = 0
    self._frame_count = 0
    self._done = True

  @staticmethod
  def _rom_path(name, roms):
    import warnings
    folder = os.environ.get('ALE_ROM_PATH')
    if folder:  # it replaces ale-py's ROMs: a game missing there was 'ale-py has no game'
      path = os.path.join(folder, f'{name}.bin')
      what = ('is no directory' if not os.path.isdir(folder) else
              f'holds a directory {name}.bin, not a ROM file' if os.path.isdir(path) else
              f'holds no {name}.bin' if not os.path.isfile(path) else None)
      if what:
        raise TaskError(f"ALE_ROM_PATH={folder} {what}; while it is set, ROMs are read from "
                        f"there, not from ale-py's own: put {name}.bin there, or unset it")
      return path
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # get_rom_path warns before returning None.
      path = roms.get_rom_path(name)
    if not path or not os.path.exists(path):
      raise UnknownTaskError.naming('ale-py has no game', name, roms.get_all_rom_ids())
    return path

  @staticmethod
  def _check_rom(path, name, ale_py, own):
    """A ROM of the user's that ALE does not know by its MD5 is refused here: ALE
    would run it as `name` by its file name, and random bytes hang loadROM for good,
    an empty file ends in C++ error text. ale-py's own importer (ale-import-roms)
    admitted only ROMs of known MD5 too. ale-py also ships ROMs (`own`) of multi-player
    games (combat, joust, maze_craze, warlords) that its ALE does not play: loadROM
    ended the process with C++ text, exit code 1."""
    known = ale_py.ALEInterface.isSupportedROM(path)
    if known == name:
      return
    if own:
      raise TaskError(f'ale-py {ale_py.__version__} ships {name}.bin but plays no '
                      f'single-player game of it (loading it fails): pick another game')
    what = ('is empty' if os.path.getsize(path) == 0 else
            f'is the ROM of {known}, not of {name}' if known else
            f'is no ROM ale-py {ale_py.__version__} plays (it knows them by MD5)')
    raise TaskError(f'ALE_ROM_PATH file {path} {what}: put the ROM of {name} there '
                    'as ale-py ships it, or unset ALE_ROM_PATH')

  @property
  def obs_space(self):
    return {
        'image': Space(np.uint8, self._size + (1 if self._gray else 3,)),
        **step_spaces()}

  @property
  def act_space(self):
    return {
        'action': Space(np.int32, (), 0, len(self._actions)),
        'reset': Space(bool)}

  def step(self, action):
    if action.get('reset', False) or self._done:
      self._reset()
      self._done = False
      return self._obs(0.0, is_first=True)
    index = int(action['action'])
    if not 0 <= index < len(self._actions):
      raise ValueError(
          f'atari action: expected int in [0, {len(self._actions)}), got {index}')
    act = self._actions[index]
    reward, terminal, last = 0.0, False, False
    for i in range(self._repeat):
      reward += self._ale.act(act)
      self._frame_count += 1
      if i >= self._repeat - self._pooling:
        self._grab()
      if self._ale.game_over():
        terminal = last = True
      if self._length and self._frame_count >= self._length:
        last = True
      lives = self._ale.lives()
      if 0 < lives < self._lives_left and self._lives != 'unused':
        terminal = True
        last = last or self._lives == 'reset'
      self._lives_left = lives
      if terminal or last:
        break
    self._done = last
    return self._obs(reward, is_last=last, is_terminal=terminal)

  def close(self):
    # Freed now: an ALEInterface still alive when the interpreter exits makes
    # nanobind print some 20 lines of 'leaked instance' warnings on stderr.
    self._ale = None

  def _act_or_reset(self, act):
    self._ale.act(act)
    if self._ale.game_over():
      self._ale.reset_game()

  def _reset(self):
    self._ale.reset_game()
    for _ in range(int(self._rng.integers(self._noops + 1))):
      self._act_or_reset(self._Action.NOOP)
    if self._autostart and self._Action.FIRE in self._actions:
      self._act_or_reset(self._Action.FIRE)
      self._act_or_reset(self._Action.UP)
    self._grab()
    for frame in self._frames[1:]:
      np.copyto(frame, self._frames[0])
    self._lives_left = self._ale.lives()
    self._frame_count = 0

  def _grab(self):
    self._frames.insert(0, self._frames.pop())
    self._ale.getScreenRGB(self._frames[0])

  def _obs(self, reward, is_first=False, is_last=False, is_terminal=False):
    from PIL import Image
    if self._clip_reward:
      reward = np.sign(reward)
    if self._pooling == 1:
      image = self._frames[0]
    elif self._aggregate == 'max':
      image = np.max(self._frames, 0)
    else:
      image = np.mean(self._frames, 0).astype(np.uint8)
    image = Image.fromarray(image).resize(self._size[::-1], Image.BILINEAR)
    image = np.asarray(image)
    if self._gray:
      # Weighted, not a plain mean: red on green would otherwise vanish.
      weighted = image * _GRAY
      image = ((weighted[..., 0] + weighted[..., 1]) + weighted[..., 2])
      image = image.astype(np.uint8)[..., None]
    return {
        'image': image, 'reward': np.float32(reward), 'is_first': is_first,
        'is_last': bool(is_last), 'is_terminal': bool(is_terminal)}
