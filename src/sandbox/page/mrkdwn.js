// Slack mrkdwn to DOM nodes. Text only ever becomes text nodes (textContent), never HTML: alert
// annotations reach this code, and whatever they hold is shown as the characters it is.

import { el } from './dom.js';

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>' };
export const decodeEntities = (text) => text.replace(/&(amp|lt|gt);/g, (e) => ENTITIES[e]);

// \uE000n\uE000 (a private-use character) stands for the n-th atom (a link, mention or code span)
// while styles are parsed; any \uE000 in the text itself is dropped first, so it cannot name an atom.
const ATOM = /\uE000(\d+)\uE000/g;
const STYLES = { '*': 'strong', _: 'em', '~': 's' };
// A style opens after a line start, space or punctuation and closes before one, on a single line.
const STYLE = /(^|[\s(["'.,;:!?\u2014-])([*_~])(?=\S)([^\n]*?\S)\2(?=$|[\s)\]"'.,;:!?\u2014-])/;
const SAFE_URL = /^(https?:|mailto:)/i;

/** `<…>`: a user, channel or group mention, a special mention, a date, or a link. */
function angle(inner, ctx) {
  const bar = inner.indexOf('|');
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? undefined : decodeEntities(inner.slice(bar + 1));
  if (target.startsWith('@')) {
    return el('span', 'mention', `@${ctx.userName(target.slice(1)) ?? label ?? target.slice(1)}`);
  }
  if (target.startsWith('#')) {
    return el('span', 'mention', `#${ctx.channelName(target.slice(1)) ?? label ?? target.slice(1)}`);
  }
  if (target.startsWith('!subteam^')) {
    const id = target.slice('!subteam^'.length);
    return el('span', 'mention', label ?? `@${ctx.groupHandle(id) ?? id}`);
  }
  if (target.startsWith('!date^')) {
    const unix = Number(target.split('^')[1]);
    const node = el(
      'time',
      'date',
      Number.isFinite(unix) ? new Date(unix * 1000).toLocaleString() : (label ?? ''),
    );
    if (label) node.title = label;
    return node;
  }
  if (target.startsWith('!')) return el('span', 'mention', `@${target.slice(1)}`);
  const url = decodeEntities(target);
  if (!SAFE_URL.test(url)) return document.createTextNode(label ?? url);
  const link = el('a', '', label ?? url);
  link.href = url;
  link.target = '_blank';
  link.rel = 'noopener noreferrer';
  return link;
}

/** Plain text with *bold*, _italic_ and ~strike~, its atoms put back in place. */
function styled(text, atoms, parent) {
  let rest = text;
  while (rest) {
    const match = STYLE.exec(rest);
    if (!match) break;
    const start = match.index + match[1].length;
    plain(rest.slice(0, start), atoms, parent);
    const node = el(STYLES[match[2]]);
    styled(match[3], atoms, node);
    parent.append(node);
    rest = rest.slice(start + match[2].length * 2 + match[3].length);
  }
  plain(rest, atoms, parent);
}

function plain(text, atoms, parent) {
  let last = 0;
  for (const match of text.matchAll(ATOM)) {
    if (match.index > last) parent.append(decodeEntities(text.slice(last, match.index)));
    parent.append(atoms[Number(match[1])]);
    last = match.index + match[0].length;
  }
  if (last < text.length) parent.append(decodeEntities(text.slice(last)));
}

/**
 * Appends `text` as mrkdwn to `parent`. `ctx` names ids: userName(id), channelName(id), groupHandle(id),
 * each answering undefined for an id it does not know.
 */
export function renderMrkdwn(text, parent, ctx) {
  const parts = text.split(/```/);
  parts.forEach((part, i) => {
    // Odd parts sit between ``` fences.
    if (i % 2 === 1 && i < parts.length - 1) {
      parent.append(el('pre', 'code-block', decodeEntities(part.replace(/^\n/, ''))));
      return;
    }
    const source = i % 2 === 1 ? `\`\`\`${part}` : part;
    const atoms = [];
    const hold = (node) => `\uE000${atoms.push(node) - 1}\uE000`;
    const marked = source
      .replace(/\uE000/g, '')
      .replace(/`([^`\n]+)`/g, (_, code) => hold(el('code', '', decodeEntities(code))))
      .replace(/<([^<>\n]+)>/g, (_, inner) => hold(angle(inner, ctx)));
    styled(marked, atoms, parent);
  });
}

/** A text object: mrkdwn, or plain_text (whose entities Slack decodes too). */
export function renderText(object, parent, ctx) {
  if (!object || typeof object.text !== 'string') return;
  if (object.type === 'mrkdwn') renderMrkdwn(object.text, parent, ctx);
  else parent.append(decodeEntities(object.text));
}
