"""Replay selectors: which stored sequence to sample next (numpy only).

Every selector holds the sampleable items of a replay, keyed by hashable ints:
  selector[key] = stepids   insert an item; stepids <uint8>[T, 20] name its steps
  del selector[key]         remove an item
  selector() -> key         draw one item (raises ValueError when empty)
  len(selector)             number of items
  prioritize(stepids <uint8>[N, 20], priorities <float>[N])   (Prioritized, Mixture)
  save() -> (meta, arrays)  JSON-able dict and dict of numpy arrays (may be empty)
  load(meta, arrays, keys)  restore; `keys` lists the live items in insertion order

Uniform and Recency keep their items in insertion order (with tombstones for
out-of-order removals), so a replay can rebuild them from its stored steps: their
saved state is only the RNG. Prioritized saves its priorities and slot layout.
Selectors are not thread-safe on their own; the Replay serializes calls.
"""

import numpy as np

from dreamerv3_tf.core.chunks import STEPID_BYTES


def _rng_state(selector):
  """The meta entries of a selector's RNG: its state and the seed it was built with."""
  return {'rng': selector.rng.bit_generator.state, 'seed': selector.seed}


def _set_rng_state(selector, meta):
  """Restores the saved RNG state of `meta` into `selector.rng`.

  A selector built with another seed than the saved one's continues on a stream of
  its own, derived from both: in a multi_worker run every worker resumes the chief's
  replay, and with the chief's RNG state they would all sample the same items.
  """
  rng = selector.rng
  rng.bit_generator.state = meta['rng']
  saved = meta.get('seed')   # absent in checkpoints of earlier versions
  if saved is not None and int(saved) != selector.seed:
    entropy = [selector.seed, *(int(x) for x in rng.integers(0, 2 ** 32, 4))]
    rng.bit_generator.state = np.random.PCG64(np.random.SeedSequence(entropy)).state


def _check_type(selector, meta):
  saved = meta.get('type')
  if saved != type(selector).__name__:
    raise ValueError(
        f'{type(selector).__name__}.load: the state was saved by a {saved} selector '
        f'(replay.fracs differ from the checkpoint\'s)')


class _Ordered:
  """Keys in insertion order: a list with a moving head and None tombstones."""

  def __init__(self, seed=0):
    self.seed = int(seed)
    self.rng = np.random.default_rng(seed)
    self._keys = []     # keys (or None for removed ones) from index `_head` on
    self._head = 0
    self._base = 0      # absolute position of _keys[0]
    self._pos = {}      # key -> absolute position
    self._dead = 0      # tombstones at or after the head

  def __len__(self):
    return len(self._pos)

  def __setitem__(self, key, stepids):
    if key in self._pos:
      raise KeyError(f'{type(self).__name__}: item {key!r} is already present')
    self._pos[key] = self._base + len(self._keys)
    self._keys.append(key)

  def __delitem__(self, key):
    index = self._pos.pop(key) - self._base
    self._keys[index] = None
    if index == self._head:
      # FIFO removal, the common case: move the head past every tombstone.
      self._head += 1
      while self._head < len(self._keys) and self._keys[self._head] is None:
        self._head += 1
        self._dead -= 1
    else:
      self._dead += 1
    if self._head > 1024 and self._head * 2 > len(self._keys):
      del self._keys[:self._head]
      self._base += self._head
      self._head = 0
    if self._dead > 1024 and self._dead * 2 > len(self._pos):
      self._compact()

  def _compact(self):
    """Drops tombstones (O(n)); keeps the insertion order of the live keys."""
    self._keys = [k for k in self._keys[self._head:] if k is not None]
    self._base, self._head, self._dead = 0, 0, 0
    self._pos = {k: i for i, k in enumerate(self._keys)}

  def _span(self):
    if not self._pos:
      raise ValueError(f'{type(self).__name__} selector is empty')
    return len(self._keys) - self._head

  def save(self):
    # Sampling positions depend on tombstones; without them the layout is a pure
    # function of the insertion order, which the replay can rebuild on load.
    if self._dead:
      self._compact()
    return {'type': type(self).__name__, **_rng_state(self)}, {}

  def load(self, meta, arrays, keys):
    _check_type(self, meta)
    self._keys = list(keys)
    self._base, self._head, self._dead = 0, 0, 0
    self._pos = {k: i for i, k in enumerate(self._keys)}
    if len(self._pos) != len(self._keys):
      raise ValueError(f'{type(self).__name__}.load: duplicate item keys')
    _set_rng_state(self, meta)


class Uniform(_Ordered):
  """Every item equally likely. O(1) insert, FIFO removal and sampling."""

  def __call__(self):
    span = self._span()
    while True:  # Rejects tombstones; compaction keeps them under half.
      key = self._keys[self._head + int(self.rng.integers(span))]
      if key is not None:
        return key


class Recency(_Ordered):
  """Newer items more likely: P(age a) proportional to uprobs[a] (age 0 = newest).

  Give either `exponent` (uprobs[a] = 1 / (a + 1) ** exponent, any number of items)
  or an explicit `uprobs` array (items older than len(uprobs) are never drawn).
  Sampling is O(log n) by inverse CDF over the ages of the current items.
  """

  _BLOCK = 1 << 16

  def __init__(self, uprobs=None, exponent=None, seed=0):
    super().__init__(seed)
    if (uprobs is None) == (exponent is None):
      raise ValueError('Recency needs exactly one of uprobs or exponent')
    self.exponent = None if exponent is None else float(exponent)
    if uprobs is not None:
      uprobs = np.asarray(uprobs, np.float64)
      if uprobs.ndim != 1 or not len(uprobs) or not np.all(np.isfinite(uprobs)) or (
          uprobs < 0).any():
        raise ValueError(f'Recency uprobs must be finite and >= 0, got {uprobs!r}')
      self._cdf = np.cumsum(uprobs)
      self._fixed = True
    else:
      self._cdf = np.zeros((0,), np.float64)
      self._fixed = False

  def _cdf_upto(self, n):
    if not self._fixed and len(self._cdf) < n:
      # Whole blocks, each offset by the previous total: the values do not depend
      # on when the table grew, so a restored selector draws the same ages.
      blocks = [self._cdf]
      total = self._cdf[-1] if len(self._cdf) else 0.0
      for b in range(len(self._cdf) // self._BLOCK, -(-n // self._BLOCK)):
        ages = np.arange(b * self._BLOCK, (b + 1) * self._BLOCK, dtype=np.float64)
        with np.errstate(over='ignore'):  # a steep exponent's inf: weight 1 / inf = 0
          block = np.cumsum(1.0 / (ages + 1.0) ** self.exponent) + total
        total = block[-1]
        blocks.append(block)
      self._cdf = np.concatenate(blocks)
    return self._cdf[:min(n, len(self._cdf))]

  def __call__(self):
    span = self._span()
    cdf = self._cdf_upto(span)
    if not len(cdf) or cdf[-1] <= 0:
      raise ValueError('Recency: uprobs give zero probability to every item')
    while True:
      age = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side='right'))
      key = self._keys[len(self._keys) - 1 - min(age, len(cdf) - 1)]
      if key is not None:
        return key


class Prioritized:
  """Items drawn proportional to priorities aggregated from their steps.

  Each step has a priority (`initial` until `prioritize` sets it). An item's
  priority is `maxfrac * max(p ** exponent) + (1 - maxfrac) * mean(p ** exponent)`
  over its T steps. Items with infinite priority (e.g. the default initial=inf:
  never trained on) are drawn first, uniformly among themselves; when all
  priorities are zero, items are drawn uniformly. With `zero_on_sample`, drawing an
  item sets its steps' priorities to 0.

  Storage: a step table (priority, items-per-step refcount, predecessor) and an
  item table <int32>[slots, T] of step slots, with array sum trees over item slots:
  insert, remove and draw cost O(T + log n); `prioritize` of N steps O(N T).
  Memory is about 4 T + 100 bytes per item; save() writes all of it (O(n)).
  """

  def __init__(self, exponent=1.0, initial=1.0, zero_on_sample=False, maxfrac=0.0,
               seed=0):
    if not 0 <= maxfrac <= 1:
      raise ValueError(f'Prioritized maxfrac must be in [0, 1], got {maxfrac}')
    self.exponent = float(exponent)
    self.initial = float(initial)
    self.zero_on_sample = bool(zero_on_sample)
    self.maxfrac = float(maxfrac)
    self.seed = int(seed)
    self.rng = np.random.default_rng(seed)
    self._length = None
    # Step table.
    self._sid = {}                                   # stepid bytes -> step slot
    self._sbytes = np.zeros((0, STEPID_BYTES), np.uint8)
    self._sprio = np.zeros((0,), np.float64)
    self._srefs = np.zeros((0,), np.int32)
    self._sprev = np.zeros((0,), np.int64)           # slot of the previous step or -1
    self._sstart = np.zeros((0,), np.int64)          # item slot starting here or -1
    self._sfree, self._scount = [], 0
    # Item table.
    self._islot = {}                                 # key -> item slot
    self._slotkey = []                               # item slot -> key (None free)
    self._isteps = np.zeros((0, 0), np.int32)
    self._ifree, self._icount = [], 0
    self._cap = 1
    self._tsum = [0.0, 0.0]                          # finite priorities
    self._tinf = [0, 0]                              # count of infinite ones
    self._tlive = [0, 0]                             # count of items

  def __len__(self):
    return len(self._islot)

  # Items.

  def __setitem__(self, key, stepids):
    stepids = np.asarray(stepids, np.uint8)
    if self._length is None:
      self._length = len(stepids)
      self._isteps = np.zeros((0, self._length), np.int32)
    if stepids.shape != (self._length, STEPID_BYTES):
      raise ValueError(
          f'Prioritized: stepids of item {key!r} are {stepids.shape}, expected '
          f'({self._length}, {STEPID_BYTES})')
    if key in self._islot:
      raise KeyError(f'Prioritized: item {key!r} is already present')
    raw = stepids.tobytes()
    slots = np.array([self._step_slot(raw[i * STEPID_BYTES:(i + 1) * STEPID_BYTES])
                      for i in range(self._length)], np.int64)
    self._srefs[slots] += 1
    self._sprev[slots[1:]] = slots[:-1]
    islot = self._ifree.pop() if self._ifree else self._new_item_slot()
    self._islot[key] = islot
    self._slotkey[islot] = key
    self._isteps[islot] = slots
    self._sstart[slots[0]] = islot
    self._set_leaves(np.array([islot]), self._aggregate(np.array([islot])))

  def __delitem__(self, key):
    islot = self._islot.pop(key)
    slots = self._isteps[islot].astype(np.int64)
    self._slotkey[islot] = None
    self._ifree.append(islot)
    if self._sstart[slots[0]] == islot:
      self._sstart[slots[0]] = -1
    self._srefs[slots] -= 1
    for slot in slots[self._srefs[slots] == 0].tolist():
      del self._sid[self._sbytes[slot].tobytes()]
      self._sprev[slot] = self._sstart[slot] = -1
      self._sfree.append(slot)
    self._set_leaves(np.array([islot]), None)

  def _step_slot(self, stepid):
    slot = self._sid.get(stepid)
    if slot is None:
      if self._sfree:
        slot = self._sfree.pop()
      else:
        if self._scount == len(self._sprio):
          n = max(64, 2 * self._scount)
          self._sbytes = _grow(self._sbytes, n, 0)
          self._sprio = _grow(self._sprio, n, 0)
          self._srefs = _grow(self._srefs, n, 0)
          self._sprev = _grow(self._sprev, n, -1)
          self._sstart = _grow(self._sstart, n, -1)
        slot = self._scount
        self._scount += 1
      self._sid[stepid] = slot
      self._sbytes[slot] = np.frombuffer(stepid, np.uint8)
      self._sprio[slot] = self.initial
      self._sprev[slot] = self._sstart[slot] = -1
    return slot

  def _new_item_slot(self):
    if self._icount == len(self._isteps):
      n = max(64, 2 * self._icount)
      self._isteps = _grow(self._isteps, n, 0)
      self._slotkey += [None] * (n - len(self._slotkey))
    if self._icount == self._cap:
      self._resize_trees(2 * self._cap)
    self._icount += 1
    return self._icount - 1

  # Priorities.

  def prioritize(self, stepids, priorities):
    """Sets step priorities <float>[N] for stepids <uint8>[N, 20]; unknown ids are skipped."""
    stepids = np.asarray(stepids, np.uint8).reshape((-1, STEPID_BYTES))
    priorities = np.asarray(priorities, np.float64).reshape(-1)
    if len(priorities) != len(stepids):
      raise ValueError(
          f'prioritize: {len(stepids)} stepids but {len(priorities)} priorities')
    if np.isnan(priorities).any() or (priorities < 0).any():
      raise ValueError('prioritize: priorities must be >= 0 and not NaN')
    raw = stepids.tobytes()
    slots, values = [], []
    for i in range(len(stepids)):
      slot = self._sid.get(raw[i * STEPID_BYTES:(i + 1) * STEPID_BYTES])
      if slot is not None:
        slots.append(slot)
        values.append(priorities[i])
    if slots:
      self._set_step_prios(np.array(slots, np.int64), np.array(values))

  def _set_step_prios(self, slots, values):
    self._sprio[slots] = values
    # The items containing a step start at it or at one of its T - 1 predecessors.
    found, frontier = [], slots
    for _ in range(self._length):
      starts = self._sstart[frontier]
      found.append(starts[starts >= 0])
      frontier = self._sprev[frontier]
      frontier = frontier[frontier >= 0]
      if not len(frontier):
        break
    items = np.unique(np.concatenate(found))
    if len(items):
      self._set_leaves(items, self._aggregate(items))

  def _aggregate(self, islots):
    prios = self._sprio[self._isteps[islots]]           # [n, T]
    if self.exponent != 1.0:
      with np.errstate(over='ignore'):  # inf: drawn first, a huge priority's limit
        prios = prios ** self.exponent
    hasinf = np.isinf(prios).any(1)
    with np.errstate(invalid='ignore'):
      agg = prios.mean(1)
      if self.maxfrac:
        agg = self.maxfrac * prios.max(1) + (1 - self.maxfrac) * agg
    agg[hasinf] = np.inf
    return agg

  # Sum trees over item slots: leaves at [cap, 2 cap), root at 1. Python lists,
  # because single-leaf updates and draws dominate (numpy scalar access is slower).

  def _resize_trees(self, cap):
    old = self._cap
    self._tsum = _build_tree(self._tsum[old:2 * old], cap, np.float64)
    self._tinf = _build_tree(self._tinf[old:2 * old], cap, np.int64)
    self._tlive = _build_tree(self._tlive[old:2 * old], cap, np.int64)
    self._cap = cap

  def _set_leaves(self, islots, values):
    tsum, tinf, tlive, cap = self._tsum, self._tinf, self._tlive, self._cap
    parents = set()
    if values is None:
      for slot in islots.tolist():
        node = cap + slot
        tsum[node], tinf[node], tlive[node] = 0.0, 0, 0
        parents.add(node >> 1)
    else:
      for slot, value in zip(islots.tolist(), values.tolist()):
        node = cap + slot
        if value == np.inf:
          tsum[node], tinf[node] = 0.0, 1
        else:
          tsum[node], tinf[node] = value, 0
        tlive[node] = 1
        parents.add(node >> 1)
    parents.discard(0)
    while parents:
      # Parents are recomputed from their children (no running deltas), so sums
      # do not drift and depend only on the leaves.
      above = set()
      for node in parents:
        left = 2 * node
        tsum[node] = tsum[left] + tsum[left + 1]
        tinf[node] = tinf[left] + tinf[left + 1]
        tlive[node] = tlive[left] + tlive[left + 1]
        above.add(node >> 1)
      above.discard(0)
      parents = above

  def __call__(self):
    if not self._islot:
      raise ValueError('Prioritized selector is empty')
    if self._tinf[1] > 0:
      tree, target = self._tinf, int(self.rng.integers(self._tinf[1]))
    elif self._tsum[1] > 0:
      tree, target = self._tsum, self.rng.random() * self._tsum[1]
    else:
      tree, target = self._tlive, int(self.rng.integers(self._tlive[1]))
    node = 1
    while node < self._cap:
      left = tree[2 * node]
      if target < left or tree[2 * node + 1] <= 0:  # second test: float rounding
        node = 2 * node
      else:
        target -= left
        node = 2 * node + 1
    islot = node - self._cap
    key = self._slotkey[islot]
    if self.zero_on_sample:
      slots = self._isteps[islot].astype(np.int64)
      self._set_step_prios(slots, np.zeros(len(slots)))
    return key

  # Persistence.

  def save(self):
    meta = {
        'type': 'Prioritized', **_rng_state(self), 'length': self._length, 'cap': self._cap,
        'scount': self._scount, 'icount': self._icount,
        'sfree': [int(x) for x in self._sfree], 'ifree': [int(x) for x in self._ifree]}
    n, m = self._scount, self._icount
    arrays = {
        'sbytes': self._sbytes[:n], 'sprio': self._sprio[:n], 'srefs': self._srefs[:n],
        'sprev': self._sprev[:n], 'sstart': self._sstart[:n],
        'isteps': self._isteps[:m],
        'slotkey': np.array([-1 if k is None else k for k in self._slotkey[:m]],
                            np.int64)}
    return meta, arrays

  def load(self, meta, arrays, keys):
    _check_type(self, meta)
    _set_rng_state(self, meta)
    self._length = meta['length']
    if self._length is None:
      if len(keys):
        raise ValueError('Prioritized.load: saved state is empty but items exist')
      return
    n, m = meta['scount'], meta['icount']
    self._scount, self._icount = n, m
    self._sbytes = arrays['sbytes'].astype(np.uint8).reshape((n, STEPID_BYTES))
    self._sprio = arrays['sprio'].astype(np.float64)
    self._srefs = arrays['srefs'].astype(np.int32)
    self._sprev = arrays['sprev'].astype(np.int64)
    self._sstart = arrays['sstart'].astype(np.int64)
    self._isteps = arrays['isteps'].astype(np.int32).reshape((m, self._length))
    if (len(self._sprio), len(self._srefs), len(self._sprev), len(self._sstart),
        len(arrays['slotkey'])) != (n, n, n, n, m):
      raise ValueError('Prioritized.load: arrays of other lengths than its state')
    # (inf is a priority: replay.prio.initial; NaN would poison the sum tree)
    if np.isnan(self._sprio).any() or (self._sprio < 0).any() or (self._srefs < 0).any():
      raise ValueError('Prioritized.load: NaN or negative priorities or reference counts')
    slotkey = arrays['slotkey'].tolist()
    self._slotkey = [None if k < 0 else k for k in slotkey]
    self._sfree, self._ifree = list(meta['sfree']), list(meta['ifree'])
    self._sid = {self._sbytes[i].tobytes(): i for i in range(n) if self._srefs[i] > 0}
    self._islot = {k: i for i, k in enumerate(self._slotkey) if k is not None}
    if set(self._islot) != set(keys):
      raise ValueError(
          f'Prioritized.load: saved state has {len(self._islot)} items, the replay '
          f'has {len(keys)} (state and chunks do not belong together)')
    self._cap = cap = int(meta['cap'])
    tsum, tinf, tlive = (np.zeros((cap,), np.float64), np.zeros((cap,), np.int64),
                         np.zeros((cap,), np.int64))
    live = np.array(sorted(self._islot.values()), np.int64)
    if len(live):
      values = self._aggregate(live)
      inf = np.isinf(values)
      tsum[live] = np.where(inf, 0.0, values)
      tinf[live] = inf
      tlive[live] = 1
    self._tsum = _build_tree(tsum, cap, np.float64)
    self._tinf = _build_tree(tinf, cap, np.int64)
    self._tlive = _build_tree(tlive, cap, np.int64)


class Mixture:
  """Draws from one of several selectors with fixed probabilities `fractions`."""

  def __init__(self, selectors, fractions, seed=0):
    selectors, fractions = dict(selectors), dict(fractions)
    if set(selectors) != set(fractions):
      raise ValueError(
          f'Mixture: selectors {sorted(selectors)} != fractions {sorted(fractions)}')
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6 or min(fractions.values()) < 0:
      raise ValueError(f'Mixture fractions must be >= 0 and sum to 1, got {fractions}')
    self.names = sorted(k for k, v in fractions.items() if v > 0)
    self.selectors = {k: selectors[k] for k in self.names}
    probs = np.array([fractions[k] for k in self.names], np.float64)
    self._cdf = np.cumsum(probs / probs.sum())
    self.seed = int(seed)
    self.rng = np.random.default_rng(seed)

  def __len__(self):
    return len(self.selectors[self.names[0]])

  def __call__(self):
    index = int(np.searchsorted(self._cdf, self.rng.random(), side='right'))
    return self.selectors[self.names[min(index, len(self.names) - 1)]]()

  def __setitem__(self, key, stepids):
    for selector in self.selectors.values():
      selector[key] = stepids

  def __delitem__(self, key):
    for selector in self.selectors.values():
      del selector[key]

  def prioritize(self, stepids, priorities):
    for selector in self.selectors.values():
      if hasattr(selector, 'prioritize'):
        selector.prioritize(stepids, priorities)

  def save(self):
    meta = {'type': 'Mixture', **_rng_state(self), 'selectors': {}}
    arrays = {}
    for name, selector in self.selectors.items():
      sub, subarrays = selector.save()
      meta['selectors'][name] = sub
      arrays.update({f'{name}/{k}': v for k, v in subarrays.items()})
    return meta, arrays

  def load(self, meta, arrays, keys):
    _check_type(self, meta)
    if sorted(meta['selectors']) != self.names:
      raise ValueError(
          f'Mixture.load: saved selectors {sorted(meta["selectors"])} != {self.names}')
    _set_rng_state(self, meta)
    for name, selector in self.selectors.items():
      prefix = f'{name}/'
      sub = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
      selector.load(meta['selectors'][name], sub, keys)


def make_selector(fracs, prio, recexp, seed=0):
  """Selector from the config keys replay.fracs, replay.prio and replay.recexp.

  fracs: {'uniform': f, 'priority': f, 'recency': f} summing to 1; a plain Uniform
  when only uniform is non-zero. prio: Prioritized kwargs. recexp: Recency exponent.
  """
  fracs = {k: float(v) for k, v in dict(fracs).items()}
  unknown = set(fracs) - {'uniform', 'priority', 'recency'}
  if unknown:
    raise ValueError(f'replay.fracs has unknown keys {sorted(unknown)}')
  used = {k: v for k, v in fracs.items() if v > 0}
  if set(used) == {'uniform'}:
    return Uniform(seed)
  makers = {
      'uniform': lambda s: Uniform(s),
      'priority': lambda s: Prioritized(**dict(prio), seed=s),
      'recency': lambda s: Recency(exponent=recexp, seed=s),
  }
  selectors = {k: makers[k](seed + 1 + i) for i, k in enumerate(sorted(used))}
  return Mixture(selectors, used, seed)


def _build_tree(leaves, cap, dtype):
  """Sum tree as a list: leaves at [cap, 2 cap), each parent the sum of its children."""
  tree = np.zeros((2 * cap,), dtype)
  tree[cap:cap + len(leaves)] = leaves
  lo = cap // 2
  while lo >= 1:
    tree[lo:2 * lo] = tree[2 * lo:4 * lo:2] + tree[2 * lo + 1:4 * lo:2]
    lo //= 2
  return tree.tolist()


def _grow(array, n, fill):
  new = np.full((n, *array.shape[1:]), fill, array.dtype)
  new[:len(array)] = array
  return new
