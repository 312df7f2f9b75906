/*
 * vox.c - the vox C client: SRTP (libsrtp2) and Opus (libopus) over one
 * connected UDP socket, as docs/protocol.md describes the wire.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <opus/opus.h>
#include <srtp2/srtp.h>

#include "vox.h"
#include "vox_internal.h"

#define MAX_DATAGRAM 1500
#define RING_SAMPLES (2 * VOX_SAMPLE_RATE) /* 2 s per speaker */
#define MAX_SPEAKERS 256
#define MAX_CONCEAL 5 /* frames of loss concealment per gap */
#define OPUS_MAX_PACKET 1275

struct speaker {
	vox_speaker_info info;
	OpusDecoder *dec;
	int have_seq;
	uint16_t last_seq;
	int16_t *ring; /* RING_SAMPLES */
	size_t head, len;
};

struct vox_client {
	vox_admission adm;
	vox_config cfg;
	int fd;
	srtp_t tx, rx;
	OpusEncoder *enc;
	uint16_t seq;
	uint32_t ts;
	int marker;
	uint32_t sr_packets, sr_octets;
	int64_t last_send_ms;
	int64_t next_rtcp_ms;
	int notified; /* a reconnect notice was reported for this server */
	struct speaker *spk;
	int nspk, capspk;
	vox_stats st;
	uint8_t buf[MAX_DATAGRAM + SRTP_MAX_TRAILER_LEN + 64];
	int16_t pcm[VOX_FRAME_SAMPLES * 6]; /* decode scratch (up to 120 ms) */
};

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *vox_strerror(int err) {
	switch (err) {
	case VOX_OK: return "ok";
	case VOX_EINVAL: return "invalid argument";
	case VOX_ESYS: return "system error";
	case VOX_ESRTP: return "libsrtp error";
	case VOX_EOPUS: return "libopus error";
	case VOX_ENOMEM: return "out of memory";
	case VOX_ENOTFOUND: return "not found";
	}
	return "unknown error";
}

static void put16(uint8_t *b, uint16_t v) { b[0] = (uint8_t)(v >> 8); b[1] = (uint8_t)v; }
static void put32(uint8_t *b, uint32_t v) { b[0] = (uint8_t)(v >> 24); b[1] = (uint8_t)(v >> 16); b[2] = (uint8_t)(v >> 8); b[3] = (uint8_t)v; }
static uint16_t get16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static uint32_t get32(const uint8_t *b) { return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }

static uint32_t rand32(void) {
	uint32_t v = 0;
	FILE *f = fopen("/dev/urandom", "rb");
	if (f) {
		if (fread(&v, sizeof v, 1, f) != 1)
			v = 0;
		fclose(f);
	}
	if (v == 0)
		v = (uint32_t)now_ms() * 2654435761u;
	return v;
}

/* srtp_session makes one direction's session: the client's own SSRC
 * outbound, any SSRC inbound (a listener receives many streams, and the
 * server's RTCP, under one key). */
static int srtp_session(srtp_t *out, const vox_admission *a, int inbound) {
	srtp_policy_t pol;
	memset(&pol, 0, sizeof pol);
	switch (a->profile) {
	case VOX_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp);
		break;
	case VOX_AES_CM_128_HMAC_SHA1_32:
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pol.rtp);
		srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol.rtcp); /* SRTCP keeps 80 bits */
		break;
	case VOX_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol.rtcp);
		break;
	default:
		return VOX_EINVAL;
	}
	if (inbound) {
		pol.ssrc.type = ssrc_any_inbound;
	} else {
		pol.ssrc.type = ssrc_specific;
		pol.ssrc.value = a->ssrc;
	}
	pol.key = (unsigned char *)(inbound ? a->s2c_key : a->c2s_key);
	pol.window_size = 128;
	pol.allow_repeat_tx = 0;
	pol.next = NULL;
	return srtp_create(out, &pol) == srtp_err_status_ok ? VOX_OK : VOX_ESRTP;
}

static int connect_media(const vox_admission *a) {
	char port[16];
	struct addrinfo hints, *res, *ai;
	int fd = -1;
	snprintf(port, sizeof port, "%d", a->media_port);
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_family = AF_UNSPEC;
	if (getaddrinfo(a->media_address, port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* attach opens what belongs to one server: socket and SRTP sessions. */
static int attach(vox_client *c, const vox_admission *a) {
	int err;
	c->adm = *a;
	c->fd = connect_media(a);
	if (c->fd < 0)
		return VOX_ESYS;
	if ((err = srtp_session(&c->tx, a, 0)) != VOX_OK)
		return err;
	if ((err = srtp_session(&c->rx, a, 1)) != VOX_OK)
		return err;
	c->seq = (uint16_t)rand32();
	c->ts = rand32();
	c->marker = 1;
	c->sr_packets = c->sr_octets = 0;
	c->last_send_ms = 0;
	c->notified = 0;
	c->next_rtcp_ms = now_ms(); /* the first poll reports at once */
	return VOX_OK;
}

static void detach(vox_client *c) {
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->tx)
		srtp_dealloc(c->tx);
	if (c->rx)
		srtp_dealloc(c->rx);
	c->tx = c->rx = NULL;
}

int vox_open(vox_client **out, const vox_admission *adm, const vox_config *cfg) {
	int err;
	if (!out || !adm)
		return VOX_EINVAL;
	*out = NULL;
	/* libsrtp's crypto kernel: initialised once, idempotent. */
	if (srtp_init() != srtp_err_status_ok)
		return VOX_ESRTP;
	vox_client *c = calloc(1, sizeof *c);
	if (!c)
		return VOX_ENOMEM;
	c->fd = -1;
	if (cfg)
		c->cfg = *cfg;
	if (c->cfg.bitrate <= 0)
		c->cfg.bitrate = 32000;
	if (c->cfg.rtcp_ms <= 0)
		c->cfg.rtcp_ms = 1000;
	c->enc = opus_encoder_create(VOX_SAMPLE_RATE, 1, OPUS_APPLICATION_VOIP, &err);
	if (!c->enc || err != OPUS_OK) {
		free(c);
		return VOX_EOPUS;
	}
	opus_encoder_ctl(c->enc, OPUS_SET_BITRATE(c->cfg.bitrate));
	opus_encoder_ctl(c->enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(c->enc, OPUS_SET_PACKET_LOSS_PERC(10));
	opus_encoder_ctl(c->enc, OPUS_SET_DTX(c->cfg.dtx ? 1 : 0));
	if ((err = attach(c, adm)) != VOX_OK) {
		vox_close(c, 0);
		return err;
	}
	*out = c;
	return VOX_OK;
}

int vox_fd(const vox_client *c) { return c ? c->fd : -1; }

int vox_local_addr(const vox_client *c, char *buf, size_t len) {
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[INET6_ADDRSTRLEN];
	if (!c || getsockname(c->fd, (struct sockaddr *)&ss, &sl) != 0)
		return VOX_ESYS;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
	return VOX_OK;
}

static int send_wire(vox_client *c, uint8_t *b, int len) {
	if (send(c->fd, b, (size_t)len, 0) != len) {
		c->st.send_errors++;
		return VOX_ESYS;
	}
	return VOX_OK;
}

/* send_rtcp_plain protects and sends the plaintext compound RTCP in b. */
static int send_rtcp_plain(vox_client *c, uint8_t *b, int len) {
	if (srtp_protect_rtcp(c->tx, b, &len) != srtp_err_status_ok) {
		c->st.send_errors++;
		return VOX_ESRTP;
	}
	int err = send_wire(c, b, len);
	if (err == VOX_OK)
		c->st.sent_rtcp++;
	return err;
}

/* report writes an SR (after we sent RTP) or an RR (before) with no
 * report blocks into b and returns its length. */
static int report(vox_client *c, uint8_t *b) {
	if (c->sr_packets == 0) {
		b[0] = 0x80; b[1] = 201; put16(b + 2, 1);
		put32(b + 4, c->adm.ssrc);
		return 8;
	}
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t ntp = ((uint64_t)rt.tv_sec + 2208988800ULL) << 32 | (uint64_t)(((uint64_t)rt.tv_nsec << 32) / 1000000000ULL);
	uint32_t rtp = c->ts + (uint32_t)((now_ms() - c->last_send_ms) * 48);
	b[0] = 0x80; b[1] = 200; put16(b + 2, 6);
	put32(b + 4, c->adm.ssrc);
	put32(b + 8, (uint32_t)(ntp >> 32));
	put32(b + 12, (uint32_t)ntp);
	put32(b + 16, rtp);
	put32(b + 20, c->sr_packets);
	put32(b + 24, c->sr_octets);
	return 28;
}

int vox_send_rtcp(vox_client *c) {
	uint8_t b[64 + SRTP_MAX_TRAILER_LEN];
	if (!c)
		return VOX_EINVAL;
	c->next_rtcp_ms = now_ms() + c->cfg.rtcp_ms;
	return send_rtcp_plain(c, b, report(c, b));
}

static int send_bye(vox_client *c) {
	uint8_t b[64 + SRTP_MAX_TRAILER_LEN];
	int n = report(c, b);
	b[n] = 0x81; b[n + 1] = 203; put16(b + n + 2, 1);
	put32(b + n + 4, c->adm.ssrc);
	return send_rtcp_plain(c, b, n + 8);
}

/* level is the RFC 6464 level of a frame: -dBov, 0 (loudest) to 127. */
static int level(const int16_t *pcm, int n) {
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += (double)pcm[i] * pcm[i];
	double rms = sqrt(sum / n) / 32768.0;
	if (rms <= 0)
		return 127;
	double db = -20 * log10(rms);
	if (db < 0) db = 0;
	if (db > 127) db = 127;
	return (int)db;
}

int vox_send_pcm(vox_client *c, const int16_t *pcm, int samples) {
	if (!c || !pcm || samples != VOX_FRAME_SAMPLES)
		return VOX_EINVAL;
	uint8_t *b = c->buf;
	int h = 12;
	b[0] = 0x80; b[1] = (uint8_t)(111 | (c->marker ? 0x80 : 0));
	put16(b + 2, c->seq);
	put32(b + 4, c->ts);
	put32(b + 8, c->adm.ssrc);
	if (c->adm.audio_level_ext_id > 0) {
		int lvl = level(pcm, samples);
		b[0] |= 0x10;
		b[12] = 0xBE; b[13] = 0xDE; b[14] = 0; b[15] = 1;
		b[16] = (uint8_t)(c->adm.audio_level_ext_id << 4);
		b[17] = (uint8_t)(lvl | (lvl < 60 ? 0x80 : 0)); /* V: voice (a crude VAD) */
		b[18] = b[19] = 0;
		h = 20;
	}
	int n = opus_encode(c->enc, pcm, samples, b + h, OPUS_MAX_PACKET);
	if (n < 0)
		return VOX_EOPUS;
	uint32_t ts = c->ts;
	c->ts += VOX_FRAME_SAMPLES;
	if (n <= 2 && c->cfg.dtx) { /* DTX: nothing to send this frame */
		c->marker = 1;
		return VOX_OK;
	}
	int len = h + n;
	if (srtp_protect(c->tx, b, &len) != srtp_err_status_ok) {
		c->st.send_errors++;
		return VOX_ESRTP;
	}
	c->seq++;
	c->marker = 0;
	int err = send_wire(c, b, len);
	if (err == VOX_OK) {
		c->st.sent++;
		c->sr_packets++;
		c->sr_octets += (uint32_t)n;
		c->last_send_ms = now_ms();
		(void)ts;
	}
	return err;
}

static struct speaker *find(const vox_client *c, uint32_t ssrc) {
	for (int i = 0; i < c->nspk; i++)
		if (c->spk[i].info.ssrc == ssrc)
			return &c->spk[i];
	return NULL;
}

/* prune frees the speakers that left (BYE, or a move) and whose PCM has
 * been read: the table stays bounded over many moves. */
static void prune(vox_client *c) {
	int k = 0;
	for (int i = 0; i < c->nspk; i++) {
		struct speaker *s = &c->spk[i];
		if (s->info.left && s->len == 0) {
			if (s->dec)
				opus_decoder_destroy(s->dec);
			free(s->ring);
			continue;
		}
		c->spk[k++] = *s;
	}
	c->nspk = k;
}

static struct speaker *speaker_for(vox_client *c, uint32_t ssrc) {
	struct speaker *s = find(c, ssrc);
	if (s)
		return s;
	if (c->nspk == MAX_SPEAKERS)
		prune(c);
	if (c->nspk == MAX_SPEAKERS)
		return NULL;
	if (c->nspk == c->capspk) {
		int cap = c->capspk ? 2 * c->capspk : 8;
		struct speaker *n = realloc(c->spk, (size_t)cap * sizeof *n);
		if (!n)
			return NULL;
		c->spk = n;
		c->capspk = cap;
	}
	s = &c->spk[c->nspk];
	memset(s, 0, sizeof *s);
	s->info.ssrc = ssrc;
	s->info.audio_level = -1;
	s->ring = calloc(RING_SAMPLES, sizeof *s->ring);
	if (!s->ring)
		return NULL;
	c->nspk++;
	return s;
}

static void ring_put(struct speaker *s, const int16_t *pcm, int n) {
	for (int i = 0; i < n; i++) {
		size_t at = (s->head + s->len) % RING_SAMPLES;
		s->ring[at] = pcm[i];
		if (s->len == RING_SAMPLES)
			s->head = (s->head + 1) % RING_SAMPLES; /* drop the oldest */
		else
			s->len++;
	}
}

static void on_rtp(vox_client *c, uint8_t *b, int len) {
	if (len < 12 || (b[0] >> 6) != 2) {
		c->st.malformed++;
		return;
	}
	int cc = b[0] & 0x0F, x = b[0] & 0x10, pad = b[0] & 0x20;
	int off = 12 + 4 * cc;
	uint16_t seq = get16(b + 2);
	uint32_t ssrc = get32(b + 8);
	int lvl = -1;
	if (off > len) { c->st.malformed++; return; }
	if (x) {
		if (off + 4 > len) { c->st.malformed++; return; }
		int words = get16(b + off + 2);
		int ext_end = off + 4 + 4 * words;
		if (ext_end > len) { c->st.malformed++; return; }
		if (get16(b + off) == 0xBEDE && c->adm.audio_level_ext_id > 0) {
			for (int i = off + 4; i < ext_end;) {
				int id = b[i] >> 4, l = (b[i] & 0x0F) + 1;
				if (id == 0) { i++; continue; } /* padding */
				if (id == 15) break;
				if (i + 1 + l > ext_end) break;
				if (id == c->adm.audio_level_ext_id && l >= 1)
					lvl = b[i + 1] & 0x7F;
				i += 1 + l;
			}
		}
		off = ext_end;
	}
	if (pad) {
		if (len <= off || b[len - 1] == 0 || b[len - 1] > len - off) { c->st.malformed++; return; }
		len -= b[len - 1];
	}
	c->st.received++;
	struct speaker *s = speaker_for(c, ssrc);
	if (!s)
		return;
	if (ssrc == c->adm.server_ssrc)
		s->info.is_mix = 1;
	s->info.packets++;
	if (lvl >= 0)
		s->info.audio_level = lvl;
	s->info.ncsrc = cc;
	for (int i = 0; i < cc; i++)
		s->info.csrcs[i] = get32(b + 12 + 4 * i);
	if (!s->dec) {
		int err;
		s->dec = opus_decoder_create(VOX_SAMPLE_RATE, 1, &err);
		if (!s->dec || err != OPUS_OK) {
			s->dec = NULL;
			return;
		}
	}
	if (s->have_seq) {
		int16_t d = (int16_t)(seq - s->last_seq);
		if (d <= 0)
			return; /* late or duplicate: the ring has moved on */
		for (int i = 1; i < d && i <= MAX_CONCEAL; i++) {
			int n = opus_decode(s->dec, NULL, 0, c->pcm, VOX_FRAME_SAMPLES, 0);
			if (n > 0)
				ring_put(s, c->pcm, n);
			s->info.lost++;
		}
	}
	s->have_seq = 1;
	s->last_seq = seq;
	if (len - off <= 0)
		return;
	int n = opus_decode(s->dec, b + off, len - off, c->pcm, (int)(sizeof c->pcm / sizeof c->pcm[0]), 0);
	if (n < 0) {
		c->st.malformed++;
		return;
	}
	ring_put(s, c->pcm, n);
}

static void copy_text(char *dst, size_t cap, const uint8_t *src, int n) {
	if ((size_t)n >= cap)
		n = (int)cap - 1;
	memcpy(dst, src, (size_t)n);
	dst[n] = 0;
}

/* on_sdes records the chunks of an SDES packet (body: after the 4-byte
 * header; count chunks). */
static void on_sdes(vox_client *c, const uint8_t *b, int len, int count) {
	int off = 0;
	for (int k = 0; k < count; k++) {
		if (off + 8 > len)
			return;
		uint32_t ssrc = get32(b + off);
		char cname[VOX_MAX_ID + 8] = "", name[VOX_MAX_NAME + 1] = "";
		int i = off + 4, ok = 0;
		while (i < len) {
			int t = b[i];
			if (t == 0) { ok = 1; i++; break; }
			if (i + 2 > len || i + 2 + b[i + 1] > len)
				return;
			if (t == 1) copy_text(cname, sizeof cname, b + i + 2, b[i + 1]);
			if (t == 2) copy_text(name, sizeof name, b + i + 2, b[i + 1]);
			i += 2 + b[i + 1];
		}
		if (!ok)
			return;
		off = (i + 3) & ~3;
		if (cname[0] == 0)
			continue;
		int is_mix = strncmp(cname, "mix:", 4) == 0;
		struct speaker *s = speaker_for(c, ssrc);
		if (!s)
			return;
		const char *pid = is_mix ? "" : cname;
		if (s->info.named && !s->info.left && s->info.is_mix == is_mix && strcmp(s->info.participant_id, pid) == 0 &&
		    strcmp(s->info.name, name) == 0)
			continue; /* a repeat */
		s->info.named = 1;
		s->info.left = 0;
		s->info.is_mix = is_mix;
		snprintf(s->info.participant_id, sizeof s->info.participant_id, "%.64s", pid);
		snprintf(s->info.name, sizeof s->info.name, "%s", name);
		c->st.roster_updates++;
		if (c->cfg.on_roster)
			c->cfg.on_roster(c->cfg.user, ssrc, s->info.participant_id, s->info.name, is_mix);
	}
}

static void on_rtcp(vox_client *c, uint8_t *b, int len) {
	int off = 0;
	while (off + 4 <= len) {
		const uint8_t *p = b + off;
		int plen = 4 * (get16(p + 2) + 1);
		if ((p[0] >> 6) != 2 || off + plen > len) {
			c->st.malformed++;
			return;
		}
		int count = p[0] & 0x1F, type = p[1];
		int body = plen - 4;
		if (p[0] & 0x20) { /* padding */
			int padn = p[plen - 1];
			if (padn == 0 || padn > body) { c->st.malformed++; return; }
			body -= padn;
		}
		switch (type) {
		case 202:
			on_sdes(c, p + 4, body, count);
			break;
		case 203:
			for (int i = 0; i < count && 4 * i + 4 <= body; i++) {
				uint32_t ssrc = get32(p + 4 + 4 * i);
				struct speaker *s = find(c, ssrc);
				c->st.byes++;
				if (s)
					s->info.left = 1;
				if (c->cfg.on_bye)
					c->cfg.on_bye(c->cfg.user, ssrc);
			}
			break;
		case 204:
			if (count == 1 && body >= 16 && memcmp(p + 8, "VOX1", 4) == 0) {
				if (get32(p + 4) != c->adm.server_ssrc)
					break; /* not the server's own RTCP: vox never sends that */
				int reason = p[12];
				uint32_t window = get32(p + 16);
				if (reason == 0)
					break;
				c->st.notices++;
				if (!c->notified) {
					c->notified = 1;
					if (c->cfg.on_reconnect)
						c->cfg.on_reconnect(c->cfg.user, reason, window);
				}
			}
			break;
		}
		off += plen;
	}
	if (off != len)
		c->st.malformed++;
}

static void on_datagram(vox_client *c, uint8_t *b, int len) {
	if (len < 8 || (b[0] >> 6) != 2) {
		c->st.malformed++;
		return;
	}
	srtp_err_status_t e;
	/* RFC 5761: RTCP types 192-223 in the second byte (RTP payload types
	 * 64-95 are never used on this port). */
	if (b[1] >= 192 && b[1] <= 223) {
		e = srtp_unprotect_rtcp(c->rx, b, &len);
		if (e == srtp_err_status_ok) {
			c->st.received_rtcp++;
			on_rtcp(c, b, len);
			return;
		}
	} else {
		if (len < 12) {
			c->st.malformed++;
			return;
		}
		e = srtp_unprotect(c->rx, b, &len);
		if (e == srtp_err_status_ok) {
			on_rtp(c, b, len);
			return;
		}
	}
	if (e == srtp_err_status_auth_fail)
		c->st.auth_failures++;
	else if (e == srtp_err_status_replay_fail || e == srtp_err_status_replay_old)
		c->st.replays++;
	else
		c->st.malformed++;
}

void vox_feed_plain(vox_client *c, uint8_t *b, int len, int rtcp) {
	if (rtcp)
		on_rtcp(c, b, len);
	else
		on_rtp(c, b, len);
}

int vox_poll(vox_client *c, int timeout_ms) {
	int n = 0;
	if (!c)
		return VOX_EINVAL;
	if (timeout_ms > 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int64_t due = c->next_rtcp_ms - now_ms();
		if (due < timeout_ms)
			timeout_ms = due < 0 ? 0 : (int)due;
		if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
			return VOX_ESYS;
	}
	for (;;) {
		ssize_t r = recv(c->fd, c->buf, MAX_DATAGRAM, 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				continue; /* an ICMP error from an earlier send */
			return VOX_ESYS;
		}
		n++;
		on_datagram(c, c->buf, (int)r);
	}
	if (now_ms() >= c->next_rtcp_ms)
		vox_send_rtcp(c);
	return n;
}

int vox_move(vox_client *c, const vox_admission *adm) {
	if (!c || !adm)
		return VOX_EINVAL;
	send_bye(c);
	detach(c);
	for (int i = 0; i < c->nspk; i++) {
		c->spk[i].info.left = 1; /* the old server's SSRCs are gone */
		c->spk[i].have_seq = 0;
	}
	prune(c);
	c->st.moves++;
	return attach(c, adm);
}

void vox_close(vox_client *c, int bye) {
	if (!c)
		return;
	if (bye && c->tx && c->fd >= 0)
		send_bye(c);
	detach(c);
	if (c->enc)
		opus_encoder_destroy(c->enc);
	for (int i = 0; i < c->nspk; i++) {
		if (c->spk[i].dec)
			opus_decoder_destroy(c->spk[i].dec);
		free(c->spk[i].ring);
	}
	free(c->spk);
	free(c);
}

int vox_speaker_count(const vox_client *c) { return c ? c->nspk : 0; }

int vox_speaker(const vox_client *c, int i, vox_speaker_info *out) {
	if (!c || !out || i < 0 || i >= c->nspk)
		return VOX_ENOTFOUND;
	*out = c->spk[i].info;
	out->pcm_pending = c->spk[i].len;
	return VOX_OK;
}

int vox_lookup(const vox_client *c, uint32_t ssrc, vox_speaker_info *out) {
	struct speaker *s = c ? find(c, ssrc) : NULL;
	if (!s || !out)
		return VOX_ENOTFOUND;
	*out = s->info;
	out->pcm_pending = s->len;
	return VOX_OK;
}

int vox_read_pcm(vox_client *c, uint32_t ssrc, int16_t *pcm, size_t cap) {
	struct speaker *s = c ? find(c, ssrc) : NULL;
	if (!s)
		return VOX_ENOTFOUND;
	size_t n = s->len < cap ? s->len : cap;
	for (size_t i = 0; i < n; i++)
		pcm[i] = s->ring[(s->head + i) % RING_SAMPLES];
	s->head = (s->head + n) % RING_SAMPLES;
	s->len -= n;
	return (int)n;
}

void vox_get_stats(const vox_client *c, vox_stats *out) {
	if (c && out)
		*out = c->st;
}

size_t vox_encoder_size(void) { return (size_t)opus_encoder_get_size(1); }

int vox_encoder_init(void *enc_state, int bitrate) {
	OpusEncoder *e = enc_state;
	if (opus_encoder_init(e, VOX_SAMPLE_RATE, 1, OPUS_APPLICATION_VOIP) != OPUS_OK)
		return VOX_EOPUS;
	opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate > 0 ? bitrate : 32000));
	opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(10));
	return VOX_OK;
}

int vox_encode(void *enc_state, const int16_t *pcm960, uint8_t *out, size_t cap) {
	int n = opus_encode(enc_state, pcm960, VOX_FRAME_SAMPLES, out, (opus_int32)cap);
	return n < 0 ? VOX_EOPUS : n;
}
