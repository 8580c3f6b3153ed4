"""Runs one test file with pytest: the `main` of every py_test in tests/BUILD."""

import sys

import pytest

if __name__ == '__main__':
  sys.exit(pytest.main(['-q', *sys.argv[1:]]))
