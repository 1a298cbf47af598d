/* A minimal MessagePack reader and writer for the subset sonoedge uses:
 * nil, bool, int/uint (all widths), float32/64, str, bin, array, map.
 * Extension types are recognised so that they can be skipped, never decoded. */
#include <string.h>
#include "sonoedge.h"

static void put(se_mp_writer *w, const void *p, size_t n) {
  if (w->overflow || w->cap - w->len < n) { w->overflow = 1; return; }
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}
static void put1(se_mp_writer *w, uint8_t b) { put(w, &b, 1); }
static void putbe(se_mp_writer *w, uint64_t v, int n) {
  uint8_t b[8];
  for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  put(w, b, (size_t)n);
}

void se_mp_writer_init(se_mp_writer *w, uint8_t *buf, size_t cap) { w->buf = buf; w->cap = cap; w->len = 0; w->overflow = 0; }

static void container(se_mp_writer *w, uint32_t n, uint8_t fix, uint8_t fixmax, uint8_t c16, uint8_t c32) {
  if (n <= fixmax) put1(w, (uint8_t)(fix | n));
  else if (n <= 0xffff) { put1(w, c16); putbe(w, n, 2); }
  else { put1(w, c32); putbe(w, n, 4); }
}
void se_mp_map(se_mp_writer *w, uint32_t n) { container(w, n, 0x80, 15, 0xde, 0xdf); }
void se_mp_array(se_mp_writer *w, uint32_t n) { container(w, n, 0x90, 15, 0xdc, 0xdd); }
void se_mp_strn(se_mp_writer *w, const char *s, uint32_t n) {
  if (n < 32) put1(w, (uint8_t)(0xa0 | n));
  else if (n <= 0xff) { put1(w, 0xd9); put1(w, (uint8_t)n); }
  else if (n <= 0xffff) { put1(w, 0xda); putbe(w, n, 2); }
  else { put1(w, 0xdb); putbe(w, n, 4); }
  put(w, s, n);
}
void se_mp_str(se_mp_writer *w, const char *s) { se_mp_strn(w, s, (uint32_t)strlen(s)); }
void se_mp_uint(se_mp_writer *w, uint64_t v) {
  if (v < 128) put1(w, (uint8_t)v);
  else if (v <= 0xff) { put1(w, 0xcc); put1(w, (uint8_t)v); }
  else if (v <= 0xffff) { put1(w, 0xcd); putbe(w, v, 2); }
  else if (v <= 0xffffffffu) { put1(w, 0xce); putbe(w, v, 4); }
  else { put1(w, 0xcf); putbe(w, v, 8); }
}
void se_mp_int(se_mp_writer *w, int64_t v) {
  if (v >= 0) { se_mp_uint(w, (uint64_t)v); return; }
  if (v >= -32) put1(w, (uint8_t)(int8_t)v);
  else if (v >= -128) { put1(w, 0xd0); put1(w, (uint8_t)(int8_t)v); }
  else if (v >= -32768) { put1(w, 0xd1); putbe(w, (uint64_t)(uint16_t)(int16_t)v, 2); }
  else if (v >= -2147483647 - 1) { put1(w, 0xd2); putbe(w, (uint64_t)(uint32_t)(int32_t)v, 4); }
  else { put1(w, 0xd3); putbe(w, (uint64_t)v, 8); }
}
void se_mp_double(se_mp_writer *w, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  put1(w, 0xcb);
  putbe(w, u, 8);
}
void se_mp_bool(se_mp_writer *w, int v) { put1(w, v ? 0xc3 : 0xc2); }
void se_mp_nil(se_mp_writer *w) { put1(w, 0xc0); }
void se_mp_bin(se_mp_writer *w, const uint8_t *data, uint32_t n) {
  if (n <= 0xff) { put1(w, 0xc4); put1(w, (uint8_t)n); }
  else if (n <= 0xffff) { put1(w, 0xc5); putbe(w, n, 2); }
  else { put1(w, 0xc6); putbe(w, n, 4); }
  put(w, data, n);
}

void se_mp_reader_init(se_mp_reader *r, const uint8_t *data, size_t len) { r->p = data; r->end = data + len; r->err = 0; }

static int take(se_mp_reader *r, size_t n, const uint8_t **out) {
  if (r->err) return r->err;
  if ((size_t)(r->end - r->p) < n) { r->err = SE_EBODY; return r->err; }
  *out = r->p;
  r->p += n;
  return SE_OK;
}
static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

int se_mp_next(se_mp_reader *r, se_mp_item *it) {
  const uint8_t *p;
  memset(it, 0, sizeof *it);
  it->kind = SE_MP_INVALID;
  if (take(r, 1, &p)) return r->err;
  uint8_t c = *p;
  int n = 0;        /* width of a length or value field */
  if (c <= 0x7f) { it->kind = SE_MP_UINT; it->u = c; it->i = c; return SE_OK; }
  if (c >= 0xe0) { it->kind = SE_MP_INT; it->i = (int8_t)c; return SE_OK; }
  if ((c & 0xf0) == 0x80) { it->kind = SE_MP_MAP; it->len = c & 0x0f; return SE_OK; }
  if ((c & 0xf0) == 0x90) { it->kind = SE_MP_ARRAY; it->len = c & 0x0f; return SE_OK; }
  if ((c & 0xe0) == 0xa0) { it->kind = SE_MP_STR; it->len = c & 0x1f; goto data; }
  switch (c) {
    case 0xc0: it->kind = SE_MP_NIL; return SE_OK;
    case 0xc2: case 0xc3: it->kind = SE_MP_BOOL; it->b = c == 0xc3; return SE_OK;
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
      n = 1 << (c - 0xcc);
      if (take(r, (size_t)n, &p)) return r->err;
      it->kind = SE_MP_UINT; it->u = be(p, n); it->i = (int64_t)it->u; return SE_OK;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
      n = 1 << (c - 0xd0);
      if (take(r, (size_t)n, &p)) return r->err;
      uint64_t u = be(p, n);
      int64_t v;
      if (n == 1) v = (int8_t)u; else if (n == 2) v = (int16_t)u; else if (n == 4) v = (int32_t)u; else v = (int64_t)u;
      it->kind = v >= 0 ? SE_MP_UINT : SE_MP_INT; it->i = v; it->u = (uint64_t)v; return SE_OK;
    }
    case 0xca: {
      if (take(r, 4, &p)) return r->err;
      uint32_t u = (uint32_t)be(p, 4); float f; memcpy(&f, &u, 4);
      it->kind = SE_MP_FLOAT; it->f = f; return SE_OK;
    }
    case 0xcb: {
      if (take(r, 8, &p)) return r->err;
      uint64_t u = be(p, 8); memcpy(&it->f, &u, 8);
      it->kind = SE_MP_FLOAT; return SE_OK;
    }
    case 0xd9: case 0xda: case 0xdb:
      n = 1 << (c - 0xd9);
      if (take(r, (size_t)n, &p)) return r->err;
      it->kind = SE_MP_STR; it->len = (uint32_t)be(p, n); goto data;
    case 0xc4: case 0xc5: case 0xc6:
      n = 1 << (c - 0xc4);
      if (take(r, (size_t)n, &p)) return r->err;
      it->kind = SE_MP_BIN; it->len = (uint32_t)be(p, n); goto data;
    case 0xdc: case 0xdd:
      n = c == 0xdc ? 2 : 4;
      if (take(r, (size_t)n, &p)) return r->err;
      it->kind = SE_MP_ARRAY; it->len = (uint32_t)be(p, n); return SE_OK;
    case 0xde: case 0xdf:
      n = c == 0xde ? 2 : 4;
      if (take(r, (size_t)n, &p)) return r->err;
      it->kind = SE_MP_MAP; it->len = (uint32_t)be(p, n); return SE_OK;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
      it->kind = SE_MP_EXT; it->len = 1u << (c - 0xd4);
      if (take(r, 1, &p)) return r->err; /* ext type byte */
      goto data;
    case 0xc7: case 0xc8: case 0xc9:
      n = 1 << (c - 0xc7);
      if (take(r, (size_t)n + 1, &p)) return r->err;
      it->kind = SE_MP_EXT; it->len = (uint32_t)be(p, n); goto data;
    default: /* 0xc1: never used */
      r->err = SE_EBODY;
      return r->err;
  }
data:
  if (take(r, it->len, &p)) return r->err;
  it->ptr = p;
  return SE_OK;
}

static int skip_depth(se_mp_reader *r, int depth) {
  se_mp_item it;
  if (depth > 32) { r->err = SE_EBODY; return r->err; }
  if (se_mp_next(r, &it)) return r->err;
  if (it.kind == SE_MP_ARRAY || it.kind == SE_MP_MAP) {
    uint64_t n = it.kind == SE_MP_MAP ? 2ull * it.len : it.len;
    /* every element takes at least one byte: a count larger than what is left is corrupt */
    if (n > (uint64_t)(r->end - r->p)) { r->err = SE_EBODY; return r->err; }
    for (uint64_t k = 0; k < n; k++) if (skip_depth(r, depth + 1)) return r->err;
  }
  return SE_OK;
}
int se_mp_skip(se_mp_reader *r) { return skip_depth(r, 0); }

int se_mp_number(const se_mp_item *it, double *out) {
  if (it->kind == SE_MP_UINT) *out = (double)it->u;
  else if (it->kind == SE_MP_INT) *out = (double)it->i;
  else if (it->kind == SE_MP_FLOAT) *out = it->f;
  else return SE_EBODY;
  return SE_OK;
}

int se_mp_key_is(const se_mp_item *it, const char *key) {
  size_t n = strlen(key);
  return it->kind == SE_MP_STR && it->len == n && memcmp(it->ptr, key, n) == 0;
}

int se_mp_find(const uint8_t *body, size_t len, const char *key, se_mp_reader *at) {
  se_mp_reader r;
  se_mp_item it;
  se_mp_reader_init(&r, body, len);
  if (se_mp_next(&r, &it) || it.kind != SE_MP_MAP) return SE_EBODY;
  for (uint32_t k = 0; k < it.len; k++) {
    se_mp_item key_item;
    if (se_mp_next(&r, &key_item)) return SE_EBODY;
    if (se_mp_key_is(&key_item, key)) { *at = r; return SE_OK; }
    if (se_mp_skip(&r)) return SE_EBODY;
  }
  return SE_EBODY;
}
