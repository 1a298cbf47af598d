#define _POSIX_C_SOURCE 200809L
/* Golden vectors (test/fixtures/protocol, written by the TypeScript codec):
 * every socket message decodes with the header and top-level fields the index
 * lists; every serial record decodes and re-encodes to the same bytes. */
#include <math.h>
#include <string.h>
#include "sonoedge.h"
#include "check.h"

static int hexval(char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; }

static void check_field(const char *file, const se_message *m, char *tok) {
  char *kind = strchr(tok, ':');
  if (!kind) return;
  *kind++ = 0;
  char *val = kind + 2;
  se_mp_reader r;
  se_mp_item it;
  int s = se_mp_find(m->body, m->header.body_length, tok, &r);
  CHECK(s == SE_OK, "%s: key %s present", file, tok);
  if (s) return;
  CHECK(se_mp_next(&r, &it) == SE_OK, "%s: %s readable", file, tok);
  switch (*kind) {
    case 'u': CHECK(it.kind == SE_MP_UINT && it.u == strtoull(val, NULL, 10), "%s: %s == %s", file, tok, val); break;
    case 'f': { double d = NAN; se_mp_number(&it, &d); CHECK(d == strtod(val, NULL), "%s: %s == %s (got %g)", file, tok, val, d); break; }
    case 'b': CHECK(it.kind == SE_MP_BOOL && it.b == (val[0] == '1'), "%s: %s bool", file, tok); break;
    case 'n': CHECK(it.kind == SE_MP_NIL, "%s: %s nil", file, tok); break;
    case 's': {
      char want[256];
      size_t n = 0;
      if (val[0] != '-') for (size_t i = 0; val[i] && val[i + 1] && n < sizeof want; i += 2) want[n++] = (char)(hexval(val[i]) * 16 + hexval(val[i + 1]));
      CHECK(it.kind == SE_MP_STR && it.len == n && memcmp(it.ptr, want, n) == 0, "%s: %s string", file, tok);
      break;
    }
  }
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "test/fixtures/protocol";
  CHECK(se_crc32c((const uint8_t *)"123456789", 9) == 0xE3069283u, "CRC-32C check value");
  CHECK(se_crc16((const uint8_t *)"123456789", 9) == 0x29B1u, "CRC-16/CCITT-FALSE check value");
  size_t len;
  char *index = (char *)read_file(dir, "index.txt", &len);
  index[len] = 0;
  int sockets = 0, serials = 0, rings = 0;
  for (char *line = strtok(index, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    char *save, *kind = strtok_r(line, " ", &save), *file = strtok_r(NULL, " ", &save);
    size_t n;
    uint8_t *bytes = read_file(dir, file, &n);
    if (strcmp(kind, "ring") == 0) {
      rings++;
      uint32_t slots = (uint32_t)strtoul(strtok_r(NULL, " ", &save), NULL, 10), sb = (uint32_t)strtoul(strtok_r(NULL, " ", &save), NULL, 10);
      uint8_t mine[SE_RING_HEADER_BYTES];
      se_ring_header_encode(mine, slots, sb);
      CHECK(n == SE_RING_HEADER_BYTES && memcmp(mine, bytes, n) == 0, "%s: the C ring header is byte-identical", file);
      CHECK(se_ring_header_check(bytes, n, slots, sb) == SE_OK, "%s: header checks", file);
      CHECK(se_ring_header_check(bytes, n, slots + 1, sb) == SE_ESHM, "%s: another geometry is refused", file);
      free(bytes);
      continue;
    }
    if (strcmp(kind, "socket") == 0) {
      sockets++;
      unsigned type = (unsigned)atoi(strtok_r(NULL, " ", &save)), flags = (unsigned)atoi(strtok_r(NULL, " ", &save));
      unsigned long seq = strtoul(strtok_r(NULL, " ", &save), NULL, 10), bl = strtoul(strtok_r(NULL, " ", &save), NULL, 10);
      unsigned long pl = strtoul(strtok_r(NULL, " ", &save), NULL, 10);
      se_message m;
      size_t used = 0;
      int s = se_decode_message(bytes, n, 1u << 20, &m, &used);
      CHECK(s == SE_OK, "%s decodes: %s", file, se_strerror(s));
      if (s) { free(bytes); continue; }
      CHECK(used == n, "%s: consumed all %zu bytes", file, n);
      CHECK(m.header.type == type && m.header.flags == flags && m.header.seq == seq && m.header.body_length == bl && m.header.payload_length == pl,
            "%s: header fields", file);
      for (char *tok = strtok_r(NULL, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) check_field(file, &m, tok);
      if (type == SE_RESULT) {
        se_result r;
        CHECK(se_decode_result(&m, &r) == SE_OK, "%s: se_decode_result", file);
        if (strcmp(file, "socket-result.bin") == 0) {
          CHECK(r.seq == 7 && strcmp(r.view, "A4C") == 0 && r.confidence == 0.875 && r.quality == 0.625 && r.lv_area_mm2 == 1520.25 && isnan(r.ef), "result fields");
          CHECK(r.queue_ms == 0.125 && r.total_ms == 6.5 && r.flags == SE_RESULT_HAS_LV_AREA && r.mask == NULL, "result latency");
          CHECK(r.state == SE_STATE_OK && isnan(r.id_score) && isnan(r.ef_ci_lo) && isnan(r.ef_ci_hi) && r.ed_seq == -1 && r.es_seq == -1,
                "result: state ok, no score, no interval, no ED/ES");
        } else if (strcmp(file, "socket-result-mask.bin") == 0) {
          CHECK(r.seq == 70000 && strcmp(r.view, "PLAX") == 0 && isnan(r.lv_area_mm2) && r.ef == 55.5, "result-mask fields");
          CHECK(r.mask && r.mask_width == 4 && r.mask_height == 4 && r.mask[5] == 1 && r.mask[0] == 0, "mask");
          CHECK(r.state == SE_STATE_UNCERTAIN && r.id_score == 0.5625 && r.ef_ci_lo == 50.25 && r.ef_ci_hi == 60.75 && r.ed_seq == -1 && r.es_seq == 69995,
                "result-mask: uncertain 0.5625, interval [50.25, 60.75], ES of frame 69995");
          CHECK((r.flags & (SE_RESULT_ES | SE_RESULT_UNCERTAIN | SE_RESULT_EF_LOW_QUALITY | SE_RESULT_HAS_EF)) ==
                (SE_RESULT_ES | SE_RESULT_UNCERTAIN | SE_RESULT_EF_LOW_QUALITY | SE_RESULT_HAS_EF), "result-mask flags");
        } else {
          CHECK(strcmp(file, "socket-result-unknown.bin") == 0, "%s: a known RESULT vector", file);
          CHECK(r.seq == 8 && strcmp(r.view, "A2C") == 0 && r.state == SE_STATE_UNKNOWN && r.id_score == 0.125 && isnan(r.lv_area_mm2) &&
                isnan(r.ef) && isnan(r.ef_ci_lo) && r.flags == SE_RESULT_UNKNOWN, "result-unknown fields");
        }
      }
      if (type == SE_ERROR) {
        se_error e;
        CHECK(se_decode_error(&m, &e) == SE_OK, "%s: se_decode_error", file);
        CHECK((e.code == 11 && strcmp(e.name, "FRAME_SIZE") == 0 && !e.fatal) || (e.code == 1 && strcmp(e.name, "BAD_MAGIC") == 0 && e.fatal) ||
              (e.code == 22 && strcmp(e.name, "SLOT") == 0 && !e.fatal), "%s: error fields", file);
      }
      if (type == SE_FRAME) CHECK(m.payload[0] == 11 && m.payload[1] == 48, "frame payload pattern");
      if (type == SE_CONFIGURE_STREAM && (m.header.flags & SE_FLAG_REPLY)) {
        uint32_t fb = 0, slots = 0, sb = 0;
        char name[64];
        CHECK(se_decode_configure_reply(&m, &fb, name, sizeof name, &slots, &sb) == SE_OK && fb == 3072, "%s: configure reply", file);
        if (strcmp(file, "socket-configure-stream-ring-reply.bin") == 0)
          CHECK(strcmp(name, "/sonoedge-4242-0123456789ab") == 0 && slots == 8 && sb == 4096, "%s: ring name %s slots %u slotBytes %u", file, name, slots, sb);
        else CHECK(name[0] == 0, "%s: no ring", file);
      }
      if (type == SE_CONFIGURE_STREAM && strcmp(file, "socket-configure-stream-ring.bin") == 0) {
        se_mp_reader r, k;
        se_mp_item it;
        CHECK(se_mp_find(m.body, m.header.body_length, "ring", &r) == SE_OK, "ring key");
        const uint8_t *map = r.p;
        size_t ml = (size_t)(r.end - r.p);
        CHECK(se_mp_find(map, ml, "name", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.kind == SE_MP_STR && it.len == 10 && memcmp(it.ptr, "/fw-ring-1", 10) == 0, "ring.name");
        CHECK(se_mp_find(map, ml, "slots", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.u == 4, "ring.slots");
        CHECK(se_mp_find(map, ml, "slotBytes", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.u == 8192, "ring.slotBytes");
      }
      if (type == SE_STATUS && strcmp(file, "socket-status-reply.bin") == 0) {
        /* STATUS.outbox: a map with a PACS (socket-status-reply-no-pacs.bin: nil, from the index line). */
        se_mp_reader r, k;
        se_mp_item it;
        int found = se_mp_find(m.body, m.header.body_length, "outbox", &r) == SE_OK;
        CHECK(found, "outbox key");
        const uint8_t *map = found ? r.p : m.body;
        size_t ml = found ? (size_t)(r.end - r.p) : 0;
        CHECK(se_mp_find(map, ml, "pending", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.kind == SE_MP_UINT && it.u == 2, "outbox.pending");
        CHECK(se_mp_find(map, ml, "held", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.kind == SE_MP_UINT && it.u == 0, "outbox.held");
        CHECK(se_mp_find(map, ml, "failed", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.kind == SE_MP_UINT && it.u == 1, "outbox.failed");
        CHECK(se_mp_find(map, ml, "inFailed", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.kind == SE_MP_UINT && it.u == 3, "outbox.inFailed");
        CHECK(se_mp_find(map, ml, "lastTryFailed", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.kind == SE_MP_BOOL && it.b, "outbox.lastTryFailed");
        CHECK(se_mp_find(map, ml, "lastErrorCode", &k) == SE_OK && se_mp_next(&k, &it) == SE_OK && it.kind == SE_MP_STR && it.len == 17 &&
              memcmp(it.ptr, "ERR_SONOEDGE_PACS", 17) == 0, "outbox.lastErrorCode");
      }
      if (type == SE_SLOT_RELEASE) {
        uint16_t st;
        uint32_t slot, fs;
        CHECK(se_decode_slot_release(&m, &st, &slot, &fs) == SE_OK && st == 0 && slot == 2 && fs == 8, "%s: slot release fields", file);
      }
      if (type == SE_FRAME_READY) {
        /* The C encoder (fixmap where the runtime writes map 16) decodes to the same fields. */
        uint8_t mine[96];
        se_message cm;
        size_t cu = 0, cn = se_encode_frame_ready(mine, sizeof mine, seq, 0, 8, 1251.25, 2);
        CHECK(cn > 0 && se_decode_message(mine, cn, 1u << 20, &cm, &cu) == SE_OK && cu == cn && cm.header.type == SE_FRAME_READY && cm.header.seq == seq, "C FRAME_READY decodes");
        const char *keys[] = {"stream", "seq", "t", "slot"};
        for (int k = 0; k < 4; k++) {
          se_mp_reader a, b;
          se_mp_item x, y;
          double dx = -1, dy = -2;
          CHECK(se_mp_find(m.body, m.header.body_length, keys[k], &a) == SE_OK && se_mp_next(&a, &x) == SE_OK && se_mp_number(&x, &dx) == SE_OK, "golden %s", keys[k]);
          CHECK(se_mp_find(cm.body, cm.header.body_length, keys[k], &b) == SE_OK && se_mp_next(&b, &y) == SE_OK && se_mp_number(&y, &dy) == SE_OK, "C %s", keys[k]);
          CHECK(dx == dy, "FRAME_READY.%s: golden %g, C %g", keys[k], dx, dy);
        }
      }
    } else {
      serials++;
      unsigned rtype = (unsigned)atoi(strtok_r(NULL, " ", &save));
      const char *hex = strtok_r(NULL, " ", &save);
      se_serial_decoder d;
      se_record r;
      int got = 0;
      se_serial_init(&d);
      for (size_t i = 0; i < n; i++) {
        int s = se_serial_push(&d, bytes[i], &r);
        CHECK(s >= 0, "%s: byte %zu: %s", file, i, se_strerror(s));
        got += s == 1;
      }
      CHECK(got == 1 && r.type == rtype, "%s: one record of type %u", file, rtype);
      uint8_t raw[40], framed[SE_SERIAL_MAX_FRAME + 2];
      size_t rn = se_record_encode(&r, raw);
      CHECK(rn * 2 == strlen(hex), "%s: record length", file);
      int same = 1;
      for (size_t i = 0; i < rn; i++) same &= raw[i] == (uint8_t)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
      CHECK(same, "%s: re-encoded record bytes", file);
      size_t fn = se_serial_frame(&r, framed);
      CHECK(fn == n && memcmp(framed, bytes, n) == 0, "%s: re-framed bytes identical", file);
      if (rtype == SE_REC_RESULT && r.seq == 123456) {
        CHECK(r.confidence_e4 == 9375 && r.lv_area_e2 == 152025 && r.ef_e2 == 5750 && r.latency_us == 6500, "serial result fields");
        CHECK(r.result_state == SE_STATE_OK && r.id_score_e200 == 185, "serial result: ok, score (185 - 1) / 200 = 0.92");
      }
      if (rtype == SE_REC_HEARTBEAT || rtype == SE_REC_STATUS) {
        uint16_t pacs = r.flags & (SE_HEARTBEAT_PACS_FAILING | SE_HEARTBEAT_PACS_ATTENTION);
        if (strcmp(file, "serial-heartbeat-pacs.bin") == 0)
          CHECK(r.flags == (SE_HEARTBEAT_STREAMING | SE_HEARTBEAT_MODEL_LOADED | SE_HEARTBEAT_PACS_FAILING | SE_HEARTBEAT_PACS_ATTENTION) && r.beat == 14401,
                "serial heartbeat-pacs: streaming, model loaded, PACS failing, PACS needs an operator");
        else CHECK(pacs == 0, "%s: no PACS bits", file);
      }
      if (rtype == SE_REC_RESULT && r.seq == 0) CHECK(r.result_state == SE_STATE_OK && r.id_score_e200 == 0, "serial result-none: ok, no score");
      if (rtype == SE_REC_RESULT && r.seq == 123457)
        CHECK(r.result_state == SE_STATE_UNKNOWN && r.id_score_e200 == 26 && r.flags == SE_RESULT_UNKNOWN, "serial result-unknown: unknown, score 0.125");
    }
    free(bytes);
  }
  /* Serial RESULT bytes 22-23 out of range are refused. */
  se_record bad = {0};
  uint8_t raw[32];
  bad.type = SE_REC_RESULT;
  bad.result_state = 3;
  CHECK(se_record_encode(&bad, raw) == 32 && se_record_decode(raw, 32, &bad) == SE_EBODY, "result state 3 refused");
  bad = (se_record){0};
  bad.type = SE_REC_RESULT;
  bad.id_score_e200 = 202;
  CHECK(se_record_encode(&bad, raw) == 32 && se_record_decode(raw, 32, &bad) == SE_EBODY, "id score byte 202 refused");
  /* A RESULT body without state, or with an unknown one, is SE_EBODY. */
  const char *states[] = {NULL, "maybe", "unknown"};
  for (int k = 0; k < 3; k++) {
    uint8_t msgbuf[256];
    se_mp_writer w;
    se_mp_writer_init(&w, msgbuf + SE_HEADER_SIZE, sizeof msgbuf - SE_HEADER_SIZE);
    se_mp_map(&w, states[k] ? 6 : 5);
    se_mp_str(&w, "stream"); se_mp_uint(&w, 0);
    se_mp_str(&w, "seq"); se_mp_uint(&w, 1);
    se_mp_str(&w, "t"); se_mp_double(&w, 0);
    se_mp_str(&w, "flags"); se_mp_uint(&w, 0);
    se_mp_str(&w, "latency"); se_mp_map(&w, 0);
    if (states[k]) { se_mp_str(&w, "state"); se_mp_str(&w, states[k]); }
    se_header h = {SE_PROTOCOL_VERSION, SE_RESULT, 0, (uint32_t)w.len, 0, 1};
    se_write_header(msgbuf, &h);
    se_message m;
    se_result r;
    CHECK(!w.overflow && se_decode_message(msgbuf, SE_HEADER_SIZE + w.len, 1u << 20, &m, NULL) == SE_OK, "hand-made RESULT %d decodes", k);
    int s = se_decode_result(&m, &r);
    CHECK(k == 2 ? (s == SE_OK && r.state == SE_STATE_UNKNOWN && isnan(r.id_score) && r.ed_seq == -1) : s == SE_EBODY,
          "RESULT with state %s: %s", states[k] ? states[k] : "(absent)", se_strerror(s));
  }
  CHECK(sockets == 31 && serials == 11 && rings == 1, "vector counts: %d socket, %d serial, %d ring", sockets, serials, rings);
  free(index);
  DONE();
}
