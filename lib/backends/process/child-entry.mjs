// The file each child process of the process backend starts with: the child (child.js built,
// child.ts from source; see ../load-entry.mjs).
import { loadEntry } from '../load-entry.mjs';

await loadEntry(import.meta.url, 'child');
