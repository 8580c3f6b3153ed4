"""Every default in one ConfigDict. Suite files (dmc.py, gym.py, ...) start from here.

Keys of `agent.*` sub-dicts are the constructor keywords of the Keras modules, so
`RSSM(**config.agent.rssm)` works and checkpoint names stay readable.
"""

import ml_collections as mlc


def get_config():
  c = mlc.ConfigDict()
  c.script = 'train_eval'          # train | train_eval | eval_only
  c.task = 'dmc_walker_walk'       # <suite>_<name>, e.g. gym_CartPole-v1, atari_pong
  c.logdir = ''                    # set by --logdir; empty means ~/logdir/<timestamp>
  c.seed = 0
  c.random_agent = False
  c.jit = True                     # False runs policy/train/report eagerly (debugging)
  c.batch_size = 16
  c.batch_length = 64
  c.report_length = 32
  c.replay_context = 1
  c.distribute = 'default'         # default | mirrored | multi_worker | tpu
  c.compute_dtype = 'float32'      # bfloat16 on GPU/TPU
  c.xla_cache = '~/.cache/dreamerv3_tf/xla'  # compiled XLA programs reused across runs; '' off
  c.xla_flags = ''                 # appended to XLA_FLAGS, e.g. '--xla_cpu_use_fusion_emitters=false'

  c.env = mlc.ConfigDict()
  c.env.dmc = dict(size=(64, 64), repeat=1, proprio=True, image=True, camera=-1)
  c.env.gym = dict(size=(64, 64), repeat=1, image=False)
  c.env.atari = dict(
      size=(96, 96), repeat=4, sticky=True, gray=True, actions='all',
      lives='unused', noops=30, pooling=2, aggregate='max', clip_reward=False)
  c.env.atari100k = dict(
      size=(64, 64), repeat=4, sticky=False, gray=False, actions='needed',
      lives='unused', noops=30, pooling=2, aggregate='max', clip_reward=False)
  c.env.crafter = dict(size=(64, 64))
  c.env.dummy = dict(length=100, size=(64, 64))
  c.env.py = dict()                # task py_<module>:<function>: its keyword arguments,
                                   # e.g. --config.env.py='{"length": 5}'
  c.env.time_limit = 0             # 0: the suite's own limit

  c.replay = mlc.ConfigDict()
  c.replay.size = int(5e6)
  c.replay.eval_fraction = 0.1     # eval replay capacity = size * eval_fraction
  c.replay.online = True
  c.replay.chunksize = 1024
  c.replay.save_updates = False    # persist latents written back after a chunk's save
  c.replay.fracs = dict(uniform=1.0, priority=0.0, recency=0.0)
  c.replay.prio = dict(exponent=0.8, maxfrac=0.5, initial=float('inf'), zero_on_sample=True)
  c.replay.recexp = 1.0

  c.run = mlc.ConfigDict()
  c.run.steps = int(1e10)
  c.run.duration = 0               # seconds; 0 means no limit
  c.run.train_ratio = 32.0         # replayed steps per env step
  # The three *_every below: 0 never, < 0 every 10 env steps (each check of the loop).
  c.run.clock = 'seconds'          # unit of log_every / report_every / save_every
  c.run.log_every = 120.0
  c.run.report_every = 300.0
  c.run.save_every = 900.0
  c.run.deterministic = False      # exact resume: no prefetch, op determinism; needs clock='steps'
  c.run.envs = 4
  c.run.eval_envs = 1
  c.run.eval_eps = 1
  c.run.report_batches = 1
  c.run.parallel = True            # envs in subprocesses
  c.run.env_timeout = 120.0        # s to build an env or take a step, else it failed
  c.run.keep_checkpoints = 3
  c.run.from_checkpoint = ''
  c.run.from_checkpoint_regex = '.*'
  c.run.resume_from = ''            # resume from this checkpoint of the logdir, not the latest
  c.run.allow_other_config = False # reuse a logdir whose saved config differs
  c.run.max_nonfinite_updates = 100  # stop after this many skipped updates in a row; 0 never

  c.logger = mlc.ConfigDict()
  c.logger.outputs = 'terminal,jsonl,tensorboard'
  c.logger.fps = 15

  c.agent = mlc.ConfigDict()
  a = c.agent
  a.loss_scales = dict(
      rec=1.0, rew=1.0, con=1.0, dyn=1.0, rep=0.1, policy=1.0, value=1.0,
      repval=0.3)
  a.opt = dict(lr=4e-5, agc=0.3, eps=1e-20, beta1=0.9, beta2=0.999, warmup=1000)
  a.rssm = dict(
      deter=8192, hidden=1024, stoch=32, classes=64, unimix=0.01, blocks=8,
      imglayers=2, obslayers=1, free_nats=1.0)
  a.enc = dict(depth=64, mults=(2, 3, 4, 4), layers=3, units=1024, kernel=5, symlog=True)
  a.dec = dict(depth=64, mults=(2, 3, 4, 4), layers=3, units=1024, kernel=5, bspace=8)
  a.rewhead = dict(layers=1, units=1024, bins=255, outscale=0.0, predsum='official')
  a.conhead = dict(layers=1, units=1024, outscale=1.0)
  # unimix 0: the official discrete policy is a plain categorical (the paper: 0.01).
  a.policy = dict(layers=3, units=1024, minstd=0.1, maxstd=1.0, unimix=0.0, outscale=0.01)
  a.value = dict(layers=3, units=1024, bins=255, outscale=0.0, predsum='official')
  a.imag_length = 15
  a.horizon = 333
  a.contdisc = True
  a.imag_loss = dict(lam=0.95, actent=3e-4, slowreg=1.0)
  a.repl_loss = dict(lam=0.95, slowreg=1.0)
  a.slowvalue = dict(rate=0.02, every=1)
  a.retnorm = dict(rate=0.01, limit=1.0, perclo=5.0, perchi=95.0)
  a.repval_loss = True
  a.eval_sample = False            # True: eval mode samples like the official code
  return c


SIZES = {
    '1m': dict(deter=512, hidden=64, classes=4, depth=4, units=64),
    '12m': dict(deter=2048, hidden=256, classes=16, depth=16, units=256),
    '25m': dict(deter=3072, hidden=384, classes=24, depth=24, units=384),
    '50m': dict(deter=4096, hidden=512, classes=32, depth=32, units=512),
    '100m': dict(deter=6144, hidden=768, classes=48, depth=48, units=768),
    '200m': dict(deter=8192, hidden=1024, classes=64, depth=64, units=1024),
    '400m': dict(deter=12288, hidden=1536, classes=96, depth=96, units=1536),
}
