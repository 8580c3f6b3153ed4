/* Hides AVX-512 from every library of a process, as an AVX2-only CPU shows itself.

   Loaded with LD_PRELOAD (tools/as_avx2.sh builds and loads it). Its constructor asks
   the kernel to trap the CPUID instruction in this thread and the threads and forks
   it starts (arch_prctl ARCH_SET_CPUID, which needs the CPU's or the hypervisor's
   CPUID faulting: `grep -w cpuid_fault /proc/cpuinfo`). Each CPUID then raises
   SIGSEGV; the handler runs the real CPUID with the trap off for a moment, clears the
   AVX-512 feature bits, and resumes after the instruction. LLVM (XLA in TensorFlow
   and in jaxlib), oneDNN, numpy and OpenBLAS all read CPUID, so all of them choose
   their AVX2 code, in our processes and in the official JAX code's alike: the flags
   tools/as_avx2.sh sets cap ours only, and jaxlib 0.4.33 refuses --xla_cpu_max_isa.

   It caps the instruction set, not the speed: a machine of the AVX2-only kind has
   other cores, caches and clocks. glibc reads CPUID before any constructor runs;
   GLIBC_TUNABLES caps its string functions (tools/as_avx2.sh sets it).

   A SIGSEGV handler the program installs later (Python's faulthandler, pytest's,
   pygame's) is kept behind this one: sigaction() and signal() on SIGSEGV record it, and
   every fault that is not a trapped CPUID goes to it as before. DREAMERV3_TF_CPUID_MASK_REPORT=1 prints
   the number of CPUIDs emulated at exit, on stderr.

   Build: gcc -O2 -shared -fPIC -o cpuid_mask.so tools/cpuid_mask.c -ldl */

#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static sigaction_fn real_sigaction;
static struct sigaction program_action;  /* the program's own SIGSEGV action */
static volatile sig_atomic_t installed;
static volatile unsigned long emulated;

static long trap_cpuid(int trap) {
  return syscall(SYS_arch_prctl, ARCH_SET_CPUID, trap ? 0 : 1);
}

/* AVX-512 and its extensions, by CPUID leaf 7 (Intel SDM vol. 2A, table 3-8). */
static void hide_avx512(unsigned leaf, unsigned sub, unsigned *a, unsigned *b,
                        unsigned *c, unsigned *d) {
  if (leaf != 7) return;
  if (sub == 0) {
    /* F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31 */
    *b &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) |
            (1u << 28) | (1u << 30) | (1u << 31));
    /* VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14 */
    *c &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
    /* 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, FP16 23 */
    *d &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23));
  } else if (sub == 1) {
    *a &= ~(1u << 5);  /* BF16 */
  }
}

static void pass_on(int sig, siginfo_t *info, void *context) {
  struct sigaction act = program_action;
  if (act.sa_flags & SA_SIGINFO) {
    if (act.sa_sigaction) act.sa_sigaction(sig, info, context);
    return;
  }
  if (act.sa_handler == SIG_DFL || act.sa_handler == SIG_IGN) {
    /* The default action: the faulting instruction runs again and ends the process
       as it would have without this library. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    real_sigaction(SIGSEGV, &dfl, NULL);
    return;
  }
  act.sa_handler(sig);
}

static void on_segv(int sig, siginfo_t *info, void *context) {
  ucontext_t *uc = context;
  greg_t *r = uc->uc_mcontext.gregs;
  /* A trapped CPUID is a general-protection fault (SI_KERNEL) at the instruction
     itself; any other fault's address may not be readable, so it is not read. */
  if (info->si_code == SI_KERNEL) {
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    if (ip[0] == 0x0f && ip[1] == 0xa2) {
      unsigned leaf = (unsigned)r[REG_RAX], sub = (unsigned)r[REG_RCX];
      unsigned a, b, c, d;
      trap_cpuid(0);
      __cpuid_count(leaf, sub, a, b, c, d);
      trap_cpuid(1);
      hide_avx512(leaf, sub, &a, &b, &c, &d);
      r[REG_RAX] = a;  /* CPUID zeroes the registers' upper halves too */
      r[REG_RBX] = b;
      r[REG_RCX] = c;
      r[REG_RDX] = d;
      r[REG_RIP] += 2;
      emulated++;
      return;
    }
  }
  pass_on(sig, info, context);
}

/* The program's SIGSEGV handler goes behind ours (see the top). */
int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  if (!real_sigaction) real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
  if (sig != SIGSEGV || !installed) return real_sigaction(sig, act, old);
  if (old) *old = program_action;
  if (act) program_action = *act;
  return 0;
}

/* signal() and its variants reach glibc's sigaction inside glibc, past the one above:
   pygame's import set its SIGSEGV handler so, and the next CPUID (SDL's) ended the
   process. `flags` are the variant's semantics. */
static sighandler_t set_handler(const char *name, int sig, sighandler_t handler, int flags) {
  if (sig != SIGSEGV || !installed) {
    sighandler_t (*real)(int, sighandler_t) =
        (sighandler_t (*)(int, sighandler_t))dlsym(RTLD_NEXT, name);
    return real(sig, handler);
  }
  sighandler_t before = (program_action.sa_flags & SA_SIGINFO)
                            ? (sighandler_t)program_action.sa_sigaction
                            : program_action.sa_handler;
  memset(&program_action, 0, sizeof program_action);
  program_action.sa_handler = handler;
  program_action.sa_flags = flags;
  return before;
}

sighandler_t signal(int sig, sighandler_t handler) {
  return set_handler("signal", sig, handler, SA_RESTART);
}

sighandler_t bsd_signal(int sig, sighandler_t handler) {
  return set_handler("bsd_signal", sig, handler, SA_RESTART);
}

sighandler_t sysv_signal(int sig, sighandler_t handler) {
  return set_handler("sysv_signal", sig, handler, SA_RESETHAND | SA_NODEFER);
}

static void report(void) {
  char line[96];
  int n = snprintf(line, sizeof line, "cpuid_mask: %lu CPUID instructions emulated in pid %d\n",
                   (unsigned long)emulated, (int)getpid());
  if (n > 0) (void)!write(2, line, (size_t)n);
}

__attribute__((constructor)) static void start(void) {
  real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_sigaction = on_segv;
  act.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&act.sa_mask);
  if (real_sigaction(SIGSEGV, &act, &program_action) != 0) {
    perror("cpuid_mask: sigaction");
    _exit(70);
  }
  installed = 1;
  if (trap_cpuid(1) != 0) {
    perror("cpuid_mask: arch_prctl(ARCH_SET_CPUID) (no CPUID faulting on this CPU?)");
    _exit(70);
  }
  const char *want = getenv("DREAMERV3_TF_CPUID_MASK_REPORT");
  if (want && *want && strcmp(want, "0") != 0) atexit(report);
}
