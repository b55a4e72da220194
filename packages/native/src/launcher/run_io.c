/* A run's stdio through the launcher: see run_io.h. */
#define _GNU_SOURCE
#include "run_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"

/* How much one turn of the loop moves per pipe: the other containers and clients get their turn
 * between two chunks of a chatty one. */
#define CHUNK (64 * 1024)

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Creates <dir>/<name> anew, 0600 whatever was there (a leftover keeps its mode on open). */
static int create_capture_file(const char *dir, const char *name) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (unlink(path) < 0 && errno != ENOENT) return -1;
  return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
}

void run_io_init(struct run_io *io) {
  memset(io, 0, sizeof *io);
  io->out.pipe_fd = io->out.file_fd = io->err.pipe_fd = io->err.file_fd = -1;
  io->in.pipe_fd = io->in.file_fd = -1;
  io->out.watch.fd = io->err.watch.fd = io->in.watch.fd = -1;
}

/* A pipe whose launcher end is non-blocking; the child's end stays blocking, as a program expects. */
static int make_pipe(int fds[2], int launcher_end) {
  if (pipe2(fds, O_CLOEXEC) < 0) return -1;
  int flags = fcntl(fds[launcher_end], F_GETFL);
  if (flags < 0 || fcntl(fds[launcher_end], F_SETFL, flags | O_NONBLOCK) < 0) {
    int saved = errno;
    close(fds[0]);
    close(fds[1]);
    errno = saved;
    return -1;
  }
  return 0;
}

static int open_capture(const struct launch_spec *spec, const char *name, struct output_capture *c, int *child_end,
                        struct step_error *err) {
  c->limit = spec->output_limit;
  c->file_fd = create_capture_file(spec->container_dir, name);
  if (c->file_fd < 0) return step_fail(err, "open-output", "open", errno);
  int fds[2];
  if (make_pipe(fds, 0) < 0) return step_fail(err, "open-output", "pipe2", errno);
  c->pipe_fd = fds[0];
  *child_end = fds[1];
  return 0;
}

/* The stdin file TypeScript wrote (0600, in the container's directory): opened without following
 * a symlink, and only a regular file. */
static int open_stdin(const struct launch_spec *spec, struct stdin_feed *f, int *child_end, struct step_error *err) {
  f->file_fd = open(spec->stdin_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (f->file_fd < 0) return step_fail(err, "open-stdin", "open", errno);
  struct stat st;
  if (fstat(f->file_fd, &st) < 0) return step_fail(err, "open-stdin", "fstat", errno);
  if (!S_ISREG(st.st_mode)) return step_fail(err, "open-stdin", "open", EINVAL);
  int fds[2];
  if (make_pipe(fds, 1) < 0) return step_fail(err, "open-stdin", "pipe2", errno);
  f->pipe_fd = fds[1];
  *child_end = fds[0];
  return 0;
}

int run_io_open(const struct launch_spec *spec, int log_fd, int null_fd, struct run_io *io, struct child_stdio *child,
                struct step_error *err) {
  run_io_init(io);
  child->in = null_fd;
  child->out = child->err = log_fd;
  io->capture = spec->output_limit >= 0;
  if (io->capture && (open_capture(spec, "stdout", &io->out, &child->out, err) < 0 ||
                      open_capture(spec, "stderr", &io->err, &child->err, err) < 0))
    goto fail;
  if (spec->stdin_path != NULL && open_stdin(spec, &io->in, &child->in, err) < 0) goto fail;
  return 0;
fail:
  run_io_close_child_ends(io, child);
  run_io_undo(io);
  return -1;
}

void run_io_close_child_ends(const struct run_io *io, struct child_stdio *child) {
  /* the defaults (log, /dev/null) belong to the caller; a pipe end only exists for its feature */
  if (io->in.pipe_fd >= 0) close_fd(&child->in);
  if (io->out.pipe_fd >= 0) close_fd(&child->out);
  if (io->err.pipe_fd >= 0) close_fd(&child->err);
}

int run_io_watch(struct run_io *io) {
  if (io->out.pipe_fd >= 0 && watch_fd(&io->out.watch, WATCH_RUN_OUTPUT, io->out.pipe_fd, &io->out) < 0) return -1;
  if (io->err.pipe_fd >= 0 && watch_fd(&io->err.watch, WATCH_RUN_OUTPUT, io->err.pipe_fd, &io->err) < 0) return -1;
  if (io->in.pipe_fd >= 0 && watch_fd_writable(&io->in.watch, WATCH_RUN_STDIN, io->in.pipe_fd, &io->in) < 0) return -1;
  return 0;
}

/* Appends what fits under the limit to the file; the rest is only counted. */
static void keep_output(struct output_capture *c, const char *data, size_t len) {
  c->total += (int64_t)len;
  size_t room = c->kept < c->limit ? (size_t)(c->limit - c->kept) : 0;
  size_t keep = len < room ? len : room;
  while (keep > 0 && c->file_fd >= 0) {
    ssize_t w = write(c->file_fd, data, keep);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break; /* a full disk loses the capture's tail, never the container */
    c->kept += w;
    data += w;
    keep -= (size_t)w;
  }
}

static void close_capture_pipe(struct output_capture *c) {
  unwatch_fd(&c->watch);
  close_fd(&c->pipe_fd);
}

void output_capture_drain(struct output_capture *c) {
  static char chunk[CHUNK];
  if (c->pipe_fd < 0) return;
  ssize_t n;
  do n = read(c->pipe_fd, chunk, sizeof chunk);
  while (n < 0 && errno == EINTR);
  if (n > 0) keep_output(c, chunk, (size_t)n);
  else if (n == 0 || errno != EAGAIN) close_capture_pipe(c); /* EOF: every writer is gone */
}

static void close_feed(struct stdin_feed *f) {
  unwatch_fd(&f->watch);
  close_fd(&f->pipe_fd);
  close_fd(&f->file_fd);
}

void stdin_feed_write(struct stdin_feed *f) {
  static char chunk[CHUNK];
  if (f->pipe_fd < 0) return;
  ssize_t n;
  do n = pread(f->file_fd, chunk, sizeof chunk, f->offset);
  while (n < 0 && errno == EINTR);
  if (n <= 0) { /* all delivered (or unreadable): EOF for the reader */
    close_feed(f);
    return;
  }
  ssize_t w;
  do w = write(f->pipe_fd, chunk, (size_t)n); /* SIGPIPE is blocked: a reader gone is EPIPE */
  while (w < 0 && errno == EINTR);
  if (w > 0) f->offset += w;
  else if (errno != EAGAIN) close_feed(f);
}

void run_io_finish(struct run_io *io) {
  /* Every process of the container is gone with its init, and with them every write end: the
   * pipes hold the last of the output and then EOF. */
  struct output_capture *captures[2] = {&io->out, &io->err};
  for (int i = 0; i < 2; i++) {
    while (captures[i]->pipe_fd >= 0) {
      int64_t before = captures[i]->total;
      output_capture_drain(captures[i]);
      if (captures[i]->pipe_fd >= 0 && captures[i]->total == before) break; /* EAGAIN: a writer outside */
    }
    close_capture_pipe(captures[i]);
    close_fd(&captures[i]->file_fd);
  }
  close_feed(&io->in);
}

void run_io_undo(struct run_io *io) {
  struct output_capture *captures[2] = {&io->out, &io->err};
  for (int i = 0; i < 2; i++) {
    close_capture_pipe(captures[i]);
    close_fd(&captures[i]->file_fd);
  }
  close_feed(&io->in);
}
