/**
 * An example device: registers with the demo app that `npm start` created, keeps its
 * connection, heartbeats, prints what it receives and subscribes to a topic.
 *
 *   npm start                 # in one terminal
 *   npm run demo:device       # in another
 *
 * Options through the environment: PETREL_HOST (127.0.0.1), PETREL_GATEWAY_PORT (5223),
 * PETREL_DEMO_STATE (.petrel/demo-device.json: where the device keeps its credentials).
 */
import { readFileSync } from 'node:fs';
import { FileStore, PetrelClient } from '../src/index.js';

const demo = JSON.parse(readFileSync(process.env['PETREL_DEMO_APP'] ?? '.petrel/demo-app.json', 'utf8')) as { appId: string; clientKey: string };

const client = new PetrelClient({
  host: process.env['PETREL_HOST'] ?? '127.0.0.1',
  port: Number(process.env['PETREL_GATEWAY_PORT'] ?? 5223),
  appId: demo.appId,
  clientKey: demo.clientKey,
  pkg: 'com.example.demo',
  store: new FileStore(process.env['PETREL_DEMO_STATE'] ?? '.petrel/demo-device.json'),
  heartbeatSec: 30,
});

client.on('registered', ({ deviceId }) => console.log(`registered as device ${deviceId}`));
client.on('connected', ({ sid, hb, deviceId }) => {
  console.log(`connected: device ${deviceId}, session ${sid}, heartbeat every ${hb} s`);
  client.subscribe(['news']).then(
    () => console.log('subscribed to topic "news"'),
    (err: Error) => console.error(`subscribe failed: ${err.message}`),
  );
});
client.on('notification', (m) => {
  console.log(`notification ${m.id}: ${m.notification?.title ?? ''} — ${m.notification?.body ?? ''}`);
  client.opened(m.id); // as if the user tapped it
});
client.on('message', (m) => console.log(`message ${m.id}: ${JSON.stringify(m.data)}`));
client.on('resync', ({ reason }) => console.log(`resync needed (${reason}): fetch state from your app server`));
client.on('disconnected', ({ code, willReconnect, delayMs }) =>
  console.log(`disconnected (code ${code ?? 'none'}); ${willReconnect ? `reconnecting in ${delayMs} ms` : 'not reconnecting'}`),
);
client.on('stopped', ({ code }) => console.log(`stopped by the server (code ${code})`));

process.on('SIGINT', () => {
  client.close().then(() => process.exit(0));
});
await client.start();
