"""Runs one test file with pytest: the `main` of every py_test in tests/BUILD."""

import sys

import pytest

if __name__ == '__main__':
  sys.exit(pytest.main(['-q', '-n', '0', *sys.argv[1:]]))  # one file: no workers
