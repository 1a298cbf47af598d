// npm test's closing line is the sum of scripts/junit.mjs's counts over every suite's JUnit XML.
import t from 'tap';
// @ts-expect-error: a plain .mjs script without types
import { countJUnit } from '../../scripts/junit.mjs';

t.test("tap's junit reporter: a skipped test and a todo are skipped, not passed", async (t) => {
  const xml = `<testsuites><testsuite name="test/x.test.ts">
<testsuite name="b"><testcase id="1" name="y" classname="test/x.test.ts &gt; b" />
<testcase id="2" name="child skipped" classname="test/x.test.ts &gt; b">
<properties>
<property name="skip" value="true" />
</properties>
</testcase></testsuite>
<testcase id="1" name="a" classname="test/x.test.ts">
<properties>
<property name="skip" value="no venv" />
</properties>
</testcase>
<testcase id="3" name="later" classname="test/x.test.ts"><properties><property name="todo" value="not yet" /></properties></testcase>
<testcase id="2" name="b" classname="test/x.test.ts" time="0.001458" />
</testsuite></testsuites>`;
  t.same(countJUnit(xml), { passed: 2, failed: 0, skipped: 3, failures: [] });
});

t.test('GoogleTest and pytest forms: <skipped/>, status="notrun", failures with their message', async (t) => {
  const xml = `<testsuite>
<testcase name="A" classname="S" status="run" />
<testcase name="B" classname="S" status="notrun" />
<testcase name="C" classname="S"><skipped message="no qemu"/></testcase>
<testcase name="D &amp; E" classname="S"><failure message="expected 1 &lt; 2"/></testcase>
<testcase name="F" classname=""><error message="boom"/></testcase>
</testsuite>`;
  t.same(countJUnit(xml), { passed: 1, failed: 2, skipped: 2, failures: ['S > D & E: expected 1 < 2', 'F: boom'] });
});

t.test('a property named otherwise does not make a skip', async (t) => {
  t.same(countJUnit('<testcase name="p" classname="c"><properties><property name="ok" value="true" /></properties></testcase>').skipped, 0);
});

t.test("a failing todo test is skipped, as tap counts it, not failed (tap's junit writes its <failure>)", async (t) => {
  const xml = '<testcase name="later" classname="c"><properties><property name="todo" value="not yet" /></properties><failure message="not ok" /></testcase>';
  t.same(countJUnit(xml), { passed: 0, failed: 0, skipped: 1, failures: [] });
});
