"""os._exit called by an env in this process (run.parallel=False), as an exception.

  with exit_guard.guard():
    obs = env.step(action)     # exit_guard.Exited if the env calls os._exit(3)

os._exit ends the process at once, without a line: an env that called os._exit(0)
mid-run ended the run with exit code 0, as if it had finished. Inside the block,
os._exit raises Exited instead, so the run stops with one line naming the env. Only
the guarding thread's calls are caught: another thread's (the run's own exits) and a
child process's the env forked (which inherits the guard) exit as asked.
"""

import contextlib
import os
import threading


class Exited(BaseException):
  """The env called os._exit(code). A BaseException, like SystemExit: an env's own
  `except Exception` cannot swallow it."""

  def __init__(self, code):
    super().__init__(f'called os._exit({code!r})')
    self.code = code


@contextlib.contextmanager
def guard():
  real = os._exit
  pid, thread = os.getpid(), threading.get_ident()

  def _exit(code):
    if os.getpid() != pid or threading.get_ident() != thread:
      return real(code)
    raise Exited(code)

  os._exit = _exit
  try:
    yield
  finally:
    os._exit = real
