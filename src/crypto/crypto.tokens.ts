/** Injection token of the process's KeyMaterial (loaded before Nest boots). */
export const KEY_MATERIAL = Symbol('KEY_MATERIAL');
