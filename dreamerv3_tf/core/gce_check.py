"""NO_GCE_CHECK=true for TensorFlow where no Compute Engine metadata server answers.

TensorFlow's gs:// file system takes its credentials from GOOGLE_APPLICATION_CREDENTIALS'
file, else gcloud's application_default_credentials.json, else the metadata server
(metadata.google.internal, or GCE_METADATA_HOST), which it asks 10 times where nothing
answers: a gs:// run without credentials waited about 10 s before its one line. Then it
goes on with an empty token (public buckets are read so). NO_GCE_CHECK=true skips that
question only, the token empty at once (tsl/platform/cloud/google_auth_provider.cc), and
would take a VM's own credentials away: so it is set only where TensorFlow would ask
and nothing answers.
"""

import os
import socket
import threading
import urllib.parse

METADATA_HOST = 'metadata.google.internal'  # TensorFlow's, unless GCE_METADATA_HOST
# What the machine says it is: 'Google Compute Engine' on its VMs (TPU VMs too).
DMI_PRODUCT = '/sys/class/dmi/id/product_name'
PROBE_SECONDS = 1.0  # the server answers a VM in milliseconds


def credentials_file(environ):
  """The credentials file TensorFlow reads before it asks the metadata server, else
  None (it reads GOOGLE_APPLICATION_CREDENTIALS', then CLOUDSDK_CONFIG's or ~/.config/
  gcloud's application_default_credentials.json)."""
  given = environ.get('GOOGLE_APPLICATION_CREDENTIALS')
  if given and _readable(given):
    return given
  folder = environ.get('CLOUDSDK_CONFIG')
  if folder is None and environ.get('HOME') is not None:
    folder = os.path.join(environ['HOME'], '.config', 'gcloud')
  found = folder is not None and os.path.join(folder, 'application_default_credentials.json')
  return found if found and _readable(found) else None


def _readable(path):
  return os.path.isfile(path) and os.access(path, os.R_OK)


def on_compute_engine(product=DMI_PRODUCT):
  try:
    with open(product, encoding='utf-8', errors='replace') as f:
      return 'Google' in f.read()
  except OSError:
    return False


def answers(address, seconds=PROBE_SECONDS):
  """Whether a TCP connection to `address` ('host' or 'host:port', port 80 as TensorFlow's
  http:// request) opens within about `seconds`, its name's look-up included (which a
  socket's timeout does not bound: it runs in a thread given that long)."""
  try:
    url = urllib.parse.urlsplit(f'http://{address}')
    host, port = url.hostname, url.port or 80
  except ValueError:  # a port that is no number: TensorFlow's request fails at once too
    return False
  if not host:
    return False
  opened = []

  def connect():
    try:
      with socket.create_connection((host, port), timeout=seconds):
        opened.append(True)
    except OSError:
      pass

  thread = threading.Thread(target=connect, daemon=True, name='gce_check')
  thread.start()
  thread.join(2 * seconds)  # a look-up still going: nothing answered in time
  return bool(opened)


def skip_gce_check(paths, environ=os.environ, product=DMI_PRODUCT, answers=answers):
  """Whether TensorFlow should skip the metadata server: a gs:// path is among `paths`,
  NO_GCE_CHECK is not set (a user's value stands), TensorFlow would find no credentials
  before it asks, this is no Compute Engine machine, and nothing answers where it asks."""
  if not any(str(x).startswith('gs://') for x in paths if x):
    return False
  if 'NO_GCE_CHECK' in environ or 'GOOGLE_AUTH_TOKEN_FOR_TESTING' in environ:
    return False
  if credentials_file(environ) or on_compute_engine(product):
    return False
  return not answers(environ.get('GCE_METADATA_HOST', METADATA_HOST))


def prepare(paths):
  """Sets NO_GCE_CHECK=true where skip_gce_check says so; call before TensorFlow first
  opens a gs:// path (it reads the variable then; the processes started later inherit it)."""
  if skip_gce_check(paths):
    os.environ['NO_GCE_CHECK'] = 'true'
