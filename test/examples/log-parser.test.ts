import { Counter } from 'millrace';
import { describe, expect, it } from 'vitest';
import { isAsset, LogTally, parseLine, pathOf } from '../../examples/log-analysis/parse.js';

const UA = '"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"';
const line = (request: string, status = '200', extra = ''): string =>
  `203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "${request}" ${status} 2326 "http://example.com/start.html" ${UA}${extra}`;

describe('parseLine: valid lines', () => {
  it('parses a standard combined line', () => {
    expect(parseLine(line('GET /index.html HTTP/1.1'))).toEqual({ method: 'GET', target: '/index.html', status: 200, path: '/index.html' });
  });

  it.each([
    ['a query string is not part of the path', line('GET /search?q=a+b&page=2 HTTP/1.1'), 'GET', '/search'],
    ['a fragment is not part of the path', line('GET /docs#intro HTTP/1.1'), 'GET', '/docs'],
    ['absolute-form target (sent to proxies)', line('GET http://www.example.com/a/b?x=1 HTTP/1.1'), 'GET', '/a/b'],
    ['HTTP/1.0', line('GET /old HTTP/1.0'), 'GET', '/old'],
    ['HTTP/0.9 style, no protocol', line('GET /bare'), 'GET', '/bare'],
    [
      'an IPv6 client and a named user',
      `2001:db8::1 - alice [01/Mar/2024:00:00:00 +0000] "GET /me HTTP/2.0" 200 - "-" ${UA}`,
      'GET',
      '/me',
    ],
    ['an escaped quote in the user agent', line('GET /q HTTP/1.1').replace(UA, '"Mozilla/5.0 (\\"quoted\\" agent)"'), 'GET', '/q'],
    ['extra fields after the user agent (nginx)', line('GET /x HTTP/1.1', '200', ' "198.51.100.7" rt=0.012'), 'GET', '/x'],
    ['a lowercase method is still a method', line('get /lower HTTP/1.1'), 'get', '/lower'],
  ])('%s', (_name, text, method, path) => {
    const parsed = parseLine(text);
    expect(parsed).toBeDefined();
    expect(parsed?.method).toBe(method);
    expect(parsed?.path).toBe(path);
  });

  it('accepts a request line of another shape (nginx logs "-" for none) without a path', () => {
    expect(parseLine(line('-', '408'))).toEqual({ method: undefined, target: undefined, status: 408, path: undefined });
    expect(parseLine(line('\\x16\\x03\\x01 junk handshake', '400'))).toMatchObject({ status: 400, path: undefined });
  });
});

describe('parseLine: malformed lines', () => {
  const good = line('GET /index.html HTTP/1.1');
  it.each([
    ['an empty line', ''],
    ['a truncated line', good.slice(0, 60)],
    ['no timestamp', good.replace(/\[[^\]]+\] /, '')],
    ['a status that is not a number', good.replace('" 200 ', '" OK ')],
    ['a four-digit status', good.replace('" 200 ', '" 2000 ')],
    ['an unterminated user agent', good.slice(0, -1)],
    ['an unterminated request', '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /index.html HTTP/1.1 200 2326'],
    ['garbage', '\u0000\u0000 not a log line at all'],
    ['the common format (no referer, no agent)', '203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 2326'],
  ])('%s', (_name, text) => {
    expect(parseLine(text)).toBeUndefined();
  });
});

describe('pathOf and isAsset', () => {
  it('takes the path of origin-form and absolute-form targets only', () => {
    expect(pathOf('/a/b?c')).toBe('/a/b');
    expect(pathOf('https://h.example:8443/p?q')).toBe('/p');
    expect(pathOf('http://h.example')).toBe('/');
    expect(pathOf('*')).toBeUndefined();
    expect(pathOf('garbage')).toBeUndefined();
  });

  it('recognises the static assets by extension, in any case', () => {
    for (const asset of ['/app.js', '/s.css', '/i.png', '/p.JPG', '/a.gif', '/favicon.ico']) expect(isAsset(asset)).toBe(true);
    for (const page of ['/app.json', '/', '/css', '/page.html', '/js/']) expect(isAsset(page)).toBe(false);
  });
});

describe('LogTally', () => {
  it('counts successful GETs of non-asset paths, and malformed lines', () => {
    const tally = new LogTally();
    const lines = [
      line('GET /a HTTP/1.1'),
      line('GET /a?utm=1 HTTP/1.1'),
      line('GET /b HTTP/1.1'),
      line('GET /a HTTP/1.1', '404'),
      line('POST /a HTTP/1.1'),
      line('HEAD /a HTTP/1.1'),
      line('GET /static/app.js?v=3 HTTP/1.1'),
      line('GET /logo.PNG HTTP/1.1'),
      line('-', '408'),
      'garbage',
      '',
    ];
    for (const text of lines) tally.add(text);
    expect(tally.result()).toEqual({
      lines: 11,
      malformed: 2,
      matched: 3,
      counts: new Counter([
        ['/a', 2],
        ['/b', 1],
      ]),
    });
  });
});
