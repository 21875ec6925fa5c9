/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Test-only LD_PRELOAD module (tests/e2e/test_seccomp.c): confines enclaved
 * to Entrust's CodeSafe 5 syscall allow-list (DESIGN §9) for its whole life.
 * A constructor installs the filter before main runs, so start-up (userdata,
 * keys, entropy, boot apps, the key pool's thread) is confined too; only the
 * dynamic loader's and libc's own start-up calls come before it.
 *
 * The list is data: $SECCOMP_PRELOAD_LIST names tests/data/codesafe5-syscalls.txt
 * (or an edited copy), whose "allow", "standin" and "fallback" lines are
 * described in that file. $SECCOMP_PRELOAD_MODE picks the firmware:
 *
 *   kill     before 13.7: a call off the list ends the process. The
 *            supervisor writes "seccomp_preload: killed by off-list syscall
 *            NAME (N)" and sends the server SIGKILL.
 *   enosys   from 13.7: a call off the list fails with ENOSYS. The
 *            supervisor writes "seccomp_preload: ENOSYS for off-list syscall
 *            NAME (N)" and answers -ENOSYS, and the server goes on, so the
 *            test sees what it does without the call and fails on the line
 *            (the server must not silently lose a feature).
 *
 * Off-list calls go to a supervisor (SECCOMP_RET_USER_NOTIF), a process the
 * constructor forks just before the filter goes in and hands the listener
 * to (pidfd_getfd): a SIGSYS handler cannot name calls made while glibc
 * blocks every signal (pthread_create's clone); the supervisor names them
 * all, from any thread. It is not confined, dies with the server
 * (PR_SET_PDEATHSIG) and leaves when the server is gone. "fallback" calls
 * get SECCOMP_RET_ERRNO(ENOSYS) in both modes, without a log line.
 *
 * The server side allocates nothing before the filter is in: the list is
 * read with open/read into static storage and the BPF program is built by
 * hand (libseccomp is used only to turn names into numbers, which does not
 * allocate). Otherwise the preload's own first malloc would run glibc's
 * one-time malloc set-up (and its getrandom) before the filter, hiding it.
 *
 * Nothing is allowed by default: a missing or unreadable list, an unknown
 * mode or a line that does not parse stops the process before main. Only
 * the native ABI is allowed: another architecture's calls (i386, and x32 on
 * x86_64) are off the list.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp_preload: add this architecture's AUDIT_ARCH"
#endif

enum {
    SECCOMP_PRELOAD_EXIT = 97,
    MAX_SYSCALL = 1024, /* the supervisor names numbers below this */
    MAX_RULES = 256,
    LIST_MAX = 64 * 1024,
    SUPERVISOR_POLL_MS = 100,
    X32_SYSCALL_BIT = 0x40000000,
};

static int mode_kill;

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

static void say_number(unsigned long v)
{
    char digits[24];
    char *p = digits + sizeof(digits);

    *--p = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && p > digits);
    say(p);
}

static void die(const char *what, const char *detail)
{
    say("seccomp_preload: cannot install the filter: ");
    say(what);
    if (detail != NULL) {
        say(": ");
        say(detail);
    }
    say("\n");
    _exit(SECCOMP_PRELOAD_EXIT);
}

/* {======================================================================
 * The supervisor (its own process, not confined; it may allocate).
 * ======================================================================= */

static char *names[MAX_SYSCALL];

static void say_off_list(int nr)
{
    say(mode_kill ? "seccomp_preload: killed by off-list syscall "
                  : "seccomp_preload: ENOSYS for off-list syscall ");
    say(nr >= 0 && nr < MAX_SYSCALL && names[nr] != NULL ? names[nr] : "?");
    say(" (");
    say_number((unsigned long)nr);
    say(")\n");
}

/* Answers every off-list call of the server until the server is gone. The
 * notification's pid is the calling thread. */
static void supervise(int notify_fd, pid_t server)
{
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;

    for (;;) {
        struct pollfd p = {.fd = notify_fd, .events = POLLIN};
        int n = poll(&p, 1, SUPERVISOR_POLL_MS);

        if (getppid() != server) {
            _exit(0);
        }
        if (n <= 0) {
            continue;
        }
        memset(&req, 0, sizeof(req));
        if (ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
            continue; /* the caller went away, or an interrupted wait */
        }
        say_off_list(req.data.nr);
        if (mode_kill) {
            kill(server, SIGKILL);
            _exit(0);
        }
        memset(&resp, 0, sizeof(resp));
        resp.id = req.id;
        resp.error = -ENOSYS;
        (void)ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
    }
}

/* Waits for the server to send the listener's descriptor number down the
 * pipe, takes a copy of that descriptor (pidfd_getfd), then supervises. */
static void run_supervisor(int ready_fd, pid_t server)
{
    int number = -1;
    int pidfd;
    int fd;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != server || read(ready_fd, &number, sizeof(number)) != sizeof(number) ||
        number < 0) {
        _exit(0);
    }
    for (int nr = 0; nr < MAX_SYSCALL; nr++) {
        names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    }
    pidfd = (int)syscall(SYS_pidfd_open, server, 0);
    fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, number, 0);
    if (fd < 0) {
        say("seccomp_preload: the supervisor cannot take the listener; killing the server\n");
        kill(server, SIGKILL);
        _exit(1);
    }
    supervise(fd, server);
}

/* }====================================================================== */

/* {======================================================================
 * The list, read into static storage (no allocation in the server).
 * ======================================================================= */

struct list {
    char text[LIST_MAX];
    const char *allow[MAX_RULES];
    size_t allow_count;
    const char *standin[MAX_RULES];
    const char *standin_for[MAX_RULES];
    size_t standin_count;
    const char *fallback[MAX_RULES];
    size_t fallback_count;
};

static int is_allowed(const struct list *l, const char *name)
{
    for (size_t i = 0; i < l->allow_count; i++) {
        if (strcmp(l->allow[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Cuts the word at *p (up to a space, ':' or the line's end) in place and
 * returns it; *sep gets the byte that ended it. */
static char *cut_word(char **p, char *sep)
{
    char *w;

    while (**p == ' ') {
        (*p)++;
    }
    w = *p;
    while (**p != '\0' && **p != ' ' && **p != ':') {
        (*p)++;
    }
    *sep = **p;
    if (**p != '\0') {
        **p = '\0';
        (*p)++;
    }
    return w;
}

static void add(const char **table, size_t *count, const char *name, const char *line)
{
    if (*count == MAX_RULES || name[0] == '\0') {
        die("bad line", line);
    }
    table[(*count)++] = name;
}

/* Parses one line (NUL-terminated, no newline). */
static void parse_line(struct list *l, char *line)
{
    char *p = line;
    char sep = 0;
    char *kind;
    char *word;

    if (line[0] == '#' || line[0] == '\0') {
        return;
    }
    kind = cut_word(&p, &sep);
    word = cut_word(&p, &sep);
    if (strcmp(kind, "allow") == 0 && sep == ' ') {
        add(l->allow, &l->allow_count, word, line);
    } else if (strcmp(kind, "fallback") == 0 && sep == ':') {
        add(l->fallback, &l->fallback_count, word, line);
    } else if (strcmp(kind, "standin") == 0 && sep == ' ' &&
               strcmp(cut_word(&p, &sep), "for") == 0 && sep == ' ') {
        const char *ppc = cut_word(&p, &sep);

        if (sep != ':') {
            die("bad standin line", line);
        }
        l->standin_for[l->standin_count] = ppc;
        add(l->standin, &l->standin_count, word, line);
    } else {
        die("bad line", kind);
    }
}

static void read_list(struct list *l, const char *path)
{
    size_t len = 0;
    char *line;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        die("cannot open the list", path);
    }
    for (;;) {
        ssize_t n = read(fd, l->text + len, sizeof(l->text) - 1 - len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            die("cannot read the list", path);
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len == sizeof(l->text) - 1) {
            die("the list is over 64 KiB", path);
        }
    }
    close(fd);
    l->text[len] = '\0';
    line = l->text;
    while (*line != '\0') {
        char *end = strchr(line, '\n');

        if (end != NULL) {
            *end = '\0';
        }
        parse_line(l, line);
        if (end == NULL) {
            break;
        }
        line = end + 1;
    }
    if (l->allow_count == 0) {
        die("the list allows nothing", path);
    }
}

/* }====================================================================== */

/* {======================================================================
 * The filter, as a BPF program built in static storage.
 * ======================================================================= */

struct program {
    struct sock_filter insns[8 + 2 * 3 * MAX_RULES];
    size_t count;
};

static void emit(struct program *p, struct sock_filter insn)
{
    if (p->count == sizeof(p->insns) / sizeof(p->insns[0])) {
        die("the filter is too long", NULL);
    }
    p->insns[p->count++] = insn;
}

/* "if nr == NAME's number, return action"; names this machine lacks
 * (socketcall, stat64, ...) add nothing. */
static void emit_rule(struct program *p, const char *name, uint32_t action)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr == __NR_SCMP_ERROR || nr < 0) {
        return;
    }
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1));
    emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action));
}

static void build_program(struct program *p, const struct list *l)
{
    const uint32_t off_list = SECCOMP_RET_USER_NOTIF;

    /* Another ABI's numbers mean other calls: all off the list. */
    emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                         offsetof(struct seccomp_data, arch)));
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0));
    emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, off_list));
    emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                         offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
    emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1));
    emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, off_list));
#endif
    for (size_t i = 0; i < l->allow_count; i++) {
        emit_rule(p, l->allow[i], SECCOMP_RET_ALLOW);
    }
    for (size_t i = 0; i < l->standin_count; i++) {
        if (is_allowed(l, l->standin_for[i])) {
            emit_rule(p, l->standin[i], SECCOMP_RET_ALLOW);
        }
    }
    for (size_t i = 0; i < l->fallback_count; i++) {
        emit_rule(p, l->fallback[i], SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
    }
    emit(p, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, off_list));
}

/* }====================================================================== */

static void install_filter(const struct list *l)
{
    static struct program prog;
    struct sock_fprog fprog;
    pid_t server = getpid();
    pid_t child;
    int ready[2];
    int fd;

    build_program(&prog, l);
    /* The supervisor is forked before the filter exists, so it is not
     * confined and the server's fork needs no listed call. */
    if (pipe(ready) != 0) {
        die("pipe", NULL);
    }
    child = fork();
    if (child < 0) {
        die("fork", NULL);
    }
    if (child == 0) {
        close(ready[1]);
        run_supervisor(ready[0], server);
        _exit(0);
    }
    close(ready[0]);
    /* Lets the supervisor take a descriptor from us under Yama's scope 1. */
    (void)prctl(PR_SET_PTRACER, (unsigned long)child);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        die("PR_SET_NO_NEW_PRIVS", NULL);
    }
    fprog.len = (unsigned short)prog.count;
    fprog.filter = prog.insns;
    fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                      &fprog);
    if (fd < 0) {
        die("seccomp(SECCOMP_SET_MODE_FILTER)", strerror(errno));
    }
    /* From here every call is filtered: write and close are listed. Until
     * the supervisor holds its copy, an off-list call would wait for it. */
    if (write(ready[1], &fd, sizeof(fd)) != sizeof(fd)) {
        die("cannot reach the supervisor", NULL);
    }
    close(ready[1]);
    say("seccomp_preload: filter installed before main (mode ");
    say(mode_kill ? "kill" : "enosys");
    say(", ");
    say_number(l->allow_count);
    say(" listed calls)\n");
}

__attribute__((constructor)) static void seccomp_preload_init(void)
{
    static struct list l;
    const char *path = getenv("SECCOMP_PRELOAD_LIST");
    const char *mode = getenv("SECCOMP_PRELOAD_MODE");

    if (path == NULL || mode == NULL) {
        die("SECCOMP_PRELOAD_LIST and SECCOMP_PRELOAD_MODE must be set", NULL);
    }
    if (strcmp(mode, "kill") == 0) {
        mode_kill = 1;
    } else if (strcmp(mode, "enosys") != 0) {
        die("SECCOMP_PRELOAD_MODE must be kill or enosys", mode);
    }
    read_list(&l, path);
    install_filter(&l);
}
