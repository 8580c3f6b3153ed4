"""Writes the HLO of the agent's compiled policy, train and report steps, for diffing.

Shows that a change leaves the compiled functions alone, e.g. that the parity hook
(`dists.supplied_noise`) changes nothing when it is off. Run it in two source trees
(e.g. `git archive <commit> | tar -x -C /tmp/a`) and compare:

  (cd /tmp/a && PYTHONPATH=$PWD python tools/parity/dump_hlo.py /tmp/hlo_a)
  (cd /tmp/b && PYTHONPATH=$PWD python tools/parity/dump_hlo.py /tmp/hlo_b)
  cmp /tmp/hlo_a_train.hlo /tmp/hlo_b_train.hlo

The agent is the tests' debug-sized one (vector and image inputs, a continuous and a
discrete action key), compiled with XLA. The HLO is tf2xla's output before XLA's
optimizations, without its metadata lines (source file names and line numbers).
"""

import argparse
import os
import re
import sys

import numpy as np


def main(prefix):
  root = os.getcwd()
  # tests/agent first: its conftest (debug configs and batches), not tests/conftest.py.
  sys.path[:0] = [os.path.join(root, 'tests', 'agent'), os.path.join(root, 'tests')]
  import conftest  # tests/agent/conftest.py: debug configs, spaces and batches
  from dreamerv3_tf.agent import agent as agent_mod
  config = conftest.image_config(jit=True)
  obs_space, act_space = conftest.make_spaces('mixed', 'dict')
  agent = agent_mod.Agent(obs_space, act_space, config)
  rng = np.random.default_rng(0)
  carry = agent.init_train(config.batch_size)
  inputs = {}
  for name, length in (('train', conftest.train_length(agent)),
                       ('report', conftest.report_length(agent))):
    inputs[name] = (carry, conftest.make_batch(agent, length, rng))
  keys = agent.model.encoded_keys + ['is_first']
  obs = conftest.random_obs({k: agent.obs_space[k] for k in keys}, (2,), rng)
  inputs['policy'] = (agent.init_policy(2), obs)
  for name, (carry_, data) in inputs.items():
    text = agent.compiler_ir(name, carry_, data, stage='hlo')
    text = re.sub(r', metadata=\{[^}]*\}', '', text)
    with open(f'{prefix}_{name}.hlo', 'w') as f:
      f.write(text)
    print(f'{prefix}_{name}.hlo: {len(text)} characters')


if __name__ == '__main__':
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n\n')[0])
  # `--help` was taken for the prefix: it wrote --help_train.hlo and two more.
  parser.add_argument('prefix', help='write PREFIX_train.hlo, PREFIX_report.hlo and '
                      'PREFIX_policy.hlo')
  args = parser.parse_args()
  if not os.path.isfile(os.path.join('tests', 'agent', 'conftest.py')):
    sys.exit(f'Error: run it from the root of a source tree (no tests/agent/conftest.py '
             f'in {os.getcwd()})')
  main(args.prefix)
