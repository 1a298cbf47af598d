/* sonoedge C client: socket protocol version 1 and serial records.
 * C99 and POSIX (shm_open/mmap for the ring). See docs/PROTOCOL.md for the wire format.
 *
 * Return codes: SE_OK (0) or a negative SE_E* value. SE_EINCOMPLETE means
 * "more bytes may complete this"; every other negative value means corrupt
 * or refused input. */
#ifndef SONOEDGE_H
#define SONOEDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SE_PROTOCOL_VERSION 1
#define SE_HEADER_SIZE 24
#define SE_MAGIC0 'S'
#define SE_MAGIC1 'O'
#define SE_MAGIC2 'N'
#define SE_MAGIC3 'O'
#define SE_FLAG_REPLY 0x0001u

enum se_status {
  SE_OK = 0,
  SE_EINCOMPLETE = -1,
  SE_EMAGIC = -2,
  SE_ECRC = -3,
  SE_EVERSION = -4,
  SE_ETYPE = -5,
  SE_ETOOLARGE = -6,
  SE_EBODY = -7,   /* body is not valid MessagePack or a field is missing or mistyped */
  SE_ECOBS = -8,
  SE_ELENGTH = -9,
  SE_EIO = -10,    /* socket error; see errno */
  SE_ECLOSED = -11,
  SE_ETIMEOUT = -12,
  SE_EREMOTE = -13, /* the runtime answered with ERROR: see se_client.last_error */
  SE_ENOMEM = -14,
  SE_EARG = -15,
  SE_ESHM = -16,   /* shared memory: shm_open/ftruncate/mmap failed (see errno), or a ring header that does not match */
  SE_ESLOT = -17   /* a slot the firmware does not own (or outside the ring) */
};

enum se_type {
  SE_HELLO = 0x01, SE_CONFIGURE_STREAM = 0x02, SE_FRAME = 0x03, SE_FRAME_READY = 0x04, SE_SLOT_RELEASE = 0x05,
  SE_SUBSCRIBE = 0x06, SE_RESULT = 0x07, SE_STATUS = 0x08, SE_STATS = 0x09, SE_LOAD_MODEL = 0x0a,
  SE_SWAP = 0x0b, SE_ERROR = 0x0c, SE_PING = 0x0d, SE_PONG = 0x0e, SE_CLOSE_STREAM = 0x0f
};

const char *se_strerror(int status);

/* ---- checksums ---- */
uint32_t se_crc32c(const uint8_t *data, size_t len);   /* check("123456789") = 0xE3069283 */
uint16_t se_crc16(const uint8_t *data, size_t len);    /* CRC-16/CCITT-FALSE, check = 0x29B1 */

/* ---- MessagePack, the subset the protocol uses ---- */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  int overflow; /* set when a write did not fit; the buffer is then unusable */
} se_mp_writer;

void se_mp_writer_init(se_mp_writer *w, uint8_t *buf, size_t cap);
void se_mp_map(se_mp_writer *w, uint32_t n);
void se_mp_array(se_mp_writer *w, uint32_t n);
void se_mp_str(se_mp_writer *w, const char *s);
void se_mp_strn(se_mp_writer *w, const char *s, uint32_t n);
void se_mp_uint(se_mp_writer *w, uint64_t v);
void se_mp_int(se_mp_writer *w, int64_t v);
void se_mp_double(se_mp_writer *w, double v);
void se_mp_bool(se_mp_writer *w, int v);
void se_mp_nil(se_mp_writer *w);
void se_mp_bin(se_mp_writer *w, const uint8_t *data, uint32_t n);

enum se_mp_kind { SE_MP_NIL, SE_MP_BOOL, SE_MP_UINT, SE_MP_INT, SE_MP_FLOAT, SE_MP_STR, SE_MP_BIN, SE_MP_ARRAY, SE_MP_MAP, SE_MP_EXT, SE_MP_INVALID };

typedef struct {
  const uint8_t *p;
  const uint8_t *end;
  int err; /* sticky: once set, every read fails */
} se_mp_reader;

/* One decoded item. For STR and BIN, ptr/len point into the input; for ARRAY
 * and MAP, len is the element (pair) count and the elements follow. */
typedef struct {
  enum se_mp_kind kind;
  int b;
  uint64_t u;
  int64_t i;
  double f;
  const uint8_t *ptr;
  uint32_t len;
} se_mp_item;

void se_mp_reader_init(se_mp_reader *r, const uint8_t *data, size_t len);
int se_mp_next(se_mp_reader *r, se_mp_item *it);   /* reads one item header (and a scalar's value) */
int se_mp_skip(se_mp_reader *r);                     /* skips one whole value, nested up to 32 deep */
int se_mp_number(const se_mp_item *it, double *out); /* UINT, INT or FLOAT as double */
int se_mp_key_is(const se_mp_item *it, const char *key);
/* Positions a reader at the value of `key` in the map `body`; SE_EBODY if absent. */
int se_mp_find(const uint8_t *body, size_t len, const char *key, se_mp_reader *at);

/* ---- socket messages ---- */
typedef struct {
  uint8_t version;
  uint8_t type;
  uint16_t flags;
  uint32_t body_length;
  uint32_t payload_length;
  uint32_t seq;
} se_header;

typedef struct {
  se_header header;
  const uint8_t *body;     /* MessagePack map, header.body_length bytes */
  const uint8_t *payload;  /* header.payload_length bytes (FRAME) */
} se_message;

/* Writes the 24 header bytes, CRC included. */
void se_write_header(uint8_t out[SE_HEADER_SIZE], const se_header *h);
/* Checks magic and CRC. SE_EINCOMPLETE if len < 24. Does not check version or type. */
int se_read_header(const uint8_t *buf, size_t len, se_header *h);
/* Decodes one whole message at buf: SE_EINCOMPLETE if truncated, SE_ETOOLARGE if
 * body + payload exceed max_size (known from the header alone), SE_EVERSION,
 * SE_ETYPE, SE_EBODY (not a MessagePack map of exactly body_length bytes). On
 * success *consumed = 24 + body + payload. */
int se_decode_message(const uint8_t *buf, size_t len, uint32_t max_size, se_message *m, size_t *consumed);

/* RESULT.flags bits (docs/PROTOCOL.md, RESULT). */
#define SE_RESULT_LOW_QUALITY 0x0001u
#define SE_RESULT_VIEW_CHANGED 0x0002u
#define SE_RESULT_HAS_LV_AREA 0x0004u
#define SE_RESULT_HAS_EF 0x0008u
#define SE_RESULT_ED 0x0010u          /* this result confirms the end-diastole of frame ed_seq */
#define SE_RESULT_ES 0x0020u          /* this result confirms the end-systole of frame es_seq */
#define SE_RESULT_DROPPED_BEFORE 0x0040u
#define SE_RESULT_UNCERTAIN 0x0080u   /* state uncertain: the results may be wrong */
#define SE_RESULT_UNKNOWN 0x0100u     /* state unknown: unlike the training data; no LV, no EF */
#define SE_RESULT_EF_LOW_QUALITY 0x0200u
#define SE_RESULT_SECTOR_SEARCH 0x0400u  /* an autoSector stream's frame taken by the sector finder: no values */

/* The in-distribution state: RESULT.state by name, serial RESULT byte 22 by number. */
enum se_result_state { SE_STATE_OK = 0, SE_STATE_UNCERTAIN = 1, SE_STATE_UNKNOWN = 2 };

typedef struct {
  uint16_t stream;
  uint32_t seq;
  double t;
  char view[16];          /* "" when absent */
  double confidence;      /* NaN when absent */
  double quality;
  int state;              /* enum se_result_state (required in the body) */
  double id_score;        /* NaN when the view model has no in-distribution score */
  double lv_area_mm2;
  double ef;
  double ef_ci_lo, ef_ci_hi; /* 95% interval of ef, NaN when absent */
  int64_t ed_seq, es_seq; /* the frame whose ED / ES this result confirms; -1 when none */
  uint32_t flags;
  double queue_ms;
  double total_ms;
  uint16_t mask_width, mask_height;
  const uint8_t *mask;    /* points into the message; NULL when absent */
} se_result;

typedef struct {
  uint32_t code;
  char name[32];
  char message[256];
  int fatal;
} se_error;

int se_decode_result(const se_message *m, se_result *r);
int se_decode_error(const se_message *m, se_error *e);

/* ---- shared-memory frame ring (docs/PROTOCOL.md, "Shared-memory frames") ----
 * A POSIX shared-memory object: a 4096-byte header, then `slots` slots of
 * `slot_bytes` bytes (a multiple of 4096, at least the stream's frameBytes).
 * Every slot starts owned by the firmware. se_ring_slot_acquire() picks a
 * free one; write the frame into se_ring_slot(); se_send_frame_ready() hands
 * it to the runtime; it comes back when SLOT_RELEASE arrives, which se_recv()
 * applies by itself to the rings attached to the client (se_configure_ring
 * attaches). When the connection closes every slot comes back.
 * The se_ring is the caller's: keep it (and its mapping) until the client
 * has let go of it: se_close, or a CONFIGURE_STREAM without a ring for its
 * stream (se_configure, se_configure_study) that the runtime accepts. */
#define SE_RING_MAGIC 0x524E4F53u /* "SONR" read as little-endian u32 */
#define SE_RING_VERSION 1
#define SE_RING_HEADER_BYTES 4096u
#define SE_RING_MIN_SLOTS 2
#define SE_RING_MAX_SLOTS 64
#define SE_MAX_RINGS 8

typedef struct se_ring {
  char name[208];         /* "/" + 1..200 of [A-Za-z0-9._-] */
  uint32_t slots, slot_bytes;
  uint8_t *base;          /* the whole mapping, read-write */
  size_t size;            /* 4096 + slots * slot_bytes */
  uint64_t owned;         /* bit i: the firmware owns slot i */
  uint32_t frame_seq[SE_RING_MAX_SLOTS]; /* the frame seq last sent from each slot */
  uint32_t next;          /* where se_ring_slot_acquire looks first (round robin) */
  uint32_t released, bad_releases; /* SLOT_RELEASEs applied, and ones that named a slot not held by the runtime */
  int created;            /* made by se_ring_create: se_ring_close unlinks it */
} se_ring;

/* Writes the 4096-byte header page. */
void se_ring_header_encode(uint8_t out[SE_RING_HEADER_BYTES], uint32_t slots, uint32_t slot_bytes);
/* SE_OK when hdr (>= 20 bytes) is a version-1 header of this geometry, else SE_ESHM. */
int se_ring_header_check(const uint8_t *hdr, size_t len, uint32_t slots, uint32_t slot_bytes);
/* The firmware makes the ring: shm_open(O_CREAT|O_EXCL, mode), ftruncate, mmap, header. SE_EARG for a bad name or geometry. */
int se_ring_create(se_ring *r, const char *name, uint32_t slots, uint32_t slot_bytes, unsigned mode);
/* Maps a ring the runtime made (CONFIGURE_STREAM ring.create) and checks its header. */
int se_ring_attach(se_ring *r, const char *name, uint32_t slots, uint32_t slot_bytes);
/* Unmaps; unlinks a ring this side created. Call after the connection closed or the stream was closed. */
void se_ring_close(se_ring *r);
/* A free slot the firmware owns (round robin), or -1 when the runtime holds all of them. */
int se_ring_slot_acquire(se_ring *r);
/* Start of slot i (NULL when out of range). */
uint8_t *se_ring_slot(se_ring *r, uint32_t slot);
/* How many slots the firmware owns now. */
uint32_t se_ring_free_slots(const se_ring *r);
/* Applies one SLOT_RELEASE (ownership back). SE_ESLOT when the slot was not held by the runtime. */
int se_ring_release(se_ring *r, uint32_t slot);
/* Every slot back to the firmware (the connection closed). */
void se_ring_reset(se_ring *r);

/* A CONFIGURE_STREAM reply: frame_bytes, and the ring when present (ring_name[0] == 0 when not). */
int se_decode_configure_reply(const se_message *m, uint32_t *frame_bytes, char *ring_name, size_t name_cap,
                              uint32_t *slots, uint32_t *slot_bytes);
int se_decode_slot_release(const se_message *m, uint16_t *stream, uint32_t *slot, uint32_t *frame_seq);
/* A whole FRAME_READY message (header + body) into out; returns its length, 0 if cap is too small. */
size_t se_encode_frame_ready(uint8_t *out, size_t cap, uint32_t msg_seq, uint16_t stream, uint32_t frame_seq, double t, uint32_t slot);

/* ---- the socket client ---- */
/* A message that reached a blocking request (se_hello, se_configure*, se_subscribe, se_ping) while it waited for
 * its reply and is not that reply: a RESULT, an ERROR not in reply, a SLOT_RELEASE (already applied to its ring).
 * `m` is valid only during the call, which must not use the client. */
typedef void (*se_message_fn)(void *ctx, const se_message *m);

typedef struct {
  uint16_t stream;
  uint32_t width, height;
  const char *format;     /* "GRAY8", "GRAY16", "RGB8", "BGR8", "RGBA8", "BGRA8", "YUYV", "NV12" */
  uint32_t stride;        /* 0: packed */
  double spacing_x_mm, spacing_y_mm;
  double fps;
  int has_roi;
  uint32_t roi_x, roi_y, roi_width, roi_height;
  int has_sector;
  double angle_start, angle_end, depth_start, depth_end; /* radians, mm */
  /* How the scanner shows the image against the models' orientation (apex at the top, in apical views the LV on the
   * right): NULL (or "none"), "horizontal" (mirrored), "vertical" (apex down) or "both" (turned 180 degrees). The
   * runtime flips each frame back for the models and sends the LV mask and outline as the frame shows them. */
  const char *flip;
} se_stream_config;

typedef struct {
  int fd;
  uint32_t seq;
  uint8_t version;
  uint32_t max_message_size;
  uint8_t *buf;       /* receive buffer */
  size_t cap, len;
  size_t consumed;     /* bytes of the message se_recv returned last */
  se_error last_error;
  se_ring *rings[SE_MAX_RINGS]; /* rings whose SLOT_RELEASEs se_recv applies */
  uint16_t ring_streams[SE_MAX_RINGS];
  /* Gets the messages a blocking request receives before its reply (se_message_fn), in order; set it after
   * se_connect_unix, which zeroes the client. NULL: they are discarded. A stream reconfigured (se_configure again,
   * on the same connection) with a frame in flight gets that frame's RESULT here when it comes before the reply:
   * the runtime loads the new geometry's models before it replies (docs/PROTOCOL.md, CONFIGURE_STREAM). */
  se_message_fn on_message;
  void *on_message_ctx;
} se_client;

int se_connect_unix(se_client *c, const char *path);
void se_close(se_client *c);
/* Sends a raw message (header built here). */
int se_send(se_client *c, uint8_t type, uint16_t flags, const uint8_t *body, uint32_t body_len,
            const void *payload, uint32_t payload_len, uint32_t *seq_out);
/* Receives the next message (valid until the next se_recv). timeout_ms < 0: wait forever. */
int se_recv(se_client *c, se_message *m, int timeout_ms);
int se_hello(se_client *c, const char *client_name, int timeout_ms);
/* CONFIGURE_STREAM; again on the same connection it changes the stream (frames sent after it are of the new
 * configuration; frame seqs may run on). Only fps (or the study) changed: the runtime keeps the loaded models and
 * the stream's state; a new geometry loads and warms models before the reply (set on_message, above).
 * On a stream that had a ring (se_configure_ring) it ends the ring: the runtime gives every slot back
 * (SLOT_RELEASE, applied to the ring) before it replies. Once the reply has come the client lets go of the
 * se_ring and never touches it again (se_close included); it is left as it is, still mapped: se_ring_close it
 * (which unlinks a ring the firmware made) and free it when you like. A refused reconfigure (SE_EREMOTE), or
 * one whose reply never came (SE_ETIMEOUT, SE_EIO, SE_ECLOSED), keeps the ring attached. */
int se_configure(se_client *c, const se_stream_config *cfg, uint32_t *frame_bytes, int timeout_ms);
int se_subscribe(se_client *c, int stream /* -1: all */, int masks, int timeout_ms);
int se_send_frame(se_client *c, uint16_t stream, uint32_t frame_seq, double t, const void *pixels, uint32_t len);
int se_ping(se_client *c, int timeout_ms);
/* CONFIGURE_STREAM with a ring, attaching the ring to the client for cfg->stream.
 * create == 0: `ring` was made by se_ring_create and is named in the request.
 * create != 0: the runtime makes a ring of `slots` slots; `ring` is attached to it from the reply. A reconfigure
 * with create != 0 on the `ring` this client already attached for the stream closes it first (se_ring_close), once
 * the reply has come; a struct not attached yet is never closed (it may be uninitialised). */
int se_configure_ring(se_client *c, const se_stream_config *cfg, se_ring *ring, int create, uint32_t slots,
                      uint32_t *frame_bytes, int timeout_ms);
/* Patient and study attributes for CONFIGURE_STREAM.study (docs/PROTOCOL.md): DICOM keywords ("PatientID",
 * "PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyInstanceUID", "StudyID", "StudyDate",
 * "StudyTime", "StudyDescription", "ReferringPhysicianName", "OperatorsName") and their values as DICOM writes them
 * ("Doe^Jane", "19700101"). The runtime files the stream's DICOM captures under them and refuses a value its VR
 * does not allow with SE_EREMOTE (BAD_FIELD, the attribute named in last_error.message). */
#define SE_STUDY_MAX_ATTRS 16
typedef struct {
  const char *keyword;
  const char *value;      /* UTF-8; at most 200 bytes here (the runtime checks the VR's own limit) */
} se_study_attr;

/* se_configure / se_configure_ring with a study block of n_study attributes (0..SE_STUDY_MAX_ATTRS; SE_EARG beyond,
 * or for a NULL or empty keyword, a NULL value). The study stays the stream's until its next CONFIGURE_STREAM. */
int se_configure_study(se_client *c, const se_stream_config *cfg, const se_study_attr *study, size_t n_study,
                       uint32_t *frame_bytes, int timeout_ms);
int se_configure_ring_study(se_client *c, const se_stream_config *cfg, const se_study_attr *study, size_t n_study,
                            se_ring *ring, int create, uint32_t slots, uint32_t *frame_bytes, int timeout_ms);
/* Hands slot `slot` (which the firmware must own and have written) to the runtime: FRAME_READY. SE_ESLOT if not owned. */
int se_send_frame_ready(se_client *c, se_ring *ring, uint16_t stream, uint32_t frame_seq, double t, uint32_t slot);

/* ---- serial records ---- */
enum se_record_type {
  SE_REC_RESULT = 0x01, SE_REC_HEARTBEAT = 0x02, SE_REC_STATUS = 0x03, SE_REC_ACK = 0x04,
  SE_CMD_START_STREAM = 0x10, SE_CMD_STOP_STREAM = 0x11, SE_CMD_SELECT_MODEL_SET = 0x12, SE_CMD_REQUEST_STATUS = 0x13
};
#define SE_SERIAL_MAX_FRAME 64
#define SE_NONE_U16 0xFFFFu
#define SE_NONE_U32 0xFFFFFFFFu

typedef struct {
  uint8_t type, version;
  /* RESULT */
  uint16_t stream; uint32_t seq; uint8_t view, state; uint16_t flags;
  uint16_t confidence_e4, quality_e4; uint32_t lv_area_e2; uint16_t ef_e2;
  uint8_t result_state;   /* byte 22: enum se_result_state */
  uint8_t id_score_e200;  /* byte 23: 0 absent, else 1 + round(score * 200): score = (v - 1) / 200 */
  uint32_t latency_us, time_ms;
  /* HEARTBEAT, STATUS (state above too) */
  uint8_t model_set; uint16_t cmd_seq; uint32_t uptime_ms, frames_processed, frames_dropped; uint16_t fault_code, beat;
  /* ACK */
  uint8_t cmd_type, ack_status;
} se_record;

/* HEARTBEAT and STATUS flags bits (bytes 4-5; docs/PROTOCOL.md, HEARTBEAT). Other bits are reserved: ignore them.
 * The PACS bits are 0 when the runtime has no PACS; the socket's STATUS.outbox map says the same. */
#define SE_HEARTBEAT_STREAMING 0x0001u       /* a stream is configured and not stopped by CMD_STOP_STREAM */
#define SE_HEARTBEAT_MODEL_LOADED 0x0002u
#define SE_HEARTBEAT_PACS_FAILING 0x0004u    /* the PACS outbox's last try failed: objects wait, a retry is due */
#define SE_HEARTBEAT_PACS_ATTENTION 0x0008u  /* objects held back, or objects in failed/ now (after a restart too): an operator is needed */

size_t se_record_size(uint8_t type); /* 0 for an unknown type */
/* Record bytes (no CRC, no framing) into out (>= 32 bytes); returns the size, 0 on an unknown type. */
size_t se_record_encode(const se_record *r, uint8_t *out);
int se_record_decode(const uint8_t *buf, size_t len, se_record *r);
/* 0x00 COBS(record || crc16_le) 0x00 into out (>= SE_SERIAL_MAX_FRAME + 2); returns the length. */
size_t se_serial_frame(const se_record *r, uint8_t *out);
size_t se_cobs_encode(const uint8_t *in, size_t len, uint8_t *out);
int se_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);

typedef struct {
  uint8_t buf[SE_SERIAL_MAX_FRAME];
  size_t n;
  int overlong;
  uint32_t records, errors;
} se_serial_decoder;

void se_serial_init(se_serial_decoder *d);
/* Feeds one byte: 1 when *out holds a record, 0 when nothing yet, negative on a bad frame (dropped). */
int se_serial_push(se_serial_decoder *d, uint8_t byte, se_record *out);

#ifdef __cplusplus
}
#endif
#endif
