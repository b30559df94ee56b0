/** What every remediation driver (command, http, sql, kubernetes) takes and gives back. */

export type ParamValue = string | number | boolean;

export interface DriverRun {
  /** Validated against the action's params schema by the caller. */
  params: Record<string, ParamValue>;
  dryRun: boolean;
  timeoutMs: number;
  signal: AbortSignal;
  /**
   * Aborts when the run must end at once, without the grace a timeout or a stop gives: its service lock is
   * lost, so another run may start on the same target now.
   */
  kill?: AbortSignal;
  /** The bot's environment; drivers read it instead of process.env. */
  env: Record<string, string | undefined>;
  /** The bot's own secrets (its tokens, its database and Redis passwords): never in what a run answers. */
  secrets: readonly string[];
}

export interface DriverResult {
  ok: boolean;
  exitCode?: number;
  /** Capped (see CappedOutput); createDriver redacts it (see redaction.ts). */
  output: string;
  /** One line for Slack. */
  summary: string;
}

/** Never throws for a failing target (that is `ok: false`); throws only for programming errors. */
export interface Driver {
  readonly type: string;
  run(run: DriverRun): Promise<DriverResult>;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

/**
 * Collects output up to a cap, keeping its beginning and its end: a failing command usually explains
 * itself in its last lines. What is dropped from the middle is marked "…[truncated N bytes]…".
 */
export class CappedOutput {
  readonly #headMax: number;
  readonly #tailMax: number;
  readonly #head: Buffer[] = [];
  #headBytes = 0;
  #tail: Buffer[] = [];
  #tailBytes = 0;
  #total = 0;

  constructor(maxBytes = DEFAULT_MAX_OUTPUT_BYTES) {
    this.#headMax = Math.ceil(maxBytes / 2);
    this.#tailMax = maxBytes - this.#headMax;
  }

  write(chunk: string | Uint8Array): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    this.#total += buf.length;
    const headRoom = this.#headMax - this.#headBytes;
    if (headRoom > 0) {
      this.#head.push(buf.subarray(0, headRoom));
      this.#headBytes += Math.min(headRoom, buf.length);
      buf = buf.subarray(headRoom);
    }
    if (buf.length === 0) return;
    this.#tail.push(buf);
    this.#tailBytes += buf.length;
    while (this.#tailBytes > this.#tailMax) {
      const first = this.#tail[0]!;
      const excess = this.#tailBytes - this.#tailMax;
      if (first.length <= excess) {
        this.#tail.shift();
        this.#tailBytes -= first.length;
      } else {
        this.#tail[0] = first.subarray(excess);
        this.#tailBytes -= excess;
      }
    }
  }

  toString(): string {
    const head = Buffer.concat(this.#head).toString('utf8');
    const tail = Buffer.concat(this.#tail).toString('utf8');
    const dropped = this.#total - this.#headBytes - this.#tailBytes;
    return dropped > 0 ? `${head}\n…[truncated ${dropped} bytes]…\n${tail}` : head + tail;
  }
}

/** Where CappedOutput dropped the middle: the text on each side of it was cut mid-line. */
export const TRUNCATION_MARK = /\n…\[truncated \d+ bytes\]…\n/;

/** Caps a string that arrives whole (a report, an error message). */
export function capText(text: string, maxBytes = DEFAULT_MAX_OUTPUT_BYTES): string {
  const out = new CappedOutput(maxBytes);
  out.write(text);
  return out.toString();
}

export interface Deadline {
  /** Aborts at the run's timeout or when the run's own signal aborts. */
  readonly signal: AbortSignal;
  /** Resolves with the reason once stopped, at once if the run was cancelled before it began. */
  readonly stopped: Promise<string>;
  /** The summary to report once stopped: "timed out after N ms" or "cancelled"; undefined while running. */
  reason(): string | undefined;
  dispose(): void;
}

export function startDeadline(run: Pick<DriverRun, 'signal' | 'timeoutMs'>): Deadline {
  const controller = new AbortController();
  let why: string | undefined;
  let resolveStopped: (reason: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    resolveStopped = resolve;
  });
  const stop = (text: string) => {
    if (why !== undefined) return;
    why = text;
    controller.abort(new Error(text));
    resolveStopped(text);
  };
  const onAbort = () => stop('cancelled');
  const timer = setTimeout(() => stop(`timed out after ${run.timeoutMs} ms`), run.timeoutMs);
  if (run.signal.aborted) onAbort();
  else run.signal.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    stopped,
    reason: () => why,
    dispose: () => {
      clearTimeout(timer);
      run.signal.removeEventListener('abort', onAbort);
    },
  };
}

/** The last non-empty line of some output, shortened: a failure's likely explanation, for the summary. */
export function lastLine(output: string, max = 200): string {
  const line =
    output
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .at(-1) ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
