"""Environments (numpy only): suites behind one step-dict interface.

`make_env(task, config.env, seed, mode)` builds any suite's env with the
standard wrapper chain; suite packages are imported only when used.
"""

from dreamerv3_tf.envs.registry import SUITES
from dreamerv3_tf.envs.registry import make_env

__all__ = ['SUITES', 'make_env']
