"""Traced programs named the same in every process, whatever it traced before.

XLA's persistent cache (`config.xla_cache`) finds a program by its HLO and by the
name of the function it was traced from, and TensorFlow numbers function names, like
every graph tensor, from one counter for the whole process. Whatever ran before a
trace moved that counter, so a program whose math had not changed could still miss
the cache: a resume compiled its train step again (a size1m resume's first update
came after 16 s instead of 7), and a debug run with `run.envs=3` after one with 2
compiled all four programs (BENCHMARKS.md, session 32).

`scope(key)` numbers the tensors and functions of one trace from a base that depends
only on `key` (the step, its input shapes and the model's config: Agent._names) and on
how often this process traced that key before. A process that traces a key for the
first time names it as every other process does; a second trace in the same process
gets other names, so that two different functions never share one. Bases are 2**40
apart and at least 2**40, far above the process counter, which other tensors keep using.
"""

import contextlib
import hashlib
import itertools
import threading

from tensorflow.python.framework import ops

_SPACING = 1 << 40       # numbers per trace; a size12m train step's takes 8,400
_BASES = (1 << 22) - 1   # distinct bases: base * spacing stays below 2**62

_lock = threading.Lock()
_traced = {}             # key -> traces of it in this process
_active = []             # the scope in force (ops.uid is one for the whole process)


def base(key, occurrence):
  """The first number of trace `occurrence` (0, 1, ...) of `key` in a process."""
  digest = hashlib.sha256(f'{key}#{occurrence}'.encode()).digest()
  return (int.from_bytes(digest[:8], 'little') % _BASES + 1) * _SPACING


@contextlib.contextmanager
def scope(key):
  """Within it, TensorFlow's unique ids (ops.uid) count from base(key, occurrence).
  A scope entered inside another keeps the outer one's numbering."""
  if _active or not callable(getattr(ops, 'uid', None)):
    yield
    return
  with _lock:
    occurrence = _traced.get(key, 0)
    _traced[key] = occurrence + 1
  counter = itertools.count(base(key, occurrence))
  original = ops.uid
  ops.uid = lambda: next(counter)
  _active.append(key)
  try:
    yield
  finally:
    ops.uid = original
    _active.pop()
