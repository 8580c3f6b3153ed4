"""Clocks: Every (steps and seconds), Ratio (exact remainders), save/load."""

import json

import pytest

from dreamerv3_tf.core import clocks


class FakeTime:

  def __init__(self, now=1000.0):
    self.now = now

  def __call__(self):
    return self.now


def test_every_steps_aligned_without_catch_up():
  every = clocks.Every(100, clock='steps')
  assert every(5)            # first call fires (first=True); period aligned to 0
  assert not every(99)
  assert every(100)
  assert not every(150)
  assert every(420)          # a jump over several periods fires once...
  assert not every(450)      # ...and does not catch up
  assert every(500)


def test_every_first_false_and_special_periods():
  every = clocks.Every(10, clock='steps', first=False)
  assert not every(3)
  assert not every(9)
  assert every(10)
  assert not any(clocks.Every(0, clock='steps')(s) for s in range(0, 100, 7))
  assert all(clocks.Every(-1, clock='steps')(s) for s in range(5))
  with pytest.raises(ValueError, match='needs the current step'):
    clocks.Every(10, clock='steps')()
  with pytest.raises(ValueError, match="'seconds' or 'steps'"):
    clocks.Every(10, clock='minutes')


def test_every_seconds():
  fake = FakeTime()
  every = clocks.Every(60, timer=fake)
  assert every()
  fake.now += 59
  assert not every()
  fake.now += 1
  assert every()
  fake.now += 30
  assert not every.should(step=123)  # the step is ignored by a seconds clock


def test_every_steps_save_load_registers_without_redundant_trigger():
  every = clocks.Every(100, clock='steps')
  every(0)
  assert every(200)
  state = json.loads(json.dumps(every.save()))  # plain numbers
  assert state == {'prev': 200}
  restored = clocks.Every(100, clock='steps')
  restored.load(state)
  assert not restored(250)   # no "first" trigger after loading
  assert restored(300)


def test_every_seconds_load_restarts_period():
  fake = FakeTime()
  every = clocks.Every(60, timer=fake)
  every()
  state = every.save()
  fake.now += 10_000            # a resumed process, long after the save
  restored = clocks.Every(60, timer=fake)
  restored.load(state)
  assert not restored()         # loading counts as the last trigger
  fake.now += 60
  assert restored()


def test_every_steps_loading_a_seconds_clocks_state_keeps_its_period():
  """A run of run.clock='seconds' resumed with run.clock='steps': the loaded trigger, a
  time (1.8e9 s), was taken for a step, so the clock never fired again (no log row, no
  report, no eval for the rest of the run)."""
  seconds = clocks.Every(60, timer=FakeTime(1_796_558_118.5))
  seconds()
  restored = clocks.Every(100, clock='steps')
  restored.load(json.loads(json.dumps(seconds.save())))
  assert not restored(2000)  # loading counts as the last trigger, as for a steps clock
  assert not restored(2099)
  assert restored(2100)
  assert not restored(2150)
  assert restored(2200)


def test_every_mark():
  every = clocks.Every(100, clock='steps')
  every(0)
  every.mark(180)  # e.g. a manual save at step 180: the next one is due at 200
  assert not every(199)
  assert every(200)


def test_ratio_keeps_fractional_remainder():
  ratio = clocks.Ratio(1 / 32)
  assert ratio(1000) == 1       # first call: one update right away
  assert ratio(1031) == 0       # 31 steps: not yet
  assert ratio(1032) == 1       # 32 steps
  assert ratio(1100) == 2       # 68 more steps (2 x 32 + 4 left over)
  assert ratio(1128) == 1       # the 4 left over + 28 = 32
  total = sum(ratio(1128 + s) for s in range(1, 3201))
  assert total == 100


def test_ratio_exact_for_non_binary_fractions():
  ratio = clocks.Ratio(0.29)
  ratio(0)
  assert sum(ratio(s) for s in range(1, 101)) == 29  # float accumulation gives 28
  ratio = clocks.Ratio(2.5)
  ratio(0)
  assert [ratio(s) for s in range(1, 5)] == [2, 3, 2, 3]


def test_ratio_save_load_and_edges():
  ratio = clocks.Ratio(0.1)
  ratio(0)
  assert ratio(15) == 1
  state = json.loads(json.dumps(ratio.save()))
  restored = clocks.Ratio(0.1)
  restored.load(state)
  assert restored(20) == 1      # 5 left over + 5 new: no "first" bonus after load
  assert clocks.Ratio(0)(10) == 0
  assert clocks.Ratio(0)(20) == 0
  back = clocks.Ratio(1.0)
  back(100)
  assert back(50) == 0          # counter went back: accounting restarts
  assert back(53) == 3
  with pytest.raises(ValueError, match='>= 0'):
    clocks.Ratio(-1)


def test_every_loading_a_state_that_never_fired_is_a_new_clock():
  """A run killed before its first periodic save resumes from its step-0 checkpoint,
  saved before any clock fired: the loaded clocks skipped their first call, so the
  resumed run never evaluated, reported nor logged at its first step, whose rows of
  the stopped run it had moved aside (scores.after-step-0.jsonl): lost for good."""
  for clock in ('steps', 'seconds'):
    timer = FakeTime()  # (a seconds clock's time stands still here)
    saved = clocks.Every(40, clock=clock, timer=timer).save()
    assert saved == {'prev': None}
    restored = clocks.Every(40, clock=clock, timer=timer)
    restored.load(json.loads(json.dumps(saved)))
    assert restored(10), clock  # as the uninterrupted run's first call did
    assert not restored(20), clock
