import { readFileSync } from 'node:fs';

/** Whether `pid` is a live process: a zombie (dead, not yet reaped) or a missing one is not. */
export function processAlive(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) state …"; the command may hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
