"""Wrapper chain behaviour and the errors it raises for misbehaving envs."""

import copy

import numpy as np
import pytest

from dreamerv3_tf.core.spaces import Space
from dreamerv3_tf.envs import wrappers


class FakeEnv:
  """Configurable env: returns `obs_fn(count)` and records the actions it got."""

  def __init__(self, obs_space=None, act_space=None, obs_fn=None, length=5):
    self.obs_space = obs_space or {
        'image': Space(np.uint8, (8, 8, 3)),
        'vector': Space(np.float32, (3,)),
        'token': Space(np.int32, (), 0, 5),
        'reward': Space(np.float32), 'is_first': Space(bool),
        'is_last': Space(bool), 'is_terminal': Space(bool)}
    self.act_space = act_space or {
        'action': Space(np.float32, (2,), -1.0, 1.0), 'reset': Space(bool)}
    self.obs_fn = obs_fn or (lambda count: {})
    self.length = length
    self.actions = []
    self.count = 0
    self.closed = False

  def step(self, action):
    self.actions.append(action)
    if action['reset']:
      self.count = 0
    else:
      self.count += 1
    obs = {
        'image': np.zeros((8, 8, 3), np.uint8),
        'vector': np.zeros(3, np.float32),
        'token': np.int32(1),
        'reward': np.float32(0.0 if action['reset'] else 1.0),
        'is_first': bool(action['reset']),
        'is_last': self.count >= self.length,
        'is_terminal': False}
    obs.update(self.obs_fn(self.count))
    return obs

  def close(self):
    self.closed = True


def checked(env):
  return wrappers.CheckSpaces(env)


def act(value=(0.0, 0.0), reset=False):
  return {'action': np.asarray(value, np.float32), 'reset': reset}


def test_check_spaces_accepts_good_env():
  env = checked(FakeEnv())
  obs = env.step(act(reset=True))
  assert obs['is_first'] and obs['reward'] == 0
  obs = env.step(act())
  assert obs['reward'] == 1.0


@pytest.mark.parametrize('obs_fn, message', [
    (lambda c: {'image': np.zeros((8, 8, 3), np.float32)},
     "Env obs 'image': expected uint8[8, 8, 3], got float32[8, 8, 3]"),
    (lambda c: {'vector': np.zeros(3, np.float64)},
     "Env obs 'vector': expected float32[3], got float64[3]"),
    (lambda c: {'vector': np.zeros((1, 3), np.float32)},
     "Env obs 'vector': expected float32[3], got float32[1, 3]"),
    (lambda c: {'token': np.int32(5)},
     "Env obs 'token': expected int32[] in [0, 5), got values in [5, 5]"),
    (lambda c: {'vector': np.array([0, np.nan, 0], np.float32)},
     "Env obs 'vector': expected finite float32[3], got 1 non-finite (nan)"),
    (lambda c: {'extra': np.zeros(2)},
     "Env obs has keys not in obs_space: ['extra'] (extra=float64[2])"),
    (lambda c: {'vector': None},
     "Env obs 'vector': expected float32[3], got NoneType"),
])
def test_check_spaces_names_key_expected_and_actual(obs_fn, message):
  env = checked(FakeEnv(obs_fn=obs_fn))
  with pytest.raises(ValueError) as info:
    env.step(act(reset=True))
  assert str(info.value) == message
  assert '\n' not in str(info.value)


def test_check_spaces_missing_obs_key():
  class Missing(FakeEnv):
    def step(self, action):
      obs = super().step(action)
      del obs['token']
      return obs
  with pytest.raises(ValueError, match=r"missing the key 'token' \(int32\[\]\)"):
    checked(Missing()).step(act(reset=True))


def test_check_spaces_reset_contract():
  env = checked(FakeEnv(obs_fn=lambda c: {'is_first': False}))
  with pytest.raises(ValueError, match="'is_first': expected True after a reset"):
    env.step(act(reset=True))
  env = checked(FakeEnv(obs_fn=lambda c: {'reward': np.float32(1)}))
  with pytest.raises(ValueError, match="'reward': expected 0 on is_first"):
    env.step(act(reset=True))


def test_check_spaces_episode_flags_contract():
  """is_first mid-episode was taken silently: the agent reset its carry, and the
  replay kept two episodes as one. A terminal step without is_last passes: Atari's
  lives='discount' marks a lost life so, and the game goes on."""
  env = checked(FakeEnv(obs_fn=lambda c: {'is_terminal': c == 2}))
  env.step(act(reset=True))
  env.step(act())
  assert env.step(act())['is_terminal']
  env = checked(FakeEnv(obs_fn=lambda c: {'is_first': c != 1, 'reward': np.float32(0)}))
  env.step(act(reset=True))  # steps 0 (reset), 1, 2
  env.step(act())
  with pytest.raises(wrappers.EnvSpaceError, match=(
      r"^Env obs 'is_first': True mid-episode, without a reset action and not after "
      r"is_last; an episode starts only on a reset action or after an is_last step$")):
    env.step(act())


def test_check_spaces_takes_a_new_episode_without_reset_after_is_last():
  """Envs that restart on their own after is_last (and TimeLimit, below the check,
  which resets then) start the next episode on an action without reset."""
  class Restarts(FakeEnv):
    def step(self, action):
      obs = super().step(action)
      if self.count > self.length or self.count == 1 and len(self.actions) == 1:
        self.count = 0  # the step after is_last, or the first: a new episode
        obs.update(is_first=True, is_last=False, reward=np.float32(0))
      return obs
  env = checked(Restarts(length=2))
  assert env.step(act())['is_first']  # the first step, without reset, too
  firsts = [bool(env.step(act())['is_first']) for _ in range(6)]
  assert firsts == [False, False, True, False, False, True]


@pytest.mark.parametrize('returned', [[{}], None], ids=['list', 'none'])
def test_an_obs_that_is_no_dict_is_named_through_the_whole_chain(returned):
  """A step-dict env whose step() returned a list or None: the wrappers before the
  check read it as a dict, 'raised AttributeError: 'list' object has no attribute
  'items'' (or 'NoneType' object is not subscriptable, with env.time_limit)."""
  class NoDict(FakeEnv):
    def step(self, action):
      return super().step(action) if action['reset'] else returned
  env = checked(wrappers.UnifyDtypes(wrappers.TimeLimit(NoDict(), 3)))
  env.step(act(reset=True))
  with pytest.raises(ValueError) as info:
    env.step(act())
  assert str(info.value) == f'Env obs: expected a dict, got {type(returned).__name__}'


def test_check_spaces_validates_actions():
  env = checked(FakeEnv())
  env.step(act(reset=True))
  with pytest.raises(ValueError, match=r"'action': expected float32\[2\], got float32\[3\]"):
    env.step(act((0, 0, 0)))
  with pytest.raises(ValueError, match=r"'action': expected float32\[2\] in \[-1.0, 1.0\]"):
    env.step(act((0, 1.5)))
  with pytest.raises(ValueError, match="missing the key 'reset'"):
    env.step({'action': np.zeros(2, np.float32)})
  with pytest.raises(ValueError, match="unexpected keys"):
    env.step({**act(), 'other': 1})
  # float64 of the right shape is accepted for a float space (same kind).
  env.step(act((0.5, -0.5)) | {'action': np.array([0.5, -0.5])})
  # On reset steps the action values are ignored, so they are not checked.
  env.step({'reset': True})
  disc = checked(FakeEnv(act_space={
      'action': Space(np.int32, (), 0, 4), 'reset': Space(bool)}))
  disc.step({'action': np.int32(0), 'reset': True})
  disc.step({'action': 3, 'reset': False})
  with pytest.raises(ValueError, match=r"expected int32\[\], got float32\[\]"):
    disc.step({'action': np.float32(1), 'reset': False})
  with pytest.raises(ValueError, match=r"expected int32\[\] in \[0, 4\)"):
    disc.step({'action': np.int32(4), 'reset': False})


def test_check_spaces_rejects_bad_space_dicts():
  env = FakeEnv()
  del env.obs_space['is_terminal']
  with pytest.raises(ValueError, match="lacks the key 'is_terminal'"):
    checked(env)
  env = FakeEnv()
  env.act_space['vector'] = Space(np.float32, (3,))
  with pytest.raises(ValueError, match="share keys"):
    checked(env)
  # Only what the agent does not see: it failed as the encoder's 'unexpected' error.
  env = FakeEnv()
  env.obs_space = {k: v for k, v in env.obs_space.items()
                   if k in ('reward', 'is_first', 'is_last', 'is_terminal')}
  env.obs_space['log/x'] = Space(np.float32)
  with pytest.raises(ValueError, match=r"no observation for the agent, only \['is_first', "
                     r"'is_last', 'is_terminal', 'log/x', 'reward'\]"):
    checked(env)
  env = FakeEnv()
  env.act_space = {'reset': Space(bool)}
  with pytest.raises(ValueError, match="act_space has no action, only 'reset'"):
    checked(env)


def test_unify_dtypes_fixes_dtypes_both_ways():
  obs_space = {
      'image': Space(np.uint8, (8, 8, 3)),
      'vector': Space(np.float64, (3,)),
      'token': Space(np.int64, (), 0, 5),
      'reward': Space(np.float64), 'is_first': Space(bool),
      'is_last': Space(bool), 'is_terminal': Space(bool)}
  act_space = {'action': Space(np.float64, (2,), -1, 1), 'index': Space(np.int64, ()),
               'reset': Space(bool)}
  inner = FakeEnv(obs_space, act_space, obs_fn=lambda c: {
      'vector': np.ones(3, np.float64), 'token': np.int64(2),
      'reward': 0.0 if c == 0 else 1.5})
  env = wrappers.UnifyDtypes(inner)
  assert env.obs_space['vector'].dtype == np.float32
  assert env.obs_space['token'] == Space(np.int32, (), 0, 5)
  assert env.obs_space['image'].dtype == np.uint8
  assert env.obs_space['reward'].dtype == np.float32
  # Unbounded int64 bounds are clipped into int32's range, not wrapped around.
  assert env.act_space['index'].low == np.iinfo(np.int32).min
  assert env.act_space['index'].high == np.iinfo(np.int32).max
  env = checked(env)  # The fixed env passes the checks.
  env.step({'action': np.zeros(2, np.float32), 'index': np.int32(0), 'reset': True})
  obs = env.step({'action': np.full(2, 0.5, np.float32), 'index': np.int32(3),
                  'reset': False})
  assert obs['vector'].dtype == np.float32 and obs['token'].dtype == np.int32
  assert obs['reward'].dtype == np.float32 and obs['reward'] == 1.5
  assert obs['is_first'].dtype == bool and obs['image'].dtype == np.uint8
  # Actions reach the env in its own dtypes.
  assert inner.actions[-1]['action'].dtype == np.float64
  assert inner.actions[-1]['index'].dtype == np.int64


def test_unify_dtypes_makes_uint8_actions_int32_and_sends_them_back_as_uint8():
  """The policy emits int32 for every discrete action: a uint8 one (a step-dict env's
  Space(np.uint8, (), 0, 4)) ran until its first report, which stopped the run with
  'ValueError: report batch['action']: expected dtype uint8, got int32 (unexpected ...)'
  after the logdir was written."""
  inner = FakeEnv(act_space={'action': Space(np.uint8, (), 0, 4), 'reset': Space(bool)})
  env = wrappers.UnifyDtypes(inner)
  assert env.act_space['action'] == Space(np.int32, (), 0, 4)
  assert env.obs_space['image'].dtype == np.uint8  # images stay uint8
  env = checked(env)
  env.step({'action': np.int32(0), 'reset': True})
  env.step({'action': np.int32(3), 'reset': False})
  assert inner.actions[-1]['action'].dtype == np.uint8 and inner.actions[-1]['action'] == 3


def test_unify_dtypes_does_not_hide_wrong_shapes():
  env = checked(wrappers.UnifyDtypes(FakeEnv(
      obs_fn=lambda c: {'image': np.zeros((8, 8), np.uint8)})))
  with pytest.raises(ValueError, match=r"expected uint8\[8, 8, 3\], got uint8\[8, 8\]"):
    env.step(act(reset=True))


@pytest.mark.parametrize('obs, message', [
    # Floats would be truncated (and wrap) into a uint8 image or an int token.
    ({'image': np.full((8, 8, 3), 0.5, np.float32)},
     "'image': expected uint8[8, 8, 3], got float32[8, 8, 3]"),
    ({'token': np.float64(1.0)}, "'token': expected int32[], got float64[]"),
    # Integers that do not fit would wrap around.
    ({'image': np.full((8, 8, 3), 300, np.int64)},
     "'image': expected uint8[8, 8, 3], got int64[8, 8, 3]"),
    # A flag is a bool, not a number.
    ({'is_last': np.int64(1)}, "'is_last': expected bool[], got int64[]"),
    ({'reward': True}, "'reward': expected float32[], got bool[]"),
    # A float64 beyond float32 became inf: a numpy RuntimeWarning line, and an inf named
    # that the env never returned.
    ({'vector': np.array([1e39, 0.0, 0.0])},
     "'vector': expected finite float32[3], got 1e+39 (beyond float32)"),
])
def test_unify_dtypes_does_not_hide_wrong_dtypes(obs, message):
  env = checked(wrappers.UnifyDtypes(FakeEnv(obs_fn=lambda c: dict(obs))))
  with pytest.raises(ValueError) as info:
    env.step(act(reset=True))
  assert str(info.value) == f'Env obs {message}'
  # Kinds that fit are still converted: float64 -> float32, small int64 -> uint8.
  fine = checked(wrappers.UnifyDtypes(FakeEnv(obs_fn=lambda c: {
      'vector': np.ones(3), 'image': np.full((8, 8, 3), 255, np.int64), 'reward': 0})))
  obs = fine.step(act(reset=True))
  assert obs['vector'].dtype == np.float32 and obs['image'].dtype == np.uint8


def test_normalize_action_maps_to_bounds():
  inner = FakeEnv(act_space={
      'action': Space(np.float64, (3,), [0, -2, -np.inf], [10, 2, np.inf]),
      'reset': Space(bool)})
  env = wrappers.NormalizeAction(inner)
  space = env.act_space['action']
  assert space.dtype == np.float32
  np.testing.assert_array_equal(space.low, [-1, -1, -np.inf])
  np.testing.assert_array_equal(space.high, [1, 1, np.inf])
  for value, expected in [((-1, -1, 5), (0, -2, 5)), ((1, 1, -7), (10, 2, -7)),
                          ((0, 0.5, 0), (5, 1, 0))]:
    env.step({'action': np.asarray(value, np.float32), 'reset': False})
    sent = inner.actions[-1]['action']
    assert sent.dtype == np.float64
    np.testing.assert_allclose(sent, expected, rtol=1e-6)


def test_normalize_action_keeps_half_bounded_dims_in_their_bound():
  """Box(low=0, high=inf) was [0, inf] to the agent, whose policy acts in [-1, 1]: its
  -0.5 stopped the run ("action 'action': expected float32[2] in [[0.0, -inf], [inf,
  5.0]], got values in ..."), blaming the env. NormalizeAction itself clips too."""
  inner = FakeEnv(act_space={
      'action': Space(np.float32, (2,), [0, -np.inf], [np.inf, 5]), 'reset': Space(bool)})
  env = checked(wrappers.NormalizeAction(inner))
  np.testing.assert_array_equal(env.act_space['action'].low, (-1, -1))
  np.testing.assert_array_equal(env.act_space['action'].high, (1, 1))
  for value, sent in (((-0.5, 1), (0, 1)), ((0.5, -0.5), (0.5, -0.5))):
    env.step({'action': np.asarray(value, np.float32), 'reset': False})
    np.testing.assert_array_equal(inner.actions[-1]['action'], sent)
  wrappers.NormalizeAction(inner).step(
      {'action': np.asarray((-0.5, 7), np.float32), 'reset': False})
  np.testing.assert_array_equal(inner.actions[-1]['action'], (0, 5))


def test_clip_action_clips_float_keys_only():
  inner = FakeEnv(act_space={
      'action': Space(np.float32, (2,), -1, 1), 'index': Space(np.int32, (), 0, 9),
      'reset': Space(bool)})
  env = wrappers.ClipAction(inner)
  env.step({'action': np.array([3.0, -0.5], np.float32), 'index': 7, 'reset': False})
  sent = inner.actions[-1]
  np.testing.assert_array_equal(sent['action'], [1.0, -0.5])
  assert sent['action'].dtype == np.float32 and sent['index'] == 7


def test_time_limit_sets_last_not_terminal_and_resets():
  inner = FakeEnv(length=100)
  env = wrappers.TimeLimit(inner, 3)
  assert env.step(act())['is_first']  # The first step ever resets.
  flags = [(bool(o['is_last']), bool(o['is_terminal']))
           for o in [env.step(act()) for _ in range(3)]]
  assert flags == [(False, False), (False, False), (True, False)]
  # Stepped again without reset=True: the inner env is reset anyway.
  obs = env.step(act())
  assert obs['is_first'] and inner.actions[-1]['reset']


def test_action_repeat_sums_rewards_and_stops_at_last():
  inner = FakeEnv(length=5)
  env = wrappers.ActionRepeat(inner, 2)
  env.step(act(reset=True))
  obs = env.step(act())
  assert obs['reward'] == 2.0 and inner.count == 2
  env.step(act())
  obs = env.step(act())  # Inner steps 5 (is_last) and stops there.
  assert obs['is_last'] and obs['reward'] == 1.0 and inner.count == 5


def test_wrapper_forwards_attributes_and_copies():
  inner = FakeEnv()
  env = wrappers.ClipAction(wrappers.CheckSpaces(inner))
  assert env.length == 5 and env.obs_space is inner.obs_space
  env.close()
  assert inner.closed
  with pytest.raises(AttributeError):
    env.no_such_attribute
  clone = copy.deepcopy(env)  # Would recurse forever without the 'env' guard.
  assert clone.env.env.length == 5


def test_integer_high_is_inclusive_only_at_dtype_max():
  obs_space = {
      'image': Space(np.uint8, (2,), 10),  # high defaults to 255 = uint8 max.
      'token': Space(np.int32, (), 0, 5), 'vector': Space(np.float32, (3,)),
      'reward': Space(np.float32), 'is_first': Space(bool),
      'is_last': Space(bool), 'is_terminal': Space(bool)}
  values = {'image': np.array([10, 255], np.uint8), 'token': np.int32(4)}
  env = checked(FakeEnv(obs_space, obs_fn=lambda c: dict(values)))
  env.step(act(reset=True))
  values['image'] = np.array([9, 255], np.uint8)
  message = r"'image': expected uint8\[2\] in \[10, 255\], got values in \[9, 255\]"
  with pytest.raises(ValueError, match=message):
    env.step(act())


def test_check_spaces_warns_of_pixels_of_no_uint8_once(monkeypatch, capfd):
  """A step-dict env's float32 [64, 64, 3] obs was encoded as a 12288-value vector (an
  MLP on pixels) without a word: one warning line names the key and the fix."""
  from dreamerv3_tf.core import workers
  monkeypatch.setattr(workers, '_SHOWN', set(), raising=False)
  space = dict(FakeEnv().obs_space, image=Space(np.float32, (64, 64, 3), 0.0, 1.0))
  for _ in range(2):
    checked(FakeEnv(obs_space=space))
  assert capfd.readouterr().err.splitlines() == [
      "Warning: Env obs 'image' is float32[64, 64, 3], shaped as an image, but the agent "
      'takes only uint8 images as images: it learns from these 12288 values as one vector '
      '(an MLP, no conv net); if they are pixels, declare Space(np.uint8, (64, 64, 3)) and '
      'return uint8 arrays (floats in [0, 1] times 255)']
  space['image'] = Space(np.uint8, (64, 64, 3))
  checked(FakeEnv(obs_space=space))
  assert capfd.readouterr().err == ''


@pytest.mark.parametrize('name, hint', [
    # Spelled in capitals, it listed all the names (108 of ale-py's games; sweep 78).
    ('PONG', "did you mean 'pong'?"), ('SpaceInvaders', "did you mean 'space_invaders'?"),
    ('Pong', "did you mean 'pong'"), ('pongg', "did you mean 'pong'"),
    ('xyzzy', 'valid: pong, breakout, space_invaders')])
def test_an_unknown_task_names_the_closest_whatever_its_case(name, hint):
  error = wrappers.UnknownTaskError.naming(
      'ale-py has no game', name, ['pong', 'breakout', 'space_invaders'])
  assert str(error).startswith(f'ale-py has no game {name!r}; {hint}'), str(error)
