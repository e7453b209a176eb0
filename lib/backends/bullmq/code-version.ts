/**
 * The code version that ties jobs to workers: both sides must run the same build of the user's task
 * modules, so a job carries the submitter's version and a worker with another one refuses it.
 *
 * @packageDocumentation
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { InvalidOptionError } from '../../errors.js';

/** The environment variable that sets the code version on both sides. */
export const CODE_VERSION_ENV = 'MILLRACE_CODE_VERSION';

/**
 * The code version to use: the explicit one, else `$MILLRACE_CODE_VERSION`, else `name@version`
 * of the nearest `package.json` at or above `root` (the user's application, not millrace).
 *
 * @throws {@link InvalidOptionError} when none of the three gives a version
 */
export function resolveCodeVersion(explicit: string | undefined, root: string): string {
  if (explicit !== undefined) {
    if (explicit.trim() === '') throw new InvalidOptionError('codeVersion', explicit, 'a non-empty string');
    return explicit;
  }
  const fromEnv = process.env[CODE_VERSION_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv;
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (manifest !== null && typeof manifest === 'object' && 'name' in manifest && 'version' in manifest) {
        return `${String(manifest.name)}@${String(manifest.version)}`;
      }
    }
    if (dirname(dir) === dir) break;
  }
  throw new InvalidOptionError(
    'codeVersion',
    undefined,
    `a version string: pass codeVersion, set ${CODE_VERSION_ENV}, or run from a directory with a package.json that has a name and version`,
  );
}
