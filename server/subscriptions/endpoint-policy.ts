import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { unprocessable } from '../fhir/outcomes.ts';

/**
 * IPv4 ranges no notification may reach unless allow-listed: "this network", private, shared (CGNAT), loopback,
 * link-local (cloud metadata), IETF protocol assignments, documentation, benchmarking, multicast, reserved/broadcast.
 */
const PRIVATE_V4 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE_V4.addSubnet(net, prefix, 'ipv4');

/**
 * IPv6 is judged by what may be reached rather than by what may not: only global unicast (2000::/3) passes. That
 * leaves out, whatever way they are written, loopback and unspecified, IPv4-compatible (`::7f00:1`) and IPv4-mapped
 * (`::ffff:127.0.0.1`) forms, NAT64 (64:ff9b::/96), unique-local, link-local, multicast and discard addresses.
 */
const GLOBAL_V6 = new BlockList();
GLOBAL_V6.addSubnet('2000::', 3, 'ipv6');
/** Inside 2000::/3, the ranges that carry or reach other addresses (Teredo and the IETF block, 6to4) or none. */
const SPECIAL_V6 = new BlockList();
for (const [net, prefix] of [
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['3fff::', 20],
] as const)
  SPECIAL_V6.addSubnet(net, prefix, 'ipv6');

/**
 * Where notifications may go (SSRF protection): http(s) URLs whose host resolves only to public addresses, plus the
 * hosts, addresses and CIDR ranges the operator allow-lists (`SUBSCRIPTION_ALLOWED_HOSTS`; `*` allows everything).
 * The check runs when a Subscription is written (syntax, literal addresses) and again on every connection (the
 * resolved addresses), so a DNS answer that changes after the check cannot redirect a delivery inside the network.
 */
export class EndpointPolicy {
  private readonly names = new Set<string>();
  private readonly ranges = new BlockList();
  private readonly any: boolean;

  constructor(allowed: string[]) {
    this.any = allowed.includes('*');
    for (const entry of allowed) {
      const [address, prefix] = entry.replace(/^\[|\]$/g, '').split('/');
      const family = isIP(address);
      if (family && prefix !== undefined)
        this.ranges.addSubnet(address, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
      else if (family) this.ranges.addAddress(address, family === 4 ? 'ipv4' : 'ipv6');
      else this.names.add(normalizeHost(entry));
    }
  }

  /** Refuses (422, naming `expression`) an endpoint that is not an http(s) URL or names a blocked host or address. */
  checkUrl(endpoint: string, expression: string): URL {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw unprocessable(`The endpoint "${endpoint}" is not a URL`, expression);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw unprocessable(`The endpoint must be an http or https URL, not ${url.protocol}`, expression);
    }
    if (url.username || url.password)
      throw unprocessable('The endpoint must not carry credentials; use channel.header', expression);
    const host = normalizeHost(url.hostname);
    if (this.hostAllowed(host)) return url;
    if (host === 'localhost' || host.endsWith('.localhost') || (isIP(host) && this.isBlocked(host))) {
      throw unprocessable(
        `The endpoint host ${host} is a private or loopback address, which SUBSCRIPTION_ALLOWED_HOSTS does not allow`,
        expression,
      );
    }
    return url;
  }

  /** A `lookup` for http.request that fails the connection when the host resolves to a blocked address. */
  lookup(): LookupFunction {
    return (hostname, options, callback) => {
      const allowedName = this.hostAllowed(normalizeHost(hostname));
      dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return callback(err, '', 0);
        const blocked = allowedName ? undefined : addresses.find((a) => this.isBlocked(a.address));
        if (blocked) {
          const refusal = Object.assign(
            new Error(
              `${hostname} resolves to ${blocked.address}, a private address SUBSCRIPTION_ALLOWED_HOSTS does not allow`,
            ),
            { code: 'EBLOCKED' },
          );
          return callback(refusal, '', 0);
        }
        if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        return callback(null, addresses[0].address, addresses[0].family);
      });
    };
  }

  private hostAllowed(host: string): boolean {
    return (
      this.any ||
      this.names.has(host) ||
      (isIP(host) !== 0 && this.ranges.check(host, isIP(host) === 4 ? 'ipv4' : 'ipv6'))
    );
  }

  private isBlocked(address: string): boolean {
    const family = isIP(address);
    if (family === 0) return true;
    if (this.hostAllowed(address)) return false;
    if (family === 4) return PRIVATE_V4.check(address, 'ipv4');
    return !GLOBAL_V6.check(address, 'ipv6') || SPECIAL_V6.check(address, 'ipv6');
  }
}

/**
 * A host as the checks compare it: lower-case, without IPv6 brackets or trailing dots (`localhost.` is `localhost`).
 * The URL parser has already turned other IPv4 spellings (`2130706433`, `0x7f.1`, `017700000001`) into dotted quads.
 */
function normalizeHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, '')
    .replace(/\.+$/, '')
    .toLowerCase();
}
