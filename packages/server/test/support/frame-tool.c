/* The spoofing tests' tool inside a container (x86_64), built freestanding: no libc, a few kB,
 * so it fits in one exec argument. A container has CAP_NET_RAW (as under Docker), so it may
 * write whole Ethernet frames of its choosing: what it cannot do is what the test checks.
 *
 *   frame-tool send IFINDEX HEX        sends one Ethernet frame, given as hex, out of IFINDEX
 *   frame-tool listen PORT SECONDS     prints "udp A.B.C.D PAYLOAD" for each UDP datagram to
 *                                      PORT, until SECONDS pass with none
 *
 * Exits 0, or 100 + the step that failed. */

#define SYS_write 1
#define SYS_socket 41
#define SYS_sendto 44
#define SYS_recvfrom 45
#define SYS_bind 49
#define SYS_setsockopt 54
#define SYS_exit_group 231

#define AF_INET 2
#define AF_PACKET 17
#define SOCK_DGRAM 2
#define SOCK_RAW 3
#define SOL_SOCKET 1
#define SO_RCVTIMEO 20

static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

static void quit(int code) {
  for (;;) sys6(SYS_exit_group, code, 0, 0, 0, 0, 0);
}

static long number(const char *s) {
  long n = 0;
  while (*s >= '0' && *s <= '9') n = n * 10 + (*s++ - '0');
  return n;
}

static int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

struct sockaddr_ll {
  unsigned short family, protocol;
  int ifindex;
  unsigned short hatype;
  unsigned char pkttype, halen, addr[8];
};

struct sockaddr_in {
  unsigned short family, port;
  unsigned char addr[4];
  unsigned char zero[8];
};

static unsigned char buf[2048];
static char line[2200];

static void send_frame(long ifindex, const char *hex) {
  long len = 0;
  for (; hex[0] && hex[1] && len < (long)sizeof buf; hex += 2) {
    int hi = nibble(hex[0]), lo = nibble(hex[1]);
    if (hi < 0 || lo < 0) quit(101);
    buf[len++] = (unsigned char)(hi << 4 | lo);
  }
  if (len < 14) quit(101);
  long fd = sys6(SYS_socket, AF_PACKET, SOCK_RAW, 0, 0, 0, 0);
  if (fd < 0) quit(102);
  struct sockaddr_ll to = {AF_PACKET, 0, (int)ifindex, 0, 0, 6, {0}};
  for (int i = 0; i < 6; i++) to.addr[i] = buf[i];
  if (sys6(SYS_sendto, fd, (long)buf, len, 0, (long)&to, sizeof to) != len) quit(103);
}

static int put_decimal(char *out, unsigned n) {
  char digits[10];
  int k = 0, i = 0;
  do digits[k++] = (char)('0' + n % 10), n /= 10;
  while (n);
  while (k) out[i++] = digits[--k];
  return i;
}

static void listen_udp(long port, long seconds) {
  long fd = sys6(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0, 0);
  if (fd < 0) quit(104);
  struct sockaddr_in me = {AF_INET, (unsigned short)((port & 0xff) << 8 | (port >> 8 & 0xff)), {0}, {0}};
  if (sys6(SYS_bind, fd, (long)&me, sizeof me, 0, 0, 0) < 0) quit(105);
  long timeout[2] = {seconds, 0};
  if (sys6(SYS_setsockopt, fd, SOL_SOCKET, SO_RCVTIMEO, (long)timeout, sizeof timeout, 0) < 0) quit(106);
  sys6(SYS_write, 1, (long)"listening\n", 10, 0, 0, 0);
  for (;;) {
    struct sockaddr_in from;
    int fromlen = sizeof from;
    long n = sys6(SYS_recvfrom, fd, (long)buf, sizeof buf, 0, (long)&from, (long)&fromlen);
    if (n < 0) return; /* the time is up */
    int i = 0;
    for (const char *p = "udp "; *p;) line[i++] = *p++;
    for (int b = 0; b < 4; b++) {
      i += put_decimal(line + i, from.addr[b]);
      line[i++] = b < 3 ? '.' : ' ';
    }
    for (long k = 0; k < n; k++)
      if (buf[k] >= ' ' && buf[k] < 127) line[i++] = (char)buf[k];
    line[i++] = '\n';
    sys6(SYS_write, 1, (long)line, i, 0, 0, 0);
  }
}

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

void frame_tool_main(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  if (argc == 4 && same(argv[1], "send")) send_frame(number(argv[2]), argv[3]);
  else if (argc == 4 && same(argv[1], "listen")) listen_udp(number(argv[2]), number(argv[3]));
  else quit(100);
  quit(0);
}

__asm__(
    ".globl _start\n"
    "_start:\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call frame_tool_main\n");
