// The chat endpoint's name, in a file that imports nothing: it is also the `endpoint` column's default
// (migration 0006: rows made before endpoints were recorded are chat), which the db layer reads.
export const DEFAULT_ENDPOINT = 'chat.completions';
