"""Crafter (Hafner 2021): task=crafter_reward or crafter_noreward.

Obs 'image' <uint8>[H, W, 3]; 'log/reward' <float32>[] the game's reward even in
the noreward task; 'log/achievement_<name>' <int32>[] how often each of the 22
achievements was unlocked this episode. Action 'action' <int32>[] in [0, 17).
Episodes end at death (is_terminal) or after 10000 steps (is_last only).
"""

import numpy as np

from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.core.spaces import step_spaces
from dreamerv3_tf.envs.wrappers import UnknownTaskError

TASKS = ('reward', 'noreward')
# Crafter draws a 9-cell wide view with whole cells of >= 2 pixels.
MIN_SIZE = 18


class Crafter:

  def __init__(self, task, size=(64, 64), seed=None):
    if task not in TASKS:
      raise UnknownTaskError.naming('crafter has no task', task, TASKS)
    import crafter
    self._size = tuple(int(x) for x in size)  # (H, W)
    if len(self._size) != 2 or min(self._size) < MIN_SIZE:
      raise ValueError(f'crafter size must be (H, W) with both >= {MIN_SIZE}, got {size}')
    seed = None if seed is None else int(seed) % (2 ** 31)
    # crafter takes (width, height).
    self._env = crafter.Env(
        size=self._size[::-1], reward=(task == 'reward'), seed=seed)
    self._achievements = list(crafter.constants.achievements)
    self._done = True

  @property
  def obs_space(self):
    return {
        'image': Space(np.uint8, self._size + (3,)),
        **step_spaces(),
        'log/reward': Space(np.float32),
        **{f'log/achievement_{k}': Space(np.int32, (), 0) for k in self._achievements}}

  @property
  def act_space(self):
    return {
        'action': Space(np.int32, (), 0, int(self._env.action_space.n)),
        'reset': Space(bool)}

  def step(self, action):
    if action.get('reset', False) or self._done:
      self._done = False
      image = self._env.reset()
      return self._obs(image, 0.0, None, is_first=True)
    image, reward, done, info = self._env.step(int(action['action']))
    self._done = bool(done)
    return self._obs(
        image, reward, info, is_last=self._done,
        is_terminal=self._done and info['discount'] == 0)

  def close(self):
    pass

  def _obs(self, image, reward, info, is_first=False, is_last=False, is_terminal=False):
    obs = {
        'image': np.asarray(image, np.uint8), 'reward': np.float32(reward),
        'is_first': is_first, 'is_last': bool(is_last),
        'is_terminal': bool(is_terminal),
        'log/reward': np.float32(info['reward'] if info else 0.0)}
    counts = info['achievements'] if info else {}
    for key in self._achievements:
      obs[f'log/achievement_{key}'] = np.int32(counts.get(key, 0))
    return obs
