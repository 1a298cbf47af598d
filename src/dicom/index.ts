// DICOM out: auto-captured clips, their structured reports and secondary
// captures (writer.ts), the clip choice (capture.ts), the durable outbox
// (outbox.ts) and the PACS client (store.ts). docs/DICOM.md, "What is written".
export {
  AutoCapture, ClipSelector, captureOptions, clipMeasurements, clipRecord, modelUse,
  type AutoCaptureOptions, type CaptureOptions, type CaptureObject, type CaptureStreamInfo, type CaptureSummary, type CaptureTarget, type ClipCandidate,
} from './capture.js';
export { Outbox, atomicWrite, atomicWriteAll, folderTarget, type BatchSender, type OutboxOptions, type OutboxStats } from './outbox.js';
export { PacsClient, PacsError, pacsOptions, storeOutcome, type PacsOptions, type PacsTls, type StoreOutcome, type StoreResult } from './store.js';
export {
  CODES, SOP_CLASS, VIEW_CODES, captureUids, clipDataset, decimalString, dicomPixels, newUid, scDataset, srDataset, uidFromName, writeCapture,
  type CaptureUids, type ClipFrames, type ClipMeasurements, type ClipPixelFormat, type ClipRecord, type ModelUse, type StudyAttributes,
  type WriterOptions, type WrittenObject,
} from './writer.js';
export { STUDY_KEYWORDS, studyProblem, type StudyKeyword } from './study.js';
