import { Router, type RequestHandler } from 'express';
import { CONSOLE_SCRIPT } from './console-script.js';

/**
 * The campaign console at GET /console: one page for marketing teams to create, schedule,
 * pace, start, watch, pause and cancel campaigns. It holds no credentials and no state of
 * its own: the operator signs in with the app's server secret (kept in the tab's
 * sessionStorage only) and the page calls the same /v1/campaigns API an app server does,
 * so every rule (validation, tenancy, rate limits) is the API's.
 */
const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Petrel campaigns</title>
  <link rel="stylesheet" href="/console/console.css">
</head>
<body>
  <header><h1>Petrel campaigns</h1><span id="flash" class="flash" role="status"></span><button id="signout" type="button">sign out</button></header>
  <form id="signin" class="card">
    <label>Server secret of the app <input id="secret" type="password" autocomplete="off" required></label>
    <button type="submit">Open</button>
    <p class="hint">The secret stays in this tab (sessionStorage); the page calls the HTTP API with it, as an app server would.</p>
  </form>
  <main id="main" hidden>
    <section class="card">
      <table>
        <thead><tr><th>name</th><th>state</th><th>audience</th><th>progress</th><th>estimate</th><th>sent</th><th>delivered</th><th>opened</th><th>created</th></tr></thead>
        <tbody id="campaign-rows"></tbody>
      </table>
    </section>
    <section id="detail" class="card"><p class="empty">Select a campaign to watch it.</p></section>
    <section class="card">
      <h2>New campaign</h2>
      <form id="create">
        <label>Name <input name="name" required maxlength="200"></label>
        <label>Audience
          <select id="kind" name="kind">
            <option value="all">whole app</option><option value="topic">a topic</option>
            <option value="condition">a topic condition</option><option value="list">an uploaded list</option>
          </select>
        </label>
        <label id="target-row">Topic or condition <input id="target" name="target"></label>
        <label>Title <input name="title" maxlength="512"></label>
        <label>Body <input name="body" maxlength="4096"></label>
        <label>Data (JSON, optional) <textarea name="data" rows="2"></textarea></label>
        <label>TTL, seconds <input name="ttl" type="number" min="0"></label>
        <label>Start at (empty: when started) <input name="startAt" type="datetime-local"></label>
        <label>Deliveries per second (empty: as fast as possible) <input name="rate" type="number" min="0"></label>
        <button type="submit">Create draft</button>
      </form>
    </section>
  </main>
  <script src="/console/console.js"></script>
</body>
</html>
`;

const css = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; background: #f4f5f7; color: #1d2330; }
header { display: flex; gap: 1rem; align-items: center; padding: .6rem 1.2rem; background: #1d2330; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; flex: 1; }
.flash { white-space: pre-wrap; font-size: .9rem; }
.flash.bad { color: #ffb4b4; }
.card { background: #fff; margin: 1rem 1.2rem; padding: 1rem; border-radius: 6px; box-shadow: 0 1px 2px #0002; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e4e6ea; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr { cursor: pointer; }
tbody tr:hover, tr.selected { background: #eef3ff; }
.empty, .hint { color: #6b7280; }
.state { padding: .1rem .45rem; border-radius: 1rem; background: #e5e7eb; font-size: .8rem; }
.state.running { background: #d1fae5; } .state.paused { background: #fef3c7; } .state.scheduled { background: #dbeafe; }
.state.cancelled { background: #fee2e2; } .state.completed { background: #e0e7ff; }
.bar { position: relative; width: 140px; height: 10px; background: #e5e7eb; border-radius: 5px; overflow: hidden; }
.bar span { position: absolute; left: 0; top: 0; bottom: 0; }
.bar .sent { background: #bfdbfe; } .bar .delivered { background: #2563eb; }
.actions { display: flex; gap: .5rem; align-items: center; margin-bottom: .8rem; }
button { padding: .35rem .9rem; border: 1px solid #9ca3af; border-radius: 4px; background: #fff; cursor: pointer; }
button.danger { border-color: #dc2626; color: #dc2626; }
.stats { display: flex; gap: 1.5rem; flex-wrap: wrap; margin-bottom: .8rem; }
.stats div { display: flex; flex-direction: column; } .stats b { font-size: 1.15rem; } .stats small { color: #6b7280; }
.chart { width: 100%; max-width: 720px; height: auto; }
.chart text { font-size: 11px; fill: #6b7280; } .chart .grid { stroke: #e5e7eb; }
.chart .line { fill: none; stroke-width: 2; }
.line.sent { stroke: #93c5fd; } .line.delivered { stroke: #2563eb; } .line.opened { stroke: #16a34a; }
.legend { display: flex; gap: 1rem; font-size: .85rem; }
.legend .sent { color: #60a5fa; } .legend .delivered { color: #2563eb; } .legend .opened { color: #16a34a; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { color: #6b7280; } dd { margin: 0; overflow-wrap: anywhere; }
form#create { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: .6rem 1rem; }
form#create label, form#signin label { display: flex; flex-direction: column; gap: .2rem; font-size: .85rem; color: #374151; }
input, select, textarea { font: inherit; padding: .3rem; border: 1px solid #cbd0d8; border-radius: 4px; }
form#create button { align-self: end; justify-self: start; }
[hidden] { display: none !important; }
`;

/**
 * Nothing but this origin: no inline script (the page's code is one file), no framing
 * (clickjacking a console that cancels campaigns), no third-party requests.
 */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

export function consoleRouter(): Router {
  const router = Router();
  const serve = (type: string, body: string): RequestHandler => (_req, res) => {
    res.set(SECURITY_HEADERS).type(type).send(body);
  };
  router.get('/console', serve('html', page));
  router.get('/console/console.js', serve('application/javascript', CONSOLE_SCRIPT));
  router.get('/console/console.css', serve('text/css', css));
  return router;
}
