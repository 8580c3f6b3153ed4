"""Where a policy call's time goes (not a test; prints a table).

  python bench/policy_profile.py                  # size1m proprio, 1 and 16 envs
  python bench/policy_profile.py --envs 1,4,16 --calls 3000
  tools/as_avx2.sh python bench/policy_profile.py # as an AVX2-only CPU computes

Rows, each timed over the same calls:
  checks            step_inputs: key, shape and dtype checks and numpy conversions
  tf.function call  the agent's tf.function called as before agent/policy_call.py:
                    dispatch over nested arguments, their conversion, the XLA
                    program, the outputs as EagerTensors
  to numpy          the outputs copied to numpy
  public policy()   `Agent.policy` as the driver calls it (policy_call's flat path)
  concrete fn       the traced concrete function called with numpy arguments
  flat call         its atomic function with device tensors: the program plus
                    TensorFlow's per-call runtime, the floor of this design
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import numpy as np  # noqa: E402

from bench import train_step  # noqa: E402
from configs import base  # noqa: E402
from configs import presets  # noqa: E402


def make_agent(size):
  from dreamerv3_tf.agent.agent import Agent
  c = base.get_config()
  presets.size(size)(c)
  obs, act = train_step.make_spaces('proprio')
  return Agent(obs, act, c), obs


def sample_obs(obs_space, B, rng):
  o = {k: np.stack([s.sample(rng) for _ in range(B)]) for k, s in obs_space.items()}
  for k in ('position', 'velocity'):
    o[k] = o[k].clip(-1, 1)
  o['is_first'][:] = False
  return o


def profile(agent, obs, calls):
  """-> {phase: µs per call} over `calls` calls (after 50 warm-up calls)."""
  import tensorflow as tf
  B = len(obs['is_first'])
  carry = agent.init_policy(B)
  for _ in range(50):
    carry, _, _ = agent.policy(carry, obs)
  fn = agent._s.fns['policy']
  t_check = t_call = t_numpy = 0.0
  for _ in range(calls):
    a = time.perf_counter()
    args = agent.step_inputs('policy', carry, obs, 'train')
    b = time.perf_counter()
    deter, stoch, prevact, act, out = fn(*args)
    c = time.perf_counter()
    carry = {'deter': deter.numpy(), 'stoch': stoch.numpy(), 'prevact': prevact.numpy()}
    {k: v.numpy() for k, v in act.items()}
    {k: v.numpy() for k, v in out.items()}
    d = time.perf_counter()
    t_check += b - a
    t_call += c - b
    t_numpy += d - c
  # Through the public method, as the driver calls it.
  t0 = time.perf_counter()
  for _ in range(calls):
    carry, _, _ = agent.policy(carry, obs)
  public = time.perf_counter() - t0
  # The program alone: device tensors in, no Python checks, no copies out.
  args = agent.step_inputs('policy', carry, obs, 'train')
  concrete = fn.get_concrete_function(*args)
  flat = [tf.convert_to_tensor(x) for x in tf.nest.flatten(args)]
  for _ in range(50):
    concrete(*args)
  t0 = time.perf_counter()
  for _ in range(calls):
    concrete(*args)
  t_conc = time.perf_counter() - t0
  inner = concrete._inference_function if hasattr(concrete, '_inference_function') else None
  t_flat = None
  if inner is not None:
    try:
      inner.call_flat(*flat, *concrete.captured_inputs)
      t0 = time.perf_counter()
      for _ in range(calls):
        inner.call_flat(*flat, *concrete.captured_inputs)
      t_flat = time.perf_counter() - t0
    except Exception as e:  # private API: report, do not fail
      print(f'  (flat call unavailable: {type(e).__name__}: {e})')
  us = lambda s: 1e6 * s / calls
  res = {'checks': us(t_check), 'tf.function call': us(t_call), 'to numpy': us(t_numpy),
         'before: sum of the three': us(t_check + t_call + t_numpy),
         'public policy()': us(public), 'concrete fn, numpy args': us(t_conc)}
  if t_flat is not None:
    res['flat call, device args'] = us(t_flat)
  return res


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--size', default='1m')
  parser.add_argument('--envs', default='1,16')
  parser.add_argument('--calls', type=int, default=2000)
  args = parser.parse_args()
  from dreamerv3_tf.core import cpuinfo
  print(f'CPU: {cpuinfo.describe()}')
  agent, obs_space = make_agent(args.size)
  rng = np.random.default_rng(0)
  envs = [int(x) for x in args.envs.split(',')]
  results = {B: profile(agent, sample_obs(obs_space, B, rng), args.calls) for B in envs}
  names = list(results[envs[0]])
  print(f'policy call, size{args.size} proprio, µs per call (calls/s of the public call below)')
  print(f'| phase | ' + ' | '.join(f'{B} env' + ('s' if B > 1 else '') for B in envs) + ' |')
  print('|---|' + '---:|' * len(envs))
  for n in names:
    print(f'| {n} | ' + ' | '.join(f'{results[B][n]:.0f}' for B in envs) + ' |')
  print('| calls/s, public | ' + ' | '.join(
      f'{1e6 / results[B]["public policy()"]:.0f}' for B in envs) + ' |')


if __name__ == '__main__':
  main()
