/* The shared-memory frame ring: the firmware's side (docs/PROTOCOL.md,
 * "Shared-memory frames"). POSIX shm_open + ftruncate + mmap; slot ownership
 * as a bit mask, changed only by se_send_frame_ready (firmware -> runtime)
 * and SLOT_RELEASE (runtime -> firmware). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sonoedge.h"

static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t all_slots(uint32_t n) { return n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1); }

void se_ring_header_encode(uint8_t out[SE_RING_HEADER_BYTES], uint32_t slots, uint32_t slot_bytes) {
  memset(out, 0, SE_RING_HEADER_BYTES);
  put32(out, SE_RING_MAGIC);
  out[4] = SE_RING_VERSION; /* u16 version, then u16 reserved */
  put32(out + 8, SE_RING_HEADER_BYTES);
  put32(out + 12, slots);
  put32(out + 16, slot_bytes);
}

int se_ring_header_check(const uint8_t *hdr, size_t len, uint32_t slots, uint32_t slot_bytes) {
  if (len < 20) return SE_ESHM;
  if (get32(hdr) != SE_RING_MAGIC || hdr[4] != SE_RING_VERSION || hdr[5] != 0) return SE_ESHM;
  if (get32(hdr + 8) != SE_RING_HEADER_BYTES || get32(hdr + 12) != slots || get32(hdr + 16) != slot_bytes) return SE_ESHM;
  return SE_OK;
}

/* The runtime accepts "/" + 1..200 of [A-Za-z0-9._-], not "/." or "/..". */
static int valid_name(const char *name) {
  size_t n = strlen(name);
  if (n < 2 || n > 201 || name[0] != '/') return 0;
  if (strcmp(name, "/.") == 0 || strcmp(name, "/..") == 0) return 0;
  for (size_t i = 1; i < n; i++) {
    char ch = name[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')) return 0;
  }
  return 1;
}

static int valid_geometry(uint32_t slots, uint32_t slot_bytes) {
  if (slots < SE_RING_MIN_SLOTS || slots > SE_RING_MAX_SLOTS) return 0;
  if (slot_bytes == 0 || slot_bytes % 4096u) return 0;
  return (uint64_t)SE_RING_HEADER_BYTES + (uint64_t)slots * slot_bytes <= (uint64_t)1 << 30;
}

static int map_ring(se_ring *r, const char *name, uint32_t slots, uint32_t slot_bytes, int create, unsigned mode) {
  memset(r, 0, sizeof *r);
  if (!valid_name(name) || !valid_geometry(slots, slot_bytes)) return SE_EARG;
  strcpy(r->name, name);
  r->slots = slots;
  r->slot_bytes = slot_bytes;
  r->size = (size_t)SE_RING_HEADER_BYTES + (size_t)slots * slot_bytes;
  int fd = create ? shm_open(name, O_RDWR | O_CREAT | O_EXCL, (mode_t)mode) : shm_open(name, O_RDWR, 0);
  if (fd < 0) return SE_ESHM;
  struct stat st;
  /* fchmod: shm_open's mode passes through the umask; the runtime's group needs read access. */
  if (create && (fchmod(fd, (mode_t)mode) != 0 || ftruncate(fd, (off_t)r->size) != 0)) goto fail;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size < r->size) { errno = EINVAL; goto fail; }
  void *p = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) goto fail;
  close(fd);
  r->base = p;
  if (create) se_ring_header_encode(r->base, slots, slot_bytes);
  else if (se_ring_header_check(r->base, r->size, slots, slot_bytes) != SE_OK) { se_ring_close(r); return SE_ESHM; }
  r->created = create;
  r->owned = all_slots(slots);
  return SE_OK;
fail:
  {
    int e = errno;
    close(fd);
    if (create) shm_unlink(name);
    errno = e;
  }
  return SE_ESHM;
}

int se_ring_create(se_ring *r, const char *name, uint32_t slots, uint32_t slot_bytes, unsigned mode) {
  return map_ring(r, name, slots, slot_bytes, 1, mode);
}

int se_ring_attach(se_ring *r, const char *name, uint32_t slots, uint32_t slot_bytes) {
  return map_ring(r, name, slots, slot_bytes, 0, 0);
}

void se_ring_close(se_ring *r) {
  if (r->base) munmap(r->base, r->size);
  /* The runtime keeps its own mapping until its frames finish: unlinking only removes the name. */
  if (r->created) shm_unlink(r->name);
  r->base = NULL;
  r->owned = 0;
  r->created = 0;
}

int se_ring_slot_acquire(se_ring *r) {
  for (uint32_t k = 0; k < r->slots; k++) {
    uint32_t i = (r->next + k) % r->slots;
    if (r->owned & ((uint64_t)1 << i)) {
      r->next = (i + 1) % r->slots;
      return (int)i;
    }
  }
  return -1;
}

uint8_t *se_ring_slot(se_ring *r, uint32_t slot) {
  if (!r->base || slot >= r->slots) return NULL;
  return r->base + SE_RING_HEADER_BYTES + (size_t)slot * r->slot_bytes;
}

uint32_t se_ring_free_slots(const se_ring *r) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < r->slots; i++) n += (uint32_t)((r->owned >> i) & 1u);
  return n;
}

int se_ring_release(se_ring *r, uint32_t slot) {
  if (slot >= r->slots || (r->owned & ((uint64_t)1 << slot))) { r->bad_releases++; return SE_ESLOT; }
  r->owned |= (uint64_t)1 << slot;
  r->released++;
  return SE_OK;
}

void se_ring_reset(se_ring *r) { r->owned = r->base ? all_slots(r->slots) : 0; }

static int find_uint(const uint8_t *map, size_t len, const char *key, uint64_t max, uint64_t *out) {
  se_mp_reader r;
  se_mp_item it;
  if (se_mp_find(map, len, key, &r) || se_mp_next(&r, &it) || it.kind != SE_MP_UINT || it.u > max) return SE_EBODY;
  *out = it.u;
  return SE_OK;
}

int se_decode_configure_reply(const se_message *m, uint32_t *frame_bytes, char *ring_name, size_t name_cap,
                              uint32_t *slots, uint32_t *slot_bytes) {
  uint64_t u;
  se_mp_reader r;
  se_mp_item it;
  if (m->header.type != SE_CONFIGURE_STREAM) return SE_ETYPE;
  if (find_uint(m->body, m->header.body_length, "frameBytes", 0xffffffffu, &u)) return SE_EBODY;
  *frame_bytes = (uint32_t)u;
  if (ring_name && name_cap) ring_name[0] = 0;
  if (se_mp_find(m->body, m->header.body_length, "ring", &r)) return SE_OK; /* no ring */
  const uint8_t *map = r.p;
  size_t len = (size_t)(r.end - r.p);
  if (se_mp_next(&r, &it)) return SE_EBODY;
  if (it.kind == SE_MP_NIL) return SE_OK;
  if (it.kind != SE_MP_MAP) return SE_EBODY;
  if (find_uint(map, len, "slots", SE_RING_MAX_SLOTS, &u)) return SE_EBODY;
  if (slots) *slots = (uint32_t)u;
  if (find_uint(map, len, "slotBytes", 0xffffffffu, &u)) return SE_EBODY;
  if (slot_bytes) *slot_bytes = (uint32_t)u;
  if (se_mp_find(map, len, "name", &r) || se_mp_next(&r, &it) || it.kind != SE_MP_STR) return SE_EBODY;
  if (ring_name) {
    if (it.len + 1 > name_cap) return SE_EBODY;
    memcpy(ring_name, it.ptr, it.len);
    ring_name[it.len] = 0;
  }
  return SE_OK;
}

int se_decode_slot_release(const se_message *m, uint16_t *stream, uint32_t *slot, uint32_t *frame_seq) {
  uint64_t s, sl, q;
  if (m->header.type != SE_SLOT_RELEASE) return SE_ETYPE;
  if (find_uint(m->body, m->header.body_length, "stream", 0xffff, &s) ||
      find_uint(m->body, m->header.body_length, "slot", SE_RING_MAX_SLOTS - 1, &sl) ||
      find_uint(m->body, m->header.body_length, "seq", 0xffffffffu, &q)) return SE_EBODY;
  *stream = (uint16_t)s;
  *slot = (uint32_t)sl;
  *frame_seq = (uint32_t)q;
  return SE_OK;
}

size_t se_encode_frame_ready(uint8_t *out, size_t cap, uint32_t msg_seq, uint16_t stream, uint32_t frame_seq, double t, uint32_t slot) {
  se_mp_writer w;
  se_header h;
  if (cap < SE_HEADER_SIZE) return 0;
  se_mp_writer_init(&w, out + SE_HEADER_SIZE, cap - SE_HEADER_SIZE);
  se_mp_map(&w, 4);
  se_mp_str(&w, "stream"); se_mp_uint(&w, stream);
  se_mp_str(&w, "seq"); se_mp_uint(&w, frame_seq);
  se_mp_str(&w, "t"); se_mp_double(&w, t);
  se_mp_str(&w, "slot"); se_mp_uint(&w, slot);
  if (w.overflow) return 0;
  h.version = SE_PROTOCOL_VERSION;
  h.type = SE_FRAME_READY;
  h.flags = 0;
  h.body_length = (uint32_t)w.len;
  h.payload_length = 0;
  h.seq = msg_seq;
  se_write_header(out, &h);
  return SE_HEADER_SIZE + w.len;
}
