// The one function that removes credentials from URLs in any text that is printed: log lines, Events,
// error messages, git's own output (which echoes the URL it was given). Pure, no dependencies, one pass
// (no regex: it runs on git's stderr and on log fields, whose length nobody bounds).
//
// The rule, for every `scheme://userinfo@host` in the text:
// - a password (`user:password@`) is always replaced: `user:[redacted]@`;
// - ssh (`ssh://`, `git+ssh://`, `ssh+git://`): a plain user name such as `git` stays, because it is an
//   account name, not a secret; anything else (long, or with characters no login name has) is replaced;
// - every other scheme (https, http, …): a user without a password is replaced, `[redacted]@`, because
//   `https://TOKEN@host/repo` is how GitHub and GitLab tokens are commonly written.
// scp-style `git@host:path` carries no secret (ssh cannot put a password there) and is left alone.

export const REDACTED = '[redacted]';

/** A login name as ssh servers use them (`git`, `deploy`, `ubuntu`): short, lowercase-ish, no token shape. */
function plainUser(u: string): boolean {
  if (u.length === 0 || u.length > 32) return false;
  for (let i = 0; i < u.length; i++) {
    const c = u.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 45 || c === 46; // a-z A-Z 0-9 _ - .
    if (!ok) return false;
  }
  return true;
}

function isSchemeChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46; // + - .
}

/**
 * Ends the authority part of a URL inside free text: `/ ? #`, blanks and control characters, quotes and
 * angle brackets. Nothing else, so that a password with an unescaped `,` `)` `]` is still covered.
 */
function endsAuthority(c: number): boolean {
  return c === 47 || c === 63 || c === 35 || c <= 32 || c === 127 || c === 34 || c === 39 || c === 96 || c === 60 || c === 62;
}

function isSsh(scheme: string): boolean {
  const s = scheme.toLowerCase();
  return s === 'ssh' || s === 'git+ssh' || s === 'ssh+git';
}

/** The userinfo of one URL, made printable. */
function redactUserinfo(scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const keepUser = isSsh(scheme) ? plainUser(user) : colon >= 0 && plainUser(user);
  const shownUser = keepUser ? user : REDACTED;
  return colon < 0 ? shownUser : `${shownUser}:${REDACTED}`;
}

/**
 * Returns `text` with the credentials of every URL in it redacted (rule above). Linear in the length of
 * the text: each character is looked at a bounded number of times.
 */
export function redactUrl(text: string): string {
  let at = text.indexOf('://');
  if (at < 0) return text;
  let out = '';
  let copied = 0;
  while (at >= 0) {
    // The scheme: letters, digits, + - . back from "://", starting with a letter. The walk stops at the
    // previous "://" (':' and '/' are not scheme characters), so the walks never overlap.
    let s = at;
    while (s > copied && isSchemeChar(text.charCodeAt(s - 1))) s--;
    while (s < at && !isLetter(text.charCodeAt(s))) s++;
    const authStart = at + 3;
    let end = authStart;
    let lastAt = -1;
    while (end < text.length && !endsAuthority(text.charCodeAt(end))) {
      if (text.charCodeAt(end) === 64) lastAt = end; // '@': the last one ends the userinfo
      end++;
    }
    if (s < at && lastAt > authStart) {
      const scheme = text.slice(s, at);
      out += text.slice(copied, authStart) + redactUserinfo(scheme, text.slice(authStart, lastAt));
      copied = lastAt;
    }
    // end may sit on the first '/' of the next '://' (as in a://b://c), hence the step back.
    at = text.indexOf('://', Math.max(authStart, end - 2));
  }
  return out + text.slice(copied);
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** The secrets a URL carries in its userinfo (password, token-as-user), for scrubbing exact copies. */
export function urlSecrets(url: string): string[] {
  const at = url.indexOf('://');
  if (at < 0) return [];
  const start = at + 3;
  let end = start;
  let lastAt = -1;
  while (end < url.length && !endsAuthority(url.charCodeAt(end))) {
    if (url.charCodeAt(end) === 64) lastAt = end;
    end++;
  }
  if (lastAt < 0) return [];
  const userinfo = url.slice(start, lastAt);
  const colon = userinfo.indexOf(':');
  const scheme = url.slice(0, at);
  const out: string[] = [];
  if (colon >= 0) out.push(userinfo.slice(colon + 1));
  const user = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const keepUser = isSsh(scheme) ? plainUser(user) : colon >= 0 && plainUser(user);
  if (!keepUser) out.push(user);
  return out.filter((x) => x !== '').flatMap((x) => (safeDecode(x) !== x ? [x, safeDecode(x)] : [x]));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
