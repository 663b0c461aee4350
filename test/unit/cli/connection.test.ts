import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ConnectionInputs,
  configDir,
  parseProfiles,
  profilePath,
  resolveConnection,
  withProfile,
} from '../../../cli/connection.js';
import { UsageError } from '../../../cli/errors.js';

const HOME = '/home/ada';
const CWD = '/work/project';
const PROFILE_FILE = join(HOME, '.config', 'sluice', 'profiles.json');
const ADMIN_TOKEN_FILE = join(CWD, '.sluice', 'admin-token');

function inputs(over: {
  flags?: ConnectionInputs['flags'];
  env?: Record<string, string>;
  files?: Record<string, string>;
}): ConnectionInputs {
  const files = new Map(Object.entries(over.files ?? {}));
  return {
    flags: over.flags ?? {},
    env: over.env ?? {},
    platform: 'linux',
    home: HOME,
    cwd: CWD,
    readText: (path) => files.get(path),
  };
}

const profiles = JSON.stringify({
  profiles: {
    default: { url: 'http://127.0.0.1:8080', token: 'profile-default-token' },
    prod: { url: 'https://sluice.example.com', token: 'profile-prod-token' },
  },
});

describe('connection resolution: flags > env > the local admin token file > profile', () => {
  const everything = {
    flags: { url: 'http://flag:1', token: 'flag-token' },
    env: { SLUICE_URL: 'http://env:2', SLUICE_TOKEN: 'env-token', SLUICE_ADMIN_TOKEN: 'env-admin-token' },
    files: { [PROFILE_FILE]: profiles, [ADMIN_TOKEN_FILE]: 'file-admin-token\n' },
  };

  it('flags win over everything', () => {
    const c = resolveConnection(inputs(everything));
    expect([c.url, c.token]).toEqual(['http://flag:1', 'flag-token']);
    expect(c.source).toEqual({ url: 'flag', token: 'flag' });
  });

  it('then SLUICE_URL and SLUICE_TOKEN', () => {
    const c = resolveConnection(inputs({ ...everything, flags: {} }));
    expect([c.url, c.token]).toEqual(['http://env:2', 'env-token']);
  });

  it('then SLUICE_ADMIN_TOKEN when SLUICE_TOKEN is unset', () => {
    const c = resolveConnection(
      inputs({ ...everything, flags: {}, env: { SLUICE_ADMIN_TOKEN: 'env-admin-token' } }),
    );
    expect([c.url, c.token]).toEqual(['http://127.0.0.1:8080', 'env-admin-token']);
  });

  it("then, for the local default URL, the local server's .sluice/admin-token (before the profile)", () => {
    const c = resolveConnection(inputs({ files: everything.files }));
    expect([c.url, c.token]).toEqual(['http://127.0.0.1:8080', 'file-admin-token']);
    expect(c.source.token).toBe('admin-token-file');
  });

  it('reads the admin token file under SLUICE_DATA_DIR when set, as the server does', () => {
    const c = resolveConnection(
      inputs({
        env: { SLUICE_DATA_DIR: '/var/sluice' },
        files: { '/var/sluice/admin-token': 'moved-token' },
      }),
    );
    expect(c.token).toBe('moved-token');
  });

  it('never sends the local admin token to another server', () => {
    const files = { [ADMIN_TOKEN_FILE]: 'file-admin-token' };
    const c = resolveConnection(inputs({ flags: { url: 'https://elsewhere.example.com' }, files }));
    expect(c.token).toBeUndefined();
  });

  it("never sends a profile's token to a URL other than the profile's", () => {
    const c = resolveConnection(
      inputs({ flags: { url: 'https://elsewhere.example.com' }, files: { [PROFILE_FILE]: profiles } }),
    );
    expect(c.token).toBeUndefined();
  });

  it('then the profile: the one named by --profile, with its URL and token', () => {
    const c = resolveConnection(inputs({ flags: { profile: 'prod' }, files: everything.files }));
    expect([c.url, c.token]).toEqual(['https://sluice.example.com', 'profile-prod-token']);
    expect(c.source).toEqual({ url: 'profile', token: 'profile' });
  });

  it('a profile named "default" is used without --profile, and SLUICE_PROFILE names one too', () => {
    expect(resolveConnection(inputs({ files: { [PROFILE_FILE]: profiles } })).token).toBe(
      'profile-default-token',
    );
    const named = resolveConnection(
      inputs({ env: { SLUICE_PROFILE: 'prod' }, files: { [PROFILE_FILE]: profiles } }),
    );
    expect(named.url).toBe('https://sluice.example.com');
  });

  it('falls back to http://127.0.0.1:8080 and no token', () => {
    const c = resolveConnection(inputs({}));
    expect([c.url, c.token, c.source.token]).toEqual(['http://127.0.0.1:8080', undefined, 'none']);
  });

  it('refuses a missing profile and a URL that is not http as usage errors', () => {
    expect(() =>
      resolveConnection(inputs({ flags: { profile: 'nope' }, files: { [PROFILE_FILE]: profiles } })),
    ).toThrow(/no profile 'nope'.*default, prod/);
    expect(() => resolveConnection(inputs({ flags: { profile: 'nope' } }))).toThrow(UsageError);
    expect(() => resolveConnection(inputs({ flags: { url: 'ftp://x' } }))).toThrow(UsageError);
  });
});

describe('the profile file', () => {
  it("lives in the platform's config directory", () => {
    expect(configDir('linux', {}, HOME)).toBe('/home/ada/.config');
    expect(configDir('linux', { XDG_CONFIG_HOME: '/xdg' }, HOME)).toBe('/xdg');
    expect(configDir('darwin', {}, HOME)).toBe('/home/ada/Library/Application Support');
    expect(configDir('win32', { APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' }, HOME)).toBe(
      'C:\\Users\\ada\\AppData\\Roaming',
    );
    expect(profilePath('linux', {}, HOME)).toBe(PROFILE_FILE);
  });

  it('keeps profile names as data, even __proto__', () => {
    const text = withProfile(undefined, 'p.json', '__proto__', { url: 'http://x:1', token: 't' });
    const read = parseProfiles(text, 'p.json');
    expect([...read.keys()]).toEqual(['__proto__']);
    expect(read.get('__proto__')).toEqual({ url: 'http://x:1', token: 't' });
    expect(parseProfiles(withProfile(text, 'p.json', 'b', {}), 'p.json').size).toBe(2);
  });

  it('refuses a file of the wrong shape as a usage error', () => {
    expect(() => parseProfiles('not json', 'p.json')).toThrow(UsageError);
    expect(() => parseProfiles('{"profiles":{"a":{"url":5}}}', 'p.json')).toThrow(UsageError);
    expect(() => parseProfiles('[]', 'p.json')).toThrow(UsageError);
  });
});
