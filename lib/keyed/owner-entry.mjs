// The file each partition owner thread starts with: the owner (owner.js built, owner.ts from
// source; see ../backends/load-entry.mjs).
import { loadEntry } from '../backends/load-entry.mjs';

await loadEntry(import.meta.url, 'owner');
