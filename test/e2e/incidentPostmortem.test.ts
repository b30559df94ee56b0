import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST_ATTEMPT_MAX_MS } from '../../src/db/slackPostIntents.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import {
  blockActionsPayload,
  clickOn,
  INCIDENT_CHANNEL,
  messageOf,
  sendPayload,
  slashCommand,
} from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const text = (value: unknown) => JSON.stringify(value);

/** Declares an incident in the war room and waits for its root there; its INC ref. */
async function declaredAndShown(bot: TestBot, title: string): Promise<string> {
  const ref = /Declared (INC-\d+)/.exec((await slashCommand(bot, `declare P3 ${title}`)).text)![1]!;
  await waitFor(
    () =>
      bot.slack.emulator.channelMessages(INCIDENT_CHANNEL).find((m) => text(m.blocks).includes(`${ref} ·`)),
    20_000,
    `${ref}'s root`,
  );
  return ref;
}

describe('post-mortem skeletons in the thread', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}\nincidents:\n  postmortemOnResolve: true\n`,
    });
    bot.slack.emulator.addUser({ id: 'U0ALICE', name: 'alice', realName: 'Alice Liddell' });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('uploads the skeleton into the thread from the command, the button, and on resolve; each run the latest', async () => {
    const declared = await slashCommand(bot, 'declare P2 Nightly export is late');
    const ref = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    const id = ref.slice(4);
    const root = await waitFor(
      () =>
        bot.slack.emulator.channelMessages(INCIDENT_CHANNEL).find((m) => text(m.blocks).includes(`${ref} ·`)),
      20_000,
      'root',
    );
    const filesInThread = () =>
      bot.slack.emulator.files().filter((f) => f.channel === INCIDENT_CHANNEL && f.threadTs === root.ts);

    expect((await slashCommand(bot, `postmortem ${ref}`)).text).toMatch(/Writing the post-mortem skeleton/);
    const first = await waitFor(() => filesInThread()[0], 20_000, 'first upload');
    expect(first.filename).toBe(`${ref}-postmortem.md`);
    expect(first.content).toContain(`# Post-Mortem: ${ref} — Nightly export is late`);
    expect(first.content).toContain('Incident declared by Alice Liddell: P2: Nightly export is late');

    await slashCommand(bot, `note ${ref} Export job was stuck behind a lock`);
    expect(await clickOn(bot, 'incident', id, 'incident_postmortem')).toBe(200);
    const second = await waitFor(() => filesInThread()[1], 20_000, 'second upload');
    expect(second.content).toContain('Export job was stuck behind a lock');

    await slashCommand(bot, `resolve ${ref} Killed the blocking query and re-ran the export`);
    const third = await waitFor(() => filesInThread()[2], 20_000, 'upload on resolve');
    expect(third.content).toContain('Killed the blocking query and re-ran the export');

    // The bot records the file once Slack has it: a moment after the emulator shows it.
    const rows = await waitFor(
      async () => {
        const { rows } = await bot.app.pool.query(
          'SELECT revision, slack_file_id, markdown FROM postmortems WHERE incident_id = $1',
          [Number(id)],
        );
        return rows[0]?.slack_file_id === third.id && rows;
      },
      20_000,
      'the third upload recorded',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].revision).toBe(3);
    expect(rows[0].markdown).toBe(third.content);
    await waitFor(
      () =>
        text(bot.slack.emulator.threadOf(INCIDENT_CHANNEL, root.ts).map((m) => m.blocks)).includes(
          'revision 3',
        ),
      20_000,
      'thread note of revision 3',
    );
    // The resolution does not ask for a post-mortem that is already on its way.
    const thread = text(bot.slack.emulator.threadOf(INCIDENT_CHANNEL, root.ts).map((m) => m.blocks));
    expect(thread).toContain('Killed the blocking query');
    expect(thread).not.toContain('/incident postmortem');
  });

  it('names people by what Slack calls them, and keeps the id of one it cannot name', async () => {
    bot.slack.emulator.addUser({ id: 'U0BOB', name: 'bob', realName: 'Bob Marley' });
    bot.slack.emulator.forgetUser('U0MALLORY');
    const declared = await slashCommand(bot, 'declare P2 Who was there');
    const ref = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    await slashCommand(bot, `assign ${ref} commander <@U0BOB|bob>`);
    await slashCommand(bot, `assign ${ref} scribe <@U0MALLORY|mallory>`);
    await slashCommand(bot, `note ${ref} Paged the database team`, { user: 'U0MALLORY' });
    expect((await slashCommand(bot, `postmortem ${ref}`)).text).toMatch(/Writing the post-mortem skeleton/);
    const file = await waitFor(
      () => bot.slack.emulator.files().find((f) => f.filename === `${ref}-postmortem.md`),
      20_000,
      'the post-mortem',
    );
    expect(file.content).toContain('- **Opened by**: Alice Liddell\n');
    expect(file.content).toContain('- **Commander**: Bob Marley\n');
    expect(file.content).toContain('- **Scribe**: @U0MALLORY\n');
    expect(file.content).toContain('Commander assigned by Alice Liddell: Bob Marley');
    expect(file.content).toContain('Note by @U0MALLORY: Paged the database team');
    expect(file.content).not.toContain('U0BOB');
    expect(file.content).not.toContain('@U0ALICE');
  });

  it('writes it once for a Post-mortem click Slack delivers twice', async () => {
    const declared = await slashCommand(bot, 'declare P3 Replayed post-mortem click');
    const id = /Declared INC-(\d+)/.exec(declared.text)![1]!;
    const click = blockActionsPayload('incident_postmortem', id, await messageOf(bot, 'incident', id));
    expect(await sendPayload(bot, click)).toBe(200);
    expect(await sendPayload(bot, click)).toBe(200);
    await waitFor(
      () => bot.slack.emulator.ephemerals().some((e) => e.text.includes('already handled')),
      20_000,
      'the replay refused',
    );
    await waitForQueueIdle(bot.app.tasks, 20_000, ['commander-reminder', 'update-reminder']);
    const { rows } = await bot.app.pool.query('SELECT revision FROM postmortems WHERE incident_id = $1', [
      Number(id),
    ]);
    expect(rows).toEqual([{ revision: 1 }]);
  });
});

describe('a post-mortem Slack refuses to take', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  // Tried 100 times over hours, then queued again by the sweep, a revision written each time, for ever.
  it('is tried once, and its request ended', async () => {
    const ref = await declaredAndShown(bot, 'Uploads turned off');
    bot.slack.emulator.failNext('files.getUploadURLExternal', { error: 'missing_scope' });
    await slashCommand(bot, `postmortem ${ref}`);
    await waitFor(
      async () => (await bot.app.pool.query('SELECT 1 FROM postmortem_requests')).rows.length === 0,
      20_000,
      'the request ended',
    );
    await waitForQueueIdle(bot.app.tasks, 20_000, ['commander-reminder', 'update-reminder']);
    expect(bot.slack.emulator.callsOf('files.getUploadURLExternal')).toHaveLength(1);
  });

  // A war room archived after the incident: the request was ended, and the post-mortem never written.
  it('is uploaded where the incident moved when its channel refuses the bot', async () => {
    const ref = await declaredAndShown(bot, 'Room archived');
    bot.slack.emulator.refuseChannel(INCIDENT_CHANNEL, 'is_archived');
    bot.slack.emulator.failNext('files.completeUploadExternal', { error: 'is_archived' });
    await slashCommand(bot, `postmortem ${ref}`);
    const file = await waitFor(
      () => bot.slack.emulator.files().find((f) => f.filename === `${ref}-postmortem.md` && f.channel),
      20_000,
      'the post-mortem shared',
    );
    expect(file.channel).toBe('C0DEFAULT1');
  });
});

describe('a post-mortem whose share got no answer', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const sharedFiles = (ref: string) =>
    bot.slack.emulator.files().filter((f) => f.filename === `${ref}-postmortem.md` && f.channel);
  const recordedFile = async (ref: string) => {
    const { rows } = await bot.app.pool.query(
      'SELECT slack_file_id FROM postmortems WHERE incident_id = $1',
      [Number(ref.slice(4))],
    );
    return (rows[0]?.slack_file_id as string | null | undefined) ?? undefined;
  };

  // The retry uploaded it again: the thread showed two post-mortems.
  it('is found in the thread and taken when Slack shared it, not shared again', async () => {
    const ref = await declaredAndShown(bot, 'Share answer cut');
    bot.slack.emulator.failNext('files.completeUploadExternal', { answerLost: true });
    await slashCommand(bot, `postmortem ${ref}`);
    const fileId = await waitFor(() => recordedFile(ref), 20_000, 'the post-mortem recorded');
    await waitForQueueIdle(bot.app.tasks, 20_000, ['commander-reminder', 'update-reminder']);
    expect(sharedFiles(ref).map((f) => f.id)).toEqual([fileId]);
    expect(bot.slack.emulator.callsOf('files.completeUploadExternal')).toHaveLength(1);
  });

  // Its job run again after it recorded the file (stalled: its process died before BullMQ knew) shared it again.
  it('is not shared again by its job run again after the file was recorded', async () => {
    const ref = await declaredAndShown(bot, 'Job ran twice');
    const id = Number(ref.slice(4));
    await slashCommand(bot, `postmortem ${ref}`);
    await waitFor(() => recordedFile(ref), 20_000, 'the post-mortem recorded');
    const staged = bot.slack.emulator.callsOf('files.getUploadURLExternal').length;
    await bot.app.tasks.add(
      'postmortem',
      { kind: 'postmortem', incidentId: id, requestedBy: 'U0ALICE', revision: 1 },
      { jobId: `postmortem-${id}-again` },
    );
    await waitForQueueIdle(bot.app.tasks, 20_000, ['commander-reminder', 'update-reminder']);
    expect(sharedFiles(ref)).toHaveLength(1);
    expect(bot.slack.emulator.callsOf('files.getUploadURLExternal')).toHaveLength(staged);
  });

  const shares = () => bot.slack.emulator.callsOf('files.completeUploadExternal').length;

  /**
   * Asks for the post-mortem of a new incident and holds its job as it stages its file; `second` then
   * runs the same revision's job again beside it (as another worker does once the first's lock lapsed)
   * and waits for what it needs; then the first is let go, and how it stopped is told: waiting, or ended.
   */
  async function twoRunsAtOnce(
    title: string,
    second: (runAgain: () => Promise<unknown>, ref: string) => Promise<unknown>,
  ) {
    const ref = await declaredAndShown(bot, title);
    const id = Number(ref.slice(4));
    const first = `postmortem-${id}`;
    const stageFirst = bot.slack.emulator.hold('files.getUploadURLExternal');
    await slashCommand(bot, `postmortem ${ref}`);
    await stageFirst.reached;
    await second(
      () =>
        bot.app.tasks.add(
          'postmortem',
          { kind: 'postmortem', incidentId: id, requestedBy: 'U0ALICE', revision: 1 },
          { jobId: `${first}-again` },
        ),
      ref,
    );
    stageFirst.release();
    const firstRun = await waitFor(
      async () => {
        const job = await bot.app.tasks.getJob(first);
        if (job && (await job.isDelayed())) return 'waits';
        return !job || (await job.isCompleted()) ? 'ended' : undefined;
      },
      20_000,
      'the first run to stop',
    );
    return { ref, first, firstRun };
  }

  // Both runs read no share, both wrote theirs over the other's and shared: two files in the thread, and
  // the later one recorded over the first.
  it('is shared once by two runs of its revision at once, the first waiting for the share of the second', async () => {
    const sharesBefore = shares();
    const shareSecond = bot.slack.emulator.hold('files.completeUploadExternal');
    const { ref, first, firstRun } = await twoRunsAtOnce('Two runs at once', async (runAgain) => {
      await runAgain();
      await shareSecond.reached;
    });
    shareSecond.release();
    const fileId = await waitFor(() => recordedFile(ref), 20_000, 'the post-mortem recorded');
    // The first's job comes back once that share has settled (brought forward here): the file is recorded.
    if (firstRun === 'waits') await (await bot.app.tasks.getJob(first))!.promote();
    await waitForQueueIdle(bot.app.tasks, 20_000, ['commander-reminder', 'update-reminder']);
    expect(sharedFiles(ref).map((f) => f.id)).toEqual([fileId]);
    expect(shares()).toBe(sharesBefore + 1);
    expect(await recordedFile(ref)).toBe(fileId);
    expect(firstRun).toBe('waits');
  });

  it('is shared once by two runs of its revision at once, the first ending when the second recorded it', async () => {
    const sharesBefore = shares();
    const { ref, firstRun } = await twoRunsAtOnce('Two runs, one done', async (runAgain, ref) => {
      await runAgain();
      await waitFor(() => recordedFile(ref), 20_000, "the second run's file recorded");
    });
    expect(firstRun).toBe('ended');
    expect(shares()).toBe(sharesBefore + 1);
    expect(sharedFiles(ref)).toHaveLength(1);
  });

  // The sweep's job, with no revision of its own, wrote and shared a second one.
  it("is found by the sweep's job when Redis lost the job whose share it was", async () => {
    const ref = await declaredAndShown(bot, 'Share cut, job lost');
    const id = Number(ref.slice(4));
    bot.slack.emulator.failNext('files.completeUploadExternal', { answerLost: true });
    // Its retries cannot look (Slack fails the thread's reads), so the job waits out a backoff.
    bot.slack.emulator.failNext('conversations.replies', { status: 503 }, 3);
    await slashCommand(bot, `postmortem ${ref}`);
    // Redis loses the job as it waits; the sweep queues the request again, without a revision.
    await waitFor(
      async () => {
        const job = await bot.app.tasks.getJob(`postmortem-${id}`);
        if (!job || !(await job.isDelayed())) return false;
        await job.remove();
        return true;
      },
      20_000,
      'the job waiting out a backoff',
    );
    await bot.app.effects.sweptTo(
      { kind: 'postmortem', incidentId: id, requestedBy: 'U0SWEPT', swept: true },
      new Date(),
    );
    const fileId = await waitFor(() => recordedFile(ref), 30_000, 'the post-mortem recorded');
    expect(sharedFiles(ref).map((f) => f.id)).toEqual([fileId]);
    const { rows } = await bot.app.pool.query('SELECT revision FROM postmortems WHERE incident_id = $1', [
      id,
    ]);
    expect(rows).toEqual([{ revision: 1 }]);
  });

  it('is shared again once Slack can no longer take the share it never carried out', async () => {
    const ref = await declaredAndShown(bot, 'Share never arrived');
    // A gateway's 502: Slack never saw the share, and the caller cannot know it.
    bot.slack.emulator.failNext('files.completeUploadExternal', { status: 502 });
    const before = bot.slack.emulator.calls.length;
    await slashCommand(bot, `postmortem ${ref}`);
    const fileId = await waitFor(() => recordedFile(ref), 60_000, 'the post-mortem recorded');
    expect(sharedFiles(ref).map((f) => f.id)).toEqual([fileId]);
    // Looked for first, and shared again only after the 30 s Slack may still take it in.
    const calls = bot.slack.emulator.calls.slice(before);
    const replies = calls.filter((c) => c.method === 'conversations.replies');
    const shares = calls.filter((c) => c.method === 'files.completeUploadExternal');
    expect(shares).toHaveLength(2);
    expect(shares[1]!.at - shares[0]!.at).toBeGreaterThanOrEqual(POST_ATTEMPT_MAX_MS - 1000);
    expect(replies.some((c) => c.at > shares[0]!.at && c.at < shares[1]!.at)).toBe(true);
  }, 90_000);
});

describe('a post-mortem whose job Redis lost', () => {
  let bot: TestBot;
  afterAll(async () => {
    await bot?.stop();
  });

  it('is written by the bot started after it, once, and a request already answered is not', async () => {
    bot = await startTestBot();
    const ref = await declaredAndShown(bot, 'Queue lost the post-mortem');
    const answered = await declaredAndShown(bot, 'Written before');
    await slashCommand(bot, `postmortem ${answered}`);
    await waitFor(() => bot.slack.emulator.files()[0], 20_000, 'the first post-mortem');
    // Slack down for uploads: the job waits out its retries in Redis.
    bot.slack.emulator.failNext('files.getUploadURLExternal', { status: 503 }, 1000);
    await slashCommand(bot, `postmortem ${ref}`);
    await waitFor(() => bot.slack.emulator.callsOf('files.getUploadURLExternal').length > 1, 20_000, 'a try');
    // The bot started after it has a Redis with none of its jobs.
    await bot.stop({ keepDatabase: true });
    bot = await startTestBot({ database: bot.database });
    const file = await waitFor(() => bot.slack.emulator.files()[0], 20_000, 'the post-mortem uploaded');
    expect(file.filename).toBe(`${ref}-postmortem.md`);
    // The sweep's job for a request answered as it read it (its upload recorded since) writes nothing.
    const answeredId = Number(answered.slice(4));
    await bot.app.tasks.add(
      'postmortem',
      { kind: 'postmortem', incidentId: answeredId, requestedBy: 'U0SWEPT', swept: true },
      { jobId: `postmortem-${answeredId}` },
    );
    await waitForQueueIdle(bot.app.tasks, 20_000, ['commander-reminder', 'update-reminder']);
    expect(bot.slack.emulator.files()).toHaveLength(1);
    const { rows } = await bot.app.pool.query(
      'SELECT incident_id::int AS id, revision, slack_file_id IS NOT NULL AS uploaded FROM postmortems',
    );
    // The revision its lost job wrote was never uploaded: the next is written from the record as it stands.
    expect(rows.sort((a, b) => a.id - b.id)).toEqual([
      { id: Number(ref.slice(4)), revision: 2, uploaded: true },
      { id: answeredId, revision: 1, uploaded: true },
    ]);
    expect((await bot.app.pool.query('SELECT 1 FROM postmortem_requests')).rows).toEqual([]);
  });
});
