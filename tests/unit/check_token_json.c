/* check_token_json.c - placeholder: being written. */
#include <check.h>
#include <stdlib.h>

int main(void);

int
main(void)
{
	Suite *s = suite_create("token_json");
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
