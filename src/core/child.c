#include "core/child.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int child_start(struct child *child, const char *name, char *const argv[],
                struct error *err)
{
    int pipe_fds[2];
    pid_t pid;

    memset(child, 0, sizeof(*child));
    child->stdout_fd = -1;
    snprintf(child->name, sizeof(child->name), "%s", name);
    if (pipe2(pipe_fds, O_CLOEXEC) != 0)
        return error_set(err, ERR_PERMANENT, "pipe failed: %s",
                         strerror(errno));
    pid = fork();
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return error_set(err, ERR_PERMANENT, "fork failed: %s",
                         strerror(errno));
    }
    if (pid == 0) {
        sigset_t none;

        /* The parent may block signals for sigwait(); the child must not
         * inherit that, or SIGTERM would never reach it. */
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* A parent that dies without stopping its children takes them
         * along, so no sandbox or server is left running behind it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(pipe_fds[1], STDOUT_FILENO);
        execv(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipe_fds[1]);
    child->pid = pid;
    child->stdout_fd = pipe_fds[0];
    return 0;
}

int child_read_url(struct child *child, int64_t timeout_ms, char *url,
                   size_t size, struct error *err)
{
    static const char prefix[] = "listening on ";
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    char line[512];
    size_t used = 0;

    while (used < sizeof(line) - 1) {
        struct pollfd fd = {.fd = child->stdout_fd, .events = POLLIN};
        int64_t left = deadline - clock_monotonic_ms();
        ssize_t n;

        if (left <= 0 || poll(&fd, 1, (int)left) <= 0)
            return error_set(err, ERR_PERMANENT,
                             "%s did not start within %lld ms", child->name,
                             (long long)timeout_ms);
        n = read(child->stdout_fd, line + used, 1);
        if (n <= 0)
            return error_set(err, ERR_PERMANENT,
                             "%s exited before it was listening; see its "
                             "messages above",
                             child->name);
        if (line[used] == '\n')
            break;
        used++;
    }
    line[used] = '\0';
    if (strncmp(line, prefix, sizeof(prefix) - 1) != 0 ||
        strlen(line) - (sizeof(prefix) - 1) >= size)
        return error_set(err, ERR_PERMANENT,
                         "%s printed \"%.100s\" instead of its address",
                         child->name, line);
    snprintf(url, size, "%s", line + sizeof(prefix) - 1);
    return 0;
}

int child_stop(struct child *child, int64_t timeout_ms)
{
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    int status = 0;

    if (child->stdout_fd >= 0) {
        close(child->stdout_fd);
        child->stdout_fd = -1;
    }
    if (child->pid <= 0)
        return 0;
    kill(child->pid, SIGTERM);
    while (waitpid(child->pid, &status, WNOHANG) == 0) {
        if (clock_monotonic_ms() >= deadline) {
            kill(child->pid, SIGKILL);
            waitpid(child->pid, &status, 0);
            break;
        }
        clock_sleep_ms(20);
    }
    child->pid = 0;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

int child_sibling_path(const char *program, char *out, size_t size)
{
    char self[4096];
    ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash;

    if (length <= 0)
        return -1;
    self[length] = '\0';
    slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if ((size_t)snprintf(out, size, "%s/%s", self, program) >= size)
        return -1;
    return access(out, X_OK) == 0 ? 0 : -1;
}
