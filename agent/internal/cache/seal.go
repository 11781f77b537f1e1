package cache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SealKeyName is the file in the cache directory holding the key that seals private keys
// at rest (the config cache and the agent's own key): 32 random bytes, mode 0600, made on
// first use. It never leaves the node. Copying the cache directory without it copies no
// private key.
const SealKeyName = "seal.key"

// sealedPrefix marks a sealed file and its format.
const sealedPrefix = "epc1:"

// sealer returns the AEAD of dir's seal key, making the key if there is none.
func sealer(dir string) (cipher.AEAD, error) {
	path := filepath.Join(dir, SealKeyName)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		if err = os.MkdirAll(dir, 0o700); err == nil {
			err = os.WriteFile(path, key, 0o600)
		}
		if errors.Is(err, fs.ErrExist) {
			key, err = os.ReadFile(path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("seal key %s has %d bytes, want 32", path, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext with dir's seal key, bound to name (the file it is written to).
func Seal(dir, name string, plaintext []byte) ([]byte, error) {
	aead, err := sealer(dir)
	if err != nil {
		return nil, err
	}
	return sealWith(aead, name, nil, plaintext), nil
}

// sealWith appends plaintext sealed by aead for name to out.
func sealWith(aead cipher.AEAD, name string, out, plaintext []byte) []byte {
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out = append(out, sealedPrefix...)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(sealedPrefix+name))
}

// Unseal reverses Seal. Data that is not sealed (written by an older agent) is returned as
// it is; it is sealed when next written.
func Unseal(dir, name string, data []byte) ([]byte, error) {
	if !strings.HasPrefix(string(data), sealedPrefix) {
		return data, nil
	}
	aead, err := sealer(dir)
	if err != nil {
		return nil, err
	}
	return openWith(aead, name, data)
}

// openWith opens data sealed by sealWith for name.
func openWith(aead cipher.AEAD, name string, data []byte) ([]byte, error) {
	rest, ok := strings.CutPrefix(string(data), sealedPrefix)
	if !ok {
		return nil, errors.New("not sealed")
	}
	n := aead.NonceSize()
	if len(rest) < n {
		return nil, errors.New("sealed file is truncated")
	}
	out, err := aead.Open(nil, []byte(rest[:n]), []byte(rest[n:]), []byte(sealedPrefix+name))
	if err != nil {
		return nil, fmt.Errorf("%s does not open with %s (was the seal key replaced?)", name, SealKeyName)
	}
	return out, nil
}

// WriteSealed seals b and writes it to dir/name atomically (mode 0600).
func WriteSealed(dir, name string, b []byte) error {
	sealed, err := Seal(dir, name, b)
	if err != nil {
		return err
	}
	return writeFile(dir, name, sealed)
}

// ReadSealed reads dir/name and unseals it.
func ReadSealed(dir, name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	return Unseal(dir, name, b)
}
