/*
 * vox.h - a C client for the vox voice server (libvoxc).
 *
 * Plain C ABI for game engines: no global state of its own (libsrtp's
 * crypto kernel is initialised on the first vox_open and never shut down),
 * no threads, no callbacks except the ones you register, every buffer owned
 * by the caller. One vox_client is used by one thread at a time.
 *
 * The wire protocol is docs/protocol.md of the vox repository; this library
 * implements it on Debian's libsrtp2 and libopus:
 *
 *   vox_admission adm;  vox_admission_parse(json, len, &adm, err, sizeof err);
 *   vox_client *c;      vox_open(&c, &adm, &cfg);
 *   every 20 ms:        vox_send_pcm(c, pcm960, 960);   (or vox_send_silence)
 *                       vox_poll(c, 0);                  (receive, RTCP timer)
 *                       for each speaker i: vox_speaker(c, i, &info);
 *                           vox_read_pcm(c, info.ssrc, buf, cap);
 *   on a reconnect notice (cfg.on_reconnect): get a new admission from your
 *                       routing service, then vox_move(c, &new_adm);
 *   leaving:            vox_close(c, 1);
 *
 * Audio: 48 kHz mono int16, 20 ms frames (960 samples).
 */
#ifndef VOX_H
#define VOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VOX_FRAME_SAMPLES 960   /* 20 ms at 48 kHz */
#define VOX_SAMPLE_RATE 48000
#define VOX_MAX_ID 64           /* participant and session ids */
#define VOX_MAX_NAME 255        /* display names (vox sends at most 64 bytes) */
#define VOX_MAX_CSRCS 15

/* Errors (negative return values). */
enum {
	VOX_OK = 0,
	VOX_EINVAL = -1,    /* bad argument or admission */
	VOX_ESYS = -2,      /* a system call failed (errno is kept) */
	VOX_ESRTP = -3,     /* libsrtp refused (policy, key) */
	VOX_EOPUS = -4,     /* libopus refused */
	VOX_ENOMEM = -5,
	VOX_ENOTFOUND = -6, /* no such speaker */
};

enum vox_profile {
	VOX_AES_CM_128_HMAC_SHA1_80 = 1,
	VOX_AES_CM_128_HMAC_SHA1_32 = 2,
	VOX_AEAD_AES_128_GCM = 3,
};

/* Reconnect notice reasons (the VOX1 APP packet). */
enum vox_reason {
	VOX_REASON_DRAIN = 1,
	VOX_REASON_SESSION_CLOSED = 2,
	VOX_REASON_REMOVED = 3,
	VOX_REASON_SHUTDOWN = 4,
};

/* The admission answer (POST /v1/sessions/{id}/participants), as the
 * routing service relays it to the client. */
typedef struct vox_admission {
	char session_id[VOX_MAX_ID + 1];
	char participant_id[VOX_MAX_ID + 1];
	uint32_t ssrc;        /* ours: every RTP and RTCP packet we send */
	uint32_t server_ssrc; /* the server's RTCP and our mixed stream */
	char media_address[256]; /* IPv4, IPv6 or a host name */
	int media_port;
	int profile; /* enum vox_profile */
	/* master key || master salt, per direction */
	uint8_t c2s_key[16 + 14];
	uint8_t s2c_key[16 + 14];
	int key_len;  /* 16 */
	int salt_len; /* 14 (AES-CM) or 12 (GCM) */
	int audio_level_ext_id; /* RFC 8285 one-byte id of the RFC 6464 level, 0: none */
	int64_t join_timeout_ms;
	int64_t idle_timeout_ms;
} vox_admission;

/* Parse an admission answer (JSON). On error returns VOX_EINVAL and writes
 * a message into err (if errlen > 0). */
int vox_admission_parse(const char *json, size_t len, vox_admission *out, char *err, size_t errlen);

/* Callbacks, all called from inside vox_poll on the caller's thread. */
typedef struct vox_config {
	/* An authenticated reconnect notice from the current server: ask your
	 * routing service for a new server at a random moment within
	 * window_ms, then call vox_move. Repeats of the same notice are
	 * reported once per server. */
	void (*on_reconnect)(void *user, int reason, uint32_t window_ms);
	/* The server named the SSRC of a stream we receive (participant id;
	 * name "" if it has none; is_mix: our mixed stream). Called on every
	 * change, not on repeats. */
	void (*on_roster)(void *user, uint32_t ssrc, const char *participant_id, const char *name, int is_mix);
	/* The server said BYE for a stream's SSRC (its participant left). */
	void (*on_bye)(void *user, uint32_t ssrc);
	void *user;
	int bitrate;     /* Opus bits per second; 0: 32000 */
	int rtcp_ms;     /* RTCP report interval; 0: 1000 */
	int dtx;         /* Opus DTX on (send nothing while silent but RTCP) */
} vox_config;

typedef struct vox_client vox_client;

/* Open a client for an admission: resolve and connect the UDP socket,
 * create the SRTP sessions and the Opus encoder. Sends nothing yet; send
 * the first packet (vox_send_pcm or vox_send_rtcp) well within
 * adm->join_timeout_ms. */
int vox_open(vox_client **out, const vox_admission *adm, const vox_config *cfg);

/* Leave (bye != 0: send an RTCP BYE first) and free everything. */
void vox_close(vox_client *c, int bye);

/* Move to another server with a new admission (after a reconnect notice):
 * BYE to the old server, then a new socket, keys and SSRC. Received
 * speakers and their PCM are kept; the new server names its streams anew. */
int vox_move(vox_client *c, const vox_admission *adm);

/* The socket, for the caller's own poll/epoll loop (readable: call
 * vox_poll(c, 0)). */
int vox_fd(const vox_client *c);

/* Our local address as "ip:port" into buf. */
int vox_local_addr(const vox_client *c, char *buf, size_t len);

/* Encode and send one 20 ms frame (960 samples), with the RFC 6464 audio
 * level computed from it. */
int vox_send_pcm(vox_client *c, const int16_t *pcm, int samples);

/* Send an RTCP report now (vox_poll also sends one every rtcp_ms). */
int vox_send_rtcp(vox_client *c);

/* Receive everything pending (waiting up to timeout_ms for the first
 * datagram; 0: do not wait), decrypt, decode, update the roster, run the
 * callbacks and the RTCP timer. Returns the number of datagrams read. */
int vox_poll(vox_client *c, int timeout_ms);

typedef struct vox_speaker_info {
	uint32_t ssrc;
	char participant_id[VOX_MAX_ID + 1]; /* "" until named */
	char name[VOX_MAX_NAME + 1];
	int is_mix;        /* our mixed stream (its CSRCs say who is in it) */
	int named;         /* the roster named it */
	int left;          /* the server said BYE */
	uint64_t packets;  /* RTP packets received */
	uint64_t lost;     /* sequence gaps concealed */
	int audio_level;   /* last RFC 6464 level (0..127), -1: none */
	int ncsrc;         /* mix: who was in the last packet */
	uint32_t csrcs[VOX_MAX_CSRCS];
	size_t pcm_pending; /* decoded samples waiting for vox_read_pcm */
} vox_speaker_info;

/* Speakers: every SSRC we received RTP from or the roster named,
 * 0 <= i < vox_speaker_count (at most 256). Speakers that left (BYE, or
 * the old server's after vox_move) stay, marked left, until their PCM has
 * been read; then vox_move, or a full table, frees them: indexes change,
 * keep SSRCs, not indexes. */
int vox_speaker_count(const vox_client *c);
int vox_speaker(const vox_client *c, int i, vox_speaker_info *out);
/* The roster entry of any SSRC (e.g. a CSRC of the mix). */
int vox_lookup(const vox_client *c, uint32_t ssrc, vox_speaker_info *out);

/* Take up to cap decoded samples of ssrc's voice (48 kHz mono). Returns
 * the number copied (0: none pending), VOX_ENOTFOUND for an unknown SSRC.
 * Each speaker buffers up to 2 s; older samples are dropped. */
int vox_read_pcm(vox_client *c, uint32_t ssrc, int16_t *pcm, size_t cap);

typedef struct vox_stats {
	uint64_t sent, sent_rtcp, send_errors;
	uint64_t received, received_rtcp;
	uint64_t auth_failures; /* SRTP/SRTCP authentication failed: dropped */
	uint64_t replays;       /* replayed or too old: dropped */
	uint64_t malformed;     /* not RTP/RTCP, bad RTCP, undecodable: dropped */
	uint64_t notices;       /* authenticated reconnect notices */
	uint64_t roster_updates, byes;
	uint64_t moves;
} vox_stats;

void vox_get_stats(const vox_client *c, vox_stats *out);

/* Encode PCM to Opus with vox's parameters (a standalone encoder for tools
 * and tests): returns the packet length or a negative error. enc_state is
 * caller memory of vox_encoder_size() bytes, set up by vox_encoder_init. */
size_t vox_encoder_size(void);
int vox_encoder_init(void *enc_state, int bitrate);
int vox_encode(void *enc_state, const int16_t *pcm960, uint8_t *out, size_t cap);

/* The string of an error code. */
const char *vox_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
