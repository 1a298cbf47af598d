// The live viewer's page (served by src/viewer/server.ts): one HTML document
// with its style and script inline, no framework and nothing fetched but its
// own WebSocket. Each stream gets a panel: the frame on a canvas with the LV
// outline, view and quality against the gate, the in-distribution state, LV
// area and EF, the area curve of the last seconds with ED and ES marked,
// per-stage latency (last, p50, p99 over the buffer) and the drop counters.
// Pause freezes the buffer of the last seconds; step and the slider move
// through it (keys: space, left, right for the first stream).
//
// Messages (docs/VIEWER.md): text JSON {type: 'hello' | 'status', streams,
// clients, ...}; binary [u32 LE header length][JSON header][JPEG].
//
// For tests: window.sonoedgeViewer.updates counts pictures received; each
// stream's canvas carries data-seq, the seq of the frame it shows.

const STYLE = `
:root { color-scheme: dark; --bg: #111418; --panel: #1b2027; --line: #2c333d; --text: #e6e9ee; --dim: #8d96a3;
  --ok: #2fbf71; --uncertain: #e0a526; --unknown: #e5484d; --outline: #00ff66; --ed: #ff5c5c; --es: #4da3ff; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.4 system-ui, sans-serif; }
header { display: flex; gap: 16px; align-items: center; padding: 10px 16px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
.dot { width: 10px; height: 10px; border-radius: 50%; background: var(--unknown); display: inline-block; margin-right: 6px; }
.dot.on { background: var(--ok); }
.dim { color: var(--dim); }
main { display: flex; flex-wrap: wrap; gap: 16px; padding: 16px; }
.empty { color: var(--dim); padding: 32px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px; display: grid;
  grid-template-columns: minmax(256px, 512px) 330px; gap: 14px; }
.panel h2 { grid-column: 1 / -1; margin: 0; font-size: 15px; font-weight: 600; display: flex; gap: 12px; align-items: baseline; }
.frame { width: 100%; background: #000; border-radius: 4px; display: block; }
.controls { display: flex; gap: 6px; align-items: center; margin-top: 8px; }
.controls button { background: #29313b; color: var(--text); border: 1px solid var(--line); border-radius: 4px; padding: 3px 10px; cursor: pointer; }
.controls input { flex: 1; }
.side { display: flex; flex-direction: column; gap: 10px; }
.row { display: flex; justify-content: space-between; align-items: baseline; }
.big { font-size: 22px; font-weight: 600; }
.badge { padding: 2px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; text-transform: uppercase; }
.badge.ok { background: var(--ok); color: #04140b; } .badge.uncertain { background: var(--uncertain); color: #1d1500; }
.badge.unknown { background: var(--unknown); color: #fff; }
.meter { position: relative; height: 12px; background: #0c0f12; border-radius: 6px; overflow: hidden; border: 1px solid var(--line); }
.meter .fill { position: absolute; left: 0; top: 0; bottom: 0; background: var(--ok); }
.meter .fill.low { background: var(--uncertain); }
.meter .gate { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #fff; }
.meter .gate-exit { position: absolute; top: 3px; bottom: 3px; width: 2px; background: #fff; opacity: 0.45; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 12px; }
td, th { padding: 1px 4px; text-align: right; } td:first-child, th:first-child { text-align: left; }
th { color: var(--dim); font-weight: 500; }
.curve { width: 100%; height: 120px; background: #0c0f12; border-radius: 4px; border: 1px solid var(--line); }
.paused { color: var(--uncertain); font-weight: 600; }
`;

const SCRIPT = String.raw`
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var token = params.get('token');
  var V = window.sonoedgeViewer = { updates: 0, connected: false, streams: new Map(), rate: 30, seconds: 10, gate: 0.5, gateExit: 0.5, clients: 0 };
  var main = document.querySelector('main');
  var $ = function (root, sel) { return root.querySelector(sel); };
  var fmt = function (x, d) { return x === null || x === undefined ? '\u2014' : x.toFixed(d); };
  var STATES = ['ok', 'uncertain', 'unknown'];
  var arrivals = [];

  function panel(id) {
    var S = V.streams.get(id);
    if (S) return S;
    var el = document.createElement('section');
    el.className = 'panel';
    el.id = 'stream-' + id;
    el.innerHTML = '<h2>stream ' + id + ' <span class="dim geom"></span><span class="paused"></span></h2>'
      + '<div><canvas class="frame" width="256" height="256"></canvas>'
      + '<div class="controls"><button data-action="pause">Pause</button><button data-action="back" title="step back">&#9664;</button>'
      + '<button data-action="forward" title="step forward">&#9654;</button><input type="range" min="0" max="0" value="0" disabled>'
      + '<span class="dim when"></span></div></div>'
      + '<div class="side">'
      + '<div class="row"><span><span class="big view">\u2014</span> <span class="dim conf"></span></span><span class="badge state ok">ok</span></div>'
      + '<div><div class="row"><span>quality <b class="q">\u2014</b></span><span class="dim qgate"></span></div>'
      + '<div class="meter"><div class="fill"></div><div class="gate-exit"></div><div class="gate"></div></div></div>'
      + '<div class="row"><span>EF <span class="big ef">\u2014</span></span><span class="dim efci"></span></div>'
      + '<div class="row"><span>LV area <b class="area">\u2014</b></span><span class="dim idscore"></span></div>'
      + '<canvas class="curve" width="660" height="240"></canvas>'
      + '<table class="lat"><thead><tr><th>latency ms</th><th>last</th><th>p50</th><th>p99</th></tr></thead><tbody></tbody></table>'
      + '<table class="drops"><tbody></tbody></table>'
      + '</div>';
    var empty = $(main, '.empty');
    if (empty) empty.remove();
    main.appendChild(el);
    S = { id: id, el: el, canvas: $(el, 'canvas.frame'), curveCanvas: $(el, 'canvas.curve'), history: [], curve: [], ed: [], es: [],
      paused: false, frozen: null, cursor: 0, drawing: 0, info: null, fps: 30 };
    el.addEventListener('click', function (e) {
      var a = e.target && e.target.getAttribute && e.target.getAttribute('data-action');
      if (a === 'pause') togglePause(S);
      else if (a === 'back') step(S, -1);
      else if (a === 'forward') step(S, 1);
    });
    $(el, 'input').addEventListener('input', function (e) { if (S.paused) { S.cursor = Number(e.target.value); show(S); } });
    V.streams.set(id, S);
    return S;
  }

  function togglePause(S) {
    S.paused = !S.paused;
    var range = $(S.el, 'input');
    if (S.paused) {
      S.frozen = { history: S.history.slice(), curve: S.curve.slice(), ed: S.ed.slice(), es: S.es.slice() };
      S.cursor = S.frozen.history.length - 1;
      range.max = String(Math.max(0, S.frozen.history.length - 1));
      range.value = String(S.cursor);
      range.disabled = false;
    } else {
      S.frozen = null;
      range.disabled = true;
    }
    $(S.el, 'button[data-action=pause]').textContent = S.paused ? 'Live' : 'Pause';
    $(S.el, '.paused').textContent = S.paused ? 'paused' : '';
    show(S);
  }

  function step(S, d) {
    if (!S.paused) togglePause(S);
    var n = S.frozen.history.length;
    S.cursor = Math.max(0, Math.min(n - 1, S.cursor + d));
    $(S.el, 'input').value = String(S.cursor);
    show(S);
  }

  function show(S) {
    var list = S.paused ? S.frozen.history : S.history;
    var entry = S.paused ? list[S.cursor] : list[list.length - 1];
    if (!entry) return;
    var ticket = ++S.drawing;
    createImageBitmap(entry.blob).then(function (bmp) {
      if (ticket !== S.drawing) { bmp.close(); return; }
      draw(S, entry, bmp);
      bmp.close();
    }, function () { /* a picture that does not decode is skipped */ });
  }

  function draw(S, entry, bmp) {
    var h = entry.h;
    var c = S.canvas;
    if (c.width !== h.width || c.height !== h.height) { c.width = h.width; c.height = h.height; }
    var ctx = c.getContext('2d');
    ctx.drawImage(bmp, 0, 0, h.width, h.height);
    if (h.contour && h.contour.length >= 6) {
      ctx.beginPath();
      ctx.moveTo(h.contour[0] + 0.5, h.contour[1] + 0.5);
      for (var i = 2; i < h.contour.length; i += 2) ctx.lineTo(h.contour[i] + 0.5, h.contour[i + 1] + 0.5);
      ctx.closePath();
      ctx.lineWidth = Math.max(2, h.width / 256);
      ctx.strokeStyle = '#00ff66';
      ctx.stroke();
    }
    c.setAttribute('data-seq', String(h.seq));
    text(S, h, entry);
    curve(S, h.seq);
  }

  function text(S, h, entry) {
    var el = S.el;
    $(el, '.view').textContent = h.view || '\u2014';
    $(el, '.conf').textContent = h.confidence === null ? '' : fmt(h.confidence, 2);
    var st = $(el, '.state');
    st.className = 'badge state ' + h.state;
    st.textContent = h.state;
    $(el, '.idscore').textContent = h.idScore === null ? '' : 'in-distribution ' + fmt(h.idScore, 2);
    $(el, '.q').textContent = fmt(h.quality, 2) + (h.quality === null ? '' : h.lowQuality ? ' (below gate)' : ' (good)');
    $(el, '.qgate').textContent = 'gate ' + V.gate.toFixed(2) + (V.gateExit < V.gate ? ', open down to ' + V.gateExit.toFixed(2) : '');
    var fill = $(el, '.meter .fill');
    fill.style.width = (100 * Math.max(0, Math.min(1, h.quality || 0))) + '%';
    fill.className = 'fill' + (h.lowQuality ? ' low' : '');
    $(el, '.meter .gate').style.left = (100 * V.gate) + '%';
    var exit = $(el, '.meter .gate-exit');
    exit.style.left = (100 * V.gateExit) + '%';
    exit.style.display = V.gateExit < V.gate ? '' : 'none';
    $(el, '.ef').textContent = h.ef === null ? '\u2014' : fmt(h.ef, 1) + '%';
    $(el, '.efci').textContent = h.efCi ? '[' + fmt(h.efCi[0], 1) + ', ' + fmt(h.efCi[1], 1) + ']' + (h.efLowQuality ? ' low quality' : '') : '';
    $(el, '.area').textContent = h.lvAreaMm2 === null ? '\u2014' : Math.round(h.lvAreaMm2) + ' mm\u00b2';
    var ago = (performance.now() - entry.at) / 1000;
    $(el, '.when').textContent = 'seq ' + h.seq + (S.paused ? ' (' + ago.toFixed(1) + ' s ago)' : '');
    // Latency: this frame's stages, and p50 / p99 over the buffer.
    var list = S.paused ? S.frozen.history : S.history;
    var names = ['queue'].concat(Object.keys(h.latency.stages), ['total']);
    var get = function (x, n) { return n === 'queue' ? x.latency.queueMs : n === 'total' ? x.latency.totalMs : x.latency.stages[n]; };
    var rows = names.map(function (n) {
      var xs = list.map(function (e) { return get(e.h, n); }).filter(function (x) { return typeof x === 'number'; }).sort(function (a, b) { return a - b; });
      var q = function (p) { return xs.length ? xs[Math.min(xs.length - 1, Math.ceil(p * xs.length) - 1)] : null; };
      return '<tr><td>' + n + '</td><td>' + fmt(get(h, n), 2) + '</td><td>' + fmt(q(0.5), 2) + '</td><td>' + fmt(q(0.99), 2) + '</td></tr>';
    });
    $(el, 'table.lat tbody').innerHTML = rows.join('');
    drops(S);
  }

  function drops(S) {
    var i = S.info;
    if (!i) return;
    $(S.el, '.geom').textContent = i.width + 'x' + i.height + ' ' + i.format + (i.fps ? ', ' + (Math.round(i.fps * 10) / 10) + ' fps' : '') + (i.stopped ? ', stopped' : '');
    var r = function (k, v) { return '<tr><td>' + k + '</td><td>' + v + '</td></tr>'; };
    $(S.el, 'table.drops tbody').innerHTML = r('frames in', i.framesIn) + r('processed', i.framesProcessed)
      + r('dropped (latest wins)', i.framesDropped) + r('failed', i.framesFailed)
      + r('shown here / not shown (encoder busy)', i.shown + ' / ' + i.skipped);
  }

  function curve(S, atSeq) {
    var src = S.paused ? S.frozen : S;
    var c = S.curveCanvas;
    var ctx = c.getContext('2d');
    var W = c.width, H = c.height;
    ctx.clearRect(0, 0, W, H);
    var pts = src.curve;
    if (pts.length === 0) return;
    var last = pts[pts.length - 1][0];
    var span = Math.max(16, Math.round(V.seconds * (S.fps || 30)));
    var first = last - span;
    var areas = pts.filter(function (p) { return p[0] >= first && p[1] !== null; }).map(function (p) { return p[1]; });
    var lo = areas.length ? Math.min.apply(null, areas) : 0, hi = areas.length ? Math.max.apply(null, areas) : 1;
    if (hi - lo < 1) { hi += 0.5; lo -= 0.5; }
    var pad = 18;
    var X = function (s) { return ((s - first) / span) * (W - 2 * pad) + pad; };
    var Y = function (a) { return H - pad - ((a - lo) / (hi - lo)) * (H - 2 * pad); };
    ctx.font = '18px system-ui';
    var mark = function (seqs, color, label) {
      ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2;
      var lastText = -Infinity;
      seqs.forEach(function (s) {
        if (s < first) return;
        ctx.beginPath(); ctx.moveTo(X(s), pad); ctx.lineTo(X(s), H - pad); ctx.stroke();
        // Labels only where they do not overlap the previous one of their kind.
        if (X(s) - lastText >= 40) { ctx.fillText(label, X(s) + 3, label === 'ED' ? pad + 2 : pad + 20); lastText = X(s); }
      });
    };
    mark(src.ed, '#ff5c5c', 'ED');
    mark(src.es, '#4da3ff', 'ES');
    ctx.strokeStyle = '#e6e9ee'; ctx.lineWidth = 3; ctx.beginPath();
    var pen = false;
    pts.forEach(function (p) {
      if (p[0] < first || p[1] === null) { pen = false; return; }
      if (pen) ctx.lineTo(X(p[0]), Y(p[1])); else ctx.moveTo(X(p[0]), Y(p[1]));
      pen = true;
    });
    ctx.stroke();
    if (S.paused) {
      ctx.strokeStyle = '#e0a526'; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(X(atSeq), 0); ctx.lineTo(X(atSeq), H); ctx.stroke();
    }
    ctx.fillStyle = '#8d96a3';
    ctx.fillText('LV area ' + Math.round(lo) + '\u2013' + Math.round(hi) + ' mm\u00b2, last ' + V.seconds + ' s', pad, H - 2);
  }

  function onFrame(buf) {
    var dv = new DataView(buf);
    var n = dv.getUint32(0, true);
    var h = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
    var entry = { h: h, blob: new Blob([new Uint8Array(buf, 4 + n)], { type: 'image/jpeg' }), at: performance.now() };
    V.updates++;
    arrivals.push(entry.at);
    var S = panel(h.stream);
    if (S.history.length && h.seq < S.history[S.history.length - 1].h.seq) { S.history = []; S.curve = []; S.ed = []; S.es = []; }
    S.history.push(entry);
    for (var i = 0; i < h.samples.length; i++) S.curve.push(h.samples[i]);
    S.ed = S.ed.concat(h.ed);
    S.es = S.es.concat(h.es);
    var keepMs = V.seconds * 1000;
    while (S.history.length > 1 && entry.at - S.history[0].at > keepMs) S.history.shift();
    var oldest = S.history[0].h.seq - 1;
    while (S.curve.length && S.curve[0][0] < oldest) S.curve.shift();
    S.ed = S.ed.filter(function (s) { return s >= oldest; });
    S.es = S.es.filter(function (s) { return s >= oldest; });
    if (!S.paused) show(S);
  }

  function onStatus(m) {
    V.clients = m.clients;
    $(document, '#clients').textContent = m.clients + (m.clients === 1 ? ' viewer' : ' viewers');
    m.streams.forEach(function (i) { var S = panel(i.id); S.info = i; S.closed = false; S.fps = i.fps || S.fps; drops(S); });
    // A stream that closed keeps its panel (what it last showed can still be paused and stepped through).
    V.streams.forEach(function (S, id) {
      if (S.closed || m.streams.some(function (i) { return i.id === id; })) return;
      S.closed = true;
      $(S.el, '.geom').textContent += ', closed';
    });
    var now = performance.now();
    while (arrivals.length && now - arrivals[0] > 1000) arrivals.shift();
    $(document, '#rate').textContent = arrivals.length + ' pictures/s';
  }

  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws' + (token ? '?token=' + encodeURIComponent(token) : ''));
    ws.binaryType = 'arraybuffer';
    ws.onopen = function () { V.connected = true; $(document, '.dot').className = 'dot on'; $(document, '#conn').textContent = 'live'; };
    ws.onclose = function () {
      V.connected = false; $(document, '.dot').className = 'dot'; $(document, '#conn').textContent = 'disconnected, retrying';
      setTimeout(connect, 1000);
    };
    ws.onmessage = function (e) {
      if (typeof e.data !== 'string') { onFrame(e.data); return; }
      var m = JSON.parse(e.data);
      if (m.type === 'hello') { V.rate = m.rate; V.seconds = m.seconds; }
      if (typeof m.qualityGate === 'number') { V.gate = m.qualityGate; V.gateExit = m.qualityGateExit; }
      if (m.type === 'hello' || m.type === 'status') onStatus(m);
    };
  }

  document.addEventListener('keydown', function (e) {
    var S = V.streams.values().next().value;
    if (!S || e.target.tagName === 'INPUT') return;
    if (e.key === ' ') { e.preventDefault(); togglePause(S); }
    else if (e.key === 'ArrowLeft') step(S, -1);
    else if (e.key === 'ArrowRight') step(S, 1);
  });
  connect();
})();
`;

export const VIEWER_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sonoedge live</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>sonoedge live</h1><span><span class="dot"></span><span id="conn">connecting</span></span>
<span class="dim" id="clients"></span><span class="dim" id="rate"></span></header>
<main><div class="empty">No stream yet: the panels appear when a stream sends frames.</div></main>
<script>${SCRIPT}</script>
</body>
</html>
`;
