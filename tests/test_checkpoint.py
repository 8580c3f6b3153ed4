import contextlib
import glob
import os
import re
import resource
import select
import shutil
import signal

import numpy as np
import pytest
import tensorflow as tf

from dreamerv3_tf import checkpoint as checkpointing
from dreamerv3_tf import checkpoint_damage
from dreamerv3_tf.core import replay as replay_lib


def make_replay(capacity=500):
  return replay_lib.Replay(length=4, capacity=capacity, chunksize=16)


def fill(replay, steps, start=0, worker=0):
  for i in range(start, start + steps):
    replay.add({
        'vector': np.full(3, i, np.float32), 'reward': np.float32(i),
        'is_first': np.bool_(i % 20 == 0), 'is_last': np.bool_(i % 20 == 19),
        'is_terminal': np.bool_(False), 'action': np.int32(i % 4)}, worker)


def make(directory, replay, step=None):
  step = step if step is not None else tf.Variable(0, dtype=tf.int64)
  ckpt = checkpointing.Checkpoint(
      directory, keep=2, replays={'replay_train': replay}, step=step)
  return ckpt, step


def test_round_trip_restores_step_and_replay(tmp_path):
  replay = make_replay()
  fill(replay, 100)
  ckpt, step = make(str(tmp_path), replay)
  step.assign(7)
  ckpt.save()
  fresh = make_replay()
  ckpt2, step2 = make(str(tmp_path), fresh)
  plan = checkpointing.inspect(str(tmp_path), ['replay_train'])
  assert plan.path == ckpt2.latest and ckpt2.load(plan.path)
  assert int(step2.numpy()) == 7
  a, b = replay.dump(), fresh.dump()
  assert a.keys() == b.keys() and len(a['reward']) == 100
  for key in a:
    np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_first_run_has_nothing_to_load(tmp_path):
  assert checkpointing.inspect(str(tmp_path / 'ckpt'), ['replay_train']).path is None
  assert not (tmp_path / 'ckpt').exists()  # inspecting writes nothing


def test_missing_and_corrupt_checkpoints_fail_with_one_line(tmp_path):
  ckpt, _ = make(str(tmp_path), make_replay())
  with pytest.raises(checkpointing.CheckpointError, match='No checkpoint found'):
    ckpt.load()
  fill(ckpt.replays['replay_train'], 50)
  path = ckpt.save()
  with open(path + '.index', 'r+b') as f:
    f.seek(0)
    f.write(b'\0garbage\0' * 8)
  before = sorted(os.listdir(tmp_path))
  with pytest.raises(checkpointing.CheckpointError) as error:
    make(str(tmp_path), make_replay())[0].load()
  assert '\n' not in str(error.value)
  assert sorted(os.listdir(tmp_path)) == before  # nothing touched


def test_a_savedmodel_named_as_a_checkpoint_says_what_it_is(tmp_path):
  (tmp_path / 'saved_model.pb').write_bytes(b'')  # what `export` writes
  with pytest.raises(checkpointing.CheckpointError, match=(
      f'No checkpoint found in {tmp_path} .it is a SavedModel, an export: it holds the '
      'policy for eval_only')):
    checkpointing.load_agent(None, str(tmp_path))


@pytest.mark.parametrize('inner', ['variables/variables', 'variables', 'saved_model.pb',
                                   'variables/variables.index'])
def test_a_path_inside_a_savedmodel_names_the_export(tmp_path, inner):
  """Was 'holds no agent variables', 'No checkpoint found in EXP/variables' or 'is a file,
  not a checkpoint (name ... a directory of checkpoints)': none said that eval_only takes
  the export itself."""
  export = tmp_path / 'exp'
  (export / 'variables').mkdir(parents=True)
  (export / 'saved_model.pb').write_bytes(b'')  # what `export` writes, and its variables:
  module = tf.Module()
  module.w = tf.Variable(tf.zeros([2]))
  tf.train.Checkpoint(module=module).write(str(export / 'variables' / 'variables'))
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.load_agent(module, str(export / inner))
  assert str(error.value).endswith(
      f' (it is inside the SavedModel export {export}, which eval_only takes whole: '
      f"--config.run.from_checkpoint={export}; training and export need a run's checkpoint, "
      'RUN/ckpt)'), str(error.value)


def test_a_checkpoint_that_cannot_be_read_names_the_flag():
  """A gs:// path without network or credentials (run.from_checkpoint, export
  --checkpoint) was 'Error: Error executing an HTTP request: libcurl code 6 ...', naming
  neither the flag nor the path (a scheme TensorFlow lacks stands in for it)."""
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.load_agent(None, 'ftp://host/ckpt', flag='--checkpoint')
  assert str(error.value).startswith(
      "Cannot read --checkpoint ftp://host/ckpt: File system scheme 'ftp' not implemented"), (
          str(error.value))


def test_a_random_agents_checkpoint_says_it_holds_no_weights(tmp_path):
  """run.from_checkpoint, eval_only and export --checkpoint of a random_agent=True run
  said '1 names only in the checkpoint ['calls'], 179 only in the agent [...]'."""
  from dreamerv3_tf.agent.random import RandomAgent
  from dreamerv3_tf.core import base
  from dreamerv3_tf.core.spaces import Space
  obs = {'vector': Space(np.float32, (3,)), **base.agent_spaces(
      {'reward': Space(np.float32), 'is_first': Space(bool), 'is_last': Space(bool),
       'is_terminal': Space(bool)}, {})[0]}
  random_agent = RandomAgent(obs, {'action': Space(np.int32, (), 0, 2)})
  path = tf.train.Checkpoint(agent=random_agent).write(str(tmp_path / 'ckpt-1'))
  agent = tf.Module()
  agent.w = tf.Variable(tf.zeros([2]))
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.load_agent(agent, path)
  assert str(error.value) == (f'Checkpoint {path} is of a random agent (random_agent=True): '
                              'it holds no weights to load')
  # The other way round (eval_only of a trained run with random_agent=True) it said
  # '179 names only in the checkpoint [...], 1 only in the agent ['calls']'.
  trained = tf.train.Checkpoint(agent=agent).write(str(tmp_path / 'ckpt-2'))
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.load_agent(random_agent, trained)
  assert str(error.value) == (
      f'Checkpoint {trained} holds a trained agent, but random_agent=True acts at random '
      'and loads no weights; drop random_agent to use it')


def test_incompatible_checkpoint_is_named(tmp_path):
  ckpt, step = make(str(tmp_path), make_replay())
  ckpt.save()
  other = checkpointing.Checkpoint(
      str(tmp_path), replays={'replay_train': make_replay()},
      step=tf.Variable(tf.zeros([3])))
  with pytest.raises(checkpointing.CheckpointError, match='does not match'):
    other.load()


def test_old_chunks_are_pruned_but_kept_ones_stay(tmp_path):
  replay = make_replay(capacity=64)
  ckpt, _ = make(str(tmp_path), replay)
  for i in range(6):
    fill(replay, 50, start=50 * i)
    ckpt.save()
  # Only the files of the 2 kept checkpoints remain, and both load.
  for path in ckpt._manager.checkpoints:
    fresh = make_replay(capacity=64)
    make(str(tmp_path), fresh)[0].load(path)
    assert len(fresh) > 0
  files = os.listdir(tmp_path / 'replay_train')
  assert len(files) < 6 * 4


def test_truncated_data_file_fails_with_one_line(tmp_path):
  replay = make_replay()
  fill(replay, 50)
  ckpt, _ = make(str(tmp_path), replay)
  path = ckpt.save()
  data = path + '.data-00000-of-00001'
  os.truncate(data, 10)
  with pytest.raises(checkpointing.CheckpointError, match='is corrupt') as error:
    make(str(tmp_path), make_replay())[0].load()
  assert '\n' not in str(error.value)
  assert os.path.getsize(data) == 10


def test_missing_replay_chunk_fails_with_one_line(tmp_path):
  replay = make_replay()
  fill(replay, 50)
  ckpt, _ = make(str(tmp_path), replay)
  ckpt.save()
  folder = tmp_path / 'replay_train'
  os.remove(folder / sorted(os.listdir(folder))[0])
  fresh = make_replay()
  with pytest.raises(checkpointing.CheckpointError, match='Replay file is missing') as error:
    make(str(tmp_path), fresh)[0].load()
  assert '\n' not in str(error.value)
  assert len(fresh) == 0  # the replay was left as it was


def test_a_save_prunes_only_the_runs_own_replay_files(tmp_path):
  """Chunk files of another run copied into ckpt/replay_train were deleted by the first
  save. The run's own files that no kept checkpoint names are pruned as before: those
  of a resumed run's earlier process, and one that a stopped save left."""
  other = make_replay()
  fill(other, 50)
  make(str(tmp_path / 'other'), other)[0].save()
  (tmp_path / 'run' / 'replay_train').mkdir(parents=True)
  foreign = set(os.listdir(tmp_path / 'other' / 'replay_train'))
  for name in foreign:
    shutil.copy(tmp_path / 'other' / 'replay_train' / name, tmp_path / 'run' / 'replay_train')
  replay = make_replay(capacity=64)
  ckpt, _ = make(str(tmp_path / 'run'), replay)
  for i in range(3):
    fill(replay, 50, start=50 * i)
    ckpt.save()
  stopped = f'{replay.name}-chunk-{replay._nonce.hex()}000000ff-16.npz'
  (tmp_path / 'run' / 'replay_train' / stopped).write_bytes(b'')
  resumed = make_replay(capacity=64)  # a later process: it reads ckpt-3 and saves on
  ckpt, _ = make(str(tmp_path / 'run'), resumed)
  ckpt.load()
  for i in range(3):
    fill(resumed, 50, start=150 + 50 * i)
    ckpt.save()
  kept = set()
  for path in ckpt._manager.checkpoints:
    kept |= set(checkpointing._read_replay_states(path, ['replay_train'])[0]['files'])
  assert set(os.listdir(tmp_path / 'run' / 'replay_train')) == kept | foreign


def test_what_a_run_holds_for_its_prune_does_not_grow_with_its_saves(tmp_path):
  """The marks of every state the run had read stayed held: two more a save (its new
  chunk and selector names), copied at each prune, for as long as the run went on."""
  replay = make_replay(capacity=64)
  ckpt, _ = make(str(tmp_path), replay)
  for i in range(12):
    fill(replay, 20, start=20 * i)
    ckpt.save()
  kept = set()
  for path in ckpt._manager.checkpoints:
    kept |= replay_lib.marks(checkpointing._read_replay_states(path, ['replay_train'])[0])
  assert ckpt._held['replay_train'] == kept
  assert ckpt._read == set(ckpt._manager.checkpoints)


def saved_run(directory, saves=3, keep=3):
  """A checkpoint directory with `saves` checkpoints of a growing replay."""
  replay = make_replay()
  ckpt = checkpointing.Checkpoint(
      str(directory), keep=keep, replays={'replay_train': replay},
      step=tf.Variable(0, dtype=tf.int64))
  paths = []
  for i in range(saves):
    fill(replay, 40, start=40 * i)
    paths.append(ckpt.save())
  return ckpt, paths


def inspect(directory, resume_from=''):
  return checkpointing.inspect(str(directory), ['replay_train'], resume_from)


def chunk_files(path):
  state = checkpointing._read_replay_states(path, ['replay_train'])[0]
  return [os.path.join(os.path.dirname(path), 'replay_train', x) for x in state['files']]


@pytest.mark.parametrize('damage', ['truncated index', 'missing data file', 'missing replay file',
                                    'truncated replay file'])
def test_damaged_latest_names_the_flag_to_the_newest_intact_one(tmp_path, capsys, damage):
  _, paths = saved_run(tmp_path)
  latest = paths[-1]
  if damage == 'truncated index':
    os.truncate(latest + '.index', 20)
  elif damage == 'missing data file':
    os.remove(latest + '.data-00000-of-00001')
  else:  # a chunk only the latest names; cut short like a copy onto a full disk
    chunk = sorted(set(chunk_files(latest)) - set(chunk_files(paths[-2])))[0]
    os.remove(chunk) if damage == 'missing replay file' else os.truncate(chunk, 100)
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path)
  message = str(error.value)
  assert message.startswith(f'The latest checkpoint {latest} is damaged (')
  rollback = (f'; to resume from the newest intact checkpoint, ckpt-2, rerun with '
              f'--config.run.resume_from={paths[-2]}')
  if 'replay' in damage:  # its own files are whole: its agent is named too
    assert message.endswith(
        f'{rollback}; or start again with a new --logdir, from the agent of {latest} (its '
        f'own files are whole) with --config.run.from_checkpoint={latest}')
  else:
    assert message.endswith(rollback)
  assert '\n' not in message
  capsys.readouterr()
  plan = inspect(tmp_path, resume_from=paths[-2])  # what the flag does
  assert plan == checkpointing.Plan(paths[-2], paths[:2], [latest])
  # The latest is set aside with its line, as an earlier damaged one (it moved silently).
  warned = capsys.readouterr().err
  assert warned.startswith(f'Warning: checkpoint {latest} is damaged ('), warned
  assert warned.endswith('); it is set aside in damaged/ and not read again.\n'), warned
  assert warned.count('\n') == 1, warned


@pytest.mark.parametrize('file', ['index', 'data-00000-of-00001'])
def test_a_checkpoint_file_linked_to_nothing_is_named_with_its_target(tmp_path, capsys, file):
  """A file of the latest checkpoint that is a symbolic link to a disk not mounted was
  'damaged (ckpt-3.index is missing)': the line names the link and its target, then the
  way on from the older one; an earlier one's warning line names them too."""
  _, paths = saved_run(tmp_path)
  latest, name = paths[-1], f'{os.path.basename(paths[-1])}.{file}'
  os.remove(tmp_path / name)
  os.symlink('/nonexistent_disk/ckpt/' + name, tmp_path / name)
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path)
  assert str(error.value) == (
      f'The latest checkpoint {latest} cannot be read: {tmp_path}/{name} is a symbolic '
      f'link to /nonexistent_disk/ckpt/{name}, which does not exist (a disk not mounted?); '
      'mount it or fix the link; to resume from the newest intact checkpoint, ckpt-2, '
      f'rerun with --config.run.resume_from={paths[-2]}')
  plan = inspect(tmp_path, resume_from=paths[-2])  # the older-checkpoint way stays
  assert plan == checkpointing.Plan(paths[-2], paths[:2], [latest])
  other = tmp_path / 'other'  # an earlier one linked to nothing: set aside, named
  _, paths = saved_run(other)
  os.remove(f'{paths[0]}.index')
  os.symlink('/nonexistent_disk/ckpt-1.index', f'{paths[0]}.index')
  capsys.readouterr()
  assert inspect(other).damaged == [paths[0]]
  assert capsys.readouterr().err == (
      f'Warning: checkpoint {paths[0]} is damaged ({paths[0]}.index is a symbolic link to '
      '/nonexistent_disk/ckpt-1.index, which does not exist (a disk not mounted?)); it is '
      'set aside in damaged/ and not read again.\n')


@pytest.mark.parametrize('file', ['index', 'data', 'replay'])
def test_a_named_pipe_among_the_latest_checkpoints_files_is_damage_not_a_wait(tmp_path, file):
  """The resume's checks waited for ever opening it (a FIFO in place of a replay chunk,
  ckpt-3.index or its data file), after the start line; only a signal ended the run.
  The checks run in a child process, so that the old wait fails."""
  _, paths = saved_run(tmp_path)
  latest = paths[-1]
  path = {'index': latest + '.index', 'data': latest + '.data-00000-of-00001',
          'replay': sorted(set(chunk_files(latest)) - set(chunk_files(paths[-2])))[0]}[file]
  os.remove(path)
  os.mkfifo(path)
  errors = [in_child(lambda: inspect(tmp_path), path)]
  name = os.path.relpath(path, tmp_path) if file == 'replay' else os.path.basename(path)
  what = f'replay file {name} is corrupt (it is' if file == 'replay' else f'{name} is'
  agent = (f'; or start again with a new --logdir, from the agent of {latest} (its own '
           f'files are whole) with --config.run.from_checkpoint={latest}')
  assert errors == [
      f'The latest checkpoint {latest} is damaged ({what} a named pipe'
      + (')' if file == 'replay' else '') + '); to resume from the newest intact '
      f'checkpoint, ckpt-2, rerun with --config.run.resume_from={paths[-2]}'
      + (agent if file == 'replay' else '')]
  if file != 'replay':  # named itself: export --checkpoint, run.from_checkpoint=PREFIX
    assert in_child(lambda: checkpointing.check_readable(latest), path) == (
        f'Checkpoint {latest} cannot be read: {name} is a named pipe')


def in_child(read, path):
  """The CheckpointError line of `read()` in a child process (TensorFlow's read of a
  named pipe holds the GIL as it waits: no thread of this process could time it)."""
  pipe, write = os.pipe()
  child = os.fork()
  if not child:
    try:
      read()
      line = 'no error'
    except checkpointing.CheckpointError as e:
      line = str(e)
    except BaseException as e:  # noqa: BLE001
      line = f'{type(e).__name__}: {e}'
    os.write(write, line.encode())
    os._exit(0)
  os.close(write)
  waited = select.select([pipe], [], [], 60)[0]
  if not waited:
    os.kill(child, signal.SIGKILL)
  os.waitpid(child, 0)
  assert waited, f'the checks wait on the named pipe {path}'
  return os.read(pipe, 1 << 16).decode()


def test_a_state_file_naming_only_a_missing_checkpoint_names_one_on_disk(tmp_path):
  """A copy of a running run's logdir whose state file is newer than its checkpoints'
  files: 'no earlier checkpoint is intact: start again with a new --logdir', beside
  the intact ckpt-1 and ckpt-2."""
  _, paths = saved_run(tmp_path, saves=2)
  (tmp_path / 'checkpoint').write_text('model_checkpoint_path: "ckpt-9"\n')
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path)
  assert str(error.value) == (
      f'The latest checkpoint {tmp_path}/ckpt-9 is damaged (ckpt-9.index is missing); to '
      'resume from the newest intact checkpoint, ckpt-2, rerun with '
      f'--config.run.resume_from={paths[-1]}')
  assert inspect(tmp_path, resume_from=paths[-1]).path == paths[-1]  # what the flag does


@pytest.mark.parametrize('edited', [True, False], ids=['state_file_edited', 'save_killed'])
def test_an_intact_checkpoint_newer_than_the_state_files_latest(tmp_path, edited):
  """A state file edited (or an older copy of it put back) to name ckpt-2 as the latest,
  beside an intact ckpt-3: the resume went back to ckpt-2 without a word, and its first
  save overwrote ckpt-3. A save killed after its files, before the state file, leaves
  the same names, but the state file older: that resume goes on from ckpt-2, as before."""
  _, paths = saved_run(tmp_path)
  checkpoint_damage.write_state(str(tmp_path), paths[:2])
  written = os.stat(paths[2] + '.index').st_mtime + (10 if edited else -10)
  os.utime(tmp_path / 'checkpoint', (written, written))
  if not edited:
    assert inspect(tmp_path).path == paths[1]
    return
  before = sorted(os.listdir(tmp_path))
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path)
  assert str(error.value) == (
      f'The checkpoint state file {tmp_path}/checkpoint names ckpt-2 as the latest, but '
      'ckpt-3, an intact checkpoint of a later save, is beside it, and the state file was '
      'written after it (edited, an older copy put back, or the folder copied without its '
      'file times, as cp -r does; cp -a keeps them): a save would overwrite ckpt-3; '
      f'to resume from it, rerun with --config.run.resume_from={paths[2]}; to resume from '
      f'ckpt-2, move the files of ckpt-3 out of {tmp_path}')
  assert sorted(os.listdir(tmp_path)) == before
  assert inspect(tmp_path, resume_from=paths[2]).path == paths[2]  # what the line says


def test_a_killed_save_copied_without_file_times_names_the_copy(tmp_path):
  """A save killed before its state file, copied with cp -r: the copy's times are those
  of the copy, and the state file copied a second after ckpt-3 reads as one put back
  (the files are those of a state file put back: only their times differ). Still
  refused, and the line now names the copy among the causes."""
  _, paths = saved_run(tmp_path / 'run')
  checkpoint_damage.write_state(str(tmp_path / 'run'), paths[:2])
  written = os.stat(paths[2] + '.index').st_mtime - 10  # before ckpt-3, as the kill left it
  os.utime(tmp_path / 'run' / 'checkpoint', (written, written))
  assert inspect(tmp_path / 'run').path == paths[1]
  shutil.copytree(tmp_path / 'run', tmp_path / 'copy', copy_function=shutil.copyfile)
  copy = tmp_path / 'copy'
  index = os.stat(copy / 'ckpt-3.index').st_mtime
  os.utime(copy / 'checkpoint', (index + 2, index + 2))  # copied after it (gfile: 1 s steps)
  with pytest.raises(checkpointing.CheckpointError, match=re.escape(
      '(edited, an older copy put back, or the folder copied without its file times, as '
      'cp -r does; cp -a keeps them)')):
    inspect(copy)
  assert inspect(copy, resume_from=str(copy / 'ckpt-3')).path == str(copy / 'ckpt-3')


def test_a_read_of_a_state_file_older_than_an_intact_later_checkpoint_names_both(tmp_path):
  """The same state file given to export, eval_only or run.from_checkpoint: they read
  ckpt-2 without a word, where the resume refuses it (found by a damaged-file sweep)."""
  _, paths = saved_run(tmp_path)
  checkpoint_damage.write_state(str(tmp_path), paths[:2])
  written = os.stat(paths[2] + '.index').st_mtime + 10  # edited after ckpt-3
  os.utime(tmp_path / 'checkpoint', (written, written))
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.load_agent(None, str(tmp_path), flag='--checkpoint')
  assert str(error.value) == (
      f'The checkpoint state file {tmp_path}/checkpoint names ckpt-2 as the latest, but '
      'ckpt-3, an intact checkpoint of a later save, is beside it, and the state file was '
      'written after it (edited, an older copy put back, or the folder copied without its '
      'file times, as cp -r does; cp -a keeps them), so which one to read is '
      f'unclear; to read ckpt-3, rerun with --checkpoint={paths[2]}; to read ckpt-2, with '
      f'--checkpoint={paths[1]}')


def test_a_killed_save_beside_a_damaged_earlier_checkpoint_resumes_twice(tmp_path):
  """A save killed before the state file (ckpt-4 whole, unlisted) in a run with a damaged
  earlier checkpoint: the resume sets that one aside, rewriting the state file, and, stopped
  before its first save, left the state file newer than ckpt-4; the next resume was
  refused as a state file 'edited, or an older copy put back'."""
  _, paths = saved_run(tmp_path, saves=4, keep=4)
  checkpoint_damage.write_state(str(tmp_path), paths[:3])  # the killed save's state file
  for i, path in enumerate([str(tmp_path / 'checkpoint'), paths[3] + '.index']):
    os.utime(path, (1e9 + 10 * i, 1e9 + 10 * i))  # the state file written first
  os.remove(paths[1] + '.data-00000-of-00001')
  plan = inspect(tmp_path)
  assert plan == checkpointing.Plan(paths[2], [paths[0], paths[2]], [paths[1]])
  make(str(tmp_path), make_replay())[0].tidy(plan)  # then stopped before it saved
  assert inspect(tmp_path) == checkpointing.Plan(paths[2], [paths[0], paths[2]], [])


def test_a_replay_lost_in_every_checkpoint_names_the_agent_that_is_not(tmp_path):
  # The replay folder deleted (a disk cleanup): 'start again with a new --logdir' was
  # all it said, and the trained agent looked lost with it.
  _, paths = saved_run(tmp_path)
  for file in os.listdir(tmp_path / 'replay_train'):
    os.remove(tmp_path / 'replay_train' / file)
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path)
  assert str(error.value).endswith(
      '; no earlier checkpoint is intact: start again with a new --logdir, from the agent of '
      f'{paths[-1]} (its own files are whole) with --config.run.from_checkpoint={paths[-1]}')
  os.truncate(paths[-1] + '.index', 20)  # then the newest whose files are whole
  with pytest.raises(checkpointing.CheckpointError, match=re.escape(
      f'from_checkpoint={paths[-2]}') + '$'):
    inspect(tmp_path)


def test_a_replay_lost_after_an_empty_first_save_names_the_trained_agent(tmp_path):
  """A run's first save holds no replay file (step 0): with ckpt/replay_train deleted
  for room, it stayed 'intact', and the line named only it, the untrained agent, to
  resume from; the trained agent of the latest was whole."""
  replay = make_replay()
  ckpt = checkpointing.Checkpoint(str(tmp_path), keep=3, replays={'replay_train': replay},
                                  step=tf.Variable(0, dtype=tf.int64))
  paths = [ckpt.save()]  # as a run's first save, before any step
  for i in range(2):
    fill(replay, 40, start=40 * i)
    paths.append(ckpt.save())
  shutil.rmtree(tmp_path / 'replay_train')
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path)
  assert str(error.value).endswith(
      f'; to resume from the newest intact checkpoint, ckpt-1, rerun with '
      f'--config.run.resume_from={paths[0]}; or start again with a new --logdir, from the '
      f'agent of {paths[-1]} (its own files are whole) with '
      f'--config.run.from_checkpoint={paths[-1]}')


def test_a_replay_file_that_only_the_load_finds_wrong_says_how_to_go_on(tmp_path):
  # Another chunk's file under its name (two copies of a run merged): whole, so only
  # the load finds it; its hint named an earlier checkpoint naming the same file, or
  # one that run.resume_from then refused as older than this 'intact' one.
  _, paths = saved_run(tmp_path)
  files = sorted(set(chunk_files(paths[-1])) - set(chunk_files(paths[-2])))
  shutil.copy(chunk_files(paths[0])[0], files[0])
  failed = []

  def load():
    with pytest.raises(checkpointing.CheckpointError) as error:
      make(str(tmp_path), make_replay())[0].load(inspect(tmp_path).path)
    failed.append(str(error.value))

  # (Raised through TensorFlow's restore, it lost the restore's status, which warned of
  # its unrestored values when collected: two lines after the run's own.)
  assert tf_warnings_of(load) == []
  assert failed[0].endswith(
      f'; move {files[0]} away and rerun: the checks then name the newest checkpoint '
      'without it')
  os.rename(files[0], files[0] + '.bad')  # what it says; then the hint leads on
  with pytest.raises(checkpointing.CheckpointError, match=re.escape(
      f'resume_from={paths[-2]}; or start again with a new --logdir, from the agent of '
      f'{paths[-1]}')):
    inspect(tmp_path)
  assert inspect(tmp_path, resume_from=paths[-2]).path == paths[-2]


def test_damaged_earlier_checkpoint_is_set_aside_and_saving_goes_on(tmp_path, capsys):
  ckpt, paths = saved_run(tmp_path)
  os.remove(paths[1] + '.data-00000-of-00001')
  plan = inspect(tmp_path)
  assert plan == checkpointing.Plan(paths[2], [paths[0], paths[2]], [paths[1]])
  warning = capsys.readouterr().err
  assert warning.startswith(f'Warning: checkpoint {paths[1]} is damaged (')
  assert warning.count('\n') == 1
  ckpt.tidy(plan)
  assert sorted(os.listdir(tmp_path / 'damaged')) == ['ckpt-2.index']
  for _ in range(3):
    ckpt.save()  # saves and prunes past it
  assert ckpt._manager.checkpoints == [str(tmp_path / f'ckpt-{i}') for i in (4, 5, 6)]
  assert inspect(tmp_path).damaged == [] and capsys.readouterr().err == ''


@pytest.mark.parametrize('state', ['latest_alone', 'all_without_times'])
def test_a_resume_keeps_the_replay_files_of_checkpoints_its_manager_does_not_manage(
    tmp_path, state):
  """A state file written by hand (`model_checkpoint_path: "ckpt-3"`, no save times):
  TensorFlow's manager manages none of the checkpoints it names, so it keeps their
  files, but the first save's prune deleted their replay files, the resumed ckpt-3's
  included: each was left unloadable, without a word (found by a sweep of damaged files)."""
  _, paths = saved_run(tmp_path)
  listed = paths[-1:] if state == 'latest_alone' else paths
  (tmp_path / 'checkpoint').write_text('model_checkpoint_path: "ckpt-3"\n' + ''.join(
      f'all_model_checkpoint_paths: "{os.path.basename(p)}"\n' for p in listed))
  plan = inspect(tmp_path)
  replay = make_replay()
  ckpt, _ = make(str(tmp_path), replay)
  ckpt.tidy(plan)
  ckpt.load(plan.path)
  fill(replay, 40, start=120)
  ckpt.save()
  assert os.path.exists(paths[2] + '.index')  # the resumed one; unlisted ones stay too
  assert [os.path.exists(p + '.index') for p in paths[:2]] == [state == 'latest_alone'] * 2
  for path in paths:  # those on disk are whole
    if os.path.exists(path + '.index'):
      assert all(os.path.exists(x) for x in chunk_files(path)), path


def test_a_state_file_without_save_times_is_managed_again_by_the_resume(tmp_path):
  """The same state file: TensorFlow's manager managed none of its checkpoints, so the
  run kept them all for ever beside the `keep` it manages (its first save listed only
  its own checkpoint), whatever run.keep_checkpoints said."""
  _, paths = saved_run(tmp_path)
  (tmp_path / 'checkpoint').write_text('model_checkpoint_path: "ckpt-3"\n' + ''.join(
      f'all_model_checkpoint_paths: "{os.path.basename(p)}"\n' for p in paths))
  plan = inspect(tmp_path)
  ckpt, _ = make(str(tmp_path), make_replay())  # keep=2
  ckpt.tidy(plan)
  ckpt.load(plan.path)
  ckpt.save()
  assert ckpt._manager.checkpoints == [paths[2], str(tmp_path / 'ckpt-4')]
  assert [os.path.exists(p + '.index') for p in paths] == [False, False, True]


def test_a_checkpoint_pruned_by_an_interrupted_save_is_no_warning(tmp_path, capsys):
  _, paths = saved_run(tmp_path)
  os.remove(paths[0] + '.index')  # TensorFlow deletes the index first, then the data
  plan = inspect(tmp_path)
  assert plan == checkpointing.Plan(paths[2], paths[1:], [paths[0]])
  assert capsys.readouterr().err == ''


def test_the_rest_of_a_checkpoint_an_interrupted_save_pruned_is_deleted_not_kept(tmp_path):
  """Killed between the index and the data of the checkpoint it rotated out, a save left
  that data file (the agent's weights: gigabytes at size400m), which each such resume
  moved into damaged/ for good, without a word."""
  ckpt, paths = saved_run(tmp_path)
  os.remove(paths[0] + '.index')  # TensorFlow deletes the index first, then the data
  ckpt.tidy(inspect(tmp_path))
  assert not (tmp_path / 'damaged').exists()
  assert not [x for x in os.listdir(tmp_path) if x.startswith('ckpt-1.')]
  assert inspect(tmp_path) == checkpointing.Plan(paths[2], paths[1:], [])


def test_what_a_save_stopped_midway_left_is_removed_when_the_run_resumes(tmp_path):
  """A full disk or a kill while TensorFlow wrote the state file left its temporary
  ('checkpoint.tmp<hex>', empty) in ckpt/ for good, one more per such stop."""
  ckpt, paths = saved_run(tmp_path)
  (tmp_path / 'checkpoint.tmp707f7287db1f48cbb46b9a5dbd38e687').write_bytes(b'')
  (tmp_path / 'ckpt-4_temp').mkdir()
  plan = inspect(tmp_path)
  ckpt.tidy(plan)
  assert not [x for x in os.listdir(tmp_path) if 'tmp' in x or x.endswith('_temp')]
  assert inspect(tmp_path) == plan


@pytest.mark.parametrize('stop', ['full_disk', 'ctrl_c'])
def test_a_first_save_that_fails_midway_is_taken_back(tmp_path, stop):
  """A new run's first save stopped by a full disk as TensorFlow merged its index
  (ckpt-1.data whole, ckpt-1.index cut, no state file yet): main's line said
  'checkpoints saved so far are kept, and the same command resumes from the latest',
  and the same command then refused the logdir ('The checkpoint state file ... is
  missing ...; no earlier checkpoint is intact: start again with a new --logdir').
  Ctrl-C after the merge, before the state file, left a whole ckpt-1 that the same
  command refused too ('... is missing ...; rerun with --config.run.resume_from')."""
  replay = make_replay()
  fill(replay, 50)
  ckpt, _ = make(str(tmp_path), replay)

  def stopped():
    path = ckpt._ckpt.write(str(tmp_path / 'ckpt-1'))
    if stop == 'ctrl_c':
      raise KeyboardInterrupt
    os.truncate(path + '.index', 20)
    (tmp_path / 'ckpt-1_temp').mkdir()
    raise tf.errors.ResourceExhaustedError(None, None, f'{path}.index; No space left on device')

  ckpt._manager.save = stopped
  with pytest.raises(KeyboardInterrupt if stop == 'ctrl_c' else checkpointing.SaveError):
    ckpt.save()
  assert not [x for x in os.listdir(tmp_path) if x.startswith(('ckpt-', 'checkpoint'))]
  assert inspect(tmp_path).path is None  # the same command starts anew, as main says


@pytest.mark.parametrize('other', [None, 'row', 'replay_file', 'whole', 'no_config'])
def test_a_first_save_killed_midway_is_set_aside_and_the_run_starts_anew(
    tmp_path, capsys, other):
  """SIGKILL as TensorFlow merged ckpt-1's index (no `_take_back` then): a cut ckpt-1,
  no state file, and the same command said to start a new logdir. Anything more
  (a row logged, a replay file, a whole ckpt-1, no config.json) is still refused."""
  (tmp_path / 'config.json').write_text('{}')
  (tmp_path / 'metrics.jsonl').write_text('{"step": 5}\n' if other == 'row' else '')
  directory = tmp_path / 'ckpt'
  ckpt, _ = make(str(directory), make_replay())  # step 0: an empty replay
  path = ckpt._ckpt.write(str(directory / 'ckpt-1'))
  if other != 'whole':
    os.truncate(path + '.index', 20)
  (directory / 'ckpt-1_temp').mkdir()
  assert os.listdir(directory / 'replay_train') == []  # the save writes no replay file
  (directory / 'replay_train' / '.chunk.npz.tmp-1').write_bytes(b'')  # a temporary
  if other == 'replay_file':
    (directory / 'replay_train' / 'chunk.npz').write_bytes(b'')
  if other == 'no_config':
    os.remove(tmp_path / 'config.json')
  before = {x: (directory / x).read_bytes() for x in os.listdir(directory) if '.' in x}
  if other:
    with pytest.raises(checkpointing.CheckpointError, match='state file .* is missing'):
      inspect(directory)
    return
  plan = inspect(directory)
  assert plan == checkpointing.Plan(None, [], [path])
  assert re.fullmatch(re.escape(f'Warning: checkpoint {path}, the first save of this run, '
                                'is damaged (') + r'[^\n]*sstable\) and no state file names '
                      'it ' + re.escape('(the save was killed); it is set aside in damaged/ '
                                        'and the run starts anew from step 0.\n'),
                      capsys.readouterr().err)
  ckpt = make(str(directory), make_replay())[0]
  ckpt.tidy(plan)
  assert {x: (directory / 'damaged' / x).read_bytes()
          for x in os.listdir(directory / 'damaged')} == before  # kept, as they were
  assert ckpt.save() == path and inspect(directory).path == path
  # Killed in its first save again (the OOM killer at the same point): set aside too.
  os.remove(directory / 'checkpoint')
  os.truncate(path + '.index', 20)
  assert inspect(directory) == plan
  make(str(directory), make_replay())[0].tidy(plan)
  assert len(os.listdir(directory / 'damaged')) == 2 * len(before)


@pytest.mark.parametrize('flag', ['--checkpoint', '--config.run.from_checkpoint'])
def test_a_read_of_a_run_killed_in_its_first_save_says_it_has_none_to_load(tmp_path, flag):
  """export (or eval_only, or run.from_checkpoint) of such a run said 'no earlier
  checkpoint is intact: start again with a new --logdir': the --logdir it was given is
  the run to read, not one to start (and a new run's --logdir is new already)."""
  directory = tmp_path / 'ckpt'
  ckpt, _ = make(str(directory), make_replay())
  os.truncate(ckpt._ckpt.write(str(directory / 'ckpt-1')) + '.index', 20)
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpoint_damage.intact_latest(str(directory), (), flag)
  assert str(error.value) == (
      f'The checkpoint state file {directory}/checkpoint is missing, so the latest '
      f'checkpoint is unknown; no checkpoint in {directory} is intact, so there is none to '
      'load (a run killed in its first save: its training command starts it anew)')


def test_a_first_save_stopped_once_its_state_file_names_it_is_kept(tmp_path):
  replay = make_replay()
  fill(replay, 50)
  ckpt, _ = make(str(tmp_path), replay)
  save = ckpt._manager.save

  def stopped():
    save()
    raise KeyboardInterrupt  # Ctrl-C as the manager returns: the checkpoint is whole

  ckpt._manager.save = stopped
  with pytest.raises(KeyboardInterrupt):
    ckpt.save()
  assert inspect(tmp_path).path == str(tmp_path / 'ckpt-1')


@pytest.mark.parametrize('resume_from', ['', 'ckpt-3'])
def test_a_state_file_naming_another_directorys_checkpoints_is_refused(tmp_path, resume_from):
  """A state file of full paths into another run (TF1's Saver wrote them; a hand-edited
  or copied one): the resume loaded that run's checkpoint, and its saves then pruned
  that run's checkpoints away, deleting them."""
  _, paths = saved_run(tmp_path / 'other')
  here = tmp_path / 'run'
  here.mkdir()
  text = (tmp_path / 'other' / 'checkpoint').read_text()
  (here / 'checkpoint').write_text(text.replace('"ckpt-', f'"{tmp_path}/other/ckpt-'))
  with pytest.raises(checkpointing.CheckpointError, match=re.escape(
      f'The checkpoint state file {here}/checkpoint names {paths[-1]}, outside {here}: a '
      "resume would read it and then delete that run's checkpoints as it prunes; put back "
      'the state file this run wrote, or start a new --logdir from that checkpoint with '
      f'--config.run.from_checkpoint={paths[-1]}')):
    inspect(here, resume_from)
  (here / 'checkpoint').write_text(text.replace('"ckpt-', f'"{here}/ckpt-'))  # full, but here
  with pytest.raises(checkpointing.CheckpointError, match='latest checkpoint .* is damaged'):
    inspect(here)


def other_programs_checkpoints(directory, **manager):
  """Two checkpoints of a TensorFlow program that is not ours, as it saves them."""
  root = tf.train.Checkpoint(model=tf.Module())
  root.model.v = tf.Variable([1.0, 2.0])
  saver = tf.train.CheckpointManager(root, str(directory), max_to_keep=5, **manager)
  return [saver.save(), saver.save()]


@pytest.mark.parametrize('resume_from', ['', 'ckpt-2'])
def test_another_programs_files_in_the_checkpoint_directory_are_named(tmp_path, resume_from):
  """A ckpt/ holding another TensorFlow program's checkpoints or state file: one named
  model.ckpt-2 stopped the resume with 'TypeError: '<' not supported between instances
  of 'NoneType' and 'NoneType'', ckpt-2 with 'Found 2 Python objects that were not bound
  to checkpointed values', a state file of other text with 'is damaged'."""
  def refused(directory, file, what):
    before = sorted(os.listdir(directory))
    with pytest.raises(checkpointing.CheckpointError) as error:
      inspect(directory, resume_from)
    assert str(error.value) == (
        f"{directory}/{file} {what}: {directory} holds another program's files; move them "
        'out of it (nothing was written), or use a new --logdir')
    assert sorted(os.listdir(directory)) == before
  named = tmp_path / 'named' / 'ckpt'
  other_programs_checkpoints(named, checkpoint_name='model.ckpt')
  refused(named, 'checkpoint', "names model.ckpt-2, not a run's checkpoint (a run's are "
          'ckpt-<N>)')
  ours = tmp_path / 'ours' / 'ckpt'
  other_programs_checkpoints(ours)
  refused(ours, 'ckpt-2', "holds no agent, so it is not a run's checkpoint")
  (ours / 'checkpoint').unlink()  # without it: 'the state file is missing; resume from ckpt-2'
  refused(ours, 'ckpt-2', "holds no agent, so it is not a run's checkpoint")
  if resume_from:
    return
  text = tmp_path / 'text' / 'ckpt'
  text.mkdir(parents=True)
  (text / 'checkpoint').write_text('not a state file\n')
  refused(text, 'checkpoint', "is not a run's checkpoint state file, and neither a run's "
          'checkpoint nor its config.json is beside it')
  (text.parent / 'config.json').write_text('{}')  # a run's: its state file is damaged
  with pytest.raises(checkpointing.CheckpointError, match='checkpoint state file .* is damaged'):
    inspect(text)
  # Files not named as a run's are no checkpoint it reads, saves over or prunes.
  notes = tmp_path / 'notes' / 'ckpt'
  notes.mkdir(parents=True)
  (notes / 'notes.txt').write_text('mine')
  assert inspect(notes).path is None


def test_damage_during_a_run_does_not_stop_saving(tmp_path, capsys):
  ckpt, paths = saved_run(tmp_path)
  os.truncate(paths[1] + '.index', 20)  # e.g. a disk error after the run began
  ckpt.save()
  assert capsys.readouterr().err.startswith(f'Warning: checkpoint {paths[1]} is damaged')
  assert paths[1] not in ckpt._manager.checkpoints and ckpt.latest.endswith('ckpt-4')
  ckpt.save()
  assert inspect(tmp_path).path == ckpt.latest


# Bytes that are not UTF-8: TensorFlow's CheckpointManager, which ignores a state file
# it cannot parse, raised UnicodeDecodeError, so the resume_from the line names stopped
# on an 'unexpected' error.
@pytest.mark.parametrize('content', [b'garbage {', b'\xff\xfe'], ids=['text', 'not_utf8'])
def test_unreadable_state_file_names_the_newest_intact_checkpoint(tmp_path, content):
  _, paths = saved_run(tmp_path)
  (tmp_path / 'checkpoint').write_bytes(content)
  with pytest.raises(checkpointing.CheckpointError, match=(
      f'state file {tmp_path}/checkpoint is damaged, so the latest checkpoint is '
      f'unknown; .*resume_from={paths[-1]}$')):
    inspect(tmp_path)
  plan = inspect(tmp_path, resume_from='ckpt-3')  # a bare name means this directory
  assert plan.path == paths[-1] and plan.keep == paths
  checkpointing.Checkpoint(
      str(tmp_path), keep=3, replays={'replay_train': make_replay()},
      step=tf.Variable(0, dtype=tf.int64)).tidy(plan)
  assert inspect(tmp_path) == checkpointing.Plan(paths[-1], paths, [])  # state rewritten


def test_a_state_file_that_is_a_directory_says_so_before_resume_from(tmp_path):
  """ckpt/checkpoint a directory: the line called it damaged and named resume_from,
  whose run then stopped on 'checkpoint.tmp; Is a directory' (its rewrite cannot
  replace a directory) and left that temporary behind."""
  _, paths = saved_run(tmp_path)
  os.remove(tmp_path / 'checkpoint')
  (tmp_path / 'checkpoint').mkdir()
  before = sorted(os.listdir(tmp_path))
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path)
  assert str(error.value) == (
      f'The checkpoint state file {tmp_path}/checkpoint is a directory: move it away; to '
      f'resume from the newest intact checkpoint, ckpt-3, rerun with '
      f'--config.run.resume_from={paths[-1]}')
  with pytest.raises(checkpointing.CheckpointError) as error:
    inspect(tmp_path, resume_from=paths[-1])
  assert str(error.value) == (
      f'The checkpoint state file {tmp_path}/checkpoint is a directory: move it away, then '
      'rerun')
  assert sorted(os.listdir(tmp_path)) == before
  os.rmdir(tmp_path / 'checkpoint')  # what the line says works
  assert inspect(tmp_path, resume_from=paths[-1]).path == paths[-1]


@pytest.mark.parametrize('number', [2, 3, 4])
def test_a_directory_named_as_a_checkpoint_is_named_before_anything_moves(tmp_path, number):
  """ckpt/ckpt-N a directory beside the files of checkpoint ckpt-N (ckpt-N.index, ...):
  TensorFlow read the directory for the prefix. An intact earlier ckpt-2 was called
  damaged and moved to damaged/; an intact latest ckpt-3 was called damaged with the
  flag that resumes from ckpt-2, a step behind; a ckpt-4 the run would save next let it
  train, prune ckpt-1, and stop at that save ('cannot be read back'), whose resume
  called ckpt-4 damaged. Also where a run's agent is read from (run.from_checkpoint)."""
  _, paths = saved_run(tmp_path)
  folder = tmp_path / f'ckpt-{number}'
  folder.mkdir()
  before = sorted(os.listdir(tmp_path))
  line = (f'{folder} is a directory named as the checkpoint ckpt-{number} of this run, '
          f'whose files are ckpt-{number}.index and ckpt-{number}.data-*: TensorFlow reads '
          f'that directory for them; move it out of {tmp_path} (nothing was written)')
  for resume_from in ('', paths[-1]):
    with pytest.raises(checkpointing.CheckpointError) as error:
      inspect(tmp_path, resume_from)
    assert str(error.value) == line
  if number < 4:  # a read (export) of ckpt-3 is refused only for a listed one
    with pytest.raises(checkpointing.CheckpointError) as error:
      checkpointing.load_agent(tf.Module(), str(tmp_path))
    assert str(error.value) == line
  else:
    assert checkpoint_damage.intact_latest(str(tmp_path), ['replay_train'], '') == paths
  assert sorted(os.listdir(tmp_path)) == before  # no checkpoint set aside
  folder.rmdir()  # what the line says works
  assert inspect(tmp_path) == checkpointing.Plan(paths[-1], paths, [])


def test_resume_from_must_be_an_intact_checkpoint_of_this_run(tmp_path):
  _, paths = saved_run(tmp_path / 'ckpt')
  cases = {
      str(tmp_path / 'elsewhere' / 'ckpt-2'): 'is not a checkpoint of this run',
      str(tmp_path / 'ckpt' / 'model.h5'): 'is not a checkpoint of this run',
      # (the way back to it, a run diverged since, was not named)
      paths[1]: f'is older than the intact checkpoint {paths[2]}; drop run.resume_from to '
                'resume from the latest checkpoint, or go back to it in a new --logdir: '
                f'--config.run.from_checkpoint={paths[1]} (its agent)',
  }
  for resume_from, message in cases.items():
    with pytest.raises(checkpointing.CheckpointError, match=re.escape(message)):
      inspect(tmp_path / 'ckpt', resume_from)
  os.truncate(paths[2] + '.index', 20)
  os.truncate(paths[1] + '.index', 20)
  with pytest.raises(checkpointing.CheckpointError, match=(
      f'resume_from={paths[1]} is not usable .*resume_from={paths[0]}$')):
    inspect(tmp_path / 'ckpt', paths[1])
  (tmp_path / 'fresh').mkdir()  # a new logdir: nothing to resume from
  with pytest.raises(checkpointing.CheckpointError, match=(
      f'resume_from=ckpt-2: this run has no checkpoints in {tmp_path}/fresh yet')):
    inspect(tmp_path / 'fresh', 'ckpt-2')


def test_inspect_and_load_write_nothing(tmp_path):
  ckpt, paths = saved_run(tmp_path)
  os.truncate(paths[0] + '.index', 20)
  before = {x: os.stat(tmp_path / x).st_mtime_ns for x in os.listdir(tmp_path)}
  plan = inspect(tmp_path)
  ckpt.load(plan.path)
  assert {x: os.stat(tmp_path / x).st_mtime_ns for x in os.listdir(tmp_path)} == before


def test_a_nonfinite_variable_is_never_saved(tmp_path):
  replay = make_replay()
  fill(replay, 50)
  weights = tf.Variable(np.ones(3, np.float32))
  ckpt = checkpointing.Checkpoint(
      str(tmp_path), keep=2, replays={'replay_train': replay}, agent=tf.Module(),
      weights=weights)
  good = ckpt.save()
  files = sorted(os.listdir(tmp_path))
  weights.assign([1.0, np.inf, 2.0])
  with pytest.raises(checkpointing.CheckpointError) as error:
    ckpt.save()
  assert str(error.value) == (
      'Refusing to save a checkpoint: weights is not finite (the agent diverged); '
      f'the latest checkpoint {good} is kept')
  assert ckpt.latest == good and sorted(os.listdir(tmp_path)) == files
  assert tf.train.load_checkpoint(good).get_tensor(
      'weights/.ATTRIBUTES/VARIABLE_VALUE').tolist() == [1.0, 1.0, 1.0]


# The move after the save's write, or before it: then the write made run/ckpt anew.
@pytest.mark.parametrize('write_first', [True, False], ids=['then_moved', 'moved_then'])
def test_a_logdir_moved_while_it_saves_is_no_damaged_checkpoint(tmp_path, capsys, write_first):
  """A logdir renamed while a save ran: the prune could not read the earlier
  checkpoints at their old paths and warned that each was damaged, before the run's
  line said that the logdir had moved."""
  replay = make_replay()
  fill(replay, 50)
  ckpt, _ = make(str(tmp_path / 'run' / 'ckpt'), replay)
  ckpt.save()
  save = ckpt._manager.save

  def save_then_move():
    if not write_first:
      (tmp_path / 'run').rename(tmp_path / 'moved')
    path = save()
    if write_first:
      (tmp_path / 'run').rename(tmp_path / 'moved')
    return path

  ckpt._manager.save = save_then_move
  capsys.readouterr()
  with pytest.raises(checkpointing.CheckpointError):
    ckpt.save()
  assert capsys.readouterr().err == ''
  moved = ['ckpt-1.data-00000-of-00001', 'ckpt-1.index', 'replay_train']
  if write_first:
    moved += ['ckpt-2.data-00000-of-00001', 'ckpt-2.index']
  assert sorted(os.listdir(tmp_path / 'moved' / 'ckpt')) == sorted(['checkpoint', *moved])


def test_a_rotated_out_checkpoint_that_is_gone_already_logs_nothing(tmp_path, monkeypatch):
  """The logdir renamed under a run while it saved: TensorFlow's rotation of the oldest
  checkpoint listed its files, found them gone as it deleted them, and logged
  'WARNING:tensorflow:Hit NotFoundError when deleting ...' before the run's own one line
  (a suite run caught it)."""
  import logging
  from tensorflow.python.checkpoint import checkpoint_management
  listed = checkpoint_management.file_io.get_matching_files

  def gone_as_listed(pattern):  # the files vanish between the listing and the delete
    names = listed(pattern)
    if 'ckpt-1.' in pattern:
      for name in names:
        os.remove(name)
    return names

  records = []
  handler = logging.Handler(logging.WARNING)
  handler.emit = records.append
  tf.get_logger().addHandler(handler)
  try:
    ckpt, _ = make(str(tmp_path), make_replay())  # keeps 2
    ckpt.save()
    ckpt.save()
    monkeypatch.setattr(checkpoint_management.file_io, 'get_matching_files', gone_as_listed)
    ckpt.save()  # rotates ckpt-1 out
  finally:
    tf.get_logger().removeHandler(handler)
  assert [r.getMessage() for r in records] == []
  assert tf.train.latest_checkpoint(str(tmp_path)).endswith('ckpt-3')


def tf_warnings_of(fn):
  """TensorFlow's Python warnings while `fn` runs and its garbage is collected."""
  import gc
  import logging
  gc.collect()  # an earlier test's garbage is not this one's
  records = []
  handler = logging.Handler(logging.WARNING)
  handler.emit = records.append
  tf.get_logger().addHandler(handler)
  try:
    fn()
    gc.collect()
  finally:
    tf.get_logger().removeHandler(handler)
  return [r.getMessage()[:80] for r in records]


@pytest.mark.parametrize('saved, loaded', [
    (('replay_train',), ('replay_train', 'replay_eval')),  # script=train -> train_eval
    (('replay_train', 'replay_eval'), ('replay_train',))])  # and back
def test_a_resume_of_another_script_logs_no_tensorflow_warning(tmp_path, saved, loaded):
  """A checkpoint that holds more or fewer replays than the run loads is by design
  (a replay without its state starts empty); TensorFlow warned of its unrestored
  values when the load's objects were collected: two WARNING lines wherever that was
  (seen at the end of a suite run)."""

  def ckpt_of(names):
    step = tf.Variable(0, dtype=tf.int64)
    return checkpointing.Checkpoint(
        str(tmp_path), keep=2, replays={k: make_replay() for k in names}, step=step)

  ckpt_of(saved).save()
  assert tf_warnings_of(lambda: ckpt_of(loaded).load()) == []


def test_a_damaged_carried_replay_is_left_behind_not_saved_on(tmp_path, capsys):
  """A train_eval checkpoint whose eval replay lost a file (deleted by hand), resumed
  with script=train, then with train_eval: the train run saved the damaged eval state
  on, so every one of its checkpoints was damaged for the third run, which refused to
  resume ('no earlier checkpoint is intact: start again with a new --logdir')."""
  both = ('replay_train', 'replay_eval')
  replays = {k: make_replay() for k in both}
  for replay in replays.values():
    fill(replay, 40)
  step = tf.Variable(0, dtype=tf.int64)
  checkpointing.Checkpoint(str(tmp_path), keep=1, replays=replays, step=step).save()
  folder = tmp_path / 'replay_eval'
  lost = sorted(os.listdir(folder))[0]
  os.remove(folder / lost)
  train = make_replay()
  ckpt = checkpointing.Checkpoint(str(tmp_path), keep=1, replays={'replay_train': train},
                                  carry=['replay_eval'], step=step)
  ckpt.load(inspect(tmp_path).path)
  fill(train, 40, start=40)
  path = ckpt.save()
  assert capsys.readouterr().err == (
      f'Warning: the replay_eval state of checkpoint {tmp_path}/ckpt-1 is damaged (1 replay '
      f'file is missing, e.g. replay_eval/{lost}): this run\'s checkpoints do not hold it, '
      'and a later resume that uses it starts it empty\n')
  plan = checkpointing.inspect(str(tmp_path), list(both))  # the train_eval resume
  assert plan.path == path and plan.damaged == []
  fresh = {k: make_replay() for k in both}
  checkpointing.Checkpoint(str(tmp_path), keep=1, replays=fresh, step=step).load(path)
  assert len(fresh['replay_train']) == 80 and len(fresh['replay_eval']) == 0


def test_a_damaged_eval_replay_starts_empty_and_the_latest_checkpoint_resumes(
    tmp_path, capsys):
  """A chunk file of the eval replay deleted by hand: every checkpoint naming it was
  damaged, and the resume stopped; its ways on lost the training since an older
  checkpoint, or the train replay (a new logdir). The eval replay feeds only the eval/
  reports and refills as the run evaluates."""
  both = ('replay_train', 'replay_eval')

  def ckpt_of(replays, step):
    return checkpointing.Checkpoint(str(tmp_path), keep=3, replays=replays,
                                    expendable=['replay_eval'], step=step)

  replays = {k: make_replay() for k in both}
  step = tf.Variable(0, dtype=tf.int64)
  saver = ckpt_of(replays, step)
  for i in range(2):
    for replay in replays.values():
      fill(replay, 40, start=40 * i)
    step.assign(i + 1)
    latest = saver.save()
  folder = tmp_path / 'replay_eval'
  lost = sorted(os.listdir(folder))[0]  # its first chunk: both checkpoints name it
  os.remove(folder / lost)
  plan = checkpointing.inspect(str(tmp_path), ['replay_train'], expendable=['replay_eval'])
  assert plan.path == latest and plan.damaged == []
  # A load that fails (another run's objects) is its one line, without the warning.
  other = checkpointing.Checkpoint(
      str(tmp_path), keep=3, replays={k: make_replay() for k in both},
      expendable=['replay_eval'], step=step, extra=tf.Variable([1.0, 2.0]))
  with pytest.raises(checkpointing.CheckpointError, match='does not match this run'):
    other.load(plan.path)
  assert capsys.readouterr().err == ''
  fresh = {k: make_replay() for k in both}
  step.assign(0)
  ckpt = ckpt_of(fresh, step)
  ckpt.load(plan.path)
  assert capsys.readouterr().err == (
      f'Warning: the replay_eval state of checkpoint {latest} is damaged (1 replay file is '
      f'missing, e.g. replay_eval/{lost}): this resume starts it empty and loads the rest\n')
  assert int(step.numpy()) == 2
  assert len(fresh['replay_train']) == 80 and len(fresh['replay_eval']) == 0
  fill(fresh['replay_eval'], 40, start=80)
  path = ckpt.save()
  # The new checkpoint is whole: it loads without a line, both replays as saved.
  again = {k: make_replay() for k in both}
  ckpt_of(again, step).load(path)
  assert capsys.readouterr().err == ''
  assert len(again['replay_train']) == 80 and len(again['replay_eval']) == 40
  assert not (tmp_path / 'damaged').exists()
  # A file that only the load finds wrong (another chunk's under its name): the same.
  files = checkpointing._read_replay_states(path, ['replay_eval'])[0]['files']
  wrong = str(folder / files[1])
  shutil.copy(folder / files[0], wrong)  # (both whole chunks: their sizes agree)
  again = {k: make_replay() for k in both}
  ckpt_of(again, step).load(path)
  assert capsys.readouterr().err == (
      f'Warning: the replay_eval state of checkpoint {path} is damaged (Replay file {wrong} '
      'holds another chunk than its name says): this resume starts it empty and loads the '
      'rest\n')
  assert len(again['replay_train']) == 80 and len(again['replay_eval']) == 0


def test_a_load_that_does_not_match_leaves_no_warning_for_later(tmp_path, caplog):
  """A failed load's status, once collected, logged TensorFlow's 'Detecting that an
  object ... is being deleted with unrestored values' and a line per value, after the
  CheckpointError (in a notebook or a script that caught it, or at exit)."""
  import gc
  ckpt = checkpointing.Checkpoint(
      str(tmp_path), keep=2, replays={'replay_train': make_replay()},
      step=tf.Variable(3, dtype=tf.int64), calls=tf.Variable(5, dtype=tf.int64))
  ckpt.save()  # `calls` has no object in the run below, `extra` no value here
  other = checkpointing.Checkpoint(
      str(tmp_path), keep=2, replays={'replay_train': make_replay()},
      step=tf.Variable(0, dtype=tf.int64), extra=tf.Variable([1.0, 2.0]))
  with pytest.raises(checkpointing.CheckpointError, match='does not match this run'):
    other.load()
  del other
  gc.collect()
  assert not [r.getMessage() for r in caplog.records if 'unrestored' in r.getMessage()
              or 'could not be found' in r.getMessage()]


@contextlib.contextmanager
def free_files(count):
  """Runs the block with only `count` more files this process may open (RLIMIT_NOFILE
  lowered, the numbers below it taken), as a run under a low `ulimit -n` is."""
  limits = resource.getrlimit(resource.RLIMIT_NOFILE)
  top = max(int(x) for x in os.listdir('/proc/self/fd'))
  resource.setrlimit(resource.RLIMIT_NOFILE, (top + 64, limits[1]))
  held = []
  try:
    while True:
      try:
        held.append(os.open(os.devnull, os.O_RDONLY))
      except OSError:
        break
    for _ in range(count):
      os.close(held.pop())
    yield
  finally:
    for fd in held:
      os.close(fd)
    resource.setrlimit(resource.RLIMIT_NOFILE, limits)


@pytest.mark.parametrize('count', range(8))
def test_the_limit_on_open_files_is_no_damaged_checkpoint(tmp_path, count):
  """Under a low `ulimit -n` (12, with DMC's env workers) the read-back after a save
  set an intact checkpoint aside in damaged/ ('is damaged (...; Too many open files)'),
  and a resume said the latest 'does not match this run' or was damaged. Whatever
  number of files is left, each step either works or names the limit; nothing is set
  aside or changed."""
  from dreamerv3_tf.core import errors
  ckpt, paths = saved_run(tmp_path / 'ckpt', keep=10)  # a save prunes none
  fresh = make(str(tmp_path / 'ckpt'), make_replay())[0]
  before = {x: os.stat(x).st_mtime_ns for x in glob.glob(str(tmp_path / 'ckpt/**'), recursive=True)}
  for step in (lambda: inspect(tmp_path / 'ckpt'), lambda: fresh.load(paths[-1]),
               lambda: checkpointing.check_readable(paths[-1]), ckpt.save):
    try:
      with free_files(count):
        step()
    except Exception as e:  # noqa: BLE001 - any failure must name the limit
      line = errors.describe(e)
      assert 'Too many open files' in line and 'ulimit -n' in line, line
      assert not re.search('damaged|corrupt|does not match|out of memory|unexpected', line), line
    assert not os.path.exists(tmp_path / 'ckpt/damaged')
    for path in paths:  # each still there, none rewritten
      assert os.stat(path + '.index').st_mtime_ns == before[path + '.index']


@pytest.mark.parametrize('which', ['earlier', 'latest'])
def test_a_stop_that_lands_in_a_checkpoint_read_is_no_damage(tmp_path, monkeypatch, capsys,
                                                            which):
  """SIGUSR1 during a resume's read of ckpt-21 (as user tester, in the suite): pybind11
  made a RuntimeError of the stop's exception ('MISMATCH of original and normalized
  active exception types: ORIGINAL NotFoundError REPLACED BY UserSignal'), which the
  check took for damage: a warning line, and the intact checkpoint set aside."""
  from dreamerv3_tf import stop_signals
  _, paths = saved_run(tmp_path)
  read_all = checkpoint_damage.read_all
  target = paths[0] if which == 'earlier' else paths[-1]

  def stopped_in(path):
    if path == target:
      monkeypatch.setattr(stop_signals, '_STOPPED', [signal.SIGUSR1])  # as stop() leaves it
      raise RuntimeError('pybind11::error_already_set: MISMATCH of original and normalized '
                         'active exception types: ORIGINAL NotFoundError REPLACED BY '
                         'UserSignal: <EMPTY MESSAGE>')
    return read_all(path)

  monkeypatch.setattr(checkpoint_damage, 'read_all', stopped_in)
  with pytest.raises(stop_signals.UserSignal):
    inspect(tmp_path)
  assert capsys.readouterr().err == ''
  assert not (tmp_path / 'damaged').exists()


def a_run_beside(directory, keep=1):
  """A run's checkpoints that keep `keep`, as a reader finds them, and `save()`, the
  run's next save, which writes ckpt-2 and with keep=1 prunes ckpt-1 (each reader test
  calls it at one moment of its read), with a fresh agent for the reader."""
  agent = tf.Module()
  agent.w = tf.Variable([1., 2.])
  ckpt = checkpointing.Checkpoint(
      str(directory), keep=keep, replays={'replay_train': make_replay()}, agent=agent)
  first = ckpt.save()

  def save():
    agent.w.assign([3., 4.])
    path = ckpt.save()
    # The state file written a while after the index, as in a run (file times are
    # coarser than a test's save: they may be equal).
    written = os.stat(os.path.join(directory, 'checkpoint')).st_mtime_ns
    os.utime(path + '.index', ns=(written - 10**9, written - 10**9))
    return path

  reader = tf.Module()
  reader.w = tf.Variable([0., 0.])
  return first, save, reader


@pytest.mark.parametrize('moment, keep', [('its check', 1), ('its values', 1),
                                          ('its check', 2)])
def test_a_latest_checkpoint_pruned_as_it_is_read_is_read_again_as_the_new_latest(
    tmp_path, monkeypatch, moment, keep):
  """export, eval_only and run.from_checkpoint of RUN/ckpt while RUN trains: a save that
  pruned the latest they had found, between the state file's read and its check, was
  'The latest checkpoint RUN/ckpt/ckpt-1 is damaged (ckpt-1.index is missing); no
  checkpoint in RUN/ckpt is intact', beside an intact ckpt-2; after the check, as its
  values were read, TensorFlow's 'OpError: ...ckpt-1.data-00000-of-00001; No such file
  or directory' and a traceback. A save that kept it (keep=2) was 'The checkpoint state
  file RUN/ckpt/checkpoint names ckpt-1 as the latest, but ckpt-2, an intact checkpoint
  of a later save, is beside it, and the state file was written after it (edited, ...'."""
  first, save, reader = a_run_beside(tmp_path, keep)
  saved = []

  def save_once():  # (a save reads checkpoints too: not again from there)
    if not saved:
      saved.append(1)
      save()
  if moment == 'its check':
    damage = checkpoint_damage._damage
    monkeypatch.setattr(checkpoint_damage, '_damage',
                        lambda p, *a: (save_once(), damage(p, *a))[1])
  else:
    check, load = checkpointing.check_readable, tf.train.load_checkpoint

    def checked(path):  # the values are read next, from the reader made after it
      check(path)
      monkeypatch.setattr(tf.train, 'load_checkpoint', lambda p: (load(p), save_once())[0])
    monkeypatch.setattr(checkpointing, 'check_readable', checked)
  path, _ = checkpointing.load_agent(reader, str(tmp_path))
  assert saved and os.path.exists(first + '.index') == (keep > 1)  # pruned meanwhile?
  assert path == str(tmp_path / 'ckpt-2')
  np.testing.assert_array_equal(reader.w.numpy(), [3., 4.])


def test_a_checkpoint_named_and_pruned_as_it_is_read_names_the_kept_ones(tmp_path,
                                                                         monkeypatch):
  """--checkpoint=RUN/ckpt/ckpt-1 pruned by its run as export read it: it was
  'Checkpoint RUN/ckpt/ckpt-1 is missing (RUN/ckpt/ckpt-1.index not found)'."""
  first, save, reader = a_run_beside(tmp_path)
  resolve = checkpointing._resolve
  monkeypatch.setattr(checkpointing, '_resolve', lambda *a: (resolve(*a), save())[0])
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.load_agent(reader, first, flag='--checkpoint')
  assert str(error.value) == (
      f'Checkpoint {first} was pruned as this read it: its run keeps its latest 1 '
      f'(run.keep_checkpoints), now ckpt-2; name one of them, or {tmp_path} for its latest')
  np.testing.assert_array_equal(reader.w.numpy(), [0., 0.])  # nothing assigned


def test_a_run_that_prunes_its_latest_before_every_read_is_one_line(tmp_path, monkeypatch):
  """Saves faster than a read, each one pruning the latest it found: the reader gives up
  after checkpointing.READ_TRIES reads, in one line."""
  _, save, reader = a_run_beside(tmp_path)
  damage, saving = checkpoint_damage._damage, []

  def pruned_first(path, *args):
    if not saving:  # (a save reads checkpoints too: no save from there)
      saving.append(1)
      save()
      saving.clear()
    return damage(path, *args)
  monkeypatch.setattr(checkpoint_damage, '_damage', pruned_first)
  with pytest.raises(checkpointing.CheckpointError) as error:
    checkpointing.load_agent(reader, str(tmp_path))
  assert str(error.value).startswith(
      f'The run in {tmp_path} saved {checkpointing.READ_TRIES} times as this read its latest '
      'checkpoint, and pruned it each time before the read was done; '), str(error.value)
