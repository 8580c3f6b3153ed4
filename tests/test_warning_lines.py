"""Every warning line of ours starts with the one spelling 'Warning: ': a user greps a
run's log for one word (lines of xla_cache, damaged checkpoints and env restarts said
'WARNING: ', the others 'Warning: ', and the launchers 'warning: ')."""

import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPELLING = 'Warning: '
ANY_SPELLING = re.compile(r'warning: ', re.IGNORECASE)
# Lines of other programs that we only relay keep their own spelling.
RELAYED = ('WARNING: All log messages before absl::InitializeLog()',)


def python_literals(tree):
  """(path:line, text) of every str literal, and of every literal part of an f-string,
  in the .py files under `tree`."""
  for folder, _, names in os.walk(os.path.join(ROOT, tree)):
    for name in sorted(n for n in names if n.endswith('.py')):
      path = os.path.join(folder, name)
      with open(path) as f:
        module = ast.parse(f.read(), path)
      for node in ast.walk(module):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
          yield f'{os.path.relpath(path, ROOT)}:{node.lineno}', node.value


def misspelled(text):
  """Whether `text` starts a warning line (after a launcher's '$PROG: ') in another
  spelling than SPELLING."""
  start = len('$PROG: ') if text.startswith('$PROG: ') else 0
  head = text[start:start + len(SPELLING)]
  return (ANY_SPELLING.fullmatch(head) is not None and head != SPELLING
          and not text[start:].startswith(RELAYED))


def test_the_programs_warning_lines_have_one_spelling():
  found = [f'{where}: {text[:50]!r}' for tree in ('dreamerv3_tf', 'bench', 'tools')
           for where, text in python_literals(tree) if misspelled(text)]
  assert not found, found


def test_the_launchers_warning_lines_have_one_spelling():
  found = []
  for name in sorted(os.listdir(os.path.join(ROOT, 'launchers'))):
    if name.endswith('.sh'):
      with open(os.path.join(ROOT, 'launchers', name)) as f:
        found += [f'{name}:{i}: {line.strip()}' for i, line in enumerate(f, 1)
                  if any(misspelled(x) for x in re.findall(r'"([^"]*)"', line))]
  assert not found, found
