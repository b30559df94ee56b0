import type {
  App,
  Middleware,
  SlackActionMiddlewareArgs,
  SlackCommandMiddlewareArgs,
  SlackViewMiddlewareArgs,
} from '@slack/bolt';

/**
 * Where each listener registers itself, by Slack surface: under its command, action_id (or a pattern, for
 * buttons numbered within one message) or callback_id.
 */
export interface Listeners {
  command(name: string, listener: Middleware<SlackCommandMiddlewareArgs>): void;
  action(actionId: string | RegExp, listener: Middleware<SlackActionMiddlewareArgs>): void;
  view(callbackId: string, listener: Middleware<SlackViewMiddlewareArgs>): void;
}

/**
 * One Bolt listener per surface, which finds the listener a request is for by its id. Bolt runs the
 * matchers of every listener it has for every request, each call copying the request's arguments: that
 * cost would grow with every listener added.
 */
export class ListenerRouter implements Listeners {
  /** `heard` learns who sent each request a listener was for, once that listener is done. */
  constructor(private readonly heard: (userId: string) => void = () => {}) {}

  private readonly commands = new Map<string, Middleware<SlackCommandMiddlewareArgs>>();
  private readonly actions = new Map<string, Middleware<SlackActionMiddlewareArgs>>();
  private readonly actionPatterns: Array<[RegExp, Middleware<SlackActionMiddlewareArgs>]> = [];
  private readonly views = new Map<string, Middleware<SlackViewMiddlewareArgs>>();

  command(name: string, listener: Middleware<SlackCommandMiddlewareArgs>): void {
    add(this.commands, 'command', name, listener);
  }

  action(actionId: string | RegExp, listener: Middleware<SlackActionMiddlewareArgs>): void {
    if (typeof actionId === 'string') add(this.actions, 'action', actionId, listener);
    // test() on a global or sticky pattern goes on from where its last match ended.
    else if (actionId.global || actionId.sticky)
      throw new Error(`the action pattern ${actionId} is global or sticky`);
    else this.actionPatterns.push([actionId, listener]);
  }

  view(callbackId: string, listener: Middleware<SlackViewMiddlewareArgs>): void {
    add(this.views, 'view', callbackId, listener);
  }

  /**
   * A request no listener is for is left unacknowledged, as Bolt leaves it. Bolt matches actions by
   * action_id only in Block Kit's block_actions, and views on their submission.
   */
  register(app: App): void {
    app.command(/.*/, async (args) =>
      this.run(this.commands.get(args.command.command), args, args.command.user_id),
    );
    app.action(/.*/, async (args) =>
      this.run(
        this.actionListener((args.payload as { action_id: string }).action_id),
        args,
        args.body.user.id,
      ),
    );
    app.view(/.*/, async (args) => this.run(this.views.get(args.view.callback_id), args, args.body.user.id));
  }

  private async run<A>(listener: ((args: A) => unknown) | undefined, args: A, sender: string): Promise<void> {
    if (!listener) return;
    await listener(args);
    this.heard(sender);
  }

  private actionListener(actionId: string) {
    return this.actions.get(actionId) ?? this.actionPatterns.find(([pattern]) => pattern.test(actionId))?.[1];
  }
}

/** Two listeners for one id would both run under Bolt, and only one here: refused as they register. */
function add<L>(listeners: Map<string, L>, kind: string, id: string, listener: L): void {
  if (listeners.has(id)) throw new Error(`two listeners for the ${kind} ${id}`);
  listeners.set(id, listener);
}
