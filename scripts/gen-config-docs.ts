// Rewrites the configuration reference table in docs/DEPLOYMENT.md from the
// serve config schema: `npx tsx scripts/gen-config-docs.ts`. test/unit/config.test.ts
// fails while the page and the schema disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configReference, REFERENCE_END, REFERENCE_START } from '../src/config/docs.js';

const page = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'DEPLOYMENT.md');
const text = readFileSync(page, 'utf8');
const start = text.indexOf(REFERENCE_START);
const end = text.indexOf(REFERENCE_END);
if (start < 0 || end < start) throw new Error(`Expected the markers ${REFERENCE_START} and ${REFERENCE_END} in ${page} but received none`);
writeFileSync(page, `${text.slice(0, start + REFERENCE_START.length)}\n${configReference()}\n${text.slice(end)}`);
console.log(`wrote the configuration reference into ${page}`);
