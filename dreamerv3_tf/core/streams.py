"""stdout and stderr that print every line, whatever encoding the locale gives them.

Under PYTHONIOENCODING=ascii (or latin-1, or LC_ALL=C with PYTHONUTF8=0) a line holding
a character the encoding lacks raised UnicodeEncodeError: `--config.task=dmc_wälk`
stopped a run at its first line with 'Error: UnicodeEncodeError: ... (unexpected ...)'
instead of naming the task, and an env of the user's that printed 'Zurücksetzen' failed
('train env 0 raised UnicodeEncodeError'). `print_any_text` gives both streams an error
handler that writes such characters as Python escapes ('\\xe4'), and a name Python read
as raw bytes (a surrogate, as under LC_ALL=C) as those bytes again, so that the line
shows it as typed (stderr showed 'dmc_w\\udcc3\\udca4lk').

`quote_for_paste` quotes a path in a command printed for the user to paste.
"""

import codecs
import shlex
import sys

HANDLER = 'dreamerv3_tf.escape'
_BACKSLASHREPLACE = codecs.lookup_error('backslashreplace')

# Error handlers a user's PYTHONIOENCODING may choose that lose no line: kept as given.
_CHOSEN = ('replace', 'ignore', 'xmlcharrefreplace', 'namereplace')


def _escape(error):
  """surrogateescape's bytes for the lone surrogates it made, else backslashreplace."""
  if isinstance(error, UnicodeEncodeError):
    part = error.object[error.start:error.end]
    if all(0xDC80 <= ord(c) <= 0xDCFF for c in part):
      return bytes(ord(c) - 0xDC00 for c in part), error.end
  return _BACKSLASHREPLACE(error)


def print_any_text():
  """Call first thing in a command's `__main__`, and in each env worker process."""
  codecs.register_error(HANDLER, _escape)
  for stream in (sys.stdout, sys.stderr):
    errors = getattr(stream, 'errors', None)
    if errors and errors not in _CHOSEN and hasattr(stream, 'reconfigure'):
      stream.reconfigure(errors=HANDLER)


def quote_for_paste(path, streams=None):
  """`path` as one shell word for a command printed to `streams` (stdout and stderr) for
  the user to paste: shlex's quoting where they can encode it, else bash's ANSI-C form
  of its bytes ($'l\\xc3\\xa4ufe'; UTF-8, or the bytes a surrogate stands for), which
  pastes as the real name in bash and zsh. print_any_text's escapes ('l\\xe4ufe') named
  another path when pasted."""
  path = str(path)
  quoted = shlex.quote(path)
  for stream in streams or (sys.stdout, sys.stderr):
    try:
      quoted.encode(getattr(stream, 'encoding', None) or 'utf-8')
    except (UnicodeEncodeError, LookupError):
      break
  else:
    return quoted
  return "$'" + ''.join(_ansi_c(byte) for byte in path.encode('utf-8', 'surrogateescape')) + "'"


def _ansi_c(byte):
  if byte in b"\\'":
    return '\\' + chr(byte)
  return chr(byte) if 0x20 <= byte < 0x7F else f'\\x{byte:02x}'
