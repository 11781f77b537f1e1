package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// SecretPrefix starts every admin token, so a leaked one is easy to recognise (and to grep
// for in logs and repositories).
const SecretPrefix = "ept_"

// maxSecretLen bounds the bearer token a caller may send.
const maxSecretLen = 256

// NewSecret returns a new token (256 random bits) and its hash, the only form stored.
func NewSecret() (secret, hash string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashSecret(secret)
}

// HashSecret returns the hex SHA-256 of a token. A fast hash is right here: the token is
// 256 random bits, so there is nothing to brute-force.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
