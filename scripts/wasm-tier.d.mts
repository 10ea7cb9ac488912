// Types for wasm-tier.mjs (plain JavaScript, run by dist/server.mjs before the gateway bundle loads).
export declare function needsLiftoffOnly(options?: {
  env?: Record<string, string | undefined>;
  execArgv?: readonly string[];
  dotenvText?: string;
}): boolean;
export declare function restartForPglite(): void;
