import { InitialSchema1764140000000 } from '../../migrations/1764140000000-InitialSchema.js';

/** Every migration, oldest first. Listed explicitly so that tests and builds load the same set. */
export const MIGRATIONS = [InitialSchema1764140000000];
