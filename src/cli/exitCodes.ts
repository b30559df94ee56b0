/** The CLI's exit codes, from sysexits(3), so scripts and orchestrators can tell failures apart. */
export const EXIT_USAGE = 64;
export const EXIT_DATA = 65;
export const EXIT_NO_INPUT = 66;
/** A service the bot cannot start without (PostgreSQL, Redis) does not answer. */
export const EXIT_UNAVAILABLE = 69;
/** A problem an operator must fix in the env, the YAML file, the templates or the database schema. */
export const EXIT_CONFIG = 78;
