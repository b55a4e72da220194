#define _GNU_SOURCE
#include "whiteouts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fail.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_PREFIX_LEN 4
#define OPAQUE_MARKER ".wh..wh..opq"
#define AUFS_META_PREFIX ".wh..wh."

struct marker {
  char *dir;  /* the directory, "" for the root */
  char *name; /* the name to white out; NULL marks dir opaque */
};

static struct marker *markers;
static size_t count, capacity, record_bytes;

static void record(const char *dir, size_t dir_len, const char *name, const char *entry) {
  record_bytes += dir_len + (name ? strlen(name) : 0) + 2 + sizeof *markers;
  if (record_bytes > EXTRACT_MAX_DIR_RECORD_BYTES)
    fail(FAIL_PAYLOAD_TOO_LARGE, entry, "the layer's whiteouts take more than %d bytes to record",
         EXTRACT_MAX_DIR_RECORD_BYTES);
  if (count == capacity) {
    capacity = capacity ? capacity * 2 : 64;
    markers = realloc(markers, capacity * sizeof *markers);
    if (!markers) fail(FAIL_INTERNAL, entry, "out of memory");
  }
  char *dir_copy = strndup(dir, dir_len);
  char *name_copy = name ? strdup(name) : NULL;
  if (!dir_copy || (name && !name_copy)) fail(FAIL_INTERNAL, entry, "out of memory");
  markers[count++] = (struct marker){dir_copy, name_copy};
}

static bool is_whiteout_name(const char *component, size_t len) {
  return len >= WHITEOUT_PREFIX_LEN && memcmp(component, WHITEOUT_PREFIX, WHITEOUT_PREFIX_LEN) == 0;
}

bool whiteout_take(int root_fd, const struct extract_limits *limits, const struct entry_path *p, const char *entry) {
  /* A `.wh.` directory would leave a `.wh.` name in the layer whatever it holds. */
  for (const char *c = p->rel; c < p->leaf;) {
    const char *slash = strchr(c, '/');
    if (is_whiteout_name(c, (size_t)(slash - c)))
      fail(FAIL_INVALID_INPUT, entry, "a whiteout (.wh.) name cannot be a directory");
    c = slash + 1;
  }
  if (!is_whiteout_name(p->leaf, strlen(p->leaf))) return false;

  const char *name = p->leaf + WHITEOUT_PREFIX_LEN;
  bool opaque = strcmp(p->leaf, OPAQUE_MARKER) == 0;
  if (!opaque && strncmp(p->leaf, AUFS_META_PREFIX, strlen(AUFS_META_PREFIX)) == 0) return true;
  if (!opaque && (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
    fail(FAIL_INVALID_INPUT, entry, "a whiteout of \"%s\" names no entry of its directory", name);

  /* Its directory is made now, as any entry's would be: a symlink or a file in the way refuses
   * the layer here rather than being skipped silently at the end. */
  int dir_fd = path_open_parent(root_fd, p, true, limits, entry);
  close(dir_fd);
  record(p->rel, p->parent_len, opaque ? NULL : name, entry);
  return true;
}

static void mark_opaque(int dir_fd, const char *dir) {
  static const char *const names[] = {"trusted.overlay.opaque", "user.overlay.opaque"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (fsetxattr(dir_fd, names[i], "y", 1, 0) < 0) fail_errno(dir[0] ? dir : "/", "fsetxattr", errno);
}

/* Returns true when a whiteout device was made (false: the layer has its own entry there). */
static bool make_whiteout(int dir_fd, const struct marker *m) {
  struct stat st;
  if (fstatat(dir_fd, m->name, &st, AT_SYMLINK_NOFOLLOW) == 0) return false;
  if (errno != ENOENT) fail_errno(m->name, "fstatat", errno);
  if (mknodat(dir_fd, m->name, S_IFCHR, makedev(0, 0)) < 0) fail_errno(m->name, "mknodat", errno);
  if (fchownat(dir_fd, m->name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0) fail_errno(m->name, "fchownat", errno);
  return true;
}

void whiteouts_apply(int root_fd, uint64_t *whiteouts, uint64_t *opaque_dirs) {
  for (size_t i = 0; i < count; i++) {
    const struct marker *m = &markers[i];
    int dir_fd = path_open_dir(root_fd, m->dir);
    if (dir_fd < 0) {
      /* A later entry of the layer replaced the directory (by a file or a symlink): its own entry wins. */
      if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) continue;
      fail_errno(m->dir, "openat2", errno);
    }
    if (m->name == NULL) {
      mark_opaque(dir_fd, m->dir);
      (*opaque_dirs)++;
    } else if (make_whiteout(dir_fd, m)) {
      (*whiteouts)++;
    }
    close(dir_fd);
  }
}
