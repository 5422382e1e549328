/*
 * retry.c -- when and how long to wait before trying a request again.
 * Pure arithmetic and classification, kept apart from transfer.c so it can be unit-tested.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "evalua.h"

void retry_policy_default(RetryPolicy *p) {
  static const int transient[] = {429, 502, 503, 504};
  memset(p, 0, sizeof *p);
  p->attempts = 4;               /* the first try and 3 retries */
  p->backoff = 0.2;
  p->max_backoff = 30;
  p->idempotent = -1;
  memcpy(p->statuses, transient, sizeof transient);
  p->nstatuses = 4;
}

double retry_backoff_cap(const RetryPolicy *p, int attempt) {
  double cap = p->backoff * pow(2, attempt > 2 ? attempt - 2 : 0);
  return cap < p->max_backoff ? cap : p->max_backoff;
}

/* "Equal jitter": never less than half the cap, so retries still spread out but a
 * server that asked us to slow down is not hit again after a few microseconds. */
double retry_backoff(const RetryPolicy *p, int attempt, double unit_random) {
  double cap = retry_backoff_cap(p, attempt);
  return cap / 2 + cap / 2 * unit_random;
}

double retry_after_parse(const char *value, double now_epoch) {
  const char *p = value;
  char *end;
  double secs;
  time_t when;
  if (value == NULL) return -1;
  while (isspace((unsigned char)*p)) p++;
  if (isdigit((unsigned char)*p)) {
    /* RFC 9110: delay-seconds = 1*DIGIT; "0x1", "1e0" and "1.5" are not that. */
    end = (char *)p;
    while (isdigit((unsigned char)*end)) end++;
    secs = strtod(p, NULL);
    while (isspace((unsigned char)*end)) end++;
    if (*end == '\0' && isfinite(secs)) return secs;
    return -1;
  }
  when = curl_getdate(p, NULL);
  if (when == -1) return -1;
  secs = (double)when - now_epoch;
  return secs > 0 ? secs : 0;
}

int retry_status_listed(const RetryPolicy *p, int status) {
  for (int i = 0; i < p->nstatuses; i++)
    if (p->statuses[i] == status) return 1;
  return 0;
}

int method_is_idempotent(const char *method) {
  static const char *const safe[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
    if (strcasecmp(method, safe[i]) == 0) return 1;
  return 0;
}

const char *retry_classify(int curlcode) {
  switch ((CURLcode)curlcode) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
  case CURLE_COULDNT_CONNECT: return "connect";
  case CURLE_OPERATION_TIMEDOUT: return "timeout";
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS: return "tls";
  default: return "protocol";    /* dropped connections, bad framing, body too large */
  }
}

int retry_transient(int curlcode) {
  switch ((CURLcode)curlcode) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM: return 1;
  default: return 0;
  }
}
