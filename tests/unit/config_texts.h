/* config_texts.h - configuration snippets the check_config* programs
 * share: one minimal token of each type (named "t"), section headers and
 * a name one character over the 64 allowed. */
#ifndef TOKEND_TESTS_CONFIG_TEXTS_H
#define TOKEND_TESTS_CONFIG_TEXTS_H

#define OAUTH                                                                            \
	"[token \"t\"]\n"                                                                \
	"type = oauth2\n"                                                                \
	"token_url = https://issuer.example/oauth/token\n"                               \
	"client_id = id\n"                                                               \
	"client_secret = s3cret\n"
#define AUTH0                                                                            \
	"[token \"t\"]\n"                                                                \
	"type = auth0\n"                                                                 \
	"domain = Example.US.auth0.com\n"                                                \
	"client_id = id\n"                                                               \
	"client_secret = s3cret\n"
#define RDS                                                                              \
	"[token \"t\"]\n"                                                                \
	"type = rds\n"                                                                   \
	"host = db.example\n"                                                            \
	"user = iam_app\n"
#define EC                                                                               \
	"[token \"t\"]\n"                                                                \
	"type = elasticache\n"                                                           \
	"cache = Sessions-Valkey\n"                                                      \
	"user = app\n"
#define D      "[daemon]\n"
#define A      "[aws]\n"
#define LONG65 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

#endif
