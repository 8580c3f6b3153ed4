"""The error of a checkpoint or export that cannot be loaded or saved. Its own module
without TensorFlow: the export command raises it before TensorFlow loads."""

from dreamerv3_tf.core import base


class CheckpointError(base.UserError, RuntimeError):
  """A checkpoint that cannot be loaded or saved; the message is one line."""


class SaveError(CheckpointError, base.WriteError):
  """A checkpoint that could not be saved (those saved before are kept)."""


class ResumeFromError(CheckpointError):
  """A run.resume_from that names no checkpoint to resume from, though its files may be
  whole (one older than an intact later one): a config value, as the checks before
  TensorFlow loads (logdir_checks.check_resume_from) call the others."""

  prefix = 'Config error'
  exit_code = 2
