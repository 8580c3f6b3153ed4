"""Chunks: the unit of replay storage and persistence (numpy only).

A chunk holds up to `size` consecutive steps of one env worker as one preallocated
numpy array per key (`<dtype>[size, ...]`). Steps are appended at `length`; FIFO
eviction advances `start`, so the live steps are `[start, length)`. A chunk file is
an uncompressed `np.savez` archive of the first `length` steps, written atomically
(temporary name in the same directory, then `os.replace`), never with pickle.

Step ids are `<uint8>[20]`: the 8-byte chunk key, the 4-byte index in the chunk and
the 8-byte global insertion number of the step (all big-endian). The insertion
number orders steps across workers for FIFO eviction and for rebuilding the
sampling order after a load.
"""

import io
import mmap
import zipfile

import numpy as np

from dreamerv3_tf.core.files import LOCAL
from dreamerv3_tf.core.files import write_atomic

STEPID_BYTES = 20

# Columns of at least this many bytes per chunk (images) live in private anonymous
# memory maps, so the rows of evicted steps can be returned to the OS before the
# whole chunk is freed (madvise). Smaller columns are plain numpy arrays.
MMAP_MIN_BYTES = 1 << 20
_RELEASE_MIN_BYTES = 1 << 16
_CAN_RELEASE = hasattr(mmap, 'MADV_DONTNEED') and hasattr(mmap, 'MAP_PRIVATE')


class Column:
  """dtype and per-step shape of one stored key; `from_update` marks columns that
  Replay.update created (zeros where nothing was written, optional in `add`)."""

  __slots__ = ('dtype', 'shape', 'from_update')

  def __init__(self, dtype, shape, from_update=False):
    self.dtype = np.dtype(dtype)
    self.shape = tuple(int(x) for x in shape)
    self.from_update = bool(from_update)

  def to_dict(self):
    return {'dtype': self.dtype.str, 'shape': list(self.shape),
            'from_update': self.from_update}

  @classmethod
  def from_dict(cls, d):
    return cls(d['dtype'], d['shape'], d['from_update'])

  def __repr__(self):
    return f'{self.dtype.name}{list(self.shape)}'


class ChunkFileError(IOError):
  """A chunk file is missing, unreadable or does not match its saved state; `path`
  names it."""

  def __init__(self, message, path=None):
    super().__init__(message)
    self.path = path


def make_stepid(key, index, order):
  """(8-byte chunk key, index, global order) -> <uint8>[20]."""
  raw = key + index.to_bytes(4, 'big') + order.to_bytes(8, 'big')
  return np.frombuffer(raw, np.uint8)


def stepid_fields(stepids):
  """<uint8>[..., 20] -> (chunk keys <uint64>[...], index <int64>[...], order <int64>[...])."""
  stepids = np.ascontiguousarray(stepids, np.uint8)
  keys = stepids[..., :8].copy().view('>u8')[..., 0].astype(np.uint64)
  index = stepids[..., 8:12].copy().view('>u4')[..., 0].astype(np.int64)
  order = stepids[..., 12:20].copy().view('>u8')[..., 0].astype(np.int64)
  return keys, index, order


class Chunk:
  """Up to `size` consecutive steps of one worker.

  Attributes:
    seq: int, creation number within its replay (part of the sampling item keys).
    key: 8 bytes, globally unique chunk key (the first 8 bytes of its step ids).
    worker: int, the env worker whose steps it holds.
    offset: int, stream position (per worker step count) of index 0.
    length, start: live steps are `[start, length)`.
    succ: the next chunk of the same worker, or None.
    data: dict key -> <dtype>[size, ...].
  """

  __slots__ = ('seq', 'key', 'worker', 'offset', 'size', 'length', 'start',
               'succ', 'data', '_maps')

  def __init__(self, seq, key, worker, offset, size, columns):
    self.seq = seq
    self.key = key
    self.worker = worker
    self.offset = offset
    self.size = size
    self.length = 0
    self.start = 0
    self.succ = None
    self.data = {}
    self._maps = {}   # key -> [mmap, bytes per row, bytes released so far]
    for key, column in columns.items():
      self.add_column(key, column)

  @property
  def keyint(self):
    return int.from_bytes(self.key, 'big')

  @property
  def nbytes(self):
    return sum(v.nbytes for v in self.data.values()) if self.data else 0

  @property
  def filename_prefix(self):
    return f'chunk-{self.key.hex()}-'

  def order(self, index):
    """Global insertion number of the step at `index`."""
    return int.from_bytes(self.data['stepid'][index, 12:20].tobytes(), 'big')

  def orders(self, start, stop):
    """<int64>[stop - start] global insertion numbers."""
    return stepid_fields(self.data['stepid'][start:stop])[2]

  def add_column(self, key, column):
    """Allocates `column` for all rows; zeros, and untouched pages cost no memory."""
    shape = (self.size, *column.shape)
    nbytes = int(np.prod(shape)) * column.dtype.itemsize
    if _CAN_RELEASE and nbytes >= MMAP_MIN_BYTES:
      buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
      self.data[key] = np.frombuffer(buffer, column.dtype).reshape(shape)
      self._maps[key] = [buffer, nbytes // self.size, 0]
    else:
      # Large np.zeros come from calloc/mmap: also lazily mapped.
      self.data[key] = np.zeros(shape, column.dtype)

  def release_evicted(self):
    """Returns whole memory pages of the evicted rows [0, start) to the OS."""
    for entry in self._maps.values():
      buffer, rowbytes, released = entry
      bound = self.start * rowbytes // mmap.PAGESIZE * mmap.PAGESIZE
      if bound - released >= _RELEASE_MIN_BYTES:
        buffer.madvise(mmap.MADV_DONTNEED, released, bound - released)
        entry[2] = bound

  def free(self):
    self.data, self._maps = None, {}


def chunk_filename(name, chunk, version=0):
  """A rewrite of a saved chunk (after updates) gets a new `version` in its name."""
  suffix = f'-v{version}' if version else ''
  return f'{name}-{chunk.filename_prefix}{chunk.length}{suffix}.npz'


def write_npz(directory, filename, arrays, fs=LOCAL):
  """Atomically writes `arrays` (str -> ndarray) as an uncompressed npz; returns bytes."""
  buffer = io.BytesIO()  # np.savez needs seeks that remote files do not offer
  np.savez(buffer, allow_pickle=False, **arrays)
  data = buffer.getvalue()
  write_atomic(fs.join(directory, filename), data, fs)
  return len(data)


def read_npz(directory, filename, fs=LOCAL):
  """Reads a whole npz file into a dict; raises ChunkFileError naming the file."""
  path = fs.join(directory, filename)
  if not fs.exists(path):
    raise ChunkFileError(f'Replay file is missing: {path}', path)
  try:
    with fs.open(path, 'rb') as f:
      data = f.read()
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
    raise ChunkFileError(
        f'Replay file is corrupt: {path} ({type(e).__name__}: {e})', path) from None


def _outside(value, space):
  """A value of `value` (steps of one column) that `space` cannot hold, or None: an
  integer beyond its bounds (high exclusive, as Space.contains), a float not finite.
  Float bounds are not checked: actions are stored as the policy made them. A replayed
  discrete action of 99 was one-hot encoded as zeros and trained on without a word."""
  if space is None or space.dtype == bool or not value.size:
    return None
  if np.issubdtype(space.dtype, np.integer):
    info = np.iinfo(space.dtype)
    if np.all(space.low == info.min) and np.all(space.high == info.max):
      return None  # any value fits (images: uint8 in [0, 255])
    top = (space.high == info.max) & (value == info.max)
    bad = (value < space.low) | ((value >= space.high) & ~top)
  else:
    bad = ~np.isfinite(value)
  return value[bad].flat[0] if bad.any() else None


def _bounds(space):
  if np.issubdtype(space.dtype, np.integer):
    low, high = np.min(space.low), np.max(space.high)
    return f'{space.dtype.name} [{low}, {high})'
  return f'{space.dtype.name} (finite)'


def npz_damage(directory, filename, fs=LOCAL):
  """-> why npz file `filename` cannot be read (one line), or None. Reads only its zip
  directory, at the file's end: a file cut short (a copy onto a full disk, a killed
  sync) fails here, so a resume's checks see it before they point at its checkpoint;
  before, only the load found it and `run.resume_from` still took it for intact."""
  try:
    with fs.open(fs.join(directory, filename), 'rb') as f, zipfile.ZipFile(f) as z:
      z.infolist()
  except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
    return f'{type(e).__name__}: {e}'
  return None


def save_chunk(directory, filename, chunk, fs=LOCAL):
  """Writes steps [0, length) of every column; returns the bytes written."""
  names = sorted(chunk.data.keys())
  arrays = {f'col{i}': chunk.data[k][:chunk.length] for i, k in enumerate(names)}
  # Column names go into a unicode array (keys like 'dyn/deter' stay exact and
  # no pickle is needed to read them back).
  arrays['columns'] = np.array(names, dtype=np.str_)
  return write_npz(directory, filename, arrays, fs)


def load_chunk(directory, filename, chunk, columns, fs=LOCAL, spaces=None):
  """Fills `chunk.data` (already allocated from `columns`) from its file.

  Columns missing from the file (created by an update after this file was
  written) stay zero. Raises ChunkFileError if the file is missing, corrupt or
  does not hold `chunk.length` steps of this chunk, or if a column of `spaces` (the
  env's, {key: core.spaces.Space}) holds values no step of that env can have.
  """
  path = fs.join(directory, filename)
  arrays = read_npz(directory, filename, fs)
  if 'columns' not in arrays:
    raise ChunkFileError(f'Replay file is corrupt: {path} (no column list)', path)
  names = [str(x) for x in arrays['columns']]
  for i, name in enumerate(names):
    value = arrays.get(f'col{i}')
    if value is None:
      raise ChunkFileError(f'Replay file is corrupt: {path} (column {name!r} missing)', path)
    if name not in columns:
      raise ChunkFileError(
          f'Replay file {path} holds column {name!r} that the saved state does not list', path)
    col = columns[name]
    expected = (chunk.length, *col.shape)
    if value.shape != expected or value.dtype != col.dtype:
      raise ChunkFileError(
          f'Replay file {path}: column {name!r} is {value.dtype}{list(value.shape)}, '
          f'expected {col.dtype}{list(expected)}', path)
    bad = _outside(value, spaces.get(name)) if spaces else None
    if bad is not None:
      raise ChunkFileError(
          f'Replay file {path}: column {name!r} holds {bad}, which its space '
          f'{_bounds(spaces[name])} cannot (a file of another run, or edited?)', path)
    chunk.data[name][:chunk.length] = value
  if 'stepid' not in names:
    raise ChunkFileError(f'Replay file is corrupt: {path} (no stepid column)', path)
  if chunk.length and bytes(chunk.data['stepid'][0, :8]) != chunk.key:
    raise ChunkFileError(f'Replay file {path} holds another chunk than its name says', path)
