// Golden vectors: the committed bytes under test/fixtures/protocol/ are what
// the codec produces today, and each decodes back to its index entry. The C
// client tests read the same files (clients/c/tests).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { buildVectors, indexText } from '../../scripts/gen-protocol-fixtures.js';
import { crc16CcittFalse, crc32c } from '../../src/protocol/crc.js';
import { decodeMessage } from '../../src/protocol/codec.js';
import { SerialDecoder } from '../../src/protocol/serial.js';
import { checkRingHeader } from '../../src/protocol/ring.js';

const dir = new URL('../fixtures/protocol/', import.meta.url);
const index = JSON.parse(readFileSync(new URL('index.json', dir), 'utf8')) as { protocolVersion: number; vectors: Array<{ file: string; kind: string; name: string; length: number }> };

t.test('CRC check values', async (t) => {
  const check = Buffer.from('123456789');
  t.equal(crc32c(check), 0xe3069283, 'CRC-32C check');
  t.equal(crc16CcittFalse(check), 0x29b1, 'CRC-16/CCITT-FALSE check');
  t.equal(crc32c(Buffer.alloc(0)), 0);
});

t.test('committed vectors match the codec byte for byte', async (t) => {
  const vectors = buildVectors();
  t.equal(index.protocolVersion, 1);
  t.same(index.vectors.map((v) => v.file), vectors.map((v) => v.file), 'index lists every vector in order');
  for (const v of vectors) {
    const committed = readFileSync(new URL(v.file, dir));
    t.ok(committed.equals(v.bytes), `${v.file} unchanged (regenerate with node --import tsx scripts/gen-protocol-fixtures.ts)`);
  }
  t.equal(readFileSync(new URL('index.txt', dir), 'utf8'), indexText(vectors), 'index.txt unchanged');
});

t.test('every message type and record type has a vector', async (t) => {
  const types = new Set(buildVectors().filter((v) => v.kind === 'socket').map((v) => v.json.typeName));
  for (const name of ['HELLO', 'CONFIGURE_STREAM', 'FRAME', 'FRAME_READY', 'SLOT_RELEASE', 'SUBSCRIBE', 'RESULT', 'STATUS', 'STATS',
    'LOAD_MODEL', 'SWAP', 'ERROR', 'PING', 'PONG', 'CLOSE_STREAM']) t.ok(types.has(name), name);
  const records = new Set(buildVectors().filter((v) => v.kind === 'serial').map((v) => v.json.recordType));
  t.equal(records.size, 8, 'all 8 record types');
});

t.test('each vector decodes to its index entry', async (t) => {
  const full = JSON.parse(readFileSync(new URL('index.json', dir), 'utf8')) as { vectors: Array<Record<string, unknown>> };
  for (const entry of full.vectors) {
    const bytes = readFileSync(new URL(entry.file as string, dir));
    t.equal(bytes.length, entry.length, `${entry.file as string} length`);
    if (entry.kind === 'socket') {
      const m = decodeMessage(bytes);
      t.same({ type: m.header.type, flags: m.header.flags, seq: m.header.seq, bodyLength: m.header.bodyLength, payloadLength: m.header.payloadLength },
        { type: entry.type, flags: entry.flags, seq: entry.seq, bodyLength: entry.bodyLength, payloadLength: entry.payloadLength }, `${entry.file as string} header`);
    } else if (entry.kind === 'ring') {
      t.doesNotThrow(() => checkRingHeader(bytes, { name: '/golden', slots: entry.slots as number, slotBytes: entry.slotBytes as number }), 'ring header checks');
      t.same([bytes.toString('ascii', 0, 4), bytes.readUInt16LE(4), bytes.readUInt32LE(8)], [entry.magic, entry.version, entry.headerBytes]);
      t.ok(bytes.subarray(20).every((b) => b === 0), 'reserved bytes are zero');
    } else {
      const ev = new SerialDecoder().push(bytes);
      t.equal(ev.length, 1);
      t.same(ev[0].kind === 'record' ? ev[0].record : ev[0], entry.record, `${entry.file as string} record`);
    }
  }
});
