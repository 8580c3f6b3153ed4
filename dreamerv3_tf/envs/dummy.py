"""Fast, learnable toy envs for tests: hit the target the observation shows.

Tasks (`dummy_<name>`):
  disc      4 discrete actions; obs 'vector' <float32>[4] one-hot target and
            'image' <uint8>[H, W, 3] with the target's quadrant lit.
  cont      'action' <float32>[2] in [-1, 1]; obs 'vector' <float32>[4] =
            (target_x, target_y, time fraction, 1) and 'image' with a patch at
            the target position.
  *_vec     vector obs only;  *_img  image obs only.
Every task also emits 'log/hits' <int32>[], the episode's rewarded steps so far,
a logging-only key like those of real suites (the agent and replay ignore it).
Reward for an action is computed against the target of the observation the
agent saw when choosing it: disc 1 if hit else 0; cont clip(1 - mean|a - t|, 0, 1).
Episodes last `length` agent steps and end by time limit (is_terminal False).
"""

import numpy as np

from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.core.spaces import step_spaces
from dreamerv3_tf.envs.wrappers import UnknownTaskError

TASKS = ('disc', 'disc_vec', 'disc_img', 'cont', 'cont_vec', 'cont_img')
MIN_SIZE = 2  # the image's quadrants show the disc target


class Dummy:
  """Deterministic given `seed` and the actions taken."""

  def __init__(self, task, length=100, size=(64, 64), seed=0):
    if task not in TASKS:
      raise UnknownTaskError.naming('dummy has no task', task, TASKS)
    kind, _, obs = task.partition('_')
    self._disc = kind == 'disc'
    self._vector = obs in ('', 'vec')
    self._image = obs in ('', 'img')
    self._length = int(length)
    if self._length < 1:
      raise ValueError(f'dummy length must be >= 1, got {length}')
    self._size = tuple(int(x) for x in size)
    if len(self._size) != 2 or min(self._size) < MIN_SIZE:
      raise ValueError(f'dummy size must be (H, W) with H, W >= {MIN_SIZE}, got {size}')
    self._rng = np.random.default_rng(seed)
    self._target = None
    self._count = 0
    self._hits = 0
    self._done = True

  @property
  def obs_space(self):
    spaces = {}
    if self._vector:
      spaces['vector'] = Space(np.float32, (4,), -1.0, 1.0)
    if self._image:
      spaces['image'] = Space(np.uint8, self._size + (3,))
    spaces.update(step_spaces())
    spaces['log/hits'] = Space(np.int32, (), 0)
    return spaces

  @property
  def act_space(self):
    if self._disc:
      action = Space(np.int32, (), 0, 4)
    else:
      action = Space(np.float32, (2,), -1.0, 1.0)
    return {'action': action, 'reset': Space(bool)}

  def step(self, action):
    if action.get('reset', False) or self._done:
      self._count = 0
      self._done = False
      self._new_target()
      return self._obs(0.0, is_first=True)
    act = action['action']
    if self._disc:
      reward = float(int(act) == self._target)
    else:
      error = np.abs(np.asarray(act, np.float64) - self._target).mean()
      reward = float(np.clip(1.0 - error, 0.0, 1.0))
    self._count += 1
    self._done = self._count >= self._length
    self._new_target()
    return self._obs(reward, is_last=self._done)

  def close(self):
    pass

  def get_state(self):
    target = self._target
    if target is not None and not self._disc:
      target = [float(x) for x in target]
    return {'rng': self._rng.bit_generator.state, 'target': target,
            'count': self._count, 'hits': self._hits, 'done': self._done}

  def set_state(self, state):
    self._rng.bit_generator.state = state['rng']
    target = state['target']
    self._target = np.asarray(target) if target is not None and not self._disc else target
    self._count, self._done = int(state['count']), bool(state['done'])
    self._hits = int(state['hits'])

  def _new_target(self):
    if self._disc:
      self._target = int(self._rng.integers(4))
    else:
      self._target = self._rng.uniform(-1, 1, 2)

  def _obs(self, reward, is_first=False, is_last=False):
    obs = {}
    if self._vector:
      vector = np.zeros(4, np.float32)
      if self._disc:
        vector[self._target] = 1.0
      else:
        vector[:2] = self._target
        vector[2] = self._count / self._length
        vector[3] = 1.0
      obs['vector'] = vector
    if self._image:
      obs['image'] = self._render()
    self._hits = 0 if is_first else self._hits + int(reward > 0)
    obs.update(
        reward=np.float32(reward), is_first=is_first, is_last=is_last,
        is_terminal=False, **{'log/hits': np.int32(self._hits)})
    return obs

  def _render(self):
    H, W = self._size
    image = np.zeros((H, W, 3), np.uint8)
    if self._disc:
      row, col = divmod(self._target, 2)
      h, w = H // 2, W // 2
      image[row * h:(row + 1) * h, col * w:(col + 1) * w] = 255
    else:
      p = max(1, min(H, W) // 8)
      col = int(round((self._target[0] + 1) / 2 * (W - p)))
      row = int(round((self._target[1] + 1) / 2 * (H - p)))
      image[row:row + p, col:col + p] = 255
    return image
