#!/usr/bin/env bash
# Makes the raw FuzzLoad seeds (see README.md) in a new directory.
set -euo pipefail
out=${1:?usage: mkseeds.sh NEW-DIR}
mkdir "$out" # refuses an existing directory
cd "$out"
K=(keytool -J-XX:TieredStopAtLevel=1)
"${K[@]}" -genkeypair -keyalg EC -groupname secp256r1 -alias seed -dname CN=seed -validity 36500 -storetype JKS -keystore key.jks -storepass changeit -keypass changeit 2>/dev/null &
"${K[@]}" -genkeypair -keyalg EC -groupname secp256r1 -alias seed -dname CN=seed -validity 36500 -storetype PKCS12 -keystore key.p12 -storepass changeit 2>/dev/null &
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout ec.key -out ec.pem -subj /CN=seed-ca -days 36500 -passout pass:changeit 2>/dev/null
openssl ec -in ec.key -passin pass:changeit -out ec-plain.key 2>/dev/null
openssl ec -in ec.key -passin pass:changeit -aes128 -passout pass:changeit -out ec-legacy.key 2>/dev/null
cat ec.key ec.pem > bundle-pkcs8enc.pem
cat ec-legacy.key ec.pem > bundle-legacyenc.pem
cat ec-plain.key ec.pem > bundle-plain.pem
openssl pkcs12 -export -in ec.pem -inkey ec-plain.key -name seed -passout pass:changeit -out ossl.p12
"${K[@]}" -importcert -noprompt -alias seed-ca -file ec.pem -storetype JKS -keystore trust.jks -storepass changeit 2>/dev/null
"${K[@]}" -importcert -noprompt -alias seed-ca -file ec.pem -storetype PKCS12 -keystore trust.p12 -storepass changeit 2>/dev/null
wait
head -c 60 key.jks > truncated.jks
printf '\xce\xce\xce\xce\x00\x00\x00\x02\x00\x00\x00\x00' > jceks.bin
cp ec.pem cert.pem
rm ec.key ec-plain.key ec-legacy.key ec.pem
