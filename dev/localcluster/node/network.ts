// The node's network, made safe before any pod exists (docs/adr/0013-real-local-node.md):
// - the pod bridge has no uplink and our nftables table drops anything forwarded between it and
//   another interface, so a pod's packet can reach the host and other pods, never the outside;
// - the Service CIDR is routed onto that bridge: before kube-proxy has programmed a ClusterIP, a
//   request to it (from a pod or from the host) gets "no route to host" on the bridge instead of
//   following the default route off the machine. (An `unreachable` route would do that too, but it
//   also refuses the host's own Service traffic — kube-apiserver calls webhooks by ClusterIP — since
//   the route lookup of a local socket precedes kube-proxy's DNAT.)
import { existsSync, writeFileSync } from 'node:fs';
import { ClusterError } from '../errors.ts';
import { run, tryRun } from './exec.ts';
import type { HostJournal } from './host-journal.ts';
import { sysctlFile } from './host-journal.ts';
import { BRIDGE, GUARD_TABLE, NODE_IP, POD_CIDR, SERVICE_CIDR, type NodeTools } from './layout.ts';

interface Route { dst: string; dev?: string; type?: string }

/** Fails, naming the culprit, if the bridge or either CIDR is already in use on this machine. */
export async function checkNetworkFree(): Promise<void> {
  if ((await tryRun('ip', ['link', 'show', BRIDGE])).code === 0) {
    throw new ClusterError(`the network link ${BRIDGE} (the real node's pod bridge) already exists`,
      `if no real node runs (\`npm run cluster:status\`), it is a leftover: \`ip link del ${BRIDGE}\``);
  }
  const routes = JSON.parse(await run('ip', ['-j', 'route', 'show', 'table', 'all'])) as Route[];
  for (const cidr of [POD_CIDR, SERVICE_CIDR]) {
    const clash = routes.find((r) => r.dst !== 'default' && r.type !== 'local' && r.type !== 'broadcast' && overlaps(r.dst, cidr));
    if (clash) {
      throw new ClusterError(`the real node's ${cidr === POD_CIDR ? 'pod' : 'Service'} CIDR ${cidr} overlaps the route ${clash.dst}${clash.dev ? ` on ${clash.dev}` : ''}`,
        `free that range on this machine (\`ip route show ${clash.dst}\` shows the route)`);
    }
  }
}

export async function setUpNetwork(journal: HostJournal, tools: NodeTools): Promise<void> {
  journal.record({ kind: 'link', name: BRIDGE });
  await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  await run('ip', ['addr', 'add', `${NODE_IP}/${POD_CIDR.split('/')[1]}`, 'dev', BRIDGE]);
  await run('ip', ['link', 'set', BRIDGE, 'up']);
  const route = [SERVICE_CIDR, 'dev', BRIDGE];
  journal.record({ kind: 'route', spec: route });
  await run('ip', ['route', 'add', ...route]);
  journal.record({ kind: 'nft-table', family: 'inet', name: GUARD_TABLE });
  await nft(tools, guardRules());
  writeFileSync(sysctlFile('net.ipv4.ip_forward'), '1');
}

/** Pod traffic may go to the host and between pods on the bridge; nothing is forwarded elsewhere. */
export function guardRules(): string {
  return [
    `table inet ${GUARD_TABLE} {`,
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    `    iifname "${BRIDGE}" oifname != "${BRIDGE}" counter reject with icmpx type admin-prohibited`,
    `    oifname "${BRIDGE}" iifname != "${BRIDGE}" counter drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

export async function nft(tools: NodeTools, rules: string): Promise<void> {
  await run(tools.nft.bin, ['-f', '-'], { input: rules, env: { LD_LIBRARY_PATH: tools.nft.libDir } });
}

/** True when two IPv4 CIDRs share an address. */
export function overlaps(a: string, b: string): boolean {
  const [na, la] = parseCidr(a);
  const [nb, lb] = parseCidr(b);
  if (la > 32 || lb > 32) return false;
  const len = Math.min(la, lb);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return ((na & mask) >>> 0) === ((nb & mask) >>> 0);
}

function parseCidr(cidr: string): [number, number] {
  const [ip, len] = cidr.includes('/') ? cidr.split('/') : [cidr, '32'];
  const parts = ip!.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => Number.isNaN(p))) return [0, 33]; // not IPv4: never overlaps
  return [((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0, Number(len)];
}

export function bridgeExists(): boolean {
  return existsSync(`/sys/class/net/${BRIDGE}`);
}
