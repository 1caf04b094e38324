import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType } from '../../src/protocol/index.js';
import { isPetrelError } from '../../sdk-client/src/index.js';
import { makeClient, next, useFakeGateway } from './client-fixture.js';

describe('PetrelClient: subscribe / unsubscribe', () => {
  const fake = useFakeGateway();

  it('resolves on SUBACK ok, with per-connection increasing rids', async () => {
    const client = makeClient(fake.gw);
    await client.start();
    await next(client, 'connected');
    await client.subscribe(['news', 'sport']);
    await client.unsubscribe(['sport']);
    assert.deepEqual(fake.gw.framesOf(FrameType.SUB), [{ t: FrameType.SUB, rid: 1, topics: ['news', 'sport'] }]);
    assert.deepEqual(fake.gw.framesOf(FrameType.UNSUB), [{ t: FrameType.UNSUB, rid: 2, topics: ['sport'] }]);

    // A new connection counts rids from 1 again.
    const reconnected = next(client, 'connected');
    fake.gw.connections[0]!.destroy();
    await reconnected;
    await client.subscribe(['weather']);
    assert.equal(fake.gw.framesOf(FrameType.SUB)[1]!.rid, 1);
  });

  it('rejects with subscription_rejected carrying err on SUBACK ok:false', async () => {
    fake.gw.hook = (conn, frame) => {
      if (frame.t === FrameType.SUB) {
        conn.send({ t: FrameType.SUBACK, rid: frame.rid, ok: false, err: 'topic_limit' });
        return true;
      }
    };
    const client = makeClient(fake.gw);
    await client.start();
    await assert.rejects(client.subscribe(['too-many']), (err) => isPetrelError(err, 'subscription_rejected') && err.err === 'topic_limit');
  });

  it('rejects the matching request on ERROR with rid, and emits other ERRORs', async () => {
    fake.gw.hook = (conn, frame) => {
      if (frame.t === FrameType.SUB) {
        conn.send({ t: FrameType.ERROR, rid: frame.rid, code: 'bad_topic', msg: 'topic name not allowed' });
        conn.send({ t: FrameType.ERROR, code: 'quota', msg: 'slow down' });
        return true;
      }
    };
    const client = makeClient(fake.gw);
    const error = next(client, 'error');
    await client.start();
    await assert.rejects(client.subscribe(['#bad']), (err) => isPetrelError(err, 'request_failed') && err.err === 'bad_topic' && err.message === 'topic name not allowed');
    const emitted = await error;
    assert.equal(emitted.code, 'server_error');
    assert.equal(emitted.err, 'quota');
  });

  it('waits for a connection when called before one exists', async () => {
    const client = makeClient(fake.gw);
    const pending = client.subscribe(['early']);
    await client.start();
    await pending;
    assert.deepEqual(fake.gw.framesOf(FrameType.SUB)[0]?.topics, ['early']);
  });

  it('retries an in-flight request on the next connection', async () => {
    let subs = 0;
    fake.gw.hook = (conn, frame) => {
      if (frame.t === FrameType.SUB && ++subs === 1) {
        conn.destroy(); // lost before the SUBACK
        return true;
      }
    };
    const client = makeClient(fake.gw);
    await client.start();
    await next(client, 'connected');
    await client.subscribe(['flaky']);
    const subFrames = fake.gw.framesOf(FrameType.SUB);
    assert.equal(subFrames.length, 2);
    assert.deepEqual(subFrames.map((s) => s.rid), [1, 1]);
  });

  it('times out, and rejects pending requests on close()', async () => {
    fake.gw.autoSuback = false;
    const client = makeClient(fake.gw, { requestTimeoutMs: 50 });
    await client.start();
    await next(client, 'connected');
    await assert.rejects(client.subscribe(['silent']), (err) => isPetrelError(err, 'request_timeout'));

    const slow = makeClient(fake.gw, { requestTimeoutMs: 60_000 });
    await slow.start();
    await next(slow, 'connected');
    const pending = slow.unsubscribe(['x']);
    await fake.gw.waitForFrame(FrameType.UNSUB);
    const rejected = assert.rejects(pending, (err) => isPetrelError(err, 'client_closed'));
    await slow.close();
    await rejected;
  });

  it('rejects invalid topics without sending anything', async () => {
    const client = makeClient(fake.gw);
    await assert.rejects(client.subscribe([]), (err) => isPetrelError(err, 'invalid_argument'));
    await assert.rejects(client.subscribe(['']), (err) => isPetrelError(err, 'invalid_argument'));
    await assert.rejects(client.subscribe(['x'.repeat(257)]), (err) => isPetrelError(err, 'invalid_argument'));
  });
});
