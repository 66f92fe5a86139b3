/* The loader's check of the native build against the installed sources (digest.py).
 *
 * digest.compute() in C: BLAKE2b-256 (RFC 7693, unkeyed) over, for each file named,
 * "<name>\0<length>\0" and its bytes. The same digest as the Python one, which the build
 * embeds (build.py) and which stays the reference (tests compare the two); in C because
 * a wheel's files never carry the build's stamp, so every start hashed ~200 KB through
 * _blake2 (its import, a Python loop of reads, the reference C code): ~3.9 M
 * instructions of loading the backend.
 *
 * Appended to sigsys.c by build.py (with that file's includes, and these). */

#include <stdio.h>
#include <stdlib.h>

static const uint64_t pp_b2_iv[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
};

struct pp_b2 {
    uint64_t h[8];
    uint64_t t;          /* bytes hashed so far (the high word of the counter stays 0) */
    size_t fill;         /* bytes waiting in buf */
    unsigned char buf[128];
};

static inline uint64_t pp_b2_rotr(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

#define PP_B2_G(a, b, c, d, x, y) do {                                \
        v##a = v##a + v##b + (x); v##d = pp_b2_rotr(v##d ^ v##a, 32); \
        v##c = v##c + v##d;       v##b = pp_b2_rotr(v##b ^ v##c, 24); \
        v##a = v##a + v##b + (y); v##d = pp_b2_rotr(v##d ^ v##a, 16); \
        v##c = v##c + v##d;       v##b = pp_b2_rotr(v##b ^ v##c, 63); \
    } while (0)

/* One round, its message schedule (RFC 7693's SIGMA row) spelled out: with constant
 * indices the state and message stay in registers (a table lookup per word doubled the
 * instructions of the whole hash). */
#define PP_B2_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) \
    do {                                                  \
        PP_B2_G(0, 4, 8, 12, m[s0], m[s1]);               \
        PP_B2_G(1, 5, 9, 13, m[s2], m[s3]);               \
        PP_B2_G(2, 6, 10, 14, m[s4], m[s5]);              \
        PP_B2_G(3, 7, 11, 15, m[s6], m[s7]);              \
        PP_B2_G(0, 5, 10, 15, m[s8], m[s9]);              \
        PP_B2_G(1, 6, 11, 12, m[s10], m[s11]);            \
        PP_B2_G(2, 7, 8, 13, m[s12], m[s13]);             \
        PP_B2_G(3, 4, 9, 14, m[s14], m[s15]);             \
    } while (0)

static void pp_b2_compress(struct pp_b2 *s, const unsigned char *block, int last)
{
    uint64_t m[16];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(m, block, sizeof m);  /* the words are little-endian: as they lie */
#else
    for (int i = 0; i < 16; i++) {
        uint64_t w = 0;
        for (int j = 7; j >= 0; j--)
            w = (w << 8) | block[8 * i + j];
        m[i] = w;
    }
#endif
    uint64_t v0 = s->h[0], v1 = s->h[1], v2 = s->h[2], v3 = s->h[3];
    uint64_t v4 = s->h[4], v5 = s->h[5], v6 = s->h[6], v7 = s->h[7];
    uint64_t v8 = pp_b2_iv[0], v9 = pp_b2_iv[1], v10 = pp_b2_iv[2], v11 = pp_b2_iv[3];
    uint64_t v12 = pp_b2_iv[4] ^ s->t, v13 = pp_b2_iv[5], v14 = pp_b2_iv[6], v15 = pp_b2_iv[7];
    if (last)
        v14 = ~v14;
    for (int twice = 0; twice < 2; twice++) {  /* rounds 10 and 11 repeat rounds 0 and 1 */
        PP_B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        PP_B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
        if (twice)
            break;
        PP_B2_ROUND(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);
        PP_B2_ROUND(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);
        PP_B2_ROUND(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);
        PP_B2_ROUND(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);
        PP_B2_ROUND(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);
        PP_B2_ROUND(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);
        PP_B2_ROUND(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);
        PP_B2_ROUND(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);
    }
    s->h[0] ^= v0 ^ v8;
    s->h[1] ^= v1 ^ v9;
    s->h[2] ^= v2 ^ v10;
    s->h[3] ^= v3 ^ v11;
    s->h[4] ^= v4 ^ v12;
    s->h[5] ^= v5 ^ v13;
    s->h[6] ^= v6 ^ v14;
    s->h[7] ^= v7 ^ v15;
}

static void pp_b2_init(struct pp_b2 *s)
{
    memcpy(s->h, pp_b2_iv, sizeof s->h);
    s->h[0] ^= 0x01010000ULL ^ 32;  /* depth 1, fanout 1, no key, 32-byte digest */
    s->t = 0;
    s->fill = 0;
}

/* A full buffer is compressed only once more input follows: the last block, full or
 * not, is the one final() flags. */
static void pp_b2_update(struct pp_b2 *s, const unsigned char *in, size_t n)
{
    while (n > 0) {
        if (s->fill == sizeof s->buf) {
            s->t += sizeof s->buf;
            pp_b2_compress(s, s->buf, 0);
            s->fill = 0;
        }
        size_t take = sizeof s->buf - s->fill;
        if (take > n)
            take = n;
        memcpy(s->buf + s->fill, in, take);
        s->fill += take;
        in += take;
        n -= take;
    }
}

static void pp_b2_final_hex(struct pp_b2 *s, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    s->t += s->fill;
    memset(s->buf + s->fill, 0, sizeof s->buf - s->fill);
    pp_b2_compress(s, s->buf, 1);
    for (int i = 0; i < 32; i++) {
        unsigned byte = (unsigned)(s->h[i / 8] >> (8 * (i % 8))) & 0xFF;
        hex[2 * i] = digits[byte >> 4];
        hex[2 * i + 1] = digits[byte & 15];
    }
    hex[64] = '\0';
}

/* Hex digest (65 bytes with its NUL) into *hex* of the files *names* (each ended by a
 * NUL, *len* bytes in all) under the directory *root*: 0, or -errno when one cannot
 * be opened or read (the caller refuses the build then, as digest.compute() raises). */
long pp_sources_digest(const char *root, const char *names, size_t len, char *hex)
{
    struct pp_b2 s;
    pp_b2_init(&s);
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -errno;
    long rc = 0;
    unsigned char *data = NULL;
    size_t cap = 0;
    for (size_t at = 0; at < len && rc == 0;) {
        const char *name = names + at;
        size_t nlen = strnlen(name, len - at);
        if (nlen == len - at) {
            rc = -EINVAL;  /* the last name has no NUL */
            break;
        }
        at += nlen + 1;
        int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            break;
        }
        size_t got = 0;  /* the whole file, to its end: its length precedes its bytes */
        for (;;) {
            if (got == cap) {
                size_t more = cap ? 2 * cap : 65536;
                unsigned char *grown = realloc(data, more);
                if (grown == NULL) {
                    rc = -ENOMEM;
                    break;
                }
                data = grown;
                cap = more;
            }
            ssize_t n = read(fd, data + got, cap - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                rc = -errno;
                break;
            }
            if (n == 0)
                break;
            got += (size_t)n;
        }
        close(fd);
        if (rc != 0)
            break;
        char head[4096 + 32];
        int hl = snprintf(head, sizeof head, "%s%c%zu%c", name, '\0', got, '\0');
        if (hl < 0 || (size_t)hl >= sizeof head) {
            rc = -ENAMETOOLONG;
            break;
        }
        pp_b2_update(&s, (const unsigned char *)head, (size_t)hl);
        pp_b2_update(&s, data, got);
    }
    free(data);
    close(dir);
    if (rc == 0)
        pp_b2_final_hex(&s, hex);
    return rc;
}
