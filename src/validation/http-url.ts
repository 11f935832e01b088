/**
 * An absolute http(s) URL as one regular expression, so that the OpenAPI document states exactly
 * the rule the engine applies. Never `javascript:`, `data:`, `file:` or a relative path; the host is
 * a DNS name, an IPv4 address or a bracketed IPv6 address (RFC 3986), so that browsers and the
 * WHATWG URL parser open every URL it accepts (a DNS name's last label starts with a letter: one
 * that looks like a number would be read as an IPv4 address).
 */

const octet = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const ipv4 = `${octet}(?:\\.${octet}){3}`;
const h16 = '[0-9A-Fa-f]{1,4}';
const ls32 = `(?:${h16}:${h16}|${ipv4})`;
/** RFC 3986 §3.2.2, alternative by alternative (without zone identifiers). */
const ipv6 = [
  `(?:${h16}:){6}${ls32}`,
  `::(?:${h16}:){5}${ls32}`,
  `(?:${h16})?::(?:${h16}:){4}${ls32}`,
  `(?:(?:${h16}:){0,1}${h16})?::(?:${h16}:){3}${ls32}`,
  `(?:(?:${h16}:){0,2}${h16})?::(?:${h16}:){2}${ls32}`,
  `(?:(?:${h16}:){0,3}${h16})?::${h16}:${ls32}`,
  `(?:(?:${h16}:){0,4}${h16})?::${ls32}`,
  `(?:(?:${h16}:){0,5}${h16})?::${h16}`,
  `(?:(?:${h16}:){0,6}${h16})?::`,
].join('|');
const label = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const lastLabel = '[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const host = `(?:(?:${label}\\.)*${lastLabel}|${ipv4}|\\[(?:${ipv6})\\])`;
const userinfo = "(?:(?:[A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{2})*@)?";
/** 0-65535 (an empty port is the scheme's default). */
const port = '(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])?)?';
/** Path, query and fragment: any text but control characters (browsers percent-encode the rest). */
const rest = '(?:[/?#](?:[^\\u0000-\\u001F\\u007F\\uD800-\\uDFFF]|[\\uD800-\\uDBFF][\\uDC00-\\uDFFF])*)?';

export const HTTP_URL = new RegExp(`^[Hh][Tt][Tt][Pp][Ss]?://${userinfo}${host}${port}${rest}$`, 'u');
