/* The object the ORC-level unit tests link: code, read-only data, data and zero-fill data, so
 * one link touches all three of jitslab's pools. A fresh link starts from the initial values:
 * the first call of jitslab_payload_step returns 141, the second 242. */

static int counter = 40;                                    /* .data */
static int calls;                                           /* .bss */
static const char greeting[] = "hello from a JIT'd object"; /* .rodata */

int jitslab_payload_step(void) { return ++calls * 100 + ++counter; }

const char *jitslab_payload_greeting(void) { return greeting; }
