#!/usr/bin/env bash
# Smoke test of tests/oidc/provider.mjs with curl: starts it, checks discovery, runs the
# authorization-code + PKCE flow through its dev login form (login alice) and checks the ID
# token; then each /__test/tamper change and the ID token it gives. Needs node, curl and
# tests/oidc/node_modules (npm ci in tests/oidc). `bash tests/oidc/smoke.sh`; exit 0 when all pass.
set -euo pipefail
cd "$(dirname "$0")"

REDIRECT=http://127.0.0.1:1/callback # never fetched: the flow stops at the Location with code=
work=$(mktemp -d)
provider_pid=
cleanup() {
    if [ -n "$provider_pid" ]; then kill "$provider_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    echo "--- provider log" >&2
    cat "$work/provider.err" >&2 || true
    exit 1
}

node provider.mjs --redirect-uri "$REDIRECT" >"$work/provider.out" 2>"$work/provider.err" &
provider_pid=$!
ISSUER=
for _ in $(seq 1 300); do
    ISSUER=$(sed -n 's/^oidc-provider listening //p' "$work/provider.out")
    [ -n "$ISSUER" ] && break
    kill -0 "$provider_pid" 2>/dev/null || fail "provider exited before listening"
    sleep 0.1
done
[ -n "$ISSUER" ] || fail "no listening line in 30 s"
echo "issuer $ISSUER"

# Small helpers in node (no python or jq needed): PKCE pair, URL encoding, JWT checks.
js() { node --input-type=module -e "$1" -- "${@:2}"; }
urlenc() { js 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }

curl -fsS "$ISSUER/__test/health" | grep -qx ok || fail "health"
discovery=$(curl -fsS "$ISSUER/.well-known/openid-configuration")
js '
const d = JSON.parse(process.argv[1]), iss = process.argv[2];
const want = { issuer: iss, authorization_endpoint: `${iss}/auth`, token_endpoint: `${iss}/token`,
  jwks_uri: `${iss}/jwks`, end_session_endpoint: `${iss}/session/end`, userinfo_endpoint: `${iss}/me` };
for (const [k, v] of Object.entries(want)) if (d[k] !== v) { console.error(`${k}: ${d[k]} != ${v}`); process.exit(1); }
' "$discovery" "$ISSUER" || fail "discovery document"
echo "ok discovery"

location() { sed -n 's/^[Ll]ocation: *//p' "$1" | tr -d '\r'; }
absolute() { case "$1" in http*) echo "$1" ;; *) echo "$ISSUER$1" ;; esac; }

# login LOGIN -> prints the token endpoint's JSON answer
login() {
    local who=$1 jar="$work/jar.$RANDOM" verifier challenge url html action next code i
    verifier=$(js 'import {randomBytes} from "node:crypto"; process.stdout.write(randomBytes(32).toString("base64url"))')
    challenge=$(js 'import {createHash} from "node:crypto"; process.stdout.write(createHash("sha256").update(process.argv[1]).digest("base64url"))' "$verifier")
    url="$ISSUER/auth?client_id=pont&redirect_uri=$(urlenc "$REDIRECT")&response_type=code&scope=openid%20email%20profile&state=s&nonce=n-$who&code_challenge=$challenge&code_challenge_method=S256"
    curl -sS -c "$jar" -b "$jar" -D "$work/h" -o /dev/null "$url"
    next=$(absolute "$(location "$work/h")")
    [[ "$next" == "$ISSUER/interaction/"* ]] || fail "authorization did not send to the interaction page: $next"
    html=$(curl -fsS -c "$jar" -b "$jar" "$next")
    grep -q 'name="login"' <<<"$html" || fail "no login field in the interaction page"
    action=$(sed -n 's/.*<form autocomplete="off" action="\([^"]*\)" method="post">.*/\1/p' <<<"$html" | head -1)
    [ -n "$action" ] || fail "no form action in the interaction page"
    curl -sS -c "$jar" -b "$jar" -D "$work/h" -o /dev/null \
        --data-urlencode prompt=login --data-urlencode "login=$who" --data-urlencode password=x "$(absolute "$action")"
    next=$(absolute "$(location "$work/h")")
    for i in 1 2 3 4 5; do
        [[ "$next" == "$REDIRECT"* ]] && break
        curl -sS -c "$jar" -b "$jar" -D "$work/h" -o /dev/null "$next"
        next=$(absolute "$(location "$work/h")")
    done
    [[ "$next" == "$REDIRECT?"*"code="* ]] || fail "no code in the redirect: $next"
    [[ "$next" == *"state=s"* ]] || fail "no state in the redirect: $next"
    code=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$next")
    curl -fsS -u pont:pont-secret "$ISSUER/token" \
        --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
        --data-urlencode "redirect_uri=$REDIRECT" --data-urlencode "code_verifier=$verifier" ||
        fail "token endpoint"
}

# check TOKEN_JSON NODE_ASSERTIONS: p = ID token payload, verified = signature checks with
# the provider's published keys
check() {
    js '
import { createRemoteJWKSet, jwtVerify, decodeJwt } from "jose";
const [body, iss, test] = process.argv.slice(1);
const t = JSON.parse(body);
const p = decodeJwt(t.id_token);
let verified = true;
try { await jwtVerify(t.id_token, createRemoteJWKSet(new URL(`${iss}/jwks`)), { currentDate: new Date(p.iat * 1000) }); }
catch { verified = false; }
const now = Math.floor(Date.now() / 1000);
console.log(JSON.stringify({ ...p, verified }));
if (!eval(test)) { console.error(`not true: ${test}`); process.exit(1); }
' "$1" "$ISSUER" "$2"
}

t=$(login alice)
check "$t" 'p.aud === "pont" && p.nonce === "n-alice" && p.sub === "alice-0001" && p.email === "alice.martin@univ-exemple.fr" && p.email_verified === true && p.name === "Alice Martin" && p.iss === iss && p.exp > now && verified' || fail "alice's ID token"
echo "ok alice"
t=$(login mallory)
check "$t" 'p.sub === "mallory-0003" && p.name === "<script>alert(\"x\")</script> Mallory" && verified' || fail "mallory's ID token"
echo "ok mallory"
t=$(login zoe)
check "$t" 'p.sub === "zoe" && p.email === "zoe@univ-exemple.fr" && verified' || fail "zoe's ID token"
echo "ok any login"

tamper() { curl -fsS -o /dev/null -w '%{http_code}' -H 'content-type: application/json' --data "$1" "$ISSUER/__test/tamper"; }
[ "$(tamper '{"aud":"someone-else"}')" = 204 ] || fail "tamper aud"
check "$(login alice)" 'p.aud === "someone-else" && p.email === "alice.martin@univ-exemple.fr" && verified' || fail "tampered aud"
echo "ok tamper aud"
[ "$(tamper '{"exp":"past"}')" = 204 ] || fail "tamper exp"
check "$(login alice)" 'p.aud === "pont" && p.exp < now - 3000 && p.iat < p.exp && verified' || fail "tampered exp"
echo "ok tamper exp"
[ "$(tamper '{"key":"other"}')" = 204 ] || fail "tamper key"
check "$(login alice)" 'p.aud === "pont" && p.exp > now && !verified' || fail "tampered key"
echo "ok tamper key"
[ "$(tamper '{}')" = 204 ] || fail "tamper off"
check "$(login bob)" 'p.aud === "pont" && p.sub === "bob-0002" && p.email === "bob.durand@elsewhere.example" && verified' || fail "untampered again"
echo "ok tamper off"
echo "smoke: all checks passed"
