// SVG charts: exact structure (series paths, ticks, escaping) and robustness
// to empty, single, all-equal and non-finite input.
import t from 'tap';
import { cdfChart, histogram, lineChart, niceAxis } from '../../src/report/svg.js';

const seriesPaths = (svg: string) => [...svg.matchAll(/<path class="series" data-name="([^"]*)" d="([^"]*)"/g)].map((m) => ({ name: m[1], d: m[2] }));
const tickLabels = (svg: string, axis: 'x' | 'y') => {
  const g = new RegExp(`<g class="${axis}-ticks">(.*?)</g>`).exec(svg);
  return g ? [...g[1].matchAll(/>([^<]*)<\/text>/g)].map((m) => m[1]) : [];
};
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

t.test('niceAxis picks 1-2-5 steps and widens the domain to whole steps', async (t) => {
  t.same(niceAxis(0, 100), { lo: 0, hi: 100, ticks: [0, 20, 40, 60, 80, 100], labels: ['0', '20', '40', '60', '80', '100'] });
  t.same(niceAxis(3, 97).labels, ['0', '20', '40', '60', '80', '100']);
  t.same(niceAxis(0, 1).labels, ['0', '0.2', '0.4', '0.6', '0.8', '1.0']);
  t.same(niceAxis(-0.3, 0.7).labels, ['-0.4', '-0.2', '0', '0.2', '0.4', '0.6', '0.8']);
  t.same(niceAxis(12, 37).labels, ['10', '15', '20', '25', '30', '35', '40']);
  t.same(niceAxis(0, 3, 5, true).labels, ['0', '1', '2', '3'], 'integer axes never step below 1');
  t.same(niceAxis(5, 5).labels, ['4.4', '4.6', '4.8', '5.0', '5.2', '5.4', '5.6'], 'a zero-width range is widened by 10%');
  t.same(niceAxis(0, 0).labels, ['-1.0', '-0.5', '0', '0.5', '1.0']);
  t.same(niceAxis(Infinity, -Infinity).labels, ['0', '0.2', '0.4', '0.6', '0.8', '1.0'], 'no data falls back to [0, 1]');
});

t.test('lineChart draws one path per series, a legend, and ticks for the data range', async (t) => {
  const x = [0, 2, 4, 6, 8, 10];
  const svg = lineChart({
    title: 'Latency',
    xLabel: 'frame',
    yLabel: 'ms',
    series: [
      { name: 'preprocess', x, y: [0, 10, 20, 30, 40, 50] },
      { name: 'inference', x: Float64Array.from(x), y: [50, 60, 70, 80, 90, 100] },
      { name: 'total', x, y: [1, 2, 3, 4, 5, 6] },
    ],
  });
  t.same(seriesPaths(svg).map((s) => s.name), ['preprocess', 'inference', 'total']);
  t.same(tickLabels(svg, 'x'), ['0', '2', '4', '6', '8', '10']);
  t.same(tickLabels(svg, 'y'), ['0', '20', '40', '60', '80', '100']);
  t.equal(count(svg, /<g class="legend">/g), 1);
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="chart-svg" viewBox="0 0 640 320" width="640" height="320"/);
  t.ok(svg.endsWith('</svg>'));
  // Plot area: left 64, top 34, 558 x 240. First series starts at the bottom-left corner.
  t.equal(seriesPaths(svg)[0].d, 'M64 274L175.6 250L287.2 226L398.8 202L510.4 178L622 154');
  // Colours differ between series.
  const strokes = [...svg.matchAll(/<path class="series"[^>]*stroke="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
  t.equal(new Set(strokes).size, 3);
  t.equal(lineChart({ title: 'Latency', xLabel: 'frame', series: [{ name: 'a', x, y: x }] }).includes('class="legend"'), false, 'one series needs no legend');
});

t.test('lineChart breaks lines at null and non-finite values and shows isolated points', async (t) => {
  const svg = lineChart({ title: 't', xLabel: 'x', series: [{ name: 's', x: [0, 1, 2, 3, 4, 5, 6], y: [1, 2, NaN, 4, null, 6, Infinity] }] });
  const d = seriesPaths(svg)[0].d;
  t.equal(count(d, /M/g), 3, 'three runs');
  t.equal(count(d, /L/g), 1, 'only 0-1 is a line');
  t.equal(count(d, /h0/g), 2, 'points 3 and 5 are dots');
  t.same(tickLabels(svg, 'x'), ['0', '1', '2', '3', '4', '5'], 'x range from finite points only');
});

t.test('hlines and vlines are drawn, labelled and inside the domain', async (t) => {
  const svg = lineChart({
    title: 't', xLabel: 'x', series: [{ name: 's', x: [0, 10], y: [0, 10] }],
    hlines: [{ y: 33.3, label: 'budget 33.3 ms' }], vlines: [{ x: 4, label: 'ED' }],
  });
  t.equal(count(svg, /<g class="hline">/g), 1);
  t.equal(count(svg, /<g class="vline">/g), 1);
  t.match(svg, />budget 33\.3 ms</);
  t.same(tickLabels(svg, 'y'), ['0', '10', '20', '30', '40'], 'the domain reaches the hline');
});

t.test('text is escaped everywhere and the SVG has no scripts, ids or external references', async (t) => {
  const evil = 'a < b & "c" \'d\' <script>alert(1)</script>';
  const safe = 'a &lt; b &amp; &quot;c&quot; &#39;d&#39; &lt;script&gt;alert(1)&lt;/script&gt;';
  const charts = [
    lineChart({ title: evil, xLabel: evil, yLabel: evil, series: [{ name: evil, x: [1], y: [1] }, { name: 'b', x: [], y: [] }], hlines: [{ y: 1, label: evil }] }),
    histogram({ title: evil, xLabel: evil, values: [1, 2], name: evil }),
    cdfChart({ title: evil, xLabel: evil, series: [{ name: evil, values: [1] }, { name: 'b', values: [] }] }),
  ];
  for (const svg of charts) {
    t.notMatch(svg, /<script|href=|url\(| id=/);
    t.ok(svg.includes(`<title>${safe}</title>`));
    t.ok(svg.includes(`data-name="${safe}"`));
    t.notOk(svg.includes('a < b'));
  }
});

t.test('empty input draws empty axes with "no data"', async (t) => {
  const none = lineChart({ title: 't', xLabel: 'x', series: [] });
  t.equal(seriesPaths(none).length, 0);
  t.match(none, /<text class="empty"[^>]*>no data<\/text>/);
  const empty = lineChart({ title: 't', xLabel: 'x', series: [{ name: 'a', x: [], y: [] }, { name: 'b', x: [1], y: [null] }] });
  t.same(seriesPaths(empty), [{ name: 'a', d: '' }, { name: 'b', d: '' }], 'a path per series even when empty');
  t.match(empty, /no data/);
  const h = histogram({ title: 't', xLabel: 'x', values: [] });
  t.same(seriesPaths(h), [{ name: 'count', d: '' }]);
  t.match(h, />n = 0</);
  t.match(h, /no data/);
  const c = cdfChart({ title: 't', xLabel: 'x', series: [{ name: 'a', values: new Float64Array(0) }] });
  t.same(seriesPaths(c), [{ name: 'a', d: '' }]);
  t.match(c, /no data/);
});

t.test('histogram bins finite values; single and all-equal values give one bar', async (t) => {
  const values = [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, NaN, Infinity];
  const svg = histogram({ title: 'h', xLabel: 'ms', values, bins: 4 });
  const d = seriesPaths(svg)[0].d;
  t.equal(count(d, /Z/g), 4, 'four non-empty bins');
  t.match(svg, />n = 10 \(2 non-finite skipped\)</);
  t.same(tickLabels(svg, 'y'), ['0', '1', '2', '3', '4'], 'counts on an integer axis');
  t.equal(count(histogram({ title: 'h', xLabel: 'x', values: [5] }), /Z/g), 1);
  const same = histogram({ title: 'h', xLabel: 'x', values: new Float32Array([3, 3, 3]) });
  t.equal(count(seriesPaths(same)[0].d, /Z/g), 1);
  t.match(same, />n = 3</);
  t.equal(histogram({ title: 'h', xLabel: 'x', values }), histogram({ title: 'h', xLabel: 'x', values }), 'deterministic');
});

t.test('cdfChart draws exact steps, one per distinct value', async (t) => {
  const svg = cdfChart({ title: 'c', xLabel: 'ms', series: [{ name: 'a', values: [4, 2, 3, 1, NaN] }] });
  // x axis 1..4 over 558 px from 64; y 0..1 over 240 px from 274 up to 34.
  t.same(seriesPaths(svg), [{ name: 'a', d: 'M64 274H64V214H250V154H436V94H622V34' }]);
  t.same(tickLabels(svg, 'y'), ['0', '0.2', '0.4', '0.6', '0.8', '1.0']);
  const ties = cdfChart({ title: 'c', xLabel: 'ms', series: [{ name: 'a', values: [1, 1, 1, 4] }] });
  t.equal(seriesPaths(ties)[0].d, 'M64 274H64V94H622V34');
  const two = cdfChart({ title: 'c', xLabel: 'ms', series: [{ name: 'cpu', values: [1, 2] }, { name: 'cuda', values: [0.5] }] });
  t.same(seriesPaths(two).map((s) => s.name), ['cpu', 'cuda']);
  t.match(two, /<g class="legend">/);
  // 100k samples still give a path no longer than about one step per pixel.
  const many = Float64Array.from({ length: 100_000 }, (_, i) => Math.sqrt(i));
  t.ok(count(seriesPaths(cdfChart({ title: 'c', xLabel: 'x', series: [{ name: 'a', values: many }] }))[0].d, /H/g) <= 1200);
});

t.test('bad options are typed errors that say what was expected', async (t) => {
  t.throws(() => histogram({ title: 'h', xLabel: 'x', values: [1], bins: 0 }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DIMENSION',
    message: 'Expected integer from 1 to 10000 for histogram.bins but received 0 of type number',
  });
  t.throws(() => histogram({ title: 'h', xLabel: 'x', values: [1], bin: 10 } as never), {
    name: 'TypeError', code: 'ERR_SONOEDGE_UNKNOWN_OPTION',
    message: 'Unknown option histogram.bin; did you mean histogram.bins? (known: title, xLabel, yLabel, width, height, values, bins, name)',
  });
  t.throws(() => lineChart({ title: 't', xLabel: 'x', series: [{ name: 's', x: [1, 2], y: [1] }] }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DIMENSION',
    message: 'Expected length 2 (as x) for lineChart.series[0].y but received array of length 1',
  });
  t.throws(() => cdfChart({ title: 't', xLabel: 'x', series: [{ name: 's', values: 'abc' as never }] }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ARG_TYPE',
    message: 'Expected array or typed array for cdfChart.series[0].values but received "abc" of type string',
  });
  t.throws(() => lineChart({ title: 't', xLabel: 'x', series: [], width: 50 }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DIMENSION',
    message: 'Expected number from 200 to 10000 for lineChart.width but received 50 of type number',
  });
  t.throws(() => lineChart({ title: 7 as never, xLabel: 'x', series: [] }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ARG_TYPE', message: 'Expected string for lineChart.title but received 7 of type number',
  });
});
