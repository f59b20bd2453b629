/** true when A and B are the same type (not merely assignable either way: readonly and optional count). */
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;

/** Compiles only when T is true: `assertType<Equal<typeof x, Expected>>()`. */
export function assertType<T extends true>(): T | void {}
