import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { createServer, type Server } from 'node:net';
import { ScopedAccess } from '../../server/auth/access.ts';
import { InProcessClient } from '../../server/core/client.ts';
import type { DoorStatus } from '../../server/core/door.ts';
import { listenOn } from '../../server/core/listen.ts';
import type { Host, TributaryDoor } from '../../server/host/host.ts';

/** What the toy door acknowledges a message with: its own failure form, as an HL7 NAK or an MQTT rejection would be. */
export interface ToyAck {
  code: 'AA' | 'AE';
  ids?: string[];
  error?: string;
}

/** A toy message: a patient and the readings to store for it; `diagnosis` asks for a Condition too. */
export interface ToyMessage {
  id: string;
  mrn: string;
  readings: { code: string; value: number }[];
  diagnosis?: string;
}

/** The toy door of the seams test, as `integrations/*` doors are: a folder of its own outside server/. */
export interface ToyDoor extends TributaryDoor {
  ingest(message: ToyMessage): Promise<ToyAck>;
}

/**
 * A door that listens on a TCP port of its own (`TOY_PORT`; `defaultPort` otherwise) for JSON lines, maps each to one
 * FHIR transaction (conditional writes on the patient's identifier) and runs it through the in-process client with
 * its own confined access (`system/Patient.cru system/Observation.cr`) and identity (`Device/toy`), and registers a
 * toy operation, `GET Patient/$toy-count`, declared read-like.
 */
export function toyDoor(defaultPort = 0): ToyDoor {
  let server: Server | undefined;
  let client: InProcessClient | undefined;
  let status: DoorStatus = { name: 'toy', state: 'starting' };
  const door: ToyDoor = {
    name: 'toy',
    async start(host: Host) {
      const access = new ScopedAccess({ clientId: 'toy-door', scope: 'system/Patient.cru system/Observation.cr' });
      client = host.client(access, { agent: { reference: 'Device/toy' } });
      host.router.add(
        'GET',
        'Patient/$toy-count',
        'toy-count',
        async (ctx) => {
          const { rows } = await ctx.repo.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Patient' AND NOT deleted`,
            [],
          );
          return {
            status: 200,
            resource: { resourceType: 'Parameters', parameter: [{ name: 'count', valueInteger: rows[0].n }] },
          };
        },
        'read',
      );
      server = createServer((socket) => {
        socket.setEncoding('utf8');
        let buffer = '';
        socket.on('data', (chunk: string) => {
          buffer += chunk;
          for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            void door.ingest(JSON.parse(line) as ToyMessage).then((ack) => socket.write(`${JSON.stringify(ack)}\n`));
          }
        });
      });
      const explicit = host.env.TOY_PORT !== undefined;
      status = await listenOn(server, {
        name: 'toy',
        port: explicit ? Number(host.env.TOY_PORT) : defaultPort,
        host: '127.0.0.1',
        explicit,
        logger: host.logger,
      });
    },
    async stop() {
      await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
      status = { ...status, state: 'down' };
    },
    status: () => status,
    async ingest(message) {
      try {
        const bundle = await (client as InProcessClient).bundle(toTransaction(message));
        return { code: 'AA', ids: (bundle.entry ?? []).map((e) => e.response?.location ?? '') };
      } catch (err) {
        return { code: 'AE', error: InProcessClient.failure(err).message };
      }
    },
  };
  return door;
}

function toTransaction(message: ToyMessage): Bundle {
  const patientUrl = `urn:uuid:${crypto.randomUUID()}`;
  const identifier = [{ system: 'urn:toy:mrn', value: message.mrn }];
  const patient: Patient = { resourceType: 'Patient', identifier };
  const entry: NonNullable<Bundle['entry']> = [
    {
      fullUrl: patientUrl,
      resource: patient,
      request: { method: 'PUT', url: `Patient?identifier=urn:toy:mrn|${message.mrn}` },
    },
  ];
  for (const r of message.readings) {
    const obs: Observation = {
      resourceType: 'Observation',
      status: 'final',
      identifier: [{ system: 'urn:toy:reading', value: `${message.id}-${r.code}` }],
      code: { coding: [{ system: 'http://loinc.org', code: r.code }] },
      subject: { reference: patientUrl },
      valueQuantity: { value: r.value },
    };
    entry.push({
      resource: obs,
      request: {
        method: 'POST',
        url: 'Observation',
        ifNoneExist: `identifier=urn:toy:reading|${message.id}-${r.code}`,
      },
    });
  }
  if (message.diagnosis) {
    entry.push({
      resource: {
        resourceType: 'Condition',
        subject: { reference: patientUrl },
        code: { text: message.diagnosis },
      },
      request: { method: 'POST', url: 'Condition' },
    });
  }
  return { resourceType: 'Bundle', type: 'transaction', entry };
}
