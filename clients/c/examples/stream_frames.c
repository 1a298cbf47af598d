/* Streams GRAY8 frames from a raw file to the runtime and prints each result.
 *   stream_frames [--shm | --shm-runtime] [--study KEYWORD=VALUE]... [--flip FLIP] SOCKET RAWFILE WIDTH HEIGHT [COUNT] [FPS]
 * The raw file holds WIDTH*HEIGHT-byte frames back to back; it is read in a loop.
 * Each frame waits for its result (at most 5 s), so none is dropped.
 * --shm: frames go through a shared-memory ring of 4 slots that this program
 * creates (shm_open); --shm-runtime: through one the runtime creates. Either
 * way a frame is read straight into a slot the firmware owns and announced
 * with FRAME_READY; the slot comes back with SLOT_RELEASE. --study (repeated)
 * sends the patient and study the runtime's DICOM captures of the stream are
 * filed under, e.g. --study PatientID=P-14 --study "PatientName=Doe^Jane". --flip
 * says how the scanner shows the image against the models' orientation: horizontal
 * (mirrored), vertical (apex down) or both (default none). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sonoedge.h"

#define SLOTS 4

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One message; prints RESULTs. 1 when it was the RESULT of `want`, 0 otherwise, -1 on error. */
static int receive(se_client *c, uint32_t want, double t0) {
  se_message m;
  int s = se_recv(c, &m, 5000);
  if (s) { fprintf(stderr, "recv: %s\n", se_strerror(s)); return -1; }
  if (m.header.type == SE_ERROR) {
    se_error e;
    se_decode_error(&m, &e);
    printf("error %u %s: %s\n", e.code, e.name, e.message);
    return -1;
  }
  if (m.header.type != SE_RESULT) return 0;
  se_result r;
  if ((s = se_decode_result(&m, &r))) { fprintf(stderr, "result: %s\n", se_strerror(s)); return -1; }
  static const char *states[] = {"ok", "uncertain", "unknown"};
  char id[16] = "-", ef[16] = "-", ci[32] = "-", ed[24] = "-", es[24] = "-"; /* ed, es: up to 19 digits */
  if (!isnan(r.id_score)) snprintf(id, sizeof id, "%.4f", r.id_score);
  if (!isnan(r.ef)) snprintf(ef, sizeof ef, "%.1f", r.ef);
  if (!isnan(r.ef_ci_lo)) snprintf(ci, sizeof ci, "%.1f..%.1f", r.ef_ci_lo, r.ef_ci_hi);
  if (r.ed_seq >= 0) snprintf(ed, sizeof ed, "%lld", (long long)r.ed_seq);
  if (r.es_seq >= 0) snprintf(es, sizeof es, "%lld", (long long)r.es_seq);
  printf("result stream=%u seq=%u view=%s confidence=%.4f quality=%.4f state=%s id_score=%s lv_area_mm2=%.2f ef=%s ef_ci=%s ed=%s es=%s "
         "flags=0x%04x total_ms=%.3f rtt_ms=%.3f\n",
         r.stream, r.seq, r.view[0] ? r.view : "-", r.confidence, r.quality, states[r.state], id, r.lv_area_mm2, ef, ci, ed, es,
         r.flags, r.total_ms, now_ms() - t0);
  return r.seq == want;
}

int main(int argc, char **argv) {
  int shm = 0; /* 1: this program makes the ring; 2: the runtime does */
  se_study_attr study[SE_STUDY_MAX_ATTRS];
  size_t n_study = 0;
  const char *flip = NULL;
  for (;;) {
    if (argc > 1 && strcmp(argv[1], "--shm") == 0) { shm = 1; argv++; argc--; }
    else if (argc > 1 && strcmp(argv[1], "--shm-runtime") == 0) { shm = 2; argv++; argc--; }
    else if (argc > 2 && strcmp(argv[1], "--study") == 0) {
      char *eq = strchr(argv[2], '=');
      if (!eq || eq == argv[2] || n_study == SE_STUDY_MAX_ATTRS) { fprintf(stderr, "--study takes KEYWORD=VALUE (at most %d)\n", SE_STUDY_MAX_ATTRS); return 2; }
      *eq = 0;
      study[n_study].keyword = argv[2];
      study[n_study++].value = eq + 1;
      argv += 2; argc -= 2;
    } else if (argc > 2 && strcmp(argv[1], "--flip") == 0) {
      flip = argv[2];
      argv += 2; argc -= 2;
    } else break;
  }
  if (argc < 5) {
    fprintf(stderr, "usage: stream_frames [--shm | --shm-runtime] [--study KEYWORD=VALUE]... [--flip FLIP] SOCKET RAWFILE WIDTH HEIGHT [COUNT] [FPS]\n");
    return 2;
  }
  uint32_t width = (uint32_t)strtoul(argv[3], NULL, 10), height = (uint32_t)strtoul(argv[4], NULL, 10);
  int count = argc > 5 ? atoi(argv[5]) : 10;
  double fps = argc > 6 ? atof(argv[6]) : 30.0;
  FILE *f = fopen(argv[2], "rb");
  if (!f || width == 0 || height == 0) { fprintf(stderr, "cannot read %s\n", argv[2]); return 2; }
  size_t frame_size = (size_t)width * height;
  uint8_t *frame = shm ? NULL : malloc(frame_size); /* shm: frames are read straight into ring slots */
  if (!shm && !frame) { fprintf(stderr, "out of memory\n"); return 2; }
  se_client c;
  se_ring ring;
  memset(&ring, 0, sizeof ring);
  int s = se_connect_unix(&c, argv[1]);
  if (s) { fprintf(stderr, "connect %s: %s\n", argv[1], se_strerror(s)); return 1; }
  if ((s = se_hello(&c, "stream_frames example", 5000))) { fprintf(stderr, "hello: %s\n", se_strerror(s)); return 1; }
  printf("hello: version %u, max message %u\n", c.version, c.max_message_size);
  se_stream_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.stream = 0; cfg.width = width; cfg.height = height; cfg.format = "GRAY8";
  cfg.spacing_x_mm = 0.3; cfg.spacing_y_mm = 0.3; cfg.fps = fps; cfg.flip = flip;
  uint32_t frame_bytes = 0;
  if (shm == 1) {
    char name[64];
    snprintf(name, sizeof name, "/sonoedge-example-%ld", (long)getpid());
    uint32_t slot_bytes = (uint32_t)((frame_size + 4095) / 4096 * 4096);
    if ((s = se_ring_create(&ring, name, SLOTS, slot_bytes, 0660))) { fprintf(stderr, "ring %s: %s\n", name, se_strerror(s)); return 1; }
  }
  s = shm ? se_configure_ring_study(&c, &cfg, study, n_study, &ring, shm == 2, SLOTS, &frame_bytes, 5000)
          : se_configure_study(&c, &cfg, study, n_study, &frame_bytes, 5000);
  if (s) {
    fprintf(stderr, "configure: %s %s\n", se_strerror(s), s == SE_EREMOTE ? c.last_error.message : "");
    se_close(&c);
    se_ring_close(&ring);
    free(frame);
    fclose(f);
    return 1;
  }
  printf("configured: stream 0, %u bytes per frame\n", frame_bytes);
  if (shm) printf("shm: ring %s, %u slots of %u bytes, made by the %s\n", ring.name, ring.slots, ring.slot_bytes, shm == 1 ? "firmware" : "runtime");
  if ((s = se_subscribe(&c, 0, 0, 5000))) { fprintf(stderr, "subscribe: %s\n", se_strerror(s)); return 1; }
  int received = 0, failed = 0;
  for (int i = 0; i < count && !failed; i++) {
    uint32_t seq = (uint32_t)(i + 1);
    uint8_t *dst = frame;
    int slot = -1;
    if (shm) {
      /* A slot the firmware owns; if the runtime holds all of them, wait for a SLOT_RELEASE. */
      while ((slot = se_ring_slot_acquire(&ring)) < 0) if (receive(&c, 0, now_ms()) < 0) { failed = 1; break; }
      if (failed) break;
      dst = se_ring_slot(&ring, (uint32_t)slot);
    }
    if (fread(dst, 1, frame_size, f) != frame_size) {
      rewind(f);
      if (fread(dst, 1, frame_size, f) != frame_size) { fprintf(stderr, "short file\n"); return 2; }
    }
    double t0 = now_ms();
    s = shm ? se_send_frame_ready(&c, &ring, 0, seq, t0, (uint32_t)slot) : se_send_frame(&c, 0, seq, t0, frame, (uint32_t)frame_size);
    if (s) { fprintf(stderr, "send: %s\n", se_strerror(s)); return 1; }
    for (;;) {
      int r = receive(&c, seq, t0);
      if (r < 0) { failed = 1; break; }
      if (r == 1) { received++; break; }
    }
  }
  if (shm) {
    /* Every slot comes back: wait for the last SLOT_RELEASEs. */
    double until = now_ms() + 5000;
    while (!failed && se_ring_free_slots(&ring) < ring.slots && now_ms() < until) if (receive(&c, 0, now_ms()) < 0) break;
    printf("slots back: %u of %u (%u releases, %u bad)\n", se_ring_free_slots(&ring), ring.slots, ring.released, ring.bad_releases);
  }
  printf("done: %d frames, %d results\n", count, received);
  int ok = received == count && (!shm || se_ring_free_slots(&ring) == ring.slots);
  se_close(&c);
  se_ring_close(&ring);
  free(frame);
  fclose(f);
  return ok ? 0 : 1;
}
