#!/usr/bin/env bash
# Train dreamerv3_tf on a Cloud TPU VM: create the VM, copy the code, install,
# start train_eval under nohup on every worker, and stream the log of worker 0.
#
#   launchers/tpu_vm.sh --name dreamer-1 --zone us-central2-b --accelerator v4-8 \
#     --bucket gs://my-bucket/dmc_walker --config configs/dmc.py:train_eval,vision \
#     -- --config.task=dmc_walker_walk
#   launchers/tpu_vm.sh --name dreamer-1 --zone us-central2-b --delete
#
# --dry-run prints every command ("+ " and the command, one a line) and runs none.
set -euo pipefail

PROG=$(basename "$0")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Where the code lives on the VM and where its log goes (outside the code directory,
# so that copying new code does not delete the log of a running job). The tilde is
# literal here on purpose: the remote shell expands it to the VM user's home.
# shellcheck disable=SC2088
REMOTE_DIR='~/dreamerv3_tf'
# shellcheck disable=SC2088
REMOTE_LOG='~/dreamerv3_tf.log'
# The TPU build of TensorFlow ships as the `tensorflow-tpu` wheel plus libtpu from this
# index. Its version must equal the TensorFlow pinned in pyproject.toml: the TPU wheel
# replaces the `tensorflow` package that `pip install -e .` brings, and a different
# version would break tensorflow-probability and tf-keras, which are pinned to it.
LIBTPU_INDEX='https://storage.googleapis.com/libtpu-tf-releases/index.html'

usage() {
  cat <<EOF
Usage: $PROG --name NAME --zone ZONE --bucket gs://BUCKET/LOGDIR [options] [-- FLAGS...]
       $PROG --name NAME --zone ZONE --delete [--project P] [--dry-run]

Creates a Cloud TPU VM, copies this repository to it, installs it with the TPU
build of TensorFlow, starts train_eval with --config.distribute=tpu on every worker
(nohup, so it survives the ssh session), and streams the log of worker 0.

Options:
  --name NAME          TPU VM name (lowercase letters, digits, hyphens)      [required]
  --zone ZONE          zone, e.g. us-central2-b                              [required]
  --bucket GS_PATH     logdir on Cloud Storage, e.g. gs://my-bucket/run1     [required]
  --accelerator TYPE   accelerator type (default: v4-8)
  --version VERSION    TPU software version (default: tpu-ubuntu2204-base)
  --config SPEC        config file and presets (default: configs/dmc.py:train_eval,vision)
  --project PROJECT    Google Cloud project (default: gcloud's configured project)
  --source git|tree    code to copy: 'git' = git archive HEAD (committed files only),
                       'tree' = the working tree without .git (default: git in a checkout)
  --spot               create a Spot VM (cheaper, may be preempted)
  --skip-create        reuse an existing VM: copy, install and start only
  --no-tail            do not stream the log after starting
  --delete             delete the VM and exit
  --dry-run            print every command, one per line prefixed with '+ ', run none
  -h, --help           show this help
  -- FLAGS...          passed on to 'python -m dreamerv3_tf.main', e.g. --config.task=dmc_cheetah_run
EOF
}

# shellcheck source=launchers/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NAME='' ZONE='' BUCKET='' PROJECT=''
ACCELERATOR='v4-8'
VERSION='tpu-ubuntu2204-base'
CONFIG='configs/dmc.py:train_eval,vision'
SOURCE=''
SPOT=0 SKIP_CREATE=0 TAIL=1 DELETE=0 DRY_RUN=0

set_option() {
  case $1 in
    --name) NAME=$2 ;;
    --zone) ZONE=$2 ;;
    --bucket) BUCKET=$2 ;;
    --accelerator) ACCELERATOR=$2 ;;
    --version) VERSION=$2 ;;
    --config) CONFIG=$2 ;;
    --project) PROJECT=$2 ;;
    --source) SOURCE=$2 ;;
    --spot) SPOT=1 ;;
    --skip-create) SKIP_CREATE=1 ;;
    --no-tail) TAIL=0 ;;
    --delete) DELETE=1 ;;
    --dry-run) DRY_RUN=1 ;;
    -h|--help) usage; exit 0 ;;
  esac
}

parse_options '--name --zone --bucket --accelerator --version --config --project --source' \
  '--spot --skip-create --no-tail --delete --dry-run -h --help' "$@"

[[ -n $NAME ]] || die "--name is required (see --help)"
[[ -n $ZONE ]] || die "--zone is required (see --help)"
# Google Cloud's resource names. 'abc-' was refused as not 'starting with a letter',
# and a name of 70 letters passed (gcloud refused it).
[[ $NAME =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] && (( ${#NAME} <= 63 )) \
  || die "--name must be 1 to 63 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen (got '$NAME')"

GCLOUD_SCOPE=("--zone=$ZONE")
if [[ -n $PROJECT ]]; then
  GCLOUD_SCOPE+=("--project=$PROJECT")
fi
DELETE_CMD=(gcloud compute tpus tpu-vm delete "$NAME" "${GCLOUD_SCOPE[@]}" --quiet)
# Without a project gcloud's create (or delete) failed in 6 lines ("Error parsing [tpu]
# ... Failed to find attribute [project]"). Asked of gcloud's local config only.
if (( ! DRY_RUN )); then
  command -v gcloud >/dev/null 2>&1 \
    || die "gcloud not found; install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)"
  if [[ -z $PROJECT && -z $(gcloud config get-value project 2>/dev/null) ]]; then
    die "no Google Cloud project: pass --project, or set one with 'gcloud config set project PROJECT'"
  fi
fi

if (( DELETE )); then
  run "${DELETE_CMD[@]}"
  exit 0
fi

[[ -n $BUCKET ]] || die "--bucket is required (see --help)"
[[ $BUCKET == gs://* ]] \
  || die "--bucket must be a gs:// path such as gs://my-bucket/run1 (got '$BUCKET')"
# Cloud Storage's naming rules: gs://b/x and gs://My-Bucket/x were 'must be a gs:// path'.
BUCKET_NAME=${BUCKET#gs://}
BUCKET_NAME=${BUCKET_NAME%%/*}
BUCKET_MAX=63
[[ $BUCKET_NAME != *.* ]] || BUCKET_MAX=222  # names with dots may be longer
if ! [[ $BUCKET_NAME =~ ^[a-z0-9][-_.a-z0-9]*[a-z0-9]$ ]] \
    || (( ${#BUCKET_NAME} < 3 || ${#BUCKET_NAME} > BUCKET_MAX )); then
  die "--bucket $BUCKET: '$BUCKET_NAME' is no Cloud Storage bucket name (3 to 63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit)"
fi
CONFIG_FILE=$(config_file "$CONFIG" "$REPO")
if [[ $CONFIG_FILE == /* || ! -f $REPO/$CONFIG_FILE ]]; then
  CONFIG_FILE=$(config_file "$CONFIG" "$PWD")
  # Only the checkout is copied to the VM, and main runs there from its root: a full
  # path, or one from the caller's directory, must name a file of the checkout. A file
  # that exists elsewhere was refused as 'not found in <repo>'.
  full=$(full_path "$CONFIG_FILE")
  if [[ ! -f $full ]]; then
    [[ $CONFIG_FILE == /* ]] || die "--config file '$CONFIG_FILE' not found in $REPO"
    die "--config file '$CONFIG_FILE' not found"
  fi
  real=$(realpath "$full")
  repo_real=$(realpath "$REPO")
  [[ $real == "$repo_real"/* ]] \
    || die "--config file '$CONFIG_FILE' is outside the checkout $REPO, and only the checkout is copied to the TPU VM; put it in the checkout (e.g. configs/) and name it from there"
  CONFIG="${real#"$repo_real"/}${CONFIG:${#CONFIG_FILE}}"
  CONFIG_FILE=${real#"$repo_real"/}
fi
(( ${#CONFIG_FILE} == ${#CONFIG} )) || check_presets "$CONFIG_FILE" "${CONFIG:${#CONFIG_FILE} + 1}"
if [[ -z $SOURCE ]]; then
  if [[ -e $REPO/.git ]]; then SOURCE=git; else SOURCE=tree; fi
fi
[[ $SOURCE == git || $SOURCE == tree ]] || die "--source must be 'git' or 'tree' (got '$SOURCE')"
if [[ $SOURCE == git && ! -e $REPO/.git ]]; then
  die "--source git needs a git checkout; $REPO has no .git (use --source tree)"
fi
# git archive HEAD copies committed files only: a config file of one's own not yet
# committed was not on the VM, and main stopped there after it was created and set up.
if [[ $SOURCE == git ]] && ! git -C "$REPO" cat-file -e "HEAD:$CONFIG_FILE" 2>/dev/null; then
  die "--config file '$CONFIG_FILE' is not committed, and --source git copies the files of HEAD only; commit it, or pass --source tree"
fi
# The VM has the checkout and the bucket only: a local checkpoint after `--` was not
# there, and main stopped on the VM after it was created and set up.
remote_only() {
  [[ $1 == gs://* ]] \
    || die "$2=$1 names a local path, which the TPU VM cannot read (only the checkout is copied to it); put it on Cloud Storage and pass its gs:// path"
  printf '%s' "$1"
}
each_path_flag remote_only
TF_VERSION=$(sed -n 's/^[[:space:]]*"tensorflow==\([0-9.]*\)".*/\1/p' "$REPO/pyproject.toml")
[[ -n $TF_VERSION ]] || die "no 'tensorflow==X.Y.Z' pin found in $REPO/pyproject.toml"

# Optional dependencies the suite needs (pyproject extras).
EXTRAS=''
case $(basename "$CONFIG_FILE") in
  atari*.py) EXTRAS='[atari]' ;;
  crafter.py) EXTRAS='[crafter]' ;;
esac

TARBALL="${TMPDIR:-/tmp}/dreamerv3_tf-$NAME.tar.gz"
# Checked before the VM is made: a TMPDIR that is gone failed at the tarball, after
# the VM had been created (it costs money while it exists) and with no line to delete it.
if [[ -n ${TMPDIR:-} && ! ( -d $TMPDIR && -w $TMPDIR ) ]]; then
  die "TMPDIR=$TMPDIR is not a writable directory, and the code's tarball is written there before it is copied to the VM; set TMPDIR to one, or unset it for /tmp"
fi
SSH=(gcloud compute tpus tpu-vm ssh "$NAME" "${GCLOUD_SCOPE[@]}")

# 1. The VM.
if (( ! SKIP_CREATE )); then
  note "1/5 create the TPU VM"
  CREATE=(gcloud compute tpus tpu-vm create "$NAME" "${GCLOUD_SCOPE[@]}"
          "--accelerator-type=$ACCELERATOR" "--version=$VERSION")
  if (( SPOT )); then
    CREATE+=(--spot)
  fi
  run "${CREATE[@]}"
fi

# 2. The code, as one tarball: one copy per worker instead of thousands of small files.
note "2/5 copy the code ($SOURCE) to every worker"
if [[ $SOURCE == git ]]; then
  if [[ -n $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
    note "Warning: uncommitted changes are not copied with --source git (use --source tree)"
  fi
  run git -C "$REPO" archive --format=tar.gz "--output=$TARBALL" HEAD
else
  run tar --exclude=.git --exclude=__pycache__ --exclude='*.egg-info' \
    -czf "$TARBALL" -C "$REPO" .
fi
run gcloud compute tpus tpu-vm scp "$TARBALL" "$NAME:dreamerv3_tf.tar.gz" \
  "${GCLOUD_SCOPE[@]}" --worker=all
run rm -f "$TARBALL"

# 3. Install. EGL libraries let MuJoCo render DMC pixels without a display; main
# preloads jemalloc when installed (dreamerv3_tf/allocator.py).
note "3/5 install on every worker (tensorflow-tpu==$TF_VERSION)"
INSTALL=(
  "rm -rf $REMOTE_DIR"
  "mkdir -p $REMOTE_DIR"
  "tar -xzf ~/dreamerv3_tf.tar.gz -C $REMOTE_DIR"
  "cd $REMOTE_DIR"
  "(sudo apt-get update -q && sudo apt-get install -y -q libegl1 libgl1 libegl-mesa0 libjemalloc2)"
  "python3 -m pip install -q -U pip"
  "python3 -m pip install -q -e $(quote ".$EXTRAS")"
  "python3 -m pip uninstall -q -y tensorflow"
  "python3 -m pip install -q tensorflow-tpu==$TF_VERSION -f $LIBTPU_INDEX"
)
install_cmd=''
for part in "${INSTALL[@]}"; do
  install_cmd+="${install_cmd:+ && }$part"
done
run "${SSH[@]}" --worker=all "--command=$install_cmd"

# 4. Train. Every worker runs the same program; TPUStrategy connects them.
note "4/5 start training on every worker"
TRAIN=(python3 -m dreamerv3_tf.main "--config=$CONFIG" "--logdir=$BUCKET"
       --config.distribute=tpu "${EXTRA[@]}")
train_cmd="cd $REMOTE_DIR && MUJOCO_GL=egl nohup $(join_quoted "${TRAIN[@]}")"
train_cmd+=" > $REMOTE_LOG 2>&1 < /dev/null &"
run "${SSH[@]}" --worker=all "--command=$train_cmd"

echo "Training runs in the background; logdir $BUCKET."
HINT=("launchers/$PROG" --name "$NAME" --zone "$ZONE")
if [[ -n $PROJECT ]]; then
  HINT+=(--project "$PROJECT")
fi
echo "Delete the VM when done: $(join_quoted "${HINT[@]}") --delete"
echo "  (runs: $(join_quoted "${DELETE_CMD[@]}"))"

# 5. Logs of worker 0; Ctrl-C stops the stream, not the training.
if (( TAIL )); then
  note "5/5 stream the log of worker 0 (Ctrl-C stops the stream, not the run)"
  run "${SSH[@]}" --worker=0 "--command=tail -n +1 -f $REMOTE_LOG"
fi
