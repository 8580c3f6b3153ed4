#!/usr/bin/env bash
# Train dreamerv3_tf on one host with all (or the given) GPUs.
#
#   launchers/gpu.sh --config configs/dmc.py:train_eval,vision --logdir ~/logdir/walker
#   launchers/gpu.sh --gpus 0,1 -- --config.task=dmc_cheetah_run
#
# One GPU runs the default strategy; several run MirroredStrategy (data parallel,
# the batch split across them). Compute runs in bfloat16 unless --dtype says otherwise.
# --dry-run prints every command ("+ " and the command, one a line) and runs none.
set -euo pipefail

PROG=$(basename "$0")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<EOF
Usage: $PROG [options] [-- FLAGS...]

Runs 'python -m dreamerv3_tf.main' on this host's GPUs. Several GPUs use
--config.distribute=mirrored; one GPU uses --config.distribute=default.

Options:
  --config SPEC      config file and presets (default: configs/dmc.py:train_eval,vision)
  --logdir DIR       run directory; an existing one resumes (default: ~/logdir/<suite>-<time>)
  --gpus LIST        GPU indices, e.g. 0,1 (default: \$CUDA_VISIBLE_DEVICES if set,
                     else every GPU nvidia-smi lists)
  --dtype DTYPE      compute dtype: bfloat16 (default), float16 or float32
  --install          run 'pip install -e .' (with the suite's extras) first
  --dry-run          print every command, one per line prefixed with '+ ', run none
  -h, --help         show this help
  -- FLAGS...        passed on to dreamerv3_tf.main, e.g. --config.task=dmc_cheetah_run

Environment: PYTHON (default: python) is the interpreter; MUJOCO_GL (default: egl).
EOF
}

# shellcheck source=launchers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONFIG='configs/dmc.py:train_eval,vision'
LOGDIR=''
GPUS=''
DTYPE='bfloat16'
INSTALL=0 DRY_RUN=0
PYTHON=${PYTHON:-python}

set_option() {
  case $1 in
    --config) CONFIG=$2 ;;
    --logdir) LOGDIR=$2 ;;
    --gpus) GPUS=$2 ;;
    --dtype) DTYPE=$2 ;;
    --install) INSTALL=1 ;;
    --dry-run) DRY_RUN=1 ;;
    -h|--help) usage; exit 0 ;;
  esac
}

parse_options '--config --logdir --gpus --dtype' '--install --dry-run -h --help' "$@"

CONFIG_FILE=$(config_file "$CONFIG" "$REPO")
check_config "$CONFIG"
check_python
[[ $DTYPE == bfloat16 || $DTYPE == float32 || $DTYPE == float16 ]] \
  || die "--dtype must be bfloat16, float16 or float32 (got '$DTYPE')"

# Which GPUs: the flag, then the caller's CUDA_VISIBLE_DEVICES, then nvidia-smi (a
# read-only query, also made under --dry-run).
GPUS_FROM='--gpus' GPUS_FIX='' GPUS_NOTE=''
# Set but empty, CUDA shows no GPU: nvidia-smi's list put every GPU back, unseen.
[[ -n $GPUS || ${CUDA_VISIBLE_DEVICES-unset} != '' ]] \
  || die "CUDA_VISIBLE_DEVICES is set but empty, which hides every GPU from CUDA; pass --gpus, or unset it to use nvidia-smi's list"
if [[ -z $GPUS && -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
  GPUS=$CUDA_VISIBLE_DEVICES
  # Its errors named --gpus, a flag the user had not given (CUDA also takes UUIDs there).
  GPUS_FROM='CUDA_VISIBLE_DEVICES (the default of --gpus)' GPUS_FIX='; pass --gpus'
  GPUS_NOTE="GPUs from CUDA_VISIBLE_DEVICES: $GPUS"
fi
if [[ -z $GPUS ]]; then
  command -v nvidia-smi >/dev/null 2>&1 \
    || die "nvidia-smi not found and no --gpus given; pass --gpus 0 (or 0,1,...)"
  # (Without a driver or GPU it fails, its message on stdout: the script ended with its
  # exit code 9 and no line.)
  QUERY=(nvidia-smi --query-gpu=index --format=csv,noheader)
  listed=$("${QUERY[@]}" 2>/dev/null) \
    || die "nvidia-smi failed ($("${QUERY[@]}" 2>&1 | head -n 1)); pass --gpus, or check the GPU driver"
  GPUS=$(tr -d ' ' <<< "$listed" | paste -sd, -)
  [[ -n $GPUS ]] || die "nvidia-smi lists no GPU; pass --gpus explicitly"
  GPUS_FROM="nvidia-smi's list (the default of --gpus)" GPUS_FIX='; pass --gpus'
  GPUS_NOTE="GPUs from nvidia-smi: $GPUS"
fi
[[ $GPUS =~ ^[0-9]+(,[0-9]+)*$ ]] \
  || die "$GPUS_FROM must be comma-separated GPU indices such as 0,1 (got '$GPUS')$GPUS_FIX"
IFS=, read -r -a GPU_LIST <<< "$GPUS"
for gpu in "${GPU_LIST[@]}"; do
  small_number "$gpu" >/dev/null || die "$GPUS_FROM lists '$gpu', which is no GPU index (got '$GPUS')$GPUS_FIX"
done
# A GPU named twice would be two 'mirrored' replicas on one device.
for (( i = 0; i < ${#GPU_LIST[@]}; i++ )); do
  for (( j = i + 1; j < ${#GPU_LIST[@]}; j++ )); do
    (( 10#${GPU_LIST[i]} != 10#${GPU_LIST[j]} )) \
      || die "$GPUS_FROM lists GPU $(( 10#${GPU_LIST[i]} )) twice (got '$GPUS'); name each GPU once"
  done
done
[[ -z $GPUS_NOTE ]] || note "$GPUS_NOTE"  # (after the checks: an error is its one line)
if (( ${#GPU_LIST[@]} > 1 )); then STRATEGY=mirrored; else STRATEGY=default; fi

if [[ -z $LOGDIR ]]; then
  # (set -u: 'line 93: HOME: unbound variable' under a service manager without HOME)
  [[ -n ${HOME:-} ]] || die "HOME is not set, so the default --logdir ~/logdir/... names no directory; pass --logdir"
  SUITE=$(basename "$CONFIG_FILE" .py)
  LOGDIR="$HOME/logdir/$SUITE-$(date +%Y%m%dT%H%M%S)"
fi
LOGDIR=$(full_path "$LOGDIR")
check_logdir "$LOGDIR"
full_path_flags

EXTRAS=''
case $(basename "$CONFIG_FILE") in
  atari*.py) EXTRAS='[atari]' ;;
  crafter.py) EXTRAS='[crafter]' ;;
esac

# The config path is relative to the repository root.
note "${#GPU_LIST[@]} GPU(s): $GPUS -> --config.distribute=$STRATEGY"
run cd "$REPO"
if (( INSTALL )); then
  run "$PYTHON" -m pip install -e ".$EXTRAS"
fi
ENV=("CUDA_VISIBLE_DEVICES=$GPUS" "MUJOCO_GL=${MUJOCO_GL:-egl}")
PYTHONPATH_FULL=$(full_pythonpath)
if [[ -n $PYTHONPATH_FULL ]]; then
  ENV+=("PYTHONPATH=$PYTHONPATH_FULL")
fi
run env "${ENV[@]}" \
  "$PYTHON" -m dreamerv3_tf.main "--config=$CONFIG" "--logdir=$LOGDIR" \
  "--config.distribute=$STRATEGY" "--config.compute_dtype=$DTYPE" "${EXTRA[@]}"
