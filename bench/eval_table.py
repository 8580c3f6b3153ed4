"""The eval scores of finished runs, one row per run, one column per report (not a test).

  python bench/eval_table.py runs/quick/avx512_s0 runs/quick/avx512_s1 ...
  python bench/eval_table.py --first_above 200 runs/quick/*_s?

Reads each logdir's scores.jsonl (the eval episodes are `epstats/score`) and
prints a markdown table: the mean eval score at each report step, the first step
whose mean reached `--first_above`, and the last report's mean.
"""

import argparse
import collections
import json
import os


def eval_means(logdir):
  """-> {step: mean eval score} of one run's eval episodes (logged per report)."""
  scores = collections.defaultdict(list)
  path = os.path.join(logdir, 'scores.jsonl')
  if not os.path.isfile(path):  # was FileNotFoundError's traceback
    raise SystemExit(f'eval_table: {path} does not exist; give runs\' logdirs')
  with open(path) as f:
    for line in f:
      row = json.loads(line)
      if 'epstats/score' in row:
        scores[int(row['step'])].append(row['epstats/score'])
  return {step: sum(v) / len(v) for step, v in sorted(scores.items())}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('logdirs', nargs='+')
  parser.add_argument('--first_above', type=float, default=200.0)
  args = parser.parse_args()
  runs = {d: eval_means(d) for d in args.logdirs}
  steps = sorted(set().union(*runs.values()))
  print('| run | ' + ' | '.join(f'{s}' for s in steps) +
        f' | first mean >= {args.first_above:g} | last |')
  print('|---|' + '---:|' * (len(steps) + 2))
  for d, means in runs.items():
    first = next((s for s, m in means.items() if m >= args.first_above), None)
    cells = [f'{means[s]:.0f}' if s in means else '' for s in steps]
    last = means[max(means)] if means else float('nan')
    print(f'| {os.path.basename(d.rstrip("/"))} | ' + ' | '.join(cells) +
          f' | {first if first is not None else "never"} | {last:.0f} |')


if __name__ == '__main__':
  main()
