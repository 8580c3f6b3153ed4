"""Reads a run's metrics.jsonl and prints whether memory, file handles and threads stay flat.

  python bench/leak_report.py --logdir ~/logdir/run1 [--rows 12] [--warmup_steps 500]

RSS (usage/proc_ram_gb) grows with the replays' own data, so the table subtracts it:
the train replay's chunks (replay/ram_gb) and the eval replay's, estimated from the
eval steps so far (sum of epstats/length) at the train replay's bytes per step (both
replays store the same keys). What remains ("rest") is what a leak would show in.
"""

import argparse
import json
import os


def rows_of(logdir):
  path = os.path.join(os.path.expanduser(logdir), 'metrics.jsonl')
  if not os.path.isfile(path):  # was FileNotFoundError's traceback
    raise SystemExit(f'leak_report: {path} does not exist; give a run\'s logdir')
  with open(path) as f:
    records = [json.loads(line) for line in f if line.strip()]
  eval_steps, out = 0.0, []
  for r in records:
    eval_steps += r.get('epstats/length', 0.0)
    if 'usage/proc_ram_gb' in r and 'replay/ram_gb' in r:
      out.append(dict(step=r['step'], rss=r['usage/proc_ram_gb'], train=r['replay/ram_gb'],
                      train_steps=r.get('replay/steps', 0.0), eval_steps=eval_steps,
                      fds=r.get('usage/proc_fds'), threads=r.get('usage/proc_threads'),
                      children=r.get('usage/children_ram_gb')))
  if not out:  # was an IndexError
    raise SystemExit(f'leak_report: no rows with usage/proc_ram_gb and replay/ram_gb in {path}')
  last = out[-1]
  per_step = last['train'] / max(last['train_steps'], 1.0)
  for row in out:
    row['eval'] = row['eval_steps'] * per_step
    row['rest'] = row['rss'] - row['train'] - row['eval']
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
  parser.add_argument('--logdir', required=True)
  parser.add_argument('--rows', type=int, default=12)
  parser.add_argument('--warmup_steps', type=int, default=500)
  args = parser.parse_args(argv)
  if args.rows < 2:  # 1 divided by zero
    parser.error(f'--rows {args.rows}: give 2 or more')
  rows = [r for r in rows_of(args.logdir) if r['step'] >= args.warmup_steps]
  if not rows:
    raise SystemExit(f'leak_report: no usage/ rows after step {args.warmup_steps} in {args.logdir}')
  pick = sorted(set([round(i * (len(rows) - 1) / (args.rows - 1)) for i in range(args.rows)]))
  print('| env step | RSS GB | train replay GB | eval replay GB (est.) | rest GB | fds | threads '
        '| env workers GB |')
  print('|---|---|---|---|---|---|---|---|')
  for i in pick:
    r = rows[i]
    print(f"| {r['step']:.0f} | {r['rss']:.3f} | {r['train']:.3f} | {r['eval']:.3f} | "
          f"{r['rest']:.3f} | {r['fds']:.0f} | {r['threads']:.0f} | {r['children']:.3f} |")
  rest = [r['rest'] for r in rows]
  print(f'rest: first {rest[0]:.3f}, last {rest[-1]:.3f}, min {min(rest):.3f}, '
        f'max {max(rest):.3f} GB over {len(rows)} log rows; fds {rows[0]["fds"]:.0f} -> '
        f'{rows[-1]["fds"]:.0f}, threads {rows[0]["threads"]:.0f} -> {rows[-1]["threads"]:.0f}')


if __name__ == '__main__':
  main()
