"""The file operations replay persistence needs, for local paths (numpy-only layer).

`dreamerv3_tf.gfile.GFiles` has the same methods over tf.io.gfile, so replay
chunks can live in a gs:// logdir without this layer importing TensorFlow.
"""

import os


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
    os.replace(src, dst)

  def identity(self, path):
    """A key that is equal for two spellings of the same directory."""
    return os.path.realpath(path)


LOCAL = LocalFiles()
