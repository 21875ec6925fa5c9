/*
 * Test-only LD_PRELOAD module (tests/e2e/test_seccomp.c): confines enclaved
 * to Entrust's CodeSafe 5 syscall allow-list (DESIGN §9) for its whole life.
 * A constructor installs the filter before main runs, so start-up (userdata,
 * keys, entropy, boot apps, the key pool's thread) is confined too; only the
 * dynamic loader's own calls come before it.
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
 * (PR_SET_PDEATHSIG) and leaves when the server is gone. "fallback" calls get
 * SECCOMP_RET_ERRNO(ENOSYS) in both modes, without a log line. Nothing is
 * allowed by default: a missing or unreadable list, an unknown mode or a
 * line that does not parse stops the process before main. Only the native
 * ABI is allowed (libseccomp's default): x32 or i386 calls are off the list.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
    SECCOMP_PRELOAD_EXIT = 97,
    MAX_SYSCALL = 1024,   /* names are looked up for numbers below this */
    MAX_RULES = 256,
    LINE_MAX_LEN = 512,
    SUPERVISOR_POLL_MS = 100,
};

static int mode_kill;
/* Syscall names by number, resolved before the filter goes in. */
static char *names[MAX_SYSCALL];

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

static void say_off_list(int nr)
{
    say(mode_kill ? "seccomp_preload: killed by off-list syscall "
                  : "seccomp_preload: ENOSYS for off-list syscall ");
    say(nr >= 0 && nr < MAX_SYSCALL && names[nr] != NULL ? names[nr] : "?");
    say(" (");
    say_number((unsigned long)nr);
    say(")\n");
}

/* The supervisor: answers every off-list call of the server (its parent)
 * until the server is gone. The notification's pid is the calling thread. */
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

/* The list's names, by kind. */
struct list {
    char allow[MAX_RULES][64];
    size_t allow_count;
    char standin[MAX_RULES][64];
    char standin_for[MAX_RULES][64];
    size_t standin_count;
    char fallback[MAX_RULES][64];
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

/* Copies the word at *p (up to a space, ':' or the end) into dst. */
static int take_word(const char **p, char dst[64])
{
    size_t n = 0;

    while (**p == ' ') {
        (*p)++;
    }
    while ((*p)[n] != '\0' && (*p)[n] != ' ' && (*p)[n] != ':' && (*p)[n] != '\n') {
        if (n == 63) {
            return -1;
        }
        dst[n] = (*p)[n];
        n++;
    }
    dst[n] = '\0';
    *p += n;
    return n > 0 ? 0 : -1;
}

static void parse_line(struct list *l, const char *line)
{
    const char *p = line;
    char kind[64];
    char word[64];

    if (line[0] == '#' || line[0] == '\n' || line[0] == '\0') {
        return;
    }
    if (take_word(&p, kind) != 0 || take_word(&p, word) != 0) {
        die("bad line", line);
    }
    if (strcmp(kind, "allow") == 0 && l->allow_count < MAX_RULES) {
        memcpy(l->allow[l->allow_count++], word, 64);
    } else if (strcmp(kind, "fallback") == 0 && l->fallback_count < MAX_RULES && *p == ':') {
        memcpy(l->fallback[l->fallback_count++], word, 64);
    } else if (strcmp(kind, "standin") == 0 && l->standin_count < MAX_RULES) {
        char for_word[64];

        if (take_word(&p, for_word) != 0 || strcmp(for_word, "for") != 0 ||
            take_word(&p, l->standin_for[l->standin_count]) != 0 || *p != ':') {
            die("bad standin line", line);
        }
        memcpy(l->standin[l->standin_count++], word, 64);
    } else {
        die("bad line", line);
    }
}

static void read_list(struct list *l, const char *path)
{
    char line[LINE_MAX_LEN];
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        die("cannot open the list", path);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        parse_line(l, line);
    }
    fclose(f);
    if (l->allow_count == 0) {
        die("the list allows nothing", path);
    }
}

static void add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);

    if (nr == __NR_SCMP_ERROR || nr < 0) {
        return; /* not a syscall of this architecture (socketcall, stat64, ...) */
    }
    if (seccomp_rule_add(ctx, action, nr, 0) != 0) {
        die("seccomp_rule_add", name);
    }
}

/* In the supervisor, before the filter exists: waits for the server to
 * send the listener's descriptor number down the pipe and takes a copy of
 * that descriptor (pidfd_getfd), then supervises. */
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
    pidfd = (int)syscall(SYS_pidfd_open, server, 0);
    fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, number, 0);
    if (fd < 0) {
        say("seccomp_preload: the supervisor cannot take the listener; killing the server\n");
        kill(server, SIGKILL);
        _exit(1);
    }
    supervise(fd, server);
}

static void install_filter(const struct list *l)
{
    scmp_filter_ctx ctx;
    char summary[160];
    pid_t server = getpid();
    pid_t child;
    int ready[2];
    int fd;

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
    ctx = seccomp_init(SCMP_ACT_NOTIFY);
    if (ctx == NULL) {
        die("seccomp_init", NULL);
    }
    for (size_t i = 0; i < l->allow_count; i++) {
        add_rule(ctx, SCMP_ACT_ALLOW, l->allow[i]);
    }
    for (size_t i = 0; i < l->standin_count; i++) {
        if (is_allowed(l, l->standin_for[i])) {
            add_rule(ctx, SCMP_ACT_ALLOW, l->standin[i]);
        }
    }
    for (size_t i = 0; i < l->fallback_count; i++) {
        add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), l->fallback[i]);
    }
    if (seccomp_load(ctx) != 0) {
        die("seccomp_load", NULL);
    }
    fd = seccomp_notify_fd(ctx);
    if (fd < 0) {
        die("seccomp_notify_fd", NULL);
    }
    /* From here every call is filtered: write and close are listed. Until
     * the supervisor holds its copy, an off-list call would wait for it. */
    if (write(ready[1], &fd, sizeof(fd)) != sizeof(fd)) {
        die("cannot reach the supervisor", NULL);
    }
    close(ready[1]);
    seccomp_release(ctx);
    snprintf(summary, sizeof(summary),
             "seccomp_preload: filter installed before main (mode %s, %zu listed calls)\n",
             mode_kill ? "kill" : "enosys", l->allow_count);
    say(summary);
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
    for (int nr = 0; nr < MAX_SYSCALL; nr++) {
        names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    }
    read_list(&l, path);
    install_filter(&l);
}
