"""The scripts: the only places that wire envs, replay, agent, logger and checkpoint."""


def main(config):
  """Runs the script named by config.script."""
  if config.run.deterministic:
    import tensorflow as tf
    tf.config.experimental.enable_op_determinism()
  if config.script == 'eval_only':
    from dreamerv3_tf.run import eval_only
    return eval_only.eval_only(config)
  from dreamerv3_tf import distribute
  from dreamerv3_tf.run import train_eval
  try:
    return train_eval.train_eval(config, evaluate=config.script == 'train_eval')
  except Exception as e:  # noqa: BLE001 - only a failed collective is translated
    lost = config.distribute == 'multi_worker' and distribute.lost_worker(e)
    if not lost:
      raise
    raise lost from None
