/* Streams GRAY8 frames from a raw file to the runtime and prints each result.
 *   stream_frames SOCKET RAWFILE WIDTH HEIGHT [COUNT] [FPS]
 * The raw file holds WIDTH*HEIGHT-byte frames back to back; it is read in a loop.
 * Each frame waits for its result (at most 5 s), so none is dropped. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sonoedge.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s SOCKET RAWFILE WIDTH HEIGHT [COUNT] [FPS]\n", argv[0]);
    return 2;
  }
  uint32_t width = (uint32_t)strtoul(argv[3], NULL, 10), height = (uint32_t)strtoul(argv[4], NULL, 10);
  int count = argc > 5 ? atoi(argv[5]) : 10;
  double fps = argc > 6 ? atof(argv[6]) : 30.0;
  FILE *f = fopen(argv[2], "rb");
  if (!f || width == 0 || height == 0) { fprintf(stderr, "cannot read %s\n", argv[2]); return 2; }
  size_t frame_size = (size_t)width * height;
  uint8_t *frame = malloc(frame_size);
  se_client c;
  int s = se_connect_unix(&c, argv[1]);
  if (s) { fprintf(stderr, "connect %s: %s\n", argv[1], se_strerror(s)); return 1; }
  if ((s = se_hello(&c, "stream_frames example", 5000))) { fprintf(stderr, "hello: %s\n", se_strerror(s)); return 1; }
  printf("hello: version %u, max message %u\n", c.version, c.max_message_size);
  se_stream_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.stream = 0; cfg.width = width; cfg.height = height; cfg.format = "GRAY8";
  cfg.spacing_x_mm = 0.3; cfg.spacing_y_mm = 0.3; cfg.fps = fps;
  uint32_t frame_bytes = 0;
  if ((s = se_configure(&c, &cfg, &frame_bytes, 5000))) {
    fprintf(stderr, "configure: %s %s\n", se_strerror(s), s == SE_EREMOTE ? c.last_error.message : "");
    return 1;
  }
  printf("configured: stream 0, %u bytes per frame\n", frame_bytes);
  if ((s = se_subscribe(&c, 0, 0, 5000))) { fprintf(stderr, "subscribe: %s\n", se_strerror(s)); return 1; }
  int received = 0;
  for (int i = 0; i < count; i++) {
    if (fread(frame, 1, frame_size, f) != frame_size) {
      rewind(f);
      if (fread(frame, 1, frame_size, f) != frame_size) { fprintf(stderr, "short file\n"); return 2; }
    }
    double t0 = now_ms();
    if ((s = se_send_frame(&c, 0, (uint32_t)(i + 1), t0, frame, (uint32_t)frame_size))) { fprintf(stderr, "send: %s\n", se_strerror(s)); return 1; }
    for (;;) {
      se_message m;
      if ((s = se_recv(&c, &m, 5000))) { fprintf(stderr, "recv: %s\n", se_strerror(s)); return 1; }
      if (m.header.type == SE_ERROR) {
        se_error e;
        se_decode_error(&m, &e);
        printf("error %u %s: %s\n", e.code, e.name, e.message);
        return 1;
      }
      if (m.header.type != SE_RESULT) continue;
      se_result r;
      if ((s = se_decode_result(&m, &r))) { fprintf(stderr, "result: %s\n", se_strerror(s)); return 1; }
      printf("result stream=%u seq=%u view=%s confidence=%.4f quality=%.4f lv_area_mm2=%.2f ef=%s flags=0x%04x total_ms=%.3f rtt_ms=%.3f\n",
             r.stream, r.seq, r.view[0] ? r.view : "-", r.confidence, r.quality, r.lv_area_mm2,
             isnan(r.ef) ? "-" : "set", r.flags, r.total_ms, now_ms() - t0);
      if (r.seq == (uint32_t)(i + 1)) { received++; break; }
    }
  }
  printf("done: %d frames, %d results\n", count, received);
  se_close(&c);
  free(frame);
  fclose(f);
  return received == count ? 0 : 1;
}
