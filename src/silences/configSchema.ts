import { z } from 'zod';
import { PersonOrGroup } from '../actions/catalog.js';
import { Duration } from '../primitives/duration.js';

/** `silences` in the YAML config: how long a silence may last and who may set one. */
export const SilencesConfigSchema = z
  .object({
    // The longest silence (and extension) anyone may ask for: a forgotten silence hides the next outage.
    maxDuration: Duration.default(7 * 86_400_000),
    // Who may silence, extend and unsilence; anyone who can use the channel when left out.
    silencers: z
      .array(PersonOrGroup)
      .min(1, 'expected at least one silencer (leave silencers out to let anyone silence)')
      .optional(),
  })
  .strict()
  .prefault({});

export type SilencesConfig = z.infer<typeof SilencesConfigSchema>;
