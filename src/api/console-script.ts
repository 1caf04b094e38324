/**
 * The browser side of the campaign console (console-page.ts), served as is: plain
 * JavaScript with no build step and no framework, so the console works from a fresh clone
 * and offline. It only calls the public API (/v1/campaigns…) with the server secret the
 * operator types in, like any app server would. Campaign names and messages are the
 * app's own text: they are only ever set as text nodes, never parsed as HTML.
 */
export const CONSOLE_SCRIPT = String.raw`'use strict';
(function () {
  var SECRET_KEY = 'petrel.console.secret';
  var REFRESH_MS = 2000;
  var ACTIONS = { draft: ['start', 'cancel'], scheduled: ['pause', 'cancel'], running: ['pause', 'cancel'], paused: ['resume', 'cancel'], completed: [], cancelled: [] };
  var state = { secret: sessionStorage.getItem(SECRET_KEY) || '', campaigns: [], selected: null, series: null, timer: null };

  function $(id) { return document.getElementById(id); }
  /** h('td', {class: 'x'}, 'text', node…): an element; strings become text nodes. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), attrs[k]);
      else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) el.setAttribute(k, attrs[k] === true ? '' : String(attrs[k]));
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) { append(el, c); });
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) el.setAttribute(k, String(attrs[k]));
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(typeof arguments[i] === 'object' ? arguments[i] : document.createTextNode(String(arguments[i])));
    return el;
  }
  function replace(el) { while (el.firstChild) el.removeChild(el.firstChild); for (var i = 1; i < arguments.length; i++) append(el, arguments[i]); }
  function num(n) { return Number(n || 0).toLocaleString('en-US'); }
  function pct(part, whole) { return whole > 0 ? (100 * part / whole).toFixed(1) + ' %' : '–'; }
  function when(ms) { return ms ? new Date(ms).toLocaleString() : '–'; }
  function audienceText(a) {
    if (a.kind === 'all') return 'whole app';
    if (a.kind === 'topic') return 'topic ' + a.topic;
    if (a.kind === 'condition') return 'condition ' + a.condition;
    return 'uploaded list';
  }

  /** The API's errors: {error: {code, message, details}}; shown with the field errors of a 400. */
  function ApiError(status, body) {
    var e = (body && body.error) || {};
    this.status = status;
    this.code = e.code || 'http_' + status;
    this.message = e.message || 'request failed';
    this.fields = (e.details && e.details.fields) || [];
    this.line = e.details && e.details.line;
  }
  function errorText(err) {
    if (!(err instanceof ApiError)) return String(err && err.message || err);
    var text = err.code + ': ' + err.message;
    if (err.line) text += ' (line ' + err.line + ')';
    err.fields.forEach(function (f) { text += '\n  ' + (f.path || '') + ': ' + f.message; });
    return text;
  }
  function api(method, path, body, contentType) {
    var init = { method: method, headers: { Authorization: 'Bearer ' + state.secret } };
    if (body !== undefined) {
      init.headers['Content-Type'] = contentType || 'application/json';
      init.body = contentType ? body : JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        if (!res.ok) throw new ApiError(res.status, json);
        return json;
      });
    });
  }
  function flash(text, bad) {
    var el = $('flash');
    el.className = bad ? 'flash bad' : 'flash';
    el.textContent = text;
    if (!bad) setTimeout(function () { if (el.textContent === text) el.textContent = ''; }, 4000);
  }

  // ---- campaigns list ---------------------------------------------------------------
  function refresh() {
    if (!state.secret) return Promise.resolve();
    return api('GET', '/v1/campaigns?limit=100').then(function (page) {
      state.campaigns = page.campaigns;
      renderList();
      if (state.selected) return loadDetail(state.selected);
    }).catch(function (err) {
      if (err instanceof ApiError && err.status === 401) { signOut(); flash('The server secret was refused (' + err.code + ').', true); }
      else flash(errorText(err), true);
    });
  }
  function progressBar(c) {
    var whole = Math.max(c.progress.audience, c.progress.sent, 1);
    return h('div', { class: 'bar', title: num(c.progress.delivered) + ' delivered of ' + num(c.progress.audience) },
      h('span', { class: 'sent', style: 'width:' + Math.min(100, 100 * c.progress.sent / whole) + '%' }),
      h('span', { class: 'delivered', style: 'width:' + Math.min(100, 100 * c.progress.delivered / whole) + '%' }));
  }
  function renderList() {
    var rows = state.campaigns.map(function (c) {
      return h('tr', { class: c.id === state.selected ? 'selected' : '', 'data-id': c.id, onclick: function () { select(c.id); } },
        h('td', null, c.name), h('td', null, h('span', { class: 'state ' + c.state }, c.state)), h('td', null, audienceText(c.audience)),
        h('td', null, progressBar(c)), h('td', { class: 'n' }, num(c.progress.audience)), h('td', { class: 'n' }, num(c.progress.sent)),
        h('td', { class: 'n' }, num(c.progress.delivered)), h('td', { class: 'n' }, num(c.progress.opened)), h('td', null, when(c.createdAt)));
    });
    replace($('campaign-rows'), rows.length ? rows : h('tr', null, h('td', { colspan: 9, class: 'empty' }, 'No campaigns yet: create one below.')));
  }

  // ---- one campaign ---------------------------------------------------------------
  function select(id) {
    state.selected = id;
    state.series = null;
    renderList();
    loadDetail(id);
  }
  function loadDetail(id) {
    return Promise.all([api('GET', '/v1/campaigns/' + id), api('GET', '/v1/campaigns/' + id + '/series')]).then(function (r) {
      if (state.selected !== id) return;
      state.series = r[1];
      renderDetail(r[0], r[1]);
    }).catch(function (err) { flash(errorText(err), true); });
  }
  function act(c, action) {
    if (action === 'cancel' && !confirm('Cancel "' + c.name + '"? Nothing more will be sent.')) return;
    api('POST', '/v1/campaigns/' + c.id + '/' + action).then(function (after) {
      flash(c.name + ': ' + after.state);
      return refresh();
    }).catch(function (err) { flash(errorText(err), true); });
  }
  function upload(c, file) {
    if (!file) return;
    flash('Uploading ' + file.name + '…');
    api('PUT', '/v1/campaigns/' + c.id + '/audience', file, 'text/plain').then(function (r) {
      flash(num(r.audienceSize) + ' lines uploaded to ' + c.name);
      return refresh();
    }).catch(function (err) { flash(errorText(err), true); });
  }
  function renderDetail(c, series) {
    var p = c.progress;
    var stats = [
      ['audience', num(p.audience)], ['sent', num(p.sent) + ' (' + pct(p.sent, p.audience) + ')'],
      ['delivered', num(p.delivered) + ' (' + pct(p.delivered, p.sent) + ' of sent)'], ['opened', num(p.opened) + ' (' + pct(p.opened, p.delivered) + ' of delivered)'],
      ['expired', num(p.expired)], ['failed', num(p.failed)],
    ];
    var info = [
      ['state', c.state], ['audience', audienceText(c.audience) + (c.audience.kind === 'list' ? ' (' + num(c.audienceSize) + ' lines)' : '')],
      ['pace', c.ratePerSecond > 0 ? num(c.ratePerSecond) + ' deliveries/s' : 'as fast as the service goes'],
      ['start at', c.startAt ? when(c.startAt) : 'when started'], ['started', when(c.startedAt)], ['finished', when(c.finishedAt)],
      ['notification', c.message.notification ? c.message.notification.title + ' — ' + c.message.notification.body : '–'],
      ['ttl', c.message.ttl !== undefined ? c.message.ttl + ' s' : 'default'], ['message id', c.messageId || '–'], ['campaign id', c.id],
    ];
    var buttons = (ACTIONS[c.state] || []).map(function (a) {
      return h('button', { class: a === 'cancel' ? 'danger' : '', 'data-action': a, onclick: function () { act(c, a); } }, a);
    });
    var uploader = c.audience.kind === 'list' && c.state === 'draft'
      ? h('label', { class: 'upload' }, 'Upload audience (a device id or alias:<name> per line): ',
        h('input', { type: 'file', accept: '.txt,.csv,text/plain', onchange: function (e) { upload(c, e.target.files[0]); } }))
      : null;
    replace($('detail'),
      h('h2', null, c.name, ' ', h('span', { class: 'state ' + c.state }, c.state)),
      h('div', { class: 'actions' }, buttons, uploader),
      h('div', { class: 'stats' }, stats.map(function (s) { return h('div', null, h('b', null, s[1]), h('small', null, s[0])); })),
      chart(series),
      h('dl', null, info.map(function (i) { return [h('dt', null, i[0]), h('dd', null, i[1])]; })));
  }

  /** Cumulative sent, delivered and opened per 10 s bucket, as lines. */
  function chart(series) {
    var W = 720, H = 220, L = 64, B = 24, T = 10, R = 10;
    var pts = (series && series.points) || [];
    if (pts.length === 0) return h('p', { class: 'empty' }, 'No deliveries recorded yet: the chart fills in as devices ACK.');
    var totals = { sent: 0, delivered: 0, opened: 0 };
    var lines = { sent: [], delivered: [], opened: [] };
    var t0 = pts[0].at, t1 = Math.max(pts[pts.length - 1].at + series.bucketMs, t0 + series.bucketMs);
    pts.forEach(function (p) {
      for (var k in lines) { totals[k] += p[k]; lines[k].push([p.at + series.bucketMs, totals[k]]); }
    });
    var top = Math.max(totals.sent, totals.delivered, totals.opened, 1);
    function x(t) { return L + (W - L - R) * (t - t0) / (t1 - t0); }
    function y(v) { return H - B - (H - B - T) * v / top; }
    var g = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img', 'aria-label': 'cumulative deliveries over time' });
    [0, 0.5, 1].forEach(function (f) {
      g.appendChild(svg('line', { x1: L, x2: W - R, y1: y(top * f), y2: y(top * f), class: 'grid' }));
      g.appendChild(svg('text', { x: L - 6, y: y(top * f) + 4, 'text-anchor': 'end' }, num(Math.round(top * f))));
    });
    g.appendChild(svg('text', { x: L, y: H - 6 }, new Date(t0).toLocaleTimeString()));
    g.appendChild(svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, new Date(t1).toLocaleTimeString()));
    for (var k in lines) {
      var d = 'M' + x(t0) + ',' + y(0) + lines[k].map(function (p) { return ' L' + x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1); }).join('');
      g.appendChild(svg('path', { d: d, class: 'line ' + k }));
    }
    var legend = h('div', { class: 'legend' }, Object.keys(lines).map(function (k) { return h('span', { class: k }, k + ' ' + num(totals[k])); }));
    return h('figure', null, g, legend);
  }

  // ---- new campaign ---------------------------------------------------------------
  function createCampaign(e) {
    e.preventDefault();
    var f = e.target;
    // Through elements, not f.name / f.title / f.target: those are the form's own attributes.
    function v(name) { return f.elements.namedItem(name).value; }
    var kind = v('kind');
    var audience = kind === 'all' ? { all: true } : kind === 'list' ? { list: true } : {};
    if (kind === 'topic') audience.topic = v('target').trim();
    if (kind === 'condition') audience.condition = v('target').trim();
    var message = {};
    if (v('title') || v('body')) message.notification = { title: v('title'), body: v('body') };
    if (v('data').trim()) {
      try { message.data = JSON.parse(v('data')); } catch (err) { flash('data is not valid JSON: ' + err.message, true); return; }
    }
    if (v('ttl') !== '') message.ttl = Number(v('ttl'));
    var body = { name: v('name'), audience: audience, message: message };
    if (v('startAt')) body.startAt = new Date(v('startAt')).getTime();
    if (v('rate') !== '') body.ratePerSecond = Number(v('rate'));
    api('POST', '/v1/campaigns', body).then(function (c) {
      flash('Created ' + c.name + (kind === 'list' ? ': upload its audience, then start it.' : ': start it when ready.'));
      f.reset();
      syncKind();
      state.selected = c.id;
      return refresh();
    }).catch(function (err) { flash(errorText(err), true); });
  }
  function syncKind() {
    var kind = $('kind').value;
    $('target-row').hidden = kind !== 'topic' && kind !== 'condition';
    $('target').placeholder = kind === 'topic' ? 'news' : "'sports' in topics && !('muted' in topics)";
  }

  // ---- sign in ----------------------------------------------------------------------
  function signIn(e) {
    e.preventDefault();
    state.secret = $('secret').value.trim();
    sessionStorage.setItem(SECRET_KEY, state.secret);
    show();
  }
  function signOut() {
    state.secret = '';
    state.selected = null;
    sessionStorage.removeItem(SECRET_KEY);
    show();
  }
  function show() {
    var on = !!state.secret;
    $('signin').hidden = on;
    $('main').hidden = !on;
    clearInterval(state.timer);
    if (on) { refresh(); state.timer = setInterval(refresh, REFRESH_MS); }
  }

  $('signin').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  $('create').addEventListener('submit', createCampaign);
  $('kind').addEventListener('change', syncKind);
  syncKind();
  show();
})();
`;
