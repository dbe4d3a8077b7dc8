/* fuzz.h - what every libFuzzer harness in tests/fuzz shares: the entry
 * points' prototypes, a quiet process, and the input cut into the
 * NUL-terminated fields the parsers under test expect. */
#ifndef TOKEND_FUZZ_H
#define TOKEND_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points, declared for -Wmissing-prototypes. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The part of the input not read yet. */
struct fuzz_input {
	const uint8_t *p;
	size_t n;
};

/* Logs only what is critical (the parsers log their refusals), and reads
 * stdin from /dev/null so that a fuzzed "file:/dev/stdin" cannot block. */
void fuzz_setup(void);

/* The next byte, or 0 once the input is used up. */
uint8_t fuzz_take_byte(struct fuzz_input *in);
/* The bytes up to sep (consumed, not included) or to the end, as a heap
 * string with a trailing NUL; *len (may be NULL) gets their count, which
 * counts any NUL inside. Free with free(). */
char *fuzz_take_field(struct fuzz_input *in, char sep, size_t *len);
/* Everything left, the same way. */
char *fuzz_take_rest(struct fuzz_input *in, size_t *len);

#endif
