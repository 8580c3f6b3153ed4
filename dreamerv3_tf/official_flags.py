"""One line for flags given in the official DreamerV3's form.

Its command is `python dreamerv3/main.py --configs crafter size50m --run.train_ratio 32`:
config names after --configs, and config keys as flags of their own. absl said
"Unknown command line flag 'configs'. Did you mean: config ?" and "Unknown command line
flag 'run.train_ratio'", which told a user coming from it nothing of how to give them here.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Official config names that are one of our files with a preset; the others are a file
# of the same name (atari, atari100k, crafter) or a preset (size50m, debug). Each is the
# official config's values (tests/test_official_presets.py).
_FILE_AND_PRESET = {'dmc_proprio': ('dmc', 'proprio'), 'dmc_vision': ('dmc', 'vision')}


def refusal(argv, defined):
  """-> the line for the first flag of `argv` in the official form, else None.

  defined: absl's FLAGS; flags it defines (ours and absl's own) are never refused."""
  for i, arg in enumerate(argv[1:], 1):
    if arg == '--':
      return None
    if not arg.startswith('-'):
      continue
    name, eq, value = arg.lstrip('-').partition('=')
    if not name or name in defined or name.startswith('config.'):
      continue
    # The official parser takes the words up to the next flag as the values.
    values = [value] if eq else list(_words_after(argv, i))
    if name == 'configs':
      return _configs_line(arg if eq else ' '.join([arg, *values]), values)
    if name.startswith('jax.'):
      return _jax_line(name, values[0] if values else None)
    if name in config_keys():
      given = values[0] if values else 'VALUE'
      return (f'--{name} is a config key, which takes --config. before it here: '
              f'--config.{name}={given}')
    from dreamerv3_tf import configuration  # (no TensorFlow)
    hint = configuration.env_flag_hint(name)  # a suite option base lacks, or none of it
    if hint:
      return f'--{name}{hint}'
  return None


def _words_after(argv, i):
  for word in argv[i + 1:]:
    if word.startswith('-'):
      return
    yield word


def _jax_line(name, value):
  """Its JAX section: two keys have a key of ours, the platform is the environment's."""
  ours = {'jax.compute_dtype': 'compute_dtype', 'jax.jit': 'jit'}.get(name)
  if ours:
    return (f"--{name} is the official DreamerV3's flag; here it is "
            f'--config.{ours}={value or "VALUE"}')
  if name == 'jax.platform':  # its README's way to run on the CPU: --jax.platform cpu
    return (f"--{name} is the official DreamerV3's flag; TensorFlow here trains on a GPU "
            'or TPU it finds (--config.distribute for several), and CUDA_VISIBLE_DEVICES= '
            '(empty) keeps it on the CPU')
  return f"--{name} is a JAX setting of the official DreamerV3, which has none here"


def _configs_line(given, names):
  files = sorted(x[:-3] for x in os.listdir(os.path.join(ROOT, 'configs'))
                 if x.endswith('.py') and x not in ('__init__.py', 'base.py', 'presets.py'))
  file, presets = None, []
  for name in ','.join(names).replace(',', ' ').split():
    if name in _FILE_AND_PRESET:
      name, preset = _FILE_AND_PRESET[name]
      presets.append(preset)
    if name in files and file is None:
      file = name
    elif name not in files:
      presets.append(name)
  line = (f"{given} is the official DreamerV3's flag; here --config names a config file "
          f'and its presets')
  if file is None:
    return (f'{line}, e.g. --config=configs/dmc.py:train_eval (the files: '
            f'{", ".join(files)}; README lists the presets)')
  return f'{line}: --config=configs/{file}.py:{",".join(presets) or "train_eval"}'


def config_keys():
  """Every dotted key of configs/base.py's config ('seed', 'run.train_ratio', ...)."""
  from configs import base as base_config
  from dreamerv3_tf import configuration
  return set(configuration.dotted_keys(base_config.get_config().to_dict()))
