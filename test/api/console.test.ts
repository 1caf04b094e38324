import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { MemoryStore, PetrelClient, type PushMessage } from '../../sdk-client/src/index.js';
import { startTestStack, type TestApp, type TestStack } from '../support/stack-fixture.js';
import { waitFor } from '../support/wait.js';

/**
 * The campaign console driven as a marketing user would: the page and its script as the
 * server sends them, run in a DOM (jsdom) whose fetch goes to the real API of a real stack,
 * with real devices receiving what the console sends.
 */
describe('campaign console (GET /console)', () => {
  let stack: TestStack;
  let app: TestApp;
  const clients: PetrelClient[] = [];
  const received = new Map<string, number>();
  /** Closed after each test, passed or not: an open window's refresh timer would keep the run alive. */
  const windows: Array<{ window: JSDOM['window']; inFlight: Set<Promise<unknown>> }> = [];

  before(async () => {
    stack = await startTestStack({ gateways: 1 });
    app = await stack.newApp();
    for (let i = 0; i < 3; i++) {
      const c = new PetrelClient({
        host: '127.0.0.1', port: stack.gateways[0]!.port, appId: app.appId, clientKey: app.clientKey,
        store: new MemoryStore(), backoff: { baseMs: 50, capMs: 200 }, ackDelayMs: 5,
      });
      const got = (m: PushMessage) => received.set(m.id, (received.get(m.id) ?? 0) + 1);
      c.on('notification', got);
      c.on('message', got);
      await c.start();
      await c.waitFor('connected');
      await c.subscribe(['news']);
      clients.push(c);
    }
  });
  afterEach(async () => {
    for (const { window, inFlight } of windows.splice(0)) {
      window.document.getElementById('signout')?.click(); // stops the refresh timer
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      await new Promise((res) => setTimeout(res, 20)); // the script's handlers of the last answers
      window.close();
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stack.close();
  });

  /** The console in a DOM: the served page, the served script, fetch against the stack. */
  async function openConsole(): Promise<{ window: JSDOM['window']; $: (sel: string) => HTMLElement; text: () => string }> {
    const page = await fetch(`${stack.http}/console`);
    const script = await fetch(`${stack.http}/console/console.js`);
    assert.equal(page.status, 200);
    assert.equal(script.status, 200);
    const dom = new JSDOM(await page.text(), { url: `${stack.http}/console`, runScripts: 'outside-only' });
    const { window } = dom;
    const inFlight = new Set<Promise<unknown>>();
    windows.push({ window, inFlight });
    Object.assign(window, {
      confirm: () => true,
      fetch: (path: string, init: RequestInit & { body?: unknown }) => {
        const call = (async () => {
          // A File from the page's file input is read through the DOM's FileReader.
          const body = init.body instanceof window.Blob ? await readBlob(window, init.body) : init.body;
          const res = await fetch(new URL(path, stack.http), { ...init, body: body as BodyInit });
          const text = await res.text();
          return { ok: res.ok, status: res.status, text: async () => text };
        })();
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call)).catch(() => undefined);
        return call;
      },
    });
    window.eval(await script.text());
    const $ = (sel: string) => {
      const el = window.document.querySelector(sel);
      assert.ok(el, `${sel} on the page`);
      return el as HTMLElement;
    };
    return { window, $, text: () => window.document.body.textContent ?? '' };
  }

  it('is served with a strict content security policy and no inline script', async () => {
    const res = await fetch(`${stack.http}/console`);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(await res.text(), /<script>(?!<)/, 'no inline script');
    assert.equal((await fetch(`${stack.http}/console/console.css`)).headers.get('content-type')?.split(';')[0], 'text/css');
  });

  it('signs in with the server secret, creates a topic campaign, starts it and shows it land', async () => {
    const { window, $, text } = await openConsole();
    const form = (sel: string) => $(sel) as HTMLFormElement;
    const field = (name: string) => form('#create').elements.namedItem(name) as HTMLInputElement;

    (($('#secret')) as HTMLInputElement).value = 'not-the-secret';
    form('#signin').requestSubmit();
    await waitFor(() => /refused/.test($('#flash').textContent ?? ''), 'a refused secret to be reported');
    assert.equal($('#signin').hidden, false);

    (($('#secret')) as HTMLInputElement).value = app.serverSecret;
    form('#signin').requestSubmit();
    await waitFor(() => /No campaigns yet/.test(text()), 'the empty list');

    // A bad condition: the API's error code and message are shown, nothing is created.
    field('name').value = 'broken';
    (($('#kind')) as HTMLSelectElement).value = 'condition';
    $('#kind').dispatchEvent(new window.Event('change'));
    assert.equal($('#target-row').hidden, false);
    field('target').value = "'news' in topics &&";
    form('#create').requestSubmit();
    await waitFor(() => /condition_invalid/.test($('#flash').textContent ?? ''), 'the condition error');

    field('name').value = 'spring sale';
    (($('#kind')) as HTMLSelectElement).value = 'topic';
    $('#kind').dispatchEvent(new window.Event('change'));
    field('target').value = 'news';
    field('title').value = 'Sale';
    field('body').value = '-20 % today';
    field('data').value = '{"coupon":"SPRING"}';
    field('ttl').value = '3600';
    form('#create').requestSubmit();
    await waitFor(() => window.document.querySelectorAll('#campaign-rows tr[data-id]').length === 1, 'the new campaign in the list');
    await waitFor(() => window.document.querySelector('#detail button[data-action="start"]') !== null, 'its detail with a start button');
    assert.match($('#detail').textContent ?? '', /draft/);
    assert.match($('#detail').textContent ?? '', /topic news/);

    $('#detail button[data-action="start"]').click();
    await waitFor(() => /completed/.test($('#campaign-rows').textContent ?? ''), 'the campaign to complete', 15_000);
    const id = $('#campaign-rows tr[data-id]').getAttribute('data-id')!;
    const campaign = (await stack.api(`/v1/campaigns/${id}`, { secret: app.serverSecret })).body as unknown as { messageId: string };
    await waitFor(() => received.get(campaign.messageId) === 3, 'every subscribed device to get it', 10_000);
    // Progress and the chart follow the ACKs (the list refreshes every 2 s).
    await waitFor(() => /3 \(100\.0 % of sent\)/.test($('#detail').textContent ?? ''), 'delivered 3 of 3 in the detail', 15_000);
    await waitFor(() => window.document.querySelector('#detail svg path.line.delivered') !== null, 'the delivery chart', 20_000);
    assert.equal(window.document.querySelector('#detail button[data-action="start"]'), null, 'no start once completed');
  });

  it('uploads a list audience from a file and cancels a campaign', async () => {
    const { window, $ } = await openConsole();
    const form = (sel: string) => $(sel) as HTMLFormElement;
    const field = (name: string) => form('#create').elements.namedItem(name) as HTMLInputElement;
    (($('#secret')) as HTMLInputElement).value = app.serverSecret;
    form('#signin').requestSubmit();
    await waitFor(() => window.document.querySelectorAll('#campaign-rows tr[data-id]').length >= 1, 'the list');

    field('name').value = 'vip list';
    (($('#kind')) as HTMLSelectElement).value = 'list';
    form('#create').requestSubmit();
    await waitFor(() => window.document.querySelector('#detail input[type="file"]') !== null, 'the upload input of the new list campaign');
    const input = $('#detail input[type="file"]') as HTMLInputElement;
    const file = new window.File([`${clients[0]!.deviceId}\n${clients[1]!.deviceId}\n`], 'vip.txt', { type: 'text/plain' });
    Object.defineProperty(input, 'files', { value: [file] });
    input.dispatchEvent(new window.Event('change'));
    await waitFor(() => /2 lines uploaded/.test($('#flash').textContent ?? ''), 'the upload to be confirmed');
    await waitFor(() => /\(2 lines\)/.test($('#detail').textContent ?? ''), 'the audience size in the detail');

    $('#detail button[data-action="cancel"]').click();
    await waitFor(() => /cancelled/.test($('#campaign-rows tr.selected')?.textContent ?? ''), 'the campaign cancelled');
  });
});

function readBlob(window: JSDOM['window'], blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new window.FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error);
    reader.readAsText(blob);
  });
}
