import type { Socket } from 'node:net';

/**
 * Closes a connection whose next MQTT packet declares more than `maxBytes` (its fixed header's remaining length),
 * before the broker buffers it: aedes (through mqtt-packet) would otherwise hold packets of up to 256 MB in memory
 * and has no size option, so this reads the fixed headers itself. It only watches: bytes reach aedes unchanged
 * (aedes reads with `read()`, which emits the same chunks as `data` to this listener).
 */
export function guardPacketSize(socket: Socket, maxBytes: number, onOversize: (declared: number) => void): void {
  let skip = 0; // bytes of the current packet's body still to come
  let header: number[] = []; // the fixed header read so far
  socket.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        continue;
      }
      header.push(chunk[i++]);
      if (header.length === 1) continue;
      const last = header[header.length - 1];
      if (last & 0x80 && header.length < 5) continue;
      let length = 0;
      for (let j = header.length - 1; j >= 1; j--) length = length * 128 + (header[j] & 0x7f);
      header = [];
      // The limit is on the payload; the topic and packet id ride on top of it (at most 64 KiB + 2).
      if (length > maxBytes + 65_540) {
        onOversize(length);
        socket.destroy();
        return;
      }
      skip = length;
    }
  });
}
