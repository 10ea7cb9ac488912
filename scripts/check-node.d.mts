// Types for check-node.mjs (plain JavaScript, so that it runs on any Node before anything else).
export declare const MINIMUM_NODE: string;
export declare function nodeVersionProblem(version?: string): string | null;
export declare function requireSupportedNode(): void;
