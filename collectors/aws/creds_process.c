/*
 * creds_process: a profile's credential_process, run by /bin/sh in a process
 * group of its own (stdin on /dev/null, stderr read and thrown away, no other
 * descriptor inherited), the group killed after its timeout; its output is a
 * Version 1 credentials document.
 */
#define _GNU_SOURCE /* explicit_bzero, pipe2, posix_spawn_file_actions_addclosefrom_np */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collectors/aws/provider_impl.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/log.h"

struct process_source {
    char *command; /* owned; may hold secrets: never logged */
    char *profile; /* owned; the profile that names it, for the log */
    double timeout;
};

enum helper_outcome { HELPER_EXITED, HELPER_TIMEOUT, HELPER_TOO_MUCH, HELPER_FAILED };

/* What a helper run produced: its status when it exited, how many bytes it
 * wrote to stderr (read and thrown away: a helper may print secrets there). */
struct helper_result {
    enum helper_outcome outcome;
    int status; /* waitpid status, when HELPER_EXITED */
    size_t stderr_bytes;
};

/* Kills the helper's whole process group and reaps the helper. */
static void helper_kill(pid_t pid)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/*
 * Starts /bin/sh -c command in a process group of its own: stdin on
 * /dev/null, stdout on *out_fd, stderr on *err_fd (both read ends are the
 * caller's, close-on-exec), every other descriptor closed, signal mask and
 * dispositions reset (this process blocks and ignores some). Returns the
 * pid, or -1.
 */
static pid_t helper_spawn(const char *command, int *out_fd, int *err_fd)
{
    extern char **environ;
    int o[2] = {-1, -1}, e[2] = {-1, -1};
    if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) {
        for (int i = 0; i < 2; i++)
            if (o[i] >= 0)
                close(o[i]);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    pid_t pid = -1;
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    if (posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, o[1], STDOUT_FILENO) == 0 &&
        posix_spawn_file_actions_adddup2(&fa, e[1], STDERR_FILENO) == 0 &&
        posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1) == 0 &&
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                          POSIX_SPAWN_SETSIGDEF) == 0 &&
        posix_spawnattr_setpgroup(&at, 0) == 0 && posix_spawnattr_setsigmask(&at, &none) == 0 &&
        posix_spawnattr_setsigdefault(&at, &all) == 0 &&
        posix_spawn(&pid, "/bin/sh", &fa, &at, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(o[1]);
    close(e[1]);
    if (pid < 0) {
        close(o[0]);
        close(e[0]);
        return -1;
    }
    *out_fd = o[0];
    *err_fd = e[0];
    return pid;
}

/*
 * Runs command for at most timeout seconds: its stdout goes into out (capped
 * by out's max), its stderr is counted and thrown away. On timeout, or once
 * stdout passes the cap, the helper's process group is killed at once. The
 * helper is always reaped before this returns.
 */
static struct helper_result helper_run(const char *command, double timeout, struct buf *out)
{
    struct helper_result r = {HELPER_FAILED, 0, 0};
    int fds[2];
    pid_t pid = helper_spawn(command, &fds[0], &fds[1]);
    if (pid < 0)
        return r;
    double deadline = clock_mono() + timeout;
    struct pollfd pf[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    int open = 2;
    r.outcome = HELPER_EXITED;
    while (open > 0 && r.outcome == HELPER_EXITED) {
        double left = deadline - clock_mono();
        if (left <= 0) {
            r.outcome = HELPER_TIMEOUT;
            break;
        }
        int n = poll(pf, 2, (int)ceil(left * 1000));
        if (n < 0 && errno != EINTR)
            r.outcome = HELPER_FAILED;
        for (int i = 0; n > 0 && i < 2; i++) {
            if (pf[i].fd < 0 || pf[i].revents == 0)
                continue;
            char chunk[4096];
            ssize_t got = read(pf[i].fd, chunk, sizeof chunk);
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) { /* end of file, or an error: nothing more comes */
                close(pf[i].fd);
                pf[i].fd = -1;
                open--;
            } else if (i == 1) {
                r.stderr_bytes += (size_t)got;
            } else if (buf_append(out, chunk, (size_t)got) != 0) {
                r.outcome = HELPER_TOO_MUCH;
            }
            explicit_bzero(chunk, sizeof chunk);
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    if (r.outcome != HELPER_EXITED) {
        helper_kill(pid);
        return r;
    }
    /* Both pipes are closed; the helper may still be running. */
    for (;;) {
        pid_t w = waitpid(pid, &r.status, WNOHANG);
        if (w == pid)
            return r;
        if (w < 0 && errno != EINTR) {
            r.outcome = HELPER_FAILED;
            return r;
        }
        if (clock_mono() >= deadline) {
            r.outcome = HELPER_TIMEOUT;
            helper_kill(pid);
            return r;
        }
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
}

static int process_fetch(void *impl, struct aws_credentials *out, struct aws_error *err)
{
    struct process_source *p = impl;
    struct buf b;
    buf_init(&b, METADATA_MAX);
    struct helper_result h = helper_run(p->command, p->timeout, &b);
    char msg[200];
    int rc = -1;
    switch (h.outcome) {
    case HELPER_TIMEOUT:
        snprintf(msg, sizeof msg, "credential_process timed out after %gs and was killed",
                 p->timeout);
        break;
    case HELPER_TOO_MUCH:
        snprintf(msg, sizeof msg, "credential_process wrote more than %d bytes and was killed",
                 METADATA_MAX);
        break;
    case HELPER_FAILED:
        snprintf(msg, sizeof msg, "cannot run credential_process");
        break;
    case HELPER_EXITED:
        if (WIFEXITED(h.status) && WEXITSTATUS(h.status) == 0)
            msg[0] = '\0';
        else if (WIFEXITED(h.status))
            snprintf(msg, sizeof msg, "credential_process exited with status %d",
                     WEXITSTATUS(h.status));
        else
            snprintf(msg, sizeof msg, "credential_process was killed by signal %d",
                     WIFSIGNALED(h.status) ? WTERMSIG(h.status) : 0);
        break;
    }
    if (msg[0] == '\0') {
        json_t *j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
        if (json_integer_value(json_object_get(j, "Version")) != 1)
            snprintf(msg, sizeof msg, "credential_process output is not Version 1");
        else if (aws_creds_parse_json(b.data, b.len, "SessionToken", out, err) == 0)
            rc = 0;
        else
            snprintf(msg, sizeof msg, "credential_process output is malformed");
        json_decref(j);
    }
    if (b.data != NULL)
        explicit_bzero(b.data, b.len);
    buf_free(&b);
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%zu", h.stderr_bytes);
    if (rc != 0) {
        aws_error_set(err, 0, "CredentialsError", msg);
        log_warn("aws", msg, "profile", p->profile, "stderr_bytes", bytes);
    } else if (h.stderr_bytes > 0) {
        log_debug("aws", "credential_process wrote to stderr (not logged: it may hold secrets)",
                  "profile", p->profile, "stderr_bytes", bytes);
    }
    return rc;
}

static void process_free(void *impl)
{
    struct process_source *p = impl;
    aws_secret_free(p->command);
    free(p->profile);
    free(p);
}

struct aws_creds_provider *aws_creds_process(const char *profile, const char *command,
                                             double timeout)
{
    struct process_source *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->timeout = timeout > 0 ? timeout : 60;
    p->command = strdup(command);
    p->profile = strdup(profile);
    if (p->command == NULL || p->profile == NULL) {
        process_free(p);
        return NULL;
    }
    /* Waiters give up when the fetch itself would. */
    return aws_creds_provider_new("process", p->timeout, process_fetch, process_free, p);
}
