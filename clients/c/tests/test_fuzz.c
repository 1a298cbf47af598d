#define _POSIX_C_SOURCE 200809L
/* Decoder robustness: every truncation is SE_EINCOMPLETE; every header byte
 * flip is caught; mutated bodies and random bytes never crash (run under
 * ASan+UBSan by scripts/c-client-test.sh). ITERATIONS scales the random part. */
#include <string.h>
#include "sonoedge.h"
#include "check.h"

static uint32_t rng = 2463534242u;
static uint32_t xorshift(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "test/fixtures/protocol";
  const char *env = getenv("SONOEDGE_FUZZ_ITERATIONS");
  long iterations = argc > 2 ? atol(argv[2]) : env ? atol(env) : 20000;
  const char *socket_files[] = {"socket-hello.bin", "socket-configure-stream.bin", "socket-frame.bin", "socket-result.bin",
                                "socket-result-mask.bin", "socket-error.bin", "socket-stats-reply.bin", "socket-pong.bin"};
  for (size_t f = 0; f < sizeof socket_files / sizeof *socket_files; f++) {
    size_t n;
    uint8_t *b = read_file(dir, socket_files[f], &n);
    se_message m;
    size_t used;
    for (size_t k = 0; k < n; k++) {
      uint8_t *cut = malloc(k ? k : 1); /* exact size: ASan catches any over-read */
      memcpy(cut, b, k);
      int s = se_decode_message(cut, k, 1u << 20, &m, &used);
      CHECK(s == SE_EINCOMPLETE, "%s truncated to %zu: %s", socket_files[f], k, se_strerror(s));
      free(cut);
    }
    for (size_t i = 0; i < SE_HEADER_SIZE; i++) {
      for (int bit = 0; bit < 8; bit++) {
        b[i] ^= (uint8_t)(1 << bit);
        int s = se_decode_message(b, n, 1u << 20, &m, &used);
        CHECK(s == (i < 4 ? SE_EMAGIC : SE_ECRC), "%s byte %zu bit %d: %s", socket_files[f], i, bit, se_strerror(s));
        b[i] ^= (uint8_t)(1 << bit);
      }
    }
    CHECK(se_decode_message(b, n, 8, &m, &used) == SE_ETOOLARGE || n - SE_HEADER_SIZE <= 8, "%s: max size enforced from the header", socket_files[f]);
    for (long it = 0; it < iterations / 8; it++) {
      uint8_t *mut = malloc(n);
      memcpy(mut, b, n);
      int flips = 1 + (int)(xorshift() % 4);
      for (int k = 0; k < flips; k++) mut[SE_HEADER_SIZE + xorshift() % (n - SE_HEADER_SIZE)] = (uint8_t)xorshift();
      int s = se_decode_message(mut, n, 1u << 20, &m, &used);
      if (s == SE_OK && m.header.type == SE_RESULT) { se_result r; (void)se_decode_result(&m, &r); }
      if (s == SE_OK && m.header.type == SE_ERROR) { se_error e; (void)se_decode_error(&m, &e); }
      CHECK(s == SE_OK || s == SE_EBODY, "%s mutated body: %s", socket_files[f], se_strerror(s));
      free(mut);
    }
    free(b);
  }
  /* random MessagePack */
  for (long it = 0; it < iterations; it++) {
    uint8_t buf[64];
    size_t n = 1 + xorshift() % sizeof buf;
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)xorshift();
    se_mp_reader r;
    se_mp_reader_init(&r, buf, n);
    (void)se_mp_skip(&r);
    CHECK(r.p <= r.end, "reader stays in bounds");
  }
  /* serial: truncations, flips, random noise then a valid record */
  size_t rn;
  uint8_t *rec = read_file(dir, "serial-result.bin", &rn);
  for (size_t k = 1; k < rn; k++) {
    se_serial_decoder d; se_record r; int any = 0;
    se_serial_init(&d);
    for (size_t i = 0; i < k; i++) any |= se_serial_push(&d, rec[i], &r);
    CHECK(any == 0, "serial truncated to %zu: nothing out", k);
  }
  for (long it = 0; it < iterations; it++) {
    se_serial_decoder d; se_record r; int last = 0;
    se_serial_init(&d);
    size_t noise = xorshift() % 100;
    for (size_t i = 0; i < noise; i++) (void)se_serial_push(&d, (uint8_t)xorshift(), &r);
    for (size_t i = 0; i < rn; i++) { int s = se_serial_push(&d, rec[i], &r); if (s == 1) last = 1; }
    CHECK(last == 1 && r.seq == 123456, "record after %zu noise bytes decodes", noise);
  }
  free(rec);
  DONE();
}
