"""The official agent's policy, in mode, on a DMC task: recorded steps and episode scores.

Runs in the official code's venv (tools/parity/README.md; dm_control installed there):

  PYTHONPATH=/work/official/src /work/official/venv/bin/python \\
      tools/parity/official_policy.py --logdir OFFICIAL_LOGDIR --seed SEED \\
      --episodes 3 --record 200 --out official_policy.npz

Loads the latest checkpoint of an official training run (its config.yaml names the
task and sizes), replaces the samplers by modes (the argmax latent, the mean action:
what our deterministic eval policy and a SavedModel's step_eval compute) and runs
the policy on `suite.load(domain, task, task_kwargs={'random': SEED})`, the way our
DMC env is seeded, for whole episodes one after another in that one env. Writes the
first `--record` observations and actions, and every episode's score.
`tools/parity/compare_policy.py` runs our SavedModel on the same observations.
"""

import argparse
import json
import os
import sys

import numpy as np


def load_agent(logdir):
  import elements
  import ruamel.yaml as yaml
  from dreamerv3 import agent as agent_mod
  data = yaml.YAML(typ='safe').load((elements.Path(logdir) / 'config.yaml').read())
  data['jax'].update(precompile=False, profiler=False, platform='cpu')
  config = elements.Config(data)
  domain, task = config.task.split('_', 1)[1].split('_', 1)
  from dm_control import suite
  env = suite.load(domain, task)
  obs = {'reward': elements.Space(np.float32), 'is_first': elements.Space(bool),
         'is_last': elements.Space(bool), 'is_terminal': elements.Space(bool)}
  for key, spec in env.observation_spec().items():
    obs[key.replace('/', '_')] = elements.Space(np.float32, (int(np.prod(spec.shape)),))
  spec = env.action_spec()
  act = {'action': elements.Space(np.float32, spec.shape, -1.0, 1.0)}
  agent = agent_mod.Agent(obs, act, elements.Config(
      **config.agent, logdir=str(logdir), seed=config.seed, jax=config.jax,
      batch_size=config.batch_size, batch_length=config.batch_length,
      replay_context=config.replay_context, report_length=config.report_length,
      replica=0, replicas=1))
  cp = elements.Checkpoint(elements.Path(logdir) / 'ckpt')
  cp.agent = agent
  cp.load()
  return agent, config, (domain, task), obs


def run(args):
  sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
  import make_golden  # the samplers, replaced by modes
  make_golden.require_official_code()
  make_golden.patch('official')
  make_golden.FEED.mode = 'mode'
  agent, config, (domain, task), obs_space = load_agent(args.logdir)
  from dm_control import suite
  env = suite.load(domain, task, task_kwargs={'random': args.seed % 2 ** 32})
  keys = [k for k in obs_space if k not in ('reward', 'is_first', 'is_last', 'is_terminal')]
  recorded = {k: [] for k in keys + ['is_first', 'action']}
  scores = []
  carry = agent.init_policy(1)
  for _ in range(args.episodes):
    time_step = env.reset()
    score, first = 0.0, True
    while True:
      obs = {k: np.asarray(time_step.observation[k], np.float32).reshape(1, -1)
             for k in keys}
      obs.update(reward=np.zeros(1, np.float32), is_first=np.array([first]),
                 is_last=np.array([time_step.last()]), is_terminal=np.array([False]))
      carry, act, _ = agent.policy(carry, obs, mode='eval')
      action = np.asarray(act['action'], np.float32)
      if len(recorded['action']) < args.record:
        for k in keys + ['is_first']:
          recorded[k].append(obs[k][0])
        recorded['action'].append(action[0])
      if time_step.last():
        break
      time_step = env.step(np.clip(action[0], -1, 1))
      score += float(time_step.reward)
      first = False
    scores.append(score)
    print(f'episode {len(scores)}: score {score:.2f}', flush=True)
  out = {f'obs/{k}': np.stack(v) for k, v in recorded.items() if k != 'action'}
  out['action'] = np.stack(recorded['action'])
  out['scores'] = np.array(scores, np.float64)
  out['meta'] = np.array(json.dumps({'task': config.task, 'seed': args.seed,
                                     'logdir': str(args.logdir)}))
  tmp = f'{args.out}.tmp-{os.getpid()}'  # whole or not at all
  with open(tmp, 'wb') as f:
    np.savez(f, **out)
  os.replace(tmp, args.out)
  print(f'wrote {args.out}: scores {scores}')


def main(argv):
  p = argparse.ArgumentParser(description=(__doc__ or '').split('\n\n')[0])
  p.add_argument('--logdir', required=True)
  p.add_argument('--seed', type=int, required=True, help='the env seed (our eval env 0)')
  p.add_argument('--episodes', type=int, default=3)
  p.add_argument('--record', type=int, default=200)
  p.add_argument('--out', required=True)
  run(p.parse_args(argv))


if __name__ == '__main__':
  main(sys.argv[1:])
