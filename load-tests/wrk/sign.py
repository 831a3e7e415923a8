#!/usr/bin/env python3
"""Writes N voice webhooks, each a new call signed as Twilio signs it, one per
line as `signature<TAB>form body`, for presigned.lua (wrk has no HMAC-SHA1, and
signing in the load tool would measure the load tool).

    python3 load-tests/wrk/sign.py --url http://127.0.0.1:8080 --token bench-token \\
        --account ACbench0000000000000000000000000 --to +15550009000 -n 300000 > /tmp/voice.tsv
"""
import argparse, base64, hashlib, hmac, os, sys
from urllib.parse import urlencode

p = argparse.ArgumentParser()
p.add_argument("--url", required=True, help="the public URL the server signs (its --public-url)")
p.add_argument("--token", required=True)
p.add_argument("--account", required=True)
p.add_argument("--to", required=True, help="comma-separated tracking numbers, used in turn")
p.add_argument("-n", type=int, default=300000)
a = p.parse_args()

url = a.url.rstrip("/") + "/api/webhooks/voice"
to = a.to.split(",")
key = a.token.encode()
out = sys.stdout
run = os.urandom(4).hex()
for i in range(a.n):
    params = {
        "AccountSid": a.account,
        "CallSid": "CA%s%024x" % (run, i),
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": "+1555%07d" % (i % 10_000_000),
        "FromState": "CA",
        "FromZip": "94105",
        "To": to[i % len(to)],
    }
    data = url + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(hmac.new(key, data.encode(), hashlib.sha1).digest()).decode()
    out.write(sig + "\t" + urlencode(params) + "\n")
