"""Non-finite training: counts skipped updates, names their cause, stops a diverged run.

The optimizer skips an update whose gradient norm is not finite and reports it as the
train metric 'opt/grad_nonfinite' (agent/optim.py). The train step also returns the
mean of every loss term ('loss/<name>'); a mean is finite exactly when all of its
elements are, so these scalars are the per-term finiteness flags, computed inside the
compiled step at no extra cost. The host reads them here, and only after a skipped
update: a finite update costs one dict lookup.
"""

import sys

import numpy as np

from dreamerv3_tf.core import base


class NonfiniteError(base.UserError, RuntimeError):
  """Training stopped after too many consecutive non-finite updates; one line."""


class Watch:
  """Follows the train metrics of every update for skipped (non-finite) ones.

  Warns in one line at the first skipped update of every streak, naming its cause, and
  raises NonfiniteError when a streak reaches `limit`.

  Args:
    limit: consecutive skipped updates that stop the run (run.max_nonfinite_updates;
      0 never stops).
    terms: the loss names in the order the train step computes them
      (`Agent.loss_terms`); the first non-finite one is nearest the cause.
    total: updates skipped before this process (a resumed run's count).
    suspects: 'key=value' of the config values far beyond the configs' that may make
      every update non-finite (config_warnings.divergence_suspects); the stop line names
      them, or the user is left to guess which key made the run diverge.
  """

  def __init__(self, limit, terms=(), total=0, suspects=()):
    self.limit = int(limit)
    self.terms = tuple(terms)
    self.suspects = tuple(suspects)
    self.total = int(total)
    self._interval = 0
    self._streak = 0
    self._first = None  # (update, cause) of the streak's first skipped update

  def skipped(self, update, metrics, batch=None):
    """-> whether update number `update` was skipped, from its train metrics.

    `batch` (the update's input) is searched for non-finite values only when the
    update was skipped, to name them in the warning.
    """
    if not metrics.get('opt/grad_nonfinite', 0.0):
      self._streak = 0
      return False
    self.total += 1
    self._interval += 1
    self._streak += 1
    if self._streak == 1:
      self._first = (update, cause(metrics, self.terms, batch))
      print(f'Warning: update {update} skipped: {self._first[1]}', file=sys.stderr,
            flush=True)
    if self.limit and self._streak >= self.limit:
      first, why = self._first
      likely = (f'; likely from {", ".join(self.suspects)}, far beyond the values the '
                'configs use (the warning at the start says why)' if self.suspects else '')
      raise NonfiniteError(
          f'training diverged: {self._streak} updates in a row were skipped as not '
          f'finite (updates {first}-{update}); at the first, {why}{likely}. Stopped by '
          f'run.max_nonfinite_updates={self.limit} (0 never stops)')
    return True

  def result(self):
    """-> {'skipped_updates': since the last call, 'skipped_updates_total': whole run}."""
    out = {'skipped_updates': self._interval, 'skipped_updates_total': self.total}
    self._interval = 0
    return out


def cause(metrics, terms=(), batch=None):
  """One phrase naming why an update was not finite.

  The first non-finite loss term in `terms` order (other 'loss/' metrics after them,
  the total last), else the gradient norm; then the batch keys that hold NaN or inf.
  """
  names = [k[len('loss/'):] for k in metrics if k.startswith('loss/')]
  order = [t for t in terms if t in names]
  order += sorted(n for n in names if n not in order and n not in ('rec', 'total'))
  order += ['total'] if 'total' in names else []
  bad = [n for n in order if not np.isfinite(metrics[f'loss/{n}'])]
  if bad:
    text = f"loss '{bad[0]}' is not finite ({metrics[f'loss/{bad[0]}']})"
    later = [n for n in bad[1:] if n != 'total']
    if later:
      text += ', and so is 1 later term' if len(later) == 1 else (
          f', and so are {len(later)} later terms')
  else:
    norm = metrics.get('opt/grad_norm', float('nan'))
    text = f'the gradient norm is not finite ({norm}) while every loss term is finite'
  keys = nonfinite_keys(batch or {})
  if keys:
    text += f'; the batch holds NaN or inf in {", ".join(repr(k) for k in keys)}'
  return text


def nonfinite_keys(batch):
  """-> sorted keys of the floating-point arrays in `batch` that hold NaN or inf."""
  bad = []
  for key, value in batch.items():
    value = np.asarray(value)
    if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all():
      bad.append(key)
  return sorted(bad)
