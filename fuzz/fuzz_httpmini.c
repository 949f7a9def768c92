/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the mini HTTP/1.1 parsers, over a socketpair holding the input. The first
 * byte picks: 0 a request as the server reads it (request line, head, Content-Length body),
 * answered by a handler that checks what it was given; 1 a response as the client reads it
 * (status line, Content-Type, Content-Length or end of stream); 2 a base URL. httpmini.c is
 * included to reach serve_one and read_response.
 */
#include "../audit/httpmini.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_HTTP_MAX (64u * 1024u)

static void
check_handler(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len,
	struct httpmini_reply *reply)
{
	(void)ctx;
	if (strlen(method) > 7 || path[0] != '/' || strchr(path, '?') != NULL ||
		len > FUZZ_HTTP_MAX || (len > 0 && body == NULL))
		abort();
	reply->status = 200;
	reply->content_type = "text/plain";
	reply->body = strdup("ok\n");
	reply->len = reply->body != NULL ? 3 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpmini_server s;
	struct httpmini_response resp;
	struct httpmini_url u;
	struct paso_diag d = {0};
	char buf[4096], *url;
	int sv[2];

	if (size < 1 || size - 1 > FUZZ_HTTP_MAX)
		return 0;
	if (data[0] % 3 == 2) {
		if ((url = malloc(size)) == NULL)
			return 0;
		memcpy(url, data + 1, size - 1);
		url[size - 1] = '\0';
		if (httpmini_parse_url(url, &u, &d) == 0 &&
			(u.prefix[0] != '/' || u.prefix[strlen(u.prefix) - 1] != '/'))
			abort();
		free(url);
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	/* The whole input is in the socket before the parser reads: nothing waits. */
	if (size > 1 && send(sv[1], data + 1, size - 1, MSG_NOSIGNAL) != (ssize_t)(size - 1)) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	(void)shutdown(sv[1], SHUT_WR);
	if (data[0] % 3 == 0) {
		memset(&s, 0, sizeof(s));
		s.max_body = FUZZ_HTTP_MAX;
		s.timeout_ms = 1000;
		s.h = check_handler;
		serve_one(&s, sv[0]);
		while (recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	} else {
		memset(&resp, 0, sizeof(resp));
		if (read_response(sv[0], FUZZ_HTTP_MAX, now_ms() + 1000, "fuzz", &resp, &d) == 0) {
			if (resp.status < 100 || resp.status > 599 || resp.len > FUZZ_HTTP_MAX ||
				resp.body[resp.len] != '\0')
				abort();
			free(resp.body);
		}
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
