"""The scripts: the only places that wire envs, replay, agent, logger and checkpoint."""


def main(config):
  """Runs the script named by config.script."""
  if config.distribute == 'multi_worker':
    from dreamerv3_tf import distribute
    chief, index = distribute.worker_role()
    if not chief:
      # Every worker runs the loop and saves (MultiWorkerMirroredStrategy needs all
      # of them in a save), but only the chief writes the run's own logdir.
      with config.unlocked():
        config.logdir = config.logdir.rstrip('/') + f'/workers/{index}'
  if config.run.deterministic:
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
  if config.script == 'eval_only':
    from dreamerv3_tf.run import eval_only
    return eval_only.eval_only(config)
  from dreamerv3_tf.run import train_eval
  if config.script == 'train':
    return train_eval.train_eval(config, evaluate=False)
  return train_eval.train_eval(config, evaluate=True)
