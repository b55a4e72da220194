/* Running a command inside a running container's namespaces and cgroups. */
#ifndef NAGAYA_EXEC_SESSION_H
#define NAGAYA_EXEC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroups.h"
#include "launch_spec.h"

struct exec_request {
  char **argv;
  char **envp;
  const char *cwd;
  const char *exec_candidates[MAX_EXEC_CANDIDATES + 1];
  bool nesting;  /* the container's security.nesting: picks its seccomp filter */
  uid_t run_uid; /* who runs the command (the container's user, as the image's User says); 0: root */
  gid_t run_gid;
  bool interactive;          /* stdin is fed by the client (a pipe, or the pty), output is relayed as it comes */
  bool tty;                  /* interactive on a pty made in the container's devpts */
  unsigned short rows, cols; /* the pty's first size */
};

struct output_buffer {
  char *data;
  size_t len, cap, limit;
  bool truncated;
};

struct exec_session {
  pid_t pid; /* the helper outside the container; its exit mirrors the command's */
  int pidfd;
  int stdout_fd, stderr_fd, error_fd;
  int stdin_fd; /* interactive: the write end of the command's stdin (a pipe, or a dup of the pty master); else -1 */
  bool tty;     /* stdout_fd is the pty master (stdin and stderr go through it too); stderr_fd is -1 */
  struct output_buffer out, err;
};

/* Starts argv inside the container whose init is container_pidfd; output goes to pipes. */
int exec_session_start(struct exec_session *s, const struct exec_request *req, int container_pidfd,
                       const struct container_cgroups *cg, size_t output_limit, struct step_error *err);

enum exec_output { EXEC_STDOUT, EXEC_STDERR };

/* Reads whatever one of the command's outputs has without blocking; true once it is at EOF. The
 * pipe stays open until exec_session_free, so whoever watches it can stop before it is closed. */
bool exec_session_drain(struct exec_session *s, enum exec_output which);

/* Reaps the helper (waiting for it), reads what output is left; fills exit code or signal, or the
 * failed step if the command never ran. */
int exec_session_finish(struct exec_session *s, int *exit_code, int *signal, struct step_error *err);

/* Sets the pty's size (a tty session): the command's foreground process group gets SIGWINCH. */
int exec_session_resize(struct exec_session *s, unsigned short rows, unsigned short cols);

/* Closes its fds (none may still be watched) and releases its buffers. */
void exec_session_free(struct exec_session *s);

#endif
