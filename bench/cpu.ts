/**
 * Where the CPU went during a phase: event-loop utilisation of each thread (the fraction of wall time its
 * event loop was busy, so 1.0 means saturated), the CPU time of the whole Node process, and the CPU time of
 * the DynamoDB Local JVM (from /proc; Linux only).
 */
import { readFileSync } from 'node:fs';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Worker } from 'node:worker_threads';

export interface CpuReport {
  wallMs: number;
  /** Event-loop utilisation per thread name (0–1). */
  elu: Record<string, number>;
  /** CPU seconds per wall second of this Node process (all threads). */
  nodeCores: number;
  /** CPU seconds per wall second of DynamoDB Local, when readable. */
  javaCores: number | undefined;
  /** CPU seconds per wall second of the whole machine (/proc/stat), when readable. */
  machineCores: number | undefined;
}

const CLOCK_TICKS_PER_SECOND = 100;

function javaCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of /proc/<pid>/stat (utime, stime); the slice starts at field 3.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine since boot (/proc/stat: all but idle and iowait). */
function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - (ticks[3] ?? 0) - (ticks[4] ?? 0)) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

export function startCpuProbe(
  threads: Record<string, Worker | 'main'>,
  javaPid: number | undefined,
): () => CpuReport {
  const started = performance.now();
  const cpu = process.cpuUsage();
  const java = javaCpuSeconds(javaPid);
  const machine = machineBusySeconds();
  const bases = new Map<string, EventLoopUtilization>();
  for (const [name, thread] of Object.entries(threads)) {
    bases.set(
      name,
      thread === 'main' ? performance.eventLoopUtilization() : thread.performance.eventLoopUtilization(),
    );
  }
  return () => {
    const wallMs = performance.now() - started;
    const elu: Record<string, number> = {};
    for (const [name, thread] of Object.entries(threads)) {
      const base = bases.get(name);
      try {
        elu[name] =
          thread === 'main'
            ? performance.eventLoopUtilization(base).utilization
            : thread.performance.eventLoopUtilization(base).utilization;
      } catch {
        // a worker that has exited
      }
    }
    const used = process.cpuUsage(cpu);
    const javaNow = javaCpuSeconds(javaPid);
    const machineNow = machineBusySeconds();
    return {
      wallMs,
      elu,
      nodeCores: (used.user + used.system) / 1000 / wallMs,
      javaCores: java !== undefined && javaNow !== undefined ? ((javaNow - java) * 1000) / wallMs : undefined,
      machineCores:
        machine !== undefined && machineNow !== undefined
          ? ((machineNow - machine) * 1000) / wallMs
          : undefined,
    };
  };
}

export function formatCpu(report: CpuReport): string {
  const threads = Object.entries(report.elu)
    .map(([name, u]) => `${name} ${u.toFixed(2)}`)
    .join(', ');
  const java = report.javaCores === undefined ? 'n/a' : report.javaCores.toFixed(2);
  const others = otherCores(report);
  const machine =
    report.machineCores === undefined
      ? ''
      : `, whole machine ${report.machineCores.toFixed(2)} (other processes ${others?.toFixed(2) ?? 'n/a'})`;
  return `event-loop utilisation: ${threads}; CPU cores used: Node process ${report.nodeCores.toFixed(2)}, DynamoDB Local ${java}${machine}`;
}

/** Cores used by processes other than this bench and its DynamoDB Local (other work on the machine). */
export function otherCores(report: CpuReport): number | undefined {
  if (report.machineCores === undefined || report.javaCores === undefined) return undefined;
  return Math.max(0, report.machineCores - report.nodeCores - report.javaCores);
}
