"""A gymnasium env whose outputs leave its declared spaces is named in one line (key
and problem), not converted into something it did not return (envs/gym.py)."""

import warnings

import numpy as np
import pytest

gym = pytest.importorskip('gymnasium')

from dreamerv3_tf.core import workers  # noqa: E402
from dreamerv3_tf.core.base import EnvSpaceError  # noqa: E402
from dreamerv3_tf.envs import wrappers  # noqa: E402
from dreamerv3_tf.envs.gym import Gym  # noqa: E402

S = gym.spaces
VEC = S.Box(-1, 1, (3,), np.float32)
IMG = S.Box(0, 255, (8, 8, 3), np.uint8)
AB = S.Dict({'a': VEC, 'b': VEC})


class Env(gym.Env):
  """Returns `obs` from step() (reset() a valid one), `reward` and `terminated`."""

  def __init__(self, space, obs, reward=0.0, terminated=False):
    self.observation_space, self.action_space = space, S.Discrete(2)
    self.obs, self.reward, self.terminated = obs, reward, terminated

  def reset(self, seed=None, options=None):
    return self.observation_space.sample(), {}

  def step(self, action):
    return self.obs, self.reward, self.terminated, False, {}


def chain(env):
  return wrappers.CheckSpaces(wrappers.UnifyDtypes(wrappers.NormalizeAction(Gym(env, size=(8, 8)))))


@pytest.mark.parametrize('space, obs, reward, terminated, message', [
    (VEC, np.zeros((3, 1), np.float32), 0.0, False,
     r"obs 'vector': expected float32\[3\], got float32\[3, 1\]"),
    (VEC, None, 0.0, False, r"obs 'vector': expected float32\[3\], got NoneType"),
    # It said 'got ndarray' (or 'got list') alone.
    (VEC, np.array([0.0, None, 1.0], object), 0.0, False,
     r"obs 'vector': expected float32\[3\], got ndarray of Python objects, shape \(3,\), "
     r"holding NoneType None$"),
    (VEC, [0.0, {}, 1.0], 0.0, False,
     r"obs 'vector': expected float32\[3\], got list of Python objects, shape \(3,\), "
     r"holding dict \{\}$"),
    (VEC, np.zeros(3, np.complex64), 0.0, False, r"obs 'vector': .* got complex64\[3\]"),
    # Became an inf the env never returned, after a numpy RuntimeWarning line.
    (VEC, np.array([1e39, 0.0, 0.0]), 0.0, False,
     r"obs 'vector': expected finite float32\[3\], got 1e\+39 \(beyond float32\)"),
    (IMG, np.full((8, 8, 3), 0.5, np.float32), 0.0, False,
     r"obs 'image': expected a uint8 image uint8\[8, 8, 3\], got float32\[8, 8, 3\]"),
    (IMG, np.full((8, 8, 3), 300), 0.0, False,
     r"obs 'image': expected a uint8 image uint8\[8, 8, 3\], got int64\[8, 8, 3\] in \[300, 300\]"),
    (IMG, np.zeros((4, 4, 3), np.uint8), 0.0, False,
     r"obs 'image': expected uint8\[8, 8, 3\], got uint8\[4, 4, 3\]"),
    (S.Discrete(3), 1.7, 0.0, False, r"obs 'vector': expected an integer of Discrete\(3\)"),
    # Named shifted by `start` ('expected int32[] in [0, 4), got values in [-3, -3]'),
    # values the env never returned; one beyond int32 was a bare OverflowError.
    (S.Discrete(4, start=3), 0, 0.0, False,
     r"obs 'vector': expected an integer of Discrete\(4, start=3\), in \[3, 7\), got 0$"),
    (S.Discrete(3), np.int64(3), 0.0, False,
     r"obs 'vector': expected an integer of Discrete\(3\), in \[0, 3\), got 3$"),
    (S.Discrete(3), 2 ** 40, 0.0, False,
     r"obs 'vector': expected an integer of Discrete\(3\), in \[0, 3\), got 1099511627776$"),
    (AB, {'a': np.zeros(3, np.float32)}, 0.0, False, r"obs is missing the key 'b'"),
    (AB, {'a': np.zeros(3, np.float32), 'b': np.zeros(3, np.float32), 'c': 1}, 0.0, False,
     r"obs has keys not in observation_space: \['c'\]"),
    (AB, np.zeros(3, np.float32), 0.0, False, r"obs 'a': expected obs to be a dict"),
    (VEC, np.zeros(3, np.float32), np.ones(1), False,
     r"obs 'reward': expected a number, got float64\[1\]"),
    (VEC, np.zeros(3, np.float32), None, False, r"obs 'reward': expected a number, got NoneType"),
    (VEC, np.zeros(3, np.float32), 1e300, False, r"obs 'reward': .* 1e\+300 \(beyond float32\)"),
    # 'OverflowError: int too large to convert to float', naming no reward.
    pytest.param(
        VEC, np.zeros(3, np.float32), 10 ** 400, False,
        r"obs 'reward': expected finite float32\[\], got an int of 1329 bits \(beyond float32\)",
        id='reward_int_beyond_float64'),
    (VEC, np.zeros(3, np.float32), 0.0, 'no', r"terminated: expected a bool, got str 'no'"),
])
def test_outputs_outside_the_spaces_are_named(space, obs, reward, terminated, message):
  env = chain(Env(space, obs, reward, terminated))
  env.step({'reset': True, 'action': np.int32(0)})
  with warnings.catch_warnings():
    warnings.simplefilter('error')  # no RuntimeWarning or ComplexWarning lines either
    with pytest.raises(EnvSpaceError, match=message) as info:
      env.step({'reset': False, 'action': np.int32(0)})
  assert '\n' not in str(info.value)


def test_a_vector_outside_its_declared_bounds_is_one_warning_line(monkeypatch, capsys):
  """An obs outside its Box's bounds passed without a word, though the env broke its
  observation_space: one warning line for the run now, naming the env, the key, the
  first element and its bounds; the run goes on with the env's values ('vector' is
  unbounded for the agent; gymnasium's own env checker warns of it too)."""
  monkeypatch.setattr(workers, '_SHOWN', set())
  returned = np.array([0.5, 7.0, -3.0], np.float32)
  env = chain(Env(VEC, returned))
  env.step({'reset': True, 'action': np.int32(0)})
  for _ in range(3):
    obs = env.step({'reset': False, 'action': np.int32(0)})
    np.testing.assert_array_equal(obs['vector'], returned)  # (float32 passes unchanged)
  assert capsys.readouterr().err == (
      f"Warning: gym env {Env.__module__}:Env obs 'vector': element 1 is 7.0, outside its "
      'declared Box bounds [-1.0, 1.0] (and 1 more element); the agent takes \'vector\' as '
      "unbounded and trains on (later values outside are not named): widen the env's "
      'observation_space, or clip the values in the env\n')
  # A Box without finite bounds (gymnasium's float32 max is none) checks nothing.
  env = chain(Env(S.Box(-np.inf, np.inf, (3,), np.float32), np.full(3, 1e30, np.float32)))
  env.step({'reset': True, 'action': np.int32(0)})
  env.step({'reset': False, 'action': np.int32(0)})
  assert capsys.readouterr().err == ''


def test_a_python_bool_is_a_discrete_value_as_gymnasium_takes_it():
  """Discrete(2).contains(True) holds, but the run stopped: 'expected an integer of
  Discrete(2), got bool[]'. numpy's bools gymnasium refuses too."""
  env = chain(Env(S.Dict({'door': S.Discrete(2), 'pos': VEC}),
                  {'door': True, 'pos': np.zeros(3, np.float32)}))
  env.step({'reset': True, 'action': np.int32(0)})
  assert env.step({'reset': False, 'action': np.int32(0)})['door'] == 1
  env = chain(Env(S.Discrete(2), np.True_))
  env.step({'reset': True, 'action': np.int32(0)})
  with pytest.raises(EnvSpaceError, match=r"expected an integer of Discrete\(2\), got bool"):
    env.step({'reset': False, 'action': np.int32(0)})


def test_dict_keys_that_join_to_the_same_key_are_refused():
  space = S.Dict({'a': S.Dict({'b': VEC}), 'a_b': VEC})
  with pytest.raises(EnvSpaceError, match=r"gym obs 'a_b': the Dict keys .* both become 'a_b'"):
    Gym(Env(space, None))


@pytest.mark.parametrize('obs_space, act_space, message', [
    (S.Dict({}), S.Discrete(2), r'gym obs: observation_space Dict\(\) has no observation'),
    (VEC, S.Dict({}), r'gym action: action_space Dict\(\) has no action'),
    # 'expected float32[1], got float32[0]' at the first reset; an action of no
    # dimensions for the agent.
    (S.Dict({'a': VEC, 'b': S.Box(-1, 1, (0,))}), S.Discrete(2),
     r"gym obs 'b': a Box of shape \(0,\) holds no values; drop it from the observation_space"),
    (VEC, S.Box(-1, 1, (2, 0)), r"gym action 'action': a Box of shape \(2, 0\) holds no values"),
])
def test_empty_dict_spaces_are_refused(obs_space, act_space, message):
  env = Env(obs_space, None)
  env.action_space = act_space
  with pytest.raises(EnvSpaceError, match=message):
    Gym(env)


@pytest.mark.parametrize('obs_space, act_space, message', [
    # 'unexpected' errors of the agent: Keras refuses '/' in a layer name, and
    # TensorFlow a space in a scope name (at the first report, after the logdir was
    # written).
    (S.Dict({'cam/left': VEC}), S.Discrete(2), r"Env obs key 'cam/left': the agent names"),
    (S.Dict({'joint pos': VEC}), S.Discrete(2), r"Env obs key 'joint pos': the agent names"),
    (VEC, S.Dict({'arm/left': S.Discrete(2)}), r"Env action key 'arm/left': the agent names"),
    # It trained, and then export refused it as a signature name.
    (S.Dict({'joint-pos': VEC}), S.Discrete(2), r"Env obs key 'joint-pos': the agent names"),
])
def test_keys_the_agent_cannot_name_a_layer_after_are_refused(obs_space, act_space, message):
  env = Env(obs_space, None)
  env.action_space = act_space
  with pytest.raises(EnvSpaceError, match=message):
    chain(env)


@pytest.mark.parametrize('space, message', [
    (S.MultiBinary(4), r"gym obs 'vector': unsupported space MultiBinary\(4\); use Box, "
                       r"Discrete or a Dict of them \(gymnasium.wrappers.FlattenObservation"),
    # Were told 'FlattenObservation flattens it', which leaves them as they are.
    (S.Dict({'a': VEC, 'path': S.Sequence(VEC)}),
     r"gym obs 'path': unsupported space Sequence\(.*\); its observations vary in size, "
     r"which the agent cannot take: return a Box of fixed shape \(e.g. padded\)$"),
    (S.Graph(VEC, None), r"gym obs 'vector': unsupported space Graph\(.*\); its observations "
                         r"vary in size"),
    # Not a space at all (never set, or the class): FlattenObservation cannot help either.
    (None, r"gym obs 'vector': unsupported space None; it is no gymnasium.spaces.Space: set "
           r"env.observation_space to one \(Box, Discrete or a Dict of them\)$"),
    (S.Box, r"gym obs 'vector': unsupported space <class .*Box'>; it is no gymnasium.spaces"),
])
def test_unsupported_obs_spaces_are_refused_with_a_fix_that_works(space, message):
  with pytest.raises(EnvSpaceError, match=message):
    Gym(Env(space, None))


def test_an_action_space_that_is_no_space_is_named():
  env = Env(VEC, None)
  env.action_space = None
  with pytest.raises(EnvSpaceError, match=(
      r"^gym action 'action': unsupported space None; it is no gymnasium.spaces.Space: set "
      r'env.action_space to one \(Discrete, Box or a Dict of them\)$')):
    Gym(env)


@pytest.mark.parametrize('key', ['reward', 'is_first', 'is_terminal', 'reset'])
def test_action_keys_named_like_the_step_keys_are_refused(key):
  """'Env obs and act spaces share keys ['reward']' named an obs the env never had."""
  env = Env(VEC, None)
  env.action_space = S.Dict({key: S.Discrete(2), 'move': S.Discrete(3)})
  with pytest.raises(EnvSpaceError) as info:
    chain(env)
  assert str(info.value) == (
      f"gym action {key!r}: a key the run uses itself (each step's reward, is_first, is_last "
      "and is_terminal, each action's reset); rename it")


def test_dict_spaces_with_integer_keys_step():
  """gymnasium's Dict takes int keys: joining them to our key was a TypeError."""
  obs = {1: np.zeros(3, np.float32), 'b': np.ones(3, np.float32)}
  env = chain(Env(S.Dict({1: VEC, 'b': VEC}), obs))
  assert {'1', 'b'} <= set(env.obs_space)
  env.step({'reset': True, 'action': np.int32(0)})
  obs = env.step({'reset': False, 'action': np.int32(0)})
  assert obs['b'].tolist() == [1, 1, 1] and obs['1'].tolist() == [0, 0, 0]
