/** The statuses a status update can give an incident; it becomes `resolved` only by being resolved. */
export const UPDATE_STATUSES = ['investigating', 'identified', 'monitoring'] as const;
export type UpdateStatus = (typeof UPDATE_STATUSES)[number];
