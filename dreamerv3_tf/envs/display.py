"""Whether this process has a display a window could open on: DISPLAY or
WAYLAND_DISPLAY set, and a server answering at the socket it names (no X or
Wayland library is loaded; a connection is tried and closed)."""

import os
import socket

TIMEOUT = 1.0  # seconds for a server to accept; a forwarded ssh display answers in ms


def unusable(environ=os.environ):
  """-> why no window can open ('this machine has no display', "DISPLAY=':99' cannot
  be opened"), or None where a display variable names a server that answers, or a
  form not read here (left to the library that opens it)."""
  shown = [f'{k}={environ[k]!r}' for k in ('DISPLAY', 'WAYLAND_DISPLAY') if environ.get(k)]
  if not shown:
    return 'this machine has no display'
  x11 = environ.get('DISPLAY') and _x11_answers(environ['DISPLAY'])
  wayland = environ.get('WAYLAND_DISPLAY') and _wayland_answers(environ)
  if x11 or wayland:
    return None
  return f'{" and ".join(shown)} cannot be opened'


def _x11_answers(display):
  """[host]:N[.S]: host empty or 'unix' is the local socket X<N> (Linux's abstract one
  first), else TCP port 6000 + N (ssh -X forwards localhost:10 to 6010)."""
  host, _, rest = display.rpartition(':')
  number = rest.split('.')[0]
  if not number.isdigit() or host.startswith('/'):  # (macOS's launchd paths, ...)
    return True
  if host in ('', 'unix'):
    path = f'/tmp/.X11-unix/X{int(number)}'
    return _unix_answers('\0' + path) or _unix_answers(path)
  try:
    with socket.create_connection((host.strip('[]'), 6000 + int(number)), timeout=TIMEOUT):
      return True
  except OSError:
    return False


def _wayland_answers(environ):
  """WAYLAND_DISPLAY: a socket's name in XDG_RUNTIME_DIR, or its full path."""
  name = environ['WAYLAND_DISPLAY']
  if not os.path.isabs(name):
    if not environ.get('XDG_RUNTIME_DIR'):
      return False  # where clients look for it: they cannot connect either
    name = os.path.join(environ['XDG_RUNTIME_DIR'], name)
  return _unix_answers(name)


def _unix_answers(path):
  with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(TIMEOUT)
    try:
      s.connect(path)
      return True
    except OSError:
      return False
