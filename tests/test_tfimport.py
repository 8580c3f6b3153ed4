"""TensorFlow's import with the garbage collector paused (tfimport.py) leaves the
collector as it found it; only a program that owns its process freezes what the import
made and loads Keras without matplotlib and IPython, which import as usual afterwards.
TensorFlow's CPU allocator is its pool on every CPU kind unless the host chose otherwise."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = """
import gc, sys
from dreamerv3_tf import tfimport
{before}
tf = tfimport.load(owned={owned})
import keras  # on TensorFlow whatever the user's KERAS_BACKEND (set to jax below)
print(keras.backend.backend(), tf is sys.modules['tensorflow'], gc.isenabled(), gc.get_freeze_count() > 0,
      'matplotlib' in sys.modules, 'IPython' in sys.modules, end=' ')
tf.ones([2])
try:  # TensorFlow's BFC pool keeps allocator statistics; malloc has none
  tf.config.experimental.get_memory_info('CPU:0')
  print('pool', end=' ')
except ValueError:
  print('malloc', end=' ')
import matplotlib.pyplot, IPython
print(matplotlib.pyplot.figure is not None, IPython.STAND_IN)
"""


@pytest.mark.parametrize('before, owned, expected', [
    # Keras imports matplotlib's pyplot when it can (pyproject.toml's [test] has it),
    # and IPython (here a stand-in: IPython is no dependency of ours).
    ('pass', False, 'tensorflow True True False True True pool True True'),
    ('pass', True, 'tensorflow True True True False False pool True True'),
    # A host's choices stay: its collector, and its allocator.
    ('gc.disable(); import os; os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "0"', False,
     'tensorflow True False False True True malloc True True'),
])
def test_the_collector_matplotlib_ipython_and_allocator_are_left_as_promised(
    tmp_path, before, owned, expected):
  (tmp_path / 'IPython').mkdir()
  (tmp_path / 'IPython' / '__init__.py').write_text('STAND_IN = True\n')
  # oneDNN off, as TensorFlow leaves it on AVX2-only CPUs: its CPU allocator is then
  # malloc unless tfimport asks for the pool, which updates need (tfimport.ENV_DEFAULTS).
  # KERAS_BACKEND=jax: a Keras user's shell; every command stopped with "No module named
  # 'jax'" (or built its layers on jax where it is installed).
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]),
             TF_ENABLE_ONEDNN_OPTS='0', KERAS_BACKEND='jax')
  env.pop('TF_CPU_ALLOCATOR_USE_BFC', None)
  code = PROBE.format(before=before, owned=owned)
  out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env=env)
  assert out.returncode == 0, out.stderr[-2000:]
  assert out.stdout.split('\n')[-2] == expected


def test_keras_imported_on_another_backend_first_is_one_line(monkeypatch):
  """A host program (a notebook) that imported Keras on jax before our agent: the agent's
  layers would be jax's. (The suite's process has TensorFlow imported already.)"""
  import types
  from dreamerv3_tf import tfimport
  backend = types.SimpleNamespace(backend=lambda: 'jax')
  monkeypatch.setitem(sys.modules, 'keras', types.SimpleNamespace(backend=backend))
  with pytest.raises(ImportError) as error:
    tfimport.load()
  assert str(error.value) == (
      'Keras was imported on its jax backend before dreamerv3_tf, whose models need it on '
      'TensorFlow: set KERAS_BACKEND=tensorflow before the first import of keras')


@pytest.mark.parametrize('given, expected', [
    (None, '--xla_cpu_copy_insertion_use_region_analysis=true'),
    ('--xla_dump_to=/tmp/x',
     '--xla_dump_to=/tmp/x --xla_cpu_copy_insertion_use_region_analysis=true'),
    # The user's own setting wins, whichever value it has.
    ('--xla_cpu_copy_insertion_use_region_analysis=false',
     '--xla_cpu_copy_insertion_use_region_analysis=false'),
    # A value that does not start with -- names a file of flags for XLA: a flag added
    # to it made XLA look for a file 'flags.txt --xla_cpu_copy...' and stop the run at
    # its first compile, after the logdir was written.
    ('/home/me/flags.txt', '/home/me/flags.txt'),
])
def test_xla_defaults_are_added_unless_the_user_set_them(given, expected):
  from dreamerv3_tf import tfimport
  environ = {} if given is None else {'XLA_FLAGS': given}
  tfimport.add_xla_flags(tfimport.XLA_DEFAULTS, environ)
  tfimport.add_xla_flags(tfimport.XLA_DEFAULTS, environ)  # twice, as two imports would
  assert environ['XLA_FLAGS'] == expected


def test_the_suites_xla_flags_stay_marked_as_checked():
  """tests/conftest.py marks the suite's XLA flags as checked; if loading the agent
  changed them afterwards, every start of `main` in the suite would check them again
  in a child process (3-4 s each: the suite took 6:33 instead of about 5 minutes)."""
  from dreamerv3_tf import tfimport
  from dreamerv3_tf.agent import agent  # noqa: F401  (adds XLA's defaults as it loads)
  assert os.environ[tfimport.CHECKED_ENV] == tfimport.flags_of_environment()


def test_the_suites_xla_cache_is_in_the_folder_of_its_cpu_kind():
  """The suite's compiled programs went to ~/.cache/dreamerv3_tf/xla itself, which a
  cluster's nodes share with their home directory: an AVX2-only node then loaded the
  programs an AVX-512 node had compiled, and XLA runs them into SIGILL. They go to the
  CPU kind's folder, as a run's do (main.use_xla_cache; README: 'in its folder')."""
  from dreamerv3_tf import tfimport
  from dreamerv3_tf.core import cpuinfo
  directory = tfimport.xla_cache_directory()
  default = os.path.expanduser('~/.cache/dreamerv3_tf/xla')
  if os.path.dirname(directory) != default and directory != default:
    pytest.skip(f'the caller set its own XLA cache ({directory}), as tools/as_avx2.sh does')
  assert directory == os.path.join(default, cpuinfo.kind_key())


def test_xla_flags_holding_only_our_defaults_need_no_check(monkeypatch):
  """A parent that loaded the agent (a notebook, a script) passes XLA_FLAGS with our
  defaults alone to the `main` it starts: no child process checks them."""
  import subprocess
  from dreamerv3_tf import tfimport
  monkeypatch.setenv('XLA_FLAGS', ' '.join(tfimport.XLA_DEFAULTS))
  monkeypatch.delenv('TF_XLA_FLAGS', raising=False)
  monkeypatch.delenv(tfimport.CHECKED_ENV, raising=False)
  monkeypatch.setattr(subprocess, 'run', lambda *a, **k: pytest.fail('checked in a child'))
  tfimport.check_xla_flags('')
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_use_fusion_emitters=false')
  with pytest.raises(pytest.fail.Exception, match='checked in a child'):
    tfimport.check_xla_flags('')
