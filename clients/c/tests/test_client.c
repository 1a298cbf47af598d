#define _POSIX_C_SOURCE 200809L
/* The socket client's blocking requests over a socketpair, the runtime's side written from the golden vectors
 * (test/fixtures/protocol): what arrives before a request's reply goes to on_message, in order, or is discarded
 * without one; the reply (or ERROR in reply) is the request's own. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sonoedge.h"
#include "check.h"

typedef struct {
  int n;
  uint8_t types[8];
  uint32_t seqs[8]; /* RESULT: the frame's seq; otherwise the header's */
} seen;

static void on_message(void *ctx, const se_message *m) {
  seen *s = ctx;
  se_result r;
  if (s->n == 8) return;
  s->types[s->n] = m->header.type;
  s->seqs[s->n++] = m->header.type == SE_RESULT && se_decode_result(m, &r) == SE_OK ? r.seq : m->header.seq;
}

static const char *dir;

/* Writes the named vectors, in order, to the runtime's end. */
static void runtime_sends(int fd, const char *const *files, int n) {
  for (int i = 0; i < n; i++) {
    size_t len;
    uint8_t *b = read_file(dir, files[i], &len);
    CHECK(write(fd, b, len) == (ssize_t)len, "write %s", files[i]);
    free(b);
  }
}

/* A client on one end of a socketpair, its next request's seq `next_seq` (the golden reply's). */
static void client_on(se_client *c, int sv[2], uint32_t next_seq) {
  memset(c, 0, sizeof *c);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
  c->fd = sv[0];
  c->max_message_size = 1u << 20;
  c->seq = next_seq - 1;
}

/* client_on, with what arrives before a reply collected into `s` through on_message. */
static void client_watching(se_client *c, int sv[2], uint32_t next_seq, seen *s) {
  client_on(c, sv, next_seq);
  c->on_message = on_message;
  c->on_message_ctx = s;
}

/* The request the client wrote: its type and seq. */
static void check_request(int fd, uint8_t type, uint32_t seq) {
  uint8_t buf[4096];
  se_header h;
  ssize_t n = read(fd, buf, sizeof buf);
  CHECK(n >= SE_HEADER_SIZE && se_read_header(buf, (size_t)n, &h) == SE_OK && h.type == type && h.seq == seq,
        "the client sent type 0x%02x seq %u", type, seq);
}

int main(int argc, char **argv) {
  dir = argc > 1 ? argv[1] : "test/fixtures/protocol";
  se_stream_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.width = 64; cfg.height = 48; cfg.format = "GRAY8"; cfg.spacing_x_mm = cfg.spacing_y_mm = 0.3; cfg.fps = 50;

  { /* A reconfigure with a frame in flight: its RESULT, a SLOT_RELEASE and an unsolicited ERROR come before the reply. */
    se_client c;
    int sv[2];
    seen s = {0};
    uint32_t fb = 0;
    client_watching(&c, sv, 2, &s);
    const char *files[] = {"socket-result.bin", "socket-slot-release.bin", "socket-error-unsolicited.bin", "socket-result-unknown.bin", "socket-configure-stream-reply.bin"};
    runtime_sends(sv[1], files, 5);
    int st = se_configure(&c, &cfg, &fb, 1000);
    CHECK(st == SE_OK && fb == 3072, "se_configure: %s, frame_bytes %u", se_strerror(st), fb);
    check_request(sv[1], SE_CONFIGURE_STREAM, 2);
    CHECK(s.n == 4, "on_message got the 4 messages before the reply (%d)", s.n);
    CHECK(s.types[0] == SE_RESULT && s.seqs[0] == 7 && s.types[1] == SE_SLOT_RELEASE && s.types[2] == SE_ERROR && s.types[3] == SE_RESULT && s.seqs[3] == 8,
          "in order: RESULT of frame 7, SLOT_RELEASE, ERROR, RESULT of frame 8");
    se_close(&c);
    close(sv[1]);
  }
  { /* Without on_message they are discarded, as before; the reply is still found. */
    se_client c;
    int sv[2];
    uint32_t fb = 0;
    client_on(&c, sv, 2);
    const char *files[] = {"socket-result.bin", "socket-configure-stream-reply.bin"};
    runtime_sends(sv[1], files, 2);
    int st = se_configure(&c, &cfg, &fb, 1000);
    CHECK(st == SE_OK && fb == 3072, "se_configure without on_message: %s", se_strerror(st));
    se_close(&c);
    close(sv[1]);
  }
  { /* A flip string that cannot be one (over 32 characters) is SE_EARG, and nothing is sent. */
    se_client c;
    int sv[2];
    client_on(&c, sv, 2);
    se_stream_config bad = cfg;
    bad.flip = "horizontal-horizontal-horizontal-";
    int st = se_configure(&c, &bad, NULL, 1000);
    CHECK(st == SE_EARG, "a 33-character flip: %s", se_strerror(st));
    uint8_t b[64];
    CHECK(recv(sv[1], b, sizeof b, MSG_DONTWAIT) < 0, "nothing was sent");
    se_close(&c);
    close(sv[1]);
  }
  { /* An ERROR in reply to the request is SE_EREMOTE, not on_message's; one for another seq is on_message's. */
    se_client c;
    int sv[2];
    seen s = {0};
    client_watching(&c, sv, 3, &s);
    const char *files[] = {"socket-error-slot.bin", "socket-result.bin", "socket-error.bin"};
    runtime_sends(sv[1], files, 3);
    int st = se_configure(&c, &cfg, NULL, 1000);
    CHECK(st == SE_EREMOTE && strcmp(c.last_error.name, "FRAME_SIZE") == 0, "ERROR in reply: %s %s", se_strerror(st), c.last_error.name);
    CHECK(s.n == 2 && s.types[0] == SE_ERROR && s.seqs[0] == 4 && s.types[1] == SE_RESULT && s.seqs[1] == 7, "on_message: the ERROR to seq 4, the RESULT");
    se_close(&c);
    close(sv[1]);
  }
  { /* se_subscribe and se_ping pass them on too. */
    se_client c;
    int sv[2];
    seen s = {0};
    client_watching(&c, sv, 5, &s);
    const char *files[] = {"socket-result.bin", "socket-subscribe-reply.bin"};
    runtime_sends(sv[1], files, 2);
    int st = se_subscribe(&c, 0, 1, 1000);
    CHECK(st == SE_OK && s.n == 1 && s.seqs[0] == 7, "se_subscribe: %s, %d passed on", se_strerror(st), s.n);
    c.seq = 15;
    const char *more[] = {"socket-result-unknown.bin", "socket-pong.bin"};
    runtime_sends(sv[1], more, 2);
    st = se_ping(&c, 1000);
    CHECK(st == SE_OK && s.n == 2 && s.seqs[1] == 8, "se_ping: %s, %d passed on", se_strerror(st), s.n);
    se_close(&c);
    close(sv[1]);
  }
  { /* A reconfigure that asks the runtime for a new ring (create) again on the same se_ring: the old mapping goes. */
    se_client c;
    se_ring made, ring;
    int sv[2];
    uint32_t fb = 0;
    const char *name = "/sonoedge-4242-0123456789ab"; /* the golden reply's */
    memset(&ring, 0, sizeof ring);
    shm_unlink(name);
    CHECK(se_ring_create(&made, name, 8, 4096, 0600) == SE_OK, "the runtime's ring %s", name);
    cfg.stream = 2;
    client_on(&c, sv, 19);
    const char *files[] = {"socket-configure-stream-ring-reply.bin"};
    runtime_sends(sv[1], files, 1);
    int st = se_configure_ring(&c, &cfg, &ring, 1, 8, &fb, 1000);
    CHECK(st == SE_OK && fb == 3072 && ring.base && ring.slots == 8 && !ring.created, "se_configure_ring create: %s", se_strerror(st));
    uint8_t *old = ring.base;
    c.seq = 18;
    runtime_sends(sv[1], files, 1);
    st = se_configure_ring(&c, &cfg, &ring, 1, 8, &fb, 1000);
    CHECK(st == SE_OK && ring.base && ring.owned == 0xffu, "se_configure_ring create again: %s", se_strerror(st));
    errno = 0;
    CHECK(ring.base == old || (msync(old, 4096, MS_ASYNC) != 0 && errno == ENOMEM), "the first ring's mapping is gone (msync: %s)", strerror(errno));
    /* Once more, with the runtime's ring gone before the client maps it: an error, and the stream has no ring. */
    se_ring_close(&made);
    c.seq = 18;
    runtime_sends(sv[1], files, 1);
    st = se_configure_ring(&c, &cfg, &ring, 1, 8, &fb, 1000);
    int attached = 0;
    for (int i = 0; i < SE_MAX_RINGS; i++) attached += c.rings[i] != NULL;
    CHECK(st == SE_ESHM && !ring.base && attached == 0, "a ring that cannot be mapped: %s, %d rings attached", se_strerror(st), attached);
    se_close(&c);
    close(sv[1]);
    se_ring_close(&ring);
    se_ring_close(&made);
  }
  { /* The first se_configure_ring (create) on a struct never initialised: it is not closed first. A struct whose
     * leftover bytes look mapped and made by the firmware must not unmap or unlink anything (before: it did). */
    se_client c;
    se_ring made, ring;
    int sv[2];
    uint32_t fb = 0;
    const char *name = "/sonoedge-4242-0123456789ab"; /* the golden reply's */
    const char *bystander = "/sonoedge-test-client-bystander";
    shm_unlink(name);
    shm_unlink(bystander);
    CHECK(se_ring_create(&made, name, 8, 4096, 0600) == SE_OK, "the runtime's ring %s", name);
    int keep = shm_open(bystander, O_CREAT | O_RDWR, 0600);
    CHECK(keep >= 0, "a shared-memory object nobody hands the client: %s", strerror(errno));
    memset(&ring, 0x5a, sizeof ring);
    snprintf(ring.name, sizeof ring.name, "%s", bystander);
    ring.created = 1;
    ring.base = (uint8_t *)&keep; /* not a mapping: munmap of it would fail or unmap the stack */
    ring.size = 0;
    cfg.stream = 2;
    client_on(&c, sv, 19);
    const char *files[] = {"socket-configure-stream-ring-reply.bin"};
    runtime_sends(sv[1], files, 1);
    int st = se_configure_ring(&c, &cfg, &ring, 1, 8, &fb, 1000);
    CHECK(st == SE_OK && ring.base && ring.base != (uint8_t *)&keep && ring.slots == 8, "se_configure_ring create on a fresh struct: %s", se_strerror(st));
    int still = shm_open(bystander, O_RDWR, 0600);
    CHECK(still >= 0, "the name left in the fresh struct was not unlinked (%s)", still >= 0 ? "kept" : strerror(errno));
    if (still >= 0) close(still);
    close(keep);
    shm_unlink(bystander);
    se_close(&c);
    close(sv[1]);
    se_ring_close(&ring);
    se_ring_close(&made);
  }
  { /* A ring stream reconfigured without a ring: the client lets go of the ring once the runtime accepts (the ring
     * has ended; it is the firmware's to close and free), not when the runtime refuses (the ring is kept). */
    se_client c;
    se_ring *ring = malloc(sizeof *ring); /* on the heap: se_close after free is a use-after-free under ASan */
    int sv[2];
    uint32_t fb = 0;
    char name[64];
    snprintf(name, sizeof name, "/sonoedge-test-client-%ld", (long)getpid());
    shm_unlink(name);
    CHECK(ring && se_ring_create(ring, name, 8, 4096, 0600) == SE_OK, "the firmware's ring %s", name);
    cfg.stream = 0;
    client_on(&c, sv, 19);
    const char *ring_reply[] = {"socket-configure-stream-ring-reply.bin"};
    runtime_sends(sv[1], ring_reply, 1);
    int st = se_configure_ring(&c, &cfg, ring, 0, 0, &fb, 1000);
    CHECK(st == SE_OK && fb == 3072, "se_configure_ring with the firmware's ring: %s", se_strerror(st));
    st = se_send_frame_ready(&c, ring, 0, 8, 1.0, 2);
    CHECK(st == SE_OK && se_ring_free_slots(ring) == 7, "FRAME_READY from slot 2: %s", se_strerror(st));
    c.seq = 2;
    const char *refused[] = {"socket-error.bin"};
    runtime_sends(sv[1], refused, 1);
    st = se_configure(&c, &cfg, &fb, 1000);
    CHECK(st == SE_EREMOTE, "a refused plain reconfigure: %s", se_strerror(st));
    /* Still attached: slot 2's SLOT_RELEASE (before the reply that ends the ring) is applied to it. */
    c.seq = 1;
    const char *accepted[] = {"socket-slot-release.bin", "socket-configure-stream-reply.bin"};
    runtime_sends(sv[1], accepted, 2);
    st = se_configure(&c, &cfg, &fb, 1000);
    CHECK(st == SE_OK && ring->released == 1 && se_ring_free_slots(ring) == 8, "the plain reconfigure: %s, %u released, %u free",
          se_strerror(st), ring->released, se_ring_free_slots(ring));
    int attached = 0;
    for (int i = 0; i < SE_MAX_RINGS; i++) attached += c.rings[i] == ring;
    CHECK(attached == 0, "the ring is no longer the client's (%d)", attached);
    /* A SLOT_RELEASE for the stream now is no ring's: the ring does not count it as a bad release. */
    const char *late[] = {"socket-slot-release.bin"};
    runtime_sends(sv[1], late, 1);
    se_message m;
    st = se_recv(&c, &m, 1000);
    CHECK(st == SE_OK && m.header.type == SE_SLOT_RELEASE && ring->bad_releases == 0 && ring->released == 1,
          "a late SLOT_RELEASE: %s, %u bad", se_strerror(st), ring->bad_releases);
    se_ring_close(ring);
    free(ring);
    se_close(&c); /* must not touch the freed ring */
    close(sv[1]);
  }
  DONE();
}
