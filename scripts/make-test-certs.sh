#!/usr/bin/env bash
# Regenerates the TLS fixtures under Tests/GatehouseProxyTests/Fixtures/: a test CA and
# a server certificate for 127.0.0.1 / ::1 / localhost signed by it, valid 100 years,
# plus a second, unrelated CA (to show that a CA which did not sign the upstream's
# certificate is not trusted). Test-only keys: never use them anywhere else.
set -euo pipefail
cd "$(dirname "$0")/../Tests/GatehouseProxyTests/Fixtures"
days=36500
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -keyout "$work/test-ca.key" -out test-ca.pem \
  -subj "/CN=Gatehouse Test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -keyout "$work/other-ca.key" -out other-ca.pem \
  -subj "/CN=Gatehouse Unrelated Test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -newkey rsa:2048 -nodes -sha256 \
  -keyout test-server.key -out "$work/server.csr" -subj "/CN=localhost" 2>/dev/null
cat > "$work/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
EXT
openssl x509 -req -in "$work/server.csr" -CA test-ca.pem -CAkey "$work/test-ca.key" -CAcreateserial \
  -CAserial "$work/ca.srl" -days "$days" -sha256 -extfile "$work/server.ext" -out test-server.pem 2>/dev/null
# PKCS#8 for the key, which every TLS stack reads.
openssl pkcs8 -topk8 -nocrypt -in test-server.key -out "$work/key.pk8"
mv "$work/key.pk8" test-server.key
openssl verify -CAfile test-ca.pem test-server.pem
echo "wrote test-ca.pem other-ca.pem test-server.pem test-server.key in $(pwd)"
