/* The socket client: connect, HELLO, CONFIGURE_STREAM, SUBSCRIBE, FRAME,
 * FRAME_READY, and receiving messages. Blocking I/O with poll() timeouts.
 * se_recv applies SLOT_RELEASE to the rings attached by se_configure_ring
 * (and gives every slot back when the connection closes) until a plain
 * se_configure of their stream is accepted. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include "sonoedge.h"

#define SE_DEFAULT_MAX (32u * 1024u * 1024u)

int se_connect_unix(se_client *c, const char *path) {
  struct sockaddr_un addr;
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->max_message_size = SE_DEFAULT_MAX;
  if (strlen(path) >= sizeof addr.sun_path) return SE_EARG;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  strcpy(addr.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return SE_EIO;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { close(fd); return SE_EIO; }
  c->fd = fd;
  return SE_OK;
}

/* The connection is gone: every slot is the firmware's again (the runtime reads no slot of a closed connection). */
static void rings_reset(se_client *c) {
  for (int i = 0; i < SE_MAX_RINGS; i++) if (c->rings[i]) se_ring_reset(c->rings[i]);
}

static se_ring *ring_of(se_client *c, uint16_t stream) {
  for (int i = 0; i < SE_MAX_RINGS; i++) if (c->rings[i] && c->ring_streams[i] == stream) return c->rings[i];
  return NULL;
}

static int attach_ring(se_client *c, uint16_t stream, se_ring *r) {
  int free_at = -1;
  for (int i = 0; i < SE_MAX_RINGS; i++) {
    if (c->rings[i] && c->ring_streams[i] == stream) { c->rings[i] = r; return SE_OK; }
    if (!c->rings[i] && free_at < 0) free_at = i;
  }
  if (free_at < 0) return SE_EARG;
  c->rings[free_at] = r;
  c->ring_streams[free_at] = stream;
  return SE_OK;
}

/* Whether `r` is the ring attached to the client for `stream` (by an earlier se_configure_ring). */
static int ring_attached(const se_client *c, uint16_t stream, const se_ring *r) {
  for (int i = 0; i < SE_MAX_RINGS; i++) if (c->rings[i] == r && c->ring_streams[i] == stream) return 1;
  return 0;
}

/* The stream's ring has ended (a CONFIGURE_STREAM without a ring was accepted): the client lets go of it. */
static void detach_ring(se_client *c, uint16_t stream) {
  for (int i = 0; i < SE_MAX_RINGS; i++) if (c->rings[i] && c->ring_streams[i] == stream) c->rings[i] = NULL;
}

static void apply_slot_release(se_client *c, const se_message *m) {
  uint16_t stream;
  uint32_t slot, frame_seq;
  if (se_decode_slot_release(m, &stream, &slot, &frame_seq) != SE_OK) return;
  se_ring *r = ring_of(c, stream);
  if (r) se_ring_release(r, slot);
}

void se_close(se_client *c) {
  rings_reset(c);
  for (int i = 0; i < SE_MAX_RINGS; i++) c->rings[i] = NULL;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
  c->cap = c->len = 0;
}

static int write_all(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0) { if (errno == EINTR) continue; return SE_EIO; }
    while (n > 0 && (size_t)w >= iov->iov_len) { w -= (ssize_t)iov->iov_len; iov++; n--; }
    if (n > 0) { iov->iov_base = (char *)iov->iov_base + w; iov->iov_len -= (size_t)w; }
  }
  return SE_OK;
}

int se_send(se_client *c, uint8_t type, uint16_t flags, const uint8_t *body, uint32_t body_len,
            const void *payload, uint32_t payload_len, uint32_t *seq_out) {
  uint8_t head[SE_HEADER_SIZE];
  se_header h;
  h.version = SE_PROTOCOL_VERSION;
  h.type = type;
  h.flags = flags;
  h.body_length = body_len;
  h.payload_length = payload_len;
  h.seq = ++c->seq;
  se_write_header(head, &h);
  struct iovec iov[3] = {{head, SE_HEADER_SIZE}, {(void *)body, body_len}, {(void *)payload, payload_len}};
  if (seq_out) *seq_out = h.seq;
  return write_all(c->fd, iov, payload_len ? 3 : 2);
}

int se_recv(se_client *c, se_message *m, int timeout_ms) {
  if (c->consumed) {
    memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
    c->len -= c->consumed;
    c->consumed = 0;
  }
  for (;;) {
    size_t used = 0;
    int s = c->len ? se_decode_message(c->buf, c->len, c->max_message_size, m, &used) : SE_EINCOMPLETE;
    if (s == SE_OK) {
      c->consumed = used;
      if (m->header.type == SE_SLOT_RELEASE) apply_slot_release(c, m);
      return SE_OK;
    }
    if (s != SE_EINCOMPLETE) return s; /* the stream is corrupt: the caller should reconnect */
    size_t need = SE_HEADER_SIZE;
    if (c->len >= SE_HEADER_SIZE) need += m->header.body_length + (size_t)m->header.payload_length;
    if (need < 65536) need = 65536;
    if (c->cap < need) {
      uint8_t *nb = realloc(c->buf, need);
      if (!nb) return SE_ENOMEM;
      c->buf = nb;
      c->cap = need;
    }
    struct pollfd p = {c->fd, POLLIN, 0};
    int pr = poll(&p, 1, timeout_ms);
    if (pr == 0) return SE_ETIMEOUT;
    if (pr < 0) { if (errno == EINTR) continue; return SE_EIO; }
    ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
    if (r == 0) { rings_reset(c); return SE_ECLOSED; }
    if (r < 0) { if (errno == EINTR || errno == EAGAIN) continue; rings_reset(c); return SE_EIO; }
    c->len += (size_t)r;
  }
}

/* Waits for the reply to `seq`; what arrives meanwhile (RESULTs, say) goes to c->on_message, or is discarded. */
static int await_reply(se_client *c, uint32_t seq, uint8_t type, se_message *m, int timeout_ms) {
  for (;;) {
    int s = se_recv(c, m, timeout_ms);
    if (s) return s;
    if (!(m->header.flags & SE_FLAG_REPLY) || m->header.seq != seq) {
      if (c->on_message) c->on_message(c->on_message_ctx, m);
      continue;
    }
    if (m->header.type == SE_ERROR) {
      se_decode_error(m, &c->last_error);
      return SE_EREMOTE;
    }
    return m->header.type == type ? SE_OK : SE_ETYPE;
  }
}

int se_hello(se_client *c, const char *client_name, int timeout_ms) {
  uint8_t body[256];
  se_mp_writer w;
  uint32_t seq;
  se_message m;
  se_mp_reader r;
  se_mp_item it;
  se_mp_writer_init(&w, body, sizeof body);
  se_mp_map(&w, 2);
  se_mp_str(&w, "versions"); se_mp_array(&w, 1); se_mp_uint(&w, SE_PROTOCOL_VERSION);
  se_mp_str(&w, "client"); se_mp_strn(&w, client_name, (uint32_t)(strlen(client_name) > 200 ? 200 : strlen(client_name)));
  if (w.overflow) return SE_EARG;
  int s = se_send(c, SE_HELLO, 0, body, (uint32_t)w.len, NULL, 0, &seq);
  if (s) return s;
  if ((s = await_reply(c, seq, SE_HELLO, &m, timeout_ms))) return s;
  if (se_mp_find(m.body, m.header.body_length, "version", &r) || se_mp_next(&r, &it) || it.kind != SE_MP_UINT) return SE_EBODY;
  c->version = (uint8_t)it.u;
  if (se_mp_find(m.body, m.header.body_length, "maxMessageSize", &r) == SE_OK && se_mp_next(&r, &it) == SE_OK && it.kind == SE_MP_UINT)
    c->max_message_size = (uint32_t)it.u;
  return SE_OK;
}

/* CONFIGURE_STREAM with, when ring_name or create_slots is given, the ring key, then, with n_study > 0, the study map. */
static int configure(se_client *c, const se_stream_config *cfg, const se_ring *ring, uint32_t create_slots,
                     const se_study_attr *study, size_t n_study, se_message *m, int timeout_ms) {
  uint8_t body[768 + SE_STUDY_MAX_ATTRS * 256];
  se_mp_writer w;
  uint32_t seq;
  int has_ring = ring != NULL || create_slots != 0;
  if (n_study > SE_STUDY_MAX_ATTRS || (n_study > 0 && !study)) return SE_EARG;
  for (size_t i = 0; i < n_study; i++) {
    if (!study[i].keyword || !study[i].value || !study[i].keyword[0] || strlen(study[i].keyword) > 32 || strlen(study[i].value) > 200) return SE_EARG;
  }
  se_mp_writer_init(&w, body, sizeof body);
  /* A flip the runtime does not know is its to refuse (BAD_FIELD); only one that cannot fit is refused here. */
  int has_flip = cfg->flip != NULL && cfg->flip[0] != 0;
  if (has_flip && strlen(cfg->flip) > 32) return SE_EARG;
  se_mp_map(&w, 6 + (cfg->stride ? 1 : 0) + (cfg->has_roi ? 1 : 0) + (cfg->has_sector ? 1 : 0) + (has_ring ? 1 : 0) + (n_study ? 1 : 0) + (has_flip ? 1 : 0));
  se_mp_str(&w, "stream"); se_mp_uint(&w, cfg->stream);
  se_mp_str(&w, "width"); se_mp_uint(&w, cfg->width);
  se_mp_str(&w, "height"); se_mp_uint(&w, cfg->height);
  se_mp_str(&w, "format"); se_mp_str(&w, cfg->format);
  if (cfg->stride) { se_mp_str(&w, "stride"); se_mp_uint(&w, cfg->stride); }
  se_mp_str(&w, "spacing"); se_mp_array(&w, 2); se_mp_double(&w, cfg->spacing_x_mm); se_mp_double(&w, cfg->spacing_y_mm);
  if (cfg->has_roi) {
    se_mp_str(&w, "roi"); se_mp_map(&w, 4);
    se_mp_str(&w, "x"); se_mp_uint(&w, cfg->roi_x); se_mp_str(&w, "y"); se_mp_uint(&w, cfg->roi_y);
    se_mp_str(&w, "width"); se_mp_uint(&w, cfg->roi_width); se_mp_str(&w, "height"); se_mp_uint(&w, cfg->roi_height);
  }
  if (cfg->has_sector) {
    se_mp_str(&w, "sector"); se_mp_map(&w, 4);
    se_mp_str(&w, "angleStart"); se_mp_double(&w, cfg->angle_start); se_mp_str(&w, "angleEnd"); se_mp_double(&w, cfg->angle_end);
    se_mp_str(&w, "depthStart"); se_mp_double(&w, cfg->depth_start); se_mp_str(&w, "depthEnd"); se_mp_double(&w, cfg->depth_end);
  }
  se_mp_str(&w, "fps"); se_mp_double(&w, cfg->fps);
  if (has_flip) { se_mp_str(&w, "flip"); se_mp_str(&w, cfg->flip); }
  if (ring) {
    se_mp_str(&w, "ring"); se_mp_map(&w, 3);
    se_mp_str(&w, "name"); se_mp_str(&w, ring->name);
    se_mp_str(&w, "slots"); se_mp_uint(&w, ring->slots);
    se_mp_str(&w, "slotBytes"); se_mp_uint(&w, ring->slot_bytes);
  } else if (create_slots) {
    se_mp_str(&w, "ring"); se_mp_map(&w, 2);
    se_mp_str(&w, "create"); se_mp_bool(&w, 1);
    se_mp_str(&w, "slots"); se_mp_uint(&w, create_slots);
  }
  if (n_study) {
    se_mp_str(&w, "study"); se_mp_map(&w, (uint32_t)n_study);
    for (size_t i = 0; i < n_study; i++) { se_mp_str(&w, study[i].keyword); se_mp_str(&w, study[i].value); }
  }
  if (w.overflow) return SE_EARG;
  int s = se_send(c, SE_CONFIGURE_STREAM, 0, body, (uint32_t)w.len, NULL, 0, &seq);
  if (s) return s;
  return await_reply(c, seq, SE_CONFIGURE_STREAM, m, timeout_ms);
}

int se_configure_study(se_client *c, const se_stream_config *cfg, const se_study_attr *study, size_t n_study,
                       uint32_t *frame_bytes, int timeout_ms) {
  se_message m;
  uint32_t fb;
  int s = configure(c, cfg, NULL, 0, study, n_study, &m, timeout_ms);
  if (s) return s;
  /* Accepted: a ring the stream had has ended, its SLOT_RELEASEs applied before the reply; it is the caller's
   * alone from here (se_close no longer touches it). A refused one (SE_EREMOTE) keeps the ring attached. */
  detach_ring(c, cfg->stream);
  if ((s = se_decode_configure_reply(&m, &fb, NULL, 0, NULL, NULL))) return s;
  if (frame_bytes) *frame_bytes = fb;
  return SE_OK;
}

int se_configure(se_client *c, const se_stream_config *cfg, uint32_t *frame_bytes, int timeout_ms) {
  return se_configure_study(c, cfg, NULL, 0, frame_bytes, timeout_ms);
}

int se_configure_ring(se_client *c, const se_stream_config *cfg, se_ring *ring, int create, uint32_t slots,
                      uint32_t *frame_bytes, int timeout_ms) {
  return se_configure_ring_study(c, cfg, NULL, 0, ring, create, slots, frame_bytes, timeout_ms);
}

int se_configure_ring_study(se_client *c, const se_stream_config *cfg, const se_study_attr *study, size_t n_study,
                            se_ring *ring, int create, uint32_t slots, uint32_t *frame_bytes, int timeout_ms) {
  se_message m;
  uint32_t fb, got_slots = 0, got_bytes = 0;
  char name[sizeof ring->name];
  if (!create && !ring->base) return SE_EARG;
  if (create && (slots < SE_RING_MIN_SLOTS || slots > SE_RING_MAX_SLOTS)) return SE_EARG;
  int s = configure(c, cfg, create ? NULL : ring, create ? slots : 0, study, n_study, &m, timeout_ms);
  if (s) return s;
  if ((s = se_decode_configure_reply(&m, &fb, name, sizeof name, &got_slots, &got_bytes))) return s;
  if (!name[0]) return SE_EBODY;
  /* A reconfigure that made a new ring: the one this se_ring maps is done with (the runtime gave its slots back
   * before replying); unmapped, and unlinked if the firmware made it, before the struct maps the new one. Only a
   * ring this client attached for the stream is closed: a struct seen for the first time may be uninitialised
   * (se_ring_attach zeroes it), and its base is not to be trusted. */
  if (create && ring_attached(c, cfg->stream, ring)) se_ring_close(ring);
  if (create && (s = se_ring_attach(ring, name, got_slots, got_bytes))) {
    /* The runtime has replaced the stream's ring, but this one could not be mapped: no ring of the stream is the
     * client's now (before, the closed struct stayed attached and se_recv counted SLOT_RELEASEs against it). */
    detach_ring(c, cfg->stream);
    return s;
  }
  if (frame_bytes) *frame_bytes = fb;
  return attach_ring(c, cfg->stream, ring);
}

int se_send_frame_ready(se_client *c, se_ring *ring, uint16_t stream, uint32_t frame_seq, double t, uint32_t slot) {
  uint8_t msg[96];
  if (slot >= ring->slots || !(ring->owned & ((uint64_t)1 << slot))) return SE_ESLOT;
  size_t n = se_encode_frame_ready(msg, sizeof msg, ++c->seq, stream, frame_seq, t, slot);
  if (!n) return SE_EARG;
  /* The runtime owns the slot from the moment the message may reach it. */
  ring->owned &= ~((uint64_t)1 << slot);
  ring->frame_seq[slot] = frame_seq;
  struct iovec iov[1] = {{msg, n}};
  return write_all(c->fd, iov, 1);
}

int se_subscribe(se_client *c, int stream, int masks, int timeout_ms) {
  uint8_t body[128];
  se_mp_writer w;
  uint32_t seq;
  se_message m;
  se_mp_writer_init(&w, body, sizeof body);
  se_mp_map(&w, stream >= 0 ? 2 : 1);
  if (stream >= 0) { se_mp_str(&w, "streams"); se_mp_array(&w, 1); se_mp_uint(&w, (uint64_t)stream); }
  se_mp_str(&w, "masks"); se_mp_bool(&w, masks);
  int s = se_send(c, SE_SUBSCRIBE, 0, body, (uint32_t)w.len, NULL, 0, &seq);
  if (s) return s;
  return await_reply(c, seq, SE_SUBSCRIBE, &m, timeout_ms);
}

int se_send_frame(se_client *c, uint16_t stream, uint32_t frame_seq, double t, const void *pixels, uint32_t len) {
  uint8_t body[64];
  se_mp_writer w;
  se_mp_writer_init(&w, body, sizeof body);
  se_mp_map(&w, 3);
  se_mp_str(&w, "stream"); se_mp_uint(&w, stream);
  se_mp_str(&w, "seq"); se_mp_uint(&w, frame_seq);
  se_mp_str(&w, "t"); se_mp_double(&w, t);
  return se_send(c, SE_FRAME, 0, body, (uint32_t)w.len, pixels, len, NULL);
}

int se_ping(se_client *c, int timeout_ms) {
  uint8_t body[1] = {0x80};
  uint32_t seq;
  se_message m;
  int s = se_send(c, SE_PING, 0, body, 1, NULL, 0, &seq);
  if (s) return s;
  return await_reply(c, seq, SE_PONG, &m, timeout_ms);
}
