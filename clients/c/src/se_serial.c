/* Serial records: fixed little-endian layouts, CRC-16/CCITT-FALSE, COBS, 0x00 framing. */
#include <string.h>
#include "sonoedge.h"
#include "se_bytes.h"

size_t se_record_size(uint8_t type) {
  switch (type) {
    case SE_REC_RESULT: return 32;
    case SE_REC_HEARTBEAT: case SE_REC_STATUS: return 24;
    case SE_REC_ACK: case SE_CMD_START_STREAM: case SE_CMD_STOP_STREAM: case SE_CMD_SELECT_MODEL_SET: case SE_CMD_REQUEST_STATUS: return 8;
    default: return 0;
  }
}

size_t se_record_encode(const se_record *r, uint8_t *b) {
  size_t n = se_record_size(r->type);
  if (!n) return 0;
  memset(b, 0, n);
  b[0] = r->type;
  b[1] = 1;
  switch (r->type) {
    case SE_REC_RESULT:
      le16(b + 2, r->stream); le32(b + 4, r->seq); b[8] = r->view; b[9] = r->state; le16(b + 10, r->flags);
      le16(b + 12, r->confidence_e4); le16(b + 14, r->quality_e4); le32(b + 16, r->lv_area_e2); le16(b + 20, r->ef_e2);
      b[22] = r->result_state; b[23] = r->id_score_e200; le32(b + 24, r->latency_us); le32(b + 28, r->time_ms);
      break;
    case SE_REC_HEARTBEAT: case SE_REC_STATUS:
      b[2] = r->state; b[3] = r->model_set; le16(b + 4, r->flags); le16(b + 6, r->cmd_seq); le32(b + 8, r->uptime_ms);
      le32(b + 12, r->frames_processed); le32(b + 16, r->frames_dropped); le16(b + 20, r->fault_code); le16(b + 22, r->beat);
      break;
    case SE_REC_ACK:
      b[2] = r->cmd_type; b[3] = r->ack_status; le16(b + 4, r->cmd_seq);
      break;
    case SE_CMD_START_STREAM: case SE_CMD_STOP_STREAM:
      le16(b + 2, r->cmd_seq); le16(b + 4, r->stream);
      break;
    case SE_CMD_SELECT_MODEL_SET:
      le16(b + 2, r->cmd_seq); b[4] = r->model_set;
      break;
    case SE_CMD_REQUEST_STATUS:
      le16(b + 2, r->cmd_seq);
      break;
  }
  return n;
}

int se_record_decode(const uint8_t *b, size_t len, se_record *r) {
  memset(r, 0, sizeof *r);
  if (len < 2) return SE_ELENGTH;
  size_t n = se_record_size(b[0]);
  if (!n) return SE_ETYPE;
  if (b[1] != 1) return SE_EVERSION;
  if (len != n) return SE_ELENGTH;
  r->type = b[0];
  r->version = b[1];
  switch (r->type) {
    case SE_REC_RESULT:
      r->stream = rd16(b + 2); r->seq = rd32(b + 4); r->view = b[8]; r->state = b[9]; r->flags = rd16(b + 10);
      r->confidence_e4 = rd16(b + 12); r->quality_e4 = rd16(b + 14); r->lv_area_e2 = rd32(b + 16); r->ef_e2 = rd16(b + 20);
      r->result_state = b[22]; r->id_score_e200 = b[23]; r->latency_us = rd32(b + 24); r->time_ms = rd32(b + 28);
      if (r->result_state > SE_STATE_UNKNOWN || r->id_score_e200 > 201) return SE_EBODY;
      break;
    case SE_REC_HEARTBEAT: case SE_REC_STATUS:
      r->state = b[2]; r->model_set = b[3]; r->flags = rd16(b + 4); r->cmd_seq = rd16(b + 6); r->uptime_ms = rd32(b + 8);
      r->frames_processed = rd32(b + 12); r->frames_dropped = rd32(b + 16); r->fault_code = rd16(b + 20); r->beat = rd16(b + 22);
      break;
    case SE_REC_ACK:
      r->cmd_type = b[2]; r->ack_status = b[3]; r->cmd_seq = rd16(b + 4);
      break;
    case SE_CMD_START_STREAM: case SE_CMD_STOP_STREAM:
      r->cmd_seq = rd16(b + 2); r->stream = rd16(b + 4);
      break;
    case SE_CMD_SELECT_MODEL_SET:
      r->cmd_seq = rd16(b + 2); r->model_set = b[4];
      break;
    default:
      r->cmd_seq = rd16(b + 2);
      break;
  }
  return SE_OK;
}

size_t se_cobs_encode(const uint8_t *in, size_t len, uint8_t *out) {
  size_t code_at = 0, o = 1;
  uint8_t code = 1;
  for (size_t i = 0; i < len; i++) {
    if (in[i] == 0) {
      out[code_at] = code; code_at = o++; code = 1;
    } else {
      out[o++] = in[i];
      if (++code == 0xff) { out[code_at] = code; code_at = o++; code = 1; }
    }
  }
  out[code_at] = code;
  return o;
}

int se_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len) {
  size_t i = 0, o = 0;
  while (i < len) {
    uint8_t code = in[i];
    if (code == 0 || i + code > len) return SE_ECOBS;
    for (size_t k = 1; k < code; k++) {
      if (in[i + k] == 0) return SE_ECOBS;
      out[o++] = in[i + k];
    }
    i += code;
    if (code != 0xff && i < len) out[o++] = 0;
  }
  *out_len = o;
  return SE_OK;
}

size_t se_serial_frame(const se_record *r, uint8_t *out) {
  uint8_t raw[34];
  size_t n = se_record_encode(r, raw);
  if (!n) return 0;
  le16(raw + n, se_crc16(raw, n));
  out[0] = 0;
  size_t e = se_cobs_encode(raw, n + 2, out + 1);
  out[1 + e] = 0;
  return e + 2;
}

void se_serial_init(se_serial_decoder *d) { memset(d, 0, sizeof *d); }

int se_serial_push(se_serial_decoder *d, uint8_t c, se_record *out) {
  if (c != 0) {
    if (d->overlong) return 0;
    if (d->n == SE_SERIAL_MAX_FRAME) { d->overlong = 1; d->n = 0; return 0; }
    d->buf[d->n++] = c;
    return 0;
  }
  if (d->overlong) { d->overlong = 0; d->errors++; return SE_ELENGTH; }
  if (d->n == 0) return 0;
  uint8_t dec[SE_SERIAL_MAX_FRAME];
  size_t n = 0;
  size_t len = d->n;
  d->n = 0;
  int s = se_cobs_decode(d->buf, len, dec, &n);
  if (s == SE_OK && n < 4) s = SE_ELENGTH;
  if (s == SE_OK && se_crc16(dec, n - 2) != rd16(dec + n - 2)) s = SE_ECRC;
  if (s == SE_OK) s = se_record_decode(dec, n - 2, out);
  if (s) { d->errors++; return s; }
  d->records++;
  return 1;
}
