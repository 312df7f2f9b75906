/*
 * vox_internal.h - test hooks of libvoxc, not part of its ABI (vox.h).
 */
#ifndef VOX_INTERNAL_H
#define VOX_INTERNAL_H

#include <stdint.h>

#include "vox.h"

/* vox_feed_plain runs the receive path after SRTP on plaintext b (RTP, or
 * compound RTCP when rtcp != 0), as if it had authenticated: the parsers'
 * fuzz hook (voxc fuzz). b may be modified. */
void vox_feed_plain(vox_client *c, uint8_t *b, int len, int rtcp);

#endif
