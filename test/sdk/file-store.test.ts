import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileStore, MemoryStore, isPetrelError, type DeviceState } from '../../sdk-client/src/index.js';

const state: DeviceState = { appId: 'app1', dev: 'dev-1', secret: 's3cret', cursors: { news: 4 }, seen: ['m1', 'm2'] };

describe('FileStore', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-sdk-store-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns null when nothing was saved', async () => {
    assert.equal(await new FileStore(join(dir, 'none.json')).load(), null);
  });

  it('saves and reloads, creating the directory, with mode 0600', async () => {
    const path = join(dir, 'nested', 'device.json');
    await new FileStore(path).save(state);
    assert.deepEqual(await new FileStore(path).load(), state);
    if (process.platform !== 'win32') assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  it('replaces the file by rename and leaves no temporary files', async () => {
    const path = join(dir, 'atomic.json');
    const store = new FileStore(path);
    await store.save(state);
    const firstInode = (await stat(path)).ino;
    // Concurrent writers (not something the client does, but the worst case for
    // atomicity): the file must always be one complete state, never a torn mix.
    await Promise.all(Array.from({ length: 10 }, (_, i) => store.save({ ...state, seen: [`x${i}`] })));
    const loaded = await store.load();
    assert.ok(loaded !== null && loaded.seen.length === 1 && loaded.seen[0]!.startsWith('x'));
    // A rename installs a new inode; an in-place rewrite would keep the old one.
    assert.notEqual((await stat(path)).ino, firstInode);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
  });

  it('clear() removes the file, and is fine when there is none', async () => {
    const path = join(dir, 'clear.json');
    const store = new FileStore(path);
    await store.save(state);
    await store.clear();
    assert.equal(await store.load(), null);
    await store.clear();
  });

  it('reports a corrupt file with store_corrupt', async () => {
    const path = join(dir, 'corrupt.json');
    await writeFile(path, '{"appId":');
    await assert.rejects(new FileStore(path).load(), (err) => isPetrelError(err, 'store_corrupt'));
    await writeFile(path, JSON.stringify({ appId: 'a', dev: 'd' }));
    await assert.rejects(new FileStore(path).load(), (err) => isPetrelError(err, 'store_corrupt'));
  });

  it('loads a file without cursors/seen (older or hand-written)', async () => {
    const path = join(dir, 'minimal.json');
    await writeFile(path, JSON.stringify({ appId: 'a', dev: 'd', secret: 's' }));
    assert.deepEqual(await new FileStore(path).load(), { appId: 'a', dev: 'd', secret: 's', cursors: {}, seen: [] });
    assert.match(await readFile(path, 'utf8'), /"secret"/);
  });
});

describe('MemoryStore', () => {
  it('copies on save and load so callers cannot alias stored state', async () => {
    const store = new MemoryStore();
    const mine = structuredClone(state);
    await store.save(mine);
    mine.seen.push('mutated');
    const loaded = await store.load();
    assert.deepEqual(loaded, state);
    loaded?.seen.push('mutated again');
    assert.deepEqual(await store.load(), state);
    await store.clear();
    assert.equal(await store.load(), null);
  });

  it('copies the initial state too, cursors and seen included', async () => {
    const initial = structuredClone(state);
    const store = new MemoryStore(initial);
    initial.cursors['added'] = 1;
    initial.seen.push('added');
    initial.dev = 'changed';
    assert.deepEqual(await store.load(), state);
  });
});
