"""tools/as_slower.sh: the command, and what it starts, run on a CPU quota of (CPUs / FACTOR).

The suite's run as a slower machine rests on it (BENCHMARKS.md, session 58). Making a
cgroup needs root and the cpu controller; without them it says so in one line.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'tools', 'as_slower.sh')

needs_cgroup = pytest.mark.skipif(
    os.geteuid() != 0 or not (os.path.exists('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') or
                              os.path.exists('/sys/fs/cgroup/cgroup.controllers')),
    reason='a CPU cgroup needs root and a cgroup file system with the cpu controller')

# Run inside the tool: names its cgroup and that cgroup's quota, spins on one CPU for
# 0.3 s, then reads whether the group was throttled, in a child process as well.
PROBE = r'''
import os, re, subprocess, sys, time
lines = open('/proc/self/cgroup').read().splitlines()
v2 = os.path.exists('/sys/fs/cgroup/cgroup.controllers') and 'cpu' in open(
    '/sys/fs/cgroup/cgroup.controllers').read().split()
if v2:
  path = '/sys/fs/cgroup' + [l for l in lines if l.startswith('0::')][0][3:]
  quota, period = open(path + '/cpu.max').read().split()
else:
  rel = [l.split(':', 2)[2] for l in lines if 'cpu' in l.split(':')[1].split(',')][0]
  path = '/sys/fs/cgroup/cpu' + rel
  quota = open(path + '/cpu.cfs_quota_us').read().strip()
  period = open(path + '/cpu.cfs_period_us').read().strip()
child = subprocess.run(['cat', '/proc/self/cgroup'], capture_output=True, text=True).stdout
end = time.monotonic() + 0.3
while time.monotonic() < end:
  pass
throttled = re.search(r'nr_throttled (\d+)', open(path + '/cpu.stat').read()).group(1)
print(os.path.basename(path), quota, period, throttled, os.path.basename(path) in child)
print(path)
sys.exit(3)
'''


def run(*args, **kwargs):
  return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, **kwargs)


@pytest.mark.parametrize('args', [(), ('2',), ('0.5', 'true'), ('fast', 'true')])
def test_a_missing_or_wrong_factor_is_its_usage_line(args):
  proc = run(*args)
  assert proc.returncode == 2 and proc.stdout == '', proc
  [line] = proc.stderr.splitlines()
  assert line.startswith('Error: ') and 'Usage: tools/as_slower.sh FACTOR COMMAND' in line


@needs_cgroup
def test_the_command_and_its_children_run_capped_and_its_status_comes_back():
  proc = run('4', sys.executable, '-c', PROBE)
  assert proc.returncode == 3, proc.stderr
  assert proc.stderr == ''
  name, quota, period, throttled, child_in = proc.stdout.splitlines()[0].split()
  assert name.startswith('dreamerv3_tf_slower.')
  # A quarter of the machine's CPUs, in 20 ms periods: one CPU spinning 0.3 s is throttled.
  assert (int(quota), int(period)) == (len(os.sched_getaffinity(0)) * 20000 // 4, 20000)
  assert int(throttled) > 0 and child_in == 'True'
  assert not os.path.exists(proc.stdout.splitlines()[1])  # removed once the command ended
