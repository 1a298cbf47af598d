// Counting JUnit XML for `npm test`'s summary (scripts/test.mjs): every suite
// writes JUnit, and the closing line is the sum of these counts.

function xmlUnescape(s) {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/**
 * Counts JUnit <testcase> elements: passed, failed (failure or error), skipped. A skip is a <skipped/> element
 * (GoogleTest, pytest, CTest), status="skipped"/"notrun", or tap's junit reporter's form: a
 * <property name="skip"> or <property name="todo"> inside the testcase.
 */
export function countJUnit(xml) {
  const counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  const re = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  let m;
  while ((m = re.exec(xml)) !== null) {
    const attrs = m[1];
    const body = m[3] ?? '';
    const name = xmlUnescape((/\bname="([^"]*)"/.exec(attrs) ?? [])[1] ?? '?');
    const cls = xmlUnescape((/\bclassname="([^"]*)"/.exec(attrs) ?? [])[1] ?? '');
    // A todo test that fails is not a failure (tap passes it); its <failure> element is only the report of it.
    if (/<property\s+name="todo"/.test(body)) counts.skipped++;
    else if (/<(failure|error)\b/.test(body)) {
      counts.failed++;
      const msg = /<(?:failure|error)\b[^>]*?message="([^"]*)"/.exec(body);
      counts.failures.push(`${cls ? `${cls} > ` : ''}${name}${msg ? `: ${xmlUnescape(msg[1]).slice(0, 300)}` : ''}`);
    } else if (/<skipped\b/.test(body) || /\bstatus="(skipped|notrun)"/.test(attrs) || /<property\s+name="(skip|todo)"/.test(body)) counts.skipped++;
    else counts.passed++;
  }
  return counts;
}
