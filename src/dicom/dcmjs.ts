// The two DICOM libraries the writer and the PACS sender use, loaded once and
// described here (neither ships TypeScript types for what we call): dcmjs
// writes Part 10 files from naturalized data sets (keyword: value), and
// dcmjs-dimse speaks DIMSE (C-STORE, C-FIND, C-ECHO) over TCP or TLS.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A naturalized DICOM data set: attribute keyword to value, sequences as arrays of data sets. */
export type Naturalized = Record<string, unknown>;

interface DcmjsData {
  DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(options?: Record<string, unknown>): ArrayBuffer };
  DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { meta: Record<string, unknown>; dict: Record<string, unknown> } };
  DicomMetaDictionary: {
    denaturalizeDataset(ds: Naturalized): Record<string, unknown>;
    naturalizeDataset(ds: Record<string, unknown>): Naturalized;
  };
}

export const dcmjs = require('dcmjs') as { data: DcmjsData };

/** What sonoedge uses of dcmjs-dimse (the package's own index.d.ts is not an ES module TypeScript resolves here). */
export interface DimseDataset {
  getElement(keyword: string): unknown;
  getElements(): Record<string, unknown>;
}
export interface DimseRequest {
  on(event: 'response', listener: (response: DimseResponse) => void): void;
}
export interface DimseResponse {
  getStatus(): number;
  getErrorComment(): string | undefined;
  getDataset(): DimseDataset | undefined;
  getAffectedSopInstanceUid(): string | undefined;
}
export interface DimseClient {
  addRequest(request: DimseRequest): void;
  on(event: 'associationAccepted' | 'associationReleased' | 'closed', listener: () => void): void;
  on(event: 'associationRejected', listener: (reject: { result: number; source: number; reason: number }) => void): void;
  on(event: 'associationAborted', listener: (abort: { source: number; reason: number }) => void): void;
  on(event: 'networkError', listener: (err: Error) => void): void;
  send(host: string, port: number, callingAeTitle: string, calledAeTitle: string, opts?: Record<string, unknown>): void;
  abort(): void;
}
interface DimseModule {
  Client: new () => DimseClient;
  Dataset: new (elementsOrBuffer?: Record<string, unknown> | Buffer, transferSyntaxUid?: string) => DimseDataset;
  requests: {
    CStoreRequest: new (datasetOrFile: DimseDataset | string) => DimseRequest;
    CEchoRequest: new () => DimseRequest;
    CFindRequest: { createImageFindRequest(elements: Record<string, unknown>): DimseRequest; createStudyFindRequest(elements: Record<string, unknown>): DimseRequest };
  };
  constants: { Status: Record<string, number> };
  log: { setLevel(level: string): void };
}

let dimse: DimseModule | undefined;
/** dcmjs-dimse, loaded on first use (a runtime without a PACS never loads it), its own console logging off. */
export function dcmjsDimse(): DimseModule {
  if (dimse === undefined) {
    dimse = require('dcmjs-dimse') as DimseModule;
    dimse.log.setLevel('silent');
  }
  return dimse;
}
