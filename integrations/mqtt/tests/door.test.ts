import mqtt from 'mqtt';
import * as client from 'openid-client';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../../server/app.ts';
import { adminApi, adminToken, oidcClient, startAuthServer } from '../../../test/auth-helpers.ts';
import { startTestServer } from '../../../test/harness.ts';
import { connectDevice, heartRate, mqttPort, obsMessage, registerDevice } from './helpers.ts';

/** Whether something listens on a loopback port (the machine's Mosquitto on 1883). */
async function taken(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

/** Checked once: the machine's Mosquitto usually holds 1883 (tests never bind it themselves). */
const defaultPortTaken = await taken(1883);

async function healthz(server: Tributary): Promise<any> {
  return (await (await fetch(`${server.url}/healthz`)).json()) as any;
}

const mqttDoorOf = async (server: Tributary) =>
  (await healthz(server)).doors?.find((d: any) => d.name === 'mqtt') ?? server.doors().find((d) => d.name === 'mqtt');

describe('the door’s switch and port', () => {
  it('MQTT=off leaves the door disabled (and /admin/mqtt unserved)', async () => {
    const server = await startTestServer({}, { MQTT: 'off' });
    try {
      expect(await mqttDoorOf(server)).toMatchObject({ state: 'disabled', reason: 'MQTT=off' });
      expect((await fetch(`${server.url}/admin/mqtt/devices`, { method: 'POST' })).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('an MQTT_PORT the operator set and cannot get stops the start with one clear message', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(startTestServer({}, { MQTT_PORT: String(port) })).rejects.toThrow(
        `mqtt: port ${port} on 127.0.0.1 is already in use`,
      );
    } finally {
      blocker.close();
    }
  });

  it.runIf(defaultPortTaken)(
    'the default port 1883 taken (a Mosquitto): the server runs with the broker down; MQTT=on stops it',
    async () => {
      const server = await startTestServer({}, { MQTT_PORT: '' });
      try {
        expect(await mqttDoorOf(server)).toMatchObject({
          state: 'down',
          port: 1883,
          reason: 'port 1883 on 127.0.0.1 is already in use',
        });
      } finally {
        await server.close();
      }
      await expect(startTestServer({}, { MQTT_PORT: '', MQTT: 'on' })).rejects.toThrow(/mqtt: port 1883/);
    },
  );

  it('refuses a malformed switch or topic root', async () => {
    await expect(startTestServer({}, { MQTT: 'maybe' })).rejects.toThrow(/MQTT must be on or off/);
    await expect(startTestServer({}, { MQTT_TOPIC_ROOT: 'a/#' })).rejects.toThrow(/MQTT_TOPIC_ROOT/);
  });
});

describe('with authorization on', () => {
  let server: Tributary;
  let admin: string;
  beforeAll(async () => {
    server = await startAuthServer();
    admin = await adminToken(server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('issues device secrets to admins only', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`${server.url}/admin/mqtt/devices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ device: 'Device/x' }),
      });
    expect((await post({})).status).toBe(401);
    const narrow = await adminToken(server, 'system/Observation.rs');
    expect((await post({ authorization: `Bearer ${narrow}` })).status).toBe(403);
    // An admin naming a Device that does not exist, or something that is no Device reference.
    expect((await post({ authorization: `Bearer ${admin}` })).status).toBe(404);
    const bad = await fetch(`${server.url}/admin/mqtt/devices`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify({ device: 'Patient/1' }),
    });
    expect(bad.status).toBe(400);
  });

  it('a device connects with its secret or with an access token issued to its client id; revoking its secret refuses it', async () => {
    const device = await registerDevice(server, admin);
    const port = mqttPort(server);
    const c = await connectDevice(port, device);
    const msg = obsMessage(device.id, [heartRate(61)]);
    await c.publish('obs', msg);
    expect((await c.ack(msg.msgId)).status).toBe('stored');
    await c.end();

    // An OAuth client whose id is the device id: its access token is a password too.
    const registered = await adminApi(server, admin, 'POST', '/admin/clients', {
      client_id: device.id,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'system/Observation.c',
    });
    const token = (
      await client.clientCredentialsGrant(
        await oidcClient(server, device.id, client.ClientSecretBasic(registered.client_secret)),
        { scope: 'system/Observation.c' },
      )
    ).access_token;
    const t = await connectDevice(port, { id: device.id, secret: token });
    await t.end();
    const live = await connectDevice(port, device);
    const dropped = new Promise<void>((r) => live.client.once('close', () => r()));
    // Another client's token is no password of this device.
    const refused = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${port}`, {
        clientId: device.id,
        username: device.id,
        password: admin,
        reconnectPeriod: 0,
      })
      .then(
        (x) => (x.end(true), 0),
        (err: { code?: number }) => err.code,
      );
    expect(refused).toBe(4);

    const del = await fetch(`${server.url}/admin/mqtt/devices/${device.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(del.status).toBe(204);
    await dropped; // revoking ends the connection made with the secret
    live.client.end(true);
    await expect(connectDevice(port, device)).rejects.toThrow(/Bad username or password|Connection refused/);
  });
});
