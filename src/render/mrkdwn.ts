/**
 * Slack mrkdwn treats only `&`, `<` and `>` as control characters. Escaping them is what keeps an
 * alert annotation holding `<!channel>` or `<https://evil|click>` from pinging people or forging links.
 * (Handlebars' HTML escaping would also mangle quotes and `=`, which Slack shows literally.)
 */
export function escapeMrkdwn(text: string): string {
  // Most text has none of them: one scan, rather than three replacements each making a copy.
  if (!MRKDWN_CONTROL.test(text)) return text;
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
const MRKDWN_CONTROL = /[&<>]/;

// Line breaks and other control characters, backticks (which end a code span), and the invisible format
// characters (zero-width, bidirectional overrides) that make text read other than it is.
const UNSEEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}`]/gu;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A value from outside (a label, a param) on one line, as it is: what would break the line, end a code
 * span or hide among the text is written as an escape (`\n`, `\u{202e}`), so it cannot draw lines of its own.
 */
export function visibleText(text: string): string {
  return text.replace(UNSEEN, (char) => NAMED[char] ?? `\\u{${char.codePointAt(0)!.toString(16)}}`);
}

/** A value someone typed, quoted for a reply: shown as typed, never as a mention, a link or a new line. */
export function quoted(text: string): string {
  return `"${escapeMrkdwn(visibleText(text))}"`;
}

/**
 * Slack sends what people type (a slash command's text) with `&`, `<` and `>` escaped; this gives back
 * what they typed, so it is stored as such and escaped once, by the templates, when shown again.
 */
export function unescapeMrkdwn(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function escapedLength(char: string): number {
  return char === '&' ? 5 : char === '<' || char === '>' ? 4 : char.length;
}

// Slack's markup in what people type (a slash command's text, with should_escape): a person's mention
// (<@U…>), a channel's link (<#C…>) or a link (<https://…|label>), else a special mention (<!here>,
// <!subteam^S…|@handle>, <!date^…|fallback>); each with an optional label.
const TYPED_MARKUP =
  /<(@[UW][A-Z0-9]{2,}|#[CG][A-Z0-9]{2,}|(?:https?|mailto):[^\s<>|]+)(?:\|([^<>]*))?>|<!(\w+)[^<>|]*(?:\|([^<>]*))?>/g;

/**
 * Text a person typed (a note, a status update, a resolution), for mrkdwn: the mentions of people,
 * channel links and links in it stay live, theirs to make; everything else is escaped. Each is shown
 * without a label: Slack names a person or a channel itself, and a link shows where it leads. The text
 * stored cannot tell Slack's own markup from the same characters typed (commandText unescapes it, and a
 * form's field is never escaped), so a label would let anyone post, as the bot, a link to one place
 * that reads as another. A special mention (@here, @channel, @everyone, a user group) is shown as its
 * name and pings nobody: the bot's message would notify a whole channel or group for one person's note.
 * Only for what people type: text from outside (alerts) stays escaped by `escapeMrkdwn`.
 */
export function typedMrkdwn(text: string): string {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(TYPED_MARKUP)) {
    const [whole, target, , special, specialLabel] = match;
    out += escapeMrkdwn(text.slice(last, match.index));
    last = match.index + whole.length;
    out +=
      special === undefined
        ? // An address's hidden characters (a right-to-left override, a zero width space) are left out:
          // shown as escapes, they would make the text longer than the limits measured escaped allow.
          `<${escapeMrkdwn(target!.replace(UNSEEN, ''))}>`
        : escapeMrkdwn(specialLabel?.trim() || `@${special}`);
  }
  return out + escapeMrkdwn(text.slice(last));
}

/**
 * Text a person typed, for where Slack's markup is not read (the post-mortem's Markdown file): a person
 * as `nameOf` names them (else by the label Slack gave, else by id), a channel by its name, a link by its
 * label and address, a special mention (@here, a user group, a date) by its name. All else stays as typed.
 */
export function typedAsPlain(text: string, nameOf: (userId: string) => string | undefined): string {
  return text.replace(
    TYPED_MARKUP,
    (
      _whole,
      target: string | undefined,
      label: string | undefined,
      special,
      specialLabel: string | undefined,
    ) => {
      if (target === undefined) return specialLabel?.trim() || `@${special}`;
      const named = label?.trim();
      if (target.startsWith('@')) return `@${nameOf(target.slice(1)) ?? named ?? target.slice(1)}`;
      if (target.startsWith('#')) return `#${named ?? target.slice(1)}`;
      return named && named !== target ? `${named} (${target})` : target;
    },
  );
}

/**
 * Cuts `text` so that, once escaped, it takes at most `max` characters, ending with … when cut.
 * Cutting before escaping means a cut can never split an entity like `&amp;`.
 */
export function truncateForMrkdwn(text: string, max: number): string {
  if (max < 1) return '';
  let length = 0;
  let index = 0;
  for (const char of text) {
    const next = length + escapedLength(char);
    if (next > max) {
      let cut = text.slice(0, index);
      // Make room for the ellipsis.
      while (cut.length > 0 && length + 1 > max) {
        const last = [...cut].pop()!;
        cut = cut.slice(0, cut.length - last.length);
        length -= escapedLength(last);
      }
      return `${cut}…`;
    }
    length = next;
    index += char.length;
  }
  return text;
}

/** A timestamp shown in each reader's own time zone, with a UTC fallback. */
export function slackDate(time: Date): string {
  const unix = Math.floor(time.getTime() / 1000);
  const fallback = `${time.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return `<!date^${unix}^{date_short_pretty} {time}|${fallback}>`;
}

// The bot's mention of a person (userMention), and any markup of Slack's: <target> or <target|label>.
const USER_MENTION = /<@([UW][A-Z0-9]{2,})>/g;
const MARKUP = /<([^<>|]*)(?:\|([^<>]*))?>/g;

/** The people the bot's mrkdwn mentions, by id. */
export function mentionedUsers(text: string): string[] {
  return [...text.matchAll(USER_MENTION)].map((m) => m[1]!);
}

/**
 * The bot's mrkdwn as plain text, for where Slack shows text as it is (a form's field error): a person
 * as `nameOf` names them, a date as its UTC fallback and any other link or mention by its label (a special
 * mention without one as @name), and &amp;, &lt;, &gt; as the characters they stand for.
 */
export function plainFromMrkdwn(text: string, nameOf: (userId: string) => string): string {
  const plain = text.replace(MARKUP, (whole: string, target: string, label: string | undefined) => {
    const [person] = mentionedUsers(whole);
    if (person) return nameOf(person);
    if (label !== undefined) return label;
    return target.startsWith('!') ? `@${target.slice(1).split('^')[0]}` : target;
  });
  return unescapeMrkdwn(plain);
}

/** A mention of a Slack user the bot knows by id; anything else is shown as escaped text. */
export function userMention(id: unknown): string {
  return typeof id === 'string' && /^[UW][A-Z0-9]{2,}$/.test(id)
    ? `<@${id}>`
    : escapeMrkdwn(String(id ?? ''));
}

/** A mention of a Slack user or user group the bot knows by id; anything else is shown as escaped text. */
export function mention(id: unknown): string {
  return typeof id === 'string' && /^S[A-Z0-9]{2,}$/.test(id) ? `<!subteam^${id}>` : userMention(id);
}
