"""Every Python module, config, test and benchmark belongs to a Bazel target."""

import ast
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TREES = ('dreamerv3_tf', 'configs', 'tests', 'bench')


def build_files():
  for folder, _, files in os.walk(ROOT):
    if 'BUILD' in files and '/.' not in folder and 'bazel-' not in folder:
      yield os.path.join(folder, 'BUILD')


def declared_sources():
  """{repo-relative path} of every file named in a srcs or data list."""
  found = set()
  for path in build_files():
    package = os.path.relpath(os.path.dirname(path), ROOT)
    text = open(path).read()
    for match in re.finditer(r'\b(?:srcs|data)\s*=\s*(\[[^\]]*\])', text):
      try:
        names = ast.literal_eval(match.group(1))
      except ValueError:
        continue  # not a literal list, e.g. a comprehension over glob()
      for name in names:
        if not name.startswith((':', '//', '@')):
          found.add(os.path.normpath(os.path.join(package, name)))
  return found


def python_files():
  files = set()
  for tree in TREES:
    for folder, _, names in os.walk(os.path.join(ROOT, tree)):
      if '__pycache__' in folder:
        continue
      files.update(os.path.relpath(os.path.join(folder, n), ROOT)
                   for n in names if n.endswith('.py'))
  return files


def test_every_python_file_belongs_to_a_target():
  missing = sorted(python_files() - declared_sources())
  assert not missing, f'not in any BUILD target: {missing}'


def test_every_declared_file_exists():
  absent = sorted(p for p in declared_sources() if not os.path.exists(os.path.join(ROOT, p)))
  assert not absent, f'BUILD names files that do not exist: {absent}'


@pytest.mark.skipif(not shutil.which('bazel'), reason='bazel is not installed')
def test_bazel_query_loads_every_package(tmp_path):
  result = subprocess.run(
      # --batch: no Bazel server is left running after the test.
      ['bazel', '--batch', f'--output_user_root={tmp_path}', 'query', '//...'], cwd=ROOT,
      capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  targets = set(result.stdout.split())
  assert {'//dreamerv3_tf:main', '//tests:run_test_train_eval', '//configs:configs'} <= targets
