#!/bin/sh
# Regenerates the key fixtures of package sign. Run from this directory:
#   sh gen.sh
# Needs openssl; cosign (go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5)
# and in-toto-keygen (Debian package in-toto) for the interop fixtures.
# The cosign keys are encrypted with the password in cosign.password.
# These keys are test fixtures only: never use them for anything else.
set -eu

PW=$(cat cosign.password)

# Unencrypted private keys, PKCS #8 unless named otherwise, and their public keys.
openssl genpkey -algorithm ed25519 -out ed25519.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ecdsa-p256.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ecdsa-p384.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out ecdsa-p521.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-2048.key
for k in ed25519 ecdsa-p256 ecdsa-p384 ecdsa-p521 rsa-2048; do
	openssl pkey -in $k.key -pubout -out $k.pub
done

# Other encodings: SEC 1 with an EC PARAMETERS block, PKCS #1.
openssl ecparam -name prime256v1 -genkey -out ecdsa-p256-sec1.key
openssl ec -in ecdsa-p256-sec1.key -pubout -out ecdsa-p256-sec1.pub
openssl genrsa -traditional -out rsa-3072-pkcs1.key 3072
openssl rsa -in rsa-3072-pkcs1.key -RSAPublicKey_out -out rsa-3072-pkcs1.pub

# A self-signed certificate for the P-256 key.
openssl req -new -x509 -key ecdsa-p256.key -subj /CN=attestor-test -days 36500 -out ecdsa-p256.crt

# Keys that must be rejected.
openssl genrsa -traditional -out rsa-1024.key 1024
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-224 -out ecdsa-p224.key
openssl pkey -in ecdsa-p224.key -pubout -out ecdsa-p224.pub
openssl genpkey -algorithm X25519 -out x25519.key
openssl genrsa -traditional -aes128 -passout pass:"$PW" -out rsa-2048-openssl-encrypted.key 2048
openssl pkcs8 -topk8 -in rsa-2048.key -passout pass:"$PW" -out rsa-2048-pkcs8-encrypted.key

# cosign keys: generated, imported (ed25519, rsa), with the legacy PEM type,
# and with an empty password.
rm -f cosign.key cosign.pub cosign-ed25519.key cosign-ed25519.pub cosign-rsa.key cosign-rsa.pub cosign-empty.key cosign-empty.pub
COSIGN_PASSWORD="$PW" cosign generate-key-pair --output-key-prefix cosign
COSIGN_PASSWORD="$PW" cosign import-key-pair --key ed25519.key --output-key-prefix cosign-ed25519 -y
COSIGN_PASSWORD="$PW" cosign import-key-pair --key rsa-2048.key --output-key-prefix cosign-rsa -y
COSIGN_PASSWORD= cosign generate-key-pair --output-key-prefix cosign-empty
sed 's/ENCRYPTED SIGSTORE PRIVATE KEY/ENCRYPTED COSIGN PRIVATE KEY/' cosign.key >cosign-legacy.key

# in-toto (Python securesystemslib) public keys: JSON for ed25519 and ecdsa, PEM for rsa.
rm -f in-toto-ed25519 in-toto-ed25519.pub in-toto-ecdsa in-toto-ecdsa.pub
in-toto-keygen -t ed25519 in-toto-ed25519
in-toto-keygen -t ecdsa in-toto-ecdsa
rm -f in-toto-ed25519 in-toto-ecdsa
