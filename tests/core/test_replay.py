import os
import subprocess
import sys

import numpy as np
import pytest

from dreamerv3_tf.core import chunks as chunklib
from dreamerv3_tf.core import replay as replaylib
from dreamerv3_tf.core import selectors


def make_step(t, worker=0, image=False):
  step = {
      'step': np.int64(t), 'worker': np.int32(worker),
      'vec': np.full(3, t, np.float32), 'reward': np.float32(t),
      'is_first': np.bool_(t % 10 == 0), 'is_last': np.bool_(t % 10 == 9),
      'is_terminal': np.bool_(False), 'log/debug': np.float32(1.0)}
  if image:
    step['image'] = np.full((8, 8, 3), t % 256, np.uint8)
  return step


def fill(replay, steps, workers=1, start=0, image=False):
  for t in range(start, start + steps):
    for w in range(workers):
      replay.add(make_step(t, w, image), worker=w)


def test_add_sample_shapes_and_dtypes():
  replay = replaylib.Replay(length=5, capacity=100, chunksize=4)
  fill(replay, 12, image=True)
  data = replay.sample(3)
  assert set(data) == {'step', 'worker', 'vec', 'reward', 'is_first', 'is_last',
                       'is_terminal', 'image', 'stepid'}
  assert data['image'].shape == (3, 5, 8, 8, 3) and data['image'].dtype == np.uint8
  assert data['vec'].shape == (3, 5, 3) and data['vec'].dtype == np.float32
  assert data['stepid'].shape == (3, 5, 20) and data['stepid'].dtype == np.uint8
  assert data['is_first'].dtype == bool and data['reward'].shape == (3, 5)
  assert replay.sample(2, length=3)['image'].shape == (2, 3, 8, 8, 3)
  assert len(replay) == 12 and replay.items == 8
  # Step ids are unique per step.
  ids = {bytes(x) for x in replay.sample(50)['stepid'].reshape(-1, 20)}
  assert len(ids) <= 12 and len(ids) > 5


@pytest.mark.parametrize('length,workers,chunksize', [
    (1, 1, 4), (5, 3, 4), (7, 2, 3), (4, 5, 64)])
def test_sequences_are_consecutive_steps_of_one_worker(length, workers, chunksize):
  replay = replaylib.Replay(length, capacity=60, chunksize=chunksize, seed=1)
  rng = np.random.default_rng(0)
  position = [0] * workers
  for _ in range(200):  # workers add in random order
    w = int(rng.integers(workers))
    replay.add(make_step(position[w], w), w)
    position[w] += 1
  data = replay.sample(64)
  diffs = data['step'] - data['step'][:, :1]
  assert (diffs == np.arange(length)).all()
  assert (data['worker'] == data['worker'][:, :1]).all()
  assert len(set(data['worker'][:, 0].tolist())) > 1 or workers == 1


def test_episode_boundaries_are_marked():
  replay = replaylib.Replay(length=6, capacity=100, chunksize=8)
  fill(replay, 30)
  data = replay.sample(40)
  assert data['is_first'][:, 0].all()
  # A row crossing from step 9 to 10 ends the episode at 9 and starts one at 10.
  steps = data['step']
  first = (steps % 10 == 0)
  first[:, 0] = True
  assert (data['is_first'] == first).all()
  last = steps % 10 == 9
  assert (data['is_last'] == last).all()


@pytest.mark.parametrize('length,workers,capacity,chunksize', [
    (1, 1, 1, 4), (5, 1, 10, 4), (5, 3, 15, 4), (2, 7, 20, 3), (3, 2, 50, 8)])
def test_capacity_is_exact_and_eviction_is_fifo(length, workers, capacity, chunksize):
  replay = replaylib.Replay(length, capacity, chunksize=chunksize)
  for t in range(40):
    for w in range(workers):
      replay.add(make_step(t, w), w)
      assert len(replay) == min(t * workers + w + 1, capacity)
  # The stored steps are the newest `capacity` ones (global insertion order).
  stored = replay.sample(300)
  order = stored['step'] * workers + stored['worker']
  assert order.min() >= 40 * workers - capacity
  # Items: stored steps of each worker that have length - 1 successors.
  per_worker = [len([o for o in range(40 * workers - capacity, 40 * workers)
                     if o % workers == w]) for w in range(workers)]
  assert replay.items == sum(max(0, n - length + 1) for n in per_worker)
  # Memory is freed chunk by chunk: at most two partial chunks per worker.
  assert replay.stats()['chunks'] <= capacity // chunksize + 2 * workers


def test_evicted_image_rows_are_released_and_live_rows_intact():
  replay = replaylib.Replay(length=8, capacity=200, chunksize=128)
  for t in range(330):
    replay.add({'image': np.full((64, 64, 3), t % 251, np.uint8), 'step': np.int64(t)})
  # Steps 130..329 remain: chunk 1 holds 128..255 with its first 2 rows evicted,
  # chunk 2 holds 256..329; chunk 0 is freed.
  oldest = min(replay._chunks.values(), key=lambda c: c.seq)
  assert oldest.start == 2 and oldest._maps['image'][2] == 0  # < 64 KiB: kept
  for t in range(330, 400):
    replay.add({'image': np.full((64, 64, 3), t % 251, np.uint8), 'step': np.int64(t)})
  assert oldest._maps['image'][2] >= 72 * 64 * 64 * 3 - (1 << 16)  # 72 rows evicted
  data = replay.sample(200)
  assert data['step'].min() >= 200
  expected = (data['step'] % 251).astype(np.uint8)[..., None, None, None]
  assert (data['image'] == expected).all()


def test_update_writes_back_by_stepid_and_skips_evicted():
  replay = replaylib.Replay(length=4, capacity=40, chunksize=8)
  fill(replay, 40)
  batch = replay.sample(4)
  deter = batch['step'][..., None].astype(np.float32) * np.ones(5, np.float32) + 0.5
  replay.update({'stepid': batch['stepid'], 'dyn/deter': deter,
                 'vec': -batch['vec'], 'priority': np.ones((4, 4), np.float32)})
  written = set(batch['step'].reshape(-1).tolist())
  for _ in range(5):
    data = replay.sample(20)
    for step, lat, vec in zip(data['step'].reshape(-1), data['dyn/deter'].reshape(-1, 5),
                              data['vec'].reshape(-1, 3)):
      if step in written:
        assert (lat == step + 0.5).all() and (vec == -step).all()
      else:
        assert (lat == 0).all() and (vec == step).all()
  # New steps may omit the update-created key; evicted rows are skipped silently.
  old = replay.sample(8)
  fill(replay, 30, start=40)
  replay.update({'stepid': old['stepid'], 'dyn/deter': np.full((8, 4, 5), 7, np.float32)})
  data = replay.sample(100)
  survivors = set(old['step'].reshape(-1).tolist()) & set(range(70 - 40, 70))
  hit = np.isin(data['step'], list(survivors))
  assert (data['dyn/deter'][hit] == 7).all()
  assert (data['dyn/deter'][~hit & (data['step'] >= 40)] == 0).all()
  assert replay.stats()['updates'] == 16 + 32


def test_bad_input_raises_clear_errors():
  with pytest.raises(ValueError, match='capacity'):
    replaylib.Replay(length=10, capacity=5)
  replay = replaylib.Replay(length=2, capacity=10)
  with pytest.raises(ValueError, match='no complete sequence'):
    replay.sample(1)
  replay.add(make_step(0))
  step = make_step(1)
  step['vec'] = np.zeros(4, np.float32)
  with pytest.raises(ValueError, match=r"'vec' has shape \(4,\), expected \(3,\)"):
    replay.add(step)
  step = make_step(1)
  del step['reward']
  with pytest.raises(ValueError, match='lacks keys'):
    replay.add(step)
  with pytest.raises(ValueError, match="'other'"):
    replay.add({**make_step(1), 'other': np.zeros(2)})
  replay.add(make_step(1))
  batch = replay.sample(1)
  with pytest.raises(ValueError, match="'vec'"):
    replay.update({'stepid': batch['stepid'], 'vec': np.zeros((1, 2, 4), np.float32)})
  assert len(replay) == 2


def test_online_queue_serves_fresh_sequences_once():
  replay = replaylib.Replay(length=4, capacity=100, online=True, seed=0)
  # Items start at 0..8; queued as the official: 1, 5 (embodied/core/replay.py:108-118
  # queues the item completed by the add that finds the worker's count a multiple of 4).
  fill(replay, 12)
  assert replay.sample(1, mode='report')['step'][0, 0] in range(9)
  data = replay.sample(2)
  assert data['step'][:, 0].tolist() == [1, 5]
  replay.sample(3)  # from the selector
  fill(replay, 4, start=12)  # queues 9
  assert replay.sample(1)['step'][0, 0] == 9
  assert replay.stats()['replay_ratio'] == pytest.approx(4 * 6 / 16)


def test_online_queue_skips_evicted_items():
  replay = replaylib.Replay(length=2, capacity=4, online=True)
  fill(replay, 10)  # queued items at 1, 3, 5, 7; only 6, 7, 8, 9 remain
  assert replay.sample(1)['step'][0].tolist() == [7, 8]


def test_prioritized_selector_gets_priorities_from_update():
  sel = selectors.Prioritized(exponent=1.0, initial=1.0, seed=0)
  replay = replaylib.Replay(length=3, capacity=100, selector=sel)
  fill(replay, 9)
  everything = np.stack([replay.sample(1)['stepid'][0] for _ in range(200)])
  replay.update({'stepid': everything, 'priority': np.zeros(everything.shape[:2])})
  fill(replay, 3, start=9)  # new steps keep the initial priority 1
  data = replay.sample(50)
  assert (data['step'][:, -1] >= 9).all()


def roundtrip(replay, tmp_path):
  state = replay.save(str(tmp_path))
  fresh = replaylib.Replay(
      replay.length, replay.capacity, replay.chunksize, online=replay.online,
      selector=fresh_selector(replay.selector), seed=123)
  fresh.load(str(tmp_path), state)
  return state, fresh


def fresh_selector(selector):
  """A new selector of the same kind and seed: a resume builds it from the same config,
  and only the restored RNG state (not the seed) makes it continue where the saved one
  was (a selector of another seed resumes on a stream of its own: test_selectors.py)."""
  if isinstance(selector, selectors.Uniform):
    return selectors.Uniform(seed=selector.seed)
  prio = dict(exponent=0.8, initial=float('inf'), zero_on_sample=True, maxfrac=0.5)
  return selectors.make_selector(
      {'uniform': 0.4, 'priority': 0.3, 'recency': 0.3}, prio, 1.0, seed=selector.seed)


@pytest.mark.parametrize('mixture', [False, True])
def test_save_load_round_trip_equal_contents_and_samples(tmp_path, mixture):
  selector = None
  if mixture:
    prio = dict(exponent=0.8, initial=float('inf'), zero_on_sample=True, maxfrac=0.5)
    selector = selectors.make_selector(
        {'uniform': 0.4, 'priority': 0.3, 'recency': 0.3}, prio, 1.0, seed=5)
  replay = replaylib.Replay(length=5, capacity=70, chunksize=8, online=True,
                            selector=selector, seed=5)
  rng = np.random.default_rng(1)
  position = [0, 0, 0]
  for _ in range(150):
    w = int(rng.integers(3))
    replay.add(make_step(position[w], w, image=True), w)
    position[w] += 1
  batch = replay.sample(6)
  replay.update({'stepid': batch['stepid'], 'lat': np.ones((6, 5, 2), np.float32),
                 'priority': np.full((6, 5), 2.0)})
  state, fresh = roundtrip(replay, tmp_path)
  import json
  state = json.loads(json.dumps(state))  # JSON-able
  assert len(fresh) == len(replay) == 70 and fresh.items == replay.items
  for _ in range(3):
    a, b = replay.sample(16), fresh.sample(16)
    assert set(a) == set(b)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  # Both continue identically (new chunks get new ids, so compare without them).
  for t in range(30):
    for r in (replay, fresh):
      r.add(make_step(1000 + t, t % 3, image=True), t % 3)
  a, b = replay.sample(16), fresh.sample(16)
  for k in a:
    if k != 'stepid':
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)
  assert fresh.stats()['items'] == replay.stats()['items']


def test_incremental_save_writes_only_new_chunks(tmp_path):
  replay = replaylib.Replay(length=4, capacity=10_000, chunksize=16)
  fill(replay, 100, image=True)  # 6 full chunks + 4 steps
  state1 = replay.save(str(tmp_path))
  assert replay.last_save['files'] == 7
  first_bytes = replay.last_save['bytes']
  assert replay.save(str(tmp_path))['files'] == state1['files']
  assert replay.last_save == {'files': 0, 'bytes': 0}
  fill(replay, 20, start=100, image=True)  # completes the partial chunk, 8 steps into the next
  state2 = replay.save(str(tmp_path))
  assert replay.last_save['files'] == 2
  assert replay.last_save['bytes'] < first_bytes / 2
  new = set(state2['files']) - set(state1['files'])
  assert len(new) == 2 and len(set(state1['files']) - set(state2['files'])) == 1
  assert set(os.listdir(tmp_path)) == set(state1['files']) | set(state2['files'])
  # Another directory gets everything.
  replay.save(str(tmp_path / 'other'))
  assert replay.last_save['files'] == 8


def test_prune_keeps_files_of_kept_states(tmp_path):
  replay = replaylib.Replay(length=4, capacity=40, chunksize=8)
  states = []
  for i in range(4):
    fill(replay, 25, start=25 * i)
    states.append(replay.save(str(tmp_path)))
  other = replaylib.Replay(length=4, capacity=40, chunksize=8, name='eval')
  fill(other, 20)
  other_state = other.save(str(tmp_path))
  replaylib.Replay.prune(str(tmp_path), states[2:])
  files = set(os.listdir(tmp_path))
  assert files == set(states[2]['files']) | set(states[3]['files']) | set(
      other_state['files'])
  assert set(states[0]['files']) - files  # old ones are gone
  for state in states[2:]:
    fresh = replaylib.Replay(length=4, capacity=40, chunksize=8)
    fresh.load(str(tmp_path), state)
    assert len(fresh) == 40
  # The live buffer rewrites a pruned file it still needs.
  replaylib.Replay.prune(str(tmp_path), [], replaylib.marks(states[3]))
  state = replay.save(str(tmp_path))
  assert set(os.listdir(tmp_path)) == set(state['files']) | set(other_state['files'])


def test_prune_leaves_a_directory_named_as_a_chunk_file(tmp_path):
  """A directory in a chunk file's place (an earlier checkpoint's, which the resume set
  aside as damaged): the next save's prune failed on it ('Could not save a checkpoint
  ...: Is a directory', the run stopped), after every save (found by a damaged-file sweep)."""
  replay = replaylib.Replay(length=4, capacity=40, chunksize=8)
  fill(replay, 25)
  old = replay.save(str(tmp_path))
  fill(replay, 25, start=25)
  new = replay.save(str(tmp_path))
  gone = sorted(set(old['files']) - set(new['files']))[0]
  os.remove(tmp_path / gone)
  (tmp_path / gone).mkdir()
  replaylib.Replay.prune(str(tmp_path), [new], replaylib.marks(old))
  assert set(os.listdir(tmp_path)) == set(new['files']) | {gone}


@pytest.mark.parametrize('damage', ['missing_key', 'empty', 'shorter', 'nan', 'negative'])
def test_a_selector_file_of_other_contents_is_named(tmp_path, damage):
  """A selector file whose arrays lack a key or hold fewer rows was 'KeyError: 'sprio''
  or 'IndexError: index 295 is out of bounds' (unexpected, naming no file); NaN or
  negative priorities were loaded without a word (found by a damaged-file sweep)."""
  prio = dict(exponent=0.8, initial=1.0, zero_on_sample=True, maxfrac=0.5)
  selector = selectors.make_selector({'uniform': 0.5, 'priority': 0.5}, prio, 1.0, seed=5)
  replay = replaylib.Replay(length=5, capacity=70, chunksize=8, selector=selector, seed=5)
  fill(replay, 40)
  state = replay.save(str(tmp_path))
  path = tmp_path / state['selector_file']
  arrays = dict(np.load(path))
  if damage == 'missing_key':
    del arrays['priority/sprio']
  elif damage == 'empty':
    arrays = {}
  elif damage == 'shorter':
    arrays['priority/sprio'] = arrays['priority/sprio'][:-5]
  elif damage == 'nan':
    arrays['priority/sprio'][:] = np.nan
  else:
    arrays['priority/srefs'] = -arrays['priority/srefs'] - 1
  with open(path, 'wb') as f:
    np.savez(f, **arrays)
  fresh = replaylib.Replay(length=5, capacity=70, chunksize=8, selector=selectors.make_selector(
      {'uniform': 0.5, 'priority': 0.5}, prio, 1.0, seed=5), seed=5)
  with pytest.raises(chunklib.ChunkFileError, match=f'^Replay file is corrupt: {path} ') as error:
    fresh.load(str(tmp_path), state)
  assert error.value.path == str(path)
  assert len(fresh) == 0  # left as it was


def test_missing_or_corrupt_chunk_raises_naming_the_file(tmp_path):
  replay = replaylib.Replay(length=4, capacity=100, chunksize=8)
  fill(replay, 30)
  state = replay.save(str(tmp_path))
  victim = state['files'][1]
  with open(tmp_path / victim, 'r+b') as f:
    f.truncate(100)
  fresh = replaylib.Replay(length=4, capacity=100, chunksize=8)
  fill(fresh, 5)
  with pytest.raises(chunklib.ChunkFileError, match=victim):
    fresh.load(str(tmp_path), state)
  assert len(fresh) == 5  # unchanged
  os.remove(tmp_path / victim)
  with pytest.raises(IOError, match=f'missing.*{victim}'):
    fresh.load(str(tmp_path), state)
  with pytest.raises(ValueError, match='length'):
    replaylib.Replay(length=3, capacity=100).load(str(tmp_path), state)


def test_a_chunk_of_values_outside_the_envs_spaces_is_named(tmp_path):
  """A valid npz of the right columns whose discrete action is 99 of Discrete(4) (a file
  of another run, or edited): one-hot encoded as zeros and trained on without a word."""
  from dreamerv3_tf.core.spaces import Space
  replay = replaylib.Replay(length=4, capacity=100, chunksize=8)
  for t in range(30):
    replay.add({**make_step(t), 'action': np.int32(t % 4)}, worker=0)
  state = replay.save(str(tmp_path))
  spaces = {'action': Space(np.int32, (), 0, 4), 'vec': Space(np.float32, (3,)),
            'reward': Space(np.float32), 'is_first': Space(bool),
            'image': Space(np.uint8, (8, 8, 3))}
  fresh = replaylib.Replay(length=4, capacity=100, chunksize=8)
  fresh.spaces = spaces
  fresh.load(str(tmp_path), state)  # its own files: all in the spaces
  victim = state['files'][1]
  for column, value, shown in (('action', 99, '99'), ('vec', np.nan, 'nan')):
    with np.load(tmp_path / victim) as f:
      arrays = {k: f[k] for k in f.files}
    names = [str(x) for x in arrays['columns']]
    good = arrays[f'col{names.index(column)}'].copy()
    arrays[f'col{names.index(column)}'][2] = value
    np.savez(tmp_path / victim, **arrays)
    fresh = replaylib.Replay(length=4, capacity=100, chunksize=8)
    fresh.spaces = spaces
    with pytest.raises(chunklib.ChunkFileError, match=(
        f"^Replay file {tmp_path}/{victim}: column '{column}' holds {shown}, which its "
        r'space (int32 \[0, 4\)|float32 \(finite\)) cannot \(a file of another run, or '
        r'edited\?\)$')):
      fresh.load(str(tmp_path), state)
    arrays[f'col{names.index(column)}'] = good
    np.savez(tmp_path / victim, **arrays)


def test_load_with_other_selector_kind_is_named(tmp_path):
  replay = replaylib.Replay(length=4, capacity=100, chunksize=8)
  fill(replay, 30)
  state = replay.save(str(tmp_path))
  prio = dict(exponent=1.0, initial=1.0, zero_on_sample=False, maxfrac=0.0)
  other = replaylib.Replay(length=4, capacity=100, chunksize=8, selector=(
      selectors.make_selector({'uniform': 0.5, 'priority': 0.5}, prio, 1.0)))
  with pytest.raises(ValueError, match='saved by a Uniform selector'):
    other.load(str(tmp_path), state)


def test_import_does_not_load_tensorflow():
  code = ('import sys; import dreamerv3_tf.core.replay, dreamerv3_tf.core.selectors; '
          'assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)')
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  subprocess.run([sys.executable, '-c', code], check=True, cwd=root)


def test_concurrent_add_sample_update_stay_consistent():
  import threading
  replay = replaylib.Replay(length=6, capacity=300, chunksize=16, online=True)
  fill(replay, 10, workers=2)
  errors = []

  def learner():
    try:
      for _ in range(300):
        data = replay.sample(4)
        assert (np.diff(data['step'], axis=1) == 1).all()
        assert (data['worker'] == data['worker'][:, :1]).all()
        replay.update({'stepid': data['stepid'], 'lat': data['vec'][..., :1] * 2})
    except Exception as e:  # reported below
      errors.append(e)

  thread = threading.Thread(target=learner)
  thread.start()
  fill(replay, 1500, workers=2, start=10)
  thread.join()
  assert not errors, errors
  assert len(replay) == 300
  data = replay.sample(64)
  written = data['lat'][..., 0] != 0
  assert (data['lat'][..., 0][written] == 2 * data['step'][written]).all()


@pytest.mark.parametrize('save_updates', [False, True])
def test_updates_after_a_save_persist_only_with_save_updates(tmp_path, save_updates):
  from dreamerv3_tf.core.replay import Replay
  replay = Replay(length=4, capacity=1000, chunksize=8, save_updates=save_updates)
  for i in range(20):
    replay.add({'x': np.float32(i), 'reward': np.float32(0), 'is_first': np.bool_(i == 0),
                'is_last': np.bool_(False), 'is_terminal': np.bool_(False)})
  first = replay.save(str(tmp_path))
  batch = replay.sample(2, 4, mode='report')
  replay.update({'stepid': batch['stepid'], 'x': np.full((2, 4), -1, np.float32)})
  second = replay.save(str(tmp_path))
  fresh = Replay(length=4, capacity=1000, chunksize=8)
  fresh.load(str(tmp_path), second)
  assert ((fresh.dump()['x'] == -1).sum() > 0) == save_updates
  # The older state still loads with the values it was saved with.
  old = Replay(length=4, capacity=1000, chunksize=8)
  old.load(str(tmp_path), first)
  np.testing.assert_array_equal(old.dump()['x'], np.arange(20, dtype=np.float32))
