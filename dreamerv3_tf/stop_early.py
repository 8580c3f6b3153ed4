"""A stop signal while a command starts, before its own handlers are in place.

Its imports and flags take up to a few seconds (numpy, absl, matplotlib): Ctrl-C
there printed a traceback and SIGTERM ended the command without a word. Nothing is
written yet, so it stops at once with one line and exit 130 / 143. Imports nothing
heavy. Used by main, export, plot and the official importer.
"""

import os
import signal


def stopped_while_starting(signum, frame):
  del frame
  term = signum == signal.SIGTERM
  os.write(2, f'{"Terminated" if term else "Interrupted"} while starting; nothing '
           'was written\n'.encode())
  os._exit(143 if term else 130)


def install():
  """Call first thing in a command's `__main__`."""
  signal.signal(signal.SIGTERM, stopped_while_starting)
  if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not nohup'd
    signal.signal(signal.SIGINT, stopped_while_starting)


def ctrl_c_is_ours():
  """Whether the command may take Ctrl-C over: not when the shell made it ignored
  (nohup, `&` in a script)."""
  return signal.getsignal(signal.SIGINT) in (signal.default_int_handler,
                                            stopped_while_starting)
