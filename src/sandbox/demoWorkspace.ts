import type { EmulatedUser, SlackEmulator } from './slackEmulator.js';

/**
 * The people, channels and user group the sandbox's Slack starts with. config/sandbox.yml names the
 * channels by these ids and the approvers by the group's handle.
 */

export const DEMO_USERS: readonly EmulatedUser[] = [
  { id: 'U0ALICE', name: 'alice', realName: 'Alice (developer)' },
  { id: 'U0BOB', name: 'bob', realName: 'Bob (SRE on call)' },
  { id: 'U0CAROL', name: 'carol', realName: 'Carol (SRE on call)' },
];

export const DEMO_CHANNELS = [
  { id: 'C0INCIDENTS', name: 'incidents' },
  { id: 'C0PAYMENTS', name: 'payments' },
] as const;

export const SRE_ONCALL = { id: 'S0SREONCALL', handle: 'sre-oncall', users: ['U0BOB', 'U0CAROL'] } as const;

export function seedDemoWorkspace(emulator: SlackEmulator): void {
  for (const user of DEMO_USERS) emulator.addUser(user);
  for (const channel of DEMO_CHANNELS) {
    const made = emulator.createChannel(channel.name, false, channel.id);
    made.members.push(...DEMO_USERS.map((u) => u.id));
  }
  emulator.addUserGroup(SRE_ONCALL.id, SRE_ONCALL.handle, [...SRE_ONCALL.users]);
}
