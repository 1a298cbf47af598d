// The `models` section of a serve config naming the bundled, signed packages
// (YAML, ends with a newline): what every spawned `serve` in the tests runs.
import path from 'node:path';
import { MODELS_DIR } from '../../src/model/package.js';

export const BUNDLED_MODELS_YAML = `models:
  viewQuality: ${path.join(MODELS_DIR, 'view_quality')}
  segmentation: ${path.join(MODELS_DIR, 'lv_segmentation')}
  trustStore: ${path.join(MODELS_DIR, 'trust')}
`;
