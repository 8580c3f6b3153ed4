import errno
import os
import stat
import subprocess
import sys
import textwrap

import pytest

import tmpfs_namespace
from dreamerv3_tf.core import files

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def mode(path):
  return stat.S_IMODE(os.stat(path).st_mode)


def test_a_rewritten_file_keeps_its_mode_and_a_new_one_gets_the_umasks(tmp_path):
  """write_atomic renames a new file over the old one: the old one's permission bits
  (a user's chmod) were lost to the umask's."""
  path = tmp_path / 'metrics.jsonl'
  umask = os.umask(0o022)
  try:
    files.write_atomic(str(path), b'{"step": 1}\n')
    assert mode(path) == 0o644  # a new file: as open() makes it
    os.chmod(path, 0o600)
    files.write_atomic(str(path), b'{"step": 2}\n')
  finally:
    os.umask(umask)
  assert mode(path) == 0o600
  assert path.read_bytes() == b'{"step": 2}\n'
  assert sorted(os.listdir(tmp_path)) == ['metrics.jsonl']  # no temporary left


def test_a_rewrite_through_a_link_keeps_the_mode_of_the_file_it_names(tmp_path):
  target, link = tmp_path / 'real.json', tmp_path / 'config.json'
  target.write_text('{}')
  os.chmod(target, 0o640)
  link.symlink_to(target)
  files.write_atomic(os.path.realpath(link), b'{"a": 1}')  # as the logger rewrites
  assert mode(target) == 0o640 and link.is_symlink()
  assert link.read_text() == '{"a": 1}'


def test_a_name_near_the_filesystems_limit_is_written(tmp_path):
  """The temporary name beside it added 38 bytes: plot --out of a 250-byte name failed
  after drawing ('cannot write ...png: File name too long'), though the name fits."""
  path = tmp_path / ('p' * 251 + '.png')
  files.write_atomic(str(path), b'image')
  assert path.read_bytes() == b'image' and os.listdir(tmp_path) == [path.name]


class _FullDisk(files.LocalFiles):
  """A disk that fills as the file is made durable (fsync, or write, gives ENOSPC)."""

  def sync(self, f):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_write_that_fails_names_the_file_and_leaves_the_old_one(tmp_path):
  """A failed write() or fsync() names no file: a resume on a full disk said only
  'Error: [Errno 28] No space left on device'."""
  path = tmp_path / 'metrics.after-step-0.jsonl'
  path.write_bytes(b'old')
  with pytest.raises(OSError) as caught:
    files.write_atomic(str(path), b'new', _FullDisk())
  assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(path))
  assert os.listdir(tmp_path) == [path.name] and path.read_bytes() == b'old'


# Writes files into a logdir as a run does (config.json whole, metrics.jsonl appended)
# until a new file cannot be made, and prints the line main prints for it.
_FILL_LOGDIR = textwrap.dedent("""
    import os, sys
    from dreamerv3_tf.core import base, errors, files, logger
    logdir = os.path.join(sys.argv[1], 'run')
    os.makedirs(logdir)
    files.write_atomic(os.path.join(logdir, 'config.json'), b'{}')
    metrics = logger.JSONLOutput(logdir)
    try:
      for i in range(10):
        metrics([(i, 'train/loss', 1.0)])  # appends: no new inode, so they go on
        with errors.file_errors():
          files.write_atomic(os.path.join(logdir, f'chunk-{i}.npz'), b'x' * 100)
    except base.UserError as e:
      print(errors.describe(e))
    """)


def test_a_file_system_out_of_inodes_is_named_so(tmp_path):
  """A tmpfs of few inodes (nr_inodes) refuses a new file with ENOSPC while it has room:
  a run's save there stopped with 'No space left on device' alone, and `df -h` showed
  the disk 19% used."""
  tmpfs_namespace.require()
  # 4 inodes: the root, run/, config.json and metrics.jsonl; 1 MiB, nearly all free.
  result = subprocess.run(
      [*tmpfs_namespace.prefix(tmp_path, 'size=1m,nr_inodes=4'), sys.executable, '-c', _FILL_LOGDIR,
       str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert result.returncode == 0, result.stderr[-2000:]
  run = tmp_path / 'run'
  line = result.stdout.strip()
  assert line == (  # the file meant, not its temporary '.chunk-0.npz.tmp-<hex>'
      f'Error: Cannot write {run}/chunk-0.npz: No space left on device (the file system at '
      f'{tmp_path} holds 4 files and folders at most, its inodes, 0 more now, though 1.0 MiB '
      f'are free: df -i {tmp_path}; remove files you do not need there, or give it more '
      'inodes)')
