#define _POSIX_C_SOURCE 200809L
/* The shared-memory ring on its own: create, attach from a second mapping,
 * slot ownership, and the refusals (bad names and geometries, a missing
 * object, a header of another geometry). Real shm_open objects. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "sonoedge.h"
#include "check.h"

int main(void) {
  (void)read_file; /* check.h's fixture reader: not needed here */
  char name[64];
  snprintf(name, sizeof name, "/sonoedge-ctest-%ld", (long)getpid());
  se_ring a, b;
  CHECK(se_ring_create(&a, name, 4, 8192, 0600) == SE_OK, "create %s: errno %d", name, errno);
  CHECK(a.size == 4096 + 4 * 8192 && se_ring_free_slots(&a) == 4, "geometry and ownership");
  CHECK(se_ring_create(&b, name, 4, 8192, 0600) == SE_ESHM && errno == EEXIST, "a second create of the same name fails");
  CHECK(se_ring_attach(&b, name, 4, 8192) == SE_OK && b.created == 0, "attach");
  CHECK(se_ring_header_check(b.base, 4096, 4, 8192) == SE_OK, "the header is there");
  se_ring_slot(&a, 3)[0] = 0xAB;
  CHECK(se_ring_slot(&b, 3)[0] == 0xAB, "both mappings see the slot");
  CHECK(se_ring_slot(&a, 4) == NULL, "slot 4 of 4 is out of range");
  se_ring_close(&b);
  se_ring c;
  CHECK(se_ring_attach(&c, name, 8, 8192) == SE_ESHM, "attach with another geometry is refused");
  int got[5];
  for (int i = 0; i < 5; i++) got[i] = se_ring_slot_acquire(&a);
  CHECK(got[0] == 0 && got[1] == 1 && got[4] == 0, "acquire does not take ownership by itself (round robin)");
  a.owned = 0; /* as if four FRAME_READYs went out */
  CHECK(se_ring_slot_acquire(&a) == -1, "no free slot");
  CHECK(se_ring_release(&a, 2) == SE_OK && se_ring_slot_acquire(&a) == 2, "a released slot is acquired");
  CHECK(se_ring_release(&a, 2) == SE_ESLOT && se_ring_release(&a, 9) == SE_ESLOT && a.bad_releases == 2, "double and out-of-range releases are counted");
  se_ring_reset(&a);
  CHECK(se_ring_free_slots(&a) == 4, "reset gives every slot back");
  se_ring_close(&a);
  CHECK(se_ring_attach(&c, name, 4, 8192) == SE_ESHM && errno == ENOENT, "close unlinked the ring");
  CHECK(se_ring_create(&c, "/a/b", 4, 8192, 0600) == SE_EARG, "a second slash");
  CHECK(se_ring_create(&c, "ring", 4, 8192, 0600) == SE_EARG, "no leading slash");
  CHECK(se_ring_create(&c, "/..", 4, 8192, 0600) == SE_EARG, "dot-dot");
  CHECK(se_ring_create(&c, name, 1, 8192, 0600) == SE_EARG, "one slot");
  CHECK(se_ring_create(&c, name, 65, 8192, 0600) == SE_EARG, "65 slots");
  CHECK(se_ring_create(&c, name, 4, 5000, 0600) == SE_EARG, "slot bytes not a multiple of 4096");
  DONE();
}
