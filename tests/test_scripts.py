"""The scripts of bench/ and tools/ as a user starts them."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scripts():
  for tree in ('bench', 'tools'):
    for folder, _, names in os.walk(os.path.join(ROOT, tree)):
      yield from (os.path.join(folder, n) for n in sorted(names) if n.endswith('.py'))


def test_no_script_reads_its_docstring_as_text_that_python_oo_drops():
  """Under python -OO (PYTHONOPTIMIZE=2) a module's __doc__ is None: 'python -OO
  bench/compare.py --help' stopped with "AttributeError: 'NoneType' object has no
  attribute 'split'", as ten scripts built their argparse description so."""
  found = []
  for path in scripts():
    with open(path, encoding='utf-8') as f:
      tree = ast.parse(f.read(), path)
    found += [f'{os.path.relpath(path, ROOT)}:{node.lineno}' for node in ast.walk(tree)
              if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == '__doc__']
  assert not found, found


def test_the_loop_benchmark_times_methods_that_exist():
  """bench/loop_overhead.py wrapped configuration.save after it had moved to
  logdir_checks: an AttributeError before its first step."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(
      'loop_overhead', os.path.join(ROOT, 'bench', 'loop_overhead.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  for owner, method, name in module.targets():
    assert callable(getattr(owner, method, None)), (owner, method, name)
