"""TF_CONFIG, the cluster a multi_worker process belongs to, read and checked
before TensorFlow loads.
"""

import json
import os

from dreamerv3_tf import configuration
from dreamerv3_tf import run_files
from dreamerv3_tf.configuration import ConfigError


def tf_config(text=None):
  """TF_CONFIG (the cluster and task of a multi_worker run) as {'cluster': {...},
  'task': {'type', 'index'}}; {} if unset. ConfigError when it is not that JSON."""
  text = os.environ.get('TF_CONFIG', '') if text is None else text
  if not text.strip():
    return {}
  try:
    data = json.loads(text)
    # Others were '(TypeError: list indices must be integers or slices, not str)'.
    if not isinstance(data, dict):
      kind = 'array' if isinstance(data, list) else type(data).__name__
      raise ValueError(f"a JSON {kind}, where an object of 'cluster' and 'task' goes")
    if not isinstance(data.get('task', {}), dict):
      raise ValueError(f'its task is {json.dumps(data["task"])}, not an object such as '
                       '{"type": "worker", "index": 0}')
    if not isinstance(data.get('cluster') or {}, dict):
      raise ValueError(f'its cluster is {json.dumps(data["cluster"])}, not an object such as '
                       '{"worker": ["host1:12345", "host2:12345"]}')
    task = {'type': data['task']['type'], 'index': int(data['task']['index'])}
    cluster = dict(data.get('cluster') or {})
  except (ValueError, KeyError, TypeError) as e:
    raise ConfigError(f'TF_CONFIG is not valid cluster JSON ({run_files.error_text(e)}); see '
                      'launchers/multi_worker.sh') from None
  # A task that its cluster does not list ran alone to its end with exit code 0 (or
  # failed as 'unexpected' for a negative index), as did a cluster of text addresses.
  for name, addresses in cluster.items():
    if not (isinstance(addresses, list) and all(isinstance(x, str) for x in addresses)):
      raise ConfigError(f"TF_CONFIG's cluster[{name!r}] is {addresses!r}, not a list of "
                        "'host:port' addresses; see launchers/multi_worker.sh")
  seen = {}
  for name, addresses in cluster.items():
    for i, address in enumerate(addresses):
      # No port was 'IndexError: list index out of range', one beyond 65535 an
      # OverflowError of bind(), both 'unexpected'; an address listed twice waited for
      # ever for the process that was itself.
      port = _port(address)
      if port is None:
        raise ConfigError(
            f"TF_CONFIG's cluster[{name!r}][{i}] is {address!r}, no 'host:port' address (a "
            "port from 1 to 65535 after the last ':'); see launchers/multi_worker.sh")
      if address in seen:
        raise ConfigError(
            f"TF_CONFIG's cluster lists {address!r} twice ({seen[address]} and {name} {i}); "
            'each process needs an address of its own; see launchers/multi_worker.sh')
      seen[address] = f'{name} {i}'
  kind, index = task['type'], task['index']
  if kind not in ('chief', 'worker'):  # it said the cluster listed 0 'ps' tasks, of one
    raise ConfigError(
        f"TF_CONFIG's task type is {kind!r}, which a multi_worker run does not have (its "
        "tasks are 'chief' and 'worker', numbered from 0); see launchers/multi_worker.sh")
  count = len(cluster.get(kind) or [])
  if not 0 <= index < count:
    raise ConfigError(
        f"TF_CONFIG's task is {kind!r} {index}, but its cluster lists {count} {kind!r} "
        "task(s) (a multi_worker run has 'chief' and 'worker' tasks, numbered from 0); "
        'see launchers/multi_worker.sh')
  return {'cluster': cluster, 'task': task}


def _port(address):
  """The port of 'host:port' (IPv6 hosts in brackets), or None if it names none."""
  host, colon, port = address.strip().rpartition(':')
  if not (colon and host and port.isdigit()):
    return None
  return int(port) if 1 <= int(port) <= 65535 else None


def worker_role(text=None):
  """-> (is_chief, number of this process in the cluster); (True, 0) without a cluster.
  text: TF_CONFIG's JSON (default: this process's).

  The chief is the 'chief' task, or worker 0 when the cluster has no chief task.
  Numbers count the chief first, then the workers (TensorFlow's id_in_cluster), so
  every process has its own: it seeds this process's envs and action noise.
  """
  data = tf_config(text)
  if not data:
    return True, 0
  task_type, index = data['task']['type'], data['task']['index']
  has_chief = bool(data['cluster'].get('chief'))
  if task_type == 'chief':
    return True, 0
  return index == 0 and not has_chief, index + int(has_chief)


def check_environment(config):
  """ConfigError if this process's environment cannot run `config`; before TensorFlow
  loads (a multi_worker run without its TF_CONFIG failed after building its envs)."""
  from dreamerv3_tf import tfimport  # (TensorFlow itself is not imported)
  tfimport.check_tf_env()
  if config.distribute == 'multi_worker':
    cluster_of_this_process()
  elif config.distribute in ('default', 'mirrored'):
    # Every process of the cluster trained on its own, in the same logdir (a remote one
    # has no lock): each pruned the others' checkpoints. E.g. a cluster job whose
    # command lacked the flag; a TF_CONFIG of one process is fine.
    try:
      cluster = json.loads(os.environ.get('TF_CONFIG') or '{}').get('cluster') or {}
      count = sum(len(cluster.get(kind) or []) for kind in ('chief', 'worker'))
    except (ValueError, AttributeError, TypeError):  # not read: this run needs none
      count = 0
    configuration.ensure(
        count <= 1, f'TF_CONFIG names a cluster of {count} processes, but '
        f'distribute={config.distribute!r} trains in this process alone: each of them '
        'would run its own training in the same --logdir; pass '
        "--config.distribute=multi_worker (see launchers/multi_worker.sh), or unset "
        'TF_CONFIG')


def cluster_of_this_process():
  """-> tf_config() of this process; ConfigError if TF_CONFIG is unset."""
  data = tf_config()
  if not data:
    raise ConfigError("distribute='multi_worker' needs the TF_CONFIG environment variable "
                      '(cluster and task); see launchers/multi_worker.sh')
  return data
