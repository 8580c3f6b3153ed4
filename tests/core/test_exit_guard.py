"""exit_guard: an env's os._exit in this process raises Exited; every other caller
(another thread, a child process the env forked) exits as it asked."""

import os
import threading

import pytest

from dreamerv3_tf.core import exit_guard


def test_the_guarding_thread_gets_exited_and_the_guard_is_undone():
  real = os._exit
  with pytest.raises(exit_guard.Exited, match=r'^called os\._exit\(3\)$'):
    with exit_guard.guard():
      os._exit(3)
  assert os._exit is real


def test_other_threads_exit_as_asked(monkeypatch):
  calls = []
  monkeypatch.setattr(os, '_exit', calls.append)  # the 'real' exit the guard passes on to
  with exit_guard.guard():
    thread = threading.Thread(target=os._exit, args=(5,))
    thread.start()
    thread.join()
  assert calls == [5]


def test_a_forked_child_exits_as_asked():
  with exit_guard.guard():
    pid = os.fork()
    if not pid:  # the child: it must end here, whatever the guard does
      try:
        os._exit(7)
      finally:
        os.abort()  # reached only if the guard raised in the child
  _, status = os.waitpid(pid, 0)
  assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7
