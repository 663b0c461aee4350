import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from './errors.js';

/** The local server's address (`npm start`, functions/server.ts). */
export const LOCAL_DEFAULT_URL = 'http://127.0.0.1:8080';

export interface Connection {
  url: string;
  token: string | undefined;
  /** Where each came from, for `--verbose` messages and the hint after a 401. */
  source: { url: Source; token: Source | 'none' };
}
export type Source = 'flag' | 'env' | 'admin-token-file' | 'profile' | 'default';

export interface ConnectionInputs {
  flags: { url?: string | undefined; token?: string | undefined; profile?: string | undefined };
  env: Readonly<Record<string, string | undefined>>;
  platform: NodeJS.Platform;
  home: string;
  cwd: string;
  /** A file's text, or undefined when it does not exist. */
  readText: (path: string) => string | undefined;
}

/** A profile: a named server and token, kept in the profile file. */
export interface Profile {
  url?: string;
  token?: string;
}

/**
 * The directory for the user's configuration, by the platform's convention: `%APPDATA%` on Windows,
 * `~/Library/Application Support` on macOS, `$XDG_CONFIG_HOME` or `~/.config` elsewhere.
 */
export function configDir(platform: NodeJS.Platform, env: ConnectionInputs['env'], home: string): string {
  if (platform === 'win32') return env.APPDATA || join(home, 'AppData', 'Roaming');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support');
  return env.XDG_CONFIG_HOME || join(home, '.config');
}

/** The profile file: `<config dir>/sluice/profiles.json`. */
export function profilePath(platform: NodeJS.Platform, env: ConnectionInputs['env'], home: string): string {
  return join(configDir(platform, env, home), 'sluice', 'profiles.json');
}

/**
 * The profiles in a profile file's text: `{ "profiles": { "<name>": { "url": "…", "token": "…" } } }`.
 * Profile names are data: they become keys of a Map, never properties of an object.
 */
export function parseProfiles(text: string, path: string): Map<string, Profile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not JSON: ${(error as Error).message}`);
  }
  const profiles = new Map<string, Profile>();
  const root = isObject(parsed) ? parsed : undefined;
  const entries = root !== undefined && Object.hasOwn(root, 'profiles') ? root.profiles : undefined;
  if (!isObject(entries)) {
    throw new UsageError(`${path} must hold { "profiles": { "<name>": { "url": "…", "token": "…" } } }`);
  }
  for (const [name, value] of Object.entries(entries)) {
    if (!isObject(value)) throw new UsageError(`${path}: profile '${name}' must be an object`);
    const profile: Profile = {};
    for (const field of ['url', 'token'] as const) {
      const v = Object.hasOwn(value, field) ? value[field] : undefined;
      if (v === undefined) continue;
      if (typeof v !== 'string')
        throw new UsageError(`${path}: profile '${name}': ${field} must be a string`);
      profile[field] = v;
    }
    profiles.set(name, profile);
  }
  return profiles;
}

/** The profile file's text with `profile` set under `name` (other profiles kept as they are). */
export function withProfile(text: string | undefined, path: string, name: string, profile: Profile): string {
  const profiles = text === undefined ? new Map<string, Profile>() : parseProfiles(text, path);
  profiles.set(name, profile);
  // JSON.stringify of an entries list would lose nothing, but the file's shape is an object of profiles;
  // Object.fromEntries defines own properties (a profile named __proto__ stays a profile).
  return `${JSON.stringify({ profiles: Object.fromEntries(profiles) }, null, 2)}\n`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** True for the local server's address (127.0.0.1 or localhost, port 8080). */
export function isLocalDefault(url: string): boolean {
  try {
    const origin = new URL(url).origin;
    return origin === LOCAL_DEFAULT_URL || origin === 'http://localhost:8080';
  } catch {
    return false;
  }
}

/**
 * Where the CLI connects, and with which token. The URL: `--url`, else `SLUICE_URL`, else the profile's,
 * else the local default. The token: `--token`, else `SLUICE_TOKEN`, else `SLUICE_ADMIN_TOKEN`, else, when
 * the URL is the local default, the admin token the local server keeps in `.sluice/admin-token` (under
 * `SLUICE_DATA_DIR` if set, as the server does), else the profile's (only when the URL is the profile's: a
 * token is never sent to a server it was not saved for). The profile is `--profile NAME`, else
 * `SLUICE_PROFILE`, else the profile named `default` if the file has one.
 */
export function resolveConnection(inputs: ConnectionInputs): Connection {
  const { flags, env } = inputs;
  const profile = loadProfile(inputs);
  let url: string;
  let urlSource: Source;
  if (flags.url !== undefined) [url, urlSource] = [flags.url, 'flag'];
  else if (env.SLUICE_URL) [url, urlSource] = [env.SLUICE_URL, 'env'];
  else if (profile?.url !== undefined) [url, urlSource] = [profile.url, 'profile'];
  else [url, urlSource] = [LOCAL_DEFAULT_URL, 'default'];
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new UsageError(`the server URL '${url}' (from ${urlSource}) is not an http or https URL`);
  }
  url = url.replace(/\/+$/, '');

  let token: string | undefined;
  let tokenSource: Source | 'none' = 'none';
  if (flags.token !== undefined) [token, tokenSource] = [flags.token, 'flag'];
  else if (env.SLUICE_TOKEN) [token, tokenSource] = [env.SLUICE_TOKEN, 'env'];
  else if (env.SLUICE_ADMIN_TOKEN) [token, tokenSource] = [env.SLUICE_ADMIN_TOKEN, 'env'];
  else {
    const local = isLocalDefault(url)
      ? inputs.readText(join(resolve(inputs.cwd, env.SLUICE_DATA_DIR || '.sluice'), 'admin-token'))?.trim()
      : undefined;
    if (local) [token, tokenSource] = [local, 'admin-token-file'];
    // A profile's token belongs to the profile's server: it is not sent to a URL given another way.
    else if (profile?.token !== undefined && (profile.url === undefined || sameOrigin(profile.url, url))) {
      [token, tokenSource] = [profile.token, 'profile'];
    }
  }
  return { url, token, source: { url: urlSource, token: tokenSource } };
}

function loadProfile(inputs: ConnectionInputs): Profile | undefined {
  const named = inputs.flags.profile ?? (inputs.env.SLUICE_PROFILE || undefined);
  const path = profilePath(inputs.platform, inputs.env, inputs.home);
  const text = inputs.readText(path);
  if (text === undefined) {
    if (named !== undefined) throw new UsageError(`no profile '${named}': ${path} does not exist`);
    return undefined;
  }
  const profiles = parseProfiles(text, path);
  if (named === undefined) return profiles.get('default');
  const profile = profiles.get(named);
  if (profile === undefined) {
    const names = [...profiles.keys()];
    throw new UsageError(
      `no profile '${named}' in ${path}${names.length > 0 ? ` (it has: ${names.join(', ')})` : ''}`,
    );
  }
  return profile;
}

/** A file's text, or undefined when it cannot be read (missing, a directory, no permission). */
export function readTextIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** resolveConnection with this process's environment, platform, home and working directory. */
export function connectionFromProcess(flags: ConnectionInputs['flags']): Connection {
  return resolveConnection({
    flags,
    env: process.env,
    platform: process.platform,
    home: homedir(),
    cwd: process.cwd(),
    readText: readTextIfExists,
  });
}
