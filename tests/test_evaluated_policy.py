"""The record of the policy an eval_only logdir's episodes are of (no TensorFlow: the
checks it makes before TensorFlow loads read files only; eval_only's own runs are in
tests/run/test_eval_only.py)."""

import os

import pytest

from configs import dmc
from dreamerv3_tf import configuration
from dreamerv3_tf import evaluated_policy
from dreamerv3_tf import logdir_checks

TAIL = 'use a new --logdir, or pass --config.run.allow_other_config=True to add them'


def save(ckpt, number, data):
  """Writes checkpoint ckpt-<number> (its index `data`) and makes it the latest, as a
  run's save does; only the files these checks read."""
  os.makedirs(ckpt, exist_ok=True)
  with open(os.path.join(ckpt, f'ckpt-{number}.index'), 'wb') as f:
    f.write(data)
  with open(os.path.join(ckpt, 'checkpoint'), 'w') as f:
    f.write(f'model_checkpoint_path: "ckpt-{number}"\n'
            f'all_model_checkpoint_paths: "ckpt-{number}"\n')


def evaluation(logdir, source, allow_other=False):
  c = configuration.finalize(dmc.get_config('eval_only'))
  with c.unlocked():
    c.logdir, c.run.from_checkpoint = str(logdir), str(source)
    c.run.allow_other_config = allow_other
  return c


def evaluated(config):
  """What eval_only writes before its first episode."""
  logdir_checks.save(config, config.logdir)
  evaluated_policy.record(config.logdir, evaluated_policy.expected(config))


def test_a_checkpoint_saved_over_under_its_name_is_another_policy(tmp_path):
  """A resume from an earlier checkpoint saves the next number again: the name alone
  took the new ckpt-2 for the one evaluated."""
  ckpt, logdir = tmp_path / 'run/ckpt', tmp_path / 'eval'
  save(ckpt, 2, b'first')
  evaluated(evaluation(logdir, f'{ckpt}/ckpt-2'))
  save(ckpt, 2, b'saved over')
  with pytest.raises(configuration.ConfigError) as error:
    evaluated_policy.check_before_loading(evaluation(logdir, f'{ckpt}/ckpt-2'))
  assert str(error.value) == (
      f'logdir {logdir} holds the episodes of {ckpt}/ckpt-2; this evaluation would add those '
      f'of another policy to them ({ckpt}/ckpt-2, which has been saved over since): ' + TAIL)


def test_a_pruned_checkpoint_offers_no_flag(tmp_path):
  ckpt, logdir = tmp_path / 'run/ckpt', tmp_path / 'eval'
  save(ckpt, 1, b'first')
  evaluated(evaluation(logdir, ckpt))
  save(ckpt, 2, b'second')
  os.remove(ckpt / 'ckpt-1.index')  # pruned by its run
  with pytest.raises(configuration.ConfigError) as error:
    evaluated_policy.check_before_loading(evaluation(logdir, ckpt))
  assert str(error.value) == (
      f'logdir {logdir} holds the episodes of {ckpt}/ckpt-1; this evaluation would add those '
      f'of another policy to them (run.from_checkpoint={ckpt} now gives {ckpt}/ckpt-2; '
      f'{ckpt}/ckpt-1 is gone or saved over since): ' + TAIL)


def test_an_export_made_anew_is_another_policy(tmp_path):
  export, logdir = tmp_path / 'export', tmp_path / 'eval'
  os.makedirs(export / 'variables')
  (export / 'saved_model.pb').write_bytes(b'graph')
  (export / 'variables/variables.index').write_bytes(b'weights')
  evaluated(evaluation(logdir, export))
  (export / 'variables/variables.index').write_bytes(b'other weights')
  with pytest.raises(configuration.ConfigError) as error:
    evaluated_policy.check_before_loading(evaluation(logdir, export))
  assert str(error.value) == (
      f'logdir {logdir} holds the episodes of the SavedModel {export}; this evaluation would '
      f'add those of another policy to them (the SavedModel {export}, which has been '
      'exported anew since): ' + TAIL)


def test_the_same_checkpoint_anywhere_goes_on_and_allow_other_config_adds(tmp_path):
  """Its copy (the same bytes) is the same policy, and a run's ckpt directory whose
  latest it is: their paths differed, which was refused. allow_other_config=True adds
  another, recorded beside the first."""
  ckpt, logdir = tmp_path / 'run/ckpt', tmp_path / 'eval'
  save(ckpt, 1, b'first')
  evaluated(evaluation(logdir, f'{ckpt}/ckpt-1'))
  save(tmp_path / 'copy/ckpt', 1, b'first')
  for source in (ckpt, tmp_path / 'copy/ckpt/ckpt-1'):
    config = evaluation(logdir, source)
    logdir_checks.check_logdir(config, config.logdir)
    evaluated_policy.check_before_loading(config)
  save(ckpt, 2, b'second')
  other = evaluation(logdir, ckpt, allow_other=True)
  evaluated_policy.check_before_loading(other)
  evaluated_policy.record(str(logdir), evaluated_policy.expected(other))
  assert [(x['path'], x['sha256'][:6]) for x in evaluated_policy.recorded(str(logdir))] == [
      (f'{ckpt}/ckpt-1', 'a7937b'), (f'{ckpt}/ckpt-2', '16367a')]  # sha256 of the bytes


def test_an_evaluation_of_a_version_without_the_record_gets_one(tmp_path):
  """Its episodes so far were of what the same run.from_checkpoint gave then; from
  now on the record holds it to one policy."""
  ckpt, logdir = tmp_path / 'run/ckpt', tmp_path / 'eval'
  save(ckpt, 1, b'first')
  config = evaluation(logdir, ckpt)
  logdir_checks.save(config, config.logdir)  # no policy.json
  evaluated_policy.check_before_loading(config)
  evaluated(config)
  assert evaluated_policy.recorded(str(logdir))[0]['path'] == f'{ckpt}/ckpt-1'


@pytest.mark.parametrize('text', ['{"policies": [', '{"policies": []}', '[]'])
def test_a_record_that_cannot_be_read_is_named(tmp_path, text):
  ckpt, logdir = tmp_path / 'run/ckpt', tmp_path / 'eval'
  save(ckpt, 1, b'first')
  config = evaluation(logdir, ckpt)
  evaluated(config)
  (logdir / 'policy.json').write_text(text)
  with pytest.raises(configuration.ConfigError, match=(
      f'^{logdir}/policy.json is not the record of the policy evaluated there \\(.+\\); put '
      'back the one eval_only wrote, or use a new --logdir$')):
    evaluated_policy.check_before_loading(config)
  assert (logdir / 'policy.json').read_text() == text  # left as it was
