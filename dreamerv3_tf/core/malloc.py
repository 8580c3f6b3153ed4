"""Which malloc this process runs, read from its memory map (no library is loaded).

allocator.py preloads a fast one for `main`; envs/memory.py caps an env constructor's
address space only under one of these, which reserve memory without the kernel's check.
"""

import os

FAST = ('jemalloc', 'tcmalloc', 'mimalloc')  # a user's own preload counts too


def loaded(maps='/proc/self/maps'):
  """The file of a jemalloc, TCMalloc or mimalloc mapped into this process, or None."""
  try:
    with open(maps) as f:
      for line in f:
        fields = line.split(maxsplit=5)  # address perms offset dev inode [path]
        path = fields[5].strip() if len(fields) == 6 else ''
        if any(x in os.path.basename(path) for x in FAST):
          return path
  except OSError:
    return None
  return None
