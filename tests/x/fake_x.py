#!/usr/bin/env python3
"""A fake X (Twitter) API for Herald's tests: OAuth 1.0a (HMAC-SHA1) and `POST /2/tweets`.

    fake_x.py --port 0 --consumer-key CK --consumer-secret CS
              [--access-token T --access-secret S] [--user-id 1234] [--username herald_status]
              [--watch-stdin] [--verbose]

Binds 127.0.0.1 and prints `READY <port>` as its first stdout line, then serves until killed
(or, with --watch-stdin, until its stdin is closed, so a test process that dies leaves no
server behind). Nothing else is written to stdout; --verbose logs each request to stderr.

Every OAuth endpoint and every /2/ endpoint checks the request as X does, independently of the
client under test (signatures are recomputed with oauthlib's RFC 5849 helpers):

* an `Authorization: OAuth ...` header carrying oauth_consumer_key, oauth_nonce,
  oauth_signature, oauth_signature_method=HMAC-SHA1, oauth_timestamp (and oauth_token, except
  on /oauth/request_token); oauth_version, if present, is 1.0; no parameter twice;
* the consumer key matches; the timestamp is within 300 s of now; the token is known for the
  stage (a request token on /oauth/access_token, a live access token on /2/);
* the signature verifies over the method, `http://<Host header><path>`, the query parameters,
  the Authorization header's oauth_* parameters and, only for an
  `application/x-www-form-urlencoded` body, the body parameters (a JSON body is not signed,
  as on real X);
* the nonce, for that timestamp and token, was never seen before (a replay is refused).

A failure is answered 401: on /2/ with X's v2 problem body, on /oauth/ with
`{"errors":[{"code":32,"message":"Could not authenticate you."}]}`. The reason (for a bad
signature, the base string the fake expected) is in the request log and in the response
header `x-fake-x-reason`.

Endpoints: POST /oauth/request_token, GET /oauth/authorize (and /oauth/authenticate), POST
/oauth/access_token, GET /2/users/me, POST /2/tweets. Like real X, an account that connects
again gets the same access token back, until that token is revoked.

Control API (no OAuth, JSON, not recorded in the request log):
  POST /_control/script {"responses":[{"status":429,"reset_in":2},{"status":503},...]}
       the next otherwise-valid POST /2/tweets get these answers in order (401, 403 =
       duplicate content, 429 with optional reset_in seconds (default 60), 503, or any other
       status; an entry may carry its own "body")
  POST /_control/revoke {"token":"..."}     POST /_control/deny_next_authorize {}
  POST /_control/reset   forgets tweets, scripts, the request log and rate-limit state
  GET  /_control/tweets | /_control/requests | /_control/tokens
"""
import argparse
import hmac
import http.server
import json
import math
import secrets
import string
import sys
import threading
import time
from collections import deque
from types import SimpleNamespace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from oauthlib.oauth1.rfc5849 import signature as oauth_sig
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

TIMESTAMP_SKEW = 300
TWITTER_EPOCH_MS = 1288834974657
WINDOW = 15 * 60
# Per-user limits of the endpoints, per 15-minute window.
LIMITS = {"POST /2/tweets": 200, "GET /2/users/me": 75}
DEFAULT_LIMIT = 900
REQUIRED_OAUTH = ("oauth_consumer_key", "oauth_nonce", "oauth_signature",
                  "oauth_signature_method", "oauth_timestamp")
TWEET_FIELDS = {"text", "reply", "quote_tweet_id", "media", "poll", "reply_settings",
                "for_super_followers_only", "direct_message_deep_link", "geo", "nullcast",
                "card_uri", "community_id", "edit_options", "made_with_ai",
                "paid_partnership", "share_with_followers"}
REPLY_FIELDS = {"in_reply_to_tweet_id", "exclude_reply_user_ids", "auto_populate_reply_metadata"}

OAUTH_401 = {"errors": [{"code": 32, "message": "Could not authenticate you."}]}
V2_401 = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
V2_403_DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.",
                    "type": "about:blank", "title": "Forbidden", "status": 403}
V2_429 = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank",
          "status": 429}
V2_503 = {"title": "Service Unavailable", "detail": "Service Unavailable", "type": "about:blank",
          "status": 503}

JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json"
FORM_REPLY_TYPE = "text/html; charset=utf-8"  # what X sends with its form-encoded answers


def invalid_request(parameter, value, message):
    return {"errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"}


def problem(status):
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def random_token(n, alphabet=string.ascii_letters + string.digits):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def expected_signature(method, url, params, consumer_secret, token_secret):
    """The signature base string and HMAC-SHA1 signature (RFC 5849 3.4) for a request.

    url: scheme://host[:port]/path, no query; params: decoded (name, value) pairs from the
    query, the Authorization header (realm left out) and a form body. Collected by the caller
    rather than with oauthlib's collect_parameters(), which percent-decodes oauth_* values a
    second time.
    """
    params = [(k, v) for k, v in params if k != "oauth_signature"]
    base_uri = oauth_sig.base_string_uri(url)
    base = oauth_sig.signature_base_string(method, base_uri,
                                           oauth_sig.normalize_parameters(params))
    keys = SimpleNamespace(client_secret=consumer_secret, resource_owner_secret=token_secret)
    return base, oauth_sig.sign_hmac_sha1_with_client(base, keys)


class Reply(Exception):
    """An answer decided part way through handling a request."""

    def __init__(self, status, body, content_type=JSON_TYPE, reason=None, headers=None,
                 early=False):
        super().__init__(reason)
        self.status = status
        self.body = body
        self.content_type = content_type
        self.reason = reason
        self.headers = headers or {}
        self.early = early


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.consumer_key = args.consumer_key
        self.consumer_secret = args.consumer_secret
        self.user_id = args.user_id
        self.username = args.username
        self.name = args.name
        self.request_tokens = {}  # token -> {secret, callback, verifier, denied, used}
        self.access_tokens = {}  # token -> {token, secret, user_id, username, revoked}
        self.nonces = set()
        self.last_id = 0
        if args.access_token:
            self.add_access_token(args.access_token, args.access_secret or "")
        self.reset()

    def reset(self):
        self.tweets = []
        self.known_ids = set()
        self.script = deque()
        self.requests = []
        self.deny_next = False
        self.windows = {}  # "METHOD path" -> [reset epoch, remaining]
        self.blocked_until = None  # POST /2/tweets answers 429 until then

    def add_access_token(self, token, secret):
        self.access_tokens[token] = {"token": token, "secret": secret, "user_id": self.user_id,
                                     "username": self.username, "revoked": False}
        return self.access_tokens[token]

    def next_tweet_id(self):
        snowflake = (int(time.time() * 1000) - TWITTER_EPOCH_MS) << 22
        self.last_id = max(self.last_id + 1, snowflake)
        return str(self.last_id)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-x/1"
    sys_version = ""
    verbose = False
    state: State = None

    # ---- plumbing ---------------------------------------------------------------------------

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake_x: %s\n" % (fmt % args))

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def do_PUT(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def do_PATCH(self):
        self.handle_any()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body, content_type=JSON_TYPE, headers=None):
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        self.send_response(status)
        if data or status not in (204, 302):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        body = self.read_body()
        url = urlsplit(self.path)
        path = url.path or "/"
        if path.startswith("/_control/"):
            try:
                self.control(path, body)
            except Reply as r:
                self.send(r.status, r.body, r.content_type, r.headers)
            return
        st = self.state
        reply = None
        try:
            self.route(path, url.query, body)
        except Reply as r:
            reply = r
        except Exception as e:  # a bug in the fake: say so rather than hang the test
            reply = Reply(500, problem(500), PROBLEM_TYPE, reason="fake_x error: %r" % e)
        headers = dict(reply.headers)
        if reply.reason and reply.status >= 400:
            headers["x-fake-x-reason"] = reply.reason.replace("\r", " ").replace("\n", " ")
        with st.lock:
            st.requests.append({"method": self.command, "path": path, "status": reply.status,
                                "reason": reply.reason,
                                "early": reply.early, "at": time.time()})
        self.send(reply.status, reply.body, reply.content_type, headers)

    # ---- routing ----------------------------------------------------------------------------

    def route(self, path, query, body):
        m = self.command
        if path.startswith("/2/"):
            key = "%s %s" % (m, path)
            if key == "POST /2/tweets":
                self.post_tweet(query, body)
            elif key == "GET /2/users/me":
                self.users_me(query, body)
            else:
                raise Reply(404, {"errors": [{"message": "Sorry, that page does not exist",
                                              "code": 34}]},
                            reason="no such endpoint: %s" % key,
                            headers=self.window_headers(key, consume=False))
        if m == "POST" and path == "/oauth/request_token":
            return self.request_token(query, body)
        if m == "GET" and path in ("/oauth/authorize", "/oauth/authenticate"):
            return self.authorize(query)
        if m == "POST" and path == "/oauth/access_token":
            return self.access_token(query, body)
        raise Reply(404, {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]},
                    reason="no such endpoint: %s %s" % (m, path))

    # ---- OAuth 1.0a verification ------------------------------------------------------------

    def verify(self, query, body, stage):
        """Checks the request's OAuth 1.0a signature. Returns (oauth params, token record).

        stage: "consumer" (no token), "request" (a request token) or "access" (an access token).
        Raises Reply(401) with the reason on any failure.
        """
        st = self.state
        v2 = stage == "access"
        fail_body = V2_401 if v2 else OAUTH_401
        fail_type = PROBLEM_TYPE if v2 else JSON_TYPE

        def fail(reason):
            raise Reply(401, fail_body, fail_type, reason=reason)

        header = self.headers.get("Authorization")
        if not header:
            fail("missing Authorization header")
        if not header[:6].lower() == "oauth ":
            fail("Authorization header is not OAuth")
        header_params = []
        try:
            for item in oauth_utils.parse_http_list(header[6:]):
                k, sep, v = item.strip().partition("=")
                if not sep or len(v) < 2 or v[0] != '"' or v[-1] != '"':
                    fail("malformed Authorization header item %r" % item)
                header_params.append((k.strip(), oauth_utils.unescape(v[1:-1])))
        except ValueError as e:
            fail("malformed Authorization header: %s" % e)
        header_params = [(k, v) for k, v in header_params if k != "realm"]
        names = [k for k, _ in header_params]
        for k in names:
            if not k.startswith("oauth_"):
                fail("unexpected parameter %r in Authorization header" % k)
            if names.count(k) > 1:
                fail("parameter %s given twice in Authorization header" % k)
        oauth = dict(header_params)

        try:
            query_params = parse_qsl(query, keep_blank_values=True, strict_parsing=False,
                                     errors="strict")
        except UnicodeDecodeError:
            raise Reply(400, problem(400), PROBLEM_TYPE, reason="query is not UTF-8")
        body_params = []
        media_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type == "application/x-www-form-urlencoded" and body:
            try:
                body_params = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise Reply(400, problem(400), PROBLEM_TYPE, reason="form body is not UTF-8")
        for k, _ in query_params + body_params:
            if k in oauth:
                fail("parameter %s given both in Authorization header and query/body" % k)
        self.form_params = dict(body_params)

        for k in REQUIRED_OAUTH + (("oauth_token",) if stage != "consumer" else ()):
            if not oauth.get(k):
                fail("missing %s in Authorization header" % k)
        if oauth["oauth_signature_method"] != "HMAC-SHA1":
            fail("unsupported oauth_signature_method %r" % oauth["oauth_signature_method"])
        if "oauth_version" in oauth and oauth["oauth_version"] != "1.0":
            fail("unsupported oauth_version %r" % oauth["oauth_version"])
        if not hmac.compare_digest(oauth["oauth_consumer_key"].encode(),
                                   st.consumer_key.encode()):
            fail("unknown consumer key %r" % oauth["oauth_consumer_key"])
        ts = oauth["oauth_timestamp"]
        if not ts.isdigit():
            fail("oauth_timestamp %r is not an integer" % ts)
        skew = int(ts) - time.time()
        if abs(skew) > TIMESTAMP_SKEW:
            fail("oauth_timestamp %s is %+.0f s from now (more than %d s)"
                 % (ts, skew, TIMESTAMP_SKEW))

        token = oauth.get("oauth_token")
        record = None
        with st.lock:
            if stage == "consumer":
                if token:
                    fail("unexpected oauth_token on /oauth/request_token")
                token_secret = ""
            elif stage == "request":
                record = st.request_tokens.get(token)
                if record is None:
                    fail("unknown request token %r" % token)
                if record["used"]:
                    fail("request token %r was already exchanged" % token)
                if record["denied"]:
                    fail("request token %r was denied by the user" % token)
                token_secret = record["secret"]
            else:
                record = st.access_tokens.get(token)
                if record is None:
                    fail("unknown access token %r" % token)
                if record["revoked"]:
                    fail("access token %r was revoked" % token)
                token_secret = record["secret"]

        host = self.headers.get("Host")
        if not host:
            raise Reply(400, problem(400), PROBLEM_TYPE, reason="missing Host header")
        path = urlsplit(self.path).path or "/"
        try:
            base, expected = expected_signature(self.command, "http://%s%s" % (host, path),
                                                query_params + header_params + body_params,
                                                st.consumer_secret, token_secret)
        except ValueError as e:
            fail("cannot build the signature base string URI: %s" % e)
        if not hmac.compare_digest(expected.encode(), oauth["oauth_signature"].encode()):
            fail("bad signature; expected base string: %s" % base)

        with st.lock:
            seen = (token or "", ts, oauth["oauth_nonce"])
            if seen in st.nonces:
                fail("replayed nonce %r (timestamp %s)" % (oauth["oauth_nonce"], ts))
            st.nonces.add(seen)
            if record is not None and record.get("revoked"):
                fail("access token %r was revoked" % token)
        return oauth, record

    # ---- OAuth endpoints --------------------------------------------------------------------

    def request_token(self, query, body):
        oauth, _ = self.verify(query, body, "consumer")
        callback = oauth.get("oauth_callback")
        if not callback:
            raise Reply(401, OAUTH_401, reason="missing oauth_callback")
        if callback != "oob":
            parts = urlsplit(callback)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise Reply(401, OAUTH_401, reason="oauth_callback %r is not a URL" % callback)
        st = self.state
        token, secret = random_token(27), random_token(32)
        with st.lock:
            st.request_tokens[token] = {"secret": secret, "callback": callback, "verifier": None,
                                        "denied": False, "used": False}
        raise Reply(200, urlencode({"oauth_token": token, "oauth_token_secret": secret,
                                    "oauth_callback_confirmed": "true"}), FORM_REPLY_TYPE)

    def authorize(self, query):
        params = dict(parse_qsl(query, keep_blank_values=True))
        token = params.get("oauth_token", "")
        st = self.state
        with st.lock:
            record = st.request_tokens.get(token)
            if record is None or record["used"] or record["denied"]:
                raise Reply(400, "This page is no longer valid. It looks like someone already used "
                            "the token information you provided.", "text/plain; charset=utf-8",
                            reason="authorize: unknown or spent request token %r" % token)
            if st.deny_next:
                st.deny_next = False
                record["denied"] = True
                extra = {"denied": token}
            else:
                record["verifier"] = random_token(32)
                extra = {"oauth_token": token, "oauth_verifier": record["verifier"]}
            callback = record["callback"]
        if callback == "oob":
            if "denied" in extra:
                raise Reply(200, "You did not authorize the app.", "text/plain; charset=utf-8")
            raise Reply(200, "PIN: %s" % extra["oauth_verifier"], "text/plain; charset=utf-8")
        parts = urlsplit(callback)
        q = parts.query + ("&" if parts.query else "") + urlencode(extra)
        location = urlunsplit((parts.scheme, parts.netloc, parts.path, q, parts.fragment))
        raise Reply(302, b"", headers={"Location": location})

    def access_token(self, query, body):
        oauth, record = self.verify(query, body, "request")
        verifier = oauth.get("oauth_verifier") or self.form_params.get("oauth_verifier")
        if not verifier:
            raise Reply(401, OAUTH_401, reason="missing oauth_verifier")
        st = self.state
        with st.lock:
            if record["used"]:
                raise Reply(401, OAUTH_401, reason="request token was already exchanged")
            if record["verifier"] is None:
                raise Reply(401, OAUTH_401, reason="request token was never authorized")
            if not hmac.compare_digest(verifier.encode(), record["verifier"].encode()):
                raise Reply(401, OAUTH_401, reason="wrong oauth_verifier")
            record["used"] = True
            # Like X: the same account connecting the same app again gets the same token back.
            live = [t for t in st.access_tokens.values()
                    if t["user_id"] == st.user_id and not t["revoked"]]
            if live:
                access = live[0]
            else:
                access = st.add_access_token("%s-%s" % (st.user_id, random_token(40)),
                                             random_token(45))
        raise Reply(200, urlencode({"oauth_token": access["token"],
                                    "oauth_token_secret": access["secret"],
                                    "user_id": access["user_id"],
                                    "screen_name": access["username"]}), FORM_REPLY_TYPE)

    # ---- /2/ endpoints ----------------------------------------------------------------------

    def window_headers(self, key, consume=True):
        """Counts the request in its 15-minute window; returns the x-rate-limit-* headers."""
        st = self.state
        limit = LIMITS.get(key, DEFAULT_LIMIT)
        now = time.time()
        with st.lock:
            window = st.windows.get(key)
            if window is None or now >= window[0]:
                window = st.windows[key] = [int(now) + WINDOW, limit]
            exhausted = window[1] == 0
            if consume and window[1] > 0:
                window[1] -= 1
            headers = {"x-rate-limit-limit": limit, "x-rate-limit-remaining": window[1],
                       "x-rate-limit-reset": window[0]}
            if consume and exhausted:
                st.blocked_until = window[0] if key == "POST /2/tweets" else st.blocked_until
                raise Reply(429, V2_429, PROBLEM_TYPE, reason="rate limit exhausted",
                            headers=headers)
        return headers

    def v2_auth(self, key, query, body):
        try:
            _, record = self.verify(query, body, "access")
        except Reply as r:
            r.headers.update(self.window_headers(key, consume=False))
            raise
        return record

    def users_me(self, query, body):
        key = "GET /2/users/me"
        record = self.v2_auth(key, query, body)
        headers = self.window_headers(key)
        raise Reply(200, {"data": {"id": record["user_id"], "name": self.state.name,
                                   "username": record["username"]}}, headers=headers)

    def post_tweet(self, query, body):
        key = "POST /2/tweets"
        st = self.state
        record = self.v2_auth(key, query, body)
        with st.lock:
            blocked = st.blocked_until
        if blocked is not None and time.time() < blocked:
            raise Reply(429, V2_429, PROBLEM_TYPE, early=True,
                        reason="request before x-rate-limit-reset %d (%.2f s early)"
                               % (blocked, blocked - time.time()),
                        headers={"x-rate-limit-limit": LIMITS[key],
                                 "x-rate-limit-remaining": 0, "x-rate-limit-reset": blocked})
        headers = self.window_headers(key)

        def invalid(parameter, value, message):
            raise Reply(400, invalid_request(parameter, value, message), reason=message,
                        headers=headers)

        media_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise Reply(400, {"errors": [{"message": "Content-Type must be application/json"}],
                              "title": "Invalid Request",
                              "detail": "One or more parameters to your request was invalid.",
                              "type": "https://api.twitter.com/2/problems/invalid-request"},
                        reason="Content-Type %r is not application/json"
                               % self.headers.get("Content-Type"), headers=headers)
        try:
            doc = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise Reply(400, {"errors": [{"message": "Request body is not valid JSON: %s" % e}],
                              "title": "Invalid Request",
                              "detail": "One or more parameters to your request was invalid.",
                              "type": "https://api.twitter.com/2/problems/invalid-request"},
                        reason="body is not valid JSON", headers=headers)
        if not isinstance(doc, dict):
            invalid("body", "", "$: %s found, object expected" % type(doc).__name__)
        for k in doc:
            if k not in TWEET_FIELDS:
                invalid(k, "", "$.%s: is not defined in the schema and the schema does not "
                        "allow additional properties" % k)
        text = doc.get("text")
        if text is not None and not isinstance(text, str):
            invalid("text", str(text), "$.text: %s found, string expected"
                    % type(text).__name__)
        if not text:
            invalid("text", "", "Tweet text is empty" if text == "" else "Tweet text is missing")
        reply_to = None
        if "reply" in doc:
            reply = doc["reply"]
            if not isinstance(reply, dict):
                invalid("reply", str(reply), "$.reply: object expected")
            for k in reply:
                if k not in REPLY_FIELDS:
                    invalid("reply.%s" % k, "", "$.reply.%s: is not defined in the schema and "
                            "the schema does not allow additional properties" % k)
            reply_to = reply.get("in_reply_to_tweet_id")
            if not isinstance(reply_to, str):
                invalid("reply.in_reply_to_tweet_id", str(reply_to),
                        "$.reply.in_reply_to_tweet_id: %s found, string expected"
                        % type(reply_to).__name__)
            if not (reply_to.isascii() and reply_to.isdigit() and 1 <= len(reply_to) <= 19):
                invalid("reply.in_reply_to_tweet_id", reply_to,
                        "$.reply.in_reply_to_tweet_id: does not match the regex pattern "
                        "^[0-9]{1,19}$")
        with st.lock:
            if reply_to is not None and reply_to not in st.known_ids:
                invalid("reply.in_reply_to_tweet_id", reply_to,
                        "The `reply.in_reply_to_tweet_id` query parameter value [%s] does not "
                        "exist" % reply_to)
            user = record["user_id"]
            if any(t["user_id"] == user and t["text"] == text for t in st.tweets):
                raise Reply(403, V2_403_DUPLICATE, PROBLEM_TYPE, reason="duplicate content",
                            headers=headers)
            if st.script:
                self.scripted(st.script.popleft(), headers)
            tweet_id = st.next_tweet_id()
            st.known_ids.add(tweet_id)
            st.tweets.append({"id": tweet_id, "text": text, "in_reply_to_tweet_id": reply_to,
                              "token": record["token"], "user_id": user,
                              "received_at": time.time()})
        raise Reply(201, {"data": {"id": tweet_id, "text": text,
                                   "edit_history_tweet_ids": [tweet_id]}}, headers=headers)

    def scripted(self, entry, headers):
        """Raises the scripted answer (called with the state lock held)."""
        st = self.state
        status = int(entry["status"])
        reason = "scripted %d" % status
        if status == 429:
            reset = math.ceil(time.time() + float(entry.get("reset_in", 60)))
            st.blocked_until = reset
            headers = dict(headers, **{"x-rate-limit-remaining": 0, "x-rate-limit-reset": reset})
            body = V2_429
        elif status == 401:
            body = V2_401
        elif status == 403:
            body = V2_403_DUPLICATE
        elif status == 503:
            body = V2_503
        else:
            body = problem(status)
        if "body" in entry:
            body = entry["body"]
        is_problem = isinstance(body, dict) and body.get("type") == "about:blank"
        raise Reply(status, body, PROBLEM_TYPE if is_problem else JSON_TYPE, reason=reason,
                    headers=headers)

    # ---- control API ------------------------------------------------------------------------

    def control(self, path, body):
        st = self.state
        m = self.command
        try:
            doc = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError:
            raise Reply(400, {"error": "body is not JSON"})
        with st.lock:
            if m == "GET" and path == "/_control/tweets":
                raise Reply(200, [{k: t[k] for k in ("id", "text", "in_reply_to_tweet_id",
                                                     "token", "received_at")}
                                  for t in st.tweets])
            if m == "GET" and path == "/_control/requests":
                raise Reply(200, st.requests)
            if m == "GET" and path == "/_control/tokens":
                raise Reply(200, list(st.access_tokens.values()))
            if m == "POST" and path == "/_control/script":
                responses = doc.get("responses")
                if not isinstance(responses, list) or not all(
                        isinstance(r, dict) and isinstance(r.get("status"), int)
                        for r in responses):
                    raise Reply(400, {"error": "want {\"responses\": [{\"status\": N}, ...]}"})
                st.script.extend(responses)
                raise Reply(200, {"queued": len(st.script)})
            if m == "POST" and path == "/_control/revoke":
                record = st.access_tokens.get(doc.get("token"))
                if record is None:
                    raise Reply(404, {"error": "unknown access token"})
                record["revoked"] = True
                raise Reply(200, {"revoked": record["token"]})
            if m == "POST" and path == "/_control/deny_next_authorize":
                st.deny_next = True
                raise Reply(200, {})
            if m == "POST" and path == "/_control/reset":
                st.reset()
                raise Reply(200, {})
        raise Reply(404, {"error": "no such control endpoint: %s %s" % (m, path)})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--consumer-key", required=True)
    p.add_argument("--consumer-secret", required=True)
    p.add_argument("--access-token")
    p.add_argument("--access-secret")
    p.add_argument("--user-id", default="1234")
    p.add_argument("--username", default="herald_status")
    p.add_argument("--name", default="Herald Status")
    p.add_argument("--watch-stdin", action="store_true",
                   help="exit when stdin is closed (the test that started us is gone)")
    p.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = p.parse_args()
    if bool(args.access_token) != bool(args.access_secret):
        p.error("--access-token and --access-secret go together")

    Handler.state = State(args)
    Handler.verbose = args.verbose
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("READY %d" % server.server_address[1], flush=True)
    if args.watch_stdin:
        def watch():
            while sys.stdin.buffer.read(4096):
                pass
            server.shutdown()
        threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
