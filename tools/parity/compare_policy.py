"""Our export of an imported official run against the official policy, step by step.

  python tools/parity/compare_policy.py --logdir OURS --seed      # the eval env's seed
  python tools/parity/compare_policy.py --logdir OURS --export SAVED_MODEL \\
      --recorded official_policy.npz

OURS is the logdir the importer wrote (`python -m dreamerv3_tf.interop.official`),
SAVED_MODEL its export, and official_policy.npz what tools/parity/official_policy.py
recorded (the official policy in mode on the env seeded like our eval env 0). Runs
`step_eval` of the SavedModel and our agent's eval policy (XLA) on the recorded
observations, carrying their state, and prints the differences of the actions as JSON.
"""

import argparse
import json
import os
import sys

import numpy as np


def eval_seed(logdir):
  from dreamerv3_tf import factories
  from dreamerv3_tf import run_files
  with open(os.path.join(logdir, 'config.json')) as f:
    config = run_files.from_json(f.read())
  return factories.env_seed(config, 'eval', 0)


def rollout(policy, recorded, keys):
  carry = policy.init_policy(1)
  actions = []
  for t in range(len(recorded['action'])):
    obs = {k: recorded[f'obs/{k}'][t][None] for k in keys + ['is_first']}
    carry, act, _ = policy.policy(carry, obs, mode='eval')
    actions.append(np.asarray(act['action'], np.float64)[0])
  return np.stack(actions)


def compare(logdir, export_dir, recorded_path):
  from dreamerv3_tf import checkpoint as checkpointing
  from dreamerv3_tf import export
  from dreamerv3_tf import factories
  from dreamerv3_tf import run_files
  with np.load(recorded_path, allow_pickle=False) as f:
    recorded = {k: f[k] for k in f.files}
  keys = sorted(k[len('obs/'):] for k in recorded if k.startswith('obs/') and k != 'obs/is_first')
  official = recorded['action'].astype(np.float64)
  with open(os.path.join(logdir, 'config.json')) as f:
    config = run_files.from_json(f.read())
  obs_space, act_space = run_files.load_spaces(logdir)
  agent = factories.make_agent(config, obs_space, act_space)
  checkpointing.load_agent(agent, os.path.join(logdir, 'ckpt'))
  out = {'steps': int(len(official)), 'official_scores': recorded['scores'].tolist()}
  for name, policy in (('saved_model', export.SavedPolicy(export_dir)), ('agent', agent)):
    ours = rollout(policy, recorded, keys)
    diff = np.abs(ours - official)
    out[name] = {'max_abs': float(diff.max()),
                 'max_rel': float((diff / np.maximum(np.abs(official), 1e-12)).max()),
                 'max_rel_to_range': float(diff.max() / np.abs(official).max())}
  return out


def main(argv):
  p = argparse.ArgumentParser(description=(__doc__ or '').split('\n\n')[0])
  p.add_argument('--logdir', required=True)
  p.add_argument('--seed', action='store_true', help='print the eval env seed and exit')
  p.add_argument('--export')
  p.add_argument('--recorded')
  args = p.parse_args(argv)
  # Each was a traceback: numpy's open of None, or a missing file's.
  if not os.path.isfile(os.path.join(args.logdir, 'config.json')):
    p.error(f'--logdir {args.logdir} holds no config.json: give the logdir the importer wrote')
  if not args.seed and not (args.export and args.recorded):
    p.error('give --seed, or both --export and --recorded')
  if not args.seed and not os.path.isfile(os.path.join(args.export, 'saved_model.pb')):
    p.error(f'--export {args.export} is no SavedModel directory (no saved_model.pb)')
  if not args.seed and not os.path.isfile(args.recorded):
    p.error(f'--recorded {args.recorded} does not exist (write it with official_policy.py)')
  if args.seed:
    print(eval_seed(args.logdir))
    return
  print(json.dumps(compare(args.logdir, args.export, args.recorded), indent=2))


if __name__ == '__main__':
  main(sys.argv[1:])
