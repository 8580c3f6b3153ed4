"""Clocks: when to log, report and save (Every), and how many updates to train (Ratio).

  should_log = Every(120)                        # seconds
  should_eval = Every(10_000, clock='steps')     # env steps
  should_train = Ratio(train_ratio / (batch_size * batch_length))
  for _ in range(should_train(step)): agent.train(...)

Both keep their state as plain numbers (`save() -> dict`, `load(dict)`) so a
checkpoint can hold them as JSON.
"""

import fractions
import math
import time


class Every:
  """Says True at most once every `every` seconds or env steps.

  Semantics:
    every > 0   True when `every` has passed since the last True. Steps triggers are
                aligned to multiples of `every` (steps 0, 100, 200, ... for every=100)
                and never catch up: a jump over several periods gives one True.
    every == 0  never (the thing is off).
    every < 0   always.
    first       the very first call returns `first` (default True) and starts the
                period; with first=False the first True comes one period later.
    load(...)   counts as a trigger: the first call after loading is False unless a
                full period passed since the loaded trigger. Seconds clocks restart
                their period at the time of loading (wall time does not carry across
                processes); steps clocks keep the loaded step (one ahead of the step,
                a seconds clock's time, restarts the period there). So registering a
                clock right after restoring a checkpoint causes no redundant save.
                A state that never fired (saved before the first call: a run's
                step-0 checkpoint) loads as a new clock, whose first call fires as
                the saved run's did.

  Args:
    every: period, in seconds or env steps.
    clock: 'seconds' or 'steps'.
    first: what the first call returns.
    timer: time source for the seconds clock (tests pass a fake one).
  """

  def __init__(self, every, clock='seconds', first=True, timer=time.time):
    if clock not in ('seconds', 'steps'):
      raise ValueError(f"Every clock must be 'seconds' or 'steps', got {clock!r}.")
    every = float(every)
    if math.isnan(every):
      raise ValueError('Every period is NaN.')
    self.every = every
    self.clock = clock
    self._first = bool(first)
    self._timer = timer
    self._prev = None     # time or step of the last trigger
    self._loaded = False  # the first call after load() must not fire for `first`

  def should(self, step=None):
    """-> bool. `step` (int or anything int() accepts) is required for 'steps'."""
    if self.every == 0:
      return False
    if self.every < 0:
      return True
    now = self._now(step)
    if self._prev is None:
      self._prev = self._align(now)
      fire = self._first and not self._loaded
      self._loaded = False
      return fire
    if now < self._prev:
      # A trigger ahead of the step: the time a seconds clock saved (run.clock changed on
      # a resume: it was taken for a step, and the clock never fired again), or a reset
      # counter. It counts as the last trigger, as a loaded one does.
      self._prev = self._align(now)
      return False
    if now >= self._prev + self.every:
      self._prev = self._align(now)
      return True
    return False

  __call__ = should

  def mark(self, step=None):
    """Records a trigger now (at `step`) without asking, e.g. after a manual save."""
    if self.every > 0:
      self._prev = self._align(self._now(step))

  def save(self):
    """-> {'prev': time or step of the last trigger, or None}."""
    return {'prev': self._prev}

  def load(self, state):
    """Restores `save()` output; the loaded moment counts as the last trigger."""
    prev = state['prev']
    if prev is None:  # never fired: a resume from step 0 skipped its first eval and log
      self._prev, self._loaded = None, False
      return
    if self.clock == 'seconds':
      self._prev = self._timer()
    else:
      self._prev = None if prev is None else float(prev)
    self._loaded = True

  def _now(self, step):
    if self.clock == 'seconds':
      return self._timer()
    if step is None:
      raise ValueError("Every(clock='steps') needs the current step: should(step).")
    return int(step)

  def _align(self, now):
    if self.clock == 'seconds':
      return now
    return (now // self.every) * self.every

  def __repr__(self):
    return f'Every({self.every:g}, clock={self.clock!r})'


class Ratio:
  """How many updates to run for the env steps since the last call.

  `ratio` updates per env step, e.g. `train_ratio / (batch_size * batch_length)`:
  with ratio 1/32, 100 new steps give 3 updates and the remaining 4 steps count
  toward the next call. The arithmetic is exact (a fraction of integers), so no
  update is lost to rounding over a long run. The very first call returns 1 when
  ratio > 0 (train as soon as there is data, e.g. to compile early) and starts the
  accounting at that step; that update is extra and not owed back.

  A step below the last one (a counter that was reset) restarts the accounting.
  """

  def __init__(self, ratio):
    ratio = float(ratio)
    if not math.isfinite(ratio) or ratio < 0:
      raise ValueError(f'Ratio must be a finite number >= 0, got {ratio}.')
    self.ratio = ratio
    self._frac = fractions.Fraction(ratio).limit_denominator(1 << 20)
    self._origin = None  # step where the accounting started
    self._done = 0       # updates handed out since the origin
    self._last = None    # last step seen

  def __call__(self, step):
    """-> int number of updates to run now."""
    step = int(step)
    if self.ratio == 0:
      return 0
    if self._origin is None or step < self._last:
      first = self._origin is None
      self._origin, self._done, self._last = step, 0, step
      return 1 if first else 0
    self._last = step
    due = (step - self._origin) * self._frac.numerator // self._frac.denominator
    count = due - self._done
    self._done = due
    return count

  def save(self):
    """-> {'origin', 'done', 'last'}: ints (or None before the first call)."""
    return {'origin': self._origin, 'done': self._done, 'last': self._last}

  def load(self, state):
    self._origin = state['origin']
    self._done = int(state['done'])
    self._last = state['last']

  def __repr__(self):
    return f'Ratio({self.ratio:g})'
