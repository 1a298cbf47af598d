/* Reconfigures a stream mid-session, as a scanner does when the user changes the frame rate or the depth,
 * and prints every result.
 *   reconfigure_stream [--shm | --shm-runtime] SOCKET RAWFILE PHASE...
 *   PHASE: WIDTHxHEIGHT@FPS:COUNT[:X,Y,W,H]   (X,Y,W,H: the roi)
 * The raw file holds GRAY8 frames of the first phase's size back to back, read in a loop; a phase of
 * another size gets each frame cropped (or padded with 0) to its own. Each phase is one CONFIGURE_STREAM
 * of stream 0 on the same connection, then COUNT frames; frame seqs run on across phases (1, 2, ...).
 * Every frame waits for its result (at most 5 s) except a phase's last, which is still in flight when
 * the next phase's CONFIGURE_STREAM goes out; its result may come before that reply (the runtime loads
 * a new geometry's models first), while se_configure waits: client.on_message gets it. Ends with a PING
 * (the connection is still up) and exits 0 when every frame had its result and no ERROR came.
 * --shm: frames go through one ring of 4 slots this program makes, sized for the largest phase and named
 * in every CONFIGURE_STREAM (the runtime keeps it; the slot of a frame in flight is read at that frame's
 * size). --shm-runtime: every CONFIGURE_STREAM asks the runtime for a new ring (create), which replaces
 * the last on the same se_ring. Either way every slot must be back at the end. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sonoedge.h"

#define MAX_PHASES 8
#define SLOTS 4

typedef struct {
  se_stream_config cfg;
  int count;
} phase;

typedef struct {
  int results, errors;
  uint32_t last_seq; /* the seq of the last RESULT */
} tally;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Prints a RESULT or an ERROR; anything else is ignored. */
static void show(tally *t, const se_message *m) {
  if (m->header.type == SE_ERROR) {
    se_error e;
    se_decode_error(m, &e);
    printf("error %u %s: %s\n", e.code, e.name, e.message);
    t->errors++;
    return;
  }
  if (m->header.type != SE_RESULT) return;
  se_result r;
  int s = se_decode_result(m, &r);
  if (s) { printf("error result: %s\n", se_strerror(s)); t->errors++; return; }
  static const char *states[] = {"ok", "uncertain", "unknown"};
  printf("result stream=%u seq=%u view=%s state=%s confidence=%.4f lv_area_mm2=%.2f flags=0x%04x\n",
         r.stream, r.seq, r.view[0] ? r.view : "-", states[r.state], r.confidence, r.lv_area_mm2, r.flags);
  t->results++;
  t->last_seq = r.seq;
}

/* client.on_message: what arrives while se_configure (or se_ping) waits for its reply. */
static void on_message(void *ctx, const se_message *m) { show(ctx, m); }

/* Receives and shows one message: 0, or -1 on a receive error or an ERROR. */
static int receive_one(se_client *c, tally *t) {
  se_message m;
  int s = se_recv(c, &m, 5000);
  if (s) { fprintf(stderr, "recv: %s\n", se_strerror(s)); return -1; }
  int errors = t->errors;
  show(t, &m);
  return t->errors > errors ? -1 : 0;
}

/* Receives until the RESULT of frame `want` (1), or fails (-1). */
static int await_result(se_client *c, tally *t, uint32_t want) {
  for (;;) {
    se_message m;
    int s = se_recv(c, &m, 5000);
    if (s) { fprintf(stderr, "recv: %s\n", se_strerror(s)); return -1; }
    int errors = t->errors, results = t->results;
    show(t, &m);
    if (t->errors > errors) return -1;
    if (t->results > results && t->last_seq == want) return 1;
  }
}

static int parse_phase(const char *arg, phase *p) {
  int n = 0;
  memset(p, 0, sizeof *p);
  if (sscanf(arg, "%ux%u@%lf:%d%n", &p->cfg.width, &p->cfg.height, &p->cfg.fps, &p->count, &n) != 4 || p->count < 1) return -1;
  if (arg[n] == ':') {
    int m = 0;
    if (sscanf(arg + n + 1, "%u,%u,%u,%u%n", &p->cfg.roi_x, &p->cfg.roi_y, &p->cfg.roi_width, &p->cfg.roi_height, &m) != 4) return -1;
    p->cfg.has_roi = 1;
    n += 1 + m;
  }
  p->cfg.stream = 0;
  p->cfg.format = "GRAY8";
  p->cfg.spacing_x_mm = p->cfg.spacing_y_mm = 0.3;
  return arg[n] ? -1 : 0;
}

int main(int argc, char **argv) {
  phase phases[MAX_PHASES];
  memset(phases, 0, sizeof phases);
  int shm = 0; /* 1: this program makes the ring; 2: the runtime makes one per CONFIGURE_STREAM */
  if (argc > 1 && strcmp(argv[1], "--shm") == 0) { shm = 1; argv++; argc--; }
  else if (argc > 1 && strcmp(argv[1], "--shm-runtime") == 0) { shm = 2; argv++; argc--; }
  int n_phases = argc - 3;
  if (argc < 4 || n_phases > MAX_PHASES) {
    fprintf(stderr, "usage: reconfigure_stream [--shm | --shm-runtime] SOCKET RAWFILE WIDTHxHEIGHT@FPS:COUNT[:X,Y,W,H]... (at most %d phases)\n", MAX_PHASES);
    return 2;
  }
  for (int i = 0; i < n_phases; i++) {
    if (parse_phase(argv[3 + i], &phases[i])) { fprintf(stderr, "phase %d: expected WIDTHxHEIGHT@FPS:COUNT[:X,Y,W,H] but received %s\n", i + 1, argv[3 + i]); return 2; }
  }
  size_t raw_w = phases[0].cfg.width, raw_h = phases[0].cfg.height, max_bytes = 0;
  for (int i = 0; i < n_phases; i++) {
    size_t b = (size_t)phases[i].cfg.width * phases[i].cfg.height;
    if (b > max_bytes) max_bytes = b;
  }
  FILE *f = fopen(argv[2], "rb");
  uint8_t *raw = malloc(raw_w * raw_h), *frame = malloc(max_bytes);
  if (!f || !raw || !frame) { fprintf(stderr, "cannot read %s\n", argv[2]); return 2; }
  se_client c;
  se_ring ring;
  tally t = {0, 0, 0};
  memset(&ring, 0, sizeof ring);
  int s = se_connect_unix(&c, argv[1]);
  if (s) { fprintf(stderr, "connect %s: %s\n", argv[1], se_strerror(s)); return 1; }
  c.on_message = on_message;
  c.on_message_ctx = &t;
  if ((s = se_hello(&c, "reconfigure_stream example", 5000))) { fprintf(stderr, "hello: %s\n", se_strerror(s)); return 1; }
  if (shm == 1) {
    char name[64];
    snprintf(name, sizeof name, "/sonoedge-reconfigure-%ld", (long)getpid());
    if ((s = se_ring_create(&ring, name, SLOTS, (uint32_t)((max_bytes + 4095) / 4096 * 4096), 0660))) { fprintf(stderr, "ring %s: %s\n", name, se_strerror(s)); return 1; }
  }
  int sent = 0, failed = 0;
  uint32_t seq = 0;
  for (int i = 0; i < n_phases && !failed; i++) {
    const se_stream_config *cfg = &phases[i].cfg;
    uint32_t frame_bytes = 0;
    s = shm ? se_configure_ring(&c, cfg, &ring, shm == 2, SLOTS, &frame_bytes, 5000) : se_configure(&c, cfg, &frame_bytes, 5000);
    if (s) {
      fprintf(stderr, "configure phase %d: %s %s\n", i + 1, se_strerror(s), s == SE_EREMOTE ? c.last_error.message : "");
      failed = 1;
      break;
    }
    printf("configured: phase %d %ux%u fps=%g roi=", i + 1, cfg->width, cfg->height, cfg->fps);
    if (cfg->has_roi) printf("%u,%u,%u,%u", cfg->roi_x, cfg->roi_y, cfg->roi_width, cfg->roi_height);
    else printf("-");
    printf(" frame_bytes=%u\n", frame_bytes);
    if (shm) printf("ring: phase %d %s, %u slots of %u bytes, %u free\n", i + 1, ring.name, ring.slots, ring.slot_bytes, se_ring_free_slots(&ring));
    if (frame_bytes > max_bytes) { fprintf(stderr, "phase %d: frames of %u bytes, more than the %zu a packed GRAY8 frame has\n", i + 1, frame_bytes, max_bytes); failed = 1; break; }
    if (i == 0 && (s = se_subscribe(&c, 0, 0, 5000))) { fprintf(stderr, "subscribe: %s\n", se_strerror(s)); failed = 1; break; }
    for (int k = 0; k < phases[i].count; k++) {
      if (fread(raw, 1, raw_w * raw_h, f) != raw_w * raw_h) {
        rewind(f);
        if (fread(raw, 1, raw_w * raw_h, f) != raw_w * raw_h) { fprintf(stderr, "short file\n"); return 2; }
      }
      uint8_t *dst = frame;
      int slot = -1;
      if (shm) {
        /* A slot the firmware owns; if the runtime holds all of them, wait for a SLOT_RELEASE. */
        while ((slot = se_ring_slot_acquire(&ring)) < 0) if (receive_one(&c, &t) < 0) { failed = 1; break; }
        if (failed) break;
        dst = se_ring_slot(&ring, (uint32_t)slot);
      }
      /* The raw frame cropped (or padded with 0) to this phase's size. */
      memset(dst, 0, frame_bytes);
      for (size_t y = 0; y < cfg->height && y < raw_h; y++) memcpy(dst + y * cfg->width, raw + y * raw_w, cfg->width < raw_w ? cfg->width : raw_w);
      seq++;
      s = shm ? se_send_frame_ready(&c, &ring, 0, seq, now_ms(), (uint32_t)slot) : se_send_frame(&c, 0, seq, now_ms(), dst, frame_bytes);
      if (s) { fprintf(stderr, "send: %s\n", se_strerror(s)); failed = 1; break; }
      sent++;
      /* A phase's last frame is left in flight across the next CONFIGURE_STREAM. */
      if (k == phases[i].count - 1 && i < n_phases - 1) continue;
      if (await_result(&c, &t, seq) < 0) { failed = 1; break; }
    }
  }
  if (shm) {
    /* Every slot comes back: wait for the last SLOT_RELEASEs. */
    double until = now_ms() + 5000;
    while (!failed && se_ring_free_slots(&ring) < ring.slots && now_ms() < until) if (receive_one(&c, &t) < 0) failed = 1;
    printf("slots back: %u of %u\n", se_ring_free_slots(&ring), ring.slots);
  }
  if (!failed && (s = se_ping(&c, 5000))) { fprintf(stderr, "ping: %s\n", se_strerror(s)); failed = 1; }
  if (!failed) printf("ping: ok\n");
  printf("done: %d frames, %d results, %d errors\n", sent, t.results, t.errors);
  int ok = !failed && t.results == sent && t.errors == 0 && (!shm || se_ring_free_slots(&ring) == ring.slots);
  se_close(&c);
  se_ring_close(&ring);
  free(raw);
  free(frame);
  fclose(f);
  return ok ? 0 : 1;
}
