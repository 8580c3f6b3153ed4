"""deadline.limit: an env call in this process past its limit raises Expired, whatever
the env does with SIGALRM, and the env's own alarms are left to it."""

import signal
import time

import pytest

from dreamerv3_tf.core import deadline


@pytest.fixture
def own_sigalrm():
  """The test's SIGALRM handler and alarm are undone after it."""
  previous = signal.getsignal(signal.SIGALRM)
  yield
  signal.alarm(0)
  signal.signal(signal.SIGALRM, previous)


def test_a_blocked_call_past_the_limit_raises_expired():
  with pytest.raises(deadline.Expired, match=r'^no answer within 0\.2s$'):
    with deadline.limit(0.2):
      time.sleep(30)


def test_an_env_that_cancels_an_alarm_does_not_cancel_the_limit(own_sigalrm):
  """A library's timeout (signal.alarm, then alarm(0) as it ends) reset the timer the
  limit shared: the hung step that followed hung the run without a line."""
  with pytest.raises(deadline.Expired):
    with deadline.limit(0.2):
      signal.alarm(0)
      time.sleep(30)


def test_an_env_with_its_own_sigalrm_handler_is_still_limited(own_sigalrm):
  """Its handler replaced the limit's, which then never raised."""
  fired = []
  with pytest.raises(deadline.Expired):
    with deadline.limit(0.2):
      signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
      signal.alarm(30)
      time.sleep(30)
  assert not fired


def test_the_env_s_own_alarm_outlives_the_limit(own_sigalrm):
  """The limit's end cancelled the env's alarm too (setitimer(0))."""
  fired = []
  signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
  with deadline.limit(30):
    signal.setitimer(signal.ITIMER_REAL, 0.1)
  waited = time.monotonic() + 5
  while not fired and time.monotonic() < waited:
    time.sleep(0.02)
  assert fired


def test_a_shorter_limit_after_a_longer_one_and_an_outer_one_after_an_inner_one():
  """The watchdog waits for the limit it knew; one that ends sooner wakes it."""
  with deadline.limit(60):
    pass
  started = time.monotonic()
  with pytest.raises(deadline.Expired, match=r'within 0\.3s'):
    with deadline.limit(0.3):
      with deadline.limit(60):
        pass
      time.sleep(30)
  assert time.monotonic() - started < 20  # not the inner 60 s (a wide bound: a busy machine)


def test_a_late_signal_after_the_block_is_dropped():
  """The watchdog may send as the block ends: nothing is raised outside it."""
  with deadline.limit(30):
    pass
  signal.raise_signal(deadline.SIGNAL)  # as a late one would arrive
