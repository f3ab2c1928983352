import net from 'node:net';
import { MllpFramer, mllpFrame } from '../transport/framer.ts';

/** An ADT^A01 for a patient, with a given control id (CR segment ends). */
export function adtA01(
  controlId: string,
  mrn = 'MRN-1',
  options: { msh15?: string; msh16?: string; event?: string } = {},
): string {
  return [
    `MSH|^~\\&|REGADT|GOOD HEALTH HOSPITAL|TRIBUTARY|TRIB|20240315123000||ADT^${options.event ?? 'A01'}^ADT_A01|${controlId}|P|2.5.1|||${options.msh15 ?? ''}|${options.msh16 ?? ''}`,
    `EVN|A01|20240315123000`,
    `PID|1||${mrn}^^^GHH^MR||EVERYMAN^ADAM^A^III||19800101|M|||2222 HOME STREET^^ANN ARBOR^MI^99999^USA||^PRN^PH^^^555^5551234`,
    `PV1|1|I|2000^2012^01||||004777^ATTEND^AARON^A|||SUR||||ADM|A0|||||V-${mrn}|||||||||||||||||||||||||20240315120000`,
  ].join('\r');
}

/** An ORU^R01 with `count` numeric OBX results. */
export function oruR01(controlId: string, mrn = 'MRN-1', count = 3): string {
  const obx = Array.from(
    { length: count },
    (_, i) =>
      `OBX|${i + 1}|NM|${2345 + i}-7^Analyte ${i + 1}^LN||${(5 + i / 10).toFixed(1)}|mmol/L^mmol/L^UCUM|3.5-5.5|N|||F|||20240315130000`,
  );
  return [
    `MSH|^~\\&|LAB|GOOD HEALTH HOSPITAL|TRIBUTARY|TRIB|20240315140000||ORU^R01^ORU_R01|${controlId}|P|2.5.1`,
    `PID|1||${mrn}^^^GHH^MR||EVERYMAN^ADAM||19800101|M`,
    `OBR|1|ORD-${controlId}^GHH|FIL-${controlId}^LAB|24323-8^Comprehensive metabolic panel^LN|||20240315110000||||||||||||||||||F`,
    ...obx,
  ].join('\r');
}

/** A raw MLLP client for tests: writes bytes as given and collects the ACK frames it gets back. */
export class RawMllpClient {
  readonly acks: string[] = [];
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: net.Socket) {
    const framer = new MllpFramer(50 * 1024 * 1024, {
      frame: (b) => {
        this.acks.push(b.toString('utf8'));
        this.waiters.splice(0).forEach((w) => w());
      },
      oversize: () => {},
      discarded: () => {},
    });
    socket.on('data', (d) => framer.push(d));
    socket.on('close', () => this.waiters.splice(0).forEach((w) => w()));
  }

  static connect(port: number): Promise<RawMllpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawMllpClient(socket)));
      socket.once('error', reject);
    });
  }

  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  send(message: string | Buffer): void {
    this.socket.write(mllpFrame(message));
  }

  /** Waits until `n` ACKs arrived in all (or the socket closed, or 10 s passed). */
  async waitFor(n: number, ms = 10_000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (this.acks.length < n && !this.socket.destroyed && Date.now() < deadline)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    return this.acks;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A segment's fields (`MSA` → ['MSA', 'AA', 'ctrl']). */
export function segment(message: string, name: string): string[] | undefined {
  return message
    .split(/\r|\n/)
    .find((s) => s.startsWith(`${name}|`))
    ?.split('|');
}
