/** Injection token of this node's NodeIdentity (its id and private keys, imported once). */
export const NODE_IDENTITY = Symbol('NODE_IDENTITY');
