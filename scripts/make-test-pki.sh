#!/bin/sh
# Test PKI of the DRM Profile (roap.md "The head-end's RI", ltkm.md), made on this machine with the
# openssl command line. Nothing private is ever committed: run this at setup time.
#
#   scripts/make-test-pki.sh DIR [DEVICES]      (DEVICES: number of device certificates, default 2)
#
# Creates in DIR (RSA 2048, SHA-256 signatures, all keys unencrypted PKCS#8 PEM):
#   root.key root.pem          root CA, the terminal's trust anchor (10 years)
#   ri.key ri.pem              Rights Issuer certificate, signed by the root (5 years)
#   ocsp.key ocsp.pem          OCSP responder, signed by the root, EKU OCSPSigning (5 years)
#   device-N.key device-N.pem  device certificates N = 1..DEVICES, signed by the root (10 years)
#   ids.txt                    one line per certificate: NAME SPKI-SHA1 (device ID / RI ID in hex)
# and prints ids.txt's lines as "NAME CERT KEY SPKI-SHA1".
#
# Idempotent: existing files are kept (a run with more DEVICES adds the missing ones). When the
# root is missing or does not match its key, the whole PKI is made again.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 DIR [DEVICES]" >&2
  exit 64
fi
dir=$1
devices=${2:-2}
case $devices in
  '' | *[!0-9]*) echo "$0: DEVICES must be a number" >&2; exit 64 ;;
esac

mkdir -p "$dir"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Public half of a key pair matches the certificate?
matches() {
  [ -s "$1.key" ] && [ -s "$1.pem" ] || return 1
  a=$(openssl x509 -in "$1.pem" -noout -pubkey 2>/dev/null) || return 1
  b=$(openssl pkey -in "$1.key" -pubout 2>/dev/null) || return 1
  [ "$a" = "$b" ]
}

spki_sha1() {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER |
    openssl dgst -sha1 -r | cut -d' ' -f1
}

# issue NAME SUBJECT DAYS EXTENSIONS: key + certificate signed by the root.
issue() {
  name=$1
  if matches "$dir/$name" && openssl verify -CAfile "$dir/root.pem" "$dir/$name.pem" >/dev/null 2>&1; then
    return 0
  fi
  printf '%s\n' "$4" >"$tmp/$name.ext"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -subj "$2" \
    -out "$tmp/$name.csr" 2>/dev/null
  openssl x509 -req -in "$tmp/$name.csr" -CA "$dir/root.pem" -CAkey "$dir/root.key" \
    -set_serial "0x$(openssl rand -hex 12)" -days "$3" -sha256 \
    -extfile "$tmp/$name.ext" -out "$dir/$name.pem" 2>/dev/null
}

if ! matches "$dir/root"; then
  rm -f "$dir"/*.key "$dir"/*.pem "$dir/ids.txt"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/root.key" -out "$dir/root.pem" \
    -subj "/O=openbcast test/CN=openbcast test root CA" -days 3650 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
fi

leaf_ext='basicConstraints=critical,CA:FALSE
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid'
issue ri "/O=openbcast test/CN=openbcast test Rights Issuer" 1825 "$leaf_ext
keyUsage=critical,digitalSignature,keyEncipherment"
issue ocsp "/O=openbcast test/CN=openbcast test OCSP responder" 1825 "$leaf_ext
keyUsage=critical,digitalSignature
extendedKeyUsage=OCSPSigning"
i=1
while [ "$i" -le "$devices" ]; do
  issue "device-$i" "/O=openbcast test/CN=openbcast test device $i" 3650 "$leaf_ext
keyUsage=critical,digitalSignature,keyEncipherment"
  i=$((i + 1))
done

: >"$dir/ids.txt.new"
for cert in "$dir"/root.pem "$dir"/ri.pem "$dir"/ocsp.pem "$dir"/device-*.pem; do
  name=$(basename "$cert" .pem)
  printf '%s %s\n' "$name" "$(spki_sha1 "$cert")" >>"$dir/ids.txt.new"
done
mv "$dir/ids.txt.new" "$dir/ids.txt"
chmod 644 "$dir"/*.pem "$dir/ids.txt"

while read -r name id; do
  printf '%s %s %s %s\n' "$name" "$dir/$name.pem" "$dir/$name.key" "$id"
done <"$dir/ids.txt"
