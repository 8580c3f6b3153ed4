"""A command run with a small tmpfs of its own, in a mount namespace (`unshare -m`): a
real full disk or one out of inodes, which ends with the command, unmounted by the
kernel whatever happens to the test. Root only: the tests that use it skip otherwise.
"""

import os
import shutil

import pytest

MOUNT_FAILED = 99  # the wrapper's exit code when the tmpfs or `before` failed


def require():
  """Skips the calling test where no tmpfs can be mounted in a namespace."""
  if os.geteuid() != 0 or not shutil.which('unshare'):
    pytest.skip('needs root for a tmpfs in a mount namespace of its own')


def prefix(directory, options='size=1m', fill=False, before='', after=''):
  """-> the argv prefix that runs a command with a tmpfs of `options` at `directory`.

  fill: a filler file takes all its room first (a full disk).
  before, after: shell commands run once it is mounted and once the command ended (to
    copy a logdir onto it and back out); the command's exit code is kept.
  """
  mount = f'mount -t tmpfs -o {options} none {directory}'
  script = f'{mount}{f" && {before}" if before else ""} || exit {MOUNT_FAILED}; '
  if fill:
    script += f'dd if=/dev/zero of={directory}/filler bs=4k 2>/dev/null; '
  script += (f'"$@"; code=$?; {after} || exit {MOUNT_FAILED}; exit $code' if after
             else 'exec "$@"')
  return ['unshare', '-m', 'sh', '-c', script, 'sh']
