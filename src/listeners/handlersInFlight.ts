import type { App } from '@slack/bolt';

/**
 * Slack's buttons and forms are acknowledged first and handled after (Slack wants its answer within
 * 3 s), so a request already answered may still be running. This keeps count, so that a stop waits for
 * them before it closes the pools they use: a click Slack saw acknowledged is not dropped half done.
 */
export class HandlersInFlight {
  private readonly running = new Set<Promise<void>>();

  /** A global middleware: Bolt's `next()` resolves once every listener for the request has finished. */
  register(app: App): void {
    app.use(async ({ next }) => {
      const work = next();
      this.running.add(work);
      try {
        await work;
      } finally {
        this.running.delete(work);
      }
    });
  }

  /** Resolves when no handler is running. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
