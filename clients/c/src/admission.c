/*
 * admission.c - parse vox's admission answer (JSON) into a vox_admission.
 *
 * A small strict JSON reader: it walks the whole document (objects, arrays,
 * strings with escapes, numbers, true/false/null, bounded nesting) and picks
 * the fields it knows by path; other fields are skipped, so a newer server
 * adding fields does not break an older client.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vox.h"

#define MAX_DEPTH 16
#define MAX_STR 512

typedef struct {
	const char *p, *end;
	char *err;
	size_t errlen;
	int failed;
	vox_admission *a;
	unsigned seen; /* bit per required field */
	char profile[64];
	char keys[4][MAX_STR]; /* c2s key, c2s salt, s2c key, s2c salt (base64) */
} reader;

enum {
	F_SESSION = 1 << 0, F_PID = 1 << 1, F_SSRC = 1 << 2, F_SSSRC = 1 << 3,
	F_ADDR = 1 << 4, F_PORT = 1 << 5, F_PROFILE = 1 << 6, F_K0 = 1 << 7,
	F_K1 = 1 << 8, F_K2 = 1 << 9, F_K3 = 1 << 10,
	F_REQUIRED = (1 << 11) - 1,
};

static void fail(reader *r, const char *fmt, ...) {
	if (r->failed)
		return;
	r->failed = 1;
	if (r->errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err, r->errlen, fmt, ap);
		va_end(ap);
	}
}

static void ws(reader *r) {
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int hexval(int c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* str reads a JSON string into out (NUL-terminated, at most cap-1 bytes;
 * longer is an error). out may be NULL to skip. */
static void str(reader *r, char *out, size_t cap) {
	size_t n = 0;
	ws(r);
	if (r->p >= r->end || *r->p != '"') {
		fail(r, "expected a string at offset %ld", (long)(r->end - r->p));
		return;
	}
	r->p++;
	for (;;) {
		if (r->p >= r->end) {
			fail(r, "unterminated string");
			return;
		}
		unsigned char c = (unsigned char)*r->p++;
		unsigned long cp;
		if (c == '"')
			break;
		if (c < 0x20) {
			fail(r, "control character in a string");
			return;
		}
		if (c != '\\') {
			cp = c;
			if (out) {
				if (n + 1 >= cap) { fail(r, "string too long"); return; }
				out[n++] = (char)c;
			}
			continue;
		}
		if (r->p >= r->end) { fail(r, "bad escape"); return; }
		c = (unsigned char)*r->p++;
		switch (c) {
		case '"': cp = '"'; break;
		case '\\': cp = '\\'; break;
		case '/': cp = '/'; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u': {
			if (r->end - r->p < 4) { fail(r, "bad \\u escape"); return; }
			cp = 0;
			for (int i = 0; i < 4; i++) {
				int h = hexval((unsigned char)r->p[i]);
				if (h < 0) { fail(r, "bad \\u escape"); return; }
				cp = cp << 4 | (unsigned long)h;
			}
			r->p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u') {
				unsigned long lo = 0;
				int ok = 1;
				for (int i = 0; i < 4; i++) {
					int h = hexval((unsigned char)r->p[2 + i]);
					if (h < 0) ok = 0;
					lo = lo << 4 | (unsigned long)(h < 0 ? 0 : h);
				}
				if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					r->p += 6;
				}
			}
			break;
		}
		default:
			fail(r, "bad escape \\%c", c);
			return;
		}
		if (!out)
			continue;
		char u[4];
		size_t k;
		if (cp < 0x80) { u[0] = (char)cp; k = 1; }
		else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 0x3F)); k = 2; }
		else if (cp < 0x10000) { u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 0x3F)); u[2] = (char)(0x80 | (cp & 0x3F)); k = 3; }
		else { u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 0x3F)); u[2] = (char)(0x80 | (cp >> 6 & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); k = 4; }
		if (n + k >= cap) { fail(r, "string too long"); return; }
		memcpy(out + n, u, k);
		n += k;
	}
	if (out)
		out[n] = 0;
}

/* num reads a JSON number that must be an integer in [lo, hi]. */
static long long num(reader *r, long long lo, long long hi, const char *what) {
	ws(r);
	const char *s = r->p;
	if (s < r->end && *s == '-') s++;
	if (s >= r->end || !isdigit((unsigned char)*s)) {
		fail(r, "%s: expected a number", what);
		return 0;
	}
	long long v = 0;
	int neg = *r->p == '-';
	while (s < r->end && isdigit((unsigned char)*s)) {
		if (v > (hi > -lo ? hi : -lo) / 10 + 1) {
			fail(r, "%s: out of range", what);
			return 0;
		}
		v = v * 10 + (*s - '0');
		s++;
	}
	if (s < r->end && (*s == '.' || *s == 'e' || *s == 'E')) {
		fail(r, "%s: not an integer", what);
		return 0;
	}
	r->p = s;
	if (neg) v = -v;
	if (v < lo || v > hi) {
		fail(r, "%s: %lld out of range", what, v);
		return 0;
	}
	return v;
}

static void skip_value(reader *r, int depth);

static void skip_lit(reader *r, const char *lit) {
	size_t n = strlen(lit);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0) {
		fail(r, "bad literal");
		return;
	}
	r->p += n;
}

static void value(reader *r, const char *path, int depth);

/* object reads an object whose members are at path prefix (NULL: skip). */
static void object(reader *r, const char *path, int depth) {
	char key[128], sub[256];
	if (depth > MAX_DEPTH) { fail(r, "nested too deep"); return; }
	ws(r);
	r->p++; /* '{' */
	ws(r);
	if (r->p < r->end && *r->p == '}') { r->p++; return; }
	for (;;) {
		str(r, key, sizeof key);
		if (r->failed) return;
		ws(r);
		if (r->p >= r->end || *r->p != ':') { fail(r, "expected ':'"); return; }
		r->p++;
		if (path) {
			snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
			value(r, sub, depth + 1);
		} else {
			skip_value(r, depth + 1);
		}
		if (r->failed) return;
		ws(r);
		if (r->p < r->end && *r->p == ',') { r->p++; continue; }
		if (r->p < r->end && *r->p == '}') { r->p++; return; }
		fail(r, "expected ',' or '}'");
		return;
	}
}

static void skip_value(reader *r, int depth) {
	if (depth > MAX_DEPTH) { fail(r, "nested too deep"); return; }
	ws(r);
	if (r->p >= r->end) { fail(r, "unexpected end"); return; }
	switch (*r->p) {
	case '{': object(r, NULL, depth); return;
	case '[':
		r->p++;
		ws(r);
		if (r->p < r->end && *r->p == ']') { r->p++; return; }
		for (;;) {
			skip_value(r, depth + 1);
			if (r->failed) return;
			ws(r);
			if (r->p < r->end && *r->p == ',') { r->p++; continue; }
			if (r->p < r->end && *r->p == ']') { r->p++; return; }
			fail(r, "expected ',' or ']'");
			return;
		}
	case '"': str(r, NULL, 0); return;
	case 't': skip_lit(r, "true"); return;
	case 'f': skip_lit(r, "false"); return;
	case 'n': skip_lit(r, "null"); return;
	default: {
		const char *s = r->p;
		if (s < r->end && *s == '-') s++;
		if (s >= r->end || !isdigit((unsigned char)*s)) { fail(r, "unexpected character"); return; }
		while (s < r->end && (isdigit((unsigned char)*s) || *s == '.' || *s == 'e' || *s == 'E' || *s == '+' || *s == '-'))
			s++;
		r->p = s;
	}
	}
}

static void value(reader *r, const char *path, int depth) {
	vox_admission *a = r->a;
	ws(r);
	if (r->p < r->end && *r->p == '{') {
		object(r, path, depth);
		return;
	}
#define IS(x) (strcmp(path, x) == 0)
	if (IS("session_id")) { str(r, a->session_id, sizeof a->session_id); r->seen |= F_SESSION; }
	else if (IS("participant_id")) { str(r, a->participant_id, sizeof a->participant_id); r->seen |= F_PID; }
	else if (IS("ssrc")) { a->ssrc = (uint32_t)num(r, 0, 0xFFFFFFFFLL, path); r->seen |= F_SSRC; }
	else if (IS("server_ssrc")) { a->server_ssrc = (uint32_t)num(r, 0, 0xFFFFFFFFLL, path); r->seen |= F_SSSRC; }
	else if (IS("media.address")) { str(r, a->media_address, sizeof a->media_address); r->seen |= F_ADDR; }
	else if (IS("media.port")) { a->media_port = (int)num(r, 1, 65535, path); r->seen |= F_PORT; }
	else if (IS("srtp.profile")) { str(r, r->profile, sizeof r->profile); r->seen |= F_PROFILE; }
	else if (IS("srtp.client_to_server.key")) { str(r, r->keys[0], MAX_STR); r->seen |= F_K0; }
	else if (IS("srtp.client_to_server.salt")) { str(r, r->keys[1], MAX_STR); r->seen |= F_K1; }
	else if (IS("srtp.server_to_client.key")) { str(r, r->keys[2], MAX_STR); r->seen |= F_K2; }
	else if (IS("srtp.server_to_client.salt")) { str(r, r->keys[3], MAX_STR); r->seen |= F_K3; }
	else if (IS("audio_level_extension_id")) a->audio_level_ext_id = (int)num(r, 0, 14, path);
	else if (IS("join_timeout_ms")) a->join_timeout_ms = num(r, 0, 1LL << 40, path);
	else if (IS("idle_timeout_ms")) a->idle_timeout_ms = num(r, 0, 1LL << 40, path);
	else skip_value(r, depth);
#undef IS
}

/* b64 decodes standard base64 (with padding) into out; returns the length
 * or -1. */
static int b64(const char *s, uint8_t *out, int cap) {
	int n = 0, bits = 0;
	unsigned acc = 0;
	size_t len = strlen(s);
	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i], v;
		if (c >= 'A' && c <= 'Z') v = c - 'A';
		else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
		else if (c >= '0' && c <= '9') v = c - '0' + 52;
		else if (c == '+') v = 62;
		else if (c == '/') v = 63;
		else if (c == '=' && i >= len - 2) {
			for (size_t j = i; j < len; j++)
				if (s[j] != '=') return -1;
			break;
		} else return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap) return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

int vox_admission_parse(const char *json, size_t len, vox_admission *out, char *err, size_t errlen) {
	reader r;
	if (!json || !out)
		return VOX_EINVAL;
	memset(&r, 0, sizeof r);
	memset(out, 0, sizeof *out);
	r.p = json;
	r.end = json + len;
	r.err = err;
	r.errlen = errlen;
	r.a = out;
	if (errlen > 0)
		err[0] = 0;
	ws(&r);
	if (r.p >= r.end || *r.p != '{') {
		fail(&r, "not a JSON object");
		return VOX_EINVAL;
	}
	object(&r, "", 0);
	ws(&r);
	if (!r.failed && r.p != r.end)
		fail(&r, "data after the object");
	if (r.failed)
		return VOX_EINVAL;
	if ((r.seen & F_REQUIRED) != F_REQUIRED) {
		fail(&r, "missing fields (have %#x of %#x)", r.seen, (unsigned)F_REQUIRED);
		return VOX_EINVAL;
	}
	int salt;
	if (strcmp(r.profile, "AES_CM_128_HMAC_SHA1_80") == 0) { out->profile = VOX_AES_CM_128_HMAC_SHA1_80; salt = 14; }
	else if (strcmp(r.profile, "AES_CM_128_HMAC_SHA1_32") == 0) { out->profile = VOX_AES_CM_128_HMAC_SHA1_32; salt = 14; }
	else if (strcmp(r.profile, "AEAD_AES_128_GCM") == 0) { out->profile = VOX_AEAD_AES_128_GCM; salt = 12; }
	else {
		fail(&r, "unknown SRTP profile \"%s\"", r.profile);
		return VOX_EINVAL;
	}
	out->key_len = 16;
	out->salt_len = salt;
	uint8_t tmp[64];
	for (int d = 0; d < 2; d++) {
		uint8_t *dst = d == 0 ? out->c2s_key : out->s2c_key;
		if (b64(r.keys[2 * d], tmp, sizeof tmp) != 16) {
			fail(&r, "%s key: not 16 bytes of base64", d == 0 ? "client_to_server" : "server_to_client");
			return VOX_EINVAL;
		}
		memcpy(dst, tmp, 16);
		if (b64(r.keys[2 * d + 1], tmp, sizeof tmp) != salt) {
			fail(&r, "%s salt: not %d bytes of base64", d == 0 ? "client_to_server" : "server_to_client", salt);
			return VOX_EINVAL;
		}
		memcpy(dst + 16, tmp, (size_t)salt);
	}
	if (out->ssrc == 0 || out->server_ssrc == 0 || out->media_address[0] == 0) {
		fail(&r, "zero ssrc or empty media address");
		return VOX_EINVAL;
	}
	return VOX_OK;
}
