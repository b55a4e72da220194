#define _GNU_SOURCE
#include "write_entry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dir_modes.h"
#include "fail.h"
#include "partial_file.h"
#include "safe_path.h"
#include "whiteouts.h"

/* Makes room for a new entry named name in dir_fd: an existing non-directory is unlinked (never
 * followed), an existing directory is kept when a directory is wanted, else removed if empty.
 * Returns true when an existing directory was kept. */
static bool clear_leaf(int dir_fd, const char *name, bool want_directory, const char *entry) {
  struct stat st;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return false;
    fail_errno(entry, "fstatat", errno);
  }
  if (S_ISDIR(st.st_mode)) {
    if (want_directory) return true;
    if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0) {
      if (errno == ENOTEMPTY || errno == EEXIST) fail(FAIL_INVALID_INPUT, entry, "would replace a non-empty directory");
      fail_errno(entry, "unlinkat", errno);
    }
    return false;
  }
  if (unlinkat(dir_fd, name, 0) < 0) fail_errno(entry, "unlinkat", errno);
  return false;
}

static void write_all(int fd, const unsigned char *data, size_t len, const char *entry) {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(entry, "write", errno);
    data += n;
    len -= (size_t)n;
  }
}

static void set_times(int fd, const struct tar_entry *e) {
  struct timespec times[2] = {{e->mtime_sec, e->mtime_nsec}, {e->mtime_sec, e->mtime_nsec}};
  if (futimens(fd, times) < 0) fail_errno(e->path, "futimens", errno);
}

/* In place (an image's fresh staging directory, removed whole on failure), or with `partial`
 * under a temporary name renamed over the entry's once whole (a running container's files). */
static void write_file(int dir_fd, const char *name, bool partial, struct input *in, struct tar_entry *e,
                       struct extract_totals *t) {
  int fd;
  if (partial) {
    fd = partial_file_create(dir_fd, e->path);
  } else {
    clear_leaf(dir_fd, name, false, e->path);
    fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) fail_errno(e->path, "openat", errno);
  }
  while (e->data_left > 0) {
    size_t len;
    const unsigned char *data =
        input_peek(in, e->data_left < INPUT_BUFFER ? (size_t)e->data_left : INPUT_BUFFER, &len, e->path);
    write_all(fd, data, len, e->path);
    input_consume(in, len);
    e->data_left -= len;
  }
  /* chown before chmod: chown clears setuid and setgid. */
  if (fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0) fail_errno(e->path, "fchown", errno);
  if (fchmod(fd, e->mode) < 0) fail_errno(e->path, "fchmod", errno);
  set_times(fd, e);
  close(fd);
  if (partial) partial_file_commit(dir_fd, name, e->path);
  t->files++;
  t->file_bytes += e->size;
}

static void write_directory(int dir_fd, const char *name, const char *rel, const struct tar_entry *e,
                            struct extract_totals *t) {
  if (!clear_leaf(dir_fd, name, true, e->path) && mkdirat(dir_fd, name, 0700) < 0)
    fail_errno(e->path, "mkdirat", errno);
  int fd = path_open_dir(dir_fd, name);
  if (fd < 0) fail_errno(e->path, "openat2", errno);
  if (fchown(fd, (uid_t)e->uid, (gid_t)e->gid) < 0) fail_errno(e->path, "fchown", errno);
  close(fd);
  dir_modes_record(rel, e->mode, true, e->mtime_sec, e->mtime_nsec);
  t->directories++;
}

static void write_symlink(int dir_fd, const char *name, const struct tar_entry *e, struct extract_totals *t) {
  /* The target is not checked: it is resolved inside the container's root, never here. */
  if (e->linkpath[0] == '\0') fail(FAIL_INVALID_INPUT, e->path, "a symlink with an empty target");
  clear_leaf(dir_fd, name, false, e->path);
  if (symlinkat(e->linkpath, dir_fd, name) < 0) fail_errno(e->path, "symlinkat", errno);
  if (fchownat(dir_fd, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW) < 0)
    fail_errno(e->path, "fchownat", errno);
  struct timespec times[2] = {{e->mtime_sec, e->mtime_nsec}, {e->mtime_sec, e->mtime_nsec}};
  if (utimensat(dir_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0) fail_errno(e->path, "utimensat", errno);
  t->symlinks++;
}

/* A hard link's source is resolved beneath the root like any entry, so it can only be a
 * non-directory an earlier entry wrote: /etc/shadow means <root>/etc/shadow, '..' is refused. */
static void write_hardlink(int root_fd, int dir_fd, const char *name, const struct entry_path *dst,
                           const struct extract_limits *limits, const struct tar_entry *e, struct extract_totals *t) {
  struct entry_path src;
  path_normalise(e->linkpath, limits, &src, e->path);
  if (src.rel[0] == '\0') fail(FAIL_INVALID_INPUT, e->path, "a hard link to the image root");
  int src_dir = path_open_parent(root_fd, &src, false, limits, e->path);
  struct stat st;
  if (src_dir < 0 || fstatat(src_dir, src.leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      fail(FAIL_INVALID_INPUT, e->path, "the hard link target %s is not an earlier entry of the archive", src.rel);
    fail_errno(e->path, "fstatat", errno);
  }
  if (S_ISDIR(st.st_mode)) fail(FAIL_INVALID_INPUT, e->path, "the hard link target %s is a directory", src.rel);
  if (strcmp(src.rel, dst->rel) != 0) { /* a link to itself is already there */
    clear_leaf(dir_fd, name, false, e->path);
    if (linkat(src_dir, src.leaf, dir_fd, name, 0) < 0) fail_errno(e->path, "linkat", errno);
  }
  close(src_dir);
  t->hardlinks++;
}

static const char *skipped_type(enum entry_kind kind) {
  switch (kind) {
    case ENTRY_CHAR_DEVICE:
      return "char-device";
    case ENTRY_BLOCK_DEVICE:
      return "block-device";
    case ENTRY_FIFO:
      return "fifo";
    default:
      return NULL;
  }
}

void write_entry(int root_fd, const struct extract_limits *limits, const struct write_options *options,
                 struct input *in, struct tar_entry *e, struct extract_totals *totals) {
  struct entry_path p;
  path_normalise(e->path, limits, &p, e->path);
  if (e->uid > EXTRACT_MAX_ID || e->gid > EXTRACT_MAX_ID) {
    fail(FAIL_INVALID_INPUT, e->path, "owner %llu:%llu is outside a container's 0..%d", (unsigned long long)e->uid,
         (unsigned long long)e->gid, EXTRACT_MAX_ID);
  }
  if (options->oci_whiteouts && whiteout_take(root_fd, limits, &p, e->path)) return;
  const char *skipped = skipped_type(e->kind);
  if (skipped) {
    /* /dev is a fresh tmpfs in every container; a device node in an image is never needed. */
    report_skipped(p.rel, skipped);
    return;
  }
  if (p.rel[0] == '\0') {
    if (e->kind != ENTRY_DIRECTORY) fail(FAIL_INVALID_INPUT, e->path, "only a directory can stand for the image root");
    if (fchown(root_fd, (uid_t)e->uid, (gid_t)e->gid) < 0) fail_errno(e->path, "fchown", errno);
    dir_modes_record("", e->mode, true, e->mtime_sec, e->mtime_nsec);
    totals->directories++;
    return;
  }
  int dir_fd = path_open_parent(root_fd, &p, true, limits, e->path);
  switch (e->kind) {
    case ENTRY_FILE:
      write_file(dir_fd, p.leaf, options->partial_files, in, e, totals);
      break;
    case ENTRY_DIRECTORY:
      write_directory(dir_fd, p.leaf, p.rel, e, totals);
      break;
    case ENTRY_SYMLINK:
      write_symlink(dir_fd, p.leaf, e, totals);
      break;
    case ENTRY_HARDLINK:
      write_hardlink(root_fd, dir_fd, p.leaf, &p, limits, e, totals);
      break;
    default:
      break;
  }
  close(dir_fd);
}
