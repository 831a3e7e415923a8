#!/bin/sh
# Regenerates the test-only PKI of tests/scylla_tls.rs (never use these keys
# elsewhere): a CA, a server certificate for the DNS name db.test, one for the
# IP 127.0.0.1, a client certificate, and an unrelated CA. Valid for 100 years.
set -eu
cd "$(dirname "$0")"
days=36500
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # name subject
    ec "$1.key"
    openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days $days -out "$1.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject san eku
    ec "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$4" "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days $days -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm "$1.csr" "$1.ext"
}

ca ca "switchboard test CA"
ca other-ca "some other CA"
leaf server db.test DNS:db.test serverAuth
leaf server-ip 127.0.0.1 IP:127.0.0.1 serverAuth
leaf client switchboard DNS:switchboard clientAuth
rm -f ca.srl ca.key other-ca.key
