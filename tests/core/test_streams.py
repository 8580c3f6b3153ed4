"""Paths in commands printed for the user to paste, under any stream encoding."""

import io
import subprocess

import pytest

from dreamerv3_tf.core import streams

# A name Python read as raw bytes (surrogateescape, as under LC_ALL=C): b'l\xe4ufe'.
RAW = b'/runs/l\xe4ufe'.decode('utf-8', 'surrogateescape')


def stream(encoding):
  return io.TextIOWrapper(io.BytesIO(), encoding=encoding)


@pytest.mark.parametrize('path, encoding, quoted', [
    ('/runs/a', 'ascii', '/runs/a'),
    ('/runs/my run', 'ascii', "'/runs/my run'"),
    ('/runs/läufe', 'utf-8', "'/runs/läufe'"),
    ('/runs/läufe', 'latin-1', "'/runs/läufe'"),
    # Printed as '/runs/l\xe4ufe' (print_any_text's escape), which pasted named another path.
    ('/runs/läufe', 'ascii', "$'/runs/l\\xc3\\xa4ufe'"),
    ('/runs/✓', 'latin-1', "$'/runs/\\xe2\\x9c\\x93'"),
    ("/runs/it's ä\\b", 'ascii', "$'/runs/it\\'s \\xc3\\xa4\\\\b'"),
    (RAW, 'utf-8', "$'/runs/l\\xe4ufe'"),  # its bytes, under any encoding
], ids=['plain', 'space', 'utf8', 'latin1', 'ascii', 'beyond_latin1', 'quote_backslash',
        'raw_bytes'])
def test_a_path_to_paste_is_quoted_for_the_streams_it_is_printed_to(path, encoding, quoted):
  assert streams.quote_for_paste(path, [stream('utf-8'), stream(encoding)]) == quoted


@pytest.mark.parametrize('path', ['/runs/läufe', "/runs/it's ä\\b", '/runs/✓ a', RAW])
def test_bash_reads_the_quoted_path_as_the_path(path):
  """What a user pastes into bash names the path itself."""
  quoted = streams.quote_for_paste(path, [stream('ascii')])
  assert quoted.isascii(), quoted
  out = subprocess.run(['bash', '-c', f'printf %s {quoted}'], capture_output=True, check=True)
  assert out.stdout == path.encode('utf-8', 'surrogateescape')
