/* CPU time of libsrtp2 to protect and unprotect one 20 ms G.711 packet
 * (12-byte header, 160-byte payload), AES_CM_128_HMAC_SHA1_80 (or _32 with
 * the argument "32"), replay window 128: the yardstick against which
 * webrtc-srtp was chosen (bench/results/p2_srtp.md).
 *
 * Against a libsrtp2 built with OpenSSL (AES-NI, SHA-NI), from a checkout
 * of https://github.com/cisco/libsrtp:
 *   ./configure --enable-openssl && make libsrtp2.a
 *   mkdir -p inc/srtp2 && cp include/srtp.h inc/srtp2/
 *   cc -O2 -I inc -I include protect_unprotect.c libsrtp2.a -lcrypto
 * Against Debian's libsrtp2-dev (built on NSS):
 *   cc -O2 protect_unprotect.c $(pkg-config --cflags --libs libsrtp2)
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int tag80 = argc < 2 || argv[1][0] != '3';
  srtp_init();
  unsigned char key[30];
  for (int i = 0; i < 30; i++) key[i] = i * 7 + 1;
  srtp_policy_t pin, pout;
  memset(&pout, 0, sizeof pout);
  if (tag80)
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pout.rtp);
  else
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(&pout.rtp);
  srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pout.rtcp);
  pout.ssrc.type = ssrc_any_outbound;
  pout.key = key;
  pout.window_size = 128;
  pin = pout;
  pin.ssrc.type = ssrc_any_inbound;
  srtp_t out, in;
  if (srtp_create(&out, &pout) || srtp_create(&in, &pin)) {
    printf("srtp_create failed\n");
    return 1;
  }
  const int n = 2000000;
  unsigned char pkt[256];
  double t0 = cpu_seconds();
  for (int i = 0; i < n; i++) {
    memset(pkt, 0, 12);
    pkt[0] = 0x80;
    pkt[2] = (i >> 8) & 0xff;
    pkt[3] = i & 0xff;
    pkt[10] = 0x12;
    pkt[11] = 0x34;
    for (int j = 0; j < 160; j++) pkt[12 + j] = j ^ 0x55;
    int len = 172;
    if (srtp_protect(out, pkt, &len)) {
      printf("srtp_protect failed\n");
      return 1;
    }
    if (srtp_unprotect(in, pkt, &len) || len != 172) {
      printf("srtp_unprotect failed at %d\n", i);
      return 1;
    }
  }
  double t = cpu_seconds() - t0;
  printf("AES_CM_128_HMAC_SHA1_%s: protect+unprotect %.0f ns of CPU per packet\n",
         tag80 ? "80" : "32", t / n * 1e9);
  return 0;
}
