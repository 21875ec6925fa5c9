/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Test-only LD_PRELOAD module (tests/e2e/test_seccomp.c): confines enclaved
 * to a CodeSafe-like syscall allow-list (DESIGN §9) once it is serving.
 *
 * It interposes listen(). When the real listen() succeeds, startup is over
 * (config, userdata, keys, RNG seeding, the Lua app boot all run before the
 * driver listens), and a seccomp filter goes in that allows only the
 * syscalls below, by name. Anything else raises SIGSYS; the handler writes
 * "seccomp_preload: forbidden syscall N" to stderr with write() and exits
 * with SECCOMP_PRELOAD_EXIT, so the test sees an unclean exit and the log
 * names the syscall (ausyscall N, or scmp_sys_resolver N).
 *
 * The CodeSafe socket set (IPC wrappers there), with what x86_64 glibc 2.36
 * issues for each (checked with strace -f):
 *   socket bind listen accept connect read write setsockopt
 *                      same-named syscalls (accept() is accept, not accept4)
 *   sendto recvfrom    send() and recv() are sendto/recvfrom
 *   poll ppoll         poll() is poll on x86_64; ppoll where the arch has no
 *                      poll (aarch64, riscv)
 *   select pselect6    select() is pselect6 in glibc 2.36 on x86_64; the
 *                      legacy select where glibc still uses it
 * Beyond that set, what the server's steady state needs:
 *   getsockname        io_poll reads the bound port right after listen()
 *   close              closing accepted connections
 *   fcntl              O_NONBLOCK on accepted fds (plain F_GETFL/F_SETFL)
 *   brk mmap munmap mremap
 *                      malloc/realloc/free (protocol buffers, Lua states)
 *   madvise mprotect   glibc malloc trimming and heap growth
 *   futex              glibc-internal locks (stdio), uncontended in practice
 *   rt_sigaction rt_sigprocmask
 *                      glibc signal handling (abort); rt_sigaction is refused
 *                      for SIGSYS so nothing can disarm this filter
 *   rt_sigreturn       return from the SIGTERM/SIGINT handler
 *   clock_gettime      the clocks (vDSO normally; the syscall is the fallback
 *                      when the clocksource has no vDSO support)
 *   pread64            Linux platform seam only: GetStats re-reads
 *                      /proc/self/statm from an fd opened before listen()
 *                      (platform_linux.c); the SEE's platform file has its
 *                      own RSS source. No openat: no file is opened after
 *                      startup.
 *   exit exit_group    shutdown
 * Deliberately absent: getrandom (denied on the SEE; the RNG reads an
 * already-open /dev/urandom fd, or nothing once seeded), openat, fstat,
 * nanosleep/clock_nanosleep (the server never sleeps), and everything the
 * SEE lacks: epoll_*, eventfd2, pipe2, accept4, writev, sendmsg, recvmsg.
 *
 * Names this architecture does not have (poll on aarch64, ...) are skipped.
 * Only the native architecture is allowed; another ABI (x32, i386) dies too.
 */
#include <dlfcn.h>
#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


enum { SECCOMP_PRELOAD_EXIT = 97 };

static const char *const allowed[] = {
    "socket", "bind", "listen", "accept", "connect", "read", "write",
    "sendto", "recvfrom", "setsockopt", "poll", "ppoll", "select", "pselect6",
    "getsockname", "close", "fcntl",
    "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
    "futex", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "clock_gettime", "pread64", "exit", "exit_group",
};

static void say(const char *text)
{
    size_t len = strlen(text);

    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, text, len);
        if (n <= 0) {
            return;
        }
        text += n;
        len -= (size_t)n;
    }
}

static void on_sigsys(int signum, siginfo_t *info, void *uctx)
{
    char digits[16];
    char *p = digits + sizeof(digits);
    int nr = info->si_syscall;

    (void)signum;
    (void)uctx;
    *--p = '\0';
    *--p = '\n';
    do {
        *--p = (char)('0' + nr % 10);
        nr /= 10;
    } while (nr > 0 && p > digits);
    say("seccomp_preload: forbidden syscall ");
    say(p);
    _exit(SECCOMP_PRELOAD_EXIT);
}

static void die(const char *what)
{
    say("seccomp_preload: cannot install the filter: ");
    say(what);
    say("\n");
    _exit(SECCOMP_PRELOAD_EXIT);
}

static void install_filter(void)
{
    struct sigaction sa;
    scmp_filter_ctx ctx;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL) != 0) {
        die("sigaction(SIGSYS)");
    }
    ctx = seccomp_init(SCMP_ACT_TRAP);
    if (ctx == NULL) {
        die("seccomp_init");
    }
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        int nr = seccomp_syscall_resolve_name(allowed[i]);
        int rc;

        if (nr == __NR_SCMP_ERROR || nr < 0) {
            continue; /* not a syscall on this architecture */
        }
        if (strcmp(allowed[i], "rt_sigaction") == 0) {
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                  SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)SIGSYS));
        } else {
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        }
        if (rc != 0) {
            seccomp_release(ctx);
            die(allowed[i]);
        }
    }
    if (seccomp_load(ctx) != 0) {
        seccomp_release(ctx);
        die("seccomp_load");
    }
    seccomp_release(ctx);
    say("seccomp_preload: filter installed\n");
}

int listen(int fd, int backlog)
{
    static int installed;
    int (*real_listen)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
    int rc;

    if (real_listen == NULL) {
        errno = ENOSYS;
        return -1;
    }
    rc = real_listen(fd, backlog);
    if (rc == 0 && !installed) {
        int saved = errno;
        installed = 1;
        install_filter();
        errno = saved;
    }
    return rc;
}
