/* A real workload for jitslab-run: main calls straight into Debian's libz.a. */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

int main(void) {
  static unsigned char text[64 * 1024], packed[80 * 1024], unpacked[64 * 1024];
  for (size_t i = 0; i < sizeof text; i++)
    text[i] = "the quick brown fox jumps over the lazy dog\n"[i % 44] ^ (i / 4096);
  uLongf packed_len = sizeof packed, unpacked_len = sizeof unpacked;
  if (compress2(packed, &packed_len, text, sizeof text, 9) != Z_OK)
    return 1;
  if (uncompress(unpacked, &unpacked_len, packed, packed_len) != Z_OK)
    return 2;
  printf("zlib %s\n", zlibVersion());
  printf("in %zu bytes, compressed %lu bytes, round trip %s\n", sizeof text,
         (unsigned long)packed_len, memcmp(text, unpacked, sizeof text) ? "BAD" : "ok");
  printf("crc32 %08lx adler32 %08lx\n", crc32(0, text, sizeof text), adler32(1, text, sizeof text));
  return 0;
}
