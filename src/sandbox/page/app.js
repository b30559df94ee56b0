// The sandbox page: polls the workspace state, draws it Slack-like, and sends what the person does to
// the sandbox API, which turns it into the signed requests Slack would send the bot.
import { readInputs, renderBlocks } from './blocks.js';
import { el } from './dom.js';
import { renderMrkdwn } from './mrkdwn.js';

const $ = (id) => document.getElementById(id);
const POLL_MS = 800;
const ui = {
  user: localStorage.getItem('sandbox-user') || 'U0ALICE',
  channel: localStorage.getItem('sandbox-channel') || 'C0INCIDENTS',
  thread: undefined,
  state: undefined,
  raw: '',
  modalId: undefined,
  dismissed: new Set(),
  openFiles: new Set(),
  seen: {},
};

function toast(text) {
  const node = $('toast');
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => {
    node.hidden = true;
  }, 5000);
}

async function api(path, body) {
  const res = await fetch(`/sandbox/api/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) toast(answer.error ?? `The sandbox answered ${res.status}.`);
  setTimeout(poll, 50);
  return res.ok ? answer : undefined;
}

// ---- names for mrkdwn ----

const ctx = {
  userName: (id) =>
    id === ui.state?.botUserId ? 'incident-bot' : ui.state?.users.find((u) => u.id === id)?.name,
  channelName: (id) => ui.state?.channels.find((c) => c.id === id)?.name,
  groupHandle: (id) => ui.state?.groups.find((g) => g.id === id)?.handle,
};

// ---- messages ----

const time = (ts) =>
  new Date(Number(ts) * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

function avatar(name) {
  const node = el('div', 'avatar', (name[0] ?? '?').toUpperCase());
  node.dataset.hue = String([...name].reduce((h, c) => h + c.charCodeAt(0), 0) % 6);
  return node;
}

function fileCard(file) {
  const card = el('div', 'file');
  const head = card.appendChild(el('div', 'file-head'));
  head.append(
    el('span', 'file-icon', '📄'),
    el('span', 'file-title', file.title),
    el('span', 'file-name', file.name),
  );
  const toggle = head.appendChild(el('button', 'link-button', ui.openFiles.has(file.id) ? 'Hide' : 'Show'));
  toggle.type = 'button';
  toggle.addEventListener('click', () => {
    if (ui.openFiles.has(file.id)) ui.openFiles.delete(file.id);
    else ui.openFiles.add(file.id);
    render();
  });
  if (ui.openFiles.has(file.id)) card.append(el('pre', 'file-content', file.content));
  return card;
}

function message(m, channel, { ephemeral = false, replies } = {}) {
  const node = el('div', `message${ephemeral ? ' ephemeral' : ''}`);
  node.dataset.ts = m.ts;
  const name = ctx.userName(m.user ?? ui.state.botUserId) ?? m.user;
  node.append(avatar(name));
  const body = node.appendChild(el('div', 'message-body'));
  const meta = body.appendChild(el('div', 'message-meta'));
  meta.append(el('span', 'author', name));
  if (!m.user || m.user === ui.state.botUserId) meta.append(el('span', 'app-badge', 'APP'));
  meta.append(el('span', 'time', time(m.ts)));
  if (m.edited) meta.append(el('span', 'edited', '(edited)'));
  if (ephemeral) {
    meta.append(el('span', 'only-you', 'Only visible to you'));
    const dismiss = meta.appendChild(el('button', 'link-button', 'Dismiss'));
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => {
      ui.dismissed.add(m.ts);
      render();
    });
  }
  const content = body.appendChild(el('div', 'message-content'));
  if (m.blocks?.length) {
    const onClick = ephemeral
      ? undefined
      : (block, element, button) => {
          button.disabled = true;
          void api('click', { user: ui.user, channel, ts: m.ts, block, actionId: element.action_id }).finally(
            () => {
              button.disabled = false;
            },
          );
        };
    renderBlocks(m.blocks, content, ctx, { onClick });
  } else if (m.text) {
    renderMrkdwn(m.text, content.appendChild(el('div', 'bk-text')), ctx);
  }
  for (const file of m.files ?? []) body.append(fileCard(file));
  if (replies?.length) {
    const link = body.appendChild(
      el('button', 'replies', `${replies.length} ${replies.length === 1 ? 'reply' : 'replies'}`),
    );
    link.type = 'button';
    link.addEventListener('click', () => {
      ui.thread = m.ts;
      render();
    });
  }
  return node;
}

// ---- layout ----

function keepScroll(container, draw) {
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 60;
  const top = container.scrollTop;
  draw();
  container.scrollTop = atBottom ? container.scrollHeight : top;
}

function renderUsers() {
  const select = $('user');
  const wanted = ui.state.users.map((u) => `${u.id}:${u.groups.join(',')}`).join(';');
  if (select.dataset.users !== wanted) {
    select.replaceChildren(
      ...ui.state.users.map((u) => {
        const groups = u.groups.map((g) => `@${g}`).join(' ');
        return new Option(`${u.name}${groups ? ` (${groups})` : ''}`, u.id);
      }),
    );
    select.dataset.users = wanted;
  }
  select.value = ui.user;
}

function activity(channelId) {
  const messages = ui.state.messages[channelId] ?? [];
  return messages.reduce((n, m) => n + 1 + m.replies.length, 0);
}

function openChannel(id) {
  ui.channel = id;
  ui.thread = undefined;
  localStorage.setItem('sandbox-channel', id);
  render();
}

function renderChannels() {
  ui.seen[ui.channel] = activity(ui.channel);
  $('channels').replaceChildren(
    ...ui.state.channels.map((c) => {
      const item = el('li');
      const link = item.appendChild(el('button', `channel-link${c.id === ui.channel ? ' active' : ''}`));
      link.type = 'button';
      link.dataset.channelId = c.id;
      link.append(el('span', 'hash', '#'), el('span', 'channel-label', c.name));
      const unseen = activity(c.id) - (ui.seen[c.id] ?? 0);
      if (unseen > 0) link.append(el('span', 'unread', String(unseen)));
      link.addEventListener('click', () => openChannel(c.id));
      return item;
    }),
  );
}

function renderSamples() {
  const box = $('samples');
  if (box.childElementCount > 0) return;
  for (const sample of ui.state.samples) {
    const button = box.appendChild(el('button', `sample ${sample.status}`));
    button.type = 'button';
    button.dataset.sample = sample.id;
    button.append(el('span', 'sample-status', sample.status), el('span', 'sample-title', sample.title));
    button.addEventListener('click', async () => {
      const answer = await api('alert', { sample: sample.id });
      if (answer) showDelivery(answer);
    });
  }
}

// What the bot did with a sample alert, in words, next to the buttons: the composer stays clear.
const DELIVERED = {
  created: (ref) => `${ref} opened in `,
  reopened: (ref) => `${ref} reopened in `,
  updated: (ref) => `${ref} updated in `,
  duplicate: (ref) => `${ref} already shows this, in `,
  stale: () => 'A late copy: nothing changed in ',
  ignored: () => 'Resolved, and no incident is open for it in ',
  accepted: () => 'Stored; the bot is still taking it in, for ',
  refused: () => 'Stored, but the bot could not take it in (see its log); nothing changed in ',
};

function showDelivery({ status, body, channel }) {
  const node = $('sample-result');
  node.hidden = false;
  const said = status === 200 ? DELIVERED[body?.outcome] : undefined;
  if (!said) {
    node.replaceChildren(`The bot answered HTTP ${status}${body?.error ? `: ${body.error}` : ''}.`);
    return;
  }
  const link = el('button', 'channel-jump', `#${ctx.channelName(channel) ?? channel}`);
  link.type = 'button';
  link.addEventListener('click', () => openChannel(channel));
  node.replaceChildren(said(body.incident), link);
}

function renderChannel() {
  const channel = ui.state.channels.find((c) => c.id === ui.channel) ?? ui.state.channels[0];
  ui.channel = channel.id;
  $('channel-name').textContent = `# ${channel.name}`;
  const messages = ui.state.messages[channel.id] ?? [];
  const ephemerals = ui.state.ephemerals.filter((e) => e.channel === channel.id && !ui.dismissed.has(e.ts));
  const items = [
    ...messages.map((m) => ({ ts: m.ts, node: () => message(m, channel.id, { replies: m.replies }) })),
    ...ephemerals.map((e) => ({ ts: e.ts, node: () => message(e, channel.id, { ephemeral: true }) })),
  ].sort((a, b) => Number(a.ts) - Number(b.ts));
  keepScroll($('messages'), () => {
    $('messages').replaceChildren(
      ...(items.length
        ? items.map((i) => i.node())
        : [el('p', 'empty', 'Nothing here yet. Send a sample alert, or type a slash command below.')]),
    );
  });
}

function renderThread() {
  const pane = $('thread');
  const root = (ui.state.messages[ui.channel] ?? []).find((m) => m.ts === ui.thread);
  pane.hidden = !root;
  if (!root) return;
  keepScroll($('thread-messages'), () => {
    $('thread-messages').replaceChildren(
      message(root, ui.channel),
      el(
        'div',
        'thread-divider',
        `${root.replies.length} ${root.replies.length === 1 ? 'reply' : 'replies'}`,
      ),
      ...root.replies.map((r) => message(r, ui.channel)),
    );
  });
}

function renderModal() {
  const dialog = $('modal');
  const modal = ui.state.modal;
  if (!modal) {
    ui.modalId = undefined;
    if (dialog.open) dialog.close();
    return;
  }
  if (modal.id !== ui.modalId) {
    ui.modalId = modal.id;
    $('modal-title').textContent = modal.title.text;
    $('modal-submit').textContent = modal.submit?.text ?? 'Submit';
    $('modal-submit').hidden = !modal.submit;
    $('modal-close').textContent = modal.close?.text ?? 'Cancel';
    $('modal-blocks').replaceChildren();
    renderBlocks(modal.blocks, $('modal-blocks'), ctx, { errors: modal.errors });
    if (!dialog.open) dialog.showModal();
    return;
  }
  for (const node of $('modal-blocks').querySelectorAll('.bk-error')) node.remove();
  for (const [blockId, error] of Object.entries(modal.errors)) {
    const field = [...$('modal-blocks').querySelectorAll('.bk-input')].find(
      (n) => n.dataset.blockId === blockId,
    );
    if (field) field.append(el('span', 'bk-error', error));
  }
}

function render() {
  if (!ui.state) return;
  renderUsers();
  renderSamples();
  renderChannel();
  renderChannels();
  renderThread();
  renderModal();
}

let polls = 0;

async function poll() {
  // Polls overlap; only the newest may draw, or an answer for the previous user could show after a switch.
  const mine = ++polls;
  try {
    const res = await fetch(`/sandbox/api/state?user=${encodeURIComponent(ui.user)}`, { cache: 'no-store' });
    const raw = await res.text();
    if (mine !== polls || !res.ok || raw === ui.raw) return;
    ui.raw = raw;
    ui.state = JSON.parse(raw);
    render();
  } catch {
    toast('The sandbox is not answering: is incident-bot still running?');
  }
}

// ---- what the person does ----

$('user').addEventListener('change', (event) => {
  ui.user = event.target.value;
  localStorage.setItem('sandbox-user', ui.user);
  ui.raw = '';
  ui.modalId = undefined;
  void poll();
});

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('command').value.trim();
  if (!text) return;
  if (await api('command', { user: ui.user, channel: ui.channel, text })) $('command').value = '';
});

$('close-thread').addEventListener('click', () => {
  ui.thread = undefined;
  render();
});

$('modal-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const answer = await api('submit', {
    user: ui.user,
    view: ui.modalId,
    values: readInputs($('modal-blocks')),
  });
  if (answer && !answer.errors) $('modal').close();
});

async function closeModal() {
  if (ui.modalId) await api('close', { user: ui.user, view: ui.modalId });
  $('modal').close();
}
$('modal-close').addEventListener('click', closeModal);
$('modal').addEventListener('cancel', (event) => {
  event.preventDefault();
  void closeModal();
});

void poll();
setInterval(poll, POLL_MS);
