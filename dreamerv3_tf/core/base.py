"""The contracts between the runtime and the learner.

Key conventions (a transition is a flat dict of numpy arrays):
  observation keys  e.g. 'image' <uint8>[H, W, C], 'position' <float32>[D]
  'reward'          <float32>[]
  'is_first'        <bool>[]   first step of an episode (its reward is 0)
  'is_last'         <bool>[]   last step of an episode (terminal or truncated)
  'is_terminal'     <bool>[]   the episode ended for real (no bootstrap); a time
                               limit sets is_last without is_terminal
  'log/...'         extra per-step values for logging only: episode statistics
                    get them; the agent and replay never see them
An action is a dict of the action keys plus 'reset' <bool>[]. Integer actions hold
the index; the agent one-hots them internally. Continuous actions lie in [-1, 1]
after `NormalizeAction`.

The agent sees the env's spaces without 'log/' keys and 'reset' (`agent_spaces`,
computed once by the scripts); the driver steps the envs with 'reset' and passes
the policy observations without 'log/' keys (`split_logs`).

Batched versions carry a leading batch axis [B, ...] (driver, policy) or [B, T, ...]
(replay batches for train and report).
"""

import numpy as np

OBS_META_KEYS = ('reward', 'is_first', 'is_last', 'is_terminal')
RESET = 'reset'       # the action key that starts a new episode (the driver's, not the agent's)
LOG_PREFIX = 'log/'   # observation keys for logging only (not the agent's, not replayed)


def is_log_key(key):
  return key.startswith(LOG_PREFIX)


def split_logs(obs):
  """-> (obs without 'log/' keys, the 'log/' keys)."""
  logs = {k: v for k, v in obs.items() if is_log_key(k)}
  return {k: v for k, v in obs.items() if not is_log_key(k)}, logs


def reset_actions(act_space, n):
  """Actions for n envs <[n, ...]> that start new episodes: zeros, 'reset' True."""
  acts = {k: np.zeros((n,) + s.shape, s.dtype) for k, s in act_space.items() if k != RESET}
  acts[RESET] = np.ones(n, bool)
  return acts


def get_env_state(env):
  """The env's saved state (see Env), or None if it cannot save one."""
  try:
    return env.get_state() if hasattr(env, 'get_state') else None
  except NotImplementedError:
    return None


def agent_spaces(obs_space, act_space):
  """The env's spaces as the agent sees them: no 'log/' keys, no 'reset' action.

  Computed once by the scripts from the driver's spaces and passed on (agent,
  spaces.json, export); the agent checks them with `check_agent_spaces`.
  """
  return (split_logs(obs_space)[0],
          {k: v for k, v in act_space.items() if k != RESET})


def check_agent_spaces(obs_space, act_space):
  """Raises ValueError (one line) unless these are spaces from `agent_spaces`."""
  missing = [k for k in OBS_META_KEYS if k not in obs_space]
  if missing:
    raise ValueError(f'Agent: obs_space lacks {missing}; got {sorted(obs_space)}')
  logs = sorted(k for k in obs_space if is_log_key(k))
  if logs or RESET in act_space:
    raise ValueError(
        f'Agent: got the env spaces ({logs or [RESET]} are not for the agent); '
        'pass core.base.agent_spaces(obs_space, act_space)')
  if not act_space:
    raise ValueError('Agent: act_space has no action keys')


def image_stages_problem(height, width, mults):
  """Why the agent's image encoder and decoder of `mults` (one 2x stage each) cannot
  take height x width images, or None. Checked by the config before TensorFlow loads
  and by the networks (agent/nets.py)."""
  factor = 2 ** len(mults)
  if height % factor or width % factor or not 3 <= height // factor <= 16:
    return (f'its {len(mults)} stages divide their size by {factor}, which must leave a '
            'whole number from 3 to 16')
  return None


class UserError(Exception):
  """A failure the user can cause and fix; its message is one line naming the cause.

  `prefix` starts the line main prints ('Error: ...', 'Env error: ...'), and
  `exit_code` is the program's.
  """

  prefix = 'Error'
  exit_code = 1


class WriteError(UserError):
  """A write into the logdir failed once the run was under way (a full disk, a file
  made unwritable); main ends its line with what was kept and how to resume."""


class EnvSpaceError(UserError, ValueError):
  """An env broke its declared spaces: a bug in the env, so it is not restarted.

  Messages start with 'Env '; the driver replaces that word by the env's name
  ('dmc_walker_walk train env 2: obs ...').
  """

  prefix = 'Env error'


class EnvError(UserError, RuntimeError):
  """An env could not be built or kept failing; names the env and the cause.

  `details` holds the env's own traceback (shown when tracebacks are asked for);
  `exit_code` is that of the env's own error (2 for an unknown task: a config value).
  """

  prefix = 'Env error'

  def __init__(self, message, details='', exit_code=1):
    super().__init__(message)
    self.details = details
    self.exit_code = exit_code


def exit_code(error):
  """The program's exit code for `error`: its own if it is a UserError, else 1."""
  return error.exit_code if isinstance(error, UserError) else 1


class Agent:
  """What the runtime needs from a learner. Numpy in, numpy out.

  Attributes:
    obs_space, act_space: dicts of Space, from `agent_spaces`.
  """

  def init_policy(self, batch_size):
    """-> carry for `policy`, for a batch of `batch_size` envs."""
    raise NotImplementedError

  def init_train(self, batch_size):
    """-> carry for `train`."""
    raise NotImplementedError

  def init_report(self, batch_size):
    """-> carry for `report`."""
    raise NotImplementedError

  def policy(self, carry, obs, mode='train'):
    """(carry, obs <[B, ...]>, mode 'train'|'eval') -> carry, act, out.

    `act` holds every action key <[B, ...]>; `out` holds extra per-step values to
    store in replay (e.g. the latent 'deter'/'stoch' for replay_context), keyed
    without clashing with obs or act keys.
    """
    raise NotImplementedError

  def train(self, carry, batch):
    """(carry, batch <[B, T, ...]>) -> carry, outs, metrics.

    `batch` holds obs and act keys plus 'stepid' <uint8>[B, T, 20] (replay ids) and,
    with replay_context, the stored latents of the first `context` steps. `outs`
    may hold 'replay': {key: [B, T, ...]} with fresh latents to write back through
    `Replay.update` and 'stepid' naming the rows. `metrics` are float scalars;
    'opt/grad_nonfinite' = 1 marks an update skipped as not finite (its carry and
    outs are then dropped), and 'loss/<name>' the loss terms, whose order of
    computation an agent may give as `loss_terms`.
    """
    raise NotImplementedError

  def report(self, carry, batch):
    """(carry, batch) -> carry, metrics.

    Metrics are scalars, and may hold open-loop predictions of image keys:
    'openloop/<key>/true' and '/pred' <uint8>[RB, T, H, W, C], the first T // 2
    steps observed (the run logs them as one video, run.common.openloop_video).
    """
    raise NotImplementedError


class Env:
  """A single environment. `step({'reset': True, ...})` starts an episode."""

  @property
  def obs_space(self):
    """dict of Space; includes reward, is_first, is_last, is_terminal."""
    raise NotImplementedError

  @property
  def act_space(self):
    """dict of Space; includes 'reset' <bool>[]."""
    raise NotImplementedError

  def step(self, action):
    """dict action -> dict observation (numpy values matching obs_space)."""
    raise NotImplementedError

  def close(self):
    pass
