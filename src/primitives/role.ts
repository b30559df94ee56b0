/** The people an incident names, besides whoever declared it. */
export const ROLES = ['commander', 'scribe', 'comms'] as const;
export type Role = (typeof ROLES)[number];
