"""The file operations replay persistence needs, for local paths (numpy-only layer).

`dreamerv3_tf.gfile.GFiles` has the same methods over tf.io.gfile, so replay
chunks can live in a gs:// logdir without this layer importing TensorFlow.
`write_atomic` writes whole files: replay chunks, config.json, spaces.json, plots.
"""

import os
import stat
import uuid


class LocalFiles:

  join = staticmethod(os.path.join)

  def open(self, path, mode):
    return open(path, mode)

  def sync(self, f):
    """Makes a written file durable before it is renamed into place."""
    f.flush()
    os.fsync(f.fileno())

  def exists(self, path):
    return os.path.exists(path)

  def isdir(self, path):
    return os.path.isdir(path)

  def makedirs(self, path):
    os.makedirs(path, exist_ok=True)

  def listdir(self, path):
    return os.listdir(path)

  def remove(self, path):
    os.remove(path)

  def replace(self, src, dst):
    """Renames src over dst. A file it replaces keeps its permission bits: a user's
    chmod of metrics.jsonl or config.json outlives the rewrite (it got the umask's)."""
    try:
      os.chmod(src, stat.S_IMODE(os.stat(dst).st_mode))
    except FileNotFoundError:
      pass
    os.replace(src, dst)

  def identity(self, path):
    """A key that is equal for two spellings of the same directory."""
    return os.path.realpath(path)


LOCAL = LocalFiles()


def special_file(path, devices=False):
  """'a named pipe' or 'a socket' if local `path` is one (opening a pipe blocks until
  another process opens its other end), with `devices` also 'a character device' or 'a
  block device', else None; without, /dev/null and other devices pass."""
  try:
    mode = os.stat(path).st_mode
  except (OSError, ValueError):  # missing, a broken link, a NUL: the other checks name it
    return None
  kinds = [(stat.S_ISFIFO, 'a named pipe'), (stat.S_ISSOCK, 'a socket')]
  if devices:
    kinds += [(stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device')]
  return next((name for test, name in kinds if test(mode)), None)


def write_atomic(path, data, fs=LOCAL):
  """Writes bytes `data` to `path` under a temporary name beside it, synced, then renamed
  into place: a reader, or a crash, sees the old file or the whole new one. A failed
  write removes its temporary file and raises."""
  directory, name = os.path.split(path)
  # The temporary adds 38 bytes to the name: one near the filesystem's limit (255 bytes)
  # gives it no name part ('.tmp-<hex>'; plot --out of a 250-byte name failed with 'File
  # name too long' after drawing).
  prefix = f'.{name}' if len(os.fsencode(name)) <= 200 else ''
  tmp = fs.join(directory, f'{prefix}.tmp-{uuid.uuid4().hex}')
  try:
    with fs.open(tmp, 'wb') as f:
      f.write(data)
      fs.sync(f)
    fs.replace(tmp, path)
  except BaseException as e:
    if fs.exists(tmp):
      fs.remove(tmp)
    if isinstance(e, OSError) and e.filename in (None, tmp) and e.errno is not None:
      # A write or sync names no file: a resume on a full disk said only 'Error: [Errno
      # 28] No space left on device' (as it set rows aside in metrics.after-step-N.jsonl).
      # One that cannot make the temporary (no inode left) named it, '.NAME.tmp-<hex>'.
      raise OSError(e.errno, e.strerror, path) from e
    raise
