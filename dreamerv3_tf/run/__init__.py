"""The scripts: the only places that wire envs, replay, agent, logger and checkpoint."""

import sys


def main(config, import_tensorflow=None, done=None):
  """Runs the script named by config.script.

  import_tensorflow: imports TensorFlow (main's quiet import; default a plain one). The
  train scripts call it once their env workers are starting, so that the two overlap
  (envs in this process are built after it: run/train_eval.py says why).
  done: called once the script has written everything, before its envs close (main's
  ignores stop signals from then on).
  """
  def load():
    if import_tensorflow:
      import_tensorflow()
    import tensorflow as tf
    if config.run.deterministic:
      tf.config.experimental.enable_op_determinism()
    _check_xla_cache_url(str(config.xla_cache or ''))
    _check_from_checkpoint_url(config)

  if config.script == 'eval_only':
    load()
    from dreamerv3_tf.run import eval_only
    return eval_only.eval_only(config, done)
  from dreamerv3_tf.run import train_eval  # imports no TensorFlow
  try:
    return train_eval.train_eval(
        config, evaluate=config.script == 'train_eval', load_tensorflow=load, done=done)
  except Exception as e:  # noqa: BLE001 - only a failed collective is translated
    if config.distribute != 'multi_worker' or 'tensorflow' not in sys.modules:
      raise
    from dreamerv3_tf import distribute
    lost = distribute.lost_worker(e)
    if not lost:
      raise
    raise lost from None


def _check_xla_cache_url(cache):
  """LogdirError (exit code 1) if a remote config.xla_cache cannot be read, before the
  logdir is written: the first compile stopped the run with 'Error: Error executing an
  HTTP request: ...' (gs:// without network), naming neither the key nor the path."""
  reason = _unreadable_url(cache)
  if reason:
    from dreamerv3_tf import configuration
    raise configuration.LogdirError(
        f"Cannot read xla_cache {cache}: {reason}; pass a local xla_cache, or '' for none")


def _check_from_checkpoint_url(config):
  """CheckpointError if a remote run.from_checkpoint that this start reads cannot be
  read, as TensorFlow loads: its line ('Cannot read --config.run.from_checkpoint
  gs://b/ckpt: ...') came once the agent was built and compiled (30 s and more on a
  first start). A resume reads its own checkpoint, not this one."""
  path = str(config.run.from_checkpoint or '')
  if '://' not in path:
    return
  import tensorflow as tf
  from dreamerv3_tf import logdir_checks
  try:
    if config.script != 'eval_only' and logdir_checks.has_checkpoints(config.logdir):
      return
  except tf.errors.OpError:
    return  # a remote logdir that cannot be read: its check names it
  reason = _unreadable_url(path)
  if reason:
    from dreamerv3_tf.checkpoint_errors import CheckpointError
    raise CheckpointError(f'Cannot read --config.run.from_checkpoint {path}: {reason}')


def _unreadable_url(path):
  """-> why TensorFlow's file systems cannot read remote `path` (gs:// without network, a
  scheme it lacks), in one line, else None (also for a local path)."""
  if '://' not in path:
    return None
  import tensorflow as tf
  try:
    tf.io.gfile.exists(path)  # (isdir says False for any error)
  except tf.errors.OpError as e:
    from dreamerv3_tf.core import errors
    return errors.one_line(e)
  return None
