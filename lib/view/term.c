/* term.c -- finding the terminal to draw on, and making sure it is given
 * back in the state it was found.
 *
 * Under mpiexec a rank's stdout is a pipe to mpiexec, and the rank runs in a
 * session of its own, so /dev/tty cannot be opened.  The terminal is still
 * there: it is the one mpiexec writes to.  On Linux the rank walks up its
 * parent processes in /proc to the first one with a controlling terminal (the
 * mpiexec the user typed) and looks at that process's stdout: when it is
 * that terminal, the rank opens it by its path; when it is a file or a pipe,
 * the user redirected the output and wants plain text.  Elsewhere (macOS)
 * the path is given with --tty or PP_TTY.
 * A process killed with SIGKILL cannot clean up after itself, so a small
 * guardian process waits for the drawing rank to end and restores the
 * terminal when it ended without saying goodbye.
 * Left out on purpose: drawing.
 */
#include "view.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int open_tty(const char *path)
{
    int fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0 && !isatty(fd)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads a process's parent and controlling terminal from /proc/PID/stat. */
static int read_stat(int pid, int *ppid, long *tty)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name is in parentheses and may hold spaces: read after the last ')'. */
    const char *p = strrchr(buf, ')');
    int pgrp, session;
    if (!p || sscanf(p + 2, "%*c %d %d %d %ld", ppid, &pgrp, &session, tty) != 4) return -1;
    return 0;
}

/* Linux: the terminal of the nearest ancestor that has one, if its stdout goes there. */
static int find_from_parents(char *path, size_t n, char *why, size_t wn, int *keys_stdin)
{
    int pid = getppid();
    for (int depth = 0; pid > 1 && depth < 32; depth++) {
        int ppid;
        long tty;
        if (read_stat(pid, &ppid, &tty) != 0) break;
        if (tty != 0) {
            char link[64];
            struct stat st;
            snprintf(link, sizeof link, "/proc/%d/fd/1", pid);
            if (stat(link, &st) != 0 || !S_ISCHR(st.st_mode) || (long)st.st_rdev != tty) {
                snprintf(why, wn, "the output is redirected");
                return -1;
            }
            /* Does the launcher read the terminal?  Then it forwards the keys. */
            struct stat in;
            snprintf(link, sizeof link, "/proc/%d/fd/0", pid);
            *keys_stdin = stat(link, &in) == 0 && S_ISCHR(in.st_mode) && (long)in.st_rdev == tty;
            snprintf(link, sizeof link, "/proc/%d/fd/1", pid);
            ssize_t k = readlink(link, path, n - 1);
            if (k <= 0) break;
            path[k] = '\0';
            int fd = open_tty(path);
            if (fd < 0) snprintf(why, wn, "cannot open the terminal %s", path);
            return fd;
        }
        pid = ppid;
    }
    snprintf(why, wn, "no terminal found (give --tty PATH, the output of the tty command)");
    return -1;
}

int pp_term_find(const char *named, char *path, size_t n, char *why, size_t wn, int *bad, int *keys_stdin)
{
    struct stat in;
    *bad = 0;
    /* Without /proc to ask: a pipe on stdin is mpiexec forwarding the terminal. */
    *keys_stdin = fstat(STDIN_FILENO, &in) == 0 && (S_ISFIFO(in.st_mode) || S_ISSOCK(in.st_mode) || isatty(STDIN_FILENO));
    if (!named || !named[0]) named = getenv("PP_TTY");
    if (named && named[0]) {
        snprintf(path, n, "%s", named);
        int fd = open_tty(path);
        if (fd < 0) {
            snprintf(why, wn, "'%s' is not a terminal that can be opened (give the output of the tty command)", named);
            *bad = 1;
        }
        return fd;
    }
    if (isatty(STDOUT_FILENO)) {  /* run without mpiexec, or by a launcher that keeps the terminal */
        const char *name = ttyname(STDOUT_FILENO);
        snprintf(path, n, "%s", name ? name : "/dev/tty");
        int fd = open_tty(path);
        if (fd >= 0) return fd;
    }
    return find_from_parents(path, n, why, wn, keys_stdin);
}

/* The guardian: waits for its parent to end; restores unless told all is
 * well, and then says why the terminal came back this way: the watchdog's
 * report if there is one (`late`, shared memory the hang's finder writes),
 * else one line. */
static void guard(int fd, int pipe_in, const struct termios *saved, const char *restore, const char *prog,
                  const volatile char *late)
{
    setsid();   /* out of the rank's process group: a kill aimed at the rank misses it */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    /* Keep the rank's stdout and stderr (pipes to mpiexec) open until the
     * terminal is restored: mpiexec ends only when they close, so the shell
     * prompt cannot come back before the screen does. */
    long maxfd = sysconf(_SC_OPEN_MAX);
    for (int k = 3; k < (maxfd > 0 && maxfd < 65536 ? maxfd : 1024); k++)
        if (k != fd && k != pipe_in) close(k);
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) {
        dup2(null, 0);
        if (null > 2) close(null);
    }
    char c = 0;
    ssize_t got;
    do got = read(pipe_in, &c, 1);
    while (got < 0 && errno == EINTR);
    if (got == 1 && c == 'x') _exit(0);
    if (fd >= 0) {
        ssize_t w = write(fd, restore, strlen(restore));
        (void)w;
        tcsetattr(fd, TCSANOW, saved);
    }
    char text[16384];
    size_t n = 0;
    while (late && late[n] && n < sizeof text - 1) text[n] = late[n], n++;
    text[n] = '\0';
    /* On the terminal itself when there is one: mpiexec, ending the job, may
     * already have stopped reading the rank's stderr.  Plain write()s: this
     * process was forked from one with threads. */
    int to = fd >= 0 ? fd : 2;
    const char *parts[4] = {prog, ": ", "", ""};
    if (n && fd >= 0) parts[2] = text;
    else if (!n) {
        parts[2] = "rank 0 ended without saying goodbye (it was killed, or mpiexec ended it when another rank died)";
        parts[3] = fd >= 0 ? "; the terminal is restored\n" : "\n";
    } else _exit(0);
    for (int k = 0; k < 4; k++) {
        ssize_t w = write(to, parts[k], strlen(parts[k]));
        (void)w;
    }
    _exit(0);
}

/* What a fatal signal's handler needs to give the terminal back, and the
 * line rank 0 says (written in advance: a handler may not format). */
static int sig_fd = -1;
static struct termios sig_saved;
static char sig_restore[256];
/* The signals that end a rank through on_fatal. */
static const int FATAL[] = {SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
static char sig_line[5][160];   /* SIGTERM, SIGHUP, SIGQUIT, SIGINT, SIGPIPE; "" on the other ranks */
/* Files being written (FILE.tmp, renamed into place once whole): a rank
 * ended by a signal removes them, so that nothing is left half-written. */
enum { MAX_DOOMED = 8, DOOMED_PATH = 320 };
static char doomed[MAX_DOOMED][DOOMED_PATH];
static volatile sig_atomic_t doomed_set[MAX_DOOMED];
static int guard_pipe = -1;     /* the guardian's: told all is well once the line is said */
static const char *guard_late;  /* the text the guardian would print instead (shared memory) */

/* SIGTERM, SIGHUP, SIGQUIT (and a Ctrl-C that could not end cleanly):
 * restore the terminal here and now (write and tcsetattr are safe in a
 * handler), say why in one line (rank 0), then die of the signal as if
 * there were no handler. */
static void on_fatal(int sig)
{
    if (sig_fd >= 0) {
        ssize_t w = write(sig_fd, sig_restore, strlen(sig_restore));
        (void)w;
        tcsetattr(sig_fd, TCSANOW, &sig_saved);
    }
    for (int k = 0; k < MAX_DOOMED; k++)
        if (doomed_set[k]) unlink(doomed[k]);
    const char *line = sig == SIGTERM ? sig_line[0] : sig == SIGHUP ? sig_line[1] : sig == SIGQUIT ? sig_line[2]
                     : sig == SIGINT  ? sig_line[3] : sig == SIGPIPE ? sig_line[4] : "";
    if (line[0] && guard_late && guard_late[0]) {
        /* Another rank's error (or the watchdog's report) is waiting to be
         * printed: that is the reason; the guardian prints it. */
    } else if (line[0]) {   /* on the terminal itself when the view has it: mpiexec may stop passing stderr on */
        ssize_t w = write(sig_fd >= 0 ? sig_fd : STDERR_FILENO, line, strlen(line));
        if (guard_pipe >= 0) w = write(guard_pipe, "x", 1);   /* the reason is said: the guardian stays quiet */
        (void)w;
    } else {
        /* The other ranks die a moment later, so that rank 0 is not ended
         * by mpiexec (which kills the rest once one rank dies) before it
         * has said why. */
        struct timespec pause = {0, 200000000L};
        nanosleep(&pause, NULL);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Ctrl-C: mpiexec passes SIGINT on to every rank.  Each rank notes it and
 * the demo ends as if q had been pressed: every rank finishes, MPI ends
 * cleanly, and mpiexec has nothing to complain about.  If that has not
 * happened within INTERRUPT_S seconds, the alarm ends the rank the hard way
 * (terminal restored first). */
enum { INTERRUPT_S = 5 };
volatile sig_atomic_t pp_interrupted;

static void on_alarm(int sig)
{
    (void)sig;
    on_fatal(SIGINT);
}

static void on_interrupt(int sig)
{
    (void)sig;
    if (pp_interrupted) on_fatal(SIGINT);   /* a second Ctrl-C: at once */
    pp_interrupted = 1;
    alarm(INTERRUPT_S);
}

void pp_term_catch_interrupt(const char *prog, int speaker)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    const char *names[] = {"SIGTERM (sent to mpiexec, or to this rank)", "SIGHUP (the terminal closed)",
                           "SIGQUIT", "Ctrl-C: the run had not stopped 5 s later",
                           "SIGPIPE (what read its output stopped reading)"};
    for (int k = 0; k < 5; k++)
        if (speaker) snprintf(sig_line[k], sizeof sig_line[k], "%s: ended by %s\n", prog, names[k]);
    sa.sa_handler = on_fatal;
    for (size_t k = 0; k < sizeof FATAL / sizeof FATAL[0]; k++) sigaction(FATAL[k], &sa, NULL);
}

void pp_term_doomed(const char *path, int writing)
{
    int free_slot = -1;
    for (int k = 0; k < MAX_DOOMED; k++) {
        if (doomed_set[k] && strcmp(doomed[k], path) == 0) {
            if (!writing) doomed_set[k] = 0;
            return;   /* known already, or now forgotten */
        }
        if (!doomed_set[k] && free_slot < 0) free_slot = k;
    }
    if (writing && free_slot >= 0 && strlen(path) < DOOMED_PATH) {
        memcpy(doomed[free_slot], path, strlen(path) + 1);
        doomed_set[free_slot] = 1;   /* set last: a handler reads only whole names */
    }
}

int pp_term_guard(int fd, const struct termios *saved, const char *restore, const char *prog, const char *late)
{
    if (fd >= 0) {
        sig_fd = fd;
        sig_saved = *saved;
        snprintf(sig_restore, sizeof sig_restore, "%s", restore);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal;
        sigemptyset(&sa.sa_mask);
        for (size_t k = 0; k < sizeof FATAL / sizeof FATAL[0]; k++) sigaction(FATAL[k], &sa, NULL);
    }

    int p[2];
    if (pipe(p) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        /* Fork again and leave: the guardian becomes init's child, and no
         * zombie waits for the rank to reap it. */
        close(p[1]);
        if (fork() == 0) guard(fd, p[0], saved, restore, prog, late);
        _exit(0);
    }
    close(p[0]);
    waitpid(pid, NULL, 0);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    guard_late = late;
    return guard_pipe = p[1];
}

void pp_term_unguard(int pipe_fd)
{
    sig_fd = -1;   /* the handlers stay: they still say why (rank 0) */
    if (pipe_fd < 0) return;
    if (pipe_fd == guard_pipe) guard_pipe = -1;
    ssize_t w = write(pipe_fd, "x", 1);
    (void)w;
    close(pipe_fd);
}
