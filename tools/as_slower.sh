#!/usr/bin/env bash
# Runs a command as if each CPU of this machine were FACTOR times slower:
#   tools/as_slower.sh 1.5 python -m pytest tests
# CPU kinds differ 2-3x in speed (README: the suite on both kinds), and a test that
# waits for a process or a thread by the clock may pass on the fastest only. A CPU cgroup
# caps the command and every process it starts to (CPUs / FACTOR) CPUs of time, in short
# periods so that a pause lasts at most PERIOD_US. It needs root and a cgroup file system
# with the cpu controller (v1 or v2). With tools/as_avx2.sh it stands in for a slower
# AVX2-only machine: tools/as_slower.sh 1.5 tools/as_avx2.sh python -m pytest tests
set -uo pipefail
usage='Usage: tools/as_slower.sh FACTOR COMMAND [ARG...]: runs COMMAND with the CPUs FACTOR (>= 1) times slower, e.g. tools/as_slower.sh 1.5 python -m pytest tests'
if [ $# -ge 1 ] && { [ "$1" = -h ] || [ "$1" = --help ]; }; then
  echo "$usage"
  exit 0
fi
if [ $# -lt 2 ]; then
  echo "Error: a FACTOR and a command are needed. $usage" >&2
  exit 2
fi
factor=$1; shift
if ! [[ $factor =~ ^[0-9]+([.][0-9]+)?$ ]] || ! awk -v f="$factor" 'BEGIN { exit !(f >= 1) }'; then
  echo "Error: FACTOR '$factor' is no number >= 1. $usage" >&2
  exit 2
fi
PERIOD_US=${PERIOD_US:-20000}
cpus=$(nproc)
quota=$(awk -v c="$cpus" -v p="$PERIOD_US" -v f="$factor" 'BEGIN { printf "%d", c * p / f }')
name="dreamerv3_tf_slower.$$"
# This process's own cgroup: the new one nests in it, so a container's limits still hold.
if [ -e /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
  parent=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
  group=$parent/$name
  if ! { grep -qw cpu "$parent/cgroup.subtree_control" ||
         echo +cpu > "$parent/cgroup.subtree_control"; } 2>/dev/null ||
     ! mkdir "$group" 2>/dev/null || ! echo "$quota $PERIOD_US" > "$group/cpu.max" 2>/dev/null; then
    rmdir "$group" 2>/dev/null
    echo "Error: cannot make a CPU cgroup under $parent (root is needed, and a cgroup with no processes of its own)" >&2
    exit 2
  fi
  procs=cgroup.procs
elif [ -e /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
  parent=/sys/fs/cgroup/cpu$(sed -n 's/^[0-9]*:\([^:]*,\)\{0,1\}cpu\(,[^:]*\)\{0,1\}:\(.*\)$/\3/p' /proc/self/cgroup | head -1)
  group=${parent%/}/$name
  if ! mkdir "$group" 2>/dev/null || ! echo "$PERIOD_US" 2>/dev/null > "$group/cpu.cfs_period_us" ||
     ! echo "$quota" 2>/dev/null > "$group/cpu.cfs_quota_us"; then
    rmdir "$group" 2>/dev/null
    echo "Error: cannot make a CPU cgroup under $parent (root is needed)" >&2
    exit 2
  fi
  procs=tasks
else
  echo "Error: no cgroup file system with the cpu controller is mounted under /sys/fs/cgroup" >&2
  exit 2
fi
# This shell joins the group so that the command starts in it; it leaves before the group
# is removed. A process the command left running keeps the group: then it stays, named.
if ! echo $$ 2>/dev/null > "$group/$procs"; then
  rmdir "$group"
  echo "Error: cannot move this process into $group" >&2
  exit 2
fi
trap : INT HUP TERM  # the command ends by them as it would; this shell still cleans up
"$@"
status=$?
echo $$ > "$parent/$procs"
rmdir "$group" 2>/dev/null || echo "as_slower.sh: $group is left: processes of the command still run in it" >&2
exit $status
