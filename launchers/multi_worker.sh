#!/usr/bin/env bash
# Train dreamerv3_tf across several hosts with MultiWorkerMirroredStrategy.
# Run it once on every host, with the same --workers list and each host's own --index:
#
#   host1$ launchers/multi_worker.sh --workers host1,host2 --index 0 --logdir /shared/run1
#   host2$ launchers/multi_worker.sh --workers host1,host2 --index 1 --logdir /shared/run1
#
# It builds the TF_CONFIG that tells TensorFlow the cluster and this worker's place in
# it, runs main with --config.distribute=multi_worker, and prints the command for each
# other worker. Worker 0 is the chief. The training starts once every worker is up.
# --dry-run prints every command ("+ " and the command, one a line) and runs none.
set -euo pipefail

PROG=$(basename "$0")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<EOF
Usage: $PROG --workers HOST1,HOST2[,...] --index I --logdir DIR [options] [-- FLAGS...]

Sets TF_CONFIG for worker I of the cluster and runs
'python -m dreamerv3_tf.main --config.distribute=multi_worker'. Run it on every host
with the same --workers, --port, --config, --logdir and FLAGS and each host's own --index.

Options:
  --workers LIST     comma-separated hosts, in the same order on every host; a host
                     may carry its own port as host:port                       [required]
  --index I          this host's position in --workers, from 0 (0 is the chief) [required]
  --logdir DIR       run directory on shared storage (e.g. gs://bucket/run or an
                     NFS path), where this host mounts it: the same path on every
                     worker, or each host's own mount of the same run           [required]
  --port PORT        port of the workers that give none (default: 12345)
  --config SPEC      config file and presets (default: configs/dmc.py:train_eval,vision)
  --gpus LIST        CUDA_VISIBLE_DEVICES for this host (default: all its GPUs)
  --dtype DTYPE      compute dtype: bfloat16 (default), float16 or float32
  --dry-run          print every command, one per line prefixed with '+ ', run none
  -h, --help         show this help
  -- FLAGS...        passed on to dreamerv3_tf.main, e.g. --config.task=dmc_cheetah_run

Environment: PYTHON (default: python) is the interpreter; MUJOCO_GL (default: egl).
EOF
}

# shellcheck source=launchers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WORKERS='' INDEX='' LOGDIR='' GPUS=''
PORT=12345
CONFIG='configs/dmc.py:train_eval,vision'
DTYPE='bfloat16'
DRY_RUN=0
PYTHON=${PYTHON:-python}

set_option() {
  case $1 in
    --workers) WORKERS=$2 ;;
    --index) INDEX=$2 ;;
    --logdir) LOGDIR=$2 ;;
    --port) PORT=$2 ;;
    --config) CONFIG=$2 ;;
    --gpus) GPUS=$2 ;;
    --dtype) DTYPE=$2 ;;
    --dry-run) DRY_RUN=1 ;;
    -h|--help) usage; exit 0 ;;
  esac
}

parse_options '--workers --index --logdir --port --config --gpus --dtype' '--dry-run -h --help' "$@"

[[ -n $WORKERS ]] || die "--workers is required (see --help)"
[[ -n $INDEX ]] || die "--index is required (see --help)"
[[ -n $LOGDIR ]] || die "--logdir is required: the run's directory on shared storage (see --help)"
LOGDIR=$(full_path "$LOGDIR")
check_logdir "$LOGDIR"
full_path_flags
if ! port=$(small_number "$PORT") || (( port < 1 || port > 65535 )); then
  die "--port must be a number from 1 to 65535 (got '$PORT')"
fi
PORT=$port
[[ $INDEX =~ ^[0-9]+$ ]] || die "--index must be a whole number from 0 (got '$INDEX')"
# read drops a last empty field: 'a,' was a cluster of one worker.
[[ $WORKERS != *, ]] || die "--workers ends with a comma; expected host or host:port, comma-separated"
IFS=, read -r -a HOSTS <<< "$WORKERS"
ADDRESSES=()
for host in "${HOSTS[@]}"; do
  [[ $host =~ ^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]+)?$ ]] \
    || die "--workers has a bad host '$host'; expected host or host:port, comma-separated"
  port=$PORT
  if [[ $host == *:* ]] && { ! port=$(small_number "${host##*:}") || (( port < 1 || port > 65535 )); }; then
    die "--workers has a bad port in '$host'; ports are 1 to 65535"
  fi
  ADDRESSES+=("${host%:*}:$port")  # (a:012345 is a:12345, the same worker)
done
# 08 was an octal error to bash, and 01 no number to JSON
index=$(small_number "$INDEX") && (( index < ${#ADDRESSES[@]} )) \
  || die "--index ${index:-$INDEX} is out of range for ${#ADDRESSES[@]} worker(s) (0 to $(( ${#ADDRESSES[@]} - 1 )))"
INDEX=$index
for (( i = 0; i < ${#ADDRESSES[@]}; i++ )); do
  for (( j = i + 1; j < ${#ADDRESSES[@]}; j++ )); do
    [[ ${ADDRESSES[i]} != "${ADDRESSES[j]}" ]] \
      || die "--workers lists ${ADDRESSES[i]} twice; each worker needs its own host:port"
  done
done
CONFIG_FILE=$(config_file "$CONFIG" "$REPO")
check_config "$CONFIG"
check_python
[[ $DTYPE == bfloat16 || $DTYPE == float32 || $DTYPE == float16 ]] \
  || die "--dtype must be bfloat16, float16 or float32 (got '$DTYPE')"
if [[ -n $GPUS ]]; then
  [[ $GPUS =~ ^[0-9]+(,[0-9]+)*$ ]] \
    || die "--gpus must be comma-separated GPU indices such as 0,1 (got '$GPUS')"
fi

# TF_CONFIG: the whole cluster (same on every worker) and this worker's task.
worker_list=''
for address in "${ADDRESSES[@]}"; do
  worker_list+="${worker_list:+, }\"$address\""
done
TF_CONFIG_JSON="{\"cluster\": {\"worker\": [$worker_list]}, \"task\": {\"type\": \"worker\", \"index\": $INDEX}}"

# The same command for every other worker, differing only in --index.
echo "Worker $INDEX of ${#ADDRESSES[@]} (${ADDRESSES[INDEX]}). On each other worker run:"
for (( i = 0; i < ${#ADDRESSES[@]}; i++ )); do
  (( i != INDEX )) || continue
  other=("launchers/$PROG" --workers "$WORKERS" --index "$i" --port "$PORT"
         --config "$CONFIG" --logdir "$LOGDIR" --dtype "$DTYPE")
  if [[ -n $GPUS ]]; then
    other+=(--gpus "$GPUS")
  fi
  if (( ${#EXTRA[@]} )); then
    other+=(-- "${EXTRA[@]}")
  fi
  echo "  ${ADDRESSES[i]%:*}\$ $(join_quoted "${other[@]}")"
done

ENV=("TF_CONFIG=$TF_CONFIG_JSON" "MUJOCO_GL=${MUJOCO_GL:-egl}")
if [[ -n $GPUS ]]; then
  ENV+=("CUDA_VISIBLE_DEVICES=$GPUS")
fi
PYTHONPATH_FULL=$(full_pythonpath)
if [[ -n $PYTHONPATH_FULL ]]; then
  ENV+=("PYTHONPATH=$PYTHONPATH_FULL")
fi
# The config path is relative to the repository root.
run cd "$REPO"
run env "${ENV[@]}" "$PYTHON" -m dreamerv3_tf.main "--config=$CONFIG" "--logdir=$LOGDIR" \
  --config.distribute=multi_worker "--config.compute_dtype=$DTYPE" "${EXTRA[@]}"
