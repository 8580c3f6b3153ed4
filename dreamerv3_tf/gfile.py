"""tf.io.gfile behind the LocalFiles interface: logdirs on gs:// and local disks alike."""

import tensorflow as tf


class GFiles:

  join = staticmethod(lambda *parts: '/'.join(
      [parts[0].rstrip('/')] + [p.strip('/') for p in parts[1:]]))

  def open(self, path, mode):
    return tf.io.gfile.GFile(path, mode)

  def sync(self, f):
    f.flush()  # GFile has no fsync; the rename below is what makes a write atomic

  def exists(self, path):
    return tf.io.gfile.exists(path)

  def isdir(self, path):
    return tf.io.gfile.isdir(path)

  def makedirs(self, path):
    tf.io.gfile.makedirs(path)

  def listdir(self, path):
    return [x.rstrip('/') for x in tf.io.gfile.listdir(path)]

  def remove(self, path):
    tf.io.gfile.remove(path)

  def replace(self, src, dst):
    tf.io.gfile.rename(src, dst, overwrite=True)

  def identity(self, path):
    return path.rstrip('/')


GFILES = GFiles()
