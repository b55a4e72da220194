/* The one helper for writing a string to a file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "write_text.h"

int write_text_fd(int fd, const char *text) {
  size_t len = strlen(text);
  ssize_t n = write(fd, text, len);
  if (n < 0) return -1;
  if ((size_t)n != len) {
    errno = EIO;
    return -1;
  }
  return 0;
}

int write_text_file(const char *path, const char *text) {
  cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  return write_text_fd(fd, text);
}
