"""What a config makes in memory, before anything is built: the agent's weights (with
the optimizer's state where it trains on this host's CPU) and the train replay, full.
"""

import math
import os

from dreamerv3_tf import configuration
from dreamerv3_tf.core import base


def _weights_at_least(a):
  """{config key: weights of the layers it sizes most}, a lower bound on the agent's:
  the RSSM's block GRU with its hidden layer (4 D^2 / blocks + 4 H D, agent/rssm.py),
  its stoch layers in and out (2 H S C), and the MLPs of the heads on the latent
  features (agent/model.py), F x units for the first layer and units^2 for each one
  after it, F = deter + stoch x classes, and the reward and value heads' outputs (units
  x bins)."""
  d, h, g = a.rssm.deter, a.rssm.hidden, a.rssm.blocks
  s, k = a.rssm.stoch, a.rssm.classes
  stoch = 'agent.rssm.classes' if k >= s else 'agent.rssm.stoch'
  parts = {'agent.rssm.deter': 4 * d * d // g + 4 * h * d, stoch: 2 * h * s * k}
  feat_key = stoch if s * k > d else 'agent.rssm.deter'
  for part in ('rewhead', 'conhead', 'policy', 'value'):
    units, layers = a[part].units, a[part].layers
    if layers < 1:
      continue
    first = (d + s * k) * units
    key = f'agent.{part}.units' if units >= d + s * k else feat_key
    parts[key] = parts.get(key, 0) + first
    _add_stack(parts, f'agent.{part}', 'units', units, layers)
  # The output layers of the reward and value heads (their last layer's width, or the
  # features', x bins): value.bins=1e9 was 'Error: out of memory (Unable to allocate
  # 119. GiB ...)', naming no key, once TensorFlow had loaded.
  for part in ('rewhead', 'value'):
    width, bins = a[part].units if a[part].layers else d + s * k, a[part].bins
    key = f'agent.{part}.units' if a[part].layers else feat_key
    key = f'agent.{part}.bins' if bins >= width else key
    parts[key] = parts.get(key, 0) + width * bins
  # The RSSM's prior and posterior layers after their first (hidden x hidden each):
  # imglayers=1e15 built layers for ever, with no line.
  _add_stack(parts, 'agent.rssm', 'hidden', h, a.rssm.imglayers, 'imglayers')
  _add_stack(parts, 'agent.rssm', 'hidden', h, a.rssm.obslayers, 'obslayers')
  return parts


def _add_stack(parts, section, units_name, units, layers, layers_name='layers'):
  """Adds a stack's layers after its first, units^2 each, to `parts`, under the key of
  its count of layers where that is the larger number (layers=1e15 of 16 units), else
  under its units' key."""
  if layers < 2:
    return
  key = f'{section}.{layers_name if layers > units else units_name}'
  parts[key] = parts.get(key, 0) + units * units * (layers - 1)


def _conv_weights_at_least(a):
  """{config key: weights} of the image encoder's and decoder's convolutions after
  their first (kernel^2 x depth^2 x mults[i - 1] x mults[i], agent/nets.py): an env
  with image observations has both."""
  parts = {}
  for part in ('enc', 'dec'):
    depth, kernel, mults = a[part].depth, a[part].kernel, tuple(a[part].mults)
    parts[f'agent.{part}.depth'] = sum(
        kernel * kernel * depth * depth * m0 * m1 for m0, m1 in zip(mults, mults[1:]))
  return parts


def _mlp_weights_at_least(a):
  """{config key: weights} of the vector encoder's and decoder's MLP layers after
  their first: an env with vector observations has both (agent.enc.layers=1e15 built
  layers for ever, with no line; agent.enc.units=1e15 was 'out of memory' once
  TensorFlow had loaded)."""
  parts = {}
  for part in ('enc', 'dec'):
    units, layers = a[part].units, a[part].layers
    if layers >= 1:  # its first layer: units x at least one input (output, decoding)
      parts[f'agent.{part}.units'] = units
    _add_stack(parts, f'agent.{part}', 'units', units, layers)
  return parts


# Step keys no encoder reads.
_NOT_ENCODED = ('reward', 'is_first', 'is_last', 'is_terminal')


def check_agent_memory(config, obs_space):
  """finalize's check of the agent's weights against the memory available, once the
  env's spaces are known (before the agent is built): with images the conv stacks
  count too (agent.enc.depth=1e8 grew until the OOM killer ended the run, no line),
  with vectors the MLPs."""
  parts = {}
  if configuration.has_images(obs_space):
    parts.update(_conv_weights_at_least(config.agent))
  if any(len(s.shape) <= 2 and k not in _NOT_ENCODED and not k.startswith('log_')
         for k, s in obs_space.items()):
    for key, n in _mlp_weights_at_least(config.agent).items():
      parts[key] = parts.get(key, 0) + n
  if parts:
    check_weights_fit(config, parts)


def check_weights_fit(c, more=None):
  """An agent whose weights cannot fit in the memory available: agent.rssm.deter=1e9
  grew until the OOM killer ended the run (SIGKILL, no line), once TensorFlow had loaded.
  On an accelerator the weights alone count (they live in its memory, but numpy makes
  their first values here). Training on this host's CPU also keeps the optimizer's two
  moments per weight and makes a gradient of each: deter=hidden=8192 of the debug preset
  (1.5 GiB of weights) passed, and the OOM killer ended the run at its first update with
  19 GB resident. `more`: weights of parts that only the env's spaces tell."""
  from dreamerv3_tf.envs import memory  # numpy-free; reads /proc
  available = memory.available_bytes()
  parts = _weights_at_least(c.agent)
  for key, n in (more or {}).items():
    parts[key] = parts.get(key, 0) + n
  weights = sum(parts.values())
  on_cpu = trains_on_cpu(c)
  need = bytes_needed(weights, on_cpu)
  if available is None or need <= available:
    return
  key = max(parts, key=parts.get)
  value = c.agent[key.split('.')[1]][key.split('.')[2]]
  what = (f'training it on this CPU takes at least {need / memory.GIB:.3g} GiB (the weights, '
          "the optimizer's two moments and the gradients)" if on_cpu else
          f'{need / memory.GIB:.3g} GiB')
  configuration.ensure(
      False, f'{key}={value} makes an agent of at least {weights:.2g} weights, {what}, '
      f'more than the {available / memory.GIB:.1f} GiB of memory available; use a '
      f'smaller {key} or a size preset (size1m ... size400m)')


def trains_on_cpu(c):
  return c.script != 'eval_only' and not _accelerator(c)


def bytes_needed(weights, on_cpu):
  """Bytes of float32 `weights`, times 4 where they train on this host's CPU (the
  optimizer's two moments and the gradients)."""
  return 4 * weights * (4 if on_cpu else 1)


def _accelerator(c):
  """Whether the agent's weights will live on an accelerator, as far as can be told
  before TensorFlow loads: a TPU run, or an NVIDIA GPU that CUDA_VISIBLE_DEVICES
  leaves visible."""
  if c.distribute == 'tpu' or os.path.exists('/dev/accel0'):  # TPU VMs (v4 and later)
    return True
  return (os.path.exists('/dev/nvidiactl')
          and os.environ.get('CUDA_VISIBLE_DEVICES', '0').strip() not in ('', '-1'))


def replay_step_bytes(config, obs_space, act_space):
  """{column: bytes} of one step in the train replay (core/replay.py): the env's
  observations and actions, the policy's latent (dyn/deter, dyn/stoch, float32; none
  for the random agent) and the step's id."""
  import numpy as np
  from dreamerv3_tf.core import replay
  columns = {k: s for k, s in {**obs_space, **act_space}.items() if not base.is_log_key(k)}
  sizes = {k: np.dtype(s.dtype).itemsize * math.prod(s.shape) for k, s in columns.items()}
  if not config.random_agent:
    r = config.agent.rssm
    sizes.update({'dyn/deter': 4 * r.deter, 'dyn/stoch': 4 * r.stoch * r.classes})
  sizes['stepid'] = replay.STEPID_BYTES
  return sizes


def check_replay_memory(config, obs_space, act_space):
  """-> a warning line when the train replay, full, needs more memory than is available
  now (or than the machine has at all), else None. The replay keeps every step in memory
  up to replay.size: dmc.py's vision preset at size12m (22.6 KB a step, 1.1M steps: 23
  GiB) ran for days until Linux's OOM killer ended it, and atari.py's at size12m (5M steps
  of 19.5 KB) could never fit in 24 GB; at their official size200m, 53 KB and 50 KB. A
  warning, not an error: a run meant to be stopped long before its run.steps (on a CPU,
  atari.py's 51M steps take years) is fine, and memory_watch stops one that runs out with
  its own line."""
  from dreamerv3_tf.envs import memory  # numpy-free; reads /proc
  sizes = replay_step_bytes(config, obs_space, act_space)
  step = sum(sizes.values())
  steps = min(int(config.replay.size), int(config.run.steps))
  need, total, available = steps * step, memory.total_bytes(), memory.available_bytes()
  if total is None or available is None or need <= available:
    return None
  top = sorted(sizes.items(), key=lambda x: -x[1])[:3]
  what = ', '.join(f'{k} {_bytes(n)}' for k, n in top)
  fits = max(0, available) // step
  than = (f"the {_bytes(total)} it may ever use (RAM and swap, or its cgroup's limit)"
          if need > total else f'the {_bytes(available)} available now')
  return (f'Warning: replay.size={config.replay.size:,} and run.steps={config.run.steps:,}: '
          f'the train replay will hold {steps:,} steps of {_bytes(step)} each ({what}, ...) '
          f'in memory, {_bytes(need)}, more than {than}: the run will run out of memory once '
          f'its replay grows past about {fits:,} steps; a smaller replay.size lets it run to '
          'its end')


def _bytes(n):
  """n bytes as text: '12.3 KB', '24.8 GB'."""
  for unit, size in (('GB', 1e9), ('MB', 1e6), ('KB', 1e3)):
    if n >= size:
      return f'{n / size:.3g} {unit}'
  return f'{n} B'
