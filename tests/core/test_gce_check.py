"""NO_GCE_CHECK=true for TensorFlow only where it would ask a metadata server that does
not answer (a gs:// run without credentials waited ~10 s for its 10 tries)."""

import os
import socket
import sys

import pytest

import cli_zygote
from dreamerv3_tf.core import gce_check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def closed_port():
  """A port of this host that nothing listens on: connections to it are refused."""
  with socket.socket() as unused:
    unused.bind(('127.0.0.1', 0))
    return unused.getsockname()[1]


def test_answers_only_where_a_connection_opens():
  with socket.socket() as server:
    server.bind(('127.0.0.1', 0))
    server.listen()
    assert gce_check.answers(f'127.0.0.1:{server.getsockname()[1]}')
  assert not gce_check.answers(f'127.0.0.1:{closed_port()}')
  assert not gce_check.answers('127.0.0.1:http')  # (TensorFlow's request fails at once)


@pytest.mark.parametrize('case, skipped', [
    ('no_gs_path', False), ('none_answers', True), ('server_answers', False),
    ('user_set_it', False), ('credentials_env', False), ('gcloud_login', False),
    ('cloudsdk_config', False), ('compute_engine', False)])
def test_the_check_is_skipped_only_where_it_would_ask_in_vain(tmp_path, case, skipped):
  """A VM's credentials come from its metadata server; files TensorFlow reads first
  (GOOGLE_APPLICATION_CREDENTIALS', gcloud's login) are asked no server; a user's own
  NO_GCE_CHECK stands."""
  (tmp_path / 'key.json').write_text('{}')
  (tmp_path / 'home' / '.config' / 'gcloud').mkdir(parents=True)
  (tmp_path / 'product_name').write_text('Standard PC (Q35 + ICH9, 2009)\n')
  environ = {'HOME': str(tmp_path / 'home'),
             'GOOGLE_APPLICATION_CREDENTIALS': str(tmp_path / 'missing.json')}
  paths, answers = ['/tmp/run', 'gs://b/ckpt'], {'server_answers': True}.get(case, False)
  if case == 'no_gs_path':
    paths = ['/tmp/run', 'file:///x', '']
  elif case == 'user_set_it':
    environ['NO_GCE_CHECK'] = 'false'
  elif case == 'credentials_env':
    environ['GOOGLE_APPLICATION_CREDENTIALS'] = str(tmp_path / 'key.json')
  elif case == 'gcloud_login':
    (tmp_path / 'home/.config/gcloud/application_default_credentials.json').write_text('{}')
  elif case == 'cloudsdk_config':
    environ['CLOUDSDK_CONFIG'] = str(tmp_path)
    (tmp_path / 'application_default_credentials.json').write_text('{}')
  elif case == 'compute_engine':
    (tmp_path / 'product_name').write_text('Google Compute Engine\n')
  asked = []
  assert gce_check.skip_gce_check(
      paths, environ, str(tmp_path / 'product_name'),
      lambda address: asked.append(address) or answers) == skipped
  # The server TensorFlow asks, and only where nothing else decides.
  assert asked == (['metadata.google.internal'] if case in ('none_answers', 'server_answers')
                   else [])


# Runs a command with TensorFlow kept out: what it sets, it sets before TensorFlow loads.
SNIPPET = """
import os, runpy, sys
sys.modules['tensorflow'] = None
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
  runpy.run_module(module, run_name='__main__')
finally:
  print('NO_GCE_CHECK', os.environ.get('NO_GCE_CHECK'), flush=True)
"""


@pytest.mark.skipif(
    gce_check.on_compute_engine(),
    reason='on a Compute Engine VM the metadata server answers, so no closed port can stand '
    'in for one that does not')
@pytest.mark.parametrize('module, flags', [
    ('dreamerv3_tf.main', ['--config=configs/dmc.py:train_eval,debug', '--logdir=gs://b/run']),
    ('dreamerv3_tf.export', ['--logdir=gs://b/run', '--out={tmp}/out']),
    ('dreamerv3_tf.interop.official', ['--checkpoint=gs://b/official', '--logdir={tmp}/out',
                                       '--config=configs/dmc.py:train_eval,debug'])])
def test_commands_set_it_before_tensorflow_loads(tmp_path, module, flags):
  """A gs:// path without credentials, where the server TensorFlow would ask does not
  answer (GCE_METADATA_HOST: a closed port stands in): main, export and the importer
  waited ~10 s for TensorFlow's 10 tries before their line."""
  env = {k: v for k, v in os.environ.items() if k not in (
      'NO_GCE_CHECK', 'GOOGLE_APPLICATION_CREDENTIALS', 'CLOUDSDK_CONFIG',
      'GOOGLE_AUTH_TOKEN_FOR_TESTING')}
  env.update(HOME=str(tmp_path), GCE_METADATA_HOST=f'127.0.0.1:{closed_port()}')
  result = cli_zygote.run(
      [sys.executable, '-c', SNIPPET, module, *(x.format(tmp=tmp_path) for x in flags)],
      cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
  assert result.returncode != 0 and 'NO_GCE_CHECK true' in result.stdout, (
      result.stdout[-2000:] + result.stderr[-2000:])
  assert not (tmp_path / 'out').exists()
