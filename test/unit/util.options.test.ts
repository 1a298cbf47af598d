import t from 'tap';
import { checkKeys, closest, editDistance } from '../../src/util/options.js';

t.test('editDistance counts single-character edits, case-insensitively', async (t) => {
  t.equal(editDistance('letterbox', 'letterbox'), 0);
  t.equal(editDistance('letterBox', 'letterbox'), 0);
  t.equal(editDistance('leterbox', 'letterbox'), 1);
  t.equal(editDistance('', 'abc'), 3);
  t.equal(editDistance('kitten', 'sitting'), 3);
});

t.test('closest suggests only likely typos', async (t) => {
  t.equal(closest('resise', ['resize', 'roi', 'letterbox']), 'resize');
  t.equal(closest('zzzzzzzz', ['resize', 'roi']), undefined);
});

t.test('checkKeys rejects unknown keys with a suggestion', async (t) => {
  t.throws(() => checkKeys({ widht: 3 }, 'input', ['width', 'height']), {
    name: 'TypeError',
    code: 'ERR_SONOEDGE_UNKNOWN_OPTION',
    message: 'Unknown option input.widht; did you mean input.width? (known: width, height)',
  });
  t.throws(() => checkKeys(null, 'input', ['width']), {
    name: 'TypeError',
    code: 'ERR_SONOEDGE_ARG_TYPE',
    message: 'Expected object for input but received null',
  });
  t.same(checkKeys({ width: 1 }, 'input', ['width']), { width: 1 });
});

t.test('checkKeys with an empty name (a constructor\'s own options): keys bare, the object called options', async (t) => {
  t.throws(() => checkKeys({ widht: 3 }, '', ['width', 'height']), {
    name: 'TypeError',
    code: 'ERR_SONOEDGE_UNKNOWN_OPTION',
    message: 'Unknown option widht; did you mean width? (known: width, height)',
  });
  t.throws(() => checkKeys({ zzzzzz: 3 }, '', ['width']), { message: 'Unknown option zzzzzz (known: width)' });
  t.throws(() => checkKeys(null, '', ['width']), {
    name: 'TypeError',
    code: 'ERR_SONOEDGE_ARG_TYPE',
    message: 'Expected object for options but received null',
  });
});
