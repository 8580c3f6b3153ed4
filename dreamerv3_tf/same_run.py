"""Whether the processes of a multi_worker run see the same run in their logdirs.

Each host may mount the shared storage at its own path (host1 /mnt/nfs/run1, host2
/shared/run1), so the logdir strings are not compared (run_files.shared_flags leaves
them out); distribute.check_same_flags compares what each process sees instead:

  mine = seen(config.logdir, plan.path, config.run.resume_from)  # JSON-able
  line = difference(theirs, mine)  # None, or what differs, for one line

Reads only, and no TensorFlow for a local logdir.
"""

import hashlib
import os
import socket

from dreamerv3_tf import run_files


def seen(logdir, checkpoint, resume_from=''):
  """-> what this process sees of its run: its host, its logdir (and the directory it
  resolves to), and the checkpoint it resumes (None: a new run) with a digest of that
  checkpoint's index, which lists a checksum of every variable it holds."""
  remote = '://' in logdir
  return {'host': socket.gethostname(), 'logdir': logdir,
          # (a URL names the same place on every host; a local logdir need not exist yet)
          'place': logdir.rstrip('/') if remote else os.path.realpath(
              os.path.expanduser(logdir)),
          'checkpoint': os.path.basename(checkpoint) if checkpoint else None,
          'contents': _digest(checkpoint + '.index') if checkpoint else None,
          'chosen': bool(checkpoint and resume_from)}


def _digest(path):
  fs = run_files.file_ops(path)
  try:
    with fs.open(path, 'rb') as f:
      return hashlib.sha256(f.read()).hexdigest()[:16]
  except Exception:  # noqa: BLE001 - OSError or TensorFlow's: compared as unreadable
    return None


def difference(theirs, mine):
  """-> 'sees ..., this process ...; ...' when another process (`theirs`, its `seen`)
  would not train the run this one does, else None: a URL logdir must be the same URL,
  two processes of one host the same directory, and every process must resume the
  same checkpoint (or none)."""
  if theirs is None:
    return None  # (another version: its flags differ, which says so)
  where = f"its logdir {theirs['logdir']}"
  if "://" in theirs['place'] + mine['place'] or theirs['host'] == mine['host']:
    if theirs['place'] != mine['place']:
      same_host = theirs['host'] == mine['host'] and '://' not in theirs['place'] + mine['place']
      there = f"on this host ({theirs['host']}) " if same_host else ''
      return (f"runs {there}in {where}, this process in {mine['logdir']}, which is "
              f"another {'directory' if same_host else 'place'}; give every worker the "
              'same run: the same logdir, or where its host mounts the shared storage')
  if (theirs['checkpoint'], theirs['contents']) == (mine['checkpoint'], mine['contents']):
    return None
  other = theirs['checkpoint'] == mine['checkpoint']  # (of other contents)
  return (f"{_sees(theirs, where, other)}, this process {_sees(mine, mine['logdir'], False)}; "
          'give every worker the same run (its logdir where each host mounts the shared '
          'storage) and the same run.resume_from')


def _sees(view, where, other):
  """'sees no checkpoint in WHERE', 'resumes ckpt-40 from WHERE'..."""
  if not view['checkpoint']:
    return f'sees no checkpoint in {where}'
  what = f"a {view['checkpoint']} of other contents" if other else view['checkpoint']
  return f"resumes {what}{' (run.resume_from)' if view['chosen'] else ''} from {where}"
