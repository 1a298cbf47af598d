// A DICOM C-STORE (and C-ECHO, C-FIND) client for one configured PACS, on
// dcmjs-dimse: one association per batch of files, each file's outcome told
// as its response arrives, so that a PACS that goes away mid-batch leaves the
// files it did not acknowledge for the next try. TLS and the AE titles are
// configuration (PacsOptions).
import { readFileSync } from 'node:fs';
import { invalidValue, rangeError, type CodedError } from '../errors.js';
import { hostProblem } from '../util/host.js';
import { checkKeys } from '../util/options.js';
import { dcmjsDimse, type DimseClient, type DimseRequest, type DimseResponse } from './dcmjs.js';

export interface PacsTls {
  /** PEM files: our key and certificate (when the PACS checks clients), the CA that signed the PACS's certificate. */
  key?: string;
  cert?: string;
  ca?: string;
  /** Refuse a PACS whose certificate does not verify against `ca` (default true). */
  rejectUnauthorized?: boolean;
}

export interface PacsOptions {
  host: string;
  port: number;
  /** The PACS's AE title (Called AE Title). */
  calledAet: string;
  /** Ours (Calling AE Title; default "SONOEDGE"). */
  callingAet?: string;
  /** Connect, association and per-PDU timeouts in ms (default 5000, 10000, 30000). */
  connectTimeoutMs?: number;
  associationTimeoutMs?: number;
  pduTimeoutMs?: number;
  /** DICOM over TLS (PS3.15 B.1). */
  tls?: PacsTls;
}

const PACS_KEYS = ['host', 'port', 'calledAet', 'callingAet', 'connectTimeoutMs', 'associationTimeoutMs', 'pduTimeoutMs', 'tls'] as const;
const AET = /^[\x20-\x5b\x5d-\x7e]{1,16}$/; // PS3.5 AE: 16 characters, no backslash, no control characters

/** Checks PACS options (what the config schema cannot: the host as the config's checkPacs does, AE titles, TLS files that exist). */
export function pacsOptions(o: PacsOptions): PacsOptions {
  checkKeys(o, 'pacs', PACS_KEYS);
  // The one host rule (src/util/host.ts): a peer's, so never an address to listen on; a RangeError, as before.
  const hostBad = hostProblem(o.host, 'peer', 'pacs.host', "the PACS's");
  if (hostBad !== undefined) throw rangeError('ERR_SONOEDGE_PACS', hostBad);
  if (!(Number.isInteger(o.port) && o.port >= 1 && o.port <= 65535)) throw invalidValue('ERR_SONOEDGE_PACS', 'a TCP port 1..65535', 'pacs.port', o.port);
  for (const k of ['calledAet', 'callingAet'] as const) {
    const v = o[k];
    if (v === undefined && k === 'callingAet') continue;
    if (typeof v !== 'string' || !AET.test(v) || v.trim() === '') {
      throw invalidValue('ERR_SONOEDGE_PACS', 'an AE title of 1 to 16 characters, not all spaces, without backslash', `pacs.${k}`, v);
    }
  }
  for (const k of ['key', 'cert', 'ca'] as const) {
    const f = o.tls?.[k];
    if (f !== undefined) {
      try {
        readFileSync(f);
      } catch (err) {
        throw rangeError('ERR_SONOEDGE_PACS', `Expected a readable PEM file for pacs.tls.${k} but received ${JSON.stringify(f)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
    }
  }
  return o;
}

/**
 * The status of a C-STORE response, as the outbox acts on it (PS3.4 B.2.3, PS3.7 Annex C). Success (0000) and every
 * warning (PS3.7's Warning class: 0001, Bxxx, 0107, 0116; C-STORE's own are B000 coercion of data elements, B006
 * elements discarded, B007 data set does not match the SOP class) mean the PACS stored the object, and so does 0111
 * (duplicate SOP instance): the outbox sends an object again under the same SOP Instance UID (a success reply lost, a
 * move that failed after the PACS answered), so the instance the PACS already holds is this one. Out of resources
 * (A7xx), processing failure (0110) and resource limitation (0213) may pass: tried again. Mistyped argument (0212)
 * is the object's own and comes back on every try: refused (it was tried again, for ever, before).
 * Anything else refuses the object itself (A9xx, Cxxx, 0122 SOP class not supported, 0124 not authorised...).
 */
export type StoreOutcome = 'stored' | 'retry' | 'refused';
export function storeOutcome(status: number): StoreOutcome {
  // Before, only B000, B006 and B007 of the warnings: an object stored with another warning went into failed/ as refused.
  if (status === 0x0000 || (status & 0xf000) === 0xb000 || status === 0x0001 || status === 0x0107 || status === 0x0116) return 'stored';
  // Before, a duplicate was refused: an object the PACS holds went into failed/ when its first success reply was lost.
  if (status === 0x0111) return 'stored';
  if ((status & 0xff00) === 0xa700 || status === 0x0110 || status === 0x0213) return 'retry';
  return 'refused';
}

export class PacsError extends Error implements CodedError {
  readonly code = 'ERR_SONOEDGE_PACS' as const;
  constructor(message: string) {
    super(message);
    this.name = 'PacsError';
  }
}

/**
 * A file to send that could not be read on this machine (removed, a folder put in its place, unreadable): not the
 * PACS's failure. `code` is the file system's (ENOENT, EISDIR...), ERR_SONOEDGE_OUTBOX where it has none.
 */
export class LocalFileError extends Error {
  readonly local = true as const;
  readonly code: string;
  readonly file: string;
  constructor(file: string, err: NodeJS.ErrnoException) {
    super(`Expected to read ${file} to send it to the PACS but received ${err.message}`, { cause: err });
    this.name = 'LocalFileError';
    this.code = err.code ?? 'ERR_SONOEDGE_OUTBOX';
    this.file = file;
  }
}

/** One file's result within a batch. */
export interface StoreResult {
  file: string;
  status: number;
  outcome: StoreOutcome;
  comment?: string;
}

/**
 * A dcmjs-dimse networkError's message less the decoration of its log line: `LOGID -> Connection error: ` (LOGID the
 * called AE title, empty before an association) before the socket's own message. `' -> Connection error: connect
 * ECONNREFUSED 10.0.0.5:104'` is `'connect ECONNREFUSED 10.0.0.5:104'`; `'PACS -> Connection timeout'` is
 * `'Connection timeout'`. A message without it is kept whole.
 */
function networkCause(message: string): string {
  return message.replace(/^[^\n]{0,16} -> (?:Connection error: )?/, '');
}

const hex = (s: number) => `0x${s.toString(16).padStart(4, '0').toUpperCase()}`;

/** The C-STORE client of one PACS. */
export class PacsClient {
  readonly options: PacsOptions;

  constructor(options: PacsOptions) {
    this.options = pacsOptions(options);
  }

  get where(): string {
    const o = this.options;
    return `${o.calledAet}@${o.host}:${o.port}${o.tls ? ' (TLS)' : ''}`;
  }

  #sendOptions(): Record<string, unknown> {
    const o = this.options;
    const tls = o.tls;
    return {
      connectTimeout: o.connectTimeoutMs ?? 5000,
      associationTimeout: o.associationTimeoutMs ?? 10000,
      pduTimeout: o.pduTimeoutMs ?? 30000,
      ...(tls ? {
        securityOptions: {
          ...(tls.key ? { key: readFileSync(tls.key) } : {}),
          ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}),
          ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
        },
      } : {}),
    };
  }

  /**
   * Runs requests on one association. Resolves when it is over; rejects with a PacsError when the PACS could not
   * be reached, refused the association or dropped it (responses that arrived before are already told), or with
   * `local()`'s LocalFileError when store aborted it for a file it could not read.
   */
  #associate(requests: DimseRequest[], client: DimseClient = new (dcmjsDimse().Client)(), local?: () => LocalFileError | undefined): Promise<void> {
    for (const r of requests) client.addRequest(r);
    return new Promise<void>((resolve, reject) => {
      let failure: string | undefined;
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        // An association we aborted because a file could not be read here ends as that file's error, not the PACS's.
        const ours = local?.();
        if (ours) reject(ours);
        else if (failure) reject(new PacsError(`Expected the PACS ${this.where} to take the association but ${failure}`));
        else resolve();
      };
      client.on('associationRejected', (r) => {
        failure = `it was rejected (result ${r.result}, source ${r.source}, reason ${r.reason}${r.reason === 7 ? ': called AE title not recognised' : r.reason === 3 ? ': calling AE title not recognised' : ''})`;
      });
      client.on('associationAborted', (a) => { failure ??= `it was aborted (source ${a.source}, reason ${a.reason})`; });
      client.on('networkError', (err) => { failure ??= `the connection failed: ${networkCause(err.message)}`; done(); });
      client.on('closed', done);
      client.on('associationReleased', () => undefined);
      client.send(this.options.host, this.options.port, this.options.callingAet ?? 'SONOEDGE', this.options.calledAet, this.#sendOptions());
    });
  }

  /**
   * Sends files by C-STORE on one association; `onResult` hears each file's outcome as its response arrives.
   * Files without a response when the association ends are neither stored nor refused: the caller keeps them.
   * A file that cannot be read on this machine goes to `onFileError` (with the file system's error) and is not sent.
   * dcmjs-dimse reads each file twice: its header as the batch starts (such a file is left out, the others go), the
   * whole of it when its turn comes; a file that fails then aborts the association (A-ABORT, so that nothing of it
   * is stored) and store rejects with a LocalFileError: the files after it wait for the next try. Without
   * `onFileError`, a file unreadable at the start rejects with a LocalFileError before any association.
   */
  async store(files: string[], onResult: (r: StoreResult) => void, onFileError?: (file: string, err: NodeJS.ErrnoException) => void): Promise<void> {
    const { requests, Client } = dcmjsDimse();
    const client: DimseClient = new Client();
    let local: LocalFileError | undefined;
    const reqs: DimseRequest[] = [];
    for (const file of files) {
      let req: DimseRequest;
      try {
        // Reads the file's header now (its SOP class and instance UIDs), on this machine.
        req = new requests.CStoreRequest(file);
      } catch (err) {
        // A file that cannot be read here (removed, a folder in its place, unreadable, not DICOM) is not the PACS's
        // failure: it is told apart and left out of the association; the other files go.
        if (!onFileError) throw new LocalFileError(file, err as NodeJS.ErrnoException);
        onFileError(file, err as NodeJS.ErrnoException);
        continue;
      }
      // The whole file is read when its turn comes, inside dcmjs-dimse's network code: a throw there would be
      // uncaught (the process would end) and the association would hang until its timeout.
      const lazy = req as DimseRequest & { loadFullDatasetIfNeeded(): void; getDataset(): unknown };
      const loadFull = lazy.loadFullDatasetIfNeeded.bind(lazy);
      lazy.loadFullDatasetIfNeeded = () => {
        try {
          loadFull();
        } catch (err) {
          local ??= new LocalFileError(file, err as NodeJS.ErrnoException);
          onFileError?.(file, err as NodeJS.ErrnoException);
          // Nothing of this file may go (the request holds its header only): the PACS drops the association on the
          // A-ABORT, and the send that follows throws here, which dcmjs-dimse catches and reports as a network error.
          try { client.abort(); } catch { /* no association left to abort */ }
          lazy.getDataset = () => { throw local; };
        }
      };
      req.on('response', (res: DimseResponse) => {
        const status = res.getStatus();
        const comment = res.getErrorComment();
        onResult({ file, status, outcome: storeOutcome(status), ...(comment ? { comment } : {}) });
      });
      reqs.push(req);
    }
    if (reqs.length > 0) await this.#associate(reqs, client, () => local);
  }

  /** C-ECHO: resolves when the PACS answers success. */
  async echo(): Promise<void> {
    const { requests } = dcmjsDimse();
    const req = new requests.CEchoRequest();
    let status: number | undefined;
    req.on('response', (res) => { status = res.getStatus(); });
    await this.#associate([req]);
    if (status !== 0) throw new PacsError(`Expected C-ECHO status 0x0000 from ${this.where} but received ${status === undefined ? 'no response' : hex(status)}`);
  }

  /** C-FIND at IMAGE level (Study Root): the matching instances' attributes, keyword to value. */
  async findImages(query: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    const { requests } = dcmjsDimse();
    const req = requests.CFindRequest.createImageFindRequest(query);
    const found: Record<string, unknown>[] = [];
    let last: number | undefined;
    req.on('response', (res) => {
      last = res.getStatus();
      const ds = res.getDataset();
      if (last === 0xff00 || last === 0xff01) { if (ds) found.push(ds.getElements()); }
    });
    await this.#associate([req]);
    if (last !== 0) throw new PacsError(`Expected C-FIND to end with status 0x0000 from ${this.where} but received ${last === undefined ? 'no response' : hex(last)}`);
    return found;
  }
}
