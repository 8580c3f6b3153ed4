import collections
import warnings

import numpy as np
import pytest

from dreamerv3_tf.core import selectors


def stepids(key, length=3):
  """Distinct step ids for item `key`: steps key .. key + length - 1 (shared by neighbours)."""
  ids = np.zeros((length, 20), np.uint8)
  for t in range(length):
    ids[t, -8:] = np.frombuffer((key + t).to_bytes(8, 'big'), np.uint8)
  return ids


def counts(selector, draws):
  return collections.Counter(selector() for _ in range(draws))


def test_uniform_distribution_and_removal():
  sel = selectors.Uniform(seed=0)
  for key in range(10):
    sel[key] = stepids(key)
  del sel[0]
  del sel[5]  # out of FIFO order
  assert len(sel) == 8
  hist = counts(sel, 8000)
  assert set(hist) == set(range(10)) - {0, 5}
  assert all(800 < n < 1200 for n in hist.values()), hist


def test_uniform_many_fifo_removals_stay_correct():
  sel = selectors.Uniform(seed=1)
  for key in range(5000):
    sel[key] = None
    if key >= 100:
      del sel[key - 100]
  assert len(sel) == 100
  assert set(counts(sel, 2000)) <= set(range(4900, 5000))


def test_uniform_empty_raises():
  with pytest.raises(ValueError, match='empty'):
    selectors.Uniform()()


def test_recency_favours_new_items():
  sel = selectors.Recency(exponent=1.0, seed=0)
  for key in range(100):
    sel[key] = stepids(key)
  hist = counts(sel, 5000)
  # P(age 0) / P(age 9) = 10 with exponent 1.
  assert hist[99] > 5 * hist[90] > 0
  assert sum(hist[k] for k in range(90, 100)) > sum(hist[k] for k in range(0, 90))


@pytest.mark.parametrize('exponent', [100.0, 1e30])
def test_recency_steep_exponent_draws_the_newest_without_a_warning(exponent):
  # (age + 1) ** exponent overflowed to inf, whose weight 1 / inf = 0 is right: numpy's
  # 'RuntimeWarning: overflow encountered in power' came as two lines on stderr mid-run
  # (replay.recexp=100 with replay.fracs.recency > 0).
  sel = selectors.Recency(exponent=exponent, seed=0)
  for key in range(10):
    sel[key] = stepids(key)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    assert set(counts(sel, 50)) == {9}


def test_recency_with_uprobs_never_draws_beyond_table():
  sel = selectors.Recency(uprobs=np.array([1.0, 1.0, 0.0]), seed=0)
  for key in range(10):
    sel[key] = None
  assert set(counts(sel, 500)) == {8, 9}


def test_prioritized_follows_priorities():
  sel = selectors.Prioritized(exponent=1.0, initial=1.0, seed=0)
  for key in range(4):
    sel[key] = stepids(10 * key)  # disjoint steps
  for key, prio in enumerate([1.0, 2.0, 3.0, 0.0]):
    ids = stepids(10 * key)
    sel.prioritize(ids, np.full(len(ids), prio))
  hist = counts(sel, 6000)
  assert hist[3] == 0
  assert 0.12 < hist[0] / 6000 < 0.21  # 1/6
  assert 0.28 < hist[1] / 6000 < 0.39  # 2/6
  assert 0.44 < hist[2] / 6000 < 0.56  # 3/6


def test_prioritized_steep_exponent_draws_the_highest_without_a_warning():
  # 1e4 ** 400 overflowed to inf (drawn first, the limit of a huge priority), with numpy's
  # 'RuntimeWarning: overflow encountered in power' on stderr (replay.prio.exponent=400).
  sel = selectors.Prioritized(exponent=400.0, initial=1.0, seed=0)
  for key in range(3):
    sel[key] = stepids(10 * key)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    for key, prio in enumerate([0.5, 1e4, 2.0]):
      ids = stepids(10 * key)
      sel.prioritize(ids, np.full(len(ids), prio))
    assert set(counts(sel, 50)) == {1}


def test_prioritized_aggregates_shared_steps_and_skips_unknown():
  sel = selectors.Prioritized(exponent=1.0, initial=0.0, maxfrac=0.5, seed=0)
  sel[0] = stepids(0)  # steps 0, 1, 2
  sel[1] = stepids(1)  # steps 1, 2, 3
  sel[2] = stepids(5)  # steps 5, 6, 7
  ids = np.concatenate([stepids(3, 1), stepids(100, 1)])  # step 3 and an unknown one
  sel.prioritize(ids, [6.0, 9.0])
  # Only item 1 contains step 3: 0.5 * max + 0.5 * mean = 0.5 * 6 + 0.5 * 2 = 4.
  assert set(counts(sel, 200)) == {1}
  del sel[1]
  # All remaining priorities are zero: uniform fallback.
  assert set(counts(sel, 200)) == {0, 2}


def test_prioritized_initial_inf_and_zero_on_sample_serve_new_items_first():
  sel = selectors.Prioritized(
      exponent=0.8, initial=float('inf'), zero_on_sample=True, maxfrac=0.5, seed=0)
  for key in range(6):
    sel[key] = stepids(100 * key)
  first = [sel() for _ in range(6)]
  assert sorted(first) == list(range(6))  # each new item exactly once
  sel[6] = stepids(600)
  assert sel() == 6


def test_prioritized_save_load_same_draws():
  sel = selectors.Prioritized(exponent=0.5, initial=1.0, maxfrac=0.3, seed=3)
  for key in range(50):
    sel[key] = stepids(key, 4)
  for key in range(0, 50, 7):
    del sel[key]
  rng = np.random.default_rng(0)
  ids = np.concatenate([stepids(k, 4) for k in range(0, 50, 3)])
  sel.prioritize(ids, rng.uniform(0, 5, len(ids)))
  meta, arrays = sel.save()
  keys = [k for k in range(50) if k % 7]
  other = selectors.Prioritized(exponent=0.5, initial=1.0, maxfrac=0.3, seed=3)
  other.load(meta, arrays, keys)
  assert [sel() for _ in range(100)] == [other() for _ in range(100)]
  sel[100] = stepids(100, 4)
  other[100] = stepids(100, 4)
  assert [sel() for _ in range(50)] == [other() for _ in range(50)]


@pytest.mark.parametrize('fracs', [
    {'uniform': 1.0}, {'uniform': 0.5, 'priority': 0.3, 'recency': 0.2}])
def test_a_selector_of_another_seed_resumes_on_a_stream_of_its_own(fracs):
  """The workers of a multi_worker run all resume the chief's replay: each must then
  sample its own items, deterministically; the chief (same seed) continues exactly."""
  def make(seed):
    return selectors.make_selector(fracs, {'exponent': 0.8}, 0.3, seed=seed)
  chief = make(11)
  for key in range(200):
    chief[key] = stepids(key, 4)
  meta, arrays = chief.save()

  def resumed(seed, draws=200):
    sel = make(seed)
    sel.load(meta, arrays, list(range(200)))
    return [sel() for _ in range(draws)]
  own = [chief() for _ in range(200)]
  assert resumed(11) == own
  assert resumed(12) == resumed(12)
  same = sum(a == b for a, b in zip(resumed(12), own))
  assert same < 20, same   # independent draws from 200 items: ~1 match expected


@pytest.mark.parametrize('make', [
    lambda: selectors.Uniform(seed=4),
    lambda: selectors.Recency(exponent=0.5, seed=4),
])
def test_ordered_selectors_restore_from_insertion_order(make):
  sel = make()
  for key in range(3000):
    sel[key] = None
  for key in list(range(0, 1500)) + list(range(2000, 2600, 2)):
    del sel[key]
  meta, _ = sel.save()
  live = [k for k in range(3000) if k >= 1500 and not (2000 <= k < 2600 and k % 2 == 0)]
  other = make()
  other.load(meta, {}, live)
  assert [sel() for _ in range(200)] == [other() for _ in range(200)]


def test_mixture_fractions_and_make_selector():
  sel = selectors.make_selector(
      {'uniform': 0.5, 'priority': 0.0, 'recency': 0.5}, {}, recexp=3.0, seed=0)
  assert isinstance(sel, selectors.Mixture)
  assert sel.names == ['recency', 'uniform']
  for key in range(100):
    sel[key] = stepids(key)
  hist = counts(sel, 4000)
  # Recency with exponent 3 draws the newest item ~83% of the time; uniform 1%.
  assert 0.36 < hist[99] / 4000 < 0.47
  assert isinstance(selectors.make_selector(
      {'uniform': 1.0, 'priority': 0.0, 'recency': 0.0}, {}, 1.0), selectors.Uniform)
  with pytest.raises(ValueError, match='sum to 1'):
    selectors.Mixture({'a': selectors.Uniform()}, {'a': 0.5})
  with pytest.raises(ValueError, match='unknown keys'):
    selectors.make_selector({'uniform': 1.0, 'fifo': 0.0}, {}, 1.0)


def test_mixture_prioritize_reaches_prioritized():
  prio = dict(exponent=1.0, initial=1.0, zero_on_sample=False, maxfrac=0.0)
  sel = selectors.make_selector({'uniform': 0.0, 'priority': 1.0}, prio, 1.0, seed=0)
  sel[0] = stepids(0)
  sel[1] = stepids(10)
  sel.prioritize(stepids(0), np.zeros(3))
  assert set(counts(sel, 100)) == {1}
  meta, arrays = sel.save()
  assert 'priority/sprio' in arrays
