"""Shared by the run tests: a finalized debug config for a short in-process run, and a
snapshot of a folder's files (to show a refused command changed none)."""

import os

from configs import dmc
from dreamerv3_tf import configuration


def make_run_config(logdir, seed=0, task='dummy_disc_vec', random_agent=False, **run):
  """train_eval,debug on a 30-step dummy task, in-process envs, jsonl logs only.

  Logs every iteration, never reports or saves unless `run` says otherwise.
  """
  c = dmc.get_config('train_eval,debug')
  c.task = task
  c.seed = seed
  c.random_agent = random_agent
  c.logdir = str(logdir)
  c.env.dummy.length = 30
  c.logger.outputs = 'jsonl'
  c.run.update(log_every=-1, report_every=0, save_every=0, parallel=False)
  c.run.update(run)
  return configuration.finalize(c)


def snapshot(root):
  """{path: (bytes, mtime)} of every file below root."""
  out = {}
  for folder, _, files in os.walk(root):
    for name in files:
      path = os.path.join(folder, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, root)] = (f.read(), os.stat(path).st_mtime_ns)
  return out
