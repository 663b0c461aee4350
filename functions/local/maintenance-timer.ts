import type { Log } from '../../lib/log/log.js';
import { MAINTENANCE_JOBS } from '../../lib/maintenance/report.js';

/**
 * The local server's stand-in for the AWS schedules: every `intervalMs`, one pass of each job in turn
 * (compact, retention, gc). A round still running when the next is due is not overlapped.
 */
export function startMaintenanceTimer(
  log: Log,
  intervalMs: number,
  onError: (error: unknown) => void,
): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const round = async () => {
    for (const job of MAINTENANCE_JOBS) {
      try {
        await log.maintenance.run(job);
      } catch (error) {
        onError(error);
      }
    }
  };
  const timer = setInterval(() => {
    if (running) return;
    running = round().finally(() => {
      running = undefined;
    });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
