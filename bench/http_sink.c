// The upload benchmark's peer (bench/upload.sh): the least a server that
// keeps an upload must do. It accepts one connection at a time on
// 127.0.0.1:PORT, reads a request's head, writes its Content-Length bytes
// of body to FILE (1 MiB reads and writes, no parsing, no job), answers
// 200 and closes. Not a server: no checks, no limits, a benchmark only.
//
// usage: http_sink PORT FILE
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { buffer_size = 1 << 20 };

static void serve(int client, const char* file, char* buf) {
  size_t have = 0;
  char* body = NULL;
  long long length = 0;
  while (body == NULL && have < buffer_size - 1) {
    const ssize_t n = read(client, buf + have, buffer_size - 1 - have);
    if (n <= 0)
      return;
    have += (size_t)n;
    buf[have] = 0;
    char* end = strstr(buf, "\r\n\r\n");
    if (end != NULL) {
      body = end + 4;
      const char* cl = strcasestr(buf, "\r\ncontent-length:");
      length = cl != NULL ? atoll(cl + 17) : 0;
    }
  }
  if (body == NULL)
    return;
  const int out = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (out < 0) {
    perror(file);
    exit(1);
  }
  long long got = buf + have - body;
  if (got > 0 && write(out, body, (size_t)got) != got)
    exit(1);
  while (got < length) {
    const ssize_t n = read(client, buf, buffer_size);
    if (n <= 0)
      break;
    if (write(out, buf, (size_t)n) != n)
      exit(1);
    got += n;
  }
  close(out);
  static const char answer[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  if (write(client, answer, sizeof answer - 1) < 0)
    perror("answer");
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: http_sink PORT FILE\n");
    return 2;
  }
  const int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)atoi(argv[1])),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(s, (struct sockaddr*)&a, sizeof a) != 0 || listen(s, 8) != 0) {
    perror("http_sink: bind");
    return 1;
  }
  char* buf = malloc(buffer_size);
  for (;;) {
    const int client = accept(s, NULL, NULL);
    if (client < 0)
      continue;
    serve(client, argv[2], buf);
    close(client);
  }
}
