/* A tiny test harness: CHECK counts failures and prints where. */
#ifndef SE_CHECK_H
#define SE_CHECK_H
#include <stdio.h>
#include <stdlib.h>
static int se_failures = 0, se_checks = 0;
#define CHECK(cond, ...) do { se_checks++; if (!(cond)) { se_failures++; fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define DONE() do { printf("%d checks, %d failures\n", se_checks, se_failures); return se_failures ? 1 : 0; } while (0)

static unsigned char *read_file(const char *dir, const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(2); }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  if (fread(b, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "short read %s\n", path); exit(2); }
  fclose(f);
  *len = (size_t)n;
  return b;
}
#endif
