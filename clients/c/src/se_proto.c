/* Checksums, the 24-byte header, and decoding of whole messages. */
#include <math.h>
#include <string.h>
#include "sonoedge.h"
#include "se_bytes.h"

const char *se_strerror(int s) {
  switch (s) {
    case SE_OK: return "ok";
    case SE_EINCOMPLETE: return "incomplete: more bytes needed";
    case SE_EMAGIC: return "bad magic";
    case SE_ECRC: return "bad CRC";
    case SE_EVERSION: return "unsupported version";
    case SE_ETYPE: return "unknown message or record type";
    case SE_ETOOLARGE: return "message larger than the maximum";
    case SE_EBODY: return "bad MessagePack body or field";
    case SE_ECOBS: return "bad COBS frame";
    case SE_ELENGTH: return "bad record length";
    case SE_EIO: return "socket error";
    case SE_ECLOSED: return "connection closed";
    case SE_ETIMEOUT: return "timed out";
    case SE_EREMOTE: return "the runtime answered with ERROR";
    case SE_ENOMEM: return "out of memory";
    case SE_EARG: return "bad argument";
    case SE_ESHM: return "shared memory error";
    case SE_ESLOT: return "slot not owned by the firmware";
    default: return "unknown status";
  }
}

uint32_t se_crc32c(const uint8_t *data, size_t len) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < len; i++) {
    c ^= data[i];
    for (int k = 0; k < 8; k++) c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
  }
  return c ^ 0xffffffffu;
}

uint16_t se_crc16(const uint8_t *data, size_t len) {
  uint16_t c = 0xffff;
  for (size_t i = 0; i < len; i++) {
    c ^= (uint16_t)(data[i] << 8);
    for (int k = 0; k < 8; k++) c = (c & 0x8000u) ? (uint16_t)((c << 1) ^ 0x1021u) : (uint16_t)(c << 1);
  }
  return c;
}

void se_write_header(uint8_t out[SE_HEADER_SIZE], const se_header *h) {
  out[0] = SE_MAGIC0; out[1] = SE_MAGIC1; out[2] = SE_MAGIC2; out[3] = SE_MAGIC3;
  out[4] = h->version;
  out[5] = h->type;
  le16(out + 6, h->flags);
  le32(out + 8, h->body_length);
  le32(out + 12, h->payload_length);
  le32(out + 16, h->seq);
  le32(out + 20, se_crc32c(out, 20));
}

int se_read_header(const uint8_t *buf, size_t len, se_header *h) {
  static const uint8_t magic[4] = {SE_MAGIC0, SE_MAGIC1, SE_MAGIC2, SE_MAGIC3};
  size_t m = len < 4 ? len : 4;
  if (memcmp(buf, magic, m) != 0) return SE_EMAGIC;
  if (len < SE_HEADER_SIZE) return SE_EINCOMPLETE;
  if (rd32(buf + 20) != se_crc32c(buf, 20)) return SE_ECRC;
  h->version = buf[4];
  h->type = buf[5];
  h->flags = rd16(buf + 6);
  h->body_length = rd32(buf + 8);
  h->payload_length = rd32(buf + 12);
  h->seq = rd32(buf + 16);
  return SE_OK;
}

int se_decode_message(const uint8_t *buf, size_t len, uint32_t max_size, se_message *m, size_t *consumed) {
  int s = se_read_header(buf, len, &m->header);
  if (s) return s;
  const se_header *h = &m->header;
  uint64_t total = (uint64_t)h->body_length + h->payload_length;
  if (total > max_size) return SE_ETOOLARGE;
  if (h->version != SE_PROTOCOL_VERSION) return SE_EVERSION;
  if (h->type < SE_HELLO || h->type > SE_CLOSE_STREAM) return SE_ETYPE;
  if (h->payload_length != 0 && h->type != SE_FRAME) return SE_EBODY;
  if (len - SE_HEADER_SIZE < total) return SE_EINCOMPLETE;
  m->body = buf + SE_HEADER_SIZE;
  m->payload = m->body + h->body_length;
  if (h->body_length > 0) {
    se_mp_reader r;
    se_mp_item it;
    se_mp_reader_init(&r, m->body, h->body_length);
    if (se_mp_next(&r, &it) || it.kind != SE_MP_MAP) return SE_EBODY;
    se_mp_reader_init(&r, m->body, h->body_length);
    if (se_mp_skip(&r) || r.p != r.end) return SE_EBODY;
  }
  if (consumed) *consumed = SE_HEADER_SIZE + (size_t)total;
  return SE_OK;
}

/* Reads a number field; NaN for nil or absent. */
static int num_field(const se_message *m, const char *key, double *out, int required) {
  se_mp_reader r;
  se_mp_item it;
  *out = NAN;
  if (se_mp_find(m->body, m->header.body_length, key, &r)) return required ? SE_EBODY : SE_OK;
  if (se_mp_next(&r, &it)) return SE_EBODY;
  if (it.kind == SE_MP_NIL) return required ? SE_EBODY : SE_OK;
  return se_mp_number(&it, out);
}
static int uint_field(const se_message *m, const char *key, uint64_t max, uint64_t *out) {
  se_mp_reader r;
  se_mp_item it;
  if (se_mp_find(m->body, m->header.body_length, key, &r) || se_mp_next(&r, &it)) return SE_EBODY;
  if (it.kind != SE_MP_UINT || it.u > max) return SE_EBODY;
  *out = it.u;
  return SE_OK;
}
static int str_field(const se_message *m, const char *key, char *out, size_t cap, int required) {
  se_mp_reader r;
  se_mp_item it;
  out[0] = 0;
  if (se_mp_find(m->body, m->header.body_length, key, &r)) return required ? SE_EBODY : SE_OK;
  if (se_mp_next(&r, &it)) return SE_EBODY;
  if (it.kind == SE_MP_NIL && !required) return SE_OK;
  if (it.kind != SE_MP_STR) return SE_EBODY;
  size_t n = it.len < cap - 1 ? it.len : cap - 1;
  memcpy(out, it.ptr, n);
  out[n] = 0;
  return SE_OK;
}

/* An optional uint field (nil or absent: -1). */
static int opt_seq_field(const se_message *m, const char *key, int64_t *out) {
  se_mp_reader r;
  se_mp_item it;
  *out = -1;
  if (se_mp_find(m->body, m->header.body_length, key, &r)) return SE_OK;
  if (se_mp_next(&r, &it)) return SE_EBODY;
  if (it.kind == SE_MP_NIL) return SE_OK;
  if (it.kind != SE_MP_UINT || it.u > 0xffffffffu) return SE_EBODY;
  *out = (int64_t)it.u;
  return SE_OK;
}

int se_decode_result(const se_message *m, se_result *res) {
  uint64_t u;
  se_mp_reader r, lat;
  se_mp_item it;
  memset(res, 0, sizeof *res);
  if (m->header.type != SE_RESULT) return SE_ETYPE;
  if (uint_field(m, "stream", 0xffff, &u)) return SE_EBODY;
  res->stream = (uint16_t)u;
  if (uint_field(m, "seq", 0xffffffffu, &u)) return SE_EBODY;
  res->seq = (uint32_t)u;
  if (uint_field(m, "flags", 0xffff, &u)) return SE_EBODY;
  res->flags = (uint32_t)u;
  if (num_field(m, "t", &res->t, 1) || str_field(m, "view", res->view, sizeof res->view, 0) ||
      num_field(m, "confidence", &res->confidence, 0) || num_field(m, "quality", &res->quality, 0) ||
      num_field(m, "lvAreaMm2", &res->lv_area_mm2, 0) || num_field(m, "ef", &res->ef, 0) ||
      num_field(m, "idScore", &res->id_score, 0) || opt_seq_field(m, "edSeq", &res->ed_seq) ||
      opt_seq_field(m, "esSeq", &res->es_seq)) return SE_EBODY;
  /* state: "ok" | "uncertain" | "unknown", required */
  char state[16];
  if (str_field(m, "state", state, sizeof state, 1)) return SE_EBODY;
  if (strcmp(state, "ok") == 0) res->state = SE_STATE_OK;
  else if (strcmp(state, "uncertain") == 0) res->state = SE_STATE_UNCERTAIN;
  else if (strcmp(state, "unknown") == 0) res->state = SE_STATE_UNKNOWN;
  else return SE_EBODY;
  /* efCi: [lo, hi] or nil */
  res->ef_ci_lo = res->ef_ci_hi = NAN;
  if (se_mp_find(m->body, m->header.body_length, "efCi", &r) == SE_OK) {
    if (se_mp_next(&r, &it)) return SE_EBODY;
    if (it.kind == SE_MP_ARRAY) {
      se_mp_item lo, hi;
      if (it.len != 2 || se_mp_next(&r, &lo) || se_mp_number(&lo, &res->ef_ci_lo) || se_mp_next(&r, &hi) ||
          se_mp_number(&hi, &res->ef_ci_hi) || !(res->ef_ci_lo <= res->ef_ci_hi)) return SE_EBODY;
    } else if (it.kind != SE_MP_NIL) return SE_EBODY;
  }
  /* latency: {queueMs, totalMs, stages} */
  if (se_mp_find(m->body, m->header.body_length, "latency", &lat) || se_mp_next(&lat, &it) || it.kind != SE_MP_MAP) return SE_EBODY;
  res->queue_ms = res->total_ms = NAN;
  for (uint32_t k = 0; k < it.len; k++) {
    se_mp_item key, v;
    if (se_mp_next(&lat, &key)) return SE_EBODY;
    if (se_mp_key_is(&key, "queueMs") || se_mp_key_is(&key, "totalMs")) {
      if (se_mp_next(&lat, &v) || se_mp_number(&v, se_mp_key_is(&key, "queueMs") ? &res->queue_ms : &res->total_ms)) return SE_EBODY;
    } else if (se_mp_skip(&lat)) return SE_EBODY;
  }
  /* mask: {width, height, data: bin} */
  if (se_mp_find(m->body, m->header.body_length, "mask", &r) == SE_OK) {
    if (se_mp_next(&r, &it)) return SE_EBODY;
    if (it.kind == SE_MP_MAP) {
      uint32_t n = it.len;
      uint64_t w = 0, h = 0;
      for (uint32_t k = 0; k < n; k++) {
        se_mp_item key, v;
        if (se_mp_next(&r, &key) || se_mp_next(&r, &v)) return SE_EBODY;
        if (se_mp_key_is(&key, "width") && v.kind == SE_MP_UINT) w = v.u;
        else if (se_mp_key_is(&key, "height") && v.kind == SE_MP_UINT) h = v.u;
        else if (se_mp_key_is(&key, "data") && v.kind == SE_MP_BIN) res->mask = v.ptr;
        else if (v.kind == SE_MP_ARRAY || v.kind == SE_MP_MAP) return SE_EBODY;
      }
      if (!res->mask || w == 0 || h == 0 || w > 0xffff || h > 0xffff) return SE_EBODY;
      res->mask_width = (uint16_t)w;
      res->mask_height = (uint16_t)h;
    } else if (it.kind != SE_MP_NIL) return SE_EBODY;
  }
  return SE_OK;
}

int se_decode_error(const se_message *m, se_error *e) {
  uint64_t u;
  se_mp_reader r;
  se_mp_item it;
  memset(e, 0, sizeof *e);
  if (m->header.type != SE_ERROR) return SE_ETYPE;
  if (uint_field(m, "code", 0xffff, &u)) return SE_EBODY;
  e->code = (uint32_t)u;
  if (str_field(m, "name", e->name, sizeof e->name, 1) || str_field(m, "message", e->message, sizeof e->message, 1)) return SE_EBODY;
  if (se_mp_find(m->body, m->header.body_length, "fatal", &r) == SE_OK) {
    if (se_mp_next(&r, &it) || it.kind != SE_MP_BOOL) return SE_EBODY;
    e->fatal = it.b;
  }
  return SE_OK;
}
