// Package secrets seals private keys before they are written to Redis: AES-256-GCM with a key
// the operator keeps outside Redis (--secrets-key-file), so a dump of every key holds no
// plaintext private key.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// prefix marks sealed values and their format version: "ep1:" values are sealed with the
// prefix alone as associated data (read, never written any more); "ep2:" values with the
// prefix and the name of what they belong to (SealFor), so a sealed key copied onto another
// record does not open.
const (
	prefix  = "ep1:"
	prefix2 = "ep2:"
)

// Box seals and opens values. Its methods are safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secrets key has %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Ephemeral returns a Box with a random key: what it seals cannot be opened after the process
// exits. For dev mode.
func Ephemeral() *Box {
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	b, _ := New(key)
	return b
}

// LoadFile reads a key file: 32 raw bytes, or 64 hex or 44 base64 characters (whitespace
// around them ignored). `openssl rand -hex 32 > key` makes one.
//
// A file readable or writable by group or others is refused: the key opens every private
// key in Redis.
func LoadFile(path string) (*Box, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets key file %s has mode %04o: it must be readable by its owner only (chmod 600 %s)",
			path, fi.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading secrets key: %w", err)
	}
	key := raw
	if len(raw) != KeySize {
		text := strings.TrimSpace(string(raw))
		if k, err := hex.DecodeString(text); err == nil {
			key = k
		} else if k, err := base64.StdEncoding.DecodeString(text); err == nil {
			key = k
		}
	}
	b, err := New(key)
	if err != nil {
		return nil, fmt.Errorf("secrets key file %s: %w (make one with: openssl rand -hex 32)", path, err)
	}
	return b, nil
}

// Seal encrypts plaintext; the result names its format and carries its nonce.
func (b *Box) Seal(plaintext []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append([]byte(prefix), nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(prefix))
}

// Open decrypts what Seal made with the same key.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(sealed), prefix)
	if !ok {
		return nil, errors.New("not a sealed value")
	}
	n := b.aead.NonceSize()
	if len(rest) < n {
		return nil, errors.New("sealed value is truncated")
	}
	out, err := b.aead.Open(nil, []byte(rest[:n]), []byte(rest[n:]), []byte(prefix))
	if err != nil {
		return nil, errors.New("sealed value does not open with this key (was --secrets-key-file changed?)")
	}
	return out, nil
}

// SealFor encrypts plaintext bound to name (a certificate's name, say): OpenFor opens it
// only with the same name.
func (b *Box) SealFor(name string, plaintext []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append([]byte(prefix2), nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(prefix2+name))
}

// OpenFor decrypts what SealFor made for name, and also what Seal made (values written
// before names were bound; they are sealed for their name when next written).
func (b *Box) OpenFor(name string, sealed []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(sealed), prefix2)
	if !ok {
		return b.Open(sealed)
	}
	n := b.aead.NonceSize()
	if len(rest) < n {
		return nil, errors.New("sealed value is truncated")
	}
	out, err := b.aead.Open(nil, []byte(rest[:n]), []byte(rest[n:]), []byte(prefix2+name))
	if err != nil {
		return nil, fmt.Errorf("sealed value for %q does not open with this key (was --secrets-key-file changed, or the value copied from another record?)", name)
	}
	return out, nil
}
