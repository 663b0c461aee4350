/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time by function and by package/area.
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile | dir> [--from µs --to µs] [--top N]
 *
 * With a directory, every profile in it is summarised (one per thread). `--from/--to` keep only the samples in
 * that window of the monotonic clock (the bench prints its produce phase's window when run under --cpu-prof).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A coarse owner of a stack frame: a package, a folder of this project, Node itself, or V8. */
export function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') {
    if (frame.functionName.startsWith('(')) return frame.functionName; // (garbage collector), (idle), (program)
    return 'native';
  }
  if (url.startsWith('node:'))
    return `node:${url.slice(5).split('/')[0] === 'internal' ? url.slice(5).split('/')[1] : url.slice(5)}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  const project = /\/(lib|functions|bench)\/(.*)$/.exec(url);
  if (project) return `${project[1]}/${project[2]}`;
  return url;
}

/** Buckets for the "by owner" view. */
export function groupOf(area: string): string {
  if (area.startsWith('@smithy/') || area.startsWith('@aws-sdk/') || area.startsWith('@aws-crypto/')) {
    return 'AWS SDK (S3 and DynamoDB clients)';
  }
  if (area === 'hono' || area.startsWith('@hono/') || area === 'zod')
    return 'HTTP server, routing, validation (hono, zod)';
  if (area.startsWith('lib/')) return 'Sluice engine (lib/)';
  if (area.startsWith('functions/')) return 'Sluice HTTP layer (functions/)';
  if (area.startsWith('bench/')) return 'bench (counting middleware, load generators)';
  if (area === 'fauxqs' || area === 'fastify' || area.startsWith('@fastify/'))
    return 'S3 emulator (fauxqs, fastify)';
  if (area.startsWith('(')) return area;
  return `other: ${area}`;
}

/** A frame that belongs to some code of ours or of a package (not Node's own internals or V8). */
function isOwner(area: string): boolean {
  return !(area.startsWith('node:') || area === 'native' || area.startsWith('('));
}

export function summarise(profile: CpuProfile, window: { from?: number; to?: number }, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  /** The nearest frame up the stack owned by a package or by the project: who caused this Node/V8 work. */
  const ownerOf = (id: number): string => {
    const self = byId.get(id);
    const selfArea = self ? areaOf(self.callFrame) : 'native';
    if (selfArea.startsWith('(')) return selfArea;
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const node = byId.get(at);
      if (!node) break;
      const area = areaOf(node.callFrame);
      if (isOwner(area)) return groupOf(area);
    }
    return 'Node internals with no package on the stack (event loop, sockets)';
  };
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (window.from !== undefined && t < window.from) continue;
    if (window.to !== undefined && t > window.to) continue;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
    total += delta;
  }
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const frame = node.callFrame;
    const where = frame.url ? `${areaOf(frame)}:${frame.lineNumber + 1}` : areaOf(frame);
    const name = `${frame.functionName || '(anonymous)'}  ${where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const owner = ownerOf(id);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
  }
  const busy = total - (byArea.get('(idle)') ?? 0);
  const pct = (us: number) => `${((100 * us) / Math.max(1, total)).toFixed(1).padStart(5)}%`;
  const lines = [
    `  sampled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / Math.max(1, total)).toFixed(0)}%)`,
    '  by owner (self time charged to the nearest package or project frame on the stack):',
  ];
  for (const [owner, us] of [...byOwner].sort((a, b) => b[1] - a[1])) {
    lines.push(`    ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${owner}`);
  }
  lines.push('  self time by area:');
  for (const [area, us] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`    ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${area}`);
  }
  lines.push('  self time by function:');
  for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`    ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`);
  }
  return lines.join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({
    options: { from: { type: 'string' }, to: { type: 'string' }, top: { type: 'string', default: '25' } },
    allowPositionals: true,
  });
  const target = positionals[0];
  if (!target) {
    process.stderr.write(
      'usage: tsx bench/profile-summary.ts <file.cpuprofile | dir> [--from µs --to µs] [--top N]\n',
    );
    process.exitCode = 2;
    return;
  }
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith('.cpuprofile'))
        .sort()
        .map((f) => join(target, f))
    : [target];
  const window = {
    ...(values.from !== undefined ? { from: Number(values.from) } : {}),
    ...(values.to !== undefined ? { to: Number(values.to) } : {}),
  };
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    process.stdout.write(`\n${basename(file)}\n${summarise(profile, window, Number(values.top))}\n`);
  }
}

main();
