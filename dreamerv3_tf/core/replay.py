"""Replay buffer: chunked column storage of env steps, sampled as sequences (numpy only).

Storage. Each env worker appends to its own current chunk (`chunks.Chunk`): one
preallocated array per key of `chunksize` steps, images stay uint8. A step is
`add`ed as a flat dict; 'log/...' keys are dropped and a 'stepid' <uint8>[20] is
added. Capacity counts steps: once `len(replay) > capacity`, the oldest step (by
global insertion order, across workers) is evicted; a chunk's memory is freed when
all of its steps are evicted; before that, large columns (images) return the
pages of evicted rows to the OS (see chunks.Chunk.release_evicted), and unfilled
rows are never touched, so resident memory stays close to the stored steps.

Items. An item is a start position with `length` consecutive steps of one worker
(sequences may cross episode boundaries, never workers). It becomes sampleable
when its last step is added and stops being sampleable when its first step is
evicted, so a sample never returns evicted or unfinished data. The selector
(default Uniform) draws items by key `item_key(chunk seq, index)`.

Online queue (`online=True`): per worker, every `length`-th item (stream positions
1, 1 + T, 1 + 2T, ... as in the official code, i.e. non-overlapping sequences covering
every step but the worker's first once) is queued
when it completes. `sample(mode='train')` fills each batch row from the queue
first (oldest first, skipping items evicted meanwhile) and the remaining rows from
the selector. `mode='report'` never touches the queue.

Persistence. `save(directory)` writes each chunk once as `<name>-chunk-<key>-<len>.npz`
(the partly filled current chunks again under a new name when they grew) and
returns a JSON-able state listing the files, counters and the selector state;
`load(directory, state)` rebuilds the same buffer (same contents, same samples
afterwards). Values written by `update` into a chunk after it was saved in full
are not saved again (saves would otherwise rewrite the whole buffer); like the
official code, a restored buffer has the latents of its last full save.
"""

import collections
import heapq
import os
import threading
import uuid

import numpy as np

from . import base
from . import chunks as chunklib
from .files import LOCAL
from . import selectors as selectorlib

STATE_VERSION = 1
STEPID_BYTES = chunklib.STEPID_BYTES
_INDEX_BITS = 32  # an item key holds its chunk's seq above the index in the chunk


def item_key(seq, index):
  """The selector key of the item starting at `index` of chunk `seq` (ints or arrays)."""
  return (seq << _INDEX_BITS) | index


class _Worker:

  __slots__ = ('chunks', 'streamlen')

  def __init__(self):
    self.chunks = collections.deque()  # live chunks of this worker, oldest first
    self.streamlen = 0                 # steps this worker has ever added


class Replay:
  """Sequence replay buffer. Thread-safe: every public method holds one lock.

  Args:
    length: steps per sampled sequence T (batch_length + replay_context).
    capacity: maximum number of stored steps.
    chunksize: steps per chunk (the unit of allocation and of persistence).
    online: serve freshly completed sequences first (see the module docstring).
    selector: a selector from `selectors` (default Uniform(seed)).
    seed: seed of the default selector.
    name: prefix of the saved files and of error messages.
    save_updates: also persist values that `update` wrote into chunks already
      saved (their chunks are written again). Needed for exact resume; costly for
      big buffers, whose updated latents then get rewritten at every save.
  """

  def __init__(self, length, capacity, chunksize=1024, online=False, selector=None,
               seed=0, name='replay', save_updates=False):
    length, capacity, chunksize = int(length), int(capacity), int(chunksize)
    if length < 1 or chunksize < 1:
      raise ValueError(f'Replay {name}: length {length} and chunksize {chunksize} must be >= 1')
    if capacity < length:
      raise ValueError(
          f'Replay {name}: capacity {capacity} is smaller than the sequence length '
          f'{length}; no sequence could ever be sampled')
    self.length = length
    self.capacity = capacity
    # The env's spaces ({key: core.spaces.Space}), if the run sets them: `load` then
    # refuses a file whose columns hold values no step of that env can have.
    self.spaces = None
    self.chunksize = chunksize
    self.online = bool(online)
    self.name = name
    self.save_updates = bool(save_updates)
    self.selector = selector if selector is not None else selectorlib.Uniform(seed)
    self.last_save = {'files': 0, 'bytes': 0}
    self._lock = threading.RLock()
    self._reset()

  def _reset(self):
    self._columns = {}      # key -> chunks.Column; fixed by the first add
    self._chunks = {}       # seq -> live Chunk
    self._bykey = {}        # chunk key as int -> live Chunk
    self._workers = {}      # worker id -> _Worker
    self._heap = []         # (order of oldest live step, seq), one per chunk with live steps
    self._nonce = os.urandom(4)  # makes chunk keys unique across replays and runs
    self._nextseq = 0
    self._count = 0         # steps ever added = next global insertion order
    self._len = 0
    self._queue = collections.deque()
    self._totals = {'inserts': 0, 'samples': 0, 'updates': 0}
    self._metrics = {'inserts': 0, 'samples': 0, 'updates': 0}
    self._saved = {}        # seq -> length saved in self._saved_dir
    self._dirty = set()     # seqs of saved chunks that `update` changed since
    self._version = 0       # makes the names of rewritten chunk files unique
    self._versions = {}     # seq -> file name of its latest rewrite
    self._saved_dir = None

  def __len__(self):
    return self._len

  @property
  def items(self):
    """Number of sampleable sequences."""
    return len(self.selector)

  # Adding.

  def add(self, step, worker=0):
    """Appends one transition `step` (dict of arrays) of env `worker`."""
    step = {k: v for k, v in step.items() if not base.is_log_key(k) and k != 'stepid'}
    with self._lock:
      if not self._columns:
        self._define_columns(step)
      w = self._workers.get(worker)
      if w is None:
        w = self._workers[worker] = _Worker()
      chunk = w.chunks[-1] if w.chunks else None
      if chunk is None or chunk.length == chunk.size:
        chunk = self._new_chunk(worker, w)
      index = chunk.length
      self._write_step(chunk, index, step, worker)
      order = self._count
      chunk.data['stepid'][index] = chunklib.make_stepid(chunk.key, index, order)
      chunk.length += 1
      self._count += 1
      self._len += 1
      w.streamlen += 1
      if chunk.start == index:  # the chunk had no live steps: it joins the FIFO heap
        heapq.heappush(self._heap, (order, chunk.seq))
      self._totals['inserts'] += 1
      self._metrics['inserts'] += 1
      if w.streamlen >= self.length:
        self._insert_item(w, w.streamlen - self.length)
      while self._len > self.capacity:
        self._evict_oldest()

  def _define_columns(self, step):
    columns = {}
    for key, value in step.items():
      value = np.asarray(value)
      if value.dtype == object:
        raise ValueError(f'Replay {self.name}: key {key!r} has dtype object')
      columns[key] = chunklib.Column(value.dtype, value.shape)
    columns['stepid'] = chunklib.Column(np.uint8, (STEPID_BYTES,))
    self._columns = columns

  def _new_chunk(self, worker, w):
    seq = self._nextseq
    self._nextseq += 1
    key = self._nonce + seq.to_bytes(4, 'big')
    chunk = chunklib.Chunk(seq, key, worker, w.streamlen, self.chunksize, self._columns)
    if w.chunks:
      w.chunks[-1].succ = chunk
    w.chunks.append(chunk)
    self._chunks[seq] = chunk
    self._bykey[chunk.keyint] = chunk
    return chunk

  def _write_step(self, chunk, index, step, worker):
    for key, value in step.items():
      col = self._columns.get(key)
      if col is None:
        raise ValueError(
            f'Replay {self.name}: step of worker {worker} has key {key!r} that '
            f'earlier steps did not have (stored keys: {sorted(self._columns)})')
      value = np.asarray(value)
      if value.shape != col.shape:
        raise ValueError(
            f'Replay {self.name}: key {key!r} has shape {value.shape}, expected {col.shape}')
      if value.dtype != col.dtype and not np.can_cast(value.dtype, col.dtype, 'same_kind'):
        raise ValueError(
            f'Replay {self.name}: key {key!r} has dtype {value.dtype}, expected {col.dtype}')
      chunk.data[key][index] = value
    if len(step) + 1 < len(self._columns):
      missing = [k for k, c in self._columns.items()
                 if k != 'stepid' and not c.from_update and k not in step]
      if missing:
        raise ValueError(
            f'Replay {self.name}: step of worker {worker} lacks keys {missing}')

  def _insert_item(self, w, position):
    """Makes the item starting at stream `position` of worker `w` sampleable."""
    for chunk in reversed(w.chunks):
      if chunk.offset <= position:
        break
    else:
      return  # its first step was evicted (and its chunk freed)
    index = position - chunk.offset
    if index < chunk.start:
      return  # its first step was evicted
    key = item_key(chunk.seq, index)
    self.selector[key] = self._read_column('stepid', chunk, index, self.length)
    # Stream positions 1, 1 + T, ...: the official queues the item that completes when
    # the worker's step count before this add is a multiple of T (replay.py:108-118).
    if self.online and (position - 1) % self.length == 0:
      self._queue.append(key)

  def _evict_oldest(self):
    order, seq = heapq.heappop(self._heap)
    chunk = self._chunks[seq]
    index = chunk.start
    w = self._workers[chunk.worker]
    if chunk.offset + index + self.length <= w.streamlen:
      del self.selector[item_key(seq, index)]
    chunk.start += 1
    self._len -= 1
    if chunk.start < chunk.length:
      heapq.heappush(self._heap, (chunk.order(chunk.start), seq))
    if chunk.start < chunk.size:
      chunk.release_evicted()
    else:
      # Fully evicted and complete: free it. FIFO order makes it the worker's oldest.
      assert w.chunks[0] is chunk, (seq, w.chunks[0].seq)
      w.chunks.popleft()
      del self._chunks[seq]
      del self._bykey[chunk.keyint]
      self._saved.pop(seq, None)
      chunk.free()

  # Reading.

  def _locate(self, key):
    chunk = self._chunks.get(key >> _INDEX_BITS)
    index = key & ((1 << _INDEX_BITS) - 1)
    if chunk is None or index < chunk.start:
      return None
    return chunk, index

  def _read_column(self, name, chunk, index, length):
    col = self._columns[name]
    out = np.empty((length, *col.shape), col.dtype)
    pos = 0
    while pos < length:
      take = min(length - pos, chunk.length - index)
      out[pos:pos + take] = chunk.data[name][index:index + take]
      pos += take
      chunk, index = chunk.succ, 0
    return out

  def sample(self, batch_size, length=None, mode='train'):
    """-> dict key -> <[B, T, ...]> of `batch_size` sequences, incl. 'stepid' <uint8>[B, T, 20].

    Each row holds consecutive steps of one worker (the first `length` steps of an
    item; default `self.length`). As in the official code, 'is_first' is set at
    t = 0 and 'is_last' wherever the next step of the item is_first (also the step
    after a shorter window). `mode='train'` serves the
    online queue first and counts towards the replay ratio; 'report' does neither.
    """
    T = self.length if length is None else int(length)
    if not 1 <= T <= self.length:
      raise ValueError(f'Replay {self.name}: sample length {T} not in [1, {self.length}]')
    if mode not in ('train', 'report'):
      raise ValueError(f"Replay {self.name}: mode {mode!r} is not 'train' or 'report'")
    with self._lock:
      if not len(self.selector):
        raise ValueError(
            f'Replay {self.name} has no complete sequence yet ({self._len} steps '
            f'stored, a sequence needs {self.length} consecutive steps of one worker)')
      places = []
      for _ in range(batch_size):
        place = None
        while self.online and mode == 'train' and self._queue and place is None:
          place = self._locate(self._queue.popleft())
        if place is None:
          place = self._locate(self.selector())
        places.append(place)
      data = {
          k: np.empty((batch_size, T, *c.shape), c.dtype) for k, c in self._columns.items()}
      # Whether the step after a shorter window is_first: the official code computes
      # is_last on the whole item before it cuts the window (streams.Consec).
      after = np.zeros((batch_size, 1), bool)
      if T < self.length and 'is_first' in self._columns:
        for b, (chunk, index) in enumerate(places):
          after[b, 0] = self._read_column('is_first', chunk, index, T + 1)[T]
      for b, (chunk, index) in enumerate(places):
        pos = 0
        while pos < T:
          take = min(T - pos, chunk.length - index)
          for k, v in data.items():
            v[b, pos:pos + take] = chunk.data[k][index:index + take]
          pos += take
          chunk, index = chunk.succ, 0
      if mode == 'train':
        self._totals['samples'] += batch_size
        self._metrics['samples'] += batch_size
    if 'is_first' in data:
      data['is_first'][:, 0] = True
      if 'is_last' in data:
        # An episode cut off by the sequence's end keeps is_last as stored; one that
        # continues into a new episode inside the sequence ends where it starts.
        data['is_last'] |= np.concatenate([data['is_first'][:, 1:], after], 1)
    return data

  def dump(self):
    """-> {key: <[N, ...]>} of every stored step, in insertion order (a copy).

    For inspection and tests (comparing a buffer with a restored one); not fast.
    """
    with self._lock:
      parts = collections.defaultdict(list)
      orders = []
      for chunk in self._chunks.values():
        live = slice(chunk.start, chunk.length)
        orders.append(chunk.orders(chunk.start, chunk.length))
        for key in self._columns:
          parts[key].append(chunk.data[key][live].copy())
      if not orders:
        return {k: np.zeros((0, *c.shape), c.dtype) for k, c in self._columns.items()}
      perm = np.argsort(np.concatenate(orders), kind='stable')
      return {k: np.concatenate(v)[perm] for k, v in parts.items()}

  # Updating.

  def update(self, data):
    """Writes values back into stored steps, by step id.

    data: 'stepid' <uint8>[B, T, 20] and other keys <[B, T, ...]>; 'priority'
    <float>[B, T] goes to the selector (if it prioritizes) instead of storage.
    Steps that were evicted meanwhile are skipped. A key not stored yet gets a
    column (zeros for every other step; `add` may omit it).
    """
    if 'stepid' not in data:
      raise ValueError(f'Replay {self.name}: update needs a stepid key')
    stepid = np.asarray(data['stepid'])
    if stepid.ndim != 3 or stepid.shape[-1] != STEPID_BYTES or (
        stepid.dtype != np.uint8):
      raise ValueError(
          f'Replay {self.name}: update stepid is {stepid.dtype}{list(stepid.shape)}, '
          f'expected uint8[B, T, {STEPID_BYTES}]')
    B, T = stepid.shape[:2]
    values = {k: np.asarray(v) for k, v in data.items() if k not in ('stepid', 'priority')}
    for k, v in values.items():
      if v.shape[:2] != (B, T):
        raise ValueError(
            f'Replay {self.name}: update key {k!r} has shape {v.shape}, expected '
            f'[{B}, {T}, ...] like stepid')
    with self._lock:
      for k, v in values.items():
        col = self._columns.get(k)
        if col is None:
          if not self._columns:
            raise ValueError(f'Replay {self.name}: update before any step was added')
          self._add_column(k, chunklib.Column(v.dtype, v.shape[2:], from_update=True))
        elif v.shape[2:] != col.shape or not np.can_cast(v.dtype, col.dtype, 'same_kind'):
          raise ValueError(
              f'Replay {self.name}: update key {k!r} is {v.dtype}{list(v.shape[2:])} '
              f'per step, stored as {col.dtype}{list(col.shape)}')
      if 'priority' in data and hasattr(self.selector, 'prioritize'):
        priority = np.asarray(data['priority'])
        if priority.shape != (B, T):
          raise ValueError(
              f'Replay {self.name}: priority has shape {priority.shape}, expected {(B, T)}')
        self.selector.prioritize(stepid.reshape((-1, STEPID_BYTES)), priority.reshape(-1))
      keys, index, _ = chunklib.stepid_fields(stepid.reshape((-1, STEPID_BYTES)))
      flat = {k: v.reshape((B * T, *v.shape[2:])) for k, v in values.items()}
      unique, inverse = np.unique(keys, return_inverse=True)
      for u, chunkkey in enumerate(unique.tolist()):
        chunk = self._bykey.get(chunkkey)
        if chunk is None:
          continue  # evicted
        rows = np.flatnonzero(inverse == u)
        idx = index[rows]
        live = (idx >= chunk.start) & (idx < chunk.length)
        rows, idx = rows[live], idx[live]
        for k, v in flat.items():
          chunk.data[k][idx] = v[rows]
        if len(idx):
          self._dirty.add(chunk.seq)
      self._totals['updates'] += B * T
      self._metrics['updates'] += B * T

  def _add_column(self, key, column):
    self._columns[key] = column
    for chunk in self._chunks.values():
      chunk.add_column(key, column)

  # Statistics.

  def stats(self):
    """Floats for 'replay/' logging; inserts/samples/updates count since the last call."""
    with self._lock:
      m = self._metrics
      stats = {
          'items': float(len(self.selector)),
          'steps': float(self._len),
          'chunks': float(len(self._chunks)),
          'workers': float(len(self._workers)),
          'inserts': float(m['inserts']),
          'samples': float(m['samples']),
          'updates': float(m['updates']),
          'replay_ratio': (self.length * m['samples'] / m['inserts']
                           if m['inserts'] else 0.0),
          'ram_gb': sum(c.nbytes for c in self._chunks.values()) / 1024 ** 3,
          'fill': self._len / self.capacity,
      }
      if self.online:
        stats['online_queue'] = float(len(self._queue))
      self._metrics = {k: 0 for k in m}
      return stats

  # Persistence.

  def save(self, directory, fs=LOCAL):
    """Writes the chunks not yet in `directory`; returns the JSON-able state.

    `fs` does the file operations (core.files.LOCAL, or gfile.GFILES for gs://).
    """
    with self._lock:
      fs.makedirs(directory)
      real = fs.identity(directory)
      if real != self._saved_dir:
        self._saved, self._saved_dir = {}, real
      files, entries = [], []
      nfiles = nbytes = 0
      for seq in sorted(self._chunks):
        chunk = self._chunks[seq]
        filename = None
        if chunk.length:
          stale = self.save_updates and seq in self._dirty
          grown = self._saved.get(seq) != chunk.length
          if stale:
            # A new name: older checkpoints keep the file they reference.
            self._version += 1
            filename = chunklib.chunk_filename(self.name, chunk, self._version)
            self._versions[seq] = filename
          elif grown:
            filename = chunklib.chunk_filename(self.name, chunk)
            self._versions.pop(seq, None)
          else:
            filename = self._versions.get(seq) or chunklib.chunk_filename(self.name, chunk)
          if stale or grown or not fs.exists(fs.join(directory, filename)):
            nbytes += chunklib.save_chunk(directory, filename, chunk, fs)
            nfiles += 1
            self._saved[seq] = chunk.length
          files.append(filename)
        entries.append({
            'seq': seq, 'key': chunk.key.hex(), 'worker': chunk.worker,
            'offset': chunk.offset, 'size': chunk.size, 'length': chunk.length,
            'start': chunk.start, 'file': filename})
      meta, arrays = self.selector.save()
      selector_file = None
      if arrays:
        # Its nonce marks it as this run's for `prune`, like a chunk's key.
        selector_file = f'{self.name}-selector-{self._nonce.hex()}-{uuid.uuid4().hex}.npz'
        nbytes += chunklib.write_npz(directory, selector_file, arrays, fs)
        nfiles += 1
        files.append(selector_file)
      self._dirty.clear()
      self.last_save = {'files': nfiles, 'bytes': nbytes}
      return {
          'version': STATE_VERSION, 'name': self.name, 'length': self.length,
          'capacity': self.capacity, 'chunksize': self.chunksize,
          'columns': {k: c.to_dict() for k, c in self._columns.items()},
          'chunks': entries, 'files': files,
          'workers': [[_worker_json(k), w.streamlen] for k, w in self._workers.items()],
          'count': self._count, 'nextseq': self._nextseq,
          'queue': [int(x) for x in self._queue], 'totals': dict(self._totals),
          'selector': meta, 'selector_file': selector_file,
          'file_version': self._version,
      }

  def load(self, directory, state, fs=LOCAL):
    """Replaces the contents with the buffer `state` describes (files in `directory`).

    Raises chunks.ChunkFileError (an IOError) naming a missing or corrupt file and
    ValueError when the state does not fit this replay; the buffer is unchanged then.
    """
    if state.get('version') != STATE_VERSION:
      raise ValueError(f'Replay {self.name}: unknown state version {state.get("version")}')
    if state['length'] != self.length:
      raise ValueError(
          f'Replay {self.name}: saved sequence length {state["length"]} != {self.length}')
    columns = {k: chunklib.Column.from_dict(d) for k, d in state['columns'].items()}
    chunks, workers = {}, {}
    for wid, streamlen in state['workers']:
      workers[_worker_id(wid)] = _Worker()
      workers[_worker_id(wid)].streamlen = int(streamlen)
    for e in state['chunks']:
      key = bytes.fromhex(e['key'])
      chunk = chunklib.Chunk(e['seq'], key, _worker_id(e['worker']), e['offset'],
                             e['size'], columns)
      chunk.length, chunk.start = e['length'], e['start']
      if e['file']:
        chunklib.load_chunk(directory, e['file'], chunk, columns, fs, self.spaces)
        chunk.release_evicted()
      elif chunk.length:
        raise ValueError(f'Replay {self.name}: chunk {e["key"]} has steps but no file')
      chunks[chunk.seq] = chunk
      w = workers[chunk.worker]
      if w.chunks:
        w.chunks[-1].succ = chunk
      w.chunks.append(chunk)
    arrays = {}
    if state['selector_file']:
      arrays = chunklib.read_npz(directory, state['selector_file'], fs)

    with self._lock:
      old = dict(self.__dict__)
      try:
        self._reset()
        self._columns, self._chunks, self._workers = columns, chunks, workers
        self._bykey = {c.keyint: c for c in chunks.values()}
        self._heap = [(c.order(c.start), c.seq) for c in chunks.values()
                      if c.start < c.length]
        heapq.heapify(self._heap)
        self._len = sum(c.length - c.start for c in chunks.values())
        self._count, self._nextseq = state['count'], state['nextseq']
        self._queue = collections.deque(state['queue'])
        self._totals = dict(state['totals'])
        try:
          self.selector.load(state['selector'], arrays, self._item_keys_in_order())
        except (KeyError, IndexError, ValueError, TypeError) as e:
          if not state['selector_file']:
            raise
          # Its arrays, not the state: 'KeyError: 'sprio'' named no file.
          path = fs.join(directory, state['selector_file'])
          raise chunklib.ChunkFileError(
              f'Replay file is corrupt: {path} ({type(e).__name__}: {e})', path) from None
        self._saved_dir = fs.identity(directory)
        self._saved = {c.seq: c.length for c in chunks.values() if c.length}
        self._dirty = set()
        self._version = int(state.get('file_version', 0))
        self._versions = {e['seq']: e['file'] for e in state['chunks']
                          if e['file'] and e['file'].rsplit('-', 1)[-1].startswith('v')}
        while self._len > self.capacity:
          self._evict_oldest()
      except BaseException:
        self.__dict__.update(old)
        raise

  def _item_keys_in_order(self):
    """Keys of all sampleable items, in the order they were inserted (by last step)."""
    keys, ends = [], []
    for w in self._workers.values():
      live = [c for c in w.chunks if c.start < c.length]
      if not live:
        continue
      orders = np.concatenate([c.orders(c.start, c.length) for c in live])
      ids = np.concatenate([
          item_key(np.int64(c.seq), np.arange(c.start, c.length, dtype=np.int64))
          for c in live])
      first = live[0].offset + live[0].start
      count = max(0, w.streamlen - self.length + 1 - first)
      keys.append(ids[:count])
      ends.append(orders[self.length - 1:self.length - 1 + count])
    if not keys:
      return []
    keys, ends = np.concatenate(keys), np.concatenate(ends)
    return keys[np.argsort(ends, kind='stable')].tolist()

  @staticmethod
  def prune(directory, keep_states, held=(), fs=LOCAL):
    """Deletes this run's replay files in `directory` that none of `keep_states` references.

    A file is this run's if `held` (the `marks` of every state its checkpoints held,
    `keep_states` included) names it, or its name carries the nonce of a chunk they
    list (a save stopped before its checkpoint left it). Any other file is left
    alone: the chunks of another run copied into the folder were deleted by the
    first save. Only files of the replays named in `keep_states` are considered (of
    any when it is empty), so replays may share a directory.
    """
    keep, names, held = set(), set(), set(held)
    for state in keep_states:
      keep.update(state['files'])
      names.add(state['name'])
      held |= marks(state)
    if not fs.isdir(directory):
      return
    for filename in fs.listdir(directory):
      if filename in keep or not filename.endswith('.npz') or filename.startswith('.'):
        continue
      name, nonce = _file_owner(filename)
      path = fs.join(directory, filename)
      # A directory of that name is no file of ours: removing it failed every save.
      if (name in names or not names) and (filename in held or nonce in held) and (
          not fs.isdir(path)):
        fs.remove(path)


def marks(state):
  """-> the file names and chunk nonces (8 hex digits) that replay `state` lists: what
  `prune` takes for the run's own."""
  return set(state['files']) | {e['key'][:8] for e in state['chunks']}


def _file_owner(filename):
  """'<name>-chunk-<nonce><seq>-...' or '<name>-selector-<nonce>-...' -> (name,
  nonce), else (None, None)."""
  for kind in ('-chunk-', '-selector-'):
    name, found, rest = filename.partition(kind)
    if found:
      return name, rest[:8]
  return None, None


def _worker_json(worker):
  return worker if isinstance(worker, (int, str)) else int(worker)


def _worker_id(value):
  return int(value) if isinstance(value, (int, np.integer)) else value
