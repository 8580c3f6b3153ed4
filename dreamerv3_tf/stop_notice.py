"""Says at once that a stop signal was received when the run cannot stop at once.

Python runs a signal handler only between two of its own instructions. While the
main thread is inside one long call into TensorFlow (an XLA compile: 30 s and more
at the default size; one update of a big model), Ctrl-C or SIGTERM did nothing
visible until that call returned, and a user pressed it again or killed the run. A
stop that lands in TensorFlow's Python code waits for it too (stop_signals.stop).
A thread woken by the signal itself (`signal.set_wakeup_fd`) prints one progress line
on stdout if the handler has not run a moment later. The stop itself, its one line
and its exit code stay the handler's.
"""

import select
import signal
import threading
import time

from dreamerv3_tf import startup
from dreamerv3_tf import stop_signals
from dreamerv3_tf.core import compile_pacing

# How long the handler may take before the line is printed: it runs within
# milliseconds whenever the main thread is in Python code.
DELAY = 1.0


def watch(handled, delay=DELAY):
  """Starts the watcher; `handled()` is true once the Python handler has run.

  Call from the main thread, after the handlers are installed. Returns the thread
  (a daemon: it never delays the exit), or None where the wakeup fd is taken.
  """
  read = stop_signals.track_arrivals()  # (the handler reads it too: first_arrived)
  if read is None:  # the wakeup fd is someone else's (an event loop): leave it to them
    return None
  numbers = {int(x) for x in stop_signals.SIGNALS}

  def run():
    while True:
      select.select([read], [], [])
      received = stop_signals.read_arrivals()  # (b'' if the handler read it: it has run)
      if not any(x in numbers for x in received):
        continue
      deadline = time.monotonic() + delay
      while time.monotonic() < deadline:
        # (A stop handled as a compile's thread started waits for the compile all the same.)
        if handled() and not compile_pacing.calling():
          return
        time.sleep(0.02)
      named = [x for x in stop_signals.SIGNALS if x != signal.SIGINT and x in received]
      what = signal.Signals(named[0]).name if named else 'Ctrl-C'
      try:
        startup.say(f'{what} received: stopping once the call TensorFlow is in returns (an '
                    'XLA compile, an update or a save: up to minutes for big models); a second '
                    'one is ignored.')
      except (OSError, ValueError):  # stdout closed (`| head`): the stop's line still comes
        pass
      return

  thread = threading.Thread(target=run, name='stop-notice', daemon=True)
  thread.start()
  return thread
