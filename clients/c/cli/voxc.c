/*
 * voxc - a command-line vox client on libvoxc.
 *
 *   voxc talk --admission FILE|- [--tone HZ | --wav FILE] [--amp N]
 *             [--seconds N] [--out DIR] [--commands] [--quiet-after S]
 *       Joins with the admission answer (JSON; "-": the first line of
 *       stdin), sends a tone or a WAV (48 kHz mono 16-bit, looped) as 20 ms
 *       Opus frames, and writes what it hears to DIR/<participant id>.wav
 *       per speaker (<id>.<n>.wav after the n-th move; mix.wav for a mixed
 *       stream; ssrc-XXXXXXXX.wav if the roster never named it).
 *       --commands: stdin carries commands, one per line: a JSON admission
 *       answer (move to that server, after a RECONNECT line) or "quit"
 *       (leave with a BYE and write the files).
 *       Stdout, one event per line: LOCAL addr, ROSTER ssrc id name,
 *       MIX ssrc name, BYE ssrc, RECONNECT reason window_ms, MOVED ssrc,
 *       HEARD ssrc packets (every 500 ms per stream), CSRCS ssrc csrc=id ...
 *       (with HEARD, for a stream with CSRCs: the mix), STATS k=v ..., DONE.
 *   voxc encode --tone HZ --frames N --out FILE [--amp N]
 *       Writes N Opus frames of the tone (2-byte big-endian length, then
 *       the frame), as vox_send_pcm would encode them.
 *   voxc decode --in FILE --out WAV
 *       Decodes such a file (or any 2-byte-length-prefixed Opus frames).
 *   voxc vectors
 *       Prints libsrtp's protection of docs/protocol.md's test vectors.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <opus/opus.h>
#include <srtp2/srtp.h>

#include "vox.h"
#include "../src/vox_internal.h"

#define MAX_TRACKS 256
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

struct track {
	uint32_t ssrc;
	int epoch; /* moves before it was first heard */
	char id[VOX_MAX_ID + 1];
	int is_mix;
	int16_t *pcm;
	size_t len, cap;
};

struct app {
	vox_client *c;
	struct track tracks[MAX_TRACKS];
	int ntracks;
	int moves;
	int reconnect_pending;
};

static struct track *track_for(struct app *a, uint32_t ssrc) {
	for (int i = 0; i < a->ntracks; i++)
		if (a->tracks[i].ssrc == ssrc && a->tracks[i].epoch == a->moves)
			return &a->tracks[i];
	if (a->ntracks == MAX_TRACKS)
		return NULL;
	struct track *t = &a->tracks[a->ntracks++];
	memset(t, 0, sizeof *t);
	t->ssrc = ssrc;
	t->epoch = a->moves;
	return t;
}

static void on_roster(void *user, uint32_t ssrc, const char *pid, const char *name, int is_mix) {
	struct app *a = user;
	struct track *t = track_for(a, ssrc);
	if (t) {
		snprintf(t->id, sizeof t->id, "%s", pid);
		t->is_mix = is_mix;
	}
	if (is_mix)
		printf("MIX %u %s\n", ssrc, name);
	else
		printf("ROSTER %u %s %s\n", ssrc, pid, name);
}

static void on_bye(void *user, uint32_t ssrc) {
	(void)user;
	printf("BYE %u\n", ssrc);
}

static void on_reconnect(void *user, int reason, uint32_t window) {
	struct app *a = user;
	a->reconnect_pending = 1;
	printf("RECONNECT %d %u\n", reason, window);
}

static int write_wav(const char *path, const int16_t *pcm, size_t n) {
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	uint32_t data = (uint32_t)(n * 2);
	uint8_t h[44];
	memcpy(h, "RIFF", 4);
	uint32_t v = 36 + data;
	memcpy(h + 4, &v, 4); /* little-endian hosts only (x86, arm) */
	memcpy(h + 8, "WAVEfmt ", 8);
	v = 16; memcpy(h + 16, &v, 4);
	uint16_t s = 1; memcpy(h + 20, &s, 2); /* PCM */
	s = 1; memcpy(h + 22, &s, 2);         /* mono */
	v = VOX_SAMPLE_RATE; memcpy(h + 24, &v, 4);
	v = VOX_SAMPLE_RATE * 2; memcpy(h + 28, &v, 4);
	s = 2; memcpy(h + 32, &s, 2);
	s = 16; memcpy(h + 34, &s, 2);
	memcpy(h + 36, "data", 4);
	memcpy(h + 40, &data, 4);
	int ok = fwrite(h, 1, 44, f) == 44 && fwrite(pcm, 2, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* read_wav loads a 48 kHz mono 16-bit PCM WAV. */
static int16_t *read_wav(const char *path, size_t *n) {
	FILE *f = fopen(path, "rb");
	uint8_t h[12];
	int16_t *pcm = NULL;
	if (!f)
		return NULL;
	if (fread(h, 1, 12, f) != 12 || memcmp(h, "RIFF", 4) || memcmp(h + 8, "WAVE", 4))
		goto out;
	int fmt_ok = 0;
	for (;;) {
		uint8_t ch[8];
		uint32_t len;
		if (fread(ch, 1, 8, f) != 8)
			goto out;
		memcpy(&len, ch + 4, 4);
		if (!memcmp(ch, "fmt ", 4)) {
			uint8_t fm[16];
			if (len < 16 || fread(fm, 1, 16, f) != 16)
				goto out;
			uint16_t fmt, chans, bits;
			uint32_t rate;
			memcpy(&fmt, fm, 2); memcpy(&chans, fm + 2, 2); memcpy(&rate, fm + 4, 4); memcpy(&bits, fm + 14, 2);
			fmt_ok = fmt == 1 && chans == 1 && rate == VOX_SAMPLE_RATE && bits == 16;
			fseek(f, (long)(len - 16 + (len & 1)), SEEK_CUR);
		} else if (!memcmp(ch, "data", 4)) {
			if (!fmt_ok || len < 2 || len > (1u << 30))
				goto out;
			*n = len / 2;
			pcm = malloc(*n * 2);
			if (pcm && fread(pcm, 2, *n, f) != *n) {
				free(pcm);
				pcm = NULL;
			}
			goto out;
		} else {
			fseek(f, (long)(len + (len & 1)), SEEK_CUR);
		}
	}
out:
	fclose(f);
	return pcm;
}

/* tone fills frame f of a "syllabic" tone (as vox's mixer tests make it):
 * a sine whose amplitude swings between 0.2 and 1 x amp at 4 Hz, so
 * Opus's voice activity detection treats it as speech. */
static void tone(int16_t *pcm, double freq, double amp, long f) {
	for (int i = 0; i < VOX_FRAME_SAMPLES; i++) {
		double t = (double)(f * VOX_FRAME_SAMPLES + i) / VOX_SAMPLE_RATE;
		double env = 0.6 + 0.4 * sin(2 * M_PI * 4 * t);
		pcm[i] = (int16_t)(amp * env * sin(2 * M_PI * freq * t));
	}
}

static char *slurp_line(FILE *f) {
	static char buf[1 << 16];
	if (!fgets(buf, sizeof buf, f))
		return NULL;
	return buf;
}

static char *slurp_file(const char *path, size_t *n) {
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = malloc(1 << 16);
	*n = b ? fread(b, 1, (1 << 16) - 1, f) : 0;
	fclose(f);
	return b;
}

static void pump_pcm(struct app *a) {
	static int16_t buf[VOX_SAMPLE_RATE];
	int n = vox_speaker_count(a->c);
	for (int i = 0; i < n; i++) {
		vox_speaker_info info;
		if (vox_speaker(a->c, i, &info) != VOX_OK || info.pcm_pending == 0)
			continue;
		int got = vox_read_pcm(a->c, info.ssrc, buf, sizeof buf / sizeof buf[0]);
		struct track *t = track_for(a, info.ssrc);
		if (got <= 0 || !t)
			continue;
		if (info.named && !t->id[0]) {
			snprintf(t->id, sizeof t->id, "%s", info.participant_id);
			t->is_mix = info.is_mix;
		}
		if (t->len + (size_t)got > t->cap) {
			size_t cap = t->cap ? t->cap * 2 : VOX_SAMPLE_RATE;
			while (cap < t->len + (size_t)got)
				cap *= 2;
			int16_t *p = realloc(t->pcm, cap * sizeof *p);
			if (!p)
				continue;
			t->pcm = p;
			t->cap = cap;
		}
		memcpy(t->pcm + t->len, buf, (size_t)got * sizeof *buf);
		t->len += (size_t)got;
	}
}

static void print_stats(vox_client *c) {
	vox_stats s;
	vox_get_stats(c, &s);
	printf("STATS sent=%llu sent_rtcp=%llu received=%llu received_rtcp=%llu auth_failures=%llu replays=%llu "
	       "malformed=%llu notices=%llu roster=%llu byes=%llu moves=%llu\n",
	       (unsigned long long)s.sent, (unsigned long long)s.sent_rtcp, (unsigned long long)s.received,
	       (unsigned long long)s.received_rtcp, (unsigned long long)s.auth_failures, (unsigned long long)s.replays,
	       (unsigned long long)s.malformed, (unsigned long long)s.notices, (unsigned long long)s.roster_updates,
	       (unsigned long long)s.byes, (unsigned long long)s.moves);
}

static const char *arg(int argc, char **argv, const char *name, const char *def) {
	for (int i = 0; i < argc - 1; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

static int flag(int argc, char **argv, const char *name) {
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

static int64_t mono_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int talk(int argc, char **argv) {
	const char *adm_path = arg(argc, argv, "--admission", NULL);
	const char *wav = arg(argc, argv, "--wav", NULL);
	double freq = atof(arg(argc, argv, "--tone", "0"));
	double amp = atof(arg(argc, argv, "--amp", "6000"));
	double seconds = atof(arg(argc, argv, "--seconds", "10"));
	double quiet_after = atof(arg(argc, argv, "--quiet-after", "0"));
	const char *out = arg(argc, argv, "--out", NULL);
	int commands = flag(argc, argv, "--commands");
	char err[256];
	if (!adm_path) {
		fprintf(stderr, "voxc talk: --admission is required\n");
		return 2;
	}
	char *json;
	size_t jn;
	if (strcmp(adm_path, "-") == 0) {
		json = slurp_line(stdin);
		jn = json ? strlen(json) : 0;
		while (jn > 0 && (json[jn - 1] == '\n' || json[jn - 1] == '\r'))
			jn--;
	} else {
		json = slurp_file(adm_path, &jn);
	}
	if (!json) {
		fprintf(stderr, "voxc: cannot read the admission\n");
		return 1;
	}
	vox_admission adm;
	if (vox_admission_parse(json, jn, &adm, err, sizeof err) != VOX_OK) {
		fprintf(stderr, "voxc: admission: %s\n", err);
		return 1;
	}
	if (json && strcmp(adm_path, "-") != 0)
		free(json);
	int16_t *wavpcm = NULL;
	size_t wavn = 0;
	if (wav && !(wavpcm = read_wav(wav, &wavn))) {
		fprintf(stderr, "voxc: %s: not a 48 kHz mono 16-bit WAV\n", wav);
		return 1;
	}

	static struct app a;
	vox_config cfg = {.on_reconnect = on_reconnect, .on_roster = on_roster, .on_bye = on_bye, .user = &a};
	int rc = vox_open(&a.c, &adm, &cfg);
	if (rc != VOX_OK) {
		fprintf(stderr, "voxc: open: %s\n", vox_strerror(rc));
		return 1;
	}
	char local[80];
	vox_local_addr(a.c, local, sizeof local);
	printf("LOCAL %s\n", local);
	if (commands)
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

	int16_t pcm[VOX_FRAME_SAMPLES];
	char line[1 << 16];
	size_t linen = 0;
	int quit = 0;
	int64_t start = mono_ms(), next = start, next_heard = start;
	long f = 0;
	while (!quit && mono_ms() - start < (int64_t)(seconds * 1000)) {
		/* One 20 ms frame. */
		int silent = quiet_after > 0 && (mono_ms() - start) > (int64_t)(quiet_after * 1000);
		if (wavpcm) {
			for (int i = 0; i < VOX_FRAME_SAMPLES; i++)
				pcm[i] = wavpcm[(size_t)(f * VOX_FRAME_SAMPLES + i) % wavn];
		} else if (freq > 0 && !silent) {
			tone(pcm, freq, amp, f);
		} else {
			memset(pcm, 0, sizeof pcm);
		}
		f++;
		if (!silent || wavpcm)
			vox_send_pcm(a.c, pcm, VOX_FRAME_SAMPLES);
		next += 20;
		int64_t wait;
		while ((wait = next - mono_ms()) > 0) {
			vox_poll(a.c, (int)wait);
		}
		vox_poll(a.c, 0);
		pump_pcm(&a);
		if (mono_ms() >= next_heard) {
			next_heard = mono_ms() + 500;
			for (int i = 0; i < vox_speaker_count(a.c); i++) {
				vox_speaker_info info;
				if (vox_speaker(a.c, i, &info) != VOX_OK || info.packets == 0 || info.left)
					continue;
				printf("HEARD %u %llu\n", info.ssrc, (unsigned long long)info.packets);
				if (info.ncsrc > 0) { /* who is in the mix: the roster's names of the CSRCs */
					printf("CSRCS %u", info.ssrc);
					for (int k = 0; k < info.ncsrc; k++) {
						vox_speaker_info who;
						int named = vox_lookup(a.c, info.csrcs[k], &who) == VOX_OK && who.named;
						printf(" %u=%s", info.csrcs[k], named ? who.participant_id : "?");
					}
					printf("\n");
				}
			}
		}
		/* Commands. */
		while (commands && !quit) {
			ssize_t r = read(0, line + linen, sizeof line - 1 - linen);
			if (r <= 0)
				break;
			linen += (size_t)r;
			char *nl;
			while ((nl = memchr(line, '\n', linen)) != NULL) {
				size_t ln = (size_t)(nl - line);
				if (ln == 4 && memcmp(line, "quit", 4) == 0) {
					quit = 1;
				} else if (ln > 0 && line[0] == '{') {
					vox_admission nadm;
					if (vox_admission_parse(line, ln, &nadm, err, sizeof err) != VOX_OK) {
						printf("ERROR admission: %s\n", err);
					} else {
						pump_pcm(&a);
						a.moves++;
						a.reconnect_pending = 0;
						rc = vox_move(a.c, &nadm);
						if (rc != VOX_OK)
							printf("ERROR move: %s\n", vox_strerror(rc));
						else
							printf("MOVED %u\n", nadm.ssrc);
					}
				}
				memmove(line, nl + 1, linen - ln - 1);
				linen -= ln + 1;
			}
			if (linen == sizeof line - 1)
				linen = 0; /* an overlong line: dropped */
		}
		fflush(stdout);
	}
	pump_pcm(&a);
	print_stats(a.c);
	vox_close(a.c, 1);
	if (out) {
		for (int i = 0; i < a.ntracks; i++) {
			struct track *t = &a.tracks[i];
			char path[1024], base[96];
			if (t->is_mix)
				snprintf(base, sizeof base, "mix");
			else if (t->id[0])
				snprintf(base, sizeof base, "%s", t->id);
			else
				snprintf(base, sizeof base, "ssrc-%08x", t->ssrc);
			if (t->epoch > 0)
				snprintf(path, sizeof path, "%s/%s.%d.wav", out, base, t->epoch);
			else
				snprintf(path, sizeof path, "%s/%s.wav", out, base);
			if (t->len > 0 && write_wav(path, t->pcm, t->len) != 0)
				fprintf(stderr, "voxc: cannot write %s: %s\n", path, strerror(errno));
			free(t->pcm);
		}
	}
	free(wavpcm);
	printf("DONE\n");
	fflush(stdout);
	return 0;
}

static int encode(int argc, char **argv) {
	double freq = atof(arg(argc, argv, "--tone", "440"));
	double amp = atof(arg(argc, argv, "--amp", "6000"));
	long frames = atol(arg(argc, argv, "--frames", "250"));
	const char *out = arg(argc, argv, "--out", NULL);
	if (!out) {
		fprintf(stderr, "voxc encode: --out is required\n");
		return 2;
	}
	void *enc = malloc(vox_encoder_size());
	FILE *f = fopen(out, "wb");
	if (!enc || !f || vox_encoder_init(enc, 0) != VOX_OK) {
		fprintf(stderr, "voxc encode: cannot start\n");
		return 1;
	}
	int16_t pcm[VOX_FRAME_SAMPLES];
	uint8_t pkt[1275];
	for (long i = 0; i < frames; i++) {
		tone(pcm, freq, amp, i);
		int n = vox_encode(enc, pcm, pkt, sizeof pkt);
		if (n < 0)
			return 1;
		uint8_t h[2] = {(uint8_t)(n >> 8), (uint8_t)n};
		fwrite(h, 1, 2, f);
		fwrite(pkt, 1, (size_t)n, f);
	}
	free(enc);
	return fclose(f) == 0 ? 0 : 1;
}

static int decode(int argc, char **argv) {
	const char *in = arg(argc, argv, "--in", NULL), *out = arg(argc, argv, "--out", NULL);
	if (!in || !out) {
		fprintf(stderr, "voxc decode: --in and --out are required\n");
		return 2;
	}
	FILE *f = fopen(in, "rb");
	int err;
	OpusDecoder *d = opus_decoder_create(VOX_SAMPLE_RATE, 1, &err);
	if (!f || !d)
		return 1;
	size_t cap = VOX_SAMPLE_RATE, len = 0;
	int16_t *pcm = malloc(cap * 2);
	uint8_t h[2], pkt[1500];
	while (pcm && fread(h, 1, 2, f) == 2) {
		int n = h[0] << 8 | h[1];
		if (n > (int)sizeof pkt || fread(pkt, 1, (size_t)n, f) != (size_t)n)
			break;
		if (len + 5760 > cap) {
			cap *= 2;
			int16_t *p = realloc(pcm, cap * 2);
			if (!p)
				break;
			pcm = p;
		}
		int got = opus_decode(d, n ? pkt : NULL, n, pcm + len, 5760, 0);
		if (got > 0)
			len += (size_t)got;
	}
	fclose(f);
	opus_decoder_destroy(d);
	int rc = pcm && write_wav(out, pcm, len) == 0 ? 0 : 1;
	free(pcm);
	return rc;
}

/* vectors prints, per profile, libsrtp's protection of the test vectors of
 * docs/protocol.md ("Byte examples"): one hex line per packet. */
static int vectors(void) {
	static const int profiles[] = {VOX_AES_CM_128_HMAC_SHA1_80, VOX_AES_CM_128_HMAC_SHA1_32, VOX_AEAD_AES_128_GCM};
	static const char *names[] = {"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM"};
	if (srtp_init() != srtp_err_status_ok)
		return 1;
	for (int k = 0; k < 3; k++) {
		uint8_t key[30];
		int salt = profiles[k] == VOX_AEAD_AES_128_GCM ? 12 : 14;
		for (int i = 0; i < 16; i++)
			key[i] = (uint8_t)i;
		for (int i = 0; i < salt; i++)
			key[16 + i] = (uint8_t)(0xA0 + i);
		srtp_policy_t pol;
		memset(&pol, 0, sizeof pol);
		if (profiles[k] == VOX_AEAD_AES_128_GCM) {
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
			srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
		} else {
			if (profiles[k] == VOX_AES_CM_128_HMAC_SHA1_32)
				srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
			else
				srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
			srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		}
		pol.ssrc.type = ssrc_specific;
		pol.ssrc.value = 0x0A0B0C0D;
		pol.key = key;
		pol.window_size = 128;
		srtp_t s;
		if (srtp_create(&s, &pol) != srtp_err_status_ok)
			return 1;
		uint8_t rtp[64] = {0x80, 0x6f, 0x00, 0x01, 0x00, 0x00, 0x03, 0xc0, 0x0a, 0x0b, 0x0c, 0x0d, 0xf8, 0xff, 0xfe};
		uint8_t rtcp[64] = {0x80, 0xc9, 0x00, 0x01, 0x0a, 0x0b, 0x0c, 0x0d};
		int n = 15, m = 8;
		if (srtp_protect(s, rtp, &n) != srtp_err_status_ok || srtp_protect_rtcp(s, rtcp, &m) != srtp_err_status_ok)
			return 1;
		printf("%s SRTP ", names[k]);
		for (int i = 0; i < n; i++)
			printf("%02x", rtp[i]);
		printf("\n%s SRTCP ", names[k]);
		for (int i = 0; i < m; i++)
			printf("%02x", rtcp[i]);
		printf("\n");
		srtp_dealloc(s);
	}
	return 0;
}

/* fuzz reads records from stdin (kind: 0 admission JSON, 1 plaintext RTP,
 * 2 plaintext compound RTCP; a 2-byte big-endian length; the data) and
 * puts each through the library's parsers: run it under the
 * AddressSanitizer build (clients/c/ctest TestCParsers). */
static int fuzz(void) {
	static const char *adm_json =
	    "{\"session_id\":\"s\",\"participant_id\":\"p\",\"ssrc\":1,\"server_ssrc\":2,"
	    "\"media\":{\"address\":\"127.0.0.1\",\"port\":9},\"srtp\":{\"profile\":\"AES_CM_128_HMAC_SHA1_80\","
	    "\"client_to_server\":{\"key\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"salt\":\"AAAAAAAAAAAAAAAAAAA=\"},"
	    "\"server_to_client\":{\"key\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"salt\":\"AAAAAAAAAAAAAAAAAAA=\"}},"
	    "\"audio_level_extension_id\":1}";
	vox_admission adm;
	char err[256];
	if (vox_admission_parse(adm_json, strlen(adm_json), &adm, err, sizeof err) != VOX_OK) {
		fprintf(stderr, "voxc fuzz: %s\n", err);
		return 1;
	}
	vox_client *c;
	if (vox_open(&c, &adm, NULL) != VOX_OK)
		return 1;
	uint8_t h[3];
	static uint8_t buf[65536];
	long n = 0, ok = 0;
	while (fread(h, 1, 3, stdin) == 3) {
		size_t len = (size_t)h[1] << 8 | h[2];
		if (fread(buf, 1, len, stdin) != len)
			break;
		n++;
		if (h[0] == 0) {
			/* exactly len bytes, no terminator: the parser must not read past */
			char *j = malloc(len ? len : 1);
			memcpy(j, buf, len);
			vox_admission a;
			if (vox_admission_parse(j, len, &a, err, sizeof err) == VOX_OK)
				ok++;
			free(j);
		} else {
			uint8_t *p = malloc(len ? len : 1);
			memcpy(p, buf, len);
			vox_feed_plain(c, p, (int)len, h[0] == 2);
			free(p);
		}
	}
	vox_stats st;
	vox_get_stats(c, &st);
	printf("FUZZ records=%ld admissions_ok=%ld received=%llu malformed=%llu roster=%llu byes=%llu notices=%llu\n", n, ok,
	       (unsigned long long)st.received, (unsigned long long)st.malformed, (unsigned long long)st.roster_updates,
	       (unsigned long long)st.byes, (unsigned long long)st.notices);
	vox_close(c, 0);
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "talk") == 0)
		return talk(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "encode") == 0)
		return encode(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "decode") == 0)
		return decode(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "vectors") == 0)
		return vectors();
	if (argc >= 2 && strcmp(argv[1], "fuzz") == 0)
		return fuzz();
	fprintf(stderr, "usage: voxc talk --admission FILE|- [--tone HZ|--wav FILE] [--amp N] [--seconds N] [--out DIR] [--commands]\n"
	                "       voxc encode --tone HZ --frames N --out FILE [--amp N]\n"
	                "       voxc decode --in FILE --out WAV\n"
	                "       voxc vectors\n");
	return 2;
}
