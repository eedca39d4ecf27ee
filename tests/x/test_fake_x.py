"""Self-test of tests/x/fake_x.py, signing with oauthlib's own client.

    python3 -m unittest tests/x/test_fake_x.py      (from the repository root)
"""
import http.client
import json
import os
import subprocess
import sys
import time
import unittest
from urllib.parse import parse_qsl, urlencode, urlsplit

from oauthlib.oauth1 import Client

HERE = os.path.dirname(os.path.abspath(__file__))
CK, CS = "test-consumer-key", "test-consumer-secret"
TOKEN, SECRET = "1234-presettoken", "preset-secret"
CALLBACK = "http://127.0.0.1:9/x/callback?state=abc"


def start_fake():
    """Starts fake_x.py with the preset token; returns (process, port)."""
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "fake_x.py"), "--port", "0",
         "--consumer-key", CK, "--consumer-secret", CS,
         "--access-token", TOKEN, "--access-secret", SECRET,
         "--user-id", "1234", "--username", "herald_status", "--watch-stdin"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("READY "), line
    return proc, int(line.split()[1])


def stop_fake(proc):
    proc.stdin.close()  # --watch-stdin: the fake exits by itself
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("fake_x did not exit when its stdin closed")
    finally:
        proc.stdout.close()


class FakeXTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_fake()
        cls.base = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        stop_fake(cls.proc)

    def setUp(self):
        self.control("POST", "/_control/reset", {})

    # ---- helpers ------------------------------------------------------------------------

    def raw(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def control(self, method, path, doc=None):
        body = json.dumps(doc).encode() if doc is not None else None
        status, _, data = self.raw(method, path, body, {"Content-Type": "application/json"})
        self.assertEqual(status, 200, data)
        return json.loads(data)

    def signed(self, method, path, client=None, body=None, content_type=None, **sign_kw):
        client = client or Client(CK, CS, TOKEN, SECRET)
        headers = {"Content-Type": content_type} if content_type else {}
        uri, headers, body = client.sign(self.base + path, method, body, headers, **sign_kw)
        parts = urlsplit(uri)
        target = parts.path + ("?" + parts.query if parts.query else "")
        if isinstance(body, str):
            body = body.encode()
        return self.raw(method, target, body, headers)

    def tweet(self, doc, client=None):
        return self.signed("POST", "/2/tweets", client, json.dumps(doc), "application/json")

    def last_request(self):
        return self.control("GET", "/_control/requests")[-1]

    def assert_v2_401(self, status, data):
        self.assertEqual(status, 401, data)
        self.assertEqual(json.loads(data), {"title": "Unauthorized", "type": "about:blank",
                                            "status": 401, "detail": "Unauthorized"})

    def assert_oauth_401(self, status, data):
        self.assertEqual(status, 401, data)
        self.assertEqual(json.loads(data),
                         {"errors": [{"code": 32, "message": "Could not authenticate you."}]})

    def request_token(self, callback=CALLBACK):
        status, headers, data = self.signed("POST", "/oauth/request_token",
                                            Client(CK, CS, callback_uri=callback))
        self.assertEqual(status, 200, data)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        form = dict(parse_qsl(data.decode()))
        self.assertEqual(form["oauth_callback_confirmed"], "true")
        return form["oauth_token"], form["oauth_token_secret"]

    def authorize(self, token):
        status, headers, data = self.raw("GET", "/oauth/authorize?" +
                                         urlencode({"oauth_token": token}))
        self.assertEqual(status, 302, data)
        location = headers["location"]
        self.assertTrue(location.startswith("http://127.0.0.1:9/x/callback?state=abc&"),
                        location)
        return dict(parse_qsl(urlsplit(location).query))

    # ---- signatures ---------------------------------------------------------------------

    def test_signed_request_is_accepted(self):
        status, headers, data = self.signed("GET", "/2/users/me")
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data), {"data": {"id": "1234", "name": "Herald Status",
                                                     "username": "herald_status"}})
        for h in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
            self.assertTrue(headers[h].isdigit(), headers)
        req = self.last_request()
        self.assertEqual((req["method"], req["path"], req["status"], req["reason"],
                          req["early"]), ("GET", "/2/users/me", 200, None, False))

    def test_query_parameters_are_signed(self):
        status, _, data = self.signed("GET", "/2/users/me?user.fields=created_at%2Cid&x=a+b")
        self.assertEqual(status, 200, data)
        # Sign one query, send another.
        client = Client(CK, CS, TOKEN, SECRET)
        _, headers, _ = client.sign(self.base + "/2/users/me?user.fields=id", "GET")
        status, _, data = self.raw("GET", "/2/users/me?user.fields=name", None, headers)
        self.assert_v2_401(status, data)
        self.assertIn("bad signature", self.last_request()["reason"])

    def test_bad_signature_is_rejected(self):
        status, headers, data = self.signed("GET", "/2/users/me",
                                            Client(CK, "wrong-secret", TOKEN, SECRET))
        self.assert_v2_401(status, data)
        self.assertIn("x-rate-limit-remaining", headers)
        req = self.last_request()
        self.assertEqual(req["status"], 401)
        self.assertIn("bad signature", req["reason"])
        self.assertIn("GET&http%3A%2F%2F127.0.0.1%3A", req["reason"])

    def test_signature_covers_the_port(self):
        client = Client(CK, CS, TOKEN, SECRET)
        _, headers, _ = client.sign("http://127.0.0.1/2/users/me", "GET")  # port 80 signed
        status, _, data = self.raw("GET", "/2/users/me", None, headers)
        self.assert_v2_401(status, data)

    def test_replayed_nonce_is_rejected(self):
        now = str(int(time.time()))
        status, _, data = self.signed("GET", "/2/users/me",
                                      Client(CK, CS, TOKEN, SECRET, nonce="n1", timestamp=now))
        self.assertEqual(status, 200, data)
        status, _, data = self.signed("GET", "/2/users/me",
                                      Client(CK, CS, TOKEN, SECRET, nonce="n1", timestamp=now))
        self.assert_v2_401(status, data)
        self.assertIn("replayed nonce", self.last_request()["reason"])

    def test_stale_and_future_timestamps_are_rejected(self):
        for skew in (-301 - 5, 301 + 5):
            ts = str(int(time.time()) + skew)
            status, _, data = self.signed("GET", "/2/users/me",
                                          Client(CK, CS, TOKEN, SECRET, timestamp=ts))
            self.assert_v2_401(status, data)
            self.assertIn("oauth_timestamp", self.last_request()["reason"])

    def test_unknown_token_and_consumer_are_rejected(self):
        status, _, data = self.signed("GET", "/2/users/me",
                                      Client(CK, CS, "1234-nosuchtoken", SECRET))
        self.assert_v2_401(status, data)
        self.assertIn("unknown access token", self.last_request()["reason"])
        status, _, data = self.signed("GET", "/2/users/me", Client("other-key", CS, TOKEN, SECRET))
        self.assert_v2_401(status, data)
        self.assertIn("unknown consumer key", self.last_request()["reason"])

    def test_missing_header_and_wrong_method_are_rejected(self):
        status, _, data = self.raw("GET", "/2/users/me")
        self.assert_v2_401(status, data)
        self.assertEqual(self.last_request()["reason"], "missing Authorization header")
        status, _, data = self.signed("GET", "/2/users/me",
                                      Client(CK, CS, TOKEN, SECRET, signature_method="PLAINTEXT"))
        self.assert_v2_401(status, data)
        self.assertIn("oauth_signature_method", self.last_request()["reason"])
        status, _, data = self.raw("POST", "/oauth/request_token")
        self.assert_oauth_401(status, data)

    def test_known_signature_vector(self):
        # X's own worked example ("Creating a signature" in its OAuth 1.0a docs).
        sys.path.insert(0, HERE)
        try:
            import fake_x
        finally:
            sys.path.remove(HERE)
        params = [("include_entities", "true"),
                  ("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
                  ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
                  ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
                  ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "1318622958"),
                  ("oauth_token", "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"),
                  ("oauth_version", "1.0")]
        _, sig = fake_x.expected_signature(
            "POST", "https://api.twitter.com/1.1/statuses/update.json", params,
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE")
        self.assertEqual(sig, "hCtSmYh+iHYCEqBWrE7C7hYmtUk=")

    def test_form_body_is_signed(self):
        rt, rs = self.request_token()
        cb = self.authorize(rt)
        client = Client(CK, CS, rt, rs)
        form = "application/x-www-form-urlencoded"
        _, headers, _ = client.sign(self.base + "/oauth/access_token", "POST",
                                    urlencode({"oauth_verifier": "signed-value"}),
                                    {"Content-Type": form})
        status, _, data = self.raw("POST", "/oauth/access_token",
                                   urlencode({"oauth_verifier": cb["oauth_verifier"]}).encode(),
                                   headers)
        self.assert_oauth_401(status, data)
        self.assertIn("bad signature", self.last_request()["reason"])

    def test_callback_keeps_its_escapes(self):
        rt, _ = self.request_token("http://127.0.0.1:9/cb?next=%2Fadmin%3Fa%3D1#frag")
        status, headers, _ = self.raw("GET", "/oauth/authorize?oauth_token=" + rt)
        self.assertEqual(status, 302)
        self.assertTrue(headers["location"].startswith(
            "http://127.0.0.1:9/cb?next=%2Fadmin%3Fa%3D1&oauth_token=" + rt + "&oauth_verifier="),
            headers["location"])
        self.assertTrue(headers["location"].endswith("#frag"))

    # ---- tweets -------------------------------------------------------------------------

    def test_tweets_and_replies(self):
        status, headers, data = self.tweet({"text": "Investigating elevated errors"})
        self.assertEqual(status, 201, data)
        first = json.loads(data)["data"]
        self.assertEqual(len(first["id"]), 19)
        self.assertEqual(first["edit_history_tweet_ids"], [first["id"]])
        self.assertTrue(headers["x-rate-limit-reset"].isdigit())
        status, _, data = self.tweet({"text": "Resolved",
                                      "reply": {"in_reply_to_tweet_id": first["id"]}})
        self.assertEqual(status, 201, data)
        second = json.loads(data)["data"]
        self.assertGreater(int(second["id"]), int(first["id"]))
        tweets = self.control("GET", "/_control/tweets")
        self.assertEqual([(t["id"], t["text"], t["in_reply_to_tweet_id"], t["token"])
                          for t in tweets],
                         [(first["id"], "Investigating elevated errors", None, TOKEN),
                          (second["id"], "Resolved", first["id"], TOKEN)])
        self.assertIsInstance(tweets[0]["received_at"], float)

    def test_invalid_tweets(self):
        status, _, data = self.tweet({"text": ""})
        self.assertEqual(status, 400, data)
        body = json.loads(data)
        self.assertEqual(body["title"], "Invalid Request")
        self.assertEqual(body["type"], "https://api.twitter.com/2/problems/invalid-request")
        self.assertEqual(body["errors"][0]["parameters"], {"text": [""]})
        status, _, data = self.tweet({"reply": {"in_reply_to_tweet_id": "1"}})
        self.assertEqual(status, 400, data)
        status, _, data = self.tweet({"text": "hi", "reply": {"in_reply_to_tweet_id": "42"}})
        self.assertEqual(status, 400, data)
        self.assertIn("reply.in_reply_to_tweet_id", json.loads(data)["errors"][0]["parameters"])
        status, _, data = self.signed("POST", "/2/tweets", body=urlencode({"text": "form"}),
                                      content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 400, data)
        self.assertIn("not application/json", self.last_request()["reason"])
        self.assertEqual(self.control("GET", "/_control/tweets"), [])

    def test_json_body_is_not_signed(self):
        # Sign with one JSON body and send another: still accepted, as on real X.
        client = Client(CK, CS, TOKEN, SECRET)
        _, headers, _ = client.sign(self.base + "/2/tweets", "POST", '{"text":"a"}',
                                    {"Content-Type": "application/json"})
        status, _, data = self.raw("POST", "/2/tweets", b'{"text":"b"}', headers)
        self.assertEqual(status, 201, data)

    def test_duplicate_content(self):
        self.assertEqual(self.tweet({"text": "same"})[0], 201)
        status, _, data = self.tweet({"text": "same"})
        self.assertEqual(status, 403, data)
        self.assertEqual(json.loads(data)["detail"],
                         "You are not allowed to create a Tweet with duplicate content.")

    def test_scripted_answers_and_rate_limit_wait(self):
        self.control("POST", "/_control/script",
                     {"responses": [{"status": 503}, {"status": 401}, {"status": 403},
                                    {"status": 429, "reset_in": 2}]})
        status, _, data = self.tweet({"text": "t1"})
        self.assertEqual((status, json.loads(data)["title"]), (503, "Service Unavailable"))
        self.assert_v2_401(*self.tweet({"text": "t1"})[::2])
        status, _, data = self.tweet({"text": "t1"})
        self.assertEqual((status, json.loads(data)["title"]), (403, "Forbidden"))
        status, headers, data = self.tweet({"text": "t1"})
        self.assertEqual(status, 429, data)
        self.assertEqual(json.loads(data), {"title": "Too Many Requests",
                                            "detail": "Too Many Requests",
                                            "type": "about:blank", "status": 429})
        self.assertEqual(headers["x-rate-limit-remaining"], "0")
        reset = int(headers["x-rate-limit-reset"])
        self.assertGreaterEqual(reset, time.time() + 1)
        # Too early: 429 again, logged as early.
        status, headers, _ = self.tweet({"text": "t1"})
        self.assertEqual((status, int(headers["x-rate-limit-reset"])), (429, reset))
        self.assertTrue(self.last_request()["early"])
        time.sleep(max(0, reset - time.time()) + 0.05)
        status, _, data = self.tweet({"text": "t1"})
        self.assertEqual(status, 201, data)
        log = [(r["status"], r["early"], r["reason"]) for r in
               self.control("GET", "/_control/requests")]
        self.assertEqual([s for s, _, _ in log], [503, 401, 403, 429, 429, 201])
        self.assertEqual([e for _, e, _ in log], [False, False, False, False, True, False])
        self.assertEqual(log[0][2], "scripted 503")
        self.assertEqual(len(self.control("GET", "/_control/tweets")), 1)

    def test_script_waits_for_a_valid_signature(self):
        self.control("POST", "/_control/script", {"responses": [{"status": 503}]})
        status, _, _ = self.tweet({"text": "x"}, Client(CK, "bad", TOKEN, SECRET))
        self.assertEqual(status, 401)
        self.assertEqual(self.tweet({"text": "x"})[0], 503)
        self.assertEqual(self.tweet({"text": "x"})[0], 201)

    # ---- the 3-legged flow --------------------------------------------------------------

    def test_three_legged_flow(self):
        rt, rs = self.request_token()
        cb = self.authorize(rt)
        self.assertEqual(cb["state"], "abc")
        self.assertEqual(cb["oauth_token"], rt)
        # A wrong verifier is refused (and does not spend the token).
        status, _, data = self.signed("POST", "/oauth/access_token",
                                      Client(CK, CS, rt, rs, verifier="wrong"))
        self.assert_oauth_401(status, data)
        self.assertEqual(self.last_request()["reason"], "wrong oauth_verifier")
        # Missing verifier.
        status, _, data = self.signed("POST", "/oauth/access_token", Client(CK, CS, rt, rs))
        self.assert_oauth_401(status, data)
        # Signed with the wrong token secret.
        status, _, data = self.signed("POST", "/oauth/access_token",
                                      Client(CK, CS, rt, "nope", verifier=cb["oauth_verifier"]))
        self.assert_oauth_401(status, data)
        status, headers, data = self.signed("POST", "/oauth/access_token",
                                            Client(CK, CS, rt, rs,
                                                   verifier=cb["oauth_verifier"]))
        self.assertEqual(status, 200, data)
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        form = dict(parse_qsl(data.decode()))
        self.assertEqual((form["user_id"], form["screen_name"]), ("1234", "herald_status"))
        # Like X, the account's existing (preset) token comes back.
        self.assertEqual((form["oauth_token"], form["oauth_token_secret"]), (TOKEN, SECRET))
        # The request token is single use.
        status, _, data = self.signed("POST", "/oauth/access_token",
                                      Client(CK, CS, rt, rs, verifier=cb["oauth_verifier"]))
        self.assert_oauth_401(status, data)
        self.assertIn("already exchanged", self.last_request()["reason"])
        status, _, _ = self.raw("GET", "/oauth/authorize?oauth_token=" + rt)
        self.assertEqual(status, 400)

    def test_flow_after_revoke_issues_a_new_token_and_verifier_in_body(self):
        # Revoking the preset token would spoil it for the other tests: use a fake of our own.
        proc, self.port = start_fake()
        self.base = "http://127.0.0.1:%d" % self.port
        try:
            self.control("POST", "/_control/revoke", {"token": TOKEN})
            self.assert_v2_401(*self.signed("GET", "/2/users/me")[::2])
            self.assertIn("revoked", self.last_request()["reason"])
            rt, rs = self.request_token()
            cb = self.authorize(rt)
            # The verifier in a form body, signed as a body parameter.
            status, _, data = self.signed(
                "POST", "/oauth/access_token", Client(CK, CS, rt, rs),
                body=urlencode({"oauth_verifier": cb["oauth_verifier"]}),
                content_type="application/x-www-form-urlencoded")
            self.assertEqual(status, 200, data)
            form = dict(parse_qsl(data.decode()))
            self.assertNotEqual(form["oauth_token"], TOKEN)
            self.assertTrue(form["oauth_token"].startswith("1234-"))
            tokens = self.control("GET", "/_control/tokens")
            self.assertIn({"token": form["oauth_token"], "secret": form["oauth_token_secret"],
                           "user_id": "1234", "username": "herald_status", "revoked": False},
                          tokens)
            client = Client(CK, CS, form["oauth_token"], form["oauth_token_secret"])
            status, _, data = self.tweet({"text": "with the new token"}, client)
            self.assertEqual(status, 201, data)
            self.assertEqual(self.control("GET", "/_control/tweets")[0]["token"],
                             form["oauth_token"])
            # A spent request token is no access token.
            self.assert_v2_401(*self.signed("GET", "/2/users/me", Client(CK, CS, rt, rs))[::2])
        finally:
            stop_fake(proc)

    def test_request_token_needs_a_callback(self):
        status, _, data = self.signed("POST", "/oauth/request_token", Client(CK, CS))
        self.assert_oauth_401(status, data)
        self.assertEqual(self.last_request()["reason"], "missing oauth_callback")
        status, _, data = self.signed("POST", "/oauth/request_token",
                                      Client(CK, CS, TOKEN, SECRET, callback_uri=CALLBACK))
        self.assert_oauth_401(status, data)

    def test_denied_authorization(self):
        rt, rs = self.request_token()
        self.control("POST", "/_control/deny_next_authorize", {})
        status, headers, _ = self.raw("GET", "/oauth/authorize?oauth_token=" + rt)
        self.assertEqual(status, 302)
        self.assertEqual(headers["location"], CALLBACK + "&denied=" + rt)
        status, _, data = self.signed("POST", "/oauth/access_token",
                                      Client(CK, CS, rt, rs, verifier="anything"))
        self.assert_oauth_401(status, data)
        # The flag is used up: the next authorization goes through.
        rt2, _ = self.request_token()
        self.assertIn("oauth_verifier", self.authorize(rt2))

    def test_unknown_request_token_on_authorize(self):
        status, headers, data = self.raw("GET", "/oauth/authorize?oauth_token=nope")
        self.assertEqual(status, 400)
        self.assertTrue(headers["content-type"].startswith("text/plain"))

    def test_reset_keeps_tokens(self):
        self.assertEqual(self.tweet({"text": "before reset"})[0], 201)
        self.control("POST", "/_control/script", {"responses": [{"status": 503}]})
        self.control("POST", "/_control/reset", {})
        self.assertEqual(self.control("GET", "/_control/tweets"), [])
        self.assertEqual(self.control("GET", "/_control/requests"), [])
        self.assertEqual(self.tweet({"text": "before reset"})[0], 201)
        self.assertEqual([t["token"] for t in self.control("GET", "/_control/tokens")], [TOKEN])


if __name__ == "__main__":
    unittest.main()
